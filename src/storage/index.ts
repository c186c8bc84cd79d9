/**
 * Low-level storage API (`astropile/storage`): HDF5 partition files read and written column by
 * column, the manifest, the positions and object-id sidecars, file identities, verifyDataset and
 * reindexConfig (`astropile verify`, `astropile index --force`). Most users want the Dataset API
 * (`openDataset`); this is for tools that plan their own reads and writes.
 *
 * @module astropile/storage
 */

export { sha256File } from "../core/hash.ts";
export {
  LOCK_FILE,
  type LockHolder,
  type LockOwner,
  readWriterLock,
  WriterLock,
  type WriterLockOptions,
} from "../core/lock.ts";
export { CARD_NAME, renderCard, writeCard } from "./card.ts";
export {
  DatasetWriter,
  type DatasetWriterOptions,
  STANDARD_COLUMNS,
  type WriteProgress,
  writeDataset,
} from "./dataset-writer.ts";
export { ID_INDEX_NAME, lookupIdKey, openIdIndex } from "./id-index.ts";
export {
  CONTENT_ATTRIBUTE,
  contentDigest,
  FILE_LIST_ATTRIBUTE,
  fileIdentity,
  fileListIdentity,
  IDENTITY_ATTRIBUTE,
  type IdentityParts,
  type ListedFile,
} from "./identity.ts";
export {
  DEFAULT_LAYOUT,
  KEY_ORDER,
  LAYOUTS,
  type Layout,
  layoutPath,
  MANIFEST_NAME,
  MAX_PARTITION_ORDER,
  PARTITION_ORDER,
  type ParsedPartitionPath,
  parsePartitionPath,
  partitionFileName,
  partitionPath,
  pixelDir,
  pixelKeyRange,
} from "./layout.ts";
export {
  type ColumnEntry,
  type ConfigEntry,
  type FileEntry,
  FORMAT_VERSION,
  fileOrder,
  filePixels,
  type IdIndexEntry,
  type Manifest,
  manifestLayout,
  type PositionsEntry,
  type Provenance,
  parseManifest,
  readManifest,
  writeManifest,
} from "./manifest.ts";
export {
  type Leftovers,
  lockOutput,
  type OutputLockOptions,
  removeLeftovers,
} from "./output-lock.ts";
export {
  type ColumnInfo,
  type FileExpectation,
  type OpenOptions as PartitionOpenOptions,
  PartitionFile,
  type ReadPath,
} from "./partition-file.ts";
export {
  type CloseOptions,
  type Compression,
  PartitionWriter,
  type WriterOptions,
  type WrittenFile,
} from "./partition-writer.ts";
export {
  CellHistogram,
  choosePartitions,
  DEFAULT_FILE_BYTES,
  DEFAULT_FILE_ROWS,
  HISTOGRAM_ORDER,
  type PartitionPiece,
  type PartitionTarget,
} from "./partitioning.ts";
export { buildPositions, POSITIONS_NAME, PositionsFile } from "./positions.ts";
export {
  type ReindexOptions,
  type ReindexProgress,
  type ReindexResult,
  reindexConfig,
} from "./reindex.ts";
export {
  type ProblemKind,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyProgress,
  verifyDataset,
} from "./verify.ts";
