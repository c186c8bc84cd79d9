// Chunk indexes of HDF5's data layout message version 4 (files written with libver "v18" or
// later, e.g. PartitionWriter's "v110"), parsed for the fast read path (hdf5-direct.ts):
//
// - Single Chunk: the layout message holds the one chunk's address (and, filtered, its size
//   and filter mask);
// - Implicit: chunks allocated at creation, back to back from one address (no filters);
// - Fixed Array: header "FAHD" and data block "FADB", the block split in pages (each with its
//   own checksum, present or not per a bitmap) once it holds more than 2^pageBits entries;
// - Extensible Array (one unlimited axis): header "EAHD", index block "EAIB" (the first entries
//   and the first data blocks' addresses), super blocks "EASB" (data block addresses and page
//   bitmaps), data blocks "EADB" (entries, paged when large);
// - Version-2 B-tree (several unlimited axes): header "BTHD", internal nodes "BTIN", leaves
//   "BTLF", records of type 10 (chunks without filters) and 11 (with filters).
//
// Facts from the HDF5 File Format Specification version 3. Files are untrusted: every structure's
// signature, version and Jenkins lookup3 checksum is verified, every address and size is checked
// against the file's length and the dataset's geometry before anything is read or allocated,
// and every walk is bounded. A structure that contradicts itself is a CorruptFileError naming the
// structure and its byte offset (the caller's place names the file and column); a valid
// structure this reader does not handle is NotCovered (the caller then reads through h5wasm).
import { CorruptFileError, type ErrorPlace } from "../core/errors.ts";
import { lookup3 } from "./lookup3.ts";

/** Why the fast path does not cover a dataset (the caller then uses h5wasm). */
export class NotCovered extends Error {}

/** HDF5's "undefined address" (all bits set), as `u64` returns it. */
export const UNDEFINED = 2 ** 64 - 1;

/** Chunk grids (or index arrays) larger than this are left to h5wasm. */
export const MAX_INDEX_ENTRIES = 1 << 23;
const MAX_BTREE2_DEPTH = 16;

/** The random-access byte source the index is read from (DirectFile). */
export interface ByteSource {
  readonly length: number;
  read(at: number, n: number, place: ErrorPlace, what: string): Uint8Array;
}

/** The chunk index of a version-4 layout message, as the message describes it. */
export type V4Index =
  | { type: "single"; address: number; filtered: boolean; size: number; mask: number }
  | { type: "implicit"; address: number }
  | { type: "fixed"; address: number; pageBits: number }
  | {
      type: "earray";
      address: number;
      maxBits: number;
      indexElements: number;
      minPointers: number;
      minElements: number;
      pageBits: number;
    }
  | { type: "btree2"; address: number; nodeSize: number; split: number; merge: number };

export interface V4Layout {
  chunk: number[];
  /** Bit 0: partial edge chunks are not filtered; bit 1: a single chunk that is filtered. */
  flags: number;
  index: V4Index;
}

/** Where each chunk of the current grid is (-1: never written), as hdf5-direct.ts keeps it. */
export interface ChunkTable {
  grid: number[];
  address: Float64Array;
  size: Float64Array;
  mask: Uint32Array;
}

export interface ChunkGeometry {
  dims: number[];
  maxDims: number[];
  chunk: number[];
  /** Bytes of one whole chunk before filters. */
  chunkBytes: number;
  filtered: boolean;
}

/** The chunked-storage part of a data layout message of version 4 (class 2). */
export function parseLayoutV4(
  b: Uint8Array,
  rank: number,
  elementSize: number,
  place: ErrorPlace,
): V4Layout {
  const v = dv(b);
  const short = () => new CorruptFileError("layout message (version 4) is truncated", place);
  if (b.length < 6) throw short();
  const flags = b[2];
  if (flags & ~3) throw new CorruptFileError(`layout message flags ${flags}`, place);
  const n = b[3];
  const width = b[4];
  if (n !== rank + 1) throw new CorruptFileError(`chunk rank ${n - 1} for rank ${rank}`, place);
  if (width < 1 || width > 8)
    throw new CorruptFileError(`chunk dimensions of ${width} bytes each`, place);
  let p = 5;
  if (p + n * width + 1 > b.length) throw short();
  const chunk: number[] = [];
  for (let i = 0; i < n; i++) chunk.push(uintN(v, p + i * width, width));
  p += n * width;
  if (chunk.pop() !== elementSize)
    throw new CorruptFileError("chunk element size differs from the datatype's", place);
  if (chunk.some((c) => c < 1 || c > 2 ** 32))
    throw new CorruptFileError("chunk of size 0 or beyond 2^32", place);
  const type = b[p++];
  const need = (k: number) => {
    if (p + k > b.length) throw short();
  };
  let index: V4Index;
  switch (type) {
    case 1: {
      const filtered = (flags & 2) !== 0;
      let size = 0;
      let mask = 0;
      if (filtered) {
        need(12);
        size = u64(v, p);
        mask = v.getUint32(p + 8, true);
        p += 12;
      }
      need(8);
      index = { type: "single", address: u64(v, p), filtered, size, mask };
      break;
    }
    case 2:
      need(8);
      index = { type: "implicit", address: u64(v, p) };
      break;
    case 3:
      need(9);
      index = { type: "fixed", pageBits: b[p], address: u64(v, p + 1) };
      break;
    case 4:
      need(13);
      index = {
        type: "earray",
        maxBits: b[p],
        indexElements: b[p + 1],
        minPointers: b[p + 2],
        minElements: b[p + 3],
        pageBits: b[p + 4],
        address: u64(v, p + 5),
      };
      break;
    case 5:
      need(14);
      index = {
        type: "btree2",
        nodeSize: v.getUint32(p, true),
        split: b[p + 4],
        merge: b[p + 5],
        address: u64(v, p + 6),
      };
      break;
    default:
      throw new CorruptFileError(`chunk index type ${type}`, place);
  }
  if (index.type !== "single" && flags & 2)
    throw new CorruptFileError("single-chunk flag on another chunk index", place);
  return { chunk, flags, index };
}

/**
 * Locates the chunks of cells [from, to) that are not located yet (cells in row-major order of
 * the current grid); an index read in pieces (see readV4Index) fills its table through it.
 */
export type IndexLoader = (from: number, to: number) => void;

/**
 * Fills `table` (all cells -1 on entry) from a version-4 chunk index. An extensible array (the
 * index of a growable dataset, one entry per chunk in blocks spread through the file as it grew)
 * is read in pieces: its header and index block now, each data block when a read first needs
 * its rows, through the loader returned; a random row read then costs one data block (or page)
 * of index, not all of them, which matters over the network. Other indexes are read whole (null).
 */
export function readV4Index(
  src: ByteSource,
  index: V4Index,
  g: ChunkGeometry,
  table: ChunkTable,
  place: ErrorPlace,
): IndexLoader | null {
  const rank = g.dims.length;
  const unlimited = g.maxDims.map((m) => m === UNDEFINED);
  for (let i = 0; i < rank; i++)
    if (!unlimited[i] && g.maxDims[i] < g.dims[i])
      throw new CorruptFileError(`axis ${i}: maximum size below the current size`, place);
  const count = unlimited.filter(Boolean).length;
  const wantUnlimited = index.type === "earray" ? 1 : index.type === "btree2" ? -1 : 0;
  if ((wantUnlimited >= 0 && count !== wantUnlimited) || (wantUnlimited < 0 && count < 1))
    throw new CorruptFileError(
      `a ${index.type} chunk index for a dataset with ${count} unlimited axes`,
      place,
    );
  const put = new Placer(src, g, table, place);
  switch (index.type) {
    case "single":
      readSingle(index, g, put, place);
      return null;
    case "implicit":
      readImplicit(src, index, g, put, place);
      return null;
    case "fixed":
      readFixed(src, index, g, put, place);
      return null;
    case "earray": {
      const ea = openEarray(src, index, g, put, place);
      if (!ea) return null;
      // Entry numbers are cell numbers when the unlimited axis is the first and the other axes
      // are at their maximum: otherwise the whole array is read now.
      if (!put.linearIsCell) {
        ea(0, put.limit);
        return null;
      }
      return ea;
    }
    case "btree2":
      readBtree2(src, index, g, put, place);
      return null;
  }
}

/**
 * Maps an index's linear entry number to a cell of the current chunk grid. Fixed and implicit
 * indexes number the chunks of the maximum grid in row-major order; the extensible array does the
 * same with its unlimited axis moved first (slowest).
 */
class Placer {
  private readonly src: ByteSource;
  private readonly table: ChunkTable;
  private readonly place: ErrorPlace;
  private readonly order: number[];
  private readonly span: number[];
  private readonly coords: number[];
  /** Entries numbered below this can hold chunks of the current grid. */
  readonly limit: number;
  readonly chunkBytes: number;
  /** Entry n is cell n of the current grid (row-major order, every axis spanned as it is now). */
  readonly linearIsCell: boolean;
  constructor(src: ByteSource, g: ChunkGeometry, table: ChunkTable, place: ErrorPlace) {
    this.src = src;
    this.table = table;
    this.place = place;
    const rank = g.dims.length;
    const u = g.maxDims.indexOf(UNDEFINED);
    this.order =
      u > 0 ? [u, ...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== u)] : [];
    if (this.order.length === 0) for (let i = 0; i < rank; i++) this.order.push(i);
    this.span = g.maxDims.map((m, i) =>
      m === UNDEFINED ? table.grid[i] : Math.ceil(m / g.chunk[i]),
    );
    let limit = 1;
    for (const s of this.span) limit *= s;
    this.limit = limit;
    this.coords = new Array<number>(rank).fill(0);
    this.chunkBytes = g.chunkBytes;
    this.linearIsCell =
      this.order.every((axis, k) => axis === k) && this.span.every((s, i) => s === table.grid[i]);
  }

  /** Total entries of the maximum grid (fixed dims only). */
  get maxEntries(): number {
    return this.limit;
  }

  /** Records chunk `linear` (an index entry number). */
  linear(linear: number, address: number, size: number, mask: number, what: string): void {
    if (address === UNDEFINED || linear >= this.limit) return;
    let rest = linear;
    const rank = this.order.length;
    for (let k = rank - 1; k >= 0; k--) {
      const axis = this.order[k];
      const s = this.span[axis];
      this.coords[axis] = k === 0 ? rest : rest % s;
      rest = k === 0 ? 0 : Math.floor(rest / s);
    }
    this.scaled(this.coords, address, size, mask, what);
  }

  /** Records the chunk at grid coordinates `c`; chunks beyond the current extent are ignored. */
  scaled(c: number[], address: number, size: number, mask: number, what: string): void {
    if (address === UNDEFINED) return;
    const grid = this.table.grid;
    let cell = 0;
    for (let i = 0; i < grid.length; i++) {
      if (c[i] >= grid[i]) return; // beyond the current extent (the dataset shrank): never read
      cell = cell * grid[i] + c[i];
    }
    if (!(Number.isSafeInteger(address) && address + size <= this.src.length))
      throw new CorruptFileError(
        `${what}: chunk at byte ${address} of ${size} bytes lies past the end of the file (${this.src.length} bytes)`,
        this.place,
      );
    if (this.table.address[cell] >= 0)
      throw new CorruptFileError(`${what}: chunk ${cell} is indexed twice`, this.place);
    this.table.address[cell] = address;
    this.table.size[cell] = size;
    this.table.mask[cell] = mask;
  }
}

function readSingle(
  index: Extract<V4Index, { type: "single" }>,
  g: ChunkGeometry,
  put: Placer,
  place: ErrorPlace,
): void {
  if (index.filtered !== g.filtered)
    throw new CorruptFileError("single chunk: filter flag disagrees with the pipeline", place);
  if (!g.chunk.every((c, i) => c >= g.dims[i]))
    throw new CorruptFileError("single chunk smaller than its dataset", place);
  const size = index.filtered ? index.size : g.chunkBytes;
  const zero = g.dims.map(() => 0);
  put.scaled(zero, index.address, size, index.mask, "single chunk index");
}

function readImplicit(
  src: ByteSource,
  index: Extract<V4Index, { type: "implicit" }>,
  g: ChunkGeometry,
  put: Placer,
  place: ErrorPlace,
): void {
  if (g.filtered) throw new CorruptFileError("implicit chunk index with filters", place);
  if (index.address === UNDEFINED) return;
  const n = put.maxEntries;
  if (n > MAX_INDEX_ENTRIES) throw new NotCovered(`${n} chunks`);
  if (!(index.address + n * g.chunkBytes <= src.length))
    throw new CorruptFileError(
      `implicit chunk index: ${n} chunks of ${g.chunkBytes} bytes from byte ${index.address} lie past the end of the file`,
      place,
    );
  for (let i = 0; i < n; i++)
    put.linear(i, index.address + i * g.chunkBytes, g.chunkBytes, 0, "implicit chunk index");
}

/** Decodes index entries: chunk address, then (filtered) its stored size and filter mask. */
class Entries {
  readonly size: number;
  private readonly sizeBytes: number;
  private readonly filtered: boolean;
  private readonly chunkBytes: number;
  constructor(
    entrySize: number,
    filtered: boolean,
    chunkBytes: number,
    what: string,
    place: ErrorPlace,
  ) {
    this.filtered = filtered;
    this.chunkBytes = chunkBytes;
    this.size = entrySize;
    this.sizeBytes = entrySize - 12;
    const ok = filtered ? this.sizeBytes >= 1 && this.sizeBytes <= 8 : entrySize === 8;
    if (!ok) throw new CorruptFileError(`${what}: entries of ${entrySize} bytes`, place);
  }
  /** Puts the `n` entries at `at` in `buf`, numbered from `first`. */
  put(buf: Uint8Array, at: number, n: number, first: number, to: Placer, what: string): void {
    const v = dv(buf);
    for (let i = 0; i < n; i++) {
      const p = at + i * this.size;
      const address = u64(v, p);
      if (this.filtered)
        to.linear(
          first + i,
          address,
          uintN(v, p + 8, this.sizeBytes),
          v.getUint32(p + 8 + this.sizeBytes, true),
          what,
        );
      else to.linear(first + i, address, this.chunkBytes, 0, what);
    }
  }
}

function readFixed(
  src: ByteSource,
  index: Extract<V4Index, { type: "fixed" }>,
  g: ChunkGeometry,
  put: Placer,
  place: ErrorPlace,
): void {
  if (index.address === UNDEFINED) return;
  const at = index.address;
  let what = `fixed array header at byte ${at}`;
  const hdr = structure(src, at, 28, "FAHD", place, what);
  const v = dv(hdr);
  client(hdr[5], g.filtered, what, place);
  const entries = new Entries(hdr[6], g.filtered, g.chunkBytes, what, place);
  const pageBits = hdr[7];
  if (pageBits !== index.pageBits || pageBits > 31)
    throw new CorruptFileError(
      `${what}: page bits ${pageBits} (layout says ${index.pageBits})`,
      place,
    );
  const n = u64(v, 8);
  if (n !== put.maxEntries)
    throw new CorruptFileError(`${what}: ${n} entries for ${put.maxEntries} chunks`, place);
  if (n > MAX_INDEX_ENTRIES) throw new NotCovered(`${n} chunks`);
  const block = u64(v, 16);
  if (block === UNDEFINED) return;
  what = `fixed array data block at byte ${block}`;
  const pageN = 2 ** pageBits;
  const paged = n > pageN;
  if (!paged) {
    const data = structure(src, block, 14 + n * entries.size + 4, "FADB", place, what);
    owner(data, hdr[5], at, what, place);
    entries.put(data, 14, n, 0, put, what);
    return;
  }
  const pages = Math.ceil(n / pageN);
  const bitmapBytes = Math.ceil(pages / 8);
  const prefix = structure(src, block, 14 + bitmapBytes + 4, "FADB", place, what);
  owner(prefix, hdr[5], at, what, place);
  const pageBytes = pageN * entries.size + 4;
  for (let p = 0; p < pages; p++) {
    if (!bit(prefix, 14, p)) continue; // page never written: no chunks in it
    const count = Math.min(pageN, n - p * pageN);
    const pageAt = block + prefix.length + p * pageBytes;
    const where = `fixed array data block page ${p} at byte ${pageAt}`;
    const page = checked(src, pageAt, count * entries.size + 4, place, where);
    entries.put(page, 0, count, p * pageN, put, where);
  }
}

/**
 * Opens an extensible array: checks its header, reads its index block (and places the entries it
 * holds), and returns the loader of the other entries (null: no index block, no chunks). Data
 * blocks and super blocks are read when entries in them are first asked for, each once; the
 * checks that decide whether the array is covered at all (NotCovered) are made here, so a read
 * never falls into a layout the fast path leaves to h5wasm.
 */
function openEarray(
  src: ByteSource,
  index: Extract<V4Index, { type: "earray" }>,
  g: ChunkGeometry,
  put: Placer,
  place: ErrorPlace,
): IndexLoader | null {
  if (index.address === UNDEFINED) return null;
  const at = index.address;
  const what = `extensible array header at byte ${at}`;
  const hdr = structure(src, at, 72, "EAHD", place, what);
  const v = dv(hdr);
  const cls = hdr[5];
  client(cls, g.filtered, what, place);
  const entries = new Entries(hdr[6], g.filtered, g.chunkBytes, what, place);
  const [maxBits, indexElements, minElements, minPointers, pageBits] = [
    hdr[7],
    hdr[8],
    hdr[9],
    hdr[10],
    hdr[11],
  ];
  if (
    maxBits !== index.maxBits ||
    indexElements !== index.indexElements ||
    minElements !== index.minElements ||
    minPointers !== index.minPointers ||
    pageBits !== index.pageBits
  )
    throw new CorruptFileError(`${what}: parameters disagree with the layout message`, place);
  const pow2 = (x: number) => x > 0 && (x & (x - 1)) === 0;
  if (
    maxBits < 1 ||
    maxBits > 64 ||
    !pow2(minElements) ||
    !pow2(minPointers) ||
    pageBits > maxBits ||
    Math.log2(minElements) > maxBits
  )
    throw new CorruptFileError(`${what}: impossible parameters`, place);
  if (put.limit > MAX_INDEX_ENTRIES) throw new NotCovered(`${put.limit} chunks`);
  const iblockAt = u64(v, 60);
  if (iblockAt === UNDEFINED) return null;
  // Super block u holds 2^floor(u/2) data blocks of 2^floor((u+1)/2) * minElements entries.
  const nsblks = 1 + maxBits - Math.log2(minElements);
  const info: Array<{ ndblks: number; nelmts: number; start: number; firstBlock: number }> = [];
  let start = 0;
  let blocks = 0;
  for (let u = 0; u < nsblks; u++) {
    const ndblks = 2 ** Math.floor(u / 2);
    const nelmts = 2 ** Math.floor((u + 1) / 2) * minElements;
    info.push({ ndblks, nelmts, start, firstBlock: blocks });
    start += ndblks * nelmts;
    blocks += ndblks;
  }
  const ibSblks = 2 * Math.log2(minPointers);
  const ndblkAddrs = 2 * (minPointers - 1);
  const nsblkAddrs = nsblks - ibSblks;
  if (nsblkAddrs < 0) throw new CorruptFileError(`${what}: impossible parameters`, place);
  const offBytes = Math.ceil(maxBits / 8);
  const pageN = 2 ** pageBits;
  const e = entries.size;
  const ibWhat = `extensible array index block at byte ${iblockAt}`;
  const ib = structure(
    src,
    iblockAt,
    14 + indexElements * e + ndblkAddrs * 8 + nsblkAddrs * 8 + 4,
    "EAIB",
    place,
    ibWhat,
  );
  owner(ib, cls, at, ibWhat, place);
  const ibv = dv(ib);
  entries.put(ib, 14, Math.min(indexElements, put.limit), 0, put, ibWhat);

  // What the fast path does not cover is known from the index block: refused now, not mid-read.
  for (let u = 0; u < nsblks; u++) {
    const { ndblks, nelmts } = info[u];
    if (indexElements + info[u].start >= put.limit) break;
    if (u < ibSblks) {
      if (nelmts <= pageN) continue;
      for (let d = 0; d < ndblks; d++)
        if (u64(ibv, 14 + indexElements * e + (info[u].firstBlock + d) * 8) !== UNDEFINED)
          throw new NotCovered("paged data block in the index block");
    } else if (ndblks > MAX_INDEX_ENTRIES) throw new NotCovered(`${ndblks} data blocks`);
  }

  /** Super blocks read so far (null: never written). */
  const superBlocks = new Map<number, Uint8Array | null>();
  const superBlock = (u: number): Uint8Array | null => {
    const known = superBlocks.get(u);
    if (known !== undefined) return known;
    const s = u - ibSblks;
    const addr = u64(ibv, 14 + indexElements * e + ndblkAddrs * 8 + s * 8);
    let sb: Uint8Array | null = null;
    if (addr !== UNDEFINED) {
      const { ndblks, nelmts } = info[u];
      const sWhat = `extensible array super block at byte ${addr}`;
      const bitmapBytes = nelmts > pageN ? ndblks * Math.ceil(nelmts / pageN / 8) : 0;
      sb = structure(src, addr, 14 + offBytes + bitmapBytes + ndblks * 8 + 4, "EASB", place, sWhat);
      owner(sb, cls, at, sWhat, place);
    }
    superBlocks.set(u, sb);
    return sb;
  };
  /** Data blocks (or pages of one, "u:d:p") whose entries are placed. */
  const done = new Set<string>();
  /** Data blocks whose prefix (signature, owner, checksum) was checked, when paged. */
  const prefixes = new Set<string>();

  /** Places the entries of data block d of super block u (or of its page holding entry n). */
  const load = (u: number, d: number, n: number): number => {
    const { ndblks, nelmts } = info[u];
    const first = indexElements + info[u].start + d * nelmts;
    const paged = u >= ibSblks && nelmts > pageN;
    const p = paged ? Math.floor((n - first) / pageN) : 0;
    const key = paged ? `${u}:${d}:${p}` : `${u}:${d}`;
    const next = paged ? first + (p + 1) * pageN : first + nelmts;
    if (done.has(key)) return next;
    done.add(key);
    let addr: number;
    let sb: Uint8Array | null = null;
    if (u < ibSblks) addr = u64(ibv, 14 + indexElements * e + (info[u].firstBlock + d) * 8);
    else {
      sb = superBlock(u);
      if (sb === null) return next;
      const bitmapBytes = paged ? ndblks * Math.ceil(nelmts / pageN / 8) : 0;
      addr = u64(dv(sb), 14 + offBytes + bitmapBytes + d * 8);
    }
    if (addr === UNDEFINED) return next;
    const dWhat = `extensible array data block at byte ${addr}`;
    // Its "block offset" field is not checked: libhdf5 fills it inconsistently for the data
    // blocks of the index block, and the checksum already covers it.
    if (!paged) {
      const block = structure(src, addr, 14 + offBytes + nelmts * e + 4, "EADB", place, dWhat);
      owner(block, cls, at, dWhat, place);
      entries.put(block, 14 + offBytes, nelmts, first, put, dWhat);
      return next;
    }
    const prefixBytes = 14 + offBytes + 4;
    if (!prefixes.has(`${u}:${d}`)) {
      const prefix = structure(src, addr, prefixBytes, "EADB", place, dWhat);
      owner(prefix, cls, at, dWhat, place);
      prefixes.add(`${u}:${d}`);
    }
    // The super block's bitmap says which pages were ever written (a page never written: no chunks).
    if (!bit(sb as Uint8Array, 14 + offBytes, d * (nelmts / pageN) + p)) return next;
    const pageAt = addr + prefixBytes + p * (pageN * e + 4);
    const where = `extensible array data block page ${p} at byte ${pageAt}`;
    const page = checked(src, pageAt, pageN * e + 4, place, where);
    entries.put(page, 0, pageN, first + p * pageN, put, where);
    return next;
  };

  return (from: number, to: number) => {
    // Entries past what the array can hold are left unlocated (chunks never written).
    const end = Math.min(to, put.limit, indexElements + start);
    let n = Math.max(from, indexElements);
    let u = 0;
    while (n < end) {
      const rel = n - indexElements;
      while (u + 1 < nsblks && info[u + 1].start <= rel) u++;
      const d = Math.floor((rel - info[u].start) / info[u].nelmts);
      n = load(u, d, n);
    }
  };
}

function readBtree2(
  src: ByteSource,
  index: Extract<V4Index, { type: "btree2" }>,
  g: ChunkGeometry,
  put: Placer,
  place: ErrorPlace,
): void {
  if (index.address === UNDEFINED) return;
  const at = index.address;
  const what = `version-2 B-tree header at byte ${at}`;
  const hdr = structure(src, at, 38, "BTHD", place, what);
  const v = dv(hdr);
  const type = hdr[5];
  const rank = g.dims.length;
  if (type !== (g.filtered ? 11 : 10))
    throw new CorruptFileError(
      `${what}: record type ${type} for ${g.filtered ? "filtered" : "unfiltered"} chunks`,
      place,
    );
  const nodeSize = v.getUint32(6, true);
  const recSize = v.getUint16(10, true);
  const depth = v.getUint16(12, true);
  if (nodeSize !== index.nodeSize)
    throw new CorruptFileError(`${what}: node size disagrees with the layout message`, place);
  const sizeBytes = g.filtered ? recSize - 8 - 4 - 8 * rank : 0;
  if (g.filtered ? sizeBytes < 1 || sizeBytes > 8 : recSize !== 8 + 8 * rank)
    throw new CorruptFileError(`${what}: records of ${recSize} bytes`, place);
  if (nodeSize < 64 || nodeSize > 1 << 20 || depth > MAX_BTREE2_DEPTH)
    throw new CorruptFileError(`${what}: node size ${nodeSize}, depth ${depth}`, place);
  const root = u64(v, 16);
  const rootRecords = v.getUint16(24, true);
  const total = u64(v, 26);
  if (root === UNDEFINED) return;
  if (total > MAX_INDEX_ENTRIES) throw new NotCovered(`${total} chunks`);
  // Per depth: most records in a node, most records below it, bytes to count them.
  const encSize = (n: number) => Math.floor(Math.log2(Math.max(n, 1)) / 8) + 1;
  const maxRec = [Math.floor((nodeSize - 10) / recSize)];
  const cumMax = [maxRec[0]];
  const cumSize = [0];
  const nrecSize = encSize(maxRec[0]);
  const ptrSize = [0];
  for (let d = 1; d <= depth; d++) {
    ptrSize.push(8 + nrecSize + (d > 1 ? cumSize[d - 1] : 0));
    const m = Math.floor((nodeSize - (10 + ptrSize[d])) / (recSize + ptrSize[d]));
    if (m < 1) throw new CorruptFileError(`${what}: nodes too small for depth ${depth}`, place);
    maxRec.push(m);
    cumMax.push((m + 1) * cumMax[d - 1] + m);
    cumSize.push(encSize(cumMax[d]));
  }
  if (rootRecords > maxRec[depth])
    throw new CorruptFileError(`${what}: root node of ${rootRecords} records`, place);
  const coords = new Array<number>(rank).fill(0);
  let seen = 0;
  const visited = new Set<number>();
  const record = (buf: Uint8Array, p: number, where: string) => {
    const rv = dv(buf);
    const address = u64(rv, p);
    let size = g.chunkBytes;
    let mask = 0;
    let q = p + 8;
    if (g.filtered) {
      size = uintN(rv, q, sizeBytes);
      mask = rv.getUint32(q + sizeBytes, true);
      q += sizeBytes + 4;
    }
    for (let i = 0; i < rank; i++) coords[i] = u64(rv, q + 8 * i);
    if (address === UNDEFINED)
      throw new CorruptFileError(`${where}: record without a chunk address`, place);
    put.scaled(coords, address, size, mask, where);
  };
  const node = (addr: number, d: number, nrec: number) => {
    if (visited.has(addr))
      throw new CorruptFileError(`version-2 B-tree node at byte ${addr} is reached twice`, place);
    visited.add(addr);
    seen += nrec;
    if (seen > total)
      throw new CorruptFileError(`${what}: more records than the ${total} it counts`, place);
    if (d === 0) {
      const where = `version-2 B-tree leaf at byte ${addr}`;
      const leaf = structure(src, addr, 6 + nrec * recSize + 4, "BTLF", place, where);
      if (leaf[5] !== type) throw new CorruptFileError(`${where}: record type ${leaf[5]}`, place);
      for (let r = 0; r < nrec; r++) record(leaf, 6 + r * recSize, where);
      return;
    }
    const where = `version-2 B-tree internal node at byte ${addr}`;
    const ptr = ptrSize[d];
    const n = structure(src, addr, 6 + nrec * recSize + (nrec + 1) * ptr + 4, "BTIN", place, where);
    if (n[5] !== type) throw new CorruptFileError(`${where}: record type ${n[5]}`, place);
    const nv = dv(n);
    for (let r = 0; r < nrec; r++) record(n, 6 + r * recSize, where);
    for (let c = 0; c <= nrec; c++) {
      const p = 6 + nrec * recSize + c * ptr;
      const child = u64(nv, p);
      const childRecords = uintN(nv, p + 8, nrecSize);
      if (child === UNDEFINED || childRecords > maxRec[d - 1])
        throw new CorruptFileError(`${where}: child ${c} is impossible`, place);
      node(child, d - 1, childRecords);
    }
  };
  node(root, depth, rootRecords);
  if (seen !== total)
    throw new CorruptFileError(`${what}: ${seen} records found, ${total} counted`, place);
}

/** `n` bytes at `at` that start with `signature`, version 0, and end with their lookup3 checksum. */
function structure(
  src: ByteSource,
  at: number,
  n: number,
  signature: string,
  place: ErrorPlace,
  what: string,
): Uint8Array {
  if (at === UNDEFINED || !(n <= src.length))
    throw new CorruptFileError(`${what}: ${n} bytes cannot lie in the file`, place);
  const buf = src.read(at, n, place, what);
  for (let i = 0; i < 4; i++)
    if (buf[i] !== signature.charCodeAt(i))
      throw new CorruptFileError(`${what}: no "${signature}" signature`, place);
  if (buf[4] !== 0) throw new CorruptFileError(`${what}: version ${buf[4]}`, place);
  verify(buf, place, what);
  return buf;
}

/** `n` bytes at `at` that end with their lookup3 checksum (a page: no signature). */
function checked(
  src: ByteSource,
  at: number,
  n: number,
  place: ErrorPlace,
  what: string,
): Uint8Array {
  if (!(n <= src.length))
    throw new CorruptFileError(`${what}: ${n} bytes cannot lie in the file`, place);
  const buf = src.read(at, n, place, what);
  verify(buf, place, what);
  return buf;
}

function verify(buf: Uint8Array, place: ErrorPlace, what: string): void {
  const stored = dv(buf).getUint32(buf.length - 4, true);
  if (lookup3(buf.subarray(0, buf.length - 4)) !== stored)
    throw new CorruptFileError(`${what}: checksum mismatch (damaged metadata)`, place);
}

/** The class of an array's entries: 0 chunks without filters, 1 with. */
function client(cls: number, filtered: boolean, what: string, place: ErrorPlace): void {
  if (cls !== (filtered ? 1 : 0))
    throw new CorruptFileError(
      `${what}: entry class ${cls} for ${filtered ? "filtered" : "unfiltered"} chunks`,
      place,
    );
}

/** A block's class and the address of the header it belongs to. */
function owner(
  buf: Uint8Array,
  cls: number,
  header: number,
  what: string,
  place: ErrorPlace,
): void {
  if (buf[5] !== cls || u64(dv(buf), 6) !== header)
    throw new CorruptFileError(`${what}: does not belong to the header at byte ${header}`, place);
}

/** Bit `i` of the bitmap at `at` (most significant bit first, as libhdf5 numbers them). */
function bit(buf: Uint8Array, at: number, i: number): boolean {
  return (buf[at + (i >>> 3)] & (0x80 >>> (i & 7))) !== 0;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** An 8-byte little-endian address or length; all bits set is UNDEFINED. */
function u64(v: DataView, at: number): number {
  const lo = v.getUint32(at, true);
  const hi = v.getUint32(at + 4, true);
  return hi === 0xffffffff && lo === 0xffffffff ? UNDEFINED : hi * 2 ** 32 + lo;
}

/** A little-endian unsigned integer of 1-8 bytes (beyond 2^53 inexact, then out of any bound). */
function uintN(v: DataView, at: number, width: number): number {
  let x = 0;
  for (let i = width - 1; i >= 0; i--) x = x * 256 + v.getUint8(at + i);
  return x;
}
