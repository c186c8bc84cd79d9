// Worker threads for the units: each worker loads the plan once and builds the units it is
// given, one at a time; the main thread hands out units as workers free up, so the work spreads
// over the cores whatever the unit sizes. Memory per worker is bounded by its share of the
// budget (sort buffer + tile cache). A failure in any unit stops the pool and is re-thrown in
// the main thread as the same typed error (class, message, file, column).
import { Worker } from "node:worker_threads";
import { deserializeError, type SerializedError } from "../core/errors.ts";
import { stopWorker } from "../core/worker-stop.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { UnitPlan } from "./plan.ts";
import type { UnitDone } from "./unit.ts";

export interface PoolOptions {
  workers: number;
  planPath: string;
  out: string;
  memoryBytes: number;
  cacheBytes: number;
}

export interface PoolRun {
  onRows: (rows: number) => void;
  onDone: (done: UnitDone) => void;
}

export type WorkerMessage =
  | { type: "rows"; rows: number }
  | { type: "done"; done: UnitDone }
  | { type: "error"; error: SerializedError };

/** Worker threads started, loading their code, before they are given units (see startUnitPool). */
export interface UnitPool {
  /** Threads in the pool. */
  readonly workers: number;
  /** Builds `units` on the pool's threads (once), then stops them. */
  run(units: UnitPlan[], callbacks: PoolRun): Promise<void>;
  /** Stops the threads (a pool never run, when the step before it failed). */
  stop(): Promise<void>;
}

/**
 * Starts `opts.workers` build threads now: each loads its code (~0.3-0.4 s at a large build's
 * start on 2 vCPUs) while this thread still routes the rows, so units start at once after.
 */
export function startUnitPool(opts: PoolOptions): UnitPool {
  const workers: Worker[] = [];
  /** Workers this pool ended itself (a thread terminated after the grace exits with code 1). */
  const ended = new Set<Worker>();
  /** A thread that failed before the pool was run: its error is the run's. */
  let early: Error | null = null;
  let fail: (err: Error) => void = (err) => {
    early ??= err;
  };
  let onMessage: (w: Worker, msg: WorkerMessage) => void = () => {};
  for (let i = 0; i < opts.workers; i++) {
    const w = new Worker(workerUrl("worker", import.meta.url), {
      workerData: {
        planPath: opts.planPath,
        out: opts.out,
        memoryBytes: opts.memoryBytes,
        cacheBytes: opts.cacheBytes,
      },
    });
    workers.push(w);
    w.on("message", (msg: WorkerMessage) => onMessage(w, msg));
    w.on("error", (err) => fail(err));
    w.on("exit", (code) => {
      if (!ended.has(w)) fail(new Error(`build worker exited unexpectedly (code ${code})`));
    });
  }
  const stop = async () => {
    for (const w of workers) ended.add(w);
    await Promise.allSettled(workers.map((w) => stopWorker(w)));
  };
  let ran = false;
  return {
    workers: opts.workers,
    stop,
    run(units, callbacks) {
      if (ran) throw new Error("a unit pool runs once");
      ran = true;
      const queue = [...units];
      return new Promise<void>((resolve, reject) => {
        let failed = false;
        fail = (err: Error) => {
          if (failed) return;
          failed = true;
          // Rejected once every worker has stopped, so no unit is still writing when the caller
          // cleans up and releases the output's lock.
          void stop().then(() => reject(err));
        };
        if (early) {
          fail(early);
          return;
        }
        let active = workers.length;
        const next = (w: Worker) => {
          const unit = queue.shift();
          if (!unit) {
            active--;
            ended.add(w);
            void stopWorker(w);
            if (active === 0 && !failed) resolve();
            return;
          }
          w.postMessage({ unit });
        };
        onMessage = (w, msg) => {
          if (failed) return;
          if (msg.type === "rows") callbacks.onRows(msg.rows);
          else if (msg.type === "done") {
            try {
              callbacks.onDone(msg.done);
            } catch (err) {
              fail(err as Error);
              return;
            }
            next(w);
          } else fail(deserializeError(msg.error));
        };
        for (const w of workers) next(w);
      });
    },
  };
}
