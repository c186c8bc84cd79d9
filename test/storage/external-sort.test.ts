// The external sort (src/storage/external-sort.ts) against a plain stable sort of the same rows:
// in memory, spilled to many runs (more than one merge can take, so runs are merged twice), and
// with files the caller hands in already sorted (the build's assembly merges the units' id
// indexes that way). Every column type moves through the merge's gather: 1-, 2-, 4- and 8-byte
// values, a shaped column and strings, NaN payloads kept.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  type ColumnBatch,
  type ColumnSpec,
  gatherRows,
  valuesPerRow,
} from "../../src/core/columns.ts";
import { ExternalSorter } from "../../src/storage/external-sort.ts";
import { PartitionWriter } from "../../src/storage/partition-writer.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const SPECS: ColumnSpec[] = [
  { name: "key", dtype: "int64", shape: [] },
  { name: "seq", dtype: "uint32", shape: [] },
  { name: "f64", dtype: "float64", shape: [] },
  { name: "f32", dtype: "float32", shape: [] },
  { name: "i16", dtype: "int16", shape: [] },
  { name: "flag", dtype: "bool", shape: [] },
  { name: "vec", dtype: "float32", shape: [3] },
  { name: "name", dtype: "string", shape: [], stringLength: 12 },
];

/** A NaN with a payload a float round trip could lose (bits 0x7ff8_0000_dead_beef). */
const NAN_WORDS = [0xdeadbeef, 0x7ff80000];

/** Rows seq0..seq0+n-1 with keys from `key(i)`; seq records arrival order. */
function rows(n: number, seq0: number, key: (i: number) => bigint): ColumnBatch {
  const rnd = mulberry32(seq0 + 7);
  const f64 = new Float64Array(n);
  const words = new Uint32Array(f64.buffer);
  for (let i = 0; i < n; i++) {
    f64[i] = rnd() * 1e6 - 5e5;
    if (i % 97 === 0) {
      words[2 * i] = NAN_WORDS[0];
      words[2 * i + 1] = NAN_WORDS[1];
    }
  }
  return {
    key: BigInt64Array.from({ length: n }, (_, i) => key(i)),
    seq: Uint32Array.from({ length: n }, (_, i) => seq0 + i),
    f64,
    f32: Float32Array.from({ length: n }, () => rnd() * 100),
    i16: Int16Array.from({ length: n }, () => Math.floor(rnd() * 65536) - 32768),
    flag: Uint8Array.from({ length: n }, () => (rnd() < 0.5 ? 1 : 0)),
    vec: Float32Array.from({ length: 3 * n }, () => rnd()),
    name: Array.from({ length: n }, (_, i) => `obj-${seq0 + i}`),
  };
}

/** Row r of a batch as comparable plain values (floats by their bits). */
function rowOf(b: ColumnBatch, r: number): unknown[] {
  const bits = (v: Float64Array | Float32Array, at: number, per: number) =>
    Array.from(
      new Uint8Array(
        v.buffer,
        v.byteOffset + at * per * v.BYTES_PER_ELEMENT,
        per * v.BYTES_PER_ELEMENT,
      ),
    ).join(".");
  return [
    (b.key as BigInt64Array)[r],
    (b.seq as Uint32Array)[r],
    bits(b.f64 as Float64Array, r, 1),
    bits(b.f32 as Float32Array, r, 1),
    (b.i16 as Int16Array)[r],
    (b.flag as Uint8Array)[r],
    bits(b.vec as Float32Array, r, 3),
    (b.name as string[])[r],
  ];
}

function allRows(batches: ColumnBatch[]): unknown[][] {
  const out: unknown[][] = [];
  for (const b of batches)
    for (let r = 0; r < (b.seq as Uint32Array).length; r++) out.push(rowOf(b, r));
  return out;
}

/** The reference: every row, sorted by key with Array's stable sort (ties in arrival order). */
function reference(batches: ColumnBatch[]): unknown[][] {
  return allRows(batches).sort((a, b) => {
    const ka = a[0] as bigint;
    const kb = b[0] as bigint;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

async function drain(sorter: ExternalSorter): Promise<ColumnBatch[]> {
  const out: ColumnBatch[] = [];
  for await (const b of sorter.sorted()) out.push(b);
  return out;
}

/** Keys over the whole int64 range (negatives, both words varying) with many ties. */
function wideKey(seed: number): (i: number) => bigint {
  const rnd = mulberry32(seed);
  return () => {
    if (rnd() < 0.2) return BigInt(Math.floor(rnd() * 5)); // ties
    const hi = BigInt(Math.floor(rnd() * 2 ** 32) - 2 ** 31);
    return (hi << 32n) | BigInt(Math.floor(rnd() * 2 ** 32));
  };
}

const ROW_BYTES = 8 + 4 + 8 + 4 + 2 + 1 + 12 + 12;

test("in memory and spilled to runs (merged twice): rows come out as a stable sort", async () => {
  const dir = tempDir();
  const input: ColumnBatch[] = [];
  for (let b = 0; b < 40; b++) input.push(rows(250 + b, b * 1000, wideKey(b)));
  const want = reference(input);
  for (const [label, memory] of [
    ["in memory", 1 << 30],
    ["~40 runs", 300 * ROW_BYTES],
  ] as const) {
    const sorter = new ExternalSorter(SPECS, "key", join(dir, label), memory);
    for (const b of input) await sorter.add(b, (b.seq as Uint32Array).length);
    if (label !== "in memory") assert.ok(sorter.spilledRuns > 16, `${sorter.spilledRuns} runs`);
    const got = await drain(sorter);
    assert.deepEqual(allRows(got), want, label);
    await sorter.close();
    assert.equal(existsSync(join(dir, label)), false, "scratch removed");
  }
});

async function writeSorted(path: string, batch: ColumnBatch): Promise<void> {
  const order = reference([batch]).map(
    (r) => (r[1] as number) - ((batch.seq as Uint32Array)[0] ?? 0),
  );
  const sorted: ColumnBatch = {};
  for (const spec of SPECS)
    sorted[spec.name] = gatherRows(batch[spec.name], valuesPerRow(spec), order);
  const w = await PartitionWriter.create(path, SPECS, { compression: "gzip" });
  w.append(sorted);
  await w.close();
}

test("sorted files handed in are merged as they are, adjusted per block, and never removed", async () => {
  const dir = tempDir();
  const files: string[] = [];
  const input: ColumnBatch[] = [];
  // 20 files: more than one merge takes, so borrowed files go through an intermediate run too.
  for (let f = 0; f < 20; f++) {
    const batch = rows(300 + 11 * f, f * 10_000, wideKey(100 + f));
    input.push(batch);
    const path = join(dir, `run-${f}.hdf5`);
    await writeSorted(path, batch);
    files.push(path);
  }
  // Rows added before, between and after the files: ties keep arrival order across all of them.
  const before = rows(500, 900_000, wideKey(1));
  const after = rows(400, 950_000, wideKey(2));
  const sorter = new ExternalSorter(SPECS, "key", join(dir, "scratch"), 200 * ROW_BYTES);
  await sorter.add(before, 500);
  for (const [f, path] of files.entries()) {
    await sorter.addSortedFile(path, {
      rows: 300 + 11 * f,
      adjust: (b) => {
        const name = b.name as string[];
        for (let i = 0; i < name.length; i++) name[i] = `${name[i]}!`;
        const i16 = b.i16 as Int16Array;
        for (let i = 0; i < i16.length; i++) i16[i] += 1;
      },
    });
  }
  await sorter.add(after, 400);
  assert.equal(
    sorter.rows,
    500 + 400 + input.reduce((s, b) => s + (b.seq as Uint32Array).length, 0),
  );
  const got = await drain(sorter);
  await sorter.close();
  const adjusted = input.map((b) => ({
    ...b,
    name: (b.name as string[]).map((s) => `${s}!`),
    i16: (b.i16 as Int16Array).map((x) => x + 1),
  }));
  assert.deepEqual(allRows(got), reference([before, ...adjusted, after]));
  for (const path of files) assert.ok(existsSync(path), `${path} left in place`);
  assert.equal(existsSync(join(dir, "scratch")), false);
  assert.equal(readdirSync(dir).length, 20);
});

test("a sorted file with other rows than the caller expects is refused, naming it", async () => {
  const dir = tempDir();
  const path = join(dir, "short.hdf5");
  await writeSorted(path, rows(50, 0, wideKey(3)));
  const sorter = new ExternalSorter(SPECS, "key", join(dir, "scratch"), 1 << 20);
  await assert.rejects(sorter.addSortedFile(path, { rows: 51 }), (err: Error) => {
    assert.equal(err.name, "CorruptFileError");
    assert.match(
      err.message,
      /short\.hdf5.*50 rows, 51 expected|50 rows, 51 expected.*short\.hdf5/,
    );
    return true;
  });
  await sorter.close();
});
