// The build runner: spec → parent dataset, resumable and parallel.
//
//   1. plan     scan the catalog once (convert and validate rows, count them per sky cell, keep
//               them in binary), read tile headers, choose the partition pixels from the
//               counts, group them into work units                         → rows.bin, plan.json
//               (a big last CSV split between two threads: the second's rows in rows-tail.bin)
//   2. scatter  route each valid row to its unit's bucket (one unit: rename) → scatter.json
//   3. units    each unit (in worker threads, or in-process with 1 worker) cuts stamps / reads
//               spectra, rejects rows that cannot be completed, writes its own small dataset
//                                                                            → units/<u>.done.json
//   4. assemble rename the units' files into the layout, merge the id index and the positions
//               sidecar, write the manifest
//
// Killed at any moment, a re-run with the same spec and inputs keeps every step whose marker is
// there (units only if each of their files still matches its sha256) and redoes the rest; the
// result is the same dataset as an uninterrupted run. Changed inputs (spec, file sizes or times)
// discard the old state. A complete build re-run is a no-op.

import { mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import {
  checkAllocation,
  DEFAULT_MEMORY_BYTES,
  MIN_MEMORY_BYTES,
  sizeProduct,
} from "../core/budget.ts";
import { bytesPerRow, type ColumnSpec, exactBytesPerRow } from "../core/columns.ts";
import {
  CorruptFileError,
  InternalError,
  SchemaError,
  SpecError,
  UsageError,
} from "../core/errors.ts";
import { sha256File } from "../core/hash.ts";
import { describeLockHolder, type WriterLock } from "../core/lock.ts";
import { emptyRecord } from "../core/records.ts";
import { STANDARD_COLUMNS } from "../storage/dataset-writer.ts";
import { DEFAULT_LAYOUT, type Layout } from "../storage/layout.ts";
import {
  type FileEntry,
  type Manifest,
  manifestLayout,
  readManifest,
} from "../storage/manifest.ts";
import { lockOutput, removeLeftovers } from "../storage/output-lock.ts";
import {
  CellIndex,
  choosePartitionsOf,
  DEFAULT_FILE_BYTES,
  DEFAULT_FILE_ROWS,
} from "../storage/partitioning.ts";
import { assemble } from "./assemble.ts";
import { mergeSourceSpecs, type OutputColumn, openCatalog, outputColumns } from "./catalog.ts";
import { globAll } from "./glob.ts";
import {
  fingerprint,
  makeUnits,
  RejectLog,
  type RejectSummary,
  SCAN_SPLIT_BYTES,
  scanCatalog,
  scatterRows,
  type UnitPlan,
} from "./plan.ts";
import { startUnitPool, type UnitPool } from "./pool.ts";
import { fillTemplate, type ResolvedSpec, sourceName, templateFields } from "./spec.ts";
import {
  bucketPath,
  crashPoint,
  readJson,
  removeState,
  STATE_DIR,
  type StatePaths,
  statePaths,
  tidyState,
  unitDir,
  unitDonePath,
  writeJsonAtomic,
} from "./state.ts";
import { type BuildPlan, type ModalityPlan, runUnit, type UnitDone } from "./unit.ts";

export interface BuildProgress {
  phase: "scan" | "scatter" | "build" | "assemble" | "done";
  /**
   * Rows handled in this phase so far, and the phase's total when known. In "build", a unit's
   * row counts half when read and half once written to its file (the sort and the writing come
   * after the last row is read).
   */
  rows: number;
  total?: number;
  unitsDone: number;
  unitsTotal: number;
}

export interface BuildOptions {
  /** Output dataset directory (created). */
  out: string;
  /**
   * Worker threads for the units; 1 runs them in this thread (and scans on it alone). Default:
   * up to the CPU count (at most 8), fewer for small builds, where starting a worker costs more
   * than it saves.
   */
  workers?: number;
  /**
   * Scanning on two threads: a plain CSV catalog file of at least this many bytes is split at a
   * line end after the middle (when the first half has no quoted field); several catalog files
   * of at least this many bytes together (CSV, gzip, ECSV, FITS) are shared out, the first files
   * (about half the work) to this thread, the others to a second one. Default 256 MiB;
   * `Infinity` keeps one thread.
   */
  scanSplitBytes?: number;
  /** Total memory budget for sort buffers and tile caches (bytes). Default 512 MiB. */
  memoryBytes?: number;
  onProgress?: (p: BuildProgress) => void;
  /** One-line messages (plan decisions, resumed steps, waiting for or taking over the lock). */
  log?: (line: string) => void;
  /**
   * When another process is writing `out` (its lock `out/.astropile.lock` is held): wait for it
   * to finish instead of failing at once with a LockedError.
   */
  wait?: boolean;
}

export interface BuildReport {
  config: string;
  survey: string;
  fingerprint: string;
  rowsRead: number;
  rows: number;
  files: number;
  bytes: number;
  units: number;
  unitsReused: number;
  seconds: number;
  rejected: RejectSummary;
  /** "built", "resumed" (some steps reused) or "unchanged" (already complete). */
  status: "built" | "resumed" | "unchanged";
}

export interface BuildResult {
  manifest: Manifest;
  report: BuildReport;
  reportPath: string;
}

export const REPORT_NAME = "build-report.json";
/**
 * Output rows a work unit may hold at once, at worst: its chunk of rows, their copy without the
 * rejected rows, the writer's sort buffer, the HDF5 write buffers and the source planes read
 * for them. One output row times this must fit in one worker's share of the memory budget:
 * checked on the spec before the catalog is scanned, on the planned columns after, and the
 * workers are fewer when rows are large.
 */
export const ROWS_IN_MEMORY = 8;
const DEFAULT_UNIT_BYTES = 64 * 2 ** 20;
/** plan.json of another version (before partitions sized by the data: 1) is started over. */
const PLAN_VERSION = 2;
const WORKER_MIN_BYTES = 48 * 2 ** 20;

export function defaultWorkers(): number {
  return Math.max(1, Math.min(8, cpus().length));
}

/** Input files whose size or time changing invalidates a previous build state. */
async function inputFiles(spec: ResolvedSpec): Promise<{ catalog: string[]; modality: string[] }> {
  const catalog = await globAll(spec.catalog.files, spec.root);
  if (catalog.length === 0)
    throw new SpecError(`catalog.files matches no file: ${JSON.stringify(spec.catalog.files)}`, {
      file: spec.root,
    });
  const modality: string[] = [];
  if (spec.image?.kind === "tiles")
    for (const b of spec.image.bands) modality.push(...(await globAll(b.files, spec.root)));
  return { catalog, modality };
}

function templatesOf(spec: ResolvedSpec): string[] {
  const t: string[] = [];
  if (spec.image?.kind === "cutouts") t.push(spec.image.file);
  if (spec.spectrum) t.push(spec.spectrum.file);
  if (spec.ifu) t.push(spec.ifu.file, ...(spec.ifu.maps ?? []).map((m) => m.file));
  return t;
}

/**
 * The source column types over every catalog file (each later file's header read once), so a
 * column is stored in a type that holds all its files' values; one file needs no more reads.
 */
async function allSourceSpecs(
  spec: ResolvedSpec,
  catalogFiles: string[],
  firstSpecs: ColumnSpec[],
): Promise<ColumnSpec[]> {
  if (catalogFiles.length === 1) return firstSpecs;
  // Only the mapped columns matter; those whose dtype the spec fixes are converted as it says.
  const used = new Set<string>();
  const fixed = new Set<string>();
  for (const src of Object.values(spec.catalog.columns)) {
    used.add(sourceName(src));
    if (typeof src !== "string" && src.dtype !== undefined) fixed.add(sourceName(src));
  }
  const files = [{ path: catalogFiles[0]!, specs: firstSpecs }];
  for (const path of catalogFiles.slice(1)) {
    const reader = await openCatalog(path, spec.catalog);
    try {
      files.push({ path, specs: reader.specs });
    } finally {
      await reader.close();
    }
  }
  return mergeSourceSpecs(files, used, fixed);
}

async function makePlan(
  spec: ResolvedSpec,
  fp: string,
  catalogFiles: string[],
  options: BuildOptions,
  paths: StatePaths,
  layout: Layout,
): Promise<BuildPlan> {
  const t0 = performance.now();
  const first = await openCatalog(catalogFiles[0], spec.catalog);
  let outputs: OutputColumn[];
  try {
    outputs = outputColumns(
      spec.catalog.columns,
      await allSourceSpecs(spec, catalogFiles, first.specs),
      catalogFiles[0],
      first.unreadable,
    );
  } finally {
    await first.close();
  }
  // Template fields name catalog source columns (or output columns); carry the source ones.
  const sources = new Set(first.specs.map((s) => s.name));
  const outputsByName = new Set(outputs.map((o) => o.spec.name));
  const carry: string[] = [];
  for (const tpl of templatesOf(spec)) {
    for (const field of templateFields(tpl)) {
      if (outputsByName.has(field) || outputs.some((o) => o.source === field)) continue;
      if (!sources.has(field))
        throw new SpecError(`template field {${field}} is not a catalog column`, {
          file: catalogFiles[0],
        });
      if (!carry.includes(field)) carry.push(field);
    }
  }
  let rowsSeen = 0;
  const scan = await scanCatalog(
    spec.catalog,
    catalogFiles,
    spec.root,
    outputs,
    carry,
    paths.rows,
    (n) => {
      rowsSeen += n;
      options.onProgress?.({ phase: "scan", rows: rowsSeen, unitsDone: 0, unitsTotal: 0 });
    },
    options.workers === 1 ? Number.POSITIVE_INFINITY : (options.scanSplitBytes ?? SCAN_SPLIT_BYTES),
    paths.rowsTail,
  );
  let modality: ModalityPlan = { kind: "catalog" };
  let modalColumns: ColumnSpec[] = [];
  // Each modality's code (and the FITS reader it needs) loads only for its builds.
  if (spec.image?.kind === "tiles") {
    const { imageColumns, planTiles } = await import("./image.ts");
    const m = await planTiles(spec.image, spec.root);
    modality = m;
    modalColumns = imageColumns(m.labels, m.stampSize);
  } else if (spec.image?.kind === "cutouts") {
    const { imageColumns, planCutouts } = await import("./image.ts");
    const m = planCutouts(spec.image);
    modality = m;
    modalColumns = imageColumns(m.labels, m.stampSize);
  } else if (spec.spectrum) {
    const { planSpectrum, spectrumColumns } = await import("./spectrum.ts");
    const firstFile = await firstExisting(spec.spectrum.file, scan.firstCarry, outputs, spec.root);
    const m = await planSpectrum(spec.spectrum, firstFile);
    modality = m;
    modalColumns = spectrumColumns(m.length, m.fluxUnit);
  } else if (spec.ifu) {
    const { ifuColumns, planIfu } = await import("./ifu.ts");
    const firstFile = await firstExisting(spec.ifu.file, scan.firstCarry, outputs, spec.root);
    const m = await planIfu(spec.ifu, firstFile);
    modality = m;
    modalColumns = ifuColumns(m);
  }
  const columns = [...outputs.map((o) => o.spec), ...modalColumns];
  const names = new Set<string>();
  for (const c of columns) {
    if (names.has(c.name)) throw new SpecError(`column "${c.name}" is defined twice`);
    names.add(c.name);
  }
  const standardNames: Record<string, string> = emptyRecord();
  for (const o of outputs) if (o.standardName) standardNames[o.spec.name] = o.standardName;
  // Partition pixels sized by the stored rows (healpix and _healpix_29 included).
  const rowBytes = [...columns, ...STANDARD_COLUMNS].reduce((s, c) => s + bytesPerRow(c), 0);
  const maxRows = spec.build?.maxRowsPerFile ?? DEFAULT_FILE_ROWS;
  const maxBytes = spec.build?.fileBytes ?? DEFAULT_FILE_BYTES;
  const unitBytes = spec.build?.unitBytes ?? DEFAULT_UNIT_BYTES;
  // Rows that fit one file and one unit are partitioned by their order-4 counts alone.
  const cells = new CellIndex(
    scan.hist.finish((rows) => rows <= maxRows && rows * rowBytes <= Math.min(maxBytes, unitBytes)),
  );
  const pieces = choosePartitionsOf(cells, { layout, rowBytes, maxRows, maxBytes });
  const units = makeUnits(pieces, cells, rowBytes, unitBytes);
  const orders = [...new Set(pieces.map((p) => p.order))].sort((a, b) => a - b);
  options.log?.(
    `plan: ${scan.rowsValid} valid rows of ${scan.rowsRead} (${scan.rejected.count} rejected), ` +
      `${layout} layout, ${pieces.length} partition pieces (order ${orders.join(", ") || "-"}), ${units.length} work units` +
      (scan.filesSplit > 0 ? `; ${scan.filesSplit} catalog file(s) scanned on two threads` : "") +
      (scan.filesOnThread > 0
        ? `; ${scan.filesOnThread} of ${catalogFiles.length} catalog files scanned on a second thread`
        : ""),
  );
  return {
    version: PLAN_VERSION,
    fingerprint: fp,
    layout,
    rowsBytes: scan.rowsBytes,
    ...(scan.rowsTail ? { rowsTail: scan.rowsTail } : {}),
    spec,
    catalogFiles,
    outputs,
    carry,
    modality,
    columns,
    standardNames,
    units,
    scan: {
      rowsRead: scan.rowsRead,
      rowsValid: scan.rowsValid,
      rejected: scan.rejected,
      seconds: (performance.now() - t0) / 1000,
    },
  };
}

/** The error of a build whose input rows were all refused: how many, why, and the first one. */
function everyRowRefused(rowsRead: number, rejected: RejectSummary): SchemaError {
  const reasons = Object.entries(rejected.byReason)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([kind, n]) => `${n} x ${kind}`)
    .join("; ");
  const first = rejected.sample[0];
  return new SchemaError(
    `all ${rowsRead} rows read were refused, so nothing was built (${reasons}); check the spec's columns against the input`,
    first ? { file: first.file, detail: `row ${first.row}: ${first.reason}` } : {},
  );
}

/** The first file a template names for the scanned rows that exists. */
async function firstExisting(
  template: string,
  carried: Array<Record<string, string>>,
  _outputs: OutputColumn[],
  root: string,
): Promise<string | null> {
  for (const values of carried) {
    try {
      const path = join(root, fillTemplate(template, values));
      await stat(path);
      return path;
    } catch {
      // Try the next row.
    }
  }
  return null;
}

/** Size of a file, or null when it is not there. */
async function sizeOf(path: string): Promise<number | null> {
  return stat(path).then(
    (s) => s.size,
    () => null,
  );
}

/** Whether every bucket has the size scatter.json recorded. */
async function bucketsThere(
  plan: BuildPlan,
  scatter: Array<{ rows: number; bytes: number }>,
  paths: StatePaths,
): Promise<boolean> {
  if (scatter.length !== plan.units.length) return false;
  for (const [u, s] of scatter.entries())
    if (s.bytes > 0 && (await sizeOf(bucketPath(paths, u))) !== s.bytes) return false;
  return true;
}

/**
 * Whether the scan's rows are there to route: rows.bin with its planned size, or (one unit)
 * already renamed into the unit's bucket; and rows-tail.bin with its size when the plan has one.
 */
async function scannedRowsThere(plan: BuildPlan, paths: StatePaths): Promise<boolean> {
  if (plan.rowsTail && (await sizeOf(paths.rowsTail)) !== plan.rowsTail.bytes) return false;
  if ((await sizeOf(paths.rows)) === plan.rowsBytes) return true;
  return plan.units.length === 1 && (await sizeOf(bucketPath(paths, 0))) === plan.rowsBytes;
}

/** A finished unit whose files are all there with their sha256, or null. */
async function verifiedUnit(paths: StatePaths, unit: number): Promise<UnitDone | null> {
  const done = await readJson<UnitDone>(unitDonePath(paths, unit));
  if (!done) return null;
  const dir = unitDir(paths, unit);
  const files: Array<Pick<FileEntry, "path" | "bytes" | "sha256">> = [...done.files];
  if (done.idIndex) files.push(done.idIndex);
  if (done.positions) files.push(done.positions);
  for (const f of files) {
    try {
      const path = join(dir, f.path);
      if ((await stat(path)).size !== f.bytes || (await sha256File(path)) !== f.sha256) return null;
    } catch {
      return null;
    }
  }
  return done;
}

/**
 * Builds (or resumes, or finds already built) config `spec.config` in `options.out`. The whole
 * run holds the output's writer lock: another build, writer or `index` of the same directory
 * fails at once with a LockedError (or waits, with `wait`), before touching anything there. The
 * lock holder first removes what interrupted runs left (temp files, scratch directories,
 * unfinished units); a build that fails leaves only what a resume uses (see `tidyState`).
 * Rows that cannot be stored are refused and listed in the report; when every row read is
 * refused, the build fails with a SchemaError instead of publishing an empty config.
 */
export async function build(spec: ResolvedSpec, options: BuildOptions): Promise<BuildResult> {
  const memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
  if (!(Number.isSafeInteger(memoryBytes) && memoryBytes >= MIN_MEMORY_BYTES))
    throw new UsageError(`memory budget must be at least 16 MiB, got ${memoryBytes} bytes`);
  // Sizes the spec declares (stamps, spectrum length, cube size) before any file is read.
  checkRowMemory(await specColumns(spec), spec, memoryBytes);
  const log = options.log ?? (() => {});
  const lock = await lockOutput(options.out, {
    wait: options.wait,
    command: `build "${spec.config}"`,
    cleanUnder: [STATE_DIR],
    log,
    onWait: (h) => log(`waiting for ${options.out}: locked by ${describeLockHolder(h)}`),
  });
  const paths = statePaths(options.out, spec.config);
  try {
    await tidyState(paths);
    return await buildLocked(spec, options, lock, paths);
  } catch (err) {
    // Leave exactly what a resume uses: no temp files, no unfinished units.
    await removeLeftovers(lock.dir, [STATE_DIR]).catch(() => undefined);
    await tidyState(paths).catch(() => undefined);
    throw err;
  } finally {
    await lock.release();
  }
}

/**
 * How many threads build `pending` units (at most `workers`), and the memory each has. Unless
 * the caller fixed the count, threads do not pay below WORKER_MIN_BYTES of output each.
 */
function unitThreads(
  plan: BuildPlan,
  pending: UnitPlan[],
  memoryBytes: number,
  workers: number,
  fixed: boolean,
): { w: number; perWorker: number; rowBytes: number } {
  // Workers (their start, and routing the rows to several units' buckets) do not pay below
  // ~48 MB of output per extra worker: a 1e6-row catalog (44 MB) as two units on two workers
  // took 2.65 s against 2.2 s as one unit in this thread.
  const rowBytes = plan.columns.reduce((s, c) => s + bytesPerRow(c), 0);
  const pendingBytes = pending.reduce((s, u) => s + u.rows * rowBytes, 0);
  // Each worker's share must hold ROWS_IN_MEMORY rows (checked before for one worker).
  const fit = Math.max(1, Math.floor(memoryBytes / (ROWS_IN_MEMORY * Math.max(1, rowBytes))));
  const w = fixed
    ? Math.min(workers, pending.length, fit)
    : Math.max(
        1,
        Math.min(workers, pending.length, fit, Math.floor(pendingBytes / WORKER_MIN_BYTES)),
      );
  return { w, perWorker: Math.floor(memoryBytes / w), rowBytes };
}

/**
 * The scanned rows to the units' buckets: one unit takes rows.bin itself as its bucket; several
 * have rows.bin (and the second scan thread's rows-tail.bin) routed by key. Returns each
 * bucket's rows and bytes (the scatter marker's content).
 */
async function routeRows(
  plan: BuildPlan,
  paths: StatePaths,
  options: BuildOptions,
): Promise<Array<{ rows: number; bytes: number }>> {
  const units = plan.units;
  if (units.length === 1 && !plan.rowsTail) {
    await mkdir(paths.buckets, { recursive: true });
    if ((await sizeOf(paths.rows)) !== null) await rename(paths.rows, bucketPath(paths, 0));
    return [{ rows: units[0].rows, bytes: plan.rowsBytes }];
  }
  let rowsSeen = 0;
  const tail = plan.rowsTail ? { ...plan.rowsTail, path: paths.rowsTail } : null;
  const onRows = (n: number) => {
    rowsSeen += n;
    options.onProgress?.({
      phase: "scatter",
      rows: rowsSeen,
      total: plan.scan.rowsValid,
      unitsDone: 0,
      unitsTotal: units.length,
    });
  };
  return scatterRows(paths.rows, plan.outputs, units, paths, onRows, undefined, tail);
}
async function buildLocked(
  spec: ResolvedSpec,
  options: BuildOptions,
  lock: WriterLock,
  paths: StatePaths,
): Promise<BuildResult> {
  const t0 = performance.now();
  const out = options.out;
  const workers = Math.max(1, Math.floor(options.workers ?? defaultWorkers()));
  const memoryBytes = options.memoryBytes ?? DEFAULT_MEMORY_BYTES;
  const log = options.log ?? (() => {});
  const inputs = await inputFiles(spec);
  const fp = await fingerprint(spec, [...inputs.catalog, ...inputs.modality]);
  const reportPath = join(out, spec.config, REPORT_NAME);

  // Already built?
  const existing = await readManifest(out).catch(() => null);
  if (existing?.configs[spec.config]) {
    const report = await readJson<BuildReport>(reportPath);
    const state = await readJson<BuildPlan>(paths.plan);
    if (report?.fingerprint === fp || state?.fingerprint === fp) {
      await removeState(paths);
      const unchanged: BuildReport = { ...(report ?? emptyReport(spec, fp)), status: "unchanged" };
      log(`config "${spec.config}" is already built from these inputs; nothing to do`);
      options.onProgress?.({ phase: "done", rows: unchanged.rows, unitsDone: 0, unitsTotal: 0 });
      return { manifest: existing, report: unchanged, reportPath };
    }
    throw new UsageError(
      `config "${spec.config}" already exists in ${out} (built from other inputs); remove it or build into another directory`,
    );
  }

  // A config added to an existing dataset takes its layout.
  const layout: Layout = existing
    ? manifestLayout(existing)
    : (spec.build?.layout ?? DEFAULT_LAYOUT);
  if (existing && spec.build?.layout && spec.build.layout !== layout)
    throw new UsageError(
      `${out} has the "${layout}" layout: config "${spec.config}" cannot be built into it with build.layout "${spec.build.layout}" (build into another directory)`,
    );

  let resumed = false;
  let plan = await readJson<BuildPlan>(paths.plan);
  if (plan && (plan.version !== PLAN_VERSION || plan.fingerprint !== fp)) {
    log(
      plan.version !== PLAN_VERSION
        ? "the interrupted build was planned by another version of AstroPile: starting over"
        : "inputs changed since the interrupted build: starting over",
    );
    await removeState(paths);
    plan = null;
  }
  let scatter = plan ? await readJson<Array<{ rows: number; bytes: number }>>(paths.scatter) : null;
  if (plan && scatter && !(await bucketsThere(plan, scatter, paths))) {
    // The scan's rows were dropped once routed: a damaged bucket means scanning again.
    log("a bucket of the interrupted build is missing or changed: starting over");
    await removeState(paths);
    plan = null;
    scatter = null;
  }
  if (plan && !scatter && !(await scannedRowsThere(plan, paths))) {
    log("the interrupted build's scanned rows are gone: scanning again");
    await removeState(paths);
    plan = null;
  }
  if (plan) {
    resumed = true;
    log(`resuming the interrupted build of "${spec.config}"`);
  } else {
    await mkdir(paths.dir, { recursive: true });
    plan = await makePlan(spec, fp, inputs.catalog, options, paths, layout);
    // plan.json only once rows.bin is complete: the scan wrote and fsynced it.
    await writeJsonAtomic(paths.plan, plan);
  }
  // Sizes learned from the files too (a spectrum or cube length), and on resume with this budget.
  checkRowMemory(plan.columns, spec, memoryBytes);
  crashPoint("plan");
  const units = plan.units;
  const validRows = plan.scan.rowsValid;

  const threadsFor = (pending: UnitPlan[]) =>
    unitThreads(plan!, pending, memoryBytes, workers, options.workers !== undefined);
  const startPool = (w: number) =>
    startUnitPool({
      workers: w,
      planPath: paths.plan,
      out,
      memoryBytes: Math.floor(memoryBytes / w / 2),
      cacheBytes: Math.floor(memoryBytes / w / 2),
    });
  // The units' threads start before the routing (a scatter to do means no unit is built yet), so
  // they have loaded their code (~0.4 s) when the buckets are ready.
  let pool: UnitPool | null = null;
  if (!scatter && units.length > 1) {
    const { w } = threadsFor(units);
    if (w > 1) pool = startPool(w);
  }
  const done = new Map<number, UnitDone>();
  let rowsDone = 0;
  let reused = 0;
  let rowsRemoved: Promise<Error | null> = Promise.resolve(null);
  try {
    // Scatter: skipped when its marker is there (and every bucket has its recorded size).
    if (!scatter) {
      scatter = await routeRows(plan, paths, options);
      await writeJsonAtomic(paths.scatter, scatter);
    } else if (resumed) log("scatter: reused");
    // The routed rows go while the units start (unlinking 418 MB took ~0.12 s).
    rowsRemoved = Promise.all([
      rm(paths.rows, { force: true }),
      rm(paths.rowsTail, { force: true }),
    ]).then(
      () => null,
      (err: Error) => err,
    );
    crashPoint("scatter");

    // Units: reuse the verified ones, build the others.
    const assemblyStarted = (await readJson(paths.assembly)) !== null;
    for (const u of units) {
      const d = assemblyStarted
        ? await readJson<UnitDone>(unitDonePath(paths, u.index))
        : await verifiedUnit(paths, u.index);
      if (d) done.set(u.index, d);
    }
    reused = done.size;
    if (reused > 0)
      log(`units: ${reused} of ${units.length} complete and verified (sha256), reused`);
    const pending = units.filter((u) => !done.has(u.index));
    rowsDone = units.filter((u) => done.has(u.index)).reduce((s, u) => s + u.rows, 0);
    const progress = () =>
      options.onProgress?.({
        phase: "build",
        // Units count their rows by halves (read, then written): see UnitOptions.onRows.
        rows: Math.floor(rowsDone),
        total: validRows,
        unitsDone: done.size,
        unitsTotal: units.length,
      });
    progress();
    let finished = 0;
    const onDone = (d: UnitDone) => {
      done.set(d.unit, d);
      progress();
      crashPoint(`unit-done:${++finished}`);
    };
    const onRows = (n: number) => {
      rowsDone += n;
      progress();
    };
    if (pending.length > 0) {
      const { w, perWorker, rowBytes } = threadsFor(pending);
      if (w < Math.min(workers, pending.length) && options.workers !== undefined)
        log(
          `units: ${w} worker(s), not ${workers}: each needs ${ROWS_IN_MEMORY} rows of ${rowBytes} bytes within --memory`,
        );
      if (w <= 1) {
        for (const u of pending) {
          onDone(
            await runUnit(u, {
              paths,
              plan,
              memoryBytes: Math.floor(perWorker / 2),
              cacheBytes: Math.floor(perWorker / 2),
              onRows,
            }),
          );
        }
      } else {
        // The threads started before the routing fit these units when no unit was built yet.
        if (pool?.workers !== w) {
          await pool?.stop();
          pool = startPool(w);
        }
        // Largest first: the threads then finish close together (a 1e7-row catalog's 8 units,
        // 0.45-1.51M rows, in plan order left one thread ~1.5M rows behind the other).
        const bySize = [...pending].sort((a, b) => b.rows - a.rows);
        await pool.run(bySize, { onRows, onDone });
      }
    }
  } finally {
    // Threads never run (a step before the units failed, or the units ran here) or still
    // running (a unit failed); a no-op for threads that ran and ended. The removal ends before
    // the lock is given up, whatever happened (it never rejects).
    await pool?.stop();
    await rowsRemoved;
  }
  const removal = await rowsRemoved;
  if (removal) throw removal;

  options.onProgress?.({
    phase: "assemble",
    rows: rowsDone,
    total: validRows,
    unitsDone: done.size,
    unitsTotal: units.length,
  });
  const ordered = units.map((u) => done.get(u.index)!);
  const rejects = new RejectLog();
  rejects.merge(plan.scan.rejected);
  for (const d of ordered) rejects.merge(d.rejected);
  if (plan.scan.rowsRead > 0 && ordered.every((d) => d.rows === 0)) {
    // An empty dataset from rows that were there is a wrong answer, not a result: nothing is
    // published, and the state goes (a resume would refuse the same rows again).
    await removeState(paths);
    throw everyRowRefused(plan.scan.rowsRead, rejects.summary());
  }
  let report: BuildReport | null = null;
  // The report goes next to the files before the manifest lists them, so a finished dataset
  // always has its report.
  const { manifest } = await assemble(
    out,
    paths,
    plan,
    ordered,
    Math.floor(memoryBytes / 2),
    async (files) => {
      report = {
        config: spec.config,
        survey: spec.provenance.survey,
        fingerprint: fp,
        rowsRead: plan!.scan.rowsRead,
        rows: files.reduce((s, f) => s + f.rows, 0),
        files: files.length,
        bytes: files.reduce((s, f) => s + f.bytes, 0),
        units: units.length,
        unitsReused: reused,
        seconds: (performance.now() - t0) / 1000,
        rejected: rejects.summary(),
        status: resumed || reused > 0 ? "resumed" : "built",
      };
      await mkdir(join(out, spec.config), { recursive: true });
      await writeJsonAtomic(reportPath, report);
      lock.assertHeld();
    },
  );
  if (!report) throw new InternalError("assemble did not call beforeManifest");
  const final: BuildReport = report;
  await removeState(paths);
  options.onProgress?.({
    phase: "done",
    rows: final.rows,
    total: validRows,
    unitsDone: units.length,
    unitsTotal: units.length,
  });
  return { manifest, report: final, reportPath };
}

/**
 * The modality columns a spec fixes by itself (stamps of its stampSize; a spectrum or cube of
 * the length it gives), with its catalog columns' fixed string lengths; sizes that only the
 * files tell are checked once the plan has them.
 */
async function specColumns(spec: ResolvedSpec): Promise<ColumnSpec[]> {
  const cols: ColumnSpec[] = [];
  for (const [name, src] of Object.entries(spec.catalog.columns)) {
    if (typeof src !== "string" && src.stringLength !== undefined)
      cols.push({ name, dtype: "string", shape: [], stringLength: src.stringLength });
  }
  if (spec.image) {
    const { imageColumns } = await import("./image.ts");
    cols.push(
      ...imageColumns(
        spec.image.bands.map((b) => b.label),
        spec.image.stampSize,
      ),
    );
  } else if (spec.spectrum?.length) {
    const { spectrumColumns } = await import("./spectrum.ts");
    cols.push(...spectrumColumns(spec.spectrum.length, ""));
  } else if (spec.ifu?.spaxels && spec.ifu.length) {
    const { ifuColumns } = await import("./ifu.ts");
    cols.push(
      ...ifuColumns({
        kind: "ifu",
        spaxels: spec.ifu.spaxels,
        length: spec.ifu.length,
        maps: (spec.ifu.maps ?? []).map((m) => m.label),
        fluxUnit: "",
      }),
    );
  }
  return cols;
}

/** The spec field that sets the size of an output column, for messages. */
function fieldOf(spec: ResolvedSpec, column: string): string {
  if (spec.image && column.startsWith("image_"))
    return `image.stampSize ${spec.image.stampSize} (x ${spec.image.bands.length} bands)`;
  if (spec.spectrum && column.startsWith("spectrum_"))
    return spec.spectrum.length
      ? `spectrum.length ${spec.spectrum.length}`
      : "the spectrum length of the first spectrum file (set spectrum.length)";
  if (spec.ifu && column.startsWith("ifu_"))
    return spec.ifu.spaxels && spec.ifu.length
      ? `ifu.spaxels ${spec.ifu.spaxels} and ifu.length ${spec.ifu.length}`
      : "the cube size of the first cube file (set ifu.spaxels and ifu.length)";
  return `catalog.columns.${column}.stringLength`;
}

/**
 * One output row times ROWS_IN_MEMORY must fit in the memory budget: a SpecError (exit 2)
 * naming the spec field that makes the row that large, and the bytes.
 */
function checkRowMemory(columns: ColumnSpec[], spec: ResolvedSpec, memoryBytes: number): void {
  let row = 0n;
  let largest: ColumnSpec | undefined;
  let largestBytes = -1n;
  for (const c of columns) {
    const b = exactBytesPerRow(c);
    row += b;
    if (b > largestBytes) {
      largest = c;
      largestBytes = b;
    }
  }
  if (!largest) return;
  checkAllocation(
    sizeProduct(row, ROWS_IN_MEMORY),
    `${fieldOf(spec, largest.name)}: one output row is ${row} bytes (column ${largest.name} ${largestBytes}), and a build holds up to ${ROWS_IN_MEMORY} rows at once, which`,
    { detail: `builder spec of config "${spec.config}"` },
    memoryBytes,
    SpecError,
    "raise --memory (memoryBytes) or make the rows smaller",
  );
}

function emptyReport(spec: ResolvedSpec, fp: string): BuildReport {
  return {
    config: spec.config,
    survey: spec.provenance.survey,
    fingerprint: fp,
    rowsRead: 0,
    rows: 0,
    files: 0,
    bytes: 0,
    units: 0,
    unitsReused: 0,
    seconds: 0,
    rejected: { count: 0, byReason: {}, sample: [] },
    status: "unchanged",
  };
}

/** Reads a build report written next to a config's files. */
export async function readReport(out: string, config: string): Promise<BuildReport | null> {
  const path = join(out, config, REPORT_NAME);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new CorruptFileError(`cannot read the build report: ${(err as Error).message}`, {
      file: path,
    });
  }
  try {
    return JSON.parse(text) as BuildReport;
  } catch (err) {
    throw new CorruptFileError(`build report is not valid JSON: ${(err as Error).message}`, {
      file: path,
    });
  }
}

export { sourceName };
