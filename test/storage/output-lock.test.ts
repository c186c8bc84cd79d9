// Dataset writers hold the output's writer lock: a second writer of the same directory is
// refused (or waits) before it touches anything there, the lock holder removes what killed
// writes left, and a writer whose lock was taken over publishes no manifest.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { isAstroPileError, UsageError } from "../../src/core/errors.ts";
import { acquireWriterLock, LOCK_FILE, type WriterLock } from "../../src/core/lock.ts";
import { hostToken, machineIdentity } from "../../src/core/process-owner.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { DatasetWriter, writeDataset } from "../../src/storage/dataset-writer.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { lockOutput, removeLeftovers } from "../../src/storage/output-lock.ts";
import { buildPositions } from "../../src/storage/positions.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const work = tempDir();
let n = 0;
const fresh = () => join(work, `d${n++}`);

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
];

function rows(count = 500, seed = 3): ColumnBatch {
  const { ra, dec } = skyPoints(count, seed, 2);
  return { object_id: BigInt64Array.from({ length: count }, (_, i) => BigInt(i)), ra, dec };
}

const options = { config: "c", provenance: { survey: "T", release: "1" } };

async function lockedError(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    assert.ok(isAstroPileError(err, "ASTROPILE_LOCKED"), `a LockedError, got ${String(err)}`);
    return err as Error;
  }
  assert.fail("the second writer was not refused");
}

/** Every file under dir (relative paths), sorted. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((p) => statSync(join(dir, p)).isFile())
    .sort();
}

describe("dataset writers take the output's lock", () => {
  test("writeDataset into a directory another writer holds: LockedError, nothing written", async () => {
    const out = fresh();
    const other = await acquireWriterLock(out, { command: "xmatch --out" });
    try {
      const err = await lockedError(writeDataset(out, COLUMNS, [rows()], options));
      assert.match(err.message, /is locked by xmatch --out \(pid \d+/);
      assert.deepEqual(
        tree(out),
        [LOCK_FILE],
        "no scratch, temp file or manifest of the refused writer",
      );
      const ds = await writeDataset(join(out, "..", "elsewhere"), COLUMNS, [rows()], options);
      assert.equal(ds.configs.c.rows, 500);
    } finally {
      await other.release();
    }
    await writeDataset(out, COLUMNS, [rows()], options);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
    assert.ok(!existsSync(join(out, LOCK_FILE)), "released after the write");
  });

  test("with wait, the writer starts once the holder releases", async () => {
    const out = fresh();
    const other = await acquireWriterLock(out);
    let finished = false;
    const writing = writeDataset(out, COLUMNS, [rows()], { ...options, wait: true }).then((m) => {
      finished = true;
      return m;
    });
    // The waiter polls; give it a few polls while the lock is held.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(finished, false);
    assert.deepEqual(tree(out), [LOCK_FILE]);
    await other.release();
    const manifest = await writing;
    assert.equal(manifest.configs.c.rows, 500);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
  });

  test("a writer given the caller's lock uses it and leaves it held; a lock of another directory is refused", async () => {
    const out = fresh();
    const lock = await lockOutput(out);
    try {
      await writeDataset(out, COLUMNS, [rows()], { ...options, lock });
      assert.ok(lock.held, "still held after the write");
      assert.ok(existsSync(join(out, LOCK_FILE)));
      await assert.rejects(
        DatasetWriter.create(fresh(), COLUMNS, { ...options, lock }),
        (e) => e instanceof UsageError && /the lock given is the lock of/.test(e.message),
      );
      // Saving a view and indexing take the same lock.
      const ds = await openDataset(out);
      const err = await lockedError(ds.saveToDisk(out, { config: "copy" }));
      assert.match(err.message, /this process/);
      await lockedError(buildPositions(out, "c"));
      await ds.saveToDisk(out, { config: "copy", lock });
      await buildPositions(out, "copy", { lock });
    } finally {
      await lock.release();
    }
    assert.deepEqual(Object.keys((await readManifest(out)).configs).sort(), ["c", "copy"]);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
  });

  test("a writer whose lock was taken over publishes no manifest", async () => {
    const out = fresh();
    const lock = await acquireWriterLock(out);
    const writer = await DatasetWriter.create(out, COLUMNS, { ...options, lock });
    await writer.write(rows());
    // What a takeover does: another lock renamed over ours.
    writeFileSync(join(out, "new-lock"), "{}");
    renameSync(join(out, "new-lock"), join(out, LOCK_FILE));
    await assert.rejects(writer.finish(), /lost the lock/);
    assert.ok(!existsSync(join(out, "astropile.json")), "no manifest");
    await lock.release();
  });

  test("the lock holder removes what killed writers left, and nothing else", async () => {
    const out = fresh();
    await writeDataset(out, COLUMNS, [rows()], options);
    const before = tree(out);
    // A data file's directory: <config>/order=<K>/healpix=<N> (or <config>/healpix=<N>).
    const pixelDir = before.find((p) => p.includes("healpix="))!.replace(/\/[^/]+$/, "");
    const leftovers = [
      "astropile.json.12345.k2j3h4.tmp",
      `${pixelDir}/..pending-1.hdf5.12345.0fz9q1x.tmp`,
      `${pixelDir}/.pending-2.hdf5`,
      "c/.positions.hdf5.12345.abc.tmp",
      "c/build-report.json.777.x1.tmp",
      "pairs/xmatch.csv.tmp-4242-deadbeef",
      ".astropile-scratch-4242-abc/rows/run-0.hdf5",
    ];
    const kept = ["notes.txt", "c/my.tmp", `${pixelDir}/keep-me.hdf5`, ".hidden/x.12.ab.tmp"];
    for (const p of [...leftovers, ...kept]) {
      mkdirSync(join(out, p, ".."), { recursive: true });
      writeFileSync(join(out, p), "x".repeat(100));
    }
    // The killed writer's lock: its pid is gone.
    const { bootId, pidNamespace } = machineIdentity();
    writeFileSync(
      join(out, LOCK_FILE),
      JSON.stringify({
        version: 1,
        token: "killed",
        host: hostToken(),
        bootId,
        pidNamespace,
        pid: spawnSync(process.execPath, ["-e", ""]).pid,
        startTime: null,
        command: "xmatch --out",
        argv: "",
        since: new Date().toISOString(),
      }),
    );
    const logged: string[] = [];
    const lock: WriterLock = await lockOutput(out, { log: (l) => logged.push(l) });
    await lock.release();
    assert.deepEqual(tree(out), [...before, ...kept].sort());
    assert.match(logged.join("\n"), /took over the lock of .* from xmatch --out \(pid \d+/);
    assert.match(logged.join("\n"), /removed 7 temporary file\(s\) \(700 bytes\)/);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
    assert.deepEqual((await removeLeftovers(out)).paths, [], "nothing more to remove");
  });
});
