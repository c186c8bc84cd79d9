// The thread that does the network I/O for synchronous ranged reads (sync-bridge.ts): it fetches
// the ranges asked for, copies them into the caller's SharedArrayBuffer and wakes the caller,
// which waits with Atomics.wait (libhdf5 in WebAssembly reads synchronously).
import { parentPort } from "node:worker_threads";
import { META_BYTES, STATE_DONE, STATE_FAILED } from "./sync-layout.ts";
import {
  fetchRanges,
  TransportFailure,
  type TransportOptions,
  type Validator,
} from "./transport.ts";

export interface RangeRequest {
  sab: SharedArrayBuffer;
  url: string;
  ranges: Array<[number, number]>;
  expect?: Validator;
  options: TransportOptions;
}

function answer(
  sab: SharedArrayBuffer,
  state: number,
  meta: unknown,
  parts: Uint8Array[] = [],
): void {
  const header = new Int32Array(sab, 0, 2);
  const json = new TextEncoder().encode(JSON.stringify(meta));
  if (json.length > META_BYTES) throw new Error("answer too long");
  new Uint8Array(sab, 8, META_BYTES).set(json);
  let at = 8 + META_BYTES;
  const data = new Uint8Array(sab);
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  header[1] = json.length;
  Atomics.store(header, 0, state);
  Atomics.notify(header, 0);
}

parentPort?.on("message", async (req: RangeRequest) => {
  try {
    const { validator, parts } = await fetchRanges(req.url, req.ranges, req.expect, req.options);
    answer(req.sab, STATE_DONE, { validator }, parts);
  } catch (err) {
    const f =
      err instanceof TransportFailure
        ? err
        : new TransportFailure("remote", String((err as Error)?.message ?? err));
    answer(req.sab, STATE_FAILED, { kind: f.kind, status: f.status, message: f.message });
  }
});
