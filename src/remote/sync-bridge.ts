// Synchronous ranged reads for libhdf5 (h5wasm reads synchronously): the ranges are fetched by a
// worker thread (fetch-worker.ts) while this thread waits on a SharedArrayBuffer with
// Atomics.wait. Consequence: while a read is under way this thread runs nothing else, so a
// server answering the reads must not run on this same thread (tests start theirs in a child
// process).
import { Worker } from "node:worker_threads";
import { workerUrl } from "../core/worker-url.ts";
import type { RangeRequest } from "./fetch-worker.ts";
import { META_BYTES, STATE_DONE, STATE_WAITING } from "./sync-layout.ts";
import {
  type FailureKind,
  TransportFailure,
  type TransportOptions,
  type Validator,
} from "./transport.ts";

let worker: Worker | undefined;

function theWorker(): Worker {
  if (!worker) {
    worker = new Worker(workerUrl("fetch-worker", import.meta.url), { execArgv: [] });
    worker.unref();
    worker.on("error", () => {
      worker = undefined;
    });
    worker.on("exit", () => {
      worker = undefined;
    });
  }
  return worker;
}

/** Stops the fetch worker (it is restarted on the next read). */
export async function stopFetchWorker(): Promise<void> {
  const w = worker;
  worker = undefined;
  if (w) await w.terminate();
}

/** Fetches `ranges` of `url` (all of one version), blocking this thread until they arrive. */
export function fetchRangesSync(
  url: string,
  ranges: Array<[number, number]>,
  expect: Validator | undefined,
  options: TransportOptions,
): { validator: Validator; parts: Uint8Array[] } {
  const total = ranges.reduce((s, [a, b]) => s + (b - a), 0);
  const sab = new SharedArrayBuffer(8 + META_BYTES + total);
  const header = new Int32Array(sab, 0, 2);
  const request: RangeRequest = { sab, url, ranges, expect, options };
  theWorker().postMessage(request);
  const attempts = (options.retries ?? 3) + 1;
  const limit = attempts * ((options.timeoutMs ?? 30_000) + 2_500) + 5_000;
  const outcome = Atomics.wait(header, 0, STATE_WAITING, limit);
  if (outcome === "timed-out")
    throw new TransportFailure("remote", `no answer from the fetch thread within ${limit} ms`);
  const meta = JSON.parse(new TextDecoder().decode(new Uint8Array(sab, 8, header[1]).slice())) as
    | { validator: Validator }
    | { kind: FailureKind; status?: number; message: string };
  if (Atomics.load(header, 0) !== STATE_DONE) {
    const f = meta as { kind: FailureKind; status?: number; message: string };
    throw new TransportFailure(f.kind, f.message, f.status);
  }
  const parts: Uint8Array[] = [];
  let at = 8 + META_BYTES;
  for (const [a, b] of ranges) {
    parts.push(new Uint8Array(sab, at, b - a).slice());
    at += b - a;
  }
  return { validator: (meta as { validator: Validator }).validator, parts };
}
