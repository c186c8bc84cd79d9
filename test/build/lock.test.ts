// The build runner holds its output's lock for the whole build (resume included): a second
// writer is refused before it touches the output, or waits; a build that fails leaves exactly
// what a resume uses, and the resume finishes the same dataset.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { build, checkSpec } from "../../src/build/index.ts";
import { statePaths } from "../../src/build/state.ts";
import { isAstroPileError } from "../../src/core/errors.ts";
import { acquireWriterLock, LOCK_FILE } from "../../src/core/lock.ts";
import { hscSpec } from "../../src/demo/index.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import type { SynthResult } from "../../src/synth/index.ts";
import { tempDir } from "../helpers/tmp.ts";
import { hscDir, tinySurveys } from "../synth/fixture.ts";
import { assertSameDataset } from "./helpers.ts";

const srcDir = tempDir();
const work = tempDir();
const reference = join(work, "reference");
let sky: SynthResult;

function spec() {
  return checkSpec({ ...hscSpec(20), root: hscDir(sky), build: { unitBytes: 600_000 } }, work);
}

/** Every file and directory under dir (relative paths), sorted. */
function tree(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).sort();
}

before(async () => {
  sky = await tinySurveys(srcDir, 0);
  const r = await build(spec(), { out: reference, workers: 1 });
  assert.ok(r.report.units >= 4, `the test needs several units, got ${r.report.units}`);
});

describe("build holds the output's lock", () => {
  test("a build into an output another writer holds is refused before it touches anything", async () => {
    const out = join(work, "busy");
    const other = await acquireWriterLock(out, { command: "xmatch --out" });
    try {
      await assert.rejects(build(spec(), { out, workers: 1 }), (e) => {
        assert.ok(isAstroPileError(e, "ASTROPILE_LOCKED"), String(e));
        assert.match((e as Error).message, /is locked by xmatch --out \(pid \d+ on host/);
        return true;
      });
      assert.deepEqual(tree(out), [LOCK_FILE]);
    } finally {
      await other.release();
    }
  });

  test("with wait, the build starts when the other writer is done", async () => {
    const out = join(work, "waited");
    const other = await acquireWriterLock(out);
    const lines: string[] = [];
    let waiting: () => void = () => {};
    const told = new Promise<void>((r) => {
      waiting = r;
    });
    const running = build(spec(), {
      out,
      workers: 1,
      wait: true,
      log: (l) => {
        lines.push(l);
        if (l.startsWith("waiting for")) waiting();
      },
    });
    await told;
    assert.deepEqual(tree(out), [LOCK_FILE], "nothing written while waiting");
    await other.release();
    const r = await running;
    assert.equal(r.report.status, "built");
    assert.match(lines[0], /^waiting for .*: locked by a writer \(pid \d+/);
    await assertSameDataset(reference, out, "pdr3_dud");
    assert.ok(!existsSync(join(out, LOCK_FILE)), "released");
  });

  test("a build that fails leaves exactly what a resume uses; the resume finishes the same dataset", async () => {
    const out = join(work, "failed");
    const state = statePaths(out, "pdr3_dud");
    /** Fails at the n-th progress report of the build phase. */
    const failAt = (n: number) => {
      let calls = 0;
      return (p: { phase: string }) => {
        if (p.phase === "build" && ++calls === n) throw new Error("stop here");
      };
    };
    // Fails in the third unit, after its first rows (reports: start, then per unit its rows
    // read, its rows written, done).
    await assert.rejects(build(spec(), { out, workers: 1, onProgress: failAt(8) }), /stop here/);
    const done = readdirSync(state.units).filter((n) => n.endsWith(".done.json"));
    assert.deepEqual(done, ["00000.done.json", "00001.done.json"]);
    const expected = [
      ".astropile-build",
      ".astropile-build/pdr3_dud",
      ".astropile-build/pdr3_dud/buckets",
      ...readdirSync(state.buckets).map((b) => `.astropile-build/pdr3_dud/buckets/${b}`),
      ".astropile-build/pdr3_dud/plan.json",
      ".astropile-build/pdr3_dud/scatter.json",
      ".astropile-build/pdr3_dud/units",
      ...tree(state.units)
        .filter((p) => /^0000[01]($|\.done\.json$|\/)/.test(p))
        .map((p) => `.astropile-build/pdr3_dud/units/${p}`),
    ].sort();
    assert.deepEqual(tree(out), expected, "plan, buckets, the finished units; no lock");

    // What a killed run leaves besides: temp files, an unfinished unit, scratch directories.
    const leftovers = [
      "astropile.json.4242.k2j3h4.tmp",
      "pdr3_dud/healpix=5/..pending-1.hdf5.4242.0fz9q1x.tmp",
      ".astropile-scratch-4242-abc/rows/run-0.hdf5",
      ".astropile-build/pdr3_dud/plan.json.4242.abc.tmp",
      ".astropile-build/pdr3_dud/units/00003/pdr3_dud/healpix=5/.pending-1.hdf5",
      ".astropile-build/pdr3_dud/units/00003/.astropile-scratch-4242-x/rows/run-0.hdf5",
      ".astropile-build/pdr3_dud/id-sort/run-0.hdf5",
    ];
    for (const p of leftovers) {
      mkdirSync(join(out, p, ".."), { recursive: true });
      writeFileSync(join(out, p), "x");
    }
    // Fails at once: the run still cleans up before it starts and after it fails.
    await assert.rejects(build(spec(), { out, workers: 1, onProgress: failAt(1) }), /stop here/);
    assert.deepEqual(
      tree(out).filter((p) => !p.startsWith("pdr3_dud")),
      expected,
      "leftovers of the killed run removed",
    );
    assert.deepEqual(tree(join(out, "pdr3_dud")), ["healpix=5"], "an empty directory stays");

    const r = await build(spec(), { out, workers: 1 });
    assert.equal(r.report.status, "resumed");
    assert.equal(r.report.unitsReused, 2);
    await assertSameDataset(reference, out, "pdr3_dud");
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
    assert.ok(!existsSync(join(out, ".astropile-build")));
    assert.ok(!existsSync(join(out, LOCK_FILE)));
  });
});
