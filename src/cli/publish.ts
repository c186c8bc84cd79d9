// `astropile publish DIR DEST`: a thin layer over publishDataset (src/remote/publish.ts).
import type { Command } from "commander";
import { formatBytes } from "../core/units.ts";
import { action, out, printJson } from "./format.ts";

export interface PublishFlags {
  region?: string;
  dryRun?: boolean;
  concurrency?: string;
  verify?: boolean;
  json?: boolean;
  quiet?: boolean;
  key?: string;
  replace?: boolean;
}

const HELP = `
Order: data files first (in parallel; multipart above 16 MiB), each checked against its sha256
as sent and by the store's ETag (MD5; read back and hashed when the store's ETag is not an MD5);
then README.md; then astropile.json last, so readers see the previous
version until the new one is complete. Files already at DEST with the same sha256 (kept as
object metadata) are skipped: a re-publish moves only what changed, and a publish that was
killed resumes. Credentials: the standard AWS chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
AWS_PROFILE, roles); never printed. S3-compatible stores (MinIO, Ceph): --endpoint (any
command takes it) or AWS_ENDPOINT_URL.

To an AstroPile server (DEST = http(s)://host:port/api/v1/datasets/NAME): each file is PUT
with its sha256 (the server verifies it), files the server already staged with the same sha256
are skipped (a killed publish resumes), and astropile.json goes last: the server checks every
file it names, then makes the dataset visible at once. The API key needs the write scope:
--key KEY or ASTROPILE_API_KEY (never printed). A name already published needs --replace.`;

export function registerPublishCommand(program: Command): void {
  program
    .command("publish")
    .exitOverride()
    .argument("<dir>", "dataset directory (holds astropile.json)")
    .argument(
      "<dest>",
      "destination: s3://bucket/prefix, or an AstroPile server http(s)://host:port/api/v1/datasets/NAME",
    )
    .description(
      "Upload a dataset to S3 or to an AstroPile server, so that openDataset(...) and the CLI read it there.",
    )
    .option("--region <name>", "S3 region (default $AWS_REGION, else us-east-1)")
    .option("--dry-run", "list what would be uploaded and skipped; upload nothing")
    .option("--concurrency <n>", "files uploaded at once", "4")
    .option("--no-verify", "do not read uploads back to check their sha256")
    .option(
      "--key <key>",
      "AstroPile server: API key with the write scope (default $ASTROPILE_API_KEY)",
    )
    .option("--replace", "AstroPile server: replace a dataset already published under that name")
    .option("--json", "print the plan/result as JSON")
    .option("--quiet", "no progress on stderr")
    .addHelpText("after", HELP)
    .action(
      action(async (dir: string, dest: string, flags: PublishFlags) => publish(dir, dest, flags)),
    );
}

export async function publish(dir: string, dest: string, flags: PublishFlags): Promise<void> {
  const { publishDataset } = await import("../remote/publish.ts");
  const result = await publishDataset(dir, dest, {
    region: flags.region,
    dryRun: flags.dryRun,
    concurrency: Number(flags.concurrency ?? 4),
    verify: flags.verify !== false,
    apiKey: flags.key,
    replace: flags.replace,
    onProgress: flags.quiet
      ? undefined
      : (p) =>
          process.stderr.write(
            `publish: ${p.filesDone}/${p.filesTotal} files, ${formatBytes(p.bytesUploaded)} uploaded (${p.action} ${p.file})\n`,
          ),
  });
  if (flags.json) {
    printJson(result);
    return;
  }
  for (const f of result.files)
    out(`${result.dryRun ? "would " : ""}${f.action} ${f.path} (${formatBytes(f.bytes)})`);
  out(
    `${result.dryRun ? "would upload" : "uploaded"} ${formatBytes(result.uploadedBytes)}, skipped ${formatBytes(result.skippedBytes)} (already at ${result.destination})`,
  );
}
