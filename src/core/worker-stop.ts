// Stopping AstroPile's worker threads at a safe point. `worker.terminate()` stops a thread
// wherever its JavaScript is; on Node 20, when that lands while the thread is building a zlib
// stream (every inflateSync/deflateSync builds one), the thread's cleanup aborts the whole
// process ("close before init", node_zlib.cc). Threads that inflate or deflate are therefore
// asked to exit, and do so from their message handler, between two pieces of work.
import type { MessagePort, Worker } from "node:worker_threads";

/** The message that asks one of AstroPile's worker threads to exit. */
export const STOP_MESSAGE = { type: "astropile:stop" } as const;

/** Whether a message a worker thread received is the request to exit. */
export function isStopMessage(msg: unknown): boolean {
  return (
    typeof msg === "object" &&
    msg !== null &&
    (msg as { type?: unknown }).type === STOP_MESSAGE.type
  );
}

/**
 * Worker side: exit the thread (code 0) when the parent asks. Register it before the thread's
 * own message handler, which must ignore the stop message (see {@link isStopMessage}).
 */
export function exitWhenAsked(port: MessagePort): void {
  port.on("message", (msg: unknown) => {
    if (isStopMessage(msg)) process.exit(0);
  });
}

/** Time a thread gets to reach its message handler before it is terminated anyway. */
export const STOP_GRACE_MS = 10_000;

/**
 * Parent side: asks `worker` (which called {@link exitWhenAsked}) to exit and resolves once it
 * has. A thread that does not exit within `graceMs` (stuck in a long synchronous step) is
 * terminated. Resolves at once for a thread that has already exited.
 */
export function stopWorker(worker: Worker, graceMs = STOP_GRACE_MS): Promise<void> {
  // threadId is -1 once the thread has exited.
  if (worker.threadId < 0) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void worker.terminate(), graceMs);
    worker.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage(STOP_MESSAGE);
  });
}
