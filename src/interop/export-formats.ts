// The built-in export formats: FITS binary table, ECSV and CSV, each a thin adapter from the
// export framework (export.ts) to the streaming writers of src/formats, which write under a
// temporary name and rename on close. What each holds:
// - FITS: every column; arrays as vector columns (TDIMn for more than one axis, as astropy
//   writes them), units in TUNITn, unsigned and int8 through TZEROn. Variable-length strings
//   get the width of their longest value (one extra pass over that column); FITS strings are
//   ASCII, so a non-ASCII value is an error naming the column and row.
// - ECSV: every column, as astropy writes them: units, dtypes, arrays as JSON strings with a
//   `subtype` giving dtype and shape.
// - CSV: scalar columns; arrays only flattened on request (one column per element).
import { arrayClass, type ColumnBatch, type ColumnSpec, utf8Length } from "../core/columns.ts";
import { SchemaError } from "../core/errors.ts";
import { CsvWriter } from "../formats/csv.ts";
import { EcsvWriter } from "../formats/ecsv.ts";
import type { FitsCardInput } from "../formats/fits-header.ts";
import { FitsWriter } from "../formats/fits-writer.ts";
import type { Exporter, ExporterContext } from "./export.ts";
import { COLUMNAR_EXPORTERS } from "./export-columnar.ts";

/** Provenance and origin as table metadata (FITS cards, ECSV meta). */
function metadata(ctx: ExporterContext): Record<string, string> {
  const meta: Record<string, string> = { ORIGIN: "AstroPile" };
  const p = ctx.provenance;
  if (p.project) meta.PROJECT = p.project;
  if (p.survey) meta.SURVEY = p.survey;
  if (p.release) meta.RELEASE = p.release;
  meta.CONFIG = ctx.config;
  return meta;
}

/** Longest value (UTF-8 bytes, at least 1) of each variable-length string column, by one pass. */
async function stringWidths(
  schema: ColumnSpec[],
  ctx: ExporterContext,
): Promise<Map<string, number>> {
  const open = schema.filter((s) => s.dtype === "string" && s.stringLength === undefined);
  const widths = new Map(open.map((s) => [s.name, 1]));
  if (open.length === 0) return widths;
  for await (const batch of ctx.rescan(open.map((s) => s.name))) {
    for (const s of open) {
      let w = widths.get(s.name)!;
      for (const v of batch[s.name] as string[]) {
        const n = utf8Length(v);
        if (n > w) w = n;
      }
      widths.set(s.name, w);
    }
  }
  return widths;
}

/** Common non-ASCII characters of units and descriptions, and their ASCII spelling. */
const ASCII_SPELLING: Record<string, string> = {
  "\u00c5": "Angstrom",
  "\u212b": "Angstrom",
  "\u00b5": "u",
  "\u03bc": "u",
  "\u2212": "-",
  "\u00d7": "x",
  "\u00b0": "deg",
  "\u2013": "-",
  "\u2014": "-",
  "\u2018": "'",
  "\u2019": "'",
  "\u201c": '"',
  "\u201d": '"',
};

/**
 * FITS headers are ASCII: a text spelled in ASCII (the symbols above spelled out, accents
 * dropped, superscripts as digits), or null when a character has no spelling. Symbols are
 * spelled before decomposing: NFKD would turn the angstrom sign into A (ampere).
 */
function asciiSpelling(text: string, product: string): string | null {
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 32 && code <= 126) {
      out += ch;
      continue;
    }
    if (ch === "\u00b7" || ch === "\u22c5") {
      out += product;
      continue;
    }
    if (ASCII_SPELLING[ch] !== undefined) {
      out += ASCII_SPELLING[ch];
      continue;
    }
    for (const part of ch.normalize("NFKD")) {
      const c = part.codePointAt(0)!;
      if (c >= 0x300 && c <= 0x36f) continue; // a combining accent
      if (c < 32 || c > 126) return null;
      out += part;
    }
  }
  return out;
}

/** Characters a TTYPEn value holds: one 80-character card, quotes doubled (astropy's limit). */
const FITS_NAME_MAX = 68;

/**
 * Why a column cannot go into a FITS table (null when it can): a name that is not printable
 * ASCII or does not fit one header card, or a unit with no ASCII spelling.
 */
function fitsUnsupported(column: ColumnSpec): string | null {
  if (/[^\x20-\x7e]/.test(column.name))
    return "its name has characters a FITS header (printable ASCII) cannot hold; export it to ECSV or Parquet";
  const quoted = column.name.replaceAll("'", "''").length;
  if (quoted > FITS_NAME_MAX)
    return `its name takes ${quoted} characters and a FITS TTYPE card holds ${FITS_NAME_MAX} (as astropy requires); export it to ECSV or Parquet`;
  if (column.unit === undefined || asciiSpelling(column.unit, ".") !== null) return null;
  return `unit ${JSON.stringify(column.unit)} has characters a FITS header (ASCII) cannot hold; export it to ECSV, or give the column an ASCII unit`;
}

/** Units and descriptions as a FITS header holds them (descriptions are comments: best effort). */
function fitsSpec(spec: ColumnSpec): ColumnSpec {
  const out = { ...spec };
  if (spec.unit !== undefined) {
    const why = fitsUnsupported(spec);
    if (why) throw new SchemaError(why, { column: spec.name });
    // A product of units is "." in the FITS unit standard.
    out.unit = asciiSpelling(spec.unit, ".")!;
  }
  if (spec.description !== undefined) {
    out.description =
      asciiSpelling(spec.description, "*") ??
      [...spec.description].map((ch) => asciiSpelling(ch, "*") ?? "?").join("");
  }
  return out;
}

const fits: Exporter = {
  format: "fits",
  description: "FITS binary table: every column; arrays as vector columns (TDIMn), units in TUNITn",
  output: "file",
  formatOptions: [],
  unsupported: fitsUnsupported,
  async write(rows, schema, ctx) {
    if (schema.length > 999)
      throw new SchemaError(`FITS tables hold at most 999 columns; ${schema.length} asked for`);
    const widths = await stringWidths(schema, ctx);
    const specs = schema.map((s) =>
      fitsSpec(widths.has(s.name) ? { ...s, stringLength: widths.get(s.name)! } : s),
    );
    const cards: FitsCardInput[] = Object.entries(metadata(ctx)).map(([keyword, value]) => ({
      keyword,
      value,
    }));
    const writer = await FitsWriter.create(ctx.path);
    try {
      const table = await writer.beginTable(specs, { name: ctx.config.slice(0, 68), cards });
      for await (const batch of rows) await table.append(batch);
      await table.end();
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    return undefined;
  },
};

/** astropy's ECSV reader (Python's csv module) refuses fields longer than this. */
const ASTROPY_FIELD_LIMIT = 131072;

/** Most characters one element of an ECSV array cell can take, separator included. */
const ELEMENT_CHARS: Record<string, number> = {
  float32: 16, // -1.17549435e-38,
  float64: 25, // -2.2250738585072014e-308,
  int8: 5,
  uint8: 4,
  int16: 7,
  uint16: 6,
  int32: 12,
  uint32: 11,
  int64: 21,
  uint64: 21,
  bool: 6,
};

/** Why an array column would make an ECSV field astropy cannot read (null when it cannot). */
function ecsvTooWide(column: ColumnSpec): string | null {
  if (column.shape.length === 0) return null;
  const per = column.shape.reduce((a, b) => a * b, 1);
  // Strings: quotes, separator, and a JSON escape for every character at worst.
  const element =
    column.dtype === "string"
      ? column.stringLength === undefined
        ? 0
        : 2 * column.stringLength + 3
      : ELEMENT_CHARS[column.dtype];
  let brackets = 0;
  for (let k = 0, outer = 1; k < column.shape.length; outer *= column.shape[k], k++)
    brackets += 2 * outer;
  const chars = per * element + brackets;
  if (chars <= ASTROPY_FIELD_LIMIT) return null;
  return `ECSV writes an array cell as one JSON text field, and this column's (${per} values per row, up to ${chars} characters) is longer than the ${ASTROPY_FIELD_LIMIT} characters astropy's reader accepts; export it to FITS`;
}

const ecsv: Exporter = {
  format: "ecsv",
  description:
    "ECSV (astropy's text table): units and dtypes; arrays as JSON (up to astropy's field limit)",
  output: "file",
  formatOptions: [],
  unsupported: (column) => ecsvTooWide(column),
  async write(rows, schema, ctx) {
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(metadata(ctx))) meta[k.toLowerCase()] = v;
    const writer = await EcsvWriter.create(ctx.path, schema, { meta });
    try {
      for await (const batch of rows) await writer.append(batch);
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    return undefined;
  },
};

/** `name[i]` / `name[i,j,...]`: the column of one element of a flattened array column (row-major). */
function elementNames(spec: ColumnSpec): string[] {
  const names: string[] = [];
  const per = spec.shape.reduce((a, b) => a * b, 1);
  for (let k = 0; k < per; k++) {
    const index: number[] = [];
    let rest = k;
    for (let d = spec.shape.length - 1; d >= 0; d--) {
      index.unshift(rest % spec.shape[d]);
      rest = Math.floor(rest / spec.shape[d]);
    }
    names.push(`${spec.name}[${index.join(",")}]`);
  }
  return names;
}

/** The scalar columns a flattened CSV holds, and how to cut a batch into them. */
function flatten(schema: ColumnSpec[]): {
  specs: ColumnSpec[];
  cut: (batch: ColumnBatch) => ColumnBatch;
} {
  const specs: ColumnSpec[] = [];
  const parts: Array<{ spec: ColumnSpec; names: string[] }> = [];
  for (const s of schema) {
    const names = s.shape.length === 0 ? [s.name] : elementNames(s);
    parts.push({ spec: s, names });
    for (const n of names) specs.push({ ...s, name: n, shape: [] });
  }
  const taken = new Set<string>();
  for (const s of specs) {
    if (taken.has(s.name))
      throw new SchemaError(
        "flattening gives two columns of this name; export fewer columns or do not flatten",
        { column: s.name },
      );
    taken.add(s.name);
  }
  const cut = (batch: ColumnBatch): ColumnBatch => {
    const out: ColumnBatch = {};
    for (const { spec, names } of parts) {
      const values = batch[spec.name];
      if (names.length === 1 && spec.shape.length === 0) {
        out[spec.name] = values;
        continue;
      }
      const per = names.length;
      const rows = values.length / per;
      names.forEach((n, k) => {
        if (Array.isArray(values)) {
          const col = new Array<string>(rows);
          for (let r = 0; r < rows; r++) col[r] = values[r * per + k];
          out[n] = col;
        } else {
          const col = new (arrayClass(spec.dtype as Exclude<ColumnSpec["dtype"], "string">))(rows);
          for (let r = 0; r < rows; r++)
            (col as Float64Array)[r] = (values as Float64Array)[r * per + k];
          out[n] = col;
        }
      });
    }
    return out;
  };
  return { specs, cut };
}

const csv: Exporter = {
  format: "csv",
  description: "CSV with a header row: scalar columns (arrays only with flattenArrays / --flatten)",
  output: "file",
  formatOptions: [],
  unsupported: (column, options) =>
    column.shape.length > 0 && !options.flattenArrays
      ? `CSV holds scalar columns and this one has [${column.shape.join(", ")}] values per row; export it to FITS or ECSV, or flatten it to one column per element (flattenArrays, --flatten)`
      : null,
  async write(rows, schema, ctx) {
    const { specs, cut } = flatten(schema);
    const writer = await CsvWriter.create(ctx.path, specs);
    try {
      for await (const batch of rows) await writer.append(cut(batch));
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    return { columns: specs.map((s) => s.name) };
  },
};

/** The formats registered when the export framework loads. */
export const BUILTIN_EXPORTERS: Exporter[] = [fits, ecsv, csv, ...COLUMNAR_EXPORTERS];
