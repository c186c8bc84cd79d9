// The small clean datasets the dataset fuzz family damages, written once per process through
// the real writer, and every answer the readers give on them (the oracle's "correct answer").
import { join } from "node:path";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { type Dataset, openDataset } from "../../src/dataset/index.ts";
import { writeDataset } from "../../src/storage/dataset-writer.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import { mulberry32 } from "../helpers/sky-points.ts";
import { canonical, typedOrValue } from "./family.ts";

const PROVENANCE = { project: "fuzz", survey: "FUZZ", release: "r1" };

/** int64 ids, image-like arrays, gzip, many files per pixel, small id-index blocks. */
const MAIN: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "image_array", dtype: "float32", shape: [2, 3, 3] },
  { name: "image_band", dtype: "string", shape: [2], stringLength: 6 },
  { name: "mag", dtype: "float32", shape: [] },
  { name: "flag", dtype: "bool", shape: [] },
  { name: "tract", dtype: "int32", shape: [] },
];

/** Fixed-length string ids, uncompressed (Fletcher32 chunks). */
const CAT: ColumnSpec[] = [
  { name: "object_id", dtype: "string", shape: [], stringLength: 16 },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  { name: "z", dtype: "float64", shape: [] },
  { name: "spec", dtype: "float32", shape: [5] },
];

export const CONFIGS = ["main", "cat"] as const;
export type ConfigName = (typeof CONFIGS)[number];
const ROWS: Record<ConfigName, number> = { main: 260, cat: 180 };

/**
 * Positions in three small clumps (a few pixels, so a few files each), one across RA 0/360, with
 * some exact duplicates (equal `_healpix_29` keys at file borders).
 */
function skyPoints(n: number, seed: number): { ra: Float64Array; dec: Float64Array } {
  const rand = mulberry32(seed);
  const centres = [
    [0.2, 1.5],
    [150.1, 2.2],
    [210.5, -60.3],
  ];
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (i > 10 && rand() < 0.05) {
      const j = Math.floor(rand() * i);
      ra[i] = ra[j];
      dec[i] = dec[j];
      continue;
    }
    const [cra, cdec] = centres[i % 3];
    dec[i] = cdec + (rand() - 0.5) * 0.6;
    ra[i] = (cra + (rand() - 0.5) * 0.6 + 360) % 360;
  }
  return { ra, dec };
}

function mainRows(n: number, alt: boolean): ColumnBatch {
  const { ra, dec } = skyPoints(n, 11);
  const b: ColumnBatch = {
    object_id: BigInt64Array.from({ length: n }, (_, i) => 7_000_000_000_000n + BigInt(i) * 13n),
    ra,
    dec,
    image_array: Float32Array.from({ length: n * 18 }, (_, k) => Math.floor(k / 18) + k / 1000),
    image_band: Array.from({ length: n * 2 }, (_, k) => (k % 2 ? "r" : "g")),
    mag: Float32Array.from({ length: n }, (_, i) => 17 + (i % 50) / 7),
    flag: Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0)),
    tract: Int32Array.from({ length: n }, (_, i) => 9000 + (i % 11)),
  };
  if (alt) {
    // A later version of the same dataset: same positions (same layout), other values.
    (b.mag as Float32Array)[7] += 1;
    (b.object_id as BigInt64Array)[20] += 1n;
  }
  return b;
}

function catRows(n: number, alt: boolean): ColumnBatch {
  const { ra, dec } = skyPoints(n, 12);
  const b: ColumnBatch = {
    object_id: Array.from({ length: n }, (_, i) => `obj-${(i * 7919) % 100000}`),
    ra,
    dec,
    z: Float64Array.from({ length: n }, (_, i) => i / 100),
    spec: Float32Array.from({ length: n * 5 }, (_, k) => k * 0.5),
  };
  if (alt) {
    (b.z as Float64Array)[3] = 9.5;
    (b.object_id as string[])[30] = "obj-x";
  }
  return b;
}

/** Writes the dataset with the two configs (the later version with `alt`). */
export async function writeA(root: string, alt = false): Promise<void> {
  await writeDataset(root, MAIN, [mainRows(ROWS.main, alt)], {
    config: "main",
    provenance: PROVENANCE,
    maxRowsPerFile: 30,
    idIndexBlockRows: 16,
    chunkBytes: 256,
  });
  await writeDataset(root, CAT, [catRows(ROWS.cat, alt)], {
    config: "cat",
    provenance: PROVENANCE,
    maxRowsPerFile: 40,
    compression: "none",
    idIndexBlockRows: 8,
    chunkBytes: 256,
  });
}

/** The right side of the cross-matches: objects near some of A's, and others. */
export async function writeB(root: string): Promise<void> {
  const rand = mulberry32(99);
  const a = skyPoints(ROWS.main, 11);
  const c = skyPoints(ROWS.cat, 12);
  const n = 200;
  const ra = new Float64Array(n);
  const dec = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const src = i % 2 ? a : c;
    const j = Math.floor(rand() * src.ra.length);
    const off = (rand() - 0.5) * (2 / 3600);
    ra[i] = (src.ra[j] + off + 360) % 360;
    dec[i] = Math.max(-90, Math.min(90, src.dec[j] - off));
  }
  await writeDataset(
    root,
    [
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "ra", dtype: "float64", shape: [] },
      { name: "dec", dtype: "float64", shape: [] },
    ],
    [{ object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(i) + 1n), ra, dec }],
    { config: "b", provenance: { survey: "RIGHT" }, maxRowsPerFile: 30 },
  );
}

/** The answer of one read: its canonical text, or the code of the AstroPileError it threw. */
export type Answer = { ok: true; text: string } | { ok: false; code: string; message: string };

export interface Probe {
  name: string;
  run: () => Promise<unknown>;
}

/** Examples without what the manifest alone states (provenance, units): the data. */
function data(value: unknown): unknown {
  return JSON.parse(canonical(value), (k, v) =>
    k === "provenance" || k === "units" || k === "unit" ? undefined : v,
  );
}

async function collect(view: Dataset, size: number): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const b of view.batches({ size })) out.push(b);
  return out;
}

/** The reads the oracle compares, on config `config` of `root` (B the clean right side). */
export function probes(root: string, config: ConfigName, b: string, picks: Picks): Probe[] {
  // Every read names the clean dataset's columns: a manifest that lost one cannot answer.
  const columns = [
    ...(config === "main" ? MAIN : CAT).map((c) => c.name),
    "healpix",
    "_healpix_29",
  ];
  const using = async <T>(fn: (d: Dataset) => Promise<T>): Promise<T> => {
    const d = await openDataset(root, { config });
    try {
      return await fn(d.select(columns));
    } finally {
      d.close();
    }
  };
  const right = async <T>(fn: (r: Dataset) => Promise<T>): Promise<T> => {
    const r = await openDataset(b);
    try {
      return await fn(r);
    } finally {
      r.close();
    }
  };
  return [
    { name: "length", run: () => using(async (d) => d.length) },
    { name: "batches", run: () => using((d) => collect(d, 97)) },
    { name: "take", run: () => using(async (d) => data(await d.take(picks.rows))) },
    {
      name: "cone",
      run: () =>
        using(async (d) => {
          const out: unknown[] = [];
          for (const [ra, dec] of picks.cones)
            out.push(await collect(d.coneSearch(ra, dec, 900).select(["object_id", "ra"]), 50));
          return out;
        }),
    },
    {
      name: "nearest",
      run: () =>
        using(async (d) =>
          data(await d.nearest(picks.cones[0][0], picks.cones[0][1], 1800, { limit: 7, columns })),
        ),
    },
    {
      name: "getById",
      run: () =>
        using(async (d) => {
          const out: unknown[] = [];
          for (const id of picks.ids) out.push(data(await d.getById(id)));
          return out;
        }),
    },
    { name: "getById(absent)", run: () => using((d) => d.getById(picks.absent)) },
    { name: "filter", run: () => using(async (d) => d.filter("ra > 180").count()) },
    {
      name: "crossMatch(A, B)",
      run: () =>
        using((d) =>
          right(async (r) =>
            canonical((await crossMatch(d, r, { radiusArcsec: 2, threads: 0 })).catalog),
          ),
        ),
    },
    {
      name: "crossMatch(B, A, all)",
      run: () =>
        using((d) =>
          right(async (r) =>
            canonical(
              (await crossMatch(r, d, { radiusArcsec: 60, mode: "all", threads: 0 })).catalog,
            ),
          ),
        ),
    },
  ];
}

export interface Picks {
  rows: number[];
  cones: Array<[number, number]>;
  ids: Array<bigint | string>;
  absent: bigint | string;
}

/** The probe's answer, with the dataset's root in it (file names) written as "<root>". */
export async function answer(probe: Probe, root: string): Promise<Answer> {
  const r = await typedOrValue(probe.name, probe.run);
  return r.ok
    ? { ok: true, text: canonical(r.value).replaceAll(root, "<root>") }
    : { ok: false, code: r.error.code, message: r.error.message };
}

export interface Clean {
  a: string;
  alt: string;
  b: string;
  picks: Record<ConfigName, Picks>;
  answers: Record<ConfigName, Answer[]>;
}

/** Writes the clean datasets under `dir` and records every answer on them. */
export async function makeClean(dir: string): Promise<Clean> {
  const clean: Clean = {
    a: join(dir, "a"),
    alt: join(dir, "a-alt"),
    b: join(dir, "b"),
    picks: {} as Clean["picks"],
    answers: {} as Clean["answers"],
  };
  await writeA(clean.a);
  await writeA(clean.alt, true);
  await writeB(clean.b);
  for (const root of [clean.a, clean.alt, clean.b]) {
    const problems = await verifyDataset(root, { checksums: true });
    if (problems.length) throw new Error(`clean dataset ${root}: ${JSON.stringify(problems)}`);
  }
  for (const config of CONFIGS) {
    const d = await openDataset(clean.a, { config });
    const n = d.length;
    const rows = [0, n - 1, Math.floor(n / 2), 5, 44, 45, 46, n - 2];
    const ex = await d.take(rows);
    d.close();
    clean.picks[config] = {
      rows,
      cones: ex.slice(2, 4).map((e) => [e.ra as number, e.dec as number]),
      ids: ex.slice(0, 3).map((e) => e.object_id as bigint | string),
      absent: config === "main" ? 123n : "no-such-object",
    };
    clean.answers[config] = [];
    for (const p of probes(clean.a, config, clean.b, clean.picks[config]))
      clean.answers[config].push(await answer(p, clean.a));
    const bad = clean.answers[config].filter(
      (x, k) => !x.ok && !(k === 6 && x.code === "ASTROPILE_NOT_FOUND"),
    );
    if (bad.length) throw new Error(`clean answers of ${config}: ${JSON.stringify(bad)}`);
  }
  return clean;
}
