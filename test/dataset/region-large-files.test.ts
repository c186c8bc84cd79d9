// Region queries on files of many thousand rows: each file's `_healpix_29` keys are searched
// block by block (every 1024th key kept), so cones and boxes whose bounds fall anywhere in a
// file, on a kept key or between two, must still equal brute force.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { sortedObjectIds } from "../helpers/object-ids.ts";
import { tempDir } from "../helpers/tmp.ts";

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
];
const N = 9000;

test("cones and boxes over 9000-row files equal brute force wherever their bounds fall", async () => {
  // A dense 2 x 2 degree field: a few files of thousands of rows each.
  let seed = 3;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const ra = Float64Array.from({ length: N }, () => 40 + 2 * rnd());
  const dec = Float64Array.from({ length: N }, () => -1 + 2 * rnd());
  const ids = BigInt64Array.from({ length: N }, (_, i) => BigInt(i));
  const root = join(tempDir(), "dense");
  await writeDataset(root, COLUMNS, [{ object_id: ids, ra, dec }], {
    config: "main",
    provenance: { survey: "TEST" },
  });
  const manifest = await readManifest(root);
  assert.ok(
    manifest.files.some((f) => f.rows > 3 * 1024),
    `a file spans several key blocks: ${manifest.files.map((f) => f.rows).join(", ")}`,
  );
  const ds = await openDataset(root);
  try {
    const idsIn = (view: typeof ds) => sortedObjectIds(view, 1000);
    // Centres on rows themselves (bounds land on and next to stored keys), and on empty sky.
    const centres: Array<[number, number]> = [
      [41, 0],
      [40.001, -0.999],
      [41.999, 0.999],
      [39.9, 0],
    ];
    for (let k = 0; k < 12; k++) centres.push([ra[k * 701]!, dec[k * 701]!]);
    for (const [r0, d0] of centres) {
      for (const radius of [1, 40, 400, 2400]) {
        const want: number[] = [];
        for (let i = 0; i < N; i++)
          if (angularSeparationDeg(ra[i]!, dec[i]!, r0, d0) <= radius / 3600) want.push(i);
        assert.deepEqual(
          await idsIn(ds.coneSearch(r0, d0, radius)),
          want,
          `${r0},${d0} ${radius}"`,
        );
      }
    }
    for (const [a, b, c, d] of [
      [40.5, 41.5, -0.5, 0.5],
      [40, 40.01, -1, 1],
      [41.3, 41.30001, -1, 1],
    ] as const) {
      const want: number[] = [];
      for (let i = 0; i < N; i++)
        if (ra[i]! >= a && ra[i]! <= b && dec[i]! >= c && dec[i]! <= d) want.push(i);
      assert.deepEqual(await idsIn(ds.boxSearch(a, b, c, d)), want, `box ${a}..${b}`);
    }
  } finally {
    ds.close();
  }
});
