import assert from "node:assert/strict";
import { test } from "node:test";
import { CacheArchiveError, DownloadError } from "../../src/cache/errors.ts";
import {
  AstroPileError,
  CorruptFileError,
  deserializeError,
  FormatError,
  isAstroPileError,
  SpecError,
  serializeError,
  UsageError,
} from "../../src/core/errors.ts";

test("every error has its class's stable code and names the place", () => {
  const e = new CorruptFileError("truncated", { file: "/d/a.hdf5", column: "ra" });
  assert.equal(e.code, "ASTROPILE_CORRUPT_FILE");
  assert.equal(e.name, "CorruptFileError");
  assert.equal(e.message, 'truncated (file /d/a.hdf5, column "ra")');
  assert.ok(isAstroPileError(e));
  assert.ok(isAstroPileError(e, "ASTROPILE_CORRUPT_FILE"));
  assert.ok(!isAstroPileError(e, "ASTROPILE_USAGE"));
  assert.equal(new UsageError("x").code, UsageError.code);
  assert.equal(new SpecError("x").code, "ASTROPILE_BAD_SPEC");
  assert.ok(!isAstroPileError(new Error("plain")));
  assert.ok(!isAstroPileError({ code: "ASTROPILE_USAGE" }), "a look-alike object is not one");
});

test("cache errors are AstroPileErrors with their own codes", () => {
  const d = new DownloadError({ url: "http://x/", reason: "timeout", detail: "no bytes for 1 s" });
  assert.ok(d instanceof AstroPileError);
  assert.ok(isAstroPileError(d, "ASTROPILE_DOWNLOAD_FAILED"));
  const a = new CacheArchiveError("/t/a.tar", "bad header", 512);
  assert.equal(a.code, "ASTROPILE_BAD_ARCHIVE");
  assert.equal(a.file, "/t/a.tar");
});

test("an error crossing a worker-thread boundary keeps class, code, message and place", () => {
  const original = new FormatError("bad card", { file: "t.fits", detail: "HDU 1, byte 2880" });
  const back = deserializeError(structuredClone(serializeError(original)));
  assert.ok(back instanceof FormatError);
  assert.equal(back.message, original.message);
  assert.equal((back as FormatError).code, "ASTROPILE_FORMAT");
  assert.equal((back as FormatError).file, "t.fits");
  const other = deserializeError(structuredClone(serializeError(new TypeError("boom"))));
  assert.ok(isAstroPileError(other, "ASTROPILE_ERROR"));
  assert.match(other.message, /TypeError: boom/);
});
