// What an export of a dataset view takes and gives: declared here, in the dataset layer, so
// that Dataset.export can name them; the export itself (exportDataset, the formats) is in the
// interop layer (src/interop/export.ts), which registers it (registerDatasetExport).
import type { Expr } from "./expr.ts";

/** A cone on the sky: centre in degrees (ICRS), radius in arcseconds. */
export interface ExportCone {
  ra: number;
  dec: number;
  radiusArcsec: number;
}

/** A box on the sky in degrees: dec in [decMin, decMax], ra from raMin eastward to raMax. */
export interface ExportBox {
  raMin: number;
  raMax: number;
  decMin: number;
  decMax: number;
}

/** Progress of an export, reported after each batch written. */
export interface ExportProgress {
  /** Rows written so far. */
  rows: number;
  /** Rows the export will hold, when known before reading (views without filter or region). */
  totalRows: number | null;
}

/** What {@link exportDataset} (and {@link Dataset.export}) exports and where. */
export interface ExportOptions {
  /** Format name: one of {@link exportFormats} ("fits", "ecsv", "csv", and what was registered). */
  to: string;
  /** Output path (a file, or a directory for formats that write one). Its directory must exist. */
  out: string;
  /**
   * Columns (names, standard names or groups such as "image"). Default: every column of the view
   * but `_healpix_29`, leaving out the ones the format cannot hold (listed in
   * {@link ExportResult.skipped}); a column named here that the format cannot hold is an error.
   */
  columns?: string[];
  /** Keep rows passing this expression over scalar columns (the filter language of `Dataset.filter`). */
  filter?: string | Expr;
  /** Keep rows within a cone (exact great-circle distance). */
  cone?: ExportCone;
  /** Keep rows within a box. */
  box?: ExportBox;
  /** Replace an existing output (default: refuse with a UsageError). */
  force?: boolean;
  /**
   * CSV: write array columns as one column per element, named `name[i]` or `name[i,j,...]`
   * (row-major). Default: array columns are refused.
   */
  flattenArrays?: boolean;
  /** Rows per batch read and written (default: about 8 MiB of the exported columns per batch). */
  batchRows?: number;
  /** Options of a registered format that are not listed here (e.g. a Parquet compression). */
  formatOptions?: Record<string, unknown>;
  /** Called after every batch written. */
  onProgress?: (progress: ExportProgress) => void;
}

/** What an export wrote. */
export interface ExportResult {
  format: string;
  /** The output path (absolute). */
  path: string;
  /** Rows written. */
  rows: number;
  /** Bytes of the output (a directory: all its files). */
  bytes: number;
  /** The columns written, as the format holds them (flattened CSV columns by their new names). */
  columns: string[];
  /** Columns of the view left out because the format cannot hold them (only when `columns` was not given), with why. */
  skipped: Array<{ column: string; reason: string }>;
  /** Wall-clock seconds. */
  seconds: number;
}
