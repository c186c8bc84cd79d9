// `astropile build` and `astropile demo`: options and help. The actions (and the HDF5 library
// they need) load only when one of these commands runs, so other commands start fast.
import { cpus } from "node:os";
import type { Command } from "commander";
import type { BuildFlags, DemoFlags } from "./build-actions.ts";
import { action } from "./format.ts";

const DEFAULT_SEED = 20261122;
const defaultWorkers = () => Math.max(1, Math.min(8, cpus().length));
const BUILD_HELP = `
The spec is JSON: where the survey's files are and how their columns map to the dataset.
  config, provenance {survey, release}, root (default: the spec's folder)
  catalog   {files: glob(s) of CSV/ECSV/FITS, columns: {output: source | {from, dtype, unit,
             description, required, range, fill}}}; must map object_id, ra and dec (degrees);
             CSV: delimiter (default ","), comment (a character: lines starting with it are skipped)
  image     {kind: "tiles", stampSize (pixels), bands: [{label, files}], hdus {image, variance|ivar|sigma,
             mask}, maskBad: [plane names] | bitmask, zeropoint (AB) | keyword, psfFwhm (arcsec) | keyword}
            or {kind: "cutouts", file: "cutouts/{object_id}.fits", bands: [{label, hdu}], stampSize}
  spectrum  {file: "spectra/coadd-{HEALPIX}.fits" ({NAME} = catalog column), idHdu, idColumn,
             wavelength, flux, ivar|variance|sigma, mask, lsfSigma (HDUs), length}
  ifu       {file: "cubes/manga-{PLATEIFU}-LOGCUBE.fits", flux, ivar, mask, wavelength, lsfSigma (HDUs),
             spaxelSize (arcsec) | keyword, maps: [{label, file, hdu}]}
  build     {layout: "adaptive" (default: pixels sized by the data) | "mmu" (Multimodal Universe's
             order-4 healpix=N), maxRowsPerFile (1,000,000), fileBytes (uncompressed, 128 MiB),
             compression: "gzip"|"none", unitBytes (uncompressed bytes of a work unit, 64 MiB)}
Print a complete example: astropile build --print-spec hsc   (or desi, manga)

Rows that fail validation (unparseable values, NaN or out-of-range positions, no tile or
spectrum for the object) are rejected with the reason and listed in <out>/<config>/build-report.json;
when every row is rejected the build fails (exit 1) and writes nothing.
Killed at any point, the same command resumes: finished work units are reused after their files
are checked against their sha256. One writer per output: while a build (or another writer)
holds DIR/.astropile.lock, a second one fails at once naming the holder, or waits with --wait; a
lock whose process is gone is taken over, and what the killed run left is cleaned up. Exit codes: 0 built (or already built), 1 bad input data or
I/O error, 2 bad arguments or spec.`;

export function registerBuildCommands(program: Command): void {
  program
    .command("build")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("[spec]", "builder spec (JSON file)")
    .description(
      "Build a parent dataset (HDF5 files partitioned by HEALPix) from a survey's files, as a builder spec describes them.",
    )
    .option("--out <dir>", "output dataset directory (created; other configs in it are kept)")
    .option(
      "--workers <n>",
      `worker threads building units (default: up to the CPU count, here ${defaultWorkers()}, fewer for small builds); a catalog of 256 MiB or more (one plain CSV, or several files) is also scanned on two threads, unless --workers 1`,
    )
    .option(
      "--memory <size>",
      "memory budget for sort buffers and tile caches, e.g. 2G (10^9 bytes) or 2GiB (2^30; default 512MiB)",
    )
    .option("--json", "print the build report as JSON on stdout")
    .option("--quiet", "no progress on stderr")
    .option(
      "--wait",
      "if another process is writing the output (its lock DIR/.astropile.lock is held), wait for it to finish instead of failing at once",
    )
    .option(
      "--print-spec <name>",
      "print the built-in spec of a synthetic survey (hsc, desi or manga) and exit",
    )
    .addHelpText("after", BUILD_HELP)
    .action(
      action(async (specPath: string | undefined, flags: BuildFlags) =>
        (await import("./build-actions.ts")).buildCommand(specPath, flags),
      ),
    );

  program
    .command("demo")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .description(
      "Generate the synthetic surveys (HSC-like imaging tiles + catalog, DESI-like spectra + redshift catalog) and build both parent datasets; prints what was built.",
    )
    .option("--out <dir>", "directory for the sources and the datasets", "demo-data")
    .option(
      "--size <size>",
      "tiny (~120 images, ~50 spectra: a quick try), small (~1,100 / ~400) or medium",
      "small",
    )
    .option("--seed <n>", "random seed of the synthetic sky", String(DEFAULT_SEED))
    .option("--workers <n>", `worker threads (default ${defaultWorkers()})`)
    .option("--stamp <pixels>", "image stamp size in pixels (0.168 arcsec each)", "64")
    .option("--json", "print the summary as JSON")
    .option("--quiet", "no progress on stderr")
    .addHelpText(
      "after",
      "\nLayout: DIR/sources/{hsc,desi} (raw FITS, CSV, ECSV), DIR/hsc and DIR/desi (datasets).\nRe-running reuses the sources and the finished datasets.",
    )
    .action(action(async (flags: DemoFlags) => (await import("./build-actions.ts")).demo(flags)));
}
