// The positions sidecar (ra, dec, object_id of every row of a config in one uncompressed file):
// row i must be row i of the config as the dataset layer numbers rows, whatever the layout the
// writer chose, for datasets written by writeDataset, by buildPositions and by the build runner.
import assert from "node:assert/strict";
import {
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { build, checkSpec } from "../../src/build/index.ts";
import { STATE_DIR } from "../../src/build/state.ts";
import {
  type ColumnBatch,
  type ColumnSpec,
  type ColumnValues,
  concatValues,
} from "../../src/core/columns.ts";
import { ManifestMismatchError } from "../../src/core/errors.ts";
import { openDataset } from "../../src/dataset/index.ts";
import { writeCsv } from "../../src/formats/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { lookup3 } from "../../src/storage/lookup3.ts";
import { readManifest, writeManifest } from "../../src/storage/manifest.ts";
import { PartitionFile } from "../../src/storage/partition-file.ts";
import {
  buildPositions,
  POSITIONS_NAME,
  PositionsFile,
  writePositions,
} from "../../src/storage/positions.ts";
import { type VerifyProblem, verifyDataset } from "../../src/storage/verify.ts";
import { mulberry32, skyPoints } from "../helpers/sky-points.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();
const N = 3000;

type IdKind = "int64" | "string" | "vlen";

function columns(id: IdKind): ColumnSpec[] {
  return [
    id === "int64"
      ? { name: "object_id", dtype: "int64", shape: [] }
      : id === "string"
        ? { name: "object_id", dtype: "string", shape: [], stringLength: 16 }
        : { name: "object_id", dtype: "string", shape: [] },
    { name: "ra", dtype: "float64", shape: [], unit: "deg" },
    { name: "dec", dtype: "float64", shape: [], unit: "deg" },
    { name: "flux", dtype: "float32", shape: [16] },
  ];
}

/** Rows in input order (not sky order), so the writer's sort decides the stored order. */
function* batches(id: IdKind, n = N, seed = 11, size = 700): Generator<ColumnBatch> {
  // Clumps only: tens of pixels, hundreds of rows each (every file costs an fsync).
  const { ra, dec } = skyPoints(n, seed, 0);
  for (let s = 0; s < n; s += size) {
    const m = Math.min(size, n - s);
    yield {
      object_id:
        id === "int64"
          ? BigInt64Array.from({ length: m }, (_, i) => BigInt(s + i) * 7919n - 5n)
          : Array.from({ length: m }, (_, i) => `J${seed}-${(s + i) * 31}`),
      ra: ra.slice(s, s + m),
      dec: dec.slice(s, s + m),
      flux: Float32Array.from({ length: m * 16 }, (_, k) => s + k),
    };
  }
}

/** ra, dec, object_id of a config through the dataset API, in its row order. */
async function viaDataset(root: string, config?: string) {
  const ds = await openDataset(root, { config });
  const parts: Record<string, ColumnValues[]> = { object_id: [], ra: [], dec: [] };
  try {
    for await (const b of ds.batches({ size: 997, columns: ["object_id", "ra", "dec"] }))
      for (const k of Object.keys(parts)) parts[k].push(b.columns[k]);
  } finally {
    ds.close();
  }
  const floats = (p: ColumnValues[]) =>
    p.length === 0 ? new Float64Array(0) : (concatValues(p) as Float64Array);
  return { ids: concatValues(parts.object_id), ra: floats(parts.ra), dec: floats(parts.dec) };
}

/** The sidecar of a config, read whole and in pieces (the pieces checked against the whole). */
async function viaSidecar(root: string, config: string) {
  const manifest = await readManifest(root);
  const entry = manifest.configs[config].positions;
  assert.ok(entry, "the manifest lists the positions sidecar");
  assert.equal(entry.path, `${config}/${POSITIONS_NAME}`);
  const file = await PositionsFile.open(root, entry);
  try {
    assert.equal(file.rows, entry.rows);
    const { ra, dec } = await file.readRange(0, file.rows);
    const ids = await file.readIdRange(0, file.rows);
    if (file.rows > 10) {
      const a = Math.floor(file.rows / 3);
      const part = await file.readRange(a, a + 7);
      assert.deepEqual(part.ra, ra.slice(a, a + 7));
      assert.deepEqual(part.dec, dec.slice(a, a + 7));
      assert.deepEqual(await file.readIdRange(a, a + 7), ids.slice(a, a + 7));
      const rows = Array.from({ length: file.rows }, (_, i) => i).filter(
        (i) => i % 97 === 0 || i % 97 === 1 || i === file.rows - 1,
      );
      const picked = await file.readIds(rows);
      assert.deepEqual(
        Array.from(picked as ArrayLike<unknown>),
        rows.map((r) => (ids as ArrayLike<unknown>)[r]),
      );
    }
    return { entry, ra, dec, ids };
  } finally {
    file.close();
  }
}

async function assertSidecarMatches(root: string, config: string, rows = N): Promise<void> {
  const want = await viaDataset(root, config);
  const got = await viaSidecar(root, config);
  assert.equal(got.entry.rows, rows);
  assert.equal(want.ra.length, rows);
  assert.deepEqual(got.ra, want.ra, "ra in the config's row order");
  assert.deepEqual(got.dec, want.dec, "dec in the config's row order");
  if (rows === 0) assert.equal(got.ids.length, 0);
  else assert.deepEqual(got.ids, want.ids, "object_id in the config's row order");
  assert.deepEqual(await verifyDataset(root, { checksums: true }), []);
}

/**
 * Uncompressed, ~256 KiB chunks (no longer than the file: a small sidecar is one chunk of its
 * rows, not 800 kB of whole chunks), the dataset's object_id type.
 */
async function assertStorage(root: string, id: "int64" | "string"): Promise<void> {
  const file = await PartitionFile.open(join(root, "main", POSITIONS_NAME));
  try {
    assert.equal(file.length, N);
    assert.deepEqual(
      file
        .columns()
        .map((c) => c.name)
        .sort(),
      ["dec", "object_id", "ra"],
    );
    for (const c of file.columns()) assert.equal(c.compression, "none", c.name);
    assert.deepEqual(file.column("ra").chunks, [Math.min(N, 32768)]);
    assert.deepEqual(file.column("dec").chunks, [Math.min(N, 32768)]);
    assert.deepEqual(file.column("object_id").chunks, [
      Math.min(N, id === "int64" ? 32768 : 16384),
    ]);
    // N rows of 8 + 8 + 8 (or 16) bytes, a few kB of metadata.
    assert.ok(statSync(join(root, "main", POSITIONS_NAME)).size < N * 32 + 8192);
    assert.equal(file.column("object_id").dtype, id);
    if (id === "string") assert.equal(file.column("object_id").stringLength, 16);
  } finally {
    file.close();
  }
}

const LAYOUTS = {
  "one file per pixel": { layout: "mmu" as const },
  "many small files per pixel": { layout: "mmu" as const, maxRowsPerFile: 40 },
  "adaptive pixels": { layout: "adaptive" as const },
  "adaptive pixels, small files": { layout: "adaptive" as const, maxRowsPerFile: 40 },
  // One sorted run per input batch, more runs than one merge takes (an extra merge pass).
  "spilled external-sort runs": { memoryBytes: 8_000 },
};

function writeLayout(root: string, layout: keyof typeof LAYOUTS, id: "int64" | "string") {
  const options = LAYOUTS[layout];
  const size = "memoryBytes" in options ? 100 : 700;
  return writeDataset(root, columns(id), batches(id, N, 11, size), {
    config: "main",
    provenance: { survey: "TEST" },
    ...options,
  });
}

describe("writeDataset writes the positions sidecar in the config's row order", () => {
  for (const [layout, options] of Object.entries(LAYOUTS)) {
    for (const id of ["int64", "string"] as const) {
      test(`${layout}, ${id} ids`, async () => {
        const root = join(dir, `${layout.replaceAll(" ", "-")}-${id}`);
        const manifest = await writeLayout(root, layout as keyof typeof LAYOUTS, id);
        const files = manifest.files.length;
        const pixels = new Set(manifest.files.map((f) => `${f.order}/${f.pixel}`)).size;
        if ("layout" in options && options.layout === "mmu") {
          assert.ok(pixels >= 5, "rows spread over several pixels");
          if ("maxRowsPerFile" in options) assert.ok(files > 2 * pixels, "several files per pixel");
        } else if ("maxRowsPerFile" in options) assert.ok(files >= N / 40, "files of 40 rows");
        await assertSidecarMatches(root, "main");
        await assertStorage(root, id);
      });
    }
  }

  test("variable-length string ids, an empty config, and a second config in the same root", async () => {
    const root = join(dir, "multi");
    await writeDataset(root, columns("vlen"), batches("vlen", 900, 5), {
      config: "first",
      provenance: { survey: "TEST" },
      maxRowsPerFile: 100,
    });
    await writeDataset(root, columns("int64"), batches("int64", 1200, 6), {
      config: "second",
      provenance: { survey: "TEST" },
      maxRowsPerFile: 100,
    });
    await writeDataset(root, columns("int64"), [], {
      config: "empty",
      provenance: { survey: "TEST" },
    });
    // The second config's files follow the first's in manifest.files: its sidecar starts at its own.
    await assertSidecarMatches(root, "first", 900);
    await assertSidecarMatches(root, "second", 1200);
    await assertSidecarMatches(root, "empty", 0);
  });

  test("Dataset.saveToDisk of a filtered view", async () => {
    const root = join(dir, "to-save");
    await writeDataset(root, columns("int64"), batches("int64", 1200, 6), {
      config: "second",
      provenance: { survey: "TEST" },
    });
    const view = (await openDataset(root, { config: "second" })).filter("dec > 0");
    const saved = join(dir, "saved");
    await view.saveToDisk(saved, { maxRowsPerFile: 50 });
    const rows = await view.count();
    view.close();
    assert.ok(rows > 0 && rows < 1200);
    await assertSidecarMatches(saved, "second", rows);
  });
});

test("PositionsFile reads the same values in a worker thread", async () => {
  const root = join(dir, "worker");
  await writeLayout(root, "one file per pixel", "string");
  const entry = (await readManifest(root)).configs.main.positions!;
  const main = await viaSidecar(root, "main");
  // Booted like the build's worker-entry.mjs: tsx registered inside the worker.
  const script = join(dir, "positions-worker.mjs");
  writeFileSync(
    script,
    `import { parentPort, workerData } from "node:worker_threads";
await import(workerData.h5wasm);
const { register } = await import(workerData.tsx);
register();
const { PositionsFile } = await import(workerData.module);
const file = await PositionsFile.open(workerData.root, workerData.entry);
const { ra, dec } = await file.readRange(0, file.rows);
const ids = await file.readIds([0, 5, file.rows - 1]);
file.close();
parentPort.postMessage({ ra, dec, ids });
`,
  );
  const worker = new Worker(script, {
    workerData: {
      h5wasm: import.meta.resolve("h5wasm/node"),
      tsx: import.meta.resolve("tsx/esm/api"),
      module: pathToFileURL(join(import.meta.dirname, "../../src/storage/positions.ts")).href,
      root,
      entry,
    },
  });
  const got = await new Promise<{ ra: Float64Array; dec: Float64Array; ids: string[] }>(
    (resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    },
  );
  await worker.terminate();
  assert.deepEqual(got.ra, main.ra);
  assert.deepEqual(got.dec, main.dec);
  const ids = main.ids as string[];
  assert.deepEqual(got.ids, [ids[0], ids[5], ids[N - 1]]);
});

test("lookup3 (the HDF5 metadata checksum) gives Jenkins' reference values", () => {
  const text = Buffer.from("Four score and seven years ago");
  assert.equal(lookup3(new Uint8Array(0)), 0xdeadbeef);
  assert.equal(lookup3(text, 0), 0x17770551);
  assert.equal(lookup3(text, 1), 0xcd628161);
});

test("the same rows give the same bytes however they are batched", async () => {
  // More rows than the file writer gathers before a write (8 MiB): several writes into the file.
  const n = 400_000;
  const ra = Float64Array.from({ length: n }, (_, i) => (i * 0.0009) % 360);
  const dec = Float64Array.from({ length: n }, (_, i) => ((i * 0.0007) % 180) - 90);
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 3n);
  const idSpec: ColumnSpec = { name: "object_id", dtype: "int64", shape: [] };
  function* cut(sizes: () => number): Generator<ColumnBatch> {
    for (let at = 0; at < n; ) {
      const end = Math.min(n, at + sizes());
      yield {
        ra: ra.subarray(at, end),
        dec: dec.subarray(at, end),
        object_id: ids.subarray(at, end),
      };
      at = end;
    }
  }
  const rand = mulberry32(7);
  const entries = [];
  for (const [name, sizes] of [
    ["whole", () => n],
    ["even", () => 1000],
    ["ragged", () => 1 + Math.floor(rand() * 90_000)],
  ] as const) {
    entries.push(
      await writePositions(join(dir, `batched-${name}`), "c", cut(sizes), idSpec, "0".repeat(64)),
    );
  }
  assert.equal(entries[0].rows, n);
  assert.deepEqual(entries[1], entries[0]);
  assert.deepEqual(entries[2], entries[0]);
});

describe("buildPositions", () => {
  test("recreates the sidecar of a dataset written without one, and records it in the manifest", async () => {
    const root = join(dir, "rebuilt");
    await writeLayout(root, "many small files per pixel", "string");
    const before = await viaSidecar(root, "main");
    const manifest = await readManifest(root);
    const entry = manifest.configs.main.positions!;
    delete manifest.configs.main.positions;
    await writeManifest(root, manifest);
    rmSync(join(root, entry.path));
    assert.equal((await readManifest(root)).configs.main.positions, undefined);

    await new Promise((r) => setTimeout(r, 1100));
    const rebuilt = await buildPositions(root, "main");
    assert.deepEqual((await readManifest(root)).configs.main.positions, rebuilt);
    assert.equal(rebuilt.path, entry.path);
    // Byte for byte the writer's file (a later second: libhdf5's object times are cleared).
    assert.deepEqual(rebuilt, entry);
    assert.equal(rebuilt.bytes, statSync(join(root, rebuilt.path)).size);
    const after = await viaSidecar(root, "main");
    assert.deepEqual(after.ra, before.ra);
    assert.deepEqual(after.dec, before.dec);
    assert.deepEqual(after.ids, before.ids);
    await assertSidecarMatches(root, "main");
  });
});

test("a sidecar of 40,000 rows takes its values' bytes, not two whole 32,768-row chunks", async () => {
  // The sidecar is uncompressed and HDF5 stores a chunk whole: in chunks of 32,768 rows, 40,000
  // rows took the space of 65,536 (1.57 MB for 0.96 MB of values). Its writers know the row
  // count and cut even chunks.
  const n = 40_000;
  const root = join(dir, "sidecar-40k");
  const manifest = await writeDataset(root, columns("int64"), batches("int64", n, 5, 9000), {
    config: "main",
    provenance: { project: "test", survey: "sidecar", release: "1" },
  });
  const entry = manifest.configs.main.positions!;
  const values = n * 3 * 8;
  assert.ok(entry.bytes < values + 8192, `sidecar ${entry.bytes} bytes for ${values} of values`);
  const file = await PartitionFile.open(join(root, entry.path));
  try {
    for (const name of ["ra", "dec", "object_id"])
      assert.deepEqual(file.column(name).chunks, [20_000], name);
  } finally {
    file.close();
  }
  await assertSidecarMatches(root, "main", n);
  // Copied from the partition files (as `astropile index` and a build's assembly make it): the
  // same even chunks, so the same bytes.
  delete manifest.configs.main.positions;
  await writeManifest(root, manifest);
  rmSync(join(root, entry.path));
  assert.deepEqual(await buildPositions(root, "main"), entry);
});

describe("damaged sidecars are reported naming the file", () => {
  async function fresh(name: string) {
    const root = join(dir, name);
    await writeDataset(root, columns("int64"), batches("int64", 500, 3), {
      config: "main",
      provenance: { survey: "TEST" },
    });
    const entry = (await readManifest(root)).configs.main.positions!;
    return { root, entry, path: join(root, entry.path) };
  }

  function assertNamed(problems: VerifyProblem[], path: string, pattern: RegExp) {
    assert.equal(problems.length, 1, problems.map((p) => p.detail).join("\n"));
    assert.equal(problems[0].file, path);
    assert.match(problems[0].detail, pattern);
  }

  test("truncated", async () => {
    const { root, entry, path } = await fresh("truncated");
    truncateSync(path, 3000);
    assertNamed(await verifyDataset(root), path, /positions file has 3000 bytes/);
    await assert.rejects(
      PositionsFile.open(root, entry),
      (e: Error) =>
        e instanceof ManifestMismatchError &&
        e.file === path &&
        /has 3000 bytes but the manifest says/.test(e.message),
    );
  });

  test("overwritten in place: the sha256 check finds it; a broken header is found without it", async () => {
    const { root, path } = await fresh("overwritten");
    const fd = openSync(path, "r+");
    writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, statSync(path).size - 4096);
    assert.deepEqual(await verifyDataset(root), []);
    assertNamed(await verifyDataset(root, { checksums: true }), path, /SHA-256 differs/);
    writeSync(fd, Buffer.alloc(64, 0x5a), 0, 64, 0);
    assertNamed(await verifyDataset(root), path, /HDF5/);
    rmSync(path);
    assertNamed(await verifyDataset(root), path, /does not exist/);
  });

  test("a row count other than the manifest's", async () => {
    const { root, entry, path } = await fresh("rows");
    await assert.rejects(
      PositionsFile.open(root, { ...entry, rows: entry.rows + 1 }),
      (e: Error) =>
        e instanceof ManifestMismatchError && (e as ManifestMismatchError).file === path,
    );
    const manifest = await readManifest(root);
    manifest.configs.main.positions = { ...entry, rows: entry.rows - 1 };
    await writeManifest(root, manifest);
    const problems = await verifyDataset(root);
    assert.deepEqual(
      problems.map((p) => [p.kind, p.file, p.detail]),
      [
        ["rows", path, 'positions file has 499 rows but config "main" has 500'],
        ["rows", path, "file has 500 rows but the manifest says 499"],
      ],
    );
  });
});

describe("build runner", () => {
  test("the assembled config's sidecar follows the final file order across units", async () => {
    const src = join(dir, "build-src");
    mkdirSync(src, { recursive: true });
    const n = 1500;
    const { ra, dec } = skyPoints(n, 23, 0);
    const names = ["id", "ra", "dec", "mag"];
    await writeCsv(
      join(src, "cat.csv"),
      names.map((name) => ({ name, dtype: "string" as const, shape: [] })),
      [
        {
          id: Array.from({ length: n }, (_, i) => String(1_000_000_007 * (i + 1))),
          ra: Array.from(ra, String),
          dec: Array.from(dec, String),
          mag: Array.from({ length: n }, (_, i) => String(18 + (i % 70) / 10)),
        },
      ],
    );
    const spec = checkSpec(
      {
        config: "cat",
        provenance: { survey: "TEST" },
        catalog: {
          files: "cat.csv",
          columns: {
            object_id: { from: "id", dtype: "int64" },
            ra: "ra",
            dec: "dec",
            mag: { from: "mag", dtype: "float32" },
          },
        },
        build: { unitBytes: 4000, maxRowsPerFile: 25 },
      },
      src,
    );
    const out = join(dir, "build-out");
    const r = await build(spec, { out, workers: 1 });
    assert.ok(r.report.units > 5, "several work units");
    assert.ok(r.report.files > r.report.units, "units with several files");
    await assertSidecarMatches(out, "cat", n);

    // Units finished by a version without sidecars: assembly reads the final files instead.
    const out2 = join(dir, "build-out-2");
    let removed = 0;
    await build(spec, {
      out: out2,
      workers: 1,
      onProgress: (p) => {
        if (p.phase !== "assemble") return;
        const units = join(out2, STATE_DIR, "cat", "units");
        for (const u of readdirSync(units)) {
          const sidecar = join(units, u, "cat", POSITIONS_NAME);
          if (existsSync(sidecar)) {
            rmSync(sidecar);
            removed++;
          }
        }
      },
    });
    assert.equal(removed, r.report.units);
    await assertSidecarMatches(out2, "cat", n);
    // Both ways give the same bytes.
    assert.deepEqual(
      (await readManifest(out2)).configs.cat.positions,
      (await readManifest(out)).configs.cat.positions,
    );
  });
});
