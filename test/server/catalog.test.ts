// DatasetCatalog and describeDataset on real DuckDB files and small real datasets: entries agree
// with the manifests, coverage holds every pixel healpy puts a row in, a cone search keeps every
// dataset with a row in the cone (brute force over the rows), bad names, missing locations,
// corrupt or foreign catalog files and duplicates give typed errors and change nothing.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { isAstroPileError } from "../../src/core/errors.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { datasetRootOf } from "../../src/interop/mmu-adopt.ts";
import { publishDataset } from "../../src/remote/index.ts";
import { CatalogFileError, DatasetCatalog, DatasetExistsError } from "../../src/server/catalog.ts";
import { CATALOG_COVERAGE_ORDER, coverageOf, describeDataset } from "../../src/server/describe.ts";
import { angularSeparationDeg, pix2ang, pixelRadiusBoundDeg } from "../../src/sky/index.ts";
import { fileOrder, readManifest } from "../../src/storage/manifest.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { type RangeServer, startRangeServer } from "../helpers/range-server.ts";
import { S3RVER_CREDENTIALS, startS3Server } from "../helpers/s3-server.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { type FixtureDataset, writeFixtureDataset } from "./catalog-fixture.ts";

const dir = tempDir("astropile-catalog-");
const fixtures: Record<string, FixtureDataset> = {};
let server: RangeServer;

// Adopting an MMU tree on the fly writes its index under the cache directory: keep it in a temp one.
const savedCache = process.env.ASTROPILE_CACHE_DIR;
process.env.ASTROPILE_CACHE_DIR = tempDir("astropile-catalog-cache-");
after(() => {
  if (savedCache === undefined) delete process.env.ASTROPILE_CACHE_DIR;
  else process.env.ASTROPILE_CACHE_DIR = savedCache;
});

const MMU_HSC = join(import.meta.dirname, "..", "fixtures", "mmu", "a", "hsc");

before(async () => {
  fixtures.hsc = await writeFixtureDataset(dir, "hsc", "catalog", 200, 3);
  fixtures.legacy = await writeFixtureDataset(dir, "legacy", "image", 200, 5);
  fixtures.desi = await writeFixtureDataset(dir, "desi", "spectrum", 200, 8);
  server = await startRangeServer(dir);
});
after(() => server?.close());

const catalogFile = (name: string) => join(dir, "catalogs", name, "catalog.duckdb");

function codeOf(e: unknown): string | undefined {
  return isAstroPileError(e) ? e.code : undefined;
}

/** For each set of positions, the pixels at the coverage order that hold them, by healpy (NESTED). */
function healpyPixels(
  sets: Array<{ ra: ArrayLike<number>; dec: ArrayLike<number> }>,
): Set<number>[] {
  const out = runPython(
    `import sys, json, numpy as np, healpy as hp
print(json.dumps([sorted(set(int(x) for x in hp.ang2pix(2**${CATALOG_COVERAGE_ORDER}, np.array(s["ra"]), np.array(s["dec"]), nest=True, lonlat=True))) for s in json.load(sys.stdin)]))`,
    [],
    JSON.stringify(sets.map((s) => ({ ra: Array.from(s.ra), dec: Array.from(s.dec) }))),
  );
  return (JSON.parse(out) as number[][]).map((p) => new Set(p));
}

test("describeDataset: fields from the manifest, coverage holds every pixel healpy puts a row in", {
  skip: referenceSkip(["healpy", "numpy"]),
}, async () => {
  const truths = healpyPixels(Object.values(fixtures));
  for (const [k, f] of Object.values(fixtures).entries()) {
    const d = await describeDataset(f.root);
    const manifest = await readManifest(f.root);
    assert.equal(d.location, f.root);
    assert.equal(d.survey, f.survey);
    assert.equal(d.project, "catalog-test");
    assert.equal(d.modality, f.modality);
    assert.equal(d.rows, f.rows);
    assert.deepEqual(d.configs, ["main"]);
    for (const c of manifest.configs.main.columns) assert.ok(d.columns.includes(c.name), c.name);
    assert.equal(
      d.bytes,
      manifest.files.reduce((s, x) => s + x.bytes, 0) +
        (manifest.configs.main.idIndex?.bytes ?? 0) +
        (manifest.configs.main.positions?.bytes ?? 0),
    );
    // The files are at orders both coarser and finer than the coverage order.
    const orders = manifest.files.map(fileOrder);
    assert.ok(
      Math.min(...orders) < CATALOG_COVERAGE_ORDER && Math.max(...orders) > CATALOG_COVERAGE_ORDER,
      `${orders}`,
    );

    const truth = truths[k];
    const covered = new Set(d.coverage.pixels);
    assert.equal(d.coverage.order, CATALOG_COVERAGE_ORDER);
    for (const p of truth) assert.ok(covered.has(p), `pixel ${p} holds rows but is not covered`);
    // A pixel without rows is covered only inside a file coarser than the coverage order.
    for (const p of covered) {
      if (truth.has(p)) continue;
      const inCoarse = manifest.files.some((x) => {
        const o = fileOrder(x);
        return o < CATALOG_COVERAGE_ORDER && p >> (2 * (CATALOG_COVERAGE_ORDER - o)) === x.pixel;
      });
      assert.ok(inCoarse, `pixel ${p} covered without rows and outside every coarse file`);
    }
    // Sorted, unique.
    assert.deepEqual(
      d.coverage.pixels,
      [...covered].sort((a, b) => a - b),
    );
  }
});

test("coverageOf: a finer file maps to its parent, a coarser one to the children its key range touches", () => {
  const shift = (o: number) => BigInt(2 * (29 - o));
  const file = (order: number, pixel: number, keyMin: bigint, keyMax: bigint) => ({
    path: "x",
    config: "c",
    order,
    pixel,
    keyMin: keyMin.toString(),
    keyMax: keyMax.toString(),
    rows: 1,
    bytes: 1,
    sha256: "0".repeat(64),
  });
  // Order 7 pixel 70000 → order-5 parent 4375.
  const fine = file(7, 70000, 70000n << shift(7), (70001n << shift(7)) - 1n);
  // Order 3 pixel 10: children 160..175 at order 5; keys span children 163..165 only.
  const coarse = file(3, 10, (163n << shift(5)) + 5n, (165n << shift(5)) + 7n);
  assert.deepEqual(coverageOf({ files: [fine, coarse] }, 5), [163, 164, 165, 4375]);
  // Empty files cover nothing.
  assert.deepEqual(coverageOf({ files: [{ ...fine, rows: 0 }] }, 5), []);
});

test("an adopted Multimodal Universe tree: described through its index, coverage holds its rows", {
  skip: referenceSkip(["healpy", "numpy"]),
}, async () => {
  const d = await describeDataset(MMU_HSC);
  assert.equal(d.location, MMU_HSC);
  assert.equal(d.modality, "image");
  assert.equal(d.survey?.toLowerCase(), "hsc");
  const ds = await openDataset(await datasetRootOf(MMU_HSC));
  assert.equal(d.rows, ds.length);
  const ra: number[] = [];
  const dec: number[] = [];
  for await (const b of ds.select(["ra", "dec"]).batches({ size: 1000 })) {
    ra.push(...(b.columns.ra as Float64Array));
    dec.push(...(b.columns.dec as Float64Array));
  }
  ds.close();
  assert.equal(ra.length, d.rows);
  const covered = new Set(d.coverage.pixels);
  for (const p of healpyPixels([{ ra, dec }])[0]) assert.ok(covered.has(p), `pixel ${p}`);
});

test("an s3:// dataset: the same entry as the local one it was published from", async () => {
  const saved = { ...process.env };
  Object.assign(process.env, S3RVER_CREDENTIALS);
  const s3 = await startS3Server(tempDir("astropile-catalog-s3-"), ["bucket"]);
  try {
    const remote = { endpoint: s3.endpoint, cacheDir: tempDir("astropile-catalog-s3-cache-") };
    await publishDataset(fixtures.legacy.root, "s3://bucket/legacy", { endpoint: s3.endpoint });
    const catalog = await DatasetCatalog.open(catalogFile("s3"), { remote });
    const entry = await catalog.add("legacy-s3", "s3://bucket/legacy");
    assert.equal(entry.location, "s3://bucket/legacy");
    assert.deepEqual(
      { ...entry, location: "" },
      {
        ...(await describeDataset(fixtures.legacy.root)),
        location: "",
        name: "legacy-s3",
        addedAt: entry.addedAt,
      },
    );
    assert.deepEqual(await catalog.get("legacy-s3"), entry);
    catalog.close();
  } finally {
    await s3.close();
    process.env = saved;
  }
});

test("add, get, list, remove: entries as described, kept in the file across opens", async () => {
  const file = catalogFile("basic");
  const catalog = await DatasetCatalog.open(file);
  assert.deepEqual(await catalog.list(), []);
  const added = await catalog.add("hsc-pdr3", fixtures.hsc.root, { description: "Deep HSC field" });
  await catalog.add("legacy", fixtures.legacy.root);
  await catalog.add("desi_edr", fixtures.desi.root);
  await catalog.add("hsc-mmu", MMU_HSC);
  // Through HTTP byte ranges: the same manifest, so the same entry but for the location.
  const url = `${server.url}/desi`;
  const remote = await catalog.add("desi.remote", url);
  catalog.close();

  const again = await DatasetCatalog.open(file);
  const entry = await again.get("hsc-pdr3");
  assert.deepEqual(entry, { ...(await describeDataset(fixtures.hsc.root)), ...pick(added) });
  assert.equal(entry?.description, "Deep HSC field");
  assert.ok(!Number.isNaN(Date.parse(entry?.addedAt ?? "")));
  const local = await again.get("desi_edr");
  assert.ok(local);
  assert.equal(remote.location, url);
  assert.deepEqual(
    { ...remote, location: "", addedAt: "" },
    { ...local, name: "desi.remote", location: "", addedAt: "" },
  );
  assert.equal(await again.get("nope"), undefined);
  assert.equal(await again.get("../etc"), undefined);
  assert.deepEqual(
    (await again.list()).map((e) => e.name),
    ["desi.remote", "desi_edr", "hsc-mmu", "hsc-pdr3", "legacy"],
  );

  await again.remove("legacy");
  assert.equal(await again.get("legacy"), undefined);
  await assert.rejects(again.remove("legacy"), (e) => codeOf(e) === "ASTROPILE_NOT_FOUND");
  assert.equal((await again.list()).length, 4);
  again.close();
  await assert.rejects(again.list(), (e) => codeOf(e) === "ASTROPILE_USAGE");
});

/** The fields add() fills that describeDataset does not. */
function pick(e: { name: string; description?: string; addedAt: string }) {
  return { name: e.name, description: e.description, addedAt: e.addedAt };
}

test("a new catalog opened twice at once: both open the one file, the second finds the path taken, no temporary left", async () => {
  const sub = join(dir, "created-together");
  mkdirSync(sub);
  const file = join(sub, "catalog.duckdb");
  // Both find no file and make one under a temporary name: one links it into place, the other
  // finds the path taken and keeps it.
  const [a, b] = await Promise.all([DatasetCatalog.open(file), DatasetCatalog.open(file)]);
  await a.add("one", fixtures.hsc.root);
  assert.deepEqual(
    (await b.list()).map((e) => e.name),
    ["one"],
  );
  a.close();
  b.close();
  assert.deepEqual(readdirSync(sub), ["catalog.duckdb"]);
});

test("list: q searches names, provenance, descriptions and column names; survey and modality filter", async () => {
  const catalog = await DatasetCatalog.open(catalogFile("search"));
  await catalog.add("hsc-pdr3", fixtures.hsc.root, { description: "Deep field (COSMOS)" });
  await catalog.add("legacy", fixtures.legacy.root);
  await catalog.add("desi_edr", fixtures.desi.root);
  const names = async (q: Parameters<typeof catalog.list>[0]) =>
    (await catalog.list(q)).map((e) => e.name);
  assert.deepEqual(await names({ q: "CMODEL" }), ["hsc-pdr3"]); // a column name
  assert.deepEqual(await names({ q: "z_quality" }), ["desi_edr"]); // column, other case
  assert.deepEqual(await names({ q: "cosmos" }), ["hsc-pdr3"]); // description
  assert.deepEqual(await names({ q: "dr10" }), ["legacy"]); // release
  assert.deepEqual(await names({ q: "legacysurvey" }), ["legacy"]); // survey
  assert.deepEqual(await names({ q: "catalog-test" }), ["desi_edr", "hsc-pdr3", "legacy"]); // project
  assert.deepEqual(await names({ q: "_edr" }), ["desi_edr"]); // name
  assert.deepEqual(await names({ q: "ra" }), ["desi_edr", "hsc-pdr3", "legacy"]);
  assert.deepEqual(await names({ q: "no such thing" }), []);
  // LIKE wildcards and quotes are plain characters.
  assert.deepEqual(await names({ q: "%" }), []);
  assert.deepEqual(await names({ q: "_" }), ["desi_edr", "hsc-pdr3", "legacy"]); // _healpix_29
  assert.deepEqual(await names({ q: "'; DROP TABLE datasets; --" }), []);
  assert.deepEqual(await names({ survey: "hsc" }), ["hsc-pdr3"]);
  assert.deepEqual(await names({ modality: "spectrum" }), ["desi_edr"]);
  assert.deepEqual(await names({ modality: "image", q: "desi" }), []);
  assert.equal((await catalog.list()).length, 3);
  await assert.rejects(
    catalog.list({ q: "x".repeat(5000) }),
    (e) => codeOf(e) === "ASTROPILE_USAGE",
  );
  await assert.rejects(
    catalog.list({ survey: 42 as unknown as string }),
    (e) => codeOf(e) === "ASTROPILE_USAGE",
  );
  catalog.close();
});

test("list with a cone keeps every dataset with a row inside (brute force over the rows)", async () => {
  const catalog = await DatasetCatalog.open(catalogFile("cone"));
  for (const [name, f] of Object.entries(fixtures)) await catalog.add(name, f.root);
  const entries = new Map((await catalog.list()).map((e) => [e.name, e]));
  const rand = mulberry32(42);
  const bound = pixelRadiusBoundDeg(CATALOG_COVERAGE_ORDER);
  let narrowed = 0;
  for (let k = 0; k < 40; k++) {
    // Half the cones centred near a row of some dataset, half anywhere.
    const f = Object.values(fixtures)[k % 3];
    const i = Math.floor(rand() * f.rows);
    const raDeg = k % 2 ? rand() * 360 : f.ra[i];
    const decDeg = k % 2 ? Math.asin(2 * rand() - 1) * (180 / Math.PI) : f.dec[i];
    const radiusDeg = [0.01, 0.3, 2, 15][k % 4];
    const found = new Set(
      (await catalog.list({ cone: { raDeg, decDeg, radiusDeg } })).map((e) => e.name),
    );
    for (const [name, g] of Object.entries(fixtures)) {
      let inside = false;
      for (let j = 0; j < g.rows && !inside; j++)
        inside = angularSeparationDeg(raDeg, decDeg, g.ra[j], g.dec[j]) <= radiusDeg;
      if (inside)
        assert.ok(
          found.has(name),
          `cone ${raDeg},${decDeg},${radiusDeg}: ${name} has a row inside`,
        );
      // Found only if some coverage pixel comes within the radius.
      const near = entries.get(name)?.coverage.pixels.some((p) => {
        const c = pix2ang(CATALOG_COVERAGE_ORDER, p);
        return angularSeparationDeg(raDeg, decDeg, c.ra, c.dec) <= radiusDeg + bound;
      });
      if (found.has(name)) assert.ok(near, `cone ${raDeg},${decDeg},${radiusDeg}: ${name} is far`);
    }
    if (found.size < 3) narrowed++;
  }
  assert.ok(narrowed > 10, `the cone left out a dataset in ${narrowed} searches of 40`);
  await assert.rejects(
    catalog.list({ cone: { raDeg: 10, decDeg: 95, radiusDeg: 1 } }),
    (e) => codeOf(e) === "ASTROPILE_USAGE",
  );
  await assert.rejects(
    catalog.list({ cone: { raDeg: 10, decDeg: 5, radiusDeg: Number.NaN } }),
    (e) => codeOf(e) === "ASTROPILE_USAGE",
  );
  catalog.close();
});

test("bad names, taken names, missing or non-dataset locations: typed errors, nothing added", async () => {
  const file = catalogFile("bad");
  const catalog = await DatasetCatalog.open(file);
  await catalog.add("hsc", fixtures.hsc.root);
  for (const name of ["", "-x", ".hidden", "a/b", "../x", "a b", "é", "x".repeat(129), "a\0"]) {
    await assert.rejects(
      catalog.add(name, fixtures.hsc.root),
      (e) => codeOf(e) === "ASTROPILE_USAGE" && /name/.test((e as Error).message),
      JSON.stringify(name),
    );
  }
  await catalog.add("x".repeat(128), fixtures.desi.root); // the longest name
  await assert.rejects(catalog.add("hsc", fixtures.desi.root), (e) => {
    assert.ok(e instanceof DatasetExistsError);
    assert.equal(codeOf(e), "ASTROPILE_DATASET_EXISTS");
    assert.match((e as Error).message, /"hsc"/);
    return true;
  });
  assert.equal((await catalog.get("hsc"))?.survey, "HSC"); // untouched
  const replaced = await catalog.add("hsc", fixtures.desi.root, { replace: true });
  assert.equal((await catalog.get("hsc"))?.survey, "DESI");
  assert.equal(replaced.location, fixtures.desi.root);

  const missing = join(dir, "does-not-exist");
  await assert.rejects(catalog.add("gone", missing), (e) => {
    assert.equal(codeOf(e), "ASTROPILE_NOT_FOUND");
    assert.ok((e as Error).message.includes(missing));
    return true;
  });
  const empty = join(dir, "empty-dir");
  mkdirSync(empty, { recursive: true });
  await assert.rejects(catalog.add("empty", empty), (e) => isAstroPileError(e));
  await assert.rejects(catalog.add("dead", "http://127.0.0.1:9/nothing"), (e) =>
    isAstroPileError(e),
  );
  assert.deepEqual(
    (await catalog.list()).map((e) => e.name),
    ["hsc", "x".repeat(128)],
  );
  await assert.rejects(catalog.refresh("gone"), (e) => codeOf(e) === "ASTROPILE_NOT_FOUND");
  catalog.close();
});

test("refresh: a dataset that grew a config is described again; description and addedAt stay", async () => {
  const copy = join(dir, "growing");
  cpSync(fixtures.legacy.root, copy, { recursive: true });
  const catalog = await DatasetCatalog.open(catalogFile("refresh"));
  const first = await catalog.add("growing", copy, { description: "grows" });
  await writeFixtureDataset(dir, "growing", "image", 50, 13, "second");
  const after = await catalog.refresh("growing");
  assert.deepEqual(after.configs, ["main", "second"]);
  assert.equal(after.rows, fixtures.legacy.rows + 50);
  assert.equal(after.description, "grows");
  assert.equal(after.addedAt, first.addedAt);
  assert.deepEqual(await catalog.get("growing"), after);
  catalog.close();
});

test("a file that is not a catalog, a foreign DuckDB database, a newer or truncated catalog: CatalogFileError naming the file, file untouched", async () => {
  const bad = join(dir, "catalogs", "not-duckdb.duckdb");
  mkdirSync(join(dir, "catalogs"), { recursive: true });
  writeFileSync(bad, "this is a text file, not a database\n".repeat(100));
  const before = readFileSync(bad);
  await assert.rejects(DatasetCatalog.open(bad), (e) => {
    assert.ok(e instanceof CatalogFileError);
    assert.equal(codeOf(e), "ASTROPILE_BAD_CATALOG");
    assert.ok((e as Error).message.includes(bad));
    return true;
  });
  assert.deepEqual(readFileSync(bad), before);

  const emptyFile = join(dir, "catalogs", "empty.duckdb");
  writeFileSync(emptyFile, "");
  await assert.rejects(
    DatasetCatalog.open(emptyFile),
    (e) => codeOf(e) === "ASTROPILE_BAD_CATALOG",
  );

  const foreign = join(dir, "catalogs", "foreign.duckdb");
  const db = await DuckDBInstance.create(foreign);
  const c = await db.connect();
  await c.run("CREATE TABLE measurements (x DOUBLE)");
  await c.run("INSERT INTO measurements VALUES (1.5)");
  c.closeSync();
  db.closeSync();
  await assert.rejects(DatasetCatalog.open(foreign), (e) => {
    assert.equal(codeOf(e), "ASTROPILE_BAD_CATALOG");
    assert.match((e as Error).message, /not an AstroPile catalog.*foreign\.duckdb/);
    return true;
  });
  const check = await DuckDBInstance.create(foreign, { access_mode: "READ_ONLY" });
  const cc = await check.connect();
  const tables = (
    await cc.runAndReadAll("SELECT table_name FROM information_schema.tables")
  ).getRows();
  cc.closeSync();
  check.closeSync();
  assert.deepEqual(tables, [["measurements"]]);

  const newer = catalogFile("newer");
  (await DatasetCatalog.open(newer)).close();
  const n = await DuckDBInstance.create(newer);
  const nc = await n.connect();
  await nc.run("UPDATE astropile_catalog SET version = 99");
  nc.closeSync();
  n.closeSync();
  await assert.rejects(DatasetCatalog.open(newer), /newer AstroPile/);

  const truncated = catalogFile("truncated");
  const t = await DatasetCatalog.open(truncated);
  await t.add("hsc", fixtures.hsc.root);
  t.close();
  truncateSync(truncated, 5000);
  await assert.rejects(DatasetCatalog.open(truncated), (e) => {
    assert.equal(codeOf(e), "ASTROPILE_BAD_CATALOG");
    assert.ok((e as Error).message.includes(truncated));
    return true;
  });

  await assert.rejects(
    DatasetCatalog.open(join(dir, "catalogs")),
    (e) => codeOf(e) === "ASTROPILE_BAD_CATALOG",
  );
  await assert.rejects(
    DatasetCatalog.open(join(dir, "catalogs", "absent.duckdb"), { create: false }),
    (e) => codeOf(e) === "ASTROPILE_NOT_FOUND",
  );
});

test("get sees changes made through another catalog object", async () => {
  const file = catalogFile("shared");
  const a = await DatasetCatalog.open(file);
  const b = await DatasetCatalog.open(file);
  assert.equal(await a.get("hsc"), undefined);
  assert.deepEqual(await a.list({ q: "hsc" }), []);
  await b.add("hsc", fixtures.hsc.root);
  assert.equal((await a.get("hsc"))?.rows, fixtures.hsc.rows);
  assert.deepEqual(
    (await a.list({ q: "hsc" })).map((e) => e.name),
    ["hsc"],
  );
  // What a caller does to a returned entry does not reach the next answer.
  const got = await a.get("hsc");
  (got as { rows: number }).rows = -1;
  (await a.list({ q: "hsc" }))[0].columns.length = 0;
  assert.equal((await a.get("hsc"))?.rows, fixtures.hsc.rows);
  assert.ok((await a.list({ q: "hsc" }))[0].columns.length > 0);
  await b.remove("hsc");
  assert.equal(await a.get("hsc"), undefined);
  assert.deepEqual(await a.list({ q: "hsc" }), []);
  // Calls on one file from one process at once are queued, not interleaved.
  await Promise.all([
    a.add("one", fixtures.hsc.root),
    b.add("two", fixtures.desi.root),
    a.list({ q: "o" }),
    b.get("one"),
  ]);
  assert.deepEqual(
    (await a.list()).map((e) => e.name),
    ["one", "two"],
  );
  a.close();
  b.close();
});
