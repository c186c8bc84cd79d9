// Cases the fuzz suite found, kept as plain tests: each names the input that broke what.
import assert from "node:assert/strict";
import { cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { isAstroPileError } from "../../src/core/errors.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { tempDir } from "../helpers/tmp.ts";
import { writeA, writeB } from "./clean-datasets.ts";
import { canonical } from "./family.ts";

const work = tempDir("astropile-fuzz-regressions-");
const clean = join(work, "clean");
const right = join(work, "right");
let copies = 0;

before(async () => {
  await writeA(clean);
  await writeB(right);
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
    const files = JSON.parse(readFileSync(join(root, "astropile.json"), "utf8")).files.filter(
      (f: Json) => f.config === "cat",
    );
    assert.ok(files.length >= 1);
    assert.equal(z.length, files.length, JSON.stringify(problems));
    assert.match(z[0].detail, /does not list/);
  });
});

describe("cross-match from the positions sidecar", () => {
  for (const [name, edit] of [
    [
      "two files of a config trade paths in the manifest",
      (m: Json) => {
        const [a, b] = m.files.filter((f: Json) => f.config === "main");
        [a.path, b.path] = [b.path, a.path];
      },
    ],
    [
      "a path written with backslashes",
      (m: Json) => {
        const f = m.files.find((x: Json) => x.config === "main");
        f.path = f.path.replaceAll("/", "\\");
      },
    ],
  ] as const) {
    test(`${name}: refused (the catalog named files its rows are not in)`, async () => {
      const root = withManifest(edit);
      // Refused when the dataset is opened (a path that disagrees with its entry's pixel) or
      // when the cross-match reads the sidecar (a file list other than the one it was built from).
      const match = async (leftSide: boolean) => {
        const left = await openDataset(root, { config: "main" });
        const r = await openDataset(right);
        try {
          await (leftSide
            ? crossMatch(left, r, { radiusArcsec: 2, threads: 0 })
            : crossMatch(r, left, { radiusArcsec: 2, threads: 0 }));
        } finally {
          left.close();
          r.close();
        }
      };
      for (const leftSide of [true, false])
        await assert.rejects(match(leftSide), (e) =>
          isAstroPileError(e, "ASTROPILE_MANIFEST_MISMATCH"),
        );
      const problems = await verifyDataset(root);
      assert.ok(
        problems.some((p) => p.kind === "sidecar-list"),
        JSON.stringify(problems),
      );
    });
  }
});

describe("a partition file with one byte changed", () => {
  test("every 11th byte of one file in turn: a typed error or the file's exact values, never zeros from a damaged chunk index", async () => {
    const m = JSON.parse(readFileSync(join(clean, "astropile.json"), "utf8"));
    const entry = m.files.find((f: Json) => f.config === "main");
    const path = join(clean, entry.path);
    const bytes = readFileSync(path);
    const names = m.configs.main.columns.map((c: Json) => c.name);
    const read = async (file: string) => {
      const f = await PartitionFile.open(file, {
        expectRows: entry.rows,
        expect: { bytes: entry.bytes, columns: m.configs.main.columns },
      });
      try {
        return canonical(f.readRange(names, 0, f.length));
      } finally {
        f.close();
      }
    };
    const want = await read(path);
    const damaged = join(work, "one-byte.hdf5");
    const wrong: number[] = [];
    for (let at = 0; at < bytes.length; at += 11) {
      const copy = Buffer.from(bytes);
      copy[at] ^= 0x5a;
      writeFileSync(damaged, copy);
      try {
        if ((await read(damaged)) !== want) wrong.push(at);
      } catch (err) {
        if (!isAstroPileError(err)) throw err;
      }
    }
    assert.deepEqual(wrong, [], `byte offsets that gave other values without an error`);
  });
});
