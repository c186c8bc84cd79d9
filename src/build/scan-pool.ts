// The catalog scan's second thread (plan.ts, scanInTwo): a worker that scans a plain CSV from a
// line start to its end into a row file of its own, posting progress as it goes and, at the end,
// each batch's row count, valid rows, refused rows and first template values (rows numbered
// from its start), and its cell counts.
import { Worker } from "node:worker_threads";
import { stopWorker } from "../core/worker-stop.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { OutputColumn } from "./catalog.ts";
import type { ScannedBatch } from "./plan.ts";
import type { CatalogSource } from "./spec.ts";

export interface ScanJob {
  path: string;
  /** Index of the file in the plan's catalog files. */
  file: number;
  source: CatalogSource;
  needed: string[];
  outputs: OutputColumn[];
  carry: string[];
  /** First byte the worker reads (a line start). */
  start: number;
  /** The worker's row file. */
  rowsPath: string;
}

/** A batch as the worker reports it: its block is in the worker's row file (when valid > 0). */
export interface ScanBatchInfo extends Omit<ScannedBatch, "block"> {
  valid: number;
}

export type ScanOutcome =
  | {
      ok: true;
      batches: ScanBatchInfo[];
      hist: { order: number; cells: number[]; rows: number[] };
    }
  | { ok: false; message: string };

/** Messages from the worker: rows read so far (progress), then the outcome. */
export type ScanMessage =
  | { type: "rows"; rows: number }
  | { type: "outcome"; outcome: ScanOutcome };

export interface ScanWorker {
  /** The outcome; never rejects (a failure is `ok: false`). */
  result: Promise<ScanOutcome>;
  /** Stops the worker (its outcome is then `ok: false`). */
  cancel(): Promise<void>;
}

export function startScanWorker(job: ScanJob, onRows: (rows: number) => void): ScanWorker {
  const worker = new Worker(workerUrl("scan-worker", import.meta.url), { workerData: job });
  let settled = false;
  const result = new Promise<ScanOutcome>((resolve) => {
    const finish = (o: ScanOutcome) => {
      if (settled) return;
      settled = true;
      resolve(o);
      void stopWorker(worker);
    };
    worker.on("message", (m: ScanMessage) => {
      if (settled) return;
      if (m.type === "rows") onRows(m.rows);
      else finish(m.outcome);
    });
    worker.on("error", (e) => finish({ ok: false, message: e.message }));
    worker.on("exit", (code) => finish({ ok: false, message: `scan thread exited (${code})` }));
  });
  return {
    result,
    cancel: async () => {
      settled = true;
      await stopWorker(worker);
    },
  };
}
