// `astropile serve DIR...` and `astropile keys create|ls|revoke`: thin layers over createServer,
// LocalDirectory and KeyStore (src/server). serve prints its URL and runs until SIGINT/SIGTERM,
// then stops accepting connections, finishes the requests under way and exits 0.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { isAstroPileError, UsageError } from "../core/errors.ts";
import type { Scope } from "../server/keys.ts";
import { SERVER_HEAP_FLOOR_MIB, serverNodeFlags, workerCount } from "../server/serving-process.ts";
import { action, numberOption, out, printJson, table, usageExit } from "./format.ts";

export interface ServeFlags {
  port?: string;
  host?: string;
  keys?: string;
  anonymous?: boolean;
  cors?: string[];
  web?: string;
  rateLimit?: string;
  timeout?: string;
  log?: boolean;
  redis?: string;
  jobsDir?: string;
  uploads?: string;
  cache?: string;
  trimIdle?: string;
  workers?: string;
  maxRestarts?: string;
}

const SERVE_HELP = `
Serves each DIR as a dataset named by its basename, and every dataset of each catalog file:
GET /api/v1/datasets lists them, and /api/v1/openapi.json describes every route
(docs/service.md). Cross-matches and exports run as jobs (POST /api/v1/jobs, write scope) when
--redis names a Redis server; their results go under --jobs-dir (default <cache dir>/jobs).
With --uploads DIR, datasets published to the server (astropile publish DIR
http://host:port/api/v1/datasets/NAME --key KEY, write scope) land in DIR/NAME and are served
at once; the datasets already in DIR are served too. The viewer (dist/web of the
package, or --web DIR) is served at /. Anonymous requests may read unless --no-anonymous;
anything else needs an API key (astropile keys create), sent as "Authorization: Bearer <key>"
or "X-API-Key: <key>". Listens on 127.0.0.1 unless --host says otherwise: put a TLS proxy in
front before opening it to a network. Stops on Ctrl-C (SIGINT) or SIGTERM. The server runs in
a child node process started with --initial-old-space-size=${SERVER_HEAP_FLOOR_MIB} (fewer and shorter
collection pauses under load; docs/service.md), unless node was started with an initial heap
size of its own.

--workers N runs N processes on the one port (the URL is printed once all listen; answers carry
X-AstroPile-Worker: PID). Each worker has its own answer cache (--cache) and decoded-chunk cache:
memory is N times. The rate limit is per worker: each allows ceil(--rate-limit / N) per key, so a
client spread over connections gets about --rate-limit, one on a single connection its worker's
share. Jobs run in one worker; every worker submits, answers and cancels them. --uploads is
refused with N > 1. A worker that dies is replaced; more deaths in 60 s than --max-restarts stop
the server (exit code 1).`;

const KEYS_HELP = `
The keys file holds the SHA-256 of each key's secret, never the key: a key is printed once, by
"keys create", and cannot be shown again (revoke it and create another). A running server
re-reads the file within a second of a change. Default file: $ASTROPILE_KEYS.`;

function keysFile(flag: string | undefined): string {
  const file = flag ?? process.env.ASTROPILE_KEYS;
  if (!file)
    throw usageExit(new UsageError("--keys FILE (or $ASTROPILE_KEYS) names the keys file"));
  return file;
}

/** dist/web of the package (the bundled viewer), when it was built. */
function defaultWebRoot(): string | undefined {
  const dir = fileURLToPath(new URL("../../dist/web/", import.meta.url));
  return existsSync(`${dir}index.html`) ? dir : undefined;
}

export function registerServeCommands(program: Command): void {
  program
    .command("serve")
    .exitOverride()
    .argument(
      "[dirs...]",
      "dataset directories (each holds astropile.json), http(s)/s3 URLs, or catalog files (astropile catalog add)",
    )
    .description(
      "Serve datasets over HTTP: catalog, rows, cones, examples, files; the viewer at /.",
    )
    .option("--port <n>", "TCP port (0: any free port)", "8765")
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--keys <file>", "API keys file (astropile keys create); default $ASTROPILE_KEYS")
    .option("--no-anonymous", "refuse requests without an API key")
    .option(
      "--cors <origin>",
      "allow browser pages from this origin (repeat for more; * for any)",
      (value: string, prev: string[] = []) => [...prev, value],
    )
    .option("--web <dir>", "serve this directory at / instead of the bundled viewer")
    .option(
      "--rate-limit <n>",
      "requests per minute per key (or per IP address); 0: no limit; each of N workers allows ceil(n / N)",
      "6000",
    )
    .option("--timeout <seconds>", "longest a query may run before it answers 504", "30")
    .option(
      "--cache <MiB>",
      "memory for answers kept between requests (rows pages, cones, examples, pictures; each up to 2 MiB, dropped when the dataset's manifest changes), per worker; 0: none",
      "64",
    )
    .option(
      "--trim-idle <seconds>",
      "after this long without a request, empty the answer cache and collect garbage, so memory comes back down after a burst of load; 0: never",
      "10",
    )
    .option("--log", "log each request (method, path, status, time; never keys) to stdout")
    .option(
      "--redis <url>",
      "Redis for the job queue (redis://host:port); without it, jobs answer 503",
    )
    .option("--jobs-dir <dir>", "where job results are written (default <cache dir>/jobs)")
    .option(
      "--uploads <dir>",
      "receive published datasets into this directory (write scope; needs --workers 1)",
    )
    .option(
      "--workers <n>",
      "processes serving requests on one port (node:cluster); auto: one per core",
      "1",
    )
    .option(
      "--max-restarts <n>",
      "with --workers: workers replaced within 60 s before the server gives up (exit code 1)",
      "5",
    )
    .addHelpText("after", SERVE_HELP)
    .action(action(async (dirs: string[], flags: ServeFlags) => serve(dirs, flags)));

  const keys = program
    .command("keys")
    .description("Create, list and revoke the API keys of a server.")
    .addHelpText("after", KEYS_HELP);
  keys
    .command("create")
    .exitOverride()
    .description("Create a key and print it (once).")
    .requiredOption("--scope <scope>", "read, write or admin (admin implies write implies read)")
    .requiredOption("--name <name>", "who or what uses the key")
    .option("--keys <file>", "keys file (created if missing); default $ASTROPILE_KEYS")
    .action(
      action(async (flags: { scope: string; name: string; keys?: string }) => {
        if (!["read", "write", "admin"].includes(flags.scope))
          throw usageExit(new UsageError(`--scope ${flags.scope}: read, write or admin`));
        const { KeyStore } = await import("../server/keys.ts");
        const store = await KeyStore.open(keysFile(flags.keys));
        const { key, entry } = await store.create({
          name: flags.name,
          scope: flags.scope as Scope,
        });
        process.stderr.write(
          `created key ${entry.id} "${entry.name}" (${entry.scopes.join(", ")}) in ${store.path}; it is shown only now:\n`,
        );
        out(key);
      }),
    );
  keys
    .command("ls")
    .exitOverride()
    .description("List the keys (ids, names, scopes; never secrets).")
    .option("--keys <file>", "keys file; default $ASTROPILE_KEYS")
    .option("--json", "print JSON")
    .action(
      action(async (flags: { keys?: string; json?: boolean }) => {
        const { KeyStore } = await import("../server/keys.ts");
        const list = (await KeyStore.open(keysFile(flags.keys))).list();
        if (flags.json) {
          printJson(list.map(({ sha256: _, ...k }) => k));
          return;
        }
        out(
          table(
            ["id", "name", "scopes", "created"],
            list.map((k) => [k.id, k.name, k.scopes.join(","), k.createdAt]),
          ),
        );
      }),
    );
  keys
    .command("revoke")
    .exitOverride()
    .argument("<id>", "the key's id (from keys ls) or the key itself")
    .description("Revoke a key: servers refuse it within a second.")
    .option("--keys <file>", "keys file; default $ASTROPILE_KEYS")
    .action(
      action(async (id: string, flags: { keys?: string }) => {
        const { KeyStore } = await import("../server/keys.ts");
        const entry = await (await KeyStore.open(keysFile(flags.keys))).revoke(id);
        out(`revoked key ${entry.id} "${entry.name}"`);
      }),
    );
}

/** Set in the environment of the server process serveInChild starts. */
const CHILD_ENV = "ASTROPILE_SERVE_CHILD";

/**
 * Runs this same command in a child node process given `nodeFlags` (the heap floor of a serving
 * process, server/serving-process.ts: V8 reads it only at start) and exits with the child's
 * code. The child has its own process group, so a Ctrl-C reaches it once, forwarded from here
 * with every SIGINT, SIGTERM and SIGHUP; it stops when this process is gone (IPC disconnect).
 */
async function serveInChild(nodeFlags: string[]): Promise<void> {
  const child = spawn(
    process.execPath,
    [...process.execArgv, ...nodeFlags, ...process.argv.slice(1)],
    {
      stdio: ["inherit", "inherit", "inherit", "ipc"],
      detached: true,
      env: { ...process.env, [CHILD_ENV]: "1" },
    },
  );
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const s of signals) process.on(s, forward);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (c, signal) =>
        resolve(c ?? 128 + (signal ? (osConstants.signals[signal] ?? 0) : 0)),
      );
    });
    process.exit(code);
  } finally {
    for (const s of signals) process.off(s, forward);
  }
}

export async function serve(dirs: string[], flags: ServeFlags): Promise<void> {
  const port = numberOption(flags.port, "--port", { integer: true, min: 0, max: 65535 })!;
  const perMinute = numberOption(flags.rateLimit, "--rate-limit", { integer: true, min: 0 })!;
  const timeoutS = numberOption(flags.timeout, "--timeout", { above: 0, max: 86400 })!;
  const cacheMiB = numberOption(flags.cache, "--cache", { min: 0, max: 1024 * 1024 })!;
  const trimIdleS = numberOption(flags.trimIdle, "--trim-idle", { min: 0, max: 86400 })!;
  const workers =
    flags.workers === "auto"
      ? "auto"
      : numberOption(flags.workers ?? "1", "--workers", { integer: true, min: 1, max: 1024 })!;
  const maxRestarts = numberOption(flags.maxRestarts, "--max-restarts", { integer: true, min: 0 })!;
  // Before the server's modules load: this process only waits for the child.
  const missing = serverNodeFlags(process.execArgv);
  if (workerCount(workers) === 1 && missing.length > 0) return serveInChild(missing);
  const { serveDatasets } = await import("../server/serve.ts");
  const host = flags.host ?? "127.0.0.1";
  const service = await serveDatasets({
    locations: dirs,
    host,
    port,
    ...(flags.keys !== undefined && { keysFile: flags.keys }),
    anonymousRead: flags.anonymous !== false,
    ...(flags.cors && { cors: flags.cors.flatMap((o) => o.split(",")) }),
    ...((flags.web ?? defaultWebRoot()) && { webRoot: flags.web ?? defaultWebRoot() }),
    rateLimitPerMinute: perMinute,
    queryTimeoutMs: timeoutS * 1000,
    answerCacheMiB: cacheMiB,
    trimWhenIdleMs: trimIdleS * 1000,
    log: flags.log === true,
    ...(flags.redis !== undefined && { redis: flags.redis }),
    ...(flags.jobsDir !== undefined && { jobsDir: flags.jobsDir }),
    ...(flags.uploads !== undefined && { uploads: flags.uploads }),
    workers: workerCount(workers),
    maxRestarts,
  }).catch((err) => {
    throw isAstroPileError(err, UsageError.code) ? usageExit(err) : err;
  });
  const stopped = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
    // Run by serveInChild: a parent that is gone (even killed) stops this server too.
    if (process.env[CHILD_ENV] && process.channel) {
      process.channel.unref();
      process.once("disconnect", () => resolve("the parent process exited"));
    }
  });
  const n = service.workerPids.length;
  out(
    `astropile: serving ${service.datasets.length} dataset(s) (${service.datasets.join(", ")}) at ${service.url}/${n > 1 ? ` with ${n} workers` : ""}`,
  );
  out(`astropile: API ${service.url}/api/v1/datasets, OpenAPI ${service.url}/api/v1/openapi.json`);
  // Either a signal, or the workers kept dying (the service then stopped itself: exit non-zero).
  const signal = await Promise.race([stopped, service.stopped.then(() => "")]);
  process.stderr.write(`astropile: ${signal}: stopping\n`);
  await service.close();
}
