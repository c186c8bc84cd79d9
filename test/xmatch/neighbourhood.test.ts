// A unit reads only the right rows that can match its left rows: its cells plus a margin dilated
// by the radius (src/xmatch/neighbourhood.ts). Too narrow a neighbourhood loses the pairs that
// straddle unit borders: units are forced small here (borders inside files, at the poles, across
// RA 0/360 and base-pixel corners) and right files cut to the row, and every pair of the
// in-memory kernel must come back. Too wide a one reads rows for nothing: the rows a unit reads
// must stay near the right rows of its own key range.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { ang2pixOrder29, boundaries } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { matchAll } from "../../src/xmatch/kernel.ts";
import type { CutOptions } from "../../src/xmatch/neighbourhood.ts";
import { planUnits, type SideTable, sideTable, type Unit } from "../../src/xmatch/plan.ts";
import type { MatchSpec } from "../../src/xmatch/unit.ts";
import { runUnits } from "../../src/xmatch/workers.ts";
import { destination, mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-xmatch-neighbourhood-");

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
];

interface Sky {
  ra: Float64Array;
  dec: Float64Array;
}

/** One file per base pixel (the adaptive layout's choice at this size): units split files. */
async function write(root: string, p: Sky) {
  const n = p.ra.length;
  await writeDataset(
    root,
    COLUMNS,
    [{ object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)), ...p }],
    { config: "c", provenance: { survey: "S" } },
  );
  return (await sideTable(await openDataset(root), "side")).table;
}

/** Left: points on the borders of pixels of orders 0-6 (poles, RA 0, corners) and uniform ones. */
function leftSky(): Sky {
  const rand = mulberry32(21);
  const ra: number[] = [];
  const dec: number[] = [];
  for (const [order, step] of [
    [0, 24],
    [2, 8],
    [4, 4],
    [6, 1],
  ] as const) {
    for (let k = 0; k < 12; k++) {
      const pix = Math.floor(rand() * 12 * 4 ** order);
      for (const p of boundaries(order, order === 0 ? k : pix, step)) {
        ra.push(p.ra);
        dec.push(p.dec);
      }
    }
  }
  for (let i = 0; i < 600; i++) {
    ra.push(rand() * 360);
    dec.push((Math.asin(2 * rand() - 1) * 180) / Math.PI);
  }
  ra.push(0, 359.9999999, 0, 180);
  dec.push(90, 0, -90, -89.9999);
  return { ra: Float64Array.from(ra), dec: Float64Array.from(dec) };
}

/** Right: partners of each left point at up to `reachDeg`, in every direction, and others. */
function rightSky(left: Sky, reachDeg: number[]): Sky {
  const rand = mulberry32(22);
  const ra: number[] = [];
  const dec: number[] = [];
  for (let i = 0; i < left.ra.length; i++) {
    for (const reach of reachDeg) {
      const q = destination(
        left.ra[i]!,
        left.dec[i]!,
        rand() * 360,
        reach * (0.9 + 0.0999 * rand()),
      );
      ra.push(q.ra);
      dec.push(q.dec);
    }
  }
  for (let i = 0; i < 2000; i++) {
    ra.push(rand() * 360);
    dec.push((Math.asin(2 * rand() - 1) * 180) / Math.PI);
  }
  return { ra: Float64Array.from(ra), dec: Float64Array.from(dec) };
}

const RADII_ARCSEC = [1, 60, 1800];
const left = leftSky();
const right = rightSky(
  left,
  RADII_ARCSEC.map((r) => r / 3600),
);
const L = await write(join(dir, "left"), left);
const R = await write(join(dir, "right"), right);

/** Every key sampled, no spans merged, no file read whole: a unit reads exactly its cover. */
const EXACT: CutOptions = { wholeFileRows: 0, sampleRows: 1, gapRows: 0 };

async function matchByUnits(
  units: Unit[],
  spec: MatchSpec,
): Promise<{ pairs: Set<string>; read: number[] }> {
  const pairs = new Set<string>();
  const read: number[] = [];
  await runUnits({
    units,
    left: L,
    right: R,
    spec,
    threads: 0,
    onResult: (u) => {
      read[u.index] = u.rightRowsRead;
      const lid = u.leftId as BigInt64Array;
      const rid = u.rightId as BigInt64Array;
      for (let i = 0; i < u.leftRow.length; i++) pairs.add(`${lid[i]}:${rid[i]}`);
    },
  });
  return { pairs, read };
}

/** Each unit's inclusive key range: its first and last rows' keys (rows are in key order). */
function unitKeys(t: SideTable, sky: Sky, units: Unit[]): Array<[bigint, bigint]> {
  // Dataset rows follow the writer's key order; sort the points' keys the same way.
  const keys = ang2pixOrder29(sky.ra, sky.dec).sort();
  assert.equal(keys.length, t.starts[t.paths.length]);
  return units.map((u) => [keys[u.start]!, keys[u.end - 1]!]);
}

test("pairs straddling unit borders: units forced small, right files cut to the row", async () => {
  const leftKeys = ang2pixOrder29(left.ra, left.dec);
  const rightKeys = ang2pixOrder29(right.ra, right.dec);
  for (const unitRows of [90]) {
    const units = planUnits(L, unitRows);
    const fileStarts = new Set(L.starts);
    assert.ok(
      units.some((u) => !fileStarts.has(u.start)),
      `${units.length} units, borders inside files`,
    );
    const ranges = unitKeys(L, left, units);
    for (const radiusArcsec of RADII_ARCSEC) {
      const want = matchAll(left, right, radiusArcsec / 3600);
      // Pairs whose right point lies outside the left point's unit: the ones a narrow
      // neighbourhood loses.
      let straddling = 0;
      for (let t = 0; t < want.left.length; t++) {
        const k = leftKeys[want.left[t]!]!;
        const rk = rightKeys[want.right[t]!]!;
        const u = ranges.findIndex(([a, b]) => a <= k && k <= b);
        if (rk < ranges[u]![0] || rk > ranges[u]![1]) straddling++;
      }
      assert.ok(straddling > 50, `${straddling} pairs straddle unit borders`);
      for (const cut of [EXACT, undefined]) {
        const spec: MatchSpec = {
          radiusDeg: radiusArcsec / 3600,
          mode: "all",
          k: 1,
          how: "inner",
          sliceRows: 1e6,
          cut,
        };
        const { pairs } = await matchByUnits(units, spec);
        const name = `${radiusArcsec}" units of ${unitRows} rows, cut ${JSON.stringify(cut)}`;
        assert.equal(pairs.size, want.left.length, `${name}: the kernel's pair count`);
        for (let t = 0; t < want.left.length; t++)
          assert.ok(pairs.has(`${want.left[t]}:${want.right[t]}`), `${name}: pair ${t}`);
      }
    }
  }
});

test("the right rows a unit reads stay near those of its own key range", async () => {
  // Uniform sides, one file per base pixel, units of a few files' rows or parts of one.
  const rand = mulberry32(31);
  const uniform = (n: number): Sky => ({
    ra: Float64Array.from({ length: n }, () => rand() * 360),
    dec: Float64Array.from({ length: n }, () => (Math.asin(2 * rand() - 1) * 180) / Math.PI),
  });
  const a = uniform(60_000);
  const b = uniform(60_000);
  const A = await write(join(dir, "uniform-left"), a);
  const B = await write(join(dir, "uniform-right"), b);
  const rightKeys = ang2pixOrder29(b.ra, b.dec).sort();
  for (const unitRows of [3000, 15_000]) {
    const units = planUnits(A, unitRows);
    const ranges = unitKeys(A, a, units);
    const read: number[] = [];
    await runUnits({
      units,
      left: A,
      right: B,
      spec: { radiusDeg: 1 / 3600, mode: "all", k: 1, how: "inner", sliceRows: 1e6, cut: EXACT },
      threads: 0,
      onResult: (u) => {
        read[u.index] = u.rightRowsRead;
      },
    });
    let total = 0;
    for (const [i, [lo, hi]] of ranges.entries()) {
      // Right rows with keys in the unit's own range, and what the unit read.
      let own = 0;
      for (const k of rightKeys) if (k >= lo && k <= hi) own++;
      assert.ok(
        read[i]! >= own && read[i]! <= own * 1.2 + 150,
        `unit ${i} of ${unitRows} rows read ${read[i]} right rows, ${own} of its own`,
      );
      total += read[i]!;
    }
    // Whole bordering files (before: ~4x the right side read at 1e7 x 1e7).
    assert.ok(total < b.ra.length * 1.2, `${total} right rows read for ${b.ra.length}`);
  }
});
