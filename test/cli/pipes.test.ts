// The command with its output piped into a reader that leaves early (`astropile ... | head`):
// a real pipe closed after the first bytes. The command ends quietly with exit 0, no stack.
// Also: numbers on the command line are decimal only.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { numberOption } from "../../src/cli/format.ts";
import { isAstroPileError } from "../../src/core/errors.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-pipes-");
const DS = join(dir, "ds");
const ROWS = 3000;
const points = skyPoints(ROWS, 5, 0.01);
await writeDataset(
  DS,
  [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [] },
    { name: "dec", dtype: "float64", shape: [] },
    { name: "flux", dtype: "float32", shape: [8] },
  ],
  [
    {
      object_id: BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(i)),
      ra: points.ra,
      dec: points.dec,
      flux: new Float32Array(ROWS * 8).fill(1.5),
    },
  ],
  { config: "c", provenance: { survey: "S" } },
);

/** Runs the command with stdout into a pipe that the reader closes after the first chunk. */
function runIntoClosedPipe(
  args: string[],
): Promise<{ code: number | null; signal: string | null; stderr: string; got: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(...args), {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let got = 0;
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      stderr += s;
    });
    child.stdout.once("data", (b: Buffer) => {
      got = b.length;
      child.stdout.destroy(); // the reader is gone: the command's next write meets EPIPE
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stderr, got }));
  });
}

test("output piped into a reader that leaves early: exit 0, nothing on stderr", async () => {
  for (const args of [
    ["head", DS, "-n", String(ROWS), "--json", "--columns", "object_id,ra,dec,flux"],
    ["xmatch", DS, DS, "--radius", "3600", "--mode", "all", "--json", "--quiet", "--threads", "0"],
    ["cone", DS, "--ra", "0", "--dec", "0", "--radius", "648000", "--limit", String(ROWS)],
  ]) {
    const r = await runIntoClosedPipe(args);
    assert.ok(r.got > 0, `${args[0]}: the reader got the first bytes`);
    assert.equal(r.stderr, "", `${args[0]}: quiet`);
    assert.equal(r.code, 0, `${args[0]}: exit ${r.code} (${r.signal})`);
  }
});

test("the whole output, when read, is the same command's output (valid JSON)", () => {
  const r = spawnSync(
    process.execPath,
    cliArgs("xmatch", DS, DS, "--radius", "1", "--json", "--quiet", "--threads", "0"),
    { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 28 },
  );
  assert.equal(r.status, 0, r.stderr);
  const body = JSON.parse(r.stdout) as { rows: number; pairs: Array<{ sep_arcsec: number }> };
  assert.equal(body.pairs.length, body.rows);
  assert.ok(body.rows >= ROWS);
});

test("number options are decimal numbers only: no hex, blanks, Infinity or a bare exponent", () => {
  for (const good of ["16", "-0.5", ".5", "1e-6", "2E3", "+3"])
    assert.equal(numberOption(good, "--x"), Number(good), good);
  for (const bad of [
    "0x10",
    "0b11",
    "0o7",
    "1e",
    "",
    "  ",
    " 1",
    "Infinity",
    "-Infinity",
    "NaN",
    "1_000",
    "1e999",
  ]) {
    assert.throws(
      () => numberOption(bad, "--radius"),
      (e: Error) =>
        isAstroPileError(e, "ASTROPILE_USAGE") &&
        (e as Error & { exitCode?: number }).exitCode === 2 &&
        e.message.includes(`--radius ${JSON.stringify(bad)}`),
      JSON.stringify(bad),
    );
  }
  assert.equal(
    refused("xmatch", DS, DS, "--radius", "0x10"),
    'astropile: --radius "0x10" is not a valid value: a number > 0 and <= 648000 is expected\n',
  );
});

/** What the CLI prints for arguments it refuses (exit code 2). */
function refused(...args: string[]): string {
  const r = spawnSync(process.execPath, cliArgs(...args), { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 2, r.stderr);
  return r.stderr;
}

test("a number option out of its range says what it takes", () => {
  const says = (value: string, range: Parameters<typeof numberOption>[2]) => {
    try {
      numberOption(value, "--x", range);
    } catch (e) {
      assert.ok(isAstroPileError(e, "ASTROPILE_USAGE"), String(e));
      return (e as Error).message;
    }
    assert.fail(`${value} was taken`);
  };
  assert.equal(
    says("0", { above: 0, max: 648000 }),
    '--x "0" is not a valid value: a number > 0 and <= 648000 is expected',
  );
  assert.equal(
    says("1.5", { integer: true, min: 1 }),
    '--x "1.5" is not a valid value: an integer >= 1 is expected',
  );
  assert.equal(
    says("-91", { min: -90, max: 90 }),
    '--x "-91" is not a valid value: a number >= -90 and <= 90 is expected',
  );
  assert.equal(says("abc", {}), '--x "abc" is not a valid value: a number is expected');
  // The bounds themselves are taken.
  assert.equal(numberOption("-90", "--x", { min: -90, max: 90 }), -90);
  assert.equal(numberOption("648000", "--x", { above: 0, max: 648000 }), 648000);
  assert.equal(
    refused("cone", DS, "--ra", "10", "--dec", "95", "--radius", "1"),
    'astropile: --dec "95" is not a valid value: a number >= -90 and <= 90 is expected\n',
  );
});
