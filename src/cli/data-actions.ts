// Actions of `astropile info | head | cone DIR` (loaded when one runs): look at a built dataset. `info` reads the manifest (and the
// order-29 key column for the sky coverage); `head` and `cone` read rows through the Dataset API
// (src/dataset), which reads only the files and columns they need.
import { resolve } from "node:path";
import { readReport } from "../build/index.ts";
import type { ColumnValues } from "../core/columns.ts";
import { isAstroPileError, MissingColumnError, UsageError } from "../core/errors.ts";
import { describeLockHolder, type WriterLock } from "../core/lock.ts";
import { displayPath } from "../core/remote-path.ts";
import { formatBytes } from "../core/units.ts";
import {
  COVERAGE_MAX_ROWS,
  COVERAGE_ORDER,
  type Dataset,
  densestPixels,
  openDataset,
  pixelAreaDeg2,
  summarizeDataset,
} from "../dataset/index.ts";
import { datasetRootOf } from "../interop/mmu-adopt.ts";
import { GROUPS } from "../schema/standard.ts";
import { type Layout, pixelRunName } from "../storage/layout.ts";
import { manifestLayout, readManifest } from "../storage/manifest.ts";
import { lockOutput } from "../storage/output-lock.ts";
import { areaText, countOf, formatCount, numberOption, out, printJson, table } from "./format.ts";

function pickConfig(configs: string[], wanted: string | undefined, dir: string): string {
  if (wanted) {
    if (!configs.includes(wanted))
      throw new UsageError(
        `no config "${wanted}" in ${dir}; it has: ${configs.join(", ") || "(none)"}`,
      );
    return wanted;
  }
  if (configs.length === 1) return configs[0];
  if (configs.length === 0) throw new UsageError(`${dir} has no config yet`);
  throw new UsageError(
    `${dir} has several configs (${configs.join(", ")}); choose one with --config`,
  );
}

const shapeText = (shape: number[]) => (shape.length ? `[${shape.join(",")}]` : "");

/** Pixels `info` lists without --pixels: the densest. */
const DENSEST = 10;

export interface InfoFlags {
  config?: string;
  json?: boolean;
  pixels?: boolean;
  coverage?: boolean;
  coverageOrder?: string;
}

export async function info(dir: string, flags: InfoFlags): Promise<void> {
  const coverageOrder = numberOption(flags.coverageOrder, "--coverage-order", {
    integer: true,
    min: 0,
    max: COVERAGE_ORDER,
  });
  // A Multimodal Universe tree is read through its index (adopted on the fly when small).
  const root = await datasetRootOf(dir);
  const manifest = await readManifest(root);
  const configs = flags.config
    ? [pickConfig(Object.keys(manifest.configs), flags.config, dir)]
    : Object.keys(manifest.configs);
  const details = [];
  for (const config of configs) {
    const entry = manifest.configs[config]!;
    // A scan of every key: say so where it is long (~1 s per 1e7 rows here).
    if (flags.coverage && entry.rows > COVERAGE_MAX_ROWS)
      process.stderr.write(
        `info: reading the keys of ${formatCount(entry.rows)} rows of config ${config} for its coverage\n`,
      );
    const summary = await summarizeDataset(root, {
      config,
      coverageOrder,
      coverageMaxRows: flags.coverage ? Number.POSITIVE_INFINITY : undefined,
    });
    const report = await readReport(root, config);
    details.push({ config, entry, summary, report });
  }
  if (flags.json) {
    printJson({
      path: displayPath(root),
      name: manifest.name,
      provenance: manifest.provenance,
      layout: manifestLayout(manifest),
      updated: manifest.updated,
      configs: Object.fromEntries(
        details.map(({ config, entry, summary, report }) => [
          config,
          {
            rows: entry.rows,
            files: summary.files,
            bytes: summary.bytes,
            compression: entry.compression,
            layout: summary.layout,
            partitionAreaDeg2: summary.partitionAreaDeg2,
            areaDeg2: summary.areaDeg2,
            coverageOrder: summary.coverageOrder,
            orders: summary.orders,
            columns: entry.columns,
            pixels: summary.pixels,
            rejected: report?.rejected.count,
            repeatedIds: entry.idIndex?.repeatedIds,
          },
        ]),
      ),
    });
    return;
  }
  const p = manifest.provenance;
  out(`${manifest.name}  ${displayPath(root)}`);
  out(
    `  survey ${p.survey}${p.release ? `, release ${p.release}` : ""}${p.project ? `, project ${p.project}` : ""}; updated ${manifest.updated ?? "?"}`,
  );
  out(`  layout ${layoutText(manifestLayout(manifest))}`);
  for (const { config, entry, summary, report } of details) {
    out("");
    out(
      `config ${config}: ${formatCount(entry.rows)} rows, ${countOf(summary.files, "file")}, ${formatBytes(summary.bytes)} (${entry.compression ?? "?"})` +
        (report ? `; build: ${formatCount(report.rejected.count)} rows rejected` : ""),
    );
    const repeated = entry.idIndex?.repeatedIds ?? 0;
    if (repeated > 0)
      out(
        `  object_id: ${formatCount(repeated)} row(s) repeat an id that another row has (getById gives one of them)`,
      );
    const orders = summary.orders
      .map((o) => `order ${o.order}: ${formatCount(o.pixels)}`)
      .join(", ");
    const runs = summary.pixels.filter((p) => p.pixels > 1).length;
    const pixelCount = summary.pixels.reduce((n, p) => n + p.pixels, 0);
    // Runs of sparse pixels sharing files are said only where there are some.
    const partitions =
      runs > 0
        ? `${formatCount(summary.pixels.length)} (${formatCount(runs)} of them runs of sparse pixels sharing files), ${formatCount(pixelCount)}`
        : formatCount(pixelCount);
    out(
      `  partitions: ${partitions} HEALPix pixels (${orders || "none"}), their area ${areaText(summary.partitionAreaDeg2)}`,
    );
    out(
      Number.isNaN(summary.areaDeg2)
        ? `  coverage: not computed for more than ${formatCount(COVERAGE_MAX_ROWS)} rows (--coverage computes it)`
        : `  coverage: ${areaText(summary.areaDeg2)} (order-${summary.coverageOrder} cells holding a row, ${areaText(pixelAreaDeg2(summary.coverageOrder))} each)`,
    );
    out("");
    out(
      table(
        ["COLUMN", "DTYPE", "SHAPE", "UNIT", "DESCRIPTION"],
        entry.columns.map((c) => [
          c.name,
          c.dtype === "string" && c.stringLength ? `string${c.stringLength}` : c.dtype,
          shapeText(c.shape),
          c.unit ?? "",
          c.description ?? "",
        ]),
      ),
    );
    out("");
    const shown = flags.pixels ? summary.pixels : densestPixels(summary.pixels, DENSEST);
    out(
      flags.pixels || shown.length === summary.pixels.length
        ? `pixels (${summary.pixels.length}):`
        : `densest pixels (${shown.length} of ${formatCount(summary.pixels.length)}; --pixels lists all):`,
    );
    out(
      table(
        ["ORDER", "HEALPIX", "RA_DEG", "DEC_DEG", "FILES", "ROWS", "BYTES"],
        shown.map((px) => [
          String(px.order),
          pixelRunName(px.pixel, px.pixels),
          px.ra.toFixed(3),
          px.dec.toFixed(3),
          String(px.files),
          formatCount(px.rows),
          formatBytes(px.bytes),
        ]),
        [true, true, true, true, true, true, true],
      ),
    );
  }
}

function layoutText(layout: Layout): string {
  return layout === "mmu"
    ? "mmu (Multimodal Universe v1: order-4 pixels, <config>/healpix=<N>/)"
    : "adaptive (pixels sized by the data: <config>/order=<K>/healpix=<N>/ or healpix=<N>-<M>/)";
}

/** Text of one cell: scalars as they are, arrays as dtype[shape] (short ones in full). */
function cellText(
  values: ColumnValues,
  per: number,
  i: number,
  dtype: string,
  shape: number[],
  name: string,
): string {
  if (per === 1) return scalarText(values[i], dtype, name);
  if (per <= 8) {
    const parts: string[] = [];
    for (let k = 0; k < per; k++) parts.push(scalarText(values[i * per + k], dtype, name));
    return parts.join(",");
  }
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  if (!Array.isArray(values)) {
    for (let k = i * per; k < (i + 1) * per; k++) {
      const v = Number(values[k]);
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const range = Number.isFinite(min) ? ` ${fmt(min)}..${fmt(max)}` : "";
  return `${dtype}[${shape.join("x")}]${range}`;
}

function fmt(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1e5 || a < 1e-3 ? x.toExponential(2) : Number(x.toPrecision(4)).toString();
}

function scalarText(v: unknown, dtype: string, name: string): string {
  if (typeof v === "bigint" || typeof v === "string") return String(v);
  if (typeof v !== "number") return String(v);
  if (dtype === "bool") return v ? "true" : "false";
  if (Number.isNaN(v)) return "nan";
  // Positions in full (to ~0.4 mas), a cross-match's own (right.ra) too; separations as xmatch
  // prints them. Other floats to four significant digits.
  if (/(^|\.)(ra|dec)$/.test(name)) return v.toFixed(7);
  if (name === "sep_arcsec") return v.toFixed(4);
  if (dtype === "float32" || dtype === "float64") return fmt(v);
  return String(v);
}

function jsonValue(
  values: ColumnValues,
  per: number,
  i: number,
  dtype: string,
  shape: number[],
  full: boolean,
): unknown {
  if (per === 1) {
    const v = values[i];
    return dtype === "bool" ? v === 1 : v;
  }
  if (!full) return { dtype, shape };
  const flat = Array.from({ length: per }, (_, k) => {
    const v = values[i * per + k];
    return dtype === "bool" ? v === 1 : v;
  });
  // Nest to the row shape, as numpy's tolist() would.
  const nest = (start: number, dims: number[]): unknown => {
    if (dims.length === 1) return flat.slice(start, start + dims[0]);
    const step = dims.slice(1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[0] }, (_, k) => nest(start + k * step, dims.slice(1)));
  };
  return nest(0, shape);
}

export interface RowsFlags {
  config?: string;
  columns?: string;
  json?: boolean;
  n?: string;
  limit?: string;
}

/** The --columns list through the library's own expansion (names, standard names, groups). */
function chooseColumns(ds: Dataset, flags: RowsFlags): { names: string[]; explicit: boolean } {
  if (!flags.columns)
    return { names: ds.columns.filter((c) => c !== "_healpix_29"), explicit: false };
  const asked = flags.columns
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  try {
    return { names: ds.select(asked).columns, explicit: true };
  } catch (err) {
    if (!isAstroPileError(err, MissingColumnError.code)) throw err;
    const missing =
      err.column && GROUP_NAMES.includes(err.column)
        ? `no ${err.column} columns`
        : `no column "${err.column}"`;
    throw new UsageError(
      `${missing} in ${displayPath(ds.root)}; columns: ${ds.columns.join(", ")} (or a group: ${GROUP_NAMES.join(", ")})`,
    );
  }
}

const GROUP_NAMES = Object.keys(GROUPS);

export async function openFor(dir: string, config: string | undefined): Promise<Dataset> {
  const root = await datasetRootOf(dir);
  const manifest = await readManifest(root);
  return openDataset(root, { config: pickConfig(Object.keys(manifest.configs), config, dir) });
}

/**
 * Rows as a table, or with --json as {columns, rows, ...more}; `extra` columns (e.g. distances)
 * come first. Array cells are shown in full in JSON only when named in --columns.
 */
function printRows(
  ds: Dataset,
  names: string[],
  batch: { length: number; columns: Record<string, ColumnValues> },
  flags: RowsFlags,
  explicit: boolean,
  extra: Record<string, ArrayLike<number>> = {},
  more: Record<string, unknown> = {},
): void {
  const features = new Map(ds.features.map((f) => [f.name, f]));
  const per = (n: string) => (features.get(n)?.shape ?? []).reduce((a, b) => a * b, 1);
  const rowIndex = Array.from({ length: batch.length }, (_, i) => i);
  if (flags.json) {
    printJson({
      columns: [...Object.keys(extra), ...names].map((n) => {
        const f = features.get(n);
        return f
          ? { name: n, dtype: f.dtype, shape: f.shape, unit: f.unit }
          : { name: n, dtype: "float64", shape: [], unit: "arcsec" };
      }),
      rows: rowIndex.map((i) => ({
        ...Object.fromEntries(Object.entries(extra).map(([n, v]) => [n, v[i]])),
        ...Object.fromEntries(
          names.map((n) => {
            const f = features.get(n)!;
            return [n, jsonValue(batch.columns[n], per(n), i, f.dtype, f.shape, explicit)];
          }),
        ),
      })),
      ...more,
    });
    return;
  }
  const header = [...Object.keys(extra), ...names];
  const rows = rowIndex.map((i) => [
    ...Object.values(extra).map((v) => v[i].toFixed(3)),
    ...names.map((n) => {
      const f = features.get(n)!;
      return cellText(batch.columns[n], per(n), i, f.dtype, f.shape, n);
    }),
  ]);
  out(table(header, rows));
}

export async function head(dir: string, flags: RowsFlags): Promise<void> {
  const n = numberOption(flags.n ?? "10", "-n", { integer: true, min: 0, max: 100000 })!;
  const ds = await openFor(dir, flags.config);
  try {
    const { names, explicit } = chooseColumns(ds, flags);
    let batch: { length: number; columns: Record<string, ColumnValues> } = {
      length: 0,
      columns: {},
    };
    if (n > 0) {
      for await (const b of ds.batches({ size: Math.min(n, ds.length || 1), columns: names })) {
        batch = b;
        break;
      }
    }
    printRows(ds, names, batch, flags, explicit);
    if (!flags.json) out(`(${batch.length} of ${formatCount(ds.length)} rows)`);
  } finally {
    ds.close();
  }
}

export interface ConeFlags extends RowsFlags {
  ra?: string;
  dec?: string;
  radius?: string;
}

export async function cone(dir: string, flags: ConeFlags): Promise<void> {
  const ra = numberOption(flags.ra, "--ra", { min: -360, max: 360 });
  const dec = numberOption(flags.dec, "--dec", { min: -90, max: 90 });
  const radius = numberOption(flags.radius, "--radius", { above: 0, max: 648000 });
  if (ra === undefined || dec === undefined || radius === undefined)
    throw new UsageError("cone needs --ra DEG --dec DEG --radius ARCSEC");
  const limit = numberOption(flags.limit ?? "100", "--limit", { integer: true, min: 0 })!;
  const ds = await openFor(dir, flags.config);
  try {
    const { names, explicit } = chooseColumns(ds, flags);
    const near = await ds.nearest(ra, dec, radius, { limit, columns: names });
    printRows(
      ds,
      names,
      near,
      flags,
      explicit,
      { dist_arcsec: near.distArcsec },
      {
        matched: near.matched,
        truncated: near.truncated,
        limit,
      },
    );
    if (!flags.json)
      out(
        `(${near.length} of ${formatCount(near.matched)} rows within ${radius} arcsec of ra ${ra}, dec ${dec}; nearest first${near.truncated ? `; --limit N shows more` : ""})`,
      );
  } finally {
    ds.close();
  }
}

export interface IndexFlags {
  config?: string;
  force?: boolean;
  json?: boolean;
  wait?: boolean;
}

/**
 * `astropile index DIR`: writes the positions sidecar of configs that lack one; with --force,
 * checks every file, gives identities to files written before them and rebuilds both sidecars.
 */
export async function index(dir: string, flags: IndexFlags): Promise<void> {
  const root = resolve(dir);
  // The lock before reading the manifest: another writer may be about to replace it.
  const lock = await lockOutput(root, {
    wait: flags.wait,
    command: "index",
    create: false,
    onWait: (h) =>
      process.stderr.write(`astropile: waiting for ${root}: locked by ${describeLockHolder(h)}\n`),
  });
  try {
    await indexLocked(root, dir, flags, lock);
  } finally {
    await lock.release();
  }
}

async function indexLocked(
  root: string,
  dir: string,
  flags: IndexFlags,
  lock: WriterLock,
): Promise<void> {
  if (flags.force) return (await import("./reindex.ts")).reindex(root, dir, flags, lock);
  const { buildPositions } = await import("../storage/positions.ts");
  const manifest = await readManifest(root);
  const configs = flags.config
    ? [pickConfig(Object.keys(manifest.configs), flags.config, dir)]
    : Object.keys(manifest.configs);
  const done: Record<string, unknown> = {};
  for (const config of configs) {
    if (manifest.configs[config]!.positions && !flags.force) {
      if (!flags.json) out(`${config}: has a positions sidecar (--force rebuilds it)`);
      continue;
    }
    const started = performance.now();
    const entry = await buildPositions(root, config, { lock });
    done[config] = entry;
    if (!flags.json) {
      out(
        `${config}: wrote ${entry.path} (${formatCount(entry.rows)} rows, ${formatBytes(entry.bytes)}) in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
    }
  }
  if (flags.json) printJson({ path: root, written: done });
}
