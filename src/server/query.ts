// Reading the rows a query selects, in batches, for the rows and cone routes: the view's
// columns, filters and regions from the request (each refusal naming its parameter), the rows
// from offset to offset+limit read batch by batch (a whole view never in memory), and the
// query deadline (504).

import { bytesPerRow, type ColumnValues, sliceRows } from "../core/columns.ts";
import type { Dataset } from "../dataset/dataset.ts";
import type { Source } from "../dataset/source.ts";
import type { AnswerColumn, RowBatch } from "./encode.ts";
import { badParameter, blameSync, ServiceError, tooLarge } from "./errors.ts";
import { parseBox, parseColumns, parseCone } from "./params.ts";

/** Bytes of the asked-for columns read per batch (bounds the memory of one answer). */
export const BATCH_BYTES = 4 * 1024 * 1024;
/** Most rows per batch. */
const BATCH_MAX_ROWS = 4096;

/** The view a rows request asks for, and the columns of its answer. */
export interface RowQuery {
  view: Dataset;
  columns: AnswerColumn[];
  /** True when a filter or region narrows the rows (the count is then unknown up front). */
  narrowed: boolean;
}

/**
 * The view of `dataset` a request's `columns`, `filter`, `cone` and `box` describe. Without
 * `columns`, the scalar columns (array columns only when named).
 */
export function rowQuery(
  dataset: Dataset,
  q: { columns?: string; filter?: string; cone?: string; box?: string },
): RowQuery {
  const asked = parseColumns(q.columns);
  const names = asked ?? dataset.features.filter((f) => f.shape.length === 0).map((f) => f.name);
  let view = blameSync("columns", () => dataset.select(names));
  let narrowed = false;
  if (q.filter !== undefined && q.filter.trim() !== "") {
    const text = q.filter;
    checkNesting(text);
    view = blameSync("filter", () => view.filter(text));
    narrowed = true;
  }
  if (q.cone !== undefined && q.cone !== "") {
    const c = parseCone(q.cone);
    view = blameSync("cone", () => view.coneSearch(c.ra, c.dec, c.radiusArcsec));
    narrowed = true;
  }
  if (q.box !== undefined && q.box !== "") {
    const b = parseBox(q.box);
    view = blameSync("box", () => view.boxSearch(b.raMin, b.raMax, b.decMin, b.decMax));
    narrowed = true;
  }
  const columns = view.features.map((f) => ({
    name: f.name,
    dtype: f.dtype,
    shape: f.shape,
    unit: f.unit,
  }));
  return { view, columns, narrowed };
}

/** Deepest parenthesis nesting a filter may have (the parser recurses once per level). */
const MAX_FILTER_DEPTH = 64;

/** Refuses a filter nested deeper than {@link MAX_FILTER_DEPTH} before it is parsed. */
function checkNesting(text: string): void {
  let depth = 0;
  for (const ch of text) {
    if (ch === "(" || ch === "[") depth++;
    else if (ch === ")" || ch === "]") depth--;
    if (depth > MAX_FILTER_DEPTH)
      throw badParameter(
        "filter",
        `the filter nests more than ${MAX_FILTER_DEPTH} parentheses deep`,
      );
  }
}

/** Bytes of one row of these columns as stored. */
export function rowBytes(columns: AnswerColumn[]): number {
  return columns.reduce((sum, c) => sum + bytesPerRow({ ...c, stringLength: undefined }), 0);
}

/**
 * Refuses (413 on `limit`) an answer whose estimated size passes `maxBytes`: text formats take
 * about three times the stored bytes.
 */
export function checkAnswerSize(
  columns: AnswerColumn[],
  limit: number,
  format: string,
  maxBytes: number,
): void {
  const factor = format === "arrow" ? 1 : 3;
  const estimate = rowBytes(columns) * limit * factor;
  if (estimate > maxBytes)
    throw tooLarge(
      `${limit} rows of these columns make about ${Math.round(estimate / 2 ** 20)} MiB, more than the ${Math.round(maxBytes / 2 ** 20)} MiB an answer may hold: ask for fewer rows or columns`,
      "limit",
    );
}

function batchRowsFor(columns: AnswerColumn[]): number {
  return Math.max(
    1,
    Math.min(BATCH_MAX_ROWS, Math.floor(BATCH_BYTES / Math.max(1, rowBytes(columns)))),
  );
}

/** Rows [offset, offset+limit) of a whole parent dataset, read file by file. */
async function* rangeRows(
  source: Source,
  names: string[],
  offset: number,
  limit: number,
  batchRows: number,
): AsyncGenerator<RowBatch> {
  const end = Math.min(source.rows, offset + limit);
  let row = offset;
  while (row < end) {
    const [f, inFile] = source.locate(row);
    const fileEnd = source.starts[f]! + source.files[f]!.rows;
    const stop = Math.min(end, fileEnd, row + batchRows);
    if (stop <= row) break;
    const columns = await source.readRange(f, names, inFile, inFile + (stop - row));
    yield { length: stop - row, columns };
    row = stop;
  }
}

/** Rows [offset, offset+limit) of a filtered view: the view's batches, the first `offset` skipped. */
async function* viewRows(
  view: Dataset,
  columns: AnswerColumn[],
  offset: number,
  limit: number,
  batchRows: number,
): AsyncGenerator<RowBatch> {
  let skip = offset;
  let left = limit;
  if (left <= 0) return;
  const per = Object.fromEntries(columns.map((c) => [c.name, c.shape.reduce((a, b) => a * b, 1)]));
  for await (const b of view.batches({ size: batchRows })) {
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    const start = skip;
    skip = 0;
    const n = Math.min(b.length - start, left);
    const out: Record<string, ColumnValues> = {};
    for (const c of columns)
      out[c.name] = sliceRows(b.columns[c.name]!, per[c.name]!, start, start + n);
    yield { length: n, columns: out };
    left -= n;
    if (left <= 0) return;
  }
}

/** The rows of a query's view from `offset`, at most `limit`, in batches. */
export async function queryRows(
  query: RowQuery,
  offset: number,
  limit: number,
): Promise<{ total: number | null; batches: AsyncGenerator<RowBatch> }> {
  const batchRows = batchRowsFor(query.columns);
  if (!query.narrowed) {
    const { source } = await query.view.parentRows();
    if (source) {
      return {
        total: source.rows,
        batches: rangeRows(
          source,
          query.columns.map((c) => c.name),
          offset,
          limit,
          batchRows,
        ),
      };
    }
  }
  return { total: null, batches: viewRows(query.view, query.columns, offset, limit, batchRows) };
}

/** 504 `ASTROPILE_TIMEOUT`. */
export function timeoutError(ms: number): ServiceError {
  return new ServiceError(
    504,
    "ASTROPILE_TIMEOUT",
    `the query ran longer than ${ms} ms: narrow it (a cone, a box, a filter on fewer rows) or ask for fewer rows`,
  );
}

/**
 * Runs `work` with the query deadline: a 504 when it has not settled by then. (Reads run on this
 * thread and are not interrupted mid-batch: the abandoned work stops at its next batch.)
 */
export async function withDeadline<T>(deadline: number, ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(ms)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
    // The losing side's rejection is handled here (it has no other listener).
    work.catch(() => {});
  }
}

/** The batches of `source`, ended with a 504 error once the deadline passed. */
export async function* untilDeadline(
  source: AsyncIterator<RowBatch>,
  deadline: number,
  ms: number,
): AsyncGenerator<RowBatch> {
  try {
    for (;;) {
      if (Date.now() > deadline) throw timeoutError(ms);
      const next = await source.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await source.return?.(undefined);
  }
}
