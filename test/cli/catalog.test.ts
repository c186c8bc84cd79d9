// `astropile catalog add|ls|rm|refresh|search` on a real catalog file and small real datasets:
// outputs agree with the library's entries, the cone search with a brute force over the rows,
// bad arguments exit 2 and bad data 1 with one-line errors naming the file. Commands run in one
// child process (test/helpers/cli-runner.ts), with $ASTROPILE_CATALOG set for the default file.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { DatasetCatalog } from "../../src/server/catalog.ts";
import type { CatalogEntry } from "../../src/server/directory.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { type FixtureDataset, writeFixtureDataset } from "../server/catalog-fixture.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const dir = tempDir("astropile-cli-catalog-");
const defaultFile = join(dir, "default", "catalog.duckdb");
let hsc: FixtureDataset;
let desi: FixtureDataset;
let child: ChildProcessWithoutNullStreams;
let lines: AsyncIterator<string>;

async function cli(...args: string[]): Promise<Result> {
  child.stdin.write(`${JSON.stringify(args)}\n`);
  const next = await lines.next();
  return JSON.parse(next.value as string) as Result;
}

before(async () => {
  hsc = await writeFixtureDataset(dir, "hsc", "catalog", 200, 3);
  desi = await writeFixtureDataset(dir, "desi", "spectrum", 200, 8);
  child = spawn(
    process.execPath,
    ["--import", "h5wasm/node", "--import", "tsx", join(ROOT, "test", "helpers", "cli-runner.ts")],
    {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ASTROPILE_CATALOG: defaultFile },
    },
  );
  lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
});

after(() => {
  child.stdin.end();
  child.kill();
});

const names = (r: Result) =>
  (JSON.parse(r.stdout) as { datasets: CatalogEntry[] }).datasets.map((e) => e.name);

test("add, ls, search, rm on the default catalog ($ASTROPILE_CATALOG)", async () => {
  let r = await cli("catalog", "add", "hsc-pdr3", hsc.root, "--description", "COSMOS deep");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^added hsc-pdr3: HSC catalog, 200 rows, .* sky pixels \(order 5\)/);
  assert.ok(r.stdout.includes(defaultFile));
  r = await cli("catalog", "add", "desi", desi.root, "--json");
  assert.equal(r.code, 0, r.stderr);
  const added = JSON.parse(r.stdout) as CatalogEntry;
  assert.equal(added.modality, "spectrum");

  // The same entries the library reads from the same file.
  const catalog = await DatasetCatalog.open(defaultFile);
  const entries = await catalog.list();
  catalog.close();
  r = await cli("catalog", "ls", "--json");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { datasets: entries });

  r = await cli("catalog", "ls");
  assert.equal(r.code, 0, r.stderr);
  const text = r.stdout.split("\n");
  assert.match(text[0], /^name\s+survey\s+modality\s+rows\s+size\s+configs\s+location$/);
  assert.match(text[2], /^desi\s+DESI\s+spectrum\s+200\s/);
  assert.match(text[3], /^hsc-pdr3\s+HSC\s+catalog\s+200\s.*main\s+\S*hsc$/);

  assert.deepEqual(names(await cli("catalog", "search", "--q", "cosmos", "--json")), ["hsc-pdr3"]);
  assert.deepEqual(names(await cli("catalog", "search", "--survey", "desi", "--json")), ["desi"]);
  assert.deepEqual(names(await cli("catalog", "search", "--modality", "image", "--json")), []);
  r = await cli("catalog", "search", "--q", "nothing-like-it");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^no datasets/);

  // Cones around rows of one dataset, small enough to leave the other out when it has no row near.
  for (const [f, name] of [
    [hsc, "hsc-pdr3"],
    [desi, "desi"],
  ] as const) {
    const ra = f.ra[7];
    const dec = f.dec[7];
    const found = names(
      await cli(
        "catalog",
        "search",
        "--ra",
        `${ra}`,
        "--dec",
        `${dec}`,
        "--radius",
        "0.05",
        "--json",
      ),
    );
    assert.ok(found.includes(name));
    const other = f === hsc ? desi : hsc;
    const otherNear = Array.from(other.ra).some(
      (x, j) => angularSeparationDeg(ra, dec, x, other.dec[j]) <= 0.05,
    );
    if (otherNear) assert.equal(found.length, 2);
  }

  r = await cli("catalog", "rm", "desi");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(names(await cli("catalog", "ls", "--json")), ["hsc-pdr3"]);
});

test("--catalog FILE, refresh, and errors: bad arguments exit 2, bad data 1, naming the file", async () => {
  const file = join(dir, "other.duckdb");
  let r = await cli("catalog", "add", "desi", desi.root, "--catalog", file);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stdout.includes(file));
  r = await cli("catalog", "refresh", "desi", "--catalog", file, "--json");
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as CatalogEntry).rows, 200);

  r = await cli("catalog", "add", "desi", hsc.root, "--catalog", file);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^astropile: the catalog already has a dataset "desi".*other\.duckdb/);
  r = await cli("catalog", "add", "desi", hsc.root, "--catalog", file, "--replace");
  assert.equal(r.code, 0, r.stderr);

  r = await cli("catalog", "add", "../evil", hsc.root, "--catalog", file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /dataset name "\.\.\/evil" is not valid/);
  r = await cli("catalog", "add", "gone", join(dir, "nowhere"), "--catalog", file);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(join(dir, "nowhere")));
  r = await cli("catalog", "rm", "absent", "--catalog", file);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no dataset "absent"/);

  r = await cli("catalog", "search", "--ra", "10", "--dec", "5", "--catalog", file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--ra, --dec and --radius together/);
  r = await cli(
    "catalog",
    "search",
    "--ra",
    "10",
    "--dec",
    "95",
    "--radius",
    "1",
    "--catalog",
    file,
  );
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--dec "95"/);
  r = await cli(
    "catalog",
    "search",
    "--ra",
    "10",
    "--dec",
    "5",
    "--radius",
    "0x1",
    "--catalog",
    file,
  );
  assert.equal(r.code, 2);
  r = await cli("catalog", "ls", "--bogus");
  assert.equal(r.code, 2);

  const junk = join(dir, "junk.duckdb");
  writeFileSync(junk, "not a database at all\n".repeat(50));
  r = await cli("catalog", "ls", "--catalog", junk);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not a catalog.*junk\.duckdb/);
  assert.equal(r.stderr.trim().split("\n").length, 1);

  r = await cli("catalog", "search", "--help");
  assert.equal(r.code, 0);
  assert.match(r.stdout, /--radius <deg>\s+cone radius \(degrees/);
});

test("without DuckDB installed: a DependencyError naming the package, exit 1, no file made", () => {
  const file = join(dir, "no-duckdb", "catalog.duckdb");
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      join(ROOT, "test", "helpers", "no-duckdb.mjs"),
      ...cliArgs("catalog", "ls", "--catalog", file),
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /^astropile: the dataset catalog needs the optional package @duckdb\/node-api .*npm install @duckdb\/node-api\n$/,
  );
  assert.equal(existsSync(join(dir, "no-duckdb")), false);
});
