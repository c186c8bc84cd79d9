// Where the cache lives and how big it may grow: environment first, then defaults that a
// user can find (XDG cache directory, not a hidden folder of our own invention).
import os from "node:os";
import path from "node:path";
import { parseBytes } from "../core/units.ts";
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
    return parseBytes(v, "ASTROPILE_CACHE_MAX_BYTES");
  } catch (err) {
    throw new CacheConfigError((err as Error).message);
  }
}

/** True when `$ASTROPILE_OFFLINE` is set to a true-ish value. */
export function offlineFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.ASTROPILE_OFFLINE ?? "").trim().toLowerCase();
  return v !== "" && v !== "0" && v !== "false" && v !== "no" && v !== "off";
}
