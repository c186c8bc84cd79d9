// The build's state on disk, what makes a build resumable. Everything lives under
// `<out>/.astropile-build/<config>/` until the dataset is assembled:
//
//   rows.bin            the valid catalog rows, converted (the scan's, kept until scattered)
//   plan.json           inputs' fingerprint, output schema, partition pieces grouped into work
//                       units (key ranges), scan report; written once rows.bin is complete
//   buckets/<u>.bin     the catalog rows of unit u (rows-file.ts; routed from rows.bin)
//   scatter.json        written once every bucket is complete (rows.bin is then removed)
//   units/<u>/          unit u's own small dataset (DatasetWriter output, with its manifest)
//   units/<u>.done.json written after the unit's manifest: the unit is complete
//   assembly.json       staging → final path of every file, written before the first rename
//
// Every JSON file is written to a temporary name, fsynced and renamed, so a kill leaves either
// the old state or the new one. A file that is not there means "not done yet".
import { readdir, readFile, rm, rmdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../core/atomic-file.ts";
import { BuildStateError } from "../core/errors.ts";

export const STATE_DIR = ".astropile-build";

export interface StatePaths {
  dir: string;
  /** The scan's valid rows (rows-file.ts). */
  rows: string;
  /** The scan thread's rows of a split CSV, routed after rows.bin (see BuildPlan.rowsTail). */
  rowsTail: string;
  plan: string;
  buckets: string;
  scatter: string;
  units: string;
  assembly: string;
}

export function statePaths(out: string, config: string): StatePaths {
  const dir = join(out, STATE_DIR, config);
  return {
    dir,
    rows: join(dir, "rows.bin"),
    rowsTail: join(dir, "rows-tail.bin"),
    plan: join(dir, "plan.json"),
    buckets: join(dir, "buckets"),
    scatter: join(dir, "scatter.json"),
    units: join(dir, "units"),
    assembly: join(dir, "assembly.json"),
  };
}

export function unitDir(paths: StatePaths, unit: number): string {
  return join(paths.units, String(unit).padStart(5, "0"));
}

export function unitDonePath(paths: StatePaths, unit: number): string {
  return `${unitDir(paths, unit)}.done.json`;
}

export function bucketPath(paths: StatePaths, unit: number): string {
  return join(paths.buckets, `${String(unit).padStart(5, "0")}.bin`);
}

/** JSON with bigint as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v));
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${toJson(value)}\n`);
}

/**
 * The parsed file, or null when it does not exist (not done yet). Files are written atomically,
 * so one that exists but does not parse was damaged from outside: a BuildStateError naming it.
 */
export async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new BuildStateError(`cannot read build state: ${(err as Error).message}`, { file: path });
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new BuildStateError(
      `build state is not valid JSON (${(err as Error).message}); remove the build's .astropile-build directory to start over`,
      { file: path },
    );
  }
}

export async function removeState(paths: StatePaths): Promise<void> {
  await rm(paths.dir, { recursive: true, force: true });
  // Drop the parent too when no other config is being built.
  await rmdir(join(paths.dir, "..")).catch(() => {});
}

/**
 * Keeps of a build's state only what a resume uses: plan.json with the scanned rows, the buckets
 * once scatter.json is written, the finished units (with their `.done.json`), assembly.json.
 * Removes unfinished units, the assembly's sort runs, and the whole state when there is no plan. Temp files are
 * removed by the output's cleanup (`lockOutput`). Call it only while holding the output's lock.
 */
export async function tidyState(paths: StatePaths): Promise<void> {
  const exists = (p: string) =>
    stat(p).then(
      () => true,
      () => false,
    );
  if (!(await exists(paths.plan))) {
    await removeState(paths);
    return;
  }
  if (!(await exists(paths.scatter))) await rm(paths.buckets, { recursive: true, force: true });
  const names = await readdir(paths.units).catch(() => [] as string[]);
  for (const name of names) {
    if (/^\d+$/.test(name) && !names.includes(`${name}.done.json`))
      await rm(join(paths.units, name), { recursive: true, force: true });
  }
  await rm(join(paths.dir, "id-sort"), { recursive: true, force: true });
}

export { crashPoint } from "../core/crash-point.ts";
