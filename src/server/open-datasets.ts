// Opened datasets, kept per (name, config) so a request does not re-read a manifest: a bounded
// LRU (each open dataset holds a few open files), re-opened when the manifest changed on disk.

import { type Dataset, openDataset } from "../dataset/dataset.ts";
import type { CatalogEntry, StampedEntry } from "./directory.ts";
import { notFound } from "./errors.ts";
import { locationStamp } from "./resolve.ts";

interface Cached {
  stamp: string;
  dataset: Promise<Dataset>;
}

/** A bounded cache of opened datasets. */
export class OpenDatasets {
  private readonly cache = new Map<string, Cached>();
  private readonly max: number;

  constructor(max = 32) {
    this.max = Math.max(1, max);
  }

  /**
   * The dataset of `entry` opened at `config` (its default when omitted), opened again when its
   * manifest changed: `stamp` is the manifest's stamp when the caller read it already
   * ({@link StampedEntry}), else it is read here.
   */
  async get(entry: CatalogEntry, config?: string, stamp?: string): Promise<Dataset> {
    if (config !== undefined && !entry.configs.includes(config))
      throw notFound(
        `dataset ${entry.name} has no config "${config}" (it has ${entry.configs.join(", ")})`,
        "config",
      );
    const key = `${entry.name}\u0000${entry.location}\u0000${config ?? ""}`;
    stamp ??= await locationStamp(entry.location);
    const hit = this.cache.get(key);
    if (hit && hit.stamp === stamp) {
      this.cache.delete(key);
      this.cache.set(key, hit);
      return hit.dataset;
    }
    if (hit) this.drop(key, hit);
    const dataset = openDataset(entry.location, config === undefined ? {} : { config });
    const cached = { stamp, dataset };
    this.cache.set(key, cached);
    // A failed open is not kept: the next request tries again.
    dataset.catch(() => {
      if (this.cache.get(key) === cached) this.cache.delete(key);
    });
    while (this.cache.size > this.max) {
      const [oldest, value] = this.cache.entries().next().value as [string, Cached];
      this.drop(oldest, value);
    }
    return dataset;
  }

  private drop(key: string, value: Cached): void {
    this.cache.delete(key);
    // Closing releases its open files; a request still using it re-opens them on demand.
    value.dataset.then((d) => d.close()).catch(() => {});
  }

  /** Closes every dataset. */
  close(): void {
    for (const [key, value] of [...this.cache]) this.drop(key, value);
  }
}
