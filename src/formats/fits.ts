// FITS reader (FITS Standard 4.0). Opening a file reads its headers only; image data, table
// rows and heap ranges are read when asked for, with positioned reads on a file handle, so a
// multi-GB file is never loaded whole. Every size a header declares is checked against the
// file size before anything is allocated.
//
// gzip (.fits.gz, detected by its magic bytes): gzip has no random access. `openFits` still
// works on it, but listing the HDUs decompresses the whole file once, and each read that goes
// back in the file decompresses again from the start. `streamFits` is the single-pass API for
// gzip: it yields the HDUs in order, each usable until the next one is asked for; table rows
// still come in batches with bounded memory (except tables with variable-length columns,
// whose data and heap are held in memory, within `maxBytes`).
//
// Not supported: random groups (the HDU is listed, its data cannot be read), tile-compressed
// images (read as the binary table they are stored in), complex-valued header cards are
// parsed but complex table columns are returned as float pairs.

import { checkAllocation, sizeProduct } from "../core/budget.ts";
import type { ColumnSpec, Dtype, NumericArray } from "../core/columns.ts";
import { FormatError, MemoryBudgetError, UsageError } from "../core/errors.ts";
import { type ByteSource, openSource } from "./byte-source.ts";
import { BLOCK, FitsHeader, HeaderParser, type HeaderPlace } from "./fits-header.ts";
import {
  applyLinear,
  decodedDtype,
  flipSignBit,
  nativeView,
  nullMask,
  type StoredType,
  scalingKind,
} from "./fits-numbers.ts";
import {
  decodedRowBytes,
  decodeRows,
  type FitsColumn,
  type FitsTableBatch,
  type HeapReader,
  type TableLayout,
  tableLayout,
} from "./fits-table.ts";

export type { FitsColumn, FitsTableBatch } from "./fits-table.ts";

export interface FitsOpenOptions {
  /** Most bytes a single read may bring into memory (an image, a batch, a heap). Default 2 GiB. */
  maxBytes?: number;
  /** Most cards a header may have before it is refused. Default 100,000 (8 MB of header). */
  maxCards?: number;
}

export type HduKind = "primary" | "image" | "bintable" | "table" | "random-groups" | "other";

/** A decoded image: native byte order, scaled, numpy axis order. */
export interface FitsImage {
  data: NumericArray;
  /** numpy order: [NAXISn, ..., NAXIS1]. */
  shape: number[];
  dtype: Dtype;
  bitpix: number;
  /**
   * Integer images with BLANK: 1 where the stored value equals BLANK. Integer values are kept
   * (astropy turns such images into floats with NaN); scaled float images have NaN there too.
   */
  blank?: Uint8Array;
}

const BITPIX_TYPE: Record<number, StoredType> = {
  8: "uint8",
  16: "int16",
  32: "int32",
  64: "int64",
  [-32]: "float32",
  [-64]: "float64",
};

const DEFAULT_MAX_BYTES = 2 ** 31;
/** Heap ranges closer than this are read in one call. */
const HEAP_GAP = 64 * 1024;
/** Default table batch: about this many bytes of raw rows. */
const BATCH_BYTES = 8 * 1024 * 1024;

function place(source: ByteSource, hdu: number, detail: string) {
  return { file: source.path, detail: `HDU ${hdu}, ${detail}` };
}

/** Reads exactly `length` bytes at `offset` into a fresh aligned buffer, or throws FormatError. */
async function readExact(
  source: ByteSource,
  offset: number,
  length: number,
  hdu: number,
  what: string,
): Promise<Uint8Array> {
  const bytes = new Uint8Array(new ArrayBuffer(length));
  const got = await source.readInto(bytes, offset);
  if (got < length) {
    throw new FormatError(
      `file is truncated: ${what} needs bytes [${offset}, ${offset + length}) but the file ends at byte ${offset + got}`,
      place(source, hdu, `byte offset ${offset + got}`),
    );
  }
  return bytes;
}

function checkMemory(
  bytes: number | bigint,
  maxBytes: number,
  source: ByteSource,
  hdu: number,
  what: string,
) {
  checkAllocation(
    bytes,
    what,
    { file: source.path, detail: `HDU ${hdu}` },
    maxBytes,
    MemoryBudgetError,
    "raise maxBytes or read it in parts (table rows(), image planes)",
  );
}

export class FitsHdu {
  readonly index: number;
  readonly kind: HduKind;
  /** EXTNAME, when present. */
  readonly name: string | undefined;
  readonly header: FitsHeader;
  readonly headerOffset: number;
  readonly dataOffset: number;
  /** Declared data bytes, without the padding to 2880. */
  readonly dataBytes: number;
  readonly bitpix: number;
  /** NAXIS1..NAXISn (FITS order). */
  readonly axes: number[];
  private readonly source: ByteSource;
  private readonly options: Required<FitsOpenOptions>;
  private tableCache: FitsTable | undefined;

  /** @internal */
  constructor(
    source: ByteSource,
    options: Required<FitsOpenOptions>,
    fields: {
      index: number;
      kind: HduKind;
      header: FitsHeader;
      headerOffset: number;
      dataOffset: number;
      dataBytes: number;
      bitpix: number;
      axes: number[];
    },
  ) {
    this.source = source;
    this.options = options;
    this.index = fields.index;
    this.kind = fields.kind;
    this.header = fields.header;
    this.headerOffset = fields.headerOffset;
    this.dataOffset = fields.dataOffset;
    this.dataBytes = fields.dataBytes;
    this.bitpix = fields.bitpix;
    this.axes = fields.axes;
    this.name = fields.header.optionalString("EXTNAME")?.trim();
  }

  /** Offset of the next HDU: data padded to a multiple of 2880 bytes. */
  get end(): number {
    return this.dataOffset + Math.ceil(this.dataBytes / BLOCK) * BLOCK;
  }

  /** Image shape in numpy order [NAXISn, ..., NAXIS1]. */
  get shape(): number[] {
    return [...this.axes].reverse();
  }

  /**
   * Reads the image (primary or IMAGE extension), or `planes` [start, end) of its slowest axis
   * (the first of the numpy shape) — e.g. some rows of a 2-D image — reading only those bytes.
   */
  async readImage(options: { planes?: [number, number] } = {}): Promise<FitsImage> {
    if (this.kind !== "primary" && this.kind !== "image") {
      throw new UsageError(`HDU ${this.index} is a ${this.kind}, not an image`, {
        file: this.source.path,
      });
    }
    const type = BITPIX_TYPE[this.bitpix];
    const width = Math.abs(this.bitpix) / 8;
    const shape = this.shape;
    if (shape.length === 0)
      return { data: new Float32Array(0), shape: [], dtype: "float32", bitpix: this.bitpix };
    const planeValues = shape.slice(1).reduce((a, b) => a * b, 1);
    const [first, last] = options.planes ?? [0, shape[0]];
    if (
      !(
        Number.isInteger(first) &&
        Number.isInteger(last) &&
        first >= 0 &&
        first <= last &&
        last <= shape[0]
      )
    ) {
      throw new UsageError(`planes [${first}, ${last}) outside [0, ${shape[0]})`, {
        file: this.source.path,
        detail: `HDU ${this.index}`,
      });
    }
    // Scaled values (BSCALE, BZERO) are decoded into a new array of up to 8 bytes a value.
    const scaled =
      this.header.optionalNumber("BSCALE") !== undefined ||
      this.header.optionalNumber("BZERO") !== undefined;
    checkMemory(
      sizeProduct(last - first, planeValues, width + (scaled ? 8 : 0)),
      this.options.maxBytes,
      this.source,
      this.index,
      `image [${[last - first, ...shape.slice(1)].join(", ")}] (BITPIX ${this.bitpix})`,
    );
    const count = (last - first) * planeValues;
    const bytes = await readExact(
      this.source,
      this.dataOffset + first * planeValues * width,
      count * width,
      this.index,
      "image data",
    );
    const outShape = [last - first, ...shape.slice(1)];
    return decodeImage(bytes, type, this.header, this.bitpix, outShape);
  }

  /** The binary (or ASCII) table of this HDU: columns now, rows when asked for. */
  table(): FitsTable {
    if (this.kind !== "bintable" && this.kind !== "table") {
      throw new UsageError(`HDU ${this.index} is a ${this.kind}, not a table`, {
        file: this.source.path,
      });
    }
    this.tableCache ??= new FitsTable(
      this,
      this.source,
      this.options,
      tableLayout(this.header, this.kind),
    );
    return this.tableCache;
  }
}

function decodeImage(
  bytes: Uint8Array,
  type: StoredType,
  header: FitsHeader,
  bitpix: number,
  shape: number[],
): FitsImage {
  const scale = header.optionalNumber("BSCALE") ?? 1;
  const zero = header.optionalNumber("BZERO") ?? 0;
  const blankValue = bitpix > 0 ? header.get("BLANK") : undefined;
  const blank =
    typeof blankValue === "bigint" ||
    (typeof blankValue === "number" && Number.isInteger(blankValue))
      ? blankValue
      : undefined;
  const scaling = { scale: Number(scale), zero };
  const kind = scalingKind(type, scaling);
  const stored = nativeView(bytes, type);
  const mask = blank === undefined ? undefined : nullMask(stored, blank);
  // astropy: scaled 8/16-bit integers (and float32) become float32, 32/64-bit ones float64.
  const linearFloat = bitpix === 8 || bitpix === 16 || bitpix === -32 ? "float32" : "float64";
  const dtype = decodedDtype(type, kind, linearFloat);
  let data: NumericArray = stored;
  if (kind === "offset") data = flipSignBit(stored);
  else if (kind === "linear") {
    const floats = applyLinear(stored, scaling, linearFloat);
    if (mask) for (let i = 0; i < mask.length; i++) if (mask[i]) floats[i] = Number.NaN;
    data = floats;
  }
  const image: FitsImage = { data, shape, dtype, bitpix };
  if (mask) image.blank = mask;
  return image;
}

export class FitsTable {
  readonly hdu: FitsHdu;
  readonly layout: TableLayout;
  private readonly source: ByteSource;
  private readonly options: Required<FitsOpenOptions>;
  /** Whole data (rows + heap) when the source is forward-only and the table has a heap. */
  private inMemory: Uint8Array | undefined;

  /** @internal */
  constructor(
    hdu: FitsHdu,
    source: ByteSource,
    options: Required<FitsOpenOptions>,
    layout: TableLayout,
  ) {
    this.hdu = hdu;
    this.source = source;
    this.options = options;
    this.layout = layout;
  }

  get rowCount(): number {
    return this.layout.rows;
  }

  get columns(): FitsColumn[] {
    return this.layout.columns;
  }

  /** Specs of the fixed-size columns (what `batch.columns` holds), for the storage writer. */
  get specs(): ColumnSpec[] {
    return this.layout.columns.filter((c) => !c.variable).map((c) => c.spec);
  }

  column(name: string): FitsColumn {
    const col = this.layout.columns.find((c) => c.name === name);
    if (!col) {
      throw new UsageError(`no column "${name}"`, {
        file: this.source.path,
        column: name,
        detail: `HDU ${this.hdu.index}`,
      });
    }
    return col;
  }

  private selected(names: string[] | undefined): FitsColumn[] {
    return names ? names.map((n) => this.column(n)) : this.layout.columns;
  }

  private get hasHeap(): boolean {
    return this.layout.columns.some((c) => c.variable);
  }

  private async rawRows(start: number, rows: number): Promise<Uint8Array> {
    const { rowBytes } = this.layout;
    if (this.inMemory) return this.inMemory.subarray(start * rowBytes, (start + rows) * rowBytes);
    checkMemory(
      rows * rowBytes,
      this.options.maxBytes,
      this.source,
      this.hdu.index,
      `${rows} table rows`,
    );
    return readExact(
      this.source,
      this.hdu.dataOffset + start * rowBytes,
      rows * rowBytes,
      this.hdu.index,
      `rows ${start}..${start + rows - 1}`,
    );
  }

  private readonly readHeap: HeapReader = async (ranges) => {
    const heapStart = this.layout.heapOffset;
    if (this.inMemory) {
      const mem = this.inMemory;
      return ranges.map((r) => mem.subarray(heapStart + r.offset, heapStart + r.offset + r.length));
    }
    let total = 0;
    for (const r of ranges) total += r.length;
    checkMemory(
      total,
      this.options.maxBytes,
      this.source,
      this.hdu.index,
      "variable-length arrays of a batch",
    );
    const order = ranges.map((_, i) => i).sort((a, b) => ranges[a].offset - ranges[b].offset);
    const out = new Array<Uint8Array>(ranges.length);
    let k = 0;
    while (k < order.length) {
      // Coalesce ranges whose gaps are small into one read.
      const groupStart = ranges[order[k]].offset;
      let groupEnd = groupStart + ranges[order[k]].length;
      let j = k + 1;
      while (j < order.length) {
        const r = ranges[order[j]];
        if (r.offset > groupEnd + HEAP_GAP) break;
        groupEnd = Math.max(groupEnd, r.offset + r.length);
        j++;
      }
      const bytes =
        groupEnd > groupStart
          ? await readExact(
              this.source,
              this.hdu.dataOffset + heapStart + groupStart,
              groupEnd - groupStart,
              this.hdu.index,
              "heap",
            )
          : new Uint8Array(0);
      for (let m = k; m < j; m++) {
        const r = ranges[order[m]];
        out[order[m]] = bytes.subarray(r.offset - groupStart, r.offset - groupStart + r.length);
      }
      k = j;
    }
    return out;
  };

  private async ensureInMemory(): Promise<void> {
    if (this.inMemory || !this.source.sequential || !this.hasHeap) return;
    const bytes = this.hdu.dataBytes;
    checkMemory(
      bytes,
      this.options.maxBytes,
      this.source,
      this.hdu.index,
      "a gzip table with variable-length columns",
    );
    this.inMemory = await readExact(
      this.source,
      this.hdu.dataOffset,
      bytes,
      this.hdu.index,
      "table data",
    );
  }

  /** Rows [start, end) of the chosen columns (all by default). */
  async read(
    start = 0,
    end = this.layout.rows,
    options: { columns?: string[] } = {},
  ): Promise<FitsTableBatch> {
    if (
      !(
        Number.isInteger(start) &&
        Number.isInteger(end) &&
        start >= 0 &&
        start <= end &&
        end <= this.layout.rows
      )
    ) {
      throw new UsageError(`rows [${start}, ${end}) outside [0, ${this.layout.rows})`, {
        file: this.source.path,
        detail: `HDU ${this.hdu.index}`,
      });
    }
    const columns = this.selected(options.columns);
    checkMemory(
      sizeProduct(end - start, this.layout.rowBytes + decodedRowBytes(columns)),
      this.options.maxBytes,
      this.source,
      this.hdu.index,
      `${end - start} table rows of columns ${columns.map((c) => c.name).join(", ")} (decoded)`,
    );
    await this.ensureInMemory();
    const raw = await this.rawRows(start, end - start);
    return decodeRows(raw, end - start, start, this.layout, columns, this.readHeap, {
      file: this.source.path,
      hdu: this.hdu.index,
    });
  }

  /** Batches of `batchSize` rows (default: about 8 MB of raw rows), in order. */
  async *rows(
    batchSize?: number,
    options: { columns?: string[]; start?: number; end?: number } = {},
  ): AsyncGenerator<FitsTableBatch> {
    const rowBytes = this.layout.rowBytes + decodedRowBytes(this.selected(options.columns));
    const size = batchSize ?? Math.max(1, Math.floor(BATCH_BYTES / Math.max(1, rowBytes)));
    if (!(Number.isInteger(size) && size > 0)) {
      throw new UsageError(`batch size must be a positive integer, got ${batchSize}`);
    }
    const start = options.start ?? 0;
    const end = options.end ?? this.layout.rows;
    for (let at = start; at < end; at += size) {
      yield await this.read(at, Math.min(end, at + size), options);
    }
  }
}

/** Reads and checks the header at `offset`; null at a clean end of file. */
async function readHduAt(
  source: ByteSource,
  offset: number,
  index: number,
  options: Required<FitsOpenOptions>,
): Promise<FitsHdu | null> {
  const where: HeaderPlace = { file: source.path, hdu: index };
  const parser = new HeaderParser(where, offset, options.maxCards);
  const block = new Uint8Array(BLOCK);
  let at = offset;
  for (;;) {
    const n = await source.readInto(block, at);
    if (at === offset) {
      if (n === 0 && index > 0) return null;
      const head = Buffer.from(block.buffer, 0, n).toString("latin1");
      if (index === 0 && !head.startsWith("SIMPLE  =")) {
        throw new FormatError("not a FITS file: it does not start with SIMPLE =", {
          file: source.path,
          detail: "byte offset 0",
        });
      }
      if (index > 0 && !head.startsWith("XTENSION=")) {
        // Zero or blank padding after the last HDU is tolerated (astropy warns); anything else
        // is not a FITS extension.
        if (block.subarray(0, n).every((b) => b === 0 || b === 32) && n < BLOCK) return null;
        if (block.subarray(0, n).every((b) => b === 0)) return null;
        throw new FormatError(
          `${n} bytes after HDU ${index - 1} do not start a FITS extension (no XTENSION card)`,
          place(source, index, `byte offset ${offset}`),
        );
      }
    }
    if (n < BLOCK) {
      throw new FormatError(
        `file ends inside the header (no END card after ${parser.cardCount} cards)`,
        place(source, index, `byte offset ${at + n}`),
      );
    }
    at += BLOCK;
    if (parser.feed(block)) break;
  }
  const header = new FitsHeader(parser.cards, where);
  return describeHdu(source, options, header, index, offset, at);
}

function describeHdu(
  source: ByteSource,
  options: Required<FitsOpenOptions>,
  header: FitsHeader,
  index: number,
  headerOffset: number,
  dataOffset: number,
): FitsHdu {
  const bitpix = header.int("BITPIX");
  if (!(bitpix in BITPIX_TYPE)) {
    const card = header.card("BITPIX");
    throw new FormatError(
      `BITPIX = ${bitpix} is not one of 8, 16, 32, 64, -32, -64`,
      place(source, index, `card ${(card?.index ?? 0) + 1} (BITPIX)`),
    );
  }
  const naxis = header.int("NAXIS", 0, 999);
  const axes: number[] = [];
  for (let k = 1; k <= naxis; k++) axes.push(header.int(`NAXIS${k}`, 0));
  let kind: HduKind;
  let pcount = 0;
  let gcount = 1;
  if (index === 0) {
    kind =
      naxis > 0 && axes[0] === 0 && header.get("GROUPS") === true ? "random-groups" : "primary";
    if (kind === "random-groups") {
      pcount = header.optionalInt("PCOUNT", 0, 0);
      gcount = header.optionalInt("GCOUNT", 1, 0);
    }
  } else {
    const xtension = (header.optionalString("XTENSION") ?? "").trim().toUpperCase();
    kind =
      xtension === "IMAGE"
        ? "image"
        : xtension === "BINTABLE" || xtension === "A3DTABLE"
          ? "bintable"
          : xtension === "TABLE"
            ? "table"
            : "other";
    pcount = header.int("PCOUNT", 0);
    gcount = header.int("GCOUNT", 0);
  }
  if ((kind === "bintable" || kind === "table") && (naxis !== 2 || bitpix !== 8)) {
    throw new FormatError(
      `a ${kind} must have NAXIS = 2 and BITPIX = 8`,
      place(source, index, "card 1"),
    );
  }
  // Exact arithmetic: header values can be anything up to 2^53 and their product far more.
  let elements = 0n;
  if (naxis > 0) {
    elements = 1n;
    for (let k = kind === "random-groups" ? 1 : 0; k < naxis; k++) elements *= BigInt(axes[k]);
  }
  const bytes =
    naxis === 0
      ? 0n
      : (BigInt(Math.abs(bitpix)) / 8n) * BigInt(gcount) * (BigInt(pcount) + elements);
  const available = Math.max(0, source.sizeBound - dataOffset);
  if (bytes > BigInt(available)) {
    const dims = axes.map((a, k) => `NAXIS${k + 1}=${a}`).join(", ");
    throw new FormatError(
      `header declares ${bytes} bytes of data (BITPIX=${bitpix}, ${dims}, PCOUNT=${pcount}, GCOUNT=${gcount}) but ${source.size === undefined ? "the compressed file can hold at most" : "the file has only"} ${available} bytes after the header`,
      place(source, index, `byte offset ${dataOffset}`),
    );
  }
  return new FitsHdu(source, options, {
    index,
    kind,
    header,
    headerOffset,
    dataOffset,
    dataBytes: Number(bytes),
    bitpix,
    axes,
  });
}

function withDefaults(options: FitsOpenOptions): Required<FitsOpenOptions> {
  return {
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    maxCards: options.maxCards ?? 100_000,
  };
}

/** After the last HDU: a gzip stream that ended before its data did is truncated. */
function checkComplete(source: ByteSource, last: FitsHdu | undefined): void {
  const end = source.knownEnd;
  if (!last || end === undefined || end >= last.dataOffset + last.dataBytes) return;
  throw new FormatError(
    `file is truncated: data of HDU ${last.index} needs bytes [${last.dataOffset}, ${last.dataOffset + last.dataBytes}) but the file ends at byte ${end}`,
    place(source, last.index, `byte offset ${end}`),
  );
}

export class FitsFile {
  readonly path: string;
  readonly hdus: readonly FitsHdu[];
  /** gzip-compressed: reads going back decompress from the start. */
  readonly compressed: boolean;
  private readonly source: ByteSource;

  private constructor(source: ByteSource, hdus: FitsHdu[]) {
    this.path = source.path;
    this.source = source;
    this.hdus = hdus;
    this.compressed = source.sequential;
  }

  /** Reads every header (no data). gzip files are decompressed once to find them. */
  static async open(path: string, options: FitsOpenOptions = {}): Promise<FitsFile> {
    const opts = withDefaults(options);
    const source = await openSource(path, true);
    try {
      const hdus: FitsHdu[] = [];
      let offset = 0;
      for (;;) {
        const hdu = await readHduAt(source, offset, hdus.length, opts);
        if (!hdu) break;
        hdus.push(hdu);
        offset = hdu.end;
      }
      checkComplete(source, hdus[hdus.length - 1]);
      return new FitsFile(source, hdus);
    } catch (e) {
      await source.close();
      throw e;
    }
  }

  /** An HDU by index or by EXTNAME (case-insensitive; the first match). */
  hdu(which: number | string): FitsHdu {
    const found =
      typeof which === "number"
        ? this.hdus[which]
        : this.hdus.find((h) => h.name?.toUpperCase() === which.trim().toUpperCase());
    if (!found) {
      throw new UsageError(
        `no HDU ${typeof which === "number" ? which : `named "${which}"`} (file has ${this.hdus.length})`,
        {
          file: this.path,
        },
      );
    }
    return found;
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}

export function openFits(path: string, options: FitsOpenOptions = {}): Promise<FitsFile> {
  return FitsFile.open(path, options);
}

/**
 * Single pass over the HDUs of a plain or gzip file, in order. Each HDU can be read (image,
 * table rows) until the next one is asked for; reading back afterwards is a UsageError.
 */
export async function* streamFits(
  path: string,
  options: FitsOpenOptions = {},
): AsyncGenerator<FitsHdu> {
  const opts = withDefaults(options);
  const source = await openSource(path, false);
  try {
    let offset = 0;
    let last: FitsHdu | undefined;
    for (let index = 0; ; index++) {
      const hdu = await readHduAt(source, offset, index, opts);
      if (!hdu) break;
      last = hdu;
      yield hdu;
      offset = hdu.end;
    }
    checkComplete(source, last);
  } finally {
    await source.close();
  }
}
