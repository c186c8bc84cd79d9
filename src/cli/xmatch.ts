// `astropile xmatch LEFT RIGHT --radius ARCSEC`: a thin layer over crossMatch. The library
// loads only when the command runs, so other commands start fast.
import { mkdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { MIN_MEMORY_BYTES } from "../core/budget.ts";
import { UsageError, WriteError } from "../core/errors.ts";
import { describeLockHolder, type WriterLock } from "../core/lock.ts";
import { parseBytes } from "../core/units.ts";
import {
  type CatalogColumn,
  CatalogText,
  catalogColumns,
  catalogRow,
  type MatchCatalog,
} from "../xmatch/catalog.ts";
import { action, formatCount, numberOption, out, printJson, table } from "./format.ts";
import { crossMatchStep, progress } from "./progress.ts";

export interface XmatchFlags {
  radius?: string;
  minRadius?: string;
  mode?: string;
  neighbors?: string;
  how?: string;
  out?: string;
  catalogOnly?: boolean;
  locations?: boolean;
  json?: boolean;
  leftConfig?: string;
  rightConfig?: string;
  limit?: string;
  threads?: string;
  memory?: string;
  quiet?: boolean;
  wait?: boolean;
  layout?: string;
}

export function registerXmatchCommand(program: Command): void {
  program
    .command("xmatch")
    .exitOverride()
    .argument("<left>", "left dataset directory or URL (http(s)://, s3://)")
    .argument("<right>", "right dataset directory or URL (http(s)://, s3://)")
    .description(
      "Cross-match two datasets by sky position: pairs within --radius arcsec, no pair lost at pixel or file borders. Sides that fit the memory budget are matched whole in one pass; larger ones out of core (runs of neighbouring files on worker threads, never a whole catalog in memory). Reads ra, dec, object_id from each config's positions.hdf5 (`astropile index DIR` adds it to older datasets).",
    )
    .option("--radius <arcsec>", "match radius (arcseconds); a pair at exactly the radius is kept")
    .option(
      "--min-radius <arcsec>",
      "minimum separation (arcseconds, default 0, less than --radius): closer pairs are not matches, e.g. 1e-6 so an object does not match itself",
    )
    .option(
      "--mode <mode>",
      "nearest (the nearest right rows per left row) or all (every pair)",
      "nearest",
    )
    .option("--neighbors <n>", "right rows kept per left row in nearest mode", "1")
    .option(
      "--how <how>",
      "inner (matched rows) or left (also unmatched left rows: matched=false, right fields empty/null)",
      "inner",
    )
    .option(
      "--out <dir>",
      "write the matched rows as a new dataset (right columns prefixed right.)",
    )
    .option(
      "--catalog-only",
      "with --out: write only the pair catalog, as DIR/xmatch.csv, or as FILE when --out names a .csv file (left_object_id, right_object_id, sep_arcsec, left_ra, left_dec, right_ra, right_dec; matched with --how left)",
    )
    .option(
      "--locations",
      "the catalog (CSV, --json pairs) also says where each row is stored: left_file, left_row, left_index, right_file, right_row, right_index (files relative to each dataset's directory)",
    )
    .option(
      "--wait",
      "with --out: if another process is writing DIR (its lock DIR/.astropile.lock is held), wait for it to finish instead of failing at once",
    )
    .option(
      "--layout <layout>",
      "with --out (not --catalog-only): the new dataset's partition layout, adaptive (files sized by the data) or mmu (Multimodal Universe's fixed order-4 healpix=N directories, for MMU's loaders); default adaptive",
    )
    .option("--left-config <name>", "config of the left dataset")
    .option("--right-config <name>", "config of the right dataset")
    .option(
      "--threads <n>",
      "worker threads of a match by units (default: one per core when there is more than one unit of work; 0 matches in the main thread); N >= 1 matches by units even when both sides would fit in memory",
    )
    .option(
      "--memory <size>",
      "memory budget, e.g. 2G (10^9 bytes) or 2GiB (2^30): bounds the rows each thread matches at once (default: units of up to 2.5M rows), and --out reads and writes within it whatever the output size (default 512MiB); the pair catalog itself, ~100 bytes a pair, comes on top",
    )
    .option("--limit <n>", "pairs printed without --out (default 20; --json prints all)")
    .option("--json", "print the summary (and without --out the pairs) as JSON")
    .option("--quiet", "no progress on stderr")
    .action(
      action(async (left: string, right: string, flags: XmatchFlags) => xmatch(left, right, flags)),
    );
}

/**
 * `--catalog-only --out PATH`: PATH itself when it names a .csv file (not an existing directory);
 * null for a directory, which gets DIR/xmatch.csv.
 */
async function catalogFile(path: string): Promise<string | null> {
  if (!path.toLowerCase().endsWith(".csv")) return null;
  const isDir = await stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );
  return isDir ? null : path;
}

export async function xmatch(leftDir: string, rightDir: string, flags: XmatchFlags): Promise<void> {
  const radius = numberOption(flags.radius, "--radius", { above: 0, max: 648000 });
  if (radius === undefined) throw new UsageError("--radius ARCSEC is required");
  const minRadius = numberOption(flags.minRadius, "--min-radius", { min: 0 }) ?? 0;
  if (minRadius >= radius) {
    throw new UsageError(`--min-radius ${minRadius} must be less than --radius ${radius} (arcsec)`);
  }
  const mode = flags.mode ?? "nearest";
  if (mode !== "nearest" && mode !== "all") {
    throw new UsageError(`--mode must be nearest or all, not ${JSON.stringify(mode)}`);
  }
  const how = flags.how ?? "inner";
  if (how !== "inner" && how !== "left") {
    throw new UsageError(`--how must be inner or left, not ${JSON.stringify(how)}`);
  }
  const k = numberOption(flags.neighbors, "--neighbors", { integer: true, min: 1 });
  const limit = numberOption(flags.limit, "--limit", { integer: true, min: 0 }) ?? 20;
  if (flags.catalogOnly && !flags.out)
    throw new UsageError("--catalog-only needs --out DIR (or --out FILE.csv)");
  if (flags.wait && !flags.out) throw new UsageError("--wait needs --out DIR");
  const layout = flags.layout; // checked here, passed on by xmatchLocked (flags)
  if (layout !== undefined && layout !== "adaptive" && layout !== "mmu")
    throw new UsageError(`--layout must be adaptive or mmu, not ${JSON.stringify(layout)}`);
  if (layout !== undefined && (!flags.out || flags.catalogOnly))
    throw new UsageError("--layout needs --out DIR (a dataset, not --catalog-only)");
  const threads = numberOption(flags.threads, "--threads", { integer: true, min: 0 });
  const memoryBytes = flags.memory === undefined ? undefined : parseBytes(flags.memory, "--memory");
  if (memoryBytes !== undefined && memoryBytes < MIN_MEMORY_BYTES)
    throw new UsageError(`--memory must be at least 16MiB, got ${flags.memory}`);
  const csvFile = flags.out && flags.catalogOnly ? await catalogFile(resolve(flags.out)) : null;
  if (flags.wait && csvFile)
    throw new UsageError("--wait needs --out DIR: a catalog written as FILE.csv takes no lock");
  // The file's folder made now, as a directory output is, so that a bad path fails before the
  // match (and after every usage check, so that a refused command leaves nothing).
  if (csvFile)
    await mkdir(dirname(csvFile), { recursive: true }).catch((e: Error) => {
      throw new WriteError(`cannot create the folder of ${csvFile}: ${e.message}`, {
        file: csvFile,
      });
    });
  // The output's lock before any work: a second writer of DIR fails now, not after the match.
  // A catalog written as a file of its own has none: it appears whole, by rename, or not at all.
  const { lockOutput } = await import("../storage/output-lock.ts");
  const lock =
    flags.out && !csvFile
      ? await lockOutput(resolve(flags.out), {
          wait: flags.wait,
          command: flags.catalogOnly ? "xmatch --catalog-only" : "xmatch --out",
          onWait: (h) =>
            process.stderr.write(
              `astropile: waiting for ${resolve(flags.out!)}: locked by ${describeLockHolder(h)}\n`,
            ),
          log: (line) => {
            if (!flags.quiet) process.stderr.write(`astropile: ${line}\n`);
          },
        })
      : null;
  try {
    await xmatchLocked(leftDir, rightDir, flags, lock, {
      radius,
      minRadius,
      mode,
      how,
      k,
      limit,
      threads,
      memoryBytes,
      csvFile,
    });
  } finally {
    await lock?.release();
  }
}

async function xmatchLocked(
  leftDir: string,
  rightDir: string,
  flags: XmatchFlags,
  lock: WriterLock | null,
  o: {
    radius: number;
    minRadius: number;
    mode: "nearest" | "all";
    how: "inner" | "left";
    k: number | undefined;
    limit: number;
    threads: number | undefined;
    /** The catalog's own file (`--out FILE.csv`), or null. */
    csvFile: string | null;
    memoryBytes: number | undefined;
  },
): Promise<void> {
  const { radius, minRadius, mode, how, k, limit, threads, memoryBytes } = o;
  const { openDataset } = await import("../dataset/index.ts");
  const { crossMatch, writeCatalogCsv } = await import("../xmatch/crossmatch.ts");
  const { datasetRootOf } = await import("../interop/mmu-adopt.ts");
  const left = await openDataset(await datasetRootOf(leftDir), { config: flags.leftConfig });
  const right = await openDataset(await datasetRootOf(rightDir), { config: flags.rightConfig });
  const started = performance.now();
  const view = progress("xmatch", { quiet: flags.quiet });
  let result: Awaited<ReturnType<typeof crossMatch>>;
  try {
    result = await crossMatch(left, right, {
      radiusArcsec: radius,
      minRadiusArcsec: minRadius,
      mode,
      how,
      nNeighbors: k,
      threads,
      memoryBytes,
      onProgress: flags.quiet ? undefined : (p) => view.update(crossMatchStep(p)),
    });
  } finally {
    view.stop();
  }
  const { catalog, dataset, stats } = result;
  const seconds = (performance.now() - started) / 1000;
  const locations = flags.locations === true;
  let written: string | undefined;
  if (flags.out) {
    const dir = resolve(flags.out);
    if (flags.catalogOnly) {
      written = o.csvFile ?? join(dir, "xmatch.csv");
      lock?.assertHeld();
      await writeCatalogCsv(catalog, written, { locations });
    } else {
      await dataset.saveToDisk(dir, {
        lock: lock ?? undefined,
        layout: flags.layout as "adaptive" | "mmu" | undefined,
      });
      written = dir;
    }
  }
  const summary = {
    left: resolve(leftDir),
    right: resolve(rightDir),
    radiusArcsec: radius,
    minRadiusArcsec: minRadius,
    mode,
    how,
    rows: catalog.length,
    leftRows: left.length,
    rightRows: right.length,
    leftMatched: stats.leftMatched,
    inMemory: stats.inMemory,
    units: stats.units,
    threads: stats.threads,
    rightRowsRead: stats.rightRowsRead,
    positionsSidecar: { left: stats.leftSidecar, right: stats.rightSidecar },
    seconds,
    out: written ?? null,
  };
  if (flags.json) {
    if (flags.out) printJson(summary);
    else printPairsJson(summary, catalog, catalogColumns(catalog, { locations }));
    return;
  }
  const within = minRadius > 0 ? `${radius}" and at least ${minRadius}" apart` : `${radius}"`;
  const where = stats.inMemory
    ? "in memory"
    : `on ${stats.threads || 1} thread(s), ${formatCount(stats.units)} units`;
  out(
    `${formatCount(catalog.length)} rows: ${formatCount(stats.leftMatched)} of ${formatCount(left.length)} left rows matched within ${within} (${mode}, ${how}) in ${seconds.toFixed(2)} s ${where}`,
  );
  if (!stats.leftSidecar || !stats.rightSidecar) {
    out(
      "note: a side has no positions sidecar (written before it existed), so positions were read from every partition file; `astropile index DIR` adds one",
    );
  }
  if (written) out(`wrote ${written}`);
  else {
    const names: CatalogColumn[] = catalogColumns(catalog, { locations });
    const n = Math.min(limit, catalog.length);
    const rows = Array.from({ length: n }, (_, i) => {
      const row = catalogRow(catalog, i, { locations });
      return names.map((c) => {
        const v = row[c];
        if (typeof v !== "number" || c.endsWith("_row") || c.endsWith("_index"))
          return String(v ?? "");
        return v.toFixed(c === "sep_arcsec" ? 4 : 6);
      });
    });
    if (n > 0)
      out(
        table(
          names,
          rows,
          names.map(
            (c) => c !== "left_object_id" && c !== "right_object_id" && !c.endsWith("_file"),
          ),
        ),
      );
    if (n < catalog.length)
      out(`(${n} of ${formatCount(catalog.length)} rows; --out DIR to keep them all)`);
  }
}

/**
 * The summary as JSON with every catalog row in `pairs` (one row a line, numbers as in the
 * CSV), written in blocks as they are formatted, never the whole text in memory.
 */
function printPairsJson(
  summary: Record<string, unknown>,
  catalog: MatchCatalog,
  columns: CatalogColumn[],
): void {
  const opening = JSON.stringify({ ...summary, pairs: [] }, null, 2);
  // `"pairs": []\n}` ends the text: open the array there, fill it, close it.
  const cut = opening.lastIndexOf("[]");
  process.stdout.write(`${opening.slice(0, cut)}[`);
  const text = new CatalogText(catalog, columns, true);
  const BLOCK = 16_384;
  for (let s = 0; s < catalog.length; s += BLOCK) {
    process.stdout.write(s === 0 ? "\n    " : ",\n    ");
    const lines = text.lines(s, Math.min(catalog.length, s + BLOCK), ",\n    ");
    // The block's last line ends in a newline: the separator or the closing comes next.
    process.stdout.write(lines.subarray(0, lines.length - 1));
  }
  out(`${catalog.length > 0 ? "\n  " : ""}]${opening.slice(cut + 2)}`);
}
