// Remote datasets over HTTP: a dataset written by the real writer, served by a real HTTP server
// (Node's, in a child process, with Range/ETag) on 127.0.0.1, opened by URL and read by ranges.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { openDataset } from "../../src/dataset/dataset.ts";
import { remoteRoot } from "../../src/remote/index.ts";
import { clearRemoteMemory, openRemoteFile, RemoteFile } from "../../src/remote/remote-file.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { IMAGE_COLUMNS, imageRows, inBatches } from "../dataset/fixtures.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { type RangeServer, startRangeServer } from "../helpers/range-server.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROWS = 3000;
const dir = tempDir();
const cacheDir = tempDir();
let server: RangeServer;

before(async () => {
  const all = imageRows(ROWS);
  await writeDataset(join(dir, "hsc"), IMAGE_COLUMNS, inBatches(all, IMAGE_COLUMNS, 500), {
    config: "pdr3",
    provenance: { project: "test", survey: "HSC", release: "pdr3" },
    // Large enough that a file spans more than one of the range reader's 32 KiB blocks.
    maxRowsPerFile: 1500,
  });
  server = await startRangeServer(dir);
});
after(async () => {
  await server?.close();
});

test("a remote dataset reads the same rows as the local one, by byte ranges", async () => {
  const local = await openDataset(join(dir, "hsc"));
  const remote = await openDataset(`${server.url}/hsc`, { remote: { cacheDir } });
  assert.equal(remote.length, local.length);
  for (const i of [0, 1234, ROWS - 1]) assert.deepEqual(await remote.get(i), await local.get(i));
  // Partial chunk reads (only the rows asked for): the same rows.
  const partial = await openDataset(`${server.url}/hsc`, {
    remote: { maxCacheBytes: 0, partialChunks: true, blockBytes: 4096 },
  });
  for (const i of [3, 777, 2222]) assert.deepEqual(await partial.get(i), await local.get(i));
  assert.deepEqual(await partial.take([5, 2999, 100]), await local.take([5, 2999, 100]));
  const near = (d: typeof local) => d.coneSearch(0.5, 0.5, 3600).select(["object_id", "ra"]);
  const a: unknown[] = [];
  for await (const b of near(remote).batches({ size: 100 })) a.push(b);
  const b: unknown[] = [];
  for await (const x of near(local).batches({ size: 100 })) b.push(x);
  assert.deepEqual(a, b);
});

test("crossMatch of two remote datasets equals the local match (positions sidecars over ranges)", async () => {
  const local = await openDataset(join(dir, "hsc"));
  const remote = await openDataset(`${server.url}/hsc`, { remote: { cacheDir } });
  const a = await crossMatch(local, local.select(["object_id", "ra", "dec"]), { radiusArcsec: 30 });
  const b = await crossMatch(remote, remote.select(["object_id", "ra", "dec"]), {
    radiusArcsec: 30,
  });
  assert.ok(b.stats.leftSidecar && b.stats.rightSidecar);
  assert.equal(b.catalog.length, a.catalog.length);
  assert.ok(a.catalog.length >= ROWS);
  // By units on two worker threads, which read the remote files with this thread's settings.
  const c = await crossMatch(remote, remote.select(["object_id", "ra", "dec"]), {
    radiusArcsec: 30,
    inMemory: false,
    threads: 2,
    unitRows: 400,
  });
  assert.equal(c.stats.threads, 2);
  assert.equal(c.catalog.length, a.catalog.length);
});

test("the loader's worker threads read a remote dataset", async () => {
  const local = await openDataset(join(dir, "hsc"));
  const remote = await openDataset(`${server.url}/hsc`, { remote: { cacheDir } });
  const rows = async (d: typeof local) => {
    let n = 0;
    let sum = 0;
    for await (const b of d.loader({ batchSize: 500, columns: ["ra", "tract"], workers: 2 })) {
      const ra = (b as { columns: Record<string, { data: Float64Array }> }).columns.ra.data;
      n += ra.length;
      for (const x of ra) sum += x;
    }
    return { n, sum };
  };
  assert.deepEqual(await rows(remote), await rows(local));
});

test("get(i) fetches the file's metadata and the chunks of one row, not the file", async () => {
  const big = tempDir();
  const n = 2000;
  await writeDataset(
    join(big, "one"),
    IMAGE_COLUMNS,
    inBatches(imageRows(n, 9), IMAGE_COLUMNS, 500),
    {
      config: "c",
      provenance: { project: "test", survey: "HSC", release: "pdr3" },
      maxRowsPerFile: 1_000_000,
      layout: "mmu",
    },
  );
  const srv = await startRangeServer(big);
  try {
    const remote = await openDataset(`${srv.url}/one`, { remote: { maxCacheBytes: 0 } });
    const local = await openDataset(join(big, "one"));
    await srv.reset();
    assert.deepEqual(await remote.get(1500), await local.get(1500));
    const { bytes } = await srv.stats();
    const manifest = JSON.parse(readFileSync(join(big, "one", "astropile.json"), "utf8"));
    const fileBytes = manifest.files.reduce((s: number, f: { bytes: number }) => s + f.bytes, 0);
    assert.ok(bytes < fileBytes / 4, `${bytes} bytes over the wire for a ${fileBytes}-byte file`);
  } finally {
    await srv.close();
  }
});

test("get(i) with chunk checksums verified moves the metadata and one chunk per column, not the chunk index (issue 16)", async () => {
  // One growable file (33 MB, more than one 8 MiB write block): the image column has one chunk
  // per row (16 KiB rows), indexed by an extensible array whose data blocks lie spread through
  // the file as it grew; the six light columns (object_id, ra, dec, mag, healpix, _healpix_29)
  // have ~32 KiB chunks of thousands of rows. Every chunk is read whole, its Fletcher32 checked.
  const root = tempDir();
  const n = 2000;
  const side = 64;
  const specs: ColumnSpec[] = [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [], unit: "deg" },
    { name: "dec", dtype: "float64", shape: [], unit: "deg" },
    { name: "mag", dtype: "float32", shape: [] },
    { name: "image_array", dtype: "float32", shape: [1, side, side] },
  ];
  function* rows(): Generator<ColumnBatch> {
    for (let s = 0; s < n; s += 100)
      yield {
        object_id: BigInt64Array.from({ length: 100 }, (_, i) => BigInt(s + i)),
        ra: Float64Array.from({ length: 100 }, (_, i) => 150 + ((s + i) % 97) / 400),
        dec: Float64Array.from({ length: 100 }, (_, i) => 2 + ((s + i) % 89) / 400),
        mag: Float32Array.from({ length: 100 }, (_, i) => 18 + ((s + i) % 60) / 10),
        image_array: Float32Array.from({ length: 100 * side * side }, (_, k) => s + k / 7),
      };
  }
  const manifest = await writeDataset(join(root, "big"), specs, rows(), {
    config: "c",
    provenance: { project: "test", survey: "BIG", release: "1" },
    compression: "none",
    maxRowsPerFile: 1_000_000,
  });
  assert.equal(manifest.files.length, 1);
  const srv = await startRangeServer(root);
  try {
    const local = await openDataset(join(root, "big"));
    assert.equal(local.columns.length, 7);
    // Reads go by 32 KiB blocks. Each column's chunk holding the row (at most 32 KiB and its 4
    // checksum bytes) spans two of them; the metadata (superblock, root group, the columns'
    // object headers and index headers, one data block of the image column's index) a few
    // more. Its whole index was ~10 more blocks; 256 KiB chunks, 7 more blocks per column.
    const block = 32 * 1024;
    const bound = (7 * 2 + 5) * block;
    for (const i of [n / 2, n - 2]) {
      clearRemoteMemory();
      const remote = await openDataset(`${srv.url}/big`, { remote: { maxCacheBytes: 0 } });
      await srv.reset();
      assert.deepEqual(await remote.get(i), await local.get(i));
      const { bytes, log } = await srv.stats();
      assert.ok(
        bytes <= bound,
        `get(${i}): ${bytes} bytes over the wire (bound ${bound}; file ${manifest.files[0].bytes}):\n${log.join("\n")}`,
      );
    }
  } finally {
    await srv.close();
  }
});

test("read-ahead: a lone chunk-sized read fetches exactly its blocks; a sequential scan earns read-ahead", async () => {
  const block = 4096;
  const root = tempDir();
  const bytes = Uint8Array.from({ length: 80 * block }, (_, i) => (i * 31 + (i >> 12)) & 255);
  writeFileSync(join(root, "blob.bin"), bytes);
  const srv = await startRangeServer(root);
  try {
    const file = RemoteFile.open(`${srv.url}/blob.bin`, { maxCacheBytes: 0, blockBytes: block });
    await srv.reset();
    const read = (at: number, n: number) => {
      const buf = new Uint8Array(n);
      file.read(buf, 0, n, at);
      assert.deepEqual(buf, bytes.subarray(at, at + n));
    };
    // Two small metadata reads, then a chunk-sized read right after them: its own blocks only.
    read(10 * block + 100, 200);
    read(10 * block + 300, 60);
    read(10 * block + 360, 3 * block);
    let stats = await srv.stats();
    assert.equal(stats.bytes, 4 * block, stats.log.join("\n"));
    // A scan: each read starts where the last ended; the read-ahead grows, requests are fewer.
    await srv.reset();
    const reads = 40;
    for (let k = 0; k < reads; k++) read((20 + k) * block, block);
    stats = await srv.stats();
    assert.ok(stats.requests <= 10, `${stats.requests} requests for ${reads} sequential reads`);
    // It reads ahead no further than the scan had read: at most twice the bytes asked for.
    assert.ok(stats.bytes <= 2 * reads * block, stats.log.join("\n"));
  } finally {
    await srv.close();
  }
});

test("faults: 5xx then success is retried; 404 and 403 are typed; a changed file is refused", async () => {
  const remote = await openDataset(`${server.url}/hsc`, {
    remote: { maxCacheBytes: 0, retries: 2 },
  });
  const local = await openDataset(join(dir, "hsc"));
  await server.faults([{ match: ".hdf5", kind: "status", status: 503, times: 2 }]);
  assert.deepEqual(await remote.get(10), await local.get(10));
  await server.faults([{ match: ".hdf5", kind: "reset", times: 1, onRange: true }]);
  assert.deepEqual(await remote.get(900), await local.get(900));
  await server.faults([{ match: ".hdf5", kind: "short", times: 1, onRange: true }]);
  assert.deepEqual(await remote.get(1900), await local.get(1900));
  await server.reset();
  await server.faults([{ match: "astropile.json", kind: "status", status: 403, times: 1 }]);
  await assert.rejects(openDataset(`${server.url}/hsc`), { code: "ASTROPILE_REMOTE_DENIED" });
  await assert.rejects(openDataset(`${server.url}/nothing-here`), { code: "ASTROPILE_NOT_FOUND" });
  await server.faults([{ match: ".hdf5", kind: "status", status: 500, times: 50 }]);
  await assert.rejects(remote.get(2500), { code: "ASTROPILE_REMOTE" });
  await server.reset();
});

for (const ignoring of [false, true]) {
  test(`a file that changes on the server between two range reads is refused, never mixed${ignoring ? " (server ignores If-Match: the answer's ETag is compared)" : ""}`, async () => {
    await server.ignoreConditionals(ignoring);
    const manifest = JSON.parse(readFileSync(join(dir, "hsc", "astropile.json"), "utf8"));
    const rel: string = manifest.files[0].path;
    const path = join(dir, "hsc", rel);
    clearRemoteMemory(); // blocks of this version read by earlier tests would need no request
    remoteRoot(`${server.url}/hsc`, { maxCacheBytes: 0, blockBytes: 4096 });
    const file = openRemoteFile(`${server.url}/hsc/${rel}`);
    const head = new Uint8Array(16);
    file.read(head, 0, 16, 0);
    assert.deepEqual(head, new Uint8Array(readFileSync(path).subarray(0, 16)));
    // Same bytes, new modification time: a new version (new ETag) on the server.
    const later = new Date(Date.now() + 5000);
    utimesSync(path, later, later);
    const tail = new Uint8Array(16);
    assert.throws(() => file.read(tail, 0, 16, file.size - 16), {
      code: "ASTROPILE_REMOTE_CHANGED",
    });
    // Reopened, the file is read at its new version.
    remoteRoot(`${server.url}/hsc`, { maxCacheBytes: 0 });
    const again = openRemoteFile(`${server.url}/hsc/${rel}`);
    again.read(tail, 0, 16, again.size - 16);
    assert.deepEqual(tail, new Uint8Array(readFileSync(path).subarray(again.size - 16)));
    await server.reset();
  });
}

test("offline mode reads what the range cache holds, and refuses the rest", async () => {
  const own = tempDir();
  const remote = await openDataset(`${server.url}/hsc`, { remote: { cacheDir: own } });
  const row = await remote.get(42);
  const offline = await openDataset(`${server.url}/hsc`, {
    remote: { cacheDir: own, offline: true },
  });
  assert.deepEqual(await offline.get(42), row);
  await assert.rejects(offline.get(ROWS - 2), { code: "ASTROPILE_REMOTE_OFFLINE" });
});

test("prefetch files fetches each file whole, checked against the manifest's sha256", async () => {
  const own = tempDir();
  const remote = await openDataset(`${server.url}/hsc`, {
    prefetch: "files",
    remote: { cacheDir: own },
  });
  await server.reset();
  const local = await openDataset(join(dir, "hsc"));
  assert.deepEqual(await remote.get(2999), await local.get(2999));
  assert.equal((await server.stats()).requests, 0);
});

test("a scan that reads most of a remote file fetches it whole, sha256-checked; a second scan reads the range cache", async () => {
  const cache = tempDir();
  const local = await openDataset(join(dir, "hsc"));
  const all = async (d: typeof local) => {
    const out: unknown[] = [];
    for await (const b of d.batches({ size: 700 })) out.push(b);
    return out;
  };
  const files = (
    JSON.parse(readFileSync(join(dir, "hsc", "astropile.json"), "utf8")) as {
      files: Array<{ path: string; bytes: number }>;
    }
  ).files;
  clearRemoteMemory();
  await server.reset();
  const remote = await openDataset(`${server.url}/hsc`, { remote: { cacheDir: cache } });
  assert.deepEqual(await all(remote), await all(local));
  // The server logs each request's byte range [start-end); opening a file reads its first block.
  const whole = (f: { path: string; bytes: number }) => `/hsc/${f.path} 0-${f.bytes}`;
  const opening = (f: { path: string; bytes: number }) =>
    `/hsc/${f.path} 0-${Math.min(32768, f.bytes)}`;
  const large = files.filter((f) => f.bytes > 32768);
  assert.ok(large.length > 0, "some file spans more than one block");
  const { log } = (await server.stats()) as unknown as { log: string[] };
  for (const f of large) assert.ok(log.includes(whole(f)), `${f.path} fetched whole: ${log}`);
  // Again, from the cache: nothing of a partition file but its first block (the version check).
  clearRemoteMemory();
  await server.reset();
  const again = await openDataset(`${server.url}/hsc`, { remote: { cacheDir: cache } });
  assert.deepEqual(await all(again), await all(local));
  const second = ((await server.stats()) as unknown as { log: string[] }).log;
  assert.deepEqual(
    second.filter((l) => files.some((f) => l.startsWith(`/hsc/${f.path} `) && l !== opening(f))),
    [],
  );
  // A narrow scan (one light column of a wide row) reads by ranges, not whole files.
  clearRemoteMemory();
  await server.reset();
  const narrow = await openDataset(`${server.url}/hsc`, { remote: { cacheDir: tempDir() } });
  for await (const _ of narrow.select(["tract"]).batches({ size: 3000 })) {
  }
  const third = ((await server.stats()) as unknown as { log: string[] }).log;
  for (const f of large) assert.ok(!third.includes(whole(f)), f.path);
});

test("the CLI takes a URL where it takes a dataset directory", () => {
  const env = { ...process.env, ASTROPILE_CACHE_DIR: cacheDir };
  for (const args of [["head", "-n", "3"]]) {
    const run = (where: string) =>
      spawnSync(process.execPath, cliArgs(args[0], where, ...args.slice(1)), {
        encoding: "utf8",
        env,
      });
    const local = run(join(dir, "hsc"));
    const remote = run(`${server.url}/hsc`);
    assert.equal(remote.status, 0, remote.stderr);
    assert.equal(local.status, 0, local.stderr);
    const scrub = (s: string) =>
      s
        .replaceAll(join(dir, "hsc"), "ROOT")
        .replaceAll(`/@remote/http/${server.url.slice(7)}/hsc`, "ROOT");
    assert.equal(scrub(remote.stdout), scrub(local.stdout));
  }
});

test("a manifest whose files disagree with the server: missing or resized files are typed errors", async () => {
  const copy = tempDir();
  cpSync(join(dir, "hsc"), join(copy, "hsc"), { recursive: true });
  const manifest = JSON.parse(readFileSync(join(copy, "hsc", "astropile.json"), "utf8"));
  const files: Array<{ path: string; rows: number }> = manifest.files;
  rmSync(join(copy, "hsc", files[0].path));
  appendFileSync(join(copy, "hsc", files[1].path), "extra bytes");
  const srv = await startRangeServer(copy);
  try {
    const remote = await openDataset(`${srv.url}/hsc`, { remote: { maxCacheBytes: 0 } });
    // The errors name the file by the URL it was read from, not storage's virtual path.
    for (const row of [0, files[0].rows]) {
      await assert.rejects(remote.get(row), (err: Error & { code?: string; file?: string }) => {
        assert.equal(err.code, "ASTROPILE_MANIFEST_MISMATCH");
        assert.ok(err.file?.startsWith(`${srv.url}/hsc/`), err.file);
        assert.ok(err.message.includes(`(file ${srv.url}/hsc/`), err.message);
        assert.ok(!err.message.includes("@remote"), err.message);
        return true;
      });
    }
  } finally {
    await srv.close();
  }
});
