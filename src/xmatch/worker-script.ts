// The scripts worker threads start from: the worker's TypeScript sources bundled
// into one JavaScript file with esbuild (the compiler tsx runs on). Loading the sources through
// tsx in every worker instead costs ~0.45 s per thread (tsx's start-up and one transform per
// module). The bundle is addressed by its sources' hash in node_modules/.cache/astropile, next to the
// dependencies it imports (libhdf5 stays external: it loads natively); where that cannot be
// written, workers fall back to the tsx entry.
import { createHash } from "node:crypto";
import { access, mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The tsx entries: slower to start, need nothing written. */
export const TSX_ENTRY = new URL("./worker-entry.mjs", import.meta.url);
export const TSX_SORT_ENTRY = new URL("./sort-worker-entry.mjs", import.meta.url);

const scripts = new Map<string, Promise<URL>>();

/** The cross-match worker (units of crossMatch). */
export function workerScript(): Promise<URL> {
  return cached("match-worker", TSX_ENTRY);
}

/** The matching kernel's sort helper thread (see sort-thread.ts). */
export function sortWorkerScript(): Promise<URL> {
  return cached("sort-worker", TSX_SORT_ENTRY);
}

function cached(entry: string, fallback: URL): Promise<URL> {
  let script = scripts.get(entry);
  if (!script) {
    script = bundle(entry).catch(() => fallback);
    scripts.set(entry, script);
  }
  return script;
}

/**
 * Hash of every source file the bundle can contain (all of src/): an unchanged tree reuses its
 * bundle without running esbuild (~0.1 s per process), any edit makes a new one.
 */
async function sourceHash(entry: string, root: string): Promise<string> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) await walk(path);
      else if (/\.(ts|mjs)$/.test(e.name)) files.push(path);
    }
  };
  await walk(root);
  files.sort();
  const hash = createHash("sha256").update(`${entry}\0${process.version}\0`);
  for (const f of files) hash.update(`${relative(root, f)}\0`).update(await readFile(f));
  return hash.digest("hex").slice(0, 16);
}

async function bundle(entry: string): Promise<URL> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const dir = join(here, "..", "..", "node_modules", ".cache", "astropile");
  const file = join(dir, `${entry}-${await sourceHash(entry, join(here, ".."))}.mjs`);
  try {
    await access(file);
    return pathToFileURL(file);
  } catch {
    // Not built yet for these sources.
  }
  const { build } = await import("esbuild");
  const out = await build({
    entryPoints: [join(here, `${entry}.ts`)],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["h5wasm", "h5wasm-plugins", "esbuild"],
    write: false,
    logLevel: "silent",
  });
  const code = out.outputFiles[0]!.contents;
  await mkdir(dir, { recursive: true });
  // Written whole under a private name, then renamed: concurrent runs never see half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, code);
  await rename(tmp, file);
  return pathToFileURL(file);
}
