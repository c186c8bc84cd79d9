// kill -9 sweep: `astropile build` and `astropile xmatch --out` run as real processes and are
// killed with SIGKILL at every crash point they pass (src/core/crash-point.ts: planning, each
// unit's first write and its end, each file moved into place, the manifest, each file of a
// cross-match's output), one fresh output per point. The re-run must finish with exit 0 and
// give exactly the dataset an uninterrupted run gives, with no lock, temp file or build state
// left. (Chained kills, a kill from outside and damaged state: test/build/resume.test.ts;
// concurrent writers: test/cli/lock.test.ts.)
//
// ASTROPILE_KILL_POINTS=all sweeps every point (about 30); the default takes every phase once (9
// points), so the whole test suite stays within its time on two cores: the single points, the
// first unit's write, a middle unit's end (some units done, some not), the first file moved into
// place (the re-run meets moved and unmoved files), and the first and last output file of a
// cross-match. The killed runs are fresh processes; the re-runs go to one long-lived CLI process
// per lane (test/helpers/cli-session.ts), which saves a process start (~1.5 s of CPU) each. The
// points of both tests share LANES lanes (each point its own output), and each output is
// compared with a reference read once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { build, checkSpec } from "../../src/build/index.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { hscSpec } from "../../src/demo/index.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { assertSameDataset, type Reference, readReference } from "../build/helpers.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { type CliSession, cliSession } from "../helpers/cli-session.ts";
import { writePatchCatalogs } from "../helpers/patch-catalogs.ts";
import { tempDir } from "../helpers/tmp.ts";
import { hscDir, tinySurveys } from "../synth/fixture.ts";

const ALL = process.env.ASTROPILE_KILL_POINTS === "all";
const srcDir = tempDir();
const work = tempDir();
const specPath = join(work, "spec.json");
const refBuild = join(work, "ref-build");
const A = join(work, "a");
const B = join(work, "b");
const refMatch = join(work, "ref-match");
const XCONFIG = "c_x_c";
/**
 * Kill points under way at once, across both tests: a point is a killed process, a re-run in
 * its lane's session, then checks in this process, so a third lane keeps two cores busy while
 * one lane checks.
 */
const LANES = 3;
let refBuildData: Reference;
let refMatchData: Reference;
let lanes: CliSession[] = [];
let units = 0;
let buildFiles = 0;
let matchFiles = 0;
let n = 0;

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Done> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(...args), {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stderr }));
  });
}

const buildArgs = (out: string) => ["build", specPath, "--out", out, "--workers", "1", "--json"];
const xmatchArgs = (out: string) =>
  ["xmatch", A, B, "--radius", "30", "--out", out, "--threads", "0", "--layout", "mmu"] as string[];

/** Nothing but the dataset: no lock, temp file, scratch or build state. */
function assertClean(out: string): void {
  const stray = (readdirSync(out, { recursive: true }) as string[]).filter((p) =>
    /\.astropile\.lock|\.tmp$|\.tmp-|\.pending-|\.astropile-scratch|\.astropile-build/.test(p),
  );
  assert.deepEqual(stray, [], `left in ${out}`);
}

/** The first, middle and last of `items` (`which` of them), or all with ASTROPILE_KILL_POINTS=all. */
function thin<T>(items: T[], which: Array<"first" | "middle" | "last">): T[] {
  if (ALL) return items;
  const at = { first: 0, middle: items.length >> 1, last: items.length - 1 };
  return [...new Set(which.map((w) => at[w]))].sort((x, y) => x - y).map((i) => items[i]);
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

before(async () => {
  // The sessions start (load the CLI) beside the fixtures below.
  lanes = Array.from({ length: LANES }, () => cliSession());
  const sky = await tinySurveys(srcDir, 0);
  const spec = { ...hscSpec(20), root: hscDir(sky), build: { unitBytes: 600_000 } };
  writeFileSync(specPath, JSON.stringify(spec));
  const r = await build(checkSpec(spec, work), { out: refBuild, workers: 1 });
  units = r.report.units;
  buildFiles = (await readManifest(refBuild)).files.length;
  refBuildData = await readReference(refBuild, "pdr3_dud");
  assert.ok(units >= 4, `the sweep needs several units, got ${units}`);
  // Two catalogs over 8 x 8 degrees: a dozen order-4 pixels, so the mmu output has several files.
  await writePatchCatalogs(A, B, { rows: 1500, seed: 4242 });
  const { dataset } = await crossMatch(await openDataset(A), await openDataset(B), {
    radiusArcsec: 30,
  });
  // The mmu layout (order-4 files): the adaptive one would put 1,500 rows in one file.
  await dataset.saveToDisk(refMatch, { layout: "mmu" });
  matchFiles = (await readManifest(refMatch)).files.length;
  assert.ok(matchFiles >= 4, `the sweep needs several output files, got ${matchFiles}`);
  refMatchData = await readReference(refMatch, XCONFIG);
});

after(() => Promise.all(lanes.map((s) => s.close())));

/** Kills a run at `point`, re-runs it in `session`, and checks the result against `reference`. */
async function killAndResume(
  session: CliSession,
  args: (out: string) => string[],
  point: string,
  reference: Reference,
  config: string,
): Promise<void> {
  const out = join(work, `out-${n++}`);
  const killed = await run(args(out), { ASTROPILE_CRASH_AT: point });
  assert.equal(
    killed.signal,
    "SIGKILL",
    `${point}: no kill (exit ${killed.code}): ${killed.stderr}`,
  );
  const again = await session.run(...args(out));
  assert.equal(again.code, 0, `${point}: the re-run failed:\n${again.stderr}`);
  await assertSameDataset(reference, out, config);
  assert.deepEqual(await verifyDataset(out, { checksums: true }), [], point);
  assertClean(out);
  assert.ok(existsSync(join(out, "astropile.json")));
}

/** Sessions of lanes that no point is using, and the points waiting for one. */
const waiting: Array<(session: CliSession) => void> = [];
let idle: CliSession[] | null = null;

/** Runs `fn` with a lane's session once one is free (the lanes are shared by both tests). */
async function inLane<T>(fn: (session: CliSession) => Promise<T>): Promise<T> {
  idle ??= [...lanes];
  const session = idle.pop() ?? (await new Promise<CliSession>((resolve) => waiting.push(resolve)));
  try {
    return await fn(session);
  } finally {
    const next = waiting.shift();
    if (next) next(session);
    else idle.push(session);
  }
}

/** Runs `points`, each with its own output, in the shared lanes. */
async function sweep(
  points: string[],
  one: (session: CliSession, point: string) => Promise<void>,
): Promise<void> {
  await Promise.all(points.map((p) => inLane((session) => one(session, p))));
}

// The two tests run at once: their points share the lanes.
describe("kill -9 sweep", { timeout: 600_000, concurrency: true }, () => {
  test("build: killed at each crash point, the re-run gives the uninterrupted build's dataset", async (t) => {
    const points = [
      "plan",
      "scatter",
      ...thin(range(0, units - 1), ["first"]).map((u) => `unit-write:${u}`),
      ...thin(range(1, units), ["middle"]).map((u) => `unit-done:${u}`),
      "assembly-planned",
      ...thin(range(1, buildFiles), ["first"]).map((k) => `assemble:${k}`),
      "manifest",
    ];
    await sweep(points, (s, p) => killAndResume(s, buildArgs, p, refBuildData, "pdr3_dud"));
    t.diagnostic(`build: ${points.length} kill points (${units} units, ${buildFiles} files)`);
  });

  test("xmatch --out: killed before each output file, the re-run gives the clean output", async (t) => {
    const points = thin(range(1, matchFiles), ["first", "last"]).map(
      (k) => `dataset-writer:file-${k}`,
    );
    await sweep(points, (s, p) => killAndResume(s, xmatchArgs, p, refMatchData, XCONFIG));
    t.diagnostic(`xmatch --out: ${points.length} kill points (${matchFiles} output files)`);
  });
});
