// The package's public API (`import { openDataset, crossMatch } from "astropile"`): each layer's
// own index, plus the storage and cross-match entry points.
export * from "./build/index.ts";
export type { ColumnBatch, ColumnSpec, ColumnValues, Dtype } from "./core/columns.ts";
export * from "./core/errors.ts";
export * from "./dataset/index.ts";
export * from "./sky/index.ts";
export { DatasetWriter, writeDataset } from "./storage/dataset-writer.ts";
export { type Manifest, readManifest, verifyDataset } from "./storage/manifest.ts";
export { buildPositions, PositionsFile } from "./storage/positions.ts";
export {
  CATALOG_COLUMNS,
  type CrossMatchOptions,
  type CrossMatchProgress,
  type CrossMatchResult,
  type CrossMatchStats,
  catalogRow,
  crossMatch,
  type MatchCatalog,
  MatchedDataset,
  type MatchedExample,
  type ObjectId,
} from "./xmatch/crossmatch.ts";
export {
  type MatchOptions,
  matchAll,
  matchNearest,
  type NearestOptions,
  type Pairs,
  type Points,
  SkyIndex,
} from "./xmatch/kernel.ts";
export { startSortThread, stopSortThread } from "./xmatch/sort-thread.ts";
