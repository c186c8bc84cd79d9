// Public API of the dataset layer.
export {
  type Batch,
  type BatchOptions,
  concatenate,
  Dataset,
  type NearestRows,
  type NearestRowsOptions,
  type OpenOptions,
  openDataset,
  type Region,
  type RowPredicate,
} from "./dataset.ts";
export type { Example, ImageBand, NDArray, Spaxel, Value } from "./example.ts";
export { type Expr, parseExpr } from "./expr.ts";
export { Loader, type LoaderBatch, type LoaderColumn, type LoaderOptions } from "./loader.ts";
export { BlockShuffle, Permutation } from "./permutation.ts";
export type { Feature } from "./source.ts";
export {
  COVERAGE_MAX_ROWS,
  COVERAGE_ORDER,
  COVERAGE_ROWS_PER_CELL,
  type DatasetSummary,
  densestPixels,
  type OrderSummary,
  orderSummaries,
  type PixelSummary,
  pixelAreaDeg2,
  pixelSummaries,
  type SummaryOptions,
  summarizeDataset,
} from "./summary.ts";
