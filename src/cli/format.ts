// Output helpers shared by the commands: aligned tables, numbers, areas, and errors that carry
// their exit code. (Byte sizes: formatBytes in src/core/units.ts.)
import { isAstroPileError, SpecError, UsageError } from "../core/errors.ts";

export function out(text = ""): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/**
 * JSON values: a bigint (an int64 or uint64 value) as a string of its digits whatever its size,
 * as the data service writes them (a JSON number past 2^53 is read wrong by JavaScript and jq,
 * and one column keeps one JSON type); NaN and ±Infinity null.
 */
function jsonValue(_: string, v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (typeof v === "number" && !Number.isFinite(v)) return null;
  return v;
}

/** JSON on stdout; bigint as a decimal string. */
export function printJson(value: unknown): void {
  out(JSON.stringify(value, jsonValue, 2));
}

/**
 * JSON object `head` with one more member `key`: an array of `count` rows made by `row(i)` and
 * written a few thousand at a time, so a long list (every pair of a cross-match) is never one
 * string in memory. Each row is one line.
 */
export function printJsonRows(
  head: Record<string, unknown>,
  key: string,
  count: number,
  row: (i: number) => unknown,
): void {
  const opening = JSON.stringify({ ...head, [key]: [] }, jsonValue, 2);
  // `"key": []\n}` ends the text: open the array there, fill it, close it.
  const cut = opening.lastIndexOf("[]");
  process.stdout.write(`${opening.slice(0, cut)}[`);
  const CHUNK = 2000;
  for (let s = 0; s < count; s += CHUNK) {
    const lines: string[] = [];
    for (let i = s; i < Math.min(count, s + CHUNK); i++)
      lines.push(`${i === 0 ? "" : ","}\n    ${JSON.stringify(row(i), jsonValue)}`);
    process.stdout.write(lines.join(""));
  }
  out(`${count > 0 ? "\n  " : ""}]${opening.slice(cut + 2)}`);
}

/** A sky area: deg² above 1, else arcmin² (or arcsec²); NaN: not computed. */
export function areaText(deg2: number): string {
  if (Number.isNaN(deg2)) return "(not computed)";
  if (deg2 >= 1)
    return `${deg2.toLocaleString("en-US", { maximumFractionDigits: 2, minimumFractionDigits: 2 })} deg2`;
  return deg2 * 3600 >= 0.1
    ? `${groupedFixed(deg2 * 3600, 1)} arcmin2`
    : `${groupedFixed(deg2 * 3600 * 3600, 1)} arcsec2`;
}

/** A non-negative number to `digits` decimals (as toFixed rounds), its thousands grouped. */
function groupedFixed(x: number, digits: number): string {
  const [whole, frac] = x.toFixed(digits).split(".");
  return `${formatCount(Number(whole))}${frac === undefined ? "" : `.${frac}`}`;
}

/** `1 file`, `12 files`: a count and its noun, plural unless the count is one. */
export function countOf(n: number, noun: string): string {
  return `${formatCount(n)} ${n === 1 ? noun : `${noun}s`}`;
}

/**
 * A count with its thousands grouped by commas, as `toLocaleString("en-US")` writes it, but
 * without it for integers: its first call loads ICU's number formatting, ~17 ms of a short
 * command's run.
 */
export function formatCount(n: number): string {
  if (!Number.isSafeInteger(n)) return n.toLocaleString("en-US");
  const digits = String(Math.abs(n));
  const head = digits.length % 3 || 3;
  let out = digits.slice(0, head);
  for (let i = head; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return n < 0 ? `-${out}` : out;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** A table with a header row; columns left-aligned, numbers right-aligned. */
export function table(header: string[], rows: string[][], numeric: boolean[] = []): string {
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => (r[k] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, k) =>
        numeric[k] ? c.padStart(widths[k]) : k === cells.length - 1 ? c : c.padEnd(widths[k]),
      )
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Marks an error as a usage problem: exit code 2 (bad arguments, invalid spec). */
export function usageExit<T extends Error>(err: T): T {
  Object.assign(err, { exitCode: 2 });
  return err;
}

/**
 * Runs a command action; usage errors (UsageError, SpecError) leave with exit code 2, every
 * other error with 1 (see main()).
 */
export function action<A extends unknown[]>(
  fn: (...args: A) => Promise<void>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      if (isAstroPileError(err, UsageError.code) || isAstroPileError(err, SpecError.code))
        usageExit(err);
      throw err;
    }
  };
}

/** A decimal number as people write it: 12, -0.5, .5, 1e-6; no hex, no Infinity, no blanks. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The values a number option takes: bounds (inclusive, or strict with `above`), integers only. */
export interface NumberRange {
  integer?: boolean;
  min?: number;
  above?: number;
  max?: number;
}

/** "an integer >= 1 and <= 256": what a range takes, for the usage error. */
function rangeText(range: NumberRange): string {
  const bounds: string[] = [];
  if (range.above !== undefined) bounds.push(`> ${range.above}`);
  if (range.min !== undefined) bounds.push(`>= ${range.min}`);
  if (range.max !== undefined) bounds.push(`<= ${range.max}`);
  const what = range.integer ? "an integer" : "a number";
  return bounds.length > 0 ? `${what} ${bounds.join(" and ")}` : `${what}`;
}

function inRange(x: number, range: NumberRange): boolean {
  return (
    (!range.integer || Number.isInteger(x)) &&
    (range.min === undefined || x >= range.min) &&
    (range.above === undefined || x > range.above) &&
    (range.max === undefined || x <= range.max)
  );
}

/**
 * Parses a number option or fails as a usage error naming the option and what it takes. Only
 * decimal numbers are numbers here: `Number()` would also take "0x10" (16), "" or "  " (0) and
 * "Infinity".
 */
export function numberOption(
  value: string | undefined,
  name: string,
  range: NumberRange = {},
): number | undefined {
  if (value === undefined) return undefined;
  const x = DECIMAL.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(x) || !inRange(x, range))
    throw usageExit(
      new UsageError(
        `${name} ${JSON.stringify(value)} is not a valid value: ${rangeText(range)} is expected`,
      ),
    );
  return x;
}
