// The `astropile` command: demo, build, info, head, cone, with --json, exit codes and one-line
// errors. Commands run in a child process (test/cli/runner.ts); two go through the real launcher.
import assert from "node:assert/strict";
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, test } from "node:test";
import { SCAN_SPLIT_BYTES } from "../../src/build/plan.ts";
import { summarizeDataset } from "../../src/dataset/index.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import { readAll } from "../build/helpers.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const dir = tempDir();
const demoDir = join(dir, "demo");

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

let child: ChildProcessWithoutNullStreams;
let lines: AsyncIterator<string>;

async function cli(...args: string[]): Promise<Result> {
  child.stdin.write(`${JSON.stringify(args)}\n`);
  const next = await lines.next();
  return JSON.parse(next.value as string) as Result;
}

function json<T = Record<string, unknown>>(r: Result): T {
  assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

before(async () => {
  child = spawn(
    process.execPath,
    [
      "--import",
      "h5wasm/node",
      "--import",
      "tsx",
      join(import.meta.dirname, "..", "helpers", "cli-runner.ts"),
    ],
    {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
});

after(() => {
  child.stdin.end();
  child.kill();
});

interface DemoJson {
  seconds: number;
  sources: { reused: boolean; catalogRows: number; targets: number };
  datasets: Array<{
    key: string;
    dir: string;
    rows: number;
    files: number;
    areaDeg2: number;
    report: { status: string; rows: number };
  }>;
}

describe("astropile demo, info, head, cone", () => {
  let demo: DemoJson;

  before(async () => {
    demo = json<DemoJson>(
      await cli("demo", "--size", "tiny", "--out", demoDir, "--json", "--quiet"),
    );
  });

  test("demo generates the sources and builds both datasets; a re-run reuses them", async () => {
    assert.equal(demo.datasets.length, 2);
    const [hsc, desi] = demo.datasets;
    assert.equal(hsc.key, "hsc");
    assert.equal(hsc.rows, demo.sources.catalogRows);
    assert.equal(desi.rows, demo.sources.targets);
    assert.ok(hsc.areaDeg2 > 0 && hsc.files >= 2);
    const again = json<DemoJson>(
      await cli("demo", "--size", "tiny", "--out", demoDir, "--json", "--quiet"),
    );
    assert.equal(again.sources.reused, true);
    assert.deepEqual(
      again.datasets.map((d) => d.report.status),
      ["unchanged", "unchanged"],
    );
    // The text summary states units.
    const text = await cli("demo", "--size", "tiny", "--out", demoDir, "--quiet");
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /64x64 px stamps \(10\.8 arcsec\)/);
    assert.match(text.stdout, /3600-9824 Angstrom/);
    assert.match(text.stdout, /arcmin2 covered/);
  });

  test("info: manifest summary, schema with units, rows per HEALPix pixel", async () => {
    const hscDir = join(demoDir, "hsc");
    const info = json<{
      configs: Record<
        string,
        {
          rows: number;
          files: number;
          columns: Array<{ name: string; shape: number[]; unit?: string }>;
          pixels: Array<{ rows: number }>;
        }
      >;
    }>(await cli("info", hscDir, "--json"));
    const c = info.configs.pdr3_dud;
    assert.equal(c.rows, demo.datasets[0].rows);
    assert.equal(
      c.pixels.reduce((s, p) => s + p.rows, 0),
      c.rows,
    );
    const image = c.columns.find((col) => col.name === "image_array");
    assert.deepEqual(image?.shape, [5, 64, 64]);
    assert.equal(image?.unit, "nanomaggy");
    const text = await cli("info", hscDir);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /COLUMN\s+DTYPE\s+SHAPE\s+UNIT\s+DESCRIPTION/);
    assert.match(text.stdout, /image_psf_fwhm\s+float32\s+\[5\]\s+arcsec/);
    assert.match(text.stdout, /ORDER\s+HEALPIX\s+RA_DEG\s+DEC_DEG\s+FILES\s+ROWS\s+BYTES/);
    assert.match(text.stdout, /layout (adaptive|mmu)/);
    assert.match(
      text.stdout,
      /partitions: (\d+ \(\d+ of them runs of sparse pixels sharing files\), )?\d+ HEALPix pixels \(order \d+: \d+/,
    );
    assert.match(text.stdout, /coverage: .* \(order-\d+ cells holding a row/);
  });

  test("info --coverage-order: the coverage at that order, as the library counts it", async () => {
    const hscDir = join(demoDir, "hsc");
    type Coverage = { configs: Record<string, { areaDeg2: number; coverageOrder: number }> };
    const want = await summarizeDataset(hscDir, { config: "pdr3_dud", coverageOrder: 3 });
    const at3 = json<Coverage>(
      await cli("info", hscDir, "--coverage", "--coverage-order", "3", "--json"),
    );
    assert.equal(at3.configs.pdr3_dud.coverageOrder, 3);
    assert.equal(at3.configs.pdr3_dud.areaDeg2, want.areaDeg2);
    const text = await cli("info", hscDir, "--coverage-order", "3");
    assert.match(text.stdout, /coverage: .* \(order-3 cells holding a row, 53\.71 deg2 each\)/);
    const bad = await cli("info", hscDir, "--coverage-order", "13");
    assert.equal(bad.code, 2);
    assert.match(
      bad.stderr,
      /--coverage-order "13" is not a valid value: an integer >= 0 and <= 12/,
    );
  });

  test("head: the first rows, as stored; arrays in full when asked for", async () => {
    const desiDir = join(demoDir, "desi");
    const stored = await readAll(desiDir, "edr_sv3", ["object_id", "ra", "z"]);
    const r = json<{ rows: Array<Record<string, unknown>> }>(
      await cli("head", desiDir, "-n", "3", "--columns", "object_id,ra,z", "--json"),
    );
    assert.equal(r.rows.length, 3);
    for (let i = 0; i < 3; i++) {
      // An int64 is a string of its digits, whatever its size (one JSON type per column).
      assert.equal(r.rows[i].object_id, (stored.columns.object_id as BigInt64Array)[i].toString());
      assert.equal(r.rows[i].ra, (stored.columns.ra as Float64Array)[i]);
      assert.equal(r.rows[i].z, (stored.columns.z as Float64Array)[i]);
    }
    const img = json<{ rows: Array<{ image_array: number[][][] }> }>(
      await cli("head", join(demoDir, "hsc"), "-n", "1", "--columns", "image_array", "--json"),
    );
    assert.equal(img.rows[0].image_array.length, 5);
    assert.equal(img.rows[0].image_array[0].length, 64);
    assert.equal(img.rows[0].image_array[0][0].length, 64);
    const text = await cli("head", desiDir, "-n", "2");
    assert.equal(text.code, 0);
    assert.match(text.stdout, /spectrum_flux/);
    assert.match(text.stdout, /float32\[7781\]/);
    assert.match(text.stdout, /\(2 of \d+ rows\)/);
  });

  test("cone: exactly the rows within the radius, nearest first, with their distances", async () => {
    const hscDir = join(demoDir, "hsc");
    const all = await readAll(hscDir, "pdr3_dud", ["object_id", "ra", "dec"]);
    const ra0 = (all.columns.ra as Float64Array)[5];
    const dec0 = (all.columns.dec as Float64Array)[5];
    const radius = 25;
    const want = new Map<string, number>();
    for (let i = 0; i < all.rows; i++) {
      const d =
        angularSeparationDeg(
          ra0,
          dec0,
          (all.columns.ra as Float64Array)[i],
          (all.columns.dec as Float64Array)[i],
        ) * 3600;
      if (d <= radius) want.set((all.columns.object_id as BigInt64Array)[i].toString(), d);
    }
    assert.ok(want.size >= 3, `${want.size} objects in the cone`);
    // The cone's ids as JSON, centred at right ascension `ra`.
    const idsAt = async (ra: number) =>
      json<{ rows: Array<{ dist_arcsec: number; object_id: string }> }>(
        await cli(
          "cone",
          hscDir,
          "--ra",
          String(ra),
          "--dec",
          String(dec0),
          "--radius",
          String(radius),
          "--columns",
          "object_id",
          "--json",
          "--limit",
          "1000",
        ),
      );
    const r = await idsAt(ra0);
    assert.equal(r.rows.length, want.size);
    for (const [k, row] of r.rows.entries()) {
      const d = want.get(String(row.object_id));
      assert.ok(d !== undefined, `unexpected ${row.object_id}`);
      assert.ok(Math.abs(row.dist_arcsec - d) < 1e-9);
      if (k > 0) assert.ok(row.dist_arcsec >= r.rows[k - 1].dist_arcsec);
    }
    assert.equal(r.rows[0].dist_arcsec, 0);
    const limited = json<{ rows: unknown[] }>(
      await cli(
        "cone",
        hscDir,
        "--ra",
        String(ra0),
        "--dec",
        String(dec0),
        "--radius",
        String(radius),
        "--limit",
        "2",
        "--json",
      ),
    );
    assert.equal(limited.rows.length, 2);
    // JSON says how many rows the cone holds and that the limit left some out.
    const counted = limited as unknown as { matched: number; truncated: boolean; limit: number };
    assert.deepEqual([counted.matched, counted.truncated, counted.limit], [want.size, true, 2]);
    const every = r as unknown as { matched: number; truncated: boolean };
    assert.deepEqual([every.matched, every.truncated], [want.size, false]);
    // A centre given as a negative right ascension (the -180..180 habit) is the same cone.
    const negative = await idsAt(ra0 - 360);
    assert.deepEqual(
      negative.rows.map((x) => x.object_id),
      r.rows.map((x) => x.object_id),
    );
    // --limit 0: no rows, still the count.
    const none = json<{ rows: unknown[]; matched: number; truncated: boolean }>(
      await cli(
        "cone",
        hscDir,
        "--ra",
        String(ra0),
        "--dec",
        String(dec0),
        "--radius",
        String(radius),
        "--limit",
        "0",
        "--json",
      ),
    );
    assert.deepEqual([none.rows.length, none.matched, none.truncated], [0, want.size, true]);
    const text = await cli(
      "cone",
      hscDir,
      "--ra",
      String(ra0),
      "--dec",
      String(dec0),
      "--radius",
      String(radius),
      "--limit",
      "0",
    );
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`\\(0 of ${want.size} rows within 25 arcsec.*--limit N`));
  });

  test("head --columns takes the groups Dataset.select takes (image, spectrum, ifu)", async () => {
    const desiDir = join(demoDir, "desi");
    const r = json<{ columns: Array<{ name: string; shape: number[] }>; rows: unknown[] }>(
      await cli("head", desiDir, "-n", "1", "--columns", "object_id,spectrum", "--json"),
    );
    const names = r.columns.map((c) => c.name);
    assert.equal(names[0], "object_id");
    for (const c of ["spectrum_flux", "spectrum_ivar", "spectrum_lambda", "spectrum_mask"])
      assert.ok(names.includes(c), `${c} in ${names.join(",")}`);
    assert.deepEqual(r.columns.find((c) => c.name === "spectrum_flux")?.shape, [7781]);
    const img = await cli("head", join(demoDir, "hsc"), "-n", "1", "--columns", "image");
    assert.equal(img.code, 0, img.stderr);
    assert.match(img.stdout, /image_array\s+image_ivar/);
    const none = await cli("head", desiDir, "--columns", "ifu");
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^astropile: no ifu columns in /);
  });
});

/** A catalog CSV and a build spec mapping `columns` of it, in `src`; returns the spec's path. */
function catalogSpecFile(
  src: string,
  survey: string,
  csv: string,
  columns: Record<string, string>,
): string {
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "cat.csv"), csv);
  const specPath = join(src, "spec.json");
  writeFileSync(
    specPath,
    JSON.stringify({
      config: "main",
      provenance: { survey },
      root: src,
      catalog: { files: "cat.csv", columns },
    }),
  );
  return specPath;
}

describe("astropile build", () => {
  test("build SPEC --out DIR from a spec file; --json report; a re-run is a no-op", async () => {
    const spec = json<Record<string, unknown>>(await cli("build", "--print-spec", "desi"));
    assert.equal(spec.config, "edr_sv3");
    const specPath = join(dir, "desi.json");
    writeFileSync(specPath, JSON.stringify({ ...spec, root: join(demoDir, "sources", "desi") }));
    const out = join(dir, "built-desi");
    const report = json<{
      status: string;
      rows: number;
      files: number;
      rejected: { count: number };
    }>(await cli("build", specPath, "--out", out, "--json", "--quiet"));
    assert.equal(report.status, "built");
    assert.equal(
      report.rows,
      (await readAll(join(demoDir, "desi"), "edr_sv3", ["object_id"])).rows,
    );
    assert.equal(report.rejected.count, 0);
    const again = await cli("build", specPath, "--out", out);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^already built: DESI edr_sv3/);
  });

  test("refused rows are summed by kind, each kind with its first row whole", async () => {
    const src = join(dir, "refusals");
    const specPath = catalogSpecFile(
      src,
      "REFUSALS",
      "id,ra,dec,flag\n1,10,10,3\n2,400,10,1\n3,10,10,\n4,11,10,2\n",
      {
        object_id: "id",
        ra: "ra",
        dec: "dec",
        flag: "flag",
      },
    );
    const built = await cli("build", specPath, "--out", join(src, "out"), "--quiet");
    assert.equal(built.code, 0, built.stderr);
    const lines = built.stdout.split("\n").slice(1, 6);
    assert.match(lines[0], /^ {2}rejected 2 row\(s\), kept out of the dataset \(details: /);
    assert.deepEqual(lines.slice(1), [
      "          1  catalog: column ra: N is not a right ascension in [-360, 360] degrees",
      "             e.g. cat.csv row 1: column ra: 400 is not a right ascension in [-360, 360] degrees",
      "          1  catalog: column flag: missing value",
      '             e.g. cat.csv row 2: column flag: missing value (an int64 column cannot hold it; give a "fill" value)',
    ]);
  });

  test("a catalog that repeats object_ids is built, with a warning from build and info", async () => {
    const src = join(dir, "repeats");
    const lines = [
      "id,ra,dec",
      "1,10,10",
      "1,10.0001,10",
      "2,20,20",
      "3,30,30",
      "3,30,30.5",
      "3,31,30",
    ];
    const specPath = catalogSpecFile(src, "REPEATS", `${lines.join("\n")}\n`, {
      object_id: "id",
      ra: "ra",
      dec: "dec",
    });
    const out = join(src, "out");
    const built = await cli("build", specPath, "--out", out, "--quiet");
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stdout, /warning: 3 row\(s\) repeat an object_id that another row has/);
    const report = json<{ repeatedIds: number }>(
      await cli("build", specPath, "--out", join(src, "out2"), "--quiet", "--json"),
    );
    assert.equal(report.repeatedIds, 3);
    const info = await cli("info", out);
    assert.match(info.stdout, /object_id: 3 row\(s\) repeat an id that another row has/);
    const infoJson = json<{ configs: { main: { repeatedIds: number } } }>(
      await cli("info", out, "--json"),
    );
    assert.equal(infoJson.configs.main.repeatedIds, 3);
  });
});

describe("errors and exit codes", () => {
  test("usage errors exit 2, data errors 1, each one line; --verbose adds the stack", async () => {
    const noOut = await cli("build", "spec.json");
    assert.equal(noOut.code, 2);
    assert.equal(noOut.stderr.trim().split("\n").length, 1);
    assert.match(noOut.stderr, /^astropile: missing --out DIR/);
    const noSpec = await cli("build", join(dir, "nope.json"), "--out", join(dir, "x"));
    assert.equal(noSpec.code, 2);
    assert.match(noSpec.stderr, /cannot read the spec/);
    const notDataset = await cli("info", dir);
    assert.equal(notDataset.code, 1);
    assert.match(
      notDataset.stderr,
      /^astropile: no manifest: not an AstroPile dataset \(file .*astropile\.json\)\n$/,
    );
    for (const cmd of ["info", "head", "cone"]) {
      const where = cmd === "cone" ? ["--ra", "1", "--dec", "1", "--radius", "1"] : [];
      const missing = await cli(cmd, join(dir, "nope"), ...where);
      assert.equal(missing.code, 1, cmd);
      assert.equal(missing.stderr, `astropile: no such directory: ${join(dir, "nope")}\n`, cmd);
    }
    const badRa = await cli(
      "cone",
      join(demoDir, "hsc"),
      "--ra",
      "400",
      "--dec",
      "0",
      "--radius",
      "5",
    );
    assert.equal(badRa.code, 2);
    const badColumn = await cli("head", join(demoDir, "hsc"), "--columns", "nope");
    assert.equal(badColumn.code, 2);
    assert.match(badColumn.stderr, /no column "nope"/);
    const unknown = await cli("frobnicate");
    assert.equal(unknown.code, 2);
    const verbose = await cli("info", dir, "--verbose");
    assert.equal(verbose.code, 1);
    assert.match(verbose.stderr, /\n\s+at /);
  });

  test("every command has --help with its units", async () => {
    for (const [cmd, re] of [
      ["build", /JSON/],
      ["demo", /arcsec/],
      ["info", /HEALPix/],
      ["head", /rows/],
      ["cone", /arcsec/],
    ] as const) {
      const r = await cli(cmd, "--help");
      assert.equal(r.code, 0, cmd);
      assert.match(r.stdout, re, cmd);
    }
    // The size the build help names is the one the scan uses.
    const build = await cli("build", "--help");
    assert.match(
      build.stdout.replace(/\s+/g, " "),
      new RegExp(`${SCAN_SPLIT_BYTES / 2 ** 20} MiB`),
    );
    const cone = await cli("cone", "--help");
    assert.match(cone.stdout, /--ra <deg>.*degrees/);
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const version = await cli(flag);
      assert.equal(version.code, 0, flag);
      assert.equal(version.stdout.trim(), pkg.version, flag);
    }
    assert.match(cone.stdout, /--radius <arcsec>.*arcseconds/);
  });

  test("the command as a process (src/cli/bin.ts) gives the same answers and exit codes", () => {
    const ok = spawnSync(process.execPath, cliArgs("info", join(demoDir, "desi"), "--json"), {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).name, "desi");
    const bad = spawnSync(process.execPath, cliArgs("info", dir), {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(bad.status, 1);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
  });
});
