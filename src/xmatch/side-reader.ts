// Reads positions (ra, dec) and object ids of dataset rows for the cross-match: from the
// config's positions sidecar when it has one (a few large slices of one file), otherwise from
// the partition files themselves (datasets written before the sidecar existed). Runs in
// worker threads as well as in the main thread.

import { join } from "node:path";
import { allocate, type ColumnValues, concatValues, copyRow } from "../core/columns.ts";
import { SchemaError } from "../core/errors.ts";
import { expectationOf } from "../storage/integrity.ts";
import { PartitionFile } from "../storage/partition-file.ts";
import { PositionsFile } from "../storage/positions.ts";
import { fileOfRow, type SideTable } from "./plan.ts";

const OPEN_FILES = 8;

export class SideReader {
  private readonly open = new Map<number, PartitionFile>();

  private constructor(
    readonly table: SideTable,
    private readonly sidecar: PositionsFile | null,
  ) {}

  /**
   * Opens the side's sidecar (or takes `opened`, the same sidecar opened by sideTable), which must have been built from the manifest's current file list:
   * one built from another list (files reordered or replaced since) is refused with a
   * ManifestMismatchError saying to run `astropile index DIR --force`, never read (its rows would
   * pair with the wrong objects) and never silently replaced by the partition files (on a large
   * dataset that would turn one sequential read into hours of reading, and hide the damage).
   */
  static async open(table: SideTable, opened?: PositionsFile | null): Promise<SideReader> {
    const sidecar =
      opened ??
      (table.positions
        ? await PositionsFile.open(table.root, table.positions, table.fileList)
        : null);
    return new SideReader(table, sidecar);
  }

  /** ra and dec of dataset rows [start, end), checked (a bad stored position names its file). */
  async readRange(start: number, end: number): Promise<{ ra: Float64Array; dec: Float64Array }> {
    let ra: Float64Array;
    let dec: Float64Array;
    if (this.sidecar) {
      ({ ra, dec } = await this.sidecar.readRange(start, end));
      this.check(ra, dec, this.sidecar.path, start);
    } else {
      ra = new Float64Array(end - start);
      dec = new Float64Array(end - start);
      for (const [f, a, b] of this.pieces(start, end)) {
        const file = await this.file(f);
        const cols = file.readRange(["ra", "dec"], a, b);
        const at = this.table.starts[f]! + a - start;
        ra.set(cols.ra as ArrayLike<number>, at);
        dec.set(cols.dec as ArrayLike<number>, at);
        this.check(ra.subarray(at, at + b - a), dec.subarray(at, at + b - a), file.path, a);
      }
    }
    return { ra, dec };
  }

  /** object_id of ascending dataset rows, in that order. */
  async readIds(rows: Float64Array): Promise<ColumnValues> {
    if (this.sidecar) return this.sidecar.readIds(rows);
    const out = allocate(this.table.objectId, rows.length);
    let t = 0;
    while (t < rows.length) {
      const f = this.fileOf(rows[t]!);
      const end = this.table.starts[f + 1]!;
      let u = t;
      while (u < rows.length && rows[u]! < end) u++;
      const local = Float64Array.from(rows.subarray(t, u), (g) => g - this.table.starts[f]!);
      const ids = (await this.file(f)).readRows(["object_id"], local).object_id!;
      for (let i = 0; i < u - t; i++) copyRow(ids, i, out, t + i, 1);
      t = u;
    }
    return out;
  }

  /** object_id of dataset rows [start, end). */
  async readIdRange(start: number, end: number): Promise<ColumnValues> {
    if (this.sidecar) return this.sidecar.readIdRange(start, end);
    const parts: ColumnValues[] = [];
    for (const [f, a, b] of this.pieces(start, end)) {
      parts.push((await this.file(f)).readRange(["object_id"], a, b).object_id!);
    }
    return parts.length > 0 ? concatValues(parts) : allocate(this.table.objectId, 0);
  }

  close(): void {
    this.sidecar?.close();
    for (const f of this.open.values()) f.close();
    this.open.clear();
  }

  private check(ra: Float64Array, dec: Float64Array, path: string, firstRow: number): void {
    for (let i = 0; i < ra.length; i++) {
      if (!Number.isFinite(ra[i]!) || !(dec[i]! >= -90 && dec[i]! <= 90)) {
        throw new SchemaError(`row ${firstRow + i} has ra=${ra[i]} dec=${dec[i]}`, {
          file: path,
          column: "ra/dec",
        });
      }
    }
  }

  private fileOf(row: number): number {
    return fileOfRow(this.table.starts, row);
  }

  /** [file, first row in file, end row in file] pieces of dataset rows [start, end). */
  private pieces(start: number, end: number): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    let g = start;
    while (g < end) {
      const f = this.fileOf(g);
      const fileEnd = Math.min(end, this.table.starts[f + 1]!);
      out.push([f, g - this.table.starts[f]!, fileEnd - this.table.starts[f]!]);
      g = fileEnd;
    }
    return out;
  }

  private async file(f: number): Promise<PartitionFile> {
    let file = this.open.get(f);
    if (file) {
      this.open.delete(f);
    } else {
      const t = this.table;
      const rows = t.starts[f + 1]! - t.starts[f]!;
      // Checked against the manifest entry, as the dataset layer opens files.
      file = await PartitionFile.open(join(t.root, t.paths[f]!), {
        expectRows: rows,
        expect: expectationOf(t.columns, t.files[f]!),
      });
      if (this.open.size >= OPEN_FILES) {
        const [oldest, old] = this.open.entries().next().value as [number, PartitionFile];
        old.close();
        this.open.delete(oldest);
      }
    }
    this.open.set(f, file);
    return file;
  }
}
