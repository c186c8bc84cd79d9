// Remote datasets on S3: published to an S3-API server (s3rver, in a child process on
// 127.0.0.1) with publishDataset, then opened by s3:// URL and read by ranged GETs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { UsageError } from "../../src/core/errors.ts";
import { concatenate, openDataset } from "../../src/dataset/dataset.ts";
import { publishDataset } from "../../src/remote/index.ts";
import { s3Client } from "../../src/remote/transport.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { IMAGE_COLUMNS, imageRows, inBatches } from "../dataset/fixtures.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { S3RVER_CREDENTIALS, type S3Server, startS3Server } from "../helpers/s3-server.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();
const store = tempDir();
const cacheDir = tempDir();
let s3: S3Server;
const saved = { ...process.env };

before(async () => {
  Object.assign(process.env, S3RVER_CREDENTIALS);
  await writeDataset(
    join(dir, "hsc"),
    IMAGE_COLUMNS,
    inBatches(imageRows(1500, 3), IMAGE_COLUMNS, 500),
    {
      config: "pdr3",
      provenance: { project: "test", survey: "HSC", release: "pdr3" },
      maxRowsPerFile: 600,
    },
  );
  s3 = await startS3Server(store, ["bucket"]);
});
after(async () => {
  await s3?.close();
  process.env = saved;
});

/** A publish, one file at a time, that dies after its `n`th upload (as a killed process would). */
async function publishKilledAfter(n: number, dir: string, dest: string): Promise<void> {
  let uploads = 0;
  await assert.rejects(
    publishDataset(dir, dest, {
      endpoint: s3.endpoint,
      concurrency: 1,
      onProgress: (p) => {
        if (p.action === "upload" && ++uploads === n) throw new Error("killed");
      },
    }),
    /killed/,
  );
}

test("publish to S3, then open the s3:// dataset: the same rows; re-publish moves nothing", async () => {
  const dest = "s3://bucket/surveys/hsc";
  const dry = await publishDataset(join(dir, "hsc"), dest, { endpoint: s3.endpoint, dryRun: true });
  assert.ok(dry.files.length > 4 && dry.files.every((f) => f.action === "upload"));
  const order: string[] = [];
  const first = await publishDataset(join(dir, "hsc"), dest, {
    endpoint: s3.endpoint,
    onProgress: (p) => order.push(p.file),
  });
  assert.equal(first.skippedBytes, 0);
  assert.deepEqual(order.slice(-2), ["README.md", "astropile.json"]);
  const again = await publishDataset(join(dir, "hsc"), dest, { endpoint: s3.endpoint });
  assert.equal(again.uploadedBytes, 0);
  assert.ok(again.files.every((f) => f.action === "skip"));

  const remote = await openDataset(dest, { remote: { endpoint: s3.endpoint, cacheDir } });
  const local = await openDataset(join(dir, "hsc"));
  assert.equal(remote.length, local.length);
  for (const i of [0, 700, 1499]) assert.deepEqual(await remote.get(i), await local.get(i));
  const cone = async (d: typeof local) => {
    const out: unknown[] = [];
    for await (const b of d.coneSearch(0.3, 0.3, 3600).batches({ size: 64 })) out.push(b);
    return out;
  };
  assert.deepEqual(await cone(remote), await cone(local));
  // Unsigned requests (public buckets): s3rver serves them; signed wrong ones it refuses (below).
  const anonymous = await openDataset(dest, {
    remote: { endpoint: s3.endpoint, anonymous: true, maxCacheBytes: 0 },
  });
  assert.deepEqual(await anonymous.get(321), await local.get(321));
});

test("dataset.publish(dest) publishes the dataset's directory: the s3:// dataset reads the same rows", async () => {
  const dest = "s3://bucket/surveys/method";
  const local = await openDataset(join(dir, "hsc"));
  const result = await local.publish(dest, { endpoint: s3.endpoint });
  assert.equal(result.destination, dest);
  assert.equal(result.skippedBytes, 0);
  // What publishDataset(dir) plans: every file of the directory, the manifest last.
  const plan = await publishDataset(join(dir, "hsc"), dest, {
    endpoint: s3.endpoint,
    dryRun: true,
  });
  assert.deepEqual(
    result.files.map((f) => f.path),
    plan.files.map((f) => f.path),
  );
  assert.ok(plan.files.every((f) => f.action === "skip"));
  const remote = await openDataset(dest, { remote: { endpoint: s3.endpoint, maxCacheBytes: 0 } });
  assert.equal(remote.length, local.length);
  assert.deepEqual(remote.manifest, local.manifest);
  for (const i of [0, 777, 1499]) assert.deepEqual(await remote.get(i), await local.get(i));
  // The s3:// dataset is not published again from here: it has no local directory.
  await assert.rejects(remote.publish("s3://bucket/surveys/copy", { endpoint: s3.endpoint }), {
    code: "ASTROPILE_USAGE",
    message: /cannot publish a remote dataset \(s3:\/\/bucket\/surveys\/method\)/,
  });
});

test("dataset.publish refuses a view or a concatenation (UsageError), and uploads nothing", async () => {
  const local = await openDataset(join(dir, "hsc"));
  const dest = "s3://bucket/surveys/refused";
  const refused = async (d: typeof local, why: RegExp) =>
    assert.rejects(d.publish(dest, { endpoint: s3.endpoint }), (err: Error) => {
      assert.ok(err instanceof UsageError, String(err));
      assert.match(err.message, why);
      assert.match(err.message, /saveToDisk/);
      return true;
    });
  await refused(local.select(["object_id", "ra", "dec"]), /a view \(selected columns\)/);
  await refused(local.filter("tract > 9802"), /a view \(a filter\)/);
  await refused(local.coneSearch(0.3, 0.3, 3600), /a view \(a cone search\)/);
  await refused(local.trainTestSplit({ testSize: 0.2 }).test, /the test part of a split/);
  await refused(local.shuffle(1), /a view \(a shuffle\)/);
  await refused(concatenate([local, local]), /a concatenation of 2 datasets/);
  // Nothing went up.
  const plan = await publishDataset(join(dir, "hsc"), dest, {
    endpoint: s3.endpoint,
    dryRun: true,
  });
  assert.ok(plan.files.every((f) => f.action === "upload"));
});

test("a changed local file is the only one re-published", async () => {
  const dest = "s3://bucket/surveys/changed";
  await publishDataset(join(dir, "hsc"), dest, { endpoint: s3.endpoint });
  const card = join(dir, "hsc", "README.md");
  const before = readFileSync(card);
  appendFileSync(card, "\nMore notes.\n");
  try {
    const r = await publishDataset(join(dir, "hsc"), dest, { endpoint: s3.endpoint });
    assert.deepEqual(
      r.files.filter((f) => f.action === "upload").map((f) => f.path),
      ["README.md"],
    );
  } finally {
    writeFileSync(card, before);
  }
});

test("S3 errors are typed: missing key, wrong credentials; secrets never in messages", async () => {
  await assert.rejects(
    openDataset("s3://bucket/not-there", { remote: { endpoint: s3.endpoint } }),
    { code: "ASTROPILE_NOT_FOUND" },
  );
  process.env.AWS_ACCESS_KEY_ID = "NOT-A-KEY";
  process.env.AWS_SECRET_ACCESS_KEY = "wrong-secret-value";
  try {
    const err = await openDataset("s3://bucket/surveys/hsc", {
      remote: { endpoint: s3.endpoint, region: "eu-west-1" },
    }).then(
      () => null,
      (e: Error) => e,
    );
    assert.ok(err, "opened with a wrong secret");
    assert.equal((err as { code?: string }).code, "ASTROPILE_REMOTE_DENIED");
    assert.ok(!String(err.message).includes("wrong-secret-value"));
  } finally {
    Object.assign(process.env, S3RVER_CREDENTIALS);
  }
});

test("astropile publish --dry-run lists what would move, and uploads nothing", () => {
  const run = spawnSync(
    process.execPath,
    cliArgs(
      "publish",
      join(dir, "hsc"),
      "s3://bucket/cli-dry",
      "--endpoint",
      s3.endpoint,
      "--dry-run",
      "--json",
    ),
    { encoding: "utf8", env: { ...process.env, ...S3RVER_CREDENTIALS } },
  );
  assert.equal(run.status, 0, run.stderr);
  const plan = JSON.parse(run.stdout);
  assert.equal(plan.dryRun, true);
  assert.ok(plan.files.some((f: { path: string }) => f.path === "astropile.json"));
  assert.ok(!run.stdout.includes("S3RVER") && !run.stderr.includes("S3RVER"));
});

test("a publish that fails half-way leaves the previous version readable, and a re-run resumes", async () => {
  const dest = "s3://bucket/surveys/resume";
  const root = tempDir();
  cpSync(join(dir, "hsc"), join(root, "hsc"), { recursive: true });
  // A file of three 5 MiB parts goes up as a multipart upload, read back and checked.
  const big = Uint8Array.from({ length: 11 << 20 }, (_, i) => (i * 7919) % 256);
  writeFileSync(join(root, "hsc", "big.bin"), big);
  const first = await publishDataset(join(root, "hsc"), dest, {
    endpoint: s3.endpoint,
    partBytes: 5 << 20,
  });
  assert.ok(first.files.some((f) => f.path === "big.bin" && f.action === "upload"));
  mkdirSync(join(root, "hsc", "notes"));
  writeFileSync(join(root, "hsc", "notes", "a.txt"), "new file\n");
  writeFileSync(join(root, "hsc", "notes", "b.txt"), "another\n");
  appendFileSync(join(root, "hsc", "README.md"), "\nChanged.\n");
  await publishKilledAfter(1, join(root, "hsc"), dest);
  // The previous version is what readers see: its card, and its rows.
  const remote = await openDataset(dest, { remote: { endpoint: s3.endpoint, maxCacheBytes: 0 } });
  const local = await openDataset(join(dir, "hsc"));
  assert.deepEqual(await remote.get(5), await local.get(5));
  const resumed = await publishDataset(join(root, "hsc"), dest, { endpoint: s3.endpoint });
  assert.deepEqual(
    resumed.files.filter((f) => f.action === "upload").map((f) => f.path),
    ["README.md", "notes/b.txt"],
  );
});

/**
 * A proxy in front of the S3 server counting GETs, and flipping one byte of the body of PUTs
 * whose path contains `corrupt` (the signed headers stay as sent: what a faulty link would do).
 */
async function startProxy(target: string, corrupt: string | null) {
  const seen = { gets: 0, puts: 0 };
  const server = createServer((req, res) => {
    if (req.method === "GET") seen.gets++;
    if (req.method === "PUT") seen.puts++;
    const flip = req.method === "PUT" && corrupt !== null && (req.url ?? "").includes(corrupt);
    let flipped = false;
    const up = request(
      `${target}${req.url}`,
      { method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on("error", () => res.destroy());
    req.on("data", (chunk: Buffer) => {
      if (flip && !flipped && chunk.length > 100) {
        chunk = Buffer.from(chunk);
        chunk[50] ^= 0xff;
        flipped = true;
      }
      up.write(chunk);
    });
    req.on("end", () => up.end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test("re-publishing rewritten partition files: a failure before the commit leaves the previous version whole; the re-run moves the staged files into place", async () => {
  const dest = "s3://bucket/surveys/rewritten";
  await publishDataset(join(dir, "hsc"), dest, { endpoint: s3.endpoint });
  // The same rows and files, other magnitudes: every partition file has other bytes.
  const v2 = tempDir();
  const rows = imageRows(1500, 3);
  (rows["forced.g_cmodel_mag"] as Float32Array).forEach((_, i, a) => {
    a[i] = 30 - (i % 50) / 10;
  });
  await writeDataset(join(v2, "hsc"), IMAGE_COLUMNS, inBatches(rows, IMAGE_COLUMNS, 500), {
    config: "pdr3",
    provenance: { project: "test", survey: "HSC", release: "pdr3" },
    maxRowsPerFile: 600,
  });
  const v1Files = (await readManifest(join(dir, "hsc"))).files.map((f) => f.path);
  assert.deepEqual(
    (await readManifest(join(v2, "hsc"))).files.map((f) => f.path),
    v1Files,
  );
  await publishKilledAfter(2, join(v2, "hsc"), dest);
  const all = Array.from({ length: 1500 }, (_, i) => i);
  const mags = async (root: string) => {
    const ds = await openDataset(root, { remote: { endpoint: s3.endpoint, maxCacheBytes: 0 } });
    return (await ds.select(["object_id", "forced.g_cmodel_mag"]).take(all)).map((r) => [
      r.object_id,
      r["forced.g_cmodel_mag"],
    ]);
  };
  // Two rewritten files are up (staged), none in place: readers see the first version whole.
  assert.deepEqual(await mags(dest), await mags(join(dir, "hsc")));
  const resumed = await publishDataset(join(v2, "hsc"), dest, { endpoint: s3.endpoint });
  assert.ok(resumed.files.filter((f) => f.action === "upload").length >= v1Files.length);
  assert.deepEqual(await mags(dest), await mags(join(v2, "hsc")));
  const left = await (await s3Client({ endpoint: s3.endpoint })).send(
    new ListObjectsV2Command({ Bucket: "bucket", Prefix: "surveys/rewritten/.astropile-staging/" }),
  );
  assert.equal(left.KeyCount ?? 0, 0, "no staged file is left behind");
});

test("uploads are verified by the store's ETag (no read-back); bytes damaged on the way are caught", async () => {
  const honest = await startProxy(s3.endpoint, null);
  try {
    const result = await publishDataset(join(dir, "hsc"), "s3://bucket/etag-checked", {
      endpoint: honest.endpoint,
      // Small parts, so partition files go up in several parts (multipart ETags).
      partBytes: 5 << 20,
    });
    assert.ok(result.uploadedBytes > 0);
    // HEADs for the plan, PUTs for the files: no GET reads an object back.
    assert.equal(honest.seen.gets, 0, "nothing was read back");
    assert.ok(honest.seen.puts >= result.files.length);
  } finally {
    await honest.close();
  }
  const faulty = await startProxy(s3.endpoint, ".hdf5");
  try {
    await assert.rejects(
      publishDataset(join(dir, "hsc"), "s3://bucket/damaged", { endpoint: faulty.endpoint }),
      (err: Error & { code?: string }) => {
        assert.equal(err.name, "PublishError", String(err));
        // The ETag (MD5 of what the store got) disagreed, the read-back found other bytes.
        assert.match(err.message, /uploaded object has sha256 \w+, not the local file's/);
        return true;
      },
    );
  } finally {
    await faulty.close();
  }
  // The damaged publish never wrote its manifest: nothing readable at that prefix.
  await assert.rejects(
    openDataset("s3://bucket/damaged", { remote: { endpoint: s3.endpoint, cacheDir } }),
  );
});
