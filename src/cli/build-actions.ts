// Actions of `astropile build` and `astropile demo` (loaded when one of them runs): thin layers
// over src/build and src/synth. Progress goes to stderr, results to stdout (summary or JSON).
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import {
  type BuildReport,
  type BuildResult,
  build,
  builtinSpec,
  builtinSpecJson,
  loadSpec,
} from "../build/index.ts";
import { writeJsonAtomic } from "../build/state.ts";
import { UsageError } from "../core/errors.ts";
import { parseBytes } from "../core/units.ts";
import { type DatasetSummary, summarizeDataset } from "../dataset/index.ts";
import { generateSurveys, PRESETS, type SynthResult } from "../synth/index.ts";
import {
  areaText,
  formatBytes,
  formatCount,
  formatSeconds,
  numberOption,
  out,
  printJson,
} from "./format.ts";
import { buildProgress } from "./progress.ts";

export interface BuildFlags {
  out?: string;
  workers?: string;
  memory?: string;
  json?: boolean;
  quiet?: boolean;
  printSpec?: string;
}

function workersOption(value: string | undefined): number | undefined {
  return numberOption(value, "--workers", (x) => Number.isInteger(x) && x >= 1 && x <= 256);
}

function rejectLines(report: BuildReport, reportPath: string): string[] {
  if (report.rejected.count === 0) return [];
  const lines = [
    `  rejected ${formatCount(report.rejected.count)} row(s), kept out of the dataset (details: ${reportPath}):`,
  ];
  for (const [kind, n] of Object.entries(report.rejected.byReason)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10))
    lines.push(`    ${String(n).padStart(7)}  ${kind}`);
  return lines;
}

function reportJson(r: BuildResult, out: string) {
  return { out, reportPath: r.reportPath, ...r.report };
}

async function runBuild(
  spec: Parameters<typeof build>[0],
  outDir: string,
  flags: BuildFlags,
  label: string,
): Promise<BuildResult> {
  const progress = buildProgress(label, { quiet: flags.quiet });
  try {
    return await build(spec, {
      out: outDir,
      workers: workersOption(flags.workers),
      memoryBytes: flags.memory ? parseBytes(flags.memory, "--memory") : undefined,
      onProgress: (p) => progress.update(p),
      log: (line) => progress.log(`${label} ${line}`),
    });
  } finally {
    progress.stop();
  }
}

export async function buildCommand(specPath: string | undefined, flags: BuildFlags): Promise<void> {
  if (flags.printSpec) {
    if (flags.printSpec !== "hsc" && flags.printSpec !== "desi" && flags.printSpec !== "manga")
      throw new UsageError(`--print-spec takes hsc, desi or manga, not "${flags.printSpec}"`);
    out(builtinSpecJson(flags.printSpec));
    return;
  }
  if (!specPath) throw new UsageError("missing SPEC: the builder spec file (see --help)");
  if (!flags.out) throw new UsageError("missing --out DIR: where to write the dataset");
  const spec = await loadSpec(specPath);
  const outDir = resolve(flags.out);
  const r = await runBuild(spec, outDir, flags, `[${spec.config}]`);
  if (flags.json) return printJson(reportJson(r, outDir));
  printBuilt(r, outDir);
}

function printBuilt(r: BuildResult, outDir: string): void {
  const rep = r.report;
  const verb =
    rep.status === "unchanged"
      ? "already built"
      : rep.status === "resumed"
        ? "built (resumed)"
        : "built";
  out(
    `${verb}: ${rep.survey} ${rep.config} in ${outDir}: ${formatCount(rep.rows)} rows in ${rep.files} files, ${formatBytes(rep.bytes)}, ${formatSeconds(rep.seconds)}`,
  );
  for (const line of rejectLines(rep, r.reportPath)) out(line);
}

export interface DemoFlags extends BuildFlags {
  size: string;
  seed: string;
  stamp: string;
}

interface SourcesMarker {
  size: string;
  seed: number;
  version: number;
  seconds: number;
  catalogRows: number;
  tiles: number;
  targets: number;
  spectraFiles: number;
}

/** Sources are reused when a marker says they were generated with the same size and seed. */
async function demoSources(
  dir: string,
  size: "tiny" | "small" | "medium",
  seed: number,
  quiet: boolean,
): Promise<SourcesMarker & { reused: boolean }> {
  const markerPath = join(dir, "synth.json");
  try {
    const m = JSON.parse(await readFile(markerPath, "utf8")) as SourcesMarker;
    if (m.size === size && m.seed === seed && m.version === 1) return { ...m, reused: true };
  } catch {
    // No marker: generate.
  }
  const t0 = performance.now();
  let lastLine = 0;
  const r: SynthResult = await generateSurveys({
    dir,
    size,
    seed,
    onProgress: (msg) => {
      if (quiet) return;
      const now = Date.now();
      if (process.stderr.isTTY) process.stderr.write(`\r[sources] ${msg}   `);
      else if (now - lastLine > 3000) {
        process.stderr.write(`[sources] ${msg}\n`);
        lastLine = now;
      }
    },
  });
  if (!quiet && process.stderr.isTTY) process.stderr.write("\n");
  const marker: SourcesMarker = {
    size,
    seed,
    version: 1,
    seconds: (performance.now() - t0) / 1000,
    catalogRows: r.hsc?.catalogRows ?? 0,
    tiles: r.hsc?.tiles.length ?? 0,
    targets: r.desi?.targets.length ?? 0,
    spectraFiles: r.desi?.spectraFiles.length ?? 0,
  };
  await writeJsonAtomic(markerPath, marker);
  return { ...marker, reused: false };
}

export async function demo(flags: DemoFlags): Promise<void> {
  if (flags.size !== "tiny" && flags.size !== "small" && flags.size !== "medium")
    throw new UsageError(`--size must be tiny, small or medium, not "${flags.size}"`);
  const seed = numberOption(
    flags.seed,
    "--seed",
    (x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32,
  )!;
  const stamp = numberOption(
    flags.stamp,
    "--stamp",
    (x) => Number.isInteger(x) && x >= 8 && x <= 512,
  )!;
  const root = resolve(flags.out ?? "demo-data");
  const t0 = performance.now();
  const sourcesDir = join(root, "sources");
  const sources = await demoSources(sourcesDir, flags.size, seed, !!flags.quiet);
  const results: Array<{ key: string; result: BuildResult; summary: DatasetSummary }> = [];
  for (const key of ["hsc", "desi"] as const) {
    const spec = builtinSpec(key, join(sourcesDir, key), { stampSize: stamp });
    const outDir = join(root, key);
    const result = await runBuild(spec, outDir, flags, `[${key}]`);
    results.push({ key, result, summary: await summarizeDataset(outDir, { config: spec.config }) });
  }
  const total = (performance.now() - t0) / 1000;
  if (flags.json) {
    printJson({
      out: root,
      size: flags.size,
      seed,
      seconds: total,
      sources: { ...sources, dir: sourcesDir },
      datasets: results.map(({ key, result, summary }) => ({
        key,
        dir: join(root, key),
        ...summary,
        report: result.report,
      })),
    });
    return;
  }
  const preset = PRESETS[flags.size];
  out(`AstroPile demo: synthetic sky (size ${flags.size}, seed ${seed}) in ${root}`);
  out(
    `  sources  ${sources.tiles} FITS tiles (${preset.layout.fields.length} fields x ${preset.layout.patchesPerSide ** 2} patches x 5 bands, ${preset.layout.patchPixels}x${preset.layout.patchPixels} px),` +
      ` catalog of ${formatCount(sources.catalogRows)} objects; ${sources.spectraFiles} spectra files, ${formatCount(sources.targets)} targets` +
      `  ${sources.reused ? "(reused)" : formatSeconds(sources.seconds)}`,
  );
  for (const { key, result, summary } of results) {
    const rep = result.report;
    const what =
      key === "hsc"
        ? `${stamp}x${stamp} px stamps (${((stamp * 0.168) / 1).toFixed(1)} arcsec) in g,r,i,z,y, nanomaggies`
        : `spectra 3600-9824 Angstrom, 7781 px, 1e-17 erg/(s cm2 Angstrom), with z`;
    out(
      `  ${key.padEnd(7)}  ${rep.survey} ${rep.config}: ${formatCount(rep.rows)} objects, ${rep.files} files, ${formatBytes(rep.bytes)}; ${what}` +
        `  ${rep.status === "unchanged" ? "(already built)" : formatSeconds(rep.seconds)}`,
    );
    const pixels = summary.pixels.map(
      (p) => `${p.pixel} (${p.ra.toFixed(1)}, ${p.dec >= 0 ? "+" : ""}${p.dec.toFixed(1)})`,
    );
    out(
      `           sky: ${areaText(summary.areaDeg2)} covered, in ${summary.pixels.length} HEALPix pixels (nside 16; centre ra, dec in deg): ${pixels.join(", ")}`,
    );
    for (const line of rejectLines(rep, result.reportPath)) out(`  ${line}`);
  }
  out(`  total    ${formatSeconds(total)}`);
  const hsc = results[0].summary.pixels[0];
  out("");
  out("Next:");
  out(`  npx astropile info ${join(flags.out ?? "demo-data", "hsc")}`);
  out(
    `  npx astropile head ${join(flags.out ?? "demo-data", "desi")} -n 3 --columns object_id,ra,dec,z,SPECTYPE`,
  );
  if (hsc)
    out(
      `  npx astropile cone ${join(flags.out ?? "demo-data", "hsc")} --ra 150.12 --dec 2.21 --radius 20`,
    );
}
