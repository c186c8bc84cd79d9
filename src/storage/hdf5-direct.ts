// The fast read path: a dataset's chunks located once by parsing the HDF5 file format, then read
// with ordinary file reads and decoded in JavaScript with Node's native zlib. h5wasm offers no
// chunk information or direct chunk read, and every h5wasm read pays a per-call and per-chunk
// cost in WebAssembly; this path pays one pread and one native inflate per chunk.
//
// What it covers: object headers version 1 and 2, dataspace, datatype (integer, float, fixed-
// length string, 1-byte enum; either byte order), data layout message versions 1-3 with
// contiguous storage or chunks indexed by a version-1 B-tree, and the filters deflate (1),
// shuffle (2), Fletcher32 (3) and LZF (32000), honouring each chunk's filter mask. Anything else
// Layout message version 4 (libver "v18" and later, PartitionWriter's "v110") is covered too:
// its chunk indexes (single chunk, implicit, fixed array, extensible array, version-2 B-tree)
// are parsed in hdf5-chunk-index.ts; an extensible array's data blocks are read when a read first
// needs their rows (a remote row read then moves one block of index, not the whole index). Anything else (compact storage, shared messages, other
// filters, chunks never written) is "not covered": the caller reads that column through h5wasm.
//
// Files are untrusted: every address and size is checked against the file's length and the
// dataset's own geometry before anything is read or allocated; a structure that contradicts
// itself or a chunk that does not decode is a CorruptFileError naming the file, the column and
// the chunk.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { CorruptFileError, type ErrorPlace } from "../core/errors.ts";
import { unzeroedBytes } from "./bytes.ts";
import { fletcher32 } from "./fletcher32.ts";
import {
  type IndexLoader,
  MAX_INDEX_ENTRIES,
  NotCovered,
  parseLayoutV4,
  readV4Index,
  UNDEFINED,
  type V4Index,
} from "./hdf5-chunk-index.ts";
import { lookup3 } from "./lookup3.ts";
import { followRemoteLink, openRemote, type RemoteBytes, remoteUrl } from "./remote-hook.ts";
import { unshuffle, unshuffleInto } from "./shuffle.ts";

export { fletcher32, NotCovered };

const MSG_DATASPACE = 0x01;
const MSG_DATATYPE = 0x03;
const MSG_LAYOUT = 0x08;
const MSG_FILTERS = 0x0b;
const MSG_CONTINUATION = 0x10;

const FILTER_DEFLATE = 1;
const FILTER_SHUFFLE = 2;
const FILTER_FLETCHER32 = 3;
const FILTER_LZF = 32000;
const SUPPORTED_FILTERS = new Set([FILTER_DEFLATE, FILTER_SHUFFLE, FILTER_FLETCHER32, FILTER_LZF]);

/** Bounds on what a header may make this parser read: more is not a dataset it covers. */
const MAX_HEADER_BYTES = 1 << 20;
const MAX_CONTINUATIONS = 64;
const MAX_BTREE_DEPTH = 32;
/** Chunk grids larger than this are left to h5wasm (the index arrays would be large). */
const MAX_GRID_CELLS = MAX_INDEX_ENTRIES;
/** Decoded chunks up to this size are kept for the next read of the same rows. */
const CACHE_CHUNK_BYTES = 1 << 20;
/**
 * Decoded chunks kept across reads by all open columns together (bytes). A service answering
 * nearby queries, or a reader going back over the same rows, re-reads the same chunks: inflating
 * them again was a third of a cone query's time. h5py keeps 1 MiB per open dataset.
 */
const DECODED_CHUNKS_BYTES = 32 << 20;

/** Chunks handed to their reader (not cached) that are remembered, to cache a second read. */
const REMEMBERED_KEYS = 8192;

/** A column's chunks in the shared cache: decoded chunks, and those handed out once. @internal */
export class ColumnChunks {
  readonly cached = new Map<number, CachedChunk>();
  /** Chunk number -> its slot in the ring of remembered hand-outs. */
  readonly handedOut = new Map<number, number>();
}

/** A decoded chunk in the cache, on the least-recently-used list. */
interface CachedChunk {
  owner: ColumnChunks;
  cell: number;
  bytes: Uint8Array;
  /** Toward the most recently used end. */
  newer: CachedChunk | null;
  older: CachedChunk | null;
}

/**
 * Least recently used decoded chunks, bounded by their total bytes. Each column looks its chunks
 * up by number in its own map; one list orders them all (a hit relinks its entry: no string keys
 * built or hashed, no map rewritten, on the per-row path). Exported for its tests.
 * @internal
 */
export class DecodedChunks {
  private bytes = 0;
  private newest: CachedChunk | null = null;
  private oldest: CachedChunk | null = null;
  private readonly ringOwner: Array<ColumnChunks | undefined> = new Array(REMEMBERED_KEYS);
  private readonly ringCell = new Float64Array(REMEMBERED_KEYS);
  private ringAt = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * A chunk given to its reader to keep is cached only when read a second time: one pass over
   * the data then costs no copies, while a chunk asked for again (a service's hot rows) is
   * decoded once more and kept. The last REMEMBERED_KEYS hand-outs are remembered.
   */
  readAgain(owner: ColumnChunks, cell: number): boolean {
    if (owner.handedOut.delete(cell)) return true;
    const slot = this.ringAt;
    this.ringAt = (slot + 1) % REMEMBERED_KEYS;
    const old = this.ringOwner[slot];
    if (old && old.handedOut.get(this.ringCell[slot]) === slot)
      old.handedOut.delete(this.ringCell[slot]);
    this.ringOwner[slot] = owner;
    this.ringCell[slot] = cell;
    owner.handedOut.set(cell, slot);
    return false;
  }

  get(owner: ColumnChunks, cell: number): Uint8Array | undefined {
    const hit = owner.cached.get(cell);
    if (!hit) return undefined;
    if (hit !== this.newest) {
      this.unlink(hit);
      this.link(hit);
    }
    return hit.bytes;
  }

  set(owner: ColumnChunks, cell: number, bytes: Uint8Array): void {
    const old = owner.cached.get(cell);
    if (old) {
      this.bytes -= old.bytes.length;
      this.unlink(old);
    }
    const entry: CachedChunk = { owner, cell, bytes, newer: null, older: null };
    owner.cached.set(cell, entry);
    this.link(entry);
    this.bytes += bytes.length;
    while (this.bytes > this.maxBytes && this.oldest) {
      const victim = this.oldest;
      this.unlink(victim);
      victim.owner.cached.delete(victim.cell);
      this.bytes -= victim.bytes.length;
    }
  }

  /** Drops every cached chunk (the remembered hand-outs stay). */
  clear(): void {
    for (let e = this.newest; e; e = e.older) e.owner.cached.delete(e.cell);
    this.newest = null;
    this.oldest = null;
    this.bytes = 0;
  }

  /** Puts an unlinked entry at the most recently used end. */
  private link(e: CachedChunk): void {
    e.older = this.newest;
    e.newer = null;
    if (this.newest) this.newest.newer = e;
    this.newest = e;
    if (!this.oldest) this.oldest = e;
  }

  private unlink(e: CachedChunk): void {
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    e.newer = null;
    e.older = null;
  }
}

const decodedChunks = new DecodedChunks(DECODED_CHUNKS_BYTES);

/**
 * Empties this thread's cache of decoded chunks (up to 32 MiB): a service gives the memory back
 * when it goes quiet (src/server/idle-trim.ts). Reads then decode again. @internal
 */
export function dropDecodedChunks(): void {
  decodedChunks.clear();
}

/** Reads up to this many bytes may go through the shared buffer (see DirectColumn.readShared). */
export const SHARED_READ_BYTES = 64;
/** The shared buffer, with room for a Fletcher32 checksum read in place past its rows. */
const sharedBytes = new Uint8Array(SHARED_READ_BYTES + 4);

/**
 * Where a chunk or a row range of a column is, for an error message: the detail is spelled out
 * only if an error is built (formatting it on every read was a measurable part of a row's read).
 */
class LazyPlace implements ErrorPlace {
  readonly file: string | undefined;
  readonly column: string | undefined;
  constructor(
    base: ErrorPlace,
    private readonly what: "chunk" | "rows",
    private readonly a: number,
    private readonly b: number,
  ) {
    this.file = base.file;
    this.column = base.column;
  }

  get detail(): string {
    return this.what === "chunk"
      ? `chunk ${this.a} at byte ${this.b}`
      : `rows ${this.a}..${this.b}`;
  }
}

/** Largest stored chunk read through the scratch buffer; larger ones get their own array. */
const SCRATCH_MAX_BYTES = 4 * 2 ** 20;
let scratch = new Uint8Array(0);

/**
 * `n` bytes of this thread's scratch buffer, for stored bytes decoded at once (synchronously)
 * into other memory: valid until the next call.
 */
function storedScratch(n: number): Uint8Array {
  if (n > SCRATCH_MAX_BYTES) return unzeroedBytes(n);
  if (scratch.length < n) scratch = unzeroedBytes(Math.max(n, 2 * scratch.length));
  return scratch.subarray(0, n);
}

/** A copy of `bytes` in new memory that is not zeroed first (every byte is overwritten). */
function copyOf(bytes: Uint8Array): Uint8Array {
  const out = unzeroedBytes(bytes.length);
  out.set(bytes);
  return out;
}

/** One message of an object header. */
export interface HeaderMessage {
  type: number;
  flags: number;
  body: Uint8Array;
}

export interface DirectLayout {
  /** Dataset dimensions (axis 0 the row). */
  dims: number[];
  /** Maximum dimensions (UNDEFINED: unlimited); the dims when the dataspace gives none. */
  maxDims: number[];
  /** Bytes of one element. */
  elementSize: number;
  /** 0 integer, 1 float, 3 string, 8 enum. */
  typeClass: number;
  bigEndian: boolean;
  /** Strings: 0 ASCII, 1 UTF-8. */
  cset: number;
  /** Integers: two's complement (else unsigned). */
  signed: boolean;
  storage:
    | { kind: "contiguous"; address: number; size: number }
    | { kind: "chunked"; btree: number; chunk: number[]; v4?: V4Index };
  filters: Array<{ id: number; cd: number[] }>;
}

export interface ChunkIndex {
  grid: number[];
  address: Float64Array;
  size: Float64Array;
  mask: Uint32Array;
  /**
   * An index read in pieces (an extensible array): locates cells [from, to) before they are
   * looked at. Absent: every cell is located.
   */
  load?: IndexLoader;
}

/** One open partition file as raw bytes: its fd, its length, and its columns' layouts. */
export class DirectFile {
  readonly path: string;
  private fd: number;
  /** A remote file (virtual path, see remote-hook.ts): read by ranges instead of an fd. */
  private readonly remote: RemoteBytes | undefined;
  readonly length: number;

  constructor(path: string) {
    this.path = path;
    path = followRemoteLink(path);
    if (remoteUrl(path) !== null) {
      this.remote = openRemote(path);
      this.fd = -1;
      this.length = this.remote.size;
      return;
    }
    this.fd = openSync(path, "r");
    try {
      this.length = fstatSync(this.fd).size;
    } catch (err) {
      closeSync(this.fd);
      throw err;
    }
  }

  /** Exactly `n` bytes at `at`, or a CorruptFileError (past the end: truncated or hostile). */
  read(at: number, n: number, place: ErrorPlace, what: string): Uint8Array {
    if (!(Number.isSafeInteger(at) && Number.isSafeInteger(n) && at >= 0 && n >= 0))
      throw new CorruptFileError(`${what}: invalid address ${at} or size ${n}`, place);
    // Checked before allocating: a hostile size must not allocate beyond the file's length.
    if (at + n > this.length)
      throw new CorruptFileError(
        `${what}: bytes ${at}..${at + n} lie past the end of the file (${this.length} bytes; truncated?)`,
        place,
      );
    // Every byte is overwritten by the read (or the read throws): no need to zero it first.
    const buf = unzeroedBytes(n);
    this.readInto(buf, 0, at, n, place, what);
    return buf;
  }

  /** Reads exactly `n` bytes at file offset `at` into `buf` at `to`. */
  readInto(
    buf: Uint8Array,
    to: number,
    at: number,
    n: number,
    place: ErrorPlace,
    what: string,
  ): void {
    if (!(Number.isSafeInteger(at) && Number.isSafeInteger(n) && at >= 0 && n >= 0))
      throw new CorruptFileError(`${what}: invalid address ${at} or size ${n}`, place);
    if (at + n > this.length)
      throw new CorruptFileError(
        `${what}: bytes ${at}..${at + n} lie past the end of the file (${this.length} bytes; truncated?)`,
        place,
      );
    if (this.remote) {
      this.remote.read(buf, to, n, at);
      return;
    }
    let got = 0;
    while (got < n) {
      const k = readSync(this.fd, buf, to + got, n - got, at + got);
      if (k === 0)
        throw new CorruptFileError(`${what}: file ended at byte ${at + got} while reading`, place);
      got += k;
    }
  }

  /** A remote file whose reader asked for partial chunk reads (see RemoteBytes.partialChunks). */
  get partialChunks(): boolean {
    return this.remote?.partialChunks === true;
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  /**
   * The layout of the dataset whose object header is at `address`. Throws NotCovered for layouts
   * this path leaves to h5wasm, CorruptFileError for headers that cannot be what they claim.
   */
  layout(address: number, place: ErrorPlace): DirectLayout {
    return layoutOf(this.headerMessages(address, place), place);
  }

  /** Every message of an object header (version 1 or 2), continuation blocks followed. */
  headerMessages(
    address: number,
    place: ErrorPlace,
    options: { checksummed?: boolean } = {},
  ): HeaderMessage[] {
    const out: HeaderMessage[] = [];
    const what = "object header";
    const first = this.read(address, 16, place, what);
    const view = dv(first);
    const blocks: Array<[number, number]> = [];
    let v2 = false;
    let msgHead = 8;
    if (first[0] === 0x4f && first[1] === 0x48 && first[2] === 0x44 && first[3] === 0x52) {
      // Version 2: "OHDR", version, flags, optional times and attribute limits, chunk-0 size.
      if (first[4] !== 2) throw new NotCovered(`object header version ${first[4]}`);
      v2 = true;
      const flags = first[5];
      msgHead = flags & 0x04 ? 6 : 4;
      const sizeAt = 6 + (flags & 0x20 ? 16 : 0) + (flags & 0x10 ? 4 : 0);
      const width = 1 << (flags & 3);
      const head = this.read(address, sizeAt + width, place, what);
      const size = uint(dv(head), sizeAt, width);
      if (size > MAX_HEADER_BYTES) throw new NotCovered("object header too large");
      const whole = this.read(address, sizeAt + width + size + 4, place, what);
      checkLookup3(whole, place, what);
      this.messagesIn(whole, sizeAt + width, whole.length - 4, v2, msgHead, out, blocks, place);
    } else if (first[0] === 1) {
      // `checksummed`: the caller trusts only what a checksum covers; version 1 has none.
      if (options.checksummed) throw new NotCovered("object header version 1 (no checksum)");
      // Version 1: version, reserved, message count, reference count, header size, padding.
      const size = view.getUint32(8, true);
      if (size > MAX_HEADER_BYTES) throw new NotCovered("object header too large");
      const whole = this.read(address + 16, size, place, what);
      this.messagesIn(whole, 0, whole.length, v2, msgHead, out, blocks, place);
    } else {
      throw new CorruptFileError(`no object header at byte ${address}`, place);
    }
    let followed = 0;
    while (blocks.length > 0) {
      if (++followed > MAX_CONTINUATIONS) throw new NotCovered("too many header continuations");
      const [at, n] = blocks.shift()!;
      if (n > MAX_HEADER_BYTES) throw new NotCovered("header continuation too large");
      const block = this.read(at, n, place, "object header continuation");
      if (v2) {
        if (!(block[0] === 0x4f && block[1] === 0x43 && block[2] === 0x48 && block[3] === 0x4b))
          throw new CorruptFileError(`no header continuation block at byte ${at}`, place);
        checkLookup3(block, place, "object header continuation");
        this.messagesIn(block, 4, block.length - 4, v2, msgHead, out, blocks, place);
      } else {
        this.messagesIn(block, 0, block.length, v2, msgHead, out, blocks, place);
      }
    }
    return out;
  }

  private messagesIn(
    buf: Uint8Array,
    from: number,
    to: number,
    v2: boolean,
    msgHead: number,
    out: HeaderMessage[],
    blocks: Array<[number, number]>,
    place: ErrorPlace,
  ): void {
    const view = dv(buf);
    for (let p = from; p + msgHead <= to; ) {
      const type = v2 ? buf[p] : view.getUint16(p, true);
      const size = v2 ? view.getUint16(p + 1, true) : view.getUint16(p + 2, true);
      const flags = v2 ? buf[p + 3] : buf[p + 4];
      const start = p + msgHead;
      if (start + size > to)
        throw new CorruptFileError("object header message runs past its header", place);
      const body = buf.subarray(start, start + size);
      if (type === MSG_CONTINUATION) {
        if (size < 16) throw new CorruptFileError("short header continuation message", place);
        const b = dv(body);
        blocks.push([uint(b, 0, 8), uint(b, 8, 8)]);
      } else out.push({ type, flags, body });
      // Version-1 messages are padded to multiples of 8 bytes (their sizes include it).
      p = start + size;
    }
  }

  /** The chunk index of a chunked dataset: the version-1 B-tree walked once. */
  chunkIndex(layout: DirectLayout, place: ErrorPlace): ChunkIndex {
    if (layout.storage.kind !== "chunked") throw new Error("not chunked");
    const { chunk, btree } = layout.storage;
    const rank = layout.dims.length;
    const grid = layout.dims.map((d, i) => Math.ceil(d / chunk[i]));
    let cells = 1;
    for (const g of grid) cells *= g;
    if (cells > MAX_GRID_CELLS) throw new NotCovered(`${cells} chunks`);
    const index: ChunkIndex = {
      grid,
      address: new Float64Array(cells).fill(-1),
      size: new Float64Array(cells),
      mask: new Uint32Array(cells),
    };
    if (layout.storage.v4) {
      let chunkBytes = layout.elementSize;
      for (const c of chunk) chunkBytes *= c;
      const load = readV4Index(
        this,
        layout.storage.v4,
        {
          dims: layout.dims,
          maxDims: layout.maxDims,
          chunk,
          chunkBytes,
          filtered: layout.filters.length > 0,
        },
        index,
        place,
      );
      if (load) index.load = load;
      return index;
    }
    if (btree === UNDEFINED) return index;
    const keyBytes = 8 + 8 * (rank + 1);
    const seen = new Set<number>();
    const walk = (at: number, depth: number, wantLevel: number) => {
      if (depth > MAX_BTREE_DEPTH || seen.has(at))
        throw new CorruptFileError(`chunk B-tree loops or is too deep at byte ${at}`, place);
      seen.add(at);
      const head = this.read(at, 24, place, "chunk B-tree node");
      if (!(head[0] === 0x54 && head[1] === 0x52 && head[2] === 0x45 && head[3] === 0x45))
        throw new CorruptFileError(`no chunk B-tree node at byte ${at}`, place);
      if (head[4] !== 1) throw new CorruptFileError(`B-tree node of type ${head[4]}`, place);
      const level = head[5];
      if (wantLevel >= 0 && level !== wantLevel)
        throw new CorruptFileError(`B-tree node at byte ${at} has level ${level}`, place);
      const entries = dv(head).getUint16(6, true);
      const node = this.read(at + 24, entries * (keyBytes + 8) + keyBytes, place, "B-tree node");
      const v = dv(node);
      for (let e = 0; e < entries; e++) {
        const k = e * (keyBytes + 8);
        const child = uint(v, k + keyBytes, 8);
        if (level > 0) {
          walk(child, depth + 1, level - 1);
          continue;
        }
        let cell = 0;
        for (let i = 0; i < rank; i++) {
          const off = uint(v, k + 8 + 8 * i, 8);
          if (off % chunk[i] !== 0)
            throw new CorruptFileError(`chunk offset ${off} on axis ${i} is not aligned`, place);
          const g = off / chunk[i];
          if (g >= grid[i]) {
            cell = -1; // beyond the current extent (the dataset shrank): never read
            break;
          }
          cell = cell * grid[i] + g;
        }
        if (cell < 0) continue;
        index.address[cell] = child;
        index.size[cell] = v.getUint32(k, true);
        index.mask[cell] = v.getUint32(k + 4, true);
      }
    };
    walk(btree, 0, -1);
    return index;
  }
}

/** A column read through the fast path. */
export class DirectColumn {
  readonly layout: DirectLayout;
  private readonly file: DirectFile;
  private readonly place: ErrorPlace;
  private index: ChunkIndex | undefined;
  private readonly chunkBytes: number;
  /** Bytes of one row (all its elements). */
  readonly rowBytes: number;
  /** This column's chunks in the shared cache (a reopened file starts with none). */
  private readonly cached = new ColumnChunks();

  constructor(file: DirectFile, layout: DirectLayout, place: ErrorPlace) {
    this.file = file;
    this.layout = layout;
    this.place = place;
    let row = layout.elementSize;
    for (let i = 1; i < layout.dims.length; i++) row *= layout.dims[i];
    this.rowBytes = row;
    let chunk = layout.elementSize;
    if (layout.storage.kind === "chunked") for (const c of layout.storage.chunk) chunk *= c;
    this.chunkBytes = chunk;
    if (layout.storage.kind === "chunked") this.index = file.chunkIndex(layout, place);
  }

  /** How many chunks the index locates (chunks never written are not counted). */
  storedChunks(): number {
    if (!this.index) return 0;
    this.index.load?.(0, this.index.address.length);
    let n = 0;
    for (const a of this.index.address) if (a >= 0) n++;
    return n;
  }

  /**
   * Rows [start, end) of at most SHARED_READ_BYTES, as readBytes gives them, but in a buffer
   * shared by every column and valid until the next read: the caller copies them out (into an
   * array small enough for V8 to keep on its heap), so a one-row read of a light column
   * allocates no ArrayBuffer. null as readBytes.
   */
  readShared(start: number, end: number, keepChunks = false): Uint8Array | null {
    const n = (end - start) * this.rowBytes;
    if (n > SHARED_READ_BYTES)
      throw new RangeError("readShared: more rows than the shared buffer holds");
    return this.readInto(start, end, sharedBytes, 0, keepChunks)
      ? sharedBytes.subarray(0, n)
      : null;
  }

  /**
   * Rows [start, end) as bytes in the file's element order and byte order (swap separately).
   * Returns null when a chunk in the range was never written (the fill value is h5wasm's job).
   */
  readBytes(start: number, end: number, keepChunks = false): Uint8Array | null {
    const { storage, dims } = this.layout;
    if (storage.kind === "contiguous") {
      if (storage.address === UNDEFINED) return null;
      return this.file.read(
        storage.address + start * this.rowBytes,
        (end - start) * this.rowBytes,
        new LazyPlace(this.place, "rows", start, end),
        "contiguous data",
      );
    }
    const chunk = storage.chunk;
    const first = Math.floor(start / chunk[0]);
    const whole = dims.length === 1 || chunk.every((c, i) => i === 0 || c === dims[i]);
    if (!keepChunks && whole && start === first * chunk[0] && end === start + chunk[0]) {
      this.index!.load?.(first * this.innerCells(), (first + 1) * this.innerCells());
      return this.chunk(first * this.innerCells(), true); // exactly one chunk: its bytes as they are
    }
    const n = (end - start) * this.rowBytes;
    // Not zeroed: every byte is written (a chunk missing returns null). Four bytes of slack
    // take the checksum of a chunk read straight into place (see readInPlace).
    const out = unzeroedBytes(n + 4);
    return this.readInto(start, end, out, 0, keepChunks) ? out.subarray(0, n) : null;
  }

  /** Chunks of the grid per chunk along axis 0. */
  private innerCells(): number {
    return this.index!.grid.slice(1).reduce((a, b) => a * b, 1);
  }

  /**
   * Rows [start, end) as bytes in the file's element and byte order, written into `out` from
   * byte `at` (the loader's batch buffers: no array allocated for them). False, with `out` partly
   * written, when a chunk in the range was never written (the fill value is h5wasm's job).
   * Bytes of `out` outside the range are left as they were. `keepChunks`: whole chunks go
   * through the decoded-chunk cache too, not straight into `out` (for reads that come back to
   * the same chunks: a shuffled loader's batches each gather rows from all over a file).
   */
  readInto(start: number, end: number, out: Uint8Array, at: number, keepChunks = false): boolean {
    const { storage, dims } = this.layout;
    const n = (end - start) * this.rowBytes;
    if (at + n > out.length) throw new RangeError("readInto: the rows do not fit in the buffer");
    if (storage.kind === "contiguous") {
      if (storage.address === UNDEFINED) return false;
      this.file.readInto(
        out,
        at,
        storage.address + start * this.rowBytes,
        n,
        new LazyPlace(this.place, "rows", start, end),
        "contiguous data",
      );
      return true;
    }
    const index = this.index!;
    const chunk = storage.chunk;
    const innerCells = this.innerCells();
    const first = Math.floor(start / chunk[0]);
    const last = Math.floor((end - 1) / chunk[0]);
    index.load?.(first * innerCells, (last + 1) * innerCells);
    const whole = dims.length === 1 || chunk.every((c, i) => i === 0 || c === dims[i]);
    for (let g0 = first; g0 <= last; g0++) {
      for (let inner = 0; inner < innerCells; inner++) {
        const cell = g0 * innerCells + inner;
        const o0 = g0 * chunk[0];
        const r0 = Math.max(start, o0);
        const r1 = Math.min(end, o0 + chunk[0]);
        const to = at + (r0 - start) * this.rowBytes;
        if (
          whole &&
          !keepChunks &&
          r1 - r0 === chunk[0] &&
          (this.readInPlace(cell, out, to, at + n) || this.decodeInPlace(cell, out, to))
        )
          continue;
        if (
          whole &&
          this.file.partialChunks &&
          this.readRowsInPlace(cell, out, to, r0 - o0, r1 - r0)
        )
          continue;
        const bytes = this.chunk(cell);
        if (!bytes) return false;
        if (whole) {
          out.set(bytes.subarray((r0 - o0) * this.rowBytes, (r1 - o0) * this.rowBytes), to);
        } else {
          this.copyPart(bytes, cell, out, at, start, r0, r1);
        }
      }
    }
    return true;
  }

  /**
   * Reads an unfiltered chunk (none of its filters applied, or only Fletcher32) straight into
   * `out` at `at`, checksum verified; false when the chunk needs decoding (or is not there).
   * The 4 checksum bytes land just past the chunk: inside the range being read (`end`), where
   * the next chunk goes; past it, where the bytes there are kept and put back.
   */
  private readInPlace(cell: number, out: Uint8Array, at: number, end: number): boolean {
    const index = this.index!;
    const address = index.address[cell];
    if (address < 0 || this.cached.cached.has(cell)) return false;
    const mask = index.mask[cell];
    let fletcher = false;
    const filters = this.layout.filters;
    for (let i = 0; i < filters.length; i++) {
      if ((mask >>> i) & 1) continue;
      if (filters[i].id !== FILTER_FLETCHER32) return false;
      fletcher = true;
    }
    const stored = this.chunkBytes + (fletcher ? 4 : 0);
    if (index.size[cell] !== stored || at + stored > out.length) return false;
    const place = new LazyPlace(this.place, "chunk", cell, address);
    const spill = at + stored > end ? out.slice(at + this.chunkBytes, at + stored) : null;
    try {
      this.file.readInto(out, at, address, stored, place, "chunk");
      if (fletcher) checkFletcher32(out.subarray(at, at + stored), place);
    } finally {
      if (spill) out.set(spill, at + this.chunkBytes);
    }
    return true;
  }

  /**
   * Decodes a shuffled chunk straight into `out` at `at` (a whole chunk that goes there whole):
   * the stored bytes are read into this thread's scratch buffer and the shuffle, the last filter
   * undone, writes into place, so of the chunk-sized arrays only the decompressor's output is
   * made, and the chunk is not kept in the decoded-chunk cache (a loader or a scan reads it once:
   * the loader on two workers over gzip images took 0.60-0.72 s instead of 1.04 with the copies
   * and the cache). False when the chunk is not shuffled or not there or cached; chunk() then
   * decodes it.
   */
  private decodeInPlace(cell: number, out: Uint8Array, at: number): boolean {
    const index = this.index!;
    const address = index.address[cell];
    const filters = this.layout.filters;
    const mask = index.mask[cell];
    if (address < 0 || this.cached.cached.has(cell)) return false;
    if (filters[0]?.id !== FILTER_SHUFFLE || mask & 1 || at + this.chunkBytes > out.length)
      return false;
    // Every filter but the shuffle undone (the result is used before the next read).
    const bytes = this.decodeStored(cell, 1, true);
    unshuffleInto(
      bytes,
      filters[0].cd[0] ?? this.layout.elementSize,
      out.subarray(at, at + this.chunkBytes),
    );
    return true;
  }

  /**
   * Remote files read with partialChunks: rows [first, first+rows) of a chunk without compression
   * read on their own (a ranged read of those bytes, not the chunk; a Fletcher32 checksum is not
   * verified then); false when the chunk is compressed or absent.
   */
  private readRowsInPlace(
    cell: number,
    out: Uint8Array,
    at: number,
    first: number,
    rows: number,
  ): boolean {
    const index = this.index!;
    const address = index.address[cell];
    if (address < 0 || this.cached.cached.has(cell)) return false;
    const mask = index.mask[cell];
    const filters = this.layout.filters;
    let fletcher = false;
    for (let i = 0; i < filters.length; i++) {
      if ((mask >>> i) & 1) continue;
      if (filters[i].id !== FILTER_FLETCHER32) return false;
      fletcher = true;
    }
    if (index.size[cell] !== this.chunkBytes + (fletcher ? 4 : 0)) return false;
    const place = new LazyPlace(this.place, "chunk", cell, address);
    this.file.readInto(
      out,
      at,
      address + first * this.rowBytes,
      rows * this.rowBytes,
      place,
      "rows",
    );
    return true;
  }

  /** Copies rows [r0, r1) of a chunk that covers part of the inner axes into `out` (row `start` at byte `at`). */
  private copyPart(
    bytes: Uint8Array,
    cell: number,
    out: Uint8Array,
    at: number,
    start: number,
    r0: number,
    r1: number,
  ): void {
    const { dims, elementSize } = this.layout;
    const chunk = (this.layout.storage as { chunk: number[] }).chunk;
    const grid = this.index!.grid;
    const rank = dims.length;
    // Chunk offsets from the cell number.
    const off = new Array<number>(rank).fill(0);
    let rest = cell;
    for (let i = rank - 1; i >= 0; i--) {
      off[i] = (rest % grid[i]) * chunk[i];
      rest = Math.floor(rest / grid[i]);
    }
    const extent = dims.map((d, i) => Math.min(chunk[i], d - off[i]));
    // Strides in elements, of the chunk and of the output (which holds whole rows).
    const cs = new Array<number>(rank).fill(1);
    const os = new Array<number>(rank).fill(1);
    for (let i = rank - 2; i >= 0; i--) {
      cs[i] = cs[i + 1] * chunk[i + 1];
      os[i] = os[i + 1] * dims[i + 1];
    }
    const runBytes = extent[rank - 1] * elementSize;
    const idx = new Array<number>(rank).fill(0);
    for (let r = r0; r < r1; r++) {
      idx.fill(0);
      for (;;) {
        let src = (r - off[0]) * cs[0];
        let dst = (r - start) * os[0];
        for (let i = 1; i < rank; i++) {
          src += idx[i] * cs[i];
          dst += (off[i] + idx[i]) * os[i];
        }
        out.set(
          bytes.subarray(src * elementSize, src * elementSize + runBytes),
          at + dst * elementSize,
        );
        let i = rank - 2;
        while (i >= 1 && ++idx[i] >= extent[i]) idx[i--] = 0;
        if (i < 1) break;
      }
    }
  }

  /**
   * The stored bytes of chunk `cell` (written) with its filters undone from the last down to
   * filter `downTo` (0: all of them), checked to be a whole chunk. `scratch`: read into the
   * thread's scratch buffer (the caller is done with them before the next read, or a filter
   * undone gives new memory) instead of an array of their own.
   */
  private decodeStored(cell: number, downTo: number, scratch: boolean): Uint8Array {
    const index = this.index!;
    const address = index.address[cell];
    const stored = index.size[cell];
    const mask = index.mask[cell];
    const place = new LazyPlace(this.place, "chunk", cell, address);
    // A stored chunk is at most a little larger than the raw one (deflate or LZF overhead).
    if (stored > this.chunkBytes * 2 + 4096)
      throw new CorruptFileError(
        `chunk claims ${stored} stored bytes for ${this.chunkBytes} bytes of values`,
        place,
      );
    let bytes: Uint8Array;
    if (scratch) {
      bytes = storedScratch(stored);
      this.file.readInto(bytes, 0, address, stored, place, "chunk");
    } else bytes = this.file.read(address, stored, place, "chunk");
    const filters = this.layout.filters;
    for (let i = filters.length - 1; i >= downTo; i--) {
      if ((mask >>> i) & 1) continue;
      bytes = unfilter(filters[i], bytes, this.chunkBytes, this.layout.elementSize, place);
    }
    if (bytes.length !== this.chunkBytes)
      throw new CorruptFileError(
        `chunk decodes to ${bytes.length} bytes, expected ${this.chunkBytes}`,
        place,
      );
    return bytes;
  }

  /**
   * One chunk's decoded bytes (full chunk size), or null if it was never written. `own`: the
   * caller keeps the bytes (a cached chunk is copied; see DecodedChunks.readAgain).
   */
  private chunk(cell: number, own = false): Uint8Array | null {
    const hit = decodedChunks.get(this.cached, cell);
    if (hit) return own ? copyOf(hit) : hit;
    const index = this.index!;
    if (index.address[cell] < 0) return null;
    const filters = this.layout.filters;
    const mask = index.mask[cell];
    // Whether a filter other than Fletcher32 transforms the bytes (decoding costs more than
    // reading them again). Its output is new memory, so the stored bytes are then read into the
    // thread's scratch buffer instead of an array of their own.
    let decoded = false;
    for (let i = 0; i < filters.length; i++)
      if (!((mask >>> i) & 1) && makesNewBytes(filters[i], this.layout.elementSize)) decoded = true;
    const bytes = this.decodeStored(cell, 0, decoded);
    if (this.chunkBytes > CACHE_CHUNK_BYTES) return bytes;
    if (!own) decodedChunks.set(this.cached, cell, bytes);
    // A stored chunk handed out whole (a heavy row) is not kept: reading it again from the page
    // cache and checking it costs about what copying it out of the cache would, and random rows
    // of a dataset larger than the cache only churned it (its copies and the collector's work
    // on them were a third of a get(i)).
    else if (decoded && decodedChunks.readAgain(this.cached, cell)) {
      decodedChunks.set(this.cached, cell, bytes);
      return copyOf(bytes);
    }
    return bytes;
  }
}

/** Whether undoing `filter` gives new memory (not its input, nor a view of it). */
function makesNewBytes(filter: { id: number; cd: number[] }, elementSize: number): boolean {
  if (filter.id === FILTER_SHUFFLE) return (filter.cd[0] ?? elementSize) > 1;
  return filter.id === FILTER_DEFLATE || filter.id === FILTER_LZF;
}

function unfilter(
  filter: { id: number; cd: number[] },
  bytes: Uint8Array,
  expected: number,
  elementSize: number,
  place: ErrorPlace,
): Uint8Array {
  switch (filter.id) {
    case FILTER_DEFLATE: {
      let out: Buffer;
      try {
        // One output buffer the size of the chunk (zlib's default 16 KiB pieces get concatenated).
        out = inflateSync(bytes, {
          maxOutputLength: Math.max(expected, 1),
          chunkSize: Math.max(expected + 64, 64),
        });
      } catch (err) {
        throw new CorruptFileError(
          `stored bytes are damaged: the gzip (deflate) stream does not decode (${(err as Error).message})`,
          place,
          { cause: err },
        );
      }
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    case FILTER_SHUFFLE:
      return unshuffle(bytes, filter.cd[0] ?? elementSize);
    case FILTER_FLETCHER32:
      return checkFletcher32(bytes, place);
    case FILTER_LZF:
      return lzfDecompress(bytes, expected, place);
    default:
      throw new NotCovered(`filter ${filter.id}`);
  }
}

/** The data of a chunk whose last 4 bytes are its Fletcher32 checksum, once verified. */
function checkFletcher32(bytes: Uint8Array, place: ErrorPlace): Uint8Array {
  if (bytes.length < 4)
    throw new CorruptFileError("chunk too short for its Fletcher32 checksum", place);
  const data = bytes.subarray(0, bytes.length - 4);
  const stored = dv(bytes).getUint32(bytes.length - 4, true);
  const sum = fletcher32(data);
  // libhdf5 also accepts the checksum with its bytes reversed (files of HDF5 1.6.x).
  const reversed =
    (((sum & 0xff) << 24) | ((sum & 0xff00) << 8) | ((sum >>> 8) & 0xff00) | (sum >>> 24)) >>> 0;
  if (stored !== sum && stored !== reversed)
    throw new CorruptFileError(
      "stored bytes are damaged: the fletcher32 check failed on read",
      place,
    );
  return data;
}

/** LZF (liblzf, h5py's filter 32000) decompression into exactly `expected` bytes. */
export function lzfDecompress(input: Uint8Array, expected: number, place: ErrorPlace): Uint8Array {
  const out = new Uint8Array(expected);
  const bad = (why: string) =>
    new CorruptFileError(`stored bytes are damaged: the LZF stream ${why}`, place);
  let ip = 0;
  let op = 0;
  while (ip < input.length) {
    const ctrl = input[ip++];
    if (ctrl < 32) {
      const n = ctrl + 1;
      if (ip + n > input.length) throw bad("ends inside a literal run");
      if (op + n > expected) throw bad("decodes to more bytes than the chunk holds");
      out.set(input.subarray(ip, ip + n), op);
      ip += n;
      op += n;
    } else {
      let n = ctrl >>> 5;
      if (n === 7) {
        if (ip >= input.length) throw bad("ends inside a back reference");
        n += input[ip++];
      }
      if (ip >= input.length) throw bad("ends inside a back reference");
      const ref = op - ((ctrl & 0x1f) << 8) - input[ip++] - 1;
      n += 2;
      if (ref < 0) throw bad("refers before its start");
      if (op + n > expected) throw bad("decodes to more bytes than the chunk holds");
      for (let i = 0; i < n; i++) out[op + i] = out[ref + i];
      op += n;
    }
  }
  if (op !== expected) throw bad(`decodes to ${op} bytes, expected ${expected}`);
  return out;
}

export function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** An unsigned little-endian integer of 1-8 bytes (addresses beyond 2^53 come back inexact). */
export function uint(v: DataView, at: number, width: number): number {
  if (at + width > v.byteLength) throw new RangeError("field past the end of its structure");
  switch (width) {
    case 1:
      return v.getUint8(at);
    case 2:
      return v.getUint16(at, true);
    case 4:
      return v.getUint32(at, true);
    case 8: {
      const lo = v.getUint32(at, true);
      const hi = v.getUint32(at + 4, true);
      return hi === 0xffffffff && lo === 0xffffffff ? UNDEFINED : hi * 2 ** 32 + lo;
    }
    default:
      throw new NotCovered(`${width}-byte field`);
  }
}

export function checkLookup3(buf: Uint8Array, place: ErrorPlace, what: string): void {
  const stored = dv(buf).getUint32(buf.length - 4, true);
  if (lookup3(buf.subarray(0, buf.length - 4)) !== stored)
    throw new CorruptFileError(`${what}: checksum mismatch`, place);
}

/** The layout a dataset's header messages describe (see {@link DirectFile.layout}). */
export function layoutOf(messages: HeaderMessage[], place: ErrorPlace): DirectLayout {
  const get = (type: number) => {
    const m = messages.filter((x) => x.type === type);
    if (m.length > 1) throw new NotCovered(`message ${type} appears ${m.length} times`);
    const one = m[0];
    if (one && one.flags & 0x02) throw new NotCovered(`message ${type} is shared`);
    return one?.body;
  };
  const space = get(MSG_DATASPACE);
  const type = get(MSG_DATATYPE);
  const layout = get(MSG_LAYOUT);
  if (!space || !type || !layout)
    throw new CorruptFileError("dataset header lacks a dataspace, datatype or layout", place);
  const { dims, maxDims } = parseDataspace(space, place);
  const t = parseDatatype(type);
  const filters = parseFilters(get(MSG_FILTERS), place);
  const storage = parseLayout(layout, dims, t.elementSize, filters.length > 0, place);
  if (storage.kind === "contiguous" && filters.length > 0)
    throw new CorruptFileError("contiguous dataset with a filter pipeline", place);
  return { dims, maxDims, ...t, storage, filters };
}

export function parseDataspace(
  b: Uint8Array,
  place: ErrorPlace,
): { dims: number[]; maxDims: number[] } {
  const v = dv(b);
  const version = b[0];
  const rank = b[1];
  let at: number;
  if (version === 1) at = 8;
  else if (version === 2) {
    if (b[3] !== 1) throw new NotCovered(`dataspace type ${b[3]}`);
    at = 4;
  } else throw new NotCovered(`dataspace version ${version}`);
  if (rank < 1 || rank > 32) throw new NotCovered(`rank ${rank}`);
  const dims: number[] = [];
  const maxDims: number[] = [];
  try {
    for (let i = 0; i < rank; i++) dims.push(uint(v, at + 8 * i, 8));
    // Flag bit 0: maximum dimensions follow (all bits set: unlimited).
    if (b[2] & 1) for (let i = 0; i < rank; i++) maxDims.push(uint(v, at + 8 * (rank + i), 8));
    else maxDims.push(...dims);
  } catch {
    throw new CorruptFileError("dataspace message is truncated", place);
  }
  if (!dims.every((d) => Number.isSafeInteger(d)))
    throw new CorruptFileError("dataspace has impossible dimensions", place);
  if (!maxDims.every((d) => d === UNDEFINED || Number.isSafeInteger(d)))
    throw new CorruptFileError("dataspace has impossible maximum dimensions", place);
  return { dims, maxDims };
}

export function parseDatatype(b: Uint8Array): {
  elementSize: number;
  typeClass: number;
  bigEndian: boolean;
  cset: number;
  signed: boolean;
} {
  if (b.length < 8) throw new NotCovered("short datatype message");
  const typeClass = b[0] & 0x0f;
  const bits = b[1];
  const elementSize = dv(b).getUint32(4, true);
  if (elementSize < 1 || elementSize > 1 << 16) throw new NotCovered(`element size ${elementSize}`);
  switch (typeClass) {
    case 0: // fixed-point; bit 3 set is signed
      return {
        elementSize,
        typeClass,
        bigEndian: (bits & 1) === 1,
        cset: 0,
        signed: (bits & 0x08) !== 0,
      };
    case 1: // floating point; bit 6 set is VAX order
      if (bits & 0x40) throw new NotCovered("VAX float order");
      return { elementSize, typeClass, bigEndian: (bits & 1) === 1, cset: 0, signed: true };
    case 3: // fixed-length string
      return {
        elementSize,
        typeClass,
        bigEndian: false,
        cset: (bits >> 4) & 0x0f,
        signed: false,
      };
    case 8: // enum: only 1-byte (bool) values, whose byte order does not matter
      if (elementSize !== 1) throw new NotCovered("enum wider than a byte");
      return { elementSize, typeClass, bigEndian: false, cset: 0, signed: false };
    default:
      throw new NotCovered(`datatype class ${typeClass}`);
  }
}

function parseFilters(b: Uint8Array | undefined, place: ErrorPlace): DirectLayout["filters"] {
  if (!b) return [];
  const v = dv(b);
  const version = b[0];
  const count = b[1];
  const filters: DirectLayout["filters"] = [];
  let p = version === 1 ? 8 : 2;
  if (version !== 1 && version !== 2) throw new NotCovered(`filter pipeline version ${version}`);
  try {
    for (let f = 0; f < count; f++) {
      const id = v.getUint16(p, true);
      p += 2;
      let nameLength = 0;
      if (version === 1 || id >= 256) {
        nameLength = v.getUint16(p, true);
        p += 2;
      }
      p += 2; // flags
      const values = v.getUint16(p, true);
      p += 2;
      p += version === 1 ? Math.ceil(nameLength / 8) * 8 : nameLength;
      const cd: number[] = [];
      for (let i = 0; i < values; i++) cd.push(v.getUint32(p + 4 * i, true));
      p += 4 * values;
      if (version === 1 && values % 2 === 1) p += 4;
      if (!SUPPORTED_FILTERS.has(id)) throw new NotCovered(`filter ${id}`);
      filters.push({ id, cd });
    }
  } catch (err) {
    if (err instanceof NotCovered) throw err;
    throw new CorruptFileError("filter pipeline message is truncated", place);
  }
  if (filters.length > 32) throw new CorruptFileError("more than 32 filters", place);
  return filters;
}

function parseLayout(
  b: Uint8Array,
  dims: number[],
  elementSize: number,
  filtered: boolean,
  place: ErrorPlace,
): DirectLayout["storage"] {
  const v = dv(b);
  const version = b[0];
  const rank = dims.length;
  let total = elementSize;
  for (const d of dims) total *= d;
  try {
    if (version === 3) {
      const cls = b[1];
      if (cls === 1) {
        const address = uint(v, 2, 8);
        const size = uint(v, 10, 8);
        if (address !== UNDEFINED && size !== total)
          throw new CorruptFileError(
            `contiguous storage of ${size} bytes for ${total} bytes of values`,
            place,
          );
        return { kind: "contiguous", address, size };
      }
      if (cls === 2) {
        const n = b[2];
        if (n !== rank + 1)
          throw new CorruptFileError(`chunk rank ${n - 1} for rank ${rank}`, place);
        const btree = uint(v, 3, 8);
        const chunk: number[] = [];
        for (let i = 0; i < rank; i++) chunk.push(v.getUint32(11 + 4 * i, true));
        if (v.getUint32(11 + 4 * rank, true) !== elementSize)
          throw new CorruptFileError("chunk element size differs from the datatype's", place);
        if (chunk.some((c) => c < 1)) throw new CorruptFileError("chunk of size 0", place);
        return { kind: "chunked", btree, chunk };
      }
      throw new NotCovered(`layout class ${cls}`);
    }
    if (version === 1 || version === 2) {
      const n = b[1];
      const cls = b[2];
      if (cls === 1) {
        const address = uint(v, 8, 8);
        return { kind: "contiguous", address, size: total };
      }
      if (cls === 2) {
        if (n !== rank + 1)
          throw new CorruptFileError(`chunk rank ${n - 1} for rank ${rank}`, place);
        const btree = uint(v, 8, 8);
        const chunk: number[] = [];
        for (let i = 0; i < rank; i++) chunk.push(v.getUint32(16 + 4 * i, true));
        if (chunk.some((c) => c < 1)) throw new CorruptFileError("chunk of size 0", place);
        return { kind: "chunked", btree, chunk };
      }
      throw new NotCovered(`layout class ${cls}`);
    }
    if (version === 4 && b[1] === 1) {
      const address = uint(v, 2, 8);
      const size = uint(v, 10, 8);
      if (address !== UNDEFINED && size !== total)
        throw new CorruptFileError(
          `contiguous storage of ${size} bytes for ${total} bytes of values`,
          place,
        );
      return { kind: "contiguous", address, size };
    }
    if (version === 4 && b[1] === 2) {
      const v4 = parseLayoutV4(b, rank, elementSize, place);
      // Edge chunks stored without filters, their masks not saying so: left to libhdf5.
      if (v4.flags & 1 && filtered) throw new NotCovered("partial edge chunks not filtered");
      return { kind: "chunked", btree: UNDEFINED, chunk: v4.chunk, v4: v4.index };
    }
    throw new NotCovered(`layout message version ${version} class ${b[1]}`);
  } catch (err) {
    if (err instanceof RangeError)
      throw new CorruptFileError("layout message is truncated", place, { cause: err });
    throw err;
  }
}
