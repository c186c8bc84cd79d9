// Paths of the on-disk layout. Two layouts (the manifest's `layout` field says which):
//
//   adaptive (default for new datasets): partition pixels chosen by the data (partitioning.ts),
//     each file's HEALPix order and pixel in the manifest (`files[].order`, `files[].pixel`)
//       <root>/<config>/order=<K>/healpix=<N>/<k>-of-<n>.hdf5    N: NESTED pixel at order K
//     or, where sparse neighbours share a file, a run of consecutive pixels (`files[].pixels`)
//       <root>/<config>/order=<K>/healpix=<N>-<M>/<k>-of-<n>.hdf5  pixels N to M at order K
//   mmu (Multimodal Universe v1, what its loaders read): every partition pixel at order 4
//       <root>/<config>/healpix=<N>/<k>-of-<n>.hdf5              N: NESTED pixel at order 4
//
// Manifests written before `layout` existed are "mmu", and their files (no `order`) order 4.
import { posix } from "node:path";
import { UsageError } from "../core/errors.ts";

/** The two directory schemes: pixels chosen by the data, or Multimodal Universe's fixed order 4. */
export type Layout = "adaptive" | "mmu";
export const LAYOUTS = ["adaptive", "mmu"] as const;
/** Layout of new datasets when none is asked for. */
export const DEFAULT_LAYOUT: Layout = "adaptive";

/**
 * HEALPix order of Multimodal Universe's partition pixels (nside 16): the order of every file in
 * the mmu layout (and of files whose manifest entry has no `order`), and of the `healpix` column.
 */
export const PARTITION_ORDER = 4;
/**
 * Finest order a partition pixel may have: pixel numbers up to order 24 (12 * 4^24 < 2^53) are
 * exact in a JS number (the manifest's `pixel`).
 */
export const MAX_PARTITION_ORDER = 24;
/** Order of the `_healpix_29` sort key. */
export const KEY_ORDER = 29;
/** Right shift from an order-29 key to its order-4 pixel (the `healpix` column): 2 * (29 - 4). */
export const PARTITION_SHIFT = BigInt(2 * (KEY_ORDER - PARTITION_ORDER));
export const MANIFEST_NAME = "astropile.json";

/** Right shift from an order-29 key to its pixel at `order`. */
export function orderShift(order: number): bigint {
  return BigInt(2 * (KEY_ORDER - order));
}

/**
 * First and last order-29 key of a pixel at `order` (inclusive), or of the run of `pixels`
 * consecutive pixels starting at it.
 */
export function pixelKeyRange(order: number, pixel: number, pixels = 1): [bigint, bigint] {
  const shift = orderShift(order);
  return [BigInt(pixel) << shift, ((BigInt(pixel) + BigInt(pixels)) << shift) - 1n];
}

/** A pixel, or a run of `pixels` consecutive pixels from it, as names show it: `N` or `N-M`. */
export function pixelRunName(pixel: number, pixels = 1): string {
  return pixels === 1 ? String(pixel) : `${pixel}-${pixel + pixels - 1}`;
}

/**
 * Directory of a pixel's files: `<config>/healpix=<N>` (mmu layout: no order given) or
 * `<config>/order=<K>/healpix=<N>` (adaptive layout), `<config>/order=<K>/healpix=<N>-<M>` for
 * a run of consecutive pixels N to M (adaptive only).
 */
export function pixelDir(config: string, pixel: number, order?: number, pixels = 1): string {
  if (order === undefined) {
    if (pixels !== 1)
      throw new UsageError(`the mmu layout has one pixel per directory, not a run of ${pixels}`);
    return posix.join(config, `healpix=${pixel}`);
  }
  return posix.join(config, `order=${order}`, `healpix=${pixelRunName(pixel, pixels)}`);
}

/** `001-of-002.hdf5`: at least three digits, as many as n needs. */
export function partitionFileName(k: number, n: number): string {
  const width = Math.max(3, String(n).length);
  return `${String(k).padStart(width, "0")}-of-${String(n).padStart(width, "0")}.hdf5`;
}

/**
 * Path of file k of n of a pixel: `<config>/healpix=<N>/<k>-of-<n>.hdf5` without `order` (the
 * mmu layout, order 4), `<config>/order=<K>/healpix=<N>/<k>-of-<n>.hdf5` with it (adaptive).
 */
export function partitionPath(
  config: string,
  pixel: number,
  k: number,
  n: number,
  order?: number,
  pixels = 1,
): string {
  return posix.join(pixelDir(config, pixel, order, pixels), partitionFileName(k, n));
}

/** The path of a file of `layout` at (order, pixel), or at a run of `pixels` from it. */
export function layoutPath(
  layout: Layout,
  config: string,
  order: number,
  pixel: number,
  k: number,
  n: number,
  pixels = 1,
): string {
  return partitionPath(config, pixel, k, n, layout === "mmu" ? undefined : order, pixels);
}

const ADAPTIVE_RE = /^([^/]+)\/order=(\d{1,2})\/healpix=(\d+)(?:-(\d+))?\/(\d+)-of-(\d+)\.hdf5$/;
const MMU_RE = /^([^/]+)\/healpix=(\d+)\/(\d+)-of-(\d+)\.hdf5$/;

/** A partition file's place as its path tells it. */
export interface ParsedPartitionPath {
  config: string;
  /** HEALPix order: K of `order=K`, 4 for the mmu form. */
  order: number;
  /** The first pixel of the directory's name. */
  pixel: number;
  /** Consecutive pixels the name covers: 1, or M - N + 1 for `healpix=<N>-<M>` (< 1 if M < N). */
  pixels: number;
  k: number;
  n: number;
  /** Which scheme the path follows. */
  layout: Layout;
}

/**
 * Parses `<config>/order=<K>/healpix=<N>/<k>-of-<n>.hdf5` or `.../healpix=<N>-<M>/...`
 * (adaptive) or `<config>/healpix=<N>/<k>-of-<n>.hdf5` (mmu, order 4); null for anything else.
 */
export function parsePartitionPath(relPath: string): ParsedPartitionPath | null {
  const p = relPath.split("\\").join("/");
  const a = ADAPTIVE_RE.exec(p);
  if (a)
    return {
      config: a[1],
      order: Number(a[2]),
      pixel: Number(a[3]),
      pixels: a[4] === undefined ? 1 : Number(a[4]) - Number(a[3]) + 1,
      k: Number(a[5]),
      n: Number(a[6]),
      layout: "adaptive",
    };
  const m = MMU_RE.exec(p);
  if (!m) return null;
  return {
    config: m[1],
    order: PARTITION_ORDER,
    pixel: Number(m[2]),
    pixels: 1,
    k: Number(m[3]),
    n: Number(m[4]),
    layout: "mmu",
  };
}

/** A config name must be one safe path segment: it becomes a directory. */
export function isSafeConfigName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name) && name !== "." && name !== "..";
}
