// A disk that fills up during a build: the error is a WriteError naming the file being written,
// the configs already in the dataset are untouched (their files hash to what the manifest says),
// and the same build resumes once there is room. The full disk is real: a small tmpfs mounted for
// the test (root only; skipped with a message elsewhere), and Linux's /dev/full for the scratch
// row writer alone.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { build, checkSpec } from "../../src/build/index.ts";
import { RowFileWriter } from "../../src/build/rows-file.ts";
import { isAstroPileError, WriteError } from "../../src/core/errors.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { tempDir } from "../helpers/tmp.ts";

const scratch = tempDir("astropile-disk-full-");

test("a scratch row file that cannot be written is a WriteError naming it (/dev/full)", {
  skip: existsSync("/dev/full") ? false : "no /dev/full on this system",
}, async () => {
  const writer = await RowFileWriter.create("/dev/full", { mag: "float64" }, { bufferBytes: 1 });
  const n = 1000;
  await assert.rejects(
    writer.append({
      rows: n,
      file: new Uint32Array(n),
      row: new Float64Array(n),
      key: new BigInt64Array(n),
      columns: { mag: new Float64Array(n) },
      carry: {},
    }),
    (err: Error) => {
      assert.ok(err instanceof WriteError, String(err));
      assert.equal(err.file, "/dev/full");
      assert.match(err.message, /^cannot write the build's scratch rows: ENOSPC: /);
      return true;
    },
  );
  await writer.abort();
});

/** Mounts a tmpfs of `bytes` at `dir`; null when this process may not (not root, no mount). */
function mountTmpfs(dir: string, bytes: number): string | null {
  if (process.getuid?.() !== 0) return "mounting a tmpfs needs root";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], { stdio: "pipe" });
    return null;
  } catch (err) {
    return `cannot mount a tmpfs here: ${(err as Error).message.split("\n")[0]}`;
  }
}

test("a build that fills the disk fails with a WriteError; the dataset's other config is intact; the build resumes with room", async (t) => {
  // Mounted here, not when the file loads: a test filtered out then leaves no mount behind.
  const mountPoint = join(scratch, "disk");
  mkdirSync(mountPoint);
  const mountProblem = mountTmpfs(mountPoint, 64 << 20);
  if (mountProblem) {
    t.skip(`disk-full build test skipped: ${mountProblem}`);
    return;
  }
  try {
    // 60,000 rows: ~2.2 MB of output (partition file, positions sidecar, id index).
    const rows = ["id,ra,dec,mag"];
    let s = 7;
    const rnd = () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s / 2 ** 31;
    };
    for (let i = 0; i < 60_000; i++) {
      const dec = (Math.asin(2 * rnd() - 1) * 180) / Math.PI;
      rows.push(
        `${i},${(rnd() * 360).toFixed(7)},${dec.toFixed(7)},${(10 + 10 * rnd()).toFixed(3)}`,
      );
    }
    writeFileSync(join(scratch, "cat.csv"), `${rows.join("\n")}\n`);
    const spec = (config: string) =>
      checkSpec(
        {
          config,
          provenance: { survey: "FULL" },
          catalog: {
            files: "cat.csv",
            columns: { object_id: "id", ra: "ra", dec: "dec", mag: "mag" },
          },
        },
        scratch,
      );
    const out = join(mountPoint, "ds");
    await build(spec("first"), { out, workers: 1 });
    const manifestBefore = readFileSync(join(out, "astropile.json"));
    // Leave ~1 MB free: the second config's build cannot finish.
    const fs = statfsSync(mountPoint);
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    execFileSync("mount", ["-o", `remount,size=${used + (1 << 20)}`, mountPoint]);
    await assert.rejects(build(spec("second"), { out, workers: 1 }), (err: Error) => {
      assert.ok(isAstroPileError(err, WriteError.code), `${err.name}: ${err.message}`);
      assert.match(err.message, /ENOSPC/);
      assert.ok(
        (err as WriteError).file?.startsWith(out),
        `names a file under ${out}: ${err.message}`,
      );
      return true;
    });
    assert.deepEqual(readFileSync(join(out, "astropile.json")), manifestBefore);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
    // With room, the same build finishes (resuming what it kept) and both configs verify.
    execFileSync("mount", ["-o", "remount,size=64m", mountPoint]);
    const { report } = await build(spec("second"), { out, workers: 1 });
    assert.equal(report.rows, 60_000);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
  } finally {
    execFileSync("umount", [mountPoint]);
  }
});
