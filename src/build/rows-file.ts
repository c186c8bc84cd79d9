// The build's scratch row files: the catalog rows the scan converted and validated, kept in
// binary so no later step parses the catalog again. The scan writes every valid row to one file
// (`rows.bin`); the scatter step routes them to the work units' buckets in the same format (or,
// with one unit, renames the file into its bucket).
//
// A file is a sequence of blocks. A block: the magic "APRB", a uint32 header length, the header
// (JSON: rows and, per column, its name, kind and byte length), then each column's bytes, each
// padded to 8 bytes. Numeric columns are their typed arrays' bytes (native little-endian; scratch
// files never leave the machine); text columns are a JSON array. Every block holds the row
// origin (`_file`: the catalog file's index, `_row`: its data row), the `_healpix_29` key
// (`_key`), the output columns and the carried template columns (text).
import { type FileHandle, open } from "node:fs/promises";
import type { ColumnValues, Dtype } from "../core/columns.ts";
import { BuildStateError, WriteError } from "../core/errors.ts";
import { emptyRecord } from "../core/records.ts";

/** Rows of a block: origin, key, output columns (by output name) and carried text. */
export interface RowBlock {
  rows: number;
  /** Index of the catalog file (in the plan's catalogFiles). */
  file: Uint32Array;
  /** 0-based data row in that file. */
  row: Float64Array;
  /** `_healpix_29` of the row's position. */
  key: BigInt64Array;
  columns: Record<string, ColumnValues>;
  carry: Record<string, string[]>;
}

const MAGIC = 0x42525041; // "APRB" little-endian
const ALIGN = 8;

type Kind = Dtype | "text";

/** What a column of a block is: origin file, origin row, key, output column, carried text. */
type Role = "file" | "row" | "key" | "column" | "carry";

interface Header {
  rows: number;
  cols: Array<[role: Role, name: string, kind: Kind, bytes: number]>;
}

type Ctor = { new (b: ArrayBuffer, o: number, n: number): ColumnValues; BYTES_PER_ELEMENT: number };

const CTORS: Partial<Record<Dtype, Ctor>> = {
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
} as never;

function pad(n: number): number {
  return (n + ALIGN - 1) & ~(ALIGN - 1);
}

/** The bytes of one block. */
export function encodeBlock(block: RowBlock, dtypes: Record<string, Dtype>): Buffer[] {
  const parts: Array<{ role: Role; name: string; kind: Kind; bytes: Uint8Array }> = [];
  const numeric = (role: Role, name: string, kind: Kind, v: ArrayBufferView) =>
    parts.push({ role, name, kind, bytes: new Uint8Array(v.buffer, v.byteOffset, v.byteLength) });
  const text = (role: Role, name: string, v: string[]) =>
    parts.push({ role, name, kind: "text", bytes: Buffer.from(JSON.stringify(v), "utf8") });
  numeric("file", "", "uint32", block.file);
  numeric("row", "", "float64", block.row);
  numeric("key", "", "int64", block.key);
  for (const [name, values] of Object.entries(block.columns)) {
    if (Array.isArray(values)) text("column", name, values);
    else numeric("column", name, dtypes[name], values as ArrayBufferView);
  }
  for (const [name, values] of Object.entries(block.carry)) text("carry", name, values);
  const header: Header = {
    rows: block.rows,
    cols: parts.map((p) => [p.role, p.name, p.kind, p.bytes.length]),
  };
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const head = Buffer.alloc(8);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(json.length, 4);
  const out: Buffer[] = [head, json, Buffer.alloc(pad(json.length) - json.length)];
  for (const p of parts) {
    out.push(Buffer.from(p.bytes.buffer, p.bytes.byteOffset, p.bytes.byteLength));
    if (pad(p.bytes.length) > p.bytes.length)
      out.push(Buffer.alloc(pad(p.bytes.length) - p.bytes.length));
  }
  return out;
}

/** Appends blocks to a file (created or extended), buffering about `bufferBytes`. */
export class RowFileWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private written = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    private readonly dtypes: Record<string, Dtype>,
    private readonly bufferBytes: number,
  ) {}

  static async create(
    path: string,
    dtypes: Record<string, Dtype>,
    options: { append?: boolean; bufferBytes?: number } = {},
  ): Promise<RowFileWriter> {
    const handle = await open(path, options.append ? "a" : "w").catch((err: Error) => {
      throw scratchFailure(err, path);
    });
    return new RowFileWriter(path, handle, dtypes, options.bufferBytes ?? 8 << 20);
  }

  get bytes(): number {
    return this.written + this.pendingBytes;
  }

  async append(block: RowBlock): Promise<void> {
    if (block.rows === 0) return;
    for (const b of encodeBlock(block, this.dtypes)) {
      this.pending.push(b);
      this.pendingBytes += b.length;
    }
    if (this.pendingBytes >= this.bufferBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    await this.handle.writev(this.pending).catch((err: Error) => {
      throw scratchFailure(err, this.path);
    });
    this.written += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Flushes, fsyncs (a later step trusts the file once its marker says so) and closes. */
  async close(sync = true): Promise<number> {
    try {
      await this.flush();
      if (sync)
        await this.handle.sync().catch((err: Error) => {
          throw scratchFailure(err, this.path);
        });
    } finally {
      await this.handle.close();
    }
    return this.written;
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
  }
}

/**
 * A failed write of a scratch file (a full disk, most often: the scratch rows take about as much
 * room as the catalog's values) as a WriteError naming the file, so the message says where.
 */
function scratchFailure(err: Error, path: string): WriteError {
  return new WriteError(
    `cannot write the build's scratch rows: ${err.message}`,
    { file: path },
    {
      cause: err,
    },
  );
}

/** Reads a row file block by block; a damaged file is a BuildStateError naming it. */
export async function* readRowFile(path: string): AsyncGenerator<RowBlock> {
  const handle = await open(path, "r");
  const damaged = (why: string) =>
    new BuildStateError(
      `build scratch file is damaged (${why}); remove the build's .astropile-build directory to start over`,
      { file: path },
    );
  try {
    const { size } = await handle.stat();
    let at = 0;
    const head = Buffer.alloc(8);
    while (at < size) {
      if ((await handle.read(head, 0, 8, at)).bytesRead !== 8) throw damaged("truncated block");
      if (head.readUInt32LE(0) !== MAGIC) throw damaged(`no block at byte ${at}`);
      const jsonBytes = head.readUInt32LE(4);
      at += 8;
      const json = Buffer.alloc(jsonBytes);
      if ((await handle.read(json, 0, jsonBytes, at)).bytesRead !== jsonBytes)
        throw damaged("truncated header");
      at += pad(jsonBytes);
      let header: Header;
      try {
        header = JSON.parse(json.toString("utf8")) as Header;
      } catch {
        throw damaged(`unreadable header at byte ${at}`);
      }
      if (!Number.isInteger(header?.rows) || !Array.isArray(header.cols))
        throw damaged(`unreadable header at byte ${at}`);
      let body = 0;
      for (const [, , , bytes] of header.cols) body += pad(bytes);
      if (at + body > size) throw damaged("truncated block");
      const buf = new ArrayBuffer(body);
      const view = new Uint8Array(buf);
      let got = 0;
      while (got < body) {
        const { bytesRead } = await handle.read(view, got, body - got, at + got);
        if (bytesRead === 0) throw damaged("truncated block");
        got += bytesRead;
      }
      at += body;
      const block: RowBlock = {
        rows: header.rows,
        file: new Uint32Array(0),
        row: new Float64Array(0),
        key: new BigInt64Array(0),
        columns: emptyRecord(),
        carry: emptyRecord(),
      };
      let off = 0;
      for (const [role, name, kind, bytes] of header.cols) {
        let values: ColumnValues;
        if (kind === "text") {
          try {
            values = JSON.parse(Buffer.from(buf, off, bytes).toString("utf8")) as string[];
          } catch {
            throw damaged(`unreadable text column ${name} in the block ending at byte ${at}`);
          }
        } else {
          const ctor = CTORS[kind];
          if (!ctor) throw damaged(`unknown column kind ${kind}`);
          const n = bytes / ctor.BYTES_PER_ELEMENT;
          // Whole elements, the same number for every row (a column may hold several per row).
          if (!Number.isInteger(n) || (header.rows === 0 ? n !== 0 : n % header.rows !== 0))
            throw damaged(
              `column ${name || role} of the block ending at byte ${at} does not fit its rows`,
            );
          values = new ctor(buf, off, n);
        }
        off += pad(bytes);
        if (role === "file") block.file = values as Uint32Array;
        else if (role === "row") block.row = values as Float64Array;
        else if (role === "key") block.key = values as BigInt64Array;
        else if (role === "carry") block.carry[name] = values as string[];
        else block.columns[name] = values;
      }
      yield block;
    }
  } finally {
    await handle.close();
  }
}
