// The script cross-match worker threads start from: the worker's TypeScript sources bundled
// into one JavaScript file with esbuild (the compiler tsx runs on). Loading the sources through
// tsx in every worker instead costs ~0.45 s per thread (tsx's start-up and one transform per
// module). The bundle is content-addressed in node_modules/.cache/astropile, next to the
// dependencies it imports (libhdf5 stays external: it loads natively); where that cannot be
// written, workers fall back to the tsx entry.
import { createHash } from "node:crypto";
import { access, mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The tsx entry: slower to start, needs nothing written. */
export const TSX_ENTRY = new URL("./worker-entry.mjs", import.meta.url);

let script: Promise<URL> | undefined;

export function workerScript(): Promise<URL> {
  script ??= bundle().catch(() => TSX_ENTRY);
  return script;
}

async function bundle(): Promise<URL> {
  const here = fileURLToPath(new URL(".", import.meta.url));
  const { build } = await import("esbuild");
  const out = await build({
    entryPoints: [join(here, "match-worker.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    external: ["h5wasm", "h5wasm-plugins"],
    write: false,
    logLevel: "silent",
  });
  const code = out.outputFiles[0]!.contents;
  const hash = createHash("sha256").update(code).digest("hex").slice(0, 16);
  const dir = join(here, "..", "..", "node_modules", ".cache", "astropile");
  const file = join(dir, `match-worker-${hash}.mjs`);
  try {
    await access(file);
  } catch {
    await mkdir(dir, { recursive: true });
    // Written whole under a private name, then renamed: concurrent runs never see half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, code);
    await rename(tmp, file);
  }
  return pathToFileURL(file);
}
