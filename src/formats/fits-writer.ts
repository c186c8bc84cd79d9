// FITS writer: image HDUs of any BITPIX and binary tables, files that astropy and CFITSIO read
// back as written. Tables are streamed: rows are appended in batches and NAXIS2 is filled in
// when the table ends, so a table need not fit in memory. The file is written under a
// temporary name and renamed by close(), so a reader never sees a half-written file.
//
// Types: int8/uint16/uint32/uint64 are stored with the FITS offset convention (BITPIX/TFORM of
// the signed type plus BZERO/TZERO = -128, 2^15, 2^31, 2^63). Structural keywords (SIMPLE,
// XTENSION, BITPIX, NAXISn, PCOUNT, GCOUNT, EXTEND, BSCALE, BZERO, BLANK, TFIELDS, TTYPEn,
// TFORMn, TDIMn, TUNITn, TNULLn, TSCALn, TZEROn, TBCOLn, THEAP) come from the data: the ones in
// caller cards are dropped, so a header read from a file can be passed back as it is.
import { randomBytes } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { discardFile, publishFile } from "../core/atomic-file.ts";
import {
  batchRows,
  type ColumnBatch,
  type ColumnSpec,
  type NumericArray,
  valuesPerRow,
} from "../core/columns.ts";
import { SchemaError, UsageError, WriteError } from "../core/errors.ts";
import {
  BLOCK,
  CARD,
  type FitsCardInput,
  type FitsValue,
  formatCard,
  headerBytes,
} from "./fits-header.ts";
import { swapInPlace } from "./fits-numbers.ts";

export interface FitsImageInput {
  data: NumericArray;
  /** numpy order [.., rows, columns]; NAXIS1 is the last. */
  shape: number[];
  /** Extra header cards (e.g. WCS from TanWcs.toCards()). */
  cards?: FitsCardInput[];
  /** EXTNAME. */
  name?: string;
}

export interface FitsTableInput {
  specs: ColumnSpec[];
  batch: ColumnBatch;
  /** Per-value null masks (1 = null) by column. */
  nulls?: Record<string, Uint8Array>;
  cards?: FitsCardInput[];
  name?: string;
}

export type FitsHduInput =
  | ({ kind: "image" } & FitsImageInput)
  | ({ kind: "table" } & FitsTableInput);

interface StoredForm {
  code: string;
  bytes: number;
  /** BZERO/TZERO of the offset convention, when used. */
  zero?: bigint;
  bitpix: number;
}

const FORMS: Record<string, StoredForm> = {
  Uint8Array: { code: "B", bytes: 1, bitpix: 8 },
  Int8Array: { code: "B", bytes: 1, zero: -128n, bitpix: 8 },
  Int16Array: { code: "I", bytes: 2, bitpix: 16 },
  Uint16Array: { code: "I", bytes: 2, zero: 32768n, bitpix: 16 },
  Int32Array: { code: "J", bytes: 4, bitpix: 32 },
  Uint32Array: { code: "J", bytes: 4, zero: 2147483648n, bitpix: 32 },
  BigInt64Array: { code: "K", bytes: 8, bitpix: 64 },
  BigUint64Array: { code: "K", bytes: 8, zero: 9223372036854775808n, bitpix: 64 },
  Float32Array: { code: "E", bytes: 4, bitpix: -32 },
  Float64Array: { code: "D", bytes: 8, bitpix: -64 },
};

const DTYPE_ARRAY: Record<string, string> = {
  uint8: "Uint8Array",
  int8: "Int8Array",
  int16: "Int16Array",
  uint16: "Uint16Array",
  int32: "Int32Array",
  uint32: "Uint32Array",
  int64: "BigInt64Array",
  uint64: "BigUint64Array",
  float32: "Float32Array",
  float64: "Float64Array",
};

const STRUCTURAL =
  /^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|EXTEND|GROUPS|BSCALE|BZERO|BLANK|TFIELDS|THEAP|END|(TTYPE|TFORM|TDIM|TUNIT|TNULL|TSCAL|TZERO|TBCOL)\d+)$/;

function cardKeyword(card: FitsCardInput): string {
  return (typeof card === "string" ? card.slice(0, 8) : card.keyword).trim().toUpperCase();
}

function userCards(cards: FitsCardInput[] | undefined, dropExtname: boolean): string[] {
  const out: string[] = [];
  for (const card of cards ?? []) {
    const key = cardKeyword(card);
    if (STRUCTURAL.test(key) || (dropExtname && key === "EXTNAME")) continue;
    // A raw CONTINUE card belongs to the card before it, which is kept or dropped with it.
    out.push(...formatCard(card));
  }
  return out;
}

function card(keyword: string, value: FitsValue, comment?: string): string[] {
  return formatCard(comment === undefined ? { keyword, value } : { keyword, value, comment });
}

/** Big-endian bytes of values [start, end), with the sign bit flipped for offset types. */
function bigEndian(values: NumericArray, start: number, end: number): Uint8Array {
  const form = FORMS[values.constructor.name];
  const width = form.bytes;
  const out = new Uint8Array(new ArrayBuffer((end - start) * width));
  out.set(new Uint8Array(values.buffer, values.byteOffset + start * width, (end - start) * width));
  if (form.zero !== undefined) {
    if (width === 1) for (let i = 0; i < out.length; i++) out[i] ^= 0x80;
    else if (width === 2) {
      const v = new Uint16Array(out.buffer);
      for (let i = 0; i < v.length; i++) v[i] ^= 0x8000;
    } else if (width === 4) {
      const v = new Uint32Array(out.buffer);
      for (let i = 0; i < v.length; i++) v[i] = (v[i] ^ 0x80000000) >>> 0;
    } else {
      const v = new BigUint64Array(out.buffer);
      for (let i = 0; i < v.length; i++) v[i] ^= 0x8000000000000000n;
    }
  }
  swapInPlace(out, width);
  return out;
}

interface TableColumnPlan {
  spec: ColumnSpec;
  per: number;
  form?: StoredForm;
  /** Strings: bytes per string. */
  width: number;
  byteOffset: number;
  byteWidth: number;
  /** Raw stored value that marks a null integer (TNULLn). */
  tnull?: bigint;
}

/** Null sentinel (stored value) per offset/plain integer type: the stored minimum, or 255 for B. */
function defaultTnull(form: StoredForm): bigint {
  if (form.code === "B") return form.zero === undefined ? 255n : 0n;
  const bits = BigInt(form.bytes * 8);
  return form.zero === undefined ? -(1n << (bits - 1n)) : (1n << (bits - 1n)) - 1n;
}

function planColumns(specs: ColumnSpec[], nullable: Set<string>, file: string): TableColumnPlan[] {
  const plans: TableColumnPlan[] = [];
  let offset = 0;
  for (const spec of specs) {
    const per = valuesPerRow(spec);
    let width = 0;
    let form: StoredForm | undefined;
    let byteWidth: number;
    if (spec.dtype === "string") {
      if (spec.stringLength === undefined) {
        throw new UsageError("string columns need stringLength to be written to FITS", {
          file,
          column: spec.name,
        });
      }
      width = Math.max(1, spec.stringLength);
      byteWidth = width * per;
    } else if (spec.dtype === "bool") {
      byteWidth = per;
    } else {
      form = FORMS[DTYPE_ARRAY[spec.dtype]];
      byteWidth = form.bytes * per;
    }
    const plan: TableColumnPlan = { spec, per, width, byteOffset: offset, byteWidth };
    if (form) plan.form = form;
    if (form && form.code !== "E" && form.code !== "D" && nullable.has(spec.name)) {
      plan.tnull = defaultTnull(form);
    }
    plans.push(plan);
    offset += byteWidth;
  }
  return plans;
}

function tableCards(
  plans: TableColumnPlan[],
  rowBytes: number,
): { cards: string[]; naxis2At: number } {
  const cards: string[] = [
    ...card("XTENSION", "BINTABLE", "binary table extension"),
    ...card("BITPIX", 8),
    ...card("NAXIS", 2),
    ...card("NAXIS1", rowBytes, "bytes per row"),
  ];
  const naxis2At = cards.length;
  cards.push(...card("NAXIS2", 0, "rows"), ...card("PCOUNT", 0), ...card("GCOUNT", 1));
  cards.push(...card("TFIELDS", plans.length));
  plans.forEach((p, i) => {
    const n = i + 1;
    const { spec } = p;
    cards.push(
      ...formatCard({ keyword: `TTYPE${n}`, value: spec.name, comment: spec.description }),
    );
    const code =
      spec.dtype === "string" ? "A" : spec.dtype === "bool" ? "L" : (p.form as StoredForm).code;
    const repeat = spec.dtype === "string" ? p.width * p.per : p.per;
    const scalar = spec.shape.length === 0;
    cards.push(...card(`TFORM${n}`, scalar && spec.dtype !== "string" ? code : `${repeat}${code}`));
    if (
      spec.dtype === "string"
        ? spec.shape.length > 0
        : spec.shape.length > 1 || (spec.shape.length === 1 && spec.shape[0] === 1)
    ) {
      const dims = [...spec.shape].reverse();
      if (spec.dtype === "string") dims.unshift(p.width);
      cards.push(...card(`TDIM${n}`, `(${dims.join(",")})`));
    }
    if (spec.unit) cards.push(...card(`TUNIT${n}`, spec.unit));
    if (p.form?.zero !== undefined) cards.push(...card(`TZERO${n}`, p.form.zero));
    if (p.tnull !== undefined) cards.push(...card(`TNULL${n}`, p.tnull));
  });
  return { cards, naxis2At };
}

/** Encodes `rows` rows of a batch into row-major FITS bytes. */
function encodeRows(
  plans: TableColumnPlan[],
  rowBytes: number,
  batch: ColumnBatch,
  nulls: Record<string, Uint8Array> | undefined,
  rows: number,
  file: string,
): Uint8Array {
  const out = new Uint8Array(rows * rowBytes);
  for (const p of plans) {
    const name = p.spec.name;
    const values = batch[name];
    const mask = nulls?.[name];
    if (mask && mask.length !== rows * p.per) {
      throw new SchemaError(`null mask has ${mask.length} entries for ${rows * p.per} values`, {
        file,
        column: name,
      });
    }
    if (p.spec.dtype === "string") {
      const strings = values as string[];
      for (let r = 0; r < rows; r++) {
        for (let k = 0; k < p.per; k++) {
          const i = r * p.per + k;
          const s = mask?.[i] ? "" : strings[i];
          const at = r * rowBytes + p.byteOffset + k * p.width;
          for (let c = 0; c < s.length; c++) {
            const code = s.charCodeAt(c);
            if (code > 126 || code < 32) {
              throw new SchemaError(
                `row ${r}: FITS strings are ASCII (32-126), found U+${code.toString(16).padStart(4, "0")}`,
                { file, column: name },
              );
            }
          }
          if (s.length > p.width) {
            throw new SchemaError(
              `row ${r}: "${s}" is longer than the column's ${p.width} characters`,
              { file, column: name },
            );
          }
          // NUL-padded, as astropy and CFITSIO write them: numpy strips trailing NULs, not the
          // spaces the standard also allows, so space padding would come back in the values.
          out.fill(0, at, at + p.width);
          for (let c = 0; c < s.length; c++) out[at + c] = s.charCodeAt(c);
        }
      }
      continue;
    }
    if (p.spec.dtype === "bool") {
      const v = values as Uint8Array;
      for (let r = 0; r < rows; r++) {
        for (let k = 0; k < p.per; k++) {
          const i = r * p.per + k;
          out[r * rowBytes + p.byteOffset + k] = mask?.[i] ? 0 : v[i] ? 84 : 70;
        }
      }
      continue;
    }
    let source = values as NumericArray;
    if (mask) source = withNulls(source, mask, p, file);
    const bytes = bigEndian(source, 0, rows * p.per);
    const w = p.byteWidth;
    if (w > 16) {
      for (let r = 0; r < rows; r++)
        out.set(bytes.subarray(r * w, (r + 1) * w), r * rowBytes + p.byteOffset);
    } else {
      for (let r = 0, at = p.byteOffset, i = 0; r < rows; r++, at += rowBytes) {
        for (let k = 0; k < w; k++) out[at + k] = bytes[i++];
      }
    }
  }
  return out;
}

/** A copy with nulls replaced by NaN (floats) or the TNULL sentinel (integers). */
function withNulls(
  values: NumericArray,
  mask: Uint8Array,
  p: TableColumnPlan,
  file: string,
): NumericArray {
  const copy = values.slice() as NumericArray;
  const form = p.form as StoredForm;
  if (form.code === "E" || form.code === "D") {
    for (let i = 0; i < mask.length; i++) if (mask[i]) copy[i] = Number.NaN;
    return copy;
  }
  if (p.tnull === undefined) {
    throw new UsageError("nulls given for a column not declared nullable", {
      file,
      column: p.spec.name,
    });
  }
  const physical = p.tnull + (form.zero ?? 0n);
  const big = copy instanceof BigInt64Array || copy instanceof BigUint64Array;
  for (let i = 0; i < mask.length; i++) {
    const isSentinel = big ? copy[i] === physical : copy[i] === Number(physical);
    if (mask[i]) (copy as unknown as (number | bigint)[])[i] = big ? physical : Number(physical);
    else if (isSentinel) {
      throw new SchemaError(
        `value ${physical} at index ${i} is the column's null marker (TNULL); it cannot be stored as a value`,
        { file, column: p.spec.name },
      );
    }
  }
  return copy;
}

export class FitsTableWriter {
  private rows = 0;
  private ended = false;
  private readonly writer: FitsWriter;
  private readonly plans: TableColumnPlan[];
  private readonly specs: ColumnSpec[];
  private readonly rowBytes: number;
  private readonly naxis2Position: number;

  /** @internal */
  constructor(
    writer: FitsWriter,
    specs: ColumnSpec[],
    plans: TableColumnPlan[],
    rowBytes: number,
    naxis2Position: number,
  ) {
    this.writer = writer;
    this.specs = specs;
    this.plans = plans;
    this.rowBytes = rowBytes;
    this.naxis2Position = naxis2Position;
  }

  /** Appends the rows of a batch (every column of the table, same row count). */
  async append(batch: ColumnBatch, nulls?: Record<string, Uint8Array>): Promise<void> {
    if (this.ended) throw new UsageError("table already ended", { file: this.writer.path });
    const n = batchRows(batch, this.specs, this.writer.path);
    if (n === 0) return;
    await this.writer.writeBytes(
      encodeRows(this.plans, this.rowBytes, batch, nulls, n, this.writer.path),
    );
    this.rows += n;
  }

  /** Pads the data to 2880 bytes and writes the final NAXIS2. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.writer.padData();
    const image = card("NAXIS2", this.rows, "rows")[0];
    await this.writer.writeAt(Buffer.from(image, "latin1"), this.naxis2Position);
    this.writer.tableEnded();
  }
}

export class FitsWriter {
  readonly path: string;
  private readonly tempPath: string;
  private readonly handle: FileHandle;
  private position = 0;
  private hduCount = 0;
  private openTable: FitsTableWriter | undefined;
  private closed = false;

  private constructor(path: string, tempPath: string, handle: FileHandle) {
    this.path = path;
    this.tempPath = tempPath;
    this.handle = handle;
  }

  static async create(path: string): Promise<FitsWriter> {
    const tempPath = `${path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      return new FitsWriter(path, tempPath, await open(tempPath, "w"));
    } catch (e) {
      throw new WriteError(
        `cannot create ${tempPath}: ${(e as Error).message}`,
        { file: path },
        { cause: e },
      );
    }
  }

  /** @internal */
  async writeBytes(bytes: Uint8Array): Promise<void> {
    await this.writeAt(bytes, this.position);
    this.position += bytes.length;
  }

  /** @internal */
  async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    try {
      let done = 0;
      while (done < bytes.length) {
        const { bytesWritten } = await this.handle.write(
          bytes,
          done,
          bytes.length - done,
          position + done,
        );
        done += bytesWritten;
      }
    } catch (e) {
      throw new WriteError(
        `write failed: ${(e as Error).message}`,
        { file: this.path },
        { cause: e },
      );
    }
  }

  /** @internal */
  async padData(): Promise<void> {
    const rest = (BLOCK - (this.position % BLOCK)) % BLOCK;
    if (rest) await this.writeBytes(new Uint8Array(rest));
  }

  /** @internal */
  tableEnded(): void {
    this.openTable = undefined;
  }

  private checkOpen(): void {
    if (this.closed) throw new UsageError("writer is closed", { file: this.path });
    if (this.openTable)
      throw new UsageError("end() the open table before adding an HDU", { file: this.path });
  }

  /** The empty primary HDU that must come before a first table. */
  private async ensurePrimary(): Promise<void> {
    if (this.hduCount > 0) return;
    await this.writeBytes(
      headerBytes([
        ...card("SIMPLE", true, "conforms to FITS standard"),
        ...card("BITPIX", 8),
        ...card("NAXIS", 0),
        ...card("EXTEND", true),
      ]),
    );
    this.hduCount++;
  }

  /** Adds an image HDU (the primary HDU when it is the first). */
  async addImage(input: FitsImageInput): Promise<void> {
    this.checkOpen();
    const { data, shape } = input;
    const form = FORMS[data?.constructor?.name];
    if (!form)
      throw new UsageError(`image data must be a typed array, got ${data?.constructor?.name}`, {
        file: this.path,
      });
    const count = shape.reduce((a, b) => a * b, 1);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0) || count !== data.length) {
      throw new UsageError(`shape [${shape.join(", ")}] does not match ${data.length} values`, {
        file: this.path,
      });
    }
    const primary = this.hduCount === 0;
    const cards = primary
      ? card("SIMPLE", true, "conforms to FITS standard")
      : card("XTENSION", "IMAGE", "image extension");
    cards.push(...card("BITPIX", form.bitpix), ...card("NAXIS", shape.length));
    const axes = [...shape].reverse();
    for (let k = 0; k < axes.length; k++) cards.push(...card(`NAXIS${k + 1}`, axes[k]));
    if (primary) cards.push(...card("EXTEND", true));
    else cards.push(...card("PCOUNT", 0), ...card("GCOUNT", 1));
    if (form.zero !== undefined) {
      cards.push(
        ...card("BSCALE", 1),
        ...card("BZERO", form.zero, "offset convention for unsigned/signed bytes"),
      );
    }
    if (input.name !== undefined) cards.push(...card("EXTNAME", input.name));
    cards.push(...userCards(input.cards, input.name !== undefined));
    await this.writeBytes(headerBytes(cards));
    const chunk = 1 << 20;
    for (let at = 0; at < data.length; at += chunk) {
      await this.writeBytes(bigEndian(data, at, Math.min(data.length, at + chunk)));
    }
    await this.padData();
    this.hduCount++;
  }

  /**
   * Starts a binary table; append rows with the returned writer, then end() it. String
   * columns need `stringLength`; integer columns that will get nulls must be listed in
   * `nullable` (they get a TNULLn marker).
   */
  async beginTable(
    specs: ColumnSpec[],
    options: { cards?: FitsCardInput[]; name?: string; nullable?: string[] } = {},
  ): Promise<FitsTableWriter> {
    this.checkOpen();
    await this.ensurePrimary();
    const names = new Set<string>();
    for (const s of specs) {
      if (names.has(s.name))
        throw new UsageError(`duplicate column name "${s.name}"`, {
          file: this.path,
          column: s.name,
        });
      names.add(s.name);
    }
    if (specs.length > 999)
      throw new UsageError("FITS tables hold at most 999 columns", { file: this.path });
    const plans = planColumns(specs, new Set(options.nullable ?? []), this.path);
    const rowBytes = plans.reduce((a, p) => a + p.byteWidth, 0);
    const { cards, naxis2At } = tableCards(plans, rowBytes);
    if (options.name !== undefined) cards.push(...card("EXTNAME", options.name));
    cards.push(...userCards(options.cards, options.name !== undefined));
    const naxis2Position = this.position + naxis2At * CARD;
    await this.writeBytes(headerBytes(cards));
    this.hduCount++;
    this.openTable = new FitsTableWriter(this, specs, plans, rowBytes, naxis2Position);
    return this.openTable;
  }

  /** Writes a whole table at once; string widths default to the longest value. */
  async addTable(input: FitsTableInput): Promise<void> {
    const specs = input.specs.map((s) => {
      if (s.dtype !== "string" || s.stringLength !== undefined) return s;
      let longest = 1;
      for (const v of input.batch[s.name] as string[]) longest = Math.max(longest, v.length);
      return { ...s, stringLength: longest };
    });
    const nullable = Object.entries(input.nulls ?? {})
      .filter(([, m]) => m.some((x) => x !== 0))
      .map(([n]) => n);
    const table = await this.beginTable(specs, { cards: input.cards, name: input.name, nullable });
    await table.append(input.batch, input.nulls);
    await table.end();
  }

  /** Finishes the file and moves it to its final name. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.openTable) await this.openTable.end();
    if (this.hduCount === 0) await this.ensurePrimary();
    this.closed = true;
    await publishFile(this.handle, this.tempPath, this.path);
  }

  /** Drops the partial file. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await discardFile(this.handle, this.tempPath);
  }
}

/** Writes a FITS file with the given HDUs (a first table gets an empty primary HDU before it). */
export async function writeFits(path: string, hdus: FitsHduInput[]): Promise<void> {
  const writer = await FitsWriter.create(path);
  try {
    for (const hdu of hdus) {
      if (hdu.kind === "image") await writer.addImage(hdu);
      else await writer.addTable(hdu);
    }
    await writer.close();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
