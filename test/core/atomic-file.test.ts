import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { writeFileAtomic } from "../../src/core/atomic-file.ts";
import { isAstroPileError, WriteError } from "../../src/core/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-atomic-");

test("writeFileAtomic replaces a file whole and leaves no temp file", async () => {
  const path = join(dir, "a.json");
  writeFileSync(path, "old");
  await writeFileAtomic(path, "new content");
  assert.equal(readFileSync(path, "utf8"), "new content");
  await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...readFileSync(path)], [1, 2, 3]);
  assert.deepEqual(readdirSync(dir), ["a.json"]);
});

test("a write that cannot finish is a WriteError naming the file; nothing else changes", async () => {
  const sub = join(dir, "sub");
  mkdirSync(sub);
  // The target is a directory: the rename fails after the temp file was written.
  const target = join(sub, "is-a-dir");
  mkdirSync(target);
  await assert.rejects(writeFileAtomic(target, "x"), (e: unknown) => {
    assert.ok(e instanceof WriteError);
    assert.ok(isAstroPileError(e, "ASTROPILE_WRITE_FAILED"));
    assert.match((e as Error).message, /is-a-dir/);
    return true;
  });
  assert.deepEqual(readdirSync(sub), ["is-a-dir"]);
  // A directory that does not exist.
  await assert.rejects(writeFileAtomic(join(dir, "nope", "f"), "x"), WriteError);
});
