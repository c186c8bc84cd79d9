/**
 * Synthetic surveys: deterministic from a seed, written as raw source files (FITS tiles, CSV and
 * ECSV catalogs, FITS spectra and cubes) so the builders run on them end to end.
 *
 * ```text
 * <dir>/hsc/    tiles/<filter>/<tract>/<px,py>/calexp-*.fits, catalog/*.csv, truth/*.ecsv
 * <dir>/desi/   spectra/main/dark/<pixel>/coadd-*.fits, zcatalog/*.ecsv
 * <dir>/manga/  cubes/manga-*-LOGCUBE.fits, maps/manga-*-MAPS.fits, drpall.ecsv
 * ```
 *
 * @module astropile/synth
 */
import { join } from "node:path";
import { type IfuResult, writeIfuSurvey } from "./ifu.ts";
import { type ImagingResult, writeImagingSurvey } from "./imaging.ts";
import { type SpectroResult, writeSpectroSurvey } from "./spectro.ts";
import { FIELDS, generateUniverse, type Layout, type PopulationOptions } from "./universe.ts";

export { HSC_BANDS, IMAGE_ZEROPOINT, MASK_PLANES } from "./imaging.ts";
export { Rng } from "./random.ts";
export { WAVE_PIXELS } from "./spectro.ts";
export { FIELDS, PIXEL_SCALE } from "./universe.ts";

export type SynthSize = "tiny" | "small" | "medium" | "large";

export interface SynthPreset {
  layout: Layout;
  population: PopulationOptions;
  /** Imaging catalog limit (i, AB). */
  catalogLimit: number;
  /** Spectroscopic galaxy targets: r brighter than this. */
  spectroLimitR: number;
  outsideFraction: number;
  /** IFU cubes to write, and their size in spaxels. */
  ifuCubes: number;
  ifuSpaxels: number;
}

const POPULATION: PopulationOptions = {
  galaxyDensity: 55,
  groupDensity: 0.6,
  groupRichness: 15,
  starDensity: 1.5,
  renderLimit: 26,
};

/** Sizes: objects in the imaging catalog ≈ 60 (tiny), 1,000 (small), 6,000 (medium), 24,000 (large). */
export const PRESETS: Record<SynthSize, SynthPreset> = {
  tiny: {
    layout: { fields: FIELDS.slice(0, 2), patchesPerSide: 2, patchPixels: 200, overlap: 24 },
    population: { ...POPULATION, galaxyDensity: 90 },
    catalogLimit: 25,
    spectroLimitR: 23.5,
    outsideFraction: 0.2,
    ifuCubes: 2,
    ifuSpaxels: 11,
  },
  small: {
    layout: { fields: FIELDS.slice(0, 3), patchesPerSide: 2, patchPixels: 512, overlap: 32 },
    population: POPULATION,
    catalogLimit: 25,
    spectroLimitR: 23,
    outsideFraction: 0.15,
    ifuCubes: 4,
    ifuSpaxels: 32,
  },
  medium: {
    layout: { fields: FIELDS, patchesPerSide: 3, patchPixels: 640, overlap: 40 },
    population: POPULATION,
    catalogLimit: 25,
    spectroLimitR: 23,
    outsideFraction: 0.15,
    ifuCubes: 8,
    ifuSpaxels: 32,
  },
  large: {
    layout: { fields: FIELDS, patchesPerSide: 6, patchPixels: 640, overlap: 40 },
    population: POPULATION,
    catalogLimit: 25,
    spectroLimitR: 23,
    outsideFraction: 0.15,
    ifuCubes: 16,
    ifuSpaxels: 32,
  },
};

export interface SynthOptions {
  /** Output directory; the surveys go to hsc/, desi/ and manga/ under it. */
  dir: string;
  size?: SynthSize;
  seed?: number;
  /** Deliberately broken catalog rows per survey, to exercise validation (default 0). */
  defects?: number;
  /** Surveys to write; default hsc and desi (manga, the IFU cubes, only when asked). */
  surveys?: Array<"hsc" | "desi" | "manga">;
  /** Called as each survey's files are written: which survey, files done of total, and a line. */
  onProgress?: (p: SynthProgress) => void;
}

export interface SynthProgress {
  survey: "hsc" | "desi";
  /** hsc: patches (5 band tiles each); desi: spectra files. */
  done: number;
  total: number;
  message: string;
}

export interface SynthResult {
  dir: string;
  seed: number;
  size: SynthSize;
  objects: number;
  hsc?: ImagingResult;
  desi?: SpectroResult;
  manga?: IfuResult;
}

export const DEFAULT_SEED = 20261122;

/** Writes the synthetic surveys. The same seed and size always give the same files' content. */
export async function generateSurveys(options: SynthOptions): Promise<SynthResult> {
  const size = options.size ?? "small";
  const seed = options.seed ?? DEFAULT_SEED;
  const preset = PRESETS[size];
  const surveys = new Set(options.surveys ?? ["hsc", "desi"]);
  const objects = generateUniverse(seed, preset.layout, preset.population);
  const result: SynthResult = { dir: options.dir, seed, size, objects: objects.length };
  const say = options.onProgress ?? (() => {});
  if (surveys.has("hsc")) {
    result.hsc = await writeImagingSurvey({
      dir: join(options.dir, "hsc"),
      seed,
      layout: preset.layout,
      objects,
      catalogLimit: preset.catalogLimit,
      defects: options.defects,
      onPatch: (done, total) =>
        say({ survey: "hsc", done, total, message: `imaging: patch ${done}/${total} (5 bands)` }),
    });
  }
  if (surveys.has("desi")) {
    result.desi = await writeSpectroSurvey({
      dir: join(options.dir, "desi"),
      seed,
      layout: preset.layout,
      objects,
      limitR: preset.spectroLimitR,
      outsideFraction: preset.outsideFraction,
      defects: options.defects,
      onFile: (done, total) =>
        say({ survey: "desi", done, total, message: `spectra: file ${done}/${total}` }),
    });
  }
  if (surveys.has("manga")) {
    result.manga = await writeIfuSurvey({
      dir: join(options.dir, "manga"),
      seed,
      layout: preset.layout,
      objects,
      cubes: preset.ifuCubes,
      spaxels: preset.ifuSpaxels,
    });
  }
  return result;
}
