// Sizes in bytes, for people and from people: the one formatter and the one parser every layer
// (cache caps, build memory budgets, CLI output) uses.
import { UsageError } from "./errors.ts";
import { own } from "./records.ts";

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
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
};

/**
 * Parses `123`, `1e9`, `1.5G`, `500 MiB`, `2TB` into bytes: k, M, G, T (with or without B) are
 * powers of 1000, KiB, MiB, GiB, TiB (or Ki, Mi ...) powers of 1024, case-insensitive.
 * A text that is not a size is a UsageError naming `what` (e.g. "--memory").
 */
export function parseBytes(text: string, what = "size"): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[0-9]+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? own(UNITS, m[2]!.toLowerCase()) : undefined;
  if (!m || unit === undefined) {
    throw new UsageError(
      `${what} "${text}" is not a size (examples: 1000000, 500M, 20G, 1.5TiB; M = 10^6, MiB = 2^20 bytes)`,
    );
  }
  const n = Math.floor(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} "${text}" is too large`);
  return n;
}

/** 1536 -> "1.50 KiB": sizes for people, in powers of 1024. */
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
