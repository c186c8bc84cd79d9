// Writers of outside formats write under a temporary name and publish the file only when it is
// complete, so a reader never sees half a FITS or CSV file under its final name.
import type { FileHandle } from "node:fs/promises";
import { rename, rm } from "node:fs/promises";
import { WriteError } from "./errors.ts";

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
