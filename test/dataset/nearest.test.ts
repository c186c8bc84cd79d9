// Dataset.nearest: the `limit` rows nearest a sky position within a radius, nearest first, with
// the count of every row in the cone; checked against a brute-force scan of the rows written.
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { UsageError } from "../../src/core/errors.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { Source } from "../../src/dataset/source.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import { tempDir } from "../helpers/tmp.ts";
import { imageRows, layouts } from "./fixtures.ts";

const dir = tempDir();
const N = 3000;
const truth = imageRows(N, 11);
const ra = truth.ra as Float64Array;
const dec = truth.dec as Float64Array;
const ids = truth.object_id as BigInt64Array;
const tract = truth.tract as Int32Array;
const image = truth.image_array as Float32Array;
const byId = new Map<bigint, number>(Array.from(ids, (id, i) => [id, i]));
let datasets: Dataset[] = [];

before(async () => {
  datasets = await Promise.all((await layouts(dir, N, 11)).map((r) => openDataset(r)));
});

/** Distances (arcsec) of every truth row within the radius and passing `keep`, ascending. */
function brute(ra0: number, dec0: number, radius: number, keep = (_i: number) => true): number[] {
  const out: number[] = [];
  for (let i = 0; i < N; i++) {
    const d = angularSeparationDeg(ra0, dec0, ra[i], dec[i]) * 3600;
    if (d <= radius && keep(i)) out.push(d);
  }
  return out.sort((a, b) => a - b);
}

/** The rows returned are the nearest ones: their distances are the brute-force prefix, each row's own. */
function check(
  got: Awaited<ReturnType<Dataset["nearest"]>>,
  want: number[],
  limit: number,
  ra0: number,
  dec0: number,
) {
  const n = Math.min(limit, want.length);
  assert.equal(got.matched, want.length);
  assert.equal(got.length, n);
  assert.equal(got.truncated, want.length > n);
  assert.deepEqual(Array.from(got.distArcsec), want.slice(0, n));
  const seen = new Set<bigint>();
  const gotIds = got.columns.object_id as BigInt64Array;
  for (let k = 0; k < n; k++) {
    const i = byId.get(gotIds[k])!;
    assert.ok(i !== undefined && !seen.has(gotIds[k]), `row ${k}`);
    seen.add(gotIds[k]);
    assert.equal(angularSeparationDeg(ra0, dec0, ra[i], dec[i]) * 3600, got.distArcsec[k]);
  }
}

test("nearest first, limited, counted: equal to brute force in every layout", async () => {
  // Centres on rows (a clump, a pole, RA 0/360) and a radius that holds many rows.
  for (const c of [0, 250, 1999]) {
    const ra0 = ra[c];
    const dec0 = dec[c];
    for (const radius of [30, 900]) {
      const want = brute(ra0, dec0, radius);
      for (const limit of [0, 5, 10_000]) {
        for (const ds of datasets) {
          const got = await ds.nearest(ra0, dec0, radius, { limit, columns: ["object_id"] });
          check(got, want, limit, ra0, dec0);
        }
      }
    }
  }
});

/** Every readRange and readRows call made while `work` runs: [columns, file, rows]. */
async function readsDuring(
  work: () => Promise<unknown>,
): Promise<Array<[string, number, number[]]>> {
  const proto = Source.prototype;
  const { readRange, readRows } = proto;
  const calls: Array<[string, number, number[]]> = [];
  proto.readRange = function (f, names, start, end) {
    calls.push([names.join(","), f, Array.from({ length: end - start }, (_, i) => start + i)]);
    return readRange.call(this, f, names, start, end);
  };
  proto.readRows = function (f, names, rows) {
    calls.push([names.join(","), f, Array.from(rows)]);
    return readRows.call(this, f, names, rows);
  };
  try {
    await work();
  } finally {
    proto.readRange = readRange;
    proto.readRows = readRows;
  }
  return calls;
}

test("a cone reads each block of sorted keys once, and each candidate row's ra and dec once", async () => {
  const c = 250;
  const want = brute(ra[c], dec[c], 900);
  assert.ok(want.length > 20, `${want.length} rows in the cone`);
  for (const ds of datasets) {
    await ds.nearest(ra[c], dec[c], 900, { limit: 0 }); // the files' kept keys are read once
    let got: Awaited<ReturnType<Dataset["nearest"]>> | undefined;
    const calls = await readsDuring(async () => {
      got = await ds.nearest(ra[c], dec[c], 900, { limit: 5, columns: ["object_id"] });
    });
    check(got!, want, 5, ra[c], dec[c]);
    const keyBlocks = calls
      .filter(([names]) => names === "_healpix_29")
      .map(([, f, rows]) => `${f}:${rows[0]}:${rows.length}`);
    assert.equal(new Set(keyBlocks).size, keyBlocks.length, `key blocks read twice: ${keyBlocks}`);
    const positions = calls
      .filter(([names]) => names.includes("ra") || names.includes("dec"))
      .flatMap(([names, f, rows]) => rows.map((r) => `${names}:${f}:${r}`));
    // The cone's rows are read once for the test, not again as the columns asked of the scan.
    assert.equal(new Set(positions).size, positions.length, "a row's ra/dec read twice");
  }
});

test("limit 0 reads no row but counts them; truncated says rows were left out", async () => {
  const ds = datasets[1];
  const want = brute(ra[3], dec[3], 900);
  assert.ok(want.length > 5, `${want.length} rows in the cone`);
  const none = await ds.nearest(ra[3], dec[3], 900, { limit: 0 });
  assert.equal(none.length, 0);
  assert.equal(none.matched, want.length);
  assert.equal(none.truncated, true);
  assert.equal(none.distArcsec.length, 0);
  assert.deepEqual(Object.keys(none.columns), ds.columns);
  for (const v of Object.values(none.columns)) assert.equal(v.length, 0);
  const all = await ds.nearest(ra[3], dec[3], 900, { limit: want.length });
  assert.equal(all.truncated, false);
  assert.equal(all.length, want.length);
  // The default limit is 100.
  const wide = brute(ra[3], dec[3], 7200);
  assert.ok(wide.length > 100, `${wide.length}`);
  const d = await ds.nearest(ra[3], dec[3], 7200, { columns: ["object_id"] });
  assert.equal(d.length, 100);
  assert.equal(d.matched, wide.length);
  assert.equal(d.truncated, true);
});

test("columns (groups too) of the returned rows are the rows' own; filters of the view apply", async () => {
  const ds = datasets[2].filter("tract == 9803");
  const ra0 = ra[40];
  const dec0 = dec[40];
  const want = brute(ra0, dec0, 3600, (i) => tract[i] === 9803);
  assert.ok(want.length >= 3, `${want.length}`);
  const got = await ds.nearest(ra0, dec0, 3600, { limit: 3, columns: ["object_id", "image"] });
  check(got, want, 3, ra0, dec0);
  assert.ok(got.columns.image_array && got.columns.image_band, "the image group expanded");
  assert.deepEqual(got.shapes.image_array, [3, 4, 4]);
  const img = got.columns.image_array as Float32Array;
  for (let k = 0; k < got.length; k++) {
    const i = byId.get((got.columns.object_id as BigInt64Array)[k])!;
    assert.deepEqual(img.subarray(k * 48, (k + 1) * 48), image.subarray(i * 48, (i + 1) * 48));
  }
});

test("bad limits and cones are usage errors", async () => {
  const ds = datasets[0];
  for (const limit of [-1, 1.5, Number.NaN]) {
    await assert.rejects(ds.nearest(10, 10, 5, { limit }), UsageError, String(limit));
  }
  await assert.rejects(ds.nearest(10, 95, 5), UsageError);
  await assert.rejects(ds.nearest(10, 10, 0), UsageError);
});
