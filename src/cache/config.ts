// Where the cache lives and how big it may grow: environment first, then defaults that a
// user can find (XDG cache directory, not a hidden folder of our own invention).
import os from "node:os";
import path from "node:path";
import { CacheConfigError } from "./errors.ts";

/** Default size cap: large enough for survey tiles and partitions, small enough to notice. */
export const DEFAULT_MAX_BYTES = 50 * 2 ** 30;

/** `$ASTROPILE_CACHE_DIR`, else `$XDG_CACHE_HOME/astropile`, else `~/.cache/astropile`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ASTROPILE_CACHE_DIR) return path.resolve(env.ASTROPILE_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), ".cache");
  return path.join(base, "astropile");
}

/** `$ASTROPILE_CACHE_MAX_BYTES` (e.g. `20G`, `500MiB`, `1e9`), else the default. */
export function defaultMaxBytes(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.ASTROPILE_CACHE_MAX_BYTES;
  if (v === undefined || v.trim() === "") return DEFAULT_MAX_BYTES;
  try {
    return parseBytes(v);
  } catch (err) {
    throw new CacheConfigError(`ASTROPILE_CACHE_MAX_BYTES: ${(err as Error).message}`);
  }
}

/** True when `$ASTROPILE_OFFLINE` is set to a true-ish value. */
export function offlineFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.ASTROPILE_OFFLINE ?? "").trim().toLowerCase();
  return v !== "" && v !== "0" && v !== "false" && v !== "no" && v !== "off";
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Parses `123`, `1.5G`, `500 MiB`, `2TB` into bytes (SI for k/M/G/T, binary for KiB...). */
export function parseBytes(text: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new CacheConfigError(
      `cannot read "${text}" as a size (examples: 1000000, 500M, 20G, 1.5TiB)`,
    );
  }
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new CacheConfigError(`size "${text}" is too large`);
  return n;
}

/** 1536 -> "1.5 KiB": sizes for people. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  const s = i === 0 ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${n < 0 ? "-" : ""}${s} ${units[i]}`;
}
