// Reads files written by h5py the way Multimodal Universe v1 writes them (fixtures made by
// scripts/make_mmu_fixtures.py) and compares every value with what h5py read back.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnValues } from "../../src/core/columns.ts";
import { ColumnLengthError } from "../../src/core/errors.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "storage");

interface Expected {
  attrs: Record<string, unknown>;
  columns: Record<
    string,
    { dtype: string; shape: number[]; compression: string | null; values: Array<string | number> }
  >;
}

/** h5py's numpy dtype string → AstroPile dtype. */
function dtypeOf(numpy: string): string {
  if (numpy === "bool") return "bool";
  if (numpy === "object") return "string";
  if (/^\|?S\d+$/.test(numpy)) return "string";
  const m = /^[<>|]?([fiu])(\d)$/.exec(numpy) ?? /^(float|int|uint)(\d+)$/.exec(numpy);
  assert.ok(m, `unexpected numpy dtype ${numpy}`);
  const kind = { f: "float", i: "int", u: "uint", float: "float", int: "int", uint: "uint" }[m[1]];
  const bits = m[2].length === 1 ? Number(m[2]) * 8 : Number(m[2]);
  return `${kind}${bits}`;
}

function asComparable(values: ColumnValues): Array<string | number> {
  if (Array.isArray(values)) return values;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array)
    return Array.from(values, String);
  if (values instanceof Float32Array || values instanceof Float64Array) return Array.from(values);
  return Array.from(values as Int32Array, String);
}

for (const name of ["hsc_like", "legacy_like", "sdss_like"]) {
  test(`reads ${name}.hdf5 (h5py-written) exactly as h5py does`, async () => {
    const path = join(FIXTURES, `${name}.hdf5`);
    const expected = JSON.parse(readFileSync(`${path}.expected.json`, "utf8")) as Expected;
    const file = await PartitionFile.open(path);
    try {
      for (const [k, v] of Object.entries(expected.attrs))
        assert.equal(file.attrs()[k], v, `attr ${k}`);
      for (const [col, exp] of Object.entries(expected.columns)) {
        const info = file.column(col);
        assert.equal(info.dtype, dtypeOf(exp.dtype), `${col} dtype (${exp.dtype})`);
        assert.deepEqual([file.length, ...info.shape], exp.shape, `${col} shape`);
        assert.equal(info.compression, exp.compression ?? "none", `${col} compression`);
        const got = file.readRange([col], 0, file.length)[col];
        const want =
          exp.dtype === "bool" || /^[<>|]?[iu]1$/.test(exp.dtype)
            ? exp.values.map(String)
            : exp.values;
        assert.deepEqual(asComparable(got), want, `${col} values`);
      }
      // random rows, in a scrambled order, of an LZF/gzip image column agree with a range read
      const heavy = file.columns().find((c) => c.shape.length >= 2);
      if (heavy) {
        const rows = [file.length - 1, 0, Math.floor(file.length / 2), 1];
        const per = heavy.shape.reduce((a, b) => a * b, 1);
        const picked = file.readRows([heavy.name], rows)[heavy.name] as Float32Array;
        const all = file.readRange([heavy.name], 0, file.length)[heavy.name] as Float32Array;
        rows.forEach((r, i) => {
          assert.deepEqual(
            picked.subarray(i * per, (i + 1) * per),
            all.subarray(r * per, (r + 1) * per),
          );
        });
      }
    } finally {
      file.close();
    }
  });
}

test("LZF chunks stored raw (filter mask set) read back correctly", async () => {
  const path = join(FIXTURES, "legacy_like.hdf5");
  const expected = JSON.parse(readFileSync(`${path}.expected.json`, "utf8")) as Expected;
  const file = await PartitionFile.open(path);
  // odd rows are random noise: LZF could not shrink them, so they are stored raw
  const row1 = file.readRows(["image_flux"], [1]).image_flux as Float32Array;
  assert.deepEqual(Array.from(row1), expected.columns.image_flux.values.slice(768, 1536));
  assert.ok(row1.some((v) => v !== 1.5));
  file.close();
});

test("a file whose columns disagree in length is refused, naming file and column", async () => {
  const path = join(FIXTURES, "ragged.hdf5");
  await assert.rejects(
    PartitionFile.open(path),
    (e: Error) =>
      e instanceof ColumnLengthError &&
      e.message.includes(path) &&
      /column "(ra|dec)"/.test(e.message) &&
      /9 rows|10 rows/.test(e.message),
  );
});
