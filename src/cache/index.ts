/**
 * Public API of the download cache. The functions use the cache at $ASTROPILE_CACHE_DIR
 * (default $XDG_CACHE_HOME/astropile, i.e. ~/.cache/astropile) unless given `cacheDir`;
 * `openCache()` returns an object with the same operations for one explicit configuration.
 *
 * @module astropile/cache
 */
import {
  type ExportResult,
  exportCache as exportArchive,
  type ImportResult,
  importCache as importArchive,
} from "./archive.ts";
import {
  type CacheConfig,
  type CacheEntry,
  type CacheSizeReport,
  type CheckReport,
  DownloadCache,
  type DownloadOptions,
} from "./cache.ts";
import { defaultCacheDir, defaultMaxBytes, offlineFromEnv } from "./config.ts";

export { sha256File } from "../core/hash.ts";
export { formatBytes, parseBytes } from "../core/units.ts";
export type { ArchiveEntry, ExportResult, ImportResult } from "./archive.ts";
export type {
  CacheConfig,
  CacheEntry,
  CacheMode,
  CacheProblem,
  CacheProblemKind,
  CacheSizeReport,
  CacheWarning,
  CheckReport,
  DownloadOptions,
  DownloadProgress,
  ProgressHandler,
} from "./cache.ts";
export { DownloadCache } from "./cache.ts";
export { DEFAULT_MAX_BYTES, defaultCacheDir, defaultMaxBytes, offlineFromEnv } from "./config.ts";
export {
  CacheArchiveError,
  CacheConfigError,
  CacheEntryNotFoundError,
  CacheError,
  CacheMissOfflineError,
  CacheWriteError,
  ChecksumMismatchError,
  DownloadError,
  type DownloadFailure,
} from "./errors.ts";
export { keyForUrl, normalizeUrl } from "./layout.ts";

/** Where and how big: overrides for the environment-derived defaults. */
export interface CacheLocation {
  /** Cache directory (default $ASTROPILE_CACHE_DIR or the XDG cache directory). */
  cacheDir?: string;
  /** Size cap (default $ASTROPILE_CACHE_MAX_BYTES or 50 GiB). */
  maxBytes?: number;
}

const instances = new Map<string, DownloadCache>();

/**
 * The cache for a configuration. Environment variables are read on every call, so a change
 * of $ASTROPILE_CACHE_DIR takes effect; instances are reused for identical settings.
 */
export function openCache(config: CacheConfig = {}): DownloadCache {
  const resolved: CacheConfig = {
    ...config,
    dir: config.dir ?? defaultCacheDir(),
    maxBytes: config.maxBytes ?? defaultMaxBytes(),
    offline: config.offline ?? offlineFromEnv(),
  };
  const id = JSON.stringify(resolved);
  let c = instances.get(id);
  if (!c) {
    c = new DownloadCache(resolved);
    if (instances.size > 64) instances.clear();
    instances.set(id, c);
  }
  return c;
}

function cacheFor(loc: CacheLocation = {}): DownloadCache {
  return openCache({ dir: loc.cacheDir, maxBytes: loc.maxBytes });
}

/**
 * Downloads `url` (or returns the cached copy) and resolves to a local path. See
 * DownloadOptions for cache modes, checksums, mirrors, offline and stale-if-error.
 */
export function downloadFile(
  url: string,
  options: DownloadOptions & CacheLocation = {},
): Promise<string> {
  return cacheFor(options).download(url, options);
}

/** Every cached entry, most recently used first. */
export function cacheContents(loc?: CacheLocation): Promise<CacheEntry[]> {
  return cacheFor(loc).contents();
}

/** Bytes used, entry count, cap and location. */
export function cacheSize(loc?: CacheLocation): Promise<CacheSizeReport> {
  return cacheFor(loc).size();
}

/** Removes one URL's entry, or everything when `url` is omitted. */
export function clearCache(
  url?: string,
  loc?: CacheLocation,
): Promise<{ entries: number; bytes: number }> {
  return cacheFor(loc).clear(url);
}

/** Finds damaged or stray entries; `repair` removes them; `deep` re-hashes every file. */
export function checkCache(
  options: { repair?: boolean; deep?: boolean } & CacheLocation = {},
): Promise<CheckReport> {
  return cacheFor(options).check(options);
}

/** Pins (never evicted) or unpins a cached URL. */
export function pinCacheEntry(
  url: string,
  pinned = true,
  loc?: CacheLocation,
): Promise<CacheEntry> {
  return cacheFor(loc).setPinned(url, pinned);
}

/** Re-hashes a cached file against its recorded (or the given) sha256. */
export function verifyCacheEntry(
  url: string,
  sha256?: string,
  loc?: CacheLocation,
): Promise<CacheEntry> {
  return cacheFor(loc).verify(url, sha256);
}

/** The cached entry of `url`, or null; no network. */
export function cacheLookup(url: string, loc?: CacheLocation): Promise<CacheEntry | null> {
  return cacheFor(loc).lookup(url);
}

/** Writes entries (default all) to one archive file for an offline machine. */
export function exportCache(
  file: string,
  options: { urls?: string[] } & CacheLocation = {},
): Promise<ExportResult> {
  return exportArchive(cacheFor(options), file, options);
}

/** Imports an archive written by exportCache, after validating all of it. */
export function importCache(
  file: string,
  options: { overwrite?: boolean } & CacheLocation = {},
): Promise<ImportResult> {
  return importArchive(cacheFor(options), file, options);
}

/** The cache directory in use (for messages and `astropile cache size`). */
export function cacheDir(loc?: CacheLocation): string {
  return cacheFor(loc).dir;
}
