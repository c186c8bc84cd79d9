// `astropile cache ...`: a thin layer over src/cache. Each subcommand maps to one library call;
// errors are thrown and printed by main() as one line: exit code 2 for usage errors (bad
// options, an unusable argument), 1 for the rest.
import type { Command } from "commander";
import type { CacheEntry, CacheLocation, CacheMode } from "../cache/index.ts";
import { AstroPileError, UsageError } from "../core/errors.ts";
import { formatBytes, parseBytes } from "../core/units.ts";
import { action, numberOption, usageExit } from "./format.ts";
import { downloadStep, progress } from "./progress.ts";

/** The cache library, loaded when a cache command runs (not at every command's start). */
const cacheLib = () => import("../cache/index.ts");

function out(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

function json(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

function when(d: Date): string {
  return d.toISOString().replace("T", " ").slice(0, 16);
}

function entryJson(e: CacheEntry) {
  return {
    url: e.url,
    path: e.path,
    size: e.size,
    sha256: e.sha256,
    pinned: e.pinned,
    lastUsed: e.lastUsed.toISOString(),
    fetchedAt: e.fetchedAt.toISOString(),
    validatedAt: e.validatedAt.toISOString(),
    etag: e.etag,
    lastModified: e.lastModified,
    source: e.source,
  };
}

/** A size argument; a bad one is a usage error (exit 2). */
function bytesOption(text: string): number {
  try {
    return parseBytes(text, "--max-bytes");
  } catch (err) {
    throw usageExit(err as Error);
  }
}

/** A URL argument: http(s) only; anything else is a usage error (exit 2) naming it. */
function urlArg(url: string): string {
  let parsed: URL | null = null;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below.
  }
  if (!parsed || (parsed.protocol !== "http:" && parsed.protocol !== "https:"))
    throw usageExit(new UsageError(`${JSON.stringify(url)} is not an http:// or https:// URL`));
  return url;
}

/** A --sha256 option: 64 hex digits. */
function sha256Option(hex: string | undefined): string | undefined {
  if (hex !== undefined && !/^[0-9a-fA-F]{64}$/.test(hex))
    throw usageExit(new UsageError(`--sha256 must be 64 hex digits, got ${JSON.stringify(hex)}`));
  return hex?.toLowerCase();
}

/** Adds `astropile cache` and its subcommands to the program. */
export function registerCacheCommand(program: Command): void {
  const cache = program
    .command("cache")
    .description(
      "Manage the download cache: files fetched over HTTP (survey files, dataset partitions, reference tables), kept with their ETag/Last-Modified and sha256, capped in size with least-recently-used eviction.",
    )
    .option(
      "--cache-dir <dir>",
      "cache directory (default: $ASTROPILE_CACHE_DIR, else $XDG_CACHE_HOME/astropile, i.e. ~/.cache/astropile)",
    )
    .option(
      "--max-bytes <size>",
      "size cap, e.g. 20G or 500MiB (default: $ASTROPILE_CACHE_MAX_BYTES, else 50 GiB)",
    )
    .addHelpText(
      "after",
      "\nEnvironment: ASTROPILE_CACHE_DIR, ASTROPILE_CACHE_MAX_BYTES, ASTROPILE_OFFLINE=1 (cached files only); HTTP_PROXY, HTTPS_PROXY, NO_PROXY (or lowercase) for downloads through a proxy.",
    );
  const loc = (): CacheLocation => {
    const o = cache.opts<{ cacheDir?: string; maxBytes?: string }>();
    return {
      cacheDir: o.cacheDir,
      maxBytes: o.maxBytes === undefined ? undefined : bytesOption(o.maxBytes),
    };
  };

  cache
    .command("ls")
    .description("List cached files, most recently used first: size, last use, pinned (P), URL.")
    .option("--json", "print a JSON array with path, sha256, validators and times")
    .action(
      action(async (o: { json?: boolean }) => {
        const cache = await cacheLib();
        const list = await cache.cacheContents(loc());
        if (o.json) return json(list.map(entryJson));
        if (list.length === 0) return out("(cache is empty)");
        const rows = list.map((e) => [
          formatBytes(e.size),
          when(e.lastUsed),
          e.pinned ? "P" : " ",
          e.url,
        ]);
        const w = Math.max(4, ...rows.map((r) => r[0]!.length));
        out(`${"SIZE".padStart(w)}  LAST USED (UTC)   PIN URL`);
        for (const r of rows) out(`${r[0]!.padStart(w)}  ${r[1]}  ${r[2]}  ${r[3]}`);
      }),
    );

  cache
    .command("size")
    .description("Show the cache location, bytes used against the cap, pinned and partial bytes.")
    .option("--json", "print the numbers as JSON (bytes)")
    .action(
      action(async (o: { json?: boolean }) => {
        const cache = await cacheLib();
        const s = await cache.cacheSize(loc());
        if (o.json) return json(s);
        const pct = s.maxBytes > 0 ? ` (${((100 * s.bytes) / s.maxBytes).toFixed(1)}%)` : "";
        out(`${s.dir}`);
        out(
          `  ${s.entries} entries, ${formatBytes(s.bytes)} of ${formatBytes(s.maxBytes)} cap${pct}`,
        );
        out(`  pinned: ${formatBytes(s.pinnedBytes)}`);
        out(`  partial downloads and temp files: ${formatBytes(s.partialBytes)}`);
        if (s.orphanBytes > 0) {
          out(`  replaced versions awaiting removal: ${formatBytes(s.orphanBytes)}`);
        }
      }),
    );

  cache
    .command("clear [url]")
    .description(
      "Remove the cached file of URL, or every entry when no URL is given (downloads running in other processes are left alone).",
    )
    .action(
      action(async (url: string | undefined) => {
        const cache = await cacheLib();
        const r = await cache.clearCache(url === undefined ? undefined : urlArg(url), loc());
        out(
          `removed ${r.entries} ${r.entries === 1 ? "entry" : "entries"}, ${formatBytes(r.bytes)}`,
        );
      }),
    );

  cache
    .command("check")
    .description(
      "Look for damaged entries (unreadable meta.json, missing or wrong-size data, with --deep a wrong sha256) and stray files. Exits with 1 if problems remain.",
    )
    .option("--repair", "remove what is damaged or stray (the files are re-downloaded on next use)")
    .option(
      "--deep",
      "also re-hash every cached file against its recorded sha256 (reads everything)",
    )
    .option("--json", "print the report as JSON")
    .action(
      action(async (o: { repair?: boolean; deep?: boolean; json?: boolean }) => {
        const cache = await cacheLib();
        const r = await cache.checkCache({ ...loc(), repair: o.repair, deep: o.deep });
        if (o.json) json(r);
        else {
          for (const p of r.problems) {
            out(
              `${p.repaired ? "removed" : "problem"}: ${p.kind}: ${p.url ?? p.path}: ${p.detail}`,
            );
          }
          out(
            `${r.dir}: ${r.ok} of ${r.entries} entries sound, ${r.problems.length} problem(s)${r.resumable ? `, ${r.resumable} resumable partial download(s)` : ""}`,
          );
        }
        const left = r.problems.filter((p) => !p.repaired).length;
        if (left > 0) {
          throw new AstroPileError(
            `${left} problem(s) in the cache at ${r.dir}; run \`astropile cache check --repair\` to remove them`,
          );
        }
      }),
    );

  cache
    .command("export <file> [urls...]")
    .description(
      "Write cached entries (all, or the URLs given) into one tar archive FILE, to carry to a machine without network.",
    )
    .action(
      action(async (file: string, urls: string[]) => {
        const cache = await cacheLib();
        const r = await cache.exportCache(file, {
          ...loc(),
          urls: urls.length > 0 ? urls.map(urlArg) : undefined,
        });
        out(`wrote ${r.entries} entries, ${formatBytes(r.bytes)}, to ${r.file}`);
      }),
    );

  cache
    .command("import <file>")
    .description(
      "Add the entries of an archive written by `cache export`. The whole archive is checked first (names, sizes, sha256 of each file); a bad archive changes nothing.",
    )
    .option("--overwrite", "replace entries that are already cached with another version")
    .action(
      action(async (file: string, o: { overwrite?: boolean }) => {
        const cache = await cacheLib();
        const r = await cache.importCache(file, { ...loc(), overwrite: o.overwrite });
        out(
          `imported ${r.imported} entries (${formatBytes(r.bytes)}), kept ${r.skipped} already cached`,
        );
      }),
    );

  cache
    .command("get <url>")
    .description(
      "Download URL into the cache (or use the cached copy) and print the local path. Progress on stderr: a bar on a terminal, a line every few seconds otherwise.",
    )
    .option("--sha256 <hex>", "expected SHA-256; a mismatch is an error and nothing is kept")
    .option("--update", "download again even if cached")
    .option("--revalidate", "ask the server whether the cached copy is current (304 keeps it)")
    .option("--max-age <seconds>", "revalidate when the cached copy is older than this")
    .option("--source <url...>", "mirrors to fetch from, in order (the file is cached under URL)")
    .option("--offline", "use cached files only")
    .option("--pin", "never evict this entry")
    .option("--no-progress", "no progress on stderr")
    .option("--quiet", "no progress on stderr (same as --no-progress)")
    .option("--timeout <seconds>", "give up when no data arrives for this long", "30")
    .action(
      action(
        async (
          url: string,
          o: {
            sha256?: string;
            update?: boolean;
            revalidate?: boolean;
            maxAge?: string;
            source?: string[];
            offline?: boolean;
            pin?: boolean;
            progress: boolean;
            quiet?: boolean;
            timeout: string;
          },
        ) => {
          const mode: CacheMode = o.update ? "update" : o.revalidate ? "revalidate" : true;
          const timeoutSeconds = numberOption(o.timeout, "--timeout", { above: 0 }) as number;
          const maxAgeSeconds = numberOption(o.maxAge, "--max-age", { min: 0 });
          const sha256 = sha256Option(o.sha256);
          const sources = o.source?.map(urlArg);
          urlArg(url);
          const view = progress("download", { quiet: o.quiet || !o.progress });
          const cache = await cacheLib();
          const p = await cache
            .downloadFile(url, {
              ...loc(),
              cache: mode,
              sha256,
              maxAgeSeconds,
              sources,
              offline: o.offline || undefined,
              pin: o.pin,
              timeoutMs: timeoutSeconds * 1000,
              onProgress: (e) => {
                view.update(downloadStep(e));
                if (e.done) view.stop();
              },
            })
            .finally(() => view.stop());
          out(p);
        },
      ),
    );

  cache
    .command("pin <url>")
    .description("Pin a cached URL: the size cap never evicts it.")
    .action(
      action(async (url: string) => {
        const cache = await cacheLib();
        const e = await cache.pinCacheEntry(urlArg(url), true, loc());
        out(`pinned ${e.url} (${formatBytes(e.size)})`);
      }),
    );

  cache
    .command("unpin <url>")
    .description("Unpin a cached URL: it can be evicted again when the cache is over its cap.")
    .action(
      action(async (url: string) => {
        const cache = await cacheLib();
        const e = await cache.pinCacheEntry(urlArg(url), false, loc());
        out(`unpinned ${e.url}`);
      }),
    );

  cache
    .command("verify <url>")
    .description(
      "Re-hash the cached file of URL against its recorded sha256; a damaged copy is removed.",
    )
    .option("--sha256 <hex>", "also require this SHA-256")
    .action(
      action(async (url: string, o: { sha256?: string }) => {
        const cache = await cacheLib();
        const e = await cache.verifyCacheEntry(urlArg(url), sha256Option(o.sha256), loc());
        out(`ok ${e.sha256} ${e.url}`);
      }),
    );

  // main() calls exitOverride() on the root after buildProgram(), which subcommands created
  // earlier do not inherit; without this, `cache ls --help` or a usage error would call
  // process.exit() instead of returning main()'s exit code (0 help, 2 usage).
  for (const c of [cache, ...cache.commands]) c.exitOverride();
}
