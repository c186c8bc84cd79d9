// routeKeys (rows to their work units by 32-bit word comparisons) against the same rule on
// BigInts: the last unit whose keyLo is at most the key, if the key is at most its keyHi; and
// scatterRows, which writes each unit's rows to its bucket, against the rows routed one by one.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { OutputColumn } from "../../src/build/catalog.ts";
import { routeKeys, scatterRows, type UnitPlan, unitBounds } from "../../src/build/plan.ts";
import { type RowBlock, RowFileWriter, readRowFile } from "../../src/build/rows-file.ts";
import { bucketPath, statePaths } from "../../src/build/state.ts";
import { BuildStateError } from "../../src/core/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

function unit(index: number, lo: bigint, hi: bigint): UnitPlan {
  return { index, keyLo: lo.toString(), keyHi: hi.toString(), rows: 0, pieces: [] };
}

function reference(units: UnitPlan[], key: bigint): number {
  let found = -1;
  for (const [u, x] of units.entries()) if (BigInt(x.keyLo) <= key) found = u;
  return found >= 0 && key <= BigInt(units[found]!.keyHi) ? found : -1;
}

test("every key goes to the unit the BigInt rule names, bounds and gaps included", () => {
  const TOP = 12n * 4n ** 29n;
  // Units with gaps between them, bounds sharing their high word with neighbours' keys.
  const cuts = [
    0n,
    5n,
    2n ** 32n - 1n,
    2n ** 32n,
    2n ** 32n + 7n,
    3n * 2n ** 40n,
    2n ** 61n,
    TOP - 1n,
  ];
  const units = cuts
    .slice(0, -1)
    .map((lo, i) => unit(i, lo, cuts[i + 1]! - (i % 2 === 0 ? 1n : 3n)));
  const keys: bigint[] = [];
  for (const c of cuts)
    for (const d of [-4n, -3n, -2n, -1n, 0n, 1n, 2n]) if (c + d >= 0n) keys.push(c + d);
  let x = 12345n;
  for (let i = 0; i < 2000; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
    keys.push(x % TOP);
  }
  keys.push(-1n); // not a key AstroPile makes: in no unit, as with BigInts
  const block = BigInt64Array.from(keys);
  for (const view of [block, block.subarray(3)]) {
    const out = new Int32Array(view.length);
    routeKeys(unitBounds(units), view, out);
    for (let i = 0; i < view.length; i++)
      assert.equal(out[i], reference(units, view[i]!), `key ${view[i]}`);
  }
  assert.ok(
    keys.some((k) => reference(units, k) === -1),
    "some keys fall in gaps",
  );
});

test("many units, some exactly one 2^48-key cell of the routing table, some cutting cells, gaps of whole cells", () => {
  const CELL = 2n ** 48n;
  const TOP = 12n * 4n ** 29n;
  const units: UnitPlan[] = [];
  let x = 987654321n;
  const next = () => {
    x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
    return x;
  };
  let lo = 3n * CELL;
  while (lo < TOP && units.length < 400) {
    const kind = next() % 4n;
    // A whole cell, a few cells, a piece of a cell, or a piece across a cell's edge.
    const size =
      kind === 0n ? CELL : kind === 1n ? CELL * (1n + (next() % 5n)) : 1n + (next() % CELL);
    const hi = lo + size - 1n < TOP ? lo + size - 1n : TOP - 1n;
    units.push(unit(units.length, lo, hi));
    // Next unit: right after, or after a gap of whole cells or of a few keys.
    const gap = next() % 3n;
    lo = hi + 1n + (gap === 0n ? 0n : gap === 1n ? CELL * (1n + (next() % 3n)) : next() % 1000n);
  }
  const keys: bigint[] = [];
  for (const u of units)
    for (const k of [BigInt(u.keyLo), BigInt(u.keyHi)])
      for (const d of [-1n, 0n, 1n]) if (k + d >= 0n) keys.push(k + d);
  for (let c = 0n; c < 2000n; c++) keys.push(c * CELL, c * CELL + CELL - 1n);
  for (let i = 0; i < 5000; i++) keys.push(next() % TOP);
  const block = BigInt64Array.from(keys);
  const out = new Int32Array(block.length);
  routeKeys(unitBounds(units), block, out);
  const wrong = keys.filter((k, i) => out[i] !== reference(units, k));
  assert.deepEqual(wrong, []);
  const hits = new Set(out);
  assert.ok(hits.size > 300 && hits.has(-1), `${hits.size} units hit`);
});

test("scatterRows: each unit's bucket holds its rows in scan order, every column bit for bit, whatever its buffers", async () => {
  const dir = tempDir("astropile-route-");
  const paths = statePaths(dir, "c");
  await mkdir(paths.dir, { recursive: true });
  const dtypes = {
    i8: "int8",
    i16: "int16",
    f32: "float32",
    f64: "float64",
    i64: "int64",
    name: "string",
  } as const;
  const outputs = Object.entries(dtypes).map(([name, dtype]) => ({
    spec: { name, dtype, shape: [] },
    source: name,
    required: false,
  })) as OutputColumn[];
  const CELL = 2n ** 48n;
  // Three units with a gap: the middle one small (rows of no unit are dropped).
  const units = [
    unit(0, 0n, 10n * CELL - 1n),
    unit(1, 10n * CELL, 10n * CELL + 999n),
    unit(2, 12n * CELL, 40n * CELL),
  ];
  let x = 42n;
  const next = () => {
    x = (x * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n;
    return x;
  };
  const blocks: RowBlock[] = [];
  let origin = 0;
  // Blocks of very different sizes: one larger than a unit's buffer.
  for (const rows of [5, 3000, 1, 700, 20_000, 64]) {
    const key = BigInt64Array.from({ length: rows }, () => {
      const r = next() % 8n;
      return r < 3n
        ? next() % (10n * CELL)
        : r < 5n
          ? 10n * CELL + (next() % 1000n)
          : r < 7n
            ? 12n * CELL + (next() % (28n * CELL))
            : 11n * CELL + (next() % CELL);
    });
    const f64 = Float64Array.from({ length: rows }, () => Number(next() % 1000000n) / 7);
    // A NaN with a payload: copied as bits, not as a number.
    if (rows > 1) new Uint32Array(f64.buffer).set([0x12345678, 0x7ff81234], 2);
    blocks.push({
      rows,
      file: Uint32Array.from({ length: rows }, () => Number(next() % 3n)),
      row: Float64Array.from({ length: rows }, () => origin++),
      key,
      columns: {
        i8: Int8Array.from({ length: rows }, () => Number(next() % 256n) - 128),
        i16: Int16Array.from({ length: rows }, () => Number(next() % 65536n) - 32768),
        f32: Float32Array.from({ length: rows }, () => Number(next() % 1000n) / 3),
        f64,
        i64: BigInt64Array.from({ length: rows }, () => BigInt.asIntN(64, next())),
        name: Array.from({ length: rows }, () => `n${next() % 1000n}`),
      },
      carry: { tag: Array.from({ length: rows }, () => `t${next() % 10n}`) },
    });
  }
  const writer = await RowFileWriter.create(paths.rows, dtypes);
  for (const b of blocks) await writer.append(b);
  await writer.close();
  // Expected: each unit's rows, in order, by the BigInt rule.
  const want = units.map(() => [] as string[]);
  const rowText = (b: RowBlock, i: number) => {
    const bits = (v: ArrayBufferView, k: number, size: number) =>
      Buffer.from(v.buffer, v.byteOffset + k * size, size).toString("hex");
    const c = b.columns;
    return [
      b.file[i],
      b.row[i],
      b.key[i],
      bits(c.i8 as Int8Array, i, 1),
      bits(c.i16 as Int16Array, i, 2),
      bits(c.f32 as Float32Array, i, 4),
      bits(c.f64 as Float64Array, i, 8),
      bits(c.i64 as BigInt64Array, i, 8),
      (c.name as string[])[i],
      b.carry.tag![i],
    ].join(" ");
  };
  for (const b of blocks)
    for (let i = 0; i < b.rows; i++) {
      const u = reference(units, b.key[i]!);
      if (u >= 0) want[u]!.push(rowText(b, i));
    }
  // A buffer of a few hundred rows per unit: many writes per bucket, and one block bigger.
  for (const bufferBytes of [1, 16 << 20]) {
    const stats = await scatterRows(paths.rows, outputs, units, paths, () => {}, bufferBytes);
    for (let u = 0; u < units.length; u++) {
      const got: string[] = [];
      let blocksRead = 0;
      for await (const b of readRowFile(bucketPath(paths, u))) {
        blocksRead++;
        for (let i = 0; i < b.rows; i++) got.push(rowText(b, i));
      }
      assert.deepEqual(got, want[u], `unit ${u}, buffer ${bufferBytes}`);
      assert.equal(stats[u]!.rows, want[u]!.length);
      if (bufferBytes === 1 && want[u]!.length > 1000)
        assert.ok(blocksRead > 3, `${blocksRead} blocks`);
    }
  }
  assert.ok(want.every((w) => w.length > 0));

  // The same rows as rows.bin (the first three blocks) and a scan thread's file (the others, rows
  // numbered from its start): the same buckets, the thread's rows shifted back.
  const head = blocks.slice(0, 3);
  const rowOffset = head.reduce((s, b) => s + b.rows, 0);
  const headWriter = await RowFileWriter.create(paths.rows, dtypes);
  for (const b of head) await headWriter.append(b);
  await headWriter.close();
  const tailPath = join(paths.dir, "tail.bin");
  const tailWriter = await RowFileWriter.create(tailPath, dtypes);
  for (const b of blocks.slice(3))
    await tailWriter.append({ ...b, row: b.row.map((r) => r - rowOffset) });
  const bytes = await tailWriter.close();
  const rows = blocks.slice(3).reduce((s, b) => s + b.rows, 0);
  const tail = { path: tailPath, rows, bytes, rowOffset };
  await scatterRows(paths.rows, outputs, units, paths, () => {}, 1 << 20, tail);
  for (let u = 0; u < units.length; u++) {
    const got: string[] = [];
    for await (const b of readRowFile(bucketPath(paths, u)))
      for (let i = 0; i < b.rows; i++) got.push(rowText(b, i));
    assert.deepEqual(got, want[u], `unit ${u}, from rows.bin and the thread's file`);
  }
  // A thread's file of other rows than the plan says is an error naming it.
  await assert.rejects(
    scatterRows(paths.rows, outputs, units, paths, () => {}, 1 << 20, { ...tail, rows: rows + 1 }),
    (e: Error) =>
      e instanceof BuildStateError && e.message.includes(String(rows)) && e.file === tailPath,
  );
});
