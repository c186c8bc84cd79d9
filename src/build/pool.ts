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
  onRows: (rows: number) => void;
  onDone: (done: UnitDone) => void;
}

export type WorkerMessage =
  | { type: "rows"; rows: number }
  | { type: "done"; done: UnitDone }
  | { type: "error"; error: SerializedError };

export function runUnitsInWorkers(units: UnitPlan[], opts: PoolOptions): Promise<void> {
  const queue = [...units];
  const workers: Worker[] = [];
  /** Workers this pool ended itself (a thread terminated after the grace exits with code 1). */
  const ended = new Set<Worker>();
  return new Promise<void>((resolve, reject) => {
    let active = 0;
    let failed = false;
    const fail = (err: Error) => {
      if (failed) return;
      failed = true;
      for (const w of workers) ended.add(w);
      // Rejected once every worker has stopped, so no unit is still writing when the caller
      // cleans up and releases the output's lock.
      void Promise.allSettled(workers.map((w) => stopWorker(w))).then(() => reject(err));
    };
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
    const n = Math.min(opts.workers, units.length);
    active = n;
    for (let i = 0; i < n; i++) {
      const w = new Worker(workerUrl("worker", import.meta.url), {
        workerData: {
          planPath: opts.planPath,
          out: opts.out,
          memoryBytes: opts.memoryBytes,
          cacheBytes: opts.cacheBytes,
        },
      });
      workers.push(w);
      w.on("message", (msg: WorkerMessage) => {
        if (failed) return;
        if (msg.type === "rows") opts.onRows(msg.rows);
        else if (msg.type === "done") {
          try {
            opts.onDone(msg.done);
          } catch (err) {
            fail(err as Error);
            return;
          }
          next(w);
        } else fail(deserializeError(msg.error));
      });
      w.on("error", (err) => fail(err));
      w.on("exit", (code) => {
        if (!ended.has(w) && !failed)
          fail(new Error(`build worker exited unexpectedly (code ${code})`));
      });
      next(w);
    }
  });
}
