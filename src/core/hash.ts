// The SHA-256 of a file, streamed: manifests, build resumption and the download cache all
// identify files by it.
import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";

/** Most bytes read at once. */
const READ_BYTES = 4 << 20;

/** Hex SHA-256 of a file, read in chunks of up to 4 MiB. */
export async function sha256File(path: string): Promise<string> {
  const handle = await open(path, "r");
  try {
    return (await sha256Of(handle)).sha256;
  } finally {
    await handle.close();
  }
}

/** Hex SHA-256 and length of an open file's bytes, read from offset 0 to its end. */
export async function sha256Of(handle: FileHandle): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  // One buffer of the file's size (at most 4 MiB), reused for every read: a read stream
  // allocates its whole highWaterMark per read, 4 MiB for a 5 kB file, and a build of 3072
  // small files then spent a quarter of its time collecting them.
  const size = (await handle.stat()).size;
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(size, READ_BYTES)));
  let bytes = 0;
  for (;;) {
    // Positional reads: the caller may run other operations on the same handle meanwhile.
    const { bytesRead } = await handle.read(buf, 0, buf.length, bytes);
    if (bytesRead === 0) break;
    hash.update(buf.subarray(0, bytesRead));
    bytes += bytesRead;
  }
  return { sha256: hash.digest("hex"), bytes };
}
