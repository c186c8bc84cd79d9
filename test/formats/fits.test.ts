// FITS reader against astropy's answers (test/fixtures/formats, scripts/make_fits_fixtures.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import type { ColumnValues } from "../../src/core/columns.ts";
import { UsageError } from "../../src/core/errors.ts";
import { type FitsTableBatch, openFits, streamFits } from "../../src/formats/fits.ts";
import { formatCard, parseHeader } from "../../src/formats/fits-header.ts";
import { assertValues, type ExpectedValue, fixture, loadExpected } from "./expected.ts";

interface ImageExpected {
  name: string;
  dtype: string;
  shape: number[];
  values: ExpectedValue[];
  blank?: number[];
}

const images = loadExpected<ImageExpected[]>("images.fits.expected.json");

/** Where our dtype differs from astropy's on purpose (see src/formats/fits.ts). */
function ourImageDtype(e: ImageExpected): string {
  // Integer images with BLANK stay integers with a mask; astropy makes them floats with NaN.
  if (e.name === "i16_blank") return "int16";
  return e.dtype;
}

describe("FITS images", () => {
  test("every BITPIX, BSCALE/BZERO, unsigned conventions and BLANK match astropy", async () => {
    const fits = await openFits(fixture("images.fits"));
    try {
      assert.equal(fits.hdus.length, images.length);
      for (const [k, e] of images.entries()) {
        const hdu = fits.hdus[k];
        assert.equal(hdu.kind, k === 0 ? "primary" : "image");
        if (k > 0) assert.equal(hdu.name, e.name);
        const image = await hdu.readImage();
        assert.equal(image.dtype, ourImageDtype(e), e.name);
        assert.deepEqual(image.shape, e.shape, e.name);
        if (e.name === "i16_blank") {
          // astropy: NaN where BLANK; we keep the integers and report the mask.
          assert.deepEqual([...(image.blank ?? [])], e.blank);
          assertValues(image.data, e.values, e.name, e.blank);
        } else {
          assertValues(image.data, e.values, e.name);
          if (e.blank) assert.deepEqual([...(image.blank ?? [])], e.blank, `${e.name} blank mask`);
        }
      }
    } finally {
      await fits.close();
    }
  });

  test("reads planes of the slowest axis alone", async () => {
    const fits = await openFits(fixture("images.fits"));
    try {
      const k = images.findIndex((e) => e.name === "cube");
      const e = images[k];
      const part = await fits.hdu("CUBE").readImage({ planes: [1, 3] });
      assert.deepEqual(part.shape, [2, 4, 6]);
      assertValues(part.data, e.values.slice(24, 72), "cube planes 1..2");
      const rows = await fits.hdu("i32").readImage({ planes: [4, 5] });
      assertValues(rows.data, images.find((x) => x.name === "i32")!.values.slice(28), "i32 row 4");
      await assert.rejects(fits.hdu("CUBE").readImage({ planes: [2, 4] }), UsageError);
    } finally {
      await fits.close();
    }
  });

  test(".fits.gz: openFits and streamFits give the same images", async () => {
    const fits = await openFits(fixture("images.fits.gz"));
    try {
      assert.ok(fits.compressed);
      // Out of order on purpose: reading back restarts the decompression.
      for (const k of [5, 2, images.length - 1]) {
        const image = await fits.hdus[k].readImage();
        assertValues(image.data, images[k].values, `gz ${images[k].name}`);
      }
    } finally {
      await fits.close();
    }
    let k = 0;
    for await (const hdu of streamFits(fixture("images.fits.gz"))) {
      if (k % 2 === 0) {
        const image = await hdu.readImage();
        if (images[k].name !== "i16_blank")
          assertValues(image.data, images[k].values, `stream ${images[k].name}`);
      }
      k++;
    }
    assert.equal(k, images.length);
  });

  test("streamFits refuses to go back in a gzip file", async () => {
    const seen: number[] = [];
    let first: Awaited<ReturnType<typeof openFits>>["hdus"][number] | undefined;
    await assert.rejects(async () => {
      for await (const hdu of streamFits(fixture("images.fits.gz"))) {
        seen.push(hdu.index);
        first ??= hdu;
        if (hdu.index === 3) await first.readImage();
      }
    }, UsageError);
    assert.deepEqual(seen, [0, 1, 2, 3]);
  });
});

interface ColumnExpected {
  tform: string;
  dtype: string;
  shape?: number[];
  values: ExpectedValue[] | ExpectedValue[][];
  nulls?: number[];
  unit?: string;
}

const tables = loadExpected<{
  EVERY_TFORM: { rows: number; columns: Record<string, ColumnExpected> };
  ASCII: { rows: number; columns: Record<string, { dtype: string; values: ExpectedValue[] }> };
}>("tables.fits.expected.json");

/** astropy's dtype → ours, where they differ on purpose. */
function ourColumnDtype(name: string, e: ColumnExpected): string {
  if (name === "sb") return "int8"; // B with TZERO=-128: astropy float64, we keep int8 exact
  if (e.dtype.startsWith("str")) return "string";
  if (e.dtype === "complex64") return "float32"; // complex as (re, im) pairs
  if (e.dtype === "complex128") return "float64";
  return e.dtype;
}

function concatBatches(batches: FitsTableBatch[], name: string): ColumnValues | unknown[] {
  const parts = batches.map((b) => b.columns[name] ?? b.variable[name]);
  if (Array.isArray(parts[0])) return parts.flatMap((p) => p as unknown[]);
  const total = parts.reduce((n, p) => n + (p as ArrayLike<unknown>).length, 0);
  const out = new (
    parts[0] as unknown as { constructor: new (n: number) => ColumnValues }
  ).constructor(total) as ColumnValues & { set: (a: unknown, at: number) => void };
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += (p as ArrayLike<unknown>).length;
  }
  return out;
}

function checkTable(
  batches: FitsTableBatch[],
  specs: Map<string, { dtype: string; shape: number[]; unit?: string }>,
  label: string,
) {
  const cols = tables.EVERY_TFORM.columns;
  for (const [name, e] of Object.entries(cols)) {
    const spec = specs.get(name)!;
    assert.equal(spec.dtype, ourColumnDtype(name, e), `${label} ${name} dtype`);
    if (e.unit) assert.equal(spec.unit, e.unit);
    const values = concatBatches(batches, name);
    if (e.tform.startsWith("P") || e.tform.startsWith("Q")) {
      const rows = values as unknown[];
      const expected = e.values as ExpectedValue[] | ExpectedValue[][];
      assert.equal(rows.length, expected.length);
      rows.forEach((row, r) => {
        if (typeof row === "string") assert.equal(row, expected[r], `${label} ${name}[${r}]`);
        else
          assertValues(
            row as ColumnValues,
            expected[r] as ExpectedValue[],
            `${label} ${name}[${r}]`,
          );
      });
      continue;
    }
    const shape = e.dtype.startsWith("complex") ? [...(e.shape ?? []), 2] : (e.shape ?? []);
    assert.deepEqual(spec.shape, shape, `${label} ${name} shape`);
    assertValues(values as ColumnValues, e.values as ExpectedValue[], `${label} ${name}`);
    const nulls = batches.flatMap((b) => [
      ...(b.nulls[name] ?? new Uint8Array((b.columns[name] as ArrayLike<unknown>).length)),
    ]);
    assert.deepEqual(nulls, e.nulls ?? nulls.map(() => 0), `${label} ${name} nulls`);
  }
}

describe("FITS binary tables", () => {
  test("every TFORM (L X B I J K A E D C M, repeats, TDIM, P/Q heap), TNULL, TSCAL/TZERO match astropy", async () => {
    const fits = await openFits(fixture("tables.fits"));
    try {
      const table = fits.hdu("EVERY_TFORM").table();
      assert.equal(table.rowCount, tables.EVERY_TFORM.rows);
      const specs = new Map(table.columns.map((c) => [c.name, c.spec]));
      checkTable([await table.read()], specs, "whole");
      const batches: FitsTableBatch[] = [];
      for await (const b of table.rows(2)) batches.push(b);
      assert.deepEqual(
        batches.map((b) => [b.startRow, b.rows]),
        [
          [0, 2],
          [2, 2],
          [4, 1],
        ],
      );
      checkTable(batches, specs, "batches of 2");
      const some = await table.read(1, 4, { columns: ["i64", "vla_d"] });
      assert.deepEqual(Object.keys(some.columns), ["i64"]);
      assert.deepEqual(Object.keys(some.variable), ["vla_d"]);
      assert.equal(table.column("name").spec.stringLength, 10);
      assert.equal(table.column("i64").spec.description, "column i64");
      assert.deepEqual(table.specs.map((s) => s.name).includes("vla_j"), false);
    } finally {
      await fits.close();
    }
  });

  test(".fits.gz tables stream in batches (heap held in memory for P/Q columns)", async () => {
    for await (const hdu of streamFits(fixture("tables.fits.gz"))) {
      if (hdu.name !== "EVERY_TFORM") continue;
      const table = hdu.table();
      const batches: FitsTableBatch[] = [];
      for await (const b of table.rows(3)) batches.push(b);
      checkTable(batches, new Map(table.columns.map((c) => [c.name, c.spec])), "gz");
    }
  });

  test("ASCII table (XTENSION='TABLE') matches astropy; blank fields are nulls", async () => {
    const fits = await openFits(fixture("tables.fits"));
    try {
      const hdu = fits.hdu("ascii");
      assert.equal(hdu.kind, "table");
      const batch = await hdu.table().read();
      for (const [name, e] of Object.entries(tables.ASCII.columns)) {
        const spec = hdu.table().column(name).spec;
        assert.equal(spec.dtype, e.dtype.startsWith("str") ? "string" : e.dtype, name);
        // astropy reads the blank integer field as 0; we read 0 too and flag it null.
        assertValues(batch.columns[name], e.values, `ascii ${name}`);
      }
      assert.deepEqual([...batch.nulls.n], [0, 0, 1, 0]);
    } finally {
      await fits.close();
    }
  });
});

interface CardExpected {
  keyword: string;
  value: ExpectedValue;
  comment: string;
}

describe("FITS headers", () => {
  test("values, comments, CONTINUE, HIERARCH, commentary and duplicates as astropy reads them", () => {
    const expected = loadExpected<CardExpected[]>("header.fits.expected.json");
    const header = parseHeader(readFileSync(fixture("header.fits")));
    assert.equal(header.cards.length, expected.length);
    header.cards.forEach((card, k) => {
      const e = expected[k];
      assert.equal(card.keyword, e.keyword, `card ${k}`);
      if (card.kind === "commentary") {
        assert.equal(card.text, e.value, e.keyword);
        return;
      }
      const v = card.value;
      if (e.value === null) assert.equal(v, null);
      else if (typeof e.value === "object")
        assert.deepEqual(v, { re: Number(e.value.re), im: Number(e.value.im) });
      else if (typeof e.value === "boolean") assert.equal(v, e.value);
      else if (typeof v === "string") assert.equal(v, e.value, e.keyword);
      else if (typeof v === "bigint" || (typeof v === "number" && card.kind === "integer"))
        assert.equal(BigInt(v), BigInt(e.value), e.keyword);
      else assert.equal(v, Number(e.value), e.keyword);
      assert.equal(card.comment ?? "", e.comment, `${e.keyword} comment`);
    });
    assert.equal(header.get("DUP"), 2);
    assert.equal(header.getAll("DUP").length, 2);
    assert.equal(header.get("BIGINT"), 4611686018427387905n);
    assert.equal(header.get("HIERARCH ESO DET CHIP NAME"), "CCD-42");
    assert.equal(header.get("eso tel airm start"), 1.234);
    assert.deepEqual(header.commentary("HISTORY"), ["a history record"]);
    assert.equal(header.card("LONGSTR")?.images.length, 3);
  });

  test("formatted cards read back identically (long strings, quotes, HIERARCH, reals)", () => {
    const inputs = [
      { keyword: "LONG", value: `${"abc'".repeat(40)}end`, comment: "a comment" },
      { keyword: "QUOTES", value: "''''" },
      { keyword: "EDGE", value: `${"x".repeat(66)}''y` },
      { keyword: "ESO INS FILT NAME", value: "r'" },
      { keyword: "REAL", value: 150, kind: "float" as const },
      { keyword: "TINY", value: 5e-324 },
      { keyword: "NEGZERO", value: -0 },
      { keyword: "BIG", value: -(2n ** 63n) },
      { keyword: "FLAG", value: false },
      { keyword: "NOTHING", value: null },
      { keyword: "CPLX", value: { re: 1.5, im: -1e-300 } },
    ];
    const text = `${inputs.flatMap((c) => formatCard(c)).join("")}END`;
    const header = parseHeader(text);
    for (const c of inputs) {
      const card = header.card(c.keyword)!;
      assert.deepEqual(card.value, c.value, c.keyword);
      if (c.comment) assert.equal(card.comment, c.comment);
    }
    assert.equal(header.card("REAL")?.kind, "float");
    assert.ok(Object.is(header.get("NEGZERO"), -0));
    assert.ok(header.cards.every((c) => c.images.every((i) => i.length === 80)));
    // CONTINUE with '' in a continued piece (astropy 5.2 drops text after it; the standard keeps it).
    const cont = parseHeader(
      `${"S       = 'a quote '' inside &'".padEnd(80)}${"CONTINUE  'and more'".padEnd(80)}END`,
    );
    assert.equal(cont.get("S"), "a quote ' inside and more");
  });
});

test("concurrent reads of a gzip file are serialised", async () => {
  const fits = await openFits(fixture("images.fits.gz"));
  try {
    const reads = [7, 1, 12, 3].map((k) => fits.hdus[k].readImage());
    const got = await Promise.all(reads);
    [7, 1, 12, 3].forEach((k, j) => {
      if (images[k].name !== "i16_blank")
        assertValues(got[j].data, images[k].values, `concurrent ${k}`);
    });
  } finally {
    await fits.close();
  }
});
