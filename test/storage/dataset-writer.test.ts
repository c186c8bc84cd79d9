import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import {
  ManifestError,
  NotFoundError,
  SchemaError,
  UsageError,
  WriteError,
} from "../../src/core/errors.ts";
import { ang2pix } from "../../src/sky/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { parsePartitionPath } from "../../src/storage/layout.ts";
import { fileOrder, filePixels, type Manifest, readManifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();
const N = 6000;

const COLUMNS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "label", dtype: "string", shape: [], stringLength: 12 },
  { name: "image_array", dtype: "float32", shape: [2, 3, 3] },
];

function* batches(order: Uint32Array, size: number): Generator<ColumnBatch> {
  const { ra, dec } = skyPoints(N, 7, 0.05);
  for (let s = 0; s < order.length; s += size) {
    const idx = order.subarray(s, s + size);
    yield {
      object_id: BigInt64Array.from(idx, (i) => BigInt(i) * 1000003n),
      ra: Float64Array.from(idx, (i) => ra[i]),
      dec: Float64Array.from(idx, (i) => dec[i]),
      label: Array.from(idx, (i) => `obj${i}`),
      image_array: Float32Array.from(
        { length: idx.length * 18 },
        (_, k) => idx[Math.floor(k / 18)] + (k % 18) / 100,
      ),
    };
  }
}

function shuffled(n: number, seed: number): Uint32Array {
  const a = Uint32Array.from({ length: n }, (_, i) => i);
  let s = seed;
  for (let i = n - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Every row of the dataset keyed by object_id, with the file it came from. */
async function readAll(
  root: string,
  manifest: Manifest,
): Promise<Map<bigint, { label: string; image: number[]; key: bigint; file: string }>> {
  const rows = new Map<bigint, { label: string; image: number[]; key: bigint; file: string }>();
  for (const f of manifest.files) {
    const file = await PartitionFile.open(join(root, f.path), { expectRows: f.rows });
    const b = file.readRange(
      ["object_id", "label", "image_array", "_healpix_29", "healpix"],
      0,
      file.length,
    );
    file.close();
    const keys = b._healpix_29 as BigInt64Array;
    for (let i = 0; i < keys.length; i++) {
      assert.ok(i === 0 || keys[i - 1] <= keys[i], `${f.path} sorted by _healpix_29`);
      assert.equal((b.healpix as BigInt64Array)[i], keys[i] >> 50n, "healpix = key >> 50");
      const shift = BigInt(2 * (29 - fileOrder(f)));
      const pixel = Number(keys[i] >> shift);
      assert.ok(pixel >= f.pixel && pixel < f.pixel + filePixels(f), "row in its file's pixels");
      const id = (b.object_id as BigInt64Array)[i];
      assert.ok(!rows.has(id), `object ${id} written once`);
      rows.set(id, {
        label: (b.label as string[])[i],
        image: Array.from((b.image_array as Float32Array).subarray(i * 18, i * 18 + 18)),
        key: keys[i],
        file: f.path,
      });
    }
    assert.equal(keys[0].toString(), f.keyMin);
    assert.equal(keys[keys.length - 1].toString(), f.keyMax);
  }
  return rows;
}

describe("partitioned dataset writer", () => {
  let reference: Awaited<ReturnType<typeof readAll>>;

  test("mmu layout: one file per order-4 pixel, everything in memory", async () => {
    const root = join(dir, "simple");
    const manifest = await writeDataset(root, COLUMNS, batches(shuffled(N, 1), 1000), {
      config: "main",
      provenance: { survey: "TEST" },
      layout: "mmu",
    });
    assert.equal(manifest.configs.main.rows, N);
    assert.equal(manifest.layout, "mmu");
    assert.ok(manifest.files.every((f) => /^main\/healpix=\d+\/001-of-001\.hdf5$/.test(f.path)));
    assert.ok(manifest.files.every((f) => f.order === 4));
    assert.ok(manifest.files.length > 100, "the uniform part makes many order-4 pixels");
    reference = await readAll(root, manifest);
    assert.equal(reference.size, N);
    const { ra, dec } = skyPoints(N, 7, 0.05);
    const keys = ang2pix(29, ra, dec);
    for (let i = 0; i < N; i++) {
      const row = reference.get(BigInt(i) * 1000003n)!;
      assert.equal(row.key, keys[i]);
      assert.equal(row.label, `obj${i}`);
      assert.equal(row.image[17], Math.fround(i + 0.17));
    }
    assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
  });

  test("adaptive layout (the default): few files, pixels of several orders, the same rows", async () => {
    const root = join(dir, "adaptive");
    const manifest = await writeDataset(root, COLUMNS, batches(shuffled(N, 5), 700), {
      config: "main",
      provenance: { survey: "TEST" },
      maxRowsPerFile: 300,
    });
    assert.equal(manifest.layout, "adaptive");
    const rows = await readAll(root, manifest);
    assert.equal(rows.size, N);
    for (const [id, r] of reference)
      assert.deepEqual({ ...rows.get(id)!, file: "" }, { ...r, file: "" });
    const orders = new Set(manifest.files.map((f) => f.order));
    assert.ok(orders.size >= 2, `pixels of several orders: ${[...orders]}`);
    // 6000 rows in files of at most 300: not one per order-4 pixel (hundreds).
    assert.ok(manifest.files.length < 60, `${manifest.files.length} files`);
    for (const f of manifest.files) {
      const p = parsePartitionPath(f.path)!;
      assert.deepEqual([p.layout, p.order, p.pixel], ["adaptive", f.order, f.pixel], f.path);
      assert.ok(f.rows <= 300 || f.keyMin === f.keyMax, `${f.path}: ${f.rows} rows`);
    }
    assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
  });

  test("spilled runs, many files per pixel, other input order: the same rows", async () => {
    const root = join(dir, "dense");
    const manifest = await writeDataset(root, COLUMNS, batches(shuffled(N, 99), 333), {
      config: "main",
      provenance: { survey: "TEST" },
      maxRowsPerFile: 150,
      memoryBytes: 40_000, // forces many spills to sorted runs
      compression: "none",
    });
    const rows = await readAll(root, manifest);
    assert.equal(rows.size, N);
    for (const [id, r] of reference) {
      const got = rows.get(id)!;
      assert.deepEqual({ ...got, file: "" }, { ...r, file: "" });
    }
    // dense pixels got several files with disjoint, ordered key ranges named k-of-n
    const byPixel = new Map<string, typeof manifest.files>();
    for (const f of manifest.files) {
      const at = `${f.order}/${f.pixel}`;
      byPixel.set(at, [...(byPixel.get(at) ?? []), f]);
    }
    const split = [...byPixel.values()].filter((fs) => fs.length > 1);
    assert.ok(split.length > 0, "some pixel has several files");
    for (const fs of byPixel.values()) {
      fs.sort((a, b) => a.path.localeCompare(b.path));
      fs.forEach((f, i) => {
        const p = parsePartitionPath(f.path)!;
        assert.deepEqual([p.k, p.n, p.pixel], [i + 1, fs.length, f.pixel]);
        assert.ok(
          f.rows <= 150 || BigInt(f.keyMin) === BigInt(f.keyMax) || f.rows < 300,
          `file ${f.path} respects the cap`,
        );
        if (i > 0) assert.ok(BigInt(fs[i - 1].keyMax) < BigInt(f.keyMin), "disjoint key ranges");
      });
    }
    assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
    assert.deepEqual(
      readdirSync(root).filter((n) => n.startsWith(".")),
      [],
      "no scratch left",
    );
    for (const f of manifest.files) {
      assert.deepEqual(
        readdirSync(join(root, f.path, "..")).filter((n) => n.startsWith(".")),
        [],
        "no pending files left",
      );
    }
  });

  test("options passed as undefined keep their defaults", async () => {
    const root = join(dir, "undefined-options");
    const manifest = await writeDataset(root, COLUMNS, batches(shuffled(300, 8), 100), {
      config: "main",
      provenance: { survey: "TEST" },
      maxRowsPerFile: undefined,
      memoryBytes: undefined,
      compression: undefined,
    });
    assert.equal((await readAll(root, manifest)).size, 300);
  });

  test("duplicates of one position never straddle two files", async () => {
    const root = join(dir, "dups");
    const n = 500;
    const batch: ColumnBatch = {
      object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i)),
      ra: Float64Array.from({ length: n }, (_, i) => (i < 300 ? 10 : 10 + i * 1e-7)),
      dec: new Float64Array(n).fill(20),
      label: Array.from({ length: n }, () => "x"),
      image_array: new Float32Array(n * 18),
    };
    const manifest = await writeDataset(root, COLUMNS, [batch], {
      config: "c",
      provenance: { survey: "T" },
      maxRowsPerFile: 100,
    });
    const same = manifest.files.filter((f) => f.keyMin === f.keyMax);
    assert.equal(same.length, 1);
    assert.equal(same[0].rows, 300, "the 300 equal keys stay in one file past the 100-row cap");
    assert.ok(manifest.files.length >= 3);
    await readAll(root, manifest);
  });
});

describe("dataset writer: bad input leaves what is stored untouched", () => {
  test("invalid positions, missing columns, bad options, existing config", async () => {
    const root = join(dir, "guarded");
    await writeDataset(root, COLUMNS, batches(shuffled(100, 3), 50), {
      config: "main",
      provenance: { survey: "T" },
    });
    const before = readFileSync(join(root, "astropile.json"));
    const bad: ColumnBatch = { ...[...batches(shuffled(100, 3), 100)][0] };
    (bad.dec as Float64Array)[7] = 91;
    await assert.rejects(
      writeDataset(root, COLUMNS, [bad], { config: "other", provenance: { survey: "T" } }),
      (e: Error) =>
        e instanceof SchemaError && /dec=91/.test(e.message) && /input row 7/.test(e.message),
    );
    (bad.dec as Float64Array)[7] = 0;
    (bad.ra as Float64Array)[3] = Number.NaN;
    await assert.rejects(
      writeDataset(root, COLUMNS, [bad], { config: "other", provenance: { survey: "T" } }),
      /ra=NaN/,
    );
    await assert.rejects(
      writeDataset(
        root,
        COLUMNS.filter((c) => c.name !== "dec"),
        [],
        { config: "x", provenance: { survey: "T" } },
      ),
      /needs a "dec" column/,
    );
    await assert.rejects(
      writeDataset(root, COLUMNS, [], { config: "../evil", provenance: { survey: "T" } }),
      UsageError,
    );
    await assert.rejects(
      writeDataset(root, COLUMNS, [], { config: "main", provenance: { survey: "T" } }),
      /already exists/,
    );
    await assert.rejects(
      writeDataset(root, COLUMNS, [], {
        config: "m2",
        provenance: { survey: "T" },
        maxRowsPerFile: 0,
      }),
      /maxRowsPerFile/,
    );
    assert.deepEqual(readFileSync(join(root, "astropile.json")), before);
    assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
    assert.deepEqual(
      readdirSync(root).filter((n) => n.startsWith(".astropile-scratch")),
      [],
    );
  });

  test("a file that cannot be put in place is a WriteError naming it, after the files still closing", async () => {
    // Files are hashed, fsynced and renamed while later ones are written: a failure there must
    // still fail the write (no manifest), never be lost or left as an unhandled rejection.
    const root = join(dir, "blocked");
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    try {
      // The one file of the last order-4 pixel cannot take its name (a directory is there): it
      // is still closing when the rows end, so the failure must come out of finishing.
      const { ra, dec } = skyPoints(N, 7, 0.05);
      const pixel = Math.max(...Array.from(ang2pix(4, ra, dec), Number));
      const name = join(root, "main", `healpix=${pixel}`, "001-of-001.hdf5");
      mkdirSync(join(name, "x"), { recursive: true });
      await assert.rejects(
        writeDataset(root, COLUMNS, batches(shuffled(N, 5), 1000), {
          config: "main",
          provenance: { survey: "T" },
          layout: "mmu",
        }),
        (e: Error) =>
          e instanceof WriteError &&
          e.message.includes(name) &&
          /EISDIR|ENOTEMPTY|EEXIST/.test(e.message),
      );
      assert.ok(!existsSync(join(root, "astropile.json")), "no manifest");
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("a second config is added beside the first", async () => {
    const root = join(dir, "guarded");
    const m = await writeDataset(root, COLUMNS, batches(shuffled(60, 4), 60), {
      config: "second",
      provenance: { survey: "T" },
    });
    assert.deepEqual(Object.keys(m.configs).sort(), ["main", "second"]);
    const card = readFileSync(join(root, "README.md"), "utf8");
    assert.match(card, /^---\npretty_name: guarded\n/);
    assert.match(
      card,
      /- config_name: main\n {2}data_files:\n {2}- split: train\n {4}path: main\/order=\*\/healpix=\*\/\*.hdf5/,
    );
    assert.match(card, /Layout \*\*adaptive\*\*/);
    await assert.rejects(
      writeDataset(root, COLUMNS, [], { config: "m3", provenance: { survey: "T" }, layout: "mmu" }),
      /has the "adaptive" layout/,
    );
    assert.match(card, /- config_name: second/);
    assert.match(card, /num_examples: 60\n/);
    assert.match(card, /\| `image_array` \| float32 \| 2 × 3 × 3 \|/);
    assert.match(card, /\| `ra` \| float64 \| scalar \| deg \|/);
    assert.equal(m.files.filter((f) => f.config === "main").length > 0, true);
    assert.deepEqual(await verifyDataset(root), []);
  });

  test("verifyDataset names each file that disagrees with the manifest", async () => {
    const root = join(dir, "tamper");
    const manifest = await writeDataset(root, COLUMNS, batches(shuffled(2000, 5), 500), {
      config: "main",
      provenance: { survey: "T" },
      maxRowsPerFile: 200,
    });
    const [a, b, c] = manifest.files;
    rmSync(join(root, a.path));
    truncateSync(join(root, b.path), 100);
    const m2 = JSON.parse(readFileSync(join(root, "astropile.json"), "utf8")) as Manifest;
    m2.files[2].rows += 1;
    writeFileSync(join(root, "astropile.json"), JSON.stringify(m2));
    const problems = await verifyDataset(root);
    assert.deepEqual(
      problems.map((p) => [p.kind, p.file]),
      [
        ["rows", join(root, "astropile.json")],
        ["missing", join(root, a.path)],
        ["size", join(root, b.path)],
        ["rows", join(root, c.path)],
        // The identity commits to the entry's row count...
        ["identity", join(root, c.path)],
        // ...and so does the file list the sidecars were built from.
        ["sidecar-list", join(root, "main/positions.hdf5")],
        ["sidecar-list", join(root, "main/object_id_index.hdf5")],
      ],
    );
    assert.match(problems[0].detail, /says 2000 rows but its files hold 2001/);
    assert.match(problems[1].detail, /does not exist/);
    assert.match(problems[2].detail, /bytes but the manifest says/);
    assert.match(problems[3].detail, /rows but the manifest says/);
  });

  test("a corrupt manifest is a ManifestError naming the field", async () => {
    const root = join(dir, "badmanifest");
    await writeDataset(root, COLUMNS, batches(shuffled(10, 6), 10), {
      config: "main",
      provenance: { survey: "T" },
    });
    const path = join(root, "astropile.json");
    const good = readFileSync(path, "utf8");
    writeFileSync(path, good.slice(0, 50));
    await assert.rejects(
      readManifest(root),
      (e: Error) =>
        e instanceof ManifestError && /not valid JSON/.test(e.message) && e.message.includes(path),
    );
    const m = JSON.parse(good);
    m.files[0].sha256 = "zz";
    writeFileSync(path, JSON.stringify(m));
    await assert.rejects(readManifest(root), /field "files.0.sha256"/);
    m.files[0].sha256 = "0".repeat(64);
    m.files[0].path = "../../etc/passwd";
    writeFileSync(path, JSON.stringify(m));
    await assert.rejects(readManifest(root), /field "files.0.path"/);
    assert.ok(!existsSync(join(dir, "nope", "astropile.json")));
    await assert.rejects(
      readManifest(join(dir, "nope")),
      (e: Error) =>
        e instanceof NotFoundError && e.message === `no such directory: ${join(dir, "nope")}`,
    );
    await assert.rejects(readManifest(path), /not a directory: .*astropile\.json/);
    mkdirSync(join(dir, "empty"), { recursive: true });
    await assert.rejects(
      readManifest(join(dir, "empty")),
      (e: Error) => e instanceof ManifestError && /no manifest/.test(e.message),
    );
  });
});

describe("object_id index", () => {
  /** An object_id column of `n` rows: int64 from bigints, or strings. */
  const idColumn = (kind: "int64" | "string", n: number, ids: (i: number) => bigint | string) =>
    kind === "int64"
      ? BigInt64Array.from({ length: n }, (_, i) => ids(i) as bigint)
      : Array.from({ length: n }, (_, i) => ids(i) as string);

  test("every id is found at its file and row, int64 and string ids, across index blocks", async () => {
    const { idKeyOf, lookupIdKey } = await import("../../src/storage/id-index.ts");
    for (const kind of ["int64", "string"] as const) {
      const root = join(dir, `ids-${kind}`);
      const n = 5000;
      const blockRows = 1024; // several index blocks
      const { ra, dec } = skyPoints(n, 11, 0.02);
      const idSpec: ColumnSpec =
        kind === "int64"
          ? { name: "object_id", dtype: "int64", shape: [] }
          : { name: "object_id", dtype: "string", shape: [], stringLength: 19 };
      const ids = (i: number) =>
        kind === "int64" ? BigInt(i) * 7919n - 300000n : `${299489677444933632n + BigInt(i)}`;
      const batch: ColumnBatch = { object_id: idColumn(kind, n, ids), ra, dec };
      const manifest = await writeDataset(root, [idSpec, COLUMNS[1], COLUMNS[2]], [batch], {
        config: "c",
        provenance: { survey: "T" },
        maxRowsPerFile: 400,
        memoryBytes: 100_000,
        idIndexBlockRows: blockRows,
      });
      const index = manifest.configs.c.idIndex!;
      assert.equal(index.rows, n);
      assert.equal(index.repeatedIds, 0, "every id once");
      assert.equal(index.fence.length, Math.ceil(n / blockRows));
      const files = manifest.files.filter((f) => f.config === "c");
      const opened = await Promise.all(files.map((f) => PartitionFile.open(join(root, f.path))));
      for (const i of [
        0,
        1,
        17,
        4000,
        blockRows - 1,
        blockRows,
        n - 1,
        ...Array.from({ length: 200 }, (_, k) => (k * 3571) % n),
      ]) {
        const hits = await lookupIdKey(root, index, idKeyOf(idSpec, ids(i)));
        assert.equal(hits.length, 1, `id ${ids(i)} found once`);
        const got = opened[hits[0].file].readRows(["object_id"], [hits[0].row]).object_id;
        assert.equal(String((got as string[])[0]), String(ids(i)));
      }
      assert.deepEqual(
        await lookupIdKey(root, index, idKeyOf(idSpec, kind === "int64" ? 1n : "nope")),
        [],
      );
      for (const f of opened) f.close();
      assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
    }
  });

  test("rows that repeat an id are counted, across the merge's batches; getById gives one", async () => {
    const { openDataset } = await import("../../src/dataset/index.ts");
    for (const kind of ["int64", "string"] as const) {
      const root = join(dir, `repeated-${kind}`);
      // Every id on three rows, spread over the sky, so equal ids meet only in the index's merge
      // (spilled runs of ~1,000 rows: some threes straddle its batches).
      const n = 12_000;
      const { ra, dec } = skyPoints(n, 5, 0);
      const idSpec: ColumnSpec =
        kind === "int64"
          ? { name: "object_id", dtype: "int64", shape: [] }
          : { name: "object_id", dtype: "string", shape: [], stringLength: 12 };
      const id = (i: number) => Math.floor(i / 3) * 7 + 1;
      const ids = (i: number) => (kind === "int64" ? BigInt(id(i)) : `G${id(i)}`);
      const batch: ColumnBatch = { object_id: idColumn(kind, n, ids), ra, dec };
      const manifest = await writeDataset(root, [idSpec, COLUMNS[1], COLUMNS[2]], [batch], {
        config: "c",
        provenance: { survey: "T" },
        memoryBytes: 100_000,
      });
      assert.equal(manifest.configs.c.idIndex!.repeatedIds, (2 * n) / 3, kind);
      const ds = await openDataset(root);
      try {
        const wanted = kind === "int64" ? 7n * 1234n + 1n : `G${7 * 1234 + 1}`;
        const one = await ds.getById(wanted);
        assert.equal(String(one.object_id), String(wanted));
        const quoted = kind === "int64" ? String(wanted) : JSON.stringify(wanted);
        assert.equal(await ds.filter(`object_id == ${quoted}`).count(), 3);
      } finally {
        ds.close();
      }
    }
  });
});
