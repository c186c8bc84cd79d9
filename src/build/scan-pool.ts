// The catalog scan's second thread (plan.ts): a worker that scans parts of catalog files, one job
// at a time, each into a row file of its own, posting progress as it goes and, per job, each
// batch's row count and valid rows, the summary of its refused rows, its first template values
// and its cell counts. A job is the rest of a plain CSV from a line start (scanInTwo: rows
// numbered from there, no header) or a whole catalog file (scanFilesInTwo). All of it bounded:
// refused rows are counted, not kept, past the report's sample.
import { Worker } from "node:worker_threads";
import type { SerializedError } from "../core/errors.ts";
import { stopWorker } from "../core/worker-stop.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { OutputColumn } from "./catalog.ts";
import type { RejectSummary } from "./plan.ts";
import type { CatalogSource } from "./spec.ts";

/** What every job of one scan shares. */
export interface ScanSetup {
  source: CatalogSource;
  needed: string[];
  outputs: OutputColumn[];
  carry: string[];
}

export interface ScanJob {
  path: string;
  /** Index of the file in the plan's catalog files. */
  file: number;
  /** The file as the report names it. */
  fileName: string;
  /** First byte to read (a line start, after the header); absent: the whole file. */
  start?: number;
  /** The job's row file. */
  rowsPath: string;
}

/** A batch as the worker reports it: its block is in the job's row file (when valid > 0). */
export interface ScanBatchInfo {
  rows: number;
  valid: number;
}

export type ScanOutcome =
  | {
      ok: true;
      batches: ScanBatchInfo[];
      /** Refused rows, numbered from the job's start. */
      rejected: RejectSummary;
      firstCarry: Array<Record<string, string>>;
      hist: { order: number; cells: number[]; rows: number[] };
    }
  | { ok: false; error: SerializedError };

/** Messages from the worker: rows read so far (progress), then each job's outcome. */
export type ScanMessage =
  | { type: "rows"; rows: number }
  | { type: "outcome"; outcome: ScanOutcome };

export interface ScanWorker {
  /** Scans a job; the outcome never rejects (a failure is `ok: false`). One job at a time. */
  scan(job: ScanJob): Promise<ScanOutcome>;
  /** Stops the thread (a job under way then ends `ok: false`). */
  stop(): Promise<void>;
}

export function startScanWorker(setup: ScanSetup, onRows: (rows: number) => void): ScanWorker {
  const worker = new Worker(workerUrl("scan-worker", import.meta.url), { workerData: setup });
  let pending: ((o: ScanOutcome) => void) | null = null;
  let ended: SerializedError | null = null;
  const finish = (o: ScanOutcome) => {
    const p = pending;
    pending = null;
    p?.(o);
  };
  const fail = (message: string) => {
    ended ??= { name: "Error", message };
    finish({ ok: false, error: ended });
  };
  worker.on("message", (m: ScanMessage) => {
    if (m.type === "rows") onRows(m.rows);
    else finish(m.outcome);
  });
  worker.on("error", (e) => fail(e.message));
  worker.on("exit", (code) => fail(`scan thread exited (code ${code})`));
  return {
    scan: (job) =>
      new Promise<ScanOutcome>((resolve) => {
        if (ended) return resolve({ ok: false, error: ended });
        pending = resolve;
        worker.postMessage({ job });
      }),
    stop: () => stopWorker(worker),
  };
}
