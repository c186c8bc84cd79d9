// What the catalog records about a dataset, from its manifest alone (no row is read): provenance,
// modality, row and byte totals, configs, column names, and the sky coverage as NESTED HEALPix
// pixels at one coarse order, so a cone search over many datasets never opens one of them.
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { NotFoundError, UsageError } from "../core/errors.ts";
import { openDataset } from "../dataset/index.ts";
import { datasetRootOf } from "../interop/mmu-adopt.ts";
import { isRemoteUrl, type RemoteOptions, remoteRoot } from "../remote/index.ts";
import { MAX_ORDER } from "../sky/index.ts";
import { orderShift, pixelKeyRange } from "../storage/layout.ts";
import {
  type FileEntry,
  fileOrder,
  filePixels,
  type Manifest,
  readManifest,
} from "../storage/manifest.ts";
import type { CatalogEntry } from "./directory.ts";

/**
 * HEALPix order of the catalog's coverage maps: order 5 (nside 32, 12 288 pixels of about 1.8°
 * across). Coarse enough that a whole-sky dataset's map stays small, fine enough that a cone
 * search skips datasets elsewhere on the sky.
 */
export const CATALOG_COVERAGE_ORDER = 5;

/** Options of {@link describeDataset}. */
export interface DescribeOptions {
  /** Order of the coverage map (default {@link CATALOG_COVERAGE_ORDER}); 0..13. */
  coverageOrder?: number;
  /** Remote datasets (`http(s)://`, `s3://`): transport, credentials, range cache. */
  remote?: RemoteOptions;
}

/** What a dataset's manifest says for its catalog entry (everything but name, description and addedAt). */
export type DatasetDescription = Omit<CatalogEntry, "name" | "description" | "addedAt">;

// Coverage maps are listed pixel by pixel: past order 13 (200 M pixels) they stop being maps.
const MAX_COVERAGE_ORDER = 13;

/**
 * Describes the dataset at `location` from its manifest, without reading rows: a local AstroPile
 * directory, a Multimodal Universe tree (read through its index; small trees are adopted on the
 * fly, see `datasetRootOf`), or an `http(s)://` / `s3://` URL of a dataset directory.
 *
 * `location` in the result is what the catalog should open later: the absolute path of a local
 * directory as given (an MMU tree stays the tree, not its index), a URL unchanged. `modality` is
 * the first config's that is not "catalog" (image, spectrum, ifu), else "catalog". `rows` and
 * `bytes` add up every config (bytes: partition files and sidecars). `columns` lists every
 * config's column names, both as stored and as the standard names they map to.
 *
 * Throws NotFoundError when a local location does not exist, and the errors of `openDataset`
 * (ManifestError, NotAdoptedError, RemoteError, ...) when it is not a readable dataset.
 */
export async function describeDataset(
  location: string,
  options: DescribeOptions = {},
): Promise<DatasetDescription> {
  const order = options.coverageOrder ?? CATALOG_COVERAGE_ORDER;
  if (!Number.isInteger(order) || order < 0 || order > MAX_COVERAGE_ORDER)
    throw new UsageError(
      `coverageOrder must be an integer in 0..${MAX_COVERAGE_ORDER}, got ${order}`,
    );
  if (typeof location !== "string" || location.trim() === "")
    throw new UsageError("a dataset location must be a directory or a URL, got an empty string");
  const remote = isRemoteUrl(location);
  let where = location;
  if (!remote) {
    where = resolve(location);
    const s = await stat(where).catch(() => null);
    if (!s)
      throw new NotFoundError("no dataset there: the location does not exist", { file: where });
    if (!s.isDirectory())
      throw new NotFoundError("a dataset location must be a directory", { file: where });
  }
  // The storage layer's root: an MMU tree's index (adopted on the fly when small), the virtual
  // path of a URL read by byte ranges, or the AstroPile directory itself.
  const root = remote ? remoteRoot(location, options.remote) : await datasetRootOf(where);
  const manifest = await readManifest(root);
  const configs = Object.keys(manifest.configs);
  const columns: string[] = [];
  const seen = new Set<string>();
  const addColumn = (name: string) => {
    if (!seen.has(name)) {
      seen.add(name);
      columns.push(name);
    }
  };
  let modality = "catalog";
  for (const config of configs) {
    // Opening reads the manifest only; the view knows the standard names and the modality.
    const view = await openDataset(root, { config });
    try {
      if (modality === "catalog" && view.modality !== "catalog") modality = view.modality;
      for (const name of view.columns) addColumn(name);
    } finally {
      view.close();
    }
    for (const c of manifest.configs[config].columns) addColumn(c.name);
  }
  let rows = 0;
  let bytes = 0;
  for (const entry of Object.values(manifest.configs)) {
    rows += entry.rows;
    bytes += (entry.idIndex?.bytes ?? 0) + (entry.positions?.bytes ?? 0);
  }
  for (const f of manifest.files) bytes += f.bytes;
  const { project, survey, release } = manifest.provenance;
  return {
    location: where,
    ...(survey !== undefined ? { survey } : {}),
    ...(project !== undefined ? { project } : {}),
    ...(release !== undefined ? { release } : {}),
    modality,
    rows,
    bytes,
    configs,
    columns,
    coverage: { order, pixels: coverageOf(manifest, order) },
  };
}

/**
 * The NESTED pixels at `order` that hold rows of the dataset, from the manifest's file entries
 * (ascending). A file at a finer order maps to its parent pixel (a run of pixels, to the parents
 * its key range touches); a file at a coarser order covers the children its `_healpix_29` key
 * range [keyMin, keyMax] touches (never more than its pixels' children). Files of rows in no
 * particular order (adopted MMU files) cover the pixels of their key range, computed from their
 * ra/dec. Every pixel holding a row is in the result; a pixel may be in it without rows only
 * inside a coarse file's key range.
 */
export function coverageOf(manifest: Pick<Manifest, "files">, order: number): number[] {
  if (!Number.isInteger(order) || order < 0 || order > MAX_COVERAGE_ORDER)
    throw new UsageError(
      `coverage order must be an integer in 0..${MAX_COVERAGE_ORDER}, got ${order}`,
    );
  const shift = BigInt(2 * (MAX_ORDER - order));
  const pixels = new Set<number>();
  for (const f of manifest.files) {
    if (f.rows === 0) continue;
    let [lo, hi] = [BigInt(f.keyMin) >> shift, BigInt(f.keyMax) >> shift];
    if (f.rowOrder !== "any") [lo, hi] = clipToPixel(f, order, lo, hi);
    for (let p = lo; p <= hi; p++) pixels.add(Number(p));
  }
  return [...pixels].sort((a, b) => a - b);
}

/** [lo, hi] at `order` intersected with the pixels the file's partition pixel(s) cover there. */
function clipToPixel(f: FileEntry, order: number, lo: bigint, hi: bigint): [bigint, bigint] {
  // The pixels at `order` holding the keys of the file's pixel(s), coarser or finer alike.
  const [k0, k1] = pixelKeyRange(fileOrder(f), f.pixel, filePixels(f));
  const shift = orderShift(order);
  const [first, last] = [k0 >> shift, k1 >> shift];
  const [a, b] = [lo > first ? lo : first, hi < last ? hi : last];
  // A key range outside its pixel breaks the manifest's rules; cover the whole pixel rather than
  // lose it.
  return a <= b ? [a, b] : [first, last];
}
