// `astropile info | head | cone | index DIR`: options and help; the actions load when a command runs.
import type { Command } from "commander";
import type { ConeFlags, IndexFlags, InfoFlags, RowsFlags } from "./data-actions.ts";
import { action } from "./format.ts";

export function registerDataCommands(program: Command): void {
  program
    .command("info")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("<dir>", "dataset directory (holds astropile.json), or its http(s):// or s3:// URL")
    .description(
      "Summarise a dataset: provenance, layout, configs, rows, files, sizes, partition pixels per HEALPix order and their area, the sky coverage (occupied cells at a stated order), the schema (dtype, shape, unit), and the densest pixels.",
    )
    .option("--config <name>", "only this config")
    .option("--pixels", "list every partition pixel, not only the 10 densest")
    .option(
      "--coverage",
      "compute the sky coverage of configs of any size: it reads every row's _healpix_29 key (without it, configs of more than 5,000,000 rows show none)",
    )
    .option(
      "--coverage-order <k>",
      "HEALPix order of the coverage cells, 0-12 (default: the finest order whose occupied cells hold 10 rows on average)",
    )
    .option("--json", "print everything as JSON (every pixel)")
    .action(
      action(async (dir: string, flags: InfoFlags) =>
        (await import("./data-actions.ts")).info(dir, flags),
      ),
    );

  program
    .command("head")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("<dir>", "dataset directory, or its http(s):// or s3:// URL")
    .description(
      "Print the first rows. Arrays (images, spectra) show as dtype[shape] with their min..max; short ones in full.",
    )
    .option("-n <rows>", "number of rows", "10")
    .option("--columns <list>", "comma-separated columns (default: all)")
    .option("--config <name>", "config to read (needed when the dataset has several)")
    .option(
      "--json",
      "print {columns, rows} as JSON; array columns in full only when named in --columns",
    )
    .action(
      action(async (dir: string, flags: RowsFlags) =>
        (await import("./data-actions.ts")).head(dir, flags),
      ),
    );

  program
    .command("cone")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("<dir>", "dataset directory, or its http(s):// or s3:// URL")
    .description(
      "Rows within a radius of a sky position (ICRS), nearest first, with exact great-circle distances in arcsec.",
    )
    .option("--ra <deg>", "right ascension of the centre (degrees, -360 to 360: -10 is 350)")
    .option("--dec <deg>", "declination of the centre (degrees)")
    .option("--radius <arcsec>", "radius (arcseconds)")
    .option("--limit <n>", "print at most this many rows (default 100)")
    .option("--columns <list>", "comma-separated columns (default: all)")
    .option("--config <name>", "config to read")
    .option("--json", "print {columns, rows} as JSON with dist_arcsec")
    .action(
      action(async (dir: string, flags: ConeFlags) =>
        (await import("./data-actions.ts")).cone(dir, flags),
      ),
    );

  program
    .command("index")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("<dir>", "dataset directory")
    .description(
      "Add the positions sidecar (<config>/positions.hdf5: ra, dec, object_id of every row) that cross-matching reads, to datasets written before it existed. Reads every partition file once; the manifest changes only when the sidecar is complete.",
    )
    .option("--config <name>", "only this config (default: every config without one)")
    .option(
      "--force",
      "check every file, give files written before identities existed one (hashes and rewrites them: as slow as reading the dataset), and rebuild the positions sidecar and the object_id index for the manifest's file list",
    )
    .option(
      "--wait",
      "if another process is writing DIR (its lock DIR/.astropile.lock is held), wait for it to finish instead of failing at once",
    )
    .option("--json", "print the sidecar entries as JSON")
    .action(
      action(async (dir: string, flags: IndexFlags) =>
        (await import("./data-actions.ts")).index(dir, flags),
      ),
    );
}
