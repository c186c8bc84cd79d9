// Binary-table (XTENSION='BINTABLE') and ASCII-table (XTENSION='TABLE') column definitions and
// row decoding (FITS Standard 4.0, sections 7.2 and 7.3). Decoding works on a batch of raw rows
// so a table of any size is read in bounded memory; variable-length arrays (P/Q) are fetched
// from the heap through a callback that reads only the byte ranges the batch points to.

import type { ColumnBatch, ColumnSpec, Dtype, NumericArray } from "../core/columns.ts";
import { FormatError } from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import type { FitsHeader } from "./fits-header.ts";
import {
  alignedCopy,
  applyLinear,
  decodedDtype,
  flipSignBit,
  nativeView,
  nullMask,
  type Scaling,
  type StoredType,
  scalingKind,
} from "./fits-numbers.ts";

export type TformCode = "L" | "X" | "B" | "I" | "J" | "K" | "A" | "E" | "D" | "C" | "M";

export interface FitsColumn {
  /** 1-based column number n of TTYPEn / TFORMn. */
  number: number;
  name: string;
  tform: string;
  /** The element type; for P/Q columns the type of the array elements. */
  code: TformCode;
  /** Binary tables: repeat count (elements per row). ASCII tables: field width. */
  repeat: number;
  /** "P" or "Q" for variable-length arrays (one array per row, from the heap). */
  variable?: "P" | "Q";
  /** TFORM's declared maximum length of a variable-length array, when given. */
  maxLength?: number;
  /** Byte offset of the field within a row, and its width in the row. */
  byteOffset: number;
  byteWidth: number;
  /**
   * Decoded type and per-row shape. Complex columns (C, M) get a trailing axis of 2 (re, im).
   * Variable-length columns: dtype of the elements, shape [] (each row is an array).
   */
  spec: ColumnSpec;
  tnull?: number | bigint | string;
  scale: number;
  zero: number | bigint;
  /** How TSCAL/TZERO apply: not at all, the exact unsigned convention, or value·scale+zero. */
  scaling: "none" | "offset" | "linear";
  /** ASCII tables: the Fortran-style format letter (A, I, F, E, D) and decimals. */
  ascii?: { letter: string; decimals: number };
}

/** Rows [startRow, startRow+rows) of a table. */
export interface FitsTableBatch {
  startRow: number;
  rows: number;
  /** Fixed-size columns, ready for the storage writer (ColumnBatch of src/storage/columns). */
  columns: ColumnBatch;
  /** Variable-length (P/Q) columns: one array (or string for PA) per row. */
  variable: Record<string, NumericArray[] | string[]>;
  /**
   * Per-value null masks (1 = null, same length as the column's values) for columns that can
   * hold nulls: TNULLn integers, logicals stored as 0, blank ASCII-table fields.
   */
  nulls: Record<string, Uint8Array>;
}

const ELEMENT_BYTES: Record<TformCode, number> = {
  L: 1,
  X: 1,
  B: 1,
  I: 2,
  J: 4,
  K: 8,
  A: 1,
  E: 4,
  D: 8,
  C: 8,
  M: 16,
};

const STORED: Partial<Record<TformCode, StoredType>> = {
  B: "uint8",
  I: "int16",
  J: "int32",
  K: "int64",
  E: "float32",
  D: "float64",
  C: "float32",
  M: "float64",
};

const BIN_TFORM = /^\s*(\d*)([LXBIJKAEDCMPQ])(.*)$/;
const VLA_REST = /^([LXBIJKAEDCM])(?:\((\d*)\))?\s*$/;

export interface TableLayout {
  kind: "bintable" | "table";
  rowBytes: number;
  rows: number;
  columns: FitsColumn[];
  /** Offset of the heap from the start of the data, and its size (binary tables). */
  heapOffset: number;
  heapBytes: number;
}

/** Parses TDIMn "(d1,d2,...)" into numpy order [.., d2, d1]. */
function parseTdim(text: string): number[] | null {
  const m = /^\s*\(([\d\s,]+)\)\s*$/.exec(text);
  if (!m) return null;
  const dims = m[1].split(",").map((s) => Number(s.trim()));
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) return null;
  return dims.reverse();
}

function product(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Reads the column definitions of a BINTABLE or TABLE header; checks them against NAXIS1. */
export function tableLayout(header: FitsHeader, kind: "bintable" | "table"): TableLayout {
  const place = header.place;
  const fail = (n: number, keyword: string, message: string): never => {
    const card = header.card(`${keyword}${n}`);
    const where = card ? `card ${card.index + 1} (${keyword}${n})` : `column ${n}`;
    throw new FormatError(message, {
      file: place.file,
      column: header.optionalString(`TTYPE${n}`),
      detail: `HDU ${place.hdu}, ${where}`,
    });
  };
  const rowBytes = header.int("NAXIS1", 0);
  const rows = header.int("NAXIS2", 0);
  const fields = header.int("TFIELDS", 0, 999);
  const columns: FitsColumn[] = [];
  const names = new Set<string>();
  let offset = 0;
  for (let n = 1; n <= fields; n++) {
    const tform = header.optionalString(`TFORM${n}`);
    if (tform === undefined) fail(n, "TFORM", `missing TFORM${n}`);
    const name = header.optionalString(`TTYPE${n}`)?.trim() || `col${n}`;
    if (names.has(name)) fail(n, "TTYPE", `duplicate column name "${name}"`);
    names.add(name);
    const unit = header.optionalString(`TUNIT${n}`)?.trim() || undefined;
    const description = header.card(`TTYPE${n}`)?.comment || undefined;
    const col =
      kind === "bintable"
        ? binaryColumn(header, n, name, tform as string, offset, fail)
        : asciiColumn(header, n, name, tform as string, rowBytes, fail);
    if (unit) col.spec.unit = unit;
    if (description) col.spec.description = description;
    if (kind === "bintable") offset += col.byteWidth;
    columns.push(col);
  }
  if (kind === "bintable" && offset > rowBytes) {
    throw new FormatError(`columns need ${offset} bytes per row but NAXIS1 = ${rowBytes}`, {
      file: place.file,
      detail: `HDU ${place.hdu}, card ${(header.card("NAXIS1")?.index ?? 0) + 1} (NAXIS1)`,
    });
  }
  let heapOffset = rowBytes * rows;
  let heapBytes = 0;
  if (kind === "bintable") {
    const pcount = header.optionalInt("PCOUNT", 0, 0);
    const theap = header.optionalInt("THEAP", rowBytes * rows, 0);
    if (theap < rowBytes * rows || theap > rowBytes * rows + pcount) {
      throw new FormatError(
        `THEAP = ${theap} is outside the data (table ${rowBytes * rows} bytes, PCOUNT ${pcount})`,
        {
          file: place.file,
          detail: `HDU ${place.hdu}, card ${(header.card("THEAP")?.index ?? 0) + 1} (THEAP)`,
        },
      );
    }
    heapOffset = theap;
    heapBytes = rowBytes * rows + pcount - theap;
  }
  return { kind, rowBytes, rows, columns, heapOffset, heapBytes };
}

type Fail = (n: number, keyword: string, message: string) => never;

function scalingOf(header: FitsHeader, n: number, fail: Fail): Scaling {
  const scale = header.optionalNumber(`TSCAL${n}`) ?? 1;
  const zero = header.optionalNumber(`TZERO${n}`) ?? 0;
  if (typeof scale === "bigint" || !Number.isFinite(scale) || scale === 0) {
    fail(n, "TSCAL", `TSCAL${n} must be a finite non-zero number`);
  }
  return { scale: Number(scale), zero };
}

function binaryColumn(
  header: FitsHeader,
  n: number,
  name: string,
  tform: string,
  byteOffset: number,
  fail: Fail,
): FitsColumn {
  const m = BIN_TFORM.exec(tform);
  if (!m) fail(n, "TFORM", `cannot parse TFORM${n} = '${tform}'`);
  const [, repeatText, letter, rest] = m as RegExpExecArray;
  const repeat = repeatText === "" ? 1 : Number(repeatText);
  if (!Number.isSafeInteger(repeat)) fail(n, "TFORM", `repeat count of TFORM${n} too large`);
  let code = letter as TformCode;
  let variable: "P" | "Q" | undefined;
  let maxLength: number | undefined;
  if (letter === "P" || letter === "Q") {
    const v = VLA_REST.exec(rest);
    if (!v) fail(n, "TFORM", `cannot parse variable-length TFORM${n} = '${tform}'`);
    variable = letter;
    code = (v as RegExpExecArray)[1] as TformCode;
    if ((v as RegExpExecArray)[2]) maxLength = Number((v as RegExpExecArray)[2]);
  }
  const byteWidth = variable
    ? (variable === "P" ? 8 : 16) * Math.min(repeat, 1)
    : code === "X"
      ? Math.ceil(repeat / 8)
      : repeat * ELEMENT_BYTES[code];
  const { scale, zero } = scalingOf(header, n, fail);
  const stored = STORED[code];
  const numeric = stored !== undefined && code !== "C" && code !== "M";
  const scaling = numeric ? scalingKind(stored, { scale, zero }) : "none";
  let tnull: number | bigint | undefined;
  const tnullValue = header.get(`TNULL${n}`);
  if (tnullValue !== undefined && tnullValue !== null && numeric && code !== "E" && code !== "D") {
    if (
      typeof tnullValue !== "bigint" &&
      !(typeof tnullValue === "number" && Number.isInteger(tnullValue))
    ) {
      fail(n, "TNULL", `TNULL${n} must be an integer`);
    }
    tnull = tnullValue as number | bigint;
  }
  let dtype: Dtype;
  if (code === "L" || code === "X") dtype = "bool";
  else if (code === "A") dtype = "string";
  else dtype = decodedDtype(stored as StoredType, scaling, "float64");
  const spec: ColumnSpec = { name, dtype, shape: [] };
  const tdimText = header.optionalString(`TDIM${n}`);
  let dims: number[] | null = null;
  if (tdimText !== undefined && !variable) {
    dims = parseTdim(tdimText);
    if (!dims) fail(n, "TDIM", `cannot parse TDIM${n} = '${tdimText}'`);
    if (product(dims as number[]) > repeat) {
      fail(
        n,
        "TDIM",
        `TDIM${n} = '${tdimText}' holds more than the ${repeat} elements of TFORM${n}`,
      );
    }
  }
  if (!variable) {
    if (code === "A") {
      const width = dims ? (dims[dims.length - 1] as number) : repeat;
      spec.stringLength = width;
      spec.shape = dims ? dims.slice(0, -1) : [];
      if (!dims && repeat === 0) spec.shape = [0];
    } else if (dims) {
      spec.shape = dims;
    } else if (repeat !== 1 || code === "X") {
      spec.shape = [repeat];
    }
    if (code === "C" || code === "M") spec.shape = [...spec.shape, 2];
  } else if (code === "C" || code === "M") {
    spec.shape = [2];
  }
  const col: FitsColumn = {
    number: n,
    name,
    tform,
    code,
    repeat,
    byteOffset,
    byteWidth,
    spec,
    scale,
    zero,
    scaling,
  };
  if (variable) col.variable = variable;
  if (maxLength !== undefined) col.maxLength = maxLength;
  if (tnull !== undefined) col.tnull = tnull;
  return col;
}

// ASCII tables: fields are text at TBCOLn, formats Aw, Iw, Fw.d, Ew.d, Dw.d.
const ASCII_TFORM = /^\s*([AIFED])(\d+)(?:\.(\d+))?\s*$/;

function asciiColumn(
  header: FitsHeader,
  n: number,
  name: string,
  tform: string,
  rowBytes: number,
  fail: Fail,
): FitsColumn {
  const m = ASCII_TFORM.exec(tform);
  if (!m) fail(n, "TFORM", `cannot parse ASCII-table TFORM${n} = '${tform}'`);
  const [, letter, widthText, decimalsText] = m as RegExpExecArray;
  const width = Number(widthText);
  const tbcol = header.optionalInt(`TBCOL${n}`, -1, 1);
  if (tbcol < 0) fail(n, "TBCOL", `missing TBCOL${n}`);
  if (tbcol - 1 + width > rowBytes) {
    fail(
      n,
      "TBCOL",
      `field ${n} (TBCOL${n} = ${tbcol}, width ${width}) extends past NAXIS1 = ${rowBytes}`,
    );
  }
  const { scale, zero } = scalingOf(header, n, fail);
  // astropy's (CFITSIO's) choices: Iw → int16 (w ≤ 4), int32 (w ≤ 9), int64; F/E/D → float64.
  let dtype: Dtype =
    letter === "A"
      ? "string"
      : letter !== "I"
        ? "float64"
        : width <= 4
          ? "int16"
          : width <= 9
            ? "int32"
            : "int64";
  const linear = letter !== "A" && (scale !== 1 || Number(zero) !== 0);
  if (linear) dtype = "float64";
  const spec: ColumnSpec = { name, dtype, shape: [] };
  if (letter === "A") spec.stringLength = width;
  const col: FitsColumn = {
    number: n,
    name,
    tform,
    code: letter === "A" ? "A" : letter === "I" ? "K" : "D",
    repeat: width,
    byteOffset: tbcol - 1,
    byteWidth: width,
    spec,
    scale,
    zero,
    scaling: linear ? "linear" : "none",
    ascii: { letter, decimals: decimalsText ? Number(decimalsText) : 0 },
  };
  const tnull = header.get(`TNULL${n}`);
  if (typeof tnull === "string") col.tnull = tnull;
  return col;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Reads heap byte ranges (offsets from the heap start); one piece per range, in order. */
export type HeapReader = (ranges: { offset: number; length: number }[]) => Promise<Uint8Array[]>;

interface Context {
  file?: string;
  hdu?: number;
}

/** Copies the column's field out of each row into one contiguous aligned buffer. */
function gatherField(raw: Uint8Array, rows: number, rowBytes: number, col: FitsColumn): Uint8Array {
  const w = col.byteWidth;
  const out = new Uint8Array(new ArrayBuffer(rows * w));
  if (w > 16) {
    for (let r = 0; r < rows; r++) {
      const at = r * rowBytes + col.byteOffset;
      out.set(raw.subarray(at, at + w), r * w);
    }
    return out;
  }
  // Narrow fields: a byte loop beats creating a subarray per row.
  for (let r = 0, at = col.byteOffset, o = 0; r < rows; r++, at += rowBytes) {
    for (let k = 0; k < w; k++) out[o++] = raw[at + k];
  }
  return out;
}

const decodeText = (bytes: Uint8Array, start: number, end: number) =>
  Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("utf8");

/** A FITS character field: ends at the first NUL; trailing spaces are not significant. */
function fieldString(bytes: Uint8Array, start: number, end: number): string {
  let stop = start;
  while (stop < end && bytes[stop] !== 0) stop++;
  while (stop > start && bytes[stop - 1] === 32) stop--;
  return decodeText(bytes, start, stop);
}

function decodeLogical(bytes: Uint8Array): { values: Uint8Array; nulls: Uint8Array | null } {
  const values = new Uint8Array(bytes.length);
  let nulls: Uint8Array | null = null;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 84) values[i] = 1;
    else if (b === 0) {
      nulls ??= new Uint8Array(bytes.length);
      nulls[i] = 1;
    }
  }
  return { values, nulls };
}

function decodeBits(bytes: Uint8Array, rows: number, bits: number): Uint8Array {
  const per = Math.ceil(bits / 8);
  const out = new Uint8Array(rows * bits);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < bits; k++) {
      out[r * bits + k] = (bytes[r * per + (k >> 3)] >> (7 - (k & 7))) & 1;
    }
  }
  return out;
}

/** Decodes big-endian numbers of a column with its scaling; returns values and TNULL mask. */
function decodeNumbers(
  bytes: Uint8Array,
  col: FitsColumn,
): { values: NumericArray; nulls: Uint8Array | null } {
  const stored = nativeView(bytes, STORED[col.code] as StoredType);
  const nulls = col.tnull !== undefined ? nullMask(stored, col.tnull as number | bigint) : null;
  if (col.scaling === "offset") return { values: flipSignBit(stored), nulls };
  if (col.scaling === "linear") {
    return { values: applyLinear(stored, { scale: col.scale, zero: col.zero }, "float64"), nulls };
  }
  return { values: stored, nulls };
}

/**
 * Bytes one row of these columns takes once decoded (typed arrays; strings at one byte per
 * character; bits as one byte each); variable-length columns count their descriptor only.
 */
export function decodedRowBytes(columns: FitsColumn[]): number {
  let n = 0;
  for (const c of columns) {
    if (c.variable) n += 16;
    else if (c.spec.dtype === "string") n += Math.max(1, c.byteWidth) * 2;
    else n += product(c.spec.shape) * (c.code === "X" || c.code === "L" ? 1 : 8);
  }
  return n;
}

/** Number of values of one row of a fixed-size column. */
function valuesOf(col: FitsColumn): number {
  return product(col.spec.shape);
}

function decodeFixed(
  raw: Uint8Array,
  rows: number,
  rowBytes: number,
  col: FitsColumn,
  out: FitsTableBatch,
): void {
  const bytes = gatherField(raw, rows, rowBytes, col);
  const name = col.name;
  const per = valuesOf(col);
  if (col.code === "A") {
    const width = col.spec.stringLength ?? 0;
    const strings = new Array<string>(rows * per);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < per; k++) {
        const at = r * col.byteWidth + k * width;
        strings[r * per + k] = fieldString(bytes, at, at + width);
      }
    }
    out.columns[name] = strings;
    return;
  }
  if (col.code === "X") {
    out.columns[name] = decodeBits(bytes, rows, col.repeat);
    return;
  }
  // TDIM may use fewer elements than the repeat count: keep the first `per` of each row.
  const complex = col.code === "C" || col.code === "M";
  const elementBytes = ELEMENT_BYTES[col.code] / (complex ? 2 : 1);
  const usedBytes = per * elementBytes;
  const packed =
    usedBytes === col.byteWidth ? bytes : trimRows(bytes, rows, col.byteWidth, usedBytes);
  if (col.code === "L") {
    const { values, nulls } = decodeLogical(packed);
    out.columns[name] = values;
    if (nulls) out.nulls[name] = nulls;
    return;
  }
  const { values, nulls } = decodeNumbers(packed, col);
  out.columns[name] = values;
  if (nulls) out.nulls[name] = nulls;
}

function trimRows(bytes: Uint8Array, rows: number, width: number, keep: number): Uint8Array {
  const out = new Uint8Array(new ArrayBuffer(rows * keep));
  for (let r = 0; r < rows; r++) out.set(bytes.subarray(r * width, r * width + keep), r * keep);
  return out;
}

async function decodeVariable(
  raw: Uint8Array,
  rows: number,
  startRow: number,
  layout: TableLayout,
  col: FitsColumn,
  readHeap: HeapReader,
  ctx: Context,
  out: FitsTableBatch,
): Promise<void> {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const elementBytes = ELEMENT_BYTES[col.code];
  const ranges: { offset: number; length: number }[] = [];
  const counts: number[] = [];
  for (let r = 0; r < rows; r++) {
    const at = r * layout.rowBytes + col.byteOffset;
    let count: number;
    let offset: number;
    if (col.repeat === 0) {
      count = 0;
      offset = 0;
    } else if (col.variable === "P") {
      count = view.getInt32(at, false);
      offset = view.getInt32(at + 4, false);
    } else {
      const c = view.getBigInt64(at, false);
      const o = view.getBigInt64(at + 8, false);
      count = c > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(c);
      offset = o > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(o);
    }
    const length = col.code === "X" ? Math.ceil(count / 8) : count * elementBytes;
    if (count < 0 || offset < 0 || offset + length > layout.heapBytes) {
      throw new FormatError(
        `row ${startRow + r} points to heap bytes [${offset}, ${offset + length}) outside the heap of ${layout.heapBytes} bytes (count ${count})`,
        { file: ctx.file, column: col.name, detail: `HDU ${ctx.hdu}, row ${startRow + r}` },
      );
    }
    ranges.push({ offset, length });
    counts.push(count);
  }
  const pieces = await readHeap(ranges);
  const arrays: (NumericArray | string)[] = [];
  for (let r = 0; r < rows; r++) {
    const piece = pieces[r];
    if (col.code === "A") arrays.push(fieldString(piece, 0, piece.length));
    else if (col.code === "X") arrays.push(decodeBits(piece, 1, counts[r]));
    // Variable-length logicals: a stored 0 (null) reads as false; no per-element mask here.
    else if (col.code === "L") arrays.push(decodeLogical(piece).values);
    else arrays.push(decodeNumbers(alignedCopy(piece), col).values);
  }
  out.variable[col.name] = arrays as NumericArray[] | string[];
}

function parseAsciiNumber(text: string, col: FitsColumn): number | bigint | null {
  const t = text.trim();
  if (t === "" || (typeof col.tnull === "string" && t === col.tnull.trim())) return null;
  if (col.ascii?.letter === "I") {
    if (!/^[+-]?\d+$/.test(t)) return Number.NaN;
    return BigInt(t);
  }
  // No Fortran implied decimal point ("17" under F7.2 is 17, not 0.17), as astropy reads it.
  const s = t.replace(/[Dd]/, "E");
  const v = Number(s);
  return Number.isNaN(v) && !/^[+-]?nan$/i.test(s) ? Number.NaN : v;
}

function outOfRange(text: string, row: number, col: FitsColumn, ctx: Context): FormatError {
  return new FormatError(`row ${row}: "${text.trim()}" does not fit ${col.spec.dtype}`, {
    file: ctx.file,
    column: col.name,
    detail: `HDU ${ctx.hdu}, row ${row}`,
  });
}

function decodeAscii(
  raw: Uint8Array,
  rows: number,
  startRow: number,
  rowBytes: number,
  col: FitsColumn,
  ctx: Context,
  out: FitsTableBatch,
): void {
  const start = col.byteOffset;
  if (col.spec.dtype === "string") {
    const strings = new Array<string>(rows);
    for (let r = 0; r < rows; r++)
      strings[r] = fieldString(raw, r * rowBytes + start, r * rowBytes + start + col.byteWidth);
    out.columns[col.name] = strings;
    return;
  }
  const nulls = new Uint8Array(rows);
  let anyNull = false;
  const dtype = col.spec.dtype;
  const values: NumericArray =
    dtype === "int16"
      ? new Int16Array(rows)
      : dtype === "int32"
        ? new Int32Array(rows)
        : dtype === "int64"
          ? new BigInt64Array(rows)
          : new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const at = r * rowBytes + start;
    const text = Buffer.from(raw.buffer, raw.byteOffset + at, col.byteWidth).toString("latin1");
    const v = parseAsciiNumber(text, col);
    if (v === null) {
      nulls[r] = 1;
      anyNull = true;
      if (values instanceof Float64Array) values[r] = Number.NaN;
      continue;
    }
    if (typeof v === "number" && Number.isNaN(v) && !/nan/i.test(text)) {
      throw new FormatError(`row ${startRow + r}: cannot read "${text.trim()}" as ${col.tform}`, {
        file: ctx.file,
        column: col.name,
        detail: `HDU ${ctx.hdu}, row ${startRow + r}`,
      });
    }
    if (col.scaling === "linear")
      (values as Float64Array)[r] = Number(v) * col.scale + Number(col.zero);
    else if (values instanceof BigInt64Array) {
      values[r] = BigInt(v);
      if (values[r] !== BigInt(v)) throw outOfRange(text, startRow + r, col, ctx);
    } else {
      values[r] = Number(v);
      if (!(values instanceof Float64Array) && values[r] !== Number(v))
        throw outOfRange(text, startRow + r, col, ctx);
    }
  }
  out.columns[col.name] = values;
  if (anyNull) out.nulls[col.name] = nulls;
}

/** Decodes `rows` raw rows (row-major, NAXIS1 bytes each) of the selected columns. */
export async function decodeRows(
  raw: Uint8Array,
  rows: number,
  startRow: number,
  layout: TableLayout,
  columns: FitsColumn[],
  readHeap: HeapReader,
  ctx: Context,
): Promise<FitsTableBatch> {
  const out: FitsTableBatch = {
    startRow,
    rows,
    columns: emptyRecord(),
    variable: emptyRecord(),
    nulls: emptyRecord(),
  };
  for (const col of columns) {
    if (layout.kind === "table") decodeAscii(raw, rows, startRow, layout.rowBytes, col, ctx, out);
    else if (col.variable)
      await decodeVariable(raw, rows, startRow, layout, col, readHeap, ctx, out);
    else decodeFixed(raw, rows, layout.rowBytes, col, out);
  }
  return out;
}
