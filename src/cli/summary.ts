// Summaries of a built dataset for the CLI: sizes, partition pixels, and the sky it covers
// (the HEALPix order-12 cells, ~0.74 arcmin² each, that hold at least one object).
import { join } from "node:path";
import { pix2ang } from "../sky/index.ts";
import type { Manifest } from "../storage/manifest.ts";
import { PartitionFile } from "../storage/partition-file.ts";

const COVER_ORDER = 12;
const SKY_DEG2 = 4 * Math.PI * (180 / Math.PI) ** 2;

export interface PixelSummary {
  pixel: number;
  /** Centre of the nside-16 pixel (deg). */
  ra: number;
  dec: number;
  files: number;
  rows: number;
  bytes: number;
}

export interface DatasetSummary {
  name: string;
  config: string;
  survey: string;
  release?: string;
  rows: number;
  files: number;
  bytes: number;
  pixels: PixelSummary[];
  /** Area of the occupied order-12 cells (deg²). */
  areaDeg2: number;
}

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

/** Above this many rows the coverage (a scan of the key column) is not computed: NaN. */
const COVERAGE_MAX_ROWS = 5_000_000;

/** Reads only the `_healpix_29` column of each file, in blocks. */
export async function coverage(root: string, manifest: Manifest, config: string): Promise<number> {
  if ((manifest.configs[config]?.rows ?? 0) > COVERAGE_MAX_ROWS) return Number.NaN;
  const cells = new Set<bigint>();
  const shift = BigInt(2 * (29 - COVER_ORDER));
  for (const f of manifest.files) {
    if (f.config !== config || f.rows === 0) continue;
    const file = await PartitionFile.open(join(root, f.path));
    try {
      for (let at = 0; at < file.length; at += 1 << 16) {
        const keys = file.readRange(["_healpix_29"], at, Math.min(file.length, at + (1 << 16)))
          ._healpix_29 as BigInt64Array;
        for (const k of keys) cells.add(k >> shift);
      }
    } finally {
      file.close();
    }
  }
  return (cells.size * SKY_DEG2) / (12 * 4 ** COVER_ORDER);
}

export async function summarize(
  root: string,
  manifest: Manifest,
  config: string,
): Promise<DatasetSummary> {
  const files = manifest.files.filter((f) => f.config === config);
  return {
    name: manifest.name,
    config,
    survey: manifest.provenance.survey,
    release: manifest.provenance.release,
    rows: manifest.configs[config]?.rows ?? 0,
    files: files.length,
    bytes: files.reduce((s, f) => s + f.bytes, 0),
    pixels: pixelSummaries(manifest, config),
    areaDeg2: await coverage(root, manifest, config),
  };
}
