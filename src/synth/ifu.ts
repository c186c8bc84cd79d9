// The synthetic IFU survey, written as MaNGA writes its data: per galaxy a LOGCUBE FITS file
// (FLUX, IVAR, MASK cubes [wavelength, y, x] in 1e-17 erg/(s cm² Å spaxel), WAVE, and a 1-D
// LSF sigma in Å), a MAPS file of derived quantities (stellar velocity, Hα flux, S/N), and a
// drpall-like ECSV catalog (MANGAID, PLATEIFU, OBJRA, OBJDEC, Z). Galaxies are the nearest bright
// ones of the synthetic sky; each spaxel sees the galaxy's SED weighted by its Sérsic profile
// (blurred by a 2.5" PSF), Doppler-shifted by a rotating disc, with noise.
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { EcsvWriter, writeFits } from "../formats/index.ts";
import { C_KMS } from "./physics.ts";
import { Rng } from "./random.ts";
import { sersicB } from "./render.ts";
import { observedSpectrum } from "./sed.ts";
import type { Layout, SynthObject } from "./universe.ts";

/** MaNGA's log-linear grid: log10 λ from 3.5589 in steps of 1e-4 (3622–10354 Å). */
export const IFU_LOG_START = 3.5589;
export const IFU_LOG_STEP = 1e-4;
export const IFU_PIXELS = 4563;
export const SPAXEL_ARCSEC = 0.5;
const PSF_FWHM = 2.5;

export function ifuWavelengths(): Float64Array {
  return Float64Array.from(
    { length: IFU_PIXELS },
    (_, k) => 10 ** (IFU_LOG_START + IFU_LOG_STEP * k),
  );
}

export interface IfuOptions {
  dir: string;
  seed: number;
  layout: Layout;
  objects: SynthObject[];
  cubes: number;
  spaxels: number;
}

export interface IfuResult {
  catalogPath: string;
  cubes: string[];
  maps: string[];
  plateifu: string[];
  truthIndex: number[];
}

export async function writeIfuSurvey(opts: IfuOptions): Promise<IfuResult> {
  const rng = new Rng(opts.seed, "manga");
  // The brightest galaxies: MaNGA targets big, bright, nearby galaxies.
  const targets = opts.objects
    .filter((o) => o.kind === "galaxy" && !o.outsideImaging)
    .sort((a, b) => a.mag.r - b.mag.r)
    .slice(0, opts.cubes);
  const lambda = ifuWavelengths();
  // MaNGA's resolution: R ≈ 2000, sigma ≈ λ / R / 2.355.
  const lsf = Float64Array.from(lambda, (l) => l / (1400 + 0.12 * (l - 3600)) / 2.355);
  const n = opts.spaxels;
  const L = IFU_PIXELS;
  const result: IfuResult = {
    catalogPath: join(opts.dir, "drpall-synthetic.ecsv"),
    cubes: [],
    maps: [],
    plateifu: [],
    truthIndex: [],
  };
  for (const [t, o] of targets.entries()) {
    const plateifu = `${8000 + t}-${n >= 32 ? 12701 : 1901}`;
    const flux = new Float32Array(L * n * n);
    const ivar = new Float32Array(L * n * n);
    const mask = new Int32Array(L * n * n);
    const vel = new Float32Array(n * n);
    const ha = new Float32Array(n * n);
    const snr = new Float32Array(n * n);
    const re = Math.max(o.reArcsec, 1);
    const reBlur = Math.sqrt(re * re + (PSF_FWHM / 2.355) ** 2);
    const bn = sersicB(Math.max(o.sersicN, 0.5));
    const pa = (o.paDeg * Math.PI) / 180;
    const incl = Math.acos(Math.min(1, Math.max(0.2, o.q)));
    const vmax = o.sed.kind === "blue" ? rng.range(120, 220) : rng.range(40, 100);
    // Weights of each spaxel: the profile, normalised so the cube holds the galaxy's light.
    const weights = new Float64Array(n * n);
    let wsum = 0;
    for (let y = 0; y < n; y++)
      for (let x = 0; x < n; x++) {
        const dx = (x - (n - 1) / 2) * SPAXEL_ARCSEC;
        const dy = (y - (n - 1) / 2) * SPAXEL_ARCSEC;
        const major = -dx * Math.sin(pa) + dy * Math.cos(pa);
        const minor = (-dx * Math.cos(pa) - dy * Math.sin(pa)) / Math.max(o.q, 0.2);
        const r = Math.hypot(major, minor) / reBlur;
        const w = Math.exp(-bn * (r ** (1 / Math.max(o.sersicN, 0.5)) - 1));
        weights[y * n + x] = w;
        wsum += w;
        // Rotating disc: line-of-sight velocity along the major axis.
        const rr = Math.hypot(major, minor);
        vel[y * n + x] = rr > 0 ? vmax * Math.tanh(rr / re) * Math.sin(incl) * (major / rr) : 0;
      }
    for (let s = 0; s < n * n; s++) {
      const w = weights[s] / wsum;
      const zs = (1 + o.z) * (1 + vel[s] / C_KMS) - 1;
      const model = observedSpectrum(o.sed, zs, o.amplitude * w, lambda, lsf);
      const line = o.sed.emission.find((e) => e.name === "Halpha");
      ha[s] = line ? line.ew * o.amplitude * w : 0;
      let signal = 0;
      let noise = 0;
      for (let k = 0; k < L; k++) {
        const sigma = 0.02 + 0.02 * Math.sqrt(Math.max(0, model[k]));
        const at = k * n * n + s;
        flux[at] = model[k] + sigma * rng.normal();
        ivar[at] = 1 / (sigma * sigma);
        signal += model[k];
        noise += sigma;
      }
      snr[s] = signal / noise;
      // Spaxels beyond the hexagonal bundle: no fibre covered them.
      const dx = (s % n) - (n - 1) / 2;
      const dy = Math.floor(s / n) - (n - 1) / 2;
      if (Math.hypot(dx, dy) > (n - 1) / 2) {
        for (let k = 0; k < L; k++) {
          const at = k * n * n + s;
          flux[at] = 0;
          ivar[at] = 0;
          mask[at] = 1 << 0; // NOCOV
        }
        vel[s] = 0;
        ha[s] = 0;
        snr[s] = 0;
      }
    }
    const cubePath = join(opts.dir, "cubes", `manga-${plateifu}-LOGCUBE.fits`);
    await mkdir(dirname(cubePath), { recursive: true });
    const unit = { keyword: "BUNIT", value: "1E-17 erg/s/cm^2/Ang/spaxel" };
    await writeFits(cubePath, [
      {
        kind: "image",
        data: new Float32Array(0),
        shape: [0],
        cards: [
          { keyword: "PLATEIFU", value: plateifu },
          { keyword: "OBJRA", value: o.ra, kind: "float" },
          { keyword: "OBJDEC", value: o.dec, kind: "float" },
          { keyword: "SPAXSIZE", value: SPAXEL_ARCSEC, kind: "float", comment: "arcsec" },
        ],
      },
      { kind: "image", name: "FLUX", data: flux, shape: [L, n, n], cards: [unit] },
      { kind: "image", name: "IVAR", data: ivar, shape: [L, n, n] },
      { kind: "image", name: "MASK", data: mask, shape: [L, n, n] },
      {
        kind: "image",
        name: "WAVE",
        data: lambda,
        shape: [L],
        cards: [{ keyword: "BUNIT", value: "Angstrom" }],
      },
      {
        kind: "image",
        name: "LSFSIG",
        data: Float32Array.from(lsf),
        shape: [L],
        cards: [{ keyword: "BUNIT", value: "Angstrom" }],
      },
    ]);
    const mapsPath = join(opts.dir, "maps", `manga-${plateifu}-MAPS.fits`);
    await mkdir(dirname(mapsPath), { recursive: true });
    await writeFits(mapsPath, [
      {
        kind: "image",
        data: new Float32Array(0),
        shape: [0],
        cards: [{ keyword: "PLATEIFU", value: plateifu }],
      },
      {
        kind: "image",
        name: "STELLAR_VEL",
        data: vel,
        shape: [n, n],
        cards: [{ keyword: "BUNIT", value: "km/s" }],
      },
      {
        kind: "image",
        name: "HA_FLUX",
        data: ha,
        shape: [n, n],
        cards: [{ keyword: "BUNIT", value: "1E-17 erg/s/cm^2/spaxel" }],
      },
      { kind: "image", name: "SPX_SNR", data: snr, shape: [n, n] },
    ]);
    result.cubes.push(cubePath);
    result.maps.push(mapsPath);
    result.plateifu.push(plateifu);
    result.truthIndex.push(o.index);
  }
  const specs: ColumnSpec[] = [
    { name: "MANGAID", dtype: "string", shape: [] },
    { name: "PLATEIFU", dtype: "string", shape: [] },
    { name: "OBJRA", dtype: "float64", shape: [], unit: "deg" },
    { name: "OBJDEC", dtype: "float64", shape: [], unit: "deg" },
    { name: "Z", dtype: "float64", shape: [] },
    { name: "TRUTH_INDEX", dtype: "int32", shape: [] },
  ];
  await mkdir(opts.dir, { recursive: true });
  const w = await EcsvWriter.create(result.catalogPath, specs, {
    meta: {
      description: "Synthetic MaNGA-like drpall catalog; TRUTH_INDEX is the simulation's truth",
    },
  });
  await w.append({
    MANGAID: targets.map((_, t) => `1-${100000 + t}`),
    PLATEIFU: result.plateifu,
    OBJRA: Float64Array.from(targets, (o) => o.ra),
    OBJDEC: Float64Array.from(targets, (o) => o.dec),
    Z: Float64Array.from(targets, (o) => o.z),
    TRUTH_INDEX: Int32Array.from(targets, (o) => o.index),
  });
  await w.close();
  return result;
}
