// Catalog builds in both layouts: adaptive (default: partition pixels sized by the data, few files
// for a sparse all-sky catalog) and mmu (Multimodal Universe's fixed order-4 healpix=N). Same rows
// either way, whatever the work units; the files' order, pixel and key ranges in the manifest.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { build } from "../../src/build/index.ts";
import { KEY_ORDER, layoutPath, parsePartitionPath } from "../../src/storage/layout.ts";
import { fileOrder, filePixels, readManifest } from "../../src/storage/manifest.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { csvCatalogSpec, readAll } from "./helpers.ts";

const dir = tempDir("astropile-build-layout-");
// 1,000 rows in the dense patch (ten files' worth: finer pixels there) and 500 over the sky
// (about a file each in mmu, ~460 files: the costly part of the test, hence not more).
const ROWS = 1500;
const FILE_ROWS = 100;

function writeCatalog(): void {
  const rand = mulberry32(11);
  const lines = ["id,ra,dec,mag"];
  for (let i = 0; i < ROWS; i++) {
    // All-sky (uniform on the sphere), two thirds of them in a dense 1-degree patch.
    const dense = i % 3 !== 0;
    const ra = dense ? 10 + rand() : 360 * rand();
    const dec = dense ? 20 + rand() : (Math.asin(2 * rand() - 1) * 180) / Math.PI;
    lines.push(`${i + 1},${ra.toFixed(9)},${dec.toFixed(9)},${(10 + 5 * rand()).toFixed(3)}`);
  }
  writeFileSync(join(dir, "cat.csv"), `${lines.join("\n")}\n`);
}

function spec(build: Record<string, unknown>) {
  return csvCatalogSpec(dir, "LAYOUT", { build });
}

test("a catalog build: adaptive pixels sized by the data by default, mmu's order-4 healpix=N on request, the same rows", async () => {
  writeCatalog();
  // maxRowsPerFile 100: the dense patch needs finer pixels; small units: several of them.
  const adaptive = join(dir, "adaptive");
  const r = await build(spec({ maxRowsPerFile: FILE_ROWS, unitBytes: 20_000 }), {
    out: adaptive,
    workers: 1,
  });
  assert.ok(r.report.units >= 2, `${r.report.units} units`);
  const mmu = join(dir, "mmu");
  await build(spec({ layout: "mmu", maxRowsPerFile: FILE_ROWS }), { out: mmu, workers: 1 });

  const a = await readManifest(adaptive);
  const m = await readManifest(mmu);
  assert.equal(a.layout, "adaptive");
  assert.equal(m.layout, "mmu");
  // mmu: every file at order 4 in healpix=N; adaptive: several orders, far fewer files.
  assert.ok(m.files.every((f) => fileOrder(f) === 4));
  for (const f of m.files) assert.match(f.path, /^main\/healpix=\d+\/\d+-of-\d+\.hdf5$/);
  const orders = new Set(a.files.map(fileOrder));
  // Sparse neighbours (a few rows each) share files: runs of pixels, healpix=N-M.
  assert.ok(
    a.files.some((f) => f.pixels !== undefined),
    a.files.map((f) => f.path).join(" "),
  );
  assert.ok(orders.size >= 2, `orders ${[...orders]}`);
  assert.ok(a.files.length * 4 < m.files.length, `${a.files.length} vs ${m.files.length} files`);
  for (const [layout, man] of [
    ["adaptive", a],
    ["mmu", m],
  ] as const) {
    let prev = -1n;
    for (const f of man.files) {
      const order = fileOrder(f);
      // The path is the layout's, and says the file's order and pixel.
      const parsed = parsePartitionPath(f.path);
      assert.equal(parsed?.layout, layout);
      assert.equal(parsed?.order, order);
      assert.equal(parsed?.pixel, f.pixel);
      assert.equal(parsed?.pixels, filePixels(f));
      assert.equal(
        f.path,
        layoutPath(layout, "main", order, f.pixel, parsed!.k, parsed!.n, filePixels(f)),
      );
      // Key ranges inside the pixel (or run of pixels), increasing and disjoint over the config.
      const lo = BigInt(f.keyMin);
      const hi = BigInt(f.keyMax);
      const shift = BigInt(2 * (KEY_ORDER - order));
      assert.ok(lo >> shift >= BigInt(f.pixel));
      assert.ok(hi >> shift < BigInt(f.pixel + filePixels(f)));
      assert.ok(lo > prev && hi >= lo);
      prev = hi;
      assert.ok(f.rows <= FILE_ROWS);
    }
    assert.deepEqual(
      await verifyDataset(layout === "mmu" ? mmu : adaptive, { checksums: true }),
      [],
    );
  }
  const ra = await readAll(adaptive, "main", ["object_id", "ra", "dec", "mag"]);
  const rm = await readAll(mmu, "main", ["object_id", "ra", "dec", "mag"]);
  assert.equal(ra.rows, ROWS);
  assert.deepEqual(ra.columns, rm.columns);
  // The scratch state is gone once the build is done.
  assert.ok(!existsSync(join(adaptive, ".astropile-build", "main")));
});
