// Exports compared with what astropy writes from the same table (committed fixtures made by
// scripts/make_export_fixtures.py), without Python: the FITS export has astropy's column
// definitions and, row for row, the same bytes; the ECSV export has astropy's column
// datatypes, subtypes and units, and the same values.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { parse } from "yaml";
import {
  arrayClass,
  type ColumnBatch,
  type ColumnSpec,
  type Dtype,
} from "../../src/core/columns.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { openEcsv } from "../../src/formats/ecsv.ts";
import { openFits } from "../../src/formats/fits.ts";
import { exportDataset } from "../../src/interop/export.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { tempDir } from "../helpers/tmp.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "export");

interface FixtureColumn {
  name: string;
  dtype: Dtype;
  shape: number[];
  unit?: string;
  stringLength?: number;
  values: Array<string | boolean>;
}

const table = JSON.parse(readFileSync(join(FIXTURES, "table.json"), "utf8")) as {
  rows: number;
  columns: FixtureColumn[];
};
const specs: ColumnSpec[] = table.columns.map(({ values: _, ...spec }) => spec);
const names = specs.map((s) => s.name);
const dir = tempDir();
let ds: Dataset;

function batchOf(columns: FixtureColumn[]): ColumnBatch {
  const batch: ColumnBatch = {};
  for (const c of columns) {
    if (c.dtype === "string") batch[c.name] = c.values as string[];
    else if (c.dtype === "bool") batch[c.name] = Uint8Array.from(c.values, (v) => (v ? 1 : 0));
    else if (c.dtype === "int64" || c.dtype === "uint64") {
      const a = new (arrayClass(c.dtype))(c.values.length) as BigInt64Array;
      c.values.forEach((v, i) => {
        a[i] = BigInt(v as string);
      });
      batch[c.name] = a;
    } else batch[c.name] = (arrayClass(c.dtype) as Float64ArrayConstructor).from(c.values, Number);
  }
  return batch;
}

before(async () => {
  await writeDataset(join(dir, "t"), specs, [batchOf(table.columns)], {
    config: "astropy",
    provenance: { survey: "T" },
  });
  ds = await openDataset(join(dir, "t"));
});

/** A column's definition cards; a 1-D vector's TDIM "(n)" is what no TDIM means. */
function definitions(header: { get(k: string): unknown }, i: number, shape: number[]) {
  const tdim = header.get(`TDIM${i}`);
  return {
    TTYPE: header.get(`TTYPE${i}`),
    TFORM: header.get(`TFORM${i}`),
    TUNIT: header.get(`TUNIT${i}`),
    TZERO: header.get(`TZERO${i}`),
    TSCAL: header.get(`TSCAL${i}`),
    TDIM: tdim ?? (shape.length === 1 ? `(${shape[0]})` : undefined),
  };
}

test("FITS: astropy's column definitions, and the same bytes in every row", async () => {
  const out = join(dir, "ours.fits");
  await exportDataset(ds, { to: "fits", out, columns: names });
  const files = await Promise.all([openFits(out), openFits(join(FIXTURES, "astropy.fits"))]);
  try {
    const [ours, theirs] = files.map((f) => f.hdu(1));
    assert.equal(ours.header.get("NAXIS1"), theirs.header.get("NAXIS1"));
    assert.equal(ours.header.get("NAXIS2"), table.rows);
    assert.equal(ours.header.get("TFIELDS"), theirs.header.get("TFIELDS"));
    specs.forEach((s, k) => {
      assert.deepEqual(
        definitions(ours.header, k + 1, s.shape),
        definitions(theirs.header, k + 1, s.shape),
        s.name,
      );
    });
    // Rows keyed by their first 8 bytes (object_id): storage order differs from astropy's.
    const rowBytes = theirs.header.get("NAXIS1") as number;
    const rows = (path: string, offset: number) => {
      const bytes = readFileSync(path).subarray(offset, offset + rowBytes * table.rows);
      const m = new Map<string, string>();
      for (let r = 0; r < table.rows; r++) {
        const row = bytes.subarray(r * rowBytes, (r + 1) * rowBytes);
        m.set(row.subarray(0, 8).toString("hex"), row.toString("hex"));
      }
      return m;
    };
    const a = rows(out, ours.dataOffset);
    const b = rows(join(FIXTURES, "astropy.fits"), theirs.dataOffset);
    assert.equal(a.size, table.rows);
    for (const [id, row] of b) assert.equal(a.get(id), row, `row with object_id bytes ${id}`);
  } finally {
    for (const f of files) await f.close();
  }
});

test("ECSV: astropy's datatypes, subtypes and units, and the same values", async () => {
  const out = join(dir, "ours.ecsv");
  await exportDataset(ds, { to: "ecsv", out, columns: names });
  // The YAML header read with the yaml package, not our ECSV reader.
  const header = (text: string) => {
    const lines = text.split("\n").filter((l) => l.startsWith("#"));
    const yaml = parse(
      lines
        .slice(2)
        .map((l) => l.slice(2))
        .join("\n"),
    ) as {
      datatype: Array<Record<string, string>>;
    };
    return yaml.datatype;
  };
  assert.deepEqual(
    header(readFileSync(out, "utf8")),
    header(readFileSync(join(FIXTURES, "astropy.ecsv"), "utf8")),
  );
  const read = async (path: string) => {
    const r = await openEcsv(path);
    const byId = new Map<string, Record<string, unknown[]>>();
    for await (const b of r.batches()) {
      const ids = b.columns.object_id as BigInt64Array;
      for (let i = 0; i < b.rows; i++) {
        const row: Record<string, unknown[]> = {};
        for (const s of specs) {
          const per = s.shape.reduce((x, y) => x * y, 1);
          row[s.name] = Array.from(b.columns[s.name] as ArrayLike<unknown>).slice(
            i * per,
            (i + 1) * per,
          );
        }
        byId.set(String(ids[i]), row);
      }
    }
    return byId;
  };
  const ours = await read(out);
  const theirs = await read(join(FIXTURES, "astropy.ecsv"));
  assert.equal(ours.size, table.rows);
  assert.deepEqual(ours, theirs);
});
