// summarizeDataset: rows, files, bytes per partition pixel from the manifest, and the sky area
// covered, checked against counts made here from the rows written.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { NotFoundError, UsageError } from "../../src/core/errors.ts";
import { openDataset, summarizeDataset } from "../../src/dataset/index.ts";
import { ang2pixNumber } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { tempDir } from "../helpers/tmp.ts";
import { IMAGE_COLUMNS, imageRows, layouts } from "./fixtures.ts";

const dir = tempDir();
const N = 2000;
const truth = imageRows(N, 9);
const ra = truth.ra as Float64Array;
const dec = truth.dec as Float64Array;
let roots: string[] = [];

before(async () => {
  roots = await layouts(dir, N, 9);
});

test("rows, files, bytes and pixels agree with the manifest and with the rows written", async () => {
  // Rows per order-4 pixel and the order-12 cells holding a row, counted from the truth.
  const perPixel = new Map<number, number>();
  const cells = new Set<number>();
  for (let i = 0; i < N; i++) {
    const p = ang2pixNumber(4, ra[i], dec[i]);
    perPixel.set(p, (perPixel.get(p) ?? 0) + 1);
    cells.add(ang2pixNumber(12, ra[i], dec[i]));
  }
  const cellDeg2 = (4 * Math.PI * (180 / Math.PI) ** 2) / (12 * 4 ** 12);
  for (const root of roots) {
    const s = await summarizeDataset(root);
    const manifest = await readManifest(root);
    assert.equal(s.root, root);
    assert.equal(s.config, "pdr3_wide");
    assert.equal(s.survey, "HSC");
    assert.equal(s.release, "pdr3");
    assert.equal(s.rows, N);
    assert.equal(s.files, manifest.files.length);
    assert.equal(
      s.bytes,
      manifest.files.reduce((a, f) => a + f.bytes, 0),
    );
    assert.deepEqual(
      s.pixels.map((p) => [p.pixel, p.rows]),
      [...perPixel.entries()].sort((a, b) => a[0] - b[0]),
    );
    assert.equal(
      s.pixels.reduce((a, p) => a + p.files, 0),
      s.files,
    );
    // The same rows in any layout cover the same cells.
    assert.ok(Math.abs(s.areaDeg2 - cells.size * cellDeg2) < 1e-12, `${s.areaDeg2}`);
  }
});

test("an opened dataset or view summarises its parent config; a coverage limit gives NaN", async () => {
  const ds = await openDataset(roots[1]);
  const fromPath = await summarizeDataset(roots[1]);
  const view = ds.filter("tract == 9801").coneSearch(ra[0], dec[0], 60);
  assert.deepEqual(await summarizeDataset(view), fromPath);
  const capped = await summarizeDataset(ds, { coverageMaxRows: N - 1 });
  assert.ok(Number.isNaN(capped.areaDeg2));
  assert.equal(capped.rows, N);
  ds.close();
});

test("several configs need `config`; a missing directory is a NotFoundError", async () => {
  const root = `${dir}/two`;
  for (const config of ["a", "b"]) {
    await writeDataset(root, IMAGE_COLUMNS, [imageRows(config === "a" ? 10 : 20, 3)], {
      config,
      provenance: { survey: "HSC" },
    });
  }
  await assert.rejects(summarizeDataset(root), UsageError);
  assert.equal((await summarizeDataset(root, { config: "b" })).rows, 20);
  await assert.rejects(summarizeDataset(`${dir}/nope`), (e: unknown) => {
    assert.ok(e instanceof NotFoundError);
    assert.equal(e.message, `no such directory: ${dir}/nope`);
    return true;
  });
});
