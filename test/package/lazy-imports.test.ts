// Importing the library must not load the packages only some commands need: each cost every
// command and script 20-200 ms at start (h5wasm ~200 ms, the AWS SDK ~150 ms, apache-arrow
// ~85 ms, yaml ~40 ms, hyparquet and its writer ~80 ms). They are loaded on first use
// (src/storage/hdf5.ts hdf5Ready, src/remote/transport.ts s3Sdk, src/formats/parquet.ts
// arrowLib, src/formats/ecsv-yaml.ts yamlLib, dynamic imports).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

const ROOT = join(import.meta.dirname, "..", "..");

/** Packages under node_modules that `node` loads for `script` (Node's esm/module debug log). */
function packagesLoaded(script: string): Set<string> {
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, NODE_DEBUG: "esm,module" },
    maxBuffer: 1 << 28,
  });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  const names = r.stderr.matchAll(/node_modules\/((?:@[a-z0-9._-]+\/)?[a-z0-9._-]+)/g);
  return new Set([...names].map((m) => m[1]));
}

const LAZY = [
  "h5wasm",
  "@aws-sdk/client-s3",
  "apache-arrow",
  "yaml",
  "hyparquet",
  "hyparquet-writer",
];

test("import of the library leaves libhdf5, the S3 SDK, Arrow, YAML and Parquet readers unloaded", () => {
  const loaded = packagesLoaded('await import("./src/index.ts");');
  // The log names what is loaded (else this test would pass on any output).
  assert.ok(loaded.has("zod") && loaded.has("commander") === false, [...loaded].join(", "));
  for (const name of LAZY) assert.ok(!loaded.has(name), `${name} is loaded at import`);
});

test("the lazily loaded packages load when used", () => {
  const loaded = packagesLoaded(`
    const { arrowLib } = await import("./src/formats/parquet.ts");
    const { yamlLib } = await import("./src/formats/ecsv-yaml.ts");
    const { s3Sdk } = await import("./src/remote/transport.ts");
    const { hdf5Ready } = await import("./src/storage/hdf5.ts");
    await hdf5Ready();
    arrowLib().tableFromArrays({ x: new Float64Array(2) });
    yamlLib().parse("a: 1");
    await s3Sdk();
  `);
  for (const name of ["h5wasm", "@aws-sdk/client-s3", "apache-arrow", "yaml"])
    assert.ok(loaded.has(name), `${name} not loaded when used`);
});

test("writing and reading a dataset of the own HDF5 writer's structures do not load libhdf5", () => {
  // Numbers and fixed-length strings go through src/storage/hdf5-writer.ts, and such files are
  // opened by src/storage/hdf5-metadata.ts; only variable-length strings (and files of other
  // writers) need h5wasm. One process writes a whole dataset (partitions, sidecars, manifest),
  // another opens it and reads a row.
  const dir = join(ROOT, "test", `.lazy-${process.pid}`);
  const write = `
    const { writeDataset } = await import("./src/index.ts");
    const n = 1000;
    const batch = {
      object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
      ra: Float64Array.from({ length: n }, (_, i) => (i * 0.37) % 360),
      dec: Float64Array.from({ length: n }, (_, i) => ((i * 0.11) % 170) - 85),
      name: Array.from({ length: n }, (_, i) => "s" + i),
    };
    await writeDataset(${JSON.stringify(dir)}, [
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "ra", dtype: "float64", shape: [], unit: "deg" },
      { name: "dec", dtype: "float64", shape: [], unit: "deg" },
      { name: "name", dtype: "string", shape: [], stringLength: 8 },
    ], [batch], { config: "c", provenance: { survey: "lazy" } });
  `;
  try {
    const loaded = packagesLoaded(write);
    assert.ok(loaded.has("zod"), [...loaded].join(", "));
    assert.ok(!loaded.has("h5wasm"), "h5wasm was loaded to write a dataset the own writer writes");
    const read = packagesLoaded(`
      const { openDataset } = await import("./src/index.ts");
      const ds = await openDataset(${JSON.stringify(dir)});
      const last = await ds.get(999);
      if (ds.length !== 1000 || last.name !== "s" + last.object_id) throw new Error("read back wrong: " + ds.length + " " + JSON.stringify(last.name));
    `);
    assert.ok(read.has("zod"), [...read].join(", "));
    assert.ok(!read.has("h5wasm"), "h5wasm was loaded to read a dataset the own writer wrote");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the command line's start (every command's options, --help) leaves zod unloaded", () => {
  // zod costs ~45 ms of start; only commands that read a spec or a manifest need it. It came
  // in through src/core/records.ts, which units and the cache import (now record-schema.ts).
  const loaded = packagesLoaded(`
    const { buildProgram } = await import("./src/cli/main.ts");
    buildProgram();
  `);
  assert.ok(loaded.has("commander"), [...loaded].join(", "));
  assert.ok(!loaded.has("zod"), "zod is loaded by the command line's start");
  const spec = packagesLoaded('await import("./src/build/spec.ts");');
  assert.ok(spec.has("zod"), "zod is not loaded where specs are checked");
});
