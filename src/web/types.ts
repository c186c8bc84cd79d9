// The bodies of the API routes the viewer reads (docs/service.md). Declared here rather than
// imported from src/server: the viewer is bundled for the browser and shares no code with the
// server but the contract.

export interface CatalogEntry {
  name: string;
  location: string;
  survey?: string;
  project?: string;
  release?: string;
  modality: string;
  rows: number;
  bytes: number;
  configs: string[];
  columns: string[];
  /** NESTED HEALPix pixels at `order` that hold rows. */
  coverage: { order: number; pixels: number[] };
  description?: string;
  addedAt: string;
}

export interface Feature {
  name: string;
  dtype: string;
  shape: number[];
  unit?: string;
  description?: string;
  standardName?: string;
  modality?: string;
}

export interface DatasetInfo {
  entry: CatalogEntry;
  manifest: {
    name?: string;
    provenance?: Record<string, string | undefined>;
    configs?: Record<string, unknown>;
    [key: string]: unknown;
  };
  card?: unknown;
  features: Feature[];
}

export interface ColumnInfo {
  name: string;
  dtype: string;
  shape: number[];
  unit?: string;
}

export interface RowsPage {
  offset: number;
  limit: number;
  total: number | null;
  columns: ColumnInfo[];
  rows: Array<Record<string, unknown>>;
}

/** An array as the example route sends it in JSON. */
export interface JsonArray {
  dtype: string;
  shape: number[];
  data: unknown[];
}

export interface SpectrumBody {
  lambda: number[];
  flux: number[];
  ivar?: number[];
  mask?: Array<boolean | number>;
  z?: number | null;
  units?: Record<string, string | undefined>;
}

export interface JobStatus {
  id: string;
  kind: string;
  state: "queued" | "running" | "done" | "failed" | "cancelled";
  progress: number;
  message?: string;
  error?: { code?: string; message?: string; parameter?: string } | string;
  /** The body the job was submitted with. */
  request?: { left?: string; right?: string; radiusArcsec?: number; [key: string]: unknown };
  result?: {
    files: Array<string | { name?: string; path?: string; bytes?: number }>;
    bytes?: number;
  };
  [key: string]: unknown;
}
