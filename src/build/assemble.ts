// Assembly: the units' files become the dataset. Units hold disjoint, ordered key ranges within
// one partition pixel each, so each pixel's files are the units' files in unit order, renamed to
// `<k>-of-<n>.hdf5`. The mapping is written to assembly.json before the first rename, every step
// is idempotent (a file already at its final path is checked against its sha256 instead), the
// object_id index is merged from the units' indexes, the positions sidecar is copied from the
// units' sidecars in final file order, and the manifest is replaced last.
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import type { ColumnSpec } from "../core/columns.ts";
import { BuildStateError } from "../core/errors.ts";
import { sha256File } from "../core/hash.ts";
import { writeCard } from "../storage/card.ts";
import { STANDARD_COLUMNS } from "../storage/dataset-writer.ts";
import { ExternalSorter } from "../storage/external-sort.ts";
import { ID_INDEX_COLUMNS, ID_INDEX_NAME, writeIdIndex } from "../storage/id-index.ts";
import { fileListIdentity } from "../storage/identity.ts";
import { partitionPath } from "../storage/layout.ts";
import {
  type ColumnEntry,
  emptyManifest,
  type FileEntry,
  type IdIndexEntry,
  type Manifest,
  type PositionsEntry,
  readManifest,
  writeManifest,
} from "../storage/manifest.ts";
import { PartitionFile } from "../storage/partition-file.ts";
import { copyPositions, type PositionsPiece } from "../storage/positions.ts";
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
  const byPixel = new Map<number, Array<{ unit: number; f: FileEntry }>>();
  for (const d of done) {
    for (const f of d.files) {
      const list = byPixel.get(f.pixel) ?? [];
      list.push({ unit: d.unit, f });
      byPixel.set(f.pixel, list);
    }
  }
  const moves: Move[] = [];
  for (const pixel of [...byPixel.keys()].sort((a, b) => a - b)) {
    const list = byPixel.get(pixel)!;
    list.forEach(({ unit, f }, k) => {
      moves.push({
        unit,
        from: join(unitDir(paths, unit), f.path),
        entry: { ...f, path: partitionPath(config, pixel, k + 1, list.length) },
      });
    });
  }
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

/** Removes files under the config directory that the new dataset does not list. */
async function removeStrays(out: string, config: string, keep: Set<string>): Promise<void> {
  const base = join(out, config);
  let dirs: string[];
  try {
    dirs = await readdir(base);
  } catch {
    return;
  }
  for (const d of dirs) {
    if (!d.startsWith("healpix=")) continue;
    for (const name of await readdir(join(base, d))) {
      const rel = posix.join(config, d, name);
      if (!keep.has(rel)) await rm(join(base, d, name), { force: true });
    }
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
  const idIndex = await mergeIdIndexes(out, paths, plan, done, assembly.moves, memoryBytes);
  const positions = await assemblePositions(out, paths, plan, done, assembly.moves);
  const manifest =
    (await readManifest(out).catch(() => null)) ??
    emptyManifest(
      plan.spec.name ?? (out.split(/[\\/]/).filter(Boolean).pop() || "dataset"),
      plan.spec.provenance,
      "mmu",
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

/** The object_id index of the dataset: the units' indexes, file ordinals shifted, re-sorted. */
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
  const sorter = new ExternalSorter(
    ID_INDEX_COLUMNS,
    "id_key",
    join(paths.dir, "id-sort"),
    memoryBytes,
  );
  try {
    for (const d of done) {
      if (!d.idIndex || d.idIndex.rows === 0) continue;
      const offset = firstOrdinal.get(d.unit) ?? 0;
      const file = await PartitionFile.open(join(unitDir(paths, d.unit), d.idIndex.path), {
        expectRows: d.idIndex.rows,
      });
      try {
        for (let at = 0; at < file.length; at += 65536) {
          const b = file.readRange(
            ["id_key", "file", "row"],
            at,
            Math.min(file.length, at + 65536),
          );
          const f = b.file as Uint32Array;
          for (let i = 0; i < f.length; i++) f[i] += offset;
          await sorter.add(b, f.length);
        }
      } finally {
        file.close();
      }
    }
    const files = moves.map((m) => m.entry);
    return await writeIdIndex(
      out,
      plan.spec.config,
      sorter,
      fileListIdentity(plan.spec.config, files),
    );
  } finally {
    await sorter.close();
  }
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
