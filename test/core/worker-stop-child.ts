// Starts the inflating thread N times and stops each while it inflates, with stopWorker (or with
// worker.terminate() when asked, to show the hazard); prints the exit codes if the process lives.
import { Worker } from "node:worker_threads";
import { stopWorker } from "../../src/core/worker-stop.ts";

const [how, count] = [process.argv[2], Number(process.argv[3])];
const codes = new Set<number>();
for (let i = 0; i < count; i++) {
  const w = new Worker(new URL("./inflate-thread.mjs", import.meta.url));
  w.once("exit", (code) => codes.add(code));
  await new Promise((resolve) => w.once("message", resolve));
  await new Promise((resolve) => setTimeout(resolve, 2));
  if (how === "terminate") await w.terminate();
  else await stopWorker(w);
}
console.log(`stopped ${count}, exit codes ${[...codes].join(",")}`);
