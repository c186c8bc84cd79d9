// `astropile export DIR` and `astropile sql DIR "SELECT ..."`: options and help; the actions load
// when a command runs.
import type { Command } from "commander";
import { action } from "./format.ts";
import type { ExportFlags, SqlFlags } from "./interop-actions.ts";

const EXPORT_HELP = `
Formats (--to):
  fits   FITS binary table: every column; arrays as vector columns (TDIMn for more than one
         axis), units in TUNITn; provenance in header cards. Opens in astropy, TOPCAT, CFITSIO.
  ecsv   ECSV (astropy's text table): every column with its unit and dtype; arrays as JSON.
  csv    header row and scalar columns; array columns are left out (listed) unless named, or
         written as one column per element with --flatten (name[i] or name[i,j,...]).
  parquet      one Parquet file (zstd): arrays as fixed-size lists, shape/unit/dtype in the
               field metadata. Opens in DuckDB, pandas/pyarrow, polars.
  huggingface  a directory: data/train-NNNNN.parquet (--file-rows per file) and a README.md
               dataset card whose configs/data_files datasets.load_dataset(DIR) reads.
  hats         a HATS catalog (LSDB): Norder=K/Dir=D/Npix=N.parquet partitions of at most
               --partition-rows rows (default 1,000,000), _healpix_29 first, properties,
               partition_info.csv, _metadata. Needs rows in _healpix_29 order (a view of one
               config, not shuffled).
Default columns: all but _healpix_29 that the format can hold. The output appears when the
export is complete (written under a temporary name, then renamed); an existing output is
replaced only with --force. Memory: about 8 MiB of rows at a time, whatever the dataset's size.

Examples:
  astropile export data/hsc --to fits --out hsc.fits --cone 150.1,2.2,600
  astropile export data/desi --to csv --out z.csv --columns object_id,ra,dec,z --filter "z > 1"`;

const SQL_HELP = `
The catalog (scalar) columns of the dataset are loaded into DuckDB (only those the query names;
a temporary database that spills to disk beyond --memory) as a table named after the config,
also reachable as "data". Quote names with dots: "forced.g_cmodel_mag". One SELECT statement;
nothing else (no COPY, no file access). Needs the optional package @duckdb/node-api.
--filter / --cone / --box load only the rows they keep (the fast way to narrow a large dataset).

Examples:
  astropile sql data/hsc "SELECT count(*) FROM data WHERE \\"forced.i_cmodel_mag\\" < 22"
  astropile sql data/desi "SELECT healpix, avg(z) AS z FROM data GROUP BY healpix" --format csv`;

export function registerInteropCommands(program: Command): void {
  program
    .command("export")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("<dir>", "dataset directory")
    .description(
      "Write a dataset (or the rows and columns chosen) to files other tools open as they are: FITS binary table, ECSV, CSV, Parquet, a HuggingFace dataset directory or a HATS catalog. Streams with bounded memory; progress on stderr.",
    )
    .option(
      "--to <format>",
      "output format: fits, ecsv, csv, parquet, huggingface, hats (and any registered)",
    )
    .option("--out <path>", "output file")
    .option(
      "--columns <list>",
      "comma-separated columns, standard names or groups (image, spectrum)",
    )
    .option(
      "--filter <expr>",
      'rows passing an expression over scalar columns, e.g. "z > 0.5 and tract == 9813"',
    )
    .option("--cone <ra,dec,radius>", "rows within RADIUS arcsec of (RA, DEC) degrees")
    .option(
      "--box <raMin,raMax,decMin,decMax>",
      "rows within a box (degrees; raMin > raMax crosses 0)",
    )
    .option("--config <name>", "config to export (needed when the dataset has several)")
    .option("--flatten", "csv: write array columns as one column per element")
    .option("--compression <codec>", "parquet, huggingface, hats: zstd (default), snappy or none")
    .option("--partition-rows <n>", "hats: most rows in one partition (default 1000000)")
    .option("--file-rows <n>", "huggingface: most rows in one data file (default: one file)")
    .option("--force", "replace an existing output")
    .option(
      "--json",
      "print the result {format, path, rows, bytes, columns, skipped, seconds} as JSON",
    )
    .option("--quiet", "no progress on stderr")
    .addHelpText("after", EXPORT_HELP)
    .action(
      action(async (dir: string, flags: ExportFlags) =>
        (await import("./interop-actions.ts")).exportCommand(dir, flags),
      ),
    );

  program
    .command("sql")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("<dir>", "dataset directory")
    .argument("<query>", "one SELECT statement; table: the config's name or data")
    .description(
      "Run a SQL query (DuckDB) over the catalog columns of a dataset: for what --filter cannot say (aggregates, joins, window functions).",
    )
    .option("--config <name>", "config to query (needed when the dataset has several)")
    .option("--filter <expr>", "load only the rows passing this expression")
    .option(
      "--cone <ra,dec,radius>",
      "load only the rows within RADIUS arcsec of (RA, DEC) degrees",
    )
    .option("--box <raMin,raMax,decMin,decMax>", "load only the rows within a box (degrees)")
    .option("--format <kind>", "output: table (default), csv or json")
    .option(
      "--limit <n>",
      "print at most this many rows (default: 1000 for table, all for csv/json)",
    )
    .option(
      "--memory <size>",
      "DuckDB memory limit before it spills to disk (e.g. 512MiB, 4G)",
      "512MiB",
    )
    .option("--quiet", "no progress on stderr")
    .addHelpText("after", SQL_HELP)
    .action(
      action(async (dir: string, query: string, flags: SqlFlags) =>
        (await import("./interop-actions.ts")).sqlCommand(dir, query, flags),
      ),
    );
}
