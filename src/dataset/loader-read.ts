// One loader batch read from a parent dataset's files: rows grouped by file (each group read in
// one readRows call, sorted and coalesced underneath) and scattered into the batch's order.
// Shared by the loader's worker threads and its in-thread mode.
import { allocate, type ColumnValues, copyRow } from "../core/columns.ts";
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

/** A batch to read. */
export interface ReadTask {
  index: number;
  size: number;
  names: string[];
  groups: FileGroup[];
}

/** Reads a task: every column of `names`, `size` rows in batch order. */
export async function readTask(
  sources: readonly Source[],
  task: ReadTask,
): Promise<Record<string, ColumnValues>> {
  const first = sources[0];
  // The whole batch from one file, in the file's order (sequential loaders, except at file
  // borders): the arrays the reader returned are the batch, no copy into a new one.
  if (task.groups.length === 1) {
    const g = task.groups[0];
    let identity = g.at.length === task.size;
    for (let j = 0; identity && j < g.at.length; j++) identity = g.at[j] === j;
    if (identity) return sources[g.k].readRows(g.f, task.names, g.rows);
  }
  const out: Record<string, ColumnValues> = emptyRecord();
  for (const n of task.names) out[n] = allocate(first.spec(n), task.size);
  for (const g of task.groups) {
    const data = await sources[g.k].readRows(g.f, task.names, g.rows);
    for (const n of task.names) {
      const per = first.perRow(n);
      const values = data[n];
      for (let j = 0; j < g.at.length; j++) copyRow(values, j * per, out[n], g.at[j] * per, per);
    }
  }
  return out;
}

/**
 * The buffers of a batch's typed arrays, to move (not copy) across threads: those the array
 * covers whole, or all but a few bytes past its end (the fast path reads chunks into buffers with
 * 4 bytes of slack for a checksum). Every array a read returns is its own (the readers copy out of
 * their caches and of WebAssembly memory); views into Node's shared 8 KiB Buffer pool are under
 * 4 KiB and not whole, so never moved.
 */
export function transferList(columns: Record<string, ColumnValues>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of Object.values(columns)) {
    if (Array.isArray(v) || !(v.buffer instanceof ArrayBuffer)) continue;
    const whole = v.byteLength === v.buffer.byteLength;
    const slack =
      v.byteOffset === 0 && v.byteLength >= 4096 && v.buffer.byteLength - v.byteLength <= 8;
    if (whole || slack) out.add(v.buffer);
  }
  return [...out];
}
