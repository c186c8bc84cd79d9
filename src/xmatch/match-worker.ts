// The cross-match worker thread: opens both sides' readers once, then matches the units the
// main thread sends, one at a time, and posts each unit's rows back (buffers transferred).
import { parentPort, workerData } from "node:worker_threads";
import { InternalError, serializeError } from "../core/errors.ts";
import { exitWhenAsked, isStopMessage } from "../core/worker-stop.ts";
import { adoptRemoteSettings } from "../remote/remote-file.ts";
import type { RightNeighbourhood } from "./neighbourhood.ts";
import type { SideTable, Unit } from "./plan.ts";
import { SideReader } from "./side-reader.ts";
import { type MatchSpec, matchUnit } from "./unit.ts";
import { neighbourhoodOf, type ToWorker, transferables } from "./workers.ts";

// Remote datasets are read with the parent thread's remote settings.
adoptRemoteSettings((workerData as { remote?: unknown } | null)?.remote);

const port = parentPort;
if (!port) throw new InternalError("match-worker runs only as a worker thread");

let readers: {
  L: SideReader;
  R: SideReader;
  near: RightNeighbourhood;
  spec: MatchSpec;
} | null = null;

async function init(left: SideTable, right: SideTable, spec: MatchSpec): Promise<void> {
  const L = await SideReader.open(left);
  try {
    const R = await SideReader.open(right);
    readers = { L, R, near: neighbourhoodOf(R, spec), spec };
  } catch (err) {
    L.close();
    throw err;
  }
}

async function unit(u: Unit): Promise<void> {
  if (!readers) throw new InternalError("cross-match worker: unit before init");
  const result = await matchUnit(u, readers.L, readers.R, readers.near, readers.spec);
  port!.postMessage({ type: "done", result }, transferables(result));
}

exitWhenAsked(port);
port.on("message", (msg: ToWorker) => {
  if (isStopMessage(msg)) return;
  const work =
    msg.type === "init"
      ? init(msg.left, msg.right, msg.spec).then(() => port.postMessage({ type: "ready" }))
      : msg.type === "unit"
        ? unit(msg.unit)
        : Promise.resolve().then(() => {
            readers?.L.close();
            readers?.R.close();
            readers = null;
            port.close();
          });
  work.catch((err: unknown) => port.postMessage({ type: "error", error: serializeError(err) }));
});
