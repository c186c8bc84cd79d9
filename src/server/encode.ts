// Rows as the service answers them (docs/service.md, "Dataset routes"): JSON (int64 as strings,
// NaN and infinities as null, array cells as {dtype, shape, data}), CSV (header line; array cells
// as JSON text) and Arrow IPC streams. Each encoder turns one batch into one chunk, so an answer
// streams with the memory of one batch.

import { type Duplex, Readable } from "node:stream";
import {
  allocate,
  type ColumnSpec,
  type ColumnValues,
  type NumericArray,
} from "../core/columns.ts";
import { arrowLib, arrowSchemaFor, toArrowBatch } from "../formats/parquet.ts";

/** One batch of rows, column by column (the column model). */
export interface RowBatch {
  length: number;
  columns: Record<string, ColumnValues>;
}

/** A column of an answer: name, dtype, shape of one row, unit. */
export type AnswerColumn = Pick<ColumnSpec, "name" | "dtype" | "shape" | "unit">;

/** Formats of the rows and cone answers. */
export type RowsFormat = "json" | "csv" | "arrow";

export const CONTENT_TYPES: Record<RowsFormat, string> = {
  json: "application/json; charset=utf-8",
  csv: "text/csv; charset=utf-8",
  arrow: "application/vnd.apache.arrow.stream",
};

/** A number as JSON: non-finite values have no JSON form and become null. */
function jsonNumber(x: number): string {
  return Number.isFinite(x) ? String(x) : "null";
}

function scalarJson(column: AnswerColumn, values: ColumnValues, i: number): string {
  const v = values[i]!;
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `"${v}"`;
  if (column.dtype === "bool") return v ? "true" : "false";
  return jsonNumber(v);
}

/** The flat values of one array cell as JSON text. */
function cellDataJson(
  column: AnswerColumn,
  values: ColumnValues,
  start: number,
  n: number,
): string {
  const parts = new Array<string>(n);
  if (Array.isArray(values)) {
    for (let k = 0; k < n; k++) parts[k] = JSON.stringify(values[start + k]);
  } else if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    for (let k = 0; k < n; k++) parts[k] = `"${values[start + k]}"`;
  } else if (column.dtype === "bool") {
    for (let k = 0; k < n; k++) parts[k] = values[start + k] ? "true" : "false";
  } else {
    const a = values as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
    for (let k = 0; k < n; k++) parts[k] = jsonNumber(a[start + k]!);
  }
  return `[${parts.join(",")}]`;
}

function perRow(column: AnswerColumn): number {
  return column.shape.reduce((a, b) => a * b, 1);
}

/** One value of a row (scalar or array cell) as JSON text. */
export function cellJson(column: AnswerColumn, values: ColumnValues, row: number): string {
  if (column.shape.length === 0) return scalarJson(column, values, row);
  const n = perRow(column);
  return `{"dtype":"${column.dtype}","shape":${JSON.stringify(column.shape)},"data":${cellDataJson(column, values, row * n, n)}}`;
}

/** JSON text of each row's value of one column (a loop per storage type: no per-value dispatch). */
function columnJson(column: AnswerColumn, values: ColumnValues, n: number): string[] {
  const out = new Array<string>(n);
  if (column.shape.length > 0) {
    for (let i = 0; i < n; i++) out[i] = cellJson(column, values, i);
  } else if (values instanceof BigInt64Array || values instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = `"${values[i]}"`;
  } else if (values instanceof Float64Array || values instanceof Float32Array) {
    for (let i = 0; i < n; i++) {
      const x = values[i]!;
      out[i] = x - x === 0 ? `${x}` : "null"; // x - x is NaN for NaN and the infinities
    }
  } else if (Array.isArray(values)) {
    for (let i = 0; i < n; i++) out[i] = JSON.stringify(values[i]);
  } else if (column.dtype === "bool") {
    for (let i = 0; i < n; i++) out[i] = values[i] ? "true" : "false";
  } else {
    for (let i = 0; i < n; i++) out[i] = `${values[i]}`;
  }
  return out;
}

/** The rows of a batch as JSON objects joined by commas (no brackets). */
export function batchJson(columns: AnswerColumn[], batch: RowBatch): string {
  const n = batch.length;
  if (n === 0) return "";
  if (columns.length === 0) return new Array<string>(n).fill("{}").join(",");
  const texts = columns.map((c) => columnJson(c, batch.columns[c.name]!, n));
  const keys = columns.map((c, i) => `${i === 0 ? "{" : ","}${JSON.stringify(c.name)}:`);
  let out = "";
  for (let i = 0; i < n; i++) {
    if (i > 0) out += "},";
    for (let c = 0; c < columns.length; c++) out += keys[c]! + texts[c]![i]!;
  }
  return `${out}}`;
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The header line of a CSV answer. */
export function csvHeader(columns: AnswerColumn[]): string {
  return `${columns.map((c) => csvField(c.name)).join(",")}\n`;
}

/** The rows of a batch as CSV lines (array cells as JSON arrays; non-finite floats empty). */
export function batchCsv(columns: AnswerColumn[], batch: RowBatch): string {
  let out = "";
  for (let i = 0; i < batch.length; i++) {
    const fields = columns.map((c) => {
      const values = batch.columns[c.name]!;
      if (c.shape.length > 0) {
        const n = perRow(c);
        return csvField(cellDataJson(c, values, i * n, n));
      }
      const v = values[i]!;
      if (typeof v === "string") return csvField(v);
      if (typeof v === "bigint") return String(v);
      if (c.dtype === "bool") return v ? "true" : "false";
      return Number.isFinite(v) ? String(v) : "";
    });
    out += `${fields.join(",")}\n`;
  }
  return out;
}

/**
 * True when the JSON text of these columns' rows is ASCII (no string column, ASCII names): it is
 * then its own UTF-8, and goes to bytes as a copy (latin1) instead of a UTF-8 encoding.
 */
function asciiRows(columns: AnswerColumn[]): boolean {
  for (const c of columns) {
    if (c.dtype === "string") return false;
    for (let i = 0; i < c.name.length; i++) if (c.name.charCodeAt(i) > 0x7f) return false;
  }
  return true;
}

/** The start of a JSON rows answer, up to the opening bracket of its rows. */
function jsonHead(
  columns: AnswerColumn[],
  head: { offset: number; limit: number; total: number | null },
): string {
  const described = columns.map((c) => ({
    name: c.name,
    dtype: c.dtype,
    shape: c.shape,
    unit: c.unit ?? null,
  }));
  return `{"offset":${head.offset},"limit":${head.limit},"total":${head.total === null ? "null" : head.total},"columns":${JSON.stringify(described)},"rows":[`;
}

/** UTF-8 bytes of texts; those flagged ASCII are copied (latin1), the others encoded. */
function utf8Bytes(texts: string[], ascii: boolean[]): Buffer {
  const lengths = texts.map((t, i) => (ascii[i] ? t.length : Buffer.byteLength(t)));
  const out = Buffer.allocUnsafe(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (let i = 0; i < texts.length; i++) {
    out.write(texts[i]!, at, lengths[i], ascii[i] ? "latin1" : "utf8");
    at += lengths[i]!;
  }
  return out;
}

/**
 * The whole body of a JSON or CSV rows answer whose rows are all in `batches` (already read), as
 * bytes: the same bytes {@link rowsBody} streams, in one piece.
 */
export function rowsBytes(
  format: "json" | "csv",
  columns: AnswerColumn[],
  head: { offset: number; limit: number; total: number | null },
  batches: RowBatch[],
): Buffer {
  let texts: string[];
  if (format === "csv") texts = [csvHeader(columns), ...batches.map((b) => batchCsv(columns, b))];
  else {
    texts = [jsonHead(columns, head)];
    for (const b of batches) {
      if (b.length === 0) continue;
      texts.push((texts.length > 1 ? "," : "") + batchJson(columns, b));
    }
    texts.push("]}");
  }
  // The head may hold any text (names, units); the rows are ASCII when asciiRows says so.
  const ascii = asciiRows(columns);
  return utf8Bytes(
    texts,
    texts.map((_, i) => i > 0 && ascii),
  );
}

/**
 * The body of a rows answer: the batches in `read` are already read (so a bad request failed
 * before the status was sent); the rest are read as the client takes the bytes.
 */
export function rowsBody(
  format: RowsFormat,
  columns: AnswerColumn[],
  head: { offset: number; limit: number; total: number | null },
  read: RowBatch[],
  rest: AsyncIterator<RowBatch>,
): Readable | Duplex {
  async function* batches(): AsyncGenerator<RowBatch> {
    yield* read;
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (format === "arrow") {
    const schema = arrowSchemaFor(columns as ColumnSpec[]);
    const writer = arrowLib().RecordBatchStreamWriter.throughNode();
    async function* records() {
      let any = false;
      for await (const b of batches()) {
        any = true;
        yield toArrowBatch(schema, columns as ColumnSpec[], b.columns);
      }
      // An empty answer still carries its schema.
      if (!any)
        yield toArrowBatch(
          schema,
          columns as ColumnSpec[],
          Object.fromEntries(columns.map((c) => [c.name, allocate(c as ColumnSpec, 0)])),
        );
    }
    const source = Readable.from(records());
    const out = writer as unknown as Duplex;
    source.on("error", (err) => out.destroy(err));
    return source.pipe(out);
  }
  const ascii = asciiRows(columns);
  // Rows go out as bytes made here: the text of a batch copied when it is ASCII (see asciiRows).
  const rowBytes = (text: string) => Buffer.from(text, ascii ? "latin1" : "utf8");
  async function* text(): AsyncGenerator<Buffer> {
    if (format === "csv") {
      yield Buffer.from(csvHeader(columns));
      for await (const b of batches()) yield rowBytes(batchCsv(columns, b));
      return;
    }
    yield Buffer.from(jsonHead(columns, head));
    let firstRows = true;
    for await (const b of batches()) {
      if (b.length === 0) continue;
      yield rowBytes((firstRows ? "" : ",") + batchJson(columns, b));
      firstRows = false;
    }
    yield Buffer.from("]}");
  }
  return Readable.from(text());
}
