// The layers of src/ (DESIGN.md): a module imports only from its own layer or lower ones, so a
// newcomer can change one layer knowing what depends on it. Read from the import statements.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";

const SRC = join(import.meta.dirname, "..", "src");

/** Lower rank first; layers of one rank (build and xmatch, schema and remote) do not import each other. */
const RANK: Record<string, number> = {
  core: 0,
  sky: 1,
  formats: 2,
  // The download cache needs only core; remote reads (remote/) cache ranges in it and are read
  // through by the dataset layer.
  cache: 2,
  // Pixels and plots (stretches, colormaps, PNG): arrays in, bytes out; needs only core.
  render: 2,
  storage: 3,
  schema: 4,
  remote: 4,
  dataset: 5,
  build: 6,
  xmatch: 6,
  synth: 7,
  interop: 7,
  demo: 8,
  // The HTTP service over the library, and the viewer it serves (browser code, bundled at build
  // time; nothing in Node imports it).
  server: 9,
  web: 9,
  cli: 10,
};

function* files(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* files(p);
    else if (/\.(ts|mjs)$/.test(e.name)) yield p;
  }
}

/** The layer of a file under src/ ("" for src/index.ts, the package entry). */
function layerOf(path: string): string {
  const parts = relative(SRC, path).split("/");
  return parts.length > 1 ? parts[0]! : "";
}

test("every src/ directory is a known layer", () => {
  const dirs = readdirSync(SRC, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  assert.deepEqual(
    dirs.filter((d) => !(d in RANK)),
    [],
  );
});

test("no layer imports a higher one (or a sibling of its rank)", () => {
  const bad: string[] = [];
  let checked = 0;
  for (const file of files(SRC)) {
    const from = layerOf(file);
    if (from === "") continue;
    const text = readFileSync(file, "utf8");
    const re = /(?:from\s+|import\s*\(\s*)"(\.{1,2}\/[^"]+)"/g;
    for (const m of text.matchAll(re)) {
      const to = layerOf(resolve(dirname(file), m[1]!));
      checked++;
      if (to === from) continue;
      if (to === "" || RANK[to]! >= RANK[from]!)
        bad.push(`${relative(SRC, file)} imports ${m[1]} (${from} -> ${to || "index"})`);
    }
  }
  assert.ok(checked > 200, `${checked} imports read`);
  assert.deepEqual(bad, []);
});
