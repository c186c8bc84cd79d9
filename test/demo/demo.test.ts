// runDemo: the synthetic sources generated (or reused), both datasets built and summarised, as
// a structured result that agrees with what is on disk; progress as events, never drawn.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import { openDataset } from "../../src/dataset/index.ts";
import {
  BUILTIN_NAMES,
  builtinSpecJson,
  type DemoProgress,
  runDemo,
  SOURCES_MARKER,
} from "../../src/demo/index.ts";
import { PRESETS } from "../../src/synth/index.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-demo-");

test("runDemo builds hsc and desi from fresh sources; a second run reuses everything", async () => {
  const out = join(dir, "demo");
  const events: DemoProgress[] = [];
  const logs: string[] = [];
  const r = await runDemo({
    out,
    size: "tiny",
    seed: 7,
    stampSize: 16,
    workers: 1,
    onProgress: (p) => events.push(p),
    log: (line) => logs.push(line),
  });
  assert.equal(r.out, out);
  assert.deepEqual([r.size, r.seed, r.stampSize], ["tiny", 7, 16]);
  assert.ok(r.seconds > 0);
  // Sources: what the preset says was written, and the marker that lets a re-run reuse them.
  const s = r.sources;
  const layout = PRESETS.tiny.layout;
  assert.equal(s.dir, join(out, "sources"));
  assert.equal(s.reused, false);
  assert.deepEqual(
    [s.fields, s.patchesPerSide, s.patchPixels],
    [layout.fields.length, layout.patchesPerSide, layout.patchPixels],
  );
  assert.equal(s.tiles, s.fields * s.patchesPerSide ** 2 * 5);
  assert.ok(s.catalogRows > 0 && s.targets > 0 && s.spectraFiles > 0);
  assert.ok(existsSync(join(s.dir, SOURCES_MARKER)));
  // Datasets: the reports, the summaries and the files agree.
  assert.deepEqual(
    r.datasets.map((d) => [d.key, d.dir]),
    [
      ["hsc", join(out, "hsc")],
      ["desi", join(out, "desi")],
    ],
  );
  const [hsc, desi] = r.datasets;
  assert.equal(hsc.build.report.rows, s.catalogRows);
  assert.equal(desi.build.report.rows, s.targets);
  for (const d of r.datasets) {
    assert.equal(d.build.report.status, "built");
    assert.equal(d.summary.rows, d.build.report.rows);
    assert.equal(d.summary.files, d.build.report.files);
    assert.equal(d.summary.bytes, d.build.report.bytes);
    assert.ok(d.summary.areaDeg2 > 0);
    const ds = await openDataset(d.dir);
    assert.equal(ds.length, d.summary.rows);
    ds.close();
  }
  const ds = await openDataset(hsc.dir);
  assert.deepEqual(ds.features.find((f) => f.name === "image_array")?.shape, [5, 16, 16]);
  ds.close();
  // Progress came as events: the sources file by file, then each build to its end.
  const sources = events.filter((e) => e.stage === "sources");
  assert.ok(sources.some((e) => e.survey === "hsc" && e.done === e.total));
  assert.ok(sources.some((e) => e.survey === "desi" && e.done === e.total));
  for (const key of ["hsc", "desi"]) {
    const phases = events.flatMap((e) =>
      e.stage === "build" && e.dataset === key ? [e.progress.phase] : [],
    );
    assert.equal(phases.at(-1), "done", key);
  }
  assert.ok(
    logs.every((l) => /^\[(hsc|desi)\] /.test(l)),
    logs.join("\n"),
  );

  const again = await runDemo({ out, size: "tiny", seed: 7, stampSize: 16, workers: 1 });
  assert.equal(again.sources.reused, true);
  assert.equal(again.sources.catalogRows, s.catalogRows);
  assert.deepEqual(
    again.datasets.map((d) => d.build.report.status),
    ["unchanged", "unchanged"],
  );
  assert.deepEqual(
    again.datasets.map((d) => d.summary),
    r.datasets.map((d) => d.summary),
  );
});

test("bad demo options are usage errors; nothing is written", async () => {
  const out = join(dir, "bad");
  for (const options of [
    { size: "huge" as "tiny" },
    { seed: -1 },
    { seed: 1.5 },
    { stampSize: 4 },
    { stampSize: 1024 },
  ]) {
    await assert.rejects(runDemo({ out, ...options }), UsageError, JSON.stringify(options));
  }
  assert.equal(existsSync(out), false);
});

test("the built-in specs print as the JSON a user would write", () => {
  for (const name of BUILTIN_NAMES) {
    const spec = JSON.parse(builtinSpecJson(name));
    assert.equal(spec.root, ".");
    assert.equal(spec.name, name);
    assert.ok(spec.catalog.columns.object_id, name);
  }
  // The marker is plain JSON a person can read.
  assert.doesNotThrow(() =>
    JSON.parse(readFileSync(join(dir, "demo", "sources", SOURCES_MARKER), "utf8")),
  );
});
