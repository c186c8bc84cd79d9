// `astropile adopt` and the data commands on a Multimodal Universe tree, as a process: the tree
// (fixtures by scripts/make_mmu_fixtures.py) is read in place and left byte-identical.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { ROOT } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";

const A = join(import.meta.dirname, "..", "fixtures", "mmu", "a");

function listing(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else
        out.push(
          `${relative(dir, p)} ${statSync(p).size} ${statSync(p).mtimeMs} ${readFileSync(p).toString("base64").length}`,
        );
    }
  };
  walk(dir);
  return out.sort().join("\n");
}

test("adopt, then info, cone and xmatch on MMU trees; the trees are not touched", async () => {
  const work = tempDir("astropile-cli-adopt-");
  const env = { ...process.env, ASTROPILE_CACHE_DIR: join(work, "cache") };
  const tree = join(work, "desi");
  cpSync(join(A, "desi"), tree, { recursive: true });
  const before = listing(tree);
  // One CLI process (test/helpers/cli-runner.ts) serves every command.
  const child = spawn(
    process.execPath,
    [
      "--import",
      "h5wasm/node",
      "--import",
      "tsx",
      join(import.meta.dirname, "..", "helpers", "cli-runner.ts"),
    ],
    { cwd: ROOT, env, stdio: ["pipe", "pipe", "pipe"] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const run = async (...args: string[]) => {
    child.stdin.write(`${JSON.stringify(args)}\n`);
    return JSON.parse((await lines.next()).value as string) as {
      code: number;
      stdout: string;
      stderr: string;
    };
  };
  try {
    await checks(run, work, tree);
  } finally {
    child.stdin.end();
    child.kill();
  }
  assert.equal(listing(tree), before, "the tree changed");
});

async function checks(
  run: (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>,
  work: string,
  tree: string,
): Promise<void> {
  const adopted = await run("adopt", tree, "--index-dir", join(work, "idx"), "--json");
  assert.equal(adopted.code, 0, adopted.stderr);
  const result = JSON.parse(adopted.stdout);
  assert.equal(result.files, 4);
  assert.equal(result.rows, 30);
  assert.ok(result.indexRoot.startsWith(join(work, "idx")));
  // info without --index-dir finds no index there: the tree is small, so it is adopted on the fly
  const info = await run("info", tree, "--json");
  assert.equal(info.code, 0, info.stderr);
  assert.equal(JSON.parse(info.stdout).configs.dr1_main.rows, 30);
  const cone = await run(
    "cone",
    tree,
    "--ra",
    "281.25",
    "--dec",
    "66.44353569089876",
    "--radius",
    "30",
    "--columns",
    "object_id",
    "--json",
  );
  assert.equal(cone.code, 0, cone.stderr);
  assert.equal(JSON.parse(cone.stdout).rows.length, 8);
  const xm = await run("xmatch", join(A, "hsc"), tree, "--radius", "1", "--mode", "all", "--quiet");
  assert.equal(xm.code, 0, xm.stderr);
  assert.match(xm.stdout, /\(20 of 57 rows/);
  const help = await run("adopt", "--help");
  assert.match(help.stdout + help.stderr, /--index-dir/);
}
