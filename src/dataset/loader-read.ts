// One loader batch read from a parent dataset's files into the batch's own buffer: numeric and
// bool columns are written straight into their place in one buffer per batch (rows grouped by
// file, runs of consecutive rows read in place, no intermediate arrays); string columns are
// read into arrays. Shared by the loader's worker threads and its in-thread mode.
import {
  allocate,
  arrayClass,
  type ColumnSpec,
  copyRow,
  type NumericArray,
  valuesPerRow,
} from "../core/columns.ts";
import { emptyRecord } from "../core/records.ts";
import type { Source } from "./source.ts";

/** The rows of one batch that live in one file. */
export interface FileGroup {
  /** Source (parent dataset) index and file index within it. */
  k: number;
  f: number;
  /** Positions in the batch. */
  at: Uint32Array;
  /** Rows in the file, same order as `at`. */
  rows: Float64Array;
}

/**
 * Where a batch's numeric and bool columns lie in its buffer: each column row-major from its
 * byte offset, room for the loader's batchSize rows plus SLACK bytes.
 */
export interface BatchLayout {
  offsets: Record<string, number>;
  /** Bytes of the whole buffer. */
  bytes: number;
}

/** A batch to read. */
export interface ReadTask {
  index: number;
  size: number;
  names: string[];
  groups: FileGroup[];
  layout: BatchLayout;
}

/**
 * Bytes after each column's rows: a chunk read in place with its Fletcher32 checksum writes 4
 * bytes past its end (see DirectColumn.readInto), and offsets stay 8-byte aligned.
 */
const SLACK = 8;

/** The layout of batches of `batchSize` rows of these columns (string columns are not in it). */
export function batchLayout(specs: ColumnSpec[], batchSize: number): BatchLayout {
  const offsets: Record<string, number> = emptyRecord();
  let bytes = 0;
  for (const spec of specs) {
    if (spec.dtype === "string") continue;
    offsets[spec.name] = bytes;
    const size = batchSize * valuesPerRow(spec) * arrayClass(spec.dtype).BYTES_PER_ELEMENT;
    bytes += Math.ceil((size + SLACK) / 8) * 8;
  }
  return { offsets, bytes };
}

/** Typed arrays over the first `size` rows of each numeric column of a batch buffer. */
export function batchViews(
  buffer: ArrayBufferLike,
  layout: BatchLayout,
  specs: ColumnSpec[],
  size: number,
): Record<string, NumericArray> {
  const out: Record<string, NumericArray> = emptyRecord();
  for (const spec of specs) {
    if (spec.dtype === "string") continue;
    const Ctor = arrayClass(spec.dtype) as unknown as new (
      buffer: ArrayBufferLike,
      offset: number,
      length: number,
    ) => NumericArray;
    out[spec.name] = new Ctor(buffer, layout.offsets[spec.name], size * valuesPerRow(spec));
  }
  return out;
}

/** A new buffer for one batch: not zeroed (every byte a view shows is written by the read). */
export function newBatchBuffer(layout: BatchLayout): ArrayBuffer {
  return Buffer.allocUnsafeSlow(layout.bytes).buffer as ArrayBuffer;
}

/**
 * Reads a task: every column of `names`, `size` rows in batch order, numeric ones into `buffer`
 * (laid out as task.layout says); returns the string columns.
 */
export async function readTask(
  sources: readonly Source[],
  task: ReadTask,
  buffer: ArrayBufferLike,
): Promise<Record<string, string[]>> {
  const first = sources[0];
  const specs = task.names.map((n) => first.spec(n));
  const views = batchViews(buffer, task.layout, specs, task.size);
  const numeric = specs.filter((s) => s.dtype !== "string").map((s) => s.name);
  const strings = specs.filter((s) => s.dtype === "string");
  const out: Record<string, string[]> = emptyRecord();
  for (const s of strings) out[s.name] = allocate(s, task.size) as string[];
  for (const g of task.groups) {
    if (numeric.length > 0) await sources[g.k].readRowsInto(g.f, numeric, g.rows, g.at, views);
    if (strings.length === 0) continue;
    const data = await sources[g.k].readRows(
      g.f,
      strings.map((s) => s.name),
      g.rows,
    );
    for (const s of strings) {
      const per = valuesPerRow(s);
      for (let j = 0; j < g.at.length; j++)
        copyRow(data[s.name], j * per, out[s.name], g.at[j] * per, per);
    }
  }
  return out;
}
