// stopWorker: threads that inflate are stopped between two calls, never inside one. On Node 20 a
// thread terminated while it builds a zlib stream aborts the whole process ("close before init").
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { STOP_MESSAGE, stopWorker } from "../../src/core/worker-stop.ts";

const child = new URL("./worker-stop-child.ts", import.meta.url).pathname;

function run(how: string, count: number) {
  return spawnSync(process.execPath, ["--import", "tsx", child, how, String(count)], {
    encoding: "utf8",
    timeout: 120_000,
  });
}

test("threads stopped while they inflate exit with code 0, and the process lives", () => {
  // With worker.terminate() in place of stopWorker (`worker-stop-child.ts terminate 40`) the
  // child aborts within ~25 stops: 5 of 6 runs of 40 stops aborted.
  const r = run("stop", 60);
  assert.equal(r.status, 0, `the child died: ${r.signal ?? ""} ${r.stderr.slice(0, 2000)}`);
  assert.match(r.stdout, /stopped 60, exit codes 0$/m);
});

test("a thread stuck in a synchronous loop is terminated after the grace", async () => {
  const w = new Worker("for (;;) {}", { eval: true });
  await new Promise((resolve) => w.once("online", resolve));
  const started = Date.now();
  const code = new Promise<number>((resolve) => w.once("exit", resolve));
  await stopWorker(w, 200);
  assert.equal(await code, 1, "terminated threads exit with code 1");
  assert.ok(Date.now() - started >= 190, "not before the grace");
});

test("a thread that has exited is stopped at once; the stop message is plain data", async () => {
  const w = new Worker("", { eval: true });
  await new Promise((resolve) => w.once("exit", resolve));
  await stopWorker(w);
  assert.deepEqual(structuredClone(STOP_MESSAGE), { type: "astropile:stop" });
});
