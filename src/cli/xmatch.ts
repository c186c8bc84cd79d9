// `astropile xmatch LEFT RIGHT --radius ARCSEC`: a thin layer over crossMatch. The library
// loads only when the command runs, so other commands start fast.
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../errors.ts";
import { action, formatCount, numberOption, out, printJson, table } from "./format.ts";

export interface XmatchFlags {
  radius?: string;
  mode?: string;
  neighbors?: string;
  how?: string;
  out?: string;
  catalogOnly?: boolean;
  json?: boolean;
  leftConfig?: string;
  rightConfig?: string;
  limit?: string;
}

export function registerXmatchCommand(program: Command): void {
  program
    .command("xmatch")
    .exitOverride()
    .argument("<left>", "left dataset directory")
    .argument("<right>", "right dataset directory")
    .description(
      "Cross-match two datasets by sky position, pixel by pixel (never both catalogs in memory); pairs within --radius arcsec, no pair lost at pixel or file borders.",
    )
    .option("--radius <arcsec>", "match radius (arcseconds); a pair at exactly the radius is kept")
    .option(
      "--mode <mode>",
      "nearest (the nearest right rows per left row) or all (every pair)",
      "nearest",
    )
    .option("--neighbors <n>", "right rows kept per left row in nearest mode", "1")
    .option("--how <how>", "inner (matched rows) or left (also unmatched left rows)", "inner")
    .option(
      "--out <dir>",
      "write the matched rows as a new dataset (right columns prefixed right.)",
    )
    .option("--catalog-only", "with --out: write only the pair catalog, as DIR/xmatch.csv")
    .option("--left-config <name>", "config of the left dataset")
    .option("--right-config <name>", "config of the right dataset")
    .option("--limit <n>", "pairs printed without --out (default 20; --json prints all)")
    .option("--json", "print the summary (and without --out the pairs) as JSON")
    .action(
      action(async (left: string, right: string, flags: XmatchFlags) => xmatch(left, right, flags)),
    );
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number" && Number.isNaN(v)) return "";
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export async function xmatch(leftDir: string, rightDir: string, flags: XmatchFlags): Promise<void> {
  const radius = numberOption(flags.radius, "--radius", (x) => x > 0 && x <= 648000);
  if (radius === undefined) throw new UsageError("--radius ARCSEC is required");
  const mode = flags.mode ?? "nearest";
  if (mode !== "nearest" && mode !== "all") {
    throw new UsageError(`--mode must be nearest or all, not ${JSON.stringify(mode)}`);
  }
  const how = flags.how ?? "inner";
  if (how !== "inner" && how !== "left") {
    throw new UsageError(`--how must be inner or left, not ${JSON.stringify(how)}`);
  }
  const k = numberOption(flags.neighbors, "--neighbors", (x) => Number.isInteger(x) && x >= 1);
  const limit = numberOption(flags.limit, "--limit", (x) => Number.isInteger(x) && x >= 0) ?? 20;
  if (flags.catalogOnly && !flags.out) throw new UsageError("--catalog-only needs --out DIR");
  const { openDataset } = await import("../dataset/index.ts");
  const { crossMatch } = await import("../xmatch/crossmatch.ts");
  const left = await openDataset(resolve(leftDir), { config: flags.leftConfig });
  const right = await openDataset(resolve(rightDir), { config: flags.rightConfig });
  const started = performance.now();
  const tty = process.stderr.isTTY;
  const { catalog, dataset, stats } = await crossMatch(left, right, {
    radiusArcsec: radius,
    mode,
    how,
    nNeighbors: k,
    onProgress: (p) => {
      // Progress on stderr: a rewritten line on a terminal, a few lines otherwise.
      const line = `xmatch: pixel ${p.pixelsDone}/${p.pixelsTotal}, ${formatCount(p.leftRows)} left rows, ${formatCount(p.pairs)} pairs`;
      if (tty) process.stderr.write(`\r${line}`);
      else if (p.pixelsDone === p.pixelsTotal || p.pixelsDone % 100 === 0)
        process.stderr.write(`${line}\n`);
    },
  });
  if (tty) process.stderr.write("\n");
  const seconds = (performance.now() - started) / 1000;
  let written: string | undefined;
  if (flags.out) {
    const dir = resolve(flags.out);
    if (flags.catalogOnly) {
      await mkdir(dir, { recursive: true });
      written = join(dir, "xmatch.csv");
      const cols = Object.keys(catalog).filter((c) => c !== "length") as Array<
        Exclude<keyof typeof catalog, "length">
      >;
      const lines = [cols.join(",")];
      for (let i = 0; i < catalog.length; i++) {
        lines.push(cols.map((c) => csvCell((catalog[c] as ArrayLike<unknown>)[i])).join(","));
      }
      // Written whole then renamed: a reader never sees half a file.
      await writeFile(`${written}.tmp`, `${lines.join("\n")}\n`);
      const { rename } = await import("node:fs/promises");
      await rename(`${written}.tmp`, written);
    } else {
      await dataset.saveToDisk(dir);
      written = dir;
    }
  }
  const matchedLeft = new Set<number>();
  for (let i = 0; i < catalog.length; i++) {
    if (catalog.right_index[i]! >= 0) matchedLeft.add(catalog.left_index[i]!);
  }
  const summary = {
    left: resolve(leftDir),
    right: resolve(rightDir),
    radiusArcsec: radius,
    mode,
    how,
    rows: catalog.length,
    leftRows: left.length,
    rightRows: right.length,
    leftMatched: matchedLeft.size,
    pixels: stats.pixels,
    leftFilesRead: stats.leftFilesRead,
    rightFilesRead: stats.rightFilesRead,
    seconds,
    out: written ?? null,
  };
  const names = [
    "left_object_id",
    "right_object_id",
    "sep_arcsec",
    "ra",
    "dec",
    "healpix",
  ] as const;
  if (flags.json) {
    const body: Record<string, unknown> = { ...summary };
    if (!flags.out) {
      body.pairs = Array.from({ length: catalog.length }, (_, i) =>
        Object.fromEntries(
          (Object.keys(catalog) as Array<keyof typeof catalog>)
            .filter((c) => c !== "length")
            .map((c) => [c, (catalog[c] as ArrayLike<unknown>)[i]]),
        ),
      );
    }
    printJson(body);
    return;
  }
  out(
    `${formatCount(catalog.length)} rows: ${formatCount(matchedLeft.size)} of ${formatCount(left.length)} left rows matched within ${radius}" (${mode}, ${how}) in ${seconds.toFixed(1)} s; read ${stats.leftFilesRead} left and ${stats.rightFilesRead} right files`,
  );
  if (written) out(`wrote ${written}`);
  else {
    const n = Math.min(limit, catalog.length);
    const rows = Array.from({ length: n }, (_, i) =>
      names.map((c) => {
        const v = catalog[c][i];
        return typeof v === "number" && c !== "healpix"
          ? v.toFixed(c === "sep_arcsec" ? 4 : 6)
          : csvCell(v);
      }),
    );
    if (n > 0) out(table([...names], rows, [false, false, true, true, true, true]));
    if (n < catalog.length)
      out(`(${n} of ${formatCount(catalog.length)} rows; --out DIR to keep them all)`);
  }
}
