// `astropile export` and `astropile sql`: outputs parsed by csv-parse (not our CSV reader) equal
// the rows that went in; bad arguments exit 2, bad data 1, with one-line errors. Commands run in
// one child process (test/helpers/cli-runner.ts).
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, test } from "node:test";
import { parse } from "csv-parse/sync";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { exportRows, writeExportDataset } from "../interop/export-fixture.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const N = 400;
const dir = tempDir();
const all = exportRows(N);
let root: string;
let child: ChildProcessWithoutNullStreams;
let lines: AsyncIterator<string>;

async function cli(...args: string[]): Promise<Result> {
  child.stdin.write(`${JSON.stringify(args)}\n`);
  const next = await lines.next();
  return JSON.parse(next.value as string) as Result;
}

before(async () => {
  root = await writeExportDataset(dir, N);
  child = spawn(
    process.execPath,
    ["--import", "h5wasm/node", "--import", "tsx", join(ROOT, "test", "helpers", "cli-runner.ts")],
    { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] },
  );
  lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
});

after(() => {
  child.stdin.end();
  child.kill();
});

const rowOf = new Map<string, number>();
(all.object_id as BigInt64Array).forEach((id, i) => {
  rowOf.set(String(id), i);
});

test("export --to csv: the chosen columns and rows, quoted so csv-parse reads them back", async () => {
  const out = join(dir, "bright.csv");
  const r = await cli(
    "export",
    root,
    "--to",
    "csv",
    "--out",
    out,
    "--columns",
    "object_id,name,forced.g_cmodel_mag,big",
    "--filter",
    "forced.g_cmodel_mag < 24",
    "--quiet",
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^wrote \d+ rows, 4 columns to .*bright\.csv \(csv, /);
  assert.equal(r.stderr, "");
  const records = parse(readFileSync(out, "utf8"), { columns: true }) as Array<
    Record<string, string>
  >;
  const mag = all["forced.g_cmodel_mag"] as Float32Array;
  const want = [...mag].filter((m) => m < 24).length;
  assert.equal(records.length, want);
  for (const rec of records) {
    const i = rowOf.get(rec.object_id)!;
    assert.equal(rec.name, (all.name as string[])[i]);
    assert.equal(Math.fround(Number(rec["forced.g_cmodel_mag"])), mag[i]);
    assert.equal(rec.big, String((all.big as BigUint64Array)[i]));
  }
});

test("export: progress on stderr, --json result, skipped array columns named", async () => {
  const out = join(dir, "all.csv");
  const r = await cli("export", root, "--to", "csv", "--out", out, "--json");
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.rows, N);
  assert.deepEqual(
    result.skipped.map((s: { column: string }) => s.column),
    ["image_array", "image_mask", "image_band", "flux_aper"],
  );
  assert.match(r.stderr, /export csv write rows: 400\/400 rows \(100%\)/);
  const text = await cli(
    "export",
    root,
    "--to",
    "fits",
    "--out",
    join(dir, "cone.fits"),
    "--cone",
    `${(all.ra as Float64Array)[0]},${(all.dec as Float64Array)[0]},3600`,
    "--quiet",
  );
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /wrote [1-9]\d* rows, 19 columns/);
});

test("export: bad arguments exit 2, bad data 1, nothing written", async () => {
  const out = join(dir, "bad.csv");
  const cases: Array<[string[], number, RegExp]> = [
    [["--out", out], 2, /needs --to/],
    [["--to", "csv"], 2, /needs --out/],
    [["--to", "xlsx", "--out", out], 2, /unknown export format "xlsx"; known: fits, ecsv, csv/],
    [["--to", "csv", "--out", out, "--cone", "1,2"], 2, /--cone .* needs 3/],
    [["--to", "csv", "--out", out, "--cone", "1,2,0"], 2, /radius/],
    [["--to", "csv", "--out", out, "--filter", "z >"], 2, /filter/],
    [
      ["--to", "csv", "--out", out, "--columns", "image_array"],
      1,
      /cannot export to csv.*"image_array"/,
    ],
    [["--to", "csv", "--out", join(dir, "nope", "x.csv")], 1, /does not exist/],
  ];
  for (const [args, code, message] of cases) {
    const r = await cli("export", root, ...args, "--quiet");
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, "one line");
  }
  assert.equal(existsSync(out), false);
  writeFileSync(out, "mine\n");
  const r = await cli("export", root, "--to", "csv", "--out", out, "--columns", "z", "--quiet");
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exists; pass force \(--force\)/);
  assert.equal(readFileSync(out, "utf8"), "mine\n");
  const forced = await cli(
    "export",
    root,
    "--to",
    "csv",
    "--out",
    out,
    "--columns",
    "z",
    "--force",
    "--quiet",
  );
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(readFileSync(out, "utf8").split("\n")[0], "z");
});

test("sql: csv and json outputs equal what the input rows give", async () => {
  const tract = all.tract as Int32Array;
  const counts = new Map<number, number>();
  for (const t of tract) counts.set(t % 4, (counts.get(t % 4) ?? 0) + 1);
  const csv = await cli(
    "sql",
    root,
    "SELECT tract % 4 AS k, count(*) AS n FROM data GROUP BY k ORDER BY k",
    "--format",
    "csv",
    "--quiet",
  );
  assert.equal(csv.code, 0, csv.stderr);
  const records = parse(csv.stdout, { columns: true }) as Array<Record<string, string>>;
  assert.deepEqual(
    records.map((rec) => [Number(rec.k), Number(rec.n)]),
    [...counts.entries()].sort((a, b) => a[0] - b[0]),
  );
  const json = await cli(
    "sql",
    root,
    'SELECT object_id, name FROM pdr3_wide WHERE "forced.g_cmodel_mag" < 18.2 ORDER BY object_id',
    "--format",
    "json",
    "--quiet",
  );
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as {
    rows: Array<{ object_id: string; name: string }>;
    truncated: boolean;
  };
  const mag = all["forced.g_cmodel_mag"] as Float32Array;
  const want = [...mag.keys()].filter((i) => mag[i] < 18.2);
  assert.deepEqual(
    parsed.rows.map((r) => [r.object_id, r.name]),
    want.map((i) => [String((all.object_id as BigInt64Array)[i]), (all.name as string[])[i]]),
  );
  assert.equal(parsed.truncated, false);
  // One JSON type per column: BIGINTs as strings whatever their size; NaN and the infinities
  // as strings, apart from SQL NULL.
  const special = await cli(
    "sql",
    root,
    "SELECT count(*) AS n, 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, '-inf'::DOUBLE AS c, NULL::DOUBLE AS d, 1.5::DOUBLE AS e FROM data",
    "--format",
    "json",
    "--quiet",
  );
  assert.equal(special.code, 0, special.stderr);
  assert.deepEqual((JSON.parse(special.stdout) as { rows: unknown[] }).rows, [
    { n: String(N), a: "NaN", b: "Infinity", c: "-Infinity", d: null, e: 1.5 },
  ]);
  const table = await cli("sql", root, "SELECT object_id FROM data", "--limit", "5", "--quiet");
  assert.equal(table.code, 0, table.stderr);
  assert.equal(table.stdout.trim().split("\n").length, 2 + 5 + 1);
  assert.match(table.stdout, /\(first 5 rows; --limit N shows more\)/);
});

test("sql: refusals are one-line errors", async () => {
  const cases: Array<[string[], number, RegExp]> = [
    [["DROP TABLE data"], 2, /only SELECT/],
    [["SELECT nope FROM data"], 2, /nope/],
    [["SELECT image_mask FROM data"], 1, /scalar/],
    [["SELECT 1", "--format", "xml"], 2, /--format/],
    [["SELECT 1", "--memory", "lots"], 2, /--memory/],
  ];
  for (const [args, code, message] of cases) {
    const r = await cli("sql", root, ...args, "--quiet");
    assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  }
});

test("sql without DuckDB installed: a DependencyError naming the package, exit 1", () => {
  const r = spawnSync(
    process.execPath,
    [
      "--import",
      join(ROOT, "test", "helpers", "no-duckdb.mjs"),
      ...cliArgs("sql", root, "SELECT count(*) FROM data", "--quiet"),
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(
    r.stderr,
    /^astropile: SQL needs the optional package @duckdb\/node-api .*npm install @duckdb\/node-api\n$/,
  );
  // Exports do not need it.
  const e = spawnSync(
    process.execPath,
    [
      "--import",
      join(ROOT, "test", "helpers", "no-duckdb.mjs"),
      ...cliArgs(
        "export",
        root,
        "--to",
        "csv",
        "--columns",
        "z",
        "--out",
        join(dir, "no-duckdb.csv"),
        "--quiet",
      ),
    ],
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(e.status, 0, e.stderr);
});
