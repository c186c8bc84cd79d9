// What a parent dataset config holds, for people and tools: sizes, partition pixels, and the sky
// it covers (the HEALPix order-12 cells, ~0.74 arcmin² each, that hold at least one object). The
// sizes come from the manifest; the coverage reads only the `_healpix_29` column, in blocks.
import { pix2ang } from "../sky/index.ts";
import type { Manifest } from "../storage/manifest.ts";
import type { Dataset } from "./dataset.ts";
import { Source } from "./source.ts";

/** HEALPix order of the cells the sky coverage counts (~0.74 arcmin² each). */
export const COVERAGE_ORDER = 12;
/** Above this many rows the coverage (a scan of the key column) is not computed: NaN. */
export const COVERAGE_MAX_ROWS = 5_000_000;

const SKY_DEG2 = 4 * Math.PI * (180 / Math.PI) ** 2;
const KEY_BLOCK_ROWS = 1 << 16;

export interface PixelSummary {
  /** Partition pixel (HEALPix NESTED, order 4 / nside 16). */
  pixel: number;
  /** Centre of the pixel (deg). */
  ra: number;
  dec: number;
  files: number;
  rows: number;
  bytes: number;
}

export interface DatasetSummary {
  /** Dataset directory. */
  root: string;
  name: string;
  config: string;
  survey: string;
  release?: string;
  rows: number;
  files: number;
  bytes: number;
  /** Partition pixels in ascending order, with their files, rows and bytes. */
  pixels: PixelSummary[];
  /**
   * Sky area covered (deg²): the area of the order-12 cells that hold at least one row. NaN
   * when the config has more than `coverageMaxRows` rows (the coverage was not computed).
   */
  areaDeg2: number;
}

export interface SummaryOptions {
  /** Config to summarise (needed with a path when the dataset has several). */
  config?: string;
  /** Largest config whose coverage is computed (default 5,000,000 rows); 0 never computes it. */
  coverageMaxRows?: number;
}

/** Rows, files and bytes per partition pixel of a config, from the manifest alone. */
export function pixelSummaries(manifest: Manifest, config: string): PixelSummary[] {
  const by = new Map<number, PixelSummary>();
  for (const f of manifest.files) {
    if (f.config !== config) continue;
    let p = by.get(f.pixel);
    if (!p) {
      const c = pix2ang(4, f.pixel);
      p = { pixel: f.pixel, ra: c.ra, dec: c.dec, files: 0, rows: 0, bytes: 0 };
      by.set(f.pixel, p);
    }
    p.files++;
    p.rows += f.rows;
    p.bytes += f.bytes;
  }
  return [...by.values()].sort((a, b) => a.pixel - b.pixel);
}

/**
 * Summarises one config of a parent dataset: given a path (with `config` when it has several),
 * or the parent behind an opened dataset or view (its config; filters play no part).
 */
export async function summarizeDataset(
  dataset: Dataset | string,
  options: SummaryOptions = {},
): Promise<DatasetSummary> {
  const source =
    typeof dataset === "string"
      ? await Source.open(dataset, options.config)
      : await Source.open(dataset.root, options.config ?? dataset.config);
  try {
    const { manifest, config } = source;
    const maxRows = options.coverageMaxRows ?? COVERAGE_MAX_ROWS;
    return {
      root: source.root,
      name: manifest.name,
      config,
      survey: manifest.provenance.survey,
      release: manifest.provenance.release,
      rows: source.rows,
      files: source.files.length,
      bytes: source.files.reduce((s, f) => s + f.bytes, 0),
      pixels: pixelSummaries(manifest, config),
      areaDeg2: source.rows > maxRows ? Number.NaN : await coverage(source),
    };
  } finally {
    source.close();
  }
}

/** Area (deg²) of the order-12 cells holding at least one row; reads `_healpix_29` in blocks. */
async function coverage(source: Source): Promise<number> {
  const cells = new Set<bigint>();
  const shift = BigInt(2 * (29 - COVERAGE_ORDER));
  for (let f = 0; f < source.files.length; f++) {
    const rows = source.files[f].rows;
    for (let at = 0; at < rows; at += KEY_BLOCK_ROWS) {
      const end = Math.min(rows, at + KEY_BLOCK_ROWS);
      const keys = (await source.readRange(f, ["_healpix_29"], at, end))
        ._healpix_29 as BigInt64Array;
      for (const k of keys) cells.add(k >> shift);
    }
  }
  return (cells.size * SKY_DEG2) / (12 * 4 ** COVERAGE_ORDER);
}
