// The out-of-core cross-match against the in-memory kernel on the same points (one global
// match: the border-free answer) and against astropy: the same catalogs split into many
// files per pixel, or one file per pixel, must give the identical pair set.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/dataset/index.ts";
import { UsageError } from "../../src/errors.ts";
import { boundaries } from "../../src/sky/index.ts";
import type { ColumnSpec } from "../../src/storage/columns.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { crossMatch, type MatchCatalog } from "../../src/xmatch/crossmatch.ts";
import { matchAll, matchNearest, type Points } from "../../src/xmatch/kernel.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { mulberry32, skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-xmatch-");

/** Left: clumps, poles, RA 0, duplicates, and points on order-4 pixel borders. */
function leftPoints(): Points & { ra: Float64Array; dec: Float64Array } {
  const base = skyPoints(700, 11, 0.04);
  const rand = mulberry32(5);
  const ra: number[] = Array.from(base.ra);
  const dec: number[] = Array.from(base.dec);
  for (const pix of [0, 767, 2000, 3071]) {
    for (const p of boundaries(4, pix, 8)) {
      for (let j = 0; j < 3; j++) {
        dec.push(Math.max(-90, Math.min(90, p.dec + (rand() - 0.5) / 1800)));
        ra.push((p.ra + (rand() - 0.5) / 1800 + 360) % 360);
      }
    }
  }
  return { ra: Float64Array.from(ra), dec: Float64Array.from(dec) };
}

/** Right: copies of left points moved by up to ~40 arcsec (across borders), plus its own. */
function rightPoints(left: { ra: Float64Array; dec: Float64Array }) {
  const rand = mulberry32(9);
  const own = skyPoints(500, 12, 0.04);
  const n = left.ra.length;
  const ra = new Float64Array(n + own.ra.length);
  const dec = new Float64Array(n + own.ra.length);
  for (let i = 0; i < n; i++) {
    const d = Math.max(-90, Math.min(90, left.dec[i]! + (rand() - 0.5) / 45));
    const c = Math.max(0.01, Math.cos((d * Math.PI) / 180));
    ra[i] = (left.ra[i]! + (rand() - 0.5) / 45 / c + 360) % 360;
    dec[i] = d;
  }
  ra.set(own.ra, n);
  dec.set(own.dec, n);
  return { ra, dec };
}

const L = leftPoints();
const R = rightPoints(L);

const LEFT_COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "mag", dtype: "float32", shape: [] },
];
const RIGHT_COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "string", shape: [], stringLength: 12 },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "z", dtype: "float64", shape: [] },
  { name: "mag", dtype: "float32", shape: [] },
];

async function writeLeft(root: string, maxRowsPerFile: number, p: Points = L) {
  const n = p.ra.length;
  await writeDataset(
    root,
    LEFT_COLUMNS,
    [
      {
        object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
        ra: Float64Array.from(p.ra),
        dec: Float64Array.from(p.dec),
        mag: Float32Array.from({ length: n }, (_, i) => 20 + (i % 7)),
      },
    ],
    { config: "main", provenance: { survey: "LEFT" }, maxRowsPerFile, compression: "none" },
  );
  return openDataset(root);
}

async function writeRight(root: string, maxRowsPerFile: number) {
  const n = R.ra.length;
  await writeDataset(
    root,
    RIGHT_COLUMNS,
    [
      {
        object_id: Array.from({ length: n }, (_, i) => `r${i}`),
        ra: R.ra,
        dec: R.dec,
        z: Float64Array.from({ length: n }, (_, i) => i / 1000),
        mag: Float32Array.from({ length: n }, (_, i) => 15 + (i % 5)),
      },
    ],
    { config: "dr1", provenance: { survey: "RIGHT" }, maxRowsPerFile, compression: "none" },
  );
  return openDataset(root);
}

const leftMany = await writeLeft(join(dir, "left-many"), 40);
const leftOne = await writeLeft(join(dir, "left-one"), 1_000_000);
const rightMany = await writeRight(join(dir, "right-many"), 30);
const rightOne = await writeRight(join(dir, "right-one"), 1_000_000);

/** Pair set keyed by original indices (left id is the index; right id is "r<index>"). */
function pairSet(c: MatchCatalog): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < c.length; i++) {
    const key = `${Number(c.left_object_id[i])}:${String(c.right_object_id[i]).slice(1)}`;
    assert.ok(!m.has(key), `pair ${key} twice`);
    m.set(key, c.sep_arcsec[i]!);
  }
  return m;
}

function assertSame(got: Map<string, number>, want: Map<string, number>, what: string) {
  const missing = [...want.keys()].filter((k) => !got.has(k));
  const extra = [...got.keys()].filter((k) => !want.has(k));
  assert.deepEqual(missing, [], `${what}: pairs lost`);
  assert.deepEqual(extra, [], `${what}: pairs not in the reference`);
  for (const [k, s] of want) {
    assert.ok(Math.abs(got.get(k)! - s) <= 1e-6, `${what}: ${k} ${got.get(k)} vs ${s}`);
  }
}

function kernelSet(radiusArcsec: number, nearest?: number): Map<string, number> {
  const p = nearest
    ? matchNearest(L, R, radiusArcsec / 3600, { k: nearest })
    : matchAll(L, R, radiusArcsec / 3600);
  const m = new Map<string, number>();
  for (let i = 0; i < p.left.length; i++) m.set(`${p.left[i]}:${p.right[i]}`, p.sepDeg[i]! * 3600);
  return m;
}

test("the layouts really differ: many files per pixel vs one", () => {
  const count = (files: Array<{ pixel: number }>) => {
    const m = new Map<number, number>();
    for (const f of files) m.set(f.pixel, (m.get(f.pixel) ?? 0) + 1);
    return m;
  };
  const many = [...count(rightMany.manifest.files).values()].filter((c) => c > 1).length;
  assert.ok(many >= 5, `${many} right pixels with several files`);
  assert.ok(
    [...count(leftMany.manifest.files).values()].some((c) => c > 1),
    "a left pixel with several files",
  );
  assert.ok(
    rightOne.manifest.files.length < rightMany.manifest.files.length,
    "fewer files in the one-file layout",
  );
  assert.ok(
    count(leftOne.manifest.files).size > 10,
    `${count(leftOne.manifest.files).size} pixels`,
  );
});

test("mode all: every layout gives the global kernel's pair set (1, 30, 600 arcsec)", async () => {
  for (const r of [1, 30, 600]) {
    const want = kernelSet(r);
    assert.ok(want.size > 100, `r=${r}: ${want.size} pairs`);
    for (const [ln, left] of [
      ["many", leftMany],
      ["one", leftOne],
    ] as const) {
      for (const [rn, right] of [
        ["many", rightMany],
        ["one", rightOne],
      ] as const) {
        const { catalog } = await crossMatch(left, right, { radiusArcsec: r, mode: "all" });
        assertSame(pairSet(catalog), want, `r=${r}" left ${ln} right ${rn}`);
      }
    }
  }
});

/**
 * Nearest-k answers compared per left row as sorted separations: exact ties (points clamped
 * onto a pole, duplicates) may pick different right rows of equal separation, since ties go
 * to the lower row position and the partitioned layout orders rows by HEALPix key.
 */
function assertSameNearest(got: Map<string, number>, want: Map<string, number>, what: string) {
  const perLeft = (m: Map<string, number>) => {
    const out = new Map<string, number[]>();
    for (const [k, s] of m) {
      const l = k.split(":")[0]!;
      out.set(
        l,
        [...(out.get(l) ?? []), s].sort((a, b) => a - b),
      );
    }
    return out;
  };
  const g = perLeft(got);
  const w = perLeft(want);
  assert.deepEqual([...g.keys()].sort(), [...w.keys()].sort(), `${what}: matched left rows`);
  for (const [l, seps] of w) {
    const mine = g.get(l)!;
    assert.equal(mine.length, seps.length, `${what}: left ${l}`);
    for (const [i, s] of seps.entries()) {
      assert.ok(Math.abs(mine[i]! - s) <= 1e-6, `${what}: left ${l}`);
    }
  }
}

test("radius larger than a pixel (4 deg, nearest 3): wider neighbourhoods, same answer", async () => {
  const want = kernelSet(4 * 3600, 3);
  const { catalog } = await crossMatch(leftMany, rightMany, {
    radiusArcsec: 4 * 3600,
    mode: "nearest",
    nNeighbors: 3,
  });
  assert.equal(catalog.length, want.size);
  assertSameNearest(pairSet(catalog), want, "4 deg nearest 3");
});

test("mode nearest, how left: one row per left row, locations and examples agree", async () => {
  const { catalog, dataset } = await crossMatch(leftMany, rightMany, {
    radiusArcsec: 20,
    how: "left",
  });
  assert.equal(catalog.length, L.ra.length);
  const want = kernelSet(20, 1);
  const matched = new Map<string, number>();
  let unmatched = 0;
  for (let i = 0; i < catalog.length; i++) {
    if (catalog.right_object_id[i] === null) {
      unmatched++;
      assert.ok(Number.isNaN(catalog.sep_arcsec[i]));
      assert.equal(catalog.right_row[i], -1);
    } else {
      matched.set(
        `${Number(catalog.left_object_id[i])}:${String(catalog.right_object_id[i]).slice(1)}`,
        catalog.sep_arcsec[i]!,
      );
    }
  }
  assert.ok(unmatched > 0 && matched.size > 0);
  assertSameNearest(matched, want, "nearest 20 arcsec");
  // ra/dec/healpix are the left row's; file + row locate it.
  for (const i of [0, 17, catalog.length - 1]) {
    const id = Number(catalog.left_object_id[i]);
    assert.equal(catalog.ra[i], L.ra[id]);
    assert.equal(catalog.dec[i], L.dec[id]);
    assert.ok(catalog.left_file[i]!.includes(`healpix=${catalog.healpix[i]}/`));
  }
  assert.equal(dataset.length, catalog.length);
  const k = catalog.right_object_id.findIndex((x) => x !== null);
  const ex = await dataset.get(k);
  assert.equal(ex.left.object_id, catalog.left_object_id[k]);
  assert.equal(ex.right?.object_id, catalog.right_object_id[k]);
  assert.equal(ex.sep_arcsec, catalog.sep_arcsec[k]);
  const j = catalog.right_object_id.indexOf(null);
  assert.equal((await dataset.get(j)).right, null);
  await assert.rejects(dataset.get(catalog.length), UsageError);
});

test("reads only the right files near the left pixel", async () => {
  // A left dataset inside one small region: the right files elsewhere are never opened.
  const ra = Float64Array.from({ length: 50 }, (_, i) => 150 + i / 1000);
  const dec = Float64Array.from({ length: 50 }, () => 2.2);
  const small = await writeLeft(join(dir, "left-small"), 1000, { ra, dec });
  const { stats } = await crossMatch(small, rightMany, { radiusArcsec: 5 });
  assert.equal(stats.pixels, 1);
  assert.ok(
    stats.rightFilesRead < rightMany.manifest.files.length / 10,
    `${stats.rightFilesRead} of ${rightMany.manifest.files.length} right files`,
  );
});

test("saveToDisk writes the left columns, right.* columns and sep_arcsec", async () => {
  const { catalog, dataset } = await crossMatch(leftMany, rightMany, { radiusArcsec: 10 });
  const out = join(dir, "saved");
  await dataset.saveToDisk(out);
  const saved = await openDataset(out);
  assert.equal(saved.length, catalog.length);
  for (const c of [
    "object_id",
    "ra",
    "dec",
    "mag",
    "right.object_id",
    "right.z",
    "right.mag",
    "sep_arcsec",
  ]) {
    assert.ok(saved.columns.includes(c), `saved has ${c}: ${saved.columns.join(", ")}`);
  }
  const seen = new Map<string, number>();
  for await (const b of saved.batches({
    size: 1000,
    columns: ["object_id", "right.object_id", "right.z", "sep_arcsec"],
  })) {
    const ids = b.columns.object_id as BigInt64Array;
    const rids = b.columns["right.object_id"] as string[];
    const z = b.columns["right.z"] as Float64Array;
    for (let i = 0; i < ids.length; i++) {
      const r = Number(rids[i]!.slice(1));
      assert.equal(z[i], r / 1000, "right columns travel with their row");
      seen.set(`${ids[i]}:${r}`, (b.columns.sep_arcsec as Float64Array)[i]!);
    }
  }
  assertSame(seen, pairSet(catalog), "saved pairs");
});

test("bad options are UsageErrors", async () => {
  await assert.rejects(crossMatch(leftOne, rightOne, { radiusArcsec: 0 }), UsageError);
  await assert.rejects(
    crossMatch(leftOne, rightOne, { radiusArcsec: 1, nNeighbors: 0 }),
    UsageError,
  );
  await assert.rejects(
    crossMatch(leftOne.filter("mag > 21"), rightOne, { radiusArcsec: 1 }),
    /left dataset/,
  );
});

test("astropy search_around_sky on the same catalogs gives the out-of-core pair set", {
  skip: referenceSkip(["astropy", "numpy"]),
}, async () => {
  const r = 25;
  const out = JSON.parse(
    runPython(
      `
import json, sys
import numpy as np, astropy.units as u
from astropy.coordinates import SkyCoord, search_around_sky
d = json.load(sys.stdin)
c1 = SkyCoord(np.array(d["l"][0]) * u.deg, np.array(d["l"][1]) * u.deg)
c2 = SkyCoord(np.array(d["r"][0]) * u.deg, np.array(d["r"][1]) * u.deg)
i1, i2, s, _ = search_around_sky(c1, c2, d["radius"] * u.arcsec)
print(json.dumps([i1.tolist(), i2.tolist(), s.to_value(u.arcsec).tolist()]))
`,
      [],
      JSON.stringify({
        l: [Array.from(L.ra), Array.from(L.dec)],
        r: [Array.from(R.ra), Array.from(R.dec)],
        radius: r,
      }),
    ),
  ) as [number[], number[], number[]];
  const want = new Map<string, number>();
  for (const [i, l] of out[0].entries()) want.set(`${l}:${out[1][i]}`, out[2][i]!);
  assert.ok(want.size > 300, `${want.size} pairs`);
  const { catalog } = await crossMatch(leftMany, rightMany, { radiusArcsec: r, mode: "all" });
  assertSame(pairSet(catalog), want, "astropy 25 arcsec");
});
