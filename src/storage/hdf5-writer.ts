// AstroPile's own HDF5 writer for partition files: chunked columns of numbers and fixed-length
// strings, each compressed with Node's native zlib (or checksummed with Fletcher32), streamed to
// disk chunk by chunk, with the file's metadata written once at the end. libhdf5 in WebAssembly
// spent most of a build's time in its own deflate and per-call overhead, and h5wasm offers no
// direct chunk write. The structures are those libhdf5 1.8+ writes for a dataset of fixed size
// (what h5wasm wrote here before): superblock version 2, version-2 object headers, links kept in
// the root group's header, and chunks indexed by the chunk itself or a fixed array. Every piece
// of metadata carries a Jenkins lookup3 checksum, so a changed byte in the file's structure is an
// error, never other values; chunks carry zlib's Adler-32 or Fletcher32. Files are read by
// libhdf5 1.8+ (h5wasm, h5py) and by the fast read path (hdf5-direct.ts) unchanged.
//
// Layout of a file: the superblock (reserved at offset 0, written last), then every column's
// chunks in the order they filled, then per column its chunk index and object header, then the
// root group's object header.
import { closeSync, openSync, writeSync } from "node:fs";
import { deflateSync, constants as zlibConstants } from "node:zlib";
import type { ColumnSpec, ColumnValues } from "../core/columns.ts";
import { dtypeBytes, valuesPerRow } from "../core/columns.ts";
import { WriteError } from "../core/errors.ts";
import { fletcher32 } from "./fletcher32.ts";
import { lookup3 } from "./lookup3.ts";
import { shuffle } from "./shuffle.ts";

const UNDEF = 0xffff_ffff_ffff_ffffn;
const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
/** Superblock version 2 (8-byte offsets and lengths). */
const SUPERBLOCK_BYTES = 48;
/** Fixed array data blocks are split in pages of 2^10 entries (libhdf5's default). */
const PAGE_BITS = 10;
/** Writes to the file are gathered up to this many bytes. */
const OUT_BUFFER_BYTES = 1 << 20;

const MSG_DATASPACE = 0x01;
const MSG_LINK_INFO = 0x02;
const MSG_LINK = 0x06;
const MSG_GROUP_INFO = 0x0a;
const MSG_DATATYPE = 0x03;
const MSG_FILL_VALUE = 0x05;
const MSG_LAYOUT = 0x08;
const MSG_FILTERS = 0x0b;
const MSG_ATTRIBUTE = 0x0c;
const MSG_ATTRIBUTE_INFO = 0x15;

/**
 * The chunk filters: deflate at a level, after HDF5's byte shuffle of numbers (`shuffle`, see
 * shuffledSize), or a Fletcher32 checksum of uncompressed chunks.
 */
export type ChunkFilter =
  | {
      gzip: number;
      shuffle?: boolean;
      /** Columns deflated with zlib's run-length strategy besides those deflateStrategy picks. */
      runLength?: ReadonlySet<string>;
    }
  | "fletcher32";

/** An attribute value: strings stored as fixed-length strings, numbers as int32 or float64. */
export type AttributeValue = string | number;

interface Column {
  spec: ColumnSpec;
  rowBytes: number;
  /** Rows per chunk, fixed at the first full chunk (or, if none filled, the row count). */
  chunkRows: number;
  rows: number;
  /** The rows of the chunk being filled. */
  pending: Uint8Array;
  pendingRows: number;
  /** Chunks written so far. */
  chunks: number;
  /** Where each written chunk is, and its stored size. */
  chunkAt: number[];
  chunkSize: number[];
  attrs: [string, AttributeValue][];
}

/**
 * Writes one HDF5 file of chunked columns. `append` takes rows column by column (already
 * validated by the caller); `close` writes the metadata and closes the file. Not durable by
 * itself: the caller fsyncs and renames.
 */
export class Hdf5Writer {
  private readonly fd: number;
  private readonly columns = new Map<string, Column>();
  private readonly rootAttrs: [string, AttributeValue][] = [];
  /** The file's length so far (bytes written plus those gathered in `out`). */
  private end = SUPERBLOCK_BYTES;
  private readonly out = Buffer.allocUnsafe(OUT_BUFFER_BYTES);
  private outLength = 0;
  /** File offset of out[0]. */
  private outAt = SUPERBLOCK_BYTES;
  private closed = false;

  constructor(
    readonly path: string,
    specs: readonly ColumnSpec[],
    private readonly filter: ChunkFilter,
    chunkRowsOf: (spec: ColumnSpec) => number,
  ) {
    for (const spec of specs) {
      if (!nativelyWritable(spec))
        throw new WriteError(`column ${spec.name} cannot be written natively`, { file: path });
      const rowBytes = elementBytes(spec) * valuesPerRow(spec);
      const chunkRows = chunkRowsOf(spec);
      this.columns.set(spec.name, {
        spec,
        rowBytes,
        chunkRows,
        rows: 0,
        pending: new Uint8Array(chunkRows === 1 ? 0 : chunkRows * rowBytes),
        pendingRows: 0,
        chunks: 0,
        chunkAt: [],
        chunkSize: [],
        attrs: [],
      });
    }
    this.fd = openSync(path, "wx");
  }

  setAttribute(column: string | null, name: string, value: AttributeValue): void {
    const list = column === null ? this.rootAttrs : this.columns.get(column)!.attrs;
    const at = list.findIndex(([n]) => n === name);
    if (at >= 0) list[at] = [name, value];
    else list.push([name, value]);
  }

  /**
   * Appends `rows` rows of every column. Chunks are written in the order their last row arrives
   * (columns in order for chunks ending on the same row): an order the batching does not change,
   * so the same rows give the same bytes however they are appended.
   */
  append(batch: Record<string, ColumnValues>, rows: number): void {
    const full: { end: number; column: Column; raw: Uint8Array }[] = [];
    for (const c of this.columns.values()) {
      const bytes = toBytes(this.path, c.spec, batch[c.spec.name]!, rows * c.rowBytes);
      const first = c.rows;
      c.rows += rows;
      let p = 0;
      // Whole chunks straight from the input when nothing is pending (heavy rows: always).
      if (c.pendingRows === 0) {
        const step = c.chunkRows * c.rowBytes;
        const whole = Math.floor(rows / c.chunkRows) * step;
        for (; p < whole; p += step)
          full.push({
            end: first + (p + step) / c.rowBytes,
            column: c,
            raw: bytes.subarray(p, p + step),
          });
      }
      while (p < bytes.length) {
        const take = Math.min(bytes.length - p, c.pending.length - c.pendingRows * c.rowBytes);
        c.pending.set(bytes.subarray(p, p + take), c.pendingRows * c.rowBytes);
        c.pendingRows += take / c.rowBytes;
        p += take;
        if (c.pendingRows === c.chunkRows) {
          // A copy: the pending buffer takes the next rows.
          full.push({ end: first + p / c.rowBytes, column: c, raw: c.pending.slice() });
          c.pendingRows = 0;
        }
      }
    }
    // A stable sort: columns keep their order among chunks that end on the same row.
    full.sort((x, y) => x.end - y.end);
    for (const f of full) this.writeChunk(f.column, f.raw);
  }

  /**
   * Deflates (or checksums) a chunk and writes it. In this thread, with deflateSync, which frees
   * its zlib state at once: node:zlib's async deflate on the thread pool, tried here, allocates a
   * zlib state per call that lives until garbage collection, and writing 2e7 rows took 3.7 GB of
   * RSS and twice the time (see BENCHMARKS.md).
   */
  private writeChunk(c: Column, raw: Uint8Array): void {
    c.chunks++;
    const at = this.end;
    if (this.filter === "fletcher32") {
      const sum = Buffer.allocUnsafe(4);
      sum.writeUInt32LE(fletcher32(raw), 0);
      this.emit(raw);
      this.emit(sum);
      c.chunkSize.push(raw.length + 4);
    } else {
      const size = shuffledSize(c.spec, this.filter);
      const z = deflateSync(size > 1 ? shuffle(raw, size) : raw, {
        level: this.filter.gzip,
        strategy: deflateStrategy(c.spec, size, this.filter.runLength, raw),
      });
      this.emit(z);
      c.chunkSize.push(z.length);
    }
    c.chunkAt.push(at);
  }

  /** Appends bytes at the end of the file. */
  private emit(bytes: Uint8Array): void {
    this.end += bytes.length;
    if (bytes.length >= OUT_BUFFER_BYTES / 2) {
      this.flushOut();
      this.writeAt(bytes, this.outAt);
      this.outAt += bytes.length;
      return;
    }
    if (this.outLength + bytes.length > OUT_BUFFER_BYTES) this.flushOut();
    this.out.set(bytes, this.outLength);
    this.outLength += bytes.length;
  }

  private flushOut(): void {
    if (this.outLength === 0) return;
    this.writeAt(this.out.subarray(0, this.outLength), this.outAt);
    this.outAt += this.outLength;
    this.outLength = 0;
  }

  private writeAt(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.length)
      done += writeSync(this.fd, bytes, done, bytes.length - done, position + done);
  }

  /** Writes the last chunks and the metadata, then closes the file. */
  close(): void {
    const links: { name: string; address: number }[] = [];
    for (const c of this.columns.values()) {
      if (c.pendingRows > 0) {
        if (c.chunks === 0) {
          // The whole column fits in one chunk: make it exactly that long (a small file stays small).
          c.chunkRows = c.pendingRows;
          this.writeChunk(c, c.pending.subarray(0, c.pendingRows * c.rowBytes));
        } else {
          // An edge chunk is stored whole, the rows past the end zeroed.
          c.pending.fill(0, c.pendingRows * c.rowBytes);
          this.writeChunk(c, c.pending);
        }
        c.pendingRows = 0;
      }
    }
    for (const c of this.columns.values()) {
      const index = this.writeChunkIndex(c);
      links.push({ name: c.spec.name, address: this.end });
      this.emit(objectHeader(datasetMessages(c, index, this.filter)));
    }
    const root = this.end;
    this.emit(objectHeader(groupMessages(links, this.rootAttrs)));
    this.flushOut();
    this.writeAt(superblock(root, this.end), 0);
    closeSync(this.fd);
    this.closed = true;
  }

  /** Closes the file descriptor without finishing the file (the caller removes it). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }

  /**
   * The column's chunk index, as libhdf5 makes it for a dataset of fixed size: the chunk itself
   * when there is one, else a fixed array (header, then data block; past 2^PAGE_BITS entries the
   * block is split in pages, each with its own checksum).
   */
  private writeChunkIndex(c: Column): Index {
    const n = c.chunkAt.length;
    if (n === 0) return { type: "none" };
    if (n === 1) return { type: "single", address: c.chunkAt[0]!, size: c.chunkSize[0]! };
    const sizeBytes = chunkSizeBytes(c.chunkRows * c.rowBytes);
    const entry = 8 + sizeBytes + 4;
    const header = this.end;
    const block = header + 28;
    const fahd = Buffer.alloc(28);
    fahd.write("FAHD", 0, "latin1");
    fahd[4] = 0; // version
    fahd[5] = 1; // entries of filtered chunks
    fahd[6] = entry;
    fahd[7] = PAGE_BITS;
    fahd.writeBigUInt64LE(BigInt(n), 8);
    fahd.writeBigUInt64LE(BigInt(block), 16);
    fahd.writeUInt32LE(lookup3(fahd.subarray(0, 24)), 24);
    this.emit(fahd);
    const entries = Buffer.alloc(n * entry);
    for (let i = 0; i < n; i++) {
      const p = i * entry;
      entries.writeBigUInt64LE(BigInt(c.chunkAt[i]!), p);
      writeUintN(entries, c.chunkSize[i]!, p + 8, sizeBytes);
      // filter mask 0: every filter applied
    }
    const pageN = 2 ** PAGE_BITS;
    const paged = n > pageN;
    const pages = Math.ceil(n / pageN);
    const bitmap = paged ? Math.ceil(pages / 8) : 0;
    const prefix = Buffer.alloc(14 + bitmap + (paged ? 4 : 0));
    prefix.write("FADB", 0, "latin1");
    prefix[4] = 0;
    prefix[5] = 1;
    prefix.writeBigUInt64LE(BigInt(header), 6);
    if (!paged) {
      const whole = Buffer.concat([prefix, entries, Buffer.alloc(4)]);
      whole.writeUInt32LE(lookup3(whole.subarray(0, whole.length - 4)), whole.length - 4);
      this.emit(whole);
    } else {
      // Every page holds chunks: all bits set (most significant bit first).
      for (let p = 0; p < pages; p++) prefix[14 + (p >>> 3)]! |= 0x80 >>> (p & 7);
      prefix.writeUInt32LE(lookup3(prefix.subarray(0, 14 + bitmap)), 14 + bitmap);
      this.emit(prefix);
      for (let p = 0; p < pages; p++) {
        const page = entries.subarray(p * pageN * entry, Math.min(n, (p + 1) * pageN) * entry);
        const sum = Buffer.alloc(4);
        sum.writeUInt32LE(lookup3(page), 0);
        this.emit(page);
        this.emit(sum);
      }
    }
    return { type: "fixed", address: header };
  }
}

/** Whether this writer can store the column (variable-length strings are left to libhdf5). */
export function nativelyWritable(spec: ColumnSpec): boolean {
  return spec.dtype !== "string" || spec.stringLength !== undefined;
}

/**
 * The element size HDF5's shuffle groups bytes by, or 1 when the column is not shuffled. Numbers
 * only (strings and bools gain nothing): scalars of any width (catalog columns: sorted keys, ids,
 * positions) and arrays of 4-byte elements (float32 images and spectra: 8-50% fewer deflated
 * bytes), which reads unshuffle with a SIMD kernel. Arrays of 2- and 8-byte elements are left as
 * they are: unshuffling them in JavaScript on every chunk read made image reads 1.2-1.3x h5py's
 * time instead of 0.7x (`npm run bench dataset -- --quick`).
 */
function shuffledSize(spec: ColumnSpec, filter: ChunkFilter): number {
  if (filter === "fletcher32" || !filter.shuffle) return 1;
  if (spec.dtype === "string" || spec.dtype === "bool") return 1;
  const size = dtypeBytes(spec.dtype);
  return spec.shape.length === 0 || size === 4 ? size : 1;
}

/**
 * zlib's strategy for a column's chunks. Per-row floats after the byte shuffle (ra, dec, fluxes:
 * most of a catalog's bytes) and the sorted `_healpix_29` keys deflate twice as fast with
 * run-length matching only (Z_RLE), 0.1-2 % larger (BENCHMARKS.md, catalog); their byte planes
 * hold runs and skewed bytes, not repeated strings. Everything else keeps the default: sorted
 * or counting integers (ids, an index) repeat multi-byte patterns that only the full search
 * finds (Z_RLE made an index's sorted ids 9x larger), and images lose ~7 %. A writer names
 * other columns it knows to suit Z_RLE (`runLength`). 64-bit integers (ids) are chosen chunk by
 * chunk: in order (sorted, or growing with position as Gaia's source_id does along the sky)
 * they keep the search; out of order (ids of a catalog in another order than the sky's) their
 * byte planes hold nothing it finds, and Z_RLE deflates them twice as fast to the same size.
 * Either way the chunk is an ordinary deflate stream, read by every HDF5 reader.
 */
function deflateStrategy(
  spec: ColumnSpec,
  shuffledBytes: number,
  runLength: ReadonlySet<string> | undefined,
  raw: Uint8Array,
): number {
  if (shuffledBytes <= 1) return zlibConstants.Z_DEFAULT_STRATEGY;
  const perRow = spec.shape.length === 0;
  const perRowFloat = perRow && (spec.dtype === "float32" || spec.dtype === "float64");
  const named = spec.name === "_healpix_29" || runLength?.has(spec.name) === true;
  if (perRowFloat || named) return zlibConstants.Z_RLE;
  const ids = perRow && (spec.dtype === "int64" || spec.dtype === "uint64");
  return ids && !mostlyInOrder(raw, spec.dtype === "int64")
    ? zlibConstants.Z_RLE
    : zlibConstants.Z_DEFAULT_STRATEGY;
}

/**
 * Whether at least 7 in 8 steps between successive 64-bit values of a chunk go the same way,
 * compared by their high words (the order that matters: ids 2^32 apart or more), then their low
 * words; little-endian, as the writer stores them.
 */
function mostlyInOrder(raw: Uint8Array, signed: boolean): boolean {
  const n = raw.length >>> 3;
  if (n < 2) return true;
  const view = new DataView(raw.buffer, raw.byteOffset, n * 8);
  let up = 0;
  let down = 0;
  const high = (i: number) =>
    signed ? view.getInt32(8 * i + 4, true) : view.getUint32(8 * i + 4, true);
  let hiPrev = high(0);
  let loPrev = view.getUint32(0, true);
  for (let i = 1; i < n; i++) {
    const hi = high(i);
    const lo = view.getUint32(8 * i, true);
    if (hi > hiPrev || (hi === hiPrev && lo > loPrev)) up++;
    else if (hi < hiPrev || (hi === hiPrev && lo < loPrev)) down++;
    hiPrev = hi;
    loPrev = lo;
  }
  // Equal neighbours (repeats, an edge chunk's zero padding) step neither way.
  const steps = up + down;
  return 8 * up >= 7 * steps || 8 * down >= 7 * steps;
}

function elementBytes(spec: ColumnSpec): number {
  return spec.dtype === "string" ? spec.stringLength! : dtypeBytes(spec.dtype);
}

/** The stored bytes of `values` (little-endian, as the machine's typed arrays are here). */
function toBytes(file: string, spec: ColumnSpec, values: ColumnValues, length: number): Uint8Array {
  if (!Array.isArray(values)) {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    if (bytes.length !== length)
      throw new WriteError(`${bytes.length} bytes of values for ${length}`, {
        file,
        column: spec.name,
      });
    return bytes;
  }
  // Fixed-length strings: UTF-8, null-padded (the caller checked each fits).
  const size = spec.stringLength!;
  const out = Buffer.alloc(length);
  for (let i = 0; i < values.length; i++) out.write(values[i]!, i * size, size, "utf8");
  return out;
}

/** Where a column's chunks are indexed (see {@link Hdf5Writer.writeChunkIndex}). */
type Index =
  | { type: "none" }
  | { type: "single"; address: number; size: number }
  | { type: "fixed"; address: number };

/**
 * Bytes of a chunk's stored size in a fixed array entry: libhdf5's rule (1 + (log2(chunk bytes)
 * + 8) / 8, at most 8), which its reader recomputes rather than reads.
 */
function chunkSizeBytes(chunkBytes: number): number {
  return Math.min(8, 1 + Math.floor((Math.floor(Math.log2(chunkBytes)) + 8) / 8));
}

function writeUintN(b: Buffer, value: number, at: number, bytes: number): void {
  let v = value;
  for (let i = 0; i < bytes; i++) {
    b[at + i] = v % 256;
    v = Math.floor(v / 256);
  }
}

interface Message {
  type: number;
  body: Uint8Array;
  flags?: number;
}

/**
 * A version-2 object header ("OHDR") holding `messages`, under its checksum; attribute phase
 * change values stored so that a header with more than 8 attributes stays compact for libhdf5.
 */
function objectHeader(objectMessages: Message[]): Buffer {
  let attributes = 0;
  for (const m of objectMessages) if (m.type === MSG_ATTRIBUTE) attributes++;
  // Attribute info (version 0): attributes kept in the header (no fractal heap, no name index).
  // libhdf5 counts a version-2 header's attributes only when it has one (h5py's len(attrs)
  // was 0 without it, though every attribute read).
  const attributeInfo = Buffer.alloc(18);
  attributeInfo.writeBigUInt64LE(UNDEF, 2);
  attributeInfo.writeBigUInt64LE(UNDEF, 10);
  const messages: Message[] = [
    ...objectMessages,
    { type: MSG_ATTRIBUTE_INFO, body: attributeInfo },
  ];
  let size = 0;
  for (const m of messages) size += 4 + m.body.length;
  const b = Buffer.alloc(4 + 2 + 4 + 4 + size + 4);
  b.write("OHDR", 0, "latin1");
  b[4] = 2;
  b[5] = 0x02 | 0x10; // chunk-0 size in 4 bytes; attribute phase change values stored
  b.writeUInt16LE(Math.max(8, attributes), 6); // maximum compact attributes
  b.writeUInt16LE(6, 8); // minimum dense attributes (libhdf5's default)
  b.writeUInt32LE(size, 10);
  let p = 14;
  for (const m of messages) {
    b[p] = m.type;
    b.writeUInt16LE(m.body.length, p + 1);
    b[p + 3] = m.flags ?? 0;
    b.set(m.body, p + 4);
    p += 4 + m.body.length;
  }
  b.writeUInt32LE(lookup3(b.subarray(0, p)), p);
  return b;
}

/** Dataspace message (version 2): scalar for [], else simple with maximum dimensions equal. */
function dataspace(dims: number[]): Buffer {
  const b = Buffer.alloc(4 + 16 * dims.length);
  b[0] = 2;
  b[1] = dims.length;
  b[2] = dims.length > 0 ? 1 : 0; // maximum dimensions present
  b[3] = dims.length > 0 ? 1 : 0; // simple, or scalar
  dims.forEach((d, i) => {
    b.writeBigUInt64LE(BigInt(d), 4 + 8 * i);
    b.writeBigUInt64LE(BigInt(d), 4 + 8 * (dims.length + i));
  });
  return b;
}

/** Datatype message (version 1) of a column's values. */
function datatype(spec: ColumnSpec): Buffer {
  // Fixed-length strings as libhdf5's writer stored them here: UTF-8, space-padded type,
  // null-padded bytes (both readers strip the nulls).
  if (spec.dtype === "string") return stringType(spec.stringLength!, 2, 1);
  const size = dtypeBytes(spec.dtype);
  if (spec.dtype === "float32" || spec.dtype === "float64") {
    const b = Buffer.alloc(20);
    b[0] = 0x11;
    b[1] = 0x20; // little-endian, mantissa normalised with an implied leading 1
    b[2] = size * 8 - 1; // sign bit
    b.writeUInt32LE(size, 4);
    b.writeUInt16LE(0, 8);
    b.writeUInt16LE(size * 8, 10);
    b[12] = size === 4 ? 23 : 52; // exponent location
    b[13] = size === 4 ? 8 : 11; // exponent size
    b[14] = 0; // mantissa location
    b[15] = size === 4 ? 23 : 52; // mantissa size
    b.writeUInt32LE(size === 4 ? 127 : 1023, 16);
    return b;
  }
  const b = Buffer.alloc(12);
  b[0] = 0x10;
  b[1] = spec.dtype.startsWith("int") ? 0x08 : 0; // signed
  b.writeUInt32LE(size, 4);
  b.writeUInt16LE(0, 8);
  b.writeUInt16LE(size * 8, 10);
  return b;
}

/** A fixed-length string type: padding 0 null-terminated, 2 space-padded; charset 0 ASCII, 1 UTF-8. */
function stringType(size: number, padding: number, charset: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x13;
  b[1] = padding | (charset << 4);
  b.writeUInt32LE(size, 4);
  return b;
}

function datasetMessages(c: Column, index: Index, filter: ChunkFilter): Message[] {
  const rank = c.spec.shape.length + 1;
  const chunk = [c.chunkRows, ...c.spec.shape, elementBytes(c.spec)];
  // Layout (version 4, chunked): dimensions in as many bytes as the largest needs.
  const width = Math.max(1, Math.ceil(Math.log2(Math.max(...chunk) + 1) / 8));
  const indexBytes = index.type === "single" ? 1 + 8 + 4 + 8 : 1 + 1 + 8;
  const layout = Buffer.alloc(5 + width * (rank + 1) + indexBytes);
  layout[0] = 4;
  layout[1] = 2;
  layout[2] = index.type === "single" ? 2 : 0; // a single chunk that went through the filters
  layout[3] = rank + 1;
  layout[4] = width;
  for (let i = 0; i < chunk.length; i++) writeUintN(layout, chunk[i]!, 5 + width * i, width);
  const p = 5 + width * (rank + 1);
  if (index.type === "single") {
    layout[p] = 1;
    layout.writeBigUInt64LE(BigInt(index.size), p + 1);
    layout.writeUInt32LE(0, p + 9); // filter mask
    layout.writeBigUInt64LE(BigInt(index.address), p + 13);
  } else {
    layout[p] = 3; // fixed array
    layout[p + 1] = PAGE_BITS;
    layout.writeBigUInt64LE(index.type === "fixed" ? BigInt(index.address) : UNDEF, p + 2);
  }
  const messages: Message[] = [
    { type: MSG_DATASPACE, body: dataspace([c.rows, ...c.spec.shape]) },
    { type: MSG_DATATYPE, body: datatype(c.spec), flags: 1 },
    // Fill value (version 3): allocated incrementally, written if set, the default (zeros).
    { type: MSG_FILL_VALUE, body: Buffer.from([3, 3 | (2 << 2)]), flags: 1 },
    { type: MSG_LAYOUT, body: layout },
    { type: MSG_FILTERS, body: filterPipeline(filter, shuffledSize(c.spec, filter)) },
  ];
  for (const [name, value] of c.attrs) messages.push(attributeMessage(name, value));
  return messages;
}

/**
 * Filter pipeline message (version 2): shuffle by `shuffleSize` bytes when above 1, then deflate
 * (both optional, as libhdf5 sets them; shuffle's one value is the element size), or Fletcher32.
 */
function filterPipeline(filter: ChunkFilter, shuffleSize: number): Buffer {
  if (filter === "fletcher32") return Buffer.from([2, 1, 3, 0, 0, 0, 0, 0]);
  const shuffled = shuffleSize > 1;
  const b = Buffer.alloc(shuffled ? 22 : 12);
  b[0] = 2;
  b[1] = shuffled ? 2 : 1;
  let p = 2;
  const entry = (id: number, value: number) => {
    b.writeUInt16LE(id, p);
    b.writeUInt16LE(1, p + 2); // optional
    b.writeUInt16LE(1, p + 4); // one value
    b.writeUInt32LE(value, p + 6);
    p += 10;
  };
  if (shuffled) entry(2, shuffleSize);
  entry(1, filter.gzip); // deflate at its level
  return b;
}

/**
 * An attribute message (version 3). Strings are fixed-length and null-terminated, of exactly
 * their UTF-8 bytes plus the null (ASCII or UTF-8 charset); integers of the int32 range int32,
 * other numbers float64, as writeAttribute stores them through libhdf5.
 */
function attributeMessage(name: string, value: AttributeValue): Message {
  const nameBytes = Buffer.from(`${name}\0`, "utf8");
  let type: Buffer;
  let data: Buffer;
  if (typeof value === "string") {
    const text = Buffer.from(value, "utf8");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ASCII without NUL is the test
    type = stringType(text.length + 1, 0, /^[\x01-\x7f]*$/.test(value) ? 0 : 1);
    data = Buffer.alloc(text.length + 1);
    text.copy(data);
  } else if (Number.isInteger(value) && value >= -(2 ** 31) && value < 2 ** 31) {
    type = datatype({ name, dtype: "int32", shape: [] });
    data = Buffer.alloc(4);
    data.writeInt32LE(value);
  } else {
    type = datatype({ name, dtype: "float64", shape: [] });
    data = Buffer.alloc(8);
    data.writeDoubleLE(value);
  }
  const space = dataspace([]);
  const b = Buffer.alloc(9 + nameBytes.length + type.length + space.length + data.length);
  b[0] = 3;
  b.writeUInt16LE(nameBytes.length, 2);
  b.writeUInt16LE(type.length, 4);
  b.writeUInt16LE(space.length, 6);
  b[8] = 1; // name in UTF-8
  Buffer.concat([nameBytes, type, space, data]).copy(b, 9);
  return { type: MSG_ATTRIBUTE, body: b };
}

/** The root group: links kept in its header (compact storage), then its attributes. */
function groupMessages(
  links: { name: string; address: number }[],
  attrs: [string, AttributeValue][],
): Message[] {
  // Link info (version 0): no creation order, no fractal heap, no name index.
  const linkInfo = Buffer.alloc(18);
  linkInfo.writeBigUInt64LE(UNDEF, 2);
  linkInfo.writeBigUInt64LE(UNDEF, 10);
  // Group info (version 0) with phase change values: every link stays compact for libhdf5.
  const groupInfo = Buffer.alloc(6);
  groupInfo[1] = 1;
  groupInfo.writeUInt16LE(Math.max(8, links.length), 2);
  groupInfo.writeUInt16LE(6, 4);
  const messages: Message[] = [
    { type: MSG_LINK_INFO, body: linkInfo },
    { type: MSG_GROUP_INFO, body: groupInfo },
  ];
  const sorted = links
    .map((l) => ({ ...l, bytes: Buffer.from(l.name, "utf8") }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes));
  for (const l of sorted) {
    // Link (version 1): a hard link, its name's length in 1 or 2 bytes, charset UTF-8.
    const wide = l.bytes.length > 255;
    const b = Buffer.alloc(3 + (wide ? 2 : 1) + l.bytes.length + 8);
    b[0] = 1;
    b[1] = (wide ? 1 : 0) | 0x10;
    b[2] = 1; // UTF-8
    if (wide) b.writeUInt16LE(l.bytes.length, 3);
    else b[3] = l.bytes.length;
    let p = wide ? 5 : 4;
    l.bytes.copy(b, p);
    p += l.bytes.length;
    b.writeBigUInt64LE(BigInt(l.address), p);
    messages.push({ type: MSG_LINK, body: b });
  }
  for (const [name, value] of attrs) messages.push(attributeMessage(name, value));
  return messages;
}

/** Superblock version 2: sizes of offsets and lengths, end of file, root group, checksum. */
function superblock(root: number, end: number): Buffer {
  const b = Buffer.alloc(SUPERBLOCK_BYTES);
  b.set(SIGNATURE, 0);
  b[8] = 2;
  b[9] = 8; // size of offsets
  b[10] = 8; // size of lengths
  b[11] = 0; // flags
  b.writeBigUInt64LE(0n, 12); // base address
  b.writeBigUInt64LE(UNDEF, 20); // superblock extension
  b.writeBigUInt64LE(BigInt(end), 28);
  b.writeBigUInt64LE(BigInt(root), 36);
  b.writeUInt32LE(lookup3(b.subarray(0, 44)), 44);
  return b;
}
