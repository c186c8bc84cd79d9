// Resumability with real kills: `astropile build` runs as a child process and is killed with
// SIGKILL at several points (by itself at named points, and once from outside), then re-run;
// the result must be the same dataset as an uninterrupted build. The killed runs are fresh
// processes; the runs that finish a build go to one long-lived CLI process
// (test/helpers/cli-session.ts), which saves a process start (~1.5 s of CPU) each. Each test has
// its own output (the one that changes its inputs, its own copy of them), so two run at once:
// the chain of kills beside the others.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  closeSync,
  cpSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { build, checkSpec } from "../../src/build/index.ts";
import { statePaths } from "../../src/build/state.ts";
import { hscSpec } from "../../src/demo/index.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import type { SynthResult } from "../../src/synth/index.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { type CliResult, type CliSession, cliSession } from "../helpers/cli-session.ts";
import { tempDir } from "../helpers/tmp.ts";
import { hscDir, tinySurveys } from "../synth/fixture.ts";
import { assertSameDataset, type Reference, readReference } from "./helpers.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const srcDir = tempDir();
const work = tempDir();
const referenceDir = join(work, "reference");
const specPath = join(work, "spec.json");
let sky: SynthResult;
let session: CliSession;
let reference: Reference;

/** The hsc spec, small stamps and small units so a tiny survey makes several units. */
function spec(root = hscDir(sky)) {
  return { ...hscSpec(20), root, build: { unitBytes: 600_000 } };
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `astropile build` in a child process; `killWhen` kills it (SIGKILL) when stderr matches,
 * `limitMs` when it runs longer.
 */
function runBuild(
  out: string,
  env: Record<string, string> = {},
  killWhen?: RegExp,
  workers = 2,
  spec = specPath,
  limitMs?: number,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      cliArgs("build", spec, "--out", out, "--workers", String(workers), "--json"),
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
      if (killWhen?.test(stderr) && child.exitCode === null) child.kill("SIGKILL");
    });
    const limit = limitMs === undefined ? null : setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (limit) clearTimeout(limit);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function killedAt(r: Run, point: string): void {
  assert.equal(
    r.signal,
    "SIGKILL",
    `expected a kill at ${point}; exit ${r.code}, stderr:\n${r.stderr}`,
  );
}

/** Runs `astropile build` to its end in the session. */
function finishBuild(out: string, workers = 2, spec = specPath): Promise<CliResult> {
  return session.run("build", spec, "--out", out, "--workers", String(workers), "--json");
}

function finished(r: CliResult | Run): {
  status: string;
  unitsReused: number;
  units: number;
  rows: number;
} {
  assert.equal(r.code, 0, `build failed:\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

before(async () => {
  session = cliSession();
  sky = await tinySurveys(srcDir, 0);
  writeFileSync(specPath, JSON.stringify(spec(), null, 1));
  const r = await build(checkSpec(spec(), work), { out: referenceDir, workers: 1 });
  assert.ok(r.report.units >= 4, `the test needs several units, got ${r.report.units}`);
  reference = await readReference(referenceDir, "pdr3_dud");
});

after(() => session?.close());

describe("resume after kill -9", { concurrency: 2 }, () => {
  test("killed at six points in turn, the re-runs finish the same dataset as an uninterrupted build", async () => {
    const out = join(work, "chain");
    const state = statePaths(out, "pdr3_dud");
    killedAt(await runBuild(out, { ASTROPILE_CRASH_AT: "plan" }), "plan");
    assert.ok(existsSync(state.plan) && !existsSync(join(out, "astropile.json")));
    killedAt(await runBuild(out, { ASTROPILE_CRASH_AT: "unit-write:1" }), "unit-write");
    killedAt(await runBuild(out, { ASTROPILE_CRASH_AT: "unit-done:2" }), "unit-done");
    const done = readdirSync(state.units).filter((n) => n.endsWith(".done.json"));
    assert.ok(done.length >= 2, `units done: ${done.join(", ")}`);
    killedAt(await runBuild(out, { ASTROPILE_CRASH_AT: "assemble:1" }), "assemble");
    assert.ok(existsSync(state.assembly));
    killedAt(await runBuild(out, { ASTROPILE_CRASH_AT: "manifest" }), "manifest");
    assert.ok(existsSync(join(out, "astropile.json")), "the manifest was written before the kill");
    const last = finished(await finishBuild(out));
    assert.equal(last.status, "unchanged");
    assert.ok(!existsSync(state.dir), "build state removed");
    await assertSameDataset(reference, out, "pdr3_dud");
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
  });

  test("killed from outside while routing rows, then resumed: same dataset", async () => {
    const out = join(work, "outside");
    // The first scatter progress line comes after plan.json is written.
    const first = await runBuild(out, {}, /route rows/, 1);
    // The kill lands wherever the build has got to; it must not have finished.
    assert.equal(first.signal, "SIGKILL");
    const r = finished(await finishBuild(out, 1));
    assert.equal(r.status, "resumed");
    await assertSameDataset(reference, out, "pdr3_dud");
  });

  test("routing that fails stops the unit threads started beside it: the build ends with the error", async () => {
    const out = join(work, "route-fails");
    killedAt(await runBuild(out, { ASTROPILE_CRASH_AT: "plan" }), "plan");
    const state = statePaths(out, "pdr3_dud");
    // The scan's rows damaged where routing reads first (their size kept): the resumed build
    // starts its unit threads (two), then fails routing.
    const fd = openSync(state.rows, "r+");
    writeSync(fd, Buffer.from("XXXX"), 0, 4, 0);
    closeSync(fd);
    // Killed after 60 s: threads left running would keep the process alive.
    const r = await runBuild(out, {}, undefined, 2, specPath, 60_000);
    assert.equal(r.signal, null, "the build did not end by itself within 60 s");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /rows\.bin/);
  });

  test("a finished unit whose file was damaged is rebuilt, not reused", async () => {
    const out = join(work, "damaged");
    killedAt(await runBuild(out, { ASTROPILE_CRASH_AT: "unit-done:2" }, undefined, 1), "unit-done");
    const state = statePaths(out, "pdr3_dud");
    const unit = readdirSync(state.units)
      .find((n) => n.endsWith(".done.json"))!
      .replace(".done.json", "");
    // The unit's files as its done.json lists them (what a resume checks before reusing it).
    const done = JSON.parse(readFileSync(join(state.units, `${unit}.done.json`), "utf8"));
    // Flip one byte in the middle of the unit's first file (same size, different sha256).
    const path = join(state.units, unit, done.files[0].path);
    const fd = openSync(path, "r+");
    const at = Math.floor(done.files[0].bytes / 2);
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    byte[0] ^= 0xff;
    writeSync(fd, byte, 0, 1, at);
    closeSync(fd);
    const r = finished(await finishBuild(out, 1));
    assert.equal(r.unitsReused, 1, "the intact unit is reused, the damaged one rebuilt");
    await assertSameDataset(reference, out, "pdr3_dud");
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
  });

  test("inputs changed after a kill: the old state is dropped and the build starts over", async () => {
    // A copy of the survey: the other tests, running meanwhile, build from the unchanged one.
    const inputs = join(work, "changed-inputs");
    cpSync(hscDir(sky), inputs, { recursive: true });
    const ownSpec = join(work, "changed-spec.json");
    writeFileSync(ownSpec, JSON.stringify(spec(inputs), null, 1));
    const out = join(work, "changed");
    killedAt(
      await runBuild(out, { ASTROPILE_CRASH_AT: "unit-done:1" }, undefined, 1, ownSpec),
      "unit-done",
    );
    const later = new Date(Date.now() + 5000);
    utimesSync(join(inputs, relative(hscDir(sky), sky.hsc!.catalogPath)), later, later);
    const r = await finishBuild(out, 1, ownSpec);
    const report = finished(r);
    assert.match(r.stderr, /inputs changed since the interrupted build: starting over/);
    assert.equal(report.unitsReused, 0);
    await assertSameDataset(reference, out, "pdr3_dud");
  });
});
