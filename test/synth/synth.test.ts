// The synthetic surveys: deterministic, written in the formats the builders read, and faithful
// to their truth (fluxes in the tiles, noise in the spectra, clustering, astrometric offsets).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { before, describe, test } from "node:test";
import { openFits, TanWcs } from "../../src/formats/index.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import { COUNTS_PER_NMGY, MASK_PLANES } from "../../src/synth/imaging.ts";
import { generateSurveys, PRESETS, type SynthResult } from "../../src/synth/index.ts";
import { galacticLatitude, magToNanomaggies } from "../../src/synth/physics.ts";
import { observedSpectrum } from "../../src/synth/sed.ts";
import {
  resolvingPower,
  spectraPath,
  WAVE_PIXELS,
  wavelengthGrid,
} from "../../src/synth/spectro.ts";
import { FIELDS, generateUniverse, tractArea, tractOf } from "../../src/synth/universe.ts";
import { tempDir } from "../helpers/tmp.ts";
import { readCatalogCsv, readEcsvAll, SEED, tinySurveys } from "./fixture.ts";

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out.sort();
}

function digest(dir: string): Map<string, string> {
  return new Map(
    walk(dir).map((p) => [
      relative(dir, p),
      createHash("sha256").update(readFileSync(p)).digest("hex"),
    ]),
  );
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const dir = tempDir();
const dirAgain = tempDir();
const dirOther = tempDir();
let sky: SynthResult;
const universe = generateUniverse(SEED, PRESETS.tiny.layout, PRESETS.tiny.population);

before(async () => {
  sky = await tinySurveys(dir, 4);
});

describe("synthetic surveys", () => {
  test("the same seed writes byte-identical files; another seed does not", async () => {
    const again = await generateSurveys({ dir: dirAgain, size: "tiny", seed: SEED, defects: 4 });
    const a = digest(sky.dir);
    const b = digest(again.dir);
    assert.ok(a.size > 40, `expected tiles, catalogs and spectra, got ${a.size} files`);
    assert.deepEqual([...b.keys()], [...a.keys()]);
    for (const [k, v] of a) assert.equal(b.get(k), v, k);
    const other = await generateSurveys({
      dir: dirOther,
      size: "tiny",
      seed: SEED + 1,
      surveys: ["hsc"],
    });
    assert.notEqual(
      digest(other.dir).get("hsc/catalog/pdr3_dud_forced.csv"),
      a.get("hsc/catalog/pdr3_dud_forced.csv"),
    );
  });

  test("tiles are HSC calexp files: IMAGE/MASK/VARIANCE, TAN WCS at 0.168 arcsec, zeropoint 27", async () => {
    const hsc = sky.hsc!;
    assert.equal(hsc.tiles.length, 2 * 4 * 5);
    const path = join(sky.dir, "hsc", hsc.tiles.find((t) => t.includes("HSC-I"))!);
    const f = await openFits(path);
    try {
      assert.deepEqual(
        f.hdus.map((h) => h.name ?? ""),
        ["", "IMAGE", "MASK", "VARIANCE"],
      );
      const img = f.hdu("IMAGE");
      assert.equal(Number(img.header.optionalNumber("MAGZERO")), 27);
      const fwhm = Number(img.header.optionalNumber("PSFFWHM"));
      assert.ok(fwhm > 0.4 && fwhm < 1, `PSF FWHM ${fwhm}`);
      const wcs = TanWcs.fromHeader(img.header);
      const scale =
        Math.sqrt(Math.abs(wcs.cd[0][0] * wcs.cd[1][1] - wcs.cd[0][1] * wcs.cd[1][0])) * 3600;
      assert.ok(Math.abs(scale - 0.168) < 1e-9, `scale ${scale}`);
      assert.equal(Number(f.hdu("MASK").header.optionalNumber("MP_SAT")), MASK_PLANES.SAT);
      const variance = (await f.hdu("VARIANCE").readImage()).data;
      const finite = Array.from(variance as Float32Array).filter(Number.isFinite);
      // Sky-limited noise at the band's depth: sigma ≈ 0.0016 nmgy in i.
      const sigma = Math.sqrt(median(finite)) / COUNTS_PER_NMGY;
      assert.ok(sigma > 0.0008 && sigma < 0.003, `i-band sky sigma ${sigma} nmgy`);
    } finally {
      await f.close();
    }
  });

  test("aperture fluxes in the tiles match the true magnitudes (nanomaggies × 10^(0.4·4.5))", async () => {
    const truth = await readEcsvAll(sky.hsc!.truthPath);
    const ratios: number[] = [];
    const tiles = sky.hsc!.tiles.filter((t) => t.includes("HSC-I"));
    const opened = await Promise.all(
      tiles.map(async (t) => {
        const f = await openFits(join(sky.dir, "hsc", t));
        const img = f.hdu("IMAGE");
        const out = {
          wcs: TanWcs.fromHeader(img.header),
          data: (await img.readImage()).data,
          n: img.axes[0],
        };
        await f.close();
        return out;
      }),
    );
    const iTrue = truth.i_mag_true as Float64Array;
    for (let k = 0; k < iTrue.length; k++) {
      if ((truth.defect as string[])[k] !== "" || !(iTrue[k] > 17 && iTrue[k] < 22)) continue;
      const ra = (truth.ra_true as Float64Array)[k];
      const dec = (truth.dec_true as Float64Array)[k];
      // A tile where a 12-pixel aperture fits inside.
      const t = opened.find((o) => {
        const [x, y] = o.wcs.skyToPixel0(ra, dec);
        return x > 14 && y > 14 && x < o.n - 15 && y < o.n - 15;
      });
      if (!t) continue;
      const [x, y] = t.wcs.skyToPixel0(ra, dec);
      let sum = 0;
      for (let j = Math.floor(y - 12); j <= Math.ceil(y + 12); j++)
        for (let i = Math.floor(x - 12); i <= Math.ceil(x + 12); i++)
          if ((i - x) ** 2 + (j - y) ** 2 <= 144) {
            const v = Number(t.data[j * t.n + i]);
            if (Number.isFinite(v)) sum += v;
          }
      ratios.push(sum / COUNTS_PER_NMGY / magToNanomaggies(iTrue[k]));
    }
    assert.ok(ratios.length >= 5, `only ${ratios.length} bright objects`);
    const m = median(ratios);
    // Extended galaxies lose a little light outside 2 arcsec; neighbours add a little.
    assert.ok(m > 0.8 && m < 1.1, `median aperture/true flux ${m} over ${ratios.length} objects`);
  });

  test("catalog: measured magnitudes scatter around the truth by their errors; ids are 64-bit", async () => {
    const rows = readCatalogCsv(sky.hsc!.catalogPath);
    const truth = await readEcsvAll(sky.hsc!.truthPath);
    assert.equal(rows.length, (truth.object_id as BigInt64Array).length);
    assert.equal(rows.length, sky.hsc!.catalogRows);
    let checked = 0;
    let within = 0;
    for (const [k, row] of rows.entries()) {
      assert.equal(BigInt(row.object_id), (truth.object_id as BigInt64Array)[k]);
      if ((truth.defect as string[])[k] !== "") continue;
      assert.ok(BigInt(row.object_id) > 2n ** 53n, "HSC ids do not fit a double");
      const sep = angularSeparationDeg(
        Number(row.ra),
        Number(row.dec),
        (truth.ra_true as Float64Array)[k],
        (truth.dec_true as Float64Array)[k],
      );
      assert.ok(sep * 3600 < 0.3, `catalog position ${sep * 3600} arcsec from the truth`);
      const mag = Number(row.i_cmodel_mag);
      const err = Number(row.i_cmodel_magerr);
      if (row.i_cmodel_mag === "" || !(err < 0.2)) continue;
      checked++;
      if (Math.abs(mag - (truth.i_mag_true as Float64Array)[k]) < 4 * err) within++;
    }
    assert.ok(checked > 30, `${checked} well-measured objects`);
    assert.ok(within / checked > 0.95, `${within}/${checked} within 4 sigma`);
    const defects = (truth.defect as string[]).filter((d) => d !== "");
    assert.deepEqual(defects.sort(), ["bad_dec", "bad_mag", "nan_ra", "off_footprint"]);
  });

  test("galaxies cluster in groups; stars are denser toward the Galactic plane", () => {
    const layout = { ...PRESETS.small.layout, fields: [FIELDS[0], FIELDS[1], FIELDS[4]] };
    const objects = generateUniverse(3, layout, PRESETS.small.population);
    // Counts of i < 24 galaxies in 6x6 cells of each tract: variance/mean is 1 for a uniform
    // (Poisson) sky and above 1 when galaxies clump.
    const dispersion = [0, 1, 2].map((f) => {
      const t = tractOf(layout, f);
      const n = 6;
      const counts = new Array(n * n).fill(0);
      for (const o of objects) {
        if (o.kind !== "galaxy" || o.field !== f || !(o.mag.i < 24)) continue;
        const [x, y] = t.wcs.skyToPixel0(o.ra, o.dec);
        if (x < 0 || y < 0 || x >= t.size || y >= t.size) continue;
        counts[Math.floor((y / t.size) * n) * n + Math.floor((x / t.size) * n)]++;
      }
      const mean = counts.reduce((a, b) => a + b) / counts.length;
      const variance = counts.reduce((a, b) => a + (b - mean) ** 2, 0) / (counts.length - 1);
      return variance / mean;
    });
    const mean = dispersion.reduce((a, b) => a + b) / dispersion.length;
    assert.ok(
      mean > 1.4,
      `counts-in-cells variance/mean ${dispersion.map((d) => d.toFixed(2)).join(", ")}`,
    );
    const members = objects.filter((o) => o.group >= 0);
    assert.ok(
      members.length > 0.1 * objects.length,
      `${members.length} of ${objects.length} in groups`,
    );
    // A group shares its redshift.
    const g0 = members.filter((o) => o.group === members[0].group).map((o) => o.z);
    assert.ok(Math.max(...g0) - Math.min(...g0) < 0.05, `group redshifts ${g0.join(", ")}`);
    // Stars per arcmin² in a field at |b| ≈ 42° against one at |b| ≈ 10°.
    const density = (f: number) =>
      objects.filter((o) => o.kind === "star" && o.field === f).length /
      tractArea(tractOf(layout, f));
    const b0 = Math.abs(galacticLatitude(FIELDS[0].ra, FIELDS[0].dec));
    const b2 = Math.abs(galacticLatitude(FIELDS[4].ra, FIELDS[4].dec));
    assert.ok(b2 < b0);
    assert.ok(
      density(2) > 2 * density(0),
      `star density ${density(2)} (|b|=${b2.toFixed(0)}) vs ${density(0)} (|b|=${b0.toFixed(0)})`,
    );
  });

  test("spectra: every target in its coadd file; noise consistent with ivar around the true model", async () => {
    const z = await readEcsvAll(sky.desi!.zcatalogPath);
    const ids = z.TARGETID as BigInt64Array;
    const lambda = wavelengthGrid();
    const lsf = Float64Array.from(lambda, (l) => l / resolvingPower(l) / 2.355);
    const chi2: number[] = [];
    const byFile = new Map<number, number[]>();
    for (let k = 0; k < ids.length; k++) {
      if ((z.DEFECT as string[])[k] !== "") continue;
      const pixel = (z.HEALPIX as Int32Array)[k];
      byFile.set(pixel, [...(byFile.get(pixel) ?? []), k]);
    }
    let seen = 0;
    for (const [pixel, rows] of byFile) {
      const f = await openFits(join(sky.dir, "desi", spectraPath(pixel)));
      try {
        const fm = (await f.hdu("FIBERMAP").table().read()).columns.TARGETID as BigInt64Array;
        const wave = (await f.hdu("WAVELENGTH").readImage()).data;
        assert.equal(wave.length, WAVE_PIXELS);
        assert.equal(Number(wave[0]), 3600);
        assert.ok(Math.abs(Number(wave[WAVE_PIXELS - 1]) - 9824) < 1e-6);
        for (const k of rows) {
          const r = fm.indexOf(ids[k]);
          assert.ok(r >= 0, `TARGETID ${ids[k]} in coadd ${pixel}`);
          seen++;
          const o =
            universe[(z.TRUTH_INDEX as Int32Array)[k]] ??
            null; /* outskirts objects are not in the imaging universe */
          if (!o || o.index !== (z.TRUTH_INDEX as Int32Array)[k]) continue;
          const flux = (await f.hdu("FLUX").readImage({ planes: [r, r + 1] })).data;
          const ivar = (await f.hdu("IVAR").readImage({ planes: [r, r + 1] })).data;
          const model = observedSpectrum(o.sed, o.z, o.amplitude, lambda, lsf);
          let s = 0;
          let n = 0;
          for (let p = 0; p < WAVE_PIXELS; p++) {
            const w = Number(ivar[p]);
            if (w <= 0) continue;
            s += (Number(flux[p]) - model[p]) ** 2 * w;
            n++;
          }
          chi2.push(s / n);
        }
      } finally {
        await f.close();
      }
    }
    assert.equal(seen, [...byFile.values()].flat().length);
    assert.ok(chi2.length >= 10, `${chi2.length} spectra compared with their model`);
    const m = median(chi2);
    assert.ok(m > 0.9 && m < 1.1, `median reduced chi2 ${m}`);
  });

  test("spectroscopic targets sit on imaging objects with DESI–HSC offsets of tens of mas", async () => {
    const z = await readEcsvAll(sky.desi!.zcatalogPath);
    const seps: number[] = [];
    let outside = 0;
    for (let k = 0; k < (z.TARGETID as BigInt64Array).length; k++) {
      if ((z.DEFECT as string[])[k] !== "") continue;
      const o = universe[(z.TRUTH_INDEX as Int32Array)[k]];
      if (!o || o.index !== (z.TRUTH_INDEX as Int32Array)[k]) {
        outside++;
        continue;
      }
      seps.push(
        angularSeparationDeg(
          (z.TARGET_RA as Float64Array)[k],
          (z.TARGET_DEC as Float64Array)[k],
          o.ra,
          o.dec,
        ) * 3600,
      );
      // Redshifts: measured within 5 sigma of the truth unless flagged.
      if (Number((z.ZWARN as BigInt64Array)[k]) === 0) {
        const dz = Math.abs((z.Z as Float64Array)[k] - (z.Z_TRUE as Float64Array)[k]);
        assert.ok(
          dz < 6 * (z.ZERR as Float64Array)[k],
          `dz ${dz} vs zerr ${(z.ZERR as Float64Array)[k]}`,
        );
      }
    }
    assert.ok(
      seps.length > outside,
      `most targets (${seps.length}) inside the imaging footprint, ${outside} outside`,
    );
    assert.ok(outside > 0, "some targets outside the imaging footprint");
    const m = median(seps);
    assert.ok(m > 0.03 && m < 0.15, `median offset ${m} arcsec`);
    assert.ok(Math.max(...seps) < 0.5, `largest offset ${Math.max(...seps)} arcsec`);
  });

  test("size presets grow; files stay readable by size name", () => {
    const area = (s: keyof typeof PRESETS) => {
      const p = PRESETS[s].layout;
      return p.fields.length * tractArea(tractOf(p, 0));
    };
    assert.ok(
      area("tiny") < area("small") &&
        area("small") < area("medium") &&
        area("medium") < area("large"),
    );
    assert.ok(statSync(sky.hsc!.catalogPath).size > 0);
  });
});
