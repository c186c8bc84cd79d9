// Builder spec globs: what `files` patterns in a spec match, relative to the spec's folder.
import assert from "node:assert/strict";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { displayPath, globAll } from "../../src/build/glob.ts";
import { NotFoundError } from "../../src/core/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

const root = tempDir("astropile-glob-");
for (const file of [
  "b.csv",
  "a.csv",
  ".hidden.csv",
  "notes.txt",
  "sub/c.csv",
  "sub/deep/d.csv",
  "sub/.dot/e.csv",
  "odd (1) [x]/f.csv",
  "dir.csv/inside.txt",
]) {
  mkdirSync(join(root, file, ".."), { recursive: true });
  writeFileSync(join(root, file), "x\n");
}
const abs = (...files: string[]) => files.map((f) => join(root, f));

test("spec globs: * ? ** {a,b}, relative or absolute, files only, sorted and deduplicated", async () => {
  assert.deepEqual(await globAll("*.csv", root), abs(".hidden.csv", "a.csv", "b.csv"));
  assert.deepEqual(await globAll("?.csv", root), abs("a.csv", "b.csv"));
  assert.deepEqual(await globAll("{b,a}.csv", root), abs("a.csv", "b.csv"));
  assert.deepEqual(
    await globAll("**/*.csv", root),
    abs(
      ".hidden.csv",
      "a.csv",
      "b.csv",
      "odd (1) [x]/f.csv",
      "sub/.dot/e.csv",
      "sub/c.csv",
      "sub/deep/d.csv",
    ),
  );
  assert.deepEqual(await globAll("sub/**/d.csv", root), abs("sub/deep/d.csv"));
  assert.deepEqual(await globAll("sub/c.csv", root), abs("sub/c.csv"));
  // Characters other than * ? { } are literal, in the pattern as in directory names.
  assert.deepEqual(await globAll("odd (1) [x]/*.csv", root), abs("odd (1) [x]/f.csv"));
  assert.deepEqual(await globAll(join(root, "sub", "*.csv"), "/elsewhere"), abs("sub/c.csv"));
  assert.deepEqual(
    await globAll(["b.csv", "*.csv", "b.csv"], root),
    abs(".hidden.csv", "a.csv", "b.csv"),
  );
  assert.deepEqual(await globAll("missing/*.csv", root), []);
  assert.deepEqual(await globAll("dir.csv", root), []);
});

test("spec globs do not descend into linked directories (no loop), read a file once under its first name, and a fixed prefix may be a link", async () => {
  const dir = join(root, "links");
  mkdirSync(join(dir, "real"), { recursive: true });
  writeFileSync(join(dir, "real", "a.csv"), "x\n");
  symlinkSync("real", join(dir, "linked"));
  symlinkSync(join("..", "real", "a.csv"), join(dir, "real", "b.csv"));
  symlinkSync("..", join(dir, "real", "loop"));
  assert.deepEqual(await globAll("links/**/*.csv", root), abs("links/real/a.csv"));
  assert.deepEqual(await globAll("links/linked/*.csv", root), abs("links/linked/a.csv"));
});

test("links to files match like files (also outside the tree, also named literally); a dangling one is an error", async () => {
  const dir = join(root, "staged");
  const elsewhere = tempDir("astropile-glob-elsewhere-");
  mkdirSync(join(dir, "deeper"), { recursive: true });
  mkdirSync(join(elsewhere, "tree.csv"), { recursive: true });
  writeFileSync(join(elsewhere, "gaia-0001.csv"), "x\n");
  writeFileSync(join(elsewhere, "gaia-0002.csv"), "x\n");
  writeFileSync(join(dir, "local.csv"), "x\n");
  writeFileSync(join(dir, "deeper", "below.csv"), "x\n");
  symlinkSync(join(elsewhere, "gaia-0001.csv"), join(dir, "gaia-0001.csv"));
  symlinkSync(join(elsewhere, "gaia-0002.csv"), join(dir, "gaia-0002.csv"));
  // A link to a directory is not a file, whatever its name.
  symlinkSync(join(elsewhere, "tree.csv"), join(dir, "tree.csv"));
  assert.deepEqual(
    await globAll("staged/*.csv", root),
    abs("staged/gaia-0001.csv", "staged/gaia-0002.csv", "staged/local.csv"),
  );
  assert.deepEqual(await globAll("staged/gaia-0002.csv", root), abs("staged/gaia-0002.csv"));
  // A pattern without ** stays at its depth.
  assert.deepEqual(
    await globAll("*/*.csv", root),
    abs(
      "odd (1) [x]/f.csv",
      "staged/gaia-0001.csv",
      "staged/gaia-0002.csv",
      "staged/local.csv",
      "sub/c.csv",
    ),
  );
  assert.deepEqual(
    await globAll("staged/**/*.csv", root),
    abs(
      "staged/deeper/below.csv",
      "staged/gaia-0001.csv",
      "staged/gaia-0002.csv",
      "staged/local.csv",
    ),
  );
  // The file a link names is gone: the build would miss it, so the glob fails and says which.
  rmSync(join(elsewhere, "gaia-0002.csv"));
  await assert.rejects(globAll("staged/*.csv", root), (e: Error) => {
    assert.ok(e instanceof NotFoundError, String(e));
    assert.match(
      e.message,
      /^symbolic link to \S*gaia-0002\.csv, which does not exist; .* \(file \S*staged\/gaia-0002\.csv\)$/,
    );
    return true;
  });
});

test("displayPath: relative inside the root, absolute outside", () => {
  assert.equal(displayPath(join(root, "sub", "c.csv"), root), join("sub", "c.csv"));
  assert.equal(displayPath("/other/x.csv", root), "/other/x.csv");
});
