// Cross-match within a memory budget: saveToDisk batches by bytes (image-sized rows), a row
// over the budget is refused, and manifest row counts are never trusted blindly (absurd ones
// are ManifestErrors naming the field; ones that disagree with the files are refused before a
// unit is planned).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import type { ColumnSpec } from "../../src/core/columns.ts";
import {
  ManifestError,
  ManifestMismatchError,
  MemoryBudgetError,
  UsageError,
} from "../../src/core/errors.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-xmatch-budget-");
const MiB = 2 ** 20;

async function write(root: string, rows: number, seed: number, stamp: number[] | null) {
  const p = skyPoints(rows, seed, 0);
  const columns: ColumnSpec[] = [
    { name: "object_id", dtype: "int64", shape: [] },
    { name: "ra", dtype: "float64", shape: [] },
    { name: "dec", dtype: "float64", shape: [] },
  ];
  const batch: Record<string, Float64Array | BigInt64Array | Float32Array> = {
    object_id: BigInt64Array.from({ length: rows }, (_, i) => BigInt(seed * 1_000_000 + i)),
    ra: p.ra,
    dec: p.dec,
  };
  if (stamp) {
    columns.push({ name: "image_array", dtype: "float32", shape: stamp });
    const per = stamp.reduce((a, b) => a * b, 1);
    batch.image_array = Float32Array.from({ length: rows * per }, (_, k) => (k % 977) + seed);
  }
  await writeDataset(root, columns, [batch], {
    config: "c",
    provenance: { survey: `S${seed}` },
    maxRowsPerFile: 97,
  });
  return openDataset(root);
}

// 4 KiB image rows on both sides; every left row meets a few right rows.
const left = await write(join(dir, "left"), 400, 3, [4, 16, 16]);
const right = await write(join(dir, "right"), 400, 3, [4, 16, 16]);

test("saveToDisk within 16 MiB writes the same rows as within 1 GiB (batches by bytes)", async () => {
  const small = await crossMatch(left, right, {
    radiusArcsec: 600,
    mode: "all",
    threads: 0,
    memoryBytes: 16 * MiB,
  });
  assert.equal(small.dataset.memoryBytes, 16 * MiB);
  assert.ok(small.catalog.length > 1000, `${small.catalog.length} pairs`);
  await small.dataset.saveToDisk(join(dir, "small"));
  const big = await crossMatch(left, right, { radiusArcsec: 600, mode: "all", threads: 0 });
  await big.dataset.saveToDisk(join(dir, "big"), { memoryBytes: 2 ** 30 });
  const read = async (root: string) => {
    const ds = await openDataset(root);
    const rows = new Map<string, number[]>();
    for await (const b of ds.batches({
      size: 500,
      columns: ["object_id", "right.object_id", "image_array", "right.image_array"],
    })) {
      const ids = b.columns.object_id as BigInt64Array;
      const rids = b.columns["right.object_id"] as BigInt64Array;
      const a = b.columns.image_array as Float32Array;
      const r = b.columns["right.image_array"] as Float32Array;
      for (let i = 0; i < ids.length; i++)
        rows.set(`${ids[i]}:${rids[i]}`, [a[i * 1024]!, a[i * 1024 + 1023]!, r[i * 1024 + 5]!]);
    }
    return rows;
  };
  const a = await read(join(dir, "small"));
  const b = await read(join(dir, "big"));
  assert.equal(a.size, small.catalog.length);
  assert.deepEqual(a, b);
});

test("an output row larger than the budget allows is a MemoryBudgetError naming the bytes", async () => {
  // 4 MiB image rows: a batch may take 1/8 of 16 MiB.
  const huge = await write(join(dir, "huge"), 3, 4, [16, 256, 256]);
  const { dataset } = await crossMatch(huge, huge, {
    radiusArcsec: 1,
    threads: 0,
    memoryBytes: 16 * MiB,
  });
  await assert.rejects(dataset.saveToDisk(join(dir, "huge-x")), (e: Error) => {
    assert.ok(e instanceof MemoryBudgetError, String(e));
    assert.match(e.message, /one row of the saved match .* needs 83886\d\d bytes/);
    assert.match(e.message, /budget of 2097152 bytes/);
    assert.match(e.message, /raise --memory/);
    return true;
  });
  // With enough memory it is written.
  await dataset.saveToDisk(join(dir, "huge-y"), { memoryBytes: 256 * MiB });
  assert.equal((await openDataset(join(dir, "huge-y"))).length, 3);
  await assert.rejects(
    crossMatch(huge, huge, { radiusArcsec: 1, memoryBytes: 1e6 }),
    (e: Error) => e instanceof UsageError && /memoryBytes must be/.test(e.message),
  );
});

// biome-ignore lint/suspicious/noExplicitAny: a manifest as parsed JSON, edited freely
type Json = any;

/** A copy of `src` whose manifest `edit` changes. */
async function tampered(name: string, src: string, edit: (m: Json) => void): Promise<string> {
  const copy = join(dir, name);
  await cp(src, copy, { recursive: true });
  const path = join(copy, "astropile.json");
  const m = JSON.parse(await readFile(path, "utf8"));
  edit(m);
  await writeFile(path, JSON.stringify(m));
  return copy;
}

test("a manifest claiming 1e15 rows in a file is a ManifestError naming the field", async () => {
  const copy = await tampered("rows-1e15", join(dir, "right"), (m) => {
    m.files[1].rows = 1e15;
    m.configs.c.rows += 1e15;
  });
  await assert.rejects(
    openDataset(copy),
    (e: Error) =>
      e instanceof ManifestError &&
      e.message.includes('manifest field "files.1.rows": 1000000000000000 rows in one file') &&
      e.message.includes(join(copy, "astropile.json")),
  );
  const r = spawnSync(
    process.execPath,
    cliArgs("xmatch", join(dir, "left"), copy, "--radius", "1", "--quiet"),
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1);
  assert.match(r.stderr, /files\.1\.rows/);
  const shape = await tampered("shape", join(dir, "right"), (m) => {
    m.configs.c.columns[3].shape = [1000000, 1000000, 1000000];
  });
  await assert.rejects(
    readManifest(shape),
    (e: Error) =>
      e instanceof ManifestError &&
      /"configs\.c\.columns\.3": one row of column "image_array" \(float32\[1000000, 1000000, 1000000\]\) is 4000000000000000000 bytes/.test(
        e.message,
      ),
  );
});

test("row counts the files do not hold are refused before any unit is planned", async () => {
  // Possible numbers, consistent with each other, but not what is on disk.
  const inflate = (m: Json) => {
    for (const f of m.files) f.rows *= 1000;
    m.configs.c.rows *= 1000;
    if (m.configs.c.positions) m.configs.c.positions.rows *= 1000;
  };
  const withSidecar = await tampered("more-rows", join(dir, "right"), inflate);
  await assert.rejects(
    crossMatch(left, await openDataset(withSidecar), { radiusArcsec: 1, threads: 0 }),
    (e: Error) =>
      e instanceof ManifestMismatchError &&
      e.message.includes("positions.hdf5") &&
      /rows but the manifest says/.test(e.message),
  );
  const noSidecar = await tampered("more-rows-no-sidecar", join(dir, "right"), (m) => {
    inflate(m);
    delete m.configs.c.positions;
  });
  await rm(join(noSidecar, "c", "positions.hdf5"));
  await assert.rejects(
    crossMatch(await openDataset(noSidecar), left, { radiusArcsec: 1, threads: 0 }),
    (e: Error) => e instanceof ManifestMismatchError && /healpix=/.test(e.message),
  );
});
