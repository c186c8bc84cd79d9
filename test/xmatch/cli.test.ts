// `astropile xmatch` through the launcher: JSON pairs equal crossMatch's, --out writes a
// dataset, --catalog-only a CSV, bad arguments exit 2 with one line on stderr.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { openDataset } from "../../src/dataset/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { crossMatch, type MatchCatalog } from "../../src/xmatch/crossmatch.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-xmatch-cli-");

async function write(root: string, seed: number, ids: (i: number) => string, rows = 300) {
  const all = skyPoints(300, seed, 0.02);
  const p = { ra: all.ra.subarray(0, rows), dec: all.dec.subarray(0, rows) };
  await writeDataset(
    root,
    [
      { name: "object_id", dtype: "string", shape: [], stringLength: 8 },
      { name: "ra", dtype: "float64", shape: [] },
      { name: "dec", dtype: "float64", shape: [] },
    ],
    [{ object_id: Array.from({ length: rows }, (_, i) => ids(i)), ra: p.ra, dec: p.dec }],
    { config: "c", provenance: { survey: `S${seed}` }, maxRowsPerFile: 50, compression: "none" },
  );
}
const A = join(dir, "a");
const B = join(dir, "b");
await write(A, 21, (i) => `a${i}`);
// The same positions (same seed): a_i meets b_i at 0 arcsec, and clump neighbours within the radius.
await write(B, 21, (i) => `b${i}`);
// Half of them: the other half of A has no partner at 1 mas (unless duplicated).
const HALF = join(dir, "half");
await write(HALF, 21, (i) => `h${i}`, 150);

function run(args: string[]) {
  return spawnSync(process.execPath, cliArgs(...args), { encoding: "utf8" });
}

/** JSON pairs against a catalog: ids exact, separations to the 1e-6 arcsec written. */
function assertPairs(
  pairs: Array<{ left_object_id: string; right_object_id: string; sep_arcsec: number }>,
  catalog: MatchCatalog,
) {
  assert.deepEqual(
    pairs.map((p) => `${p.left_object_id}:${p.right_object_id}`),
    Array.from(
      catalog.sep_arcsec,
      (_, i) => `${catalog.left_object_id[i]}:${catalog.right_object_id[i]}`,
    ),
  );
  pairs.forEach((p, i) => {
    assert.ok(
      Math.abs(p.sep_arcsec - catalog.sep_arcsec[i]!) <= 5e-7,
      `${p.sep_arcsec} vs ${catalog.sep_arcsec[i]}`,
    );
  });
}

test("xmatch --json lists crossMatch's pairs; progress goes to stderr", async () => {
  // --threads 1: the match runs in a worker thread started through the launcher.
  const r = run(["xmatch", A, B, "--radius", "60", "--mode", "all", "--json", "--threads", "1"]);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    rows: number;
    pairs: Array<{ left_object_id: string; right_object_id: string; sep_arcsec: number }>;
  };
  const { catalog } = await crossMatch(await openDataset(A), await openDataset(B), {
    radiusArcsec: 60,
    mode: "all",
  });
  assert.ok(catalog.length > 50, `${catalog.length} pairs`);
  assert.equal(doc.rows, catalog.length);
  assertPairs(doc.pairs, catalog);
  // 64-bit ids are strings: JSON numbers past 2^53 are read wrong by JavaScript and jq.
  for (const p of doc.pairs) {
    assert.equal(typeof p.left_object_id, "string");
    assert.equal(typeof p.right_object_id, "string");
  }
  assert.match(r.stderr, /xmatch match: \d+\/\d+ units/);
  assert.equal((doc as unknown as { threads: number }).threads, 1);
  assert.equal((doc as unknown as { inMemory: boolean }).inMemory, false);
  // By default both sides (small) are matched whole, in memory: the same pairs.
  const fast = run(["xmatch", A, B, "--radius", "60", "--mode", "all", "--json"]);
  assert.equal(fast.status, 0, fast.stderr);
  const whole = JSON.parse(fast.stdout) as typeof doc & { inMemory: boolean; threads: number };
  assert.equal(whole.inMemory, true);
  assert.equal(whole.threads, 0);
  assert.deepEqual(whole.pairs, doc.pairs);
});

test("xmatch --json rows: the default columns, numbers as the CSV writes them; --locations adds where rows are stored", async () => {
  const r = run(["xmatch", A, B, "--radius", "60", "--mode", "all", "--json", "--locations"]);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { pairs: Array<Record<string, unknown>> };
  const { catalog } = await crossMatch(await openDataset(A), await openDataset(B), {
    radiusArcsec: 60,
    mode: "all",
  });
  assert.deepEqual(Object.keys(doc.pairs[0]!), [
    "left_object_id",
    "right_object_id",
    "sep_arcsec",
    "left_ra",
    "left_dec",
    "right_ra",
    "right_dec",
    "left_file",
    "left_row",
    "left_index",
    "right_file",
    "right_row",
    "right_index",
  ]);
  doc.pairs.forEach((p, i) => {
    assert.equal(p.left_file, catalog.left_files[catalog.left_file[i]!]);
    assert.equal(p.right_file, catalog.right_files[catalog.right_file[i]!]);
    assert.match(String(p.left_file), /^c\/(order=\d+\/)?healpix=\d+\//, "relative to the dataset");
    assert.equal(p.left_row, catalog.left_row[i]);
    assert.equal(p.right_index, catalog.right_index[i]);
    assert.ok(Math.abs((p.left_ra as number) - catalog.left_ra[i]!) <= 5e-10);
    assert.ok(Math.abs((p.right_dec as number) - catalog.right_dec[i]!) <= 5e-10);
  });
  const plain = JSON.parse(
    run(["xmatch", A, B, "--radius", "60", "--mode", "all", "--json"]).stdout,
  ) as { pairs: Array<Record<string, unknown>> };
  assert.deepEqual(Object.keys(plain.pairs[0]!), [
    "left_object_id",
    "right_object_id",
    "sep_arcsec",
    "left_ra",
    "left_dec",
    "right_ra",
    "right_dec",
  ]);
});

test("xmatch --min-radius gives crossMatch's rows with minRadiusArcsec; the summary says so", async () => {
  // A and B hold the same positions: a_i meets b_i (and duplicates) at 0", excluded here.
  const r = run(["xmatch", A, B, "--radius", "60", "--min-radius", "0.5", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    minRadiusArcsec: number;
    pairs: Array<{ left_object_id: string; right_object_id: string; sep_arcsec: number }>;
  };
  assert.equal(doc.minRadiusArcsec, 0.5);
  const options = { radiusArcsec: 60, minRadiusArcsec: 0.5 };
  const { catalog } = await crossMatch(await openDataset(A), await openDataset(B), options);
  assert.ok(catalog.length > 20, `${catalog.length} rows`);
  assertPairs(doc.pairs, catalog);
  assert.ok(doc.pairs.every((p) => p.sep_arcsec >= 0.5 && p.sep_arcsec <= 60));
  // Without the minimum every a_i's nearest is at 0".
  const plain = JSON.parse(run(["xmatch", A, B, "--radius", "60", "--json"]).stdout) as {
    minRadiusArcsec: number;
    pairs: Array<{ sep_arcsec: number }>;
  };
  assert.equal(plain.minRadiusArcsec, 0);
  assert.ok(plain.pairs.every((p) => p.sep_arcsec === 0));
  const text = run(["xmatch", A, B, "--radius", "60", "--min-radius", "0.5"]);
  assert.equal(text.status, 0, text.stderr);
  assert.match(
    text.stdout,
    /left rows matched within 60" and at least 0\.5" apart \(nearest, inner\)/,
  );
  assert.match(
    run(["xmatch", "--help"]).stdout,
    /--min-radius <arcsec>\s+minimum separation \(arcseconds/,
  );
});

test("xmatch --how left --json: unmatched left rows have null right fields", () => {
  const r = run(["xmatch", A, HALF, "--radius", "0.001", "--how", "left", "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as {
    rows: number;
    leftRows: number;
    leftMatched: number;
    pairs: Array<{ right_object_id: string | null; sep_arcsec: number | null; matched: boolean }>;
  };
  assert.equal(doc.rows, doc.leftRows);
  const unmatched = doc.pairs.filter((p) => !p.matched);
  assert.ok(unmatched.length > 0 && unmatched.length < doc.rows);
  // One row per left row (nearest, 1 neighbour): the matched rows are the matched left rows.
  assert.equal(doc.leftMatched, doc.rows - unmatched.length);
  for (const p of unmatched) {
    assert.equal(p.right_object_id, null);
    assert.equal(p.sep_arcsec, null);
  }
});

test("xmatch --out writes a dataset; --catalog-only a CSV", async () => {
  const out = join(dir, "out");
  const r = run(["xmatch", A, B, "--radius", "30", "--out", out]);
  assert.equal(r.status, 0, r.stderr);
  const ds = await openDataset(out);
  assert.ok(ds.columns.includes("right.object_id") && ds.columns.includes("sep_arcsec"));
  // `head` shows the right side's positions in full, as the left's, and separations as xmatch.
  const head = run(["head", out, "-n", "1", "--columns", "ra,right.ra,right.dec,sep_arcsec"]);
  assert.equal(head.status, 0, head.stderr);
  const [first] = await ds.take([0]);
  assert.equal(
    head.stdout.split("\n")[2]!.trim().split(/\s+/).join(" "),
    [
      (first!.ra as number).toFixed(7),
      (first!["right.ra"] as number).toFixed(7),
      (first!["right.dec"] as number).toFixed(7),
      (first!.sep_arcsec as number).toFixed(4),
    ].join(" "),
  );
  const csvDir = join(dir, "csv");
  const c = run(["xmatch", A, B, "--radius", "30", "--out", csvDir, "--catalog-only"]);
  assert.equal(c.status, 0, c.stderr);
  const lines = readFileSync(join(csvDir, "xmatch.csv"), "utf8").trim().split("\n");
  assert.equal(lines.length - 1, ds.length);
  assert.equal(
    lines[0],
    "left_object_id,right_object_id,sep_arcsec,left_ra,left_dec,right_ra,right_dec",
  );
  const withLocations = join(dir, "csv-locations");
  const l = run([
    "xmatch",
    A,
    B,
    "--radius",
    "30",
    "--out",
    withLocations,
    "--catalog-only",
    "--locations",
    "--how",
    "left",
  ]);
  assert.equal(l.status, 0, l.stderr);
  const rows = readFileSync(join(withLocations, "xmatch.csv"), "utf8").trim().split("\n");
  assert.equal(
    rows[0],
    "left_object_id,right_object_id,sep_arcsec,left_ra,left_dec,right_ra,right_dec,matched,left_file,left_row,left_index,right_file,right_row,right_index",
  );
  // Paths relative to each dataset's directory, never absolute.
  assert.ok(
    rows.slice(1).every((line) => /^c\/(order=\d+\/)?healpix=\d+\//.test(line.split(",")[8]!)),
  );
  assert.ok(!rows.some((line) => line.includes(dir)));
});

test("xmatch --catalog-only --out FILE.csv writes that file (its folder made), no lock left beside it", () => {
  const file = join(dir, "pairs-here", "pairs.csv");
  const c = run(["xmatch", A, B, "--radius", "30", "--out", file, "--catalog-only"]);
  assert.equal(c.status, 0, c.stderr);
  assert.ok(c.stdout.includes(`wrote ${file}\n`), c.stdout);
  assert.deepEqual(readdirSync(join(dir, "pairs-here")), ["pairs.csv"]);
  // Nothing to wait for: no lock is taken.
  const wait = run(["xmatch", A, B, "--radius", "30", "--out", file, "--catalog-only", "--wait"]);
  assert.equal(wait.status, 2);
  assert.match(
    wait.stderr,
    /^astropile: --wait needs --out DIR: a catalog written as FILE\.csv takes no lock/,
  );
  // An existing directory named *.csv is a directory output, as before: the same catalog.
  const dirNamedCsv = join(dir, "folder.csv");
  mkdirSync(dirNamedCsv);
  const d = run(["xmatch", A, B, "--radius", "30", "--out", dirNamedCsv, "--catalog-only"]);
  assert.equal(d.status, 0, d.stderr);
  const inDir = readFileSync(join(dirNamedCsv, "xmatch.csv"), "utf8");
  assert.ok(inDir.split("\n").length > 10);
  assert.equal(readFileSync(file, "utf8"), inDir);
  // A folder that cannot be made: a one-line error before any match.
  writeFileSync(join(dir, "plain-file"), "");
  const target = join(dir, "plain-file", "p.csv");
  const bad = run(["xmatch", A, B, "--radius", "30", "--out", target, "--catalog-only"]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^astropile: cannot create the folder of \S*p\.csv: EEXIST/);
  assert.doesNotMatch(bad.stderr, /matched/);
});

test("index adds the positions sidecar to a dataset written without one", async () => {
  const copy = join(dir, "no-sidecar");
  await cp(A, copy, { recursive: true });
  const manifestPath = join(copy, "astropile.json");
  const m = JSON.parse(await readFile(manifestPath, "utf8"));
  const before = m.configs.c.positions;
  await rm(join(copy, before.path));
  delete m.configs.c.positions;
  await writeFile(manifestPath, JSON.stringify(m));
  const slow = run(["xmatch", copy, B, "--radius", "60"]);
  assert.equal(slow.status, 0, slow.stderr);
  assert.match(slow.stdout, /no positions sidecar/);
  const r = run(["index", copy, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  const after = JSON.parse(await readFile(manifestPath, "utf8")).configs.c.positions;
  assert.deepEqual(after, before, "byte for byte the sidecar the writer made");
  assert.deepEqual(JSON.parse(r.stdout).written.c, before);
  const again = run(["index", copy]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /has a positions sidecar/);
  const fast = run(["xmatch", copy, B, "--radius", "60"]);
  assert.doesNotMatch(fast.stdout, /no positions sidecar/);
});

test("bad arguments exit 2 with a one-line message", () => {
  for (const args of [
    ["xmatch", A, B],
    ["xmatch", A, B, "--radius", "-1"],
    ["xmatch", A, B, "--radius", "1", "--mode", "best"],
    ["xmatch", A, B, "--radius", "1", "--catalog-only"],
  ]) {
    const r = run(args);
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("a bad --min-radius exits 2 with a one-line message naming it (and --radius)", () => {
  for (const [value, message] of [
    ["-1", /--min-radius "-1" is not a valid value/],
    ["abc", /--min-radius "abc" is not a valid value/],
    ["1", /--min-radius 1 must be less than --radius 1 \(arcsec\)/],
    ["2", /--min-radius 2 must be less than --radius 1 \(arcsec\)/],
  ] as const) {
    const r = run(["xmatch", A, B, "--radius", "1", "--min-radius", value]);
    assert.equal(r.status, 2, `--min-radius ${value}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
});
