// Byte access to an input file without loading it: positioned reads on a file handle for plain
// files, a forward-only gunzip stream for .gz files (gzip has no random access; going back
// restarts decompression from the start when the caller allows it).
import { createReadStream } from "node:fs";
import { type FileHandle, open, stat } from "node:fs/promises";
import { createGunzip } from "node:zlib";
import { FormatError, UsageError } from "../core/errors.ts";

export interface ByteSource {
  readonly path: string;
  /** Bytes in the (decompressed) stream when known: plain files only. */
  readonly size: number | undefined;
  /**
   * No valid content extends past this many bytes: the file size, or for gzip the compressed
   * size times deflate's maximum ratio. Declared sizes above it are refused before allocating.
   */
  readonly sizeBound: number;
  /** Reads must go forward (gzip). */
  readonly sequential: boolean;
  /** Length of the (decompressed) content once known: plain files always, gzip at its end. */
  readonly knownEnd: number | undefined;
  /** Fills `target` from `offset`; returns the bytes read (fewer only at end of file). */
  readInto(target: Uint8Array, offset: number): Promise<number>;
  close(): Promise<void>;
}

/** Deflate cannot expand data by more than about 1032:1. */
const DEFLATE_MAX_RATIO = 1032;

export async function isGzipFile(path: string): Promise<boolean> {
  const handle = await open(path, "r");
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

export class FileSource implements ByteSource {
  readonly sequential = false;
  readonly path: string;
  readonly size: number;
  private readonly handle: FileHandle;

  private constructor(path: string, handle: FileHandle, size: number) {
    this.path = path;
    this.handle = handle;
    this.size = size;
  }

  static async open(path: string): Promise<FileSource> {
    const handle = await open(path, "r");
    try {
      const { size } = await handle.stat();
      return new FileSource(path, handle, size);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  get sizeBound(): number {
    return this.size;
  }

  get knownEnd(): number {
    return this.size;
  }

  async readInto(target: Uint8Array, offset: number): Promise<number> {
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await this.handle.read(
        target,
        done,
        target.length - done,
        offset + done,
      );
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

export class GzipSource implements ByteSource {
  readonly sequential = true;
  readonly size = undefined;
  readonly path: string;
  readonly sizeBound: number;
  private readonly allowRestart: boolean;
  private iterator: AsyncIterator<Buffer> | undefined;
  private destroy: (() => void) | undefined;
  /** Decompressed offset of pending[0]. */
  private position = 0;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(path: string, compressedSize: number, allowRestart: boolean) {
    this.path = path;
    this.allowRestart = allowRestart;
    this.sizeBound = compressedSize * DEFLATE_MAX_RATIO + 65536;
  }

  get knownEnd(): number | undefined {
    return this.ended ? this.position + this.pending.length : undefined;
  }

  /**
   * `allowRestart`: a read before the current position decompresses again from the start
   * (correct but slow); otherwise such a read is a UsageError.
   */
  static async open(path: string, allowRestart: boolean): Promise<GzipSource> {
    const { size } = await stat(path);
    return new GzipSource(path, size, allowRestart);
  }

  private start(): void {
    const input = createReadStream(this.path);
    const gunzip = createGunzip();
    input.on("error", (e) => gunzip.destroy(e));
    input.pipe(gunzip);
    this.iterator = gunzip[Symbol.asyncIterator]();
    this.destroy = () => {
      input.destroy();
      gunzip.destroy();
    };
    this.position = 0;
    this.pending = Buffer.alloc(0);
    this.ended = false;
  }

  private async next(): Promise<boolean> {
    if (this.ended) return false;
    if (!this.iterator) this.start();
    let r: IteratorResult<Buffer>;
    try {
      r = await (this.iterator as AsyncIterator<Buffer>).next();
    } catch (e) {
      this.ended = true;
      throw new FormatError(
        `gzip stream cannot be decompressed: ${(e as Error).message}`,
        {
          file: this.path,
          detail: `near decompressed byte ${this.position + this.pending.length}`,
        },
        { cause: e },
      );
    }
    if (r.done) {
      this.ended = true;
      return false;
    }
    this.position += this.pending.length;
    this.pending = r.value;
    return true;
  }

  /** Reads one at a time: the stream position is shared state. */
  readInto(target: Uint8Array, offset: number): Promise<number> {
    const run = this.queue.then(() => this.readSequential(target, offset));
    this.queue = run.catch(() => {});
    return run;
  }

  private async readSequential(target: Uint8Array, offset: number): Promise<number> {
    if (offset < this.position) {
      if (!this.allowRestart) {
        throw new UsageError(
          `gzip files are read forward only: byte ${offset} was asked for after byte ${this.position}`,
          { file: this.path },
        );
      }
      this.destroy?.();
      this.iterator = undefined;
      this.start();
    }
    let done = 0;
    while (done < target.length) {
      const want = offset + done;
      const end = this.position + this.pending.length;
      if (want >= end) {
        if (!(await this.next())) break;
        continue;
      }
      const from = want - this.position;
      const n = Math.min(this.pending.length - from, target.length - done);
      target.set(this.pending.subarray(from, from + n), done);
      done += n;
    }
    return done;
  }

  async close(): Promise<void> {
    this.destroy?.();
    this.iterator = undefined;
    this.ended = true;
  }
}

/** Opens a plain or gzip-compressed file (detected by its magic bytes, not its name). */
export async function openSource(path: string, allowRestart: boolean): Promise<ByteSource> {
  return (await isGzipFile(path)) ? GzipSource.open(path, allowRestart) : FileSource.open(path);
}
