// Values that are not physical are rejected per row with the reason in the build report, never
// stored as something else: a tile whose MAGZERO is 1e308 (which would give all-zero stamps with
// ivar +inf), a catalog ra of 1e308 (which modulo 360 would become 296). Column names that are
// also JavaScript object internals (__proto__, constructor, ...) are ordinary names end to end.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { convertBatch, type OutputColumn, widerDtype } from "../../src/build/catalog.ts";
import { build, checkSpec, loadSpec } from "../../src/build/index.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { builtinSpec, hscSpec } from "../../src/demo/index.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { tempDir } from "../helpers/tmp.ts";
import { hscDir, readCatalogCsv, tinySurveys } from "../synth/fixture.ts";
import { csvCatalogSpec, readAll } from "./helpers.ts";

const STAMP = 12;
const srcDir = tempDir();
const scratch = tempDir();
let hsc: string;

before(async () => {
  hsc = hscDir(await tinySurveys(srcDir, 0));
});

/** Rewrites the value of a header card in place, in every HDU (each card keeps 80 characters). */
function setCard(path: string, keyword: string, value: string): void {
  const bytes = readFileSync(path);
  const text = bytes.toString("latin1");
  const key = `${keyword.padEnd(8)}= `;
  let found = 0;
  for (let at = text.indexOf(key); at >= 0; at = text.indexOf(key, at + 1)) {
    if (at % 80 !== 0) continue;
    bytes.write(`${key}${value.padStart(20)}`.padEnd(80), at, "latin1");
    found++;
  }
  assert.ok(found > 0, `${keyword} card in ${path}`);
  writeFileSync(path, bytes);
}

function catalogCsv(dir: string): string {
  const name = readdirSync(join(dir, "catalog")).find((f) => f.endsWith(".csv"));
  assert.ok(name);
  return join(dir, "catalog", name);
}

test("a tile with MAGZERO = 1E308: its rows are rejected with the reason; no ivar is +inf", async () => {
  const dir = join(scratch, "magzero");
  cpSync(hsc, dir, { recursive: true });
  const tiles = readdirSync(join(dir, "tiles", "HSC-I"), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith(".fits"))
    .sort();
  const bad = join(dir, "tiles", "HSC-I", tiles[0]!);
  setCard(bad, "MAGZERO", "1E308");
  const out = join(scratch, "magzero-out");
  const { report } = await build(builtinSpec("hsc", dir, { stampSize: STAMP }), {
    out,
    workers: 1,
  });
  const rejected = report.rejected.sample.filter((r) => r.reason.includes("MAGZERO"));
  assert.ok(rejected.length > 0, "the bad tile's rows are rejected");
  for (const r of rejected) {
    assert.equal(r.stage, "image");
    assert.match(
      r.reason,
      /^hsc-i tile .*calexp.*: MAGZERO = 1e\+308 is not an AB zeropoint in \(0, 100\)$/,
    );
  }
  assert.ok(
    Object.keys(report.rejected.byReason).some((k) => /MAGZERO = N is not an AB zeropoint/.test(k)),
    JSON.stringify(report.rejected.byReason),
  );
  const { rows, columns } = await readAll(out, "pdr3_dud", [
    "image_array",
    "image_ivar",
    "image_mask",
  ]);
  assert.ok(rows > 0);
  const ivar = columns.image_ivar as Float32Array;
  const flux = columns.image_array as Float32Array;
  for (let i = 0; i < ivar.length; i++) {
    assert.ok(Number.isFinite(ivar[i]) && Number.isFinite(flux[i]), `pixel ${i}`);
  }
});

test("catalog ra: 1e308 is rejected, -10 becomes 350, 360 becomes 0; dec outside [-90, 90] rejected", () => {
  const outputs: OutputColumn[] = ["ra", "dec"].map((name) => ({
    spec: { name, dtype: "float64", shape: [] },
    source: name,
    required: true,
  }));
  const conv = convertBatch(
    {
      startRow: 0,
      rows: 6,
      columns: {
        ra: ["1e308", "-10", "360", "-360.5", "12.5", "inf"],
        dec: ["0", "1", "2", "3", "90.5", "4"],
      },
      nulls: {},
    },
    outputs,
    [],
  );
  assert.equal(
    conv.rejected.get(0),
    "column ra: 1e+308 is not a right ascension in [-360, 360] degrees",
  );
  assert.equal(
    conv.rejected.get(3),
    "column ra: -360.5 is not a right ascension in [-360, 360] degrees",
  );
  assert.match(conv.rejected.get(4) ?? "", /column dec: 90.5 is not a declination/);
  assert.match(conv.rejected.get(5) ?? "", /column ra: not a finite number/);
  assert.equal(conv.rejected.size, 4);
  const ra = conv.columns.ra as Float64Array;
  assert.equal(ra[1], 350);
  assert.equal(ra[2], 0);
});

test("a catalog row with ra = 1e308 is rejected in the build report, not stored at ra 296", async () => {
  const dir = join(scratch, "ra");
  cpSync(hsc, dir, { recursive: true });
  const csv = catalogCsv(dir);
  const [header, first, ...rest] = readFileSync(csv, "utf8").trimEnd().split("\n");
  const names = header!.split(",");
  const cells = first!.split(",");
  const id = cells[names.indexOf("object_id")];
  cells[names.indexOf("ra")] = "1e308";
  writeFileSync(csv, `${[header, cells.join(","), ...rest].join("\n")}\n`);
  const out = join(scratch, "ra-out");
  const { report } = await build(builtinSpec("hsc", dir, { stampSize: STAMP }), {
    out,
    workers: 1,
  });
  const r = report.rejected.sample.find((x) => x.objectId === id);
  assert.ok(r, "the row is rejected");
  assert.equal(r.stage, "catalog");
  assert.equal(r.row, 0);
  assert.equal(r.reason, "column ra: 1e+308 is not a right ascension in [-360, 360] degrees");
  const { columns } = await readAll(out, "pdr3_dud", ["object_id"]);
  assert.ok(!(columns.object_id as BigInt64Array).includes(BigInt(id!)), "not stored");
});

test("a row whose object_id cannot be read is reported by its row, not as object 0", async () => {
  const dir = join(scratch, "bad-ids");
  mkdirSync(dir, { recursive: true });
  const rows = [
    "id,ra,dec,mag",
    "6917529027641081855,10,10,12", // kept: exact in int64
    "18446744073709551616,11,10,12", // past uint64 too (the column is int64: every other id is)
    ",13,10,12", // missing
    "7,1e308,10,12", // its ra refused: the id is still named
  ];
  writeFileSync(join(dir, "cat.csv"), `${rows.join("\n")}\n`);
  const { report } = await build(csvCatalogSpec(dir, "IDS"), { out: join(dir, "out"), workers: 1 });
  assert.equal(report.rows, 1);
  assert.deepEqual(
    report.rejected.sample.map((r) => [r.row, r.objectId, r.reason]),
    [
      [1, undefined, 'column object_id (source id): "18446744073709551616" is not an int64 value'],
      [2, undefined, "column object_id (source id): missing value"],
      [3, "7", "column ra: 1e+308 is not a right ascension in [-360, 360] degrees"],
    ],
  );
  assert.deepEqual(Object.keys(report.rejected.byReason).sort(), [
    "catalog: column object_id: missing value",
    "catalog: column object_id: … is not an int64 value",
    "catalog: column ra: N is not a right ascension in [-360, 360] degrees",
  ]);
});

test("a build whose every row is refused fails, naming why and where; the dataset beside it is untouched", async () => {
  const dir = join(scratch, "all-refused");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cat.csv"), "id,ra,dec,mag\n1,10,10,12\n2,11,10,12\n");
  writeFileSync(join(dir, "bad.csv"), "id,ra,dec,mag\n1,400,10,12\n2,500,10,12\n3,10,95,12\n");
  const out = join(dir, "out");
  await build(csvCatalogSpec(dir, "GOOD"), { out, workers: 1 });
  const before = readFileSync(join(out, "astropile.json"));
  const bad = checkSpec(
    { ...csvCatalogSpec(dir, "BAD", { files: "bad.csv" }), config: "bad" },
    dir,
  );
  await assert.rejects(build(bad, { out, workers: 1 }), (err: Error) => {
    assert.equal(err.name, "SchemaError");
    assert.match(
      err.message,
      /^all 3 rows read were refused, so nothing was built \(2 x catalog: column ra: /,
    );
    assert.match(err.message, /1 x catalog: column dec: /);
    assert.match(err.message, /file \S*bad\.csv, row 0: column ra: 400 is not a right ascension/);
    return true;
  });
  assert.deepEqual(readFileSync(join(out, "astropile.json")), before, "the manifest is unchanged");
  assert.deepEqual(readdirSync(out).sort(), ["README.md", "astropile.json", "main"].sort());
});

test("a tab-separated catalog: the error points to catalog.delimiter, and with it the file builds", async () => {
  const dir = join(scratch, "tabs");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cat.csv"), "id\tra\tdec\tmag\n1\t10\t10\t12\n2\t11\t10\t12\n");
  const spec = csvCatalogSpec(dir, "TABS");
  await assert.rejects(build(spec, { out: join(dir, "out"), workers: 1 }), (err: Error) => {
    assert.equal(err.name, "SchemaError");
    assert.match(
      err.message,
      /^catalog has no column "id" \(mapped to "object_id"\); the file was read as one column: if its fields are separated by tabs, set catalog.delimiter \(file \S*cat\.csv, column "id"\)$/,
    );
    return true;
  });
  const tabbed = checkSpec({ ...spec, catalog: { ...spec.catalog, delimiter: "\t" } }, dir);
  const { report } = await build(tabbed, { out: join(dir, "out"), workers: 1 });
  assert.equal(report.rows, 2);
});

test('a header written after "#" (numpy.savetxt): the error says so, and the column mapped by that name builds', async () => {
  const dir = join(scratch, "commented-header");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cat.csv"), "# id,ra,dec,mag\n1,10,10,12\n2,11,10,12\n");
  const spec = csvCatalogSpec(dir, "HASH");
  await assert.rejects(build(spec, { out: join(dir, "out"), workers: 1 }), (err: Error) => {
    assert.equal(err.name, "SchemaError");
    assert.match(
      err.message,
      /^catalog has no column "id" \(mapped to "object_id"\); its first column is named "# id": the header line starts with "#" \(as numpy.savetxt writes it\), so either remove the "#" from the file's first line or map the column as "# id" \(file \S*cat\.csv, column "id"\)$/,
    );
    return true;
  });
  const columns = { ...spec.catalog.columns, object_id: "# id" };
  const mapped = checkSpec({ ...spec, catalog: { ...spec.catalog, columns } }, dir);
  const { report } = await build(mapped, { out: join(dir, "out"), workers: 1 });
  assert.equal(report.rows, 2);
  const ids = (await readAll(join(dir, "out"), "main", ["object_id"])).columns.object_id;
  assert.deepEqual([...(ids as BigInt64Array)].sort(), [1n, 2n]);
});

test("object_ids past int64 (unsigned 64-bit) are built exactly as uint64, and found by id", async () => {
  const dir = join(scratch, "u64-ids");
  mkdirSync(dir, { recursive: true });
  const ids = [2n ** 64n - 1n, 2n ** 63n, 5n];
  const rows = ["id,ra,dec,mag", ...ids.map((id, i) => `${id},${10 + i},10,12`)];
  writeFileSync(join(dir, "cat.csv"), `${rows.join("\n")}\n`);
  const out = join(dir, "out");
  const { report, manifest } = await build(csvCatalogSpec(dir, "U64"), { out, workers: 1 });
  assert.equal(report.rows, 3, JSON.stringify(report.rejected));
  const column = manifest.configs.main.columns.find((c) => c.name === "object_id");
  assert.equal(column?.dtype, "uint64");
  const stored = (await readAll(out, "main", ["object_id"])).columns.object_id as BigUint64Array;
  assert.deepEqual([...stored].sort(), [...ids].sort());
  const ds = await openDataset(out);
  try {
    for (const id of ids) assert.equal((await ds.getById(id)).object_id, id);
  } finally {
    ds.close();
  }
});

/** A CSV float: empty is missing (NaN). */
const num = (text: string) => (text.trim() === "" ? Number.NaN : Number(text));

const ODD = ["__proto__", "constructor", "toString", "hasOwnProperty"] as const;

test("output columns named __proto__, constructor, toString, hasOwnProperty: written, read back by name, in h5py", {
  skip: referenceSkip(["h5py"]),
}, async () => {
  const spec = hscSpec(STAMP);
  // As a user writes it: a JSON file, parsed by loadSpec.
  const json = JSON.stringify({ ...spec, root: hsc }).replace(
    '"columns":{',
    '"columns":{"__proto__":{"from":"g_cmodel_mag","dtype":"float32"},"constructor":{"from":"r_cmodel_mag","dtype":"float64"},"toString":"i_cmodel_mag","hasOwnProperty":{"from":"tract","dtype":"int32"},',
  );
  assert.ok(json.includes('"__proto__"'));
  const path = join(scratch, "odd.json");
  writeFileSync(path, json);
  const loaded = await loadSpec(path);
  for (const n of ODD) assert.ok(Object.hasOwn(loaded.catalog.columns, n), `spec keeps ${n}`);
  const out = join(scratch, "odd-out");
  const { report } = await build(loaded, { out, workers: 1 });
  assert.equal(report.rejected.count, 0, JSON.stringify(report.rejected.byReason));
  const manifest = await readManifest(out);
  const cols = manifest.configs.pdr3_dud!.columns;
  for (const n of ODD)
    assert.ok(
      cols.some((c) => c.name === n),
      `manifest lists ${n}`,
    );
  assert.equal(cols.find((c) => c.name === "constructor")?.dtype, "float64");

  // Read back by name, against the catalog's text values.
  const { rows, columns } = await readAll(out, "pdr3_dud", ["object_id", ...ODD]);
  assert.equal(rows, report.rows);
  const truth = new Map(readCatalogCsv(catalogCsv(hsc)).map((r) => [r.object_id, r]));
  const ids = columns.object_id as BigInt64Array;
  const [proto, ctor, , hasOwn] = ODD.map((n) => columns[n] as Float64Array);
  for (let i = 0; i < rows; i++) {
    const t = truth.get(String(ids[i]))!;
    assert.equal(proto![i], Math.fround(num(t.g_cmodel_mag!)));
    assert.equal(ctor![i], num(t.r_cmodel_mag!));
    assert.equal(hasOwn![i], Number(t.tract));
  }

  // The dataset API: examples, selected batches, views.
  const ds = await openDataset(out);
  const ex = await ds.get(0);
  for (const n of ODD) assert.ok(Object.hasOwn(ex, n), `example has ${n}`);
  assert.equal(typeof ex.constructor, "number");
  assert.equal(typeof ex.hasOwnProperty, "number");
  for await (const b of ds.select(["object_id", ...ODD]).batches({ size: 7 })) {
    for (const n of ODD) assert.ok(Object.hasOwn(b.columns, n), `batch has ${n}`);
    assert.ok(b.columns[ODD[1]] instanceof Float64Array);
    break;
  }
  const filtered = ds.filter("constructor < 99 and hasOwnProperty >= 0");
  assert.equal(await filtered.count(), rows);

  // h5py sees the HDF5 datasets under those names.
  const file = join(out, manifest.files[0]!.path);
  const names = JSON.parse(
    runPython(
      "import h5py, json, sys\nprint(json.dumps(sorted(h5py.File(sys.argv[1], 'r').keys())))",
      [file],
    ),
  ) as string[];
  for (const n of ODD) assert.ok(names.includes(n), `h5py lists ${n}: ${names.join(", ")}`);

  // A cross-match saved to disk keeps them, on both sides.
  const { dataset } = await crossMatch(ds, ds, { radiusArcsec: 1, threads: 0 });
  const saved = await dataset.saveToDisk(join(scratch, "odd-x"));
  const savedNames = saved.configs[Object.keys(saved.configs)[0]!]!.columns.map((c) => c.name);
  for (const n of ODD) {
    assert.ok(savedNames.includes(n), `saved ${n}`);
    assert.ok(savedNames.includes(`right.${n}`), `saved right.${n}`);
  }
  const back = await readAll(join(scratch, "odd-x"), Object.keys(saved.configs)[0]!, [
    "constructor",
    "right.constructor",
  ]);
  assert.deepEqual(back.columns[ODD[1]], back.columns["right.constructor"]);
});

test("a spec cannot smuggle a prototype: zod-checked values, own keys only", () => {
  const spec = JSON.parse(
    JSON.stringify({ ...hscSpec(STAMP), root: hsc }).replace(
      '"columns":{',
      '"columns":{"__proto__":{"from":"g_cmodel_mag","dtype":"complex"},',
    ),
  );
  assert.throws(() => checkSpec(spec, hsc), /catalog\.columns\.__proto__/);
});

test("a fill value that its column's type cannot hold is a SpecError; a 64-bit fill given as digits is exact", async () => {
  const dir = join(scratch, "fills");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cat.csv"), "id,ra,dec,a\n1,10,10,5\n2,10.1,10.1,\n");
  const spec = (dtype: string, fill: unknown) =>
    checkSpec(
      {
        config: "main",
        provenance: { survey: "FILL" },
        catalog: {
          files: "cat.csv",
          columns: { object_id: "id", ra: "ra", dec: "dec", a: { from: "a", dtype, fill } },
        },
      },
      dir,
    );
  for (const [dtype, fill, why] of [
    ["uint8", 300, /outside the uint8 range \(0 to 255\)/],
    ["uint16", -1, /outside the uint16 range/],
    ["int8", -129, /outside the int8 range \(-128 to 127\)/],
    ["int32", 1.5, /is not an int32 value/],
    ["int32", "abc", /is not an int32 value/],
    ["int64", 1e300, /is not an int64 value \(an integer, as a string of digits past 2\^53\)/],
    ["int64", "abc", /is not an int64 value/],
    ["uint64", -1, /outside the uint64 range/],
    ["bool", 5, /is not a bool value/],
    ["float32", "x", /is not a number/],
  ] as const) {
    await assert.rejects(
      build(spec(dtype, fill), { out: join(dir, "out"), workers: 1 }),
      (err: Error) => {
        assert.equal(err.name, "SpecError", `${dtype} ${fill}: ${err.message}`);
        assert.match(
          err.message,
          new RegExp(
            `^catalog\\.columns\\.a\\.fill: ${JSON.stringify(fill).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} `,
          ),
        );
        assert.match(err.message, why);
        return true;
      },
    );
  }
  for (const [dtype, fill, want] of [
    ["int64", "9007199254740993", 9007199254740993n],
    ["uint64", "18446744073709551615", 18446744073709551615n],
    ["uint8", 255, 255],
    ["int16", -32768, -32768],
  ] as const) {
    const out = join(dir, `ok-${dtype}`);
    await build(spec(dtype, fill), { out, workers: 1 });
    const { columns } = await readAll(out, "main", ["object_id", "a"]);
    const ids = [...(columns.object_id as BigInt64Array)];
    assert.equal((columns.a as ArrayLike<unknown>)[ids.indexOf(2n)], want, `${dtype} ${fill}`);
  }
});

test("catalog files whose columns differ in type: each column stored in a type that holds every file's values", async () => {
  const dir = join(scratch, "widen");
  mkdirSync(dir, { recursive: true });
  const { writeFits } = await import("../../src/formats/fits-writer.ts");
  const table = (specs: Array<[string, string, number?]>, batch: Record<string, unknown>) => ({
    kind: "table" as const,
    specs: specs.map(([name, dtype, stringLength]) => ({
      name,
      dtype: dtype as never,
      shape: [],
      ...(stringLength ? { stringLength } : {}),
    })),
    batch: batch as never,
  });
  // g1: x float32, n int16, s 5 bytes; g2: x float64 (1e-50 underflows float32), n holds 3.7,
  // s 10 bytes. Before, the first file's types were taken for both: 1e-50 became 0.
  await writeFits(join(dir, "g1.fits"), [
    table(
      [
        ["id", "int64"],
        ["ra", "float64"],
        ["dec", "float64"],
        ["x", "float32"],
        ["n", "int16"],
        ["s", "string", 5],
      ],
      {
        id: BigInt64Array.from([1n, 2n]),
        ra: Float64Array.from([10, 11]),
        dec: Float64Array.from([5, 6]),
        x: Float32Array.from([0.5, 2]),
        n: Int16Array.from([7, -300]),
        s: ["abcde", "ab"],
      },
    ),
  ]);
  await writeFits(join(dir, "g2.fits"), [
    table(
      [
        ["id", "int64"],
        ["ra", "float64"],
        ["dec", "float64"],
        ["x", "float64"],
        ["n", "float64"],
        ["s", "string", 10],
      ],
      {
        id: BigInt64Array.from([3n, 4n]),
        ra: Float64Array.from([12, 13]),
        dec: Float64Array.from([7, 8]),
        x: Float64Array.from([0.1, 1e-50]),
        n: Float64Array.from([3.7, 4]),
        s: ["abcdefghij", "x"],
      },
    ),
  ]);
  const spec = checkSpec(
    {
      config: "main",
      provenance: { survey: "WIDEN" },
      catalog: {
        files: "g*.fits",
        columns: { object_id: "id", ra: "ra", dec: "dec", x: "x", n: "n", s: "s" },
      },
    },
    dir,
  );
  const out = join(dir, "out");
  const { report, manifest } = await build(spec, { out, workers: 1 });
  assert.equal(report.rows, 4, JSON.stringify(report.rejected));
  const dtypes = Object.fromEntries(manifest.configs.main.columns.map((c) => [c.name, c.dtype]));
  assert.equal(dtypes.x, "float64");
  assert.equal(dtypes.n, "float64");
  const { columns } = await readAll(out, "main", ["object_id", "x", "n", "s"]);
  const byId = new Map([...(columns.object_id as BigInt64Array)].map((id, i) => [id, i]));
  const at = (id: bigint) => byId.get(id)!;
  assert.equal((columns.x as Float64Array)[at(4n)], 1e-50);
  assert.equal((columns.x as Float64Array)[at(1n)], 0.5);
  assert.equal((columns.n as Float64Array)[at(3n)], 3.7);
  assert.equal((columns.n as Float64Array)[at(2n)], -300);
  assert.equal((columns.s as string[])[at(3n)], "abcdefghij");
  // A column whose files have no common type is an error naming both, unless the spec fixes it.
  await writeFits(join(dir, "h1.fits"), [
    table(
      [
        ["id", "int64"],
        ["ra", "float64"],
        ["dec", "float64"],
        ["s", "string", 4],
      ],
      {
        id: BigInt64Array.from([1n]),
        ra: Float64Array.from([1]),
        dec: Float64Array.from([1]),
        s: ["abcd"],
      },
    ),
  ]);
  await writeFits(join(dir, "h2.fits"), [
    table(
      [
        ["id", "int64"],
        ["ra", "float64"],
        ["dec", "float64"],
        ["s", "int32"],
      ],
      {
        id: BigInt64Array.from([2n]),
        ra: Float64Array.from([2]),
        dec: Float64Array.from([2]),
        s: Int32Array.from([5]),
      },
    ),
  ]);
  const mixed = (s: unknown) =>
    checkSpec(
      {
        config: "mixed",
        provenance: { survey: "WIDEN" },
        catalog: { files: "h*.fits", columns: { object_id: "id", ra: "ra", dec: "dec", s } },
      },
      dir,
    );
  await assert.rejects(build(mixed("s"), { out, workers: 1 }), (err: Error) => {
    assert.equal(err.name, "SchemaError");
    assert.match(
      err.message,
      /column "s" is text in one catalog file and an int32 in another \(\S*h1\.fits and \S*h2\.fits\); give its dtype/,
    );
    return true;
  });
  // A column the spec does not map may differ freely between the files.
  const unmapped = checkSpec(
    {
      config: "unmapped",
      provenance: { survey: "WIDEN" },
      catalog: { files: "h*.fits", columns: { object_id: "id", ra: "ra", dec: "dec" } },
    },
    dir,
  );
  assert.equal((await build(unmapped, { out, workers: 1 })).report.rows, 2);
});

test("ra or dec in a unit other than degrees (hourangle, rad) is refused, not read as degrees; units that differ between files too", async () => {
  const dir = join(scratch, "units");
  mkdirSync(dir, { recursive: true });
  const ecsv = (raUnit: string, magUnit: string) =>
    [
      "# %ECSV 1.0",
      "# ---",
      "# datatype:",
      "# - {name: id, datatype: int64}",
      `# - {name: ra, unit: ${raUnit}, datatype: float64}`,
      "# - {name: dec, unit: deg, datatype: float64}",
      `# - {name: mag, unit: ${magUnit}, datatype: float64}`,
      "# schema: astropy-2.0",
      "id ra dec mag",
      "1 12.0 10.0 15.5",
      "2 12.5 11.0 16.5",
      "",
    ].join("\n");
  writeFileSync(join(dir, "hours.ecsv"), ecsv("hourangle", "mag"));
  writeFileSync(join(dir, "a.ecsv"), ecsv("deg", "mag"));
  writeFileSync(join(dir, "b.ecsv"), ecsv("deg", "Jy"));
  const spec = (files: string, ra: unknown = "ra") =>
    checkSpec(
      {
        config: "main",
        provenance: { survey: "UNITS" },
        catalog: { files, columns: { object_id: "id", ra, dec: "dec", mag: "mag" } },
      },
      dir,
    );
  await assert.rejects(
    build(spec("hours.ecsv"), { out: join(dir, "out1"), workers: 1 }),
    (err: Error) => {
      assert.equal(err.name, "SchemaError");
      assert.match(
        err.message,
        /catalog column "ra" \(mapped to ra\) is in "hourangle", and ra is stored in degrees/,
      );
      return true;
    },
  );
  // The user's word that the values are degrees is taken.
  const { report } = await build(spec("hours.ecsv", { from: "ra", unit: "deg" }), {
    out: join(dir, "out2"),
    workers: 1,
  });
  assert.equal(report.rows, 2);
  await assert.rejects(
    build(spec("{a,b}.ecsv"), { out: join(dir, "out3"), workers: 1 }),
    (err: Error) => {
      assert.equal(err.name, "SchemaError");
      assert.match(err.message, /column "mag" is in "mag" in \S*a\.ecsv and in "Jy" in \S*b\.ecsv/);
      return true;
    },
  );
});

test("widerDtype: the narrowest type holding both, as numpy.promote_types gives (int64 with uint64: none, not a lossy float64)", () => {
  for (const [a, b, want] of [
    ["int16", "uint16", "int32"],
    ["int8", "uint8", "int16"],
    ["uint8", "uint16", "uint16"],
    ["int32", "int64", "int64"],
    ["uint32", "int32", "int64"],
    ["bool", "int8", "int8"],
    ["float32", "int16", "float32"],
    ["float32", "int32", "float64"],
    ["float32", "float64", "float64"],
    ["int64", "float32", "float64"],
    ["int64", "uint64", null],
    ["string", "int32", null],
  ] as const) {
    assert.equal(widerDtype(a, b), want, `${a} ${b}`);
    assert.equal(widerDtype(b, a), want, `${b} ${a}`);
  }
});

test("a FITS variable-length column mapped in a catalog is named as such, not as a column the file lacks", async () => {
  const dir = join(scratch, "vla");
  mkdirSync(dir, { recursive: true });
  cpSync(
    join(import.meta.dirname, "..", "fixtures", "formats", "tables.fits"),
    join(dir, "t.fits"),
  );
  const spec = checkSpec(
    {
      config: "main",
      provenance: { survey: "VLA" },
      catalog: {
        files: "t.fits",
        hdu: "EVERY_TFORM",
        columns: {
          object_id: "i64",
          ra: { from: "d", unit: "deg" },
          dec: { from: "e", unit: "deg" },
          x: "vla_d",
        },
      },
    },
    dir,
  );
  await assert.rejects(build(spec, { out: join(dir, "out"), workers: 1 }), (err: Error) => {
    assert.equal(err.name, "SchemaError");
    assert.match(
      err.message,
      /^catalog column "vla_d" \(mapped to "x"\) is a variable-length array column \(TFORM Q\), which a catalog cannot take/,
    );
    return true;
  });
});
