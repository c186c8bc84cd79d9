// Exports of a dataset view to formats other tools open as they are (FITS, ECSV, CSV here;
// Parquet and HATS plug into the same registry). The framework owns what every format shares:
// the view (columns, filter, cone, box), batches sized by bytes so memory stays bounded, a
// temporary name beside the output renamed into place at the end (a failed export leaves
// nothing), the refusal to overwrite without `force`, and progress. A format only turns a
// stream of batches into its bytes.
import { randomBytes } from "node:crypto";
import { access, constants, lstat, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { bytesPerRow, type ColumnBatch, type ColumnSpec } from "../core/columns.ts";
import {
  AstroPileError,
  isAstroPileError,
  MissingColumnError,
  SchemaError,
  UsageError,
  WriteError,
} from "../core/errors.ts";
import { placeAgainst } from "../core/paths.ts";
import { hostToken, pidExists } from "../core/process-owner.ts";
import { remoteUrl } from "../core/remote-path.ts";
import { registerDatasetExport } from "../dataset/dataset.ts";
import type { ExportOptions, ExportResult } from "../dataset/export-options.ts";
import type { Dataset, Feature } from "../dataset/index.ts";
import type { Provenance } from "../storage/manifest.ts";
import { BUILTIN_EXPORTERS } from "./export-formats.ts";

// The options and result of an export are declared in the dataset layer, for Dataset.export.
export type {
  ExportBox,
  ExportCone,
  ExportOptions,
  ExportProgress,
  ExportResult,
} from "../dataset/export-options.ts";

/**
 * What a format's writer is given besides the rows. The framework has already checked the
 * columns (through {@link Exporter.unsupported}) and the output path.
 */
export interface ExporterContext {
  /**
   * Where to write: a temporary path beside the final output, which does not exist yet. The
   * framework renames it to the output when `write` resolves, and removes it if `write` throws.
   */
  path: string;
  /** The final output path (for messages). */
  out: string;
  /** The options of the export (format options included). */
  options: ExportOptions;
  /** The dataset view being exported (filters and selection applied), for formats that plan their own reads. */
  view: Dataset;
  /** Features (dtype, shape, unit, description, standard name) of the exported columns. */
  features: Feature[];
  provenance: Provenance;
  config: string;
  /** Rows the export holds, when known before reading, else null. */
  totalRows: number | null;
  /**
   * Reads some exported columns of the exported rows again, from the start, in the same order
   * and in batches (bounded memory): e.g. to find the longest value of a variable-length string
   * column before writing a fixed-width format.
   */
  rescan(columns: string[]): AsyncIterable<ColumnBatch>;
}

/**
 * A format {@link exportDataset} can write. To add one (Parquet, HATS...), implement this and
 * call {@link registerExporter} (or add it to the built-in list in src/interop/export.ts):
 *
 * ```ts
 * registerExporter({
 *   format: "parquet",
 *   description: "Apache Parquet, arrays as fixed-size lists",
 *   output: "file",
 *   unsupported: (column) => null,               // every column fits
 *   async write(rows, schema, ctx) {
 *     const w = await ParquetWriter.create(ctx.path, schema);   // write ctx.path, nothing else
 *     for await (const batch of rows) await w.append(batch);    // one batch in memory at a time
 *     await w.close();
 *   },
 * });
 * ```
 *
 * `rows` yields {@link ColumnBatch}es holding exactly the columns of `schema` (the column model
 * of src/core/columns.ts: typed arrays, bool as 0/1 Uint8Array, strings as string[], arrays
 * row-major); the framework counts the rows and reports progress as they are taken.
 */
export interface Exporter {
  /** Format name, as `--to` takes it (lower case). */
  format: string;
  /** One line for `--help`. */
  description: string;
  /** Whether the output is one file or a directory of files. */
  output: "file" | "directory";
  /** Columns the format always writes (added to the selection when present), e.g. `_healpix_29`. */
  requiredColumns?: string[];
  /**
   * Directory formats: whether an existing directory at the output is an earlier output of this
   * format, which `force` may then replace. Without it, `force` replaces only an empty directory
   * (never, say, a home directory given by mistake).
   */
  recognizes?(path: string): Promise<boolean>;
  /**
   * The `formatOptions` this format reads (e.g. `["compression"]`); any other one given is a
   * UsageError rather than silently ignored. Omitted: the options are not checked.
   */
  formatOptions?: readonly string[];
  /** Why this column cannot be written in this format (null when it can). */
  unsupported(column: ColumnSpec, options: ExportOptions): string | null;
  /**
   * Writes the rows to `ctx.path`. Throws a typed error (AstroPileError) naming the column and
   * the row when a value cannot be written; the framework then removes what was written.
   */
  write(
    rows: AsyncIterable<ColumnBatch>,
    schema: ColumnSpec[],
    ctx: ExporterContext,
  ): Promise<{ columns?: string[] } | undefined>;
}

const registry = new Map<string, Exporter>(BUILTIN_EXPORTERS.map((e) => [e.format, e]));

/**
 * Adds a format to {@link exportDataset} and `astropile export --to` (replacing one of the same
 * name). See {@link Exporter} for the contract.
 */
export function registerExporter(exporter: Exporter): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(exporter.format))
    throw new UsageError(
      `export format name "${exporter.format}" must be lower-case letters, digits, - or _`,
    );
  registry.set(exporter.format, exporter);
}

/** The registered export formats, by name. */
export function exportFormats(): Exporter[] {
  return [...registry.values()];
}

/** The exporter of a format, or a UsageError listing the known ones. */
export function exporterFor(format: string): Exporter {
  const e = registry.get(format.toLowerCase());
  if (!e) {
    throw new UsageError(
      `unknown export format "${format}"; known: ${[...registry.keys()].join(", ")}`,
    );
  }
  return e;
}

/** Bytes of exported columns read per batch when `batchRows` is not given. */
const BATCH_BYTES = 8 * 2 ** 20;
const MAX_BATCH_ROWS = 65536;

/**
 * The view an export (or a SQL query) reads: `dataset` with the filter, cone and box of the
 * options applied (columns are chosen by the caller).
 */
export function filteredView(
  dataset: Dataset,
  options: Pick<ExportOptions, "filter" | "cone" | "box">,
): Dataset {
  let view = dataset;
  if (options.filter !== undefined) view = view.filter(options.filter);
  if (options.cone)
    view = view.coneSearch(options.cone.ra, options.cone.dec, options.cone.radiusArcsec);
  if (options.box) {
    const b = options.box;
    view = view.boxSearch(b.raMin, b.raMax, b.decMin, b.decMax);
  }
  return view;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new WriteError(
      `cannot look at ${path}: ${(e as Error).message}`,
      { file: path },
      { cause: e },
    );
  }
}

async function sizeOf(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const e of await readdir(path)) total += await sizeOf(join(path, e));
  return total;
}

/** A `formatOptions` entry the format does not read is refused (a typo must not pass quietly). */
function checkFormatOptions(exporter: Exporter, given: ExportOptions["formatOptions"]): void {
  if (!exporter.formatOptions || !given) return;
  for (const [name, value] of Object.entries(given)) {
    if (value === undefined || exporter.formatOptions.includes(name)) continue;
    const takes = exporter.formatOptions.length
      ? `it takes ${exporter.formatOptions.join(", ")}`
      : "it takes none";
    throw new UsageError(`export to ${exporter.format} has no option "${name}" (${takes})`);
  }
}

/**
 * Refuses an output inside a dataset being exported, or holding one: with `force` the export
 * would replace the dataset's own files (or the directory holding them).
 */
async function checkNotInside(out: string, roots: string[]): Promise<void> {
  for (const root of roots) {
    if (remoteUrl(root) !== null) continue;
    const place = await placeAgainst(out, root);
    if (place !== null)
      throw new UsageError(
        `cannot export to ${out}: it ${place === "holds" ? "holds" : "is inside"} the dataset being exported (${root}); write the export elsewhere`,
        { file: out },
      );
  }
}

/** Start of the names of an export's temporary files beside `out`. */
function tempPrefix(out: string): string {
  return `.${basename(out)}.`;
}

/**
 * Removes what an export to `out` killed on this machine left beside it (its temporary file or
 * directory, named with its host and pid): a process that is gone cannot finish it. Temporaries
 * of live processes, or of other hosts sharing the directory, are left alone.
 */
async function removeStaleTemps(out: string): Promise<void> {
  const prefix = tempPrefix(out);
  let names: string[];
  try {
    names = await readdir(dirname(out));
  } catch {
    return; // checkOutput has said why the directory cannot be used
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^([A-Za-z0-9-]+)\.(\d+)\.[0-9a-f]{8}\.export-tmp/.exec(name.slice(prefix.length));
    if (!m || m[1] !== hostToken() || pidExists(Number(m[2]))) continue;
    await rm(join(dirname(out), name), { recursive: true, force: true }).catch(() => {});
  }
}

/** Checks the output can be written before anything is read: directory there and writable, no clash. */
async function checkOutput(out: string, force: boolean, exporter: Exporter): Promise<void> {
  const dir = dirname(out);
  let dirStat: Awaited<ReturnType<typeof stat>>;
  try {
    dirStat = await stat(dir);
  } catch (e) {
    throw new WriteError(
      `cannot write the export: its directory ${dir} does not exist`,
      { file: out },
      { cause: e },
    );
  }
  if (!dirStat.isDirectory())
    throw new WriteError(`cannot write the export: ${dir} is not a directory`, { file: out });
  try {
    await access(dir, constants.W_OK);
  } catch (e) {
    throw new WriteError(
      `cannot write the export: directory ${dir} is not writable`,
      { file: out },
      { cause: e },
    );
  }
  if (!(await exists(out))) return;
  if (!force)
    throw new UsageError(`${out} exists; pass force (--force) to replace it`, { file: out });
  const isDir = (await lstat(out)).isDirectory();
  if (exporter.output === "file" && isDir)
    throw new UsageError(`${out} is a directory; ${exporter.format} writes a file`, { file: out });
  if (exporter.output === "directory") {
    if (!isDir)
      throw new UsageError(`${out} is a file; ${exporter.format} writes a directory`, {
        file: out,
      });
    const own = exporter.recognizes ? await exporter.recognizes(out) : false;
    if (!own && (await readdir(out)).length > 0) {
      throw new UsageError(
        `${out} is a directory that is not an earlier ${exporter.format} export; --force replaces only those (or an empty directory)`,
        { file: out },
      );
    }
  }
}

/** The columns to export: asked-for (each must fit) or every column that fits (the others listed). */
function chooseColumns(
  view: Dataset,
  exporter: Exporter,
  options: ExportOptions,
): { names: string[]; skipped: ExportResult["skipped"] } {
  const skipped: ExportResult["skipped"] = [];
  const features = new Map(view.features.map((f) => [f.name, f]));
  let names: string[];
  if (options.columns) {
    if (options.columns.length === 0) throw new UsageError("columns is empty: name at least one");
    names = view.select(options.columns).columns;
    for (const n of names) {
      const why = exporter.unsupported(specOf(view.select([n]).features[0]), options);
      if (why) {
        throw new SchemaError(`cannot export to ${exporter.format}: ${why}`, { column: n });
      }
    }
  } else {
    names = [];
    for (const f of features.values()) {
      if (f.name === "_healpix_29") continue;
      const why = exporter.unsupported(specOf(f), options);
      if (why) skipped.push({ column: f.name, reason: why });
      else names.push(f.name);
    }
  }
  for (const r of exporter.requiredColumns ?? []) {
    if (!names.includes(r)) {
      try {
        view.select([r]);
        names.push(r);
      } catch (e) {
        if (!isAstroPileError(e, MissingColumnError.code)) throw e;
      }
    }
  }
  if (names.length === 0) {
    throw new SchemaError(
      `no column of this dataset can be exported to ${exporter.format}: ${skipped.map((s) => `${s.column} (${s.reason})`).join("; ")}`,
    );
  }
  return { names, skipped };
}

function specOf(f: Feature): ColumnSpec {
  const spec: ColumnSpec = { name: f.name, dtype: f.dtype, shape: f.shape };
  if (f.stringLength !== undefined) spec.stringLength = f.stringLength;
  if (f.unit) spec.unit = f.unit;
  if (f.description) spec.description = f.description;
  return spec;
}

/**
 * Exports a dataset view to a file (or directory) other tools open as they are: FITS binary
 * table, ECSV or CSV (see {@link exportFormats}; Parquet and HATS register the same way).
 * Streams: batches of about 8 MiB are read and written one after the other, whatever the
 * dataset's size. The output appears whole when the export succeeds and not at all when it
 * fails; an existing output is replaced only with `force`.
 *
 * ```ts
 * const ds = await openDataset("data/hsc");
 * await exportDataset(ds, { to: "fits", out: "bright.fits", filter: "forced.i_cmodel_mag < 20",
 *   cone: { ra: 150.1, dec: 2.2, radiusArcsec: 600 } });
 * ```
 *
 * Errors: an unknown format or an existing output without `force` (UsageError), a column the
 * format cannot hold (SchemaError naming it), a filter that does not parse (UsageError) or names
 * no column (MissingColumnError), an output directory that is missing or not writable and any
 * failed write (WriteError).
 */
export async function exportDataset(
  dataset: Dataset,
  options: ExportOptions,
): Promise<ExportResult> {
  const started = performance.now();
  const exporter = exporterFor(options.to);
  if (!options.out) throw new UsageError("out: name the output path");
  if (
    options.batchRows !== undefined &&
    !(Number.isInteger(options.batchRows) && options.batchRows > 0)
  )
    throw new UsageError(`batchRows ${options.batchRows} must be a positive integer`);
  checkFormatOptions(exporter, options.formatOptions);
  const out = resolve(options.out);
  await checkNotInside(out, dataset.roots);
  const filtered = filteredView(dataset, options);
  const { names, skipped } = chooseColumns(filtered, exporter, options);
  const view = filtered.select(names);
  const features = view.features;
  const schema = features.map(specOf);
  await checkOutput(out, options.force === true, exporter);

  const rowBytes = schema.reduce((sum, s) => sum + bytesPerRow(s), 0);
  const batchRows =
    options.batchRows ??
    Math.max(1, Math.min(MAX_BATCH_ROWS, Math.floor(BATCH_BYTES / Math.max(1, rowBytes))));
  const totalRows = view.filtered ? null : view.length;
  let written = 0;
  async function* rows(): AsyncGenerator<ColumnBatch> {
    for await (const b of view.batches({ size: batchRows })) {
      yield b.columns;
      written += b.length;
      options.onProgress?.({ rows: written, totalRows });
    }
  }
  async function* rescan(columns: string[]): AsyncGenerator<ColumnBatch> {
    for (const c of columns) {
      if (!names.includes(c))
        throw new UsageError(`rescan: "${c}" is not an exported column`, { column: c });
    }
    for await (const b of view.batches({ size: MAX_BATCH_ROWS, columns })) yield b.columns;
  }

  await removeStaleTemps(out);
  const temp = join(
    dirname(out),
    `${tempPrefix(out)}${hostToken()}.${process.pid}.${randomBytes(4).toString("hex")}.export-tmp`,
  );
  let columns: string[] = names;
  try {
    const r = await exporter.write(rows(), schema, {
      path: temp,
      out,
      options,
      view,
      features,
      provenance: dataset.provenance,
      config: dataset.config,
      totalRows,
      rescan,
    });
    if (r?.columns) columns = r.columns;
    await publish(temp, out, exporter.output, options.force === true);
  } catch (e) {
    await rm(temp, { recursive: true, force: true }).catch(() => {});
    if (e instanceof AstroPileError || isAstroPileError(e)) {
      // A column error raised while writing names the output it was for, not the temporary
      // file (whose name the user never gave).
      const err = e as AstroPileError;
      if (!err.file || err.file.startsWith(temp)) Object.assign(err, { file: out });
      err.message = err.message.replaceAll(temp, out);
      throw e;
    }
    const errno = e as NodeJS.ErrnoException;
    if (typeof errno.code === "string" && errno.syscall) {
      throw new WriteError(
        `export failed: ${errno.message.replaceAll(temp, out)}`,
        { file: out },
        { cause: e },
      );
    }
    throw e;
  }
  return {
    format: exporter.format,
    path: out,
    rows: written,
    bytes: await sizeOf(out),
    columns,
    skipped,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Moves the finished temporary output into place (an existing one only with force). */
async function publish(
  temp: string,
  out: string,
  kind: Exporter["output"],
  force: boolean,
): Promise<void> {
  if (!(await exists(temp))) {
    throw new WriteError("the exporter wrote nothing", { file: out });
  }
  const clash = await exists(out);
  if (clash && !force) {
    // Another process created it while we wrote.
    throw new UsageError(`${out} appeared while exporting; pass force (--force) to replace it`, {
      file: out,
    });
  }
  try {
    if (clash && (kind === "directory" || (await stat(out)).isDirectory())) {
      // rename() cannot replace a non-empty directory: move the old one aside first.
      const aside = `${temp}.old`;
      await rename(out, aside);
      await rename(temp, out);
      await rm(aside, { recursive: true, force: true });
    } else {
      await rename(temp, out);
    }
  } catch (e) {
    throw new WriteError(
      `cannot move the export into place: ${(e as Error).message}`,
      { file: out },
      { cause: e },
    );
  }
}

// Dataset.export(options) runs exportDataset (the dataset layer cannot import this one).
registerDatasetExport(exportDataset);
