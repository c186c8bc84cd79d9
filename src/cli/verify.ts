// `astropile verify DIR [--checksums] [--json]`: a thin layer over verifyDataset. Exit 0 when
// the dataset is what its manifest says, 1 when a problem was found (each listed with its file).
import { resolve } from "node:path";
import type { Command } from "commander";
import { ManifestMismatchError } from "../core/errors.ts";
import type { VerifyProgress } from "../storage/verify.ts";
import { action, formatCount, out, printJson } from "./format.ts";
import { progress, type Step } from "./progress.ts";

export interface VerifyFlags {
  checksums?: boolean;
  json?: boolean;
  quiet?: boolean;
}

const HELP = `
What is checked:
  always (reads metadata, the _healpix_29 column and the object_id index: minutes for a large
  dataset, about 8 bytes per row plus 16 per row of the index):
    - the manifest: files of a config listed in _healpix_29 order, pixels that agree with key
      ranges and paths, row totals
    - every file: exists, size, opens as HDF5, rows, the columns with their dtypes and shapes,
      its identity (astropile_identity) against the manifest's, and its _healpix_29 values
      (sorted, first and last equal to the manifest's key range)
    - the sidecars (positions.hdf5, object_id_index.hdf5): size, rows, columns, built from the
      manifest's current file list; the id index read in full (sorted, fences, pointers)
  --checksums (reads every byte of every file: hours for tens of TB, about the time to read
  the dataset once from its disks):
    - also the SHA-256 of every file against the manifest
Every read checks the cheap part of this anyway (size, rows, columns, key range, identity of
each file it opens; Fletcher32/zlib checksums of the chunks it reads).
A problem of kind no-identity (a dataset written before identities) or sidecar-list (a sidecar
built from another file list) is fixed by \`astropile index DIR --force\`.
Exit code: 0 no problem, 1 problems found (or the manifest cannot be read), 2 bad arguments.`;

export function registerVerifyCommand(program: Command): void {
  program
    .command("verify")
    // Help and parse errors throw (main() maps them to exit codes) instead of exiting.
    .exitOverride()
    .argument("<dir>", "dataset directory (holds astropile.json)")
    .description(
      "Check a dataset against its manifest: every file's size, structure, rows, columns, identity and key range, the sidecars' file lists, the object_id index; with --checksums also the SHA-256 of every byte. Lists every problem with its file; exit 1 when there is one.",
    )
    .option("--checksums", "also hash every byte of every file (SHA-256; slow: reads everything)")
    .option("--json", "print {path, problems: [{file, kind, detail, column}]} as JSON")
    .option("--quiet", "no progress on stderr")
    .addHelpText("after", HELP)
    .action(action(async (dir: string, flags: VerifyFlags) => verify(dir, flags)));
}

function verifyStep(p: VerifyProgress): Step {
  return p.phase === "files"
    ? { phase: "check files", done: p.done, total: p.total, unit: "files" }
    : { phase: "sha256", done: p.done, total: p.total, unit: "bytes" };
}

export async function verify(dir: string, flags: VerifyFlags): Promise<void> {
  const { verifyDataset } = await import("../storage/verify.ts");
  const root = resolve(dir);
  const started = performance.now();
  const view = progress("verify", { quiet: flags.quiet });
  let problems: Awaited<ReturnType<typeof verifyDataset>>;
  try {
    problems = await verifyDataset(root, {
      checksums: flags.checksums,
      onProgress: (p) => view.update(verifyStep(p)),
    });
  } finally {
    view.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  if (flags.json) {
    printJson({ path: root, checksums: Boolean(flags.checksums), seconds, problems });
  } else {
    for (const p of problems)
      out(`${p.kind}: ${p.file}${p.column ? ` (column ${p.column})` : ""}: ${p.detail}`);
    if (problems.length === 0)
      out(
        `ok: ${root} is what its manifest says (${flags.checksums ? "SHA-256 of every file included" : "without --checksums: file contents not hashed"}; ${seconds.toFixed(1)} s)`,
      );
  }
  if (problems.length > 0)
    throw new ManifestMismatchError(
      `${formatCount(problems.length)} problem${problems.length === 1 ? "" : "s"} found in ${root}`,
    );
}
