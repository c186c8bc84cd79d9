// The query routes against the local dataset read by the library and against independent
// references: filters evaluated here in plain JS, cones by the haversine formula, CSV read by
// csv-parse, Arrow IPC read by apache-arrow, coverage from each row's pixel.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tableFromIPC } from "apache-arrow";
import { parse } from "csv-parse/sync";
import { type Dataset, openDataset } from "../../src/dataset/dataset.ts";
import { decodeExample, decodeSafetensors } from "../../src/formats/safetensors.ts";
import { ServiceError } from "../../src/server/errors.ts";
import { withDeadline } from "../../src/server/query.ts";
import { toJsonValue } from "../../src/server/routes-examples.ts";
import { ang2pixNumber } from "../../src/sky/healpix.ts";
import { haversineArcsec } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { call, HSC_ROWS, type Running, startServer, writeHsc } from "./fixtures.ts";

const dir = tempDir();
let root: string;
let server: Running;
let local: Dataset;
let api: string;
/** Every row of the fixture's scalar columns, in storage order. */
const all: Array<Record<string, number | bigint | string>> = [];
const SCALARS = ["object_id", "ra", "dec", "healpix", "forced.g_cmodel_mag", "is_star", "tract"];

before(async () => {
  root = await writeHsc(dir);
  server = await startServer([root]);
  api = `${server.url}/api/v1/datasets/hsc`;
  local = await openDataset(root);
  for await (const b of local.select(SCALARS).batches({ size: 700 })) {
    for (let i = 0; i < b.length; i++)
      all.push(Object.fromEntries(SCALARS.map((n) => [n, b.columns[n]![i]!])));
  }
});
after(async () => {
  await server?.close();
});

/** A row of `all` as the JSON answer writes it. */
function asJson(row: Record<string, number | bigint | string>): Record<string, unknown> {
  return {
    object_id: String(row.object_id),
    ra: row.ra,
    dec: row.dec,
    healpix: String(row.healpix),
    "forced.g_cmodel_mag": row["forced.g_cmodel_mag"],
    is_star: row.is_star === 1,
    tract: row.tract,
  };
}

function pick(rows: Array<Record<string, unknown>>, names: string[]) {
  return rows.map((r) => Object.fromEntries(names.map((n) => [n, r[n]])));
}

test("rows pages over the whole dataset equal the local rows", async () => {
  const { status, body } = await call(`${api}/rows`);
  assert.equal(status, 200);
  assert.equal(body.total, HSC_ROWS);
  assert.equal(body.offset, 0);
  assert.equal(body.limit, 100);
  const names = body.columns.map((c: { name: string }) => c.name);
  assert.ok(!names.includes("image_array"), "array columns only when named");
  const mag = body.columns.find((c: { name: string }) => c.name === "forced.g_cmodel_mag");
  assert.deepEqual(mag, { name: "forced.g_cmodel_mag", dtype: "float32", shape: [], unit: "mag" });
  const cols = SCALARS.filter((n) => names.includes(n));
  assert.deepEqual(pick(body.rows, cols), pick(all.slice(0, 100).map(asJson), cols));
  // Pages across file borders (400 rows a file), and past the end.
  for (const [offset, limit] of [
    [390, 25],
    [1234, 1000],
    [1990, 100],
    [5000, 10],
  ]) {
    const page = await call(
      `${api}/rows?offset=${offset}&limit=${limit}&columns=${cols.join(",")}`,
    );
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.rows, pick(all.slice(offset, offset + limit).map(asJson), cols));
  }
});

test("filter, cone and box select the rows an independent evaluation selects", async () => {
  const cols = ["object_id", "ra", "dec", "forced.g_cmodel_mag", "tract"];
  const get = async (query: string, limit = 10000) => {
    const res = await call(`${api}/rows?columns=${cols.join(",")}&limit=${limit}&${query}`);
    assert.equal(res.status, 200, `${query}: ${res.text}`);
    return res.body;
  };
  const filtered = await get(
    `filter=${encodeURIComponent("forced.g_cmodel_mag < 20.5 and tract == 9801")}`,
  );
  const expected = all.filter(
    (r) => (r["forced.g_cmodel_mag"] as number) < 20.5 && r.tract === 9801,
  );
  assert.ok(expected.length > 5);
  assert.equal(filtered.total, null);
  assert.deepEqual(filtered.rows, pick(expected.map(asJson), cols));
  // Paging a filtered view.
  const page = await get(`filter=${encodeURIComponent("tract != 9803")}&offset=100`, 50);
  const notTract = all.filter((r) => r.tract !== 9803);
  assert.deepEqual(page.rows.slice(0, 50), pick(notTract.slice(100, 150).map(asJson), cols));

  // A row in a clump, away from the poles and from ra 0/360 (so the box is a plain one).
  const radius = 1800;
  const near = (a: (typeof all)[0], b: (typeof all)[0]) =>
    haversineArcsec(a.ra as number, a.dec as number, b.ra as number, b.dec as number) <= radius;
  const c = all.find(
    (r) =>
      Math.abs(r.dec as number) < 80 &&
      (r.ra as number) > 2 &&
      (r.ra as number) < 358 &&
      all.filter((o) => near(r, o)).length > 5,
  )!;
  const cone = await get(`cone=${c.ra},${c.dec},${radius}`);
  const inCone = all.filter(
    (r) =>
      haversineArcsec(c.ra as number, c.dec as number, r.ra as number, r.dec as number) <= radius,
  );
  assert.ok(inCone.length > 3);
  assert.deepEqual(
    cone.rows.map((r: { object_id: string }) => r.object_id).sort(),
    inCone.map((r) => String(r.object_id)).sort(),
  );
  const box = await get(
    `box=${(c.ra as number) - 1},${(c.ra as number) + 1},${(c.dec as number) - 1},${(c.dec as number) + 1}`,
  );
  const inBox = all.filter(
    (r) =>
      Math.abs((r.ra as number) - (c.ra as number)) <= 1 &&
      Math.abs((r.dec as number) - (c.dec as number)) <= 1,
  );
  assert.deepEqual(
    box.rows.map((r: { object_id: string }) => r.object_id).sort(),
    inBox.map((r) => String(r.object_id)).sort(),
  );
});

test("CSV and Arrow answers hold the same rows as JSON", async () => {
  const cols = ["object_id", "ra", "forced.g_cmodel_mag", "is_star"];
  const q = `columns=${cols.join(",")}&offset=300&limit=1500`;
  const csv = await fetch(`${api}/rows?${q}&format=csv`);
  assert.equal(csv.status, 200);
  assert.match(csv.headers.get("content-type")!, /text\/csv/);
  const records = parse(await csv.text(), { columns: true }) as Array<Record<string, string>>;
  const expected = all.slice(300, 1800);
  assert.equal(records.length, expected.length);
  records.forEach((r, i) => {
    const e = expected[i]!;
    assert.equal(r.object_id, String(e.object_id));
    assert.equal(Number(r.ra), e.ra);
    assert.equal(Number(r["forced.g_cmodel_mag"]), e["forced.g_cmodel_mag"]);
    assert.equal(r.is_star, e.is_star === 1 ? "true" : "false");
  });

  const res = await fetch(`${api}/rows?${q}&format=arrow`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/vnd.apache.arrow.stream");
  const table = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
  assert.equal(table.numRows, expected.length);
  assert.deepEqual(
    table.schema.fields.map((f) => f.name),
    cols,
  );
  const ids = table.getChild("object_id")!.toArray() as BigInt64Array;
  const ra = table.getChild("ra")!.toArray() as Float64Array;
  const mag = table.getChild("forced.g_cmodel_mag")!.toArray() as Float32Array;
  expected.forEach((e, i) => {
    assert.equal(ids[i], e.object_id);
    assert.equal(ra[i], e.ra);
    assert.equal(mag[i], e["forced.g_cmodel_mag"]);
    assert.equal(table.getChild("is_star")!.get(i), e.is_star === 1);
  });
  // An empty answer is a valid stream with the schema.
  const empty = await fetch(`${api}/rows?${q}&format=arrow&filter=tract%20%3E%2099999`);
  const none = tableFromIPC(new Uint8Array(await empty.arrayBuffer()));
  assert.equal(none.numRows, 0);
  assert.deepEqual(
    none.schema.fields.map((f) => f.name),
    cols,
  );
});

test("array columns named in columns come as {dtype, shape, data}", async () => {
  const { body } = await call(
    `${api}/rows?columns=object_id,image_array,image_band&offset=5&limit=2`,
  );
  const ex = await local.select(["object_id", "image_array", "image_band"]).get(5);
  const row = body.rows[0];
  assert.equal(row.object_id, String(ex.object_id));
  assert.equal(row.image_array.dtype, "float32");
  assert.deepEqual(row.image_array.shape, [3, 4, 4]);
  const flux = ex.image!.flatMap((b) => Array.from(b.flux.data as Float32Array));
  assert.deepEqual(row.image_array.data, flux);
  assert.deepEqual(row.image_band.data, ["hsc-g", "hsc-r", "hsc-i"]);
});

test("one example by id or index equals the library's example", async () => {
  const ex = await local.get(1500);
  const byId = await call(`${api}/examples/${ex.object_id}?format=json`);
  assert.equal(byId.status, 200);
  assert.deepEqual(byId.body, JSON.parse(JSON.stringify(toJsonValue(ex))));
  assert.equal(byId.body.object_id, String(ex.object_id));
  assert.equal(byId.body.image[0].flux.dtype, "float32");
  assert.deepEqual(byId.body.image[0].flux.shape, [4, 4]);
  assert.deepEqual(
    byId.body.image[1].flux.data,
    Array.from(ex.image![1]!.flux.data as Float32Array),
  );
  const byIndex = await call(`${api}/examples?index=1500&format=json`);
  assert.deepEqual(byIndex.body, byId.body);
  const missing = await call(`${api}/examples/12345`);
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.parameter, "id");
});

test("examples come as safetensors (the default): tensors that decode to the library's example", async () => {
  const ex = await local.get(700);
  for (const url of [
    `${api}/examples/${ex.object_id}?format=safetensors`,
    `${api}/examples/${ex.object_id}`,
    `${api}/examples?index=700`,
  ]) {
    const res = await fetch(url);
    assert.equal(res.status, 200, url);
    assert.equal(res.headers.get("content-type"), "application/octet-stream");
    const bytes = new Uint8Array(await res.arrayBuffer());
    const back = decodeExample(bytes, url);
    assert.deepEqual(
      JSON.parse(JSON.stringify(toJsonValue(back))),
      JSON.parse(JSON.stringify(toJsonValue(ex))),
    );
    const flux = decodeSafetensors(bytes).tensors["image.1.flux"]!;
    assert.equal(flux.dtype, "F32");
    assert.deepEqual(flux.shape, [4, 4]);
    assert.deepEqual(flux.data, ex.image![1]!.flux.data);
  }
  const bad = await call(`${api}/examples/${ex.object_id}?format=npy`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.parameter, "format");
});

test("cone answers nearest first with the separation of each row", async () => {
  const c = all[1000]!;
  const radius = 3600;
  const { status, body } = await call(
    `${api}/cone?ra=${c.ra}&dec=${c.dec}&radius=${radius}&limit=20&columns=object_id,ra,dec`,
  );
  assert.equal(status, 200);
  const within = all
    .map((r) => ({
      r,
      d: haversineArcsec(c.ra as number, c.dec as number, r.ra as number, r.dec as number),
    }))
    .filter((x) => x.d <= radius)
    .sort((a, b) => a.d - b.d);
  assert.equal(body.total, within.length);
  assert.equal(body.rows.length, Math.min(20, within.length));
  assert.equal(body.columns.at(-1).name, "separation_arcsec");
  body.rows.forEach((row: { separation_arcsec: number; object_id: string }, i: number) => {
    assert.ok(Math.abs(row.separation_arcsec - within[i]!.d) < 1e-6);
    if (i > 0) assert.ok(row.separation_arcsec >= body.rows[i - 1].separation_arcsec);
  });
  assert.equal(body.rows[0].object_id, String(c.object_id));
});

test("coverage counts rows per pixel at any order", async () => {
  for (const order of [0, 2, 6]) {
    const { status, body } = await call(`${api}/coverage?order=${order}`);
    assert.equal(status, 200);
    const expected = new Map<number, number>();
    for (const r of all) {
      const p = ang2pixNumber(order, r.ra as number, r.dec as number);
      expected.set(p, (expected.get(p) ?? 0) + 1);
    }
    const keys = [...expected.keys()].sort((a, b) => a - b);
    assert.deepEqual(body.pixels, keys, `order ${order}`);
    assert.deepEqual(
      body.counts,
      keys.map((k) => expected.get(k)),
    );
  }
});

test("bad queries are 4xx naming the parameter; a slow query is 504", async () => {
  const cases: Array<[string, number, string]> = [
    ["rows?columns=nope", 400, "columns"],
    ["rows?filter=tract%20%3E%3E%205", 400, "filter"],
    ["rows?filter=image_array%20%3E%201", 400, "filter"],
    ["rows?filter=nope%20%3E%201", 400, "filter"],
    ["rows?limit=20000", 400, "limit"],
    ["rows?limit=-1", 400, "limit"],
    ["rows?offset=-5", 400, "offset"],
    ["rows?cone=1,2", 400, "cone"],
    ["rows?box=1,2,50,40", 400, "box"],
    ["rows?format=xml", 400, "format"],
    ["rows?config=nope", 404, "config"],
    ["cone?ra=1&dec=2", 400, "radius"],
    ["examples/abc", 400, "id"],
    ["examples/99999999999999999999", 400, "id"],
    ["examples?index=2000", 400, "index"],
    ["coverage?order=13", 400, "order"],
  ];
  for (const [path, status, parameter] of cases) {
    const res = await call(`${api}/${path}`);
    assert.equal(res.status, status, `${path}: ${res.text}`);
    assert.equal(res.body.error.parameter, parameter, `${path}: ${res.text}`);
  }
  // The deadline itself.
  await assert.rejects(
    withDeadline(Date.now() + 5, 5, new Promise(() => {})),
    (e) => e instanceof ServiceError && e.statusCode === 504,
  );
  const slow = await startServer([root], { limits: { queryTimeoutMs: 1 } });
  try {
    // A query past its 1 ms is 504 when the time runs out before the first batch is read, and
    // cut short (never a complete 200) when it runs out later: which one depends on how warm
    // the chunk cache is, so either is accepted, and a complete answer is not.
    const url = `${slow.url}/api/v1/datasets/hsc/rows?filter=tract%20%3E%200&limit=5000&format=csv`;
    const outcome = await call(url).then(
      (res) => res,
      (err: Error) => err,
    );
    if (outcome instanceof Error) assert.match(String(outcome.message), /terminated/);
    else {
      assert.equal(outcome.status, 504, outcome.text.slice(0, 200));
      assert.equal(outcome.body.error.code, "ASTROPILE_TIMEOUT");
    }
    assert.equal((await call(`${slow.url}/api/v1/datasets`)).status, 200, "still serving");
  } finally {
    await slow.close();
  }
});

test("an answer read in one batch goes out whole (content-length), with the streamed bytes", async () => {
  for (const path of [
    "/rows?limit=700&offset=390",
    "/rows?limit=20&format=csv",
    "/cone?ra=0&dec=0&radius=648000&limit=10",
  ]) {
    const res = await fetch(`${api}${path}`);
    assert.equal(res.status, 200, path);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(res.headers.get("content-length"), String(bytes.length), path);
    assert.equal(res.headers.get("transfer-encoding"), null, path);
  }
  // Arrow answers stream.
  const arrow = await fetch(`${api}/rows?limit=20&format=arrow`);
  assert.equal(arrow.headers.get("transfer-encoding"), "chunked");
  await arrow.arrayBuffer();
});
