// The matching kernel's sort helper thread: sorts the right side of a match into shared
// memory while the calling thread sorts the left side (see sort-thread.ts). One job at a time:
// each reply's arrays stay valid until the next job.
import { type MessagePort, parentPort, workerData } from "node:worker_threads";
import { InternalError } from "../core/errors.ts";
import { sortShared } from "./kernel.ts";
import type { SortJob, SortReply } from "./sort-thread.ts";

const { port, ctrl } = workerData as { port: MessagePort; ctrl: Int32Array };
if (!parentPort || !port) {
  throw new InternalError("sort-worker runs only as the kernel's helper thread");
}

port.on("message", (job: SortJob) => {
  let reply: SortReply;
  try {
    reply = { zoned: sortShared({ ra: job.ra, dec: job.dec }, job.n, job.zones) };
  } catch (err) {
    reply = { error: err instanceof Error ? err.message : String(err) };
  }
  // The reply is queued before the flag changes, so the waiting thread finds it at once.
  port.postMessage(reply);
  Atomics.store(ctrl, 0, 2);
  Atomics.notify(ctrl, 0);
});
parentPort.postMessage("ready");
