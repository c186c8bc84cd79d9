// CSV (RFC 4180: quoted fields with "" escapes and embedded newlines, CRLF or LF) read as a
// stream of row batches, with per-column type inference, and a streaming writer. The
// tokenizer is shared with the ECSV reader (space-delimited, '#' comment lines).
//
// Type inference: a column is int64 when every value is an integer that fits in 64 bits (the
// values come back as BigInt64Array, exact beyond 2^53), float64 when every value is a number
// (incl. nan, inf), bool when every value is true/false (any case), else string. Empty
// unquoted fields are nulls: NaN in float columns, 0 / false / "" elsewhere, always flagged in
// `nulls`. A quoted empty field ("") is the empty string in a string column, null otherwise.
// By default the whole file is scanned once to infer the types (memory stays bounded), then
// read again in batches; `inferRows` limits the scan, and a later value that does not fit the
// inferred type is a FormatError naming its line.
import { type FileHandle, open } from "node:fs/promises";
import { discardFile, publishFile } from "../core/atomic-file.ts";
import {
  aDtype,
  batchRows,
  type ColumnBatch,
  type ColumnSpec,
  type Dtype,
  type NumericArray,
} from "../core/columns.ts";
import { FormatError, UsageError, WriteError } from "../core/errors.ts";
import { integerText, isDecimalText } from "../core/number-text.ts";
import { emptyRecord, own } from "../core/records.ts";
import { textChunks } from "./text.ts";

/** Rows of a text table: columns ready for the storage writer, plus null masks. */
export interface TextTableBatch {
  /** Index of the first row of the batch (0-based, data rows only). */
  startRow: number;
  rows: number;
  columns: ColumnBatch;
  /** Columns with at least one null in this batch: 1 = null, one entry per value. */
  nulls: Record<string, Uint8Array>;
}

export interface CsvRecord {
  fields: string[];
  quoted: boolean[];
  /** 1-based line where the record starts. */
  line: number;
}

export interface TokenizerOptions {
  /** Field delimiter; " " means runs of spaces (and tabs, unless `tabs` is false) separate fields. */
  delimiter: string;
  /**
   * With delimiter " ": whether a tab separates fields too (default true, for whitespace tables).
   * ECSV says false: its delimiter is the space, and astropy writes a tab inside a string as is.
   */
  tabs?: boolean;
  /** Lines starting with this character (outside quotes) are skipped. */
  comment?: string;
  file?: string;
  /** Longest field accepted; a runaway quote otherwise swallows the whole file. */
  maxFieldLength?: number;
}

/** Most fields (values) a batch of rows holds, whatever the row count asked for. */
export const MAX_BATCH_FIELDS = 1 << 22;

/** Longest field the tokenizer accepts by default (characters). */
export const DEFAULT_MAX_FIELD = 64 * 1024 * 1024;

/** Incremental CSV tokenizer: push text chunks, collect complete records. */
export class CsvTokenizer {
  private readonly delimiter: string;
  private readonly spaces: boolean;
  /** Tabs separate fields (delimiter " " and `tabs` not false). */
  private readonly tabs: boolean;
  private readonly comment: string | undefined;
  private readonly file: string | undefined;
  private readonly maxField: number;
  private fields: string[] = [];
  private quoted: boolean[] = [];
  private cur = "";
  private curQuoted = false;
  private inQuotes = false;
  private started = false;
  private inComment = false;
  private carry = "";
  private line = 1;
  private recordLine = 1;

  constructor(options: TokenizerOptions) {
    this.delimiter = options.delimiter;
    this.spaces = options.delimiter === " ";
    this.tabs = this.spaces && options.tabs !== false;
    this.comment = options.comment;
    this.file = options.file;
    this.maxField = options.maxFieldLength ?? DEFAULT_MAX_FIELD;
    if (options.delimiter.length !== 1 || options.delimiter === '"' || options.delimiter === "\n") {
      throw new UsageError(`bad delimiter ${JSON.stringify(options.delimiter)}`);
    }
  }

  get currentLine(): number {
    return this.line;
  }

  private finishField(): void {
    this.fields.push(this.cur);
    this.quoted.push(this.curQuoted);
    this.cur = "";
    this.curQuoted = false;
  }

  private endRecord(out: CsvRecord[]): void {
    if (this.spaces) {
      if (this.cur !== "" || this.curQuoted) this.finishField();
    } else if (this.started) this.finishField();
    if (this.fields.length > 0)
      out.push({ fields: this.fields, quoted: this.quoted, line: this.recordLine });
    this.fields = [];
    this.quoted = [];
    this.started = false;
  }

  private tooLong(): FormatError {
    return new FormatError(`field longer than ${this.maxField} characters (unbalanced quote?)`, {
      file: this.file,
      detail: `line ${this.recordLine}`,
    });
  }

  push(chunk: string, out: CsvRecord[]): void {
    let s = this.carry + chunk;
    // A final '\r' or run of '"' needs the next character to be understood: keep it for later.
    let keep = s.length;
    if (s.endsWith("\r")) keep--;
    else while (keep > 0 && s[keep - 1] === '"') keep--;
    this.carry = s.slice(keep);
    s = s.slice(0, keep);
    this.scan(s, out);
  }

  end(out: CsvRecord[]): void {
    const s = this.carry;
    this.carry = "";
    this.scan(s, out);
    if (this.inQuotes) {
      throw new FormatError("file ends inside a quoted field", {
        file: this.file,
        detail: `field starting on line ${this.recordLine}`,
      });
    }
    this.endRecord(out);
  }

  private scan(s: string, out: CsvRecord[]): void {
    const n = s.length;
    const delim = this.delimiter;
    let j = 0;
    while (j < n) {
      const c = s[j];
      if (this.inComment) {
        const eol = s.indexOf("\n", j);
        if (eol < 0) return;
        this.inComment = false;
        this.line++;
        j = eol + 1;
        continue;
      }
      if (this.inQuotes) {
        const q = s.indexOf('"', j);
        const end = q < 0 ? n : q;
        const piece = s.slice(j, end);
        for (let k = piece.indexOf("\n"); k >= 0; k = piece.indexOf("\n", k + 1)) this.line++;
        this.cur += piece;
        if (this.cur.length > this.maxField) throw this.tooLong();
        if (q < 0) return;
        if (s[q + 1] === '"') {
          this.cur += '"';
          j = q + 2;
        } else {
          this.inQuotes = false;
          j = q + 1;
        }
        continue;
      }
      if (c === "\n" || c === "\r") {
        this.endRecord(out);
        j += c === "\r" && s[j + 1] === "\n" ? 2 : 1;
        this.line++;
        this.recordLine = this.line;
        continue;
      }
      if (
        !this.started &&
        this.comment !== undefined &&
        c === this.comment &&
        this.fields.length === 0 &&
        this.cur === ""
      ) {
        this.inComment = true;
        continue;
      }
      if (this.spaces ? c === " " || (this.tabs && c === "\t") : c === delim) {
        if (!this.spaces || this.cur !== "" || this.curQuoted) this.finishField();
        if (!this.spaces) this.started = true;
        j++;
        continue;
      }
      if (!this.started) this.recordLine = this.line;
      this.started = true;
      if (c === '"' && this.cur === "" && !this.curQuoted) {
        this.inQuotes = true;
        this.curQuoted = true;
        j++;
        continue;
      }
      // Plain run of characters up to the next special one.
      let k = j + 1;
      while (k < n) {
        const d = s[k];
        if (d === "\n" || d === "\r" || d === '"' || d === delim || (this.tabs && d === "\t"))
          break;
        k++;
      }
      this.cur += s.slice(j, k);
      if (this.cur.length > this.maxField) throw this.tooLong();
      // A quote inside an unquoted field (or after a closing quote) is kept as a character.
      if (k < n && s[k] === '"') {
        this.cur += '"';
        k++;
      }
      j = k;
    }
  }
}

/** Reads a text file (plain or gzip) in records, about 1 MiB of text at a time. */
export async function* readRecords(
  path: string,
  options: TokenizerOptions,
  start = 0,
  chunkBytes?: number,
): AsyncGenerator<CsvRecord[]> {
  const tokenizer = new CsvTokenizer(options);
  let first = start === 0;
  for await (const chunk of textChunks(path, { start, chunkBytes })) {
    const out: CsvRecord[] = [];
    tokenizer.push(first && chunk.charCodeAt(0) === 0xfeff ? chunk.slice(1) : chunk, out);
    first = false;
    if (out.length) yield out;
  }
  const out: CsvRecord[] = [];
  tokenizer.end(out);
  if (out.length) yield out;
}

// ---------------------------------------------------------------------------------------------
// Values

const SPECIAL_FLOATS: Record<string, number> = {
  nan: Number.NaN,
  "+nan": Number.NaN,
  "-nan": Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  "+inf": Number.POSITIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  "+infinity": Number.POSITIVE_INFINITY,
  "-inf": Number.NEGATIVE_INFINITY,
  "-infinity": Number.NEGATIVE_INFINITY,
};

export const INT_RANGES: Record<string, [bigint, bigint]> = {
  int8: [-128n, 127n],
  int16: [-32768n, 32767n],
  int32: [-2147483648n, 2147483647n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint8: [0n, 255n],
  uint16: [0n, 65535n],
  uint32: [0n, 4294967295n],
  uint64: [0n, 2n ** 64n - 1n],
};

/** An integer in the dtype's range, or null when `text` is not one. */
export function parseInteger(text: string, dtype: string): bigint | null {
  const v = integerText(text);
  if (v === null) return null;
  const [lo, hi] = INT_RANGES[dtype];
  return v < lo || v > hi ? null : v;
}

/** A float (nan, inf, -inf accepted in any case), or null when `text` is not a number. */
export function parseFloatText(text: string): number | null {
  const t = text.trim();
  if (isDecimalText(t)) return Number(t);
  const special = own(SPECIAL_FLOATS, t.toLowerCase());
  return special === undefined ? null : special;
}

export function parseBool(text: string): boolean | null {
  const t = text.trim().toLowerCase();
  return t === "true" ? true : t === "false" ? false : null;
}

/** Allocates a column of `n` values of `dtype` (bool → Uint8Array, string → string[]). */
export function allocateValues(dtype: Dtype, n: number): NumericArray | string[] {
  switch (dtype) {
    case "string":
      return new Array<string>(n).fill("");
    case "bool":
    case "uint8":
      return new Uint8Array(n);
    case "int8":
      return new Int8Array(n);
    case "int16":
      return new Int16Array(n);
    case "uint16":
      return new Uint16Array(n);
    case "int32":
      return new Int32Array(n);
    case "uint32":
      return new Uint32Array(n);
    case "int64":
      return new BigInt64Array(n);
    case "uint64":
      return new BigUint64Array(n);
    case "float32":
      return new Float32Array(n);
    case "float64":
      return new Float64Array(n);
  }
}

/**
 * Stores the text of one value into `values[at]`; returns false when it does not parse as
 * `dtype`. Integers go through BigInt so 64-bit values stay exact.
 */
export function storeValue(
  values: NumericArray | string[],
  at: number,
  dtype: Dtype,
  text: string,
): boolean {
  if (dtype === "string") {
    (values as string[])[at] = text;
    return true;
  }
  if (dtype === "bool") {
    const b = parseBool(text);
    if (b === null) return false;
    (values as Uint8Array)[at] = b ? 1 : 0;
    return true;
  }
  if (dtype === "float32" || dtype === "float64") {
    const f = parseFloatText(text);
    if (f === null) return false;
    (values as Float64Array)[at] = f;
    return true;
  }
  const v = parseInteger(text, dtype);
  if (v === null) return false;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array) values[at] = v;
  else (values as Int32Array)[at] = Number(v);
  return true;
}

/** Writes the null placeholder (NaN for floats, zero/empty otherwise). */
export function storeNull(values: NumericArray | string[], at: number): void {
  if (values instanceof Float32Array || values instanceof Float64Array) values[at] = Number.NaN;
}

// ---------------------------------------------------------------------------------------------
// Reader

export interface CsvReadOptions {
  /** Field delimiter, default ",". */
  delimiter?: string;
  /** First record holds the column names (default true); else names are col1, col2, ... */
  header?: boolean;
  /** Types to use instead of inferring them, by column name. */
  types?: Record<string, Dtype>;
  /** Infer from the first this many data rows only (default: all rows, one extra pass). */
  inferRows?: number;
  /** Skip lines starting with this character. */
  comment?: string;
}

interface Inference {
  int: boolean;
  /** Every value an integer in [0, 2^64) (see CsvReader.uint64Columns). */
  uint: boolean;
  float: boolean;
  bool: boolean;
  seen: boolean;
}

function inferType(inf: Inference): Dtype {
  if (!inf.seen) return "string";
  if (inf.int) return "int64";
  if (inf.float) return "float64";
  if (inf.bool) return "bool";
  return "string";
}

export class CsvReader {
  readonly path: string;
  readonly specs: ColumnSpec[];
  /**
   * Inferred columns whose values are all integers in [0, 2^64), some past int64 (unsigned 64-bit
   * survey ids): float64 in `specs`, as astropy infers them, which keeps ~16 of their digits; a
   * caller that needs them exact reads them as uint64 (`types`).
   */
  readonly uint64Columns: string[];
  private readonly options: Required<Pick<CsvReadOptions, "delimiter" | "header">> & CsvReadOptions;

  private constructor(
    path: string,
    specs: ColumnSpec[],
    options: CsvReader["options"],
    uint64Columns: string[],
  ) {
    this.path = path;
    this.specs = specs;
    this.options = options;
    this.uint64Columns = uint64Columns;
  }

  get names(): string[] {
    return this.specs.map((s) => s.name);
  }

  /** Reads the header and infers the column types (scanning the file once, unless limited). */
  static async open(path: string, options: CsvReadOptions = {}): Promise<CsvReader> {
    const opts = {
      ...options,
      delimiter: options.delimiter ?? ",",
      header: options.header ?? true,
    };
    const tokenizerOptions = { delimiter: opts.delimiter, comment: opts.comment, file: path };
    let names: string[] | undefined;
    let inference: Inference[] = [];
    let scanned = 0;
    const limit = opts.inferRows ?? Number.POSITIVE_INFINITY;
    // A limited scan reads small chunks: the whole first 1 MiB chunk was tokenized before the
    // limit was looked at (~70 ms per open; a catalog build opens its CSV twice).
    const chunkBytes = Number.isFinite(limit) ? 64 * 1024 : undefined;
    outer: for await (const records of readRecords(path, tokenizerOptions, 0, chunkBytes)) {
      for (const rec of records) {
        if (!names) {
          names = opts.header
            ? rec.fields.map((f) => f.trim())
            : rec.fields.map((_, k) => `col${k + 1}`);
          checkNames(names, path, rec.line);
          inference = names.map(() => ({
            int: true,
            uint: true,
            float: true,
            bool: true,
            seen: false,
          }));
          if (opts.header) continue;
        }
        if (scanned >= limit) break outer;
        checkWidth(rec, names, path);
        for (let k = 0; k < names.length; k++) {
          const text = rec.fields[k];
          const inf = inference[k];
          if (text === "") continue;
          inf.seen = true;
          // One parse per value: as int64 while the column is, else as uint64.
          let inInt64 = false;
          if (inf.int) {
            const v = parseInteger(text, "int64");
            if (v === null) inf.int = false;
            else {
              inInt64 = true;
              if (v < 0n) inf.uint = false;
            }
          }
          if (inf.uint && !inInt64 && parseInteger(text, "uint64") === null) inf.uint = false;
          if (inf.float && parseFloatText(text) === null) inf.float = false;
          if (inf.bool && parseBool(text) === null) inf.bool = false;
        }
        scanned++;
      }
    }
    if (!names) throw new FormatError("CSV file is empty (no header row)", { file: path });
    const specs = names.map(
      (name, k): ColumnSpec => ({
        name,
        dtype: opts.types?.[name] ?? inferType(inference[k]),
        shape: [],
      }),
    );
    for (const s of specs) {
      if (
        s.dtype === "string" ||
        s.dtype === "bool" ||
        Object.hasOwn(INT_RANGES, s.dtype) ||
        s.dtype.startsWith("float")
      )
        continue;
      throw new UsageError(`unknown dtype ${s.dtype}`, { file: path, column: s.name });
    }
    const uint64Columns = names.filter(
      (name, k) =>
        opts.types?.[name] === undefined &&
        inference[k].seen &&
        !inference[k].int &&
        inference[k].uint,
    );
    return new CsvReader(path, specs, opts, uint64Columns);
  }

  /** Data rows in batches of `batchSize`. */
  async *batches(batchSize = 65536): AsyncGenerator<TextTableBatch> {
    if (!(Number.isInteger(batchSize) && batchSize > 0)) {
      throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
    }
    const { specs, path } = this;
    let pending: CsvRecord[] = [];
    let pendingFields = 0;
    let skipHeader = this.options.header;
    let startRow = 0;
    for await (const records of readRecords(path, {
      delimiter: this.options.delimiter,
      comment: this.options.comment,
      file: path,
    })) {
      for (const rec of records) {
        if (skipHeader) {
          skipHeader = false;
          continue;
        }
        pending.push(rec);
        pendingFields += rec.fields.length;
        // Wide rows (a header of a million columns) end a batch early: memory follows values.
        if (pending.length === batchSize || pendingFields >= MAX_BATCH_FIELDS) {
          yield convertRecords(pending, specs, startRow, path);
          startRow += pending.length;
          pending = [];
          pendingFields = 0;
        }
      }
    }
    if (pending.length) yield convertRecords(pending, specs, startRow, path);
  }
}

function checkNames(names: string[], file: string, line: number): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n))
      throw new FormatError(`duplicate column name "${n}"`, {
        file,
        column: n,
        detail: `line ${line}`,
      });
    seen.add(n);
  }
}

function checkWidth(rec: CsvRecord, header: readonly string[], file: string): void {
  if (rec.fields.length !== header.length) {
    // A single-field header that starts with "#" is a comment line read as the header.
    const hint =
      header.length === 1 && header[0].startsWith("#")
        ? `: the header read is the line "${header[0].slice(0, 60)}"; to skip comment lines, set the comment character (catalog.comment: "#" in a build spec)`
        : "";
    throw new FormatError(
      `row has ${rec.fields.length} fields, the header has ${header.length}${hint}`,
      {
        file,
        detail: `line ${rec.line}`,
      },
    );
  }
}

function convertRecords(
  records: CsvRecord[],
  specs: ColumnSpec[],
  startRow: number,
  file: string,
): TextTableBatch {
  const rows = records.length;
  const batch: TextTableBatch = { startRow, rows, columns: emptyRecord(), nulls: emptyRecord() };
  const names = specs.map((s) => s.name);
  for (const rec of records) checkWidth(rec, names, file);
  specs.forEach((spec, k) => {
    const values = allocateValues(spec.dtype, rows);
    let nulls: Uint8Array | undefined;
    for (let r = 0; r < rows; r++) {
      const text = records[r].fields[k];
      if (text === "" && !(spec.dtype === "string" && records[r].quoted[k])) {
        nulls ??= new Uint8Array(rows);
        nulls[r] = 1;
        storeNull(values, r);
        continue;
      }
      if (!storeValue(values, r, spec.dtype, text)) {
        throw new FormatError(`"${text}" is not ${aDtype(spec.dtype)} value`, {
          file,
          column: spec.name,
          detail: `line ${records[r].line}`,
        });
      }
    }
    batch.columns[spec.name] = values;
    if (nulls) batch.nulls[spec.name] = nulls;
  });
  return batch;
}

export function openCsv(path: string, options: CsvReadOptions = {}): Promise<CsvReader> {
  return CsvReader.open(path, options);
}

// ---------------------------------------------------------------------------------------------
// Writer

/** Does x (a float32) read back from `p` significant digits? */
function float32RoundTrips(x: number, p: number): boolean {
  return Math.fround(Number(x.toPrecision(p))) === x;
}

/** Shortest decimal that reads back as the same float32. */
export function formatFloat32(x: number): string {
  // Zero and non-finite values as float64 has them (toPrecision drops the sign of -0).
  if (!Number.isFinite(x) || x === 0) return formatFloat64(x);
  // Whether p digits read back is monotonic in p (the nearest p-digit decimal is also a
  // (p+1)-digit one, so p+1 digits are never farther from x), and 9 always do: search from 7,
  // where most measured values land, instead of counting up from 1 (2 tries instead of 7-9).
  let p: number;
  if (float32RoundTrips(x, 7)) {
    let lo = 1;
    let hi = 7;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (float32RoundTrips(x, mid)) hi = mid;
      else lo = mid + 1;
    }
    p = lo;
  } else p = float32RoundTrips(x, 8) ? 8 : 9;
  return formatFloat64(Number(x.toPrecision(p)));
}

/** Python-like repr: shortest round-trip decimal, nan / inf / -inf, -0.0 kept. */
export function formatFloat64(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Number.POSITIVE_INFINITY) return "inf";
  if (x === Number.NEGATIVE_INFINITY) return "-inf";
  if (Object.is(x, -0)) return "-0.0";
  const s = String(x);
  return Number.isInteger(x) && !s.includes("e") ? `${s}.0` : s;
}

/** Text of one scalar value of a column (numbers exact, bool as True/False). */
export function formatValue(values: NumericArray | string[], at: number, dtype: Dtype): string {
  const v = values[at];
  if (dtype === "bool") return v ? "True" : "False";
  if (dtype === "float32") return formatFloat32(v as number);
  if (dtype === "float64") return formatFloat64(v as number);
  return String(v);
}

export function quoteField(text: string, delimiter: string): string {
  const needs =
    text === "" ||
    text.includes(delimiter) ||
    text.includes('"') ||
    text.includes("\n") ||
    text.includes("\r") ||
    text.startsWith("#") ||
    (delimiter === " " && text.includes("\t")) ||
    text.trim() !== text;
  return needs ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Streams rows to a text file written under a temporary name and renamed on close(). */
export class TextTableFile {
  readonly path: string;
  private readonly tempPath: string;
  private readonly handle: FileHandle;
  private closed = false;

  private constructor(path: string, tempPath: string, handle: FileHandle) {
    this.path = path;
    this.tempPath = tempPath;
    this.handle = handle;
  }

  static async create(path: string): Promise<TextTableFile> {
    const tempPath = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
    try {
      return new TextTableFile(path, tempPath, await open(tempPath, "w"));
    } catch (e) {
      throw new WriteError(
        `cannot create ${tempPath}: ${(e as Error).message}`,
        { file: path },
        { cause: e },
      );
    }
  }

  async write(text: string): Promise<void> {
    try {
      await this.handle.write(text, null, "utf8");
    } catch (e) {
      throw new WriteError(
        `write failed: ${(e as Error).message}`,
        { file: this.path },
        { cause: e },
      );
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await publishFile(this.handle, this.tempPath, this.path);
  }

  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await discardFile(this.handle, this.tempPath);
  }
}

export interface CsvWriteOptions {
  delimiter?: string;
}

export class CsvWriter {
  private readonly out: TextTableFile;
  private readonly specs: ColumnSpec[];
  private readonly delimiter: string;

  private constructor(out: TextTableFile, specs: ColumnSpec[], delimiter: string) {
    this.out = out;
    this.specs = specs;
    this.delimiter = delimiter;
  }

  /** Starts a CSV file with a header row; columns must be scalars (shape []). */
  static async create(
    path: string,
    specs: ColumnSpec[],
    options: CsvWriteOptions = {},
  ): Promise<CsvWriter> {
    const delimiter = options.delimiter ?? ",";
    for (const s of specs) {
      if (s.shape.length > 0) {
        throw new UsageError(
          "CSV holds scalar columns only; write multidimensional columns to ECSV",
          {
            file: path,
            column: s.name,
          },
        );
      }
    }
    const out = await TextTableFile.create(path);
    const writer = new CsvWriter(out, specs, delimiter);
    await out.write(`${specs.map((s) => quoteField(s.name, delimiter)).join(delimiter)}\n`);
    return writer;
  }

  /** Appends a batch; nulls are written as empty fields, empty strings as "". */
  async append(batch: ColumnBatch, nulls: Record<string, Uint8Array> = {}): Promise<void> {
    const rows = batchRows(batch, this.specs, this.out.path);
    const lines: string[] = [];
    for (let r = 0; r < rows; r++) {
      const fields = this.specs.map((s) => {
        if (nulls[s.name]?.[r]) return "";
        const text = formatValue(batch[s.name], r, s.dtype);
        return s.dtype === "string" ? quoteField(text, this.delimiter) : text;
      });
      lines.push(fields.join(this.delimiter));
    }
    if (lines.length) await this.out.write(`${lines.join("\n")}\n`);
  }

  async close(): Promise<void> {
    await this.out.close();
  }

  async abort(): Promise<void> {
    await this.out.abort();
  }
}

/** Writes one batch (or several) to a CSV file. */
export async function writeCsv(
  path: string,
  specs: ColumnSpec[],
  batches: Iterable<TextTableBatch | ColumnBatch> | AsyncIterable<TextTableBatch | ColumnBatch>,
  options: CsvWriteOptions = {},
): Promise<void> {
  const writer = await CsvWriter.create(path, specs, options);
  try {
    for await (const b of batches) {
      if (isTextBatch(b)) await writer.append(b.columns, b.nulls);
      else await writer.append(b);
    }
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

export function isTextBatch(b: TextTableBatch | ColumnBatch): b is TextTableBatch {
  const c = (b as TextTableBatch).columns;
  return (
    typeof (b as TextTableBatch).rows === "number" &&
    c !== undefined &&
    !Array.isArray(c) &&
    !ArrayBuffer.isView(c)
  );
}
