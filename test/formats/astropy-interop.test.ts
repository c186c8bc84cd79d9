// astropy as the reference, live: files written by our writers are read by astropy, and files
// written just now by astropy's own writers are read by our readers; values compared exactly.
// Skipped (visibly) without /usr/bin/python3 + astropy + numpy; required under CI=true.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ColumnBatch, ColumnSpec, ColumnValues } from "../../src/core/columns.ts";
import { type TextTableBatch, writeCsv } from "../../src/formats/csv.ts";
import { openEcsv, writeEcsv } from "../../src/formats/ecsv.ts";
import { type FitsTableBatch, openFits, streamFits } from "../../src/formats/fits.ts";
import { FitsWriter, writeFits } from "../../src/formats/fits-writer.ts";
import { TanWcs } from "../../src/formats/wcs.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { tempDir } from "../helpers/tmp.ts";
import { assertValues, type ExpectedValue } from "./expected.ts";
import { IMAGE_ARRAYS, TABLE_SPECS, tableBatch } from "./samples.ts";

const skip = referenceSkip(["astropy", "numpy"]);
const dir = tempDir("astropile-astropy-");

/** Python helpers shared by the snippets: exact JSON encoding as in make_fits_fixtures.py. */
const PY_PRELUDE = `
import json, sys
import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

def num(x):
    if isinstance(x, (bool, np.bool_)): return bool(x)
    if isinstance(x, (int, np.integer)): return str(int(x))
    if isinstance(x, (float, np.floating)): return None if np.isnan(x) else repr(float(x))
    if isinstance(x, (bytes, np.bytes_)): return x.decode("ascii")
    return str(x)

def column(c):
    arr = np.asarray(c)
    e = {"dtype": "string" if arr.dtype.kind in "US" else arr.dtype.name, "shape": list(arr.shape[1:])}
    if arr.dtype.kind == "S":  # raw FITS bytes (mask_invalid=False): trailing blanks are padding
        e["values"] = [s.decode("ascii").rstrip() for s in arr.ravel()]
    else:
        e["values"] = [str(s) for s in arr.ravel()] if arr.dtype.kind == "U" else [num(v) for v in arr.ravel()]
    mask = getattr(c, "mask", None)
    if mask is not None and np.any(mask): e["nulls"] = [int(m) for m in np.asarray(mask).ravel()]
    if getattr(c, "unit", None) is not None: e["unit"] = str(c.unit)
    if getattr(c, "description", None): e["description"] = c.description
    return e
`;

interface ColumnDump {
  dtype: string;
  shape: number[];
  values: ExpectedValue[];
  nulls?: number[];
  unit?: string;
  description?: string;
}

function python<T>(code: string, ...args: string[]): T {
  return JSON.parse(runPython(`${PY_PRELUDE}\n${code}`, args)) as T;
}

describe("astropy reads our files", { skip }, () => {
  test("FITS images (every BITPIX and unsigned convention, WCS, HIERARCH, CONTINUE)", async () => {
    const path = join(dir, "ours-images.fits");
    const wcs = new TanWcs({
      crpix: [10.5, 20.25],
      crval: [359.99, -30],
      cd: [
        [-2e-4, 1e-6],
        [2e-6, 2e-4],
      ],
      radesys: "ICRS",
    });
    await writeFits(
      path,
      IMAGE_ARRAYS.map(([name, data]) => ({
        kind: "image" as const,
        name,
        data,
        shape: [2, 3],
        // No "'' " inside continued pieces: astropy 5.2.1 misreads those (astropy#14581, fixed
        // by astropy#14598 after 5.2.1); test/formats/fits.test.ts checks that case for us.
        cards: [
          ...wcs.toCards(),
          { keyword: "ESO OBS PROG ID", value: "it's a long value ".repeat(6) },
        ],
      })),
    );
    const dump = python<
      {
        name: string;
        dtype: string;
        shape: number[];
        values: ExpectedValue[];
        sky: number[];
        prog: string;
      }[]
    >(
      `
out = []
with fits.open(sys.argv[1]) as f:
    f.verify("exception")
    for hdu in f:
        sky = WCS(hdu.header).wcs_pix2world([[1.5, 0.25]], 0)[0]
        out.append({"name": hdu.name, "dtype": hdu.data.dtype.name, "shape": list(hdu.data.shape),
                    "values": [num(v) for v in hdu.data.ravel()], "sky": [float(v) for v in sky],
                    "prog": hdu.header["HIERARCH ESO OBS PROG ID"]})
print(json.dumps(out))
`,
      path,
    );
    assert.equal(dump.length, IMAGE_ARRAYS.length);
    dump.forEach((hdu, k) => {
      const [name, data] = IMAGE_ARRAYS[k];
      assert.equal(hdu.dtype, name, `${name}: astropy dtype`);
      assert.deepEqual(hdu.shape, [2, 3]);
      assertValues(data, hdu.values, `astropy ${name}`);
      const [ra, dec] = wcs.pixel0ToSky(1.5, 0.25);
      assert.ok(
        Math.abs(hdu.sky[0] - ra) < 1e-10 && Math.abs(hdu.sky[1] - dec) < 1e-10,
        `${name}: WCS`,
      );
      assert.equal(hdu.prog, "it's a long value ".repeat(6).trimEnd());
    });
  });

  test("FITS binary tables (every writer dtype, shapes, string arrays, TNULL, units)", async () => {
    const path = join(dir, "ours-table.fits");
    const writer = await FitsWriter.create(path);
    const table = await writer.beginTable(TABLE_SPECS, {
      name: "CAT",
      nullable: ["i32", "object_id"],
    });
    const nulls = {
      i32: Uint8Array.from([0, 1, 0, 0, 0, 0]),
      object_id: Uint8Array.from([0, 0, 0, 0, 0, 1]),
    };
    await table.append(tableBatch(0, 6), nulls);
    await table.append(tableBatch(6, 4));
    await table.end();
    await writer.close();
    const dump = python<Record<string, ColumnDump>>(
      `
with fits.open(sys.argv[1]) as f:
    f.verify("exception")
t = Table.read(sys.argv[1], hdu="CAT", mask_invalid=False)
print(json.dumps({n: column(t[n]) for n in t.colnames}))
`,
      path,
    );
    const want = tableBatch(0, 10);
    for (const spec of TABLE_SPECS) {
      const e = dump[spec.name];
      // astropy 5.2 reads int8 stored as B with TZERO=-128 as float64 (values exact).
      assert.equal(e.dtype, spec.name === "i8" ? "float64" : spec.dtype, `${spec.name} dtype`);
      assert.deepEqual(e.shape, spec.shape, `${spec.name} shape`);
      if (spec.unit) assert.equal(e.unit, spec.unit);
      const mask =
        spec.name === "i32"
          ? [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]
          : spec.name === "object_id"
            ? [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
            : undefined;
      assert.deepEqual(e.nulls, mask, `${spec.name} mask`);
      if (spec.dtype === "string") assert.deepEqual(e.values, want[spec.name]);
      else assertValues(want[spec.name], e.values, `astropy ${spec.name}`, mask);
    }
  });

  test("ECSV (every dtype, multidimensional, masked, units, descriptions, meta) and CSV", async () => {
    // ECSV strings are variable-length: drop stringLength (and the string arrays, kept in FITS).
    const specs: ColumnSpec[] = [
      ...TABLE_SPECS.filter((s) => s.dtype !== "string" || s.shape.length === 0).map(
        ({ stringLength: _, ...s }): ColumnSpec => s,
      ),
      {
        name: "i64_masked",
        dtype: "int64",
        shape: [],
        description: "with: 'quotes', commas and\na newline",
      },
    ];
    const batch: ColumnBatch = {
      ...tableBatch(0, 5),
      i64_masked: BigInt64Array.from([1n, 2n ** 62n, 3n, 4n, 5n]),
    };
    const nulls = {
      i64_masked: Uint8Array.from([0, 1, 0, 0, 1]),
      mask: Uint8Array.from({ length: 20 }, (_, i) => (i === 5 ? 1 : 0)),
    };
    const ecsv = join(dir, "ours.ecsv");
    const meta = {
      survey: "synthetic",
      bands: ["g", "r"],
      nested: { yes: "no", x: 1.5, n: null },
      // Strings PyYAML would read as something else if written plain, and floats it needs with a '.'.
      tricky: ["a: b", "#x", "y", "n", "1e5", "1.5e3", "2001-12-14", "tab\there", " lead", "-x"],
      tricky2: ["a:", "[x]", "it's", "é", "null", "~", "0x1f", "190:20", "<<", "", "line\nbreak"],
      numbers: [1e-7, 1e21, -2.5e-300, 0.1, 2 ** 53 + 2],
    };
    await writeEcsv(ecsv, specs, [{ startRow: 0, rows: 5, columns: batch, nulls }], { meta });
    const scalar = specs.filter((s) => s.shape.length === 0);
    const csv = join(dir, "ours.csv");
    await writeCsv(csv, scalar, [{ startRow: 0, rows: 5, columns: batch, nulls }]);
    const dump = python<{
      meta: unknown;
      ecsv: Record<string, ColumnDump>;
      csv: Record<string, ColumnDump>;
    }>(
      `
e = Table.read(sys.argv[1])
c = Table.read(sys.argv[2], format="ascii.csv")
print(json.dumps({"meta": dict(e.meta), "ecsv": {n: column(e[n]) for n in e.colnames}, "csv": {n: column(c[n]) for n in c.colnames}}))
`,
      ecsv,
      csv,
    );
    assert.deepEqual(dump.meta, meta);
    for (const spec of specs) {
      const e = dump.ecsv[spec.name];
      assert.equal(e.dtype, spec.dtype === "bool" ? "bool" : spec.dtype, `${spec.name} dtype`);
      assert.deepEqual(e.shape, spec.shape, spec.name);
      assert.equal(e.unit, spec.unit, `${spec.name} unit`);
      assert.equal(e.description, spec.description, `${spec.name} description`);
      // astropy reads "" as masked in every column, as ECSV specifies.
      const empty =
        spec.dtype === "string"
          ? (batch[spec.name] as string[]).map((v) => (v === "" ? 1 : 0))
          : undefined;
      const mask = empty?.includes(1)
        ? Uint8Array.from(empty)
        : nulls[spec.name as keyof typeof nulls];
      assert.deepEqual(e.nulls, mask ? [...mask] : undefined, `${spec.name} mask`);
      if (spec.dtype === "string") {
        (batch[spec.name] as string[]).forEach((s, i) => {
          if (s !== "") assert.equal(e.values[i], s);
        });
      } else
        assertValues(
          batch[spec.name as keyof typeof batch] as ColumnValues,
          e.values,
          `ecsv ${spec.name}`,
          mask,
        );
    }
    for (const spec of scalar) {
      const e = dump.csv[spec.name];
      const mask = nulls[spec.name as keyof typeof nulls];
      if (spec.dtype === "string") {
        (batch[spec.name] as string[]).forEach((s, i) => {
          if (s !== "") assert.equal(e.values[i], s, `csv ${spec.name}`);
        });
      } else if (spec.dtype === "bool") {
        assert.deepEqual(
          e.values.map(String),
          [...(batch[spec.name] as Uint8Array)].map((b) => (b ? "True" : "False")),
        );
      } else
        assertValues(
          batch[spec.name as keyof typeof batch] as ColumnValues,
          e.values,
          `csv ${spec.name}`,
          mask,
        );
    }
  });
});

describe("we read files astropy writes now", { skip }, () => {
  test("FITS (astropy's writer, plain and gzip) and ECSV", async () => {
    const dump = python<{
      images: { dtype: string; shape: number[]; values: ExpectedValue[]; sky: string[] }[];
      table: Record<string, ColumnDump & { vla?: ExpectedValue[][] }>;
      ecsv: { meta: unknown; columns: Record<string, ColumnDump> };
    }>(
      `
out_dir = sys.argv[1]
rng = np.random.default_rng(7)
h = fits.Header()
for k, v in dict(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRPIX1=3.0, CRPIX2=4.5, CRVAL1=10.0, CRVAL2=-80.0,
                 CD1_1=-1e-4, CD1_2=0.0, CD2_1=0.0, CD2_2=1e-4).items():
    h[k] = v
primary = fits.PrimaryHDU(rng.integers(0, 65535, size=(6, 5)).astype(np.uint16), header=h)
cube = fits.ImageHDU(rng.normal(size=(2, 3, 4)).astype(np.float32), name="CUBE")
t = Table()
t["id"] = np.array([2**62 + 1, -3, 7], dtype=np.int64)
t["flux"] = rng.normal(size=(3, 4)).astype(np.float32)
t["flux"].unit = "nJy"
t["name"] = ["a", "bb", "ccc"]
t["ok"] = [True, False, True]
t["u16"] = np.array([0, 40000, 65535], dtype=np.uint16)
t["u32"] = np.array([0, 3000000000, 1], dtype=np.uint32)
from astropy.table import MaskedColumn
t["m"] = MaskedColumn(np.array([1, 2, 3], dtype=np.int32), mask=[False, True, False])
table = fits.table_to_hdu(t)
table.name = "CAT"
vla = fits.BinTableHDU.from_columns([fits.Column(name="spec", format="PE()", array=np.array(
    [np.arange(3, dtype=np.float32), np.array([], dtype=np.float32), np.arange(5, dtype=np.float32) / 3], dtype=object))], name="VLA")
hdus = fits.HDUList([primary, cube, table, vla])
hdus.writeto(out_dir + "/theirs.fits", overwrite=True)
hdus.writeto(out_dir + "/theirs.fits.gz", overwrite=True)
t.write(out_dir + "/theirs.ecsv", overwrite=True)
with fits.open(out_dir + "/theirs.fits") as f:
    images = []
    for hdu in f[:2]:
        e = {"dtype": hdu.data.dtype.name, "shape": list(hdu.data.shape), "values": [num(v) for v in hdu.data.ravel()]}
        if hdu.name == "PRIMARY":
            e["sky"] = [repr(float(v)) for v in WCS(hdu.header).wcs_pix2world([[1.25, 2.5]], 0)[0]]
        images.append(e)
back = Table.read(out_dir + "/theirs.fits", hdu="CAT")
cols = {n: column(back[n]) for n in back.colnames}
with fits.open(out_dir + "/theirs.fits") as f:
    cols["spec"] = {"vla": [[num(v) for v in row] for row in f["VLA"].data["spec"]]}
e = Table.read(out_dir + "/theirs.ecsv")
print(json.dumps({"images": images, "table": cols, "ecsv": {"meta": dict(e.meta), "columns": {n: column(e[n]) for n in e.colnames}}}))
`,
      dir,
    );
    for (const file of ["theirs.fits", "theirs.fits.gz"]) {
      const fits = await openFits(join(dir, file));
      try {
        for (const [k, e] of dump.images.entries()) {
          const image = await fits.hdus[k].readImage();
          assert.equal(image.dtype, e.dtype);
          assert.deepEqual(image.shape, e.shape);
          assertValues(image.data, e.values, `${file} image ${k}`);
        }
        const wcs = TanWcs.fromHeader(fits.hdus[0].header);
        const [ra, dec] = wcs.pixel0ToSky(1.25, 2.5);
        assert.ok(
          Math.abs(ra - Number(dump.images[0].sky[0])) < 1e-10 &&
            Math.abs(dec - Number(dump.images[0].sky[1])) < 1e-10,
        );
        const batch = await fits.hdu("CAT").table().read();
        checkTheirTable(batch, dump.table, fits.hdu("CAT").table().specs);
        const vla = await fits.hdu("VLA").table().read();
        for (const [r, row] of (vla.variable.spec as Float32Array[]).entries()) {
          assertValues(row, dump.table.spec.vla![r], `vla ${r}`);
        }
      } finally {
        await fits.close();
      }
    }
    for await (const hdu of streamFits(join(dir, "theirs.fits.gz"))) {
      if (hdu.name !== "CAT") continue;
      const batches: FitsTableBatch[] = [];
      for await (const b of hdu.table().rows(2)) batches.push(b);
      assert.deepEqual(
        batches.map((b) => b.rows),
        [2, 1],
      );
    }
    const ecsv = await openEcsv(join(dir, "theirs.ecsv"));
    const batches: TextTableBatch[] = [];
    for await (const b of ecsv.batches()) batches.push(b);
    for (const spec of ecsv.specs) {
      const e = dump.ecsv.columns[spec.name];
      assert.equal(spec.dtype, e.dtype);
      assert.deepEqual(spec.shape, e.shape);
      assert.equal(spec.unit, e.unit);
      assertValues(batches[0].columns[spec.name], e.values, `ecsv ${spec.name}`, e.nulls);
      assert.deepEqual(
        batches[0].nulls[spec.name] ? [...batches[0].nulls[spec.name]] : undefined,
        e.nulls,
      );
    }
  });
});

function checkTheirTable(
  batch: FitsTableBatch,
  dump: Record<string, ColumnDump>,
  specs: ColumnSpec[],
): void {
  for (const spec of specs) {
    const e = dump[spec.name];
    assert.equal(spec.dtype, e.dtype, `${spec.name} dtype`);
    assert.deepEqual(spec.shape, e.shape, `${spec.name} shape`);
    assert.equal(spec.unit, e.unit, `${spec.name} unit`);
    assertValues(batch.columns[spec.name], e.values, `their ${spec.name}`, e.nulls);
    // We report a mask for every TNULL column, astropy only when something is masked.
    const ours = batch.nulls[spec.name];
    assert.deepEqual(ours?.includes(1) ? [...ours] : undefined, e.nulls, `${spec.name} nulls`);
  }
}
