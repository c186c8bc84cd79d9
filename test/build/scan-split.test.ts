// A plain CSV scanned on two threads (plan.ts, scanInTwo): the same dataset, byte for byte, and
// the same report of refused rows (their row numbers in the file) as one thread gives; comment
// lines, blank lines and CRLF line ends on both sides of the split; a quote in the first half
// keeps the scan on one thread; a bad row in the second half fails with the line one thread
// names. `scanSplitBytes: 1` makes any file big enough to split.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { openCatalog, outputColumns } from "../../src/build/catalog.ts";
import { build, checkSpec } from "../../src/build/index.ts";
import { scanCatalog } from "../../src/build/plan.ts";
import { readRowFile } from "../../src/build/rows-file.ts";
import { statePaths } from "../../src/build/state.ts";
import type { Manifest } from "../../src/storage/manifest.ts";
import { ROOT } from "../helpers/cli-process.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-scan-split-");

/**
 * A catalog of `n` rows; every 97th row has a bad position (none with `onlyLate`; and, with
 * `lateBad`, every `lateBad`-th row of the second half), every 50th line a comment.
 */
function catalogText(
  n: number,
  options: { crlf?: boolean; quoteAt?: number; lateBad?: number; onlyLate?: boolean } = {},
): string {
  const rand = mulberry32(11);
  const lines = ["id,ra,dec,mag,name"];
  for (let i = 0; i < n; i++) {
    if (i % 50 === 7) lines.push("# a comment line");
    if (i % 333 === 5) lines.push("");
    const early = !options.onlyLate && i % 97 === 3;
    const bad = early || (options.lateBad !== undefined && i > n / 2 && i % options.lateBad === 0);
    const ra = bad ? "nan" : (360 * rand()).toFixed(8);
    const dec =
      !options.onlyLate && i % 97 === 50
        ? "95.0"
        : (Math.asin(2 * rand() - 1) * (180 / Math.PI)).toFixed(8);
    const name = i === options.quoteAt ? '"star, quoted"' : `s${i}`;
    lines.push(`${i + 1},${ra},${dec},${(10 + 8 * rand()).toFixed(3)},${name}`);
  }
  const eol = options.crlf ? "\r\n" : "\n";
  return `${lines.join(eol)}${eol}`;
}

function spec(file: string) {
  return checkSpec(
    {
      config: "main",
      provenance: { survey: "SPLIT" },
      catalog: {
        files: file,
        comment: "#",
        columns: {
          object_id: "id",
          ra: "ra",
          dec: "dec",
          mag: { from: "mag", dtype: "float32", unit: "mag" },
        },
      },
      build: { maxRowsPerFile: 3000 },
    },
    dir,
  );
}

/** A build of `files` (a name or a glob) with two threads allowed or not, and what its log says. */
async function buildWith(files: string, out: string, split: boolean) {
  const lines: string[] = [];
  const result = await build(spec(files), {
    out: join(dir, out),
    scanSplitBytes: split ? 1 : Number.POSITIVE_INFINITY,
    log: (l) => lines.push(l),
  });
  const log = lines.join("\n");
  const onThread = log.match(/(\d+) of \d+ catalog files scanned on a second thread/);
  return {
    result,
    twoThreads: log.includes("scanned on two threads"),
    onThread: onThread ? Number(onThread[1]) : 0,
  };
}

function contents(out: string) {
  const m = JSON.parse(readFileSync(join(dir, out, "astropile.json"), "utf8")) as Manifest;
  const c = m.configs.main;
  return {
    files: m.files.map((f) => [f.path, f.rows, f.sha256]),
    idIndex: c.idIndex?.sha256,
    positions: c.positions?.sha256,
  };
}

for (const crlf of [false, true]) {
  test(`two threads give the same dataset and refused rows as one (${crlf ? "CRLF" : "LF"})`, async () => {
    const file = `cat-${crlf ? "crlf" : "lf"}.csv`;
    writeFileSync(join(dir, file), catalogText(20_000, { crlf }));
    const one = await buildWith(file, `one-${crlf}`, false);
    const two = await buildWith(file, `two-${crlf}`, true);
    assert.equal(one.twoThreads, false);
    assert.equal(two.twoThreads, true, "the file was split");
    assert.deepEqual(contents(`two-${crlf}`), contents(`one-${crlf}`));
    assert.equal(two.result.report.rowsRead, 20_000);
    // Refused rows in both halves, with their rows in the file as one thread numbers them.
    const rejected = two.result.report.rejected;
    assert.deepEqual(rejected, one.result.report.rejected);
    assert.ok(rejected.count > 300, `${rejected.count} refused`);
    const rows = rejected.sample.map((r) => r.row);
    assert.ok(rows.some((r) => r > 10_000) && rows.some((r) => r < 10_000), "both halves");
    assert.ok(rows.includes(3) && rows.includes(19_985), "rows numbered from 0 in the file");
  });
}

test("a quote in the first half keeps the scan on one thread, with the same result", async () => {
  writeFileSync(join(dir, "quoted.csv"), catalogText(4000, { quoteAt: 10 }));
  const one = await buildWith("quoted.csv", "quoted-one", false);
  const two = await buildWith("quoted.csv", "quoted-two", true);
  assert.equal(two.twoThreads, false);
  assert.deepEqual(contents("quoted-two"), contents("quoted-one"));
  // A quote only in the second half does not stop the split.
  writeFileSync(join(dir, "quoted-late.csv"), catalogText(4000, { quoteAt: 3900 }));
  const late = await buildWith("quoted-late.csv", "quoted-late", true);
  assert.equal(late.twoThreads, true);
  assert.equal(late.result.report.rows, one.result.report.rows);
});

test("the scan thread's rows kept in their own file: killed after the plan, the resumed build routes them", async () => {
  writeFileSync(join(dir, "tail.csv"), catalogText(20_000));
  const one = await buildWith("tail.csv", "tail-one", false);
  const out = join(dir, "tail-killed");
  const specPath = join(dir, "tail-spec.json");
  writeFileSync(specPath, JSON.stringify(spec("tail.csv")));
  // A process of its own, killed (SIGKILL) once plan.json is written: rows.bin holds the first
  // half's rows, rows-tail.bin the thread's. A script file, not -e: threads inherit the flags.
  const script = join(dir, "tail-build.mts");
  writeFileSync(
    script,
    `import { readFileSync } from "node:fs";
    const { build, checkSpec } = await import(${JSON.stringify(join(ROOT, "src", "build", "index.ts"))});
    const spec = checkSpec(JSON.parse(readFileSync(process.argv[2], "utf8")), process.argv[3]);
    await build(spec, { out: process.argv[4], scanSplitBytes: 1 });`,
  );
  const killed = spawnSync(process.execPath, ["--import", "tsx", script, specPath, dir, out], {
    cwd: ROOT,
    env: { ...process.env, ASTROPILE_CRASH_AT: "plan" },
    encoding: "utf8",
  });
  assert.equal(killed.signal, "SIGKILL", killed.stderr);
  const paths = statePaths(out, "main");
  const plan = JSON.parse(readFileSync(paths.plan, "utf8"));
  assert.ok(plan.rowsTail?.rows > 5_000, JSON.stringify(plan.rowsTail));
  assert.equal(statSync(paths.rowsTail).size, plan.rowsTail.bytes);
  // The spec as the killed process read it (its fingerprint is the state's).
  const resumed = await build(checkSpec(JSON.parse(readFileSync(specPath, "utf8")), dir), {
    out,
    scanSplitBytes: 1,
  });
  assert.equal(resumed.report.status, "resumed");
  assert.deepEqual(contents("tail-killed"), contents("tail-one"));
  assert.deepEqual(resumed.report.rejected, one.result.report.rejected);
  assert.ok(!existsSync(paths.dir), "the build's state removed");
});

test("a row of the wrong width in the second half: the error names the line one thread names", async () => {
  const text = catalogText(6000).split("\n");
  // A line well into the second half loses a field.
  const at = Math.floor(text.length * 0.8);
  text[at] = text[at]!.split(",").slice(0, 4).join(",");
  writeFileSync(join(dir, "narrow.csv"), text.join("\n"));
  const failure = async (split: boolean) => {
    try {
      await buildWith("narrow.csv", `narrow-${split}`, split);
    } catch (err) {
      return err as Error & { detail?: string };
    }
    assert.fail("the build should fail");
  };
  const one = await failure(false);
  const two = await failure(true);
  assert.match(one.message, /row has 4 fields, the header has 5/);
  assert.match(one.message, new RegExp(`line ${at + 1}\\b`));
  assert.equal(two.message, one.message);
  assert.equal(two.name, one.name);
});

/** Every column of a scratch row file, concatenated, as plain arrays. */
async function rowsOf(path: string): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = { file: [], row: [], key: [] };
  for await (const b of readRowFile(path)) {
    out.file!.push(...b.file);
    out.row!.push(...b.row);
    out.key!.push(...b.key);
    for (const [name, v] of [...Object.entries(b.columns), ...Object.entries(b.carry)]) {
      out[name] ??= [];
      out[name]!.push(...(v as ArrayLike<unknown> & Iterable<unknown>));
    }
  }
  return out;
}

/** scanCatalog on one catalog file of `spec(name)`, with its progress summed. */
async function scanFile(name: string, carry: string[], splitBytes: number) {
  const s = spec(name);
  const file = join(dir, name);
  const reader = await openCatalog(file, s.catalog);
  const outputs = outputColumns(s.catalog.columns, reader.specs, file);
  await reader.close();
  const rowsPath = join(dir, `${name}-${splitBytes}.bin`);
  let progress = 0;
  const onRows = (n: number) => {
    progress += n;
  };
  const r = await scanCatalog(s.catalog, [file], dir, outputs, carry, rowsPath, onRows, splitBytes);
  return { r, rowsPath, progress };
}

test("the scan itself: the same scratch rows in the same order, counts and first rows", async () => {
  // Most refused rows in the second half, more than the report's sample of 1000 keeps.
  writeFileSync(join(dir, "scan.csv"), catalogText(30_000, { lateBad: 8 }));
  // The carried text column: the worker's must follow ours too.
  const scan = async (splitBytes: number) => {
    const { r, rowsPath, progress } = await scanFile("scan.csv", ["name"], splitBytes);
    return { r, rows: await rowsOf(rowsPath), progress };
  };
  const one = await scan(Number.POSITIVE_INFINITY);
  const two = await scan(1);
  assert.equal(one.r.filesSplit, 0);
  assert.equal(two.r.filesSplit, 1);
  // The same rows in the same order (blocks end at the split, so the bytes differ).
  assert.deepEqual(two.rows, one.rows);
  assert.equal(one.rows.row.length, one.r.rowsValid);
  const full = (r: typeof one.r) => r.hist.finish(() => false).toJson();
  assert.deepEqual(full(two.r), full(one.r));
  assert.deepEqual(two.r.firstCarry, one.r.firstCarry);
  assert.deepEqual(two.r.rejected, one.r.rejected);
  assert.ok(one.r.rejected.count > 1500 && one.r.rejected.sample.length === 1000);
  assert.ok(one.r.rejected.sample.at(-1)!.row > 15_000, "the sample reaches the second half");
  assert.deepEqual([two.r.rowsRead, two.r.rowsValid], [one.r.rowsRead, one.r.rowsValid]);
  assert.equal(two.progress, 30_000, "progress counts every row once");
  assert.equal(one.progress, 30_000);
});

test("a header after the middle (a long comment first): this thread reads the rest itself", async () => {
  const body = catalogText(2000);
  const preamble = `${"# a long preamble line, longer than the rows below it\n".repeat(4000)}`;
  writeFileSync(join(dir, "preamble.csv"), preamble + body);
  writeFileSync(join(dir, "plain.csv"), body);
  const { r, progress } = await scanFile("preamble.csv", [], 1);
  assert.equal(r.filesSplit, 0, "the worker's rows were not used");
  assert.equal(r.rowsRead, 2000);
  assert.equal(progress, 2000, "the worker's progress was taken back");
  const plain = await buildWith("plain.csv", "plain-one", false);
  assert.equal(r.rejected.count, plain.result.report.rejected.count);
});

// Several files on two threads: this thread the first ones, the scan thread the others.

/**
 * Catalog files (plain and gzip alternately) of the rows of catalogText(rows): the first holds
 * `firstShare` of them, the other `n - 1` the rest in equal parts.
 */
function writeParts(
  prefix: string,
  n: number,
  rows: number,
  firstShare = 1 / n,
  lateBad?: number,
): string[] {
  const lines = catalogText(rows, { lateBad, onlyLate: lateBad !== undefined }).split("\n");
  const header = lines[0]!;
  const body = lines.slice(1).filter((l) => l !== "");
  const first = Math.floor(firstShare * body.length);
  const cuts = [
    0,
    ...Array.from(
      { length: n },
      (_, k) => first + Math.floor((k * (body.length - first)) / (n - 1)),
    ),
  ];
  const names: string[] = [];
  for (let k = 0; k < n; k++) {
    const text = `${[header, ...body.slice(cuts[k], cuts[k + 1])].join("\n")}\n`;
    const name = `${prefix}-${String(k).padStart(2, "0")}.csv${k % 2 ? ".gz" : ""}`;
    writeFileSync(join(dir, name), k % 2 ? gzipSync(text) : text);
    names.push(name);
  }
  return names;
}

test("several files on two threads: the same dataset and refused rows as one thread", async () => {
  // The scan thread reads the last files (about half the work, gzip counted thrice), several of
  // them, appended in file order.
  // Refused rows only in the second half (the thread's files), more than the report's sample
  // keeps: the sample is theirs alone.
  writeParts("many", 8, 24_000, 1 / 8, 4);
  const one = await buildWith("many-*.csv*", "many-one", false);
  const two = await buildWith("many-*.csv*", "many-two", true);
  assert.equal(one.onThread, 0);
  assert.ok(two.onThread >= 3 && two.onThread <= 5, `${two.onThread} files on the thread`);
  assert.deepEqual(contents("many-two"), contents("many-one"));
  assert.deepEqual(two.result.report.rejected, one.result.report.rejected);
  const rejected = two.result.report.rejected;
  assert.ok(rejected.count > 2000 && rejected.sample.length === 1000, `${rejected.count}`);
  // The sample reaches into the files the thread read.
  const lastFile = Number(rejected.sample.at(-1)!.file.match(/many-(\d+)/)![1]);
  assert.ok(lastFile >= 8 - two.onThread, `the sample ends in file ${lastFile}`);
  assert.equal(two.result.report.rowsRead, one.result.report.rowsRead);
});

test("several files: an error in a file either thread reads is the one one thread raises", async () => {
  for (const [label, bad, noMag] of [
    ["a bad row in the last file (the scan thread's)", 4, -1],
    ["a bad row in the first file (this thread's), a missing column in a later one", 0, 3],
  ] as const) {
    const names = writeParts(`bad${bad}`, 5, 5000);
    // A row of the wrong width (the file is plain CSV: an even index).
    const lines = readFileSync(join(dir, names[bad]!)).toString().split("\n");
    lines[300] = lines[300]!.split(",").slice(0, 3).join(",");
    writeFileSync(join(dir, names[bad]!), lines.join("\n"));
    if (noMag >= 0) {
      // A file one thread never reaches, without the mag column: its error must not come first.
      const rows = gunzipSync(readFileSync(join(dir, names[noMag]!)))
        .toString()
        .split("\n");
      const cut = rows.map((l) =>
        l
          .split(",")
          .filter((_, c) => c !== 3)
          .join(","),
      );
      writeFileSync(join(dir, names[noMag]!), gzipSync(cut.join("\n")));
    }
    const failure = async (parallel: boolean) => {
      try {
        await buildWith(`bad${bad}-*.csv*`, `bad${bad}-${parallel}`, parallel);
      } catch (err) {
        return err as Error;
      }
      assert.fail(`${label}: the build should fail`);
    };
    const one = await failure(false);
    const two = await failure(true);
    assert.match(one.message, /row has 3 fields, the header has 5/, label);
    assert.match(one.message, /line 301\b/, label);
    assert.ok(one.message.includes(names[bad]!), label);
    assert.equal(two.message, one.message, label);
    assert.equal(two.name, one.name, label);
  }
});
