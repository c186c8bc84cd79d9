/**
 * The AstroPile data service: a Fastify app (`createServer`) serving datasets over HTTP
 * (docs/service.md), its API keys (`KeyStore`) and the directory of datasets it serves.
 *
 * ```ts
 * import { createServer, KeyStore, LocalDirectory } from "astropile";
 * const app = await createServer({
 *   directory: await LocalDirectory.open(["data/hsc", "data/desi"]),
 *   keys: await KeyStore.open("keys.json"),
 * });
 * await app.listen({ host: "127.0.0.1", port: 8765 });
 * ```
 *
 * @module astropile/server
 */
export { AnswerCache, type AnswerCacheOptions, type CachedAnswer } from "./answer-cache.ts";
export {
  createServer,
  DEFAULT_LIMITS,
  type ServerContext,
  type ServerCors,
  type ServerLimits,
  type ServerOptions,
  type ServerRoutes,
} from "./app.ts";
export {
  type AddDatasetOptions,
  CATALOG_FORMAT,
  CATALOG_VERSION,
  CatalogFileError,
  type CatalogOptions,
  DatasetCatalog,
  DatasetExistsError,
  defaultCatalogFile,
} from "./catalog.ts";
export {
  CATALOG_COVERAGE_ORDER,
  coverageOf,
  type DatasetDescription,
  type DescribeOptions,
  describeDataset,
} from "./describe.ts";
export {
  type CatalogEntry,
  type CatalogQuery,
  DATASET_NAME,
  type DatasetDirectory,
  type StampedEntry,
} from "./directory.ts";
export { type ErrorBody, ServiceError } from "./errors.ts";
export {
  datasetResolver,
  type ExportJobRequest,
  JOB_CANCELLED,
  JOB_TIMEOUT,
  JOB_WORKER_LOST,
  type JobError,
  type JobKind,
  JobNotDoneError,
  JobQueue,
  JobQueueFullError,
  type JobQueueOptions,
  JobQueueUnavailableError,
  type JobRequest,
  JobRequestError,
  type JobResult,
  type JobResultFile,
  type JobState,
  type JobStatus,
  parseJobRequest,
  type XmatchJobRequest,
} from "./jobs.ts";
export {
  type ApiKeyEntry,
  type ApiKeyIdentity,
  KeyStore,
  SCOPES,
  type Scope,
  scopeGrants,
  scopesOf,
} from "./keys.ts";
export { combineDirectories, entryMatches, LocalDirectory } from "./local-directory.ts";
export { OpenDatasets } from "./open-datasets.ts";
export { type JobRoutesOptions, jobErrorStatus, jobRoutes } from "./routes-jobs.ts";
export {
  checkUploadPath,
  type PublishedAnswer,
  type StagedFile,
  type UploadOptions,
  type UploadStatus,
  uploadRoutes,
} from "./routes-upload.ts";
export {
  type RunningService,
  type ServeOptions,
  serveDatasets,
  WorkersFailedError,
} from "./serve.ts";
export { SERVER_HEAP_FLOOR_MIB, serverNodeFlags, workerCount } from "./serving-process.ts";
