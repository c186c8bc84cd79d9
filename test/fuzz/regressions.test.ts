// Cases the fuzz suite found, kept as plain tests: each names the input that broke what.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { verifyDataset } from "../../src/storage/verify.ts";
import { tempDir } from "../helpers/tmp.ts";
import { writeA } from "./clean-datasets.ts";

const work = tempDir("astropile-fuzz-regressions-");
const clean = join(work, "clean");
let copies = 0;

before(async () => {
  await writeA(clean);
});

// biome-ignore lint/suspicious/noExplicitAny: the manifest is edited as untyped JSON on purpose
type Json = any;

/** A copy of the clean dataset with its manifest edited. */
function withManifest(edit: (m: Json) => void): string {
  const root = join(work, `copy-${copies++}`);
  cpSync(clean, root, { recursive: true });
  const path = join(root, "astropile.json");
  const m = JSON.parse(readFileSync(path, "utf8"));
  edit(m);
  writeFileSync(path, JSON.stringify(m));
  return root;
}

describe("verifyDataset", () => {
  test("a manifest that lost a column: the files' extra column is reported", async () => {
    const root = withManifest((m) => {
      m.configs.cat.columns = m.configs.cat.columns.filter((c: Json) => c.name !== "z");
    });
    const problems = await verifyDataset(root);
    const z = problems.filter((p) => p.kind === "column" && p.column === "z");
    assert.equal(z.length, 6, JSON.stringify(problems));
    assert.match(z[0].detail, /does not list/);
  });
});
