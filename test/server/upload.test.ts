// The write side: a dataset published to a real server over HTTP (uploadRoutes + the http publish
// client), read back over the files route and from the published directory; keys, checksums,
// manifest order, traversal, replace and resume.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, utimesSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { openDataset } from "../../src/dataset/dataset.ts";
import { publishDataset } from "../../src/remote/publish.ts";
import { createServer } from "../../src/server/app.ts";
import type { CatalogEntry, DatasetDirectory } from "../../src/server/directory.ts";
import { KeyStore } from "../../src/server/keys.ts";
import { LocalDirectory } from "../../src/server/local-directory.ts";
import { sweepStaging, uploadRoutes } from "../../src/server/routes-upload.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, type Running, writeHsc } from "./fixtures.ts";

const dir = tempDir();
const pub = join(dir, "published");
let source: string;
let server: Running;
let writeKey: string;
let otherWriteKey: string;
let readKey: string;
const published: string[] = [];
let flakyFailures = 0;

/** A directory over the published datasets, re-read by onPublished (the real LocalDirectory). */
let current: LocalDirectory;
const directory: DatasetDirectory = {
  list: (q) => current.list(q),
  get: (name: string): Promise<CatalogEntry | undefined> => current.get(name),
};

const run = promisify(execFile);
const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

before(async () => {
  source = await writeHsc(join(dir, "src"), 600);
  const keys = await KeyStore.open(join(dir, "keys.json"));
  writeKey = (await keys.create({ name: "publisher", scope: "write" })).key;
  otherWriteKey = (await keys.create({ name: "other", scope: "write" })).key;
  readKey = (await keys.create({ name: "reader", scope: "read" })).key;
  current = await LocalDirectory.open([]);
  const app = await createServer({
    directory,
    keys,
    // Far below the files' size: uploads must not be held to the app's body limit.
    limits: { bodyBytes: 4096 },
    routes: [
      // A transient failure: the first PUT of each file of dataset "flaky" is answered 503.
      async (app) => {
        const failed = new Set<string>();
        app.addHook("onRequest", async (req, reply) => {
          if (req.method !== "PUT" || !req.url.startsWith("/api/v1/datasets/flaky/")) return;
          if (failed.has(req.url)) return;
          failed.add(req.url);
          flakyFailures++;
          reply.status(503).send({ error: { code: "TEST_UNAVAILABLE", message: "try again" } });
          return reply;
        });
      },
      uploadRoutes({
        root: pub,
        maxFileBytes: 50 * 1024 * 1024,
        onPublished: async (name, location) => {
          published.push(name);
          const locations = [...new Set([...published.map((n) => join(pub, n)), location])];
          current = await LocalDirectory.open(locations);
        },
      }),
    ],
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  if (!address || typeof address === "string") throw new Error("no port");
  server = { app, url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
});
after(async () => {
  await server?.close();
});

/** A raw request whose path is sent as written (fetch would normalise `..`). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<{
  status: number;
  json: { error?: { code: string; message: string; parameter?: string } };
}> {
  return new Promise((resolve, reject) => {
    const u = new URL(server.url);
    const req = request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : {} });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/**
 * The rows of a dataset read over HTTP from a child process: remote reads block their thread
 * while a worker fetches, so a reader in the server's own process would wait on itself.
 */
async function rowsOverHttp(location: string): Promise<Record<string, unknown[]>> {
  const code = `
    const { openDataset } = await import(${JSON.stringify(pathToFileURL(join(process.cwd(), "src/dataset/dataset.ts")).href)});
    const ds = await openDataset(${JSON.stringify(location)});
    const out = {};
    for await (const b of ds.select(["object_id", "ra", "dec"]).batches({ size: 250 }))
      for (const [k, v] of Object.entries(b.columns)) (out[k] ??= []).push(...Array.from(v, (x) => typeof x === "bigint" ? x.toString() : x));
    ds.close();
    process.stdout.write(JSON.stringify(out));`;
  const { stdout } = await run(
    process.execPath,
    [
      "--import",
      "./test/helpers/preload.mjs",
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      code,
    ],
    { maxBuffer: 64 << 20 },
  );
  return JSON.parse(stdout);
}

/** Every row of a dataset (scalar columns), for comparing two copies (bigints as strings). */
async function rowsOf(location: string): Promise<Record<string, unknown[]>> {
  const ds = await openDataset(location);
  try {
    const out: Record<string, unknown[]> = {};
    for await (const b of ds.select(["object_id", "ra", "dec"]).batches({ size: 250 }))
      for (const [k, v] of Object.entries(b.columns)) {
        out[k] = out[k] ?? [];
        out[k].push(
          ...Array.from(v as ArrayLike<unknown>, (x) => (typeof x === "bigint" ? x.toString() : x)),
        );
      }
    return out;
  } finally {
    ds.close();
  }
}

test("a write key is needed: none is 401, a read key 403", async () => {
  const url = `${server.url}/api/v1/datasets/hsc/files/x.hdf5`;
  const headers = { "x-checksum-sha256": sha("abc") };
  const none = await call(url, { method: "PUT", headers, body: "abc" });
  assert.equal(none.status, 401);
  const reader = await call(url, {
    method: "PUT",
    headers: { ...headers, ...bearer(readKey) },
    body: "abc",
  });
  assert.equal(reader.status, 403);
  assert.equal(reader.body.error.code, "ASTROPILE_FORBIDDEN");
  const status = await call(`${server.url}/api/v1/datasets/hsc/upload`, {
    headers: bearer(readKey),
  });
  assert.equal(status.status, 403);
  const abort = await call(`${server.url}/api/v1/datasets/hsc/upload`, { method: "DELETE" });
  assert.equal(abort.status, 401);
  assert.equal(
    existsSync(join(pub, ".staging", "hsc")),
    false,
    "nothing staged by refused requests",
  );
});

test("paths outside the dataset are refused with 400 naming the path", async () => {
  const body = Buffer.from("x");
  const headers = { ...bearer(writeKey), "x-checksum-sha256": sha(body) };
  for (const path of [
    "../evil",
    "a/../../evil",
    "%2e%2e/evil",
    "..%2fevil",
    "%252e%252e/evil",
    "a%00b",
    "a%5Cb",
    "a\\b",
    "/etc/passwd",
    "./a",
    "a//b",
  ]) {
    const res = await raw("PUT", `/api/v1/datasets/trav/files/${path}`, headers, body);
    assert.equal(res.status, 400, `${path} refused`);
    assert.equal(res.json.error?.parameter, "path", path);
  }
  // The router resolved nothing outside the staging area.
  assert.equal(existsSync(join(pub, "evil")), false);
  assert.equal(existsSync(join(pub, ".staging", "evil")), false);
  assert.equal(existsSync(join(dir, "evil")), false);
  await call(`${server.url}/api/v1/datasets/trav/upload`, {
    method: "DELETE",
    headers: bearer(writeKey),
  });
});

test("a checksum mismatch is 400 naming the header and keeps nothing", async () => {
  const body = Buffer.from("some bytes");
  const res = await call(`${server.url}/api/v1/datasets/bad/files/a/b.hdf5`, {
    method: "PUT",
    headers: { ...bearer(writeKey), "x-checksum-sha256": sha("other bytes") },
    body,
  });
  assert.equal(res.status, 400);
  assert.equal(res.body.error.parameter, "X-Checksum-SHA256");
  const missing = await call(`${server.url}/api/v1/datasets/bad/files/a/b.hdf5`, {
    method: "PUT",
    headers: bearer(writeKey),
    body,
  });
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.parameter, "X-Checksum-SHA256");
  const status = await call(`${server.url}/api/v1/datasets/bad/upload`, {
    headers: bearer(writeKey),
  });
  assert.deepEqual(status.body.files, []);
  assert.deepEqual(readdirSync(join(pub, ".staging", "bad", "tmp")), [], "no partial file left");
  assert.equal(existsSync(join(pub, ".staging", "bad", "files", "a", "b.hdf5")), false);
  const abort = await call(`${server.url}/api/v1/datasets/bad/upload`, {
    method: "DELETE",
    headers: bearer(writeKey),
  });
  assert.equal(abort.status, 204);
  assert.equal(existsSync(join(pub, ".staging", "bad")), false);
});

test("a manifest before its files is 409 naming a missing file; a bad one is 400", async () => {
  const manifest = readFileSync(join(source, "astropile.json"));
  const first = (await readManifest(source)).files[0]!.path;
  const early = await call(`${server.url}/api/v1/datasets/early/files/astropile.json`, {
    method: "PUT",
    headers: { ...bearer(writeKey), "x-checksum-sha256": sha(manifest) },
    body: manifest,
  });
  assert.equal(early.status, 409);
  assert.equal(early.body.error.code, "ASTROPILE_UPLOAD_INCOMPLETE");
  assert.match(early.body.error.message, new RegExp(first.replace(/[.]/g, "\\.")));
  assert.equal(existsSync(join(pub, "early")), false, "nothing published");

  const broken = Buffer.from('{"format": "astropile", "formatVersion": 1}');
  const bad = await call(`${server.url}/api/v1/datasets/early/files/astropile.json`, {
    method: "PUT",
    headers: { ...bearer(writeKey), "x-checksum-sha256": sha(broken) },
    body: broken,
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "ASTROPILE_BAD_MANIFEST");
  assert.equal(bad.body.error.parameter, "astropile.json");
  assert.equal(existsSync(join(pub, "early")), false);
});

test("one staging area per name: another key's upload is 409 until aborted", async () => {
  const body = Buffer.from("x");
  const put = (key: string) =>
    call(`${server.url}/api/v1/datasets/shared/files/a.bin`, {
      method: "PUT",
      headers: { ...bearer(key), "x-checksum-sha256": sha(body) },
      body,
    });
  assert.equal((await put(writeKey)).status, 201);
  const clash = await call(`${server.url}/api/v1/datasets/shared/files/a.bin/b.bin`, {
    method: "PUT",
    headers: { ...bearer(writeKey), "x-checksum-sha256": sha(body) },
    body,
  });
  assert.equal(clash.status, 409, "a file staged where a directory would be");
  assert.equal(clash.body.error.code, "ASTROPILE_UPLOAD_CONFLICT");
  const other = await put(otherWriteKey);
  assert.equal(other.status, 409);
  assert.equal(other.body.error.code, "ASTROPILE_UPLOAD_BUSY");
  await call(`${server.url}/api/v1/datasets/shared/upload`, {
    method: "DELETE",
    headers: bearer(writeKey),
  });
  assert.equal((await put(otherWriteKey)).status, 201);
  await call(`${server.url}/api/v1/datasets/shared/upload`, {
    method: "DELETE",
    headers: bearer(writeKey),
  });
});

test("an abandoned staging area (no upload for the TTL) is taken over by another key, and swept", async () => {
  const body = Buffer.from("abandoned");
  const put = (key: string, name: string) =>
    call(`${server.url}/api/v1/datasets/${name}/files/a.bin`, {
      method: "PUT",
      headers: { ...bearer(key), "x-checksum-sha256": sha(body) },
      body,
    });
  assert.equal((await put(writeKey, "left")).status, 201);
  assert.equal((await put(otherWriteKey, "left")).status, 409, "still in use");
  // Its publisher went away two days ago.
  const owner = join(pub, ".staging", "left", "owner.json");
  const old = new Date(Date.now() - 2 * 24 * 3600 * 1000);
  utimesSync(owner, old, old);
  assert.equal((await put(otherWriteKey, "left")).status, 201, "taken over");
  const status = await call(`${server.url}/api/v1/datasets/left/upload`, {
    headers: bearer(otherWriteKey),
  });
  assert.deepEqual(
    status.body.files.map((f: { path: string }) => f.path),
    ["a.bin"],
  );
  // A second PUT by the owner counts as activity: a recent area is not swept.
  assert.equal((await put(otherWriteKey, "left")).status, 201);
  assert.deepEqual(await sweepStaging(pub), []);
  // The sweep removes what was abandoned, and nothing being committed.
  assert.equal((await put(writeKey, "gone")).status, 201);
  utimesSync(join(pub, ".staging", "gone", "owner.json"), old, old);
  utimesSync(owner, old, old);
  assert.deepEqual(await sweepStaging(pub, undefined, new Set(["left"])), ["gone"]);
  assert.ok(!existsSync(join(pub, ".staging", "gone")));
  assert.ok(existsSync(join(pub, ".staging", "left")));
  await call(`${server.url}/api/v1/datasets/left/upload`, {
    method: "DELETE",
    headers: bearer(otherWriteKey),
  });
});

test("publish over HTTP: served rows identical, locally and through the files route", async () => {
  const dest = `${server.url}/api/v1/datasets/hsc`;
  const denied = await publishDataset(source, dest, { apiKey: readKey }).catch((e) => e);
  assert.equal(denied.code, "ASTROPILE_REMOTE_DENIED");
  const progress: string[] = [];
  const result = await publishDataset(source, dest, {
    apiKey: writeKey,
    onProgress: (p) => progress.push(`${p.filesDone}/${p.filesTotal} ${p.file}`),
  });
  const manifest = await readManifest(source);
  assert.ok(manifest.files.length >= 2, "several files");
  assert.ok(result.uploadedBytes > 4096, "files larger than the app's body limit went up");
  assert.equal(progress.length, result.files.length);
  assert.match(progress.at(-1)!, /astropile\.json$/, "manifest last");
  assert.deepEqual(published, ["hsc"]);
  assert.equal(existsSync(join(pub, ".staging", "hsc")), false, "staging removed");
  for (const f of manifest.files)
    assert.deepEqual(readFileSync(join(pub, "hsc", f.path)), readFileSync(join(source, f.path)));

  const expected = await rowsOf(source);
  assert.equal(expected.object_id!.length, 600);
  assert.deepEqual(await rowsOf(join(pub, "hsc")), expected);
  assert.deepEqual(await rowsOverHttp(`${server.url}/api/v1/datasets/hsc/files/`), expected);

  // Published: a second publish without replace is refused before anything moves.
  const again = await publishDataset(source, dest, { apiKey: writeKey }).catch((e) => e);
  assert.equal(again.code, "ASTROPILE_PUBLISH");
  assert.match(again.message, /replace/);
});

test("replace: a new version takes the place of the old one", async () => {
  const v2 = await writeHsc(join(dir, "v2"), 300);
  const dest = `${server.url}/api/v1/datasets/hsc`;
  await publishDataset(v2, dest, { apiKey: writeKey, replace: true });
  assert.deepEqual(await rowsOf(join(pub, "hsc")), await rowsOf(v2));
  assert.equal(
    (await rowsOverHttp(`${server.url}/api/v1/datasets/hsc/files/`)).object_id!.length,
    300,
  );
  assert.deepEqual(
    readdirSync(join(pub, ".staging")).filter((n) => n.startsWith("hsc")),
    [],
    "old version and staging deleted",
  );
});

test("an interrupted publish resumes: staged files are skipped", async () => {
  const dest = `${server.url}/api/v1/datasets/resumed`;
  let seen = 0;
  const stopped = await publishDataset(source, dest, {
    apiKey: writeKey,
    concurrency: 1,
    onProgress: () => {
      if (++seen === 2) throw new Error("stopped");
    },
  }).catch((e) => e);
  assert.equal(stopped.message, "stopped");
  assert.equal(existsSync(join(pub, "resumed")), false, "not published half-way");
  const dry = await publishDataset(source, dest, { apiKey: writeKey, dryRun: true });
  const skipped = dry.files.filter((f) => f.action === "skip").map((f) => f.path);
  assert.equal(skipped.length, 2);
  assert.ok(!skipped.includes("astropile.json"));
  const result = await publishDataset(source, dest, { apiKey: writeKey });
  assert.deepEqual(
    result.files.filter((f) => f.action === "skip").map((f) => f.path),
    skipped,
  );
  assert.deepEqual(await rowsOf(join(pub, "resumed")), await rowsOf(source));
});

test("astropile publish to a server: killed mid-way, run again it resumes", async () => {
  const dest = `${server.url}/api/v1/datasets/killed`;
  const child = spawn(process.execPath, cliArgs("publish", source, dest, "--concurrency", "1"), {
    env: { ...process.env, ASTROPILE_API_KEY: writeKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
    if (/publish: 1\/\d+ files/.test(stderr)) child.kill("SIGKILL");
  });
  assert.equal(await exited, "SIGKILL", `killed after the first file (stderr: ${stderr})`);
  assert.equal(existsSync(join(pub, "killed")), false, "not published by the killed run");
  assert.doesNotMatch(stderr, new RegExp(writeKey), "the key is never printed");

  const again = await run(
    process.execPath,
    cliArgs("publish", source, dest, "--key", writeKey, "--json", "--quiet"),
  );
  const result = JSON.parse(again.stdout) as { files: { path: string; action: string }[] };
  assert.ok(result.files.filter((f) => f.action === "skip").length >= 1, "staged files skipped");
  assert.equal(result.files.find((f) => f.path === "astropile.json")?.action, "upload");
  assert.deepEqual(await rowsOf(join(pub, "killed")), await rowsOf(source));
});

test("the per-file cap: 413 from Content-Length or while streaming, nothing kept", async () => {
  const declared = await raw("PUT", "/api/v1/datasets/big/files/huge.bin", {
    ...bearer(writeKey),
    "x-checksum-sha256": sha("x"),
    "content-length": String(60 << 20),
  }).catch((e: Error) => ({ status: 0, json: { error: { code: e.message, message: "" } } }));
  assert.equal(declared.status, 413);
  // Chunked (no Content-Length): counted while written, refused past 50 MiB.
  const chunk = Buffer.alloc(1 << 20, 7);
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (sent++ < 51) controller.enqueue(chunk);
      else controller.close();
    },
  });
  const streamed = await fetch(`${server.url}/api/v1/datasets/big/files/huge.bin`, {
    method: "PUT",
    headers: { ...bearer(writeKey), "x-checksum-sha256": sha("x") },
    body,
    duplex: "half",
  } as RequestInit).then(
    (r) => r.status,
    () => 0, // The server may close the connection before the client reads its answer.
  );
  assert.ok(streamed === 413 || streamed === 0, `refused (${streamed})`);
  const staging = join(pub, ".staging", "big");
  assert.deepEqual(existsSync(join(staging, "tmp")) ? readdirSync(join(staging, "tmp")) : [], []);
  assert.equal(existsSync(join(staging, "files", "huge.bin")), false);
  await call(`${server.url}/api/v1/datasets/big/upload`, {
    method: "DELETE",
    headers: bearer(writeKey),
  });
});

test("transient server failures (503) are retried", async () => {
  const result = await publishDataset(source, `${server.url}/api/v1/datasets/flaky`, {
    apiKey: writeKey,
  });
  assert.equal(flakyFailures, result.files.length, "every file failed once");
  assert.deepEqual(await rowsOf(join(pub, "flaky")), await rowsOf(source));
});
