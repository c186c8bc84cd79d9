// Tampering with a dataset on disk never gives a wrong answer with exit code 0: for each damage
// a fault campaign found (reordered file list, a partition replaced by another valid file, a
// flipped byte in an uncompressed column or in the positions sidecar, an edited column shape,
// wrong key ranges, swapped pixels, a wrong row count or id-index fence, a truncated file, a
// sidecar from an older file list), every read that touches the damage (Dataset take, batches,
// coneSearch, getById, crossMatch, `xmatch --out` through the CLI) fails with a typed error
// naming the file, and verifyDataset lists the problem with its file and kind. Datasets written
// before identities still read, verify says they lack them, and `astropile index --force` adds them.
// The tampering tests each damage their own copy, so two run at once; each starts its `xmatch
// --out` process before its in-process reads and checks it after them.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  cpSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { isAstroPileError } from "../../src/core/errors.ts";
import { sha256File } from "../../src/core/hash.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { pix2ang } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { h5wasm, hdf5Ready } from "../../src/storage/hdf5.ts";
import { contentDigest, fileIdentity } from "../../src/storage/identity.ts";
import type { Manifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { reindexConfig } from "../../src/storage/reindex.ts";
import { type ProblemKind, verifyDataset } from "../../src/storage/verify.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { cliSession } from "../helpers/cli-session.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-integrity-");
// Started first: it loads the CLI while the datasets below are written.
const session = cliSession();
after(() => session.close());
const N = 1200;

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [] },
  { name: "dec", dtype: "float64", shape: [] },
  { name: "flux", dtype: "float32", shape: [8] },
  { name: "tag", dtype: "string", shape: [], stringLength: 12 },
];

/** A small patch of sky: a few pixels, several files each. `fluxOffset` changes only flux. */
function rows(idBase: bigint, fluxOffset = 0): ColumnBatch {
  return {
    object_id: BigInt64Array.from({ length: N }, (_, i) => idBase + BigInt(i) * 7n),
    ra: Float64Array.from({ length: N }, (_, i) => 10 + ((i * 0.7548776662) % 8)),
    dec: Float64Array.from({ length: N }, (_, i) => -4 + ((i * 0.569840291) % 8)),
    // Recognisable bytes: 1e6 + 8 * row + k, unique per value.
    flux: Float32Array.from({ length: N * 8 }, (_, k) => 1e6 + k + fluxOffset),
    tag: Array.from({ length: N }, (_, i) => `t-${i}`),
  };
}

const options = (name: string) => ({
  config: "main",
  name,
  provenance: { survey: "T" },
  // Order-4 pixels with several files each (the adaptive layout is tampered with below).
  layout: "mmu" as const,
  compression: "none" as const,
  maxRowsPerFile: 100,
  idIndexBlockRows: 64,
});

const BASE = join(dir, "base");
const OTHER = join(dir, "other"); // same positions, rows and schema; other flux values
const RIGHT = join(dir, "right"); // the same positions under other ids: every row matches
await writeDataset(BASE, COLUMNS, [rows(1000n)], options("base"));
await writeDataset(OTHER, COLUMNS, [rows(1000n, 0.5)], options("base"));
await writeDataset(RIGHT, COLUMNS, [rows(900_000n)], options("right"));
const base = JSON.parse(readFileSync(join(BASE, "astropile.json"), "utf8")) as Manifest;
// A file in the middle of the list, with neighbours in its own pixel.
const VICTIM = base.files.findIndex(
  (f, i) => i > 0 && base.files[i - 1].pixel === f.pixel && base.files[i + 1]?.pixel === f.pixel,
);
assert.ok(VICTIM > 0, "a pixel with three files or more");

let copies = 0;
/** A fresh copy of the base dataset, its manifest, and the victim file's path. */
function copy(): { root: string; manifest: Manifest; victim: string } {
  const root = join(dir, `case-${++copies}`);
  cpSync(BASE, root, { recursive: true });
  return { root, manifest: structuredClone(base), victim: join(root, base.files[VICTIM].path) };
}

function saveManifest(root: string, manifest: Manifest): void {
  writeFileSync(join(root, "astropile.json"), JSON.stringify(manifest, null, 1));
}

/** Flips one bit of the first occurrence of `pattern` in the file. */
function flipAt(path: string, pattern: Buffer): void {
  const bytes = readFileSync(path);
  const at = bytes.indexOf(pattern);
  assert.ok(at >= 0, `pattern found in ${path}`);
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.from([bytes[at + 1] ^ 0x10]), 0, 1, at + 1);
}

/** The first row of the victim file in the base dataset: its object_id and position. */
const victimRow = await (async () => {
  const f = await PartitionFile.open(join(BASE, base.files[VICTIM].path));
  try {
    const b = f.readRange(["object_id", "ra", "dec"], 0, 1);
    return {
      id: (b.object_id as BigInt64Array)[0],
      ra: (b.ra as Float64Array)[0],
      dec: (b.dec as Float64Array)[0],
    };
  } finally {
    f.close();
  }
})();

type Read = "open" | "take" | "batches" | "cone" | "getById" | "crossMatch" | "xmatch --out";
const ALL_READS: Read[] = ["take", "batches", "cone", "getById", "crossMatch", "xmatch --out"];

/** A typed AstroPile error that names `file` (or one of `files`) in its file field or message. */
function names(file: string | string[], detail?: RegExp) {
  const files = typeof file === "string" ? [file] : file;
  return (err: unknown) => {
    assert.ok(isAstroPileError(err), `a typed error, got ${String(err)}`);
    assert.ok(
      files.some((f) => err.file === f || err.message.includes(f)),
      `error names ${files.join(" or ")}: ${err.message}`,
    );
    if (detail) assert.match(err.message, detail);
    return true;
  };
}

let outs = 0;

/**
 * `astropile xmatch root RIGHT --out ...` in the session: its exit code and output. The runs
 * queue in one long-lived CLI process (test/helpers/cli-session.ts), which saves a process
 * start (~1.5 s of CPU) each.
 */
async function xmatchOut(root: string): Promise<{ status: number; stderr: string; all: string }> {
  const out = join(dir, `xmatch-out-${++outs}`);
  const r = await session.run("xmatch", root, RIGHT, "--radius", "1", "--out", out, "--quiet");
  rmSync(out, { recursive: true, force: true });
  return { status: r.code, stderr: r.stderr, all: r.stdout + r.stderr };
}

async function withDataset<T>(root: string, fn: (ds: Dataset) => Promise<T>): Promise<T> {
  const ds = await openDataset(root);
  try {
    return await fn(ds);
  } finally {
    ds.close();
  }
}

/**
 * Every read in `reads` fails with a typed error naming `file` (and matching `detail`). The
 * `xmatch --out` process starts first and is checked after the reads in this process.
 */
async function assertReadsFail(
  root: string,
  file: string | string[],
  reads: Read[],
  detail?: RegExp,
) {
  const files = typeof file === "string" ? [file] : file;
  const check = names(file, detail);
  const cli = reads.includes("xmatch --out") ? xmatchOut(root) : null;
  try {
    await assertInProcessReadsFail(root, file, reads, check);
  } catch (err) {
    await cli?.catch(() => undefined);
    throw err;
  }
  if (cli) {
    const r = await cli;
    assert.equal(r.status, 1, `xmatch --out exits 1: ${r.all}`);
    assert.ok(
      files.some((f) => r.stderr.includes(f)),
      `stderr names ${files.join(" or ")}: ${r.stderr}`,
    );
    if (detail) assert.match(r.stderr, detail);
  }
}

/** The reads of `reads` other than `xmatch --out`, each failing as `check` says. */
async function assertInProcessReadsFail(
  root: string,
  file: string | string[],
  reads: Read[],
  check: (err: unknown) => boolean,
) {
  for (const read of reads) {
    if (read === "xmatch --out") continue;
    const run = async () => {
      switch (read) {
        case "open":
          return withDataset(root, async () => {});
        case "take":
          return withDataset(root, (ds) => ds.take(Array.from({ length: ds.length }, (_, i) => i)));
        case "batches":
          return withDataset(root, async (ds) => {
            for await (const _ of ds.batches({ size: 100 })) {
            }
          });
        case "cone":
          return withDataset(root, async (ds) => {
            const c = pix2ang(4, base.files[VICTIM].pixel);
            for await (const _ of ds.coneSearch(c.ra, c.dec, 3 * 3600).batches()) {
            }
          });
        case "getById":
          return withDataset(root, (ds) => ds.getById(victimRow.id));
        case "crossMatch":
          // The catalog, then its rows: what a user of the pairs reads.
          return withDataset(root, async (ds) =>
            withDataset(RIGHT, async (right) => {
              for (const threads of [0, 2]) {
                const { dataset } = await crossMatch(ds, right, {
                  radiusArcsec: 1,
                  threads,
                  unitRows: 300,
                });
                await dataset.take(Array.from({ length: dataset.length }, (_, i) => i));
              }
            }),
          );
      }
    };
    await assert.rejects(run(), check, `${read} fails naming ${file}`);
  }
}

/** verifyDataset lists a problem of each kind with each file (other problems may come along). */
async function listed(
  root: string,
  expected: Array<[ProblemKind, string]>,
  options: { checksums?: boolean } = {},
): Promise<void> {
  const problems = await verifyDataset(root, options);
  for (const [kind, file] of expected)
    assert.ok(
      problems.some((p) => p.kind === kind && p.file === file),
      `verify lists ${kind} for ${file}; it found:\n${problems.map((p) => `${p.kind} ${p.file}: ${p.detail}`).join("\n")}`,
    );
}

const positionsOf = (root: string) => join(root, "main", "positions.hdf5");
const idIndexOf = (root: string) => join(root, "main", "object_id_index.hdf5");

describe("every read refuses a tampered dataset, naming the file", { concurrency: 2 }, () => {
  test("the untampered copy reads, matches and cross-matches", async () => {
    const { root } = copy();
    await withDataset(root, async (ds) => {
      assert.equal((await ds.take(Array.from({ length: N }, (_, i) => i))).length, N);
      assert.equal((await ds.getById(victimRow.id)).object_id, victimRow.id);
      await withDataset(RIGHT, async (right) => {
        const { catalog } = await crossMatch(ds, right, { radiusArcsec: 1 });
        assert.equal(catalog.length, N);
      });
    });
    assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
  });

  test("a reordered file list", async () => {
    const { root, manifest } = copy();
    [manifest.files[VICTIM], manifest.files[VICTIM + 1]] = [
      manifest.files[VICTIM + 1],
      manifest.files[VICTIM],
    ];
    saveManifest(root, manifest);
    await assertReadsFail(
      root,
      join(root, base.files[VICTIM].path),
      ["open", ...ALL_READS],
      /order/,
    );
    await listed(root, [
      ["order", join(root, base.files[VICTIM].path)],
      ["sidecar-list", positionsOf(root)],
      ["sidecar-list", idIndexOf(root)],
    ]);
  });

  test("a partition replaced by another valid file with the same schema and rows", async () => {
    const { root, victim } = copy();
    cpSync(join(OTHER, base.files[VICTIM].path), victim);
    // Same rows, key range and (uncompressed) size: only the identity tells them apart.
    assert.equal(readFileSync(victim).length, base.files[VICTIM].bytes);
    await assertReadsFail(root, victim, ALL_READS, /astropile_identity/);
    await listed(root, [["identity", victim]]);
  });

  test("the same, in a dataset without a positions sidecar (cross-match reads the files)", async () => {
    const { root, manifest, victim } = copy();
    cpSync(join(OTHER, base.files[VICTIM].path), victim);
    delete manifest.configs.main.positions;
    saveManifest(root, manifest);
    await withDataset(root, (ds) =>
      withDataset(RIGHT, (right) =>
        assert.rejects(crossMatch(ds, right, { radiusArcsec: 1 }), names(victim)),
      ),
    );
  });

  test("a flipped byte in an uncompressed column", async () => {
    const { root, victim } = copy();
    const f = await PartitionFile.open(victim);
    const first = (f.readRange(["flux"], 0, 1).flux as Float32Array).slice(0, 2);
    f.close();
    flipAt(victim, Buffer.from(first.buffer));
    await assertReadsFail(root, victim, ALL_READS, /damaged.*fletcher32/);
    // Only the checksums level reads every byte.
    await listed(root, [["sha256", victim]], { checksums: true });
  });

  test("a flipped byte in the positions sidecar", async () => {
    const { root } = copy();
    const sidecar = join(root, "main", "positions.hdf5");
    flipAt(sidecar, Buffer.from(new Float64Array([victimRow.ra]).buffer));
    await assertReadsFail(root, sidecar, ["crossMatch", "xmatch --out"], /damaged.*fletcher32/);
    await listed(root, [["sha256", sidecar]], { checksums: true });
  });

  test("an edited column shape", async () => {
    const { root, manifest } = copy();
    manifest.configs.main.columns.find((c) => c.name === "flux")!.shape = [9];
    saveManifest(root, manifest);
    await assertReadsFail(
      root,
      join(root, base.files[0].path),
      ["take", "batches", "xmatch --out"],
      /float32\[8\] in the file but float32\[9\] in the manifest/,
    );
    await listed(
      root,
      base.files.map((f): [ProblemKind, string] => ["column", join(root, f.path)]),
    );
  });

  test("wrong key ranges", async () => {
    for (const edit of ["keyMin", "keyMax"] as const) {
      const { root, manifest, victim } = copy();
      const f = manifest.files[VICTIM];
      f[edit] = String(BigInt(f[edit]) + (edit === "keyMin" ? 1n : -1n));
      saveManifest(root, manifest);
      // The identity binds the entry's key range: no data read to see it differs.
      await assertReadsFail(root, victim, ALL_READS, /is not what the file was written with/);
      await listed(root, [
        ["identity", victim],
        ["key-range", victim],
      ]);
    }
  });

  test("wrong key ranges in a dataset written before identities: the keys are read", async () => {
    for (const edit of ["keyMin", "keyMax"] as const) {
      const { root, manifest } = await legacyCopy();
      const victim = join(root, manifest.files[VICTIM].path);
      const f = manifest.files[VICTIM];
      f[edit] = String(BigInt(f[edit]) + (edit === "keyMin" ? 1n : -1n));
      saveManifest(root, manifest);
      await assertReadsFail(
        root,
        victim,
        ["take", "batches", "cone", "getById"],
        /rows span _healpix_29/,
      );
      await listed(root, [
        ["key-range", victim],
        ["no-identity", victim],
      ]);
    }
  });

  test("swapped pixels: two files exchanged on disk, or the manifest's pixel edited", async () => {
    const { root, victim } = copy();
    const other = base.files.findIndex((f) => f.pixel !== base.files[VICTIM].pixel);
    const otherPath = join(root, base.files[other].path);
    renameSync(victim, `${victim}.tmp`);
    renameSync(otherPath, victim);
    renameSync(`${victim}.tmp`, otherPath);
    // Either file may be the first a read opens: both are the wrong file.
    await assertReadsFail(root, [victim, otherPath], ALL_READS);
    const problems = await verifyDataset(root);
    for (const file of [victim, otherPath])
      assert.ok(
        problems.some((p) => p.file === file && ["size", "identity"].includes(p.kind)),
        `${file} listed`,
      );

    const edited = copy();
    edited.manifest.files[VICTIM].pixel += 1;
    saveManifest(edited.root, edited.manifest);
    await assertReadsFail(edited.root, edited.victim, ["open", ...ALL_READS], /pixel/);
    await listed(edited.root, [
      ["pixel", edited.victim],
      ["identity", edited.victim],
    ]);
  });

  test("a wrong row count", async () => {
    const { root, manifest, victim } = copy();
    manifest.files[VICTIM].rows += 1;
    manifest.configs.main.rows += 1;
    saveManifest(root, manifest);
    await assertReadsFail(root, victim, ["take", "batches", "cone"], /\d+ rows\) is not what/);
    // The row count is part of the file list the sidecars were built from: they are refused
    // (cross-match may see first that the manifest's rows disagree with the sidecar's: then the
    // error names the manifest).
    const sidecar = join(root, "main", "positions.hdf5");
    await assertReadsFail(
      root,
      [victim, sidecar, join(root, "astropile.json")],
      ["crossMatch", "xmatch --out"],
    );
    await listed(root, [
      ["rows", victim],
      ["sidecar-list", sidecar],
      ["sidecar-list", idIndexOf(root)],
    ]);
  });

  test("a wrong id-index fence", async () => {
    const index = base.configs.main.idIndex!;
    const block = Math.floor(index.fence.length / 2);
    for (const delta of [1n, -1n]) {
      const { root, manifest } = copy();
      const first = BigInt(index.fence[block]);
      manifest.configs.main.idIndex!.fence[block] = String(first + delta);
      saveManifest(root, manifest);
      const path = join(root, index.path);
      // The id at the start of the block: the fence decides where the lookup looks for it.
      await withDataset(root, (ds) =>
        assert.rejects(ds.getById(first), names(path, /fence of block/)),
      );
      await listed(root, [["id-index", path]]);
    }
  });

  test("a truncated file", async () => {
    const { root, victim } = copy();
    truncateSync(victim, 4096);
    await assertReadsFail(root, victim, ALL_READS, /bytes but the manifest says/);
    await listed(root, [["size", victim]]);
  });

  test("a sidecar from an older file list", async () => {
    // One partition file rewritten with its manifest entry (as a tool that knows no sidecars
    // would), the sidecars left as they were: they describe rows that are not there any more.
    const { root, manifest, victim } = copy();
    cpSync(join(OTHER, base.files[VICTIM].path), victim);
    manifest.files[VICTIM] = (
      JSON.parse(readFileSync(join(OTHER, "astropile.json"), "utf8")) as Manifest
    ).files[VICTIM];
    saveManifest(root, manifest);
    const sidecar = join(root, "main", "positions.hdf5");
    await assertReadsFail(root, sidecar, ["crossMatch", "xmatch --out"], /index .* --force/);
    await withDataset(root, (ds) =>
      assert.rejects(
        ds.getById(victimRow.id),
        names(join(root, "main", "object_id_index.hdf5"), /--force/),
      ),
    );
    await listed(root, [
      ["sidecar-list", sidecar],
      ["sidecar-list", idIndexOf(root)],
    ]);
  });
});

test("adaptive layout: an edited order or pixel is refused, naming the file", async () => {
  const root = join(dir, "adaptive");
  const manifest = await writeDataset(root, COLUMNS, [rows(1000n)], {
    ...options("adaptive"),
    layout: "adaptive",
    maxRowsPerFile: 300,
  });
  assert.equal(manifest.layout, "adaptive");
  const i = manifest.files.findIndex((f) => f.order !== undefined && f.order > 0);
  assert.ok(i >= 0, `some file finer than order 0: ${manifest.files.map((f) => f.order)}`);
  const victim = join(root, manifest.files[i].path);
  await withDataset(root, async (ds) => {
    assert.equal((await ds.take(Array.from({ length: N }, (_, k) => k))).length, N);
  });
  assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
  for (const edit of ["order-1", "order+1", "pixel"] as const) {
    const edited = structuredClone(manifest);
    const f = edited.files[i];
    if (edit === "pixel") f.pixel += 1;
    else {
      // The same sky at another order: the pixel that holds the file's keys there.
      const order = f.order! + (edit === "order+1" ? 1 : -1);
      f.order = order;
      f.pixel = Number(BigInt(f.keyMin) >> BigInt(2 * (29 - order)));
    }
    saveManifest(root, edited);
    // Refused on open (the path and key range disagree with the entry) or on reading the file.
    await assert.rejects(
      withDataset(root, (ds) => ds.take(Array.from({ length: N }, (_, k) => k))),
      names(victim),
    );
    const problems = await verifyDataset(root);
    assert.ok(
      problems.some((p) => p.file === victim && ["pixel", "identity"].includes(p.kind)),
      `${edit}: ${JSON.stringify(problems)}`,
    );
  }
  saveManifest(root, manifest);
  assert.deepEqual(await verifyDataset(root), []);
});

test("a file's identity is what identity.ts says: recomputed from the rows read back", async () => {
  const entry = base.files[VICTIM];
  const f = await PartitionFile.open(join(BASE, entry.path));
  try {
    const { ContentDigest } = await import("../../src/storage/identity.ts");
    const specs = [
      ...COLUMNS,
      { name: "healpix", dtype: "int64", shape: [] },
      { name: "_healpix_29", dtype: "int64", shape: [] },
    ] as ColumnSpec[];
    const digest = new ContentDigest(specs);
    const data = f.readRange(
      specs.map((s) => s.name),
      0,
      f.length,
    );
    for (const s of specs) digest.update(s.name, data[s.name]);
    const content = contentDigest(digest.lines());
    const identity = fileIdentity({ ...entry, content });
    assert.equal(identity, entry.identity);
    assert.equal(f.attrs().astropile_identity, identity);
    assert.equal(f.attrs().astropile_content, content);
  } finally {
    f.close();
  }
});

/**
 * A copy of the base dataset as it was before identities existed: no identity or content
 * attributes in the files, no file-list attribute in the sidecars, none of them in the manifest.
 */
async function legacyCopy(): Promise<{ root: string; manifest: Manifest }> {
  const { root, manifest } = copy();
  const strip = async (rel: string, names: string[]) => {
    const path = join(root, rel);
    const h5 = new (h5wasm().File)(path, "a");
    try {
      for (const name of names) h5.delete_attribute(name);
    } finally {
      h5.close();
    }
    return { bytes: statSync(path).size, sha256: await sha256File(path) };
  };
  await hdf5Ready();
  // Manifests of that time had no layout and no file orders either.
  delete manifest.layout;
  for (const f of manifest.files) {
    Object.assign(f, await strip(f.path, ["astropile_identity", "astropile_content"]));
    delete f.identity;
    delete f.order;
  }
  const main = manifest.configs.main;
  for (const sidecar of [main.positions!, main.idIndex!]) {
    Object.assign(sidecar, await strip(sidecar.path, ["astropile_file_list"]));
    delete sidecar.fileList;
  }
  saveManifest(root, manifest);
  return { root, manifest };
}

describe("datasets written before identities", () => {
  test("still read, verify says what they lack, and index --force adds it", async () => {
    const { root, manifest } = await legacyCopy();
    await withDataset(root, async (ds) => {
      assert.equal((await ds.take(Array.from({ length: N }, (_, i) => i))).length, N);
      assert.equal((await ds.getById(victimRow.id)).object_id, victimRow.id);
      await withDataset(RIGHT, async (right) => {
        const { catalog } = await crossMatch(ds, right, { radiusArcsec: 1 });
        assert.equal(catalog.length, N);
      });
    });
    const problems = await verifyDataset(root, { checksums: true });
    assert.deepEqual(
      problems.map((p) => [p.kind, p.file]),
      [
        ...manifest.files.map((f) => ["no-identity", join(root, f.path)]),
        ["no-identity", positionsOf(root)],
        ["no-identity", idIndexOf(root)],
      ],
    );
    assert.match(problems[0].detail, new RegExp(`astropile index ${root} --force`));

    const r = spawnSync(process.execPath, cliArgs("index", root, "--force", "--json"), {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const written = JSON.parse(r.stdout).written.main;
    assert.equal(written.stamped, manifest.files.length);
    assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
    const upgraded = JSON.parse(readFileSync(join(root, "astropile.json"), "utf8")) as Manifest;
    assert.ok(upgraded.files.every((f) => f.identity));
    await withDataset(root, async (ds) => {
      assert.equal((await ds.getById(victimRow.id)).object_id, victimRow.id);
      await withDataset(RIGHT, async (right) => {
        const { catalog } = await crossMatch(ds, right, { radiusArcsec: 1 });
        assert.equal(catalog.length, N);
      });
    });
    // Now a replaced file is caught as in a dataset written with identities.
    const victim = join(root, base.files[VICTIM].path);
    const { root: other } = await legacyCopy();
    cpSync(join(other, base.files[VICTIM].path), victim);
    await assertReadsFail(root, victim, ["take", "getById"]);
  });

  test("index --force refuses a file that is not what the manifest says, and resumes after a crash", async () => {
    const { root } = await legacyCopy();
    const victim = join(root, base.files[VICTIM].path);
    const saved = readFileSync(victim);
    const f = await PartitionFile.open(victim);
    const first = (f.readRange(["flux"], 0, 1).flux as Float32Array).slice(0, 2);
    f.close();
    flipAt(victim, Buffer.from(first.buffer));
    await assert.rejects(reindexConfig(root, "main"), names(victim, /SHA-256 differs/));
    writeFileSync(victim, saved);
    // A crash after the files were stamped, before the manifest: the old manifest again.
    const before = readFileSync(join(root, "astropile.json"));
    await reindexConfig(root, "main");
    writeFileSync(join(root, "astropile.json"), before);
    await assert.rejects(
      withDataset(root, (ds) => ds.take([0])),
      (e: Error) => isAstroPileError(e, "ASTROPILE_MANIFEST_MISMATCH"),
    );
    const again = await reindexConfig(root, "main");
    assert.equal(again.stamped, base.files.length);
    assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
  });
});
