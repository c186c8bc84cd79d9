// `astropile catalog add|ls|rm|refresh|search`: a thin layer over DatasetCatalog (src/server).
// Each subcommand opens the catalog file, makes one library call and prints the result; errors
// go to main(): exit 2 for bad arguments, 1 for the rest.
import type { Command } from "commander";
import { UsageError } from "../core/errors.ts";
import { formatBytes } from "../core/units.ts";
import type { CatalogEntry, CatalogQuery } from "../server/directory.ts";
import { action, formatCount, numberOption, out, printJson, table, usageExit } from "./format.ts";

interface CatalogFlags {
  catalog?: string;
  json?: boolean;
}

interface AddFlags extends CatalogFlags {
  description?: string;
  replace?: boolean;
}

interface SearchFlags extends CatalogFlags {
  q?: string;
  survey?: string;
  modality?: string;
  ra?: string;
  dec?: string;
  radius?: string;
}

const CATALOG_OPTION = [
  "--catalog <file>",
  "catalog database file (DuckDB; default $ASTROPILE_CATALOG, else catalog.duckdb in the cache directory)",
] as const;

const HELP = `
The catalog is a DuckDB database file of named datasets: local AstroPile directories,
Multimodal Universe trees (small ones are adopted on the fly; see \`astropile adopt\`) and
http(s):// or s3:// URLs of dataset directories. Each entry records what the dataset's manifest
says (survey, project, release, modality, rows, bytes, configs, column names) and its sky
coverage: the HEALPix NESTED pixels at order 5 (nside 32, about 1.8 deg across) that hold rows.
No row is read. \`astropile serve CATALOG\` serves the datasets of a catalog.

Several processes may use one catalog at once: a command waits (up to 15 s) while another
process has the file open.

Examples:
  astropile catalog add hsc-pdr3 data/hsc --description "HSC PDR3 wide, cutouts"
  astropile catalog add desi https://data.example.org/desi-edr/
  astropile catalog ls
  astropile catalog search --q cmodel
  astropile catalog search --ra 150.1 --dec 2.2 --radius 1.5 --modality image --json
  astropile catalog rm hsc-pdr3`;

export function registerCatalogCommand(program: Command): void {
  const catalog = program
    .command("catalog")
    .description(
      "Name datasets in a catalog database and search them by text, survey, modality and sky position (add, ls, rm, refresh, search).",
    )
    .addHelpText("after", HELP);

  catalog
    .command("add")
    .argument(
      "<name>",
      'catalog name: letters, digits, ".", "_", "-" (at most 128, starts with a letter or digit)',
    )
    .argument(
      "<location>",
      "dataset directory, Multimodal Universe tree, or http(s):// / s3:// URL",
    )
    .description("Add a dataset under NAME, described from its manifest (no row is read).")
    .option("--description <text>", "free text shown in listings and matched by search --q")
    .option("--replace", "replace an entry of the same name (default: fail when the name is taken)")
    .option(...CATALOG_OPTION)
    .option("--json", "print the new entry as JSON")
    .action(
      action(async (name: string, location: string, flags: AddFlags) => {
        const c = await openCatalog(flags);
        try {
          const entry = await c.add(name, location, {
            description: flags.description,
            replace: flags.replace,
          });
          if (flags.json) printJson(entry);
          else
            out(
              `added ${entry.name}: ${entry.survey ?? "?"} ${entry.modality}, ${formatCount(entry.rows)} rows, ${formatBytes(entry.bytes)}, ${entry.coverage.pixels.length} sky pixels (order ${entry.coverage.order}) (${c.file})`,
            );
        } finally {
          c.close();
        }
      }),
    );

  catalog
    .command("ls")
    .description("List the datasets of the catalog.")
    .option(...CATALOG_OPTION)
    .option("--json", 'print {"datasets": [entry...]} (the body of GET /api/v1/datasets)')
    .action(
      action(async (flags: CatalogFlags) => {
        const c = await openCatalog(flags);
        try {
          print(await c.list(), flags, c.file);
        } finally {
          c.close();
        }
      }),
    );

  catalog
    .command("rm")
    .argument("<name>", "catalog name of the dataset")
    .description("Remove a dataset from the catalog (its files are not touched).")
    .option(...CATALOG_OPTION)
    .action(
      action(async (name: string, flags: CatalogFlags) => {
        const c = await openCatalog(flags);
        try {
          await c.remove(name);
          out(`removed ${name} (${c.file})`);
        } finally {
          c.close();
        }
      }),
    );

  catalog
    .command("refresh")
    .argument("<name>", "catalog name of the dataset")
    .description(
      "Describe a dataset again from its location (after a rebuild or a new config); its description stays.",
    )
    .option(...CATALOG_OPTION)
    .option("--json", "print the updated entry as JSON")
    .action(
      action(async (name: string, flags: CatalogFlags) => {
        const c = await openCatalog(flags);
        try {
          const entry = await c.refresh(name);
          if (flags.json) printJson(entry);
          else
            out(
              `refreshed ${entry.name}: ${formatCount(entry.rows)} rows, ${formatBytes(entry.bytes)}, configs ${entry.configs.join(", ")}`,
            );
        } finally {
          c.close();
        }
      }),
    );

  catalog
    .command("search")
    .description(
      "Search the catalog; every option narrows the result. With --ra, --dec and --radius (all three, degrees), only datasets whose sky coverage meets that cone (inclusive at the coverage's 1.8 deg pixels: a dataset with a row inside is always listed).",
    )
    .option(
      "--q <text>",
      "case-insensitive substring of the name, survey, project, release, description or a column name",
    )
    .option("--survey <name>", "survey (case-insensitive), e.g. HSC")
    .option("--modality <kind>", "image, spectrum, ifu or catalog")
    .option("--ra <deg>", "cone centre right ascension (degrees, ICRS)")
    .option("--dec <deg>", "cone centre declination (degrees, -90..90)")
    .option("--radius <deg>", "cone radius (degrees, > 0 and <= 180)")
    .option(...CATALOG_OPTION)
    .option("--json", 'print {"datasets": [entry...]} (the body of GET /api/v1/datasets)')
    .action(
      action(async (flags: SearchFlags) => {
        const query = searchQuery(flags);
        const c = await openCatalog(flags);
        try {
          print(await c.list(query), flags, c.file);
        } finally {
          c.close();
        }
      }),
    );

  // Help and parse errors throw (main() maps them to exit codes) instead of exiting: subcommands
  // do not inherit the root's exitOverride().
  for (const c of [catalog, ...catalog.commands]) c.exitOverride();
}

async function openCatalog(flags: CatalogFlags) {
  const { DatasetCatalog, defaultCatalogFile } = await import("../server/catalog.ts");
  return DatasetCatalog.open(flags.catalog ?? defaultCatalogFile());
}

/** The library query of the search options; a partial cone or a bad number exits 2. */
export function searchQuery(flags: SearchFlags): CatalogQuery {
  const query: CatalogQuery = {};
  if (flags.q !== undefined) query.q = flags.q;
  if (flags.survey !== undefined) query.survey = flags.survey;
  if (flags.modality !== undefined) query.modality = flags.modality;
  const given = [flags.ra, flags.dec, flags.radius].filter((v) => v !== undefined).length;
  if (given !== 0 && given !== 3)
    throw usageExit(new UsageError("a cone needs --ra, --dec and --radius together (degrees)"));
  if (given === 3) {
    query.cone = {
      raDeg: numberOption(flags.ra, "--ra") as number,
      decDeg: numberOption(flags.dec, "--dec", { min: -90, max: 90 }) as number,
      radiusDeg: numberOption(flags.radius, "--radius", { above: 0, max: 180 }) as number,
    };
  }
  return query;
}

function print(entries: CatalogEntry[], flags: CatalogFlags, file: string): void {
  if (flags.json) {
    printJson({ datasets: entries });
    return;
  }
  if (entries.length === 0) {
    out(`no datasets (${file})`);
    return;
  }
  out(
    table(
      ["name", "survey", "modality", "rows", "size", "configs", "location"],
      entries.map((e) => [
        e.name,
        e.survey ?? "",
        e.modality,
        formatCount(e.rows),
        formatBytes(e.bytes),
        e.configs.join(","),
        e.location,
      ]),
      [false, false, false, true, true, false, false],
    ),
  );
}
