// The SHA-256 of a file, streamed: manifests, build resumption and the download cache all
// identify files by it.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** Hex SHA-256 of a file, read in 4 MiB chunks. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 4 << 20 }))
    hash.update(chunk as Buffer);
  return hash.digest("hex");
}
