// What the server knows about the datasets it serves: one entry per name, searchable. The
// catalog database (catalog.ts) and the list of directories given to `astropile serve` both
// answer through this interface, so routes do not care where the entries live.

/** One dataset the service serves (docs/service.md, "Catalog"). */
export interface CatalogEntry {
  /** Unique in the catalog: `[A-Za-z0-9][A-Za-z0-9._-]{0,127}`. */
  name: string;
  /** Local directory, http(s):// or s3:// URL, or an adopted Multimodal Universe tree. */
  location: string;
  survey?: string;
  project?: string;
  release?: string;
  /** "image" | "spectrum" | "ifu" | "catalog" | ... (Dataset.modality). */
  modality: string;
  rows: number;
  bytes: number;
  configs: string[];
  columns: string[];
  /** NESTED HEALPix pixels at `order` that hold rows. */
  coverage: { order: number; pixels: number[] };
  description?: string;
  /** ISO 8601. */
  addedAt: string;
}

/** A search of the catalog; every field narrows it. */
export interface CatalogQuery {
  /** Case-insensitive substring of the name, provenance, description or a column name. */
  q?: string;
  survey?: string;
  modality?: string;
  /** Datasets with rows within `radiusDeg` of (raDeg, decDeg); all three or none. */
  cone?: { raDeg: number; decDeg: number; radiusDeg: number };
}

/** A catalog entry with the stamp of its manifest read to check it (see {@link DatasetDirectory.getStamped}). */
export interface StampedEntry {
  entry: CatalogEntry;
  /**
   * The manifest's identity when looked up (inode, size, mtime); "" for a remote dataset or an
   * unreadable manifest (answers are then neither tagged nor cached).
   */
  stamp: string;
}

/** The datasets a server serves. */
export interface DatasetDirectory {
  list(query?: CatalogQuery): Promise<CatalogEntry[]>;
  get(name: string): Promise<CatalogEntry | undefined>;
  /**
   * Optional: the entry and the manifest stamp the lookup already read, so a request costs one
   * stat of the manifest. Without it the server stats the manifest after `get`.
   */
  getStamped?(name: string): Promise<StampedEntry | undefined>;
}

/** Names a catalog accepts (also safe as one path segment and in a URL). */
export const DATASET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
