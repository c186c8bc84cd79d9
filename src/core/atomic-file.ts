// Every file AstroPile writes becomes visible whole or not at all: it is written under a
// temporary name beside its final path, fsynced, and renamed into place (rename is atomic on
// POSIX file systems), so a reader or a crash never sees half a manifest, card or export.
import type { FileHandle } from "node:fs/promises";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { WriteError } from "./errors.ts";

/** A temporary name beside `path`, private to this process and call. */
export function tempPathFor(path: string): string {
  return `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
}

/** fsync of a file, or of a directory so that a rename in it survives a power cut. */
export async function fsyncPath(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync, close and rename the temporary file into place; on failure remove it. */
export async function publishFile(
  handle: FileHandle,
  tempPath: string,
  path: string,
): Promise<void> {
  try {
    await handle.sync();
    await handle.close();
    await rename(tempPath, path);
  } catch (e) {
    await handle.close().catch(() => {});
    await rm(tempPath, { force: true });
    throw new WriteError(
      `cannot finish ${path}: ${(e as Error).message}`,
      { file: path },
      { cause: e },
    );
  }
}

/** Closes and removes a temporary file that will not be published. */
export async function discardFile(handle: FileHandle, tempPath: string): Promise<void> {
  await handle.close().catch(() => {});
  await rm(tempPath, { force: true });
}

/**
 * Writes a whole small file (manifest, card, state) atomically: temp file, fsync, rename,
 * fsync of the directory. On failure nothing changes at `path` and no temp file is left.
 */
export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const temp = tempPathFor(path);
  const handle = await open(temp, "w").catch((e: Error) => {
    throw new WriteError(`cannot write ${path}: ${e.message}`, { file: path }, { cause: e });
  });
  try {
    await handle.writeFile(content);
  } catch (e) {
    await discardFile(handle, temp);
    throw new WriteError(
      `cannot write ${path}: ${(e as Error).message}`,
      { file: path },
      { cause: e },
    );
  }
  await publishFile(handle, temp, path);
  await fsyncPath(dirname(path));
}
