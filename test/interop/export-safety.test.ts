// What an export must never do to what is already on disk, and the small ways it could mislead:
// `force` replaces only an earlier export of the same format (never a dataset or a project folder
// with a README.md), no export goes inside the dataset it reads (or around it), an option the
// format does not read is refused, an error names the output and not its temporary file, what a
// killed export left is cleared by the next one, and a few values and names every format must
// keep (float32 -0.0 in text, FITS column names that fit a card).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import { hostToken } from "../../src/core/process-owner.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { formatFloat32 } from "../../src/formats/csv.ts";
import { exportDataset } from "../../src/interop/export.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-export-safety-");
const N = 40;
const LONG = "n".repeat(69);
const FITS_MAX = "m".repeat(68);
const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "flux", dtype: "float32", shape: [] },
  { name: LONG, dtype: "float64", shape: [] },
  { name: FITS_MAX, dtype: "float64", shape: [] },
  { name: "größe", dtype: "float64", shape: [] },
  { name: "label", dtype: "string", shape: [] },
];
let root: string;
let ds: Dataset;

before(async () => {
  root = join(dir, "cat");
  const { ra, dec } = skyPoints(N, 5, 0.5);
  await writeDataset(
    root,
    COLUMNS,
    [
      {
        object_id: BigInt64Array.from({ length: N }, (_, i) => BigInt(i + 1)),
        ra,
        dec,
        // -0.0 first: text formats must keep its sign, as astropy's writers do.
        flux: Float32Array.from({ length: N }, (_, i) => (i === 0 ? -0 : i / 3)),
        [LONG]: Float64Array.from({ length: N }, (_, i) => i),
        [FITS_MAX]: Float64Array.from({ length: N }, (_, i) => 2 * i),
        größe: Float64Array.from({ length: N }, (_, i) => 3 * i),
        label: Array.from({ length: N }, (_, i) => (i === 7 ? "café" : `obj${i}`)),
      },
    ],
    { config: "main", provenance: { survey: "SAFE" } },
  );
  ds = await openDataset(root);
});

/** Every file under a directory with its bytes, to compare before and after. */
function snapshot(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string, rel: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(p, e.name), join(rel, e.name));
      else out.set(join(rel, e.name), readFileSync(join(p, e.name), "base64"));
    }
  };
  walk(path, "");
  return out;
}

test("force replaces a folder that only looks like an export (a README.md) never", async () => {
  const project = join(dir, "project");
  mkdirSync(project);
  writeFileSync(join(project, "README.md"), "# notes\n");
  writeFileSync(join(project, "thesis.tex"), "\\documentclass{article}\n");
  const before = snapshot(project);
  await assert.rejects(
    exportDataset(ds, { to: "huggingface", out: project, force: true }),
    /is a directory that is not an earlier huggingface export/,
  );
  await assert.rejects(
    exportDataset(ds, { to: "hats", out: project, force: true }),
    /is a directory that is not an earlier hats export/,
  );
  assert.deepEqual(snapshot(project), before);
});

test("force replaces an earlier export of the same format", async () => {
  for (const to of ["huggingface", "hats"]) {
    const out = join(dir, `again-${to}`);
    const first = await exportDataset(ds, { to, out, columns: ["object_id", "ra", "dec"] });
    const second = await exportDataset(ds, {
      to,
      out,
      force: true,
      columns: ["object_id", "ra", "dec"],
    });
    assert.equal(second.rows, first.rows, to);
    // Another format's export is not one of this format's.
    const other = to === "hats" ? "huggingface" : "hats";
    await assert.rejects(
      exportDataset(ds, { to: other, out, force: true, columns: ["object_id", "ra", "dec"] }),
      new RegExp(`is a directory that is not an earlier ${other} export`),
    );
  }
});

test("an export inside the dataset it reads, or around it, is refused whatever force says", async () => {
  const copyRoot = join(dir, "copy");
  cpSync(root, copyRoot, { recursive: true });
  const copy = await openDataset(copyRoot);
  const before = snapshot(copyRoot);
  const manifest = join(copyRoot, "astropile.json");
  for (const [to, out] of [
    ["csv", manifest],
    ["huggingface", copyRoot],
    ["hats", join(copyRoot, "main")],
    ["fits", join(copyRoot, "new.fits")],
    ["hats", dir],
  ] as const) {
    await assert.rejects(
      exportDataset(copy, { to, out, force: true, columns: ["object_id", "ra", "dec"] }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, "ASTROPILE_USAGE", `${to} ${out}: ${err.message}`);
        assert.match(err.message, /(is inside|holds) the dataset being exported/);
        return true;
      },
    );
  }
  assert.deepEqual(snapshot(copyRoot), before);
  assert.deepEqual(await verifyDataset(copyRoot, { checksums: true }), []);
});

test("a format option the format does not read is refused, not ignored", async () => {
  const out = join(dir, "opt.csv");
  await assert.rejects(
    exportDataset(ds, { to: "csv", out, formatOptions: { compression: "zstd" } }),
    /export to csv has no option "compression" \(it takes none\)/,
  );
  await assert.rejects(
    exportDataset(ds, {
      to: "parquet",
      out: join(dir, "opt.parquet"),
      formatOptions: { maxRowsPerPartition: 5 },
    }),
    /export to parquet has no option "maxRowsPerPartition" \(it takes compression, rowGroupRows\)/,
  );
  assert.ok(!existsSync(out));
});

test("text exports keep the sign of a float32 -0.0", async () => {
  assert.equal(formatFloat32(-0), "-0.0");
  assert.equal(formatFloat32(0), "0.0");
  for (const to of ["csv", "ecsv"]) {
    const out = join(dir, `zero.${to}`);
    await exportDataset(ds, { to, out, columns: ["object_id", "flux"] });
    const lines = readFileSync(out, "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    assert.equal(lines[0], to === "csv" ? "object_id,flux" : "object_id flux");
    const first = lines.find((l) => /^1[ ,]/.test(l));
    assert.equal(first, to === "csv" ? "1,-0.0" : "1 -0.0");
  }
});

test("FITS: a column name over 68 characters or not ASCII is left out by default, refused when asked for", async () => {
  const out = join(dir, "names.fits");
  // Every column but the one with a non-ASCII value (the next test's).
  const view = ds.select(COLUMNS.map((c) => c.name).filter((n) => n !== "label"));
  const r = await exportDataset(view, { to: "fits", out });
  assert.deepEqual(r.skipped.map((s) => s.column).sort(), [LONG, "größe"].sort());
  assert.match(r.skipped.find((s) => s.column === LONG)!.reason, /takes 69 characters.*holds 68/);
  assert.ok(r.columns.includes(FITS_MAX), "68 characters fit");
  const ttypes = readFileSync(out, "latin1").match(/TTYPE\d+ *= '[^']*'/g) ?? [];
  assert.ok(
    ttypes.some((c) => c.includes(FITS_MAX)),
    ttypes.join("\n"),
  );
  assert.ok(!readFileSync(out, "latin1").includes("CONTINUE"), "no long-string card");
  for (const name of [LONG, "größe"]) {
    await assert.rejects(
      exportDataset(ds, { to: "fits", out: join(dir, "asked.fits"), columns: [name] }),
      (err: Error & { code?: string; column?: string }) => {
        assert.equal(err.code, "ASTROPILE_SCHEMA");
        assert.equal(err.column, name);
        return true;
      },
    );
  }
});

test("an error while writing names the output, not its temporary file", async () => {
  const out = join(dir, "label.fits");
  await assert.rejects(
    exportDataset(ds, { to: "fits", out, columns: ["object_id", "label"] }),
    (err: Error & { file?: string }) => {
      assert.match(err.message, /FITS strings are ASCII/);
      assert.equal(err.file, out);
      assert.ok(!err.message.includes("export-tmp"), err.message);
      assert.ok(err.message.includes(`file ${out}`), err.message);
      return true;
    },
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes("label.fits")),
    [],
  );
});

test("what a killed export on this machine left beside its output is removed by the next export", async () => {
  const out = join(dir, "after-kill.fits");
  // A pid that is gone: a child that has exited.
  const gone = Number(
    execFileSync(process.execPath, ["-e", "console.log(process.pid)"]).toString(),
  );
  const dead = join(dir, `.after-kill.fits.${hostToken()}.${gone}.0123abcd.export-tmp`);
  const deadDir = join(dir, `.after-kill.fits.${hostToken()}.${gone}.89abcdef.export-tmp.old`);
  const alive = join(dir, `.after-kill.fits.${hostToken()}.${process.pid}.fedcba98.export-tmp`);
  const otherHost = join(dir, `.after-kill.fits.some-other-host.${gone}.00000000.export-tmp`);
  writeFileSync(dead, "half a FITS file");
  mkdirSync(deadDir);
  writeFileSync(join(deadDir, "x"), "old");
  writeFileSync(alive, "being written by a live process");
  writeFileSync(otherHost, "written from another machine sharing the directory");
  await exportDataset(ds, { to: "fits", out, columns: ["object_id", "ra", "dec"] });
  assert.ok(!existsSync(dead) && !existsSync(deadDir), "the dead process's temporaries are gone");
  assert.ok(existsSync(alive), "a live process's temporary is kept");
  assert.ok(existsSync(otherHost), "another host's temporary is kept");
});
