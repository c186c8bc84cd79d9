// The out-of-core cross-match against the in-memory kernel on the same points (one global
// match: the border-free answer) and against astropy: the same catalogs split into many
// files per pixel, or one file per pixel, must give the identical pair set.
import assert from "node:assert/strict";
import { cp, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { ManifestMismatchError, UsageError } from "../../src/core/errors.ts";
import { concatenate, type Dataset, openDataset } from "../../src/dataset/index.ts";
import { boundaries } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import {
  type CrossMatchOptions,
  catalogRow,
  crossMatch,
  type MatchCatalog,
} from "../../src/xmatch/crossmatch.ts";
import { matchAll, matchNearest, type Points } from "../../src/xmatch/kernel.ts";
import type { CutOptions } from "../../src/xmatch/neighbourhood.ts";
import { planUnits, sideTable } from "../../src/xmatch/plan.ts";
import { runUnits } from "../../src/xmatch/workers.ts";
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

/** Every column of two catalogs, value for value and in the same order. */
function assertSameCatalog(a: MatchCatalog, b: MatchCatalog, what: string) {
  assert.equal(a.length, b.length, `${what}: rows`);
  for (const key of Object.keys(a) as Array<keyof MatchCatalog>) {
    const x = a[key];
    const y = b[key];
    if (ArrayBuffer.isView(x) || Array.isArray(x))
      assert.deepEqual(
        Array.from(x as ArrayLike<unknown>),
        Array.from(y as ArrayLike<unknown>),
        `${what}: ${key}`,
      );
    else assert.equal(x, y, `${what}: ${key}`);
  }
}

/**
 * crossMatch both ways: both sides whole in one call (`inMemory`), and by units (several, in
 * this thread); the two catalogs must be identical. Returns the first.
 */
async function both(left: Dataset, right: Dataset, options: CrossMatchOptions, unitRows = 150) {
  const whole = await crossMatch(left, right, { ...options, inMemory: true });
  assert.equal(whole.stats.inMemory, true);
  const units = await crossMatch(left, right, {
    ...options,
    inMemory: false,
    threads: 0,
    unitRows,
  });
  assert.equal(units.stats.inMemory, false);
  assertSameCatalog(whole.catalog, units.catalog, JSON.stringify(options));
  assert.equal(whole.stats.leftMatched, units.stats.leftMatched);
  assert.equal(whole.stats.leftRows, units.stats.leftRows);
  return whole;
}

function kernelSet(radiusArcsec: number, nearest?: number, minArcsec = 0): Map<string, number> {
  const minRadiusDeg = minArcsec / 3600;
  const p = nearest
    ? matchNearest(L, R, radiusArcsec / 3600, { k: nearest, minRadiusDeg })
    : matchAll(L, R, radiusArcsec / 3600, { minRadiusDeg });
  const m = new Map<string, number>();
  for (let i = 0; i < p.left.length; i++) m.set(`${p.left[i]}:${p.right[i]}`, p.sepDeg[i]! * 3600);
  return m;
}

test("the layouts really differ: many files per pixel vs files of several pixels", () => {
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
  // The one-file layout puts sparse neighbouring pixels in shared files (runs of pixels).
  const covered = leftOne.manifest.files.reduce((n, f) => n + (f.pixels ?? 1), 0);
  assert.ok(covered > 10, `${covered} pixels`);
  assert.ok(
    leftOne.manifest.files.some((f) => (f.pixels ?? 1) > 1),
    "a left file covering a run of pixels",
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
        const { catalog } = await both(left, right, { radiusArcsec: r, mode: "all" });
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
  const { catalog } = await both(leftMany, rightMany, {
    radiusArcsec: 4 * 3600,
    mode: "nearest",
    nNeighbors: 3,
  });
  assert.equal(catalog.length, want.size);
  assertSameNearest(pairSet(catalog), want, "4 deg nearest 3");
});

test("mode nearest, how left: one row per left row, locations and examples agree", async () => {
  const { catalog, dataset } = await both(leftMany, rightMany, {
    radiusArcsec: 20,
    how: "left",
  });
  assert.equal(catalog.length, L.ra.length);
  const want = kernelSet(20, 1);
  const matched = new Map<string, number>();
  let unmatched = 0;
  for (let i = 0; i < catalog.length; i++) {
    if (catalog.matched[i] === 0) {
      unmatched++;
      assert.ok(Number.isNaN(catalog.sep_arcsec[i]));
      assert.equal(catalog.right_row[i], -1);
      assert.equal(catalog.right_index[i], -1);
      assert.equal(catalog.right_file[i], -1);
      assert.equal(catalogRow(catalog, i).right_object_id, null);
      assert.equal(catalogRow(catalog, i, { locations: true }).right_file, null);
    } else {
      matched.set(
        `${Number(catalog.left_object_id[i])}:${String(catalog.right_object_id[i]).slice(1)}`,
        catalog.sep_arcsec[i]!,
      );
    }
  }
  assert.ok(unmatched > 0 && matched.size > 0);
  assertSameNearest(matched, want, "nearest 20 arcsec");
  // left_ra/left_dec are the left row's, right_ra/right_dec the right row's.
  for (const i of [0, 17, catalog.length - 1]) {
    const id = Number(catalog.left_object_id[i]);
    assert.equal(catalog.left_ra[i], L.ra[id]);
    assert.equal(catalog.left_dec[i], L.dec[id]);
    if (catalog.matched[i] === 1) {
      const r = Number(String(catalog.right_object_id[i]).slice(1));
      assert.equal(catalog.right_ra[i], R.ra[r]);
      assert.equal(catalog.right_dec[i], R.dec[r]);
    } else assert.ok(Number.isNaN(catalog.right_ra[i]) && Number.isNaN(catalog.right_dec[i]));
  }
  // left_file / left_row (right_file / right_row) name the stored row, relative to each root.
  assert.equal(catalog.left_root, join(dir, "left-many"));
  assert.equal(catalog.right_root, join(dir, "right-many"));
  for (const i of [0, 17, 100, catalog.length - 1]) {
    const read = async (root: string, files: string[], f: number, row: number) => {
      assert.ok(!files[f]!.startsWith("/") && files[f]!.includes("healpix="), files[f]);
      const file = await PartitionFile.open(join(root, files[f]!));
      try {
        return file.readRows(["object_id"], [row]).object_id![0];
      } finally {
        file.close();
      }
    };
    const lf = catalog.left_file[i]!;
    assert.equal(
      await read(catalog.left_root, catalog.left_files, lf, catalog.left_row[i]!),
      catalog.left_object_id[i],
    );
    assert.equal(leftMany.manifest.files[lf]!.path, catalog.left_files[lf]);
    if (catalog.matched[i] === 1) {
      const rf = catalog.right_file[i]!;
      assert.equal(
        await read(catalog.right_root, catalog.right_files, rf, catalog.right_row[i]!),
        catalog.right_object_id[i],
      );
    }
  }
  assert.equal(dataset.length, catalog.length);
  const k = catalog.matched.indexOf(1);
  const ex = await dataset.get(k);
  assert.equal(ex.left.object_id, catalog.left_object_id[k]);
  assert.equal(ex.right?.object_id, catalog.right_object_id[k]);
  assert.equal(ex.sep_arcsec, catalog.sep_arcsec[k]);
  const j = catalog.matched.indexOf(0);
  assert.equal((await dataset.get(j)).right, null);
  await assert.rejects(dataset.get(catalog.length), UsageError);
});

test("reads only the right files near the left pixel", async () => {
  // A left dataset inside one small region: the right files elsewhere are never opened.
  const ra = Float64Array.from({ length: 50 }, (_, i) => 150 + i / 1000);
  const dec = Float64Array.from({ length: 50 }, () => 2.2);
  const small = await writeLeft(join(dir, "left-small"), 1000, { ra, dec });
  const { stats } = await crossMatch(small, rightMany, { radiusArcsec: 5, inMemory: false });
  assert.equal(stats.units, 1);
  assert.ok(
    stats.rightRowsRead < rightMany.length / 10,
    `${stats.rightRowsRead} of ${rightMany.length} right rows read`,
  );
});

test("saveToDisk writes the left columns, right.* columns and sep_arcsec", async () => {
  const { catalog, dataset } = await crossMatch(leftMany, rightMany, { radiusArcsec: 10 });
  const out = join(dir, "saved");
  await dataset.saveToDisk(out);
  const saved = await openDataset(out);
  assert.equal(saved.length, catalog.length);
  assert.equal(saved.provenance.crossmatch, '10 arcsec, right columns prefixed "right."');
  for (const c of [
    "object_id",
    "ra",
    "dec",
    "mag",
    "right.object_id",
    "right.z",
    "right.mag",
    "sep_arcsec",
    "matched",
  ]) {
    assert.ok(saved.columns.includes(c), `saved has ${c}: ${saved.columns.join(", ")}`);
  }
  const seen = new Map<string, number>();
  for await (const b of saved.batches({
    size: 1000,
    columns: ["object_id", "right.object_id", "right.z", "sep_arcsec", "matched"],
  })) {
    assert.ok((b.columns.matched as Uint8Array).every((m) => m === 1));
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

test("saveToDisk with how left keeps unmatched left rows, marked and NaN-filled", async () => {
  const { catalog, dataset } = await crossMatch(leftMany, rightMany, {
    radiusArcsec: 5,
    how: "left",
  });
  const out = join(dir, "saved-left");
  await dataset.saveToDisk(out);
  const saved = await openDataset(out);
  assert.equal(saved.length, catalog.length);
  assert.equal(saved.length, L.ra.length);
  let unmatched = 0;
  for await (const b of saved.batches({
    size: 500,
    columns: ["object_id", "matched", "sep_arcsec", "right.z", "right.object_id"],
  })) {
    const m = b.columns.matched as Uint8Array;
    for (let i = 0; i < m.length; i++) {
      const z = (b.columns["right.z"] as Float64Array)[i]!;
      const sep = (b.columns.sep_arcsec as Float64Array)[i]!;
      if (m[i] === 0) {
        unmatched++;
        assert.ok(Number.isNaN(z) && Number.isNaN(sep));
        assert.equal((b.columns["right.object_id"] as string[])[i], "");
      } else {
        assert.ok(!Number.isNaN(z) && sep <= 5);
      }
    }
  }
  assert.equal(unmatched, catalog.matched.filter((x) => x === 0).length);
  assert.ok(unmatched > 0);
});

test("worker threads, small units and right slices give the same answers", async () => {
  for (const [mode, k] of [
    ["all", 1],
    ["nearest", 3],
  ] as const) {
    const want = kernelSet(60, mode === "all" ? undefined : k);
    const { catalog, stats } = await crossMatch(leftMany, rightMany, {
      radiusArcsec: 60,
      mode,
      nNeighbors: k,
      threads: 2,
      unitRows: 97,
      rightSliceRows: 50,
    });
    assert.equal(stats.threads, 2);
    assert.ok(stats.units > 5, `${stats.units} units`);
    if (mode === "all") assertSame(pairSet(catalog), want, "threads all");
    else assertSameNearest(pairSet(catalog), want, "threads nearest 3");
    // Rows stay grouped by left row in storage order.
    for (let i = 1; i < catalog.length; i++)
      assert.ok(catalog.left_index[i - 1]! <= catalog.left_index[i]!);
  }
});

test("workers started from an entry given by the caller give the same answer", async () => {
  const { table: left } = await sideTable(leftMany, "left");
  const { table: right } = await sideTable(rightMany, "right");
  const units = planUnits(left, 200);
  const spec = {
    radiusDeg: 30 / 3600,
    mode: "all" as const,
    k: 1,
    how: "inner" as const,
    sliceRows: 1e6,
  };
  const rows: Array<[number, number]> = [];
  await runUnits({
    units,
    left,
    right,
    spec,
    threads: 2,
    script: new URL("../../src/xmatch/match-worker.dev.mjs", import.meta.url),
    onResult: (r) => {
      for (let i = 0; i < r.leftRow.length; i++) rows.push([r.leftRow[i]!, r.rightRow[i]!]);
    },
  });
  const { catalog } = await crossMatch(leftMany, rightMany, {
    radiusArcsec: 30,
    mode: "all",
    threads: 0,
  });
  const key = (l: number, r: number) => `${l}:${r}`;
  assert.deepEqual(
    rows.map(([l, r]) => key(l, r)).sort(),
    Array.from(catalog.left_index, (l, i) => key(l, catalog.right_index[i]!)).sort(),
  );
  assert.ok(rows.length > 100);
});

test("minRadiusArcsec: layouts, threads, small units and right slices give the kernel's pairs", async () => {
  const min = 5;
  const want = kernelSet(30, undefined, min);
  const without = kernelSet(30);
  assert.ok(want.size > 100 && want.size < without.size, `${want.size} of ${without.size} pairs`);
  for (const [left, right] of [
    [leftMany, rightMany],
    [leftOne, rightOne],
  ] as const) {
    const { catalog } = await both(left, right, {
      radiusArcsec: 30,
      minRadiusArcsec: min,
      mode: "all",
    });
    assertSame(pairSet(catalog), want, 'all 30" min 5"');
    assert.ok(catalog.sep_arcsec.every((s) => s >= min && s <= 30));
  }
  for (const [mode, k] of [
    ["all", 1],
    ["nearest", 1],
    ["nearest", 3],
  ] as const) {
    const wantK = kernelSet(60, mode === "all" ? undefined : k, min);
    const { catalog, stats } = await crossMatch(leftMany, rightMany, {
      radiusArcsec: 60,
      minRadiusArcsec: min,
      mode,
      nNeighbors: k,
      threads: 2,
      unitRows: 97,
      rightSliceRows: 50,
    });
    assert.equal(stats.threads, 2);
    // Slices are merged after the kernel's filter: the k nearest at >= min, not fewer.
    if (mode === "all") assertSame(pairSet(catalog), wantK, 'threads all min 5"');
    else assertSameNearest(pairSet(catalog), wantK, `threads nearest ${k} min 5"`);
  }
});

test("minRadiusArcsec: a dataset matched with itself gives each object's nearest other object", async () => {
  const minDeg = 1e-6 / 3600;
  const near = matchNearest(L, L, 60 / 3600, { minRadiusDeg: minDeg });
  const want = new Map<string, number>();
  for (let t = 0; t < near.left.length; t++)
    want.set(`${near.left[t]}:${near.right[t]}`, near.sepDeg[t]! * 3600);
  for (const threads of [0, 2]) {
    const { catalog, dataset } = await crossMatch(leftMany, leftMany, {
      radiusArcsec: 60,
      minRadiusArcsec: 1e-6,
      threads,
      unitRows: 300,
    });
    const got = new Map<string, number>();
    for (let i = 0; i < catalog.length; i++) {
      const l = catalog.left_object_id[i];
      const r = catalog.right_object_id[i];
      assert.notEqual(l, r, "an object never matches itself");
      assert.ok(catalog.sep_arcsec[i]! > 0, "nor an exact duplicate");
      got.set(`${l}:${r}`, catalog.sep_arcsec[i]!);
    }
    assertSameNearest(got, want, `self-match, threads ${threads}`);
    assert.equal(dataset.minRadiusArcsec, 1e-6);
  }
  // Without the minimum every object is its own nearest (or an exact duplicate's).
  const { catalog } = await crossMatch(leftMany, leftMany, { radiusArcsec: 60 });
  assert.equal(catalog.length, L.ra.length);
  assert.ok(catalog.sep_arcsec.every((s) => s === 0));
});

test("minRadiusArcsec is recorded in a saved match's provenance", async () => {
  const { dataset } = await crossMatch(leftMany, rightMany, {
    radiusArcsec: 10,
    minRadiusArcsec: 0.5,
  });
  const out = join(dir, "saved-min");
  await dataset.saveToDisk(out);
  assert.equal(
    (await openDataset(out)).provenance.crossmatch,
    '10 arcsec (pairs closer than 0.5 arcsec excluded), right columns prefixed "right."',
  );
});

test("right files cut to the key ranges a unit needs still give every pair", async () => {
  // Right files cut to the key ranges a unit needs, to the row (by default keys are sampled
  // every 64 rows, spans merged across 256 and files of up to 1024 rows read whole).
  const { table: left } = await sideTable(leftMany, "left");
  for (const rightDs of [rightMany, rightOne]) {
    const { table: right } = await sideTable(rightDs, "right");
    for (const [mode, r] of [
      ["all", 30],
      ["all", 600],
      ["nearest", 4 * 3600],
    ] as const) {
      const run = async (cut: CutOptions) => {
        const rows: string[] = [];
        let read = 0;
        await runUnits({
          units: planUnits(left, 300),
          left,
          right,
          spec: { radiusDeg: r / 3600, mode, k: 3, how: "inner", sliceRows: 1e6, cut },
          threads: 0,
          onResult: (u) => {
            read += u.rightRowsRead;
            for (let i = 0; i < u.leftRow.length; i++)
              rows.push(`${u.leftRow[i]}:${u.rightRow[i]}:${u.sepArcsec[i]}`);
          },
        });
        return { rows: rows.sort(), read };
      };
      const whole = await run({ wholeFileRows: Number.POSITIVE_INFINITY });
      // Every key sampled, no spans merged: the cut is exactly the cover's key ranges.
      const cut = await run({ wholeFileRows: 0, sampleRows: 1, gapRows: 0 });
      assert.deepEqual(cut.rows, whole.rows, `${mode} ${r}"`);
      if (r <= 30)
        assert.ok(cut.read < whole.read, `cut files read fewer rows: ${cut.read} vs ${whole.read}`);
    }
  }
});

test("filtered views: only their rows take part", async () => {
  const left = leftMany.filter("mag > 21");
  const right = rightMany.filter("mag < 18");
  const keepL = Array.from({ length: L.ra.length }, (_, i) => i).filter((i) => 20 + (i % 7) > 21);
  const keepR = Array.from({ length: R.ra.length }, (_, i) => i).filter((i) => 15 + (i % 5) < 18);
  const sub = (p: { ra: Float64Array; dec: Float64Array }, keep: number[]) => ({
    ra: Float64Array.from(keep, (i) => p.ra[i]!),
    dec: Float64Array.from(keep, (i) => p.dec[i]!),
  });
  const pairs = matchAll(sub(L, keepL), sub(R, keepR), 30 / 3600);
  const want = new Map<string, number>();
  for (let t = 0; t < pairs.left.length; t++)
    want.set(`${keepL[pairs.left[t]!]}:${keepR[pairs.right[t]!]}`, pairs.sepDeg[t]! * 3600);
  assert.ok(want.size > 20, `${want.size} pairs`);
  // Whole sides (the selected rows of each) give the units' catalog.
  const whole = await both(left, right.shuffle(3), { radiusArcsec: 30, mode: "all" }, 200);
  assertSame(pairSet(whole.catalog), want, "filtered, in memory");
  for (const threads of [0, 2]) {
    const { catalog, dataset } = await crossMatch(left, right.shuffle(3), {
      radiusArcsec: 30,
      mode: "all",
      threads,
      unitRows: 200,
    });
    assertSame(pairSet(catalog), want, `filtered, threads ${threads}`);
    // Examples come from the parent rows the catalog names.
    const ex = await dataset.get(0);
    assert.equal(ex.left.object_id, catalog.left_object_id[0]);
    assert.equal(ex.right?.object_id, catalog.right_object_id[0]);
  }
});

test("a dataset without a positions sidecar is read from its partition files", async () => {
  const copy = join(dir, "right-no-sidecar");
  await cp(join(dir, "right-many"), copy, { recursive: true });
  const manifestPath = join(copy, "astropile.json");
  const m = JSON.parse(await readFile(manifestPath, "utf8"));
  await rm(join(copy, m.configs.dr1.positions.path));
  delete m.configs.dr1.positions;
  await writeFile(manifestPath, JSON.stringify(m));
  const right = await openDataset(copy);
  for (const threads of [0, 2]) {
    const { catalog, stats } = await crossMatch(leftMany, right, {
      radiusArcsec: 30,
      mode: "all",
      threads,
      unitRows: 300,
    });
    assert.equal(stats.rightSidecar, false);
    assert.equal(stats.leftSidecar, true);
    assertSame(pairSet(catalog), kernelSet(30), `no sidecar, threads ${threads}`);
  }
  const whole = await both(leftMany, right, { radiusArcsec: 30, mode: "all" }, 300);
  assert.equal(whole.stats.rightSidecar, false);
  assertSame(pairSet(whole.catalog), kernelSet(30), "no sidecar, in memory");
});

test("a truncated positions sidecar is a typed error naming the file, in a worker too", async () => {
  const copy = join(dir, "left-corrupt");
  await cp(join(dir, "left-many"), copy, { recursive: true });
  const m = JSON.parse(await readFile(join(copy, "astropile.json"), "utf8"));
  const file = join(copy, m.configs.main.positions.path);
  await truncate(file, 1000);
  const left = await openDataset(copy);
  for (const threads of [0, 2]) {
    await assert.rejects(
      crossMatch(left, rightMany, { radiusArcsec: 5, threads, unitRows: 300 }),
      (err: Error) =>
        err instanceof ManifestMismatchError &&
        err.message.includes(file) &&
        err.file === file &&
        /has 1000 bytes but the manifest says/.test(err.message),
    );
  }
});

test("bad options are UsageErrors", async () => {
  await assert.rejects(crossMatch(leftOne, rightOne, { radiusArcsec: 0 }), UsageError);
  await assert.rejects(
    crossMatch(leftOne, rightOne, { radiusArcsec: 1, nNeighbors: 0 }),
    UsageError,
  );
  await assert.rejects(crossMatch(leftOne, rightOne, { radiusArcsec: 1, threads: -1 }), UsageError);
  await assert.rejects(crossMatch(leftOne, rightOne, { radiusArcsec: 1, unitRows: 0 }), UsageError);
  for (const min of [-1, Number.NaN, Number.POSITIVE_INFINITY, 1, 2]) {
    await assert.rejects(
      crossMatch(leftOne, rightOne, { radiusArcsec: 1, minRadiusArcsec: min }),
      (err: Error) =>
        err instanceof UsageError &&
        err.message.includes(`minRadiusArcsec ${min} with radiusArcsec 1`),
    );
  }
  await assert.rejects(
    crossMatch(concatenate([leftOne, leftMany]), rightOne, { radiusArcsec: 1 }),
    /left dataset: cross-match needs one parent dataset/,
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
  const { catalog } = await both(leftMany, rightMany, { radiusArcsec: r, mode: "all" });
  assertSame(pairSet(catalog), want, "astropy 25 arcsec");
});
