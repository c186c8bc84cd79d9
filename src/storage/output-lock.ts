// The writer lock of a dataset directory, and the cleanup its holder does before writing: every
// temp file and scratch directory an interrupted write (killed, power cut) can leave in the
// output. Only the lock holder cleans, so no file a live writer owns is ever removed.
//
// What the writers of this package leave when killed, and where:
//   <name>.<pid>.<rand>.tmp        atomic small files (manifest, card, build state, report)
//   .<name>.<pid>.<rand>.tmp       HDF5 files being written (partition files, sidecars, runs)
//   <name>.tmp-<pid>-<hex>         the cross-match catalog CSV
//   .pending-<k>.hdf5              a DatasetWriter's finished files of a pixel not yet renamed
//   .astropile-scratch-*/          a DatasetWriter's external sort (sorted runs)
// They sit in the root, in config directories and in their healpix=<N> and order=<K>/healpix=<N>
// directories (and, for a build, anywhere under its state directory). Files with final names that no manifest lists are
// not touched: the manifest decides what a reader sees, and the next writer of that config
// replaces them.
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { acquireWriterLock, type WriterLock, type WriterLockOptions } from "../core/lock.ts";

const TEMP_FILE = /\.\d+\.[0-9a-z]+\.tmp$/;
const CSV_TEMP = /\.tmp-\d+-[0-9a-f]+$/;
const PENDING = /^\.pending-\d+\.hdf5$/;
const SCRATCH_DIR = /^\.astropile-scratch-/;

export interface OutputLockOptions extends WriterLockOptions {
  /** Hidden directories of the output to clean of temp files too, at any depth (the build's state). */
  cleanUnder?: string[];
  /** One line per notable step: a stale lock taken over, leftovers removed. */
  log?: (line: string) => void;
}

export interface Leftovers {
  paths: string[];
  bytes: number;
}

/**
 * Takes the writer lock of a dataset directory (see `acquireWriterLock`: fails with a
 * LockedError, or waits with `wait`), then removes what interrupted writes left in it.
 */
export async function lockOutput(
  root: string,
  options: OutputLockOptions = {},
): Promise<WriterLock> {
  const lock = await acquireWriterLock(root, options);
  try {
    if (lock.tookOver) {
      const o = lock.tookOver.owner;
      options.log?.(
        `took over the lock of ${lock.dir}${o ? ` from ${o.command} (pid ${o.pid} on host ${o.host}, since ${o.since})` : ""}: ${lock.tookOver.reason}`,
      );
    }
    const removed = await removeLeftovers(lock.dir, options.cleanUnder);
    if (removed.paths.length > 0) {
      options.log?.(
        `removed ${removed.paths.length} temporary file(s) (${removed.bytes} bytes) left by an interrupted write`,
      );
    }
  } catch (err) {
    await lock.release();
    throw err;
  }
  return lock;
}

/**
 * Removes the temp files and scratch directories of interrupted writes from a dataset directory
 * (see the top of this file). Call it only while holding the directory's lock.
 */
export async function removeLeftovers(root: string, cleanUnder: string[] = []): Promise<Leftovers> {
  const found: Leftovers = { paths: [], bytes: 0 };
  const remove = async (path: string) => {
    found.bytes += await sizeOf(path);
    found.paths.push(path);
    await rm(path, { recursive: true, force: true });
  };
  const isTemp = (name: string) => TEMP_FILE.test(name) || CSV_TEMP.test(name);
  const cleanPixel = async (pixel: string) => {
    for (const p of await list(pixel))
      if (p.isFile() && (isTemp(p.name) || PENDING.test(p.name))) await remove(join(pixel, p.name));
  };
  for (const e of await list(root)) {
    if (e.isDirectory()) {
      if (SCRATCH_DIR.test(e.name)) await remove(join(root, e.name));
      else if (cleanUnder.includes(e.name)) await cleanTree(join(root, e.name), remove);
      else if (!e.name.startsWith(".")) {
        // A config directory: its own temp files (sidecars, report) and its pixel directories.
        const config = join(root, e.name);
        for (const c of await list(config)) {
          if (c.isFile() && isTemp(c.name)) await remove(join(config, c.name));
          else if (c.isDirectory() && c.name.startsWith("healpix="))
            await cleanPixel(join(config, c.name));
          else if (c.isDirectory() && /^order=\d+$/.test(c.name)) {
            const order = join(config, c.name);
            for (const o of await list(order))
              if (o.isDirectory() && o.name.startsWith("healpix="))
                await cleanPixel(join(order, o.name));
          }
        }
      }
    } else if (e.isFile() && isTemp(e.name)) await remove(join(root, e.name));
  }
  return found;
}

async function cleanTree(dir: string, remove: (path: string) => Promise<void>): Promise<void> {
  for (const e of await list(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory()) {
      if (SCRATCH_DIR.test(e.name)) await remove(path);
      else await cleanTree(path, remove);
    } else if (
      e.isFile() &&
      (TEMP_FILE.test(e.name) || CSV_TEMP.test(e.name) || PENDING.test(e.name))
    )
      await remove(path);
  }
}

async function list(dir: string) {
  return readdir(dir, { withFileTypes: true }).catch(() => []);
}

async function sizeOf(path: string): Promise<number> {
  const st = await stat(path).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of await list(path)) total += await sizeOf(join(path, e.name));
  return total;
}
