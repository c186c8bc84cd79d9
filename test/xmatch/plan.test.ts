// The cross-match planner finds a unit's right rows from key ranges alone, so files at any
// HEALPix order work: coarse files spanning many order-4 pixels (sparse sky), files finer than
// a pixel, key-range splits of one pixel. Such layouts are made here from ordinary datasets by
// regrouping their rows into "virtual" files (the positions sidecar serves every row whatever
// the file list says), and must give the same rows as the real layout, whether right files are
// read whole or cut to the key ranges a unit needs.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { ang2pixOrder29, angularSeparationDeg } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { matchAll, matchNearest } from "../../src/xmatch/kernel.ts";
import { RightNeighbourhood } from "../../src/xmatch/neighbourhood.ts";
import { planUnits, type SideTable, sideTable } from "../../src/xmatch/plan.ts";
import { SideReader } from "../../src/xmatch/side-reader.ts";
import type { MatchSpec } from "../../src/xmatch/unit.ts";
import { runUnits } from "../../src/xmatch/workers.ts";
import { mulberry32, skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-xmatch-plan-");

const left = skyPoints(1500, 41, 0.3);
const right = (() => {
  const rand = mulberry32(43);
  const own = skyPoints(600, 42, 0.3);
  const n = left.ra.length;
  const ra = new Float64Array(n + own.ra.length);
  const dec = new Float64Array(n + own.ra.length);
  for (let i = 0; i < n; i++) {
    const d = Math.max(-90, Math.min(90, left.dec[i]! + (rand() - 0.5) / 60));
    const c = Math.max(0.01, Math.cos((d * Math.PI) / 180));
    ra[i] = (left.ra[i]! + (rand() - 0.5) / 60 / c + 360) % 360;
    dec[i] = d;
  }
  ra.set(own.ra, n);
  dec.set(own.dec, n);
  return { ra, dec };
})();

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [] },
  { name: "dec", dtype: "float64", shape: [] },
];

async function write(root: string, p: { ra: Float64Array; dec: Float64Array }) {
  const n = p.ra.length;
  await writeDataset(
    root,
    COLUMNS,
    [{ object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), ra: p.ra, dec: p.dec }],
    { config: "c", provenance: { survey: "S" }, maxRowsPerFile: 40, compression: "none" },
  );
  return openDataset(root);
}

const L = await write(join(dir, "left"), left);
const R = await write(join(dir, "right"), right);

/** `_healpix_29` of every row of a side, in row order. */
async function keysOf(t: SideTable): Promise<BigInt64Array> {
  const keys = new BigInt64Array(t.starts[t.paths.length]!);
  for (let f = 0; f < t.paths.length; f++) {
    const file = await PartitionFile.open(join(t.root, t.paths[f]!));
    try {
      keys.set(
        file.readRange(["_healpix_29"], 0, file.length)._healpix_29 as BigInt64Array,
        t.starts[f]!,
      );
    } finally {
      file.close();
    }
  }
  return keys;
}

/**
 * The side's rows regrouped into files by `cell(key)` (a new file where the cell changes, or
 * after `split(key)` rows of one cell): the same rows in the same order, other files.
 */
function regroup(
  t: SideTable,
  keys: BigInt64Array,
  cell: (key: bigint) => bigint,
  split: (key: bigint) => number,
): SideTable {
  const starts: number[] = [0];
  let count = 0;
  for (let r = 1; r < keys.length; r++) {
    count++;
    if (cell(keys[r]!) !== cell(keys[r - 1]!) || count >= split(keys[r]!)) {
      starts.push(r);
      count = 0;
    }
  }
  starts.push(keys.length);
  const files = starts.length - 1;
  const keyMin = BigInt64Array.from({ length: files }, (_, f) => keys[starts[f]!]!);
  const keyMax = BigInt64Array.from({ length: files }, (_, f) => keys[starts[f + 1]! - 1]!);
  return {
    ...t,
    // Never opened: the positions sidecar serves every row.
    files: Array.from({ length: files }, (_, f) => ({
      ...t.files[0]!,
      path: `virtual/${f}.hdf5`,
      keyMin: String(keyMin[f]),
      keyMax: String(keyMax[f]),
      rows: starts[f + 1]! - starts[f]!,
    })),
    paths: Array.from({ length: files }, (_, f) => `virtual/${f}.hdf5`),
    keyMin,
    keyMax,
    starts: Float64Array.from(starts),
  };
}

/** Every right key sampled and no spans merged: a unit reads exactly its cover's rows. */
const EXACT_CUT = { wholeFileRows: 0, sampleRows: 1, gapRows: 0 };

const shiftOf = (order: number) => BigInt(2 * (29 - order));
/** Base pixels 0-3: order 1 files (coarse); 4-7: order 6 (fine); 8-11: order 3, cut every 9 rows. */
const mixed = {
  cell: (k: bigint) => {
    const base = k >> shiftOf(0);
    return base < 4n
      ? k >> shiftOf(1)
      : base < 8n
        ? (k >> shiftOf(6)) + 1000n
        : (k >> shiftOf(3)) + 100000n;
  },
  split: (k: bigint) => (k >> shiftOf(0) >= 8n ? 9 : Number.POSITIVE_INFINITY),
};
/** Other orders on the right: order 0 files in the north polar cap, order 8 elsewhere, cut every 5 rows. */
const mixedRight = {
  cell: (k: bigint) => (k >> shiftOf(0) < 4n ? k >> shiftOf(0) : (k >> shiftOf(8)) + 100n),
  split: (k: bigint) => (k >> shiftOf(0) < 4n ? Number.POSITIVE_INFINITY : 5),
};

const realL = (await sideTable(L, "left")).table;
const realR = (await sideTable(R, "right")).table;
const virtualL = regroup(realL, await keysOf(realL), mixed.cell, mixed.split);
const virtualR = regroup(realR, await keysOf(realR), mixedRight.cell, mixedRight.split);

async function rows(
  l: SideTable,
  r: SideTable,
  spec: MatchSpec,
  unitRows: number,
): Promise<{ rows: string[]; read: number }> {
  const out: string[] = [];
  let read = 0;
  await runUnits({
    units: planUnits(l, unitRows),
    left: l,
    right: r,
    spec,
    threads: 0,
    onResult: (u) => {
      read += u.rightRowsRead;
      for (let i = 0; i < u.leftRow.length; i++)
        out.push(`${u.leftRow[i]}:${u.rightRow[i]}:${u.sepArcsec[i]}`);
    },
  });
  return { rows: out.sort(), read };
}

/** The order of the deepest pixel holding every key of [kmin, kmax]; -1 across base pixels. */
function enclosingOrder(kmin: bigint, kmax: bigint): number {
  for (let order = 29; order >= 0; order--)
    if (kmin >> shiftOf(order) === kmax >> shiftOf(order)) return order;
  return -1;
}

test("the regrouped layouts hold files coarser and finer than order 4, and key-range splits", () => {
  const orders = (t: SideTable) =>
    Array.from(t.keyMin, (lo, f) => enclosingOrder(lo, t.keyMax[f]!));
  for (const t of [virtualL, virtualR]) {
    const o = orders(t);
    assert.ok(
      o.some((x) => x < 4),
      "a file spanning several order-4 pixels",
    );
    assert.ok(
      o.some((x) => x > 4),
      "a file within part of an order-4 pixel",
    );
    assert.equal(t.starts[t.paths.length], t === virtualL ? left.ra.length : right.ra.length);
  }
  assert.ok(
    orders(virtualR).some((x) => x <= 0),
    "a file of a whole base pixel",
  );
  assert.notEqual(virtualL.paths.length, realL.paths.length);
});

test("files of mixed orders: every layout pairing gives the order-4 layout's rows and the kernel's pairs", async () => {
  for (const [mode, radiusArcsec, k] of [
    ["all", 1, 1],
    ["all", 30, 1],
    ["all", 600, 1],
    ["nearest", 4 * 3600, 3],
  ] as const) {
    const spec: MatchSpec = {
      radiusDeg: radiusArcsec / 3600,
      mode,
      k,
      how: "inner",
      sliceRows: 1e6,
    };
    const want = await rows(realL, realR, spec, 200);
    const p =
      mode === "all"
        ? matchAll(left, right, spec.radiusDeg)
        : matchNearest(left, right, spec.radiusDeg, { k });
    assert.equal(want.rows.length, p.left.length, `${mode} ${radiusArcsec}": the kernel's count`);
    assert.ok(want.rows.length > 50, `${want.rows.length} rows`);
    for (const [ln, l] of [
      ["real", realL],
      ["mixed", virtualL],
    ] as const) {
      for (const [rn, r] of [
        ["real", realR],
        ["mixed", virtualR],
      ] as const) {
        // By default files this small are read whole; EXACT_CUT cuts them to the row.
        for (const cut of [undefined, EXACT_CUT]) {
          const got = await rows(l, r, { ...spec, cut }, 150);
          assert.deepEqual(
            got.rows,
            want.rows,
            `${mode} ${radiusArcsec}" left ${ln} right ${rn} cut ${JSON.stringify(cut)}`,
          );
        }
      }
    }
  }
});

test("a small region reads only the right rows near it, coarse files included", async () => {
  const reader = await SideReader.open(virtualR);
  try {
    const all = await reader.readRange(0, virtualR.starts[virtualR.paths.length]!);
    // A left region of one order-10 pixel, in a clump of right points.
    const clump = ang2pixOrder29([right.ra[5]!], [right.dec[5]!])[0]! >> shiftOf(10);
    const k = clump << shiftOf(10);
    const region: Array<[bigint, bigint]> = [[k, k + (1n << shiftOf(10)) - 1n]];
    const RADIUS = 90 / 3600;
    for (const cut of [EXACT_CUT, {}]) {
      const near = new RightNeighbourhood(virtualR, RADIUS, reader, cut);
      const spans = await near.spans(region);
      const read = spans.reduce((s, [a, b]) => s + b - a, 0);
      assert.ok(read < all.ra.length / 5, `${read} of ${all.ra.length} rows`);
      // Every right row within the radius of a point of the cell (the right points inside it
      // stand for the left ones) lies in a span, and so does every row of the cell.
      const keys = ang2pixOrder29(all.ra, all.dec);
      const cell = Array.from(keys.keys()).filter((row) => keys[row]! >> shiftOf(10) === clump);
      assert.ok(cell.length > 3, `${cell.length} points in the cell`);
      let inside = 0;
      for (let row = 0; row < all.ra.length; row++) {
        const near = cell.some(
          (c) =>
            angularSeparationDeg(all.ra[c]!, all.dec[c]!, all.ra[row]!, all.dec[row]!) <= RADIUS,
        );
        if (!near) continue;
        inside++;
        assert.ok(
          spans.some(([a, b]) => a <= row && row < b),
          `row ${row} in a span (cut ${JSON.stringify(cut)})`,
        );
      }
      assert.ok(inside > cell.length, "points near the cell");
    }
    // A radius of 180 degrees reaches every row.
    const everything = await new RightNeighbourhood(virtualR, 180, reader).spans(region);
    assert.deepEqual(everything, [[0, all.ra.length]]);
  } finally {
    reader.close();
  }
});
