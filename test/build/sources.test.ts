// Other source kinds: a FITS catalog table, per-object cutout files (one HDU per band), and
// catalog values that need their own rules (ranges, fills, fixed-length strings).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { build, checkSpec } from "../../src/build/index.ts";
import { cutout, openFits, TanWcs, writeCsv, writeFits } from "../../src/formats/index.ts";
import { COUNTS_PER_NMGY } from "../../src/synth/imaging.ts";
import type { SynthResult } from "../../src/synth/index.ts";
import { tempDir } from "../helpers/tmp.ts";
import { hscDir, readCatalogCsv, tinySurveys } from "../synth/fixture.ts";
import { readAll } from "./helpers.ts";

const srcDir = tempDir();
const work = tempDir();
let sky: SynthResult;

before(async () => {
  sky = await tinySurveys(srcDir, 0);
});

describe("FITS catalog + per-object cutout files", () => {
  test("stamps are read from each object's file, converted with the zeropoint, variance and WCS scale", async () => {
    const rows = readCatalogCsv(sky.hsc!.catalogPath).slice(0, 6);
    const bands = ["G", "R"];
    const tiles = await Promise.all(
      bands.map(async (b) => {
        const rel = sky.hsc!.tiles.find((t) => t.includes(`HSC-${b}/9813/0,0/`))!;
        const f = await openFits(join(hscDir(sky), rel));
        const img = f.hdu("IMAGE");
        const t = {
          wcs: TanWcs.fromHeader(img.header),
          image: (await img.readImage()).data,
          variance: (await f.hdu("VARIANCE").readImage()).data,
          shape: [img.axes[1], img.axes[0]],
        };
        await f.close();
        return t;
      }),
    );
    const S = 16;
    mkdirSync(join(work, "cutouts"), { recursive: true });
    const expected = new Map<string, Float32Array[]>();
    for (const r of rows) {
      const hdus = [];
      const planes: Float32Array[] = [];
      for (const [k, b] of bands.entries()) {
        const t = tiles[k];
        const c = cutout({ data: t.image, shape: t.shape }, t.wcs, Number(r.ra), Number(r.dec), S);
        const v = cutout(
          { data: t.variance, shape: t.shape },
          t.wcs,
          Number(r.ra),
          Number(r.dec),
          S,
        );
        hdus.push(
          {
            kind: "image" as const,
            name: b,
            data: Float32Array.from(c.data),
            shape: [S, S],
            cards: c.wcs.toCards(),
          },
          {
            kind: "image" as const,
            name: `${b}_VAR`,
            data: Float32Array.from(v.data),
            shape: [S, S],
          },
        );
        planes.push(Float32Array.from(c.data));
      }
      await writeFits(join(work, "cutouts", `${r.object_id}.fits`), hdus);
      expected.set(r.object_id, planes);
    }
    // The catalog as a FITS table, with one row whose cutout file is missing.
    await writeFits(join(work, "catalog.fits"), [
      {
        kind: "table",
        name: "OBJECTS",
        specs: [
          { name: "OBJID", dtype: "int64", shape: [] },
          { name: "RA", dtype: "float64", shape: [], unit: "deg" },
          { name: "DEC", dtype: "float64", shape: [], unit: "deg" },
        ],
        batch: {
          OBJID: BigInt64Array.from([...rows.map((r) => BigInt(r.object_id)), 42n]),
          RA: Float64Array.from([...rows.map((r) => Number(r.ra)), Number(rows[0].ra)]),
          DEC: Float64Array.from([...rows.map((r) => Number(r.dec)), Number(rows[0].dec)]),
        },
      },
    ]);
    const spec = checkSpec(
      {
        config: "cutouts",
        provenance: { survey: "HSC" },
        catalog: {
          files: "catalog.fits",
          hdu: "OBJECTS",
          columns: { object_id: "OBJID", ra: "RA", dec: "DEC" },
        },
        image: {
          kind: "cutouts",
          file: "cutouts/{OBJID}.fits",
          stampSize: S,
          bands: bands.map((b) => ({
            label: `hsc-${b.toLowerCase()}`,
            hdu: b,
            variance: `${b}_VAR`,
          })),
          zeropoint: 27,
          psfFwhm: 0.7,
        },
      },
      work,
    );
    const r = await build(spec, { out: join(work, "out"), workers: 1 });
    assert.equal(r.report.rejected.count, 1);
    assert.match(
      r.report.rejected.sample[0].reason,
      /cutout file cutouts\/42\.fits does not exist/,
    );
    const { rows: n, columns } = await readAll(join(work, "out"), "cutouts");
    assert.equal(n, rows.length);
    for (let i = 0; i < n; i++) {
      const planes = expected.get((columns.object_id as BigInt64Array)[i].toString())!;
      for (let b = 0; b < bands.length; b++) {
        for (let k = 0; k < S * S; k++) {
          const got = (columns.image_array as Float32Array)[(i * 2 + b) * S * S + k];
          const want = planes[b][k];
          if (Number.isNaN(want)) assert.equal(got, 0);
          else assert.ok(Math.abs(got - want / COUNTS_PER_NMGY) <= 1e-6 * Math.abs(got) + 1e-12);
        }
        assert.ok(Math.abs((columns.image_scale as Float32Array)[i * 2 + b] - 0.168) < 1e-6);
        assert.equal((columns.image_psf_fwhm as Float32Array)[i * 2 + b], Math.fround(0.7));
      }
    }
  });
});

describe("catalog value rules", () => {
  test("ranges, fills, fixed-length strings and out-of-range ra are handled per row", async () => {
    const dir = join(work, "rules");
    mkdirSync(dir, { recursive: true });
    const names = ["id", "ra", "dec", "z", "flag", "name"];
    await writeCsv(
      join(dir, "cat.csv"),
      names.map((name) => ({ name, dtype: "string" as const, shape: [] })),
      [
        {
          id: ["a1", "a2", "a3", "a4", "a5", "a6"],
          ra: ["10.5", "-10", "370", "10", "10", "10"],
          dec: ["1", "2", "3", "4", "-91", "5"],
          z: ["0.5", "0.1", "9.5", "0.2", "0.3", "abc"],
          flag: ["1", "", "0", "1", "1", "1"],
          name: ["short", "fine", "ok", "much-too-long-name", "x", "y"],
        },
      ],
    );
    const spec = checkSpec(
      {
        config: "rules",
        provenance: { survey: "TEST" },
        catalog: {
          files: "cat.csv",
          columns: {
            object_id: { from: "id", dtype: "string", stringLength: 4 },
            ra: "ra",
            dec: "dec",
            z: { from: "z", dtype: "float64", range: [0, 8] },
            flag: { from: "flag", dtype: "int16", fill: -1 },
            name: { from: "name", dtype: "string", stringLength: 8 },
          },
        },
      },
      dir,
    );
    const r = await build(spec, { out: join(dir, "out"), workers: 1 });
    const reasons = r.report.rejected.sample.map((s) => `${s.objectId}: ${s.reason}`).sort();
    assert.deepEqual(reasons, [
      "a3: column z: 9.5 outside [0, 8]",
      'a4: column name: "much-too-long-name" is longer than 8 bytes',
      "a5: column dec: -91 is not a declination in [-90, 90]",
      'a6: column z: "abc" is not a float64 value',
    ]);
    const { columns } = await readAll(join(dir, "out"), "rules");
    const ids = columns.object_id as string[];
    const at = (id: string) => ids.indexOf(id);
    // ra outside [0, 360) is wrapped; inside it is kept bit for bit.
    assert.equal((columns.ra as Float64Array)[at("a1")], 10.5);
    assert.equal((columns.ra as Float64Array)[at("a2")], 350);
    assert.equal((columns.flag as Int16Array)[at("a2")], -1);
    assert.equal((columns.flag as Int16Array)[at("a1")], 1);
  });
});
