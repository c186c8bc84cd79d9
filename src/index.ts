/**
 * The package's public API: `import { openDataset, crossMatch, downloadFile } from "astropile"`.
 * Every capability is here; the subpaths (`astropile/cache`, `astropile/storage`,
 * `astropile/sky`, `astropile/formats`, `astropile/synth`) hold the same functions grouped by
 * layer, plus the low-level pieces of each.
 *
 * @module astropile
 */
export * from "./build/index.ts";
export {
  CacheArchiveError,
  type CacheConfig,
  CacheConfigError,
  type CacheEntry,
  CacheEntryNotFoundError,
  CacheError,
  type CacheLocation,
  CacheMissOfflineError,
  type CacheMode,
  type CacheSizeReport,
  CacheWriteError,
  type CheckReport,
  ChecksumMismatchError,
  cacheContents,
  cacheDir,
  cacheLookup,
  cacheSize,
  checkCache,
  clearCache,
  DownloadCache,
  DownloadError,
  type DownloadFailure,
  type DownloadOptions,
  type DownloadProgress,
  downloadFile,
  exportCache,
  importCache,
  openCache,
  pinCacheEntry,
  verifyCacheEntry,
} from "./cache/index.ts";
export type { ColumnBatch, ColumnSpec, ColumnValues, Dtype, NumericArray } from "./core/columns.ts";
export {
  AstroPileError,
  BuildStateError,
  ColumnLengthError,
  CorruptFileError,
  type ErrorPlace,
  FormatError,
  InternalError,
  isAstroPileError,
  LockedError,
  ManifestError,
  ManifestMismatchError,
  MemoryBudgetError,
  MissingColumnError,
  NotFoundError,
  SchemaError,
  SpecError,
  UsageError,
  WriteError,
} from "./core/errors.ts";
export { sha256File } from "./core/hash.ts";
export { formatBytes, parseBytes } from "./core/units.ts";
export * from "./dataset/index.ts";
export * from "./demo/index.ts";
export * from "./remote/index.ts";
export * from "./sky/index.ts";
export {
  buildPositions,
  DatasetWriter,
  type DatasetWriterOptions,
  type LockHolder,
  type LockOwner,
  lockOutput,
  type Manifest,
  type OutputLockOptions,
  PartitionFile,
  PositionsFile,
  readManifest,
  readWriterLock,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyProgress,
  verifyDataset,
  WriterLock,
  type WriterLockOptions,
  writeDataset,
} from "./storage/index.ts";
export {
  CATALOG_COLUMNS,
  type CatalogColumn,
  type CatalogOutputOptions,
  type CrossMatchOptions,
  type CrossMatchProgress,
  type CrossMatchResult,
  type CrossMatchStats,
  catalogColumns,
  catalogRow,
  countLeftMatched,
  crossMatch,
  LOCATION_COLUMNS,
  type MatchCatalog,
  MatchedDataset,
  type MatchedExample,
  type ObjectId,
  writeCatalogCsv,
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
