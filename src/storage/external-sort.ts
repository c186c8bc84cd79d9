// External sort of row batches by an int64 key column, with memory bounded by `memoryBytes`:
// rows are buffered, and when the buffer passes the budget it is sorted and spilled to a scratch
// HDF5 run; `sorted()` then k-way merges the runs (and what is still in memory) block by block.
// Stable: rows with equal keys come out in the order they went in.
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  allocate,
  bytesPerRow,
  type ColumnBatch,
  type ColumnSpec,
  concatValues,
  copyRow,
  gatherRows,
  valuesPerRow,
} from "../core/columns.ts";
import { UsageError } from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import { sortOrderInt64 } from "../core/sort.ts";
import { PartitionFile } from "./partition-file.ts";
import { PartitionWriter } from "./partition-writer.ts";

/** Most runs merged at once: bounds memory per run block and the heap size. */
const FAN_IN = 16;

export class ExternalSorter {
  private readonly rowBytes: number;
  private pieces: ColumnBatch[] = [];
  private bufferedRows = 0;
  private readonly runs: string[] = [];
  private state: "open" | "sorting" | "closed" = "open";
  private rowsIn = 0;

  /**
   * @param specs columns of every row, `keyColumn` (int64) among them
   * @param scratch directory for runs (created; removed by `close()`)
   */
  constructor(
    private readonly specs: ColumnSpec[],
    private readonly keyColumn: string,
    private readonly scratch: string,
    private readonly memoryBytes: number,
  ) {
    const key = specs.find((s) => s.name === keyColumn);
    if (key?.dtype !== "int64" || key.shape.length !== 0) {
      throw new UsageError(`sort key "${keyColumn}" must be an int64 scalar column`);
    }
    this.rowBytes = specs.reduce((sum, s) => sum + bytesPerRow(s), 0);
  }

  get rows(): number {
    return this.rowsIn;
  }

  get spilledRuns(): number {
    return this.runs.length;
  }

  /** Adds a batch (every column present, already validated by the caller). */
  async add(batch: ColumnBatch, rows: number): Promise<void> {
    if (this.state !== "open") throw new UsageError("sorter no longer accepts rows");
    if (rows === 0) return;
    this.pieces.push(batch);
    this.bufferedRows += rows;
    this.rowsIn += rows;
    if (this.bufferedRows * this.rowBytes > this.memoryBytes) await this.spill();
  }

  private takeSorted(): ColumnBatch {
    const joined: ColumnBatch = emptyRecord();
    for (const spec of this.specs)
      joined[spec.name] = concatValues(this.pieces.map((p) => p[spec.name]));
    const keys = joined[this.keyColumn] as BigInt64Array;
    // Stable: equal keys keep their arrival order.
    const order = sortOrderInt64(keys);
    const sorted: ColumnBatch = emptyRecord();
    for (const spec of this.specs)
      sorted[spec.name] = gatherRows(joined[spec.name], valuesPerRow(spec), order);
    this.pieces = [];
    this.bufferedRows = 0;
    return sorted;
  }

  private async spill(): Promise<void> {
    await mkdir(this.scratch, { recursive: true });
    const path = join(this.scratch, `run-${this.runs.length}.hdf5`);
    const writer = await PartitionWriter.create(path, this.specs, {
      compression: "none",
      durable: false,
    });
    try {
      writer.append(this.takeSorted());
      await writer.close();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    this.runs.push(path);
  }

  /** Merges runs FAN_IN at a time into longer runs until one final merge can take them all. */
  private async reduceRuns(): Promise<void> {
    let pass = 0;
    while (this.runs.length > FAN_IN) {
      const next: string[] = [];
      for (let g = 0; g < this.runs.length; g += FAN_IN) {
        const group = this.runs.slice(g, g + FAN_IN);
        if (group.length === 1) {
          next.push(group[0]);
          continue;
        }
        const path = join(this.scratch, `merge-${pass}-${g}.hdf5`);
        const writer = await PartitionWriter.create(path, this.specs, {
          compression: "none",
          durable: false,
        });
        const opened: PartitionFile[] = [];
        try {
          const blockRows = this.blockRows(group.length);
          const sources: MergeSource[] = [];
          for (const run of group) {
            const file = await PartitionFile.open(run);
            opened.push(file);
            sources.push(new FileSource(file, this.specs, this.keyColumn, blockRows));
          }
          for await (const batch of mergeSorted(sources, this.specs, blockRows))
            writer.append(batch);
          await writer.close();
        } catch (err) {
          await writer.abort();
          throw err;
        } finally {
          for (const f of opened) f.close();
        }
        for (const run of group) await rm(run, { force: true });
        next.push(path);
      }
      this.runs.splice(0, this.runs.length, ...next);
      pass++;
    }
  }

  /** Rows per block when merging `sources` streams within half the memory budget. */
  private blockRows(sources: number): number {
    return Math.max(1, Math.floor(this.memoryBytes / 2 / (sources + 1) / this.rowBytes));
  }

  /** Yields every row in key order, in batches of bounded size. Call once. */
  async *sorted(): AsyncGenerator<ColumnBatch> {
    if (this.state !== "open") throw new UsageError("sorted() may be called once");
    this.state = "sorting";
    // What is still in memory becomes a run too when there are many, so fan-in stays bounded.
    if (this.runs.length >= FAN_IN && this.bufferedRows > 0) await this.spill();
    await this.reduceRuns();
    const sources: MergeSource[] = [];
    const opened: PartitionFile[] = [];
    const blockRows = this.blockRows(this.runs.length);
    try {
      for (const path of this.runs) {
        const file = await PartitionFile.open(path);
        opened.push(file);
        sources.push(new FileSource(file, this.specs, this.keyColumn, blockRows));
      }
      if (this.bufferedRows > 0)
        sources.push(new MemorySource(this.takeSorted(), this.keyColumn, blockRows));
      yield* mergeSorted(sources, this.specs, blockRows);
    } finally {
      for (const f of opened) f.close();
    }
  }

  /** Removes the scratch runs. */
  async close(): Promise<void> {
    this.state = "closed";
    this.pieces = [];
    await rm(this.scratch, { recursive: true, force: true });
  }
}

/** A sorted stream of rows, one block at a time. */
interface MergeSource {
  block: ColumnBatch | null;
  keys: BigInt64Array;
  pos: number;
  /** Loads the next block; false at the end. */
  next(): boolean;
}

class MemorySource implements MergeSource {
  block: ColumnBatch | null = null;
  keys: BigInt64Array = new BigInt64Array(0);
  pos = 0;
  private start = 0;
  private readonly total: number;
  constructor(
    private readonly batch: ColumnBatch,
    private readonly keyColumn: string,
    private readonly blockRows: number,
  ) {
    this.total = (batch[keyColumn] as BigInt64Array).length;
    this.next();
  }
  next(): boolean {
    if (this.start >= this.total) {
      this.block = null;
      return false;
    }
    const end = Math.min(this.total, this.start + this.blockRows);
    const block: ColumnBatch = emptyRecord();
    for (const [name, values] of Object.entries(this.batch)) {
      const per = values.length / this.total;
      block[name] = Array.isArray(values)
        ? values.slice(this.start * per, end * per)
        : values.subarray(this.start * per, end * per);
    }
    this.block = block;
    this.keys = block[this.keyColumn] as BigInt64Array;
    this.start = end;
    this.pos = 0;
    return true;
  }
}

class FileSource implements MergeSource {
  block: ColumnBatch | null = null;
  keys: BigInt64Array = new BigInt64Array(0);
  pos = 0;
  private start = 0;
  constructor(
    private readonly file: PartitionFile,
    private readonly specs: ColumnSpec[],
    private readonly keyColumn: string,
    private readonly blockRows: number,
  ) {
    this.next();
  }
  next(): boolean {
    if (this.start >= this.file.length) {
      this.block = null;
      return false;
    }
    const end = Math.min(this.file.length, this.start + this.blockRows);
    this.block = this.file.readRange(
      this.specs.map((s) => s.name),
      this.start,
      end,
    );
    this.keys = this.block[this.keyColumn] as BigInt64Array;
    this.start = end;
    this.pos = 0;
    return true;
  }
}

/**
 * K-way merge (ties go to the earlier source, so the merge is stable). Emits batches of at most
 * `outRows` rows; pending output is flushed before a source loads its next block, because the
 * output still refers to rows of the current blocks.
 */
async function* mergeSorted(
  sources: MergeSource[],
  specs: ColumnSpec[],
  outRows: number,
): AsyncGenerator<ColumnBatch> {
  const live = sources.filter((s) => s.block !== null && s.keys.length > 0);
  if (live.length === 1) {
    const s = live[0];
    do yield s.block!;
    while (s.next());
    return;
  }
  const pickSource: number[] = [];
  const pickRow: number[] = [];
  const flush = (): ColumnBatch => {
    const out: ColumnBatch = emptyRecord();
    for (const spec of specs) {
      const per = valuesPerRow(spec);
      const values = allocate(spec, pickSource.length);
      for (let i = 0; i < pickSource.length; i++) {
        copyRow(live[pickSource[i]].block![spec.name], pickRow[i] * per, values, i * per, per);
      }
      out[spec.name] = values;
    }
    pickSource.length = 0;
    pickRow.length = 0;
    return out;
  };
  const heap: number[] = [];
  const less = (a: number, b: number) => {
    const ka = live[a].keys[live[a].pos];
    const kb = live[b].keys[live[b].pos];
    return ka < kb || (ka === kb && a < b);
  };
  const siftDown = (start: number) => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l], heap[m])) m = l;
      if (r < heap.length && less(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = live.length - 1; i >= 0; i--) heap.unshift(i);
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) siftDown(i);
  while (heap.length > 0) {
    const s = heap[0];
    const src = live[s];
    pickSource.push(s);
    pickRow.push(src.pos);
    src.pos++;
    if (src.pos >= src.keys.length) {
      yield flush();
      if (!src.next()) {
        heap[0] = heap[heap.length - 1];
        heap.pop();
        if (heap.length > 0) siftDown(0);
        continue;
      }
    } else if (pickSource.length >= outRows) {
      yield flush();
    }
    siftDown(0);
  }
  if (pickSource.length > 0) yield flush();
}
