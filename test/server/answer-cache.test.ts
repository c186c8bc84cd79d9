// The answer cache and ETags of the dataset routes (src/server/answer-cache.ts): a second answer
// is the first one's bytes, a rebuilt dataset is never answered from the old one, errors are not
// kept or tagged, the cache stays within its bytes, and a quiet spell empties it and gives the
// memory back (src/server/idle-trim.ts).
import assert from "node:assert/strict";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { type Dataset, openDataset } from "../../src/dataset/dataset.ts";
import { AnswerCache } from "../../src/server/answer-cache.ts";
import { createServer } from "../../src/server/app.ts";
import type { DatasetDirectory } from "../../src/server/directory.ts";
import { LocalDirectory } from "../../src/server/local-directory.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { IMAGE_COLUMNS, imageRows, inBatches } from "../dataset/fixtures.ts";
import { tempDir } from "../helpers/tmp.ts";
import { type Running, startServer } from "./fixtures.ts";

const dir = tempDir();
const root = join(dir, "hsc");
let server: Running;
let api: string;
let local: Dataset;

async function writeRows(at: string, rows: number, seed: number): Promise<void> {
  await writeDataset(at, IMAGE_COLUMNS, inBatches(imageRows(rows, seed), IMAGE_COLUMNS, 250), {
    config: "pdr3",
    provenance: { survey: "HSC", release: "pdr3" },
    maxRowsPerFile: 200,
  });
}

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${api}${path}`, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, body };
}

before(async () => {
  await writeRows(root, 600, 5);
  // Answers up to 40 kB are kept, in 1 MB at most. Never trimmed: its trim would also empty the
  // decoded chunks of this process (they are per thread) in the middle of the quiet-spell test.
  server = await startServer([root], {
    answerCache: { maxBytes: 1e6, maxEntryBytes: 40_000 },
    trimWhenIdleMs: 0,
  });
  api = `${server.url}/api/v1/datasets/hsc`;
  local = await openDataset(root);
});
after(async () => {
  await server?.close();
  local?.close();
});

test("a second answer is a hit with the first answer's bytes and headers, for every kind of answer", async () => {
  const ex = await local.get(7);
  const paths = [
    "/rows?offset=10&limit=50",
    "/rows?offset=10&limit=50&format=csv",
    "/rows?offset=10&limit=50&format=arrow",
    `/cone?ra=${ex.ra}&dec=${ex.dec}&radius=600&limit=20`,
    `/examples/${ex.object_id}`,
    `/examples/${ex.object_id}?format=safetensors`,
    "/examples?index=7",
    `/examples/${ex.object_id}/image.png?band=hsc-r`,
    "/coverage",
  ];
  for (const path of paths) {
    const first = await get(path);
    assert.equal(first.status, 200, path);
    assert.equal(first.headers.get("x-astropile-cache"), "miss", path);
    const second = await get(path);
    assert.equal(second.headers.get("x-astropile-cache"), "hit", path);
    assert.ok(second.body.equals(first.body), `${path}: same bytes`);
    assert.equal(second.headers.get("content-type"), first.headers.get("content-type"), path);
    assert.equal(second.headers.get("etag"), first.headers.get("etag"), path);
    assert.equal(second.headers.get("content-length"), String(first.body.length), path);
  }
});

test("If-None-Match with the answer's ETag is 304; another query has another tag", async () => {
  const a = await get("/rows?offset=0&limit=5");
  const etag = a.headers.get("etag")!;
  assert.match(etag, /^"[\w-]{32}"$/);
  const again = await get("/rows?offset=0&limit=5", { "If-None-Match": etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  const weak = await get("/rows?offset=0&limit=5", { "If-None-Match": `"x", W/${etag}` });
  assert.equal(weak.status, 304);
  const other = await get("/rows?offset=5&limit=5", { "If-None-Match": etag });
  assert.equal(other.status, 200);
  assert.notEqual(other.headers.get("etag"), etag);
});

test("errors are neither kept nor tagged", async () => {
  for (let k = 0; k < 2; k++) {
    const bad = await get("/rows?filter=nosuchcolumn%20%3E%201");
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get("etag"), null);
    assert.equal(bad.headers.get("x-astropile-cache"), "miss");
  }
  const missing = await get("/examples/12345");
  assert.equal(missing.status, 404);
  assert.equal(missing.headers.get("etag"), null);
});

test("answers larger than an entry may be are sent whole and not kept", async () => {
  const path = "/rows?limit=600&format=csv";
  const first = await get(path);
  assert.ok(first.body.length > 40_000, `${first.body.length} bytes`);
  const second = await get(path);
  assert.equal(second.headers.get("x-astropile-cache"), "miss");
  assert.ok(second.body.equals(first.body));
  assert.equal(second.body.toString().trim().split("\n").length, 601);
});

test("a dataset rebuilt in place is answered from its new manifest, never the old answers", async () => {
  const path = "/rows?offset=0&limit=20&columns=object_id,ra";
  const before = await get(path);
  const oldTag = before.headers.get("etag")!;
  assert.equal((await get(path)).headers.get("x-astropile-cache"), "hit");
  // Another build, swapped in under the same name.
  const next = join(dir, "hsc-next");
  await writeRows(next, 300, 11);
  await rm(root, { recursive: true });
  await rename(next, root);
  const after = await get(path, { "If-None-Match": oldTag });
  assert.equal(after.status, 200, "the old tag no longer matches");
  assert.equal(after.headers.get("x-astropile-cache"), "miss");
  assert.notEqual(after.headers.get("etag"), oldTag);
  const rebuilt = await openDataset(root);
  try {
    const want = await rebuilt.select(["object_id", "ra"]).take([...Array(20).keys()]);
    const got = JSON.parse(after.body.toString()) as {
      total: number;
      rows: Array<{ object_id: string; ra: number }>;
    };
    assert.equal(got.total, 300);
    assert.deepEqual(
      got.rows.map((r) => [r.object_id, r.ra]),
      want.map((r) => [String(r.object_id), r.ra]),
    );
  } finally {
    rebuilt.close();
  }
});

test("a request looks its dataset up once (one stat of the manifest), made or from the cache", async () => {
  // The real directory, counted: every lookup of an entry (and so every stat of its manifest).
  const real = await LocalDirectory.open([root]);
  let lookups = 0;
  const counted: DatasetDirectory = {
    list: (q) => real.list(q),
    get: (name) => {
      lookups++;
      return real.get(name);
    },
    getStamped: (name) => {
      lookups++;
      return real.getStamped(name);
    },
  };
  const app = await createServer({ directory: counted, answerCache: { maxBytes: 1e6 } });
  try {
    for (const [path, cache] of [
      ["/rows?offset=3&limit=4", "miss"],
      ["/rows?offset=3&limit=4", "hit"],
      ["/examples?index=2", "miss"],
      ["/coverage", "miss"],
    ]) {
      lookups = 0;
      const res = await app.inject(`/api/v1/datasets/hsc${path}`);
      assert.equal(res.statusCode, 200, path);
      assert.equal(res.headers["x-astropile-cache"], cache, path);
      assert.equal(lookups, 1, `${path} (${cache}): one lookup`);
    }
  } finally {
    await app.close();
  }
});

test("the cache keeps at most its bytes, least recently used out first", () => {
  const cache = new AnswerCache({ maxBytes: 10_000, maxEntryBytes: 3_000 });
  const body = (n: number) => ({ body: Buffer.alloc(n, 1), headers: {} });
  for (let i = 0; i < 20; i++) {
    cache.set(`k${i}`, body(1_000));
    if (i === 5) assert.ok(cache.get("k0"), "k0 used again");
    assert.ok(cache.bytes <= 10_000, `${cache.bytes} bytes after ${i + 1} answers`);
  }
  assert.ok(cache.get("k19"));
  assert.equal(cache.get("k1"), undefined, "the least recently used went first");
  cache.set("big", body(5_000));
  assert.equal(cache.get("big"), undefined, "an answer over the entry size is not kept");
  assert.ok(cache.size <= 10);
});

test("after a quiet spell the answers are dropped and memory comes back down", async () => {
  const quiet = await startServer([root], {
    answerCache: { maxBytes: 64 * 2 ** 20, maxEntryBytes: 2 ** 20 },
    // Long enough that a stalled moment of a loaded CI machine between two of the requests below
    // does not trim the cache while it is being filled.
    trimWhenIdleMs: 2000,
  });
  try {
    const url = `${quiet.url}/api/v1/datasets/hsc`;
    // Each figure after a full collection. What the quiet spell must give back is the answers'
    // bytes (`kept`: every answer fits the cache); the process's other buffers may shrink
    // meanwhile (the decoded chunks of earlier tests, per thread), which only adds to the drop.
    setFlagsFromString("--expose-gc");
    const collect = runInNewContext("gc") as () => void;
    const heldBuffers = () => {
      collect();
      return process.memoryUsage().arrayBuffers;
    };
    let kept = 0;
    for (let i = 0; i < 600; i++) {
      const answer = await fetch(`${url}/examples?index=${i}&format=safetensors`);
      kept += (await answer.arrayBuffer()).byteLength;
    }
    const again = await fetch(`${url}/examples?index=5&format=safetensors`);
    await again.arrayBuffer();
    assert.equal(again.headers.get("x-astropile-cache"), "hit", "the cache holds the answers");
    const filled = heldBuffers();
    // No request for 2 s: the next check (every second) trims. Nothing may be asked meanwhile.
    await new Promise((r) => setTimeout(r, 4500));
    const trimmed = heldBuffers();
    assert.ok(
      filled - trimmed > 0.8 * kept,
      `memory back down by the ${kept} bytes of answers: ${filled} filled, ${trimmed} after the quiet spell`,
    );
    const later = await fetch(`${url}/examples?index=5&format=safetensors`);
    await later.arrayBuffer();
    assert.equal(later.headers.get("x-astropile-cache"), "miss");
  } finally {
    await quiet.close();
  }
});
