/**
 * The package's public API: `import { openDataset, crossMatch, downloadFile } from "astropile"`.
 * Exports to other tools' formats: `exportDataset` (FITS, ECSV, CSV; `registerExporter` adds
 * more) and SQL over catalog columns: `sqlQuery` (DuckDB, an optional dependency).
 * Pictures (PNG bytes from arrays, checked against astropy.visualization and matplotlib):
 * `renderImagePng`, `renderRgbPng` (Lupton), `renderSpectrumPng`, `renderIfuSlicePng`.
 * The data service: `createServer` (Fastify, docs/service.md), its dataset catalog
 * `DatasetCatalog` (a DuckDB file of named datasets, searched by text, survey, modality and sky
 * coverage) and `describeDataset` (a catalog entry from a manifest); its jobs (cross-matches and
 * exports run in the background on BullMQ over Redis): `JobQueue` and their routes `jobRoutes`.
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
  DependencyError,
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
export {
  type ParquetCompression,
  ParquetReader,
  type ParquetWriteOptions,
  type ParquetWriteResult,
  writeParquetFile,
} from "./formats/parquet.ts";
export {
  decodeExample,
  decodeSafetensors,
  EXAMPLE_METADATA_KEY,
  encodeExample,
  encodeSafetensors,
  type Safetensors,
  type SafetensorsDtype,
  type Tensor,
  type TensorData,
} from "./formats/safetensors.ts";
export {
  type ExportBox,
  type ExportCone,
  type Exporter,
  type ExporterContext,
  type ExportOptions,
  type ExportProgress,
  type ExportResult,
  exportDataset,
  exporterFor,
  exportFormats,
  registerExporter,
} from "./interop/export.ts";
export {
  type DatasetHatsExportOptions,
  exportHats,
  type HatsExportOptions,
  type HatsExportResult,
  type HatsPartitionInfo,
  writeHatsExport,
} from "./interop/hats.ts";
export {
  HatsCatalog,
  type HatsConeResult,
  type HatsPartition,
  openHatsCatalog,
} from "./interop/hats-read.ts";
export {
  ADOPT_ON_THE_FLY_MAX_BYTES,
  ADOPT_ON_THE_FLY_MAX_FILES,
  type AdoptOptions,
  type AdoptProgress,
  type AdoptResult,
  adoptMmuTree,
  type BadMmuFile,
  datasetRootOf,
  IN_PLACE_INDEX_NAME,
  isMmuTree,
  mmuDatasetRoot,
  mmuIndexRoot,
  NotAdoptedError,
  type OpenMmuOptions,
  TREE_RECORD_NAME,
} from "./interop/mmu-adopt.ts";
export {
  type MmuIfuExample,
  MmuIfuFile,
  type MmuIfuImage,
  type MmuSpaxel,
  readMmuIfuExamples,
} from "./interop/mmu-ifu.ts";
export {
  type DatasetParquetExportOptions,
  exportParquet,
  type ParquetExportOptions,
  type ParquetExportResult,
  writeParquetExport,
} from "./interop/parquet-export.ts";
export {
  openSql,
  type SqlColumn,
  type SqlOptions,
  type SqlProgress,
  type SqlResult,
  type SqlRows,
  SqlSession,
  type SqlValue,
  sqlQuery,
  sqlStream,
} from "./interop/sql.ts";
export * from "./remote/index.ts";
export * from "./render/index.ts";
export { MMU_SPECTRUM_PADDING, type PadRule, padRows, padRuleOf } from "./schema/padding.ts";
export * from "./server/index.ts";
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
