// CellHistogram and CellIndex against a plain Map count of the same keys (the reference), in
// every way counts arrive: batches of keys with runs, single adds, merges, JSON, coarsening.
import assert from "node:assert/strict";
import { test } from "node:test";
import { makeUnits } from "../../src/build/plan.ts";
import { UsageError } from "../../src/core/errors.ts";
import { KEY_ORDER, PARTITION_ORDER } from "../../src/storage/layout.ts";
import {
  CellHistogram,
  CellIndex,
  choosePartitions,
  choosePartitionsOf,
  DEFERRED_MAX_ROWS,
  DeferredCellHistogram,
} from "../../src/storage/partitioning.ts";
import { mulberry32 } from "../helpers/sky-points.ts";

const KEYS = 12n * 4n ** BigInt(KEY_ORDER);

/** n keys: half spread over the sky, half in runs around a few dense spots (clusters). */
function keys(n: number, seed: number): BigInt64Array {
  const rand = mulberry32(seed);
  const out = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const word = () => BigInt(Math.floor(rand() * 2 ** 31));
    if (i % 2 === 0) out[i] = ((word() << 31n) | word()) % KEYS;
    else
      out[i] = BigInt(1 + Math.floor(rand() * 5)) * 10n ** 17n + BigInt(Math.floor(rand() * 4e9));
  }
  return out;
}

/** The reference: a Map of rows per cell at `order`, coarsened while it holds too many cells. */
function reference(
  all: Array<[bigint, number]>,
  order: number,
  maxCells: number,
): { order: number; counts: Map<number, number> } {
  let counts = new Map<number, number>();
  for (const [key, rows] of all) {
    const cell = Number(key >> BigInt(2 * (KEY_ORDER - order)));
    counts.set(cell, (counts.get(cell) ?? 0) + rows);
  }
  while (counts.size > maxCells && order > PARTITION_ORDER) {
    const coarser = new Map<number, number>();
    for (const [cell, rows] of counts) {
      const c = Math.floor(cell / 4);
      coarser.set(c, (coarser.get(c) ?? 0) + rows);
    }
    counts = coarser;
    order--;
  }
  return { order, counts };
}

function assertSame(hist: CellHistogram, want: { order: number; counts: Map<number, number> }) {
  assert.equal(hist.order, want.order, "order");
  const got = hist.counts;
  assert.equal(got.size, want.counts.size, "occupied cells");
  for (const [cell, rows] of want.counts) assert.equal(got.get(cell), rows, `cell ${cell}`);
  let total = 0;
  for (const rows of want.counts.values()) total += rows;
  assert.equal(hist.rows, total);
  const json = hist.toJson();
  assert.deepEqual(
    json.cells,
    [...want.counts.keys()].sort((a, b) => a - b),
    "toJson lists the cells ascending",
  );
}

test("batches of keys (more runs than one sort takes) and single adds count as a Map does", () => {
  const hist = new CellHistogram();
  const all: Array<[bigint, number]> = [];
  for (let b = 0; b < 4; b++) {
    const k = keys(60_000, b + 1);
    // Sorted batches make runs; unsorted ones make a run per key.
    if (b % 2 === 1) k.sort();
    hist.addKeys(k, 100, k.length - 7);
    for (let i = 100; i < k.length - 7; i++) all.push([k[i]!, 1]);
  }
  for (let i = 0; i < 50; i++) {
    const key = BigInt(i) * 7n ** 19n;
    hist.add(key, 3);
    all.push([key, 3]);
  }
  assertSame(hist, reference(all, 12, 1 << 20));
});

test("too many cells: the resolution halves until they fit, whenever the counts arrive", () => {
  // One batch longer than the pending room (the order drops in the middle of it), then three
  // shorter ones.
  for (const [maxCells, batch, batches] of [
    [1_000, 150_000, 1],
    [20_000, 30_000, 3],
  ] as const) {
    const hist = new CellHistogram(12, maxCells);
    const all: Array<[bigint, number]> = [];
    for (let b = 0; b < batches; b++) {
      const k = keys(batch, 10 + b);
      hist.addKeys(k);
      for (const key of k) all.push([key, 1]);
    }
    const want = reference(all, 12, maxCells);
    assert.ok(want.order < 12, `the reference coarsened to order ${want.order}`);
    assertSame(hist, want);
  }
  // Never below the partition order, however many cells.
  const tiny = new CellHistogram(6, 10);
  const k = keys(5_000, 99);
  tiny.addKeys(k);
  assert.equal(tiny.order, PARTITION_ORDER);
  assertSame(
    tiny,
    reference(
      Array.from(k, (key) => [key, 1]),
      6,
      10,
    ),
  );
});

test("fine orders (cells above 2^32) sort and count exactly", () => {
  const hist = new CellHistogram(22, 1 << 22);
  const k = keys(80_000, 7);
  hist.addKeys(k);
  const want = reference(
    Array.from(k, (key) => [key, 1]),
    22,
    1 << 22,
  );
  assert.ok(Math.max(...want.counts.keys()) > 2 ** 40);
  assertSame(hist, want);
});

test("merge brings both to the coarser order; JSON reads back the same histogram", () => {
  const a = new CellHistogram(12);
  const b = new CellHistogram(9);
  const ka = keys(40_000, 3);
  const kb = keys(40_000, 4);
  a.addKeys(ka);
  b.addKeys(kb);
  a.merge(b);
  const all: Array<[bigint, number]> = [...ka, ...kb].map((key) => [key, 1]);
  assertSame(a, reference(all, 9, 1 << 20));
  const back = CellHistogram.fromJson(a.toJson());
  assertSame(back, reference(all, 9, 1 << 20));
  // Cells in any order, repeated: summed.
  const loose = CellHistogram.fromJson({ order: 5, cells: [9, 3, 9, 0], rows: [1, 2, 4, 8] });
  assert.deepEqual(loose.toJson(), { order: 5, cells: [0, 3, 9], rows: [8, 2, 5] });
  assert.throws(
    () => CellHistogram.fromJson({ order: 5, cells: [1, 2], rows: [1] }),
    (err: unknown) => err instanceof UsageError && /2 cells but 1 row counts/.test(err.message),
  );
});

test("CellIndex: rows of any pixel, key range and balanced cuts from the sorted cells", () => {
  const hist = new CellHistogram();
  const k = keys(50_000, 21);
  hist.addKeys(k);
  hist.add(5n << 40n, 0); // a cell without rows is not an occupied cell
  const index = new CellIndex(hist);
  const counts = reference(
    Array.from(k, (key) => [key, 1]),
    12,
    1 << 20,
  ).counts;
  assert.deepEqual(
    Array.from(index.cellNumbers),
    [...counts.keys()].sort((x, y) => x - y),
  );
  for (const pixel of [0, 3, 5, 11]) {
    const [s, e] = index.span(0, pixel);
    let want = 0;
    for (const key of k) if (key >> BigInt(2 * KEY_ORDER) === BigInt(pixel)) want++;
    assert.equal(index.rows(s, e), want, `rows of order-0 pixel ${pixel}`);
  }
  const pieces = choosePartitions(hist, { layout: "adaptive", rowBytes: 40, maxRows: 4_000 });
  assert.equal(
    pieces.reduce((n, p) => n + p.rows, 0),
    k.length,
    "the pieces hold every row",
  );
  for (let i = 1; i < pieces.length; i++)
    assert.ok(pieces[i]!.keyLo > pieces[i - 1]!.keyHi, "pieces in key order, disjoint");
});

test("a new histogram is small (every dataset writer holds one): 20 hold under 5 MiB", () => {
  const before = process.memoryUsage().arrayBuffers;
  const kept = Array.from({ length: 20 }, () => new CellHistogram());
  const grew = process.memoryUsage().arrayBuffers - before;
  assert.ok(grew < 5 * 2 ** 20, `${(grew / 2 ** 20).toFixed(1)} MiB for ${kept.length} histograms`);
  // Still counts past its first room (it doubles, then merges).
  kept[0]!.addKeys(keys(70_000, 5));
  assert.equal(kept[0]!.rows, 70_000);
});

test("a deferred histogram: rows that fit one file and one unit get the same pieces and units from order-4 counts", () => {
  const rowBytes = 40;
  // Keys packed into one order-4 pixel, or into two order-0 pixels far apart.
  const inPixel = (n: number, pixel: bigint, order: number) =>
    BigInt64Array.from(
      keys(n, 7),
      (k) => (pixel << BigInt(2 * (KEY_ORDER - order))) + (k % 4n ** BigInt(KEY_ORDER - order)),
    );
  const inputs: Array<[string, BigInt64Array]> = [
    ["none", new BigInt64Array(0)],
    ["one row", keys(1, 1)],
    ["three rows", keys(3, 2)],
    ["sky and clusters", keys(5000, 3)],
    ["60k", keys(60_000, 4)],
    ["one order-4 pixel", inPixel(3000, 1234n, 4)],
    [
      "order-0 pixels 2 and 9",
      BigInt64Array.from([...inPixel(800, 2n, 0), ...inPixel(300, 9n, 0)]),
    ],
  ];
  let compared = 0;
  for (const [name, all] of inputs) {
    const n = all.length;
    const targets = [
      { maxRows: 1_000_000, maxBytes: 128 * 2 ** 20, unitBytes: 64 * 2 ** 20 },
      // Just fits: a pixel's rows fill the file (the chooser's limits are inclusive).
      {
        maxRows: Math.max(1, n),
        maxBytes: Math.max(1, n) * rowBytes,
        unitBytes: Math.max(1, n) * rowBytes,
      },
      // Small neighbours share files only within a quarter of the target.
      { maxRows: 4 * n + 8, maxBytes: 128 * 2 ** 20, unitBytes: 64 * 2 ** 20 },
    ];
    for (const layout of ["adaptive", "mmu"] as const) {
      for (const t of targets) {
        const full = new CellHistogram();
        const deferred = new DeferredCellHistogram();
        // In batches, as a scan adds them.
        for (let i = 0; i < n; i += 1000) {
          full.addKeys(all, i, Math.min(n, i + 1000));
          deferred.addKeys(all, i, Math.min(n, i + 1000));
        }
        const fits = (rows: number) =>
          rows <= t.maxRows && rows * rowBytes <= Math.min(t.maxBytes, t.unitBytes);
        assert.ok(fits(n), name);
        const coarse = deferred.finish(fits);
        assert.equal(coarse.order, PARTITION_ORDER, name);
        const target = { layout, rowBytes, maxRows: t.maxRows, maxBytes: t.maxBytes };
        const fine = new CellIndex(full);
        const four = new CellIndex(coarse);
        const pieces = choosePartitionsOf(fine, target);
        assert.deepEqual(choosePartitionsOf(four, target), pieces, `${name}, ${layout}`);
        assert.deepEqual(
          makeUnits(choosePartitionsOf(four, target), four, rowBytes, t.unitBytes),
          makeUnits(pieces, fine, rowBytes, t.unitBytes),
          `${name}, ${layout}: units`,
        );
        compared += pieces.length;
      }
    }
  }
  assert.ok(compared > 40, `${compared} pieces compared`);
});

test("a deferred histogram: rows that do not fit, a merge, or more than it keeps give the full histogram", () => {
  const all = keys(20_000, 11);
  const full = new CellHistogram();
  full.addKeys(all);
  const deferred = () => {
    const d = new DeferredCellHistogram();
    d.addKeys(all, 0, 12_345);
    d.addKeys(all, 12_345);
    return d;
  };
  assert.deepEqual(
    deferred()
      .finish(() => false)
      .toJson(),
    full.toJson(),
  );
  assert.deepEqual(
    deferred()
      .finish((rows) => rows < 20_000)
      .toJson(),
    full.toJson(),
  );
  const merged = deferred();
  merged.merge(CellHistogram.fromJson(full.toJson()));
  const twice = new CellHistogram();
  twice.addKeys(all);
  twice.addKeys(all);
  assert.deepEqual(merged.finish(() => true).toJson(), twice.toJson());
  // Past the keys it keeps, it counts every key by fine cell at once: order 12 even if all fit.
  const many = new DeferredCellHistogram();
  const big = keys(DEFERRED_MAX_ROWS / 2 + 1, 12);
  many.addKeys(big);
  many.addKeys(big);
  const bigFull = new CellHistogram();
  bigFull.addKeys(big);
  bigFull.addKeys(big);
  assert.deepEqual(many.finish(() => true).toJson(), bigFull.toJson());
  // A writer with a small budget keeps fewer keys (DatasetWriter: an eighth of its memory).
  const small = new DeferredCellHistogram(100);
  small.addKeys(all, 0, 100);
  assert.equal(small.finish(() => true).order, PARTITION_ORDER);
  const past = new DeferredCellHistogram(100);
  past.addKeys(all, 0, 101);
  const first101 = new CellHistogram();
  first101.addKeys(all, 0, 101);
  assert.deepEqual(past.finish(() => true).toJson(), first101.toJson());
});
