// The files route: what a byte-range reader needs (ETag, Range, conditionals) and nothing outside
// the dataset (traversal, symlinks, unlisted files).
import assert from "node:assert/strict";
import { readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { readManifest } from "../../src/storage/manifest.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, type Running, startServer, writeHsc } from "./fixtures.ts";

const dir = tempDir();
let root: string;
let server: Running;
let partPath: string;
let files: string;

before(async () => {
  root = await writeHsc(dir, 600);
  partPath = (await readManifest(root)).files[0]!.path;
  writeFileSync(join(dir, "outside.txt"), "secret");
  // Unlisted files inside the root, and a symlink leaving it.
  writeFileSync(join(root, "notes.txt"), "not part of the dataset");
  symlinkSync(join(dir, "outside.txt"), join(root, "escape.hdf5"));
  server = await startServer([root]);
  files = `${server.url}/api/v1/datasets/hsc/files`;
});
after(async () => {
  await server?.close();
});

test("a file is served whole, by ranges, and with validators", async () => {
  const bytes = readFileSync(join(root, partPath));
  const whole = await fetch(`${files}/${partPath}`);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get("accept-ranges"), "bytes");
  assert.equal(whole.headers.get("content-type"), "application/x-hdf5");
  const etag = whole.headers.get("etag")!;
  assert.match(etag, /^"[0-9a-f-]+"$/, "a strong ETag");
  assert.deepEqual(Buffer.from(await whole.arrayBuffer()), bytes);

  const part = await fetch(`${files}/${partPath}`, { headers: { range: "bytes=100-199" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 100-199/${bytes.length}`);
  assert.deepEqual(Buffer.from(await part.arrayBuffer()), bytes.subarray(100, 200));
  const tail = await fetch(`${files}/${partPath}`, { headers: { range: "bytes=-10" } });
  assert.equal(tail.status, 206);
  assert.deepEqual(Buffer.from(await tail.arrayBuffer()), bytes.subarray(bytes.length - 10));
  const open = await fetch(`${files}/${partPath}`, {
    headers: { range: `bytes=${bytes.length - 5}-` },
  });
  assert.deepEqual(Buffer.from(await open.arrayBuffer()), bytes.subarray(bytes.length - 5));
  const beyond = await call(`${files}/${partPath}`, {
    headers: { range: `bytes=${bytes.length}-` },
  });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get("content-range"), `bytes */${bytes.length}`);
  assert.equal(beyond.body.error.parameter, "range");
  // Several ranges: the whole file (allowed by RFC 9110).
  const several = await fetch(`${files}/${partPath}`, { headers: { range: "bytes=0-1,5-6" } });
  assert.equal(several.status, 200);
  assert.equal((await several.arrayBuffer()).byteLength, bytes.length);

  const notModified = await fetch(`${files}/${partPath}`, { headers: { "if-none-match": etag } });
  assert.equal(notModified.status, 304);
  const matched = await fetch(`${files}/${partPath}`, {
    headers: { "if-match": etag, range: "bytes=0-3" },
  });
  assert.equal(matched.status, 206);
  assert.deepEqual(Buffer.from(await matched.arrayBuffer()), bytes.subarray(0, 4));
  const changed = await call(`${files}/${partPath}`, { headers: { "if-match": '"other"' } });
  assert.equal(changed.status, 412);
  // If-Range with another validator: the whole file.
  const ifRange = await fetch(`${files}/${partPath}`, {
    headers: { "if-range": '"other"', range: "bytes=0-3" },
  });
  assert.equal(ifRange.status, 200);
  await ifRange.arrayBuffer();

  const head = await fetch(`${files}/${partPath}`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(bytes.length));
  assert.equal(head.headers.get("etag"), etag);

  const manifest = await call(`${files}/astropile.json`);
  assert.equal(manifest.status, 200);
  assert.deepEqual(manifest.body, JSON.parse(readFileSync(join(root, "astropile.json"), "utf8")));
});

test("paths outside the dataset, unlisted files and symlinks out are refused", async () => {
  // 404 where the URL parser (fetch's, then the router's) already resolved the dots and the
  // request left the files route.
  const refused: Array<[string, number]> = [
    ["/../outside.txt", 404],
    ["/%2e%2e/outside.txt", 404],
    ["/%2e%2e%2foutside.txt", 400],
    ["/pdr3/..%2F..%2Foutside.txt", 400],
    ["/%2Fetc%2Fpasswd", 400],
    ["//etc/passwd", 400],
    ["/astropile.json%00.png", 400],
    ["/pdr3%5C..%5C..%5Coutside.txt", 400],
    ["/notes.txt", 404],
    ["/escape.hdf5", 404],
    ["/", 404],
    ["/pdr3", 404],
    [`/${"a/".repeat(600)}x`, 400],
  ];
  for (const [path, status] of refused) {
    const res = await call(`${files}${path}`);
    assert.equal(res.status, status, `${path}: ${res.text}`);
    assert.ok(res.body?.error?.code, path);
    assert.ok(!res.text.includes("secret"));
  }
  // A symlink leaving the root is refused even where a served name points to it.
  rmSync(join(root, "README.md"));
  symlinkSync(join(dir, "outside.txt"), join(root, "README.md"));
  const escaped = await call(`${files}/README.md`);
  assert.equal(escaped.status, 400);
  assert.equal(escaped.body.error.parameter, "path");
  assert.ok(!escaped.text.includes("secret"));
});
