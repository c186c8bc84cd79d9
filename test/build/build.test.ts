// The builders on the synthetic surveys: values checked against the source files and the truth,
// bad rows rejected with their reason, the same dataset whatever the worker count, and bad
// input (corrupt FITS, missing columns, broken specs) refused with typed errors.
import assert from "node:assert/strict";
import { cpSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import type { Worker } from "node:worker_threads";
import { type BuildProgress, build, checkSpec, loadSpec } from "../../src/build/index.ts";
import { FormatError, SchemaError, SpecError } from "../../src/core/errors.ts";
import { builtinSpec, hscSpec } from "../../src/demo/index.ts";
import { cutout, openFits, TanWcs } from "../../src/formats/index.ts";
import { ang2pix } from "../../src/sky/index.ts";
import { lookupIdKey } from "../../src/storage/id-index.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { COUNTS_PER_NMGY, MASK_PLANES } from "../../src/synth/imaging.ts";
import type { SynthResult } from "../../src/synth/index.ts";
import { spectraPath } from "../../src/synth/spectro.ts";
import { tempDir } from "../helpers/tmp.ts";
import { desiDir, hscDir, readCatalogCsv, readEcsvAll, tinySurveys } from "../synth/fixture.ts";
import { assertSameDataset, readAll } from "./helpers.ts";

const STAMP = 24;
const srcDir = tempDir();
const outHsc = tempDir();
const outHsc2 = tempDir();
const outDesi = tempDir();
const scratch = tempDir();
let sky: SynthResult;

/** The HSC spec with small work units, so that the build has several (one per worker and more). */
function hscUnits() {
  return checkSpec(
    { ...hscSpec(STAMP), root: hscDir(sky), build: { unitBytes: 600_000 } },
    hscDir(sky),
  );
}

/** The "build" progress events of the hsc build (its units refuse a stamp). */
const hscProgress: BuildProgress[] = [];

before(async () => {
  sky = await tinySurveys(srcDir, 4);
  await build(hscUnits(), {
    out: outHsc,
    workers: 1,
    onProgress: (p) => {
      if (p.phase === "build") hscProgress.push({ ...p });
    },
  });
  await build(builtinSpec("desi", desiDir(sky)), { out: outDesi, workers: 1 });
});

describe("imaging builder (tiles + WCS)", () => {
  test("every good catalog row is stored with its values; each bad row is rejected with its reason", async () => {
    const csv = readCatalogCsv(sky.hsc!.catalogPath);
    const truth = await readEcsvAll(sky.hsc!.truthPath);
    const report = JSON.parse(readFileSync(join(outHsc, "pdr3_dud", "build-report.json"), "utf8"));
    assert.equal(report.rowsRead, csv.length);
    assert.equal(report.rejected.count, 4);
    const reasons = report.rejected.sample.map((r: { reason: string }) => r.reason).sort();
    assert.match(reasons.join("\n"), /column dec: 95\.5 is not a declination/);
    assert.match(
      reasons.join("\n"),
      /column forced\.r_cmodel_mag \(source r_cmodel_mag\): "n\/a" is not a float32/,
    );
    assert.match(reasons.join("\n"), /column ra: NaN/);
    assert.match(reasons.join("\n"), /no hsc-g tile covers/);
    // The rejected rows are exactly the injected defects, named by file and row.
    const defectRows = (truth.defect as string[]).flatMap((d, k) => (d ? [k] : []));
    assert.deepEqual(
      report.rejected.sample
        .map((r: { row: number }) => r.row)
        .sort((a: number, b: number) => a - b),
      defectRows,
    );
    for (const r of report.rejected.sample)
      assert.equal(r.file, join("catalog", "pdr3_dud_forced.csv"));
    // The units' progress reaches every row routed to them (3 rows were refused by the scan),
    // the row whose stamp a unit refused included: it was read, though never written.
    const last = hscProgress[hscProgress.length - 1]!;
    assert.equal(last.total, csv.length - 3);
    assert.equal(last.rows, csv.length - 3);

    const { rows, columns } = await readAll(outHsc, "pdr3_dud");
    assert.equal(rows, csv.length - 4);
    const byId = new Map(csv.map((r) => [r.object_id, r]));
    const ids = columns.object_id as BigInt64Array;
    for (let i = 0; i < rows; i++) {
      const src = byId.get(ids[i].toString());
      assert.ok(src, `object ${ids[i]} comes from the catalog`);
      assert.equal((columns.ra as Float64Array)[i], Number(src.ra));
      assert.equal((columns.dec as Float64Array)[i], Number(src.dec));
      const mag = (columns["forced.i_cmodel_mag"] as Float32Array)[i];
      if (src.i_cmodel_mag === "") assert.ok(Number.isNaN(mag));
      else assert.equal(mag, Math.fround(Number(src.i_cmodel_mag)));
      assert.equal((columns.patch as Int32Array)[i], Number(src.patch));
    }
    // Rows are sorted by their order-29 key, and healpix is that key's order-4 pixel.
    const keys = columns._healpix_29 as BigInt64Array;
    for (let i = 1; i < rows; i++)
      if ((columns.healpix as BigInt64Array)[i] === (columns.healpix as BigInt64Array)[i - 1])
        assert.ok(keys[i] >= keys[i - 1]);
    for (let i = 0; i < rows; i++)
      assert.equal((columns.healpix as BigInt64Array)[i], keys[i] >> 50n);
    // Each key is its own row's position (the units take the keys the scan computed, and drop
    // the rows a stamp is refused for: the keys must follow).
    const expected = ang2pix(29, columns.ra as Float64Array, columns.dec as Float64Array);
    for (let i = 0; i < rows; i++) assert.equal(keys[i], expected[i], `row ${i}`);
  });

  test("stamps equal the tile pixels cut independently (flux in nanomaggies, ivar from variance, mask from bits)", async () => {
    const { rows, columns } = await readAll(outHsc, "pdr3_dud");
    const bad =
      (1 << MASK_PLANES.BAD) |
      (1 << MASK_PLANES.SAT) |
      (1 << MASK_PLANES.CR) |
      (1 << MASK_PLANES.NO_DATA);
    const bands = ["HSC-G", "HSC-R", "HSC-I", "HSC-Z", "HSC-Y"];
    const tiles = await Promise.all(
      sky.hsc!.tiles.map(async (rel) => {
        const f = await openFits(join(hscDir(sky), rel));
        const img = f.hdu("IMAGE");
        const t = {
          band: bands.findIndex((b) => rel.includes(`/${b}/`)),
          wcs: TanWcs.fromHeader(img.header),
          psf: Number(img.header.optionalNumber("PSFFWHM")),
          image: (await img.readImage()).data,
          variance: (await f.hdu("VARIANCE").readImage()).data,
          mask: (await f.hdu("MASK").readImage()).data,
          w: img.axes[0],
          h: img.axes[1],
        };
        await f.close();
        return t;
      }),
    );
    const S = STAMP;
    let compared = 0;
    for (let i = 0; i < rows; i += 7) {
      const ra = (columns.ra as Float64Array)[i];
      const dec = (columns.dec as Float64Array)[i];
      for (let b = 0; b < 5; b++) {
        // The tile whose pixel grid holds the object farthest from its edges.
        let best: (typeof tiles)[number] | null = null;
        let margin = Number.NEGATIVE_INFINITY;
        for (const t of tiles) {
          if (t.band !== b) continue;
          const [x, y] = t.wcs.skyToPixel0(ra, dec);
          const m = Math.min(x + 0.5, y + 0.5, t.w - 0.5 - x, t.h - 0.5 - y);
          if (m > 0 && m > margin) [best, margin] = [t, m];
        }
        assert.ok(best, "a tile covers every stored object");
        const shape = [best.h, best.w];
        const flux = cutout({ data: best.image, shape }, best.wcs, ra, dec, S);
        const variance = cutout({ data: best.variance, shape }, best.wcs, ra, dec, S);
        const mask = cutout({ data: best.mask, shape }, best.wcs, ra, dec, S);
        const base = (i * 5 + b) * S * S;
        for (let k = 0; k < S * S; k++) {
          const v = flux.data[k];
          const got = (columns.image_array as Float32Array)[base + k];
          const ivar = (columns.image_ivar as Float32Array)[base + k];
          const good = (columns.image_mask as Uint8Array)[base + k];
          if (Number.isNaN(v)) {
            // Outside the tile or no data: zero flux, no weight, masked.
            assert.equal(got, 0);
            assert.equal(ivar, 0);
            assert.equal(good, 0);
            continue;
          }
          assert.ok(
            Math.abs(got - v / COUNTS_PER_NMGY) <= 1e-6 * Math.abs(got) + 1e-12,
            `pixel ${k}: ${got} vs ${v / COUNTS_PER_NMGY}`,
          );
          const want = variance.data[k] > 0 ? COUNTS_PER_NMGY ** 2 / variance.data[k] : 0;
          assert.ok(Math.abs(ivar - want) <= 1e-5 * want, `ivar ${ivar} vs ${want}`);
          assert.equal(good, want > 0 && (mask.data[k] & bad) === 0 ? 1 : 0);
        }
        // The object sits in the stamp's centre 2x2 pixels (even size).
        assert.ok(
          Math.abs(flux.position[0] - (S - 1) / 2) <= 0.5 &&
            Math.abs(flux.position[1] - (S - 1) / 2) <= 0.5,
        );
        assert.equal((columns.image_psf_fwhm as Float32Array)[i * 5 + b], Math.fround(best.psf));
        assert.ok(Math.abs((columns.image_scale as Float32Array)[i * 5 + b] - 0.168) < 1e-6);
        assert.equal((columns.image_band as string[])[i * 5 + b], `hsc-${"grizy"[b]}`);
        compared++;
      }
    }
    assert.ok(compared >= 40, `${compared} stamps compared`);
  });

  test("the dataset verifies against its manifest; the object_id index finds every object", async () => {
    assert.deepEqual(await verifyDataset(outHsc, { checksums: true }), []);
    const manifest = await readManifest(outHsc);
    const config = manifest.configs.pdr3_dud;
    assert.ok(config.idIndex);
    // Merged from the units' uncompressed indexes, it is gzip like a single unit's.
    const index = await PartitionFile.open(join(outHsc, config.idIndex.path));
    try {
      for (const c of index.columns()) assert.deepEqual(c.filters, ["shuffle", "gzip"], c.name);
    } finally {
      index.close();
    }
    const files = manifest.files.filter((f) => f.config === "pdr3_dud");
    const { columns } = await readAll(outHsc, "pdr3_dud", ["object_id"]);
    const ids = columns.object_id as BigInt64Array;
    for (let i = 0; i < ids.length; i += 5) {
      const hits = await lookupIdKey(outHsc, config.idIndex!, ids[i]);
      assert.equal(hits.length, 1);
      const f = await PartitionFile.open(join(outHsc, files[hits[0].file].path));
      try {
        assert.equal(
          (f.readRows(["object_id"], [hits[0].row]).object_id as BigInt64Array)[0],
          ids[i],
        );
      } finally {
        f.close();
      }
    }
  });

  test("two worker threads build the same dataset as one; a finished build re-run changes nothing", async () => {
    // Threads are asked to exit between units, never terminated mid-write (which exits code 1).
    const exits: Promise<number>[] = [];
    const started = (w: Worker) => exits.push(new Promise((resolve) => w.once("exit", resolve)));
    process.on("worker", started);
    const r = await build(hscUnits(), {
      out: outHsc2,
      workers: 2,
    }).finally(() => process.off("worker", started));
    // The two build threads, and the assembly's object_id index thread.
    assert.deepEqual(await Promise.all(exits), [0, 0, 0]);
    assert.equal(r.report.status, "built");
    assert.ok(r.report.units >= 2, `${r.report.units} units`);
    await assertSameDataset(outHsc, outHsc2, "pdr3_dud");
    const before = statSync(join(outHsc2, "astropile.json")).mtimeMs;
    const again = await build(hscUnits(), {
      out: outHsc2,
      workers: 2,
    });
    assert.equal(again.report.status, "unchanged");
    assert.equal(statSync(join(outHsc2, "astropile.json")).mtimeMs, before);
  });
});

describe("spectrum builder (multi-row coadd files)", () => {
  test("spectra equal their rows in the coadd files; bad rows rejected with their reason", async () => {
    const z = await readEcsvAll(sky.desi!.zcatalogPath);
    const report = JSON.parse(readFileSync(join(outDesi, "edr_sv3", "build-report.json"), "utf8"));
    // Four defects of three kinds: NaN dec (twice), an id not in its file, a file that is not there.
    assert.equal(report.rejected.count, 4);
    const text = report.rejected.sample.map((r: { reason: string }) => r.reason).join("\n");
    assert.match(text, /column dec \(source TARGET_DEC\): NaN/);
    assert.match(text, /TARGETID \d+ not found in spectra/);
    assert.match(
      text,
      /spectrum file spectra\/main\/dark\/49151\/coadd-main-dark-49151\.fits does not exist/,
    );
    const { rows, columns, manifest } = await readAll(outDesi, "edr_sv3");
    assert.equal(rows, (z.TARGETID as BigInt64Array).length - 4);
    const L = 7781;
    assert.deepEqual(
      manifest.configs.edr_sv3.columns.find((c) => c.name === "spectrum_flux")?.shape,
      [L],
    );
    const zrow = new Map(Array.from(z.TARGETID as BigInt64Array, (id, k) => [id, k]));
    let checked = 0;
    for (let i = 0; i < rows; i += 3) {
      const id = (columns.object_id as BigInt64Array)[i];
      const k = zrow.get(id)!;
      assert.equal((columns.z as Float64Array)[i], (z.Z as Float64Array)[k]);
      assert.equal((columns.SPECTYPE as string[])[i], (z.SPECTYPE as string[])[k]);
      const f = await openFits(join(desiDir(sky), spectraPath((z.HEALPIX as Int32Array)[k])));
      try {
        const fm = (await f.hdu("FIBERMAP").table().read()).columns.TARGETID as BigInt64Array;
        const r = fm.indexOf(id);
        const flux = (await f.hdu("FLUX").readImage({ planes: [r, r + 1] })).data;
        const ivar = (await f.hdu("IVAR").readImage({ planes: [r, r + 1] })).data;
        const mask = (await f.hdu("MASK").readImage({ planes: [r, r + 1] })).data;
        const wave = (await f.hdu("WAVELENGTH").readImage()).data;
        for (let p = 0; p < L; p++) {
          assert.equal((columns.spectrum_flux as Float32Array)[i * L + p], flux[p]);
          assert.equal((columns.spectrum_ivar as Float32Array)[i * L + p], ivar[p]);
          assert.equal(
            (columns.spectrum_lambda as Float32Array)[i * L + p],
            Math.fround(Number(wave[p])),
          );
          assert.equal(
            (columns.spectrum_mask as Uint8Array)[i * L + p],
            mask[p] !== 0 || ivar[p] === 0 ? 1 : 0,
          );
        }
        checked++;
      } finally {
        await f.close();
      }
    }
    assert.ok(checked >= 10);
    assert.deepEqual(await verifyDataset(outDesi, { checksums: true }), []);
  });
});

describe("bad input", () => {
  test("a corrupt tile fails the build naming the file; the config already in the directory is untouched", async () => {
    const bad = join(scratch, "bad-hsc");
    cpSync(hscDir(sky), bad, { recursive: true });
    const tile = join(bad, sky.hsc!.tiles[3]);
    truncateSync(tile, statSync(tile).size - 5000);
    const out = join(scratch, "shared");
    await build(builtinSpec("desi", desiDir(sky)), { out, workers: 1 });
    const manifestBefore = readFileSync(join(out, "astropile.json"), "utf8");
    await assert.rejects(
      build(builtinSpec("hsc", bad, { stampSize: STAMP }), { out, workers: 1 }),
      (err: Error) =>
        err instanceof FormatError &&
        err.message.includes(tile) &&
        /HDU \d+, byte offset/.test(err.message),
    );
    assert.equal(readFileSync(join(out, "astropile.json"), "utf8"), manifestBefore);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
  });

  test("a mapped column missing from the catalog is a SchemaError naming the file and the column", async () => {
    const spec = hscSpec(STAMP);
    spec.catalog.columns["forced.g_kron_mag"] = { from: "g_kron_mag", dtype: "float32" };
    await assert.rejects(
      build(checkSpec(spec, hscDir(sky)), { out: join(scratch, "missing"), workers: 1 }),
      (err: Error) =>
        err instanceof SchemaError &&
        err.message.includes("g_kron_mag") &&
        err.message.includes("pdr3_dud_forced.csv"),
    );
  });

  test("specs: invalid JSON, unknown fields, missing mappings and wrong types are SpecErrors with the place", async () => {
    const p = join(scratch, "spec.json");
    writeFileSync(p, "{ not json");
    await assert.rejects(
      loadSpec(p),
      (e: Error) =>
        e instanceof SpecError && e.message.includes(p) && /not valid JSON/.test(e.message),
    );
    writeFileSync(p, JSON.stringify({ ...hscSpec(), colour: "blue" }));
    await assert.rejects(
      loadSpec(p),
      (e: Error) => e instanceof SpecError && /colour/.test(e.message),
    );
    // A misspelt key is named first (it is also why "columns" is missing), with the key meant.
    const { columns, ...rest } = hscSpec().catalog;
    assert.throws(
      () => checkSpec({ ...hscSpec(), catalog: { ...rest, colums: columns } }, scratch),
      (e: Error) =>
        e instanceof SpecError &&
        /^catalog: unknown key "colums" \(did you mean "columns"\?\)/.test(e.message),
    );
    assert.throws(
      () => checkSpec({ ...hscSpec(), build: { maxRowsPerFil: 10 } }, scratch),
      /SpecError: build: unknown key "maxRowsPerFil" \(did you mean "maxRowsPerFile"\?\)/,
    );
    const noRa = hscSpec();
    delete noRa.catalog.columns.ra;
    assert.throws(() => checkSpec(noRa, scratch), /must map "ra"/);
    writeFileSync(
      p,
      JSON.stringify({ ...hscSpec(), image: { ...hscSpec().image, stampSize: "big" } }),
    );
    await assert.rejects(
      loadSpec(p),
      (e: Error) => e instanceof SpecError && /image.stampSize/.test(e.message),
    );
    // A spec that loads resolves its root against its own folder.
    writeFileSync(p, JSON.stringify({ ...hscSpec(), root: "sub" }));
    assert.equal((await loadSpec(p)).root, join(scratch, "sub"));
  });
});
