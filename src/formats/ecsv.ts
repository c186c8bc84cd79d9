// ECSV 1.0, astropy's Enhanced CSV (https://github.com/astropy/astropy-APEs/blob/main/APE6.rst):
// a '# %ECSV 1.0' line, a YAML header on '# ' lines giving each column's name, datatype, unit,
// description, format and meta (and the table meta), then space- or comma-delimited data.
// Multidimensional columns are `datatype: string` with `subtype: 'float64[2,3]'`, one JSON
// array per row. Reading streams batches of rows; writing streams rows out.
//
// As in astropy, an empty field ("" or nothing) is a null (masked value) in every column,
// strings included, so the writer cannot tell an empty string from a null: both are written
// as "". Not supported (refused with a FormatError): variable-length subtypes ('int64[null]'),
// 'json' object columns, complex and float128 columns, mixin columns (SkyCoord, Time, ...).
import { checkAllocation, sizeProduct } from "../core/budget.ts";
import {
  aDtype,
  batchRows,
  type ColumnBatch,
  type ColumnSpec,
  DTYPES,
  type Dtype,
  type NumericArray,
  valuesPerRow,
} from "../core/columns.ts";
import { FormatError, MemoryBudgetError, UsageError } from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import {
  allocateValues,
  type CsvRecord,
  DEFAULT_MAX_FIELD,
  formatValue,
  MAX_BATCH_FIELDS,
  quoteField,
  readRecords,
  storeNull,
  storeValue,
  type TextTableBatch,
  TextTableFile,
} from "./csv.ts";
import { type EcsvMetaValue, parseHeaderYaml, stringifyHeaderYaml } from "./ecsv-yaml.ts";
import { textChunks } from "./text.ts";

export interface EcsvColumn {
  name: string;
  /** The ECSV datatype as written ("string" for multidimensional columns). */
  datatype: string;
  subtype?: string;
  unit?: string;
  description?: string;
  format?: string;
  meta?: EcsvMetaValue;
}

export interface EcsvHeader {
  version: string;
  delimiter: " " | ",";
  columns: EcsvColumn[];
  meta: { [key: string]: EcsvMetaValue };
  schema?: string;
}

const SCALAR_DTYPES = new Set<string>(DTYPES);

// Headers past this are refused: the YAML parser takes about 1 s and 100-250 MB per MiB of
// header (astropy's header for 1000 described columns is about 100 KiB).
const MAX_HEADER_CHARS = 4 * 1024 * 1024;

/** Reads the '#' lines at the top of the file (bounded), and the line number after them. */
async function readHeaderLines(path: string): Promise<{ lines: string[]; dataLine: number }> {
  const lines: string[] = [];
  let rest = "";
  let total = 0;
  const chunks = textChunks(path, { chunkBytes: 64 * 1024 });
  try {
    for await (const chunk of chunks) {
      rest += chunk;
      total += chunk.length;
      let nl = rest.indexOf("\n");
      while (nl >= 0) {
        const line = rest
          .slice(0, nl)
          .replace(/\r$/, "")
          .replace(/^\ufeff/, "");
        rest = rest.slice(nl + 1);
        if (!line.startsWith("#")) return { lines, dataLine: lines.length + 1 };
        lines.push(line);
        nl = rest.indexOf("\n");
      }
      if (total > MAX_HEADER_CHARS) {
        throw new FormatError(`ECSV header longer than ${MAX_HEADER_CHARS} characters`, {
          file: path,
          detail: `line ${lines.length + 1}`,
        });
      }
    }
    if (rest.startsWith("#")) lines.push(rest);
    return { lines, dataLine: lines.length + 1 };
  } finally {
    await chunks.return(undefined);
  }
}

function asString(v: EcsvMetaValue | undefined, what: string, file: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") throw new FormatError(`${what} must be a scalar`, { file });
  return String(v);
}

/** Parses and checks the header lines of an ECSV file. */
export function parseEcsvHeader(lines: string[], file: string): EcsvHeader {
  const m = /^# %ECSV (\d+\.\d+)\s*$/.exec(lines[0] ?? "");
  if (!m)
    throw new FormatError("not an ECSV file: the first line is not '# %ECSV <version>'", {
      file,
      detail: "line 1",
    });
  const version = m[1];
  if (!/^(0\.9|1\.\d+)$/.test(version)) {
    throw new FormatError(`ECSV version ${version} is not supported (0.9 and 1.x are)`, {
      file,
      detail: "line 1",
    });
  }
  let chars = 0;
  for (const [k, line] of lines.entries()) {
    chars += line.length + 1;
    if (chars > MAX_HEADER_CHARS) {
      throw new FormatError(`ECSV header longer than ${MAX_HEADER_CHARS} characters`, {
        file,
        detail: `line ${k + 1}`,
      });
    }
  }
  const yamlText = lines
    .slice(1)
    .map((l) => (l.startsWith("# ") ? l.slice(2) : l.slice(1)))
    .join("\n");
  const doc = parseHeaderYaml(yamlText, file, 2);
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new FormatError("ECSV header is not a YAML mapping", { file });
  }
  const datatype = doc.datatype;
  if (!Array.isArray(datatype)) throw new FormatError("ECSV header has no datatype list", { file });
  const delimiter = asString(doc.delimiter, "delimiter", file) ?? " ";
  if (delimiter !== " " && delimiter !== ",") {
    throw new FormatError(`ECSV delimiter ${JSON.stringify(delimiter)} is not a space or a comma`, {
      file,
    });
  }
  const columns = datatype.map((entry, k): EcsvColumn => {
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new FormatError(`datatype entry ${k + 1} is not a mapping`, { file });
    }
    const name = asString(entry.name, "column name", file);
    const dt = asString(entry.datatype, "datatype", file);
    if (name === undefined || dt === undefined) {
      throw new FormatError(`datatype entry ${k + 1} lacks a name or a datatype`, { file });
    }
    const col: EcsvColumn = { name, datatype: dt };
    const subtype = asString(entry.subtype, "subtype", file);
    const unit = asString(entry.unit, "unit", file);
    const description = asString(entry.description, "description", file);
    const format = asString(entry.format, "format", file);
    if (subtype !== undefined) col.subtype = subtype;
    if (unit !== undefined) col.unit = unit;
    if (description !== undefined) col.description = description;
    if (format !== undefined) col.format = format;
    if (entry.meta !== undefined) col.meta = entry.meta;
    return col;
  });
  const meta = doc.meta;
  const header: EcsvHeader = {
    version,
    delimiter,
    columns,
    meta: meta !== null && typeof meta === "object" && !Array.isArray(meta) ? meta : {},
  };
  const schema = asString(doc.schema, "schema", file);
  if (schema !== undefined) header.schema = schema;
  if (doc.__serialized_columns__ !== undefined) {
    throw new FormatError("ECSV mixin columns (__serialized_columns__) are not supported", {
      file,
    });
  }
  return header;
}

/** Bytes a value of a dtype takes in memory (strings: a rough estimate of a short string). */
function valueBytes(dtype: Dtype): number {
  if (dtype === "string") return 16;
  if (dtype === "bool" || dtype === "int8" || dtype === "uint8") return 1;
  if (dtype === "int16" || dtype === "uint16") return 2;
  if (dtype === "int32" || dtype === "uint32" || dtype === "float32") return 4;
  return 8;
}

/**
 * The storage column spec of an ECSV column. A subtype's shape is checked before anything is
 * allocated from it: one row's values must fit in one field (a JSON array of at most
 * DEFAULT_MAX_FIELD characters holds at most half as many values), and in `maxBytes`.
 */
function specOf(col: EcsvColumn, file: string, maxBytes: number): ColumnSpec {
  const fail = (why: string): never => {
    throw new FormatError(why, { file, column: col.name });
  };
  let dtype = col.datatype;
  let shape: number[] = [];
  if (col.subtype !== undefined) {
    const m = /^(\w+)\[([^\]]*)\]$/.exec(col.subtype.trim());
    if (!m)
      fail(`subtype '${col.subtype}' is not supported (only fixed shapes like 'float64[2,3]')`);
    const [, inner, dims] = m as RegExpExecArray;
    shape = dims.split(",").map((d) => Number(d.trim()));
    if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      fail(`subtype '${col.subtype}': variable-length arrays are not supported`);
    }
    dtype = inner;
  }
  if (!SCALAR_DTYPES.has(dtype)) {
    fail(`datatype ${dtype} is not supported (bool, int8..uint64, float32, float64, string are)`);
  }
  if (shape.length > 0) {
    const values = sizeProduct(...shape);
    const most = BigInt(Math.ceil(DEFAULT_MAX_FIELD / 2));
    if (values > most)
      fail(
        `subtype '${col.subtype}' declares ${values} values per row; a field holds at most ${most}`,
      );
    checkAllocation(
      sizeProduct(values, valueBytes(dtype as Dtype)),
      `one row of subtype '${col.subtype}'`,
      { file, column: col.name },
      maxBytes,
      MemoryBudgetError,
      "raise maxBytes",
    );
  }
  const spec: ColumnSpec = { name: col.name, dtype: dtype as Dtype, shape };
  if (col.unit !== undefined) spec.unit = col.unit;
  if (col.description !== undefined) spec.description = col.description;
  return spec;
}

/** Splits a JSON array (NaN / Infinity allowed) into leaf tokens; strings decoded, null as null. */
function jsonLeaves(text: string): { leaves: (string | null)[]; shape: number[] } | null {
  const leaves: (string | null)[] = [];
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const shapeAt: number[] = [];
  const parse = (depth: number): boolean => {
    ws();
    if (text[i] === "[") {
      i++;
      let count = 0;
      ws();
      if (text[i] === "]") i++;
      else {
        for (;;) {
          if (!parse(depth + 1)) return false;
          count++;
          ws();
          if (text[i] === ",") i++;
          else if (text[i] === "]") {
            i++;
            break;
          } else return false;
        }
      }
      if (shapeAt[depth] === undefined) shapeAt[depth] = count;
      else if (shapeAt[depth] !== count) return false;
      return true;
    }
    if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      try {
        leaves.push(JSON.parse(text.slice(i, j + 1)));
      } catch {
        return false;
      }
      i = j + 1;
      return true;
    }
    const m = /^[^,\]\s]+/.exec(text.slice(i, i + 64));
    if (!m) return false;
    i += m[0].length;
    leaves.push(m[0] === "null" ? null : m[0]);
    return true;
  };
  if (!parse(0)) return null;
  ws();
  if (i !== text.length) return null;
  return { leaves, shape: shapeAt };
}

export interface EcsvOpenOptions {
  /**
   * Most bytes a batch of decoded rows may take (default 2 GiB): a subtype whose one row needs
   * more is refused on open, and batches hold fewer rows when rows are large.
   */
  maxBytes?: number;
}

const DEFAULT_MAX_BYTES = 2 ** 31;

export class EcsvReader {
  readonly path: string;
  readonly header: EcsvHeader;
  readonly specs: ColumnSpec[];
  private readonly dataLine: number;
  /** Bytes of one decoded row (all columns, null masks included). */
  private readonly rowBytes: number;
  private readonly maxBytes: number;

  private constructor(
    path: string,
    header: EcsvHeader,
    specs: ColumnSpec[],
    dataLine: number,
    maxBytes: number,
  ) {
    this.path = path;
    this.header = header;
    this.specs = specs;
    this.dataLine = dataLine;
    this.maxBytes = maxBytes;
    this.rowBytes = specs.reduce((s, c) => s + valuesPerRow(c) * (valueBytes(c.dtype) + 1), 0);
  }

  /** Table meta from the header. */
  get meta(): { [key: string]: EcsvMetaValue } {
    return this.header.meta;
  }

  /** Reads and checks the header (not the data). */
  static async open(path: string, options: EcsvOpenOptions = {}): Promise<EcsvReader> {
    const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    const { lines, dataLine } = await readHeaderLines(path);
    const header = parseEcsvHeader(lines, path);
    const specs = header.columns.map((c) => specOf(c, path, maxBytes));
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name))
        throw new FormatError(`duplicate column name "${s.name}"`, { file: path, column: s.name });
      names.add(s.name);
    }
    return new EcsvReader(path, header, specs, dataLine, maxBytes);
  }

  /**
   * Data rows in batches of `batchSize` (the column-name line is checked, then skipped), fewer
   * when that many decoded rows would pass `maxBytes`.
   */
  async *batches(requested = 65536): AsyncGenerator<TextTableBatch> {
    if (!(Number.isInteger(requested) && requested > 0)) {
      throw new UsageError(`batch size must be a positive integer, got ${requested}`);
    }
    const batchSize = Math.max(
      1,
      Math.min(requested, Math.floor(this.maxBytes / Math.max(1, this.rowBytes))),
    );
    let namesSeen = false;
    let pending: CsvRecord[] = [];
    let pendingFields = 0;
    let startRow = 0;
    for await (const records of readRecords(this.path, {
      delimiter: this.header.delimiter,
      // A tab is a character of a value, as astropy writes and reads it (not a separator).
      tabs: false,
      comment: "#",
      file: this.path,
    })) {
      for (const rec of records) {
        if (!namesSeen) {
          this.checkNames(rec);
          namesSeen = true;
          continue;
        }
        pending.push(rec);
        pendingFields += rec.fields.length;
        // Wide rows (a header of a million columns) end a batch early: memory follows values.
        if (pending.length === batchSize || pendingFields >= MAX_BATCH_FIELDS) {
          yield this.convert(pending, startRow);
          startRow += pending.length;
          pending = [];
          pendingFields = 0;
        }
      }
    }
    if (!namesSeen)
      throw new FormatError("ECSV file has no column-name line", {
        file: this.path,
        detail: `line ${this.dataLine}`,
      });
    if (pending.length) yield this.convert(pending, startRow);
  }

  private checkNames(rec: CsvRecord): void {
    const expected = this.specs.map((s) => s.name);
    if (rec.fields.length !== expected.length || rec.fields.some((f, k) => f !== expected[k])) {
      throw new FormatError(
        `column names [${rec.fields.join(", ")}] do not match the header's [${expected.join(", ")}]`,
        { file: this.path, detail: `line ${rec.line}` },
      );
    }
  }

  private convert(records: CsvRecord[], startRow: number): TextTableBatch {
    const rows = records.length;
    const file = this.path;
    const batch: TextTableBatch = { startRow, rows, columns: emptyRecord(), nulls: emptyRecord() };
    for (const rec of records) {
      if (rec.fields.length !== this.specs.length) {
        throw new FormatError(
          `row has ${rec.fields.length} fields, the header declares ${this.specs.length} columns`,
          {
            file,
            detail: `line ${rec.line}`,
          },
        );
      }
    }
    this.specs.forEach((spec, k) => {
      const per = valuesPerRow(spec);
      const values = allocateValues(spec.dtype, rows * per);
      let nulls: Uint8Array | undefined;
      const bad = (rec: CsvRecord, text: string): never => {
        throw new FormatError(
          `"${text}" is not ${aDtype(spec.shape.length ? `${spec.dtype}[${spec.shape.join(",")}]` : spec.dtype)} value`,
          {
            file,
            column: spec.name,
            detail: `line ${rec.line}`,
          },
        );
      };
      for (let r = 0; r < rows; r++) {
        const rec = records[r];
        const text = rec.fields[k];
        if (text === "") {
          nulls ??= new Uint8Array(rows * per);
          for (let j = 0; j < per; j++) {
            nulls[r * per + j] = 1;
            storeNull(values, r * per + j);
          }
          continue;
        }
        if (spec.shape.length === 0) {
          if (!storeValue(values, r, spec.dtype, text)) bad(rec, text);
          continue;
        }
        const parsed = jsonLeaves(text);
        if (
          !parsed ||
          parsed.leaves.length !== per ||
          parsed.shape.join(",") !== spec.shape.join(",")
        )
          bad(rec, text);
        const { leaves } = parsed as { leaves: (string | null)[] };
        for (let j = 0; j < per; j++) {
          const leaf = leaves[j];
          if (leaf === null) {
            nulls ??= new Uint8Array(rows * per);
            nulls[r * per + j] = 1;
            storeNull(values, r * per + j);
          } else if (!storeValue(values, r * per + j, spec.dtype, leaf)) bad(rec, text);
        }
      }
      batch.columns[spec.name] = values;
      if (nulls) batch.nulls[spec.name] = nulls;
    });
    return batch;
  }
}

export function openEcsv(path: string, options: EcsvOpenOptions = {}): Promise<EcsvReader> {
  return EcsvReader.open(path, options);
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface EcsvWriteOptions {
  /** " " (default, as astropy) or ",". */
  delimiter?: " " | ",";
  /** Table meta (YAML-serialisable: objects, arrays, strings, numbers, booleans, null). */
  meta?: Record<string, unknown>;
  /** Per-column format strings and meta. */
  columns?: Record<string, { format?: string; meta?: unknown }>;
}

function jsonLeaf(values: NumericArray | string[], at: number, dtype: Dtype): string {
  const v = values[at];
  if (dtype === "string") return JSON.stringify(v);
  if (dtype === "bool") return v ? "true" : "false";
  if (typeof v === "bigint") return v.toString();
  const n = v as number;
  if (Number.isNaN(n)) return "NaN";
  if (!Number.isFinite(n)) return n > 0 ? "Infinity" : "-Infinity";
  return formatValue(values, at, dtype);
}

function jsonRow(
  values: NumericArray | string[],
  start: number,
  shape: number[],
  dtype: Dtype,
  nulls: Uint8Array | undefined,
): string {
  let at = start;
  const build = (depth: number): string => {
    const parts: string[] = [];
    for (let k = 0; k < shape[depth]; k++) {
      if (depth === shape.length - 1) {
        parts.push(nulls?.[at] ? "null" : jsonLeaf(values, at, dtype));
        at++;
      } else parts.push(build(depth + 1));
    }
    return `[${parts.join(",")}]`;
  };
  return build(0);
}

export class EcsvWriter {
  private readonly out: TextTableFile;
  private readonly specs: ColumnSpec[];
  private readonly delimiter: " " | ",";

  private constructor(out: TextTableFile, specs: ColumnSpec[], delimiter: " " | ",") {
    this.out = out;
    this.specs = specs;
    this.delimiter = delimiter;
  }

  /** Writes the header; append rows, then close() (which renames the file into place). */
  static async create(
    path: string,
    specs: ColumnSpec[],
    options: EcsvWriteOptions = {},
  ): Promise<EcsvWriter> {
    const delimiter = options.delimiter ?? " ";
    if (delimiter !== " " && delimiter !== ",")
      throw new UsageError("ECSV delimiter must be a space or a comma", { file: path });
    const datatype = specs.map((s) => {
      const entry: Record<string, unknown> = { name: s.name };
      if (s.unit) entry.unit = s.unit;
      if (s.shape.length > 0) {
        entry.datatype = "string";
        entry.subtype = `${s.dtype}[${s.shape.join(",")}]`;
      } else entry.datatype = s.dtype;
      const extra = options.columns?.[s.name];
      if (extra?.format !== undefined) entry.format = extra.format;
      if (s.description) entry.description = s.description;
      if (extra?.meta !== undefined) entry.meta = extra.meta;
      return entry;
    });
    const header: Record<string, unknown> = { datatype };
    if (delimiter === ",") header.delimiter = ",";
    if (options.meta && Object.keys(options.meta).length > 0) header.meta = options.meta;
    header.schema = "astropy-2.0";
    let yaml: string;
    try {
      yaml = stringifyHeaderYaml(header, ["datatype"], ["meta"]);
    } catch (e) {
      throw new UsageError(
        `ECSV meta cannot be written as YAML: ${(e as Error).message}`,
        { file: path },
        { cause: e },
      );
    }
    const headerText = ["%ECSV 1.0", "---", ...yaml.split("\n")].map((l) => `# ${l}`).join("\n");
    const out = await TextTableFile.create(path);
    const writer = new EcsvWriter(out, specs, delimiter);
    try {
      await out.write(
        `${headerText}\n${specs.map((s) => quoteField(s.name, delimiter)).join(delimiter)}\n`,
      );
    } catch (e) {
      await out.abort();
      throw e;
    }
    return writer;
  }

  /** Appends a batch; nulls (and empty strings, as in astropy) are written as "". */
  async append(batch: ColumnBatch, nulls: Record<string, Uint8Array> = {}): Promise<void> {
    const rows = batchRows(batch, this.specs, this.out.path);
    const d = this.delimiter;
    const lines: string[] = [];
    for (let r = 0; r < rows; r++) {
      const fields = this.specs.map((s) => {
        const values = batch[s.name];
        const mask = nulls[s.name];
        if (s.shape.length === 0) {
          if (mask?.[r]) return '""';
          const text = formatValue(values, r, s.dtype);
          return s.dtype === "string" ? quoteField(text, d) : text;
        }
        // Masked elements are JSON nulls, as astropy writes them (even when all are masked).
        const per = valuesPerRow(s);
        return quoteField(jsonRow(values, r * per, s.shape, s.dtype, mask), d);
      });
      lines.push(fields.join(d));
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

/** Writes batches to an ECSV file. */
export async function writeEcsv(
  path: string,
  specs: ColumnSpec[],
  batches: Iterable<TextTableBatch> | AsyncIterable<TextTableBatch>,
  options: EcsvWriteOptions = {},
): Promise<void> {
  const writer = await EcsvWriter.create(path, specs, options);
  try {
    for await (const b of batches) await writer.append(b.columns, b.nulls);
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
