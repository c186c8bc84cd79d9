// The jobs of the data service: long work (a cross-match, an export) submitted over HTTP, run in
// the background on BullMQ over Redis, polled for progress, its result downloaded. The state
// lives in Redis, not in the request or the process that made it: a client that goes away does
// not stop its job, and a restarted server sees the jobs that finished. A worker that dies
// mid-job loses its lock; BullMQ's stalled check (in any process running a worker of the same
// queue) runs the job again once (`maxStalls`) and then fails it, so no job stays "running".
//
// Results are files under `<dataDir>/jobs/<id>/`: each attempt writes into its own work
// directory beside them, renamed into place when it succeeds, so a failed or abandoned attempt
// never leaves half a result where a download could find it.
import { randomBytes, randomUUID } from "node:crypto";
import { lstat, mkdir, readdir, realpath, rename, rm, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
// Types only: bullmq and ioredis load when a queue opens, not with the package.
import type { Job, Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { AstroPileError, isAstroPileError, NotFoundError, UsageError } from "../core/errors.ts";
import { type Dataset, openDataset } from "../dataset/index.ts";
import { exportDataset, exporterFor, filteredView } from "../interop/export.ts";
import { datasetRootOf } from "../interop/mmu-adopt.ts";
import { readManifest } from "../storage/manifest.ts";
import { crossMatch, writeCatalogCsv } from "../xmatch/crossmatch.ts";
import type { DatasetDirectory } from "./directory.ts";
import {
  type ExportJobRequest,
  type JobKind,
  type JobRequest,
  JobRequestError,
  parseJobRequest,
  type XmatchJobRequest,
} from "./jobs-request.ts";

export {
  type ExportJobRequest,
  type JobKind,
  type JobRequest,
  JobRequestError,
  parseJobRequest,
  type XmatchJobRequest,
} from "./jobs-request.ts";

/** Where a job is: waiting for a worker, running, finished with a result, failed, or cancelled. */
export type JobState = "queued" | "running" | "done" | "failed" | "cancelled";

/** Why a job failed: the typed error's code and message (and the body field, when one was at fault). */
export interface JobError {
  /** An AstroPileError code, e.g. `ASTROPILE_NOT_FOUND`, `ASTROPILE_TIMEOUT`, `ASTROPILE_CANCELLED`. */
  code: string;
  message: string;
  parameter?: string;
}

/** One file of a job's result. */
export interface JobResultFile {
  /** Path inside the result, `/`-separated (e.g. `xmatch/astropile.json`). */
  path: string;
  bytes: number;
}

/** What a finished job produced. */
export interface JobResult {
  /** Files of the result, relative to the result root, sorted. */
  files: JobResultFile[];
  /** Bytes of all its files. */
  bytes: number;
  /** Rows written (matched rows or pairs of a cross-match, rows of an export). */
  rows: number;
  /** Kind-specific figures (e.g. leftMatched of a cross-match, skipped columns of an export). */
  summary: Record<string, unknown>;
}

/** What `GET /api/v1/jobs/:id` answers. */
export interface JobStatus {
  id: string;
  kind: JobKind;
  state: JobState;
  /** Fraction done, 0..1 (an estimate while running; 1 when done). */
  progress: number;
  /** What the job is doing (or did), for people. */
  message: string;
  /** The body the job was submitted with (checked). */
  request: JobRequest;
  /** ISO 8601 times. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Times the job was started (more than 1: it was run again after its worker was lost). */
  attempts: number;
  /** When state is "failed" or "cancelled". */
  error?: JobError;
  /** When state is "done". */
  result?: { files: string[]; bytes: number; rows: number; summary: Record<string, unknown> };
}

/** Options of {@link JobQueue.open}. */
export interface JobQueueOptions {
  /** Redis URL, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS, `redis://:password@host/db`). */
  connection: string;
  /** Directory of the results (`<dataDir>/jobs/<id>/`); created when missing. */
  dataDir: string;
  /**
   * The location (directory or URL) of a dataset by its catalog name; throws a NotFoundError (or
   * returns a rejected promise) for an unknown name. Called when a job is submitted (an unknown
   * name is a 400 naming the field) and again when it runs.
   */
  resolveDataset: (name: string) => Promise<string>;
  /** Jobs this process runs at once (default 1). */
  concurrency?: number;
  /** Jobs waiting for a worker beyond which submit refuses new ones (JobQueueFullError; default 16). */
  maxQueued?: number;
  /** A running job longer than this (ms) fails with ASTROPILE_TIMEOUT (default 1 hour; 0: never). */
  timeoutMs?: number;
  /** Finished jobs and their files are removed this long (ms) after they finish (default 24 hours). */
  resultTtlMs?: number;
  /**
   * Run jobs in this process (default true). False: this queue only submits and answers (a
   * server whose jobs run in other processes on the same Redis and dataDir).
   */
  worker?: boolean;
  /**
   * Worker threads of each cross-match (default 1: the match runs off the main thread, so the
   * server keeps answering); 0: crossMatch's own choice (both sides matched whole in this thread
   * when they fit the memory budget, else one thread per core).
   */
  xmatchThreads?: number;
  /** Memory budget of each job in bytes (crossMatch's and exportDataset's; default the library's: 512 MiB). */
  memoryBytes?: number;
  /** BullMQ queue name (default `astropile-jobs`); two services on one Redis use different names. */
  queueName?: string;
  /** Redis key prefix (default `bull`). */
  prefix?: string;
  /**
   * How long a worker's lock on a running job lasts unless renewed (ms, default 30 s): a worker
   * that died is noticed this long after its last renewal.
   */
  lockDurationMs?: number;
  /** How often workers look for jobs whose worker died (ms, default 30 s). */
  stalledIntervalMs?: number;
  /** Times a job whose worker died is run again before it fails with ASTROPILE_WORKER_LOST (default 1). */
  maxStalls?: number;
  /** Least time between two progress updates written to Redis (ms, default 500). */
  progressIntervalMs?: number;
  /** How often finished jobs past resultTtlMs are looked for (ms, default min(resultTtlMs / 4, 60 s)). */
  sweepIntervalMs?: number;
}

/** The queue holds `maxQueued` waiting jobs already: try later (HTTP 429). */
export class JobQueueFullError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_QUEUE_FULL";
}
/** A job's result asked for before the job is done (HTTP 409). */
export class JobNotDoneError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_JOB_NOT_DONE";
}
/** Redis cannot be reached or answered with an error (HTTP 503). */
export class JobQueueUnavailableError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_UNAVAILABLE";
}

/** Failure codes of the queue itself (besides the library's codes of the work). */
export const JOB_CANCELLED = "ASTROPILE_CANCELLED";
export const JOB_TIMEOUT = "ASTROPILE_TIMEOUT";
export const JOB_WORKER_LOST = "ASTROPILE_WORKER_LOST";

/** Job ids: random UUIDs (not guessable, so an id is what lets one see a job). */
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface StoredJob {
  request: JobRequest;
  createdAt: string;
}
interface StoredProgress {
  fraction: number;
  message: string;
}

const HOUR = 3_600_000;

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isSafeInteger(value) && value >= 1))
    throw new UsageError(`JobQueue: ${name} must be a positive integer, got ${value}`);
  return value;
}
function nonNegative(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value >= 0))
    throw new UsageError(`JobQueue: ${name} must be a number >= 0, got ${value}`);
  return value;
}

/** The URL without its password, for messages. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable Redis URL)";
  }
}

/** The error of a failed job as stored in Redis (BullMQ keeps a message only: the record is JSON). */
function failureOf(err: unknown): JobError {
  if (isAstroPileError(err)) {
    const parameter = (err as { parameter?: unknown }).parameter;
    return {
      code: err.code,
      message: err.message,
      ...(typeof parameter === "string" && { parameter }),
    };
  }
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return { code: "ASTROPILE_INTERNAL", message };
}

function parseFailure(reason: string | undefined): JobError {
  if (reason) {
    try {
      const r = JSON.parse(reason) as Partial<JobError>;
      if (typeof r.code === "string" && typeof r.message === "string") return r as JobError;
    } catch {
      // BullMQ's own reasons are plain text.
    }
  }
  // Every failure the processor records is JSON: anything else is BullMQ failing the job
  // itself, which it does to a job whose workers were lost ("job stalled more than allowable
  // limit", recorded when the next worker takes it; under load the reason can be empty).
  return {
    code: JOB_WORKER_LOST,
    message: `the worker running the job was lost${reason ? ` (${reason})` : ""}`,
  };
}

/** Every regular file under dir, `/`-separated relative paths, sorted. */
async function listFiles(dir: string): Promise<JobResultFile[]> {
  const out: JobResultFile[] = [];
  async function walk(sub: string): Promise<void> {
    for (const e of await readdir(join(dir, sub), { withFileTypes: true })) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      // Lock files and temporaries of the writers are not part of a result.
      if (e.name.startsWith(".")) continue;
      if (e.isDirectory()) await walk(rel);
      else if (e.isFile()) out.push({ path: rel, bytes: (await stat(join(dir, rel))).size });
    }
  }
  await walk("");
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Progress written to Redis at most every `interval` ms (the last value always lands). */
class ProgressReporter {
  private current: StoredProgress = { fraction: 0, message: "starting" };
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  constructor(
    private readonly job: Job,
    private readonly interval: number,
  ) {}
  set(fraction: number, message: string): void {
    this.current = { fraction: Math.max(0, Math.min(1, fraction)), message };
    const wait = this.last + this.interval - Date.now();
    if (wait <= 0) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), wait);
  }
  get fraction(): number {
    return this.current.fraction;
  }
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.last = Date.now();
    const value = this.current;
    // In order, and never failing the job: progress is advice.
    this.chain = this.chain.then(() => this.job.updateProgress(value).catch(() => {}));
  }
  /** Writes the latest value now and waits for every write. */
  async settle(): Promise<void> {
    this.flush();
    await this.chain;
  }
  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** What a job's run returns besides its files. */
interface WorkOutcome {
  rows: number;
  summary: Record<string, unknown>;
}

interface RunContext {
  dir: string;
  progress: ProgressReporter;
  /** Throws the reason when the job was cancelled or timed out: called at each checkpoint. */
  checkpoint: () => void;
}

/**
 * The job queue of the data service, on BullMQ over Redis: submit a cross-match or an export,
 * poll its status, read its result files. Open with {@link JobQueue.open}; close with
 * {@link JobQueue.close}.
 *
 * ```ts
 * const jobs = await JobQueue.open({
 *   connection: "redis://127.0.0.1:6379",
 *   dataDir: "/srv/astropile",
 *   resolveDataset: async (name) => catalog.location(name),
 * });
 * const { id } = await jobs.submit({ kind: "xmatch", left: "hsc", right: "desi", radiusArcsec: 1 });
 * (await jobs.status(id)).state; // "queued", "running", then "done" (or "failed")
 * ```
 *
 * Bounded: at most `maxQueued` jobs wait (more is a JobQueueFullError), `concurrency` run in
 * this process, each within `timeoutMs`; results are removed `resultTtlMs` after they finish.
 * Cancelling and timeouts stop a job at its next checkpoint: an export after the batch being
 * written, a cross-match after its match phase or its write (neither is interrupted midway).
 */
export class JobQueue {
  private readonly queue: Queue<StoredJob, JobResult>;
  private worker: Worker<StoredJob, JobResult> | null = null;
  private readonly clients: Redis[];
  private readonly jobsDir: string;
  private readonly maxQueued: number;
  private readonly timeoutMs: number;
  private readonly resultTtlMs: number;
  private readonly progressIntervalMs: number;
  private readonly xmatchThreads: number;
  private readonly memoryBytes: number | undefined;
  private readonly resolveDataset: (name: string) => Promise<string>;
  private readonly url: string;
  private readonly keyPrefix: string;
  private sweeper: NodeJS.Timeout | null = null;
  private submitting: Promise<unknown> = Promise.resolve();
  /** Jobs running in this process, to stop them when it closes. */
  private readonly running = new Map<string, AbortController>();
  private closed = false;

  private constructor(
    options: JobQueueOptions,
    queue: Queue<StoredJob, JobResult>,
    clients: Redis[],
    resolved: {
      jobsDir: string;
      maxQueued: number;
      timeoutMs: number;
      resultTtlMs: number;
      progressIntervalMs: number;
      xmatchThreads: number;
    },
  ) {
    this.queue = queue;
    this.clients = clients;
    this.jobsDir = resolved.jobsDir;
    this.maxQueued = resolved.maxQueued;
    this.timeoutMs = resolved.timeoutMs;
    this.resultTtlMs = resolved.resultTtlMs;
    this.progressIntervalMs = resolved.progressIntervalMs;
    this.xmatchThreads = resolved.xmatchThreads;
    this.memoryBytes = options.memoryBytes;
    this.resolveDataset = options.resolveDataset;
    this.url = safeUrl(options.connection);
    this.keyPrefix = `${options.prefix ?? "bull"}:${options.queueName ?? "astropile-jobs"}:astropile`;
  }

  /**
   * Connects to Redis (a JobQueueUnavailableError when it does not answer within 5 s), creates
   * `<dataDir>/jobs`, and starts the worker unless `worker: false`.
   */
  static async open(options: JobQueueOptions): Promise<JobQueue> {
    const concurrency = positiveInteger(options.concurrency, "concurrency", 1);
    const maxQueued = positiveInteger(options.maxQueued, "maxQueued", 16);
    const timeoutMs = nonNegative(options.timeoutMs, "timeoutMs", HOUR);
    const resultTtlMs = positiveInteger(options.resultTtlMs, "resultTtlMs", 24 * HOUR);
    const progressIntervalMs = nonNegative(options.progressIntervalMs, "progressIntervalMs", 500);
    const xmatchThreads = nonNegative(options.xmatchThreads, "xmatchThreads", 1);
    if (!Number.isInteger(xmatchThreads))
      throw new UsageError(`JobQueue: xmatchThreads must be an integer, got ${xmatchThreads}`);
    const lockDuration = positiveInteger(options.lockDurationMs, "lockDurationMs", 30_000);
    const stalledInterval = positiveInteger(options.stalledIntervalMs, "stalledIntervalMs", 30_000);
    const maxStalledCount = nonNegative(options.maxStalls, "maxStalls", 1);
    const sweepIntervalMs = positiveInteger(
      options.sweepIntervalMs,
      "sweepIntervalMs",
      Math.max(1000, Math.min(60_000, Math.floor(resultTtlMs / 4))),
    );
    if (typeof options.resolveDataset !== "function")
      throw new UsageError("JobQueue: resolveDataset (name => location) is required");
    const jobsDir = join(resolve(options.dataDir), "jobs");
    await mkdir(jobsDir, { recursive: true });
    const name = options.queueName ?? "astropile-jobs";
    const prefix = options.prefix ?? "bull";
    const url = options.connection;
    const [{ Queue, Worker }, { Redis }] = await Promise.all([import("bullmq"), import("ioredis")]);
    // Commands of the queue give up after a few reconnection attempts (a 503, not a hung
    // request); the worker's connection waits for Redis to come back, as BullMQ requires.
    const client = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      connectTimeout: 5000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    const clients = [client];
    const last = { error: "" };
    client.on("error", (e) => {
      last.error = e.message;
    });
    try {
      await client.connect();
      await client.ping();
    } catch (e) {
      client.disconnect();
      throw new JobQueueUnavailableError(
        `cannot reach Redis at ${safeUrl(url)}: ${(e as Error).message || last.error}`,
        {},
        { cause: e },
      );
    }
    const queue = new Queue<StoredJob, JobResult>(name, { connection: client, prefix });
    queue.on("error", () => {});
    const jobs = new JobQueue(options, queue, clients, {
      jobsDir,
      maxQueued,
      timeoutMs,
      resultTtlMs,
      progressIntervalMs,
      xmatchThreads,
    });
    try {
      await queue.waitUntilReady();
      if (options.worker !== false) {
        const workerClient = new Redis(url, { maxRetriesPerRequest: null });
        workerClient.on("error", () => {});
        clients.push(workerClient);
        const worker = new Worker<StoredJob, JobResult>(
          name,
          (job, token, signal) => jobs.run(job, token, signal),
          {
            connection: workerClient,
            prefix,
            concurrency,
            lockDuration,
            stalledInterval,
            maxStalledCount,
            autorun: false,
          },
        );
        worker.on("error", () => {});
        jobs.worker = worker;
        void worker.run().catch(() => {});
        await worker.waitUntilReady();
        jobs.sweeper = setInterval(() => {
          jobs.sweep().catch(() => {});
        }, sweepIntervalMs);
        jobs.sweeper.unref();
      }
    } catch (e) {
      await jobs.close({ force: true });
      throw new JobQueueUnavailableError(
        `cannot use Redis at ${safeUrl(url)}: ${(e as Error).message}`,
        {},
        { cause: e },
      );
    }
    return jobs;
  }

  /** Runs a Redis operation; a failure of Redis itself becomes a JobQueueUnavailableError. */
  private async redis<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new JobQueueUnavailableError("the job queue is closed");
    try {
      return await fn();
    } catch (e) {
      if (isAstroPileError(e)) throw e;
      throw new JobQueueUnavailableError(
        `Redis at ${this.url} failed to ${what}: ${(e as Error).message}`,
        {},
        { cause: e },
      );
    }
  }

  private get client(): Redis {
    return this.clients[0]!;
  }

  /**
   * Checks a job body (shape and ranges, then that its datasets, configs, columns, filter and
   * format exist and parse), and queues it. Resolves to its status ("queued"). Throws a
   * JobRequestError naming the field at fault, a JobQueueFullError when `maxQueued` jobs are
   * waiting, a JobQueueUnavailableError when Redis fails.
   */
  async submit(body: unknown): Promise<JobStatus> {
    const request = parseJobRequest(body);
    await this.precheck(request);
    // One submit at a time in this process, so the count and the add do not interleave (other
    // processes submitting to the same queue can pass the bound by their own in-flight adds).
    const next = this.submitting.then(async () => {
      const counts = await this.redis("count the waiting jobs", () =>
        this.queue.getJobCounts("waiting", "delayed", "prioritized"),
      );
      const waiting = Object.values(counts).reduce((a, b) => a + b, 0);
      if (waiting >= this.maxQueued)
        throw new JobQueueFullError(
          `the job queue is full: ${waiting} jobs are waiting (at most ${this.maxQueued}); try again later`,
        );
      const id = randomUUID();
      const createdAt = new Date().toISOString();
      await this.redis("queue the job", () =>
        this.queue.add(
          request.kind,
          { request, createdAt },
          { jobId: id, attempts: 1, removeOnComplete: false, removeOnFail: false },
        ),
      );
      return {
        id,
        kind: request.kind,
        state: "queued",
        progress: 0,
        message: "waiting for a worker",
        request,
        createdAt,
        attempts: 0,
      } satisfies JobStatus;
    });
    this.submitting = next.catch(() => {});
    return next;
  }

  /** Opens what a job will read, so a wrong name, config, column or filter is a 400 now. */
  private async precheck(request: JobRequest): Promise<void> {
    if (request.kind === "xmatch") {
      const left = await this.openSide(request.left, request.leftConfig, "left", "leftConfig");
      left.close();
      const right = await this.openSide(request.right, request.rightConfig, "right", "rightConfig");
      right.close();
      return;
    }
    try {
      exporterFor(request.to);
    } catch (e) {
      throw new JobRequestError(`job body: to: ${(e as Error).message}`, "to", { cause: e });
    }
    const ds = await this.openSide(request.dataset, request.config, "dataset", "config");
    try {
      let view: Dataset = ds;
      if (request.filter !== undefined) {
        try {
          view = filteredView(ds, { filter: request.filter });
        } catch (e) {
          throw asRequestError(e, "filter");
        }
      }
      if (request.columns) {
        try {
          view.select(request.columns);
        } catch (e) {
          throw asRequestError(e, "columns");
        }
      }
    } finally {
      ds.close();
    }
  }

  /**
   * Opens a dataset named in a job body; an unknown name, config or unreadable dataset is a
   * JobRequestError on `field` or `configField`.
   */
  private async openSide(
    name: string,
    config: string | undefined,
    field: string,
    configField: string,
  ): Promise<Dataset> {
    let location: string;
    try {
      location = await this.resolveDataset(name);
    } catch (e) {
      if (isAstroPileError(e, NotFoundError.code) || !isAstroPileError(e))
        throw new JobRequestError(`job body: ${field}: unknown dataset "${name}"`, field, {
          cause: e,
        });
      throw asRequestError(e, field);
    }
    let root: string;
    let configs: string[];
    try {
      root = await datasetRootOf(location);
      configs = Object.keys((await readManifest(root)).configs);
    } catch (e) {
      throw asRequestError(e, field);
    }
    if (config !== undefined && !configs.includes(config))
      throw new JobRequestError(
        `job body: ${configField}: dataset "${name}" has no config "${config}" (configs: ${configs.join(", ")})`,
        configField,
      );
    if (config === undefined && configs.length > 1)
      throw new JobRequestError(
        `job body: ${configField}: dataset "${name}" has several configs (${configs.join(", ")}); name one`,
        configField,
      );
    try {
      return await openDataset(root, { config: config ?? configs[0] });
    } catch (e) {
      throw asRequestError(e, field);
    }
  }

  /** The status of a job; a NotFoundError for an unknown (or expired) id. */
  async status(id: string): Promise<JobStatus> {
    let job = await this.getJob(id);
    if (!job) {
      const tombstone = await this.redis("read the job", () =>
        this.client.get(this.key(`cancelled:${id}`)),
      );
      if (tombstone) return JSON.parse(tombstone) as JobStatus;
      throw new NotFoundError(`no job ${id} (unknown, or removed after its result expired)`);
    }
    const read = job;
    const state = await this.redis("read the job", () => read.getState());
    // The job finished between the two reads: read it again, with its result.
    if ((state === "completed" || state === "failed") && !job.finishedOn)
      job = (await this.getJob(id)) ?? job;
    const status = this.describe(job, state);
    if (this.expired(status)) {
      await this.removeJob(job);
      throw new NotFoundError(`no job ${id} (its result expired)`);
    }
    return status;
  }

  private async getJob(id: string): Promise<Job<StoredJob, JobResult> | undefined> {
    if (typeof id !== "string" || !JOB_ID.test(id)) throw new NotFoundError(`no job ${id}`);
    return this.redis("read the job", () => this.queue.getJob(id));
  }

  private key(suffix: string): string {
    return `${this.keyPrefix}:${suffix}`;
  }

  private expired(status: JobStatus): boolean {
    return (
      status.finishedAt !== undefined &&
      Date.parse(status.finishedAt) + this.resultTtlMs <= Date.now()
    );
  }

  private describe(job: Job<StoredJob, JobResult>, bullState: string): JobStatus {
    const data = job.data;
    const p = job.progress as Partial<StoredProgress> | number | undefined;
    const stored: StoredProgress =
      typeof p === "object" && p !== null && typeof p.fraction === "number"
        ? { fraction: p.fraction, message: String(p.message ?? "") }
        : { fraction: 0, message: "" };
    const base = {
      id: job.id!,
      kind: data.request.kind,
      request: data.request,
      createdAt: data.createdAt,
      attempts: job.attemptsStarted ?? 0,
      ...(job.processedOn && { startedAt: new Date(job.processedOn).toISOString() }),
    };
    const r = job.returnvalue;
    if (bullState === "completed" && r) {
      return {
        ...base,
        state: "done",
        progress: 1,
        message: "done",
        ...(job.finishedOn && { finishedAt: new Date(job.finishedOn).toISOString() }),
        result: {
          files: r.files.map((f) => f.path),
          bytes: r.bytes,
          rows: r.rows,
          summary: r.summary,
        },
      };
    }
    if (bullState === "failed") {
      const error = parseFailure(job.failedReason);
      return {
        ...base,
        state: error.code === JOB_CANCELLED ? "cancelled" : "failed",
        progress: stored.fraction,
        message: error.message,
        ...(job.finishedOn && { finishedAt: new Date(job.finishedOn).toISOString() }),
        error,
      };
    }
    if (bullState === "active" || bullState === "completed")
      return {
        ...base,
        state: "running",
        progress: stored.fraction,
        message: stored.message || "running",
      };
    return {
      ...base,
      state: "queued",
      progress: 0,
      message:
        (job.attemptsStarted ?? 0) > 0
          ? "waiting for a worker (its last worker was lost; running it again)"
          : "waiting for a worker",
    };
  }

  /** Jobs known to the queue, newest first within each state (at most `limit`, default 100). */
  async list(options: { limit?: number } = {}): Promise<JobStatus[]> {
    const limit = positiveInteger(options.limit, "limit", 100);
    const out: JobStatus[] = [];
    for (const state of ["active", "waiting", "delayed", "prioritized", "completed", "failed"]) {
      if (out.length >= limit) break;
      const jobs = await this.redis("list the jobs", () =>
        this.queue.getJobs([state as "active"], 0, limit - out.length - 1, false),
      );
      for (const job of jobs) {
        if (!job) continue;
        const s = this.describe(job, state);
        if (!this.expired(s)) out.push(s);
      }
    }
    return out;
  }

  /**
   * Cancels a job: a queued one is removed from the queue at once (its status stays readable as
   * "cancelled" until resultTtlMs); a running one stops at its next checkpoint and fails with
   * ASTROPILE_CANCELLED. A finished job is left as it is. Resolves to the status after the request.
   */
  async cancel(id: string): Promise<JobStatus> {
    const job = await this.getJob(id);
    if (!job) return this.status(id);
    const state = await this.redis("read the job", () => job.getState());
    if (state === "completed" || state === "failed") return this.describe(job, state);
    if (state !== "active") {
      let removed = false;
      try {
        await job.remove();
        removed = true;
      } catch {
        // Taken by a worker meanwhile: cancel it as a running job.
      }
      if (removed) {
        const now = new Date().toISOString();
        const status: JobStatus = {
          ...this.describe(job, state),
          state: "cancelled",
          message: "cancelled before it started",
          finishedAt: now,
          error: { code: JOB_CANCELLED, message: "cancelled before it started" },
        };
        await this.redis("record the cancellation", () =>
          this.client.set(
            this.key(`cancelled:${id}`),
            JSON.stringify(status),
            "PX",
            this.resultTtlMs,
          ),
        );
        return status;
      }
    }
    // Running (here or in another process): a flag its worker polls, and the local fast path.
    await this.redis("record the cancellation", () =>
      this.client.set(this.key(`cancel:${id}`), "1", "PX", this.timeoutMs || 24 * HOUR),
    );
    this.running.get(id)?.abort(cancelledError());
    return this.status(id);
  }

  /**
   * The result of a done job: its root directory and files. A NotFoundError for an unknown id,
   * a JobNotDoneError (with its state) when it is not done.
   */
  async resultFiles(id: string): Promise<{ root: string; files: JobResultFile[]; bytes: number }> {
    const status = await this.status(id);
    if (status.state !== "done")
      throw new JobNotDoneError(
        `job ${id} is ${status.state}${status.error ? ` (${status.error.code}: ${status.error.message})` : ""}; it has no result`,
      );
    const job = (await this.getJob(id))!;
    return {
      root: join(this.jobsDir, id),
      files: job.returnvalue.files,
      bytes: status.result!.bytes,
    };
  }

  /**
   * One file of a done job's result, for a download: `path` must be one of its files as listed
   * (`/`-separated, no `..`, no absolute path); anything else is a NotFoundError. The file is
   * checked to be a regular file inside the job's directory (no link out of it).
   */
  async resultFile(id: string, path: string): Promise<{ path: string; bytes: number }> {
    const { root, files } = await this.resultFiles(id);
    const entry = files.find((f) => f.path === path);
    if (
      !entry ||
      path.includes("\0") ||
      path.includes("\\") ||
      path.split("/").some((s) => s === ".." || s === "." || s === "")
    )
      throw new NotFoundError(`job ${id} has no result file ${JSON.stringify(path)}`);
    const full = join(root, ...path.split("/"));
    let real: string;
    let realRoot: string;
    try {
      [real, realRoot] = await Promise.all([realpath(full), realpath(root)]);
    } catch (e) {
      throw new NotFoundError(`job ${id}: result file ${path} is gone`, {}, { cause: e });
    }
    const rel = relative(realRoot, real);
    if (rel.startsWith("..") || rel === "" || resolve(realRoot, rel) !== real)
      throw new NotFoundError(`job ${id} has no result file ${JSON.stringify(path)}`);
    const s = await lstat(real);
    if (!s.isFile()) throw new NotFoundError(`job ${id}: result ${path} is not a file`);
    return { path: real, bytes: s.size };
  }

  /**
   * Removes finished jobs (and their files) older than resultTtlMs, and result directories no job
   * owns any more. Runs on a timer in a queue that has a worker; resolves to the jobs removed.
   */
  async sweep(): Promise<number> {
    const now = Date.now();
    let removed = 0;
    const expired: Array<Job<StoredJob, JobResult>> = [];
    for (const state of ["completed", "failed"] as const) {
      for (let start = 0; ; start += 500) {
        const jobs = await this.redis("list the finished jobs", () =>
          this.queue.getJobs([state], start, start + 499, true),
        );
        for (const job of jobs) {
          if (job?.finishedOn && job.finishedOn + this.resultTtlMs <= now) expired.push(job);
        }
        if (jobs.length < 500) break;
      }
    }
    for (const job of expired) {
      await this.removeJob(job);
      removed++;
    }
    // Directories left by a crash between a rename and a removal, or by a flushed Redis.
    for (const e of await readdir(this.jobsDir, { withFileTypes: true })) {
      const id = e.name.startsWith(".work-") ? e.name.slice(6, 42) : e.name;
      if (!JOB_ID.test(id)) continue;
      const s = await lstat(join(this.jobsDir, e.name));
      if (s.mtimeMs + this.resultTtlMs > now) continue;
      const job = await this.redis("read the job", () => this.queue.getJob(id));
      const state = job ? await this.redis("read the job", () => job.getState()) : "gone";
      if (state === "gone" || (e.name.startsWith(".work-") && state !== "active"))
        await rm(join(this.jobsDir, e.name), { recursive: true, force: true });
    }
    return removed;
  }

  private async removeJob(job: Job<StoredJob, JobResult>): Promise<void> {
    await rm(join(this.jobsDir, job.id!), { recursive: true, force: true });
    await this.redis("remove the job", () => job.remove()).catch((e) => {
      // Already removed by another process.
      if (!/not exist|missing/i.test((e as Error).message)) throw e;
    });
  }

  /**
   * Stops the worker and disconnects. Waits for the jobs running here to finish, unless
   * `force`: then they are stopped at their next checkpoint and left to BullMQ's stalled check
   * (run again once by the next worker of the queue, then failed).
   */
  async close(options: { force?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    if (options.force) {
      for (const c of this.running.values()) c.abort(WORKER_CLOSED);
    }
    try {
      await this.worker?.close(options.force === true);
    } catch {
      // Closing anyway.
    }
    this.closed = true;
    try {
      await this.queue.close();
    } catch {
      // Closing anyway.
    }
    for (const c of this.clients) c.disconnect();
  }

  /** The processor BullMQ calls with each job this process runs. */
  private async run(
    job: Job<StoredJob, JobResult>,
    _token: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<JobResult> {
    const id = job.id!;
    const request = job.data.request;
    const work = join(this.jobsDir, `.work-${id}-${randomBytes(4).toString("hex")}`);
    const final = join(this.jobsDir, id);
    const controller = new AbortController();
    this.running.set(id, controller);
    const progress = new ProgressReporter(job, this.progressIntervalMs);
    const stop = (reason: AstroPileError) => {
      if (controller.signal.aborted) return;
      controller.abort(reason);
      progress.set(progress.fraction, `${reason.message}; stopping at the next checkpoint`);
    };
    signal?.addEventListener("abort", () => stop(cancelledError()), { once: true });
    const timer =
      this.timeoutMs > 0
        ? setTimeout(
            () =>
              stop(
                new AstroPileError(
                  `the job ran longer than its time limit (${this.timeoutMs} ms)`,
                  {},
                  { code: JOB_TIMEOUT },
                ),
              ),
            this.timeoutMs,
          )
        : null;
    // A cancel from another process: a flag in Redis.
    const poll = setInterval(() => {
      this.client
        .exists(this.key(`cancel:${id}`))
        .then((n) => {
          if (n > 0) stop(cancelledError());
        })
        .catch(() => {});
    }, 500);
    const ctx: RunContext = {
      dir: work,
      progress,
      checkpoint: () => {
        if (controller.signal.aborted) throw controller.signal.reason;
      },
    };
    try {
      await mkdir(work, { recursive: true });
      progress.set(0.01, "opening the datasets");
      const outcome =
        request.kind === "xmatch"
          ? await this.runXmatch(request, ctx)
          : await this.runExport(request, ctx);
      ctx.checkpoint();
      const files = await listFiles(work);
      await rm(final, { recursive: true, force: true });
      await rename(work, final);
      progress.set(1, "done");
      await progress.settle();
      return {
        files,
        bytes: files.reduce((sum, f) => sum + f.bytes, 0),
        rows: outcome.rows,
        summary: outcome.summary,
      };
    } catch (e) {
      await rm(work, { recursive: true, force: true }).catch(() => {});
      const reason = controller.signal.aborted ? controller.signal.reason : e;
      // This worker was closed under the job: record nothing (its lock lapses, and the next
      // worker's stalled check runs it again), and never settle, holding no timer or handle.
      if (reason === WORKER_CLOSED) return new Promise<JobResult>(() => {});
      await progress.settle();
      throw new Error(JSON.stringify(failureOf(reason)));
    } finally {
      progress.stop();
      if (timer) clearTimeout(timer);
      clearInterval(poll);
      this.running.delete(id);
      this.client.del(this.key(`cancel:${id}`)).catch(() => {});
    }
  }

  private async runXmatch(r: XmatchJobRequest, ctx: RunContext): Promise<WorkOutcome> {
    const left = await this.openSide(r.left, r.leftConfig, "left", "leftConfig");
    let right: Dataset;
    try {
      right = await this.openSide(r.right, r.rightConfig, "right", "rightConfig");
    } catch (e) {
      left.close();
      throw e;
    }
    try {
      ctx.checkpoint();
      ctx.progress.set(0.05, "matching");
      const m = await crossMatch(left, right, {
        radiusArcsec: r.radiusArcsec,
        minRadiusArcsec: r.minRadiusArcsec,
        mode: r.mode,
        nNeighbors: r.nNeighbors,
        how: r.how,
        threads: this.xmatchThreads === 0 ? undefined : this.xmatchThreads,
        memoryBytes: this.memoryBytes,
        onProgress: (p) =>
          ctx.progress.set(
            0.05 + 0.65 * (p.unitsTotal > 0 ? p.unitsDone / p.unitsTotal : 0),
            `matching: ${p.unitsDone} of ${p.unitsTotal} units, ${p.leftRows} left rows, ${p.rows} catalog rows`,
          ),
      });
      ctx.checkpoint();
      const rows = m.catalog.length;
      if (r.output === "catalog") {
        ctx.progress.set(0.75, `writing the pair catalog (${rows} rows)`);
        await writeCatalogCsv(m.catalog, join(ctx.dir, "xmatch.csv"), {
          locations: r.locations === true,
        });
      } else {
        ctx.progress.set(0.75, `writing the matched dataset (${rows} rows)`);
        await m.dataset.saveToDisk(join(ctx.dir, "xmatch"), {
          layout: r.layout,
          memoryBytes: this.memoryBytes,
        });
      }
      return {
        rows,
        summary: {
          leftRows: m.stats.leftRows,
          leftMatched: m.stats.leftMatched,
          rightRowsRead: m.stats.rightRowsRead,
          units: m.stats.units,
          output: r.output === "catalog" ? "xmatch.csv" : "xmatch/",
        },
      };
    } finally {
      left.close();
      right.close();
    }
  }

  private async runExport(r: ExportJobRequest, ctx: RunContext): Promise<WorkOutcome> {
    const ds = await this.openSide(r.dataset, r.config, "dataset", "config");
    try {
      ctx.checkpoint();
      const exporter = exporterFor(r.to);
      const name =
        exporter.output === "directory"
          ? `${r.dataset}-${exporter.format}`
          : `${r.dataset}.${exporter.format}`;
      const upper = Math.max(1, ds.length);
      ctx.progress.set(0.02, `exporting to ${exporter.format}`);
      const result = await exportDataset(ds, {
        to: exporter.format,
        out: join(ctx.dir, name),
        columns: r.columns,
        filter: r.filter,
        cone: r.cone,
        box: r.box,
        flattenArrays: r.flattenArrays,
        formatOptions: {
          ...(r.compression !== undefined && { compression: r.compression }),
          ...(r.maxRowsPerPartition !== undefined && {
            maxRowsPerPartition: r.maxRowsPerPartition,
          }),
          ...(r.maxRowsPerFile !== undefined && { maxRowsPerFile: r.maxRowsPerFile }),
        },
        onProgress: (p) => {
          // Throwing here stops the export after this batch (its output is removed).
          ctx.checkpoint();
          const fraction =
            p.totalRows !== null ? p.rows / Math.max(1, p.totalRows) : p.rows / upper;
          ctx.progress.set(
            0.02 + 0.97 * Math.min(1, fraction),
            `${p.rows} rows written${p.totalRows !== null ? ` of ${p.totalRows}` : ""}`,
          );
        },
      });
      return {
        rows: result.rows,
        summary: {
          format: result.format,
          output: name,
          columns: result.columns,
          skipped: result.skipped,
        },
      };
    } finally {
      ds.close();
    }
  }
}

/**
 * The `resolveDataset` of {@link JobQueueOptions} for the datasets a server serves: a name's
 * catalog entry's location, a NotFoundError for a name the directory does not have.
 */
export function datasetResolver(directory: DatasetDirectory): (name: string) => Promise<string> {
  return async (name) => {
    const entry = await directory.get(name);
    if (!entry) throw new NotFoundError(`no dataset named "${name}" in the catalog`);
    return entry.location;
  };
}

/** The reason local jobs stop when their queue is closed with `force`. */
const WORKER_CLOSED = new JobQueueUnavailableError("the worker running the job was closed");

function cancelledError(): AstroPileError {
  return new AstroPileError("the job was cancelled", {}, { code: JOB_CANCELLED });
}

/** A library error about a body field, as a 400 on that field keeping the library's code. */
function asRequestError(e: unknown, field: string): JobRequestError {
  if (e instanceof JobRequestError) return e;
  // The library's generic "bad argument" is the service's bad parameter; precise codes stay.
  const code = isAstroPileError(e) && e.code !== UsageError.code ? e.code : JobRequestError.code;
  return new JobRequestError(`job body: ${field}: ${(e as Error).message}`, field, {
    code,
    cause: e,
  });
}

// Re-checked by the route (a path segment): ids are UUIDs.
/** @internal */
export function isJobId(id: string): boolean {
  return JOB_ID.test(id);
}
