// Run by .ci/run after `npm ci`: checks that the non-JavaScript parts the package and the tests
// rely on really load and work here, so a broken install fails with a clear message before the
// test suite starts. Plain JavaScript on purpose: it must not need tsx.
//   - libhdf5 (h5wasm, WebAssembly): write a gzip-compressed dataset and read it back;
//   - the HDF5 filter plugins (h5wasm-plugins, WebAssembly side modules) through the built
//     package (dist/, made by `npm ci` through `prepare`): read an LZF-compressed column;
//   - esbuild's native binary, which tsx uses to run the TypeScript tests.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");

const h5wasm = (await import("h5wasm/node")).default;
await h5wasm.ready;
const dir = mkdtempSync(join(tmpdir(), "astropile-ci-"));
try {
  const path = join(dir, "check.h5");
  const data = Float64Array.from({ length: 1000 }, (_, i) => i / 7);
  const w = new h5wasm.File(path, "w");
  w.create_dataset({ name: "x", data, shape: [1000], chunks: [100], compression: "gzip" });
  w.close();
  const r = new h5wasm.File(path, "r");
  const back = r.get("x").value;
  r.close();
  if (back.length !== data.length || back.some((v, i) => v !== data[i])) {
    throw new Error("h5wasm: a gzip dataset did not read back as written");
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const version = (name) =>
  JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;
console.log(`h5wasm ok: ${version("h5wasm")}, gzip dataset written and read back`);

const { PartitionFile } = await import(join(root, "dist", "storage", "index.js"));
const fixture = join(root, "test", "fixtures", "storage", "legacy_like.hdf5");
const expected = JSON.parse(readFileSync(`${fixture}.expected.json`, "utf8"));
const file = await PartitionFile.open(fixture);
const info = file.column("image_flux");
const row = Array.from(file.readRows(["image_flux"], [0]).image_flux);
file.close();
const want = expected.columns.image_flux.values.slice(0, row.length);
if (!/lzf/i.test(info.compression) || row.some((v, i) => v !== want[i])) {
  throw new Error(`HDF5 plugins: LZF column read wrong (compression ${info.compression})`);
}
console.log(`h5wasm-plugins ok: ${version("h5wasm-plugins")}, LZF column read through dist/`);

const esbuild = await import("esbuild");
const out = esbuild.transformSync("const x: number = 1;", { loader: "ts" }).code;
if (!out.includes("const x = 1")) throw new Error(`esbuild: unexpected output ${out}`);
console.log(`esbuild ok: ${esbuild.version}`);
