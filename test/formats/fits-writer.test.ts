// FITS writer → FITS reader round trips (astropy's view is in astropy-interop.test.ts).
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { SchemaError, UsageError } from "../../src/core/errors.ts";
import { openFits } from "../../src/formats/fits.ts";
import { FitsWriter, writeFits } from "../../src/formats/fits-writer.ts";
import { TanWcs } from "../../src/formats/wcs.ts";
import { tempDir } from "../helpers/tmp.ts";
import { IMAGE_ARRAYS, TABLE_SPECS, tableBatch } from "./samples.ts";

const dir = tempDir("astropile-fits-writer-");

function assertSame(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++)
    assert.ok(Object.is(a[i], b[i]), `${what}[${i}]: ${String(a[i])} vs ${String(b[i])}`);
}

describe("FITS writer", () => {
  test("images of every typed array read back with the same type and values", async () => {
    const path = join(dir, "images.fits");
    const wcs = new TanWcs({
      crpix: [1.5, 1],
      crval: [150, 2],
      cd: [
        [-1e-4, 0],
        [0, 1e-4],
      ],
    });
    await writeFits(
      path,
      IMAGE_ARRAYS.map(([name, data], k) => ({
        kind: "image" as const,
        name,
        data,
        shape: k % 2 ? [2, 3] : [3, 2, 1],
        cards: [
          ...wcs.toCards(),
          { keyword: "ESO OBS NAME", value: "x".repeat(90), comment: "hierarch + continue" },
        ],
      })),
    );
    const fits = await openFits(path);
    try {
      assert.equal(fits.hdus.length, IMAGE_ARRAYS.length);
      for (const [k, [name, data]] of IMAGE_ARRAYS.entries()) {
        const hdu = fits.hdu(k);
        if (k > 0) assert.equal(hdu.name, name);
        const image = await hdu.readImage();
        assert.equal(image.dtype, name);
        assert.deepEqual(image.shape, k % 2 ? [2, 3] : [3, 2, 1]);
        assertSame(image.data, data, name);
        assert.equal(hdu.header.get("ESO OBS NAME"), "x".repeat(90));
        const back = TanWcs.fromHeader(hdu.header);
        assert.deepEqual(back.pixel1ToSky(10, 20), wcs.pixel1ToSky(10, 20));
      }
    } finally {
      await fits.close();
    }
  });

  test("a table streamed in batches (NAXIS2 filled in at the end) reads back identically", async () => {
    const path = join(dir, "table.fits");
    const writer = await FitsWriter.create(path);
    const table = await writer.beginTable(TABLE_SPECS, {
      name: "CATALOG",
      nullable: ["i32"],
      cards: [{ keyword: "SURVEY", value: "synthetic" }],
    });
    const nulls = {
      i32: Uint8Array.from({ length: 7 }, (_, i) => (i === 3 ? 1 : 0)),
      flag: Uint8Array.from({ length: 7 }, (_, i) => (i === 6 ? 1 : 0)),
    };
    await table.append(tableBatch(0, 7), nulls);
    await table.append(tableBatch(7, 5));
    assert.ok(!existsSync(path), "nothing at the final path before close()");
    await writer.close();
    const fits = await openFits(path);
    try {
      const hdu = fits.hdu("catalog");
      assert.equal(hdu.header.get("SURVEY"), "synthetic");
      const t = hdu.table();
      assert.equal(t.rowCount, 12);
      assert.deepEqual(t.specs, TABLE_SPECS);
      const batch = await t.read();
      const want = tableBatch(0, 12);
      for (const s of TABLE_SPECS) {
        if (s.name === "i32") {
          assert.deepEqual([...batch.nulls.i32], [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
          assertSame(
            (batch.columns.i32 as Int32Array).filter((_, i) => i !== 3),
            (want.i32 as Int32Array).filter((_, i) => i !== 3),
            "i32",
          );
        } else if (s.name === "flag") {
          assert.deepEqual([...batch.nulls.flag], [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
        } else assertSame(batch.columns[s.name], want[s.name], s.name);
      }
    } finally {
      await fits.close();
    }
  });

  test("refuses what FITS cannot hold, leaving no file behind", async () => {
    const path = join(dir, "bad.fits");
    const spec: ColumnSpec[] = [{ name: "s", dtype: "string", shape: [], stringLength: 3 }];
    await assert.rejects(
      writeFits(path, [{ kind: "table", specs: spec, batch: { s: ["toolong"] } }]),
      SchemaError,
    );
    await assert.rejects(
      writeFits(path, [{ kind: "table", specs: spec, batch: { s: ["é"] } }]),
      SchemaError,
    );
    const writer = await FitsWriter.create(path);
    await assert.rejects(
      writer.beginTable([{ name: "s", dtype: "string", shape: [] }]),
      UsageError,
    );
    const t = await writer.beginTable([{ name: "n", dtype: "int16", shape: [] }], {
      nullable: ["n"],
    });
    await assert.rejects(
      t.append({ n: Int16Array.from([-32768]) }, { n: Uint8Array.from([0]) }),
      SchemaError,
    );
    await writer.abort();
    await assert.rejects(
      writeFits(path, [{ kind: "image", data: Float32Array.from([1, 2]), shape: [3] }]),
      UsageError,
    );
    await assert.rejects(
      writeFits(path, [
        {
          kind: "image",
          data: Float32Array.from([1]),
          shape: [1],
          cards: [{ keyword: "BAD", value: Number.NaN }],
        },
      ]),
      UsageError,
    );
    assert.ok(!existsSync(path));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes(".tmp-")),
      [],
    );
  });
});
