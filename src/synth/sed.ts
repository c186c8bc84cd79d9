// Spectral energy distributions of synthetic objects and what the surveys see of them: AB
// magnitudes through HSC-like bandpasses, and observed spectra at a redshift and resolution.
// One SED per object feeds both, so a spectrum's synthetic photometry agrees with the imaging
// catalog of the same object, as it does for real data.
//
// Templates (rest frame, λ in Å, f_λ in arbitrary units ≈ 1 at 5500 Å):
//   red   early-type galaxy: cool Planck continuum, 4000 Å break, metal and Balmer absorption;
//   blue  star-forming galaxy: blue power law, weak break, nebular emission lines;
//   star  Planck continuum at the star's temperature with Balmer / metal absorption.
import { C_AS, C_KMS } from "./physics.ts";
import type { Rng } from "./random.ts";

export type SedKind = "red" | "blue" | "star";

export interface Line {
  /** Rest wavelength (Å, air-ish, as catalogs list them). */
  lambda: number;
  name: string;
}

export interface EmissionLine extends Line {
  /** Rest-frame equivalent width (Å, positive for emission). */
  ew: number;
}

export interface AbsorptionLine extends Line {
  /** Fractional depth at the centre before broadening. */
  depth: number;
  /** Intrinsic Gaussian sigma (Å, rest). */
  sigma: number;
}

export interface Sed {
  kind: SedKind;
  /** Planck temperature (K) of the continuum (red galaxies and stars). */
  temperature: number;
  /** Blue galaxies: f_λ ∝ λ^-slope. */
  slope: number;
  /** Fractional drop of the continuum blueward of 4000 Å. */
  breakDepth: number;
  emission: EmissionLine[];
  absorption: AbsorptionLine[];
  /** Line-of-sight velocity dispersion (km/s) broadening every line. */
  sigmaKms: number;
}

export const BAND_NAMES = ["g", "r", "i", "z", "y"] as const;
export type BandName = (typeof BAND_NAMES)[number];

/** HSC-like bandpasses as smooth-edged windows [lo, hi] (Å); edge width 40 Å. */
const BANDPASS: Record<BandName, [number, number]> = {
  g: [3950, 5500],
  r: [5450, 7050],
  i: [6950, 8500],
  z: [8500, 9300],
  y: [9350, 10600],
};
const EDGE = 40;

function logistic(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

export function transmission(band: BandName, lambda: number): number {
  const [lo, hi] = BANDPASS[band];
  return logistic((lambda - lo) / EDGE) * logistic((hi - lambda) / EDGE);
}

/** Planck f_λ normalised to 1 at 5500 Å (hc/k = 1.4388e8 Å K). */
function planck(lambda: number, t: number): number {
  const x = 1.4388e8 / (lambda * t);
  const x0 = 1.4388e8 / (5500 * t);
  return ((5500 / lambda) ** 5 * Math.expm1(x0)) / Math.expm1(x);
}

export function continuumRest(sed: Sed, lambda: number): number {
  const brk = 1 - sed.breakDepth * logistic((4000 - lambda) / 40);
  switch (sed.kind) {
    case "red": {
      // Old stars have little flux below 3000 Å.
      const uv = 1 - 0.4 * logistic((3000 - lambda) / 150);
      return planck(lambda, sed.temperature) * brk * uv;
    }
    case "blue":
      return (lambda / 5500) ** -sed.slope * brk;
    case "star":
      return planck(lambda, sed.temperature) * brk;
  }
}

const EMISSION_LINES: Array<[string, number, number]> = [
  // name, rest λ (Å), typical rest EW (Å) in a star-forming galaxy
  ["[OII]3726", 3726.03, 14],
  ["[OII]3729", 3728.82, 18],
  ["Hdelta", 4101.74, 3],
  ["Hgamma", 4340.47, 6],
  ["Hbeta", 4861.33, 14],
  ["[OIII]4959", 4958.91, 7],
  ["[OIII]5007", 5006.84, 21],
  ["[NII]6548", 6548.05, 7],
  ["Halpha", 6562.8, 60],
  ["[NII]6584", 6583.45, 21],
  ["[SII]6717", 6716.44, 9],
  ["[SII]6731", 6730.82, 7],
];

const GALAXY_ABSORPTION: Array<[string, number, number, number]> = [
  // name, rest λ, depth, sigma (Å)
  ["CaII K", 3933.66, 0.35, 6],
  ["CaII H", 3968.47, 0.3, 6],
  ["Hdelta", 4101.74, 0.08, 5],
  ["G band", 4304.4, 0.15, 9],
  ["Hbeta", 4861.33, 0.06, 5],
  ["Mg b", 5175.4, 0.15, 10],
  ["Fe5270", 5270.0, 0.06, 8],
  ["Na D", 5892.9, 0.1, 6],
  ["Halpha", 6562.8, 0.04, 6],
];

const BALMER: Array<[string, number]> = [
  ["Hepsilon", 3970.07],
  ["Hdelta", 4101.74],
  ["Hgamma", 4340.47],
  ["Hbeta", 4861.33],
  ["Halpha", 6562.8],
];

export function redGalaxySed(rng: Rng): Sed {
  return {
    kind: "red",
    temperature: rng.range(5000, 5600),
    slope: 0,
    breakDepth: rng.range(0.4, 0.5),
    emission: [],
    absorption: GALAXY_ABSORPTION.map(([name, lambda, depth, sigma]) => ({
      name,
      lambda,
      depth: depth * rng.range(0.8, 1.2),
      sigma,
    })),
    sigmaKms: rng.range(150, 260),
  };
}

export function blueGalaxySed(rng: Rng): Sed {
  // Line strengths scale together (star-formation rate), with a little scatter per line.
  const strength = Math.exp(rng.normal() * 0.5);
  return {
    kind: "blue",
    temperature: 0,
    slope: rng.range(0.2, 1.2),
    breakDepth: rng.range(0.05, 0.2),
    emission: EMISSION_LINES.map(([name, lambda, ew]) => ({
      name,
      lambda,
      ew: ew * strength * Math.exp(rng.normal() * 0.15),
    })),
    absorption: BALMER.slice(1, 4).map(([name, lambda]) => ({
      name,
      lambda,
      depth: 0.05,
      sigma: 8,
    })),
    sigmaKms: rng.range(50, 110),
  };
}

export function starSed(temperature: number): Sed {
  // Balmer lines are strongest near 9500 K; metal lines (Ca, Mg, Na) in cool stars.
  const balmer = 0.45 * Math.exp(-(((temperature - 9500) / 2500) ** 2));
  const metal = temperature < 6500 ? 0.35 * Math.min(1, (6500 - temperature) / 2000) : 0;
  const absorption: AbsorptionLine[] = BALMER.map(([name, lambda]) => ({
    name,
    lambda,
    depth: balmer,
    sigma: 12,
  }));
  if (metal > 0) {
    absorption.push(
      { name: "CaII K", lambda: 3933.66, depth: metal, sigma: 5 },
      { name: "CaII H", lambda: 3968.47, depth: metal * 0.9, sigma: 5 },
      { name: "Mg b", lambda: 5175.4, depth: metal * 0.6, sigma: 6 },
      { name: "Na D", lambda: 5892.9, depth: metal * 0.7, sigma: 4 },
    );
  }
  return {
    kind: "star",
    temperature,
    slope: 0,
    breakDepth: temperature < 7000 ? 0.3 : 0.15,
    emission: [],
    absorption,
    sigmaKms: 10,
  };
}

const GRID_LO = 3000;
const GRID_HI = 11200;
const GRID_STEP = 10;
/** Integration grid and each band's transmission on it, computed once. */
const GRID = Float64Array.from(
  { length: (GRID_HI - GRID_LO) / GRID_STEP + 1 },
  (_, k) => GRID_LO + k * GRID_STEP,
);
const GRID_T = BAND_NAMES.map((b) => Float64Array.from(GRID, (l) => transmission(b, l)));
const GRID_DEN = GRID_T.map((t) => t.reduce((sum, tk, k) => sum + tk / GRID[k], 0));

/**
 * AB magnitudes through each band of the SED at redshift z for amplitude 1, where amplitude
 * multiplies the observed f_λ in units of 1e-17 erg/(s cm² Å). Continuum on a 10 Å grid,
 * emission lines added as their integrated flux.
 */
export function unitMagnitudes(sed: Sed, z: number): Record<BandName, number> {
  const num = new Float64Array(BAND_NAMES.length);
  for (let k = 0; k < GRID.length; k++) {
    const lambda = GRID[k];
    // ∫ f_ν T dλ/λ with f_ν = f_λ λ²/c.
    const f = (continuumRest(sed, lambda / (1 + z)) * lambda) / C_AS;
    for (let b = 0; b < num.length; b++) num[b] += f * GRID_T[b][k];
  }
  for (const line of sed.emission) {
    const lobs = line.lambda * (1 + z);
    const flux = (line.ew * continuumRest(sed, line.lambda) * (1 + z)) / GRID_STEP;
    for (let b = 0; b < num.length; b++)
      num[b] += ((flux * lobs) / C_AS) * transmission(BAND_NAMES[b], lobs);
  }
  const out = {} as Record<BandName, number>;
  BAND_NAMES.forEach((band, b) => {
    out[band] = -2.5 * Math.log10((num[b] / GRID_DEN[b]) * 1e-17) - 48.6;
  });
  return out;
}

/** Amplitude that gives the SED magnitude `mag` in `band` at redshift z. */
export function amplitudeFor(sed: Sed, z: number, band: BandName, mag: number): number {
  return 10 ** (-0.4 * (mag - unitMagnitudes(sed, z)[band]));
}

/**
 * Observed f_λ (1e-17 erg/(s cm² Å)) at wavelengths `lambda` (Å), each line broadened by the
 * object's velocity dispersion and the instrument's Gaussian LSF `lsfSigma` (Å, per pixel).
 */
export function observedSpectrum(
  sed: Sed,
  z: number,
  amplitude: number,
  lambda: Float64Array,
  lsfSigma: Float64Array,
): Float64Array {
  const n = lambda.length;
  const out = new Float64Array(n);
  const zf = 1 + z;
  for (let k = 0; k < n; k++) out[k] = continuumRest(sed, lambda[k] / zf);
  // Absorption: dips that keep their equivalent width when broadened.
  const absorb = new Float64Array(n).fill(1);
  for (const line of sed.absorption) {
    const lobs = line.lambda * zf;
    const sIntr = line.sigma * zf;
    const sVel = (lobs * sed.sigmaKms) / C_KMS;
    addProfile(lambda, lsfSigma, lobs, sIntr * sIntr + sVel * sVel, (s) => {
      const depth = (line.depth * sIntr) / s;
      return (k: number, g: number) => {
        absorb[k] *= 1 - depth * g;
      };
    });
  }
  for (let k = 0; k < n; k++) out[k] *= absorb[k];
  for (const line of sed.emission) {
    const lobs = line.lambda * zf;
    const sVel = (lobs * sed.sigmaKms) / C_KMS;
    const flux = line.ew * continuumRest(sed, line.lambda) * zf;
    addProfile(lambda, lsfSigma, lobs, sVel * sVel, (s) => {
      const peak = flux / (Math.sqrt(2 * Math.PI) * s);
      return (k: number, g: number) => {
        out[k] += peak * g;
      };
    });
  }
  for (let k = 0; k < n; k++) out[k] *= amplitude;
  return out;
}

/**
 * Calls apply(k, g) for pixels within 5σ of `centre`, g the unit-peak Gaussian; σ² is the
 * intrinsic variance plus the LSF variance at the centre.
 */
function addProfile(
  lambda: Float64Array,
  lsfSigma: Float64Array,
  centre: number,
  intrinsicVar: number,
  make: (sigma: number) => (k: number, g: number) => void,
): void {
  const n = lambda.length;
  if (centre < lambda[0] - 50 || centre > lambda[n - 1] + 50) return;
  let at = lowerBound(lambda, centre);
  at = Math.min(Math.max(at, 0), n - 1);
  const lsf = lsfSigma[at];
  const sigma = Math.sqrt(intrinsicVar + lsf * lsf);
  const apply = make(sigma);
  const lo = lowerBound(lambda, centre - 5 * sigma);
  const hi = lowerBound(lambda, centre + 5 * sigma);
  for (let k = Math.max(0, lo); k < Math.min(n, hi + 1); k++) {
    const d = (lambda[k] - centre) / sigma;
    apply(k, Math.exp(-0.5 * d * d));
  }
}

function lowerBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
