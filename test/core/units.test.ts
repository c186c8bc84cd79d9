// The one size parser, the one byte formatter and the one file hash (src/core), which the
// cache, the builder and the CLI all use.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { isAstroPileError, UsageError } from "../../src/core/errors.ts";
import { sha256File } from "../../src/core/hash.ts";
import { formatBytes, parseBytes } from "../../src/core/units.ts";
import { tempDir } from "../helpers/tmp.ts";

test("parseBytes: k/M/G/T are powers of 1000, KiB/MiB/GiB/TiB powers of 1024", () => {
  assert.equal(parseBytes("123"), 123);
  assert.equal(parseBytes("1e9"), 1e9);
  assert.equal(parseBytes("512M"), 512e6);
  assert.equal(parseBytes("512mb"), 512e6);
  assert.equal(parseBytes("20G"), 20e9);
  assert.equal(parseBytes(" 2 TB "), 2e12);
  assert.equal(parseBytes("500 MiB"), 500 * 2 ** 20);
  assert.equal(parseBytes("512Mi"), 512 * 2 ** 20);
  assert.equal(parseBytes("1.5GiB"), 1.5 * 2 ** 30);
  assert.equal(parseBytes("1.5k"), 1500);
});

test("parseBytes: a text that is not a size is a UsageError naming the option", () => {
  for (const bad of ["", "lots", "12 parsecs", "-5M", "1.2.3G"]) {
    assert.throws(
      () => parseBytes(bad, "--memory"),
      (e: unknown) =>
        e instanceof UsageError &&
        isAstroPileError(e, UsageError.code) &&
        e.message.startsWith(`--memory "${bad}" is not a size`),
      bad,
    );
  }
  assert.throws(() => parseBytes("1e30"), /too large/);
});

test("formatBytes: powers of 1024, three significant digits", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(100_000), "97.7 KiB");
  assert.equal(formatBytes(103_000), "101 KiB");
  assert.equal(formatBytes(5 * 2 ** 30), "5.00 GiB");
  assert.equal(formatBytes(-2048), "-2.00 KiB");
  assert.equal(formatBytes(Number.NaN), "NaN");
  // What parseBytes reads back is what formatBytes wrote.
  assert.equal(parseBytes(formatBytes(3 * 2 ** 20)), 3 * 2 ** 20);
});

test("sha256File streams a file into the same digest as hashing its bytes", async () => {
  const dir = tempDir("astropile-core-");
  const path = join(dir, "blob.bin");
  // Larger than one 4 MiB read, not a multiple of it.
  const bytes = Buffer.alloc(9 * 2 ** 20 + 17);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
  writeFileSync(path, bytes);
  const want = createHash("sha256").update(readFileSync(path)).digest("hex");
  assert.equal(await sha256File(path), want);
  writeFileSync(join(dir, "empty"), "");
  assert.equal(
    await sha256File(join(dir, "empty")),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});
