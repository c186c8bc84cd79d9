// Publishing (issue 16): a dataset of ~2 GB (200 MB with --quick) published to a loopback S3
// server (s3rver, a child process) with verification on (sha256 of the bytes sent, the store's
// ETag as their MD5), in MB/s, with 16 MiB parts and with one part per file, against the same S3
// client uploading the same files in a plain loop (PutObject, same concurrency: the ceiling on
// this machine); then to the AstroPile data service (`astropile serve --uploads`, dist/) over
// HTTP, checked against its sha256 on the server side.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { ColumnBatch, ColumnSpec } from "../src/core/columns.ts";
import { datasetFiles, publishDataset } from "../src/remote/publish.ts";
import { KeyStore } from "../src/server/keys.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";
import { ROOT } from "../test/helpers/cli-process.ts";
import { S3RVER_CREDENTIALS, startS3Server } from "../test/helpers/s3-server.ts";
import {
  type ServeProcess,
  startServeProcess,
  stopServeProcess,
} from "../test/helpers/serve-process.ts";
import { lcg } from "./random.ts";

const BIN = join(ROOT, "dist", "cli", "bin.js");

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "image_array", dtype: "float32", shape: [5, 64, 64] },
];

function* rows(n: number): Generator<ColumnBatch> {
  const rnd = lcg(3);
  for (let s = 0; s < n; s += 200) {
    const k = Math.min(200, n - s);
    const img = new Float32Array(k * 5 * 64 * 64);
    for (let i = 0; i < img.length; i++) img[i] = rnd();
    yield {
      object_id: BigInt64Array.from({ length: k }, (_, i) => BigInt(s + i)),
      ra: Float64Array.from({ length: k }, () => rnd() * 360),
      dec: Float64Array.from({ length: k }, () => Math.asin(2 * rnd() - 1) * (180 / Math.PI)),
      image_array: img,
    };
  }
}

async function bounded<T>(items: T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function startServe(uploads: string, keys: string): Promise<ServeProcess> {
  return startServeProcess([
    BIN,
    ...["serve", "--uploads", uploads, "--keys", keys, "--port", "0", "--rate-limit", "0"],
  ]);
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const n = quick ? 2_500 : 25_000; // 80 kB a row: ~200 MB or ~2 GB
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-publish-"));
  Object.assign(process.env, S3RVER_CREDENTIALS);
  let serve: ChildProcess | undefined;
  const s3 = await startS3Server(join(dir, "s3"), ["bench"]);
  try {
    const src = join(dir, "src");
    const t0 = performance.now();
    await writeDataset(src, COLUMNS, rows(n), {
      config: "c",
      provenance: { survey: "BENCH" },
      compression: "none",
    });
    const files = await datasetFiles(src);
    const bytes = files.reduce((sum, f) => sum + statSync(join(src, f)).size, 0);
    const mb = bytes / 1e6;
    console.log(
      `dataset: ${files.length} files, ${mb.toFixed(0)} MB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const client = new S3Client({
      endpoint: s3.endpoint,
      forcePathStyle: true,
      region: "us-east-1",
      // As publishDataset's client: streamed bodies sent as they are (no aws-chunked framing).
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    // The ceiling: the same client putting the same files, 4 at a time, no checks.
    let t = performance.now();
    await bounded(files, 4, async (f) => {
      await client.send(
        new PutObjectCommand({
          Bucket: "bench",
          Key: `plain/${f}`,
          Body: createReadStream(join(src, f)),
          ContentLength: statSync(join(src, f)).size,
        }),
      );
    });
    const plainS = (performance.now() - t) / 1000;
    // The ceiling stored the files as they are (same sizes).
    for (const f of files) {
      const head = await client.send(new HeadObjectCommand({ Bucket: "bench", Key: `plain/${f}` }));
      assert.equal(head.ContentLength, statSync(join(src, f)).size, f);
    }
    t = performance.now();
    const result = await publishDataset(src, "s3://bench/published", {
      endpoint: s3.endpoint,
      verify: true,
    });
    const publishS = (performance.now() - t) / 1000;
    assert.equal(result.uploadedBytes, bytes);
    // The same with parts as large as the files: one PutObject each, as the plain loop does
    // (s3rver writes each part to disk, then copies them into the object).
    t = performance.now();
    const whole = await publishDataset(src, "s3://bench/published-whole", {
      endpoint: s3.endpoint,
      verify: true,
      partBytes: 2 ** 32,
    });
    const wholeS = (performance.now() - t) / 1000;
    assert.equal(whole.uploadedBytes, result.uploadedBytes);
    t = performance.now();
    const again = await publishDataset(src, "s3://bench/published", { endpoint: s3.endpoint });
    const againS = (performance.now() - t) / 1000;
    assert.equal(again.uploadedBytes, 0);

    // The data service.
    const keysFile = join(dir, "keys.json");
    const store = await KeyStore.open(keysFile);
    const { key } = await store.create({ name: "bench", scope: "write" });
    const started = await startServe(join(dir, "uploads"), keysFile);
    serve = started.child;
    t = performance.now();
    await publishDataset(src, `${started.url}/api/v1/datasets/bench`, { apiKey: key });
    const serviceS = (performance.now() - t) / 1000;

    console.log("\n| publish | seconds | MB/s | ratio to the plain loop |\n|---|---|---|---|");
    const row = (name: string, s: number) =>
      console.log(
        `| ${name} | ${s.toFixed(1)} | ${(mb / s).toFixed(0)} | ${(plainS / s).toFixed(2)}x |`,
      );
    row("plain PutObject loop (4 at a time, no checks): the ceiling", plainS);
    row("publishDataset to S3 (16 MiB parts), verified: sha256 as sent, ETag as MD5", publishS);
    row("publishDataset to S3, one part per file, verified the same way", wholeS);
    row("the data service over HTTP, sha256 checked by the server", serviceS);
    console.log(
      `re-publish with nothing changed: ${againS.toFixed(1)} s (${(again.skippedBytes / 1e6).toFixed(0)} MB skipped by sha256)`,
    );
  } finally {
    await stopServeProcess(serve);
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
