// `astropile serve` as a library function: serveDatasets builds the service the CLI runs (the
// datasets of directories, URLs and catalog files, keys, jobs, uploads, the viewer) and listens,
// in this process or, with `workers > 1`, in N processes of node:cluster that share one listening
// socket. The primary process of a cluster serves nothing itself: it starts the workers, prints
// nothing, replaces a worker that dies (a bounded number of times) and stops them all on close().

import { existsSync } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import {
  AstroPileError,
  deserializeError,
  type SerializedError,
  UsageError,
} from "../core/errors.ts";
import type { ServerRoutes } from "./app.ts";
import type { DatasetDirectory } from "./directory.ts";
import type { JobQueue } from "./jobs.ts";
import { serverNodeFlags, workerCount } from "./serving-process.ts";

/** What {@link serveDatasets} serves and how: the options of `astropile serve`. Plain data (a cluster hands it to each worker). */
export interface ServeOptions {
  /** Dataset directories, http(s):// or s3:// URLs, and catalog files (astropile catalog add). */
  locations: string[];
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** TCP port; 0: any free port (every worker of a cluster serves the same one). Default 8765. */
  port?: number;
  /** API keys file (KeyStore); re-read by each process within a second of a change. */
  keysFile?: string;
  /** Requests without a key may read. Default true (false needs `keysFile`). */
  anonymousRead?: boolean;
  /** Origins allowed by CORS (`*` for any); none by default. */
  cors?: string[];
  /** Directory served at `/` (the viewer). */
  webRoot?: string;
  /**
   * Requests per minute per key (or IP address) for the whole service; 0: no limit. Default 6000.
   * Each of N workers counts its own requests and allows ceil(limit / N).
   */
  rateLimitPerMinute?: number;
  /** A query running longer answers 504 (ms). Default 30,000. */
  queryTimeoutMs?: number;
  /** Memory of the answer cache of each process (MiB); 0: none. Default 64. */
  answerCacheMiB?: number;
  /**
   * After this long without a request (ms), each process empties its answer cache and collects
   * garbage, so memory comes back down after a burst of load; 0: never. Default 10,000.
   */
  trimWhenIdleMs?: number;
  /** Log each request (never keys) to stdout. */
  log?: boolean;
  /** Redis URL of the job queue; without it, jobs answer 503. */
  redis?: string;
  /** Where job results are written. Default `<cache dir>/jobs`. */
  jobsDir?: string;
  /** Receive published datasets into this directory (one process only: refused with workers > 1). */
  uploads?: string;
  /** Processes serving requests (node:cluster); 1 (default): this process. */
  workers?: number;
  /** Workers replaced within {@link ServeOptions.restartWindowMs} before the service gives up. Default 5. */
  maxRestarts?: number;
  /** The window of {@link ServeOptions.maxRestarts} (ms). Default 60,000. */
  restartWindowMs?: number;
}

/** A running service (see {@link serveDatasets}). */
export interface RunningService {
  /** `http://host:port` (no trailing slash), the port the service really listens on. */
  url: string;
  /** Names of the datasets served at start. */
  datasets: string[];
  /** Process ids serving requests now: this process, or the cluster's workers. */
  readonly workerPids: number[];
  /**
   * Settles when the service stopped: fulfilled after close(), rejected when the workers kept
   * dying (more than `maxRestarts` in `restartWindowMs`; the others are stopped first).
   */
  readonly stopped: Promise<void>;
  /** Stops accepting connections, finishes the requests under way, stops every worker. */
  close(): Promise<void>;
}

/** Workers kept dying: the cluster gave up (see {@link ServeOptions.maxRestarts}). */
export class WorkersFailedError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_WORKERS_FAILED";
}

/** Environment variable carrying a worker's {@link WorkerSetup} (JSON). */
export const WORKER_ENV = "ASTROPILE_SERVE_WORKER";

/** @internal What a cluster worker is told. */
export interface WorkerSetup {
  options: ServeOptions;
  /** 0..workers-1; a replacement takes the index of the worker it replaces. */
  index: number;
  workers: number;
}

/** @internal Messages from a worker to the primary. */
export type WorkerMessage =
  | { type: "astropile:listening"; port: number; datasets: string[] }
  | { type: "astropile:failed"; error: SerializedError };

function checkOptions(options: ServeOptions, workers: number): void {
  if (options.locations.length === 0 && !options.uploads)
    throw new UsageError("name the datasets to serve (DIR, URL or catalog file), or --uploads DIR");
  if (options.anonymousRead === false && !(options.keysFile ?? process.env.ASTROPILE_KEYS))
    throw new UsageError("--no-anonymous needs --keys FILE: nobody could read anything");
  const trim = options.trimWhenIdleMs;
  if (trim !== undefined && !(Number.isFinite(trim) && trim >= 0))
    throw new UsageError(`trimWhenIdleMs must be a number of milliseconds >= 0, got ${trim}`);
  if (workers > 1 && options.uploads)
    // Publishing is not safe across processes: the commit of a publish is serialised by a lock
    // held in the process that receives the manifest (not the output lock of the storage layer),
    // and only that process adds the new dataset to what it serves.
    throw new UsageError(
      `--uploads needs --workers 1 (got ${workers}): a publish is committed under a lock held by the one process that receives it, and only that process would serve the new dataset`,
    );
}

/** The service one process runs: its app and what to close with it. */
interface Built {
  app: FastifyInstance;
  directory: DatasetDirectory;
  queue: JobQueue | null;
}

/**
 * @internal Builds the app of one serving process. `worker` (in a cluster): its index and the
 * worker count, which divide the rate limit, mark answers with X-AstroPile-Worker and let only
 * worker 0 run jobs.
 */
export async function buildService(
  options: ServeOptions,
  worker?: { index: number; workers: number },
): Promise<Built> {
  const [{ createServer }, { LocalDirectory, combineDirectories }, { KeyStore }, { jobRoutes }] =
    await Promise.all([
      import("./app.ts"),
      import("./local-directory.ts"),
      import("./keys.ts"),
      import("./routes-jobs.ts"),
    ]);
  const keysPath = options.keysFile ?? process.env.ASTROPILE_KEYS;
  const keys = keysPath ? await KeyStore.open(keysPath) : null;
  // A file among the locations is a catalog database; the rest are datasets (directories, URLs).
  const catalogs: string[] = [];
  const datasets: string[] = [];
  for (const d of options.locations) {
    const isFile = await stat(d).then(
      (s) => s.isFile(),
      () => false,
    );
    (isFile ? catalogs : datasets).push(d);
  }
  const directories: DatasetDirectory[] = [];
  if (datasets.length > 0) directories.push(await LocalDirectory.open(datasets));
  const routes: ServerRoutes[] = [];
  if (options.uploads) {
    const { uploadRoutes } = await import("./routes-upload.ts");
    const root = options.uploads;
    await mkdir(root, { recursive: true });
    const present: string[] = [];
    for (const e of await readdir(root, { withFileTypes: true }))
      if (
        e.isDirectory() &&
        !e.name.startsWith(".") &&
        existsSync(join(root, e.name, "astropile.json"))
      )
        present.push(join(root, e.name));
    const published = await LocalDirectory.open(present);
    directories.push(published);
    routes.push(
      uploadRoutes({
        root,
        onPublished: async (_name, dir) => {
          await published.add(dir);
        },
      }),
    );
  }
  if (catalogs.length > 0) {
    const { DatasetCatalog } = await import("./catalog.ts");
    for (const file of catalogs)
      directories.push(await DatasetCatalog.open(file, { create: false }));
  }
  const directory = directories.length === 1 ? directories[0]! : combineDirectories(directories);
  // Every worker submits and answers on the shared queue; jobs run in worker 0 only, so as many
  // run at once (and hold their memory budget) as with one process.
  const queue = options.redis
    ? await openJobQueue(options.redis, options.jobsDir, directory, (worker?.index ?? 0) === 0)
    : null;
  routes.push(async (app) => {
    await app.register(jobRoutes, { queue });
  });
  if (worker && worker.workers > 1) {
    const pid = String(process.pid);
    routes.push((app) => {
      // onSend: every answer, errors of the auth hook included.
      app.addHook("onSend", async (_req, reply, payload) => {
        reply.header("x-astropile-worker", pid);
        return payload;
      });
    });
  }
  const perMinute = options.rateLimitPerMinute ?? 6000;
  const workers = worker?.workers ?? 1;
  const cacheMiB = options.answerCacheMiB ?? 64;
  try {
    const app = await createServer({
      directory,
      keys,
      anonymousRead: options.anonymousRead !== false,
      ...(options.webRoot && { webRoot: options.webRoot }),
      cors: options.cors && options.cors.length > 0 ? { origin: options.cors } : false,
      limits: {
        // Each worker counts only the requests it answers: its share of the service's limit.
        rateLimit:
          perMinute === 0 ? false : { max: Math.ceil(perMinute / workers), windowMs: 60_000 },
        queryTimeoutMs: options.queryTimeoutMs ?? 30_000,
      },
      logger: options.log ? { level: "info" } : false,
      answerCache: cacheMiB === 0 ? false : { maxBytes: Math.round(cacheMiB * 2 ** 20) },
      ...(options.trimWhenIdleMs !== undefined && { trimWhenIdleMs: options.trimWhenIdleMs }),
      routes,
    });
    return { app, directory, queue };
  } catch (err) {
    await queue?.close({ force: true });
    throw err;
  }
}

async function openJobQueue(
  redis: string,
  jobsDir: string | undefined,
  directory: DatasetDirectory,
  runJobs: boolean,
): Promise<JobQueue> {
  const [{ JobQueue, datasetResolver }, { defaultCacheDir }] = await Promise.all([
    import("./jobs.ts"),
    import("../cache/config.ts"),
  ]);
  return JobQueue.open({
    connection: redis,
    dataDir: jobsDir ?? join(defaultCacheDir(), "jobs"),
    resolveDataset: datasetResolver(directory),
    worker: runJobs,
  });
}

/** @internal Stops one process's service: no new connections, requests under way finished. */
export async function closeService(built: Built): Promise<void> {
  await built.app.close();
  // A job under way is taken up again by the next worker on the same Redis.
  await built.queue?.close({ force: true });
}

function urlOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/**
 * Serves datasets over HTTP as `astropile serve` does (docs/service.md) and resolves once the
 * service listens. With `workers: 1` (the default) the app runs in this process; with more, this
 * process becomes the primary of a node:cluster: it forks that many workers, each building the
 * same app, all accepting connections on one socket, and resolves when every one listens.
 *
 * Per worker: the answer cache and the decoded-chunk cache (memory is N times), the opened
 * datasets, the keys file check. The rate limit is divided between workers (ceil). Jobs run in
 * one worker. `uploads` with `workers > 1` is refused (UsageError). A worker that dies is logged
 * to stderr and replaced; more than `maxRestarts` in `restartWindowMs` stop the service
 * (`stopped` rejects with a WorkersFailedError).
 *
 * A serving process wants a larger V8 heap than Node's default (see {@link serverNodeFlags}):
 * cluster workers get it; with `workers: 1`, start node with those flags (`astropile serve`
 * does).
 *
 * ```ts
 * import { serveDatasets } from "astropile";
 * const service = await serveDatasets({ locations: ["data/hsc"], port: 0, workers: 2 });
 * console.log(service.url);
 * process.once("SIGTERM", () => service.close());
 * ```
 */
export async function serveDatasets(options: ServeOptions): Promise<RunningService> {
  const workers = workerCount(options.workers);
  checkOptions(options, workers);
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8765;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`port must be an integer from 0 to 65535, got ${port}`);
  if (workers > 1) return startCluster(options, workers, host);
  const built = await buildService(options);
  try {
    await built.app.listen({ host, port });
  } catch (err) {
    // The port is taken (or the address wrong): nothing stays open behind the error.
    await closeService(built).catch(() => {});
    throw err;
  }
  const address = built.app.server.address();
  const realPort = address && typeof address === "object" ? address.port : port;
  const datasets = (await built.directory.list()).map((e) => e.name);
  let closing: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  return {
    url: urlOf(host, realPort),
    datasets,
    workerPids: [process.pid],
    stopped,
    close() {
      closing ??= closeService(built).finally(resolveStopped);
      return closing;
    },
  };
}

/** The worker module next to this one (`.ts` when running from the sources, `.js` from dist). */
function workerModule(): string {
  const here = fileURLToPath(import.meta.url);
  return join(here, "..", `serve-worker${extname(here)}`);
}

async function startCluster(
  options: ServeOptions,
  workers: number,
  host: string,
): Promise<RunningService> {
  const { default: cluster } = await import("node:cluster");
  if (!cluster.isPrimary)
    throw new UsageError("serveDatasets with workers > 1 must be called from a primary process");
  const maxRestarts = options.maxRestarts ?? 5;
  const windowMs = options.restartWindowMs ?? 60_000;
  // Workers run the worker module with this process's Node options (a loader such as tsx too),
  // and the heap floor of a serving process (serving-process.ts).
  cluster.setupPrimary({
    exec: workerModule(),
    args: [],
    execArgv: [...process.execArgv, ...serverNodeFlags(process.execArgv)],
  });
  type ClusterWorker = ReturnType<typeof cluster.fork>;
  const live = new Map<ClusterWorker, number>();
  /** Workers that said they listen (they have installed their "stop" handler). */
  const ready = new WeakSet<ClusterWorker>();
  const restarts: number[] = [];
  let phase: "starting" | "running" | "stopping" | "stopped" = "starting";
  let realPort = -1;
  let datasets: string[] = [];
  let settle!: { resolve: () => void; reject: (e: Error) => void };
  const stopped = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // Rejections of `stopped` are for the caller to see; never an unhandled rejection here.
  stopped.catch(() => {});
  let startupFailed: ((e: Error) => void) | undefined;
  let listening = 0;
  let allListening!: () => void;
  const started = new Promise<void>((resolve, reject) => {
    allListening = resolve;
    startupFailed = reject;
  });

  const log = (line: string) => process.stderr.write(`astropile: ${line}\n`);

  const fork = (index: number) => {
    const env: Record<string, string> = {
      [WORKER_ENV]: JSON.stringify({ options, index, workers } satisfies WorkerSetup),
    };
    const w = cluster.fork(env);
    live.set(w, index);
    w.on("message", (m: WorkerMessage) => {
      if (m?.type === "astropile:listening") {
        ready.add(w);
        if (realPort === -1) realPort = m.port;
        else if (m.port !== realPort) {
          fail(
            new WorkersFailedError(
              `a worker listens on port ${m.port}, not ${realPort}: every worker must share one port`,
            ),
          );
          return;
        }
        if (phase === "starting") {
          datasets = m.datasets;
          if (++listening === workers) {
            phase = "running";
            allListening();
          }
        }
      } else if (m?.type === "astropile:failed") {
        // A worker that cannot start: at startup the service fails with its error.
        if (phase === "starting") startupFailed?.(deserializeError(m.error));
        else log(`worker ${w.process.pid} failed to start: ${m.error.message}`);
      }
    });
    return w;
  };

  const stopAll = async (): Promise<void> => {
    const waits: Promise<unknown>[] = [];
    for (const w of live.keys()) {
      if (w.isDead()) continue;
      waits.push(new Promise((r) => w.process.once("exit", r)));
      // A worker still starting may not listen for messages yet; SIGTERM ends it (by default, or
      // by its handler once installed).
      if (ready.has(w) && w.isConnected()) w.send({ type: "astropile:stop" });
      else w.process.kill("SIGTERM");
    }
    await Promise.all(waits);
  };

  const fail = (err: Error) => {
    if (phase === "stopping" || phase === "stopped") return;
    const wasStarting = phase === "starting";
    phase = "stopping";
    void stopAll().then(() => {
      phase = "stopped";
      cluster.removeListener("exit", onExit);
      if (wasStarting) startupFailed?.(err);
      settle.reject(err);
    });
  };

  const onExit = (w: ClusterWorker, code: number | null, signal: string | null) => {
    const index = live.get(w);
    if (index === undefined) return;
    live.delete(w);
    if (phase === "stopping" || phase === "stopped") return;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (phase === "starting") {
      fail(
        new WorkersFailedError(`worker ${w.process.pid} exited (${how}) before it was listening`),
      );
      return;
    }
    const now = Date.now();
    while (restarts.length > 0 && restarts[0]! <= now - windowMs) restarts.shift();
    if (restarts.length >= maxRestarts) {
      const err = new WorkersFailedError(
        `worker ${w.process.pid} exited (${how}); workers died ${restarts.length + 1} times within ${windowMs / 1000} s (at most ${maxRestarts} are replaced): stopping`,
      );
      log(err.message);
      fail(err);
      return;
    }
    restarts.push(now);
    const next = fork(index);
    log(
      `worker ${w.process.pid} exited (${how}); started worker ${next.process.pid} in its place (${restarts.length} of ${maxRestarts} restarts allowed within ${windowMs / 1000} s)`,
    );
  };
  cluster.on("exit", onExit);

  for (let i = 0; i < workers; i++) fork(i);
  try {
    await started;
  } catch (err) {
    fail(err as Error);
    await stopped.catch(() => {});
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    url: urlOf(host, realPort),
    datasets,
    get workerPids() {
      return [...live.keys()].filter((w) => !w.isDead()).map((w) => w.process.pid!);
    },
    stopped,
    close() {
      closing ??= (async () => {
        if (phase === "stopped") return;
        if (phase === "stopping") {
          await stopped.catch(() => {});
          return;
        }
        phase = "stopping";
        await stopAll();
        phase = "stopped";
        cluster.removeListener("exit", onExit);
        settle.resolve();
      })();
      return closing;
    },
  };
}
