// The service core on a real server on 127.0.0.1: the catalog routes, the JSON error format, the
// API-key hook (scopes, 401/403, anonymous read on and off), the OpenAPI document, the viewer's
// static files, and keys never reaching the log.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { openDataset } from "../../src/dataset/dataset.ts";
import { KeyStore } from "../../src/server/keys.ts";
import { ang2pixNumber } from "../../src/sky/healpix.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, HSC_ROWS, type Running, startServer, writeHsc } from "./fixtures.ts";

const dir = tempDir();
let hscRoot: string;
let server: Running;
let keys: KeyStore;
const key: Record<string, string> = {};
const logLines: string[] = [];

before(async () => {
  hscRoot = await writeHsc(dir);
  keys = await KeyStore.open(join(dir, "keys.json"));
  for (const scope of ["read", "write", "admin"] as const)
    key[scope] = (await keys.create({ name: `${scope} user`, scope })).key;
  const web = join(dir, "web");
  mkdirSync(web);
  writeFileSync(join(web, "index.html"), "<!doctype html><title>AstroPile</title>");
  writeFileSync(join(web, "app.js"), "console.log(1)");
  writeFileSync(join(web, ".secret"), "no");
  server = await startServer([hscRoot], {
    keys,
    webRoot: web,
    logger: {
      level: "info",
      stream: new Writable({
        write(chunk, _enc, cb) {
          logLines.push(String(chunk));
          cb();
        },
      }),
    },
    routes: [
      (app) => {
        app.post("/api/v1/test-write", { config: { scope: "write" } }, async () => ({ ok: true }));
        app.get("/api/v1/test-admin", { config: { scope: "admin" } }, async () => ({ ok: true }));
      },
    ],
  });
});
after(async () => {
  await server?.close();
});

test("the dataset list and one dataset's entry come from its manifest", async () => {
  const { status, body } = await call(`${server.url}/api/v1/datasets`);
  assert.equal(status, 200);
  assert.equal(body.datasets.length, 1);
  const entry = body.datasets[0];
  const local = await openDataset(hscRoot);
  assert.equal(entry.name, "hsc");
  assert.equal(entry.location, hscRoot);
  assert.equal(entry.survey, "HSC");
  assert.equal(entry.rows, HSC_ROWS);
  assert.deepEqual(entry.configs, ["pdr3"]);
  assert.equal(entry.modality, local.modality);
  assert.deepEqual(entry.columns, local.columns);
  assert.equal(
    entry.bytes,
    local.manifest.files.reduce((s, f) => s + statSync(join(hscRoot, f.path)).size, 0),
  );
  // Every row's pixel is in the coverage, and every coverage pixel holds a row.
  const rowPixels = new Set<number>();
  for await (const b of local.select(["ra", "dec"]).batches({ size: 500 })) {
    const ra = b.columns.ra as Float64Array;
    const dec = b.columns.dec as Float64Array;
    for (let i = 0; i < b.length; i++)
      rowPixels.add(ang2pixNumber(entry.coverage.order, ra[i]!, dec[i]!));
  }
  assert.equal(entry.coverage.order, 4);
  assert.deepEqual(
    entry.coverage.pixels,
    [...rowPixels].sort((a, b) => a - b),
  );

  const one = await call(`${server.url}/api/v1/datasets/hsc`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.entry, entry);
  assert.equal(one.body.config, "pdr3");
  assert.deepEqual(
    one.body.manifest,
    JSON.parse(readFileSync(join(hscRoot, "astropile.json"), "utf8")),
  );
  assert.match(one.body.card, /HSC/);
  const mag = one.body.features.find((f: { name: string }) => f.name === "forced.g_cmodel_mag");
  assert.equal(mag.dtype, "float32");
  assert.equal(mag.unit, "mag");
  const image = one.body.features.find((f: { name: string }) => f.name === "image_array");
  assert.deepEqual(image.shape, [3, 4, 4]);
});

test("the list searches names, surveys, modalities, columns and the sky", async () => {
  const names = async (query: string) =>
    (await call(`${server.url}/api/v1/datasets?${query}`)).body.datasets.map(
      (d: { name: string }) => d.name,
    );
  assert.deepEqual(await names("q=cmodel"), ["hsc"]);
  assert.deepEqual(await names("q=nothing-like-this"), []);
  assert.deepEqual(await names("survey=hsc"), ["hsc"]);
  assert.deepEqual(await names("survey=DESI"), []);
  assert.deepEqual(await names("modality=spectrum"), []);
  const local = await openDataset(hscRoot);
  const first = await local.get(0);
  assert.deepEqual(await names(`ra=${first.ra}&dec=${first.dec}&radius=0.01`), ["hsc"]);
  // The antipode of a row: the fixture's clumps leave most of the sky empty; pick a far point
  // that no coverage pixel touches.
  const { body } = await call(`${server.url}/api/v1/datasets`);
  const order = body.datasets[0].coverage.order;
  const pixels = new Set(body.datasets[0].coverage.pixels);
  let empty: [number, number] | undefined;
  for (let ra = 0; ra < 360 && !empty; ra += 7)
    for (let dec = -80; dec <= 80 && !empty; dec += 7)
      if (
        !pixels.has(ang2pixNumber(order, ra, dec)) &&
        !pixels.has(ang2pixNumber(order, ra + 1, dec))
      )
        empty = [ra, dec];
  assert.ok(empty);
  assert.deepEqual(await names(`ra=${empty[0]}&dec=${empty[1]}&radius=0.001`), []);
});

test("errors are JSON with a code and the parameter at fault", async () => {
  const cases: Array<[string, number, string, string | undefined]> = [
    ["/api/v1/datasets/nope", 404, "ASTROPILE_NOT_FOUND", "name"],
    ["/api/v1/datasets/..%2Fetc", 400, "ASTROPILE_BAD_PARAMETER", "name"],
    ["/api/v1/datasets/hsc?config=dr9", 404, "ASTROPILE_NOT_FOUND", "config"],
    ["/api/v1/datasets?ra=NaN&dec=1&radius=1", 400, "ASTROPILE_BAD_PARAMETER", "ra"],
    ["/api/v1/datasets?ra=1e400&dec=1&radius=1", 400, "ASTROPILE_BAD_PARAMETER", "ra"],
    ["/api/v1/datasets?ra=10&dec=1", 400, "ASTROPILE_BAD_PARAMETER", "radius"],
    ["/api/v1/datasets?dec=100&ra=1&radius=1", 400, "ASTROPILE_BAD_PARAMETER", "dec"],
    ["/api/v1/no-such-route", 404, "ASTROPILE_NOT_FOUND", undefined],
  ];
  for (const [path, status, code, parameter] of cases) {
    const res = await call(`${server.url}${path}`);
    assert.equal(res.status, status, `${path}: ${res.text}`);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    assert.equal(res.body.error.code, code, path);
    assert.equal(res.body.error.parameter, parameter, path);
    assert.equal(typeof res.body.error.message, "string");
  }
});

test("routes enforce their scope: 401 without a key, 403 without the scope", async () => {
  const url = `${server.url}/api/v1/test-write`;
  const post = (headers: Record<string, string> = {}) => call(url, { method: "POST", headers });
  let res = await post();
  assert.equal(res.status, 401);
  assert.equal(res.body.error.code, "ASTROPILE_UNAUTHORIZED");
  res = await post({ authorization: `Bearer ${key.read}` });
  assert.equal(res.status, 403);
  assert.equal(res.body.error.code, "ASTROPILE_FORBIDDEN");
  assert.equal((await post({ authorization: `Bearer ${key.write}` })).status, 200);
  assert.equal((await post({ "x-api-key": key.admin! })).status, 200);
  // A malformed, unknown or tampered key is 401 even where anonymous read is allowed.
  const tampered = key.write!.slice(0, -1) + (key.write!.endsWith("0") ? "1" : "0");
  for (const bad of ["nonsense", tampered, `Basic ${key.write}`]) {
    const headers: Record<string, string> = bad.startsWith("Basic")
      ? { authorization: bad }
      : { "x-api-key": bad };
    assert.equal((await post(headers)).status, 401, bad);
    assert.equal((await call(`${server.url}/api/v1/datasets`, { headers })).status, 401, bad);
  }
  const admin = `${server.url}/api/v1/test-admin`;
  assert.equal(
    (await call(admin, { headers: { authorization: `Bearer ${key.write}` } })).status,
    403,
  );
  assert.equal(
    (await call(admin, { headers: { authorization: `Bearer ${key.admin}` } })).status,
    200,
  );
  // Anonymous read is on here.
  assert.equal((await call(`${server.url}/api/v1/datasets`)).status, 200);
});

test("a revoked key stops working, and the keys file holds no secret", async () => {
  const { key: temp, entry } = await keys.create({ name: "temporary", scope: "write" });
  const post = () =>
    call(`${server.url}/api/v1/test-write`, {
      method: "POST",
      headers: { authorization: `Bearer ${temp}` },
    });
  assert.equal((await post()).status, 200);
  const text = readFileSync(keys.path, "utf8");
  for (const k of [temp, ...Object.values(key)]) assert.ok(!text.includes(k.split("_")[2]!));
  assert.equal(statSync(keys.path).mode & 0o077, 0);
  // Revoked by another process (the CLI): the server re-reads the file.
  const other = await KeyStore.open(keys.path);
  await other.revoke(entry.id);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await post()).status, 401);
});

test("keys never reach the log", async () => {
  await call(`${server.url}/api/v1/datasets`, { headers: { authorization: `Bearer ${key.read}` } });
  await call(`${server.url}/api/v1/datasets`, { headers: { "x-api-key": key.admin! } });
  const log = logLines.join("");
  assert.ok(log.includes("/api/v1/datasets"), "requests are logged");
  for (const k of Object.values(key)) {
    assert.ok(!log.includes(k), "a key is in the log");
    assert.ok(!log.includes(k.split("_")[2]!), "a secret is in the log");
  }
});

test("without anonymous read every API route needs a key", async () => {
  const closed = await startServer([hscRoot], { keys, anonymousRead: false });
  try {
    const res = await call(`${closed.url}/api/v1/datasets`);
    assert.equal(res.status, 401);
    assert.equal(res.body.error.code, "ASTROPILE_UNAUTHORIZED");
    assert.equal(
      (await call(`${closed.url}/api/v1/datasets/hsc/files/astropile.json`)).status,
      401,
    );
    const ok = await call(`${closed.url}/api/v1/datasets`, {
      headers: { authorization: `Bearer ${key.read}` },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.datasets.length, 1);
  } finally {
    await closed.close();
  }
});

test("the OpenAPI document describes the routes from their schemas", async () => {
  const { status, body } = await call(`${server.url}/api/v1/openapi.json`);
  assert.equal(status, 200);
  assert.match(body.openapi, /^3\./);
  const get = body.paths["/api/v1/datasets/{name}"].get;
  assert.ok(
    get.parameters.some((p: { name: string; in: string }) => p.name === "name" && p.in === "path"),
  );
  const list = body.paths["/api/v1/datasets"].get;
  assert.deepEqual(list.parameters.map((p: { name: string }) => p.name).sort(), [
    "dec",
    "modality",
    "q",
    "ra",
    "radius",
    "survey",
  ]);
});

test("the viewer's files are served at /, dotfiles are not", async () => {
  const index = await call(`${server.url}/`);
  assert.equal(index.status, 200);
  assert.match(index.text, /<title>AstroPile<\/title>/);
  assert.equal((await call(`${server.url}/app.js`)).text, "console.log(1)");
  assert.equal((await call(`${server.url}/.secret`)).status, 404);
  assert.equal((await call(`${server.url}/..%2F..%2Fetc%2Fpasswd`)).status, 404);
});
