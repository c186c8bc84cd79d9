// Text files read as UTF-8 chunks, plain or gzip-compressed (told by the magic bytes, not the
// name: `catalog.csv.gz` and a gzip file named `.csv` both decompress), streamed so memory
// stays bounded whatever the file size. CSV and ECSV readers take their text from here.
import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";
import { FormatError, UsageError } from "../core/errors.ts";

const GZIP_MAGIC = [0x1f, 0x8b];

/** True when the file starts with the gzip magic bytes. */
export async function isGzipFile(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } finally {
    await handle.close();
  }
}

/**
 * The file's text from (decompressed) byte `start`, in chunks of about `chunkBytes`. A gzip
 * stream that is damaged or cut short is a FormatError naming the file and how far it got.
 */
export async function* textChunks(
  path: string,
  options: { start?: number; chunkBytes?: number } = {},
): AsyncGenerator<string> {
  const decoder = new StringDecoder("utf8");
  for await (const bytes of byteChunks(path, options)) {
    const text = decoder.write(bytes);
    if (text) yield text;
  }
  const tail = decoder.end();
  if (tail) yield tail;
}

/**
 * The file's bytes (decompressed when it is gzip) from (decompressed) byte `start`, in chunks of
 * about `chunkBytes`; the same errors as textChunks. For readers that parse bytes without
 * decoding them all to text. `end` (exclusive) stops early, for plain files only.
 */
export async function* byteChunks(
  path: string,
  options: { start?: number; end?: number; chunkBytes?: number } = {},
): AsyncGenerator<Buffer> {
  const start = options.start ?? 0;
  const highWaterMark = options.chunkBytes ?? 1 << 20;
  const gzip = await isGzipFile(path);
  if (options.end !== undefined && gzip)
    throw new UsageError("a byte range's end is for plain files, not gzip", { file: path });
  if (!gzip) {
    if (options.end !== undefined && options.end <= start) return;
    const end = options.end === undefined ? undefined : options.end - 1;
    const stream = createReadStream(path, { start, end, highWaterMark });
    try {
      yield* stream as AsyncIterable<Buffer>;
    } finally {
      stream.destroy();
    }
    return;
  }
  const input = createReadStream(path, { highWaterMark });
  const gunzip = createGunzip({ chunkSize: highWaterMark });
  input.on("error", (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  let skip = start;
  let done = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      done += chunk.length;
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      yield skip > 0 ? chunk.subarray(skip) : chunk;
      skip = 0;
    }
  } catch (e) {
    throw new FormatError(
      `gzip stream cannot be decompressed: ${(e as Error).message}`,
      { file: path, detail: `after ${done} decompressed bytes` },
      { cause: e },
    );
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}
