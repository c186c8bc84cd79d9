// Every route fed malformed parameters answers 4xx with a JSON error naming the parameter, never
// a 500, and the server keeps serving; body and rate limits answer 413 and 429; a write route
// without a key is 401 and with a read-only key 403.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { build } from "../../src/build/index.ts";
import { openDataset } from "../../src/dataset/dataset.ts";
import { builtinSpec } from "../../src/demo/index.ts";
import { KeyStore } from "../../src/server/keys.ts";
import { generateSurveys } from "../../src/synth/index.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, type Running, startServer, writeHsc } from "./fixtures.ts";

const dir = tempDir();
let root: string;
let server: Running;
let keys: KeyStore;
let readKey: string;
let writeKey: string;
/** An object id of the served MaNGA-like IFU dataset. */
let mangaId: string;

before(async () => {
  root = await writeHsc(dir, 800);
  await generateSurveys({ dir: join(dir, "src"), size: "tiny", seed: 3, surveys: ["manga"] });
  const manga = join(dir, "manga");
  await build(builtinSpec("manga", join(dir, "src", "manga")), { out: manga, workers: 1 });
  const mangaData = await openDataset(manga);
  mangaId = String((await mangaData.get(0)).object_id);
  mangaData.close();
  keys = await KeyStore.open(join(dir, "keys.json"));
  readKey = (await keys.create({ name: "reader", scope: "read" })).key;
  writeKey = (await keys.create({ name: "writer", scope: "write" })).key;
  server = await startServer([root, manga], {
    keys,
    limits: { bodyBytes: 1024 },
    routes: [
      // A write-scoped route with a body schema (the upload routes are another module's).
      (app) => {
        app.post<{ Body: { name: string; rows: number } }>(
          "/api/v1/test-write",
          {
            config: { scope: "write" },
            schema: {
              body: {
                type: "object",
                required: ["name", "rows"],
                properties: { name: { type: "string" }, rows: { type: "integer", minimum: 0 } },
              },
            },
          },
          async (req) => ({ ok: req.body.rows }),
        );
      },
    ],
  });
});
after(async () => {
  await server?.close();
});

const BAD_NUMBERS = [
  "NaN",
  "Infinity",
  "-Infinity",
  "1e400",
  "abc",
  "",
  "0x10",
  " 5",
  "1,2",
  "[1]",
  "%00",
];

/** [path and query, the parameter the error must name (null: any 4xx JSON error)] */
function cases(): Array<[string, string | null]> {
  const d = "/api/v1/datasets/hsc";
  const out: Array<[string, string | null]> = [];
  for (const v of BAD_NUMBERS) {
    for (const p of ["offset", "limit"]) out.push([`${d}/rows?${p}=${v}`, p]);
    for (const p of ["ra", "dec", "radius"]) {
      const q = { ra: "10", dec: "10", radius: "5", [p]: v };
      out.push([`${d}/cone?ra=${q.ra}&dec=${q.dec}&radius=${q.radius}`, p]);
      out.push([`/api/v1/datasets?ra=${q.ra}&dec=${q.dec}&radius=${q.radius}`, p]);
    }
    out.push([`${d}/coverage?order=${v}`, "order"]);
    out.push([`${d}/examples?index=${v}`, "index"]);
  }
  for (const [p, v] of [
    ["limit", "-1"],
    ["limit", "1.5"],
    ["limit", "100000000000"],
    ["limit", "20000"],
    ["offset", "-5"],
    ["offset", "1e300"],
    ["format", "xml"],
    ["format", ""],
    ["config", "../x"],
    ["config", "nope"],
    ["columns", "nope"],
    ["columns", "object_id,,ra"],
    ["columns", ",".repeat(1000)],
    ["columns", "__proto__"],
    ["columns", "constructor"],
    ["columns", "a".repeat(9000)],
    ["columns", Array.from({ length: 600 }, (_, i) => `c${i}`).join(",")],
    ["filter", "tract >"],
    ["filter", "(((((((("],
    ["filter", "tract == 'x'"],
    ["filter", "nope > 1"],
    ["filter", "__proto__ > 1"],
    ["filter", "process.exit(1)"],
    ["filter", "require('fs')"],
    ["filter", "1; DROP TABLE x"],
    ["filter", "image_array > 0"],
    ["filter", `${"not ".repeat(1000)}tract > 1 and`],
    ["filter", "x".repeat(5000)],
    ["filter", `${"not ".repeat(65)}tract > 1`],
    ["filter", `${"(".repeat(1500)}tract > 1${")".repeat(1500)}`],
    ["filter", `${"(".repeat(3000)}tract > 1${")".repeat(3000)}`.slice(0, 4000)],
    ["cone", "1,2"],
    ["cone", "NaN,1,1"],
    ["cone", "1,2,-3"],
    ["cone", "1,95,3"],
    ["cone", "a,b,c"],
    ["cone", "1,2,1e400"],
    ["box", "1,2,3"],
    ["box", "1,2,50,40"],
    ["box", "400,2,3,4"],
    ["box", "Infinity,1,1,2"],
  ] as const) {
    out.push([`${d}/rows?${p}=${encodeURIComponent(v)}`, p]);
  }
  out.push([`${d}/rows?limit=1&limit=2`, "limit"]);
  out.push([`${d}/cone?ra=10&dec=10`, "radius"]);
  out.push([`${d}/cone?ra=400&dec=10&radius=1`, "ra"]);
  out.push([`${d}/cone?ra=10&dec=10&radius=0`, "radius"]);
  out.push([`${d}/cone?ra=10&dec=10&radius=1&limit=99999`, "limit"]);
  out.push([`${d}/cone?ra=10&dec=10&radius=1&columns=nope`, "columns"]);
  out.push([`${d}/coverage?order=13`, "order"]);
  out.push([`${d}/coverage?order=-1`, "order"]);
  out.push([`${d}/examples?index=800`, "index"]);
  out.push([`${d}/examples?index=-1`, "index"]);
  out.push([`${d}/examples`, "index"]);
  for (const id of [
    "abc",
    "1.5",
    "1e5",
    "-",
    "99999999999999999999",
    "x".repeat(300),
    "%00",
    "%20",
  ])
    out.push([`${d}/examples/${id}`, "id"]);
  out.push([`${d}/examples/12345`, "id"]);
  // Picture routes: bad ids, bad options (the fixture's first object id is real).
  const real = "36407037746397184";
  for (const pic of ["image.png", "rgb.png", "spectrum.json", "spectrum.png"]) {
    out.push([`${d}/examples/abc/${pic}`, pic.startsWith("spectrum") ? "name" : "id"]);
    out.push([
      `${d}/examples/${"9".repeat(30)}/${pic}`,
      pic.startsWith("spectrum") ? "name" : "id",
    ]);
  }
  for (const v of BAD_NUMBERS) {
    out.push([`${d}/examples/${real}/image.png?pmin=${v}`, "pmin"]);
    out.push([`${d}/examples/${real}/rgb.png?q=${v}`, "q"]);
  }
  for (const [q, p] of [
    ["band=nope", "band"],
    [`band=${"x".repeat(100)}`, "band"],
    ["cmap=__proto__", "cmap"],
    ["stretch=constructor", "stretch"],
    ["pmin=80&pmax=20", "pmin"],
  ] as const)
    out.push([`${d}/examples/${real}/image.png?${q}`, p]);
  for (const [q, p] of [
    ["bands=a,b", "bands"],
    ["bands=,,", "bands"],
    ["bands=hsc-g,hsc-g,nope", "bands"],
    ["stretch=log", "stretch"],
  ] as const)
    out.push([`${d}/examples/${real}/rgb.png?${q}`, p]);
  // IFU routes: a dataset without cubes, bad ids and indexes, bad channels, wavelengths, spaxels.
  for (const pic of ["slice.png?channel=1", "spaxel.json?x=0&y=0"]) {
    out.push([`${d}/examples/${real}/ifu/${pic}`, "name"]);
    out.push([`${d}/examples/ifu/${pic}&index=0`, "name"]);
    out.push([`/api/v1/datasets/manga/examples/abc/ifu/${pic}`, "id"]);
    out.push([`/api/v1/datasets/manga/examples/${"x".repeat(300)}/ifu/${pic}`, "id"]);
    out.push([`/api/v1/datasets/manga/examples/ifu/${pic}`, "index"]);
    out.push([`/api/v1/datasets/manga/examples/ifu/${pic}&index=99`, "index"]);
    for (const v of BAD_NUMBERS)
      out.push([`/api/v1/datasets/manga/examples/ifu/${pic}&index=${v}`, "index"]);
  }
  const ifu = () => `/api/v1/datasets/manga/examples/${encodeURIComponent(mangaId)}/ifu`;
  for (const v of BAD_NUMBERS) {
    out.push([`${ifu()}/slice.png?channel=${v}`, "channel"]);
    out.push([`${ifu()}/slice.png?wavelength=${v}`, "wavelength"]);
    out.push([`${ifu()}/spaxel.json?x=${v}&y=0`, "x"]);
    out.push([`${ifu()}/spaxel.json?x=0&y=${v}`, "y"]);
  }
  for (const [q, p] of [
    ["channel=99999", "channel"],
    ["channel=-1", "channel"],
    ["channel=1e300", "channel"],
    ["wavelength=-5000", "wavelength"],
    ["wavelength=1e300", "wavelength"],
    ["wavelength=5000&channel=1", "wavelength"],
    ["", "channel"],
    ["channel=1&cmap=__proto__", "cmap"],
    ["channel=1&stretch=constructor", "stretch"],
    ["channel=1&pmin=80&pmax=20", "pmin"],
  ] as const)
    out.push([`${ifu()}/slice.png?${q}`, p]);
  for (const [q, p] of [
    ["x=11&y=0", "x"],
    ["x=0&y=11", "y"],
    ["x=-1&y=0", "x"],
    ["x=99999999999&y=0", "x"],
    ["x=0", "y"],
    ["y=0", "x"],
  ] as const)
    out.push([`${ifu()}/spaxel.json?${q}`, p]);
  for (const name of ["..", "%2e%2e", "a%2Fb", "-x", "a".repeat(200), "%00", "a%20b", "nope"])
    out.push([
      `/api/v1/datasets/${name}`,
      name === "nope" || name === ".." || name === "%2e%2e" ? null : "name",
    ]);
  for (const name of ["a%2Fb", "-x", "%00"]) out.push([`/api/v1/datasets/${name}/rows`, "name"]);
  for (const path of [
    "%2e%2e/%2e%2e/etc/passwd",
    "..%2F..%2Fetc%2Fpasswd",
    "%2Fetc%2Fpasswd",
    "a%00b",
    "x%5C..%5Cy",
    "nope.hdf5",
    "",
  ])
    out.push([`${d}/files/${path}`, null]);
  out.push([`/api/v1/datasets?q=${"x".repeat(300)}`, "q"]);
  out.push([`/api/v1/datasets?ra=10&dec=10`, "radius"]);
  out.push(["/api/v1/nothing", null]);
  out.push(["/api/v1/datasets/hsc/rows/extra", null]);
  return out;
}

test("malformed parameters on every route: 4xx JSON naming the parameter, never 500", async () => {
  const seen: string[] = [];
  for (const [path, parameter] of cases()) {
    const res = await call(`${server.url}${path}`);
    const what = `${path.slice(0, 120)} -> ${res.status} ${res.text.slice(0, 200)}`;
    assert.ok(res.status >= 400 && res.status < 500, what);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/, what);
    assert.equal(typeof res.body?.error?.code, "string", what);
    assert.equal(typeof res.body?.error?.message, "string", what);
    if (parameter !== null) assert.equal(res.body.error.parameter, parameter, what);
    seen.push(path);
  }
  assert.ok(seen.length > 150, `${seen.length} cases`);
  // Still serving, and serving right.
  const ok = await call(`${server.url}/api/v1/datasets/hsc/rows?limit=3&columns=object_id`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.rows.length, 3);
});

test("hostile headers: bad keys are 401, odd ranges never 500", async () => {
  const d = `${server.url}/api/v1/datasets`;
  const badKeys: Array<Record<string, string>> = [
    { authorization: "Bearer" },
    { authorization: "Bearer a b" },
    { authorization: `Bearer ${"x".repeat(5000)}` },
    { authorization: "Basic dXNlcjpwYXNz" },
    { "x-api-key": "ap_zzzz_zzzz" },
    { "x-api-key": `${readKey}x` },
  ];
  for (const headers of badKeys) {
    const res = await call(d, { headers });
    assert.equal(res.status, 401, JSON.stringify(headers).slice(0, 80));
    assert.equal(res.body.error.code, "ASTROPILE_UNAUTHORIZED");
  }
  const file = `${d}/hsc/files/astropile.json`;
  for (const range of [
    "bytes=",
    "bytes=a-b",
    "bytes=5-1",
    "bytes=-0",
    "bytes=99999999999999999999-",
    "items=0-1",
    "bytes=0-1,2-3",
    "bytes=1e3-2e3",
  ]) {
    const res = await fetch(file, { headers: { range } });
    assert.ok([200, 206, 416].includes(res.status), `${range}: ${res.status}`);
    await res.arrayBuffer();
  }
  const conditionals: Array<Record<string, string>> = [
    { "if-match": "garbage" },
    { "if-none-match": "" },
    { "if-range": "x" },
  ];
  for (const h of conditionals) {
    const res = await fetch(file, { headers: h });
    assert.ok(res.status < 500, `${JSON.stringify(h)}: ${res.status}`);
    await res.arrayBuffer();
  }
});

test("a write route: 401 without a key, 403 with a read key; bodies checked and bounded", async () => {
  const url = `${server.url}/api/v1/test-write`;
  const post = (body: string, headers: Record<string, string> = {}) =>
    call(url, {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...headers },
    });
  const good = JSON.stringify({ name: "x", rows: 3 });
  assert.equal((await post(good)).status, 401);
  assert.equal((await post(good, { authorization: `Bearer ${readKey}` })).status, 403);
  const auth = { authorization: `Bearer ${writeKey}` };
  const done = await post(good, auth);
  assert.equal(done.status, 200);
  assert.deepEqual(done.body, { ok: 3 });
  const bad: Array<[string, number, string]> = [
    [JSON.stringify({ name: "x", rows: "3" }), 400, "rows"],
    [JSON.stringify({ name: "x", rows: -1 }), 400, "rows"],
    [JSON.stringify({ name: "x" }), 400, "rows"],
    [JSON.stringify({ name: 5, rows: 1 }), 400, "name"],
    ["{not json", 400, "body"],
    [JSON.stringify({ name: "x".repeat(5000), rows: 1 }), 413, "body"],
    ['{"__proto__": {"polluted": true}, "name": "x", "rows": 1}', 400, "body"],
  ];
  for (const [body, status, parameter] of bad) {
    const res = await post(body, auth);
    assert.equal(res.status, status, `${body.slice(0, 60)}: ${res.text}`);
    assert.equal(res.body.error.parameter, parameter, `${body.slice(0, 60)}: ${res.text}`);
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const wrongType = await call(url, {
    method: "POST",
    body: "rows=1",
    headers: { ...auth, "content-type": "text/x-weird" },
  });
  assert.equal(wrongType.status, 415);
  assert.equal(wrongType.body.error.parameter, "body");
});

test("rate limits count per key, and per address without one: 429 JSON", async () => {
  const limited = await startServer([root], {
    keys,
    limits: { rateLimit: { max: 5, windowMs: 60_000 } },
  });
  try {
    const list = `${limited.url}/api/v1/datasets`;
    for (let i = 0; i < 5; i++) assert.equal((await call(list)).status, 200);
    const over = await call(list);
    assert.equal(over.status, 429);
    assert.equal(over.body.error.code, "ASTROPILE_RATE_LIMITED");
    assert.ok(over.headers.get("retry-after"));
    // A key has its own budget.
    const withKey = { headers: { authorization: `Bearer ${readKey}` } };
    assert.equal((await call(list, withKey)).status, 200);
  } finally {
    await limited.close();
  }
});
