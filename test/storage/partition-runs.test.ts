// Sparse neighbouring pixels share a file (adaptive layout): the join rule on hand-made pieces and
// on a histogram of a sky with dense and empty parts, then datasets whose files cover runs of
// pixels: paths, manifest, cone searches against brute force, and tampered entries refused.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { makeUnits } from "../../src/build/plan.ts";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { ManifestError } from "../../src/core/errors.ts";
import { openDataset, pixelSummaries } from "../../src/dataset/index.ts";
import { coverageOf } from "../../src/server/routes-coverage.ts";
import { ang2pixNumber, angularSeparationDeg } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { KEY_ORDER, parsePartitionPath, pixelKeyRange } from "../../src/storage/layout.ts";
import { fileOrder, filePixels, readManifest } from "../../src/storage/manifest.ts";
import {
  CellHistogram,
  CellIndex,
  choosePartitions,
  mergeSparse,
  type PartitionPiece,
} from "../../src/storage/partitioning.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { sortedObjectIds } from "../helpers/object-ids.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const TARGET = { rowBytes: 40, maxRows: 1600, maxBytes: 2 ** 30 };

/** A whole pixel (or run) as a piece. */
function whole(order: number, pixel: number, rows: number, pixels = 1): PartitionPiece {
  const [keyLo, keyHi] = pixelKeyRange(order, pixel, pixels);
  return { order, pixel, ...(pixels === 1 ? {} : { pixels }), keyLo, keyHi, rows };
}

test("the join rule: touching whole pixels, one of them under a sixteenth of the target, together within a quarter", () => {
  // 1600-row target: small is under 100 rows, a shared file at most 400.
  const joined = mergeSparse(
    [
      whole(0, 0, 30), // joins the next (small)
      whole(1, 4, 200), // order 1 pixel 4 = the first quarter of order-0 pixel 1
      whole(1, 5, 10), // small, joins: the run is now order 1, pixels 0..5, 240 rows
      whole(1, 6, 300), // 540 would be over a quarter: a file of its own
      whole(1, 7, 150), // neither small: apart
      // order-0 pixel 2 holds no rows: a gap, nothing joins across it
      whole(0, 3, 20),
      whole(0, 4, 20), // 40 rows, order 0 pixels 3..4
      // The first part of order-1 pixel 20 (touching the run before it), small: a part stays apart.
      { order: 1, pixel: 20, keyLo: 5n << 58n, keyHi: (5n << 58n) + (1n << 40n), rows: 5 },
    ],
    TARGET,
  );
  assert.deepEqual(
    joined.map((p) => [p.order, p.pixel, p.pixels ?? 1, p.rows]),
    [
      [1, 0, 6, 240],
      [1, 6, 1, 300],
      [1, 7, 1, 150],
      [0, 3, 2, 40],
      [1, 20, 1, 5],
    ],
  );
  // A run's key range is the whole run's.
  for (const p of joined) {
    if (p.pixels === undefined) continue;
    assert.deepEqual([p.keyLo, p.keyHi], pixelKeyRange(p.order, p.pixel, p.pixels));
  }
  // Big neighbours stay apart; bytes count as rows do.
  assert.equal(mergeSparse([whole(0, 0, 500), whole(0, 1, 500)], TARGET).length, 2);
  assert.equal(
    mergeSparse([whole(0, 0, 10), whole(0, 1, 10)], { ...TARGET, maxBytes: 40 * 100 }).length,
    2,
    "10 rows of 40 bytes are not under a sixteenth of 4,000 bytes",
  );
});

/** Keys of a sky: a dense patch (finer pixels there), a sparse all-sky spread, empty caps. */
function skyKeys(n: number, seed: number): BigInt64Array {
  const rand = mulberry32(seed);
  const out = new BigInt64Array(n);
  const top = 12 * 4 ** 12;
  for (let i = 0; i < n; i++) {
    // Cells at order 12 then a random key inside: order-0 pixels 0, 1 and 7 hold none.
    const dense = i % 40 !== 0;
    let cell = dense ? 5 * 4 ** 12 + Math.floor(rand() * 4 ** 9) : Math.floor(rand() * top);
    const base = Math.floor(cell / 4 ** 12);
    if (base === 0 || base === 1 || base === 7) cell += 2 * 4 ** 12;
    out[i] = (BigInt(cell) << BigInt(2 * (KEY_ORDER - 12))) + BigInt(Math.floor(rand() * 2 ** 30));
  }
  return out;
}

test("chosen partitions: every row once, runs only of touching whole pixels, no small piece left that could join", () => {
  const keys = skyKeys(40_000, 7);
  const hist = new CellHistogram();
  hist.addKeys(keys);
  const index = new CellIndex(hist);
  // Small is under 250 rows: the sparse sky's ~110 rows an order-0 pixel join, up to 1000.
  const target = { ...TARGET, maxRows: 4000 };
  const pieces = choosePartitions(hist, { layout: "adaptive", ...target });
  assert.equal(
    pieces.reduce((n, p) => n + p.rows, 0),
    keys.length,
  );
  const isWhole = (p: PartitionPiece) => {
    const [lo, hi] = pixelKeyRange(p.order, p.pixel, p.pixels ?? 1);
    return p.keyLo === lo && p.keyHi === hi;
  };
  let runs = 0;
  for (const [i, p] of pieces.entries()) {
    if (i > 0) assert.ok(p.keyLo > pieces[i - 1]!.keyHi, "pieces in key order, disjoint");
    assert.equal(p.rows, index.rows(...index.keySpan(p.keyLo, p.keyHi)), "rows of the piece");
    const [lo, hi] = pixelKeyRange(p.order, p.pixel, p.pixels ?? 1);
    assert.ok(p.keyLo >= lo && p.keyHi <= hi, "inside its pixels");
    if (p.pixels !== undefined) {
      runs++;
      assert.ok(
        p.pixels >= 2 && isWhole(p) && p.rows * 4 < target.maxRows,
        `run ${p.pixel}+${p.pixels}`,
      );
    }
    const prev = pieces[i - 1];
    if (prev && isWhole(prev) && isWhole(p) && prev.keyHi + 1n === p.keyLo) {
      const small = (r: number) => r * 16 < target.maxRows;
      assert.ok(
        !((small(prev.rows) || small(p.rows)) && (prev.rows + p.rows) * 4 < target.maxRows),
        `pieces ${i - 1} and ${i} could have shared a file`,
      );
    }
  }
  assert.ok(runs >= 2, `${runs} runs of pixels`);
  // The mmu layout keeps one order-4 pixel a file.
  const mmu = choosePartitions(hist, { layout: "mmu", ...target });
  assert.ok(mmu.every((p) => p.pixels === undefined && p.order === 4));
});

test("a run of pixels larger than a build's work unit is cut into units that keep the run", () => {
  // 3,000 rows over order-0 pixels 0..2, one file's worth, cut into units of ~500 rows.
  const keys = skyKeys(3000, 3).map((k) => k % (3n << BigInt(2 * KEY_ORDER)));
  const hist = new CellHistogram();
  hist.addKeys(keys);
  const units = makeUnits([whole(0, 0, 3000, 3)], new CellIndex(hist), 40, 40 * 500);
  assert.ok(units.length >= 5, `${units.length} units`);
  assert.equal(
    units.reduce((n, u) => n + u.rows, 0),
    3000,
  );
  for (const u of units)
    for (const p of u.pieces) assert.deepEqual([p.order, p.pixel, p.pixels], [0, 0, 3]);
});

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
];

async function sparseSky(
  root: string,
  n: number,
): Promise<{ ra: Float64Array; dec: Float64Array }> {
  const rand = mulberry32(5);
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Uniform on the sphere, a third of it in a 3-degree patch, poles and RA 0/360 included.
    const patch = i % 3 === 0;
    ra[i] = patch ? 358.5 + 3 * rand() : 360 * rand();
    if (ra[i]! >= 360) ra[i]! -= 360;
    dec[i] = patch ? 10 + 3 * rand() : (Math.asin(2 * rand() - 1) * 180) / Math.PI;
  }
  ra[1] = 12;
  dec[1] = 90;
  ra[2] = 200;
  dec[2] = -89.99;
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i));
  await writeDataset(root, COLUMNS, [{ object_id: ids, ra, dec }], {
    config: "main",
    provenance: { survey: "RUNS" },
    // Small is under 1000 rows: the sky's ~670 rows an order-0 pixel join, up to 4000.
    maxRowsPerFile: 16_000,
  });
  return { ra, dec };
}

test("a sparse sky in few files: runs named healpix=N-M, cones equal brute force, summaries count each pixel", async () => {
  const root = join(tempDir("astropile-runs-"), "ds");
  const N = 12_000;
  const { ra, dec } = await sparseSky(root, N);
  const manifest = await readManifest(root);
  const runs = manifest.files.filter((f) => f.pixels !== undefined);
  assert.ok(runs.length >= 1, manifest.files.map((f) => f.path).join(", "));
  // Runs came with manifest format 2; AstroPile before them refuses it by its version.
  assert.equal(manifest.formatVersion, 2);
  for (const f of manifest.files) {
    const parsed = parsePartitionPath(f.path)!;
    assert.equal(parsed.pixel, f.pixel);
    assert.equal(parsed.pixels, filePixels(f));
    if (f.pixels !== undefined)
      assert.match(f.path, new RegExp(`/healpix=${f.pixel}-${f.pixel + f.pixels - 1}/`));
    const shift = BigInt(2 * (KEY_ORDER - fileOrder(f)));
    assert.ok(BigInt(f.keyMin) >> shift >= BigInt(f.pixel));
    assert.ok(BigInt(f.keyMax) >> shift < BigInt(f.pixel + filePixels(f)));
  }
  assert.ok(manifest.files.length < 12, `${manifest.files.length} files for ${N} rows`);
  assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
  const summary = pixelSummaries(manifest, "main");
  assert.equal(
    summary.reduce((n, p) => n + p.rows, 0),
    N,
  );
  assert.ok(summary.some((p) => p.pixels > 1));
  // `info` names runs N-M and counts every pixel of them.
  const run = summary.find((p) => p.pixels > 1)!;
  const info = execFileSync(process.execPath, cliArgs("info", root), { encoding: "utf8" });
  const pixelCount = summary.reduce((n, p) => n + p.pixels, 0);
  assert.match(
    info,
    new RegExp(
      `partitions: ${summary.length} \\(${summary.filter((p) => p.pixels > 1).length} of them runs of sparse pixels sharing files\\), ${pixelCount} HEALPix pixels`,
    ),
  );
  assert.match(
    info,
    new RegExp(`\\n\\s+${run.order}\\s+${run.pixel}-${run.pixel + run.pixels - 1}\\s`),
  );

  const ds = await openDataset(root);
  try {
    const idsIn = (view: typeof ds) => sortedObjectIds(view, 5000);
    const cones: Array<[number, number, number]> = [
      [0, 11.5, 3600],
      [359.9, 11, 600],
      [12, 90, 7200],
      [200, -89.99, 1800],
      [100, -30, 36000],
      [ra[77]!, dec[77]!, 30],
    ];
    for (const [r0, d0, radius] of cones) {
      const want: number[] = [];
      for (let i = 0; i < N; i++)
        if (angularSeparationDeg(ra[i]!, dec[i]!, r0, d0) <= radius / 3600) want.push(i);
      assert.deepEqual(await idsIn(ds.coneSearch(r0, d0, radius)), want, `${r0},${d0} ${radius}"`);
    }
    assert.equal(Number((await ds.getById(4321n))?.object_id), 4321);
    // The data service's coverage counts: from the manifest where each file lies in one pixel of
    // the order, from the positions where a run spans several; either way the rows' own count.
    for (const order of [0, 1, 3]) {
      const want = new Map<number, number>();
      for (let i = 0; i < N; i++) {
        const p = ang2pixNumber(order, ra[i]!, dec[i]!);
        want.set(p, (want.get(p) ?? 0) + 1);
      }
      const got = await coverageOf(ds, order);
      const keys = [...want.keys()].sort((a, b) => a - b);
      assert.deepEqual(got.pixels, keys, `order ${order}`);
      assert.deepEqual(
        got.counts,
        keys.map((k) => want.get(k)),
      );
    }
  } finally {
    ds.close();
  }
});

test("a run's manifest entry tampered with: its pixel count, or a run in the mmu layout, is refused", async () => {
  const root = join(tempDir("astropile-runs-tamper-"), "ds");
  await sparseSky(root, 6000);
  const path = join(root, "astropile.json");
  const good = readFileSync(path, "utf8");
  const json = JSON.parse(good);
  const at = json.files.findIndex((f: { pixels?: number }) => f.pixels !== undefined);
  assert.ok(at >= 0);
  const edit = (change: (m: typeof json) => void) => {
    const m = JSON.parse(good);
    change(m);
    writeFileSync(path, JSON.stringify(m));
  };

  // One pixel fewer: the path and the file's identity disagree with the entry.
  edit((m) => {
    m.files[at].pixels -= 1;
  });
  const problems = await verifyDataset(root);
  assert.ok(
    problems.some((p) => p.kind === "pixel" && p.file.endsWith(json.files[at].path)),
    JSON.stringify(problems),
  );
  await assert.rejects(async () => {
    const ds = await openDataset(root);
    try {
      for await (const _ of ds.batches({ size: 100_000 })) {
      }
    } finally {
      ds.close();
    }
  }, /pixel/);

  // Pixels past the order's last.
  edit((m) => {
    m.files[at].pixels = 12 * 4 ** m.files[at].order - m.files[at].pixel + 1;
  });
  await assert.rejects(
    readManifest(root),
    (e: Error) => e instanceof ManifestError && /covers pixels/.test(e.message),
  );
  // A run in a version-1 manifest (runs came with version 2).
  edit((m) => {
    m.formatVersion = 1;
  });
  await assert.rejects(
    readManifest(root),
    (e: Error) => e instanceof ManifestError && /format version 1/.test(e.message),
  );
  // A run in the mmu layout.
  edit((m) => {
    m.layout = "mmu";
    for (const f of m.files) delete f.order;
  });
  await assert.rejects(
    readManifest(root),
    (e: Error) => e instanceof ManifestError && /one pixel per file/.test(e.message),
  );
  edit(() => {});
  assert.deepEqual(await verifyDataset(root, { checksums: true }), []);

  // Without runs (the mmu layout), the manifest stays version 1, as AstroPile before runs wrote.
  const mmu = join(tempDir("astropile-runs-mmu-"), "ds");
  await writeDataset(
    mmu,
    COLUMNS,
    [
      {
        object_id: BigInt64Array.of(1n, 2n),
        ra: Float64Array.of(10, 200),
        dec: Float64Array.of(5, -40),
      },
    ],
    { config: "main", provenance: { survey: "RUNS" }, layout: "mmu" },
  );
  assert.equal((await readManifest(mmu)).formatVersion, 1);
});
