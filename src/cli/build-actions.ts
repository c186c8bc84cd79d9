// Actions of `astropile build` and `astropile demo` (loaded when one of them runs): thin layers
// over src/build and src/demo. Progress goes to stderr, results to stdout (summary or JSON).
import { join, resolve } from "node:path";
import { type BuildReport, type BuildResult, build, loadSpec } from "../build/index.ts";
import { reasonKind } from "../build/plan.ts";
import { STATE_DIR } from "../build/state.ts";
import { UsageError } from "../core/errors.ts";
import { formatBytes, parseBytes } from "../core/units.ts";
// The demo (and the synthetic sky it draws) loads only for `demo` and `--print-spec`.
import type { BuiltinName, DemoResult } from "../demo/index.ts";
import { pixelRunName } from "../storage/layout.ts";
import {
  areaText,
  countOf,
  formatCount,
  formatSeconds,
  numberOption,
  out,
  printJson,
} from "./format.ts";
import { buildStep, progress, sourcesStep } from "./progress.ts";

export interface BuildFlags {
  out?: string;
  workers?: string;
  memory?: string;
  json?: boolean;
  quiet?: boolean;
  printSpec?: string;
  wait?: boolean;
}

function workersOption(value: string | undefined): number | undefined {
  return numberOption(value, "--workers", { integer: true, min: 1, max: 256 });
}

function rejectLines(report: BuildReport, reportPath: string): string[] {
  if (report.rejected.count === 0) return [];
  const lines = [
    `  rejected ${formatCount(report.rejected.count)} row(s), kept out of the dataset (details: ${reportPath}):`,
  ];
  for (const [kind, n] of Object.entries(report.rejected.byReason)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)) {
    lines.push(`    ${String(n).padStart(7)}  ${kind}`);
    // The grouped kind drops numbers and details (say, which "fill" value would keep the row):
    // the first row of that kind is shown whole.
    const example = report.rejected.sample.find((r) => reasonKind(r.stage, r.reason) === kind);
    if (example && `${example.stage}: ${example.reason}` !== kind)
      lines.push(`             e.g. ${example.file} row ${example.row}: ${example.reason}`);
  }
  return lines;
}

function reportJson(r: BuildResult, out: string) {
  return { out, reportPath: r.reportPath, ...r.report, repeatedIds: repeatedIdsOf(r) };
}

/** Rows of the built config whose object_id another row has already (0 without an index). */
function repeatedIdsOf(r: BuildResult): number {
  return r.manifest.configs[r.report.config]?.idIndex?.repeatedIds ?? 0;
}

async function runBuild(
  spec: Parameters<typeof build>[0],
  outDir: string,
  flags: BuildFlags,
  label: string,
): Promise<BuildResult> {
  const view = progress(label, { quiet: flags.quiet });
  // Ctrl-C (or a scheduler's SIGTERM) ends the build at once, as it always did; now it also says
  // that the work done is not lost. The lock is released by the exit handler (core/lock.ts).
  const onSignal = (signal: NodeJS.Signals) => {
    view.stop();
    process.stderr.write(
      `\nastropile: build ${label} interrupted (${signal}): it did not finish; the work units it had built are kept in ${join(resolve(outDir), STATE_DIR)}, and running the same command again resumes from them\n`,
    );
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await build(spec, {
      out: outDir,
      wait: flags.wait,
      workers: workersOption(flags.workers),
      memoryBytes: flags.memory ? parseBytes(flags.memory, "--memory") : undefined,
      onProgress: (p) => {
        const step = buildStep(p);
        if (step) view.update(step);
        else view.stop();
      },
      log: (line) => view.log(`${label} ${line}`),
    });
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    view.stop();
  }
}

export async function buildCommand(specPath: string | undefined, flags: BuildFlags): Promise<void> {
  if (flags.printSpec) {
    const { BUILTIN_NAMES, builtinSpecJson } = await import("../demo/index.ts");
    const name = flags.printSpec as BuiltinName;
    if (!BUILTIN_NAMES.includes(name))
      throw new UsageError(
        `--print-spec takes ${BUILTIN_NAMES.join(", ")}, not "${flags.printSpec}"`,
      );
    out(builtinSpecJson(name));
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
    `${verb}: ${rep.survey} ${rep.config} in ${outDir}: ${formatCount(rep.rows)} rows in ${countOf(rep.files, "file")}, ${formatBytes(rep.bytes)}, ${formatSeconds(rep.seconds)}`,
  );
  for (const line of rejectLines(rep, r.reportPath)) out(line);
  const repeated = repeatedIdsOf(r);
  if (repeated > 0)
    out(
      `  warning: ${formatCount(repeated)} row(s) repeat an object_id that another row has; getById gives one of them, filter("object_id == ID") all`,
    );
}

export interface DemoFlags extends BuildFlags {
  size: string;
  seed: string;
  stamp: string;
}

export async function demo(flags: DemoFlags): Promise<void> {
  if (flags.size !== "tiny" && flags.size !== "small" && flags.size !== "medium")
    throw new UsageError(`--size must be tiny, small or medium, not "${flags.size}"`);
  const seed = numberOption(flags.seed, "--seed", { integer: true, min: 0, max: 2 ** 32 - 1 })!;
  const stamp = numberOption(flags.stamp, "--stamp", { integer: true, min: 8, max: 512 })!;
  const shown = flags.out ?? "demo-data";
  const view = progress("", { quiet: flags.quiet });
  const { runDemo } = await import("../demo/index.ts");
  let result: DemoResult;
  try {
    result = await runDemo({
      out: shown,
      size: flags.size,
      seed,
      stampSize: stamp,
      workers: workersOption(flags.workers),
      memoryBytes: flags.memory ? parseBytes(flags.memory, "--memory") : undefined,
      onProgress: (p) => {
        const step = p.stage === "sources" ? sourcesStep(p) : buildStep(p.progress);
        const who = p.stage === "sources" ? "sources" : p.dataset;
        if (step) view.update({ ...step, phase: `[${who}] ${step.phase}` });
        else view.stop();
      },
      log: (line) => view.log(line),
    });
  } finally {
    view.stop();
  }
  if (flags.json) {
    printJson({
      out: result.out,
      size: result.size,
      seed: result.seed,
      seconds: result.seconds,
      sources: result.sources,
      datasets: result.datasets.map(({ key, dir, build, summary }) => ({
        key,
        dir,
        ...summary,
        report: build.report,
      })),
    });
    return;
  }
  printDemo(result, shown);
}

function printDemo(r: DemoResult, shown: string): void {
  const s = r.sources;
  out(`AstroPile demo: synthetic sky (size ${r.size}, seed ${r.seed}) in ${r.out}`);
  out(
    `  sources  ${s.tiles} FITS tiles (${s.fields} fields x ${s.patchesPerSide ** 2} patches x 5 bands, ${s.patchPixels}x${s.patchPixels} px),` +
      ` catalog of ${formatCount(s.catalogRows)} objects; ${s.spectraFiles} spectra files, ${formatCount(s.targets)} targets` +
      `  ${s.reused ? "(reused)" : formatSeconds(s.seconds)}`,
  );
  for (const { key, build, summary } of r.datasets) {
    const rep = build.report;
    const what =
      key === "hsc"
        ? `${r.stampSize}x${r.stampSize} px stamps (${(r.stampSize * 0.168).toFixed(1)} arcsec) in g,r,i,z,y, nanomaggies`
        : `spectra 3600-9824 Angstrom, 7781 px, 1e-17 erg/(s cm2 Angstrom), with z`;
    out(
      `  ${key.padEnd(7)}  ${rep.survey} ${rep.config}: ${formatCount(rep.rows)} objects, ${countOf(rep.files, "file")}, ${formatBytes(rep.bytes)}; ${what}` +
        `  ${rep.status === "unchanged" ? "(already built)" : formatSeconds(rep.seconds)}`,
    );
    const pixels = summary.pixels
      .slice(0, 8)
      .map(
        (p) =>
          `${p.order}/${pixelRunName(p.pixel, p.pixels)} (${p.ra.toFixed(1)}, ${p.dec >= 0 ? "+" : ""}${p.dec.toFixed(1)})`,
      );
    if (summary.pixels.length > 8) pixels.push("...");
    out(
      `           sky: ${areaText(summary.areaDeg2)} covered (order-${summary.coverageOrder} cells holding a row), ` +
        `${summary.layout} layout, ${summary.pixels.length} partitions (order/pixel or pixels, centre ra, dec in deg): ${pixels.join(", ")}`,
    );
    for (const line of rejectLines(rep, build.reportPath)) out(`  ${line}`);
  }
  out(`  total    ${formatSeconds(r.seconds)}`);
  out("");
  out("Next:");
  out(`  npx astropile info ${join(shown, "hsc")}`);
  out(`  npx astropile head ${join(shown, "desi")} -n 3 --columns object_id,ra,dec,z,SPECTYPE`);
  if (r.datasets[0].summary.pixels.length > 0)
    out(`  npx astropile cone ${join(shown, "hsc")} --ra 150.12 --dec 2.21 --radius 20`);
}
