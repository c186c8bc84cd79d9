// `astropile adopt DIR`: options and help; the action loads when the command runs.
import type { Command } from "commander";
import { action } from "./format.ts";

export interface AdoptFlags {
  indexDir?: string;
  inPlace?: boolean;
  skipBad?: boolean;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function registerAdoptCommand(program: Command): void {
  program
    .command("adopt")
    .exitOverride()
    .argument(
      "<dir>",
      "a Multimodal Universe survey directory (<config>/healpix=N/*.hdf5): a local path, an http(s):// URL served with directory listings (Apache, nginx), or s3://bucket/prefix",
    )
    .description(
      "Use a Multimodal Universe v1 tree in place, read-only: scan every file once (columns, rows, the _healpix_29 range computed from ra/dec) and write a derived manifest, the positions sidecar and the object_id index into an index directory, so info, head, cone and xmatch read the tree as it is. Nothing is written into DIR unless --in-place. The index records each file's size and mtime: a changed, added or removed file makes it stale (commands then say to run adopt again). Trees of at most 64 files and 256 MiB are adopted on the fly by any command. A tree on a server is listed (Apache/nginx index pages; links outside the tree are ignored; S3 prefix listings), each file read by byte ranges, and the index kept locally; a file replaced on the server after adoption is refused when read (adopt again with --force).",
    )
    .option(
      "--index-dir <dir>",
      "where indexes are kept (default: $ASTROPILE_MMU_INDEX_DIR, else <cache dir>/mmu-index, see `astropile cache`); each tree gets <dir>/<name>-<hash of its absolute path or URL>; the commands that read the tree look in $ASTROPILE_MMU_INDEX_DIR, so set it to the same <dir>",
    )
    .option(
      "--in-place",
      "keep the index inside DIR, in DIR/.astropile-index (DIR must be writable)",
    )
    .option(
      "--skip-bad",
      "report bad files (unreadable, other schema, no ra/dec, empty pixel directories) and adopt the rest",
    )
    .option("--force", "rebuild even when a current index exists")
    .option("--json", "print the result as JSON")
    .option("--quiet", "no progress on stderr")
    .action(
      action(async (dir: string, flags: AdoptFlags) =>
        (await import("./adopt-action.ts")).adopt(dir, flags),
      ),
    );
}
