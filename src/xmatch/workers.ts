// Runs the units of a cross-match on worker threads (or inline with threads = 0): each worker
// opens both sides once and takes the next unit when it finishes one, so a few dense units do
// not hold up the rest. Typed errors thrown in a worker reach the caller as the same classes.
import { Worker } from "node:worker_threads";
import { deserializeError, type SerializedError } from "../core/errors.ts";
import { stopWorker } from "../core/worker-stop.ts";
import { workerUrl } from "../core/worker-url.ts";
import { remoteSettings } from "../remote/remote-file.ts";
import { RightNeighbourhood } from "./neighbourhood.ts";
import type { SideTable, Unit } from "./plan.ts";
import { SideReader } from "./side-reader.ts";
import { type MatchSpec, matchUnit, type UnitResult } from "./unit.ts";

export type ToWorker =
  | { type: "init"; left: SideTable; right: SideTable; spec: MatchSpec }
  | { type: "unit"; unit: Unit }
  | { type: "close" };

type FromWorker =
  | { type: "ready" }
  | { type: "done"; result: UnitResult }
  | { type: "error"; error: SerializedError };

/** The result's own array buffers (moved, not copied, to the main thread). */
export function transferables(r: UnitResult): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of Object.values(r)) {
    if (ArrayBuffer.isView(v) && v.buffer instanceof ArrayBuffer) {
      if (v.byteOffset === 0 && v.byteLength === v.buffer.byteLength) out.add(v.buffer);
    }
  }
  return [...out];
}

export interface RunOptions {
  units: Unit[];
  left: SideTable;
  right: SideTable;
  spec: MatchSpec;
  /** Worker threads; 0 runs every unit in this thread. */
  threads: number;
  /** Called once per unit, in completion order. */
  onResult: (r: UnitResult) => void;
  /** Worker module (default: match-worker beside this module, see core/worker-url.ts). */
  script?: URL;
  /**
   * Work done once the worker threads are starting and before they get the sides (their
   * start-up hides it): crossMatch samples the right side's keys here.
   */
  prepare?: () => Promise<void>;
}

/** A unit's right rows, sampled from the right side's sidecar (without one: whole files). */
export function neighbourhoodOf(R: SideReader, spec: MatchSpec): RightNeighbourhood {
  return new RightNeighbourhood(R.table, spec.radiusDeg, R.table.positions ? R : null, spec.cut);
}

export async function runUnits(o: RunOptions): Promise<void> {
  if (o.threads <= 0) {
    await o.prepare?.();
    const L = await SideReader.open(o.left);
    let R: SideReader | undefined;
    try {
      R = await SideReader.open(o.right);
      const near = neighbourhoodOf(R, o.spec);
      for (const u of o.units) o.onResult(await matchUnit(u, L, R, near, o.spec));
    } finally {
      L.close();
      R?.close();
    }
    return;
  }
  const count = Math.min(o.threads, o.units.length);
  if (count === 0) return;
  const script = o.script ?? workerUrl("match-worker", import.meta.url);
  // The module needs no loader: the parent's --import flags are not passed on.
  // Remote datasets: each thread reads them with this thread's remote settings.
  const workerData = { remote: remoteSettings() };
  const workers = Array.from(
    { length: count },
    () => new Worker(script, { execArgv: [], workerData }),
  );
  let next = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let running = count;
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        reject(err);
      };
      for (const w of workers) {
        const send = () => {
          if (failed) return;
          if (next >= o.units.length) {
            w.postMessage({ type: "close" } satisfies ToWorker);
            if (--running === 0) resolve();
            return;
          }
          w.postMessage({ type: "unit", unit: o.units[next++]! } satisfies ToWorker);
        };
        w.on("message", (m: FromWorker) => {
          try {
            if (m.type === "ready") send();
            else if (m.type === "done") {
              o.onResult(m.result);
              send();
            } else fail(deserializeError(m.error));
          } catch (err) {
            fail(err as Error);
          }
        });
        w.on("error", fail);
        w.on("exit", (code) => {
          if (code !== 0) fail(new Error(`cross-match worker exited with code ${code}`));
        });
      }
      const init = () => {
        for (const w of workers)
          w.postMessage({
            type: "init",
            left: o.left,
            right: o.right,
            spec: o.spec,
          } satisfies ToWorker);
      };
      if (o.prepare) o.prepare().then(init, fail);
      else init();
    });
  } finally {
    // Threads still matching after a failure finish their step first (see stopWorker).
    await Promise.all(workers.map((w) => stopWorker(w)));
  }
}
