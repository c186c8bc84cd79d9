// batches() hands out views of what the fast path read and assembles only the batches that
// straddle two pieces (file borders): every batch size, on every layout, must give exactly the
// values libhdf5 (h5wasm) reads from the same files in the manifest's order.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, test } from "node:test";
import type { ColumnValues } from "../../src/core/columns.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { tempDir } from "../helpers/tmp.ts";
import { IMAGE_COLUMNS, layouts } from "./fixtures.ts";

const N = 300;
const NAMES = IMAGE_COLUMNS.map((c) => c.name);
const DIR = tempDir();
let roots: string[] = [];
/** Per layout: every column of every file, read by h5wasm, in the manifest's order. */
const expected: Array<Record<string, unknown[]>> = [];

before(async () => {
  roots = await layouts(DIR, N, 11);
  for (const root of roots) {
    const manifest = await readManifest(root);
    const out: Record<string, unknown[]> = Object.fromEntries(NAMES.map((n) => [n, []]));
    for (const entry of manifest.files) {
      const file = await PartitionFile.open(join(root, entry.path), { reader: "h5wasm" });
      try {
        const data = file.readRange(NAMES, 0, file.length);
        for (const n of NAMES) out[n].push(...Array.from(data[n] as ArrayLike<unknown>));
      } finally {
        file.close();
      }
    }
    expected.push(out);
  }
});

test("batches of sizes straddling file and chunk borders equal h5wasm's reads, on every layout", async () => {
  for (const [i, root] of roots.entries()) {
    const manifest = await readManifest(root);
    const fileRows = manifest.files.map((f) => f.rows);
    // Sizes around the file lengths (adaptive layouts: files of at most 37 or 120 rows).
    const sizes = [1, 7, 36, 37, 38, 64, 119, 121, N - 1, N, N + 1, fileRows[0], fileRows[0] + 1];
    const ds = await openDataset(root);
    try {
      for (const size of sizes) {
        const got: Record<string, unknown[]> = Object.fromEntries(NAMES.map((n) => [n, []]));
        let batches = 0;
        for await (const b of ds.batches({ size, columns: NAMES })) {
          batches++;
          const last = batches === Math.ceil(N / size);
          assert.equal(b.length, last ? N - size * (batches - 1) : size, `size ${size}`);
          for (const n of NAMES) {
            const v: ColumnValues = b.columns[n];
            const per = b.shapes[n].reduce((a, x) => a * x, 1);
            assert.equal(v.length, b.length * per, `${n}, size ${size}`);
            got[n].push(...Array.from(v as ArrayLike<unknown>));
          }
        }
        assert.equal(batches, Math.ceil(N / size));
        for (const n of NAMES)
          assert.deepEqual(got[n], expected[i][n], `layout ${i}, column ${n}, batch size ${size}`);
      }
    } finally {
      ds.close();
    }
  }
});

test("batches handed out stay valid while later ones are read (views, not reused buffers)", async () => {
  for (const [i, root] of roots.entries()) {
    const ds = await openDataset(root);
    try {
      // Keep every batch's arrays as handed out (no copies), check them only at the end.
      const kept: ColumnValues[] = [];
      for await (const b of ds.batches({ size: 37, columns: ["image_array"] }))
        kept.push(b.columns.image_array);
      assert.deepEqual(
        kept.flatMap((k) => Array.from(k as ArrayLike<unknown>)),
        expected[i].image_array,
        `layout ${i}`,
      );
    } finally {
      ds.close();
    }
  }
});
