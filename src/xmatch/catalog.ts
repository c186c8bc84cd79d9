// The pair catalog of a cross-match: a columnar table (typed arrays where the values allow),
// its rows as objects, its CSV file, and the count of matched left rows. Kept apart from
// crossmatch.ts so catalogs can be read and written without loading the matcher.
import { randomBytes } from "node:crypto";
import { open } from "node:fs/promises";
import { discardFile, publishFile } from "../core/atomic-file.ts";
import type { ColumnValues } from "../core/columns.ts";
import { UsageError, WriteError } from "../core/errors.ts";

export type ObjectId = string | number | bigint;

/**
 * The pair catalog, one entry per column, one row per pair (and, with how "left", per left
 * row without a match: `matched` 0, right_object_id 0 or "", sep_arcsec, right_ra and right_dec
 * NaN, right_file, right_row and right_index -1). Rows come grouped by left row in storage
 * order, then nearest first ("nearest") or by right row ("all").
 *
 * Where each row is stored: `left_index` / `right_index` are rows of the parent datasets (the
 * order `openDataset(dir).take()` uses); `left_file` / `right_file` index `left_files` /
 * `right_files` (paths relative to `left_root` / `right_root`, as the manifests list them) and
 * `left_row` / `right_row` are rows within those files.
 */
export interface MatchCatalog {
  length: number;
  /** "inner": pairs only; "left": also the left rows without a match (`matched` 0). */
  how: "inner" | "left";
  left_object_id: ColumnValues;
  right_object_id: ColumnValues;
  matched: Uint8Array;
  sep_arcsec: Float64Array;
  /** The left row's position (degrees). */
  left_ra: Float64Array;
  left_dec: Float64Array;
  /** The right row's position (degrees; NaN without a match). */
  right_ra: Float64Array;
  right_dec: Float64Array;
  left_index: Float64Array;
  right_index: Float64Array;
  /** Worked out on first access (as are `left_row`, `right_file`, `right_row`). */
  readonly left_file: Int32Array;
  readonly left_row: Float64Array;
  readonly right_file: Int32Array;
  readonly right_row: Float64Array;
  /** Absolute directories of the two parent datasets. */
  left_root: string;
  right_root: string;
  /** The configs' files (paths relative to the roots), as `left_file` / `right_file` number them. */
  left_files: string[];
  right_files: string[];
}

/** The columns of a catalog row, CSV and JSON by default: ids, separation, both positions. */
export const CATALOG_COLUMNS = [
  "left_object_id",
  "right_object_id",
  "sep_arcsec",
  "left_ra",
  "left_dec",
  "right_ra",
  "right_dec",
] as const;

/** Where the rows are stored (with `locations: true`): file paths relative to each root, rows. */
export const LOCATION_COLUMNS = [
  "left_file",
  "left_row",
  "left_index",
  "right_file",
  "right_row",
  "right_index",
] as const;

export type CatalogColumn =
  | (typeof CATALOG_COLUMNS)[number]
  | "matched"
  | (typeof LOCATION_COLUMNS)[number];

export interface CatalogOutputOptions {
  /** Also where each row is stored: LOCATION_COLUMNS (default false). */
  locations?: boolean;
}

/**
 * The columns of a catalog's rows as catalogRow, writeCatalogCsv and the CLI give them:
 * CATALOG_COLUMNS, `matched` when the catalog keeps unmatched left rows (how "left"), and
 * LOCATION_COLUMNS with `locations`.
 */
export function catalogColumns(
  c: MatchCatalog,
  options: CatalogOutputOptions = {},
): CatalogColumn[] {
  const out: CatalogColumn[] = [...CATALOG_COLUMNS];
  if (c.how === "left") out.push("matched");
  if (options.locations) out.push(...LOCATION_COLUMNS);
  return out;
}

/**
 * Row i of a catalog as a plain object with the columns of {@link catalogColumns}; right fields
 * are null for a left row without a match. Numbers are the catalog's own (not rounded); file
 * paths are relative to each dataset's root.
 */
export function catalogRow(
  c: MatchCatalog,
  i: number,
  options: CatalogOutputOptions = {},
): Record<string, ObjectId | boolean | null> {
  const hit = c.matched[i] === 1;
  const row: Record<string, ObjectId | boolean | null> = {
    left_object_id: c.left_object_id[i] as ObjectId,
    right_object_id: hit ? (c.right_object_id[i] as ObjectId) : null,
    sep_arcsec: hit ? c.sep_arcsec[i]! : null,
    left_ra: c.left_ra[i]!,
    left_dec: c.left_dec[i]!,
    right_ra: hit ? c.right_ra[i]! : null,
    right_dec: hit ? c.right_dec[i]! : null,
  };
  if (c.how === "left") row.matched = hit;
  if (options.locations) {
    row.left_file = c.left_files[c.left_file[i]!]!;
    row.left_row = c.left_row[i]!;
    row.left_index = c.left_index[i]!;
    row.right_file = hit ? c.right_files[c.right_file[i]!]! : null;
    row.right_row = hit ? c.right_row[i]! : null;
    row.right_index = hit ? c.right_index[i]! : null;
  }
  return row;
}

/** Left rows with at least one match (rows of one left row are adjacent in a catalog). */
export function countLeftMatched(c: MatchCatalog): number {
  let n = 0;
  for (let i = 0; i < c.length; i++) {
    if (c.matched[i] === 1 && (i === 0 || c.left_index[i - 1] !== c.left_index[i])) n++;
  }
  return n;
}

// ---- text output ------------------------------------------------------------------------------
// Rows are formatted straight into byte buffers (digits computed, no string per cell): building
// a string per cell and a line per row made the garbage collector the largest cost of a CSV.

/**
 * `x` with at most `digits` decimals (rounded half away from zero, trailing zeros dropped):
 * positions to 1e-9 degree (~4 micro-arcsec), separations to 1e-6 arcsec. Exact integer
 * arithmetic while |x| * 10^digits < 2^53 (every position and separation), toFixed beyond.
 * The CSV and JSON writers write the same digits without making strings.
 */
export function formatFixed(x: number, digits: number, scale: number): string {
  const out = new AsciiBuffer(64);
  out.fixed(x, digits, scale);
  return out.text();
}

const MAX_EXACT = 9007199254740992;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const COMMA = 44;
const NEWLINE = 10;
const ZERO = 48;
const DOT = 46;
const MINUS = 45;

/** A growable byte buffer of ASCII text, with number formatting that makes no strings. */
class AsciiBuffer {
  bytes: Buffer;
  at = 0;

  constructor(capacity: number) {
    this.bytes = Buffer.allocUnsafe(capacity);
  }

  private room(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.at + n));
    grown.set(this.bytes.subarray(0, this.at));
    this.bytes = grown;
  }

  byte(c: number): void {
    this.room(1);
    this.bytes[this.at++] = c;
  }

  /** Text as UTF-8. */
  string(s: string): void {
    this.room(s.length * 3);
    this.at += this.bytes.write(s, this.at, "utf8");
  }

  /** A non-negative integer below 2^53, at least `width` digits (zero-padded). */
  private digits(n: number, width: number): void {
    if (n >= 1e8 && n < MAX_EXACT) {
      // Two int32 halves: the high digits, then the low 8 (zero-padded).
      let high = Math.floor(n / 1e8);
      let low = n - high * 1e8;
      if (low < 0) {
        // n / 1e8 rounded up to the next integer (n just below a multiple of 1e8, near 2^53).
        high--;
        low += 1e8;
      }
      this.digits(high, width > 8 ? width - 8 : 1);
      this.digits(low, 8);
      return;
    }
    let k =
      n < 10
        ? 1
        : n < 100
          ? 2
          : n < 1000
            ? 3
            : n < 10000
              ? 4
              : n < 100000
                ? 5
                : n < 1000000
                  ? 6
                  : n < 10000000
                    ? 7
                    : 8;
    if (n >= 1e8) for (let p = 1e8; p <= n && k < 16; p *= 10) k++;
    if (k < width) k = width;
    this.room(k);
    const b = this.bytes;
    const start = this.at;
    let at = start + k;
    this.at = at;
    if (n < 2147483648) {
      // int32 arithmetic while it fits (every fraction, most integers).
      let m = n | 0;
      while (at > start) {
        const q = (m / 10) | 0;
        b[--at] = ZERO + m - q * 10;
        m = q;
      }
      return;
    }
    while (at > start) {
      const q = Math.floor(n / 10);
      b[--at] = ZERO + (n - q * 10);
      n = q;
    }
  }

  /** An integer (any safe integer; others as JavaScript writes them). */
  integer(n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.string(String(n));
      return;
    }
    if (n < 0) {
      this.byte(MINUS);
      n = -n;
    }
    this.digits(n, 1);
  }

  /** Element i of a BigInt64Array seen as 32-bit halves (no BigInt made while it is < 2^53). */
  int64(lo: Uint32Array, hi: Int32Array, i: number, values: BigInt64Array | BigUint64Array): void {
    const h = hi[2 * i + 1]!;
    if (h >= 0 && h < 0x200000) this.digits(h * 4294967296 + lo[2 * i]!, 1);
    else if (h < 0 && h >= -0x200000 && !(values instanceof BigUint64Array))
      this.integer(h * 4294967296 + lo[2 * i]!);
    else this.string(values[i]!.toString());
  }

  /** See formatFixed. */
  fixed(x: number, digits: number, scale: number): void {
    const ax = x < 0 ? -x : x;
    const scaled = Math.round(ax * scale);
    if (!(scaled < MAX_EXACT)) {
      if (Number.isFinite(x)) this.string(trimZeros(x.toFixed(digits)));
      return;
    }
    const whole = Math.floor(scaled / scale);
    let frac = scaled - whole * scale;
    if (x < 0 && scaled > 0) this.byte(MINUS);
    this.digits(whole, 1);
    if (frac === 0) return;
    // Trailing zeros dropped: fewer digits of a shorter fraction (int32 arithmetic while the
    // fraction fits, as every one of a position or separation does).
    let width = digits;
    if (frac < 2147483648) {
      let f = frac | 0;
      while (f % 10 === 0) {
        f = (f / 10) | 0;
        width--;
      }
      frac = f;
    } else {
      while (frac % 10 === 0) {
        frac /= 10;
        width--;
      }
    }
    this.byte(DOT);
    this.digits(frac, width);
  }

  /** Takes the bytes written so far (the buffer starts again, empty). */
  take(): Buffer {
    const out = this.bytes.subarray(0, this.at);
    this.bytes = Buffer.allocUnsafe(this.bytes.length);
    this.at = 0;
    return out;
  }

  text(): string {
    return this.bytes.toString("latin1", 0, this.at);
  }
}

function trimZeros(s: string): string {
  if (!s.includes(".")) return s;
  let e = s.length;
  while (s.charCodeAt(e - 1) === ZERO) e--;
  if (s.charCodeAt(e - 1) === DOT) e--;
  return s.slice(0, e);
}

const DEG_DIGITS = 9;
const DEG_SCALE = 1e9;
const SEP_DIGITS = 6;
const SEP_SCALE = 1e6;

/** Writes the cell of row i (nothing for a null CSV cell). */
type Cell = (out: AsciiBuffer, i: number) => void;

/** A CSV cell of text: quoted when it holds a comma, a quote or a newline. */
function csvText(out: AsciiBuffer, s: string): void {
  out.string(/[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
}

function jsonText(out: AsciiBuffer, s: string): void {
  out.string(JSON.stringify(s));
}

/** How ids are written: numbers as they are; strings quoted as CSV or JSON needs. */
/**
 * The cell of an object id. In JSON a 64-bit id is a string of its digits, as the data service
 * and `head --json` write it: a JSON number past 2^53 is read wrong by JavaScript (and jq), and
 * one id column then has one JSON type whatever its values.
 */
function idCell(
  values: ColumnValues,
  quote: (out: AsciiBuffer, s: string) => void,
  json: boolean,
): Cell {
  if (Array.isArray(values)) return (out, i) => quote(out, values[i] as string);
  if ((values instanceof BigInt64Array || values instanceof BigUint64Array) && LITTLE_ENDIAN) {
    const lo = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
    const hi = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
    if (json)
      return (out, i) => {
        out.byte(34);
        out.int64(lo, hi, i, values);
        out.byte(34);
      };
    return (out, i) => out.int64(lo, hi, i, values);
  }
  if (values instanceof BigInt64Array || values instanceof BigUint64Array)
    return json
      ? (out, i) => out.string(`"${values[i]!.toString()}"`)
      : (out, i) => out.string(values[i]!.toString());
  const v = values as ArrayLike<number>;
  return (out, i) => out.integer(v[i]!);
}

/**
 * Per-column cell writers for CSV (`json` false: empty cells for null) or JSON rows (null).
 * Right fields of a left row without a match are empty (CSV) or null (JSON).
 */
function cells(c: MatchCatalog, columns: CatalogColumn[], json: boolean): Cell[] {
  const nil: Cell = json ? (out) => out.string("null") : () => {};
  const quote = json ? jsonText : csvText;
  const hit = c.matched;
  const right =
    (cell: Cell): Cell =>
    (out, i) =>
      hit[i] === 1 ? cell(out, i) : nil(out, i);
  const num =
    (a: Float64Array, digits: number, scale: number): Cell =>
    (out, i) => {
      const x = a[i]!;
      if (Number.isNaN(x)) nil(out, i);
      else out.fixed(x, digits, scale);
    };
  // Each file's cell text, made once, when the file columns are asked for.
  const paths = (files: string[]) =>
    files.map((f) => {
      const b = new AsciiBuffer(f.length * 3 + 8);
      quote(b, f);
      return b.text();
    });
  const located = columns.includes("left_file") || columns.includes("right_file");
  const leftFiles = located ? paths(c.left_files) : [];
  const rightFiles = located ? paths(c.right_files) : [];
  return columns.map((name): Cell => {
    switch (name) {
      case "left_object_id":
        return idCell(c.left_object_id, quote, json);
      case "right_object_id":
        return right(idCell(c.right_object_id, quote, json));
      case "sep_arcsec":
        return num(c.sep_arcsec, SEP_DIGITS, SEP_SCALE);
      case "left_ra":
        return num(c.left_ra, DEG_DIGITS, DEG_SCALE);
      case "left_dec":
        return num(c.left_dec, DEG_DIGITS, DEG_SCALE);
      case "right_ra":
        return num(c.right_ra, DEG_DIGITS, DEG_SCALE);
      case "right_dec":
        return num(c.right_dec, DEG_DIGITS, DEG_SCALE);
      case "matched":
        return (out, i) => out.string(hit[i] === 1 ? "true" : "false");
      case "left_file":
        return (out, i) => out.string(leftFiles[c.left_file[i]!]!);
      case "left_row":
        return (out, i) => out.integer(c.left_row[i]!);
      case "left_index":
        return (out, i) => out.integer(c.left_index[i]!);
      case "right_file":
        return right((out, i) => out.string(rightFiles[c.right_file[i]!]!));
      case "right_row":
        return right((out, i) => out.integer(c.right_row[i]!));
      case "right_index":
        return right((out, i) => out.integer(c.right_index[i]!));
      default:
        throw new UsageError(`no catalog column "${name satisfies never}"`);
    }
  });
}

/**
 * Formats catalog rows as CSV lines or JSON objects (`json`), each line ending in a newline,
 * a block of rows at a time. Numbers as writeCatalogCsv writes them.
 */
export class CatalogText {
  private readonly fns: Cell[];
  private readonly keys: string[];
  private readonly out = new AsciiBuffer(1 << 20);

  /** The CSV of the plain columns, every row matched, 64-bit ids: one loop, no cell calls. */
  private readonly plain: boolean;

  constructor(
    private readonly catalog: MatchCatalog,
    columns: CatalogColumn[],
    private readonly json = false,
  ) {
    this.fns = cells(catalog, columns, json);
    this.keys = columns.map((name) => `${JSON.stringify(name)}:`);
    const int64 = (v: ColumnValues) =>
      LITTLE_ENDIAN && (v instanceof BigInt64Array || v instanceof BigUint64Array);
    this.plain =
      !json &&
      catalog.how === "inner" &&
      columns.length === CATALOG_COLUMNS.length &&
      columns.every((name, k) => name === CATALOG_COLUMNS[k]) &&
      int64(catalog.left_object_id) &&
      int64(catalog.right_object_id);
  }

  /**
   * {@link lines} of the plain CSV (what `xmatch --catalog-only` writes): the same bytes as the
   * cell writers make, a row at a time without a call per cell.
   */
  private plainLines(start: number, end: number): Buffer {
    const out = this.out;
    const c = this.catalog;
    const lid = c.left_object_id as BigInt64Array | BigUint64Array;
    const rid = c.right_object_id as BigInt64Array | BigUint64Array;
    const lLo = new Uint32Array(lid.buffer, lid.byteOffset, lid.length * 2);
    const lHi = new Int32Array(lid.buffer, lid.byteOffset, lid.length * 2);
    const rLo = new Uint32Array(rid.buffer, rid.byteOffset, rid.length * 2);
    const rHi = new Int32Array(rid.buffer, rid.byteOffset, rid.length * 2);
    const { sep_arcsec: sep, left_ra, left_dec, right_ra, right_dec } = c;
    for (let i = start; i < end; i++) {
      out.int64(lLo, lHi, i, lid);
      out.byte(COMMA);
      out.int64(rLo, rHi, i, rid);
      out.byte(COMMA);
      out.fixed(sep[i]!, SEP_DIGITS, SEP_SCALE);
      out.byte(COMMA);
      out.fixed(left_ra[i]!, DEG_DIGITS, DEG_SCALE);
      out.byte(COMMA);
      out.fixed(left_dec[i]!, DEG_DIGITS, DEG_SCALE);
      out.byte(COMMA);
      out.fixed(right_ra[i]!, DEG_DIGITS, DEG_SCALE);
      out.byte(COMMA);
      out.fixed(right_dec[i]!, DEG_DIGITS, DEG_SCALE);
      out.byte(NEWLINE);
    }
    return out.take();
  }

  /** Rows [start, end), one line each; `separator` goes between lines (after each but the last). */
  lines(start: number, end: number, separator = ""): Buffer {
    if (this.plain && !separator) return this.plainLines(start, end);
    const out = this.out;
    const fns = this.fns;
    const json = this.json;
    for (let i = start; i < end; i++) {
      if (json) out.byte(123);
      for (let k = 0; k < fns.length; k++) {
        if (k > 0) out.byte(COMMA);
        if (json) out.string(this.keys[k]!);
        fns[k]!(out, i);
      }
      if (json) out.byte(125);
      if (separator && i < end - 1) out.string(separator);
      else out.byte(NEWLINE);
    }
    return out.take();
  }
}

/**
 * Text of catalog rows [start, end), one line each (each ending in a newline): CSV cells, or
 * JSON objects (`json`; lines `{...}` without separators). Numbers as writeCatalogCsv writes them.
 */
export function catalogLines(
  c: MatchCatalog,
  columns: CatalogColumn[],
  start: number,
  end: number,
  json = false,
): string {
  return new CatalogText(c, columns, json).lines(start, end).toString("utf8");
}

const CSV_BLOCK_ROWS = 16_384;

/**
 * Writes the catalog as CSV: a header of {@link catalogColumns} (ids, sep_arcsec, left_ra,
 * left_dec, right_ra, right_dec; `matched` true/false for how "left"; with `locations`, the
 * files relative to each dataset root, rows in them and dataset rows), one line per row, right
 * fields empty for a left row without a match. Positions are written to 1e-9 degree, separations
 * to 1e-6 arcsec (trailing zeros dropped). Streamed in blocks of rows to a temporary file that is
 * fsynced and renamed to `path` when complete; on failure nothing is left under either name.
 */
export async function writeCatalogCsv(
  catalog: MatchCatalog,
  path: string,
  options: CatalogOutputOptions = {},
): Promise<void> {
  const tempPath = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(tempPath, "w");
  } catch (e) {
    throw new WriteError(
      `cannot create ${tempPath}: ${(e as Error).message}`,
      { file: path },
      { cause: e },
    );
  }
  try {
    const columns = catalogColumns(catalog, options);
    const text = new CatalogText(catalog, columns);
    // One block is written while the next is formatted.
    let pending: Promise<unknown> = handle.write(`${columns.join(",")}\n`);
    for (let s = 0; s < catalog.length; s += CSV_BLOCK_ROWS) {
      const block = text.lines(s, Math.min(catalog.length, s + CSV_BLOCK_ROWS));
      await pending;
      pending = handle.write(block);
    }
    await pending;
  } catch (e) {
    await discardFile(handle, tempPath);
    throw new WriteError(`write failed: ${(e as Error).message}`, { file: path }, { cause: e });
  }
  await publishFile(handle, tempPath, path);
}
