// exportDataset to FITS, ECSV and CSV: astropy (Table.read) gets back the values, dtypes, units
// and shapes that went in; our own readers check the same without Python; filters, cones and
// column choices export exactly the rows and columns asked for; bad requests are typed errors
// that leave nothing behind.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { isAstroPileError } from "../../src/core/errors.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { openCsv } from "../../src/formats/csv.ts";
import { openEcsv } from "../../src/formats/ecsv.ts";
import { openFits } from "../../src/formats/fits.ts";
import {
  type ExportOptions,
  type ExportResult,
  exportDataset,
  exportFormats,
  registerExporter,
} from "../../src/interop/export.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { moduleArgs } from "../helpers/cli-process.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { haversineArcsec } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { EXPORT_COLUMNS, exportRows, SCALAR_NAMES, writeExportDataset } from "./export-fixture.ts";

const N = 300;
const dir = tempDir();
const all = exportRows(N);
const rowOf = new Map<string, number>();
(all.object_id as BigInt64Array).forEach((id, i) => {
  rowOf.set(String(id), i);
});
let ds: Dataset;

before(async () => {
  ds = await openDataset(await writeExportDataset(dir, N));
});

const spec = (name: string) => EXPORT_COLUMNS.find((c) => c.name === name) as ColumnSpec;
const per = (name: string) => spec(name).shape.reduce((a, b) => a * b, 1);

/** The values of row i (input order) of a column, as astropy's JSON below gives them. */
function expected(name: string, i: number): unknown[] {
  const p = per(name);
  const out: unknown[] = [];
  for (let k = i * p; k < (i + 1) * p; k++) {
    const v = all[name][k];
    if (typeof v === "bigint" || (spec(name).dtype.includes("int") && typeof v === "number"))
      out.push(String(v));
    else if (spec(name).dtype === "bool") out.push(v === 1);
    else out.push(v);
  }
  return out;
}

interface AstropyTable {
  columns: Array<{
    name: string;
    kind: string;
    itemsize: number;
    shape: number[];
    unit: string | null;
    sameUnit: boolean;
  }>;
  data: Record<string, unknown[]>;
  meta: Record<string, string>;
  rows: number;
}

const READ_WITH_ASTROPY = `
import sys, json, warnings
import numpy as np
from astropy.table import Table
import astropy.units as u
warnings.simplefilter("ignore")
t = Table.read(sys.argv[1], format=sys.argv[2])
units = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
def conv(c):
    a = np.asarray(c)
    flat = a.ravel()
    masked = np.ma.getmaskarray(c).ravel() if hasattr(c, "mask") else np.zeros(flat.shape, bool)
    return [None if m else v for v, m in zip(values(a, flat), masked)]
def values(a, flat):
    if a.dtype.kind in "iu": return [str(int(x)) for x in flat]
    if a.dtype.kind == "b": return [bool(x) for x in flat]
    if a.dtype.kind in "US": return [x.decode() if isinstance(x, bytes) else str(x) for x in flat]
    return [float(x) for x in flat]
cols, data = [], {}
for name in t.colnames:
    c = t[name]
    a = np.asarray(c)
    cols.append({"name": name, "kind": a.dtype.kind,
                 "itemsize": 0 if a.dtype.kind in "US" else a.dtype.itemsize,
                 "shape": list(a.shape[1:]), "unit": None if c.unit is None else str(c.unit),
                 "sameUnit": (c.unit is None) if units.get(name) is None else
                     (c.unit is not None and (str(c.unit) == units[name] or
                      c.unit == u.Unit(units[name], parse_strict="silent")))})
    data[name] = conv(c)
print(json.dumps({"columns": cols, "data": data, "rows": len(t),
                  "meta": {str(k): str(v) for k, v in t.meta.items()}}))
`;

function readWithAstropy(path: string, format: string): AstropyTable {
  const units = Object.fromEntries(EXPORT_COLUMNS.map((c) => [c.name, c.unit ?? null]));
  return JSON.parse(
    runPython(READ_WITH_ASTROPY, [path, format, JSON.stringify(units)]),
  ) as AstropyTable;
}

/** numpy kind and item size of each dtype, as astropy reads FITS and ECSV. */
const NUMPY: Record<string, [string, number]> = {
  float32: ["f", 4],
  float64: ["f", 8],
  int8: ["i", 1],
  int16: ["i", 2],
  int32: ["i", 4],
  int64: ["i", 8],
  uint8: ["u", 1],
  uint16: ["u", 2],
  uint32: ["u", 4],
  uint64: ["u", 8],
  bool: ["b", 1],
  string: ["U", 0],
};

/** Every value of every column of the astropy table equals the input row with that object_id. */
function checkValues(t: AstropyTable, names: string[], rowsOf: (name: string) => number) {
  // ECSV and CSV write an empty string as "", which astropy reads as masked (its own files too).
  const unmask = (v: unknown) =>
    v === null ? "" : typeof v === "number" && spec(name).dtype === "int8" ? String(v) : v;
  const ids = t.data.object_id as string[];
  let name = "";
  for (name of names) {
    const p = rowsOf(name);
    const got = t.data[name];
    assert.equal(got.length, ids.length * p, `${name}: value count`);
    ids.forEach((id, r) => {
      const i = rowOf.get(id);
      assert.ok(i !== undefined, `unknown object_id ${id}`);
      assert.deepEqual(
        got.slice(r * p, (r + 1) * p).map(unmask),
        expected(name, i),
        `${name} of ${id}`,
      );
    });
  }
}

describe("astropy reads the exports", { skip: referenceSkip(["astropy"]) }, () => {
  for (const format of ["fits", "ecsv"]) {
    test(`${format}: every column, with dtypes, shapes, units and values`, async () => {
      const out = join(dir, `all.${format}`);
      const r = await exportDataset(ds, { to: format, out });
      assert.equal(r.rows, N);
      assert.deepEqual(r.skipped, []);
      assert.deepEqual(
        r.columns,
        ds.columns.filter((c) => c !== "_healpix_29"),
      );
      const t = readWithAstropy(out, format === "fits" ? "fits" : "ascii.ecsv");
      assert.equal(t.rows, N);
      for (const c of EXPORT_COLUMNS) {
        const col = t.columns.find((x) => x.name === c.name);
        assert.ok(col, `${c.name} in the ${format} file`);
        // astropy reads FITS strings as bytes (character_as_bytes, its own files too).
        const kind = format === "fits" ? "S" : "U";
        const want = c.dtype === "string" ? [kind, 0] : NUMPY[c.dtype];
        // int8 is stored as the FITS standard says (TFORM B, TZERO -128); astropy before 6
        // reads that as float64 (same values), and writes its own int8 as L (bool, lossy).
        if (!(format === "fits" && c.dtype === "int8" && col.kind === "f"))
          assert.deepEqual([col.kind, col.itemsize], want, `${c.name} dtype`);
        assert.deepEqual(col.shape, c.shape, `${c.name} shape`);
        assert.ok(col.sameUnit, `${c.name}: unit ${col.unit}, not ${c.unit}`);
      }
      checkValues(
        t,
        EXPORT_COLUMNS.map((c) => c.name),
        per,
      );
      const meta = Object.fromEntries(Object.entries(t.meta).map(([k, v]) => [k.toUpperCase(), v]));
      assert.equal(meta.SURVEY, "HSC");
      assert.equal(meta.CONFIG, "pdr3_wide");
    });
  }

  test("csv: the scalar columns by default, arrays listed as skipped", async () => {
    const out = join(dir, "scalars.csv");
    const r = await exportDataset(ds, { to: "csv", out });
    assert.deepEqual(
      r.skipped.map((s) => s.column),
      ["image_array", "image_mask", "image_band", "flux_aper"],
    );
    assert.match(r.skipped[0].reason, /CSV holds scalar columns.*\[2, 3, 4\]/);
    const t = readWithAstropy(out, "ascii.csv");
    assert.equal(t.rows, N);
    assert.deepEqual(
      t.columns.map((c) => c.name),
      r.columns,
    );
    // Text has no dtypes: astropy infers them. Integers and floats come back exact (uint64 beyond
    // int64 as a float, astropy's inference), bools as bools, strings as strings.
    const ids = t.data.object_id as string[];
    for (const name of SCALAR_NAMES) {
      const col = t.columns.find((c) => c.name === name)!;
      const dtype = spec(name).dtype;
      ids.forEach((id, r) => {
        const want = expected(name, rowOf.get(id)!)[0];
        const got = t.data[name][r];
        if (col.kind === "f" && typeof want === "string")
          assert.equal(got, Number(want), `${name} of ${id}`);
        else if (dtype === "bool" && col.kind === "U")
          // astropy reads True/False in CSV as text (its own CSV files too).
          assert.equal(got, want ? "True" : "False", `${name} of ${id}`);
        else if (dtype === "string") assert.equal(got ?? "", want, `${name} of ${id}`);
        else if (dtype === "float32")
          // Written as the shortest decimal of the float32, read as float64.
          assert.equal(Math.fround(got as number), want, `${name} of ${id}`);
        else assert.deepEqual(got, want, `${name} of ${id} (${dtype} read as ${col.kind})`);
      });
    }
  });

  test("csv --flatten: one column per element, named name[i,j,k]", async () => {
    const out = join(dir, "flat.csv");
    const r = await exportDataset(ds, {
      to: "csv",
      out,
      columns: ["object_id", "image_array", "image_band", "image_mask"],
      flattenArrays: true,
    });
    assert.equal(r.columns.length, 1 + 24 + 2 + 24);
    assert.equal(r.columns[1], "image_array[0,0,0]");
    assert.equal(r.columns[24], "image_array[1,2,3]");
    const t = readWithAstropy(out, "ascii.csv");
    const ids = t.data.object_id as string[];
    ids.forEach((id, row) => {
      const i = rowOf.get(id)!;
      const image = expected("image_array", i);
      const mask = expected("image_mask", i);
      const bands = expected("image_band", i);
      for (let k = 0; k < 24; k++) {
        const name = r.columns[1 + k];
        assert.equal(Math.fround(t.data[name][row] as number), image[k], name);
        assert.equal(t.data[r.columns[27 + k]][row], mask[k] ? "True" : "False", r.columns[27 + k]);
      }
      assert.equal(t.data["image_band[1]"][row], bands[1]);
    });
  });

  test("a filter and a cone export exactly the rows that pass them", async () => {
    const out = join(dir, "cone.fits");
    const cone = { ra: 0, dec: 0, radiusArcsec: 0 };
    // The cone around a clump: the densest spot of the test sky.
    const ra = all.ra as Float64Array;
    const dec = all.dec as Float64Array;
    cone.ra = ra[3];
    cone.dec = dec[3];
    cone.radiusArcsec = 3 * 3600;
    const r = await exportDataset(ds, {
      to: "fits",
      out,
      columns: ["object_id", "ra", "dec", "z"],
      filter: "z > 0.5 and is_star == false",
      cone,
    });
    const want: string[] = [];
    for (let i = 0; i < N; i++) {
      const sepArcsec = haversineArcsec(cone.ra, cone.dec, ra[i], dec[i]);
      const z = (all.z as Float64Array)[i];
      if (sepArcsec <= cone.radiusArcsec && z > 0.5 && (all.is_star as Uint8Array)[i] === 0)
        want.push(String((all.object_id as BigInt64Array)[i]));
    }
    assert.ok(want.length > 5 && want.length < N / 2, `${want.length} rows in the test cone`);
    assert.equal(r.rows, want.length);
    const t = readWithAstropy(out, "fits");
    assert.deepEqual(
      t.columns.map((c) => c.name),
      ["object_id", "ra", "dec", "z"],
    );
    assert.deepEqual([...(t.data.object_id as string[])].sort(), want.sort());
    checkValues(t, ["ra", "dec", "z"], () => 1);
  });
});

describe("exports read back in plain Node", () => {
  test("fits: our FITS reader gets the columns, TDIM shapes, units and values", async () => {
    const out = join(dir, "node.fits");
    await exportDataset(ds, { to: "fits", out, batchRows: 50 });
    const f = await openFits(out);
    try {
      const table = f.hdu(1).table();
      assert.equal(table.rowCount, N);
      assert.equal(f.hdu(1).name, "pdr3_wide");
      const got = await table.read();
      for (const c of EXPORT_COLUMNS) {
        const col = table.column(c.name);
        assert.deepEqual(col.spec.shape, c.shape, `${c.name} shape`);
        assert.equal(col.spec.dtype, c.dtype, `${c.name} dtype`);
        assert.equal(col.spec.unit, c.unit, `${c.name} unit`);
      }
      compareBatch(got.columns, N);
      assert.equal(f.hdu(1).header.get("TDIM4"), "(4,3,2)");
      assert.equal(f.hdu(1).header.get("TUNIT4"), "nanomaggy");
    } finally {
      await f.close();
    }
  });

  test("ecsv and csv: our readers get the same rows", async () => {
    const ecsvOut = join(dir, "node.ecsv");
    await exportDataset(ds, { to: "ecsv", out: ecsvOut });
    const ecsv = await openEcsv(ecsvOut);
    let rows = 0;
    for await (const b of ecsv.batches()) {
      compareBatch(b.columns, b.rows);
      rows += b.rows;
    }
    assert.equal(rows, N);
    for (const s of EXPORT_COLUMNS) {
      const got = ecsv.specs.find((x) => x.name === s.name)!;
      assert.deepEqual([got.dtype, got.shape, got.unit], [s.dtype, s.shape, s.unit], s.name);
    }
    const csvOut = join(dir, "node.csv");
    await exportDataset(ds, { to: "csv", out: csvOut, columns: ["object_id", "name", "z", "big"] });
    const csv = await openCsv(csvOut, { types: { big: "uint64", name: "string" } });
    rows = 0;
    for await (const b of csv.batches()) {
      compareBatch(b.columns, b.rows);
      rows += b.rows;
    }
    assert.equal(rows, N);
  });
});

describe("Dataset.export: the method is exportDataset", () => {
  test("view.export(options) writes the same bytes, rows and result as exportDataset(view, options)", async () => {
    const cone = { ra: all.ra![0] as number, dec: all.dec![0] as number, radiusArcsec: 40 * 3600 };
    const cases: Array<[Dataset, ExportOptions]> = [
      [ds, { to: "fits", out: "" }],
      [ds.filter("z > 0.5"), { to: "csv", out: "", cone, columns: ["object_id", "name", "z"] }],
      [ds, { to: "ecsv", out: "", box: { raMin: 0, raMax: 360, decMin: -90, decMax: 0 } }],
    ];
    for (const [k, [view, options]] of cases.entries()) {
      const a = join(dir, `method-${k}.${options.to}`);
      const b = join(dir, `function-${k}.${options.to}`);
      const viaMethod = await view.export({ ...options, out: a });
      const viaFunction = await exportDataset(view, { ...options, out: b });
      assert.ok(readFileSync(a).equals(readFileSync(b)), `${options.to}: the same bytes`);
      const same = (r: ExportResult) => ({ ...r, path: "", seconds: 0 });
      assert.deepEqual(same(viaMethod), same(viaFunction), options.to);
      assert.ok(viaMethod.rows > 0, `${options.to}: ${viaMethod.rows} rows`);
      if (k === 1) assert.ok(viaMethod.rows < N, "the cone and filter narrowed the rows");
      // Its errors are exportDataset's: an existing output without force.
      await assert.rejects(view.export({ ...options, out: a }), /force/);
    }
  });

  test("without the interop layer loaded, export is a UsageError saying what to import", () => {
    // A process that imports the dataset layer alone (never the interop layer).
    const code = `
import { openDataset } from ${JSON.stringify(join(import.meta.dirname, "..", "..", "src", "dataset", "index.ts"))};
const ds = await openDataset(process.argv[1]);
try {
  await ds.export({ to: "csv", out: process.argv[2] });
  console.log(JSON.stringify({ exported: true }));
} catch (e) {
  console.log(JSON.stringify({ code: e.code, message: e.message }));
}`;
    const out = join(dir, "never.csv");
    const r = spawnSync(process.execPath, moduleArgs(code, ds.root, out), { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
      code?: string;
      message?: string;
    };
    assert.equal(got.code, "ASTROPILE_USAGE", r.stdout);
    assert.match(got.message!, /interop layer/);
    assert.match(got.message!, /import from "astropile"/);
    assert.equal(existsSync(out), false);
  });
});

/** Each column of a batch read back equals the input rows with the batch's object_ids. */
function compareBatch(columns: ColumnBatch, rows: number): void {
  const ids = columns.object_id as BigInt64Array;
  assert.equal(ids.length, rows);
  for (const [name, values] of Object.entries(columns)) {
    const s = EXPORT_COLUMNS.find((c) => c.name === name);
    if (!s) continue;
    const p = per(name);
    for (let r = 0; r < rows; r++) {
      const i = rowOf.get(String(ids[r]))!;
      const a = Array.from(values as ArrayLike<unknown> as unknown[]).slice(r * p, (r + 1) * p);
      const b = Array.from(all[name] as ArrayLike<unknown>).slice(i * p, (i + 1) * p);
      assert.deepEqual(a, b, `${name} row ${r}`);
    }
  }
}

describe("bad requests: typed errors, nothing left behind", () => {
  const files = () => readdirSync(dir).filter((f) => f.includes("export-tmp"));

  test("an unknown format names the known ones", async () => {
    await assert.rejects(
      exportDataset(ds, { to: "xlsx", out: join(dir, "x.xlsx") }),
      (e: Error) => isAstroPileError(e, "ASTROPILE_USAGE") && /fits, ecsv, csv/.test(e.message),
    );
  });

  test("an existing output is kept unless force", async () => {
    const out = join(dir, "exists.csv");
    writeFileSync(out, "keep me\n");
    await assert.rejects(
      exportDataset(ds, { to: "csv", out, columns: ["z"] }),
      (e: Error) => isAstroPileError(e, "ASTROPILE_USAGE") && /exists.*force/.test(e.message),
    );
    assert.equal(readFileSync(out, "utf8"), "keep me\n");
    const r = await exportDataset(ds, { to: "csv", out, columns: ["z"], force: true });
    assert.equal(r.rows, N);
    assert.match(readFileSync(out, "utf8"), /^z\n/);
    // force never replaces a directory by a file, nor a directory that is not an earlier export.
    const home = join(dir, "home");
    mkdirSync(home);
    writeFileSync(join(home, "thesis.tex"), "years of work");
    await assert.rejects(
      exportDataset(ds, { to: "csv", out: home, columns: ["z"], force: true }),
      (e: Error) => isAstroPileError(e, "ASTROPILE_USAGE") && /is a directory/.test(e.message),
    );
    registerExporter({
      format: "dir-test",
      description: "a directory of one CSV",
      output: "directory",
      unsupported: (c) => (c.shape.length > 0 ? "arrays" : null),
      async write(rows, schema, ctx) {
        mkdirSync(ctx.path);
        return exportFormats()
          .find((e) => e.format === "csv")!
          .write(rows, schema, { ...ctx, path: join(ctx.path, "part-0.csv") });
      },
    });
    await assert.rejects(
      exportDataset(ds, { to: "dir-test", out: home, columns: ["z"], force: true }),
      (e: Error) =>
        isAstroPileError(e, "ASTROPILE_USAGE") && /not an earlier dir-test export/.test(e.message),
    );
    assert.equal(readFileSync(join(home, "thesis.tex"), "utf8"), "years of work");
    const empty = join(dir, "empty-dir");
    mkdirSync(empty);
    await exportDataset(ds, { to: "dir-test", out: empty, columns: ["z"], force: true });
    assert.deepEqual(readdirSync(empty), ["part-0.csv"]);
  });

  test("a missing or unwritable output directory is a WriteError naming the output", async () => {
    const out = join(dir, "no-such-dir", "a.fits");
    await assert.rejects(
      exportDataset(ds, { to: "fits", out }),
      (e: Error & { file?: string }) =>
        isAstroPileError(e, "ASTROPILE_WRITE_FAILED") &&
        e.file === out &&
        /does not exist/.test(e.message),
    );
    if (process.getuid?.() !== 0) {
      const ro = join(dir, "read-only");
      mkdirSync(ro);
      chmodSync(ro, 0o500);
      await assert.rejects(
        exportDataset(ds, { to: "fits", out: join(ro, "a.fits") }),
        (e: Error) =>
          isAstroPileError(e, "ASTROPILE_WRITE_FAILED") && /not writable/.test(e.message),
      );
      chmodSync(ro, 0o700);
    }
  });

  test("an array column named for CSV is refused, naming it", async () => {
    const out = join(dir, "arrays.csv");
    await assert.rejects(
      exportDataset(ds, { to: "csv", out, columns: ["object_id", "flux_aper"] }),
      (e: Error & { column?: string }) =>
        isAstroPileError(e, "ASTROPILE_SCHEMA") &&
        e.column === "flux_aper" &&
        /\[3\]/.test(e.message),
    );
    assert.equal(existsSync(out), false);
  });

  test("filter errors: syntax, unknown column, array column", async () => {
    const out = join(dir, "filtered.csv");
    await assert.rejects(exportDataset(ds, { to: "csv", out, filter: "z >> 1" }), (e: Error) =>
      isAstroPileError(e, "ASTROPILE_USAGE"),
    );
    await assert.rejects(
      exportDataset(ds, { to: "csv", out, filter: "redshift > 1" }),
      (e: Error & { column?: string }) =>
        isAstroPileError(e, "ASTROPILE_MISSING_COLUMN") && e.column === "redshift",
    );
    await assert.rejects(
      exportDataset(ds, { to: "csv", out, filter: "flux_aper > 1" }),
      (e: Error) => isAstroPileError(e, "ASTROPILE_SCHEMA"),
    );
    assert.equal(existsSync(out), false);
  });

  test("a value the format cannot hold fails the export and leaves no file", async () => {
    // FITS strings are ASCII: a non-ASCII name stops the export at that row.
    registerExporter({
      ...exportFormats().find((e) => e.format === "fits")!,
      format: "fits-failing",
      async write(rows, schema, ctx) {
        async function* bad(): AsyncGenerator<ColumnBatch> {
          for await (const b of rows) {
            (b.name as string[])[0] = "Ω Centauri";
            yield b;
          }
        }
        return exportFormats()
          .find((e) => e.format === "fits")!
          .write(bad(), schema, ctx);
      },
    });
    const out = join(dir, "failing.fits");
    await assert.rejects(
      exportDataset(ds, { to: "fits-failing", out, columns: ["object_id", "name"] }),
      (e: Error & { column?: string }) =>
        isAstroPileError(e, "ASTROPILE_SCHEMA") && e.column === "name" && /ASCII/.test(e.message),
    );
    assert.equal(existsSync(out), false);
    assert.deepEqual(files(), []);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith(".failing")),
      [],
    );
  });
});

describe("what a format cannot hold", () => {
  let odd: Dataset;
  before(async () => {
    const specs: ColumnSpec[] = [
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "ra", dtype: "float64", shape: [], unit: "deg" },
      { name: "dec", dtype: "float64", shape: [], unit: "deg" },
      { name: "wave", dtype: "float32", shape: [3], unit: "Å", description: "vacuum λ · 1" },
      { name: "cube", dtype: "float32", shape: [100, 100] },
      { name: "snow", dtype: "float32", shape: [], unit: "☃" },
    ];
    const n = 4;
    await writeDataset(
      join(dir, "odd"),
      specs,
      [
        {
          object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
          ra: Float64Array.from({ length: n }, (_, i) => 10 + i),
          dec: new Float64Array(n),
          wave: Float32Array.from({ length: 3 * n }, (_, k) => 4000 + k),
          cube: new Float32Array(10000 * n).fill(-1.17549435e-38),
          snow: new Float32Array(n),
        },
      ],
      { config: "odd", provenance: { survey: "T" } },
    );
    odd = await openDataset(join(dir, "odd"));
  });

  test("ecsv: an array cell longer than astropy's field limit is left out, or refused by name", async () => {
    const out = join(dir, "odd.ecsv");
    const r = await exportDataset(odd, { to: "ecsv", out });
    assert.deepEqual(
      r.skipped.map((s) => s.column),
      ["cube"],
    );
    assert.match(r.skipped[0].reason, /10000 values per row.*131072 characters astropy/);
    await assert.rejects(
      exportDataset(odd, { to: "ecsv", out: join(dir, "cube.ecsv"), columns: ["cube"] }),
      (e: Error & { column?: string }) =>
        isAstroPileError(e, "ASTROPILE_SCHEMA") && e.column === "cube",
    );
  });

  test("fits: units and descriptions spelled in ASCII; a unit with no spelling is refused", async () => {
    const out = join(dir, "odd.fits");
    await assert.rejects(
      exportDataset(odd, { to: "fits", out, columns: ["object_id", "snow"] }),
      (e: Error & { column?: string }) =>
        isAstroPileError(e, "ASTROPILE_SCHEMA") && e.column === "snow" && /ASCII/.test(e.message),
    );
    assert.equal(existsSync(out), false);
    const r = await exportDataset(odd, { to: "fits", out });
    assert.deepEqual(
      r.skipped.map((s) => s.column),
      ["snow"],
    );
    const f = await openFits(out);
    try {
      const h = f.hdu(1).header;
      assert.equal(h.get("TUNIT4"), "Angstrom");
      assert.equal(h.card("TTYPE4")?.comment, "vacuum ? * 1");
      assert.equal(h.get("TDIM5"), "(100,100)");
    } finally {
      await f.close();
    }
  });
});
