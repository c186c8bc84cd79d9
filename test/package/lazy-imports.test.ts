// Importing the library must not load the packages only some commands need: each cost every
// command and script 20-150 ms at start (the AWS SDK ~150 ms, apache-arrow ~85 ms, yaml ~40 ms,
// hyparquet and its writer ~80 ms). They are loaded on first use (src/remote/transport.ts s3Sdk,
// src/formats/parquet.ts arrowLib, src/formats/ecsv-yaml.ts yamlLib, dynamic imports).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
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

const LAZY = ["@aws-sdk/client-s3", "apache-arrow", "yaml", "hyparquet", "hyparquet-writer"];

test("import of the library leaves the S3 SDK, Arrow, YAML and Parquet readers unloaded", () => {
  const loaded = packagesLoaded('await import("./src/index.ts");');
  // The log names what is loaded (else this test would pass on any output).
  assert.ok(loaded.has("zod") && loaded.has("h5wasm"), [...loaded].join(", "));
  for (const name of LAZY) assert.ok(!loaded.has(name), `${name} is loaded at import`);
});

test("the lazily loaded packages load when used", () => {
  const loaded = packagesLoaded(`
    const { arrowLib } = await import("./src/formats/parquet.ts");
    const { yamlLib } = await import("./src/formats/ecsv-yaml.ts");
    const { s3Sdk } = await import("./src/remote/transport.ts");
    arrowLib().tableFromArrays({ x: new Float64Array(2) });
    yamlLib().parse("a: 1");
    await s3Sdk();
  `);
  for (const name of ["@aws-sdk/client-s3", "apache-arrow", "yaml"])
    assert.ok(loaded.has(name), `${name} not loaded when used`);
});
