// Parquet export of a dataset's rows: one Parquet file, or a directory that HuggingFace
// `datasets.load_dataset(dir)` and DuckDB read as they are (data/<split>-NNNNN.parquet plus a
// dataset card README.md whose YAML `configs` / `data_files` name the files).
// Array columns (images, spectra) are flat fixed-size lists of the row-major values, with the
// row shape, unit and dtype in the Arrow field metadata (see src/formats/parquet.ts).

import { mkdir, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { type ColumnBatch, type ColumnSpec, sliceRows, valuesPerRow } from "../core/columns.ts";
import { UsageError, WriteError } from "../core/errors.ts";
import type { Dataset } from "../dataset/dataset.ts";
import { yamlLib } from "../formats/ecsv-yaml.ts";
import {
  type ParquetWriteOptions,
  type ParquetWriteResult,
  writeParquetFile,
} from "../formats/parquet.ts";

export interface ParquetExportOptions extends Omit<ParquetWriteOptions, "onProgress"> {
  /** Rows per data file in directory mode (default: all rows in one file). */
  maxRowsPerFile?: number;
  /** Split name of the data files and of the card's `data_files` (default "train"). */
  split?: string;
  /** Dataset name in the card (default: the output directory's name). */
  name?: string;
  /** Free text for the card, e.g. provenance (survey, release, config). */
  description?: string;
  /** Replace an existing output (default false: an existing output is a UsageError). */
  overwrite?: boolean;
  /** Called with the rows written so far. */
  onProgress?: (rows: number) => void;
}

export interface ParquetExportResult {
  /** The output path (a .parquet file or a directory). */
  out: string;
  rows: number;
  /** Data files written (paths), in row order. */
  files: ParquetWriteResult[];
  /** Path of the dataset card (directory mode only). */
  card?: string;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Rows of a column batch [start, end). */
function sliceBatch(
  batch: ColumnBatch,
  specs: ColumnSpec[],
  start: number,
  end: number,
): ColumnBatch {
  const out: ColumnBatch = {};
  for (const s of specs) out[s.name] = sliceRows(batch[s.name], valuesPerRow(s), start, end);
  return out;
}

function rowsOf(batch: ColumnBatch, specs: ColumnSpec[]): number {
  const s = specs[0];
  return batch[s.name] ? batch[s.name].length / valuesPerRow(s) : 0;
}

/**
 * Writes rows given in batches as Parquet. `outPath` ending in `.parquet` gets one file;
 * any other path becomes a directory `outPath/data/<split>-00000.parquet ...` (one file, or
 * files of `maxRowsPerFile` rows) with a HuggingFace dataset card `outPath/README.md`.
 * Streaming: memory holds one batch and one row group. The output appears whole or not at all
 * (temporary file or directory, renamed at the end).
 *
 * This is the function the export registry calls for `--to parquet`: `batches` are the
 * column-model batches of the rows to export (e.g. `Dataset.batches()` mapped to `.columns`),
 * `schema` their ColumnSpecs.
 */
export async function writeParquetExport(
  batches: AsyncIterable<ColumnBatch> | Iterable<ColumnBatch>,
  schema: ColumnSpec[],
  outPath: string,
  options: ParquetExportOptions = {},
): Promise<ParquetExportResult> {
  const overwrite = options.overwrite ?? false;
  if (!overwrite && (await exists(outPath)))
    throw new UsageError(`${outPath} exists: remove it or pass overwrite`);
  const writeOptions: ParquetWriteOptions = {
    compression: options.compression,
    rowGroupRows: options.rowGroupRows,
    metadata: options.metadata,
    onProgress: options.onProgress,
  };
  if (outPath.endsWith(".parquet")) {
    const r = await writeParquetFile(outPath, schema, batches, writeOptions);
    return { out: outPath, rows: r.rows, files: [r] };
  }
  const maxRows = options.maxRowsPerFile ?? Number.POSITIVE_INFINITY;
  if (!(maxRows > 0 && (Number.isInteger(maxRows) || maxRows === Number.POSITIVE_INFINITY)))
    throw new UsageError(`maxRowsPerFile ${maxRows} must be a positive integer`);
  const split = options.split ?? "train";
  if (!/^[A-Za-z0-9_]+$/.test(split))
    throw new UsageError(
      `split "${split}" must be letters, digits and _ (a HuggingFace split name)`,
    );
  const temp = `${outPath}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await mkdir(join(temp, "data"), { recursive: true });
  } catch (e) {
    throw new WriteError(
      `cannot create ${outPath}: ${(e as Error).message}`,
      { file: outPath },
      { cause: e },
    );
  }
  try {
    const iterator =
      Symbol.asyncIterator in batches
        ? (batches as AsyncIterable<ColumnBatch>)[Symbol.asyncIterator]()
        : (batches as Iterable<ColumnBatch>)[Symbol.iterator]();
    let pending: ColumnBatch | null = null;
    let exhausted = false;
    // The rows of one file: at most maxRows, continuing where the previous file stopped.
    async function* fileRows(): AsyncGenerator<ColumnBatch> {
      let left = maxRows;
      while (left > 0) {
        let batch = pending;
        pending = null;
        if (batch === null) {
          const r = await iterator.next();
          if (r.done) {
            exhausted = true;
            return;
          }
          batch = r.value;
        }
        const n = rowsOf(batch, schema);
        if (n > left) {
          pending = sliceBatch(batch, schema, left, n);
          batch = sliceBatch(batch, schema, 0, left);
        }
        left -= Math.min(n, left);
        yield batch;
      }
    }
    const files: ParquetWriteResult[] = [];
    let rows = 0;
    do {
      const name = `${split}-${String(files.length).padStart(5, "0")}.parquet`;
      const r = await writeParquetFile(join(temp, "data", name), schema, fileRows(), {
        ...writeOptions,
        onProgress: (n) => options.onProgress?.(rows + n),
      });
      // A last file of no rows is dropped unless it is the only one (an empty export keeps
      // the schema).
      if (r.rows === 0 && files.length > 0) await rm(r.path);
      else files.push(r);
      rows += r.rows;
      if (pending === null && !exhausted) {
        const r2 = await iterator.next();
        if (r2.done) exhausted = true;
        else pending = r2.value;
      }
    } while (!exhausted || pending !== null);
    await writeFileAtomic(
      join(temp, "README.md"),
      datasetCard(schema, split, rows, files.length, {
        name: options.name ?? basename(outPath),
        description: options.description,
      }),
    );
    if (overwrite) await rm(outPath, { recursive: true, force: true });
    await rename(temp, outPath);
    return {
      out: outPath,
      rows,
      files: files.map((f) => ({ ...f, path: join(outPath, "data", basename(f.path)) })),
      card: join(outPath, "README.md"),
    };
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
}

/** Words of every card AstroPile writes: how `force` knows an earlier export to replace. */
export const CARD_MARK = "exported by AstroPile";

/** The HuggingFace dataset card: YAML front matter with configs/data_files, then the schema. */
export function datasetCard(
  schema: ColumnSpec[],
  split: string,
  rows: number,
  files: number,
  info: { name: string; description?: string },
): string {
  const front = yamlLib().stringify({
    configs: [{ config_name: "default", data_files: [{ split, path: `data/${split}-*.parquet` }] }],
  });
  const esc = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");
  const lines = [
    "---",
    front.trimEnd(),
    "---",
    "",
    `# ${info.name}`,
    "",
    info.description ? `${info.description}\n` : "",
    `${rows} rows in ${files} Parquet file(s) under \`data/\`, ${CARD_MARK}.`,
    "",
    "Array columns (images, spectra) are fixed-size lists holding each row's values flattened in",
    "row-major (C) order; the row shape is in the column's Arrow field metadata (`shape`, JSON) and",
    "in the table below. Reshape with `np.asarray(col).reshape(-1, *shape)`.",
    "",
    "```python",
    "from datasets import load_dataset",
    'ds = load_dataset("path/to/this/directory")',
    "```",
    "",
    "```sql",
    `SELECT * FROM 'data/${split}-*.parquet';  -- DuckDB`,
    "```",
    "",
    "| column | dtype | shape per row | unit | description |",
    "| ------ | ----- | ------------- | ---- | ----------- |",
    ...schema.map(
      (s) =>
        `| ${esc(s.name)} | ${s.dtype} | ${s.shape.length ? `[${s.shape.join(", ")}]` : "scalar"} | ${esc(s.unit ?? "")} | ${esc(s.description ?? "")} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

/** Options of {@link exportParquet}: the Parquet export options plus which columns. */
export interface DatasetParquetExportOptions extends ParquetExportOptions {
  /** Columns to export (default: the view's columns). */
  columns?: string[];
}

/**
 * Exports a dataset view (filters, cones and selections applied) to Parquet: see
 * {@link writeParquetExport} for the output layout. Reads the view in batches of about 32 MiB.
 *
 * ```ts
 * const hsc = await openDataset("data/hsc");
 * await exportParquet(hsc.coneSearch(150.1, 2.2, 600), "out/hsc-cone"); // + README.md card
 * ```
 */
export async function exportParquet(
  dataset: Dataset,
  out: string,
  options: DatasetParquetExportOptions = {},
): Promise<ParquetExportResult> {
  const view = options.columns ? dataset.select(options.columns) : dataset;
  const specs = datasetSpecs(view);
  const prov = view.provenance;
  const description =
    options.description ??
    `${prov.survey}${prov.release ? ` ${prov.release}` : ""}, config \`${view.config}\`.`;
  return writeParquetExport(datasetBatches(view, specs), specs, out, {
    ...options,
    description,
    metadata: {
      ...options.metadata,
      astropile: JSON.stringify({ provenance: prov, config: view.config }),
    },
  });
}

/** The ColumnSpecs of a view's columns (dtype, shape, unit, description). */
export function datasetSpecs(view: Dataset): ColumnSpec[] {
  return view.features.map((f) => {
    const s: ColumnSpec = { name: f.name, dtype: f.dtype, shape: f.shape };
    if (f.stringLength !== undefined) s.stringLength = f.stringLength;
    if (f.unit) s.unit = f.unit;
    if (f.description) s.description = f.description;
    return s;
  });
}

/** Batches of the view's rows of about 32 MiB each. */
export async function* datasetBatches(
  view: Dataset,
  specs: ColumnSpec[],
): AsyncGenerator<ColumnBatch> {
  let rowBytes = 0;
  for (const s of specs)
    rowBytes += valuesPerRow(s) * (s.dtype === "string" ? (s.stringLength ?? 16) : 8);
  const size = Math.max(1, Math.min(65536, Math.floor((32 * 2 ** 20) / Math.max(1, rowBytes))));
  for await (const b of view.batches({ size, columns: specs.map((s) => s.name) })) yield b.columns;
}
