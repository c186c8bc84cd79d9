// Columnar export formats for exportDataset / `astropile export --to`: adapters from the export
// framework (export.ts) to the Parquet and HATS writers (parquet-export.ts, hats.ts).
// - parquet:     one Parquet file; arrays as flat fixed-size lists, shape/unit/dtype in field
//                metadata (DuckDB, pandas/pyarrow, polars).
// - huggingface: a directory `data/train-NNNNN.parquet` + README.md dataset card whose YAML
//                `configs`/`data_files` HuggingFace `datasets.load_dataset(dir)` reads.
// - hats:        a HATS catalog (LSDB): Norder=K/Dir=D/Npix=N.parquet sized by row count,
//                `_healpix_29` first, properties, partition_info.csv, _metadata.
// formatOptions: compression ("zstd" | "snappy" | "none"), rowGroupRows, maxRowsPerFile
// (huggingface), maxRowsPerPartition / highestOrder (hats).
import { readdir, readFile, rename } from "node:fs/promises";
import { basename, join } from "node:path";
import type { ColumnBatch } from "../core/columns.ts";
import { UsageError } from "../core/errors.ts";
import type { ParquetCompression } from "../formats/parquet.ts";
import type { Exporter, ExporterContext } from "./export.ts";
import { writeHatsExport } from "./hats.ts";
import { CARD_MARK, writeParquetExport } from "./parquet-export.ts";

/** A positive integer format option, or undefined when not given. */
function intOption(ctx: ExporterContext, name: string): number | undefined {
  const v = ctx.options.formatOptions?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0)
    throw new UsageError(`${ctx.options.to} option ${name} must be a positive integer, not ${v}`);
  return v;
}

function compressionOption(ctx: ExporterContext): ParquetCompression | undefined {
  const v = ctx.options.formatOptions?.compression;
  if (v === undefined) return undefined;
  if (v !== "zstd" && v !== "snappy" && v !== "none")
    throw new UsageError(`compression "${String(v)}" is not one of zstd, snappy, none`);
  return v;
}

/** Survey, release and config, for the card and the Parquet key-value metadata. */
function describe(ctx: ExporterContext): string {
  const p = ctx.provenance;
  return [p.project, p.survey, p.release, `config ${ctx.config}`].filter(Boolean).join(", ");
}

/** The entries of a directory, or null when it cannot be listed. */
async function entries(path: string): Promise<string[] | null> {
  return readdir(path).catch(() => null);
}

/**
 * An earlier HuggingFace export: README.md (a card AstroPile wrote) and data/ of Parquet files,
 * nothing else. A README.md alone is not enough: every AstroPile dataset has one too, and
 * `force` must never replace a dataset (or a project folder) given as the output by mistake.
 */
async function isHuggingfaceExport(path: string): Promise<boolean> {
  const top = await entries(path);
  if (!top?.includes("README.md") || top.some((e) => e !== "README.md" && e !== "data"))
    return false;
  const data = (await entries(join(path, "data"))) ?? [];
  if (data.some((e) => !e.endsWith(".parquet"))) return false;
  const card = await readFile(join(path, "README.md"), "utf8").catch(() => "");
  return card.includes(CARD_MARK);
}

/** An earlier HATS export: the files AstroPile's writer makes, its properties naming it. */
async function isHatsExport(path: string): Promise<boolean> {
  const top = await entries(path);
  const known = new Set(["hats.properties", "properties", "partition_info.csv", "dataset"]);
  if (!top || top.length === 0 || top.some((e) => !known.has(e))) return false;
  const props = await readFile(join(path, "properties"), "utf8").catch(() => "");
  return /^hats_builder\s*=\s*astropile/m.test(props);
}

const parquet: Exporter = {
  format: "parquet",
  description:
    "one Apache Parquet file (zstd): arrays as fixed-size lists, shape/unit/dtype in field metadata",
  output: "file",
  formatOptions: ["compression", "rowGroupRows"],
  unsupported: () => null,
  async write(rows, schema, ctx) {
    // The writer picks single-file mode by the .parquet suffix; the framework owns ctx.path.
    const r = await writeParquetExport(rows, schema, `${ctx.path}.parquet`, {
      compression: compressionOption(ctx),
      rowGroupRows: intOption(ctx, "rowGroupRows"),
      metadata: { astropile: describe(ctx) },
    });
    await rename(r.out, ctx.path);
    return undefined;
  },
};

const huggingface: Exporter = {
  format: "huggingface",
  description:
    "a directory of Parquet files (data/train-NNNNN.parquet) with a HuggingFace dataset card (README.md)",
  output: "directory",
  formatOptions: ["compression", "rowGroupRows", "maxRowsPerFile"],
  recognizes: isHuggingfaceExport,
  unsupported: () => null,
  async write(rows, schema, ctx) {
    await writeParquetExport(rows, schema, ctx.path, {
      compression: compressionOption(ctx),
      rowGroupRows: intOption(ctx, "rowGroupRows"),
      maxRowsPerFile: intOption(ctx, "maxRowsPerFile"),
      name: basename(ctx.out),
      description: `Exported by AstroPile from ${describe(ctx)}.`,
    });
    return undefined;
  },
};

const hats: Exporter = {
  format: "hats",
  description:
    "a HATS catalog (LSDB): Parquet partitions sized by row count, _healpix_29, properties, _metadata",
  output: "directory",
  requiredColumns: ["_healpix_29"],
  formatOptions: ["compression", "maxRowsPerPartition", "highestOrder"],
  recognizes: isHatsExport,
  unsupported: () => null,
  async write(rows, schema, ctx) {
    const names = schema.map((s) => s.name);
    // Pass 1 counts rows per pixel from the positions only; pass 2 writes every column.
    const positions = names.includes("_healpix_29") ? ["_healpix_29", "ra", "dec"] : ["ra", "dec"];
    let pass = 0;
    const batches = (): AsyncIterable<ColumnBatch> =>
      pass++ === 0 ? ctx.rescan(positions.filter((c) => names.includes(c))) : rows;
    await writeHatsExport(batches, schema, ctx.path, {
      name: basename(ctx.out),
      compression: compressionOption(ctx),
      maxRowsPerPartition: intOption(ctx, "maxRowsPerPartition"),
      highestOrder: ctx.options.formatOptions?.highestOrder as number | undefined,
    });
    return undefined;
  },
};

/** Parquet, HuggingFace and HATS exporters (registered with the built-in formats). */
export const COLUMNAR_EXPORTERS: Exporter[] = [parquet, huggingface, hats];
