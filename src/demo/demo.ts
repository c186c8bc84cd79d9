// The demo: a synthetic sky written as raw survey files (src/synth), then built into two parent
// datasets (an HSC-like imaging survey and a DESI-like spectroscopic one) with the ordinary
// builder and the built-in specs, and summarised. `astropile demo` is this function plus text.
//
//   <out>/sources/{hsc,desi}   raw FITS, CSV and ECSV files (reused when synth.json says they
//                              were generated with the same size and seed)
//   <out>/hsc, <out>/desi      the parent datasets (a re-run finds them built: "unchanged")
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type BuildProgress, type BuildResult, build } from "../build/runner.ts";
import { writeJsonAtomic } from "../build/state.ts";
import { UsageError } from "../core/errors.ts";
import { type DatasetSummary, summarizeDataset } from "../dataset/summary.ts";
import {
  DEFAULT_SEED,
  generateSurveys,
  PRESETS,
  type SynthProgress,
  type SynthSize,
} from "../synth/index.ts";
import { builtinSpec } from "./specs.ts";

/** The datasets the demo builds, in this order. */
export const DEMO_DATASETS = ["hsc", "desi"] as const;
export type DemoDatasetKey = (typeof DEMO_DATASETS)[number];

/** Name of the marker written next to the generated sources. */
export const SOURCES_MARKER = "synth.json";
const MARKER_VERSION = 1;

export interface DemoOptions {
  /** Directory for the sources and the datasets (created). */
  out: string;
  /** Size of the synthetic sky (default "small": ~1,100 images, ~400 spectra). */
  size?: SynthSize;
  /** Seed of the synthetic sky (default 20261122); the same seed gives the same files. */
  seed?: number;
  /** Image stamp size in pixels, 8..512 (default 64; 0.168 arcsec per pixel). */
  stampSize?: number;
  /** Worker threads of each build (default: the builder's). */
  workers?: number;
  /** Memory budget of each build in bytes (default: the builder's, 512 MiB). */
  memoryBytes?: number;
  /** Progress of the source generation, then of each build. */
  onProgress?: (p: DemoProgress) => void;
  /** One-line messages of the builds, prefixed with the dataset key. */
  log?: (line: string) => void;
}

export type DemoProgress =
  | ({ stage: "sources" } & SynthProgress)
  | { stage: "build"; dataset: DemoDatasetKey; progress: BuildProgress };

export interface DemoSources {
  /** Directory of the sources (`<out>/sources`). */
  dir: string;
  size: SynthSize;
  seed: number;
  /** True when the sources of an earlier run (same size and seed) were reused. */
  reused: boolean;
  /** Seconds the generation took (when reused: the earlier run's). */
  seconds: number;
  /** Objects in the imaging catalog. */
  catalogRows: number;
  /** FITS tiles written (patches x 5 bands). */
  tiles: number;
  /** Spectroscopic targets. */
  targets: number;
  spectraFiles: number;
  /** Layout of the imaging survey: fields, patches per side of a field, pixels per patch side. */
  fields: number;
  patchesPerSide: number;
  patchPixels: number;
}

export interface DemoDataset {
  key: DemoDatasetKey;
  /** The dataset directory (`<out>/<key>`). */
  dir: string;
  /** The build's manifest, report and report path. */
  build: BuildResult;
  /** Rows, files, bytes per pixel and sky coverage of what was built. */
  summary: DatasetSummary;
}

export interface DemoResult {
  /** The demo directory, absolute. */
  out: string;
  size: SynthSize;
  seed: number;
  stampSize: number;
  /** Seconds for the whole run. */
  seconds: number;
  sources: DemoSources;
  datasets: DemoDataset[];
}

type SourcesMarker = Omit<DemoSources, "dir" | "reused"> & { version: number };

function checkOptions(options: DemoOptions): Required<Pick<DemoOptions, "size" | "seed">> & {
  stampSize: number;
} {
  const size = options.size ?? "small";
  if (!Object.hasOwn(PRESETS, size))
    throw new UsageError(`demo size must be one of ${Object.keys(PRESETS).join(", ")}: "${size}"`);
  const seed = options.seed ?? DEFAULT_SEED;
  if (!(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32))
    throw new UsageError(`demo seed ${seed} must be an integer in [0, 2^32)`);
  const stampSize = options.stampSize ?? 64;
  if (!(Number.isInteger(stampSize) && stampSize >= 8 && stampSize <= 512))
    throw new UsageError(`demo stampSize ${stampSize} must be an integer in [8, 512] (pixels)`);
  return { size, seed, stampSize };
}

/** Reuses the sources when their marker says the same size and seed, else writes them. */
async function demoSources(
  dir: string,
  size: SynthSize,
  seed: number,
  onProgress: DemoOptions["onProgress"],
): Promise<DemoSources> {
  const markerPath = join(dir, SOURCES_MARKER);
  try {
    const m = JSON.parse(await readFile(markerPath, "utf8")) as Partial<SourcesMarker>;
    if (m.size === size && m.seed === seed && m.version === MARKER_VERSION) {
      const { version: _, ...rest } = m as SourcesMarker;
      return { ...rest, dir, reused: true };
    }
  } catch {
    // No marker (or not ours): generate.
  }
  const t0 = performance.now();
  const r = await generateSurveys({
    dir,
    size,
    seed,
    onProgress: onProgress && ((p) => onProgress({ stage: "sources", ...p })),
  });
  const layout = PRESETS[size].layout;
  const marker: SourcesMarker = {
    size,
    seed,
    version: MARKER_VERSION,
    seconds: (performance.now() - t0) / 1000,
    catalogRows: r.hsc?.catalogRows ?? 0,
    tiles: r.hsc?.tiles.length ?? 0,
    targets: r.desi?.targets.length ?? 0,
    spectraFiles: r.desi?.spectraFiles.length ?? 0,
    fields: layout.fields.length,
    patchesPerSide: layout.patchesPerSide,
    patchPixels: layout.patchPixels,
  };
  // Written last: sources interrupted half-way have no marker and are generated again.
  await writeJsonAtomic(markerPath, marker);
  const { version: _, ...rest } = marker;
  return { ...rest, dir, reused: false };
}

/**
 * Generates the synthetic sources (or reuses them), builds the hsc and desi parent datasets
 * under `out` (a finished build is found unchanged) and summarises them. Resumable like the
 * builder: killed at any point, the same call finishes the job.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { size, seed, stampSize } = checkOptions(options);
  const out = resolve(options.out);
  const t0 = performance.now();
  const sources = await demoSources(join(out, "sources"), size, seed, options.onProgress);
  const datasets: DemoDataset[] = [];
  for (const key of DEMO_DATASETS) {
    const spec = builtinSpec(key, join(sources.dir, key), { stampSize });
    const dir = join(out, key);
    const log = options.log;
    const onProgress = options.onProgress;
    const result = await build(spec, {
      out: dir,
      workers: options.workers,
      memoryBytes: options.memoryBytes,
      onProgress:
        onProgress && ((progress) => onProgress({ stage: "build", dataset: key, progress })),
      log: log && ((line) => log(`[${key}] ${line}`)),
    });
    datasets.push({
      key,
      dir,
      build: result,
      summary: await summarizeDataset(dir, { config: spec.config }),
    });
  }
  return {
    out,
    size,
    seed,
    stampSize,
    seconds: (performance.now() - t0) / 1000,
    sources,
    datasets,
  };
}
