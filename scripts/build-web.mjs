// Bundles the web viewer (src/web, browser code) into one directory the server serves at `/`:
// index.html, app.js (the viewer with uPlot and the HEALPix code it uses) and app.css. Nothing
// is fetched from a CDN at run time. `npm run build` runs it after tsc (dist/web/); the browser
// tests call buildWeb() into a temporary directory so they always test the current sources.
//
//   node scripts/build-web.mjs [OUT_DIR]     default dist/web
import { copyFile, mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { build } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const WEB = join(ROOT, "src", "web");

/**
 * Writes the viewer into `outDir` (emptied first). Returns the files written, relative to it.
 * @param {{ outDir?: string, minify?: boolean }} [options]
 */
export async function buildWeb(options = {}) {
  const outDir = resolve(options.outDir ?? join(ROOT, "dist", "web"));
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: { app: join(WEB, "main.ts") },
    outdir: outDir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2022"],
    minify: options.minify ?? true,
    sourcemap: "linked",
    // uPlot's licence header is not a /*! */ comment; the banner carries the notice instead.
    legalComments: "none",
    banner: {
      js: `/*! AstroPile viewer. Bundles uPlot ${await versionOf("uplot")} (c) Leon Sorokin, MIT License, https://github.com/leeoniya/uPlot */`,
      css: `/*! AstroPile viewer. Includes uPlot's stylesheet (MIT License). */`,
    },
    metafile: true,
    logLevel: "warning",
  });
  // Browser code never reaches Node built-ins (platform "browser" already refuses to resolve
  // them; this names the culprit if a shim ever slips through).
  for (const input of Object.keys(result.metafile.inputs)) {
    if (input.startsWith("node:")) throw new Error(`the viewer imports ${input}`);
  }
  await copyFile(join(WEB, "index.html"), join(outDir, "index.html"));
  return ["index.html", ...Object.keys(result.metafile.outputs).map((p) => relativeTo(outDir, p))];
}

async function versionOf(pkg) {
  const text = await readFile(join(ROOT, "node_modules", pkg, "package.json"), "utf8");
  return JSON.parse(text).version;
}

function relativeTo(dir, p) {
  return resolve(ROOT, p).slice(dir.length + 1);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const files = await buildWeb({ outDir: process.argv[2] });
  console.log(`web viewer: ${files.filter((f) => !f.endsWith(".map")).join(", ")}`);
}
