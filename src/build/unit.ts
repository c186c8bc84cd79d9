// One work unit: its bucket of catalog rows, the modality data of each row (a stamp, a
// spectrum, a cube), rows that cannot get theirs rejected with the reason, the rest written
// through the storage writer into the unit's own small dataset. A `.done.json` written after
// that dataset's manifest marks the unit complete; a unit without it is redone from scratch.
import { rm } from "node:fs/promises";
import { join } from "node:path";
import {
  allocate,
  bytesPerRow,
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  gatherRows,
  sliceRows,
  valuesPerRow,
} from "../core/columns.ts";
import { emptyRecord, recordOf } from "../core/records.ts";
import { DatasetWriter } from "../storage/dataset-writer.ts";
import type { Layout } from "../storage/layout.ts";
import type { FileEntry, IdIndexEntry, PositionsEntry } from "../storage/manifest.ts";
import { pieceFromJson } from "../storage/partitioning.ts";
import type { OutputColumn } from "./catalog.ts";
import { displayPath } from "./glob.ts";
import type { IfuPlan } from "./ifu.ts";
import type { CutoutImagePlan, TileImagePlan } from "./image.ts";
import { RejectLog, type RejectSummary, type RowsTail, type UnitPlan } from "./plan.ts";
import { type RowBlock, readRowFile } from "./rows-file.ts";
import { fillTemplate, type ResolvedSpec } from "./spec.ts";
import type { SpectrumPlan } from "./spectrum.ts";
import {
  bucketPath,
  crashPoint,
  type StatePaths,
  unitDir,
  unitDonePath,
  writeJsonAtomic,
} from "./state.ts";

export type ModalityPlan =
  | TileImagePlan
  | CutoutImagePlan
  | SpectrumPlan
  | IfuPlan
  | { kind: "catalog" };

/** What plan.json holds (besides the spec). */
export interface BuildPlan {
  version: 2;
  fingerprint: string;
  /** The output's layout ("adaptive": pixels sized by the data; "mmu": order 4). */
  layout: Layout;
  /** Bytes of the scan's rows file (rows.bin), checked before it is routed. */
  rowsBytes: number;
  /**
   * The rows of a split last CSV that its scan thread read, kept in their own file
   * (rows-tail.bin) and routed after rows.bin, their row numbers shifted by `rowOffset` (rows
   * before the split); absent when every row is in rows.bin.
   */
  rowsTail?: RowsTail;
  spec: ResolvedSpec;
  catalogFiles: string[];
  outputs: OutputColumn[];
  carry: string[];
  modality: ModalityPlan;
  /** Every column the dataset stores (without healpix / _healpix_29, which the writer adds). */
  columns: ColumnSpec[];
  standardNames: Record<string, string>;
  units: UnitPlan[];
  scan: { rowsRead: number; rowsValid: number; rejected: RejectSummary; seconds: number };
}

export interface UnitDone {
  unit: number;
  rowsIn: number;
  rows: number;
  files: FileEntry[];
  idIndex?: IdIndexEntry;
  /** Absent in state written before the sidecar existed. */
  positions?: PositionsEntry;
  rejected: RejectSummary;
}

/** Reads, converts, writes: the modality part of a row, per plan kind. */
interface RowFiller {
  columns: ColumnSpec[];
  /** Fills `row` of the modality columns; returns null or why the row is refused. */
  fill(
    out: Record<string, ColumnValues>,
    row: number,
    catalog: Record<string, ColumnValues>,
    at: number,
    carry: Record<string, string>,
  ): Promise<string | null>;
  close(): Promise<void>;
}

async function filler(plan: BuildPlan, cacheBytes: number): Promise<RowFiller> {
  const m = plan.modality;
  const spec = plan.spec;
  const root = spec.root;
  const idOf = (catalog: Record<string, ColumnValues>, at: number) => String(catalog.object_id[at]);
  const templateValues = (
    catalog: Record<string, ColumnValues>,
    at: number,
    carry: Record<string, string>,
  ) => {
    const values: Record<string, string> = recordOf(carry);
    for (const o of plan.outputs)
      if (!(o.source in values)) values[o.source] = String(catalog[o.spec.name][at]);
    for (const o of plan.outputs)
      if (!(o.spec.name in values)) values[o.spec.name] = String(catalog[o.spec.name][at]);
    return values;
  };
  const resolvePath = (
    template: string,
    values: Record<string, string>,
  ): string | { reason: string } => {
    try {
      return join(root, fillTemplate(template, values));
    } catch (err) {
      return { reason: (err as Error).message };
    }
  };
  switch (m.kind) {
    // Each modality's code (and the FITS reader it needs) loads only for its builds.
    case "tiles": {
      const { TileStamper } = await import("./image.ts");
      const stamper = new TileStamper(m, cacheBytes);
      return {
        columns: stamper.columns,
        fill: (out, row, catalog, at) =>
          stamper.stamp(
            out,
            row,
            (catalog.ra as Float64Array)[at],
            (catalog.dec as Float64Array)[at],
          ),
        close: () => stamper.close(),
      };
    }
    case "cutouts": {
      const { imageColumns, readCutout } = await import("./image.ts");
      const cols = imageColumns(m.labels, m.stampSize);
      return {
        columns: cols,
        fill: async (out, row, catalog, at, carry) => {
          const path = resolvePath(m.spec.file, templateValues(catalog, at, carry));
          if (typeof path !== "string") return path.reason;
          return readCutout(m, path, root, out, row);
        },
        close: async () => {},
      };
    }
    case "spectrum": {
      const { SpectrumReader } = await import("./spectrum.ts");
      const reader = new SpectrumReader(spec.spectrum!, m, root);
      return {
        columns: reader.columns,
        fill: async (out, row, catalog, at, carry) => {
          const path = resolvePath(spec.spectrum!.file, templateValues(catalog, at, carry));
          if (typeof path !== "string") return path.reason;
          return reader.read(path, idOf(catalog, at), out, row);
        },
        close: () => reader.close(),
      };
    }
    case "ifu": {
      const { IfuReader } = await import("./ifu.ts");
      const reader = new IfuReader(spec.ifu!, m, root);
      return {
        columns: reader.columns,
        fill: async (out, row, catalog, at, carry) => {
          const values = templateValues(catalog, at, carry);
          const path = resolvePath(spec.ifu!.file, values);
          if (typeof path !== "string") return path.reason;
          return reader.read(path, values, out, row);
        },
        close: () => reader.close(),
      };
    }
    default:
      return { columns: [], fill: async () => null, close: async () => {} };
  }
}

/** A bucket's rows in chunks of at most `chunkRows` (blocks as written, split when larger). */
async function* bucketChunks(path: string, chunkRows: number): AsyncGenerator<RowBlock> {
  for await (const block of readRowFile(path)) {
    if (block.rows <= chunkRows) {
      yield block;
      continue;
    }
    for (let at = 0; at < block.rows; at += chunkRows) {
      const end = Math.min(block.rows, at + chunkRows);
      const part: RowBlock = {
        rows: end - at,
        file: block.file.subarray(at, end),
        row: block.row.subarray(at, end),
        key: block.key.subarray(at, end),
        columns: emptyRecord(),
        carry: emptyRecord(),
      };
      for (const [name, v] of Object.entries(block.columns))
        part.columns[name] = sliceRows(v, 1, at, end);
      for (const [name, v] of Object.entries(block.carry)) part.carry[name] = v.slice(at, end);
      yield part;
    }
  }
}

export interface UnitOptions {
  paths: StatePaths;
  plan: BuildPlan;
  /** Sort buffer of the unit's writer. */
  memoryBytes: number;
  /** Tile plane cache. */
  cacheBytes: number;
  /**
   * Progress in rows, fractions included: a row counts half when read from the bucket and half
   * when written to its file (the writer sorts and writes after the last row is read: a unit of
   * 1.5M rows spends a second or two there).
   */
  onRows?: (rows: number) => void;
}

/** Builds one unit from its bucket into `units/<u>/`, then writes its done marker. */
export async function runUnit(unit: UnitPlan, opts: UnitOptions): Promise<UnitDone> {
  const { plan, paths } = opts;
  const dir = unitDir(paths, unit.index);
  await rm(dir, { recursive: true, force: true });
  const fill = await filler(plan, opts.cacheBytes);
  const catalogSpecs = plan.outputs.map((o) => o.spec);
  let written = 0;
  // Options left undefined must be absent: the writer spreads them over its defaults.
  const writer = await DatasetWriter.create(dir, plan.columns, {
    config: plan.spec.config,
    provenance: plan.spec.provenance,
    ...(plan.spec.name ? { name: plan.spec.name } : {}),
    ...(plan.spec.build?.maxRowsPerFile ? { maxRowsPerFile: plan.spec.build.maxRowsPerFile } : {}),
    ...(plan.spec.build?.fileBytes ? { maxBytesPerFile: plan.spec.build.fileBytes } : {}),
    compression: plan.spec.build?.compression ?? "gzip",
    layout: plan.layout,
    // The unit's files are the pieces the plan gave it (and cuts at the caps inside them).
    partitions: unit.pieces.map(pieceFromJson),
    memoryBytes: opts.memoryBytes,
    standardNames: plan.standardNames,
    // Several units' indexes are merged into one (gzip) by the assembly: theirs are scratch.
    idIndexCompression: plan.units.length > 1 ? "none" : "gzip",
    // The build holds the lock of the whole output, the unit's directory included.
    lock: false,
    onProgress: (p) => {
      if (p.phase !== "merge" || p.rowsOut === written) return;
      opts.onRows?.((p.rowsOut - written) / 2);
      written = p.rowsOut;
    },
  });
  const log = new RejectLog();
  const rowBytes = plan.columns.reduce((s, c) => s + bytesPerRow(c), 0);
  const modal = plan.modality.kind !== "catalog";
  // A chunk (and its copy without rejected rows) within a quarter of the writer's budget; rows
  // with modality data (read one by one) in chunks of at most 4096 for steady progress.
  const chunkBytes = Math.min(16 << 20, Math.floor(opts.memoryBytes / 4));
  const chunkRows = Math.max(
    1,
    Math.min(
      modal ? 4096 : Number.POSITIVE_INFINITY,
      Math.floor(chunkBytes / Math.max(1, rowBytes)),
    ),
  );
  let rowsIn = 0;
  let rows = 0;
  let chunks = 0;
  const stage =
    plan.modality.kind === "tiles" || plan.modality.kind === "cutouts"
      ? "image"
      : plan.modality.kind;
  try {
    for await (const chunk of bucketChunks(bucketPath(paths, unit.index), chunkRows)) {
      const modalValues: Record<string, ColumnValues> = emptyRecord();
      for (const c of fill.columns) modalValues[c.name] = allocate(c, chunk.rows);
      const keep: number[] = [];
      if (modal) {
        for (let r = 0; r < chunk.rows; r++) {
          const carry: Record<string, string> = emptyRecord();
          for (const name of plan.carry) carry[name] = chunk.carry[name][r];
          const reason = await fill.fill(modalValues, r, chunk.columns, r, carry);
          if (reason === null) keep.push(r);
          else {
            log.add({
              stage,
              file: displayPath(plan.catalogFiles[chunk.file[r]], plan.spec.root),
              row: chunk.row[r],
              objectId: String(chunk.columns.object_id[r]),
              reason,
            });
          }
        }
      }
      const all = !modal || keep.length === chunk.rows;
      const batch: ColumnBatch = emptyRecord();
      for (const s of catalogSpecs)
        batch[s.name] = all
          ? chunk.columns[s.name]
          : gatherRows(chunk.columns[s.name], valuesPerRow(s), keep);
      for (const s of fill.columns)
        batch[s.name] = all
          ? modalValues[s.name]
          : gatherRows(modalValues[s.name], valuesPerRow(s), keep);
      // The scan computed each row's key from the same ra/dec: not computed again.
      await writer.writeKeyed(
        batch,
        all ? chunk.key : (gatherRows(chunk.key, 1, keep) as BigInt64Array),
      );
      rowsIn += chunk.rows;
      rows += all ? chunk.rows : keep.length;
      opts.onRows?.(chunk.rows / 2);
      if (++chunks === 1) crashPoint(`unit-write:${unit.index}`);
    }
    // The unit's files are listed by its done.json and, once moved, by the dataset's manifest.
    const manifest = await writer.finishUnpublished();
    // Rows refused on the way (stamps) were never written: their second half counts now.
    if (rowsIn > written) opts.onRows?.((rowsIn - written) / 2);
    const config = manifest.configs[plan.spec.config];
    const done: UnitDone = {
      unit: unit.index,
      rowsIn,
      rows,
      files: manifest.files,
      idIndex: config.idIndex,
      positions: config.positions,
      rejected: log.summary(),
    };
    await writeJsonAtomic(unitDonePath(paths, unit.index), done);
    return done;
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  } finally {
    await fill.close();
  }
}
