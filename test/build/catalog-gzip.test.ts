// A catalog-only build reads `catalog.csv.gz` as users ship it: the same dataset as from the
// plain CSV.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { build } from "../../src/build/index.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";
import { csvCatalogSpec, readAll } from "./helpers.ts";

const dir = tempDir("astropile-catalog-gz-");

test("a .csv.gz catalog builds the same dataset as the plain .csv", async () => {
  const rand = mulberry32(5);
  const lines = ["id,ra,dec,mag"];
  for (let i = 0; i < 500; i++) {
    const ra = 150 + 2 * (rand() - 0.5);
    const dec = 2 + 2 * (rand() - 0.5);
    lines.push(`${i + 1},${ra.toFixed(8)},${dec.toFixed(8)},${(10 + 5 * rand()).toFixed(3)}`);
  }
  const text = `${lines.join("\n")}\n`;
  writeFileSync(join(dir, "cat.csv"), text);
  writeFileSync(join(dir, "cat.csv.gz"), gzipSync(text));
  const spec = (file: string) => csvCatalogSpec(dir, "GZ", { files: file });
  await build(spec("cat.csv"), { out: join(dir, "plain"), workers: 1 });
  const gz = await build(spec("cat.csv.gz"), { out: join(dir, "gz"), workers: 1 });
  assert.equal(gz.report.rows, 500);
  assert.equal(gz.report.rejected.count, 0);
  const a = await readAll(join(dir, "plain"), "main", ["object_id", "ra", "dec", "mag"]);
  const b = await readAll(join(dir, "gz"), "main", ["object_id", "ra", "dec", "mag"]);
  assert.deepEqual(b.columns, a.columns);
  assert.deepEqual(await verifyDataset(join(dir, "gz"), { checksums: true }), []);
  assert.ok(readFileSync(join(dir, "cat.csv.gz")).length < text.length);
});
