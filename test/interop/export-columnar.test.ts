// exportDataset and `astropile export` to parquet, huggingface and hats (the columnar formats
// registered with the export framework): DuckDB (an independent reader) gets back every row and
// value; the HATS output's partition_info.csv and the HuggingFace card describe the files.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { parse } from "yaml";
import { isAstroPileError } from "../../src/core/errors.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { exportDataset, exportFormats } from "../../src/interop/export.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";
import { duck } from "./duck.ts";
import { writeExportDataset } from "./export-fixture.ts";

const N = 300;
const dir = tempDir();
let root: string;
let ds: Dataset;
/** object_id -> [ra, z, image_array values] read from the dataset. */
const want = new Map<string, [number, number, number[]]>();

before(async () => {
  root = await writeExportDataset(dir, N);
  ds = await openDataset(root);
  for await (const b of ds.batches({
    size: 128,
    columns: ["object_id", "ra", "z", "image_array"],
  })) {
    const img = b.columns.image_array as Float32Array;
    const per = img.length / b.length;
    for (let i = 0; i < b.length; i++)
      want.set(String((b.columns.object_id as BigInt64Array)[i]), [
        (b.columns.ra as Float64Array)[i]!,
        (b.columns.z as Float64Array)[i]!,
        Array.from(img.subarray(i * per, (i + 1) * per)),
      ]);
  }
});

/** Every row DuckDB reads from `source` equals the dataset's row of the same object_id. */
async function assertSameRows(source: string, rows = N) {
  const q = await duck();
  const got = await q(`SELECT object_id, ra, z, image_array FROM ${source}`);
  assert.equal(got.length, rows, `${source}: ${got.length} rows`);
  const seen = new Set<string>();
  for (const r of got) {
    const id = String(r.object_id);
    const w = want.get(id);
    assert.ok(w, `object_id ${id} is one of the dataset's`);
    seen.add(id);
    assert.equal(r.ra, w[0], `ra of ${id}`);
    assert.ok(Object.is(r.z, w[1]) || r.z === w[1], `z of ${id}`);
    assert.deepEqual(
      (r.image_array as number[]).map((x) => Math.fround(x)),
      w[2],
      `image_array of ${id}`,
    );
  }
  assert.equal(seen.size, rows, "no row twice");
}

test("parquet, huggingface and hats are export formats", () => {
  for (const f of ["parquet", "huggingface", "hats"])
    assert.ok(
      exportFormats().some((e) => e.format === f),
      f,
    );
});

test("exportDataset to parquet: one file DuckDB reads with the dataset's rows and values", async () => {
  const out = join(tempDir(), "all.parquet");
  const r = await exportDataset(ds, {
    to: "parquet",
    out,
    columns: ["object_id", "ra", "z", "image_array"],
  });
  assert.equal(r.rows, N);
  await assertSameRows(`read_parquet('${out}')`);
});

test("exportDataset to huggingface: data files of --file-rows rows and a card naming them", async () => {
  const out = join(tempDir(), "hf");
  const r = await exportDataset(ds, {
    to: "huggingface",
    out,
    columns: ["object_id", "ra", "z", "image_array"],
    formatOptions: { maxRowsPerFile: 120 },
  });
  assert.equal(r.rows, N);
  const card = readFileSync(join(out, "README.md"), "utf8");
  const yaml = parse(card.split("---")[1]!) as {
    configs: Array<{ data_files: Array<{ path: string }> }>;
  };
  const files = yaml.configs[0]!.data_files.flatMap((d) => d.path);
  assert.ok(files.length > 0, "the card names data files");
  for (const f of files) assert.ok(f.startsWith("data/"), f);
  await assertSameRows(`read_parquet('${join(out, "data", "*.parquet")}')`);
});

test("astropile export --to hats: partitions of at most --partition-rows rows, DuckDB reads them all", () => {
  const out = join(tempDir(), "hats_cat");
  const run = (...extra: string[]) =>
    spawnSync(
      process.execPath,
      cliArgs(
        "export",
        root,
        "--to",
        "hats",
        "--out",
        out,
        "--partition-rows",
        "60",
        "--quiet",
        ...extra,
      ),
      { encoding: "utf8" },
    );
  const r = run();
  assert.equal(r.status, 0, r.stderr);
  const info = readFileSync(join(out, "partition_info.csv"), "utf8").trim().split("\n");
  assert.match(info[0]!, /Norder/);
  assert.ok(info.length - 1 >= Math.ceil(N / 60), `${info.length - 1} partitions for ${N} rows`);
  assert.ok(existsSync(join(out, "properties")) || existsSync(join(out, "hats.properties")));
  // An existing output: refused without --force; replaced with it (it is a HATS catalog).
  assert.equal(run().status, 2);
  const again = run("--force");
  assert.equal(again.status, 0, again.stderr);
  return assertSameRows(`read_parquet('${join(out, "dataset", "**", "*.parquet")}')`);
});

test("bad format options are usage errors that leave nothing behind", async () => {
  const out = join(tempDir(), "x.parquet");
  await assert.rejects(
    exportDataset(ds, { to: "parquet", out, formatOptions: { compression: "lz77" } }),
    (e) => isAstroPileError(e, "ASTROPILE_USAGE") && /compression/.test((e as Error).message),
  );
  await assert.rejects(
    exportDataset(ds, {
      to: "hats",
      out: join(tempDir(), "h"),
      formatOptions: { maxRowsPerPartition: 0 },
    }),
    (e) => isAstroPileError(e, "ASTROPILE_USAGE"),
  );
  assert.equal(existsSync(out), false);
});
