// Plain and gzip-compressed text tables read the same: CSV and ECSV catalogs as users ship them
// (`catalog.csv.gz`), told by the gzip magic bytes; a damaged gzip is a FormatError.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { FormatError } from "../../src/core/errors.ts";
import { openCsv } from "../../src/formats/csv.ts";
import { openEcsv } from "../../src/formats/ecsv.ts";
import { textChunks } from "../../src/formats/text.ts";
import { tempDir } from "../helpers/tmp.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "formats");
const dir = tempDir("astropile-text-");

async function readAll(open: () => Promise<{ batches(n: number): AsyncIterable<unknown> }>) {
  const out: unknown[] = [];
  for await (const b of (await open()).batches(7)) out.push(b);
  return out;
}

test("a gzip CSV and a gzip ECSV read exactly as the plain files", async () => {
  for (const [name, reader] of [
    ["catalog.csv", openCsv],
    ["all_types.ecsv", openEcsv],
  ] as const) {
    const plain = join(FIXTURES, name);
    const gz = join(dir, `${name}.gz`);
    writeFileSync(gz, gzipSync(readFileSync(plain)));
    // Also a gzip file whose name does not say so: the magic bytes decide.
    const hidden = join(dir, `hidden-${name}`);
    writeFileSync(hidden, gzipSync(readFileSync(plain)));
    const expected = await readAll(() => reader(plain));
    assert.ok(expected.length > 0);
    assert.deepEqual(await readAll(() => reader(gz)), expected, `${name}.gz`);
    assert.deepEqual(await readAll(() => reader(hidden)), expected, `hidden ${name}`);
  }
});

test("textChunks: from a byte offset, across multi-byte characters, plain and gzip", async () => {
  const text = `${"é∑😀,".repeat(50_000)}\nend\n`;
  const plain = join(dir, "u.txt");
  const gz = join(dir, "u.txt.gz");
  writeFileSync(plain, text);
  writeFileSync(gz, gzipSync(Buffer.from(text)));
  const offset = Buffer.byteLength("é∑😀,".repeat(10));
  for (const path of [plain, gz]) {
    let all = "";
    for await (const c of textChunks(path, { chunkBytes: 1000 })) all += c;
    assert.equal(all, text, path);
    let tail = "";
    for await (const c of textChunks(path, { start: offset, chunkBytes: 999 })) tail += c;
    assert.equal(tail, text.slice("é∑😀,".repeat(10).length), path);
  }
});

test("a truncated or damaged gzip catalog is a FormatError naming the file", async () => {
  const full = gzipSync(readFileSync(join(FIXTURES, "catalog.csv")));
  const cut = join(dir, "cut.csv.gz");
  writeFileSync(cut, full.subarray(0, Math.floor(full.length / 2)));
  const bad = join(dir, "bad.csv.gz");
  const flipped = Buffer.from(full);
  flipped[20] = flipped[20]! ^ 0xff;
  writeFileSync(bad, flipped);
  for (const path of [cut, bad]) {
    await assert.rejects(
      readAll(() => openCsv(path)),
      (e: unknown) => {
        assert.ok(e instanceof FormatError, String(e));
        assert.match((e as Error).message, new RegExp(path.replace(/[.]/g, "\\.")));
        return true;
      },
    );
  }
});
