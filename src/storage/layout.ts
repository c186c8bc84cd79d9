// Paths of the on-disk layout (Multimodal Universe v1):
//   <root>/astropile.json
//   <root>/<config>/healpix=<N>/<k>-of-<n>.hdf5   N: NESTED pixel at order 4 (nside 16), no padding
import { posix } from "node:path";

/** HEALPix order of the partition pixels (nside 16). */
export const PARTITION_ORDER = 4;
/** Order of the `_healpix_29` sort key. */
export const KEY_ORDER = 29;
/** Right shift from an order-29 key to its partition pixel: 2 * (29 - 4). */
export const PARTITION_SHIFT = BigInt(2 * (KEY_ORDER - PARTITION_ORDER));
export const MANIFEST_NAME = "astropile.json";

export function pixelDir(config: string, pixel: number): string {
  return posix.join(config, `healpix=${pixel}`);
}

/** `001-of-002.hdf5`: at least three digits, as many as n needs. */
export function partitionFileName(k: number, n: number): string {
  const width = Math.max(3, String(n).length);
  return `${String(k).padStart(width, "0")}-of-${String(n).padStart(width, "0")}.hdf5`;
}

export function partitionPath(config: string, pixel: number, k: number, n: number): string {
  return posix.join(pixelDir(config, pixel), partitionFileName(k, n));
}

const PARTITION_RE = /^(.+)\/healpix=(\d+)\/(\d+)-of-(\d+)\.hdf5$/;

/** Parses `<config>/healpix=<N>/<k>-of-<n>.hdf5`; null for anything else. */
export function parsePartitionPath(
  relPath: string,
): { config: string; pixel: number; k: number; n: number } | null {
  const m = PARTITION_RE.exec(relPath.split("\\").join("/"));
  if (!m) return null;
  return { config: m[1], pixel: Number(m[2]), k: Number(m[3]), n: Number(m[4]) };
}

/** A config name must be one safe path segment: it becomes a directory. */
export function isSafeConfigName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name) && name !== "." && name !== "..";
}
