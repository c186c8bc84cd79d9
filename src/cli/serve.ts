// `astropile serve DIR...` and `astropile keys create|ls|revoke`: thin layers over createServer,
// LocalDirectory and KeyStore (src/server). serve prints its URL and runs until SIGINT/SIGTERM,
// then stops accepting connections, finishes the requests under way and exits 0.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { UsageError } from "../core/errors.ts";
import type { ServerRoutes } from "../server/app.ts";
import type { DatasetDirectory } from "../server/directory.ts";
import type { JobQueue } from "../server/jobs.ts";
import type { Scope } from "../server/keys.ts";
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
front before opening it to a network. Stops on Ctrl-C (SIGINT) or SIGTERM.`;

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
      "requests per minute per key (or per IP address); 0: no limit",
      "6000",
    )
    .option("--timeout <seconds>", "longest a query may run before it answers 504", "30")
    .option(
      "--cache <MiB>",
      "memory for answers kept between requests (rows pages, cones, examples, pictures; each up to 2 MiB, dropped when the dataset's manifest changes); 0: none",
      "64",
    )
    .option("--log", "log each request (method, path, status, time; never keys) to stdout")
    .option(
      "--redis <url>",
      "Redis for the job queue (redis://host:port); without it, jobs answer 503",
    )
    .option("--jobs-dir <dir>", "where job results are written (default <cache dir>/jobs)")
    .option("--uploads <dir>", "receive published datasets into this directory (write scope)")
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

export async function serve(dirs: string[], flags: ServeFlags): Promise<void> {
  if (dirs.length === 0 && !flags.uploads)
    throw usageExit(
      new UsageError("name the datasets to serve (DIR, URL or catalog file), or --uploads DIR"),
    );
  const port = numberOption(
    flags.port,
    "--port",
    (x) => Number.isInteger(x) && x >= 0 && x < 65536,
  )!;
  const perMinute = numberOption(
    flags.rateLimit,
    "--rate-limit",
    (x) => Number.isInteger(x) && x >= 0,
  )!;
  const timeoutS = numberOption(flags.timeout, "--timeout", (x) => x > 0 && x <= 86400)!;
  const cacheMiB = numberOption(flags.cache, "--cache", (x) => x >= 0 && x <= 1024 * 1024)!;
  const [{ createServer }, { LocalDirectory, combineDirectories }, { KeyStore }] =
    await Promise.all([
      import("../server/app.ts"),
      import("../server/local-directory.ts"),
      import("../server/keys.ts"),
    ]);
  const keysPath = flags.keys ?? process.env.ASTROPILE_KEYS;
  const keys = keysPath ? await KeyStore.open(keysPath) : null;
  if (flags.anonymous === false && !keys)
    throw usageExit(new UsageError("--no-anonymous needs --keys FILE: nobody could read anything"));
  // A file among the arguments is a catalog database (astropile catalog add); the rest are
  // dataset directories or URLs. Names given on the command line come first.
  const { stat } = await import("node:fs/promises");
  const catalogs: string[] = [];
  const datasets: string[] = [];
  for (const d of dirs) {
    const isFile = await stat(d).then(
      (s) => s.isFile(),
      () => false,
    );
    (isFile ? catalogs : datasets).push(d);
  }
  const directories: DatasetDirectory[] = [];
  if (datasets.length > 0) directories.push(await LocalDirectory.open(datasets));
  // Published datasets: those already under --uploads, and each new one as it lands.
  const routes: ServerRoutes[] = [];
  if (flags.uploads) {
    const { mkdir, readdir } = await import("node:fs/promises");
    const { join } = await import("node:path");
    const { uploadRoutes } = await import("../server/routes-upload.ts");
    await mkdir(flags.uploads, { recursive: true });
    const present: string[] = [];
    for (const e of await readdir(flags.uploads, { withFileTypes: true }))
      if (
        e.isDirectory() &&
        !e.name.startsWith(".") &&
        existsSync(join(flags.uploads, e.name, "astropile.json"))
      )
        present.push(join(flags.uploads, e.name));
    const published = await LocalDirectory.open(present);
    directories.push(published);
    routes.push(
      uploadRoutes({
        root: flags.uploads,
        onPublished: async (_name, dir) => {
          await published.add(dir);
        },
      }),
    );
  }
  if (catalogs.length > 0) {
    const { DatasetCatalog } = await import("../server/catalog.ts");
    for (const file of catalogs)
      directories.push(await DatasetCatalog.open(file, { create: false }));
  }
  const directory = directories.length === 1 ? directories[0]! : combineDirectories(directories);
  const queue = flags.redis ? await openJobQueue(flags.redis, flags.jobsDir, directory) : null;
  const { jobRoutes } = await import("../server/routes-jobs.ts");
  routes.push(async (app) => {
    await app.register(jobRoutes, { queue });
  });
  const app = await createServer({
    directory,
    keys,
    anonymousRead: flags.anonymous !== false,
    webRoot: flags.web ?? defaultWebRoot(),
    cors:
      flags.cors && flags.cors.length > 0
        ? { origin: flags.cors.flatMap((o) => o.split(",")) }
        : false,
    limits: {
      rateLimit: perMinute === 0 ? false : { max: perMinute, windowMs: 60_000 },
      queryTimeoutMs: timeoutS * 1000,
    },
    logger: flags.log ? { level: "info" } : false,
    answerCache: cacheMiB === 0 ? false : { maxBytes: Math.round(cacheMiB * 2 ** 20) },
    routes,
  });
  const stopped = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  await app.listen({ host: flags.host ?? "127.0.0.1", port });
  const address = app.server.address();
  const realPort = address && typeof address === "object" ? address.port : port;
  const host = (flags.host ?? "127.0.0.1").includes(":")
    ? `[${flags.host}]`
    : (flags.host ?? "127.0.0.1");
  const names = (await directory.list()).map((e) => e.name);
  out(
    `astropile: serving ${names.length} dataset(s) (${names.join(", ")}) at http://${host}:${realPort}/`,
  );
  out(
    `astropile: API http://${host}:${realPort}/api/v1/datasets, OpenAPI http://${host}:${realPort}/api/v1/openapi.json`,
  );
  const signal = await stopped;
  process.stderr.write(`astropile: ${signal}: stopping\n`);
  await app.close();
  // A job under way is taken up again by the next server on the same Redis.
  await queue?.close({ force: true });
}

async function openJobQueue(
  redis: string,
  jobsDir: string | undefined,
  directory: DatasetDirectory,
): Promise<JobQueue> {
  const [{ JobQueue, datasetResolver }, { defaultCacheDir }, { join }] = await Promise.all([
    import("../server/jobs.ts"),
    import("../cache/config.ts"),
    import("node:path"),
  ]);
  return JobQueue.open({
    connection: redis,
    dataDir: jobsDir ?? join(defaultCacheDir(), "jobs"),
    resolveDataset: datasetResolver(directory),
  });
}
