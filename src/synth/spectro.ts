// The synthetic spectroscopic survey, written as DESI writes its healpix coadds: targets grouped
// by their nside-64 NESTED HEALPix pixel into `coadd-<survey>-<program>-<pixel>.fits` files with a
// FIBERMAP table (TARGETID, TARGET_RA, TARGET_DEC, ...) and WAVELENGTH, FLUX, IVAR, MASK and
// LSF_SIGMA image HDUs (one row per target, the three arms merged on one 0.8 Å grid from 3600 to
// 9824 Å), and a redshift catalog (ECSV) with Z, ZERR, ZWARN, SPECTYPE. DESI stores a resolution
// matrix; here the line-spread function is given as a Gaussian sigma per pixel instead.
//
// Targets are galaxies (r < limit) and stars in the imaging tracts, at the imaging objects'
// positions plus a DESI-vs-HSC astrometric offset of ~60 mas, and a share of galaxies outside
// the imaging footprint. Spectra are the objects' SEDs at their redshift, broadened by the LSF,
// with sky-limited noise (sky emission lines, lower throughput at the ends of the range).
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { EcsvWriter, writeFits } from "../formats/index.ts";
import { ang2pixNumber } from "../sky/index.ts";
import { C_KMS, offsetArcsec } from "./physics.ts";
import { Rng } from "./random.ts";
import { observedSpectrum } from "./sed.ts";
import { generateOutskirts, type Layout, type SynthObject, tractOf } from "./universe.ts";

export const WAVE_MIN = 3600;
export const WAVE_STEP = 0.8;
export const WAVE_PIXELS = 7781;
/** HEALPix order of the coadd files (nside 64), as DESI groups its spectra. */
export const SPECTRA_ORDER = 6;
export const SURVEY = "main";
export const PROGRAM = "dark";
export const FLUX_UNIT = "10**-17 erg/(s cm2 Angstrom)";

/** DESI-like resolving power rising from ~2000 (blue) to ~5100 (red). */
export function resolvingPower(lambda: number): number {
  return 2000 + ((lambda - WAVE_MIN) / (WAVE_STEP * (WAVE_PIXELS - 1))) * 3100;
}

export function wavelengthGrid(): Float64Array {
  return Float64Array.from({ length: WAVE_PIXELS }, (_, k) => WAVE_MIN + WAVE_STEP * k);
}

export interface SpectroOptions {
  dir: string;
  seed: number;
  layout: Layout;
  objects: SynthObject[];
  /** Galaxies brighter than this r magnitude are targeted. */
  limitR: number;
  /** Extra targets outside the imaging footprint, as a fraction of the in-footprint ones. */
  outsideFraction: number;
  /** Broken catalog rows: NaN dec, an id missing from its file, a file that does not exist. */
  defects?: number;
  onFile?: (done: number, total: number) => void;
}

export interface SpectroTarget {
  targetId: bigint;
  object: SynthObject;
  ra: number;
  dec: number;
  healpix: number;
  zMeasured: number;
  zErr: number;
  zwarn: number;
  defect: string;
}

export interface SpectroResult {
  zcatalogPath: string;
  spectraFiles: string[];
  targets: SpectroTarget[];
  defectRows: number;
}

/** DESI TARGETIDs are 64-bit numbers well above 2^53. */
const TARGETID_BASE = 39627000000000000n;

function skySpectrum(lambda: Float64Array, seed: number): Float64Array {
  const rng = new Rng(seed, "sky-lines");
  const sky = new Float64Array(lambda.length);
  // Continuum rising to the red, plus the strong auroral lines and a forest of OH lines.
  for (let k = 0; k < lambda.length; k++) sky[k] = 0.6 + 0.8 * ((lambda[k] - WAVE_MIN) / 6200) ** 2;
  const lines: Array<[number, number]> = [
    [5577.34, 40],
    [5889.95, 8],
    [5895.92, 6],
    [6300.3, 15],
    [6363.8, 5],
  ];
  for (let i = 0; i < 120; i++) lines.push([rng.range(6800, 9824), rng.range(2, 30)]);
  for (const [centre, strength] of lines) {
    const s = centre / resolvingPower(centre) / 2.355;
    const lo = Math.max(0, Math.floor((centre - 5 * s - WAVE_MIN) / WAVE_STEP));
    const hi = Math.min(lambda.length - 1, Math.ceil((centre + 5 * s - WAVE_MIN) / WAVE_STEP));
    for (let k = lo; k <= hi; k++) {
      const d = (lambda[k] - centre) / s;
      sky[k] += strength * Math.exp(-0.5 * d * d);
    }
  }
  return sky;
}

/** Throughput relative to the peak: falls off at both ends of the range. */
function throughput(lambda: number): number {
  const x = (lambda - 6500) / 3100;
  return Math.max(0.15, 1 - 0.85 * x ** 4);
}

export async function writeSpectroSurvey(opts: SpectroOptions): Promise<SpectroResult> {
  const { dir, seed, layout } = opts;
  const rng = new Rng(seed, "desi-targets");
  const inside: SynthObject[] = [];
  for (const o of opts.objects) {
    if (o.outsideImaging) continue;
    const t = tractOf(layout, o.field);
    const [x, y] = t.wcs.skyToPixel0(o.ra, o.dec);
    if (!(x >= 0 && y >= 0 && x < t.size && y < t.size)) continue;
    const target =
      o.kind === "galaxy" ? o.mag.r < opts.limitR : o.mag.r > 16 && o.mag.r < 21 && rng.chance(0.7);
    if (target) inside.push(o);
  }
  const perField = layout.fields.map((_, f) =>
    Math.round(inside.filter((o) => o.field === f).length * opts.outsideFraction),
  );
  const firstIndex = opts.objects.reduce((m, o) => Math.max(m, o.index + 1), 0);
  const outside = generateOutskirts(seed, layout, perField, firstIndex, opts.limitR);
  const targets: SpectroTarget[] = [];
  for (const o of [...inside, ...outside]) {
    // DESI astrometry (Legacy Surveys / Gaia) differs from HSC's by tens of mas.
    const [ra, dec] = offsetArcsec(o.ra, o.dec, 0.06 * rng.normal(), 0.06 * rng.normal());
    const zf = 1 + o.z;
    const faint = 10 ** (0.4 * (o.mag.r - 21));
    const zErr =
      o.kind === "star" ? 5 / C_KMS : zf * (o.sed.kind === "blue" ? 1.5e-5 : 6e-5) * (1 + faint);
    let zMeasured = o.z + zErr * rng.normal();
    let zwarn = 0;
    // A few faint red galaxies get a wrong redshift, flagged as DESI flags them (ZWARN bit 2).
    if (o.kind === "galaxy" && o.sed.kind === "red" && o.mag.r > 22 && rng.chance(0.05)) {
      zMeasured = rng.range(0.05, 1.6);
      zwarn = 4;
    }
    targets.push({
      targetId: TARGETID_BASE + BigInt(o.index) * 97n + BigInt(rng.int(97)),
      object: o,
      ra,
      dec,
      healpix: ang2pixNumber(SPECTRA_ORDER, ra, dec),
      zMeasured,
      zErr,
      zwarn,
      defect: "",
    });
  }
  const lambda = wavelengthGrid();
  const lsf = Float64Array.from(lambda, (l) => l / resolvingPower(l) / 2.355);
  const sky = skySpectrum(lambda, seed);
  const byPixel = new Map<number, SpectroTarget[]>();
  for (const t of targets) {
    const list = byPixel.get(t.healpix) ?? [];
    list.push(t);
    byPixel.set(t.healpix, list);
  }
  const spectraFiles: string[] = [];
  const pixels = [...byPixel.keys()].sort((a, b) => a - b);
  for (const [k, pixel] of pixels.entries()) {
    const list = byPixel.get(pixel)!;
    const rel = spectraPath(pixel);
    await writeCoadd(
      join(dir, rel),
      pixel,
      list,
      lambda,
      lsf,
      sky,
      new Rng(seed, `coadd-${pixel}`),
    );
    spectraFiles.push(rel);
    opts.onFile?.(k + 1, pixels.length);
  }
  // Catalog defects: rows the builder must refuse, each for its own reason.
  const defects = opts.defects ?? 0;
  const kinds = ["nan_dec", "missing_spectrum", "missing_file"];
  for (let d = 0; d < defects; d++) {
    const src = targets[rng.int(targets.length)];
    const t: SpectroTarget = {
      ...src,
      targetId: TARGETID_BASE - 1000n - BigInt(d),
      defect: kinds[d % 3],
    };
    if (t.defect === "nan_dec") t.dec = Number.NaN;
    if (t.defect === "missing_file") t.healpix = 49151;
    targets.push(t);
  }
  const zcatalogPath = join(dir, "zcatalog", `zall-pix-${SURVEY}-${PROGRAM}.ecsv`);
  await writeZcatalog(zcatalogPath, targets);
  return { zcatalogPath, spectraFiles, targets, defectRows: defects };
}

export function spectraPath(pixel: number): string {
  return join(
    "spectra",
    SURVEY,
    PROGRAM,
    String(pixel),
    `coadd-${SURVEY}-${PROGRAM}-${pixel}.fits`,
  );
}

async function writeCoadd(
  path: string,
  pixel: number,
  list: SpectroTarget[],
  lambda: Float64Array,
  lsf: Float64Array,
  sky: Float64Array,
  rng: Rng,
): Promise<void> {
  const n = list.length;
  const L = lambda.length;
  const flux = new Float32Array(n * L);
  const ivar = new Float32Array(n * L);
  const mask = new Int32Array(n * L);
  const lsfRows = new Float32Array(n * L);
  const read = 0.35;
  for (const [row, t] of list.entries()) {
    const o = t.object;
    const model = observedSpectrum(o.sed, o.z, o.amplitude, lambda, lsf);
    // Exposure depth varies a little from target to target.
    const depth = rng.range(0.7, 1.3);
    const at = row * L;
    for (let k = 0; k < L; k++) {
      const tp = throughput(lambda[k]);
      const variance = (read * read + 0.12 * sky[k] + 0.05 * Math.max(0, model[k])) / (tp * depth);
      const sigma = Math.sqrt(variance);
      flux[at + k] = model[k] + sigma * rng.normal();
      ivar[at + k] = 1 / variance;
      lsfRows[at + k] = lsf[k];
    }
    // Bad pixels: a couple of short runs (cosmic rays, a bad CCD column), ivar 0 and masked.
    for (let b = rng.poisson(1.5); b > 0; b--) {
      const start = rng.int(L);
      for (let k = start; k < Math.min(L, start + 2 + rng.int(8)); k++) {
        mask[at + k] = 1;
        ivar[at + k] = 0;
      }
    }
  }
  const fibermap: ColumnSpec[] = [
    { name: "TARGETID", dtype: "int64", shape: [] },
    { name: "TARGET_RA", dtype: "float64", shape: [], unit: "deg" },
    { name: "TARGET_DEC", dtype: "float64", shape: [], unit: "deg" },
    { name: "COADD_FIBERSTATUS", dtype: "int32", shape: [] },
  ];
  await mkdir(dirname(path), { recursive: true });
  await writeFits(path, [
    {
      kind: "image",
      data: new Float32Array(0),
      shape: [0],
      cards: [
        { keyword: "SURVEY", value: SURVEY },
        { keyword: "PROGRAM", value: PROGRAM },
        { keyword: "HPXPIXEL", value: pixel },
        { keyword: "HPXNSIDE", value: 2 ** SPECTRA_ORDER },
        { keyword: "HPXNEST", value: true },
        { keyword: "INSTRUME", value: "DESI (synthetic)" },
      ],
    },
    {
      kind: "table",
      name: "FIBERMAP",
      specs: fibermap,
      batch: {
        TARGETID: BigInt64Array.from(list, (t) => t.targetId),
        TARGET_RA: Float64Array.from(list, (t) => t.ra),
        TARGET_DEC: Float64Array.from(list, (t) => t.dec),
        COADD_FIBERSTATUS: new Int32Array(n),
      },
    },
    {
      kind: "image",
      name: "WAVELENGTH",
      data: lambda,
      shape: [L],
      cards: [{ keyword: "BUNIT", value: "Angstrom" }],
    },
    {
      kind: "image",
      name: "FLUX",
      data: flux,
      shape: [n, L],
      cards: [{ keyword: "BUNIT", value: FLUX_UNIT }],
    },
    {
      kind: "image",
      name: "IVAR",
      data: ivar,
      shape: [n, L],
      cards: [{ keyword: "BUNIT", value: "10**+34 (s2 cm4 Angstrom2) / erg2" }],
    },
    { kind: "image", name: "MASK", data: mask, shape: [n, L] },
    {
      kind: "image",
      name: "LSF_SIGMA",
      data: lsfRows,
      shape: [n, L],
      cards: [{ keyword: "BUNIT", value: "Angstrom" }],
    },
  ]);
}

async function writeZcatalog(path: string, targets: SpectroTarget[]): Promise<void> {
  const specs: ColumnSpec[] = [
    { name: "TARGETID", dtype: "int64", shape: [] },
    { name: "TARGET_RA", dtype: "float64", shape: [], unit: "deg" },
    { name: "TARGET_DEC", dtype: "float64", shape: [], unit: "deg" },
    { name: "Z", dtype: "float64", shape: [] },
    { name: "ZERR", dtype: "float64", shape: [] },
    { name: "ZWARN", dtype: "int64", shape: [] },
    { name: "SPECTYPE", dtype: "string", shape: [] },
    { name: "SURVEY", dtype: "string", shape: [] },
    { name: "PROGRAM", dtype: "string", shape: [] },
    { name: "HEALPIX", dtype: "int32", shape: [] },
    { name: "Z_TRUE", dtype: "float64", shape: [] },
    { name: "TRUTH_INDEX", dtype: "int32", shape: [] },
    { name: "DEFECT", dtype: "string", shape: [] },
  ];
  await mkdir(dirname(path), { recursive: true });
  const w = await EcsvWriter.create(path, specs, {
    meta: {
      description:
        "Synthetic DESI-like redshift catalog. Z_TRUE, TRUTH_INDEX and DEFECT are the simulation's truth, not survey columns.",
    },
  });
  await w.append({
    TARGETID: BigInt64Array.from(targets, (t) => t.targetId),
    TARGET_RA: Float64Array.from(targets, (t) => t.ra),
    TARGET_DEC: Float64Array.from(targets, (t) => t.dec),
    Z: Float64Array.from(targets, (t) => t.zMeasured),
    ZERR: Float64Array.from(targets, (t) => t.zErr),
    ZWARN: BigInt64Array.from(targets, (t) => BigInt(t.zwarn)),
    SPECTYPE: targets.map((t) => (t.object.kind === "star" ? "STAR" : "GALAXY")),
    SURVEY: targets.map(() => SURVEY),
    PROGRAM: targets.map(() => PROGRAM),
    HEALPIX: Int32Array.from(targets, (t) => t.healpix),
    Z_TRUE: Float64Array.from(targets, (t) => t.object.z),
    TRUTH_INDEX: Int32Array.from(targets, (t) => t.object.index),
    DEFECT: targets.map((t) => t.defect),
  });
  await w.close();
}
