// The datasets `astropile serve DIR...` names on its command line, as a DatasetDirectory: one
// entry per directory, named by its basename, filled from its manifest (no row read). Entries
// are re-read when a manifest changes on disk (a dataset rebuilt while served).

import { stat } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { UsageError } from "../core/errors.ts";
import { type Dataset, openDataset } from "../dataset/dataset.ts";
import { ang2pixNumber, queryDisc } from "../sky/index.ts";
import { fileOrder, type Manifest } from "../storage/manifest.ts";
import {
  type CatalogEntry,
  type CatalogQuery,
  DATASET_NAME,
  type DatasetDirectory,
} from "./directory.ts";

/** Order of the coverage a catalog entry carries: 3072 pixels of ~3.7 degrees (nside 16). */
export const ENTRY_COVERAGE_ORDER = 4;

/**
 * The NESTED HEALPix pixels at order 4 that may hold rows of a manifest's config (all configs
 * when omitted), from the manifest alone: a file of a finer pixel gives its parent pixel; a file
 * of a coarser pixel gives the order-4 pixels its `_healpix_29` key range spans (rows are
 * sorted by key, so a superset that is tight at its ends).
 */
export function manifestCoverage(
  manifest: Manifest,
  config?: string,
): { order: number; pixels: number[] } {
  const order = ENTRY_COVERAGE_ORDER;
  const shift = BigInt(2 * (29 - order));
  const pixels = new Set<number>();
  for (const f of manifest.files) {
    if (f.rows === 0 || (config && f.config !== config)) continue;
    const fileLevel = fileOrder(f);
    if (fileLevel >= order) {
      pixels.add(Math.floor(f.pixel / 4 ** (fileLevel - order)));
      continue;
    }
    const lo = Number(BigInt(f.keyMin) >> shift);
    const hi = Number(BigInt(f.keyMax) >> shift);
    for (let p = lo; p <= hi; p++) pixels.add(p);
  }
  return { order, pixels: [...pixels].sort((a, b) => a - b) };
}

/** Above this many rows an entry's coverage comes from the manifest alone (no row read). */
export const ENTRY_COVERAGE_MAX_ROWS = 5_000_000;

/**
 * The order-4 pixels holding rows of a dataset (every config), from its positions read in
 * batches (bounded memory); for datasets of more than {@link ENTRY_COVERAGE_MAX_ROWS} rows, the
 * manifest's superset ({@link manifestCoverage}).
 */
export async function datasetCoverage(
  location: string,
  manifest: Manifest,
): Promise<{ order: number; pixels: number[] }> {
  const total = Object.values(manifest.configs).reduce((sum, c) => sum + c.rows, 0);
  if (total > ENTRY_COVERAGE_MAX_ROWS) return manifestCoverage(manifest);
  const order = ENTRY_COVERAGE_ORDER;
  const pixels = new Set<number>();
  for (const config of Object.keys(manifest.configs)) {
    const dataset = await openDataset(location, { config });
    try {
      for await (const b of dataset.select(["ra", "dec"]).batches({ size: 65536 })) {
        const ra = b.columns.ra as Float64Array;
        const dec = b.columns.dec as Float64Array;
        for (let i = 0; i < b.length; i++) {
          // Rows without a valid position hold no place on the sky.
          if (Number.isFinite(ra[i]) && dec[i]! >= -90 && dec[i]! <= 90)
            pixels.add(ang2pixNumber(order, ((ra[i]! % 360) + 360) % 360, dec[i]!));
        }
      }
    } finally {
      dataset.close();
    }
  }
  return { order, pixels: [...pixels].sort((a, b) => a - b) };
}

/**
 * The catalog entry of an opened dataset: sizes, configs, columns and provenance from its
 * manifest, and its coverage (see {@link datasetCoverage}). `location` is where it is read from
 * (directory or URL).
 */
export async function entryForDataset(
  name: string,
  location: string,
  dataset: Dataset,
  addedAt: string = new Date().toISOString(),
): Promise<CatalogEntry> {
  const m = dataset.manifest;
  const p = m.provenance;
  const description = typeof p.description === "string" ? p.description : undefined;
  return {
    name,
    location,
    survey: p.survey,
    project: p.project,
    release: p.release,
    modality: dataset.modality,
    rows: Object.values(m.configs).reduce((sum, c) => sum + c.rows, 0),
    bytes: m.files.reduce((sum, f) => sum + f.bytes, 0),
    configs: Object.keys(m.configs),
    columns: dataset.columns,
    coverage: await datasetCoverage(location, m),
    description,
    addedAt,
  };
}

/** True when `entry` answers `query` (docs/service.md, "Catalog"). */
export function entryMatches(entry: CatalogEntry, query: CatalogQuery = {}): boolean {
  if (query.q) {
    const q = query.q.toLowerCase();
    const texts = [
      entry.name,
      entry.survey,
      entry.project,
      entry.release,
      entry.description,
      ...entry.columns,
    ];
    if (!texts.some((t) => t?.toLowerCase().includes(q))) return false;
  }
  if (query.survey && entry.survey?.toLowerCase() !== query.survey.toLowerCase()) return false;
  if (query.modality && entry.modality.toLowerCase() !== query.modality.toLowerCase()) return false;
  if (query.cone) {
    const { raDeg, decDeg, radiusDeg } = query.cone;
    const touched = new Set(
      queryDisc(entry.coverage.order, raDeg, decDeg, radiusDeg).map((p) => Number(p)),
    );
    if (!entry.coverage.pixels.some((p) => touched.has(p))) return false;
  }
  return true;
}

interface Held {
  location: string;
  stamp: string;
  entry: CatalogEntry;
}

/**
 * The datasets of a list of local directories (or URLs), named by basename. Build it with
 * {@link LocalDirectory.open}, which reads every manifest and refuses duplicate or invalid names.
 */
export class LocalDirectory implements DatasetDirectory {
  private readonly held = new Map<string, Held>();

  private constructor() {}

  /** Reads the manifest of each location; names are the basenames, unique and valid. */
  static async open(locations: string[]): Promise<LocalDirectory> {
    const dir = new LocalDirectory();
    for (const raw of locations) {
      const isUrl = /^(https?|s3):\/\//.test(raw);
      const location = isUrl ? raw.replace(/\/+$/, "") : resolve(raw);
      const name = basename(location);
      if (!DATASET_NAME.test(name))
        throw new UsageError(
          `dataset name "${name}" (the basename of ${raw}) must match ${DATASET_NAME.source}`,
        );
      if (dir.held.has(name))
        throw new UsageError(
          `two datasets are named "${name}" (${dir.held.get(name)!.location} and ${location}); serve one of them, or rename its directory`,
        );
      const dataset = await openDataset(location);
      try {
        dir.held.set(name, {
          location,
          stamp: isUrl ? "" : await manifestStamp(location).catch(() => ""),
          entry: await entryForDataset(name, location, dataset),
        });
      } finally {
        dataset.close();
      }
    }
    return dir;
  }

  async list(query?: CatalogQuery): Promise<CatalogEntry[]> {
    const out: CatalogEntry[] = [];
    for (const name of [...this.held.keys()].sort()) {
      const entry = await this.get(name);
      if (entry && entryMatches(entry, query)) out.push(entry);
    }
    return out;
  }

  async get(name: string): Promise<CatalogEntry | undefined> {
    const held = this.held.get(name);
    if (!held) return undefined;
    if (held.stamp) {
      // Rebuilt since read: read the manifest again (a vanished one keeps the last entry; the
      // dataset routes then answer with the error of opening it).
      const stamp = await manifestStamp(held.location).catch(() => held.stamp);
      if (stamp !== held.stamp) {
        const dataset = await openDataset(held.location);
        try {
          held.entry = await entryForDataset(name, held.location, dataset, held.entry.addedAt);
          held.stamp = stamp;
        } finally {
          dataset.close();
        }
      }
    }
    return held.entry;
  }
}

/** Changes whenever the manifest is replaced (atomic rename: new inode) or rewritten. */
export async function manifestStamp(root: string): Promise<string> {
  const s = await stat(join(root, "astropile.json"));
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}
