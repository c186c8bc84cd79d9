// dataset.loader(): batches decoded on real worker threads, against the dataset's own batches().
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readdirSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { ColumnSpec, ColumnValues } from "../../src/core/columns.ts";
import { CorruptFileError, isAstroPileError, UsageError } from "../../src/core/errors.ts";
import { type Dataset, type LoaderBatch, openDataset } from "../../src/dataset/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { type Dataset as Dataset5, h5wasm, hdf5Ready } from "../../src/storage/hdf5.ts";
import { DirectFile } from "../../src/storage/hdf5-direct.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { layouts } from "./fixtures.ts";

const N = 500;
const COLUMNS = ["object_id", "image_array", "image_band", "image_mask"];
let ds: Dataset;
let root: string;
/** Every column in view order, read by batches(): the reference. */
const all: Record<string, ColumnValues[]> = {};
const per: Record<string, number> = {};
const DIR = tempDir();

before(async () => {
  // Many small files per pixel, uncompressed (raw + Fletcher32 chunks).
  root = (await layouts(DIR, N))[1];
  ds = await openDataset(root);
  for (const c of COLUMNS) all[c] = [];
  for await (const b of ds.batches({ size: 1000, columns: COLUMNS }))
    for (const c of COLUMNS) {
      all[c].push(b.columns[c]);
      per[c] = b.shapes[c].reduce((a, x) => a * x, 1);
    }
});
after(() => ds?.close?.());

function row(column: string, position: number): unknown[] {
  const v = all[column][0];
  return Array.from(v as ArrayLike<unknown>).slice(
    position * per[column],
    (position + 1) * per[column],
  );
}

function checkBatch(b: LoaderBatch): void {
  for (const c of COLUMNS) {
    const col = b.columns[c];
    assert.equal(col.shape[0], b.length);
    assert.equal(col.data.length, b.length * per[c]);
    for (let j = 0; j < b.length; j++)
      assert.deepEqual(
        Array.from(col.data as ArrayLike<unknown>).slice(j * per[c], (j + 1) * per[c]),
        row(c, b.positions[j]),
        `${c} row ${j} of batch ${b.index}`,
      );
  }
}

async function collect(options: Parameters<Dataset["loader"]>[0]): Promise<LoaderBatch[]> {
  const out: LoaderBatch[] = [];
  for await (const b of ds.loader(options)) out.push(b as LoaderBatch);
  return out;
}

test("loader in view order on 2 workers gives every row once, with shapes and dtypes", async () => {
  const batches = await collect({ batchSize: 64, columns: COLUMNS, workers: 2, prefetch: 3 });
  assert.equal(batches.length, Math.ceil(N / 64));
  assert.deepEqual(
    batches.map((b) => b.index),
    batches.map((_, i) => i),
  );
  assert.equal(batches.at(-1)!.length, N % 64);
  const img = batches[0].columns.image_array;
  assert.deepEqual(img.shape, [64, 3, 4, 4]);
  assert.equal(img.dtype, "float32");
  assert.ok(img.data instanceof Float32Array);
  assert.ok(batches[0].columns.image_mask.data instanceof Uint8Array);
  assert.deepEqual(Array.from(batches[1].positions.slice(0, 3)), [64, 65, 66]);
  for (const b of batches) checkBatch(b);
});

test("shuffle is a permutation, the same for a seed and epoch, another for another epoch; startBatch resumes", async () => {
  const a = await collect({ batchSize: 50, columns: COLUMNS, shuffle: { seed: 7 }, workers: 2 });
  const again = await collect({
    batchSize: 50,
    columns: COLUMNS,
    shuffle: { seed: 7 },
    workers: 0,
    dropLast: true,
  });
  const other = await collect({
    batchSize: 50,
    columns: ["object_id"],
    shuffle: { seed: 7 },
    epoch: 1,
    workers: 1,
  });
  const resumed = await collect({
    batchSize: 50,
    columns: COLUMNS,
    shuffle: { seed: 7 },
    workers: 2,
    startBatch: 6,
  });
  const order = (bs: LoaderBatch[]) => bs.flatMap((b) => Array.from(b.positions));
  assert.deepEqual(
    [...order(a)].sort((x, y) => x - y),
    Array.from({ length: N }, (_, i) => i),
  );
  assert.notDeepEqual(
    order(a).slice(0, 50),
    Array.from({ length: 50 }, (_, i) => i),
  );
  assert.deepEqual(order(again), order(a), "same seed and epoch: same order (workers or not)");
  assert.notDeepEqual(order(other), order(a), "another epoch: another order");
  assert.deepEqual(
    resumed.map((b) => b.index),
    [6, 7, 8, 9],
  );
  assert.deepEqual(order(resumed), order(a).slice(300));
  for (const b of [...a.slice(0, 3), ...again.slice(-2), ...resumed]) checkBatch(b);
  for (const [i, b] of resumed.entries())
    assert.deepEqual(b.columns.image_array.data, a[6 + i].columns.image_array.data);
});

test("transform runs on each batch; dropLast drops the short one", async () => {
  const sums: number[] = [];
  for await (const s of ds.loader({
    batchSize: 128,
    columns: ["image_array"],
    dropLast: true,
    workers: 1,
    transform: (b) => (b.columns.image_array.data as Float32Array).reduce((x, y) => x + y, 0),
  }))
    sums.push(s);
  assert.equal(sums.length, Math.floor(N / 128));
  assert.ok(sums.every((s) => typeof s === "number" && s > 0));
});

test("reuse: batches share prefetch + 1 buffers across epochs, each intact until the next is asked for", async () => {
  for (const workers of [0, 2]) {
    const prefetch = 3;
    const loader = ds.loader({
      batchSize: 32,
      columns: COLUMNS,
      shuffle: { seed: 11 },
      workers,
      prefetch,
      reuse: true,
    });
    const buffers = new Set<ArrayBufferLike>();
    let count = 0;
    try {
      for (const epoch of [0, 1]) {
        const positions: number[] = [];
        for await (const b of loader.epoch(epoch)) {
          buffers.add((b.columns.image_array.data as Float32Array).buffer);
          // Reads ahead go on meanwhile: none may land in the batch held here.
          await new Promise((resolve) => setTimeout(resolve, 15));
          checkBatch(b);
          positions.push(...b.positions);
          count++;
        }
        assert.deepEqual(
          positions.sort((x, y) => x - y),
          Array.from({ length: N }, (_, i) => i),
        );
      }
    } finally {
      await loader.close();
    }
    assert.equal(count, 2 * Math.ceil(N / 32));
    assert.ok(buffers.size <= prefetch + 1, `${buffers.size} buffers for ${count} batches`);
    for (const b of buffers)
      assert.equal(b instanceof SharedArrayBuffer, workers > 0, "workers write shared memory");
  }
});

test("shuffled rows of 16 KiB (one chunk each, read in place one by one) equal batches(), uncompressed and gzip", async () => {
  // Rows this large are read straight into the batch buffer one run at a time (small ones go
  // through readRows); a Fletcher32 chunk read in place writes 4 bytes past its row, on a
  // neighbour that may already hold its row.
  const n = 240;
  const per = 4 * 32 * 32;
  const specs: ColumnSpec[] = [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [] },
    { name: "dec", dtype: "float64", shape: [] },
    { name: "image_array", dtype: "float32", shape: [4, 32, 32] },
  ];
  const { ra, dec } = skyPoints(n, 3, 0.03);
  const rows = {
    object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
    ra,
    dec,
    image_array: Float32Array.from(
      { length: n * per },
      (_, k) => Math.floor(k / per) + (k % per) / per,
    ),
  };
  for (const [compression, modes] of [
    [
      "none",
      [
        { workers: 1, reuse: true },
        { workers: 0, reuse: false },
      ],
    ],
    [
      "gzip",
      [
        { workers: 0, reuse: true },
        { workers: 1, reuse: false },
      ],
    ],
  ] as const) {
    const at = join(DIR, `large-rows-${compression}`);
    await writeDataset(at, specs, [rows], {
      config: "main",
      provenance: { survey: "TEST" },
      layout: "adaptive",
      maxRowsPerFile: 50,
      compression,
    });
    const big = await openDataset(at);
    try {
      const ref = new Float32Array(n * per);
      let filled = 0;
      for await (const b of big.batches({ size: 1000, columns: ["image_array"] })) {
        ref.set(b.columns.image_array as Float32Array, filled * per);
        filled += b.length;
      }
      for (const mode of modes) {
        const seen: number[] = [];
        for await (const b of big.loader({
          batchSize: 32,
          columns: ["image_array", "object_id"],
          shuffle: { seed: 4 },
          ...mode,
        })) {
          const img = b.columns.image_array.data as Float32Array;
          for (let j = 0; j < b.length; j++) {
            const p = b.positions[j];
            assert.deepEqual(
              img.subarray(j * per, (j + 1) * per),
              ref.subarray(p * per, (p + 1) * per),
              `${compression} ${JSON.stringify(mode)}: row ${j} of batch ${b.index}`,
            );
          }
          seen.push(...b.positions);
        }
        assert.deepEqual(
          seen.sort((x, y) => x - y),
          Array.from({ length: n }, (_, i) => i),
        );
      }
    } finally {
      big.close();
    }
  }
});

test("a worker that crashes is replaced and its batch retried once", async () => {
  process.env.ASTROPILE_CRASH_AT = "loader-worker:batch-2";
  try {
    const marker = join(DIR, "crashed-once");
    process.env.ASTROPILE_CRASH_ONCE = marker;
    const batches = await collect({ batchSize: 100, columns: COLUMNS, workers: 2 });
    assert.ok(statSync(marker).isFile(), "the worker did crash");
    assert.equal(batches.length, 5);
    for (const b of batches) checkBatch(b);
    // reuse: the batch is read again into the same shared buffer by the new thread, and that
    // buffer serves later batches.
    const again = join(DIR, "crashed-once-reuse");
    process.env.ASTROPILE_CRASH_ONCE = again;
    let count = 0;
    for await (const b of ds.loader({
      batchSize: 50,
      columns: COLUMNS,
      workers: 2,
      reuse: true,
    })) {
      checkBatch(b);
      count++;
    }
    assert.ok(statSync(again).isFile(), "the worker did crash");
    assert.equal(count, 10);
  } finally {
    delete process.env.ASTROPILE_CRASH_AT;
    delete process.env.ASTROPILE_CRASH_ONCE;
  }
});

test("a batch whose worker dies twice fails the loop with a typed error (no hang)", async () => {
  process.env.ASTROPILE_CRASH_AT = "loader-worker:batch-1";
  try {
    const seen: number[] = [];
    await assert.rejects(
      async () => {
        for await (const b of ds.loader({ batchSize: 100, columns: ["object_id"], workers: 2 }))
          seen.push((b as LoaderBatch).index);
      },
      (err: unknown) =>
        isAstroPileError(err, "ASTROPILE_WORKER_DIED") && /batch 1/.test((err as Error).message),
    );
    assert.deepEqual(seen, [0]);
  } finally {
    delete process.env.ASTROPILE_CRASH_AT;
  }
});

test("a damaged file reaches the consumer as the worker's typed error", async () => {
  const gz = (await layouts(DIR, 200, 9))[0];
  // A partition file (gzip): overwrite bytes inside its first image_array chunk, found by the
  // fast path's own parser from the dataset's object header.
  const files = readdirSync(gz, { recursive: true })
    .map(String)
    .filter((p) => /healpix=.*\.hdf5$/.test(p))
    .map((p) => join(gz, p))
    .sort();
  await hdf5Ready();
  const h5 = new (h5wasm().File)(files[0], "r");
  const ref = (h5.get("image_array") as Dataset5).create_reference().ref_data;
  h5.close();
  const raw = new DirectFile(files[0]);
  const place = { file: files[0] };
  const index = raw.chunkIndex(
    raw.layout(Number(Buffer.from(ref).readBigUInt64LE(0)), place),
    place,
  );
  raw.close();
  const fd = openSync(files[0], "r+");
  writeSync(fd, Buffer.alloc(32, 0x5a), 0, 32, index.address[0] + Math.floor(index.size[0] / 2));
  closeSync(fd);
  const damaged = await openDataset(gz);
  try {
    await assert.rejects(
      async () => {
        for await (const _ of damaged.loader({ batchSize: 50, workers: 2 })) {
        }
      },
      (err: unknown) =>
        isAstroPileError(err, CorruptFileError.code) && (err as Error).message.includes(files[0]),
    );
  } finally {
    damaged.close();
  }
});

test("a loop left while its threads read: they finish their step and exit with code 0", async () => {
  // worker.terminate() would stop them anywhere, and on Node 20 aborts the process when that is
  // inside an inflate (see src/core/worker-stop.ts); terminated threads exit with code 1, busy or
  // idle (whether one is still reading here depends on timing).
  const loader = ds.loader({ batchSize: 20, columns: COLUMNS, workers: 2, prefetch: 4 });
  const codes: Promise<number>[] = [];
  for await (const _ of loader) {
    const pool = Reflect.get(loader, "pool");
    const threads = [...Reflect.get(pool, "idle"), ...Reflect.get(pool, "busy").keys()];
    assert.equal(threads.length, 2);
    for (const w of threads) codes.push(new Promise((resolve) => w.once("exit", resolve)));
    break;
  }
  assert.equal(Reflect.get(loader, "pool"), null, "leaving the loop closed the loader");
  assert.deepEqual(await Promise.all(codes), [0, 0]);
});

test("bad loader options are UsageErrors", () => {
  assert.throws(() => ds.loader({ batchSize: 0 }), UsageError);
  assert.throws(() => ds.loader({ workers: -1 }), UsageError);
  assert.throws(() => ds.loader({ startBatch: 1.5 }), UsageError);
});

test("loader.epoch(e) reuses the threads of the loop before it and gives epoch e's order", async () => {
  const options = { batchSize: 64, columns: COLUMNS, shuffle: { seed: 3 }, workers: 2 };
  const loader = ds.loader(options);
  try {
    const first: LoaderBatch[] = [];
    for await (const b of loader) first.push(b);
    const pool = Reflect.get(loader, "pool");
    assert.ok(pool, "a loop run to its end keeps its worker threads");
    const second: LoaderBatch[] = [];
    for await (const b of loader.epoch(1)) second.push(b);
    assert.equal(Reflect.get(loader, "pool"), pool, "the next epoch ran on the same threads");
    const resumed: LoaderBatch[] = [];
    for await (const b of loader.epoch(1, { startBatch: 5 })) resumed.push(b);
    const order = (bs: LoaderBatch[]) => bs.flatMap((b) => Array.from(b.positions));
    assert.deepEqual(order(first), order(await collect({ ...options, epoch: 0 })));
    assert.deepEqual(order(second), order(await collect({ ...options, epoch: 1, workers: 0 })));
    assert.notDeepEqual(order(second), order(first));
    assert.deepEqual(order(resumed), order(second).slice(5 * 64));
    assert.deepEqual(
      second.map((b) => b.epoch),
      second.map(() => 1),
    );
    for (const b of [...second.slice(0, 2), ...resumed.slice(-2)]) checkBatch(b);
    assert.throws(() => loader.epoch(-1), UsageError);
  } finally {
    await loader.close();
  }
  assert.equal(Reflect.get(loader, "pool"), null);
});

test("idle loader threads left open do not keep the process from exiting", () => {
  // A child process that runs one epoch on 2 workers and never calls close(): it must exit.
  const script = `
    import { openDataset } from ${JSON.stringify(new URL("../../src/dataset/index.ts", import.meta.url).href)};
    const ds = await openDataset(${JSON.stringify(root)});
    const loader = ds.loader({ batchSize: 100, columns: ["object_id"], workers: 2 });
    let rows = 0;
    for await (const b of loader) rows += b.length;
    console.log("rows", rows);
  `;
  const out = execFileSync(
    process.execPath,
    ["--import", "h5wasm/node", "--import", "tsx", "--input-type=module", "-e", script],
    {
      encoding: "utf8",
      timeout: 60_000,
    },
  );
  assert.match(out, new RegExp(`rows ${N}`));
});
