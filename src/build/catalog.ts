// Catalog sources: CSV, ECSV or FITS tables read in batches, columns mapped to the output schema
// and converted to its types row by row. A row whose value does not convert (text in a number
// column, a missing id, a NaN position, a value out of the declared range) is rejected with the
// reason, never written; a file that lacks a mapped column is an error for the whole build.
import { extname } from "node:path";
import {
  aDtype,
  allocate,
  type ColumnSpec,
  type ColumnValues,
  type Dtype,
  type NumericArray,
  utf8Length,
} from "../core/columns.ts";
import { SchemaError, SpecError } from "../core/errors.ts";
import { integerText } from "../core/number-text.ts";
import { emptyRecord, own } from "../core/records.ts";
import {
  type CsvReader,
  INT_RANGES,
  openCsv,
  parseBool,
  parseFloatText,
  parseInteger,
} from "../formats/csv.ts";
import {
  byteReadable,
  type CsvByteBatch,
  type CsvRange,
  csvByteBatches,
  fieldText,
} from "../formats/csv-bytes.ts";
import type { EcsvReader } from "../formats/ecsv.ts";
import type { FitsFile, FitsTable } from "../formats/fits.ts";
import type { CatalogSource, ColumnSource } from "./spec.ts";
import { sourceName } from "./spec.ts";

export type CatalogFormat = "csv" | "ecsv" | "fits";

/** One output column of the catalog and where it comes from. */
export interface OutputColumn {
  spec: ColumnSpec;
  source: string;
  required: boolean;
  range?: [number, number];
  fill?: number | string | boolean;
  standardName?: string;
}

export interface RawBatch {
  startRow: number;
  rows: number;
  columns: Record<string, ColumnValues>;
  nulls: Record<string, Uint8Array>;
}

export function formatOf(path: string, declared?: CatalogFormat): CatalogFormat {
  if (declared) return declared;
  const name = path.toLowerCase().replace(/\.gz$/, "");
  const ext = extname(name);
  if (ext === ".csv" || ext === ".txt") return "csv";
  if (ext === ".ecsv") return "ecsv";
  if (ext === ".fits" || ext === ".fit" || ext === ".fts") return "fits";
  throw new SpecError(`cannot tell the catalog format from the file name; set catalog.format`, {
    file: path,
  });
}

/** An open catalog file: its source column types and a batch reader. */
export interface CatalogReader {
  path: string;
  /** Source columns with their types (CSV: inferred from the first rows). */
  specs: ColumnSpec[];
  /** Columns the file has that a catalog cannot take, and why (FITS variable-length arrays). */
  unreadable?: Record<string, string>;
  batches(columns: string[], batchRows: number): AsyncGenerator<RawBatch>;
  /**
   * CSV only (and only the dialects the byte reader reads): the same rows as byte ranges, with
   * each column's slot in the batch (convertByteBatch converts them).
   */
  byteBatches?(
    columns: string[],
    batchRows: number,
    range?: CsvRange,
  ): { slotOf: Record<string, number>; batches: AsyncGenerator<CsvByteBatch> };
  close(): Promise<void>;
}

export async function openCatalog(path: string, source: CatalogSource): Promise<CatalogReader> {
  const format = formatOf(path, source.format);
  if (format === "csv") {
    const opts = { delimiter: source.delimiter, comment: source.comment };
    // Types for the schema come from the first rows; the data is read as text and converted
    // row by row, so one bad value rejects one row instead of failing the file.
    const typed = await openCsv(path, { ...opts, inferRows: 1000 });
    const names = typed.specs.map((s) => s.name);
    // Integers past int64 are read exactly, as uint64, not as floats keeping ~16 digits.
    const wide = new Set(typed.uint64Columns);
    const specs = typed.specs.map((s) =>
      wide.has(s.name) ? { ...s, dtype: "uint64" as Dtype } : s,
    );
    const text: CsvReader = await openCsv(path, {
      ...opts,
      inferRows: 0,
      types: Object.fromEntries(names.map((n) => [n, "string" as Dtype])),
    });
    return {
      path,
      specs,
      async *batches(columns, batchRows) {
        for await (const b of text.batches(batchRows)) yield pick(b, columns);
      },
      byteBatches: byteReadable(opts.delimiter ?? ",", opts.comment)
        ? (columns, batchRows, range) => {
            const slotOf: Record<string, number> = emptyRecord();
            const fields = columns.map((c, k) => {
              slotOf[c] = k;
              return names.indexOf(c);
            });
            const options = {
              delimiter: opts.delimiter ?? ",",
              comment: opts.comment,
              file: path,
              width: names.length,
              fields,
              ...range,
              header: range?.header ?? true,
            };
            return { slotOf, batches: csvByteBatches(path, options, batchRows) };
          }
        : undefined,
      close: async () => {},
    };
  }
  if (format === "ecsv") {
    // ECSV and FITS readers load only for such files (a CSV build never loads them).
    const { openEcsv } = await import("../formats/ecsv.ts");
    const reader: EcsvReader = await openEcsv(path);
    return {
      path,
      specs: reader.specs,
      async *batches(columns, batchRows) {
        for await (const b of reader.batches(batchRows)) yield pick(b, columns);
      },
      close: async () => {},
    };
  }
  const { openFits } = await import("../formats/fits.ts");
  const fits: FitsFile = await openFits(path);
  let table: FitsTable;
  try {
    table = fits.hdu(source.hdu ?? 1).table();
  } catch (err) {
    await fits.close();
    throw err;
  }
  const unreadable: Record<string, string> = emptyRecord();
  for (const c of table.columns)
    if (c.variable)
      unreadable[c.name] =
        `a variable-length array column (TFORM ${c.variable}), which a catalog cannot take (one value per row)`;
  return {
    path,
    specs: table.specs,
    unreadable,
    async *batches(columns, batchRows) {
      for await (const b of table.rows(batchRows, { columns })) {
        const columnsOut: Record<string, ColumnValues> = emptyRecord();
        for (const c of columns) {
          const v = b.columns[c];
          // Fixed-width FITS strings are blank-padded.
          columnsOut[c] = Array.isArray(v) ? v.map((s) => s.trimEnd()) : v;
        }
        yield { startRow: b.startRow, rows: b.rows, columns: columnsOut, nulls: b.nulls };
      }
    },
    close: () => fits.close(),
  };
}

function pick(
  b: {
    startRow: number;
    rows: number;
    columns: Record<string, ColumnValues>;
    nulls: Record<string, Uint8Array>;
  },
  columns: string[],
): RawBatch {
  const out: Record<string, ColumnValues> = emptyRecord();
  for (const c of columns) out[c] = b.columns[c];
  return { startRow: b.startRow, rows: b.rows, columns: out, nulls: b.nulls };
}

/** Checks that a file has every source column; names the file and the column if not. */
export function checkSourceColumns(reader: CatalogReader, needed: string[]): void {
  const have = new Set(reader.specs.map((s) => s.name));
  for (const name of needed)
    if (!have.has(name))
      throw missingSource(name, null, reader.specs, reader.path, reader.unreadable);
}

const POSITION: Record<string, { unit: string; description: string }> = {
  ra: { unit: "deg", description: "Right ascension (ICRS)" },
  dec: { unit: "deg", description: "Declination (ICRS)" },
};

/**
 * A source column (mapped to output `name`, when given) the file does not have, with the columns
 * it has; a file read as one column whose name holds a tab, ";" or "|" most likely has another
 * delimiter, and a first column named "# id" for a missing "id" is a header written after "#"
 * (numpy.savetxt's style, which astropy's csv reader reads the same way).
 */
function missingSource(
  from: string,
  name: string | null,
  sourceSpecs: ColumnSpec[],
  file: string,
  unreadable?: Record<string, string>,
): SchemaError {
  const why = unreadable && Object.hasOwn(unreadable, from) ? unreadable[from] : undefined;
  if (why)
    return new SchemaError(
      `catalog column "${from}"${name === null ? "" : ` (mapped to "${name}")`} is ${why}`,
      { file, column: from },
    );
  const list = sourceSpecs.map((s) => s.name);
  const only = list.length === 1 ? /[\t;|]/.exec(list[0]) : null;
  const commented =
    list.length > 1 && list[0].startsWith("#") && list[0].replace(/^#\s*/, "") === from;
  const hint = only
    ? `; the file was read as one column: if its fields are separated by ${only[0] === "\t" ? "tabs" : `"${only[0]}"`}, set catalog.delimiter`
    : commented
      ? `; its first column is named "${list[0]}": the header line starts with "#" (as numpy.savetxt writes it), so either remove the "#" from the file's first line or map the column as "${list[0]}"`
      : ` (it has ${list.length}: ${list.slice(0, 12).join(", ")}${list.length > 12 ? ", ..." : ""})`;
  const mapped = name === null ? "" : ` (mapped to "${name}")`;
  return new SchemaError(`catalog has no column "${from}"${mapped}${hint}`, {
    file,
    column: from,
  });
}

/**
 * The type holding every value of two source types without loss, or null when none does (int64
 * with uint64; text with numbers). Integers widen to the narrowest integer type holding both
 * ranges (int16 and uint16: int32), integers and floats to float64 (float32 and 16-bit or
 * narrower integers to float32), strings to the longer width.
 */
export function widerDtype(a: Dtype, b: Dtype): Dtype | null {
  if (a === b) return a;
  const ints: Dtype[] = ["int8", "int16", "int32", "int64"];
  const uints: Dtype[] = ["uint8", "uint16", "uint32", "uint64"];
  const bits = (d: Dtype) => Number(/\d+/.exec(d)?.[0] ?? 0);
  const isInt = (d: Dtype) => ints.includes(d) || uints.includes(d) || d === "bool";
  const isFloat = (d: Dtype) => d === "float32" || d === "float64";
  if (isInt(a) && isInt(b)) {
    const range = (d: Dtype): [bigint, bigint] =>
      d === "bool" ? [0n, 1n] : (INT_RANGES[d] as [bigint, bigint]);
    const [alo, ahi] = range(a);
    const [blo, bhi] = range(b);
    // The narrowest integer type holding both ranges (bigints: no Math.min/max).
    const fit = [...uints, ...ints].filter((d) => {
      const [lo, hi] = INT_RANGES[d]!;
      return lo <= alo && lo <= blo && hi >= ahi && hi >= bhi;
    });
    fit.sort((x, y) => bits(x) - bits(y));
    return fit[0] ?? null;
  }
  if (isFloat(a) && isFloat(b)) return "float64";
  if ((isFloat(a) && isInt(b)) || (isInt(a) && isFloat(b))) {
    const f = isFloat(a) ? a : b;
    const i = isFloat(a) ? b : a;
    return f === "float32" && (i === "bool" || bits(i) <= 16) ? "float32" : "float64";
  }
  return null;
}

/**
 * The source columns of several catalog files as one set of types: each column's type widened
 * over the files (see {@link widerDtype}), a fixed string width the longest. Without this the
 * first file's types were taken for all, so a float64 column read as float32 from its first file
 * stored 1e-50 as 0. A column whose types have no common type is a SchemaError naming both
 * files, unless the spec fixes its dtype (`fixed`). Only the columns the spec maps (`used`) are
 * merged and checked: a column it leaves out may differ freely.
 */
export function mergeSourceSpecs(
  files: Array<{ path: string; specs: ColumnSpec[] }>,
  used: Set<string>,
  fixed: Set<string>,
): ColumnSpec[] {
  const first = files[0]!;
  const merged = first.specs.map((s) => ({ ...s }));
  const byName = new Map(merged.map((s) => [s.name, s]));
  const from = new Map(merged.map((s) => [s.name, first.path]));
  for (const { path, specs } of files.slice(1)) {
    for (const s of specs) {
      const have = byName.get(s.name);
      if (!have || !used.has(s.name)) continue;
      if (s.unit !== undefined && have.unit !== undefined && s.unit !== have.unit)
        throw new SchemaError(
          `column "${s.name}" is in "${have.unit}" in ${first.path} and in "${s.unit}" in ${path}: one column holds one unit; convert one of them`,
          { file: path, column: s.name },
        );
      if (fixed.has(s.name)) continue;
      if (have.dtype === "string" || s.dtype === "string") {
        if (have.dtype !== s.dtype) {
          throw new SchemaError(
            `column "${s.name}" is text in one catalog file and ${aDtype(have.dtype === "string" ? s.dtype : have.dtype)} in another (${from.get(s.name)} and ${path}); give its dtype in the spec's column mapping`,
            { file: path, column: s.name },
          );
        }
        if (have.stringLength !== undefined)
          have.stringLength =
            s.stringLength === undefined ? undefined : Math.max(have.stringLength, s.stringLength);
        continue;
      }
      const wider = widerDtype(have.dtype, s.dtype);
      if (wider === null)
        throw new SchemaError(
          `column "${s.name}" is ${aDtype(have.dtype)} in ${from.get(s.name)} and ${aDtype(s.dtype)} in ${path}, and no type holds both; give its dtype in the spec's column mapping`,
          { file: path, column: s.name },
        );
      if (wider !== have.dtype) {
        have.dtype = wider;
        from.set(s.name, path);
      }
    }
  }
  return merged;
}

/** Units that mean degrees, as files write them (lower case). */
const DEGREES = new Set(["", "deg", "degree", "degrees", "°"]);

/** Output column specs from the mapping and the source types (of all files: mergeSourceSpecs). */
export function outputColumns(
  mapping: Record<string, ColumnSource>,
  sourceSpecs: ColumnSpec[],
  file: string,
  unreadable?: Record<string, string>,
): OutputColumn[] {
  const byName = new Map(sourceSpecs.map((s) => [s.name, s]));
  const out: OutputColumn[] = [];
  for (const [name, src] of Object.entries(mapping)) {
    const opts = typeof src === "string" ? { from: src } : src;
    const from = sourceName(src);
    const have = byName.get(from);
    if (!have) throw missingSource(from, name, sourceSpecs, file, unreadable);
    if (have.shape.length > 0 && !("dtype" in opts && opts.dtype))
      throw new SchemaError(`array columns are not supported in catalogs (mapped to "${name}")`, {
        file,
        column: from,
      });
    let dtype: Dtype = opts.dtype ?? have.dtype;
    if (name === "ra" || name === "dec") {
      dtype = "float64";
      // Positions are stored in degrees: a file that says its column is in another unit
      // (hourangle, rad) would be read as degrees. The spec's own unit is the user's word.
      if (
        opts.unit === undefined &&
        have.unit !== undefined &&
        !DEGREES.has(have.unit.trim().toLowerCase())
      )
        throw new SchemaError(
          `catalog column "${from}" (mapped to ${name}) is in "${have.unit}", and ${name} is stored in degrees: convert it (astropy: t["${from}"] = t["${from}"].to(u.deg)), or give "unit": "deg" in its mapping if the values are degrees`,
          { file, column: from },
        );
    }
    // Integer ids as int64, or uint64 when they are past it (unsigned 64-bit survey ids).
    if (name === "object_id" && !opts.dtype)
      dtype = have.dtype === "string" || have.dtype === "uint64" ? have.dtype : "int64";
    const spec: ColumnSpec = { name, dtype, shape: [] };
    const stringLength = opts.stringLength ?? (dtype === "string" ? have.stringLength : undefined);
    if (stringLength !== undefined) spec.stringLength = stringLength;
    const unit = opts.unit ?? own(POSITION, name)?.unit ?? have.unit;
    if (unit) spec.unit = unit;
    const description = opts.description ?? own(POSITION, name)?.description ?? have.description;
    if (description) spec.description = description;
    if (opts.fill !== undefined) checkFill(opts.fill, spec, name);
    out.push({
      spec,
      source: from,
      required: opts.required ?? (name === "object_id" || name === "ra" || name === "dec"),
      range: opts.range,
      fill: opts.fill,
      standardName: opts.standardName,
    });
  }
  return out;
}

/**
 * A fill value must be a value of its column's type, as a value read from the file must: 300
 * in a uint8 column would be stored as 44, 1.5 in an int32 one as 1. An integer fill of a
 * 64-bit column past 2^53 is given as a string of digits, to be exact.
 */
function checkFill(fill: number | string | boolean, spec: ColumnSpec, name: string): void {
  const bad = (why: string) =>
    new SpecError(`catalog.columns.${name}.fill: ${JSON.stringify(fill)} ${why}`, {
      column: name,
    });
  const { dtype } = spec;
  if (dtype === "string") {
    const bytes = Buffer.byteLength(String(fill), "utf8");
    if (spec.stringLength !== undefined && bytes > spec.stringLength)
      throw bad(`is ${bytes} bytes, longer than the column's ${spec.stringLength}`);
    return;
  }
  if (dtype === "bool") {
    if (typeof fill === "boolean" || fill === 0 || fill === 1) return;
    throw bad("is not a bool value (true, false, 1 or 0)");
  }
  if (dtype.startsWith("float")) {
    if (typeof fill === "number") return;
    throw bad(`is not a number for a ${dtype} column`);
  }
  const range = INT_RANGES[dtype];
  if (!range) return;
  let value: bigint | null = null;
  if (typeof fill === "number" && Number.isSafeInteger(fill)) value = BigInt(fill);
  else if (typeof fill === "string") value = integerText(fill);
  if (value === null)
    throw bad(
      `is not ${aDtype(dtype)} value (an integer${dtype.endsWith("64") ? ", as a string of digits past 2^53" : ""})`,
    );
  if (value < range[0] || value > range[1])
    throw bad(`is outside the ${dtype} range (${range[0]} to ${range[1]})`);
}

/** Converted rows of a batch: output columns, carried text columns, and why rows were refused. */
export interface ConvertedBatch {
  rows: number;
  columns: Record<string, ColumnValues>;
  carry: Record<string, string[]>;
  /** Reason per refused row (index in the batch). */
  rejected: Map<number, string>;
  /** Refused rows whose object_id itself could not be read (the report names them by row only). */
  badIds: Set<number>;
}

function isInteger(dtype: Dtype): boolean {
  return Object.hasOwn(INT_RANGES, dtype);
}

/** Text of a carried (template) value. */
function textOf(values: ColumnValues, r: number): string {
  const v = values[r];
  if (typeof v === "string") return v.trim();
  if (typeof v === "bigint") return v.toString();
  return Number.isInteger(v) ? String(v) : String(v);
}

type Refuse = (r: number, why: string) => void;

function refuser(col: OutputColumn, rejected: Map<number, string>, badIds: Set<number>): Refuse {
  const { spec } = col;
  const where = `column ${spec.name}${col.source !== spec.name ? ` (source ${col.source})` : ""}`;
  const isId = spec.name === "object_id";
  return (r, why) => {
    if (!rejected.has(r)) rejected.set(r, `${where}: ${why}`);
    if (isId) badIds.add(r);
  };
}

/** A missing value: NaN in a float column, the fill value, or the row refused. */
function storeMissing(col: OutputColumn, out: ColumnValues, r: number, refuse: Refuse): void {
  const { spec } = col;
  if (col.required) refuse(r, "missing value");
  else if (spec.dtype === "float32" || spec.dtype === "float64")
    (out as Float64Array)[r] = Number.NaN;
  else if (col.fill !== undefined) storeFill(out, r, spec.dtype, col.fill);
  else if (spec.dtype !== "string")
    refuse(r, `missing value (${aDtype(spec.dtype)} column cannot hold it; give a "fill" value)`);
}

/** A float value: refused when NaN in a required column or outside the range, stored anyway. */
function storeFloat(col: OutputColumn, out: ColumnValues, r: number, x: number, refuse: Refuse) {
  if (Number.isNaN(x) && col.required) refuse(r, "NaN");
  else if (col.range && !Number.isNaN(x) && (x < col.range[0] || x > col.range[1]))
    refuse(r, `${x} outside [${col.range[0]}, ${col.range[1]}]`);
  (out as Float64Array)[r] = x;
}

/** Converts the text of one value (`isNull`: an unquoted empty field) into `out[r]`. */
function convertText(
  col: OutputColumn,
  out: ColumnValues,
  r: number,
  text: string,
  isNull: boolean,
  refuse: Refuse,
): void {
  const { spec } = col;
  if (isNull || (spec.dtype !== "string" && text.trim() === "")) {
    storeMissing(col, out, r, refuse);
    return;
  }
  if (spec.dtype === "string") {
    if (col.required && text.trim() === "") refuse(r, "empty value");
    else if (spec.stringLength !== undefined && utf8Length(text) > spec.stringLength)
      refuse(r, `"${text}" is longer than ${spec.stringLength} bytes`);
    (out as string[])[r] = text;
    return;
  }
  if (spec.dtype === "float32" || spec.dtype === "float64") {
    const x = parseFloatText(text);
    if (x === null) refuse(r, `"${text}" is not ${aDtype(spec.dtype)} value`);
    else storeFloat(col, out, r, x, refuse);
    return;
  }
  if (spec.dtype === "bool") {
    const b = parseBool(text);
    if (b === null) refuse(r, `"${text}" is not a bool value`);
    else (out as Uint8Array)[r] = b ? 1 : 0;
    return;
  }
  const big = parseInteger(text, spec.dtype);
  if (big === null) {
    refuse(r, `"${text}" is not ${aDtype(spec.dtype)} value`);
    return;
  }
  storeInteger(col, out, r, big, refuse);
}

function storeInteger(
  col: OutputColumn,
  out: ColumnValues,
  r: number,
  big: bigint,
  refuse: Refuse,
): void {
  if (col.range && (Number(big) < col.range[0] || Number(big) > col.range[1]))
    refuse(r, `${big} outside [${col.range[0]}, ${col.range[1]}]`);
  if (out instanceof BigInt64Array || out instanceof BigUint64Array) out[r] = big;
  else (out as Int32Array)[r] = Number(big);
}

/** Converts one source column to the output type; refusals go to `rejected`. */
function convertColumn(
  col: OutputColumn,
  values: ColumnValues,
  nulls: Uint8Array | undefined,
  rows: number,
  rejected: Map<number, string>,
  badIds: Set<number>,
): ColumnValues {
  const { spec } = col;
  const out = allocate(spec, rows);
  const refuse = refuser(col, rejected, badIds);
  if (Array.isArray(values)) {
    const text = values as string[];
    for (let r = 0; r < rows; r++)
      convertText(col, out, r, text[r], (nulls?.[r] ?? 0) !== 0, refuse);
    return out;
  }
  for (let r = 0; r < rows; r++) {
    if ((nulls?.[r] ?? 0) !== 0) {
      storeMissing(col, out, r, refuse);
      continue;
    }
    if (spec.dtype === "string") {
      const s = textOf(values, r);
      if (col.required && s.trim() === "") refuse(r, "empty value");
      else if (spec.stringLength !== undefined && utf8Length(s) > spec.stringLength)
        refuse(r, `"${s}" is longer than ${spec.stringLength} bytes`);
      (out as string[])[r] = s;
      continue;
    }
    if (spec.dtype === "float32" || spec.dtype === "float64") {
      const v = (values as NumericArray)[r];
      storeFloat(col, out, r, typeof v === "bigint" ? Number(v) : v, refuse);
      continue;
    }
    if (spec.dtype === "bool") {
      (out as Uint8Array)[r] = Number((values as NumericArray)[r]) !== 0 ? 1 : 0;
      continue;
    }
    // Integers: exact through BigInt; floats must be integral.
    const v = (values as NumericArray)[r];
    let big: bigint | null = null;
    if (typeof v === "bigint") big = v;
    else if (Number.isInteger(v)) big = BigInt(v);
    const [lo, hi] = INT_RANGES[spec.dtype];
    if (big !== null && (big < lo || big > hi)) big = null;
    if (big === null) {
      refuse(r, `${String(v)} is not ${aDtype(spec.dtype)} value`);
      continue;
    }
    storeInteger(col, out, r, big, refuse);
  }
  return out;
}

function storeFill(
  out: ColumnValues,
  r: number,
  dtype: Dtype,
  fill: number | string | boolean,
): void {
  if (dtype === "string") (out as string[])[r] = String(fill);
  else if (out instanceof BigInt64Array || out instanceof BigUint64Array)
    // Checked by checkFill: a safe integer, or a string of digits (exact past 2^53).
    out[r] = typeof fill === "string" ? integerText(fill)! : BigInt(Number(fill));
  else (out as Int32Array)[r] = Number(fill);
}

/** Rows whose ra/dec are not a position are refused; ra outside [0, 360) is wrapped. */
function checkPositions(
  columns: Record<string, ColumnValues>,
  rows: number,
  rejected: Map<number, string>,
): void {
  const ra = columns.ra as Float64Array;
  const dec = columns.dec as Float64Array;
  for (let r = 0; r < rows; r++) {
    if (rejected.has(r)) continue;
    if (!Number.isFinite(ra[r])) rejected.set(r, `column ra: not a finite number (${ra[r]})`);
    else if (!(ra[r] >= -360 && ra[r] <= 360))
      rejected.set(r, `column ra: ${ra[r]} is not a right ascension in [-360, 360] degrees`);
    else if (!(Number.isFinite(dec[r]) && dec[r] >= -90 && dec[r] <= 90))
      rejected.set(r, `column dec: ${dec[r]} is not a declination in [-90, 90]`);
    else if (ra[r] < 0 || ra[r] >= 360) {
      // Only out-of-range values are wrapped: arithmetic on the others would change their bits.
      const w = ((ra[r] % 360) + 360) % 360;
      ra[r] = w === 360 ? 0 : w;
    }
  }
}

/**
 * convertBatch for CSV rows read as bytes (formats/csv-bytes.ts): numbers are parsed from the
 * bytes when they are plain decimals that convert exactly (the same doubles as Number() of the
 * text), every other value goes through the text path, so values and refusals are the same.
 * `slotOf`: the batch's slot of each source column.
 */
export function convertByteBatch(
  batch: CsvByteBatch,
  outputs: OutputColumn[],
  carry: string[],
  slotOf: Record<string, number>,
): ConvertedBatch {
  const rejected = new Map<number, string>();
  const badIds = new Set<number>();
  const columns: Record<string, ColumnValues> = emptyRecord();
  const { rows } = batch;
  for (const col of outputs)
    columns[col.spec.name] = convertBytesColumn(col, batch, slotOf[col.source], rejected, badIds);
  checkPositions(columns, rows, rejected);
  const carried: Record<string, string[]> = {};
  const { buf, start, end, slots } = batch;
  for (const name of carry) {
    const k = slotOf[name];
    carried[name] = Array.from({ length: rows }, (_, r) => {
      const s = start[r * slots + k];
      const e = end[r * slots + k];
      return s === e ? "" : fieldText(buf, s, e).text.trim();
    });
  }
  return { rows, columns, carry: carried, rejected, badIds };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function convertBytesColumn(
  col: OutputColumn,
  batch: CsvByteBatch,
  slot: number,
  rejected: Map<number, string>,
  badIds: Set<number>,
): ColumnValues {
  const { spec } = col;
  const { rows, buf, start, end, slots } = batch;
  const out = allocate(spec, rows);
  const refuse = refuser(col, rejected, badIds);
  const float = spec.dtype === "float32" || spec.dtype === "float64";
  const integer = isInteger(spec.dtype);
  const wide = out instanceof BigInt64Array || out instanceof BigUint64Array;
  const words = wide && LITTLE_ENDIAN ? new Int32Array(out.buffer, out.byteOffset, rows * 2) : null;
  const [lo, hi] = integer ? INT_RANGES[spec.dtype].map(Number) : [0, 0];
  const range = col.range;
  for (let r = 0; r < rows; r++) {
    const s = start[r * slots + slot];
    const e = end[r * slots + slot];
    if (s !== e && buf[s] !== 0x22) {
      if (float) {
        const x = parsePlainFloat(buf, s, e);
        if (!Number.isNaN(x)) {
          storeFloat(col, out, r, x, refuse);
          continue;
        }
      } else if (integer && (words !== null || !wide)) {
        const v = parsePlainInteger(buf, s, e);
        if (v !== null && v >= lo && v <= hi && (!range || (v >= range[0] && v <= range[1]))) {
          if (words !== null) {
            const h = Math.floor(v / 4294967296);
            words[2 * r] = (v - h * 4294967296) | 0;
            words[2 * r + 1] = h;
          } else (out as Int32Array)[r] = v;
          continue;
        }
      }
    }
    const { text, quoted } = fieldText(buf, s, e);
    convertText(col, out, r, text, text === "" && !quoted, refuse);
  }
  return out;
}

/** Exact powers of ten as doubles (10^22 is the largest). */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/**
 * A plain decimal ([+-]digits[.digits][e[+-]digits], no blanks) of at most 15 significant
 * digits whose power of ten is within 10^±22, as a double: m * 10^k or m / 10^-k with m and
 * 10^|k| exact is one correctly rounded operation, the same double as Number(text). NaN for
 * anything else (the caller then takes the text path).
 */
export function parsePlainFloat(buf: Uint8Array, s: number, e: number): number {
  let i = s;
  let neg = false;
  const c0 = buf[i];
  if (c0 === 0x2d) {
    neg = true;
    i++;
  } else if (c0 === 0x2b) i++;
  let m = 0;
  let digits = 0;
  let exp = 0;
  let saw = false;
  for (; i < e; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) break;
    saw = true;
    if (m !== 0 || d !== 0) {
      m = m * 10 + d;
      digits++;
    }
  }
  if (i < e && buf[i] === 0x2e) {
    i++;
    for (; i < e; i++) {
      const d = buf[i] - 0x30;
      if (d < 0 || d > 9) break;
      saw = true;
      exp--;
      if (m !== 0 || d !== 0) {
        m = m * 10 + d;
        digits++;
      }
    }
  }
  if (!saw) return Number.NaN;
  if (i < e && (buf[i] | 0x20) === 0x65) {
    i++;
    let eneg = false;
    if (buf[i] === 0x2d) {
      eneg = true;
      i++;
    } else if (buf[i] === 0x2b) i++;
    let x = 0;
    let xd = 0;
    for (; i < e; i++) {
      const d = buf[i] - 0x30;
      if (d < 0 || d > 9) break;
      x = x * 10 + d;
      xd++;
    }
    if (xd === 0 || xd > 6) return Number.NaN;
    exp += eneg ? -x : x;
  }
  if (i !== e || digits > 15) return Number.NaN;
  if (m === 0) return neg ? -0 : 0;
  let v: number;
  if (exp >= 0 && exp <= 22) v = m * POW10[exp];
  else if (exp < 0 && exp >= -22) v = m / POW10[-exp];
  else return Number.NaN;
  return neg ? -v : v;
}

/** A plain integer ([+-]digits, at most 15 digits, no blanks) as a number, else null. */
export function parsePlainInteger(buf: Uint8Array, s: number, e: number): number | null {
  let i = s;
  let neg = false;
  const c0 = buf[i];
  if (c0 === 0x2d) {
    neg = true;
    i++;
  } else if (c0 === 0x2b) i++;
  if (i === e || e - i > 15) return null;
  let v = 0;
  for (; i < e; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
  }
  return neg ? -v : v;
}

/**
 * Converts a raw batch: every output column, positions checked (ra in [-360, 360] degrees,
 * wrapped into [0, 360); dec in [-90, 90]; anything else, e.g. ra = 1e308, rejects the row,
 * never reduced modulo 360), and carried template columns as text.
 */
export function convertBatch(
  raw: RawBatch,
  outputs: OutputColumn[],
  carry: string[],
): ConvertedBatch {
  const rejected = new Map<number, string>();
  const badIds = new Set<number>();
  const columns: Record<string, ColumnValues> = emptyRecord();
  for (const col of outputs)
    columns[col.spec.name] = convertColumn(
      col,
      raw.columns[col.source],
      raw.nulls[col.source],
      raw.rows,
      rejected,
      badIds,
    );
  checkPositions(columns, raw.rows, rejected);
  const carried: Record<string, string[]> = {};
  for (const name of carry) {
    const v = raw.columns[name];
    carried[name] = Array.from({ length: raw.rows }, (_, r) =>
      (raw.nulls[name]?.[r] ?? 0) ? "" : textOf(v, r),
    );
  }
  return { rows: raw.rows, columns, carry: carried, rejected, badIds };
}

export { isInteger };
