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
  gatherRows,
  gatherRowsFrom,
  valuesPerRow,
} from "../core/columns.ts";
import { CorruptFileError, UsageError } from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";
import { sortOrderInt64 } from "../core/sort.ts";
import { int64Words } from "../core/words.ts";
import { PartitionFile } from "./partition-file.ts";
import { PartitionWriter } from "./partition-writer.ts";

/** Most runs merged at once: bounds memory per run block and the heap size. */
const FAN_IN = 16;

export class ExternalSorter {
  private readonly rowBytes: number;
  private pieces: ColumnBatch[] = [];
  private bufferedRows = 0;
  private readonly runs: Run[] = [];
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

  /**
   * Adds the rows of a file already sorted by the key (every column present), without sorting
   * them again: the file becomes one of the runs merged, read but never removed. `rows` is the
   * row count the caller expects of it; `adjust` is applied to each block read (before the
   * merge). Rows added before it (buffered) are spilled first, so ties keep arrival order.
   */
  async addSortedFile(
    path: string,
    options: { rows?: number; adjust?: (batch: ColumnBatch) => void } = {},
  ): Promise<void> {
    if (this.state !== "open") throw new UsageError("sorter no longer accepts rows");
    if (this.bufferedRows > 0) await this.spill();
    // Opened without a row count: every column's length is read and must agree.
    const file = await PartitionFile.open(path);
    const rows = file.length;
    file.close();
    if (options.rows !== undefined && rows !== options.rows)
      throw new CorruptFileError(`holds ${rows} rows, ${options.rows} expected`, { file: path });
    this.runs.push({ path, owned: false, rows, adjust: options.adjust });
    this.rowsIn += rows;
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
      contentDigest: false,
    });
    try {
      writer.append(this.takeSorted());
      await writer.close();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    this.runs.push({ path, owned: true });
  }

  /** Merges runs FAN_IN at a time into longer runs until one final merge can take them all. */
  private async reduceRuns(): Promise<void> {
    let pass = 0;
    while (this.runs.length > FAN_IN) {
      const next: Run[] = [];
      for (let g = 0; g < this.runs.length; g += FAN_IN) {
        const group = this.runs.slice(g, g + FAN_IN);
        if (group.length === 1) {
          next.push(group[0]);
          continue;
        }
        const path = join(this.scratch, `merge-${pass}-${g}.hdf5`);
        const opened: PartitionFile[] = [];
        const writer = await PartitionWriter.create(path, this.specs, {
          compression: "none",
          durable: false,
          contentDigest: false,
        });
        try {
          const blockRows = this.blockRows(group.length);
          const sources: MergeSource[] = [];
          for (const run of group) sources.push(await this.openRun(run, blockRows, opened));
          for await (const batch of mergeSorted(sources, this.specs, blockRows))
            writer.append(batch);
          await writer.close();
        } catch (err) {
          await writer.abort();
          throw err;
        } finally {
          for (const f of opened) f.close();
        }
        for (const run of group) if (run.owned) await rm(run.path, { force: true });
        next.push({ path, owned: true });
      }
      this.runs.splice(0, this.runs.length, ...next);
      pass++;
    }
  }

  /** A run as a merge source (its file added to `opened`, for the caller to close). */
  private async openRun(
    run: Run,
    blockRows: number,
    opened: PartitionFile[],
  ): Promise<MergeSource> {
    const file = await PartitionFile.open(run.path, { expectRows: run.rows });
    opened.push(file);
    return new FileSource(file, this.specs, this.keyColumn, blockRows, run.adjust);
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
      for (const run of this.runs) sources.push(await this.openRun(run, blockRows, opened));
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

/** A sorted file merged by `sorted()`: a spilled run (owned, removed after use) or a caller's. */
interface Run {
  path: string;
  owned: boolean;
  rows?: number;
  adjust?: (batch: ColumnBatch) => void;
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
    private readonly adjust?: (batch: ColumnBatch) => void,
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
    this.adjust?.(this.block);
    this.keys = this.block[this.keyColumn] as BigInt64Array;
    this.start = end;
    this.pos = 0;
    return true;
  }
}

/**
 * K-way merge (ties go to the earlier source, so the merge is stable). Emits batches of at most
 * `outRows` rows; pending output is flushed before a source loads its next block, because the
 * output still refers to rows of the current blocks. Keys are compared as their two 32-bit
 * words (no BigInt made per row).
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
  const k = live.length;
  // Each source's current block's keys as words ([lo, hi] per key, little-endian) and its head
  // key (hi signed, lo unsigned), so the heap compares numbers in typed arrays.
  const words = live.map((s) => int64Words(s.keys));
  const hi = new Int32Array(k);
  const lo = new Float64Array(k);
  const setHead = (s: number) => {
    const at = 2 * live[s].pos;
    lo[s] = words[s][at];
    hi[s] = words[s][at + 1] | 0;
  };
  const pickSource = new Int32Array(outRows);
  const pickRow = new Int32Array(outRows);
  let picked = 0;
  const flush = (): ColumnBatch => {
    const out: ColumnBatch = emptyRecord();
    for (const spec of specs) {
      const columns = live.map((s) => (s.block ? s.block[spec.name] : allocate(spec, 0)));
      out[spec.name] = gatherRowsFrom(columns, valuesPerRow(spec), pickSource, pickRow, picked);
    }
    picked = 0;
    return out;
  };
  const less = (a: number, b: number) =>
    hi[a] < hi[b] || (hi[a] === hi[b] && (lo[a] < lo[b] || (lo[a] === lo[b] && a < b)));
  const heap = new Int32Array(k);
  let size = k;
  const siftDown = (start: number) => {
    const x = heap[start];
    let i = start;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && less(heap[c + 1], heap[c])) c++;
      if (!less(heap[c], x)) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = x;
  };
  for (let i = 0; i < k; i++) {
    heap[i] = i;
    setHead(i);
  }
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(i);
  while (size > 0) {
    const s = heap[0];
    const src = live[s];
    pickSource[picked] = s;
    pickRow[picked++] = src.pos;
    src.pos++;
    if (src.pos >= src.keys.length) {
      yield flush();
      if (!src.next()) {
        heap[0] = heap[--size];
        if (size > 0) siftDown(0);
        continue;
      }
      words[s] = int64Words(src.keys);
    } else if (picked >= outRows) {
      yield flush();
    }
    setHead(s);
    siftDown(0);
  }
  if (picked > 0) yield flush();
}
