import { readFileSync } from "node:fs";
import { Command } from "commander";
import { registerAdoptCommand } from "./adopt.ts";
import { registerBuildCommands } from "./build.ts";
import { registerCacheCommand } from "./cache.ts";
import { registerCatalogCommand } from "./catalog.ts";
import { registerDataCommands } from "./data.ts";
import { registerInteropCommands } from "./interop.ts";
import { registerPublishCommand } from "./publish.ts";
import { registerServeCommands } from "./serve.ts";
import { registerVerifyCommand } from "./verify.ts";
import { registerXmatchCommand } from "./xmatch.ts";

/** The package's version, from its package.json (two levels up from src/cli and dist/cli). */
function packageVersion(): string {
  const url = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}

/** Builds the `astropile` command. Subcommands register themselves here. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name("astropile")
    .description(
      "Build, store, cross-match and serve multimodal astronomical datasets (HDF5 files partitioned by HEALPix).",
    )
    .version(packageVersion(), "-V, --version", "print the AstroPile version")
    .option("--verbose", "print stack traces on errors")
    .option(
      "--endpoint <url>",
      "S3-compatible endpoint for every s3:// location (MinIO, Ceph; default $AWS_ENDPOINT_URL, else AWS)",
    )
    .showHelpAfterError()
    // Each command's --help lists --endpoint and --verbose too.
    .configureHelp({ showGlobalOptions: true })
    // Before any command runs (and any fetch thread starts, which takes the environment then).
    .hook("preAction", () => {
      const endpoint = (program.opts() as { endpoint?: string }).endpoint;
      if (endpoint !== undefined) process.env.AWS_ENDPOINT_URL = endpoint;
    });
  registerBuildCommands(program);
  registerDataCommands(program);
  registerAdoptCommand(program);
  registerCacheCommand(program);
  registerXmatchCommand(program);
  registerInteropCommands(program);
  registerPublishCommand(program);
  registerVerifyCommand(program);
  registerCatalogCommand(program);
  registerServeCommands(program);
  return program;
}

/**
 * Runs the CLI and returns the process exit code: 0 ok, 1 failure (bad input data, I/O), 2 usage
 * error (bad arguments; commands mark their own usage errors with `exitCode`).
 */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    const e = err as { code?: string; exitCode?: number; message?: string; stack?: string };
    if (typeof e.code === "string" && e.code.startsWith("commander.")) {
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" ? 0 : 2;
    }
    const verbose = argv.includes("--verbose");
    process.stderr.write(`astropile: ${verbose ? (e.stack ?? e.message) : e.message}\n`);
    return typeof e.exitCode === "number" ? e.exitCode : 1;
  }
}

/**
 * A reader that goes away early (`astropile info DIR | head -1`) closes the pipe under stdout:
 * the next write fails with EPIPE. That is not an error of the command: it ends quietly, with
 * exit code 0 (the library writes nothing to stdout, so nothing is left half-done). EPIPE on
 * stderr is ignored (there is nowhere left to report it). Installed once, by the launcher.
 */
export function quietOnBrokenPipe(): void {
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  process.stderr.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
  });
}
