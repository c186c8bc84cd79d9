import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readReport } from "../../src/build/runner.ts";
import { readJson, writeJsonAtomic } from "../../src/build/state.ts";
import { BuildStateError, CorruptFileError } from "../../src/core/errors.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-state-");

test("build state: absent is null (not done yet), damaged is a BuildStateError naming the file", async () => {
  const path = join(dir, "plan.json");
  assert.equal(await readJson(path), null);
  await writeJsonAtomic(path, { units: 3, key: 12n });
  assert.deepEqual(await readJson(path), { units: 3, key: "12" });
  writeFileSync(path, '{"units": 3');
  await assert.rejects(readJson(path), (e: unknown) => {
    assert.ok(e instanceof BuildStateError);
    assert.match((e as Error).message, /plan\.json/);
    return true;
  });
});

test("build report: absent is null, damaged is a CorruptFileError naming it", async () => {
  mkdirSync(join(dir, "cfg"));
  assert.equal(await readReport(dir, "cfg"), null);
  writeFileSync(join(dir, "cfg", "build-report.json"), "not json");
  await assert.rejects(readReport(dir, "cfg"), (e: unknown) => {
    assert.ok(e instanceof CorruptFileError);
    assert.match((e as Error).message, /build-report\.json/);
    return true;
  });
});
