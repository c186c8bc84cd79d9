// A helper thread for the in-memory matching kernel: while the calling thread sorts the left
// side of a match, the helper sorts the right side into shared memory, so a 1e6 x 1e6 match
// takes about one sort less (the sorts are most of its time). The kernel's API stays
// synchronous: the caller waits on a shared flag (Atomics.wait) and takes the reply with
// receiveMessageOnPort. The helper starts in the background (startSortThread, or the first
// large match), is used once running, never keeps the process alive, and anything wrong with
// it (no second core, a worker thread caller, a crash, a timeout) means sorting on the calling
// thread instead, with the same answer.
import { availableParallelism } from "node:os";
import {
  isMainThread,
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from "node:worker_threads";
import { workerUrl } from "../core/worker-url.ts";
import type { Zoned, Zoning } from "./kernel.ts";

export interface SortJob {
  n: number;
  zones: Zoning;
  ra: Float64Array;
  dec: Float64Array;
}

export type SortReply = { zoned: Zoned } | { error: string };

/** A sort running on the helper; `wait` gives its result, or null to sort here instead. */
export interface PendingSort {
  wait(): Zoned | null;
}

/** Both sides need at least this many points for the helper to pay for the copy and wait. */
export const SORT_THREAD_MIN_POINTS = 100_000;
/** A sort that has not answered in this long is abandoned (the helper is stopped). */
const WAIT_MS = 60_000;

interface Helper {
  worker: Worker;
  port: MessagePort;
  /** [0]: 0 idle, 1 job sent, 2 reply queued. */
  ctrl: Int32Array;
  ra: Float64Array;
  dec: Float64Array;
  jobs: number;
}

let helper: Helper | null = null;
let starting: Promise<boolean> | null = null;

/**
 * Starts the helper thread (once); resolves true when it is ready to take sorts, false where
 * it cannot help: one core, or called from a worker thread (cross-match units run one per core
 * already). Matches use it from then on unless they pass `threads: 1`.
 */
export function startSortThread(options: { script?: URL } = {}): Promise<boolean> {
  if (!isMainThread || availableParallelism() < 2) return Promise.resolve(false);
  starting ??= start(options.script).catch(() => {
    helper = null;
    return false;
  });
  return starting;
}

/** `script` (tests): another entry of the worker than the one beside this module. */
async function start(script?: URL): Promise<boolean> {
  const url = script ?? workerUrl("sort-worker", import.meta.url);
  const ctrl = new Int32Array(new SharedArrayBuffer(8));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(url, { workerData: { port: port2, ctrl }, transferList: [port2] });
  const ready = await new Promise<boolean>((resolve) => {
    worker.once("message", () => resolve(true));
    worker.once("error", () => resolve(false));
    worker.once("exit", () => resolve(false));
  });
  if (!ready) return false;
  // Never hold the process open; a helper that dies is dropped.
  worker.unref();
  port1.unref();
  worker.on("error", () => drop());
  worker.on("exit", () => drop());
  helper = {
    worker,
    port: port1,
    ctrl,
    ra: new Float64Array(0),
    dec: new Float64Array(0),
    jobs: 0,
  };
  return true;
}

function drop(): void {
  const h = helper;
  helper = null;
  starting = null;
  if (h) void h.worker.terminate();
}

/** Stops the helper thread (it is started again by startSortThread or a large match). */
export async function stopSortThread(): Promise<void> {
  const h = helper;
  helper = null;
  starting = null;
  if (h) await h.worker.terminate();
}

/** Sorts the helper has answered since it started (for tests and benchmarks). */
export function sortThreadJobs(): number {
  return helper?.jobs ?? 0;
}

/**
 * Sends a sort of `n` points to the helper when it is running; null when it is not (a large
 * match then starts it in the background for the next call).
 */
export function requestSort(
  points: { ra: ArrayLike<number>; dec: ArrayLike<number> },
  n: number,
  zones: Zoning,
): PendingSort | null {
  const h = helper;
  if (!h) {
    void startSortThread();
    return null;
  }
  if (h.ra.length < n) {
    // Shared input, grown by half again so a run of similar matches allocates once.
    const cap = Math.max(n, Math.ceil(h.ra.length * 1.5));
    h.ra = new Float64Array(new SharedArrayBuffer(8 * cap));
    h.dec = new Float64Array(new SharedArrayBuffer(8 * cap));
  }
  copyInto(h.ra, points.ra, n);
  copyInto(h.dec, points.dec, n);
  Atomics.store(h.ctrl, 0, 1);
  const job: SortJob = { n, zones, ra: h.ra, dec: h.dec };
  h.port.postMessage(job);
  return {
    wait: () => {
      if (Atomics.wait(h.ctrl, 0, 1, WAIT_MS) === "timed-out") {
        drop();
        return null;
      }
      const reply = receiveMessageOnPort(h.port)?.message as SortReply | undefined;
      Atomics.store(h.ctrl, 0, 0);
      if (!reply || "error" in reply) {
        drop();
        return null;
      }
      h.jobs++;
      return reply.zoned;
    },
  };
}

function copyInto(to: Float64Array, from: ArrayLike<number>, n: number): void {
  if (from instanceof Float64Array) to.set(from.subarray(0, n));
  else for (let i = 0; i < n; i++) to[i] = from[i]!;
}
