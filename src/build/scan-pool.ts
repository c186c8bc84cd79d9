// The catalog scan's second thread: a worker that scans a byte range of a plain CSV (from a line
// end to the end of the file) into a row file of its own, and reports, per batch, its row count,
// valid rows, refused rows and first template values (rows numbered from the range's start).
import { Worker } from "node:worker_threads";
import { workerUrl } from "../core/worker-url.ts";
import type { OutputColumn } from "./catalog.ts";
import type { ScannedBatch } from "./plan.ts";

export interface ScanJob {
  path: string;
  /** Index of the file in the plan's catalog files. */
  file: number;
  source: { delimiter?: string; comment?: string };
  /** The header's column names. */
  names: string[];
  needed: string[];
  outputs: OutputColumn[];
  carry: string[];
  start: number;
  rowsPath: string;
  dtypes: Record<string, string>;
}

export interface ScanBatchInfo extends Omit<ScannedBatch, "block"> {
  valid: number;
}

export type ScanOutcome =
  | { ok: true; batches: ScanBatchInfo[]; hist: { order: number; cells: number[]; rows: number[] } }
  | { ok: false; message: string };

export interface ScanWorker {
  result: Promise<ScanOutcome>;
  cancel(): Promise<void>;
}

export function startScanWorker(job: ScanJob): ScanWorker {
  const worker = new Worker(workerUrl("scan-worker", import.meta.url), { workerData: job });
  let settled = false;
  const result = new Promise<ScanOutcome>((resolve) => {
    const finish = (o: ScanOutcome) => {
      if (settled) return;
      settled = true;
      resolve(o);
      void worker.terminate();
    };
    worker.on("message", (m: ScanOutcome) => finish(m));
    worker.on("error", (e) => finish({ ok: false, message: e.message }));
    worker.on("exit", (code) => finish({ ok: false, message: `scan worker exited (${code})` }));
  });
  return {
    result,
    cancel: async () => {
      settled = true;
      await worker.terminate();
    },
  };
}
