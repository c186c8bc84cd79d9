// The training data loader: batches of typed arrays with shapes, read and decoded ahead of the
// consumer on worker threads, in a reproducible order for a seed and an epoch, resumable from a
// batch index, with memory bounded by the number of batches prefetched.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { type ColumnValues, type Dtype, exactBytesPerRow } from "../core/columns.ts";
import { AstroPileError, deserializeError, InternalError, UsageError } from "../core/errors.ts";
import { stopWorker } from "../core/worker-stop.ts";
import { workerUrl } from "../core/worker-url.ts";
import { remoteSettings } from "../remote/remote-file.ts";
import {
  type BatchLayout,
  batchLayout,
  batchViews,
  type FileGroup,
  newBatchBuffer,
  type ReadTask,
  readTask,
} from "./loader-read.ts";
import type { FromLoaderWorker, ToLoaderWorker } from "./loader-worker.ts";
import { checkSeed, Permutation } from "./permutation.ts";
import type { Source } from "./source.ts";

/** One column of a loader batch: values row-major, `shape[0]` the batch's rows. */
export interface LoaderColumn {
  /** Typed array (Uint8Array of 0/1 for bool), or string[] for string columns. */
  data: ColumnValues;
  /** [rows, ...row shape], e.g. [256, 5, 64, 64] for a batch of 5-band 64x64 images. */
  shape: number[];
  dtype: Dtype;
}

/** A batch the loader yields (before `transform`). */
export interface LoaderBatch {
  /** Batch number within the epoch (0-based; resume with `startBatch`). */
  index: number;
  epoch: number;
  /** Rows in this batch. */
  length: number;
  /** Positions in the dataset view of each row, in batch order. */
  positions: Float64Array;
  columns: Record<string, LoaderColumn>;
}

export interface LoaderOptions<T = LoaderBatch> {
  /** Rows per batch. Default 256. */
  batchSize?: number;
  /** Columns (names, standard names or groups); default the view's selection. */
  columns?: string[];
  /**
   * Shuffle every row of the view with this seed (a full permutation, different for each epoch
   * and the same for the same seed and epoch). Omit for the view's order.
   */
  shuffle?: { seed: number };
  /** Epoch of a loop over the loader itself: with `shuffle`, its order. Default 0 (see {@link Loader.epoch}). */
  epoch?: number;
  /** First batch to yield (resume after batch startBatch - 1 of this epoch). Default 0. */
  startBatch?: number;
  /**
   * Worker threads that read and decode batches. Default: the available cores, at most 4.
   * 0 reads in this thread (still ahead of the consumer, by `prefetch` batches).
   */
  workers?: number;
  /**
   * Batches read ahead of the consumer (in flight or ready). Memory is bounded by about
   * `prefetch + 1` batches. Default 2 per worker (2 with no workers).
   */
  prefetch?: number;
  /** Skip the last batch if it is short. Default false. */
  dropLast?: boolean;
  /**
   * Read batches into a fixed pool of `prefetch + 1` buffers that are used again, instead of new
   * memory for every batch: no allocation, page faults or garbage collection of batch-sized
   * buffers while the loop runs (on uncompressed data that is most of the time a batch costs),
   * and memory fixed at `prefetch + 1` batches. The contract: **a batch's arrays (and whatever
   * `transform` made that still points at them, such as a tensor over the same memory) stay
   * valid only until the loop asks this loader for its next batch** (of this epoch or another);
   * then the buffer is filled with a later batch. Copy what you keep (`data.slice()`). With
   * workers, the buffers are SharedArrayBuffers the worker threads write into. Default false:
   * every batch has its own new buffer, which the consumer may keep.
   */
  reuse?: boolean;
  /** Applied to each batch on this thread before it is yielded (e.g. to build tensors). */
  transform?: (batch: LoaderBatch) => T | Promise<T>;
}

/** What a dataset view gives its loader. @internal */
export interface LoaderHost {
  sources: readonly Source[];
  sourceStarts: Float64Array;
  /** View columns resolved to names. */
  names: string[];
  /** Rows of the view (counts a filtered view). */
  length(): Promise<number>;
  /** The global row (over all sources) at a view position. */
  rowAt(position: number): number;
  /** Worker module (tests). */
  script?: URL;
}

/** Most worker deaths tolerated per batch: the first death retries the batch on a new worker. */
const ATTEMPTS = 2;

/**
 * Batches of a dataset view for training: `for await (const batch of loader)`. Read and decoded
 * on worker threads ahead of the consumer; see {@link LoaderOptions}. The threads outlive a loop
 * that runs to its end, so the next epoch ({@link Loader.epoch}) does not start them again;
 * while idle they do not keep the process alive. Breaking out of a loop (or an error) stops
 * them; {@link Loader.close} does it explicitly.
 */
export class Loader<T = LoaderBatch> implements AsyncIterable<T> {
  private readonly host: LoaderHost;
  private readonly batchSize: number;
  private readonly firstEpoch: number;
  private readonly startBatch: number;
  private readonly workers: number;
  private readonly prefetch: number;
  private readonly options: LoaderOptions<T>;
  private pool: WorkerPool | null = null;
  /** Batch buffers free for the next batch (`reuse`), kept across epochs. */
  private readonly free: ArrayBufferLike[] = [];

  /** @internal Use `dataset.loader(options)`. */
  constructor(host: LoaderHost, options: LoaderOptions<T> = {}) {
    const int = (name: string, v: number, min: number) => {
      if (!(Number.isSafeInteger(v) && v >= min))
        throw new UsageError(`loader ${name} ${v} must be an integer >= ${min}`);
      return v;
    };
    this.host = host;
    this.options = options;
    this.batchSize = int("batchSize", options.batchSize ?? 256, 1);
    this.firstEpoch = int("epoch", options.epoch ?? 0, 0);
    this.startBatch = int("startBatch", options.startBatch ?? 0, 0);
    this.workers = int("workers", options.workers ?? Math.min(4, availableParallelism()), 0);
    this.prefetch = int("prefetch", options.prefetch ?? Math.max(2, 2 * this.workers), 1);
    if (options.shuffle) checkSeed(options.shuffle.seed, "loader shuffle");
    // A batch must be addressable: refuse sizes whose bytes cannot be allocated at all.
    const rowBytes = host.names.reduce(
      (sum, n) => sum + exactBytesPerRow(host.sources[0].spec(n)),
      0n,
    );
    if (rowBytes * BigInt(this.batchSize) > 2n ** 31n)
      throw new UsageError(
        `a batch of ${this.batchSize} rows would take ${rowBytes * BigInt(this.batchSize)} bytes: use a smaller batchSize`,
      );
  }

  /** Batches in this epoch (from batch 0), once the view's length is known. */
  async batchCount(): Promise<number> {
    const n = await this.host.length();
    return this.options.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.run(this.firstEpoch, this.startBatch);
  }

  /**
   * The batches of epoch `epoch` (with `shuffle`, that epoch's order), from batch `startBatch`
   * (default 0), read by this loader's worker threads: a training loop calls
   * `for await (const b of loader.epoch(e))` for e = 0, 1, 2, ... and pays thread start-up once.
   */
  epoch(epoch: number, options: { startBatch?: number } = {}): AsyncIterable<T> {
    for (const [name, v] of [
      ["epoch", epoch],
      ["startBatch", options.startBatch ?? 0],
    ] as const)
      if (!(Number.isSafeInteger(v) && v >= 0))
        throw new UsageError(`loader ${name} ${v} must be an integer >= 0`);
    return { [Symbol.asyncIterator]: () => this.run(epoch, options.startBatch ?? 0) };
  }

  private async *run(epoch: number, startBatch: number): AsyncGenerator<T> {
    const n = await this.host.length();
    const count = await this.batchCount();
    const order = this.options.shuffle
      ? new Permutation(n, (this.options.shuffle.seed >>> 0) + 2 ** 32 * (epoch % 2 ** 20))
      : null;
    const names = this.host.names;
    const plan = (
      index: number,
      layout: BatchLayout,
    ): { task: ReadTask; positions: Float64Array } => {
      const from = index * this.batchSize;
      const size = Math.min(this.batchSize, n - from);
      const positions = new Float64Array(size);
      for (let j = 0; j < size; j++) positions[j] = order ? order.at(from + j) : from + j;
      return { task: { index, size, names, groups: this.group(positions), layout }, positions };
    };
    const first = this.host.sources[0];
    const specs = names.map((c) => first.spec(c));
    const shapes = Object.fromEntries(names.map((c) => [c, first.feature(c).shape]));
    const dtypes = Object.fromEntries(names.map((c) => [c, first.feature(c).dtype]));
    const layout = batchLayout(specs, this.batchSize);
    if (this.workers > 0 && !this.pool) this.pool = new WorkerPool(this.host, this.workers);
    const pool = this.pool;
    const reuse = this.options.reuse === true;
    // With workers, a reused buffer is shared memory the threads write into.
    const acquire = (): ArrayBufferLike | undefined =>
      reuse
        ? (this.free.pop() ??
          (pool ? new SharedArrayBuffer(layout.bytes) : new ArrayBuffer(layout.bytes)))
        : undefined;
    const run = pool
      ? (task: ReadTask, buffer: ArrayBufferLike | undefined) => pool.read(task, buffer)
      : async (task: ReadTask, buffer: ArrayBufferLike | undefined) => {
          const into = buffer ?? newBatchBuffer(layout);
          return { buffer: into, strings: await readTask(this.host.sources, task, into) };
        };
    const ahead = new Map<number, { positions: Float64Array; result: Promise<Result> }>();
    let next = startBatch;
    let finished = false;
    // The buffer of the batch the consumer holds (reuse): free again when it asks for the next.
    let held: ArrayBufferLike | null = null;
    try {
      for (let index = startBatch; index < count; index++) {
        if (held) this.free.push(held);
        held = null;
        while (next < count && next - index < this.prefetch) {
          const { task, positions } = plan(next, layout);
          const result = run(task, acquire()).then(
            (read) => read,
            (error: unknown) => ({ error }),
          );
          ahead.set(next++, { positions, result });
        }
        const got = ahead.get(index)!;
        ahead.delete(index);
        const r = await got.result;
        if ("error" in r) throw r.error;
        if (reuse) held = r.buffer;
        const length = got.positions.length;
        const views = batchViews(r.buffer, layout, specs, length);
        const columns: Record<string, LoaderColumn> = {};
        for (const c of names)
          columns[c] = {
            data: (views[c] ?? r.strings[c]) as ColumnValues,
            shape: [length, ...shapes[c]],
            dtype: dtypes[c],
          };
        const batch: LoaderBatch = { index, epoch, length, positions: got.positions, columns };
        yield this.options.transform
          ? await this.options.transform(batch)
          : (batch as unknown as T);
      }
      finished = true;
    } finally {
      // The held buffer is free for a later loop. Buffers of batches still being read are
      // dropped, not reused: a read in this thread may still be writing into one.
      if (held) this.free.push(held);
      // A loop run to its end keeps the threads for the next epoch (idle: unref'd).
      if (!finished) await this.close();
    }
  }

  /** Stops the worker threads (the loop does it when it ends, breaks or fails). */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
  }

  /** The rows of a batch grouped by source file. */
  private group(positions: Float64Array): FileGroup[] {
    const { sources, sourceStarts } = this.host;
    const groups = new Map<string, { k: number; f: number; at: number[]; rows: number[] }>();
    for (let j = 0; j < positions.length; j++) {
      const g = this.host.rowAt(positions[j]);
      let k = 0;
      while (k + 1 < sources.length && sourceStarts[k + 1] <= g) k++;
      const [f, r] = sources[k].locate(g - sourceStarts[k]);
      const key = `${k}:${f}`;
      let group = groups.get(key);
      if (!group) {
        group = { k, f, at: [], rows: [] };
        groups.set(key, group);
      }
      group.at.push(j);
      group.rows.push(r);
    }
    return [...groups.values()].map((g) => ({
      k: g.k,
      f: g.f,
      at: Uint32Array.from(g.at),
      rows: Float64Array.from(g.rows),
    }));
  }
}

/** A batch read: its buffer (numeric columns, see BatchLayout) and its string columns. */
interface Read {
  buffer: ArrayBufferLike;
  strings: Record<string, string[]>;
}

type Result = Read | { error: unknown };

interface Job {
  task: ReadTask;
  /** The shared buffer to read into (reuse); none: the worker sends a new one back. */
  buffer: SharedArrayBuffer | undefined;
  attempts: number;
  resolve: (read: Read) => void;
  reject: (err: unknown) => void;
}

/**
 * Worker threads taking read tasks from a queue. A worker that dies (exits, or throws outside a
 * task) is replaced and its batch retried once on the new worker; a second death fails the batch.
 * Errors a task throws (a damaged chunk, a missing file) fail the batch at once: they would
 * happen again.
 */
class WorkerPool {
  private readonly host: LoaderHost;
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Job>();
  private readonly queue: Job[] = [];
  private closed = false;

  constructor(host: LoaderHost, count: number) {
    this.host = host;
    for (let i = 0; i < count; i++) this.idle.push(this.spawn());
  }

  private spawn(): Worker {
    const script = this.host.script ?? workerUrl("loader-worker", import.meta.url);
    // The module needs no loader: the parent's --import flags are not passed on.
    // Remote datasets: the thread reads them with this thread's remote settings.
    const w = new Worker(script, { execArgv: [], workerData: { remote: remoteSettings() } });
    // Idle threads do not keep the process alive; a thread with a batch to read does.
    w.unref();
    w.postMessage({
      type: "init",
      sources: this.host.sources.map((s) => ({ root: s.root, config: s.config })),
    } satisfies ToLoaderWorker);
    w.on("message", (m: FromLoaderWorker) => {
      const job = this.busy.get(w);
      if (!job) return;
      this.busy.delete(w);
      if (m.type === "done") job.resolve({ buffer: m.buffer ?? job.buffer!, strings: m.strings });
      else job.reject(deserializeError(m.error));
      w.unref();
      this.idle.push(w);
      this.pump();
    });
    let gone = false;
    const died = (why: string) => {
      if (gone) return;
      gone = true;
      const job = this.busy.get(w);
      this.busy.delete(w);
      const at = this.idle.indexOf(w);
      if (at >= 0) this.idle.splice(at, 1);
      void w.terminate();
      if (this.closed) return;
      this.idle.push(this.spawn());
      if (job) {
        if (++job.attempts < ATTEMPTS) this.queue.unshift(job);
        else
          job.reject(
            new AstroPileError(
              `loader worker died twice reading batch ${job.task.index} (${why}); the batch is not retried again`,
              {},
              { code: "ASTROPILE_WORKER_DIED" },
            ),
          );
      }
      this.pump();
    };
    w.on("error", (err) => died(err.message));
    w.on("exit", (code) => died(`exit code ${code}`));
    return w;
  }

  read(task: ReadTask, buffer: ArrayBufferLike | undefined): Promise<Read> {
    return new Promise((resolve, reject) => {
      // A plain ArrayBuffer would be copied to the thread, which would then fill its copy.
      if (buffer && !(buffer instanceof SharedArrayBuffer))
        throw new InternalError("loader: a reused buffer for a worker thread must be shared");
      const shared = buffer;
      this.queue.push({ task, buffer: shared, attempts: 0, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (!this.closed && this.queue.length > 0 && this.idle.length > 0) {
      const w = this.idle.pop()!;
      const job = this.queue.shift()!;
      this.busy.set(w, job);
      w.ref();
      w.postMessage({ type: "read", task: job.task, buffer: job.buffer } satisfies ToLoaderWorker);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.idle, ...this.busy.keys()];
    for (const job of [...this.busy.values(), ...this.queue])
      job.reject(new UsageError("loader closed"));
    this.idle.length = 0;
    this.busy.clear();
    this.queue.length = 0;
    // Busy threads finish the step they are in (see stopWorker), then exit.
    await Promise.all(all.map((w) => stopWorker(w)));
  }
}
