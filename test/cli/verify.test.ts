// `astropile verify DIR [--checksums] [--json]`: exit 0 and "ok" for a sound dataset, exit 1
// with every problem listed (kind, file, what differs) otherwise; progress on stderr.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, openSync, readFileSync, truncateSync, writeSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import type { Manifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-verify-cli-");
const root = join(dir, "good");
const n = 400;
await writeDataset(
  root,
  [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [] },
    { name: "dec", dtype: "float64", shape: [] },
    { name: "flux", dtype: "float32", shape: [4] },
  ],
  [
    {
      object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
      ra: Float64Array.from({ length: n }, (_, i) => 30 + ((i * 0.7548776662) % 4)),
      dec: Float64Array.from({ length: n }, (_, i) => 10 + ((i * 0.569840291) % 4)),
      flux: Float32Array.from({ length: n * 4 }, (_, k) => 5e5 + k),
    },
  ],
  { config: "main", provenance: { survey: "T" }, compression: "none", maxRowsPerFile: 100 },
);
const manifest = JSON.parse(readFileSync(join(root, "astropile.json"), "utf8")) as Manifest;

function run(...args: string[]) {
  const r = spawnSync(process.execPath, cliArgs(...args), { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("a sound dataset: exit 0, ok, progress lines on stderr (none with --quiet)", () => {
  const r = run("verify", root);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^ok: .* is what its manifest says/);
  assert.match(r.stderr, /verify check files: \d+\/\d+/);
  const quiet = run("verify", root, "--quiet", "--checksums");
  assert.equal(quiet.code, 0);
  assert.equal(quiet.stderr, "");
  assert.match(quiet.stdout, /SHA-256 of every file included/);
});

test("problems: exit 1, each listed with kind and file; --json gives them as data", () => {
  const copy = join(dir, "damaged");
  cpSync(root, copy, { recursive: true });
  const truncated = join(copy, manifest.files[1].path);
  truncateSync(truncated, 2000);
  const r = run("verify", copy, "--quiet");
  assert.equal(r.code, 1);
  assert.match(
    r.stdout,
    new RegExp(`^size: ${truncated}: file has 2000 bytes but the manifest says \\d+$`, "m"),
  );
  assert.match(r.stderr, /^astropile: 1 problem found in /);
  const json = run("verify", copy, "--json", "--quiet");
  assert.equal(json.code, 1);
  const body = JSON.parse(json.stdout);
  assert.deepEqual(
    body.problems.map((p: { kind: string; file: string }) => [p.kind, p.file]),
    [["size", truncated]],
  );
});

test("--checksums finds a flipped byte that the default level does not read", async () => {
  const copy = join(dir, "flipped");
  cpSync(root, copy, { recursive: true });
  const file = join(copy, manifest.files[0].path);
  const pf = await PartitionFile.open(file);
  const first = (pf.readRange(["flux"], 0, 1).flux as Float32Array).slice(0, 2);
  pf.close();
  const bytes = readFileSync(file);
  const at = bytes.indexOf(Buffer.from(first.buffer));
  assert.ok(at > 0);
  writeSync(openSync(file, "r+"), Buffer.from([bytes[at] ^ 1]), 0, 1, at);
  assert.equal(run("verify", copy, "--quiet").code, 0);
  const r = run("verify", copy, "--quiet", "--checksums");
  assert.equal(r.code, 1);
  assert.match(r.stdout, new RegExp(`^sha256: ${file}: SHA-256 differs`, "m"));
});

test("--help says what each level checks and costs; a missing directory exits 1", () => {
  const help = run("verify", "--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--checksums/);
  assert.match(help.stdout, /hours for tens of TB/);
  assert.match(help.stdout, /index DIR --force/);
  const missing = run("verify", join(dir, "nope"));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no such directory/);
});
