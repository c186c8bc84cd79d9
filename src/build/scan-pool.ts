// The catalog scan's second thread (plan.ts, scanInTwo): a worker that scans a plain CSV from a
// line start to its end into a row file of its own, posting progress as it goes and, at the end,
// each batch's row count and valid rows, the summary of its refused rows and its first template
// values (rows numbered from its start), and its cell counts. All of it bounded: refused rows
// are counted, not kept, past the report's sample.
import { Worker } from "node:worker_threads";
import { stopWorker } from "../core/worker-stop.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { OutputColumn } from "./catalog.ts";
import type { RejectSummary } from "./plan.ts";
import type { CatalogSource } from "./spec.ts";

export interface ScanJob {
  path: string;
  /** Index of the file in the plan's catalog files. */
  file: number;
  /** The file as the report names it. */
  fileName: string;
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
export interface ScanBatchInfo {
  rows: number;
  valid: number;
}

export type ScanOutcome =
  | {
      ok: true;
      batches: ScanBatchInfo[];
      /** Refused rows, numbered from the worker's start. */
      rejected: RejectSummary;
      firstCarry: Array<Record<string, string>>;
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
