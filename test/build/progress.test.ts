// Progress of a build's units: a row counts half when the unit reads it and half once it is
// written to its file, so the line keeps moving while a unit sorts and writes (a second or two
// for a unit of 1.5M rows) instead of standing at 100 %.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type BuildProgress, build } from "../../src/build/index.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { csvCatalogSpec } from "./helpers.ts";

const dir = tempDir("astropile-build-progress-");
// Odd, so half of it is not a whole number of rows.
const ROWS = 3001;

function writeCatalog(): void {
  const rand = mulberry32(21);
  const lines = ["id,ra,dec,mag"];
  for (let i = 0; i < ROWS; i++) {
    const ra = 360 * rand();
    const dec = (Math.asin(2 * rand() - 1) * 180) / Math.PI;
    lines.push(`${i + 1},${ra.toFixed(7)},${dec.toFixed(7)},${(12 + 6 * rand()).toFixed(3)}`);
  }
  writeFileSync(join(dir, "cat.csv"), `${lines.join("\n")}\n`);
}

/** The build's "build" and "assemble" events. */
async function buildEvents(out: string, unitBytes: number | undefined, workers: number) {
  const events: BuildProgress[] = [];
  const spec = csvCatalogSpec(dir, "PROGRESS", unitBytes ? { build: { unitBytes } } : {});
  const result = await build(spec, {
    out: join(dir, out),
    workers,
    onProgress: (p) => {
      if (p.phase === "build" || p.phase === "assemble") events.push({ ...p });
    },
  });
  assert.equal(result.report.rows, ROWS);
  return events;
}

test("one unit: half of its rows are counted when read, the rest as they are written", async () => {
  writeCatalog();
  const events = await buildEvents("one", undefined, 1);
  const units = events.filter((e) => e.phase === "build");
  assert.equal(units[0]!.unitsTotal, 1);
  const rows = units.map((e) => e.rows);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]! >= rows[i - 1]!, `${rows}`);
  // The whole bucket is one read: half the rows; then the writer's progress (one merge block
  // here) brings them to all.
  assert.ok(rows.includes(Math.floor(ROWS / 2)), `${rows}`);
  assert.equal(rows[rows.length - 1], ROWS);
  assert.equal(units[units.length - 1]!.unitsDone, 1);
  assert.equal(events[events.length - 1]!.phase, "assemble");
  assert.equal(events[events.length - 1]!.rows, ROWS);
});

test("several units on worker threads add up to every row once", async () => {
  writeCatalog();
  // ~4 units of ~25 kB of rows each.
  const events = await buildEvents("several", 25_000, 2);
  const units = events.filter((e) => e.phase === "build");
  assert.ok(units[0]!.unitsTotal >= 3, `units: ${units[0]!.unitsTotal}`);
  const rows = units.map((e) => e.rows);
  for (let i = 1; i < rows.length; i++) assert.ok(rows[i]! >= rows[i - 1]!, `${rows}`);
  assert.ok(
    rows.every((r) => Number.isInteger(r) && r <= ROWS),
    `${rows}`,
  );
  assert.equal(rows[rows.length - 1], ROWS);
  assert.equal(events[events.length - 1]!.rows, ROWS);
});
