// What a client may ask a job to do: the bodies of `POST /api/v1/jobs`, checked with zod before
// anything is queued. A bad body is a JobRequestError naming the field (`parameter`), so the
// HTTP answer is a 400 that says which field to fix.
import { z } from "zod/v3"; // the v3 API loads in a sixth of the time: see core/record-schema.ts
import { AstroPileError, type ErrorOptions } from "../core/errors.ts";
import { DATASET_NAME } from "./directory.ts";

/**
 * A job body that cannot be run: a field missing, of the wrong type or out of range, an unknown
 * dataset, config, column or export format, a filter that does not parse. `parameter` names the
 * body field (dotted for nested ones, e.g. `cone.radiusArcsec`). Code `ASTROPILE_BAD_PARAMETER`
 * unless the library's own check gave a more precise one (e.g. `ASTROPILE_MISSING_COLUMN`);
 * HTTP 400 either way.
 */
export class JobRequestError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_BAD_PARAMETER";
  /** The body field at fault. */
  readonly parameter: string;
  constructor(message: string, parameter: string, options: ErrorOptions = {}) {
    super(message, {}, options);
    this.parameter = parameter;
  }
}

const datasetName = z
  .string()
  .regex(DATASET_NAME, "a dataset name: letters, digits, '.', '_' or '-', at most 128");
const configName = z.string().min(1).max(256);
const finite = z.number().finite();

/** A cross-match of two catalogued datasets, as `astropile xmatch LEFT RIGHT --out`. */
export interface XmatchJobRequest {
  kind: "xmatch";
  /** Catalog name of the left dataset. */
  left: string;
  /** Catalog name of the right dataset. */
  right: string;
  /** Match radius in arcseconds, in (0, 648000]; a pair at exactly the radius is kept. */
  radiusArcsec: number;
  /** Closer pairs are not matches (arcsec, default 0, less than radiusArcsec). */
  minRadiusArcsec?: number;
  /** "nearest" (default): the nNeighbors nearest right rows per left row; "all": every pair. */
  mode?: "nearest" | "all";
  /** Right rows kept per left row in "nearest" mode (1..1000, default 1). */
  nNeighbors?: number;
  /** "inner" (default): matched rows; "left": also left rows without a match. */
  how?: "inner" | "left";
  leftConfig?: string;
  rightConfig?: string;
  /**
   * "dataset" (default): the matched rows as a new dataset (right columns prefixed `right.`),
   * directory `xmatch/` of the result; "catalog": only the pair catalog, `xmatch.csv`.
   */
  output?: "dataset" | "catalog";
  /** Output "dataset": its partition layout, "adaptive" (default) or "mmu". */
  layout?: "adaptive" | "mmu";
  /** Output "catalog": also where each row is stored (file, row, index of each side). */
  locations?: boolean;
}

/** An export of one catalogued dataset, as `astropile export DIR --to FORMAT`. */
export interface ExportJobRequest {
  kind: "export";
  /** Catalog name of the dataset. */
  dataset: string;
  config?: string;
  /** Export format: one of `exportFormats()` (fits, ecsv, csv, parquet, huggingface, hats). */
  to: string;
  /** Columns to export (default: every column the format can hold). */
  columns?: string[];
  /** Rows passing this expression (the filter language of `Dataset.filter`). */
  filter?: string;
  /** Rows within a cone: degrees, radius in arcseconds. */
  cone?: { ra: number; dec: number; radiusArcsec: number };
  /** Rows within a box, degrees. */
  box?: { raMin: number; raMax: number; decMin: number; decMax: number };
  /** CSV: array columns as one column per element. */
  flattenArrays?: boolean;
  /** Parquet-based formats: compression codec. */
  compression?: string;
  /** HATS: rows per partition. */
  maxRowsPerPartition?: number;
  /** Huggingface: rows per file. */
  maxRowsPerFile?: number;
}

/** A job body: what `POST /api/v1/jobs` takes and {@link JobQueue.submit} checks. */
export type JobRequest = XmatchJobRequest | ExportJobRequest;

/** The kinds of job. */
export type JobKind = JobRequest["kind"];

const xmatchSchema = z
  .object({
    kind: z.literal("xmatch"),
    left: datasetName,
    right: datasetName,
    radiusArcsec: finite.gt(0).lte(648000),
    minRadiusArcsec: finite.gte(0).optional(),
    mode: z.enum(["nearest", "all"]).optional(),
    nNeighbors: z.number().int().gte(1).lte(1000).optional(),
    how: z.enum(["inner", "left"]).optional(),
    leftConfig: configName.optional(),
    rightConfig: configName.optional(),
    output: z.enum(["dataset", "catalog"]).optional(),
    layout: z.enum(["adaptive", "mmu"]).optional(),
    locations: z.boolean().optional(),
  })
  .strict();

const exportSchema = z
  .object({
    kind: z.literal("export"),
    dataset: datasetName,
    config: configName.optional(),
    to: z.string().min(1).max(64),
    columns: z.array(z.string().min(1).max(256)).min(1).max(4096).optional(),
    filter: z.string().min(1).max(10_000).optional(),
    cone: z
      .object({
        ra: finite.gte(0).lte(360),
        dec: finite.gte(-90).lte(90),
        radiusArcsec: finite.gt(0).lte(648000),
      })
      .strict()
      .optional(),
    box: z
      .object({
        raMin: finite.gte(0).lte(360),
        raMax: finite.gte(0).lte(360),
        decMin: finite.gte(-90).lte(90),
        decMax: finite.gte(-90).lte(90),
      })
      .strict()
      .optional(),
    flattenArrays: z.boolean().optional(),
    compression: z.string().min(1).max(32).optional(),
    maxRowsPerPartition: z.number().int().gte(1).lte(1e9).optional(),
    maxRowsPerFile: z.number().int().gte(1).lte(1e9).optional(),
  })
  .strict();

/** The first problem zod found, as a JobRequestError naming the field. */
function firstIssue(error: z.ZodError): JobRequestError {
  const issue = error.issues[0]!;
  let path = issue.path.map(String);
  let message = issue.message;
  // An unknown field is reported on its parent: name the field itself.
  if (issue.code === "unrecognized_keys" && issue.keys.length > 0) {
    path = [...path, issue.keys[0]!];
    message = `unknown field (allowed: see docs/service.md, "Jobs")`;
  }
  const parameter = path.join(".") || "body";
  return new JobRequestError(`job body: ${parameter}: ${message}`, parameter);
}

/**
 * Checks a job body's shape and ranges (not yet whether its datasets exist: see
 * {@link JobQueue.submit}). Throws a JobRequestError naming the first field at fault.
 */
export function parseJobRequest(body: unknown): JobRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw new JobRequestError("job body: a JSON object is expected", "body");
  const kind = (body as { kind?: unknown }).kind;
  if (kind !== "xmatch" && kind !== "export")
    throw new JobRequestError(
      `job body: kind must be "xmatch" or "export", not ${JSON.stringify(kind) ?? "missing"}`,
      "kind",
    );
  if (kind === "xmatch") {
    const r = xmatchSchema.safeParse(body);
    if (!r.success) throw firstIssue(r.error);
    const x = r.data;
    if (x.minRadiusArcsec !== undefined && x.minRadiusArcsec >= x.radiusArcsec)
      throw new JobRequestError(
        `job body: minRadiusArcsec ${x.minRadiusArcsec} must be less than radiusArcsec ${x.radiusArcsec}`,
        "minRadiusArcsec",
      );
    if (x.layout !== undefined && x.output === "catalog")
      throw new JobRequestError(
        'job body: layout applies to output "dataset", not "catalog"',
        "layout",
      );
    if (x.locations !== undefined && x.output !== "catalog")
      throw new JobRequestError('job body: locations applies to output "catalog"', "locations");
    return x;
  }
  const r = exportSchema.safeParse(body);
  if (!r.success) throw firstIssue(r.error);
  return { ...r.data, to: r.data.to.toLowerCase() };
}
