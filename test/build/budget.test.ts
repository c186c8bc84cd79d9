// Sizes a builder spec declares are checked against the build's memory budget (--memory) before
// anything is read or allocated: a SpecError (exit 2) naming the spec field and the bytes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { build, checkSpec } from "../../src/build/index.ts";
import { SpecError, UsageError } from "../../src/core/errors.ts";
import { desiSpec, hscSpec, mangaSpec } from "../../src/demo/index.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-build-budget-");
// No source file exists there: the refusal must come before any is looked for.
const nowhere = join(dir, "no-sources");
const MiB = 2 ** 20;

test("stampSize 4096 under --memory 512M: refused at plan time naming image.stampSize and the bytes", async () => {
  const spec = checkSpec(hscSpec(4096), nowhere);
  const out = join(dir, "out-4096");
  await assert.rejects(build(spec, { out, memoryBytes: 512e6, workers: 1 }), (e: Error) => {
    assert.ok(e instanceof SpecError, String(e));
    assert.match(e.message, /^image\.stampSize 4096 \(x 5 bands\)/);
    // 4096 x 4096 x 5 bands x (4 + 4 + 1) bytes, plus the per-band scalars.
    assert.match(e.message, /one output row is 7549748\d\d bytes \(column image_array 335544320\)/);
    assert.match(e.message, /needs 60397\d+ bytes \(5\.6\d GiB\) in memory/);
    assert.match(e.message, /budget of 512000000 bytes/);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
  assert.ok(!existsSync(out), "nothing written");
  // Through the command: exit 2, one line.
  const path = join(dir, "hsc-4096.json");
  writeFileSync(path, JSON.stringify({ ...hscSpec(4096), root: nowhere }));
  const r = spawnSync(
    process.execPath,
    cliArgs("build", path, "--out", join(dir, "cli-out"), "--memory", "512M", "--quiet"),
    { cwd: ROOT, encoding: "utf8" },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^astropile: image\.stampSize 4096 .* budget of 512000000 bytes/);
});

test("spectrum.length 5e8 is refused before the catalog is read; a sane one is not", async () => {
  const spec = checkSpec(
    { ...desiSpec(), spectrum: { ...desiSpec().spectrum!, length: 5e8 } },
    nowhere,
  );
  await assert.rejects(
    build(spec, { out: join(dir, "out-spec"), memoryBytes: 8 * 2 ** 30 }),
    (e: Error) =>
      e instanceof SpecError &&
      /^spectrum\.length 500000000: one output row is 8500000008 bytes/.test(e.message),
  );
  // 7781 pixels fit: the build goes on to look for the catalog, which is not there.
  const fine = checkSpec(
    { ...desiSpec(), spectrum: { ...desiSpec().spectrum!, length: 7781 } },
    nowhere,
  );
  await assert.rejects(
    build(fine, { out: join(dir, "out-fine"), memoryBytes: 64 * MiB }),
    (e: Error) => /catalog\.files matches no file/.test(e.message),
  );
});

test("IFU cube sizes and string lengths count too; a budget under 16 MiB is a usage error", async () => {
  const ifu = checkSpec(
    { ...mangaSpec(), ifu: { ...mangaSpec().ifu!, spaxels: 1000, length: 5000 } },
    nowhere,
  );
  await assert.rejects(
    build(ifu, { out: join(dir, "out-ifu"), memoryBytes: 512 * MiB }),
    (e: Error) =>
      e instanceof SpecError && /^ifu\.spaxels 1000 and ifu\.length 5000:/.test(e.message),
  );
  const strings = hscSpec(16);
  strings.catalog.columns.note = { from: "note", dtype: "string", stringLength: 1e12 };
  await assert.rejects(
    build(checkSpec(strings, nowhere), { out: join(dir, "out-str"), memoryBytes: 512 * MiB }),
    (e: Error) =>
      e instanceof SpecError &&
      /^catalog\.columns\.note\.stringLength: one output row is 1000000\d+ bytes/.test(e.message),
  );
  await assert.rejects(
    build(checkSpec(hscSpec(16), nowhere), { out: join(dir, "out-small"), memoryBytes: 1e6 }),
    UsageError,
  );
});
