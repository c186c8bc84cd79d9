// The datasets `astropile serve DIR...` names on its command line, as a DatasetDirectory: one
// entry per directory, named by its basename, described as the catalog database describes a
// dataset (describeDataset: from its manifest, no row read). Entries are re-read when a manifest
// changes on disk (a dataset rebuilt while served).

import { basename, resolve } from "node:path";
import { UsageError } from "../core/errors.ts";
import { queryDisc } from "../sky/index.ts";
import { describeDataset } from "./describe.ts";
import {
  type CatalogEntry,
  type CatalogQuery,
  DATASET_NAME,
  type DatasetDirectory,
  type StampedEntry,
} from "./directory.ts";
import { manifestStamp, stampedEntry } from "./resolve.ts";

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
      dir.held.set(name, {
        location,
        stamp: isUrl ? "" : await manifestStamp(location).catch(() => ""),
        entry: await entryFor(name, location, new Date().toISOString()),
      });
    }
    return dir;
  }

  /**
   * Adds the dataset at `location` (named by its basename), or reads it again when the name is
   * already served: how a dataset published to the server (uploadRoutes) becomes visible.
   */
  async add(location: string): Promise<CatalogEntry> {
    const where = resolve(location);
    const name = basename(where);
    if (!DATASET_NAME.test(name))
      throw new UsageError(
        `dataset name "${name}" (the basename of ${location}) must match ${DATASET_NAME.source}`,
      );
    const held: Held = {
      location: where,
      stamp: await manifestStamp(where).catch(() => ""),
      entry: await entryFor(name, where, new Date().toISOString()),
    };
    this.held.set(name, held);
    return held.entry;
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
    return (await this.getStamped(name))?.entry;
  }

  async getStamped(name: string): Promise<StampedEntry | undefined> {
    const held = this.held.get(name);
    if (!held) return undefined;
    if (!held.stamp) return { entry: held.entry, stamp: "" };
    // Rebuilt since read: read the manifest again (a vanished one keeps the last entry, with no
    // stamp; the dataset routes then answer with the error of opening it).
    const stamp = await manifestStamp(held.location).catch(() => "");
    if (stamp && stamp !== held.stamp) {
      held.entry = await entryFor(name, held.location, held.entry.addedAt);
      held.stamp = stamp;
    }
    return { entry: held.entry, stamp };
  }
}

/** A catalog entry as the catalog database makes it (describeDataset), named `name`. */
async function entryFor(name: string, location: string, addedAt: string): Promise<CatalogEntry> {
  const { location: where, ...rest } = await describeDataset(location);
  return { name, location: where, ...rest, addedAt };
}

/**
 * Several directories as one (the datasets named on the command line, then catalogs): a name is
 * answered by the first that has it.
 */
export function combineDirectories(directories: DatasetDirectory[]): DatasetDirectory {
  return {
    async list(query) {
      const seen = new Set<string>();
      const out: CatalogEntry[] = [];
      for (const d of directories) {
        for (const e of await d.list(query)) {
          if (seen.has(e.name)) continue;
          seen.add(e.name);
          out.push(e);
        }
      }
      return out;
    },
    async get(name) {
      for (const d of directories) {
        const e = await d.get(name);
        if (e) return e;
      }
      return undefined;
    },
    async getStamped(name) {
      for (const d of directories) {
        const e = await stampedEntry(d, name);
        if (e) return e;
      }
      return undefined;
    },
  };
}
