// A build worker thread: loads the plan, then builds the units the pool sends it.
import { parentPort, workerData } from "node:worker_threads";
import { BuildStateError, serializeError } from "../core/errors.ts";
import { exitWhenAsked, isStopMessage } from "../core/worker-stop.ts";
import type { UnitPlan } from "./plan.ts";
import type { WorkerMessage } from "./pool.ts";
import { readJson, statePaths } from "./state.ts";
import { type BuildPlan, runUnit } from "./unit.ts";

const { planPath, out, memoryBytes, cacheBytes } = workerData as {
  planPath: string;
  out: string;
  memoryBytes: number;
  cacheBytes: number;
};
const port = parentPort!;
const send = (m: WorkerMessage) => port.postMessage(m);

let plan: BuildPlan | null = null;

exitWhenAsked(port);
port.on("message", async (msg: { unit: UnitPlan }) => {
  if (isStopMessage(msg)) return;
  const { unit } = msg;
  try {
    plan ??= await readJson<BuildPlan>(planPath);
    if (!plan) throw new BuildStateError("cannot read the build plan", { file: planPath });
    const done = await runUnit(unit, {
      paths: statePaths(out, plan.spec.config),
      plan,
      memoryBytes,
      cacheBytes,
      onRows: (rows) => send({ type: "rows", rows }),
    });
    send({ type: "done", done });
  } catch (err) {
    send({ type: "error", error: serializeError(err) });
  }
});
