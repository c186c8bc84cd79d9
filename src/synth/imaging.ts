// The synthetic imaging survey, written as HSC writes its coadds: for every patch of a tract and
// every band a `calexp` FITS file with IMAGE (float32, zeropoint 27 AB), MASK (int32 bit planes
// named by MP_* header cards) and VARIANCE (float32) HDUs sharing the tract's TAN WCS, and a
// forced-photometry catalog as CSV (object_id, ra, dec, tract, patch, <band>_cmodel_mag/_magerr,
// i_extendedness_value). Fluxes in the images are in the units of zeropoint 27; the catalog is
// in AB magnitudes. A truth table (ECSV) records what was put in.
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { CsvWriter, EcsvWriter, type FitsCardInput, writeFits } from "../formats/index.ts";
import { magToNanomaggies, nanomaggiesToMag } from "./physics.ts";
import { Rng } from "./random.ts";
import {
  addGalaxy,
  addStar,
  galaxyRadius,
  galaxyReach,
  makePsf,
  type Plane,
  type Psf,
  sersicStamp,
} from "./render.ts";
import { BAND_NAMES, type BandName } from "./sed.ts";
import { type Layout, PIXEL_SCALE, type SynthObject, type Tract, tractOf } from "./universe.ts";

export interface HscBand {
  band: BandName;
  /** HSC filter name, as in file names. */
  filter: string;
  /** Label stored in image_band. */
  label: string;
  /** Median seeing FWHM (arcsec). */
  psfFwhm: number;
  /** 5σ point-source depth (AB). */
  depth5: number;
  /** Sky brightness (AB mag/arcsec²). */
  sky: number;
}

export const HSC_BANDS: HscBand[] = [
  { band: "g", filter: "HSC-G", label: "hsc-g", psfFwhm: 0.78, depth5: 26.6, sky: 22.0 },
  { band: "r", filter: "HSC-R", label: "hsc-r", psfFwhm: 0.72, depth5: 26.2, sky: 21.2 },
  { band: "i", filter: "HSC-I", label: "hsc-i", psfFwhm: 0.62, depth5: 26.0, sky: 20.3 },
  { band: "z", filter: "HSC-Z", label: "hsc-z", psfFwhm: 0.66, depth5: 25.4, sky: 19.4 },
  { band: "y", filter: "HSC-Y", label: "hsc-y", psfFwhm: 0.7, depth5: 24.6, sky: 18.4 },
];

/** AB zeropoint of the image pixel values (HSC coadds: 27). */
export const IMAGE_ZEROPOINT = 27;
/** Pixel value per nanomaggy at that zeropoint. */
export const COUNTS_PER_NMGY = 10 ** (0.4 * (IMAGE_ZEROPOINT - 22.5));
/** Saturation level in nanomaggies per pixel (cores of stars brighter than i ≈ 16.5). */
const SATURATION_NMGY = 20;

/** HSC mask planes used here (bit numbers as in the pipeline's MP_* cards). */
export const MASK_PLANES = {
  BAD: 0,
  SAT: 1,
  INTRP: 2,
  CR: 3,
  EDGE: 4,
  DETECTED: 5,
  NO_DATA: 8,
} as const;

export interface ImagingOptions {
  /** Survey directory (tiles/, catalog/, truth/ go under it). */
  dir: string;
  seed: number;
  layout: Layout;
  objects: SynthObject[];
  /** Catalog holds objects with i brighter than this. */
  catalogLimit: number;
  /** Extra broken catalog rows (NaN position, bad dec, unparseable magnitude, off-footprint). */
  defects?: number;
  /** Called after each patch is written. */
  onPatch?: (done: number, total: number) => void;
}

export interface ImagingResult {
  catalogPath: string;
  truthPath: string;
  tiles: string[];
  catalogRows: number;
  defectRows: number;
  objectIds: Map<number, bigint>;
}

export function patchName(px: number, py: number): string {
  return `${px},${py}`;
}

export function tilePath(filter: string, tract: number, px: number, py: number): string {
  const p = patchName(px, py);
  return join("tiles", filter, String(tract), p, `calexp-${filter}-${tract}-${p}.fits`);
}

/** HSC-style object id: tract, patch and a running number packed into 64 bits. */
export function hscObjectId(tract: number, px: number, py: number, n: number): bigint {
  return (BigInt(tract) << 42n) | (BigInt(px * 100 + py) << 30n) | BigInt(n);
}

/** Sky noise per pixel (nanomaggies) that gives the band's 5σ point-source depth. */
function skySigma(band: HscBand, psf: Psf): number {
  const f5 = magToNanomaggies(band.depth5);
  const sigmaEff = Math.sqrt((1 - psf.wing) * psf.sigma1 ** 2 + psf.wing * psf.sigma2 ** 2);
  return f5 / 5 / Math.sqrt(4 * Math.PI * sigmaEff * sigmaEff);
}

interface PatchInfo {
  tract: Tract;
  px: number;
  py: number;
  /** Tract pixel of the patch's first pixel. */
  x0: number;
  y0: number;
}

function patches(layout: Layout): PatchInfo[] {
  const out: PatchInfo[] = [];
  for (let f = 0; f < layout.fields.length; f++) {
    const tract = tractOf(layout, f);
    for (let py = 0; py < layout.patchesPerSide; py++)
      for (let px = 0; px < layout.patchesPerSide; px++)
        out.push({ tract, px, py, x0: px * tract.step, y0: py * tract.step });
  }
  return out;
}

/** Which patch's inner region (overlaps split half-half) holds tract pixel (x, y)? */
function innerPatch(layout: Layout, t: Tract, x: number, y: number): [number, number] | null {
  if (!(x >= -0.5 && y >= -0.5 && x < t.size - 0.5 && y < t.size - 0.5)) return null;
  const half = layout.overlap / 2;
  const n = layout.patchesPerSide;
  const px = Math.min(n - 1, Math.max(0, Math.floor((x + 0.5 - half) / t.step)));
  const py = Math.min(n - 1, Math.max(0, Math.floor((y + 0.5 - half) / t.step)));
  return [px, py];
}

/** Writes the tiles, catalog and truth of the imaging survey. */
export async function writeImagingSurvey(opts: ImagingOptions): Promise<ImagingResult> {
  const { dir, layout, objects, seed } = opts;
  const list = patches(layout);
  const tiles: string[] = [];
  // Per-object render data shared by every patch and band.
  const inImages = objects.filter((o) => !o.outsideImaging);
  for (const [k, p] of list.entries()) {
    const rng = new Rng(seed, `patch-${p.tract.field.tract}-${p.px}-${p.py}`);
    const wcs = p.tract.wcs.shifted(p.x0, p.y0);
    const size = layout.patchPixels;
    // Objects whose light reaches the patch (PSF wings up to ~15 pixels for the worst seeing).
    const reachPsf = makePsf(1.2, PIXEL_SCALE);
    const placed = inImages
      .filter((o) => o.field === p.tract.fieldIndex)
      .map((o) => {
        const xy = wcs.skyToPixel0(o.ra, o.dec);
        const shape = { rePx: o.reArcsec / PIXEL_SCALE, n: o.sersicN, q: o.q, paDeg: o.paDeg };
        const R = o.kind === "galaxy" ? galaxyRadius(shape) : 0;
        return { o, xy, shape, R, reach: galaxyReach(R, reachPsf) };
      })
      .filter(
        ({ xy: [x, y], reach }) =>
          x + reach >= 0 && y + reach >= 0 && x - reach < size && y - reach < size,
      );
    // Unconvolved galaxy profiles: one per object per patch, the same in every band.
    const profiles = placed.map(({ o, xy: [x, y], shape, R }) => {
      if (o.kind !== "galaxy") return null;
      const cx = Math.round(x);
      const cy = Math.round(y);
      return { cx, cy, R, profile: sersicStamp(shape, x - cx, y - cy, R) };
    });
    for (const band of HSC_BANDS) {
      const brng = rng.fork(band.filter);
      const psf = makePsf(band.psfFwhm * Math.exp(0.07 * brng.normal()), PIXEL_SCALE);
      const model: Plane = { data: new Float32Array(size * size), width: size, height: size };
      for (const [i, { o, xy }] of placed.entries()) {
        const flux = magToNanomaggies(o.mag[band.band]);
        const prof = profiles[i];
        if (prof) addGalaxy(model, prof.cx, prof.cy, prof.profile, prof.R, flux, psf);
        else addStar(model, xy[0], xy[1], flux, psf);
      }
      await writeTile(join(dir, tilePath(band.filter, p.tract.field.tract, p.px, p.py)), {
        model,
        band,
        psf,
        rng: brng,
        wcsCards: wcs.toCards(),
        tract: p.tract.field.tract,
        patch: patchName(p.px, p.py),
      });
      tiles.push(tilePath(band.filter, p.tract.field.tract, p.px, p.py));
    }
    opts.onPatch?.(k + 1, list.length);
  }
  const cat = await writeCatalog(opts);
  return { ...cat, tiles };
}

interface TileInput {
  model: Plane;
  band: HscBand;
  psf: Psf;
  rng: Rng;
  wcsCards: FitsCardInput[];
  tract: number;
  patch: string;
}

async function writeTile(path: string, t: TileInput): Promise<void> {
  const { model, band, psf, rng } = t;
  const n = model.width * model.height;
  const sigma = skySigma(band, psf);
  // Poisson noise of the sources relative to the sky's: variance grows as model/skyLevel.
  const skyLevel = magToNanomaggies(band.sky) * PIXEL_SCALE * PIXEL_SCALE;
  const image = new Float32Array(n);
  const variance = new Float32Array(n);
  const mask = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const m = model.data[k];
    const v = sigma * sigma * (1 + Math.max(0, m) / skyLevel);
    let value = m + Math.sqrt(v) * rng.normal();
    let bits = 0;
    if (m > 2 * sigma) bits |= 1 << MASK_PLANES.DETECTED;
    if (value > SATURATION_NMGY) {
      value = SATURATION_NMGY;
      bits |= (1 << MASK_PLANES.SAT) | (1 << MASK_PLANES.INTRP);
    }
    image[k] = value;
    variance[k] = v;
    mask[k] = bits;
  }
  const w = model.width;
  // A bad column segment in some patches, interpolated over as the pipeline does.
  if (rng.chance(0.5)) {
    const x = rng.int(w);
    const y0 = rng.int(model.height);
    const y1 = Math.min(model.height, y0 + 20 + rng.int(200));
    for (let y = y0; y < y1; y++)
      mask[y * w + x] |= (1 << MASK_PLANES.BAD) | (1 << MASK_PLANES.INTRP);
  }
  // Cosmic-ray residuals: a few short bright streaks, flagged CR.
  for (let c = rng.poisson(1.5); c > 0; c--) {
    let x = rng.range(2, w - 2);
    let y = rng.range(2, model.height - 2);
    const angle = rng.range(0, Math.PI);
    for (let s = 0; s < 6 + rng.int(10); s++) {
      const xi = Math.round(x);
      const yi = Math.round(y);
      if (xi < 0 || yi < 0 || xi >= w || yi >= model.height) break;
      image[yi * w + xi] += 50 * sigma * rng.range(0.5, 1.5);
      mask[yi * w + xi] |= 1 << MASK_PLANES.CR;
      x += Math.cos(angle);
      y += Math.sin(angle);
    }
  }
  // Sometimes a corner without data (no input exposure covered it): NaN, as HSC writes it.
  if (rng.chance(0.25)) {
    const cw = 10 + rng.int(Math.floor(w / 5));
    const ch = 10 + rng.int(Math.floor(model.height / 5));
    const right = rng.chance(0.5);
    for (let y = model.height - ch; y < model.height; y++) {
      for (let x = right ? w - cw : 0; x < (right ? w : cw); x++) {
        image[y * w + x] = Number.NaN;
        variance[y * w + x] = Number.NaN;
        mask[y * w + x] = 1 << MASK_PLANES.NO_DATA;
      }
    }
  }
  for (let k = 0; k < n; k++) {
    image[k] *= COUNTS_PER_NMGY;
    variance[k] *= COUNTS_PER_NMGY * COUNTS_PER_NMGY;
  }
  const photo: FitsCardInput[] = [
    { keyword: "FILTER", value: band.filter, comment: "HSC filter" },
    { keyword: "MAGZERO", value: IMAGE_ZEROPOINT, kind: "float", comment: "AB mag of 1 count" },
    {
      keyword: "FLUXMAG0",
      value: 10 ** (0.4 * IMAGE_ZEROPOINT),
      kind: "float",
      comment: "counts of a mag-0 source",
    },
    {
      keyword: "PSFFWHM",
      value: Number(psf.fwhmArcsec.toFixed(4)),
      kind: "float",
      comment: "PSF FWHM (arcsec)",
    },
    { keyword: "TRACT", value: t.tract },
    { keyword: "PATCH", value: t.patch },
  ];
  const maskCards: FitsCardInput[] = Object.entries(MASK_PLANES).map(([name, bit]) => ({
    keyword: `MP_${name}`,
    value: bit,
    comment: "mask plane bit",
  }));
  await mkdir(dirname(path), { recursive: true });
  await writeFits(path, [
    {
      kind: "image",
      data: new Float32Array(0),
      shape: [0],
      cards: [
        { keyword: "TELESCOP", value: "Subaru" },
        { keyword: "INSTRUME", value: "Hyper Suprime-Cam (synthetic)" },
        ...photo,
      ],
    },
    {
      kind: "image",
      name: "IMAGE",
      data: image,
      shape: [model.height, w],
      cards: [...t.wcsCards, ...photo, { keyword: "BUNIT", value: "count" }],
    },
    {
      kind: "image",
      name: "MASK",
      data: mask,
      shape: [model.height, w],
      cards: [...t.wcsCards, ...maskCards],
    },
    {
      kind: "image",
      name: "VARIANCE",
      data: variance,
      shape: [model.height, w],
      cards: t.wcsCards,
    },
  ]);
}

const CATALOG_SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "tract", dtype: "int32", shape: [] },
  { name: "patch", dtype: "int32", shape: [] },
  ...BAND_NAMES.flatMap((b): ColumnSpec[] => [
    { name: `${b}_cmodel_mag`, dtype: "float32", shape: [], unit: "mag" },
    { name: `${b}_cmodel_magerr`, dtype: "float32", shape: [], unit: "mag" },
  ]),
  { name: "i_extendedness_value", dtype: "float32", shape: [] },
];

const TRUTH_SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "truth_index", dtype: "int32", shape: [] },
  { name: "kind", dtype: "string", shape: [] },
  { name: "ra_true", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec_true", dtype: "float64", shape: [], unit: "deg" },
  { name: "z_true", dtype: "float64", shape: [] },
  ...BAND_NAMES.map(
    (b): ColumnSpec => ({ name: `${b}_mag_true`, dtype: "float64", shape: [], unit: "mag" }),
  ),
  { name: "re_arcsec", dtype: "float64", shape: [], unit: "arcsec" },
  { name: "sersic_n", dtype: "float64", shape: [] },
  { name: "group", dtype: "int32", shape: [] },
  { name: "defect", dtype: "string", shape: [] },
];

async function writeCatalog(opts: ImagingOptions): Promise<Omit<ImagingResult, "tiles">> {
  const { dir, layout, objects, seed } = opts;
  const rng = new Rng(seed, "hsc-catalog");
  const rows: Array<{
    id: bigint;
    o: SynthObject | null;
    tract: number;
    patch: number;
    defect: string;
  }> = [];
  const counters = new Map<string, number>();
  const objectIds = new Map<number, bigint>();
  for (const o of objects) {
    if (o.outsideImaging || !(o.mag.i < opts.catalogLimit)) continue;
    const t = tractOf(layout, o.field);
    const [x, y] = t.wcs.skyToPixel0(o.ra, o.dec);
    const patch = innerPatch(layout, t, x, y);
    if (!patch) continue;
    const key = `${t.field.tract}-${patch[0]}-${patch[1]}`;
    const n = counters.get(key) ?? 0;
    counters.set(key, n + 1);
    const id = hscObjectId(t.field.tract, patch[0], patch[1], n);
    objectIds.set(o.index, id);
    rows.push({ id, o, tract: t.field.tract, patch: patch[0] * 100 + patch[1], defect: "" });
  }
  const defects = opts.defects ?? 0;
  const kinds = ["nan_ra", "bad_dec", "bad_mag", "off_footprint"];
  for (let d = 0; d < defects; d++) {
    const src = rows[rng.int(rows.length)];
    rows.push({
      id: hscObjectId(src.tract, 9, 9, d),
      o: src.o,
      tract: src.tract,
      patch: src.patch,
      defect: kinds[d % kinds.length],
    });
  }
  const catalogPath = join(dir, "catalog", "pdr3_dud_forced.csv");
  await mkdir(dirname(catalogPath), { recursive: true });
  // Written as text so a defect can put a non-number in a numeric column.
  const textSpecs = CATALOG_SPECS.map((s) => ({ ...s, dtype: "string" as const }));
  const csv = await CsvWriter.create(catalogPath, textSpecs);
  await mkdir(join(dir, "truth"), { recursive: true });
  const truth = await EcsvWriter.create(join(dir, "truth", "hsc_truth.ecsv"), TRUTH_SPECS, {
    meta: { description: "Synthetic HSC-like survey: true properties of catalog objects" },
  });
  const BATCH = 2048;
  for (let start = 0; start < rows.length; start += BATCH) {
    const part = rows.slice(start, start + BATCH);
    const cols: Record<string, string[]> = {};
    for (const s of CATALOG_SPECS) cols[s.name] = [];
    const tr: Record<string, unknown[]> = {};
    for (const s of TRUTH_SPECS) tr[s.name] = [];
    for (const r of part) {
      const o = r.o!;
      const mags: Record<string, string> = {};
      let snrI = 1;
      for (const band of HSC_BANDS) {
        const psfSigmaPx = band.psfFwhm / PIXEL_SCALE / 2.355;
        const f5 = magToNanomaggies(band.depth5);
        // Extended objects collect more sky noise: scale by their size relative to the PSF.
        const size = Math.sqrt(1 + (o.reArcsec / PIXEL_SCALE / psfSigmaPx) ** 2);
        const err = (f5 / 5) * size;
        const trueFlux = magToNanomaggies(o.mag[band.band]);
        if (band.band === "i") snrI = trueFlux / err;
        const flux = trueFlux + err * rng.normal();
        const mag = nanomaggiesToMag(flux);
        mags[`${band.band}_cmodel_mag`] = Number.isFinite(mag) ? mag.toFixed(4) : "";
        mags[`${band.band}_cmodel_magerr`] = flux > 0 ? ((1.0857 * err) / flux).toFixed(4) : "";
      }
      // Measured position: centroid noise ≈ FWHM / (2 S/N), 5 mas systematic floor.
      const sigPos = Math.min(0.2, 0.005 + 0.31 / Math.max(snrI, 1)) / 3600;
      let ra = o.ra + (sigPos * rng.normal()) / Math.cos((o.dec * Math.PI) / 180);
      let dec = o.dec + sigPos * rng.normal();
      cols.object_id.push(r.id.toString());
      const ext = o.kind === "galaxy" && o.reArcsec > 0.12 ? 1 : rng.chance(0.05) ? 1 : 0;
      if (r.defect === "nan_ra") ra = Number.NaN;
      if (r.defect === "bad_dec") dec = 95.5;
      if (r.defect === "bad_mag") mags.r_cmodel_mag = "n/a";
      if (r.defect === "off_footprint") {
        ra = (ra + 40) % 360;
      }
      cols.ra.push(Number.isNaN(ra) ? "nan" : ra.toFixed(9));
      cols.dec.push(dec.toFixed(9));
      cols.tract.push(String(r.tract));
      cols.patch.push(String(r.patch));
      for (const [k, v] of Object.entries(mags)) cols[k].push(v);
      cols.i_extendedness_value.push(String(ext));
      tr.object_id.push(r.id);
      tr.truth_index.push(o.index);
      tr.kind.push(o.kind);
      tr.ra_true.push(o.ra);
      tr.dec_true.push(o.dec);
      tr.z_true.push(o.z);
      for (const b of BAND_NAMES) tr[`${b}_mag_true`].push(o.mag[b]);
      tr.re_arcsec.push(o.reArcsec);
      tr.sersic_n.push(o.sersicN);
      tr.group.push(o.group);
      tr.defect.push(r.defect);
    }
    // Empty text is a missing value (a failed measurement), written as an empty field.
    const nulls: Record<string, Uint8Array> = {};
    for (const [name, values] of Object.entries(cols)) {
      if (values.some((v) => v === ""))
        nulls[name] = Uint8Array.from(values, (v) => (v === "" ? 1 : 0));
    }
    await csv.append(cols, nulls);
    await truth.append({
      object_id: BigInt64Array.from(tr.object_id as bigint[]),
      truth_index: Int32Array.from(tr.truth_index as number[]),
      kind: tr.kind as string[],
      ra_true: Float64Array.from(tr.ra_true as number[]),
      dec_true: Float64Array.from(tr.dec_true as number[]),
      z_true: Float64Array.from(tr.z_true as number[]),
      ...Object.fromEntries(
        BAND_NAMES.map((b) => [
          `${b}_mag_true`,
          Float64Array.from(tr[`${b}_mag_true`] as number[]),
        ]),
      ),
      re_arcsec: Float64Array.from(tr.re_arcsec as number[]),
      sersic_n: Float64Array.from(tr.sersic_n as number[]),
      group: Int32Array.from(tr.group as number[]),
      defect: tr.defect as string[],
    });
  }
  await csv.close();
  await truth.close();
  return {
    catalogPath,
    truthPath: join(dir, "truth", "hsc_truth.ecsv"),
    catalogRows: rows.length,
    defectRows: defects,
    objectIds,
  };
}
