// HATS export (the layout LSDB reads, following the HATS specification and hats' own writer):
//   <out>/hats.properties (and the same as <out>/properties, the older name)
//   <out>/partition_info.csv                      Norder,Npix
//   <out>/dataset/_common_metadata                the schema
//   <out>/dataset/_metadata                       every partition's footer, file_path set
//   <out>/dataset/Norder=K/Dir=D/Npix=N.parquet   D = floor(N / 10000) * 10000
// Partitions are HEALPix NESTED pixels sized by row count: a pixel becomes a partition when its
// rows fit the threshold, else its four children are tried, down to `highestOrder`. Rows are
// sorted by `_healpix_29` (first column) in every file.
// Two passes over the input: one counting rows per pixel at `highestOrder`, one writing. Rows
// must come in ascending `_healpix_29` order (as a Dataset view of one config gives them), so
// each partition's rows are contiguous and one partition file is open at a time.

import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { type ColumnBatch, type ColumnSpec, sliceRows, valuesPerRow } from "../core/columns.ts";
import {
  isAstroPileError,
  MissingColumnError,
  SchemaError,
  UsageError,
  WriteError,
} from "../core/errors.ts";
import type { Dataset } from "../dataset/dataset.ts";
import {
  type ParquetCompression,
  type ParquetWriteResult,
  writeParquetFile,
} from "../formats/parquet.ts";
import { ang2pixOrder29 } from "../sky/index.ts";
import { datasetBatches, datasetSpecs } from "./parquet-export.ts";

export interface HatsExportOptions {
  /** Catalog name (`obs_collection`); default: the output directory's name. */
  name?: string;
  /** Most rows in one partition (`hats_max_rows`); default 1 000 000. */
  maxRowsPerPartition?: number;
  /** Finest HEALPix order a partition may have (0..10); default 8. */
  highestOrder?: number;
  /** Coarsest order of a partition (0..highestOrder); default 0. */
  lowestOrder?: number;
  /** Names of the position columns (degrees, ICRS); default "ra", "dec". */
  raColumn?: string;
  decColumn?: string;
  compression?: ParquetCompression;
  /** Rows per row group inside partition files (default: about 64 MiB a group). */
  rowGroupRows?: number;
  /** Replace an existing output (default false). */
  overwrite?: boolean;
  /** Progress: phase "count" or "write", rows done so far. */
  onProgress?: (p: { phase: "count" | "write"; rows: number }) => void;
}

export interface HatsPartitionInfo {
  order: number;
  pixel: number;
  rows: number;
  /** Path relative to the catalog root. */
  path: string;
}

export interface HatsExportResult {
  out: string;
  rows: number;
  partitions: HatsPartitionInfo[];
  properties: Record<string, string>;
}

const KEY = "_healpix_29";

/** Directory of pixel `pixel` at `order`, relative to the catalog root (hats `pixel_directory`). */
export function hatsPartitionPath(order: number, pixel: number, suffix = ".parquet"): string {
  const dir = Math.floor(pixel / 10000) * 10000;
  return `dataset/Norder=${order}/Dir=${dir}/Npix=${pixel}${suffix}`;
}

/** Partitions from row counts per pixel at `highest`: top-down, a pixel whose rows fit is kept. */
export function choosePartitions(
  counts: Float64Array,
  highest: number,
  lowest: number,
  threshold: number,
): Array<{ order: number; pixel: number; rows: number }> {
  // counts per order, from `highest` up to `lowest`.
  const levels: Float64Array[] = [];
  levels[highest] = counts;
  for (let k = highest - 1; k >= lowest; k--) {
    const child = levels[k + 1];
    const lvl = new Float64Array(child.length / 4);
    for (let p = 0; p < lvl.length; p++)
      lvl[p] = child[4 * p] + child[4 * p + 1] + child[4 * p + 2] + child[4 * p + 3];
    levels[k] = lvl;
  }
  const out: Array<{ order: number; pixel: number; rows: number }> = [];
  const visit = (k: number, p: number) => {
    const n = levels[k][p];
    if (n === 0) return;
    if (n <= threshold || k === highest) {
      out.push({ order: k, pixel: p, rows: n });
      return;
    }
    for (let c = 0; c < 4; c++) visit(k + 1, 4 * p + c);
  };
  for (let p = 0; p < levels[lowest].length; p++) visit(lowest, p);
  return out;
}

interface KeyedBatch {
  batch: ColumnBatch;
  keys: BigInt64Array;
  rows: number;
}

/**
 * Writes rows as a HATS catalog at `outDir`. `batches` is called twice (a counting pass and a
 * writing pass) and must give the same rows both times, in ascending `_healpix_29` order (a
 * Dataset view of one config, unshuffled, does); rows out of order are a UsageError before
 * anything is written. Without a `_healpix_29` column in `schema`, keys are computed from the
 * ra/dec columns and the column is added. The catalog appears whole or not at all (written in
 * a temporary directory, renamed at the end).
 *
 * This is the function the export registry calls for `--to hats`.
 */
export async function writeHatsExport(
  batches: () => AsyncIterable<ColumnBatch> | Iterable<ColumnBatch>,
  schema: ColumnSpec[],
  outDir: string,
  options: HatsExportOptions = {},
): Promise<HatsExportResult> {
  const threshold = options.maxRowsPerPartition ?? 1_000_000;
  const highest = options.highestOrder ?? 8;
  const lowest = options.lowestOrder ?? 0;
  const raName = options.raColumn ?? "ra";
  const decName = options.decColumn ?? "dec";
  if (!(Number.isInteger(threshold) && threshold > 0))
    throw new UsageError(`maxRowsPerPartition ${threshold} must be a positive integer`);
  if (!(Number.isInteger(highest) && highest >= 0 && highest <= 10))
    throw new UsageError(`highestOrder ${highest} must be an integer in 0..10`);
  if (!(Number.isInteger(lowest) && lowest >= 0 && lowest <= highest))
    throw new UsageError(`lowestOrder ${lowest} must be an integer in 0..${highest}`);
  for (const c of [raName, decName]) {
    const s = schema.find((x) => x.name === c);
    if (!s) throw new SchemaError(`HATS needs the position column "${c}" (degrees)`, { column: c });
    if (s.dtype !== "float64" && s.dtype !== "float32")
      throw new SchemaError(`position column must be float32 or float64, not ${s.dtype}`, {
        column: c,
      });
  }
  const given = schema.find((s) => s.name === KEY);
  if (given && (given.dtype !== "int64" || given.shape.length !== 0))
    throw new SchemaError(`${KEY} must be a scalar int64 column`, { column: KEY });
  // `_healpix_29` first, as hats writes it.
  const specs: ColumnSpec[] = [
    given ?? {
      name: KEY,
      dtype: "int64",
      shape: [],
      description: "HEALPix NESTED pixel at order 29",
    },
    ...schema.filter((s) => s.name !== KEY),
  ];
  if (
    !options.overwrite &&
    (await stat(outDir).then(
      () => true,
      () => false,
    ))
  )
    throw new UsageError(`${outDir} exists: remove it or pass overwrite`);

  const keyed = async function* (): AsyncGenerator<KeyedBatch> {
    let last = -(2n ** 63n);
    let done = 0;
    for await (const batch of batches()) {
      const ra = batch[raName];
      const dec = batch[decName];
      if (!ra || !dec || Array.isArray(ra) || Array.isArray(dec))
        throw new SchemaError("batch lacks numeric ra/dec columns", { column: raName });
      const given = batch[KEY];
      const keys =
        given instanceof BigInt64Array
          ? given
          : ang2pixOrder29(ra as Float64Array, dec as Float64Array);
      for (let i = 0; i < keys.length; i++) {
        if (keys[i] < last)
          throw new UsageError(
            `HATS export needs rows in ascending ${KEY} order (row ${done + i} goes back); export an unshuffled view of one config`,
          );
        last = keys[i];
      }
      done += keys.length;
      yield { batch: given ? batch : { ...batch, [KEY]: keys }, keys, rows: keys.length };
    }
  };

  // Pass 1: rows per pixel at the highest order.
  const counts = new Float64Array(12 * 4 ** highest);
  const shift = BigInt(2 * (29 - highest));
  let total = 0;
  for await (const { keys } of keyed()) {
    for (let i = 0; i < keys.length; i++) counts[Number(keys[i] >> shift)]++;
    total += keys.length;
    options.onProgress?.({ phase: "count", rows: total });
  }
  const chosen = choosePartitions(counts, highest, lowest, threshold);

  const temp = `${outDir}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await mkdir(join(temp, "dataset"), { recursive: true });
  } catch (e) {
    throw new WriteError(
      `cannot create ${outDir}: ${(e as Error).message}`,
      { file: outDir },
      { cause: e },
    );
  }
  try {
    // Pass 2: the rows of each partition, in order, into its file.
    const input = keyed()[Symbol.asyncIterator]();
    let cur: (KeyedBatch & { at: number }) | null = null;
    let written = 0;
    async function* partitionRows(end: bigint): AsyncGenerator<ColumnBatch> {
      for (;;) {
        if (cur === null) {
          const r = await input.next();
          if (r.done) return;
          cur = { ...r.value, at: 0 };
        }
        let stop = cur.at;
        // keys ascend: the partition's rows end at the first key >= end.
        let lo = cur.at;
        let hi = cur.rows;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cur.keys[mid] < end) lo = mid + 1;
          else hi = mid;
        }
        stop = lo;
        if (stop > cur.at) {
          const out: ColumnBatch = {};
          for (const s of specs)
            out[s.name] = sliceRows(cur.batch[s.name], valuesPerRow(s), cur.at, stop);
          written += stop - cur.at;
          options.onProgress?.({ phase: "write", rows: written });
          yield out;
        }
        const more = stop < cur.rows;
        cur.at = stop;
        if (more) return;
        cur = null;
      }
    }
    const partitions: HatsPartitionInfo[] = [];
    const results: ParquetWriteResult[] = [];
    for (const p of chosen) {
      const rel = hatsPartitionPath(p.order, p.pixel);
      await mkdir(join(temp, rel, ".."), { recursive: true });
      const shiftP = BigInt(2 * (29 - p.order));
      const end = (BigInt(p.pixel) + 1n) << shiftP;
      const r = await writeParquetFile(join(temp, rel), specs, partitionRows(end), {
        compression: options.compression,
        rowGroupRows: options.rowGroupRows,
      });
      if (r.rows !== p.rows)
        throw new UsageError(
          `the rows changed between the two passes: partition Norder=${p.order} Npix=${p.pixel} counted ${p.rows} rows, got ${r.rows}`,
        );
      partitions.push({ order: p.order, pixel: p.pixel, rows: r.rows, path: rel });
      results.push(r);
    }
    const rest = cur ?? (await input.next()).value;
    if (rest)
      throw new UsageError("the rows changed between the two passes: more rows the second time");

    // _common_metadata: the schema, no rows.
    await writeParquetFile(join(temp, "dataset", "_common_metadata"), specs, [], {
      compression: options.compression,
    });
    await writeMetadataFile(temp, partitions);
    const csv = `Norder,Npix\n${[...partitions]
      .sort((a, b) => a.order - b.order || a.pixel - b.pixel)
      .map((p) => `${p.order},${p.pixel}`)
      .join("\n")}\n`;
    await writeFileAtomic(join(temp, "partition_info.csv"), csv);
    const bytes = results.reduce((a, r) => a + r.bytes, 0);
    const area = partitions.reduce((a, p) => a + 1 / (12 * 4 ** p.order), 0);
    const properties: Record<string, string> = {
      obs_collection: options.name ?? basename(outDir),
      dataproduct_type: "object",
      hats_nrows: String(total),
      hats_col_ra: raName,
      hats_col_dec: decName,
      hats_col_healpix: KEY,
      hats_col_healpix_order: "29",
      hats_npix_suffix: ".parquet",
      hats_max_rows: String(threshold),
      hats_order: String(partitions.reduce((a, p) => Math.max(a, p.order), 0)),
      moc_sky_fraction: area.toFixed(5),
      hats_estsize: String(Math.ceil(bytes / 1024)),
      hats_builder: "astropile",
      hats_creation_date: `${new Date().toISOString().slice(0, 16)}UTC`,
      hats_version: "v1.0",
    };
    const text = `#HATS catalog\n${Object.entries(properties)
      .map(([k, v]) => `${k}=${v}`)
      .join("\n")}\n`;
    await writeFileAtomic(join(temp, "hats.properties"), text);
    await writeFileAtomic(join(temp, "properties"), text);
    if (options.overwrite) await rm(outDir, { recursive: true, force: true });
    await rename(temp, outDir);
    return { out: outDir, rows: total, partitions, properties };
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
}

/** `dataset/_metadata`: the row groups of every partition file, each chunk's file_path set. */
async function writeMetadataFile(root: string, partitions: HatsPartitionInfo[]): Promise<void> {
  // Loaded here, not at the library's import (ESM only; ~60 ms every command paid).
  const [{ parquetMetadata }, { ByteWriter }, { writeMetadata }] = await Promise.all([
    import("hyparquet"),
    import("hyparquet-writer"),
    import("hyparquet-writer/src/metadata.js"),
  ]);
  // biome-ignore lint/suspicious/noExplicitAny: hyparquet's FileMetaData objects pass through
  let merged: any = null;
  for (const p of partitions) {
    const buf = await readFooter(join(root, p.path));
    const md = parquetMetadata(buf);
    const rel = p.path.slice("dataset/".length);
    for (const rg of md.row_groups) for (const c of rg.columns) c.file_path = rel;
    if (merged === null) merged = { ...md, row_groups: [...md.row_groups] };
    else {
      merged.row_groups.push(...md.row_groups);
      merged.num_rows += md.num_rows;
    }
  }
  if (merged === null) {
    // No partitions: the schema only, like _common_metadata.
    const buf = await readFile(join(root, "dataset", "_common_metadata"));
    await writeFileAtomic(join(root, "dataset", "_metadata"), buf);
    return;
  }
  delete merged.metadata_length;
  // hyparquet-writer 0.17 writes an INTEGER logical type's bitWidth as a Thrift i32 where the
  // format has an i8, and DuckDB and Arrow then refuse the whole footer ("Invalid data"). Such a
  // column keeps its converted type instead (INT_8 ... UINT_64: the same meaning, which every
  // reader knows), set from the logical type where the file had none.
  for (const element of merged.schema) {
    const logical = element.logical_type;
    if (logical?.type !== "INTEGER") continue;
    element.converted_type ??= `${logical.isSigned ? "INT" : "UINT"}_${logical.bitWidth}`;
    delete element.logical_type;
  }
  const w = new ByteWriter();
  w.appendUint32(0x31524150); // "PAR1"
  writeMetadata(w, merged, Number.POSITIVE_INFINITY);
  w.appendUint32(0x31524150);
  await writeFileAtomic(join(root, "dataset", "_metadata"), new Uint8Array(w.getBuffer()));
}

/** The bytes of a Parquet file's footer region (metadata + length + magic), as an ArrayBuffer. */
async function readFooter(path: string): Promise<ArrayBuffer> {
  // Partition files are bounded by the row threshold; the footer is at the end. Reading the
  // tail only keeps memory small for large partitions.
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    const tail = Buffer.alloc(8);
    await fh.read(tail, 0, 8, size - 8);
    const len = tail.readUInt32LE(0);
    const start = size - 8 - len;
    const buf = Buffer.alloc(len + 8);
    await fh.read(buf, 0, len + 8, start);
    return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
  } finally {
    await fh.close();
  }
}

/** Options of {@link exportHats}: the HATS options plus which columns. */
export interface DatasetHatsExportOptions extends HatsExportOptions {
  /** Columns to export (default: the view's columns; ra, dec and _healpix_29 are always kept). */
  columns?: string[];
}

/**
 * Exports a dataset view (one config, unshuffled; filters and cones allowed) as a HATS catalog
 * that LSDB opens (`lsdb.open_catalog(out)`): see {@link writeHatsExport}.
 *
 * ```ts
 * await exportHats(await openDataset("data/hsc"), "out/hsc_hats", { maxRowsPerPartition: 500_000 });
 * ```
 */
export async function exportHats(
  dataset: Dataset,
  out: string,
  options: DatasetHatsExportOptions = {},
): Promise<HatsExportResult> {
  const ra = options.raColumn ?? "ra";
  const dec = options.decColumn ?? "dec";
  const base = options.columns ?? dataset.columns;
  let view: Dataset;
  try {
    view = dataset.select([...new Set([KEY, ra, dec, ...base])]);
  } catch (e) {
    if (!isAstroPileError(e, MissingColumnError.code)) throw e;
    view = dataset.select([...new Set([ra, dec, ...base.filter((n) => n !== KEY)])]); // keys computed
  }
  const specs = datasetSpecs(view);
  return writeHatsExport(() => datasetBatches(view, specs), specs, out, options);
}
