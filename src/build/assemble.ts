// Assembly: the units' files become the dataset. Units hold disjoint, ordered key ranges, so
// each partition pixel's files are the units' files of that pixel in unit order, renamed to
// `<k>-of-<n>.hdf5` in the layout's directory. The mapping is written to assembly.json before
// the first rename, every step is idempotent (a file already at its final path is checked
// against its sha256 instead), the object_id index is merged from the units' indexes and the
// positions sidecar copied from the units' sidecars in final file order (one unit: both are
// renamed into place, they already describe the final file list), and the manifest is replaced
// last.
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { BuildStateError } from "../core/errors.ts";
import { sha256File } from "../core/hash.ts";
import { writeCard } from "../storage/card.ts";
import { STANDARD_COLUMNS } from "../storage/dataset-writer.ts";
import { ID_INDEX_NAME } from "../storage/id-index.ts";
import { fileListIdentity } from "../storage/identity.ts";
import { layoutPath } from "../storage/layout.ts";
import {
  type ColumnEntry,
  emptyManifest,
  type FileEntry,
  fileOrder,
  filePixels,
  type IdIndexEntry,
  type Manifest,
  type PositionsEntry,
  partitionKey,
  readManifest,
  writeManifest,
} from "../storage/manifest.ts";
import { copyPositions, type PositionsPiece } from "../storage/positions.ts";
import { mergeIdIndexesOnThread } from "./id-index-thread.ts";
import { crashPoint, readJson, type StatePaths, unitDir, writeJsonAtomic } from "./state.ts";
import type { BuildPlan, UnitDone } from "./unit.ts";

interface Move {
  unit: number;
  /** Absolute staging path. */
  from: string;
  entry: FileEntry;
}

interface Assembly {
  fingerprint: string;
  moves: Move[];
}

export function columnEntries(
  columns: ColumnSpec[],
  standardNames: Record<string, string>,
): ColumnEntry[] {
  return [...columns, ...STANDARD_COLUMNS].map((spec) => {
    const entry: ColumnEntry = { name: spec.name, dtype: spec.dtype, shape: spec.shape };
    if (spec.stringLength !== undefined) entry.stringLength = spec.stringLength;
    if (spec.unit) entry.unit = spec.unit;
    if (spec.description) entry.description = spec.description;
    const std = standardNames[spec.name];
    if (std) entry.standardName = std;
    return entry;
  });
}

function planMoves(out: string, paths: StatePaths, plan: BuildPlan, done: UnitDone[]): Move[] {
  const config = plan.spec.config;
  // Files in key order (units are, and so are each unit's files), grouped by pixel.
  const files = done.flatMap((d) => d.files.map((f) => ({ unit: d.unit, f })));
  const count = new Map<string, number>();
  for (const { f } of files) {
    const at = partitionKey(f);
    count.set(at, (count.get(at) ?? 0) + 1);
  }
  const seen = new Map<string, number>();
  const moves: Move[] = files.map(({ unit, f }) => {
    const at = partitionKey(f);
    const k = (seen.get(at) ?? 0) + 1;
    seen.set(at, k);
    return {
      unit,
      from: join(unitDir(paths, unit), f.path),
      entry: {
        ...f,
        path: layoutPath(
          plan.layout,
          config,
          fileOrder(f),
          f.pixel,
          k,
          count.get(at)!,
          filePixels(f),
        ),
      },
    };
  });
  // Sanity: files in final order must have increasing, disjoint key ranges.
  for (let i = 1; i < moves.length; i++) {
    if (BigInt(moves[i].entry.keyMin) <= BigInt(moves[i - 1].entry.keyMax))
      throw new BuildStateError(`units overlap at ${moves[i].entry.path}`, { file: out });
  }
  return moves;
}

async function sizeOf(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

/** Removes files under the config's pixel directories that the new dataset does not list. */
async function removeStrays(out: string, config: string, keep: Set<string>): Promise<void> {
  const base = join(out, config);
  const list = (dir: string) => readdir(dir).catch(() => [] as string[]);
  const clean = async (rel: string) => {
    for (const name of await list(join(out, rel))) {
      const file = posix.join(rel, name);
      if (!keep.has(file)) await rm(join(out, file), { force: true });
    }
  };
  for (const d of await list(base)) {
    if (d.startsWith("healpix=")) await clean(posix.join(config, d));
    else if (/^order=\d+$/.test(d))
      for (const p of await list(join(base, d)))
        if (p.startsWith("healpix=")) await clean(posix.join(config, d, p));
  }
}

export interface AssembleResult {
  manifest: Manifest;
  files: FileEntry[];
}

export async function assemble(
  out: string,
  paths: StatePaths,
  plan: BuildPlan,
  done: UnitDone[],
  memoryBytes: number,
  /** Runs after the files are in place, before the manifest makes them visible. */
  beforeManifest: (files: FileEntry[]) => Promise<void>,
): Promise<AssembleResult> {
  const config = plan.spec.config;
  let assembly = await readJson<Assembly>(paths.assembly);
  if (!assembly || assembly.fingerprint !== plan.fingerprint) {
    assembly = { fingerprint: plan.fingerprint, moves: planMoves(out, paths, plan, done) };
    await removeStrays(out, config, new Set(assembly.moves.map((m) => m.entry.path)));
    await writeJsonAtomic(paths.assembly, assembly);
  }
  crashPoint("assembly-planned");
  let k = 0;
  for (const m of assembly.moves) {
    const to = join(out, m.entry.path);
    if ((await sizeOf(m.from)) !== null) {
      await mkdir(dirname(to), { recursive: true });
      await rename(m.from, to);
    } else {
      // Moved by an earlier, interrupted assembly: it must still be the same file.
      const size = await sizeOf(to);
      if (size !== m.entry.bytes || (await sha256File(to)) !== m.entry.sha256)
        throw new BuildStateError(
          "file of a finished unit is missing or changed; delete the build state (.astropile-build) and build again",
          { file: to },
        );
    }
    crashPoint(`assemble:${++k}`);
  }
  const single = await singleUnitSidecars(out, paths, done);
  let idIndex = single?.idIndex;
  let positions = single?.positions;
  if (!single) {
    // The index merged on a thread of its own while this one copies the positions.
    const merging = mergeIdIndexes(out, paths, plan, done, assembly.moves, memoryBytes);
    merging.catch(() => {}); // awaited below, after the positions
    try {
      positions = await assemblePositions(out, paths, plan, done, assembly.moves);
    } finally {
      // Never leave the thread writing when this fails: it ends before the error goes on.
      await merging.catch(() => {});
    }
    idIndex = await merging;
  }
  const manifest =
    (await readManifest(out).catch(() => null)) ??
    emptyManifest(
      plan.spec.name ?? (out.split(/[\\/]/).filter(Boolean).pop() || "dataset"),
      plan.spec.provenance,
      plan.layout,
    );
  const files = assembly.moves.map((m) => m.entry);
  manifest.configs[config] = {
    columns: columnEntries(plan.columns, plan.standardNames),
    rows: files.reduce((s, f) => s + f.rows, 0),
    compression: plan.spec.build?.compression ?? "gzip",
    ...(idIndex ? { idIndex } : {}),
    positions,
  };
  manifest.files = [...manifest.files.filter((f) => f.config !== config), ...files];
  await beforeManifest(files);
  await writeManifest(out, manifest);
  await writeCard(out, manifest);
  crashPoint("manifest");
  return { manifest, files };
}

/**
 * With one unit, its sidecars describe the final file list as they are (the list's identity
 * depends on the files' identities, sha256 and rows, not on their paths): renamed into place.
 * Null when there are several units (or the unit wrote none).
 */
async function singleUnitSidecars(
  out: string,
  paths: StatePaths,
  done: UnitDone[],
): Promise<{ idIndex?: IdIndexEntry; positions: PositionsEntry } | null> {
  if (done.length !== 1) return null;
  const d = done[0];
  if (!d.positions || d.files.length === 0) return null;
  for (const entry of [d.idIndex, d.positions]) {
    if (!entry) continue;
    const from = join(unitDir(paths, d.unit), entry.path);
    const to = join(out, entry.path);
    if ((await sizeOf(from)) === entry.bytes) {
      await mkdir(dirname(to), { recursive: true });
      await rename(from, to);
    } else if ((await sizeOf(to)) !== entry.bytes || (await sha256File(to)) !== entry.sha256)
      throw new BuildStateError(
        "a sidecar of the finished unit is missing or changed; delete the build state (.astropile-build) and build again",
        { file: to },
      );
  }
  return { idIndex: d.idIndex, positions: d.positions };
}

/**
 * The object_id index of the dataset: the units' indexes (each sorted), file ordinals shifted,
 * merged on a thread (id-index-thread.ts).
 */
async function mergeIdIndexes(
  out: string,
  paths: StatePaths,
  plan: BuildPlan,
  done: UnitDone[],
  moves: Move[],
  memoryBytes: number,
): Promise<IdIndexEntry | undefined> {
  if (moves.length === 0) return undefined;
  // Ordinal of each unit's first file in the config's final file list.
  const firstOrdinal = new Map<number, number>();
  moves.forEach((m, i) => {
    if (!firstOrdinal.has(m.unit)) firstOrdinal.set(m.unit, i);
  });
  const inputs: Array<{ path: string; rows: number; offset: number }> = [];
  for (const d of done) {
    if (!d.idIndex || d.idIndex.rows === 0) continue;
    inputs.push({
      path: join(unitDir(paths, d.unit), d.idIndex.path),
      rows: d.idIndex.rows,
      offset: firstOrdinal.get(d.unit) ?? 0,
    });
  }
  return mergeIdIndexesOnThread({
    root: out,
    config: plan.spec.config,
    scratch: join(paths.dir, "id-sort"),
    memoryBytes,
    fileList: fileListIdentity(
      plan.spec.config,
      moves.map((m) => m.entry),
    ),
    inputs,
  });
}

/**
 * The config's positions sidecar, rows in final file order (`moves`): each file's rows copied
 * from its unit's sidecar, or, for state written before units had one, from the file itself.
 */
async function assemblePositions(
  out: string,
  paths: StatePaths,
  plan: BuildPlan,
  done: UnitDone[],
  moves: Move[],
): Promise<PositionsEntry> {
  // Where each file's rows start in its unit's sidecar (a unit's files in its own order). Files
  // are known by unit and sha256: staging paths depend on how `out` was spelled.
  const inUnit = new Map<string, PositionsPiece>();
  for (const d of done) {
    const p = d.positions;
    const sidecar = join(unitDir(paths, d.unit), p?.path ?? "");
    if (!p || (await sizeOf(sidecar)) !== p.bytes) continue;
    let start = 0;
    for (const f of d.files) {
      inUnit.set(`${d.unit}:${f.sha256}`, {
        path: sidecar,
        fileRows: p.rows,
        start,
        end: start + f.rows,
      });
      start += f.rows;
    }
  }
  const fromUnits = moves.map((m) => inUnit.get(`${m.unit}:${m.entry.sha256}`));
  const pieces: PositionsPiece[] = fromUnits.every((p) => p !== undefined)
    ? fromUnits
    : moves.map((m) => ({
        path: join(out, m.entry.path),
        fileRows: m.entry.rows,
        start: 0,
        end: m.entry.rows,
      }));
  const idSpec = plan.columns.find((c) => c.name === "object_id")!;
  const files = moves.map((m) => m.entry);
  return copyPositions(
    out,
    plan.spec.config,
    idSpec,
    pieces,
    fileListIdentity(plan.spec.config, files),
  );
}

export { ID_INDEX_NAME };
