// One writer per output, with real `astropile` processes started at the same moment: builds into
// one --out, cross-matches into one --out, a cross-match against `index`. In every round exactly
// one writes, the others exit 1 at once with the LockedError line (or, with --wait, wait and then
// succeed), and the result is the dataset a single uninterrupted run writes. Killed writers
// (kill -9) leave a lock and temp files; the next run takes the lock over and cleans up.
//
// ASTROPILE_TEST_HOLD_LOCK makes the process that got the lock wait for a file before it goes
// on, so the test knows the others tried while the lock was held (no timing involved). The
// contenders are fresh processes (their pids are in the lock and the messages); the runs that
// follow a race, a kill or a foreign lock go to one long-lived CLI process
// (test/helpers/cli-session.ts), which saves a process start (~1.5 s of CPU) each. Every test
// has its own outputs, so two tests run at once; outputs are compared with references read once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { build, checkSpec } from "../../src/build/index.ts";
import { LOCK_FILE } from "../../src/core/lock.ts";
import { hostToken } from "../../src/core/process-owner.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { hscSpec } from "../../src/demo/index.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import type { SynthResult } from "../../src/synth/index.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { assertSameDataset, type Reference, readReference } from "../build/helpers.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { type CliSession, cliSession } from "../helpers/cli-session.ts";
import { writePatchCatalogs } from "../helpers/patch-catalogs.ts";
import { tempDir } from "../helpers/tmp.ts";
import { hscDir, tinySurveys } from "../synth/fixture.ts";

// Rounds of each concurrent-writer race, more with ASTROPILE_STRESS_ROUNDS=N (e.g. 50 before a
// release). A race whose winner holds the lock until the others are refused has one outcome
// whoever wins, so a normal run does one round of it (the whole suite stays within its time);
// the race without holding, where the interleaving varies, does at least two.
const ROUNDS = Number(process.env.ASTROPILE_STRESS_ROUNDS ?? 1);
const FREE_ROUNDS = Math.max(2, ROUNDS);
const srcDir = tempDir();
const work = tempDir();
const specPath = join(work, "spec.json");
const refBuild = join(work, "ref-build");
const A = join(work, "a");
const B = join(work, "b");
const refMatch = join(work, "ref-match");
const XCONFIG = "c_x_c";
let sky: SynthResult;
let session: CliSession;
let refBuildData: Reference;
let refMatchData: Reference;
let n = 0;
const fresh = (name: string) => join(work, `${name}-${n++}`);

interface Done {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Proc {
  pid: number;
  stderr: () => string;
  done: Promise<Done>;
}

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, cliArgs(...args), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return {
    pid: child.pid!,
    stderr: () => stderr,
    done: new Promise((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) =>
        resolve({ pid: child.pid!, code, signal, stdout, stderr }),
      );
    }),
  };
}

/** Polls `check`; fails after `limitMs` (a bound on a broken run, not a timing assertion). */
async function until(check: () => boolean, what: string, limitMs = 180_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`still waiting after ${limitMs / 1000} s: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Starts one process per argument list at once; the one that gets the lock holds it until all
 * the others have ended (or, with `waiters`, until they all say they are waiting). With
 * `firstHolds`, the first process starts alone and the others once it holds the lock of that
 * directory (a chosen winner).
 */
async function contend(
  runs: string[][],
  options: { waiters?: boolean; firstHolds?: string } = {},
): Promise<Done[]> {
  const { waiters = false, firstHolds } = options;
  const go = fresh("go");
  const hold = { ASTROPILE_TEST_HOLD_LOCK: go };
  const procs: Proc[] = [];
  if (firstHolds) {
    procs.push(start(runs[0], hold));
    try {
      await until(() => existsSync(join(firstHolds, LOCK_FILE)), "the first to take the lock");
    } catch (err) {
      writeFileSync(go, "");
      throw err;
    }
  }
  for (const args of runs.slice(procs.length)) procs.push(start(args, hold));
  const ended = new Set<number>();
  for (const p of procs) void p.done.then(() => ended.add(p.pid));
  try {
    await until(
      () =>
        waiters
          ? procs.filter((p) => /waiting for/.test(p.stderr())).length === runs.length - 1
          : ended.size >= runs.length - 1,
      waiters ? "the others to wait for the lock" : "the others to be refused",
    );
  } finally {
    // Let the holder go on (and every process end) whatever happened.
    writeFileSync(go, "");
  }
  return Promise.all(procs.map((p) => p.done));
}

/** Exactly one process succeeded; every other one exited 1 with the one-line LockedError. */
function oneWinner(results: Done[], out: string, holder: RegExp): Done {
  const winners = results.filter((r) => r.code === 0);
  assert.equal(
    winners.length,
    1,
    `one success: ${results.map((r) => `${r.code ?? r.signal} ${r.stderr}`).join("\n")}`,
  );
  const winner = winners[0];
  for (const r of results) {
    if (r === winner) continue;
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0], new RegExp(`^astropile: ${out} is locked by `));
    assert.match(lines[0], holder);
    assert.match(lines[0], new RegExp(`\\(pid ${winner.pid} on host ${hostToken()}, since `));
    assert.match(lines[0], /--wait/);
  }
  return winner;
}

/** Nothing but the dataset: no lock, temp file, scratch or build state. */
function assertClean(out: string): void {
  const all = readdirSync(out, { recursive: true }) as string[];
  const stray = all.filter((p) =>
    /\.astropile\.lock|\.tmp$|\.tmp-|\.pending-|\.astropile-scratch|\.astropile-build/.test(p),
  );
  assert.deepEqual(stray, [], `left in ${out}`);
}

const buildArgs = (out: string, ...more: string[]) => [
  "build",
  specPath,
  "--out",
  out,
  "--workers",
  "1",
  "--json",
  ...more,
];
const xmatchArgs = (out: string, ...more: string[]) => [
  "xmatch",
  A,
  B,
  "--radius",
  "30",
  "--out",
  out,
  "--threads",
  "0",
  ...more,
];

before(async () => {
  // The session starts (loads the CLI) beside the fixtures below.
  session = cliSession();
  sky = await tinySurveys(srcDir, 0);
  const spec = { ...hscSpec(20), root: hscDir(sky), build: { unitBytes: 600_000 } };
  writeFileSync(specPath, JSON.stringify(spec));
  await build(checkSpec(spec, work), { out: refBuild, workers: 1 });
  // A patch of 8 x 8 degrees: about a dozen order-4 pixels (one or two files in the adaptive
  // layout, which sizes partitions by the data).
  await writePatchCatalogs(A, B, { rows: 3000, seed: 12345 });
  const { dataset } = await crossMatch(await openDataset(A), await openDataset(B), {
    radiusArcsec: 30,
  });
  await dataset.saveToDisk(refMatch);
  refBuildData = await readReference(refBuild, "pdr3_dud");
  refMatchData = await readReference(refMatch, XCONFIG);
});

after(() => session?.close());

describe("one writer per output, real processes", { timeout: 600_000, concurrency: 2 }, () => {
  test(`3 builds into one --out at once, ${ROUNDS} round(s): one builds, two are refused`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const out = fresh("build");
      const results = await contend([buildArgs(out), buildArgs(out), buildArgs(out)]);
      const winner = oneWinner(results, out, /locked by build "pdr3_dud" /);
      assert.equal(JSON.parse(winner.stdout).status, "built", `round ${round}`);
      await assertSameDataset(refBuildData, out, "pdr3_dud");
      assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
      assertClean(out);
    }
  });

  test(`3 xmatch --out into one directory at once, ${ROUNDS} round(s): one writes, two are refused`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const out = fresh("xmatch");
      // One round mixes in a --catalog-only writer of the same directory.
      const third = round === 0 ? xmatchArgs(out, "--catalog-only") : xmatchArgs(out);
      const results = await contend([xmatchArgs(out), xmatchArgs(out), third]);
      const winner = oneWinner(results, out, /locked by xmatch --(out|catalog-only) /);
      if (existsSync(join(out, "xmatch.csv"))) {
        assert.equal(winner, results[2]);
        assert.deepEqual(readdirSync(out), ["xmatch.csv"]);
        continue;
      }
      await assertSameDataset(refMatchData, out, XCONFIG);
      assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
      assertClean(out);
    }
  });

  test("3 builds with --wait: the two waiters succeed after the first, finding it built", async () => {
    const out = fresh("wait");
    const args = buildArgs(out, "--wait");
    const results = await contend([args, args, args], { waiters: true });
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const statuses = results.map((r) => JSON.parse(r.stdout).status).sort();
    assert.deepEqual(statuses, ["built", "unchanged", "unchanged"]);
    const waited = results.filter((r) =>
      /waiting for .*: locked by build "pdr3_dud"/.test(r.stderr),
    );
    assert.equal(waited.length, 2);
    await assertSameDataset(refBuildData, out, "pdr3_dud");
    assertClean(out);
  });

  test("xmatch --out and index of one dataset: each holding while the other starts, the other is refused, then runs", async () => {
    // Both orders, each once (and the two started at the same moment with more rounds).
    const rounds = Math.max(2, ROUNDS);
    for (let round = 0; round < rounds; round++) {
      const out = fresh("index");
      cpSync(refBuild, out, { recursive: true });
      const index = ["index", out, "--force", "--json"];
      const xmatch = xmatchArgs(out);
      // Round 0: index holds, xmatch is refused; round 1 the other way; then both at once.
      const chosen = round < 2;
      const runs = round === 1 ? [xmatch, index] : [index, xmatch];
      const results = await contend(runs, chosen ? { firstHolds: out } : {});
      const winner = oneWinner(results, out, /locked by (index|xmatch --out) /);
      if (chosen) assert.equal(winner, results[0], "the process that took the lock first won");
      const again = await session.run(...runs[winner === results[0] ? 1 : 0]);
      assert.equal(again.code, 0, again.stderr);
      const manifest = await readManifest(out);
      assert.deepEqual(Object.keys(manifest.configs).sort(), [XCONFIG, "pdr3_dud"]);
      await assertSameDataset(refMatchData, out, XCONFIG);
      await assertSameDataset(refBuildData, out, "pdr3_dud");
      assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
      assertClean(out);
    }
  });

  test(`2 builds started together without holding, ${FREE_ROUNDS} rounds: never a damaged dataset`, async () => {
    for (let round = 0; round < FREE_ROUNDS; round++) {
      const out = fresh("free");
      const results = await Promise.all([start(buildArgs(out)).done, start(buildArgs(out)).done]);
      const built = results.filter((r) => r.code === 0 && JSON.parse(r.stdout).status === "built");
      assert.equal(built.length, 1, results.map((r) => r.stderr).join("\n"));
      for (const r of results) {
        if (r === built[0]) continue;
        if (r.code === 0) assert.equal(JSON.parse(r.stdout).status, "unchanged");
        else assert.match(r.stderr, /^astropile: .* is locked by build "pdr3_dud" \(pid /);
      }
      await assertSameDataset(refBuildData, out, "pdr3_dud");
      assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
      assertClean(out);
    }
  });

  test("a build killed with kill -9 leaves its lock; the next build takes it over and finishes the same dataset", async () => {
    const out = fresh("killed");
    const killed = await start(buildArgs(out), { ASTROPILE_CRASH_AT: "unit-done:2" }).done;
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    const lock = JSON.parse(readFileSync(join(out, LOCK_FILE), "utf8"));
    assert.equal(lock.pid, killed.pid);
    const r = await session.run(...buildArgs(out));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).status, "resumed");
    assert.match(
      r.stderr,
      new RegExp(`took over the lock of .* from build "pdr3_dud" \\(pid ${killed.pid} .*is gone`),
    );
    await assertSameDataset(refBuildData, out, "pdr3_dud");
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
    assertClean(out);
  });

  test("a lock held on another host: respected while its heartbeat is fresh, taken over once stale", async () => {
    const out = fresh("remote");
    mkdirSync(out);
    const path = join(out, LOCK_FILE);
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        token: "remote-token",
        host: "compute-node-17",
        bootId: null,
        pidNamespace: null,
        pid: 31337,
        startTime: null,
        command: 'build "pdr3_dud"',
        argv: "",
        since: "2026-11-22T08:00:00.000Z",
      }),
    );
    const refused = await session.run(...buildArgs(out));
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /is locked by build "pdr3_dud" \(pid 31337 on host compute-node-17, since 2026-11-22T08:00:00\.000Z\).*taken over once its heartbeat is older than 2 min/,
    );
    assert.deepEqual(readdirSync(out), [LOCK_FILE], "the refused build wrote nothing");
    const old = new Date(Date.now() - 10 * 60_000);
    utimesSync(path, old, old);
    const r = await session.run(...buildArgs(out));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /took over the lock .* compute-node-17.*no heartbeat for \d+ s/);
    await assertSameDataset(refBuildData, out, "pdr3_dud");
    assertClean(out);
  });

  test("an xmatch --out killed with kill -9 while writing leaves temp files; the next run removes them", async () => {
    const out = fresh("xkilled");
    const killed = await start(xmatchArgs(out), {
      // The first file: the adaptive layout writes 3,000 rows in one or two.
      ASTROPILE_CRASH_AT: "dataset-writer:file-1",
    }).done;
    assert.equal(killed.signal, "SIGKILL", killed.stderr);
    const left = (readdirSync(out, { recursive: true }) as string[]).filter((p) =>
      /\.tmp$|\.pending-/.test(p),
    );
    assert.ok(
      left.some((p) => /\.\.pending-\d+\.hdf5\.\d+\.[0-9a-z]+\.tmp$/.test(p)),
      `a ..pending-*.tmp file is left: ${left.join(", ")}`,
    );
    assert.ok(existsSync(join(out, LOCK_FILE)), "and the lock");
    const r = await session.run(...xmatchArgs(out));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /took over the lock .* from xmatch --out/);
    assert.match(r.stderr, /removed \d+ temporary file\(s\)/);
    for (const p of left) assert.ok(!existsSync(join(out, p)), `${p} removed`);
    await assertSameDataset(refMatchData, out, XCONFIG);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
    assertClean(out);
  });
});
