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

/** The buffers of a batch's typed arrays, to move (not copy) across threads. */
export function transferList(columns: Record<string, ColumnValues>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const v of Object.values(columns))
    if (
      !Array.isArray(v) &&
      v.buffer instanceof ArrayBuffer &&
      v.byteLength === v.buffer.byteLength
    )
      out.add(v.buffer);
  return [...out];
}
