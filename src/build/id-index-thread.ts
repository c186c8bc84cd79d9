// The assembly's object_id index on a thread of its own (assemble.ts): the units' indexes, each
// sorted by id_key, merged into the dataset's one gzip index while the main thread copies the
// positions sidecar and hashes. The merge and its deflate are most of the assembly's time.
import { Worker } from "node:worker_threads";
import { deserializeError, type SerializedError } from "../core/errors.ts";
import { stopWorker } from "../core/worker-stop.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { IdIndexEntry } from "../storage/manifest.ts";

export interface IdIndexJob {
  /** Dataset root and config: the index is written to `<root>/<config>/object_id_index.hdf5`. */
  root: string;
  config: string;
  /** Scratch directory of the merge (removed when it ends). */
  scratch: string;
  memoryBytes: number;
  /** Identity of the file list the index describes. */
  fileList: string;
  /** The units' indexes in unit order, their rows, and the ordinal of each unit's first file. */
  inputs: Array<{ path: string; rows: number; offset: number }>;
}

export type IdIndexMessage =
  | { type: "done"; entry: IdIndexEntry }
  | { type: "error"; error: SerializedError };

/** Runs the merge on a thread; resolves with the index's manifest entry (or the same error). */
export function mergeIdIndexesOnThread(job: IdIndexJob): Promise<IdIndexEntry> {
  const worker = new Worker(workerUrl("id-index-worker", import.meta.url), { workerData: job });
  return new Promise<IdIndexEntry>((resolve, reject) => {
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      // The thread has stopped when the promise settles: its file is complete or abandoned.
      void stopWorker(worker).then(f);
    };
    worker.on("message", (m: IdIndexMessage) => {
      if (m.type === "done") settle(() => resolve(m.entry));
      else settle(() => reject(deserializeError(m.error)));
    });
    worker.on("error", (err) => settle(() => reject(err)));
    worker.on("exit", (code) =>
      settle(() => reject(new Error(`object_id index thread exited (code ${code})`))),
    );
  });
}
