// summarizeDataset: rows, files, bytes per partition pixel from the manifest, and the sky area
// covered, checked against counts made here from the rows written.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { NotFoundError, UsageError } from "../../src/core/errors.ts";
import {
  densestPixels,
  openDataset,
  pixelAreaDeg2,
  summarizeDataset,
} from "../../src/dataset/index.ts";
import { OccupiedCells } from "../../src/dataset/summary.ts";
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
  // Order-12 cells holding a row, counted from the truth.
  const cells = new Set<number>();
  for (let i = 0; i < N; i++) cells.add(ang2pixNumber(12, ra[i], dec[i]));
  for (const root of roots) {
    const s = await summarizeDataset(root);
    const manifest = await readManifest(root);
    assert.equal(s.root, root);
    assert.equal(s.config, "pdr3_wide");
    assert.equal(s.survey, "HSC");
    assert.equal(s.release, "pdr3");
    assert.equal(s.layout, manifest.layout);
    assert.equal(s.rows, N);
    assert.equal(s.files, manifest.files.length);
    assert.equal(
      s.bytes,
      manifest.files.reduce((a, f) => a + f.bytes, 0),
    );
    // Rows per partition pixel (or run of pixels sharing files), counted from the truth at each
    // pixel's own order.
    const want = s.pixels.map((p) => {
      let rows = 0;
      for (let i = 0; i < N; i++) {
        const q = ang2pixNumber(p.order, ra[i], dec[i]);
        if (q >= p.pixel && q < p.pixel + p.pixels) rows++;
      }
      return [p.order, p.pixel, p.pixels, rows];
    });
    assert.deepEqual(
      s.pixels.map((p) => [p.order, p.pixel, p.pixels, p.rows]),
      want,
    );
    assert.equal(
      s.pixels.reduce((a, p) => a + p.rows, 0),
      N,
      "partition pixels do not overlap",
    );
    assert.equal(
      s.pixels.reduce((a, p) => a + p.files, 0),
      s.files,
    );
    // Per order: the pixels, files, rows and area of that order.
    assert.deepEqual(
      s.orders.map((o) => o.order),
      [...new Set(manifest.files.map((f) => f.order))].sort((a, b) => a! - b!),
    );
    assert.equal(
      s.orders.reduce((a, o) => a + o.rows, 0),
      N,
    );
    const area = s.pixels.reduce((a, p) => a + p.pixels * pixelAreaDeg2(p.order), 0);
    assert.ok(Math.abs(s.partitionAreaDeg2 - area) < 1e-9);
    // The coverage at its stated order: the cells of that order holding a row.
    assert.ok(s.coverageOrder >= 0 && s.coverageOrder <= 12);
    const atOrder = new Set([...cells].map((c) => Math.floor(c / 4 ** (12 - s.coverageOrder))));
    assert.ok(N / atOrder.size >= 10, "occupied cells hold 10 rows on average");
    if (s.coverageOrder < 12) {
      const finer = new Set([...cells].map((c) => Math.floor(c / 4 ** (11 - s.coverageOrder))));
      assert.ok(N / finer.size < 10, "a finer order would not");
    }
    assert.ok(Math.abs(s.areaDeg2 - atOrder.size * pixelAreaDeg2(s.coverageOrder)) < 1e-9);
    // At order 12, as asked: the same rows in any layout cover the same cells.
    const at12 = await summarizeDataset(root, { coverageOrder: 12 });
    assert.equal(at12.coverageOrder, 12);
    assert.ok(Math.abs(at12.areaDeg2 - cells.size * pixelAreaDeg2(12)) < 1e-12, `${at12.areaDeg2}`);
  }
  const [mmu, adaptive] = await Promise.all(roots.slice(0, 2).map((r) => summarizeDataset(r)));
  assert.deepEqual(
    mmu.orders.map((o) => o.order),
    [4],
  );
  assert.ok(adaptive.orders.length >= 3);
  assert.deepEqual(
    densestPixels(adaptive.pixels, 3).map((p) => p.rows),
    adaptive.pixels
      .map((p) => p.rows)
      .sort((a, b) => b - a)
      .slice(0, 3),
  );
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

test("occupied cells: past the array's limit a bitmap, the same counts at every order", () => {
  const total = 12 * 4 ** 12;
  let s = 12345;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  // All-sky cells, a clump of neighbours, and the first and last cells of the sky.
  const input: number[] = [0, total - 1];
  for (let i = 0; i < 30_000; i++) input.push(Math.floor(rand() * total));
  const base = Math.floor(rand() * (total - 5000));
  for (let i = 0; i < 20_000; i++) input.push(base + Math.floor(rand() * 5000));
  const truth = [];
  for (let k = 0; k <= 12; k++)
    truth.push(new Set(input.map((c) => Math.floor(c / 4 ** (12 - k)))).size);
  const small = new OccupiedCells(4096);
  const large = new OccupiedCells();
  for (const c of input) {
    small.add(c);
    large.add(c);
  }
  assert.ok(small.isBitmap, "4,096 cells at most as an array: a bitmap now");
  assert.ok(!large.isBitmap);
  assert.deepEqual(small.perOrder(), truth);
  assert.deepEqual(large.perOrder(), truth);
});
