// CSV read as bytes for the catalog builder: records are found in the raw (or gunzipped) bytes
// and each wanted field is kept as a byte range, so a number column is parsed straight from the
// bytes and only text columns (and values that need the text path) become JS strings.
//
// The records are exactly those of CsvTokenizer (csv.ts) with a one-character ASCII delimiter
// other than a space: RFC 4180 quoting ("" escapes, newlines inside quotes, a quoted section
// only at the start of a field, later quotes kept as characters), LF, CRLF or CR line ends,
// blank lines skipped, comment lines, a UTF-8 byte order mark dropped, the same line numbers and
// the same errors (a field longer than the limit, a file ending inside quotes, a row of the
// wrong width, raised where the text reader raises them: after the batch is read).
import { FormatError } from "../core/errors.ts";
import { DEFAULT_MAX_FIELD, MAX_BATCH_FIELDS } from "./csv.ts";
import { byteChunks } from "./text.ts";

export interface CsvByteOptions {
  delimiter: string;
  comment?: string;
  file?: string;
  maxFieldLength?: number;
  /** The header record's width (rows of another width are an error). */
  width: number;
  /** Field index of each wanted column (slot). */
  fields: number[];
  /** Skip the first record (the header). */
  header: boolean;
  /** Bytes read at a time (default 1 MiB). */
  chunkBytes?: number;
  /**
   * Only bytes [start, end) of a plain (not gzip) file, read as if they were the file: the range
   * must start and end at record boundaries. `startRow` / `startLine`: the data rows and lines
   * before it (row numbers and error lines count from them).
   */
  start?: number;
  end?: number;
  startRow?: number;
  startLine?: number;
  /** Filled when the reader has read everything: the header read, the next line, rows in all. */
  state?: CsvRangeState;
}

/** A part of a plain CSV read on its own (see CsvByteOptions). */
export type CsvRange = Partial<
  Pick<CsvByteOptions, "start" | "end" | "startRow" | "startLine" | "header" | "state">
>;

/** Where a read of a range ended (see CsvByteOptions.state). */
export interface CsvRangeState {
  headerSeen: boolean;
  /** The line after the last one read. */
  lines: number;
  /** startRow plus the data rows read. */
  rows: number;
}

/** Rows of a batch: for each row and slot, the raw bytes of the field in `buf`. */
export interface CsvByteBatch {
  startRow: number;
  rows: number;
  buf: Buffer;
  /** Raw field start / end in `buf`, index row * slots + slot. */
  start: Int32Array;
  end: Int32Array;
  slots: number;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Can the byte reader read this dialect? (Else the text reader does.) */
export function byteReadable(delimiter: string, comment: string | undefined): boolean {
  const ok = (c: string) => c.length === 1 && c.charCodeAt(0) < 0x80;
  return (
    ok(delimiter) &&
    delimiter !== " " &&
    delimiter !== '"' &&
    delimiter !== "\n" &&
    delimiter !== "\r" &&
    (comment === undefined || ok(comment))
  );
}

/** A raw field's bytes are plain (no quote at its start): its text is the bytes as they are. */
export function isPlainField(buf: Buffer, s: number, e: number): boolean {
  return s === e || buf[s] !== QUOTE;
}

/** The text of a raw field (quotes and "" escapes resolved) and whether it was quoted. */
export function fieldText(buf: Buffer, s: number, e: number): { text: string; quoted: boolean } {
  if (s === e) return { text: "", quoted: false };
  const raw = buf.toString("utf8", s, e);
  if (raw.charCodeAt(0) !== QUOTE) return { text: raw, quoted: false };
  let cur = "";
  let j = 1;
  const n = raw.length;
  for (;;) {
    const q = raw.indexOf('"', j);
    if (q < 0) return { text: cur + raw.slice(j), quoted: true };
    cur += raw.slice(j, q);
    if (raw.charCodeAt(q + 1) === QUOTE) {
      cur += '"';
      j = q + 2;
      continue;
    }
    // After the closing quote every character is kept, quotes too.
    return { text: cur + raw.slice(q + 1, n), quoted: true };
  }
}

/**
 * Batches of at most `batchRows` data rows (fewer when wide rows reach MAX_BATCH_FIELDS, as the
 * text reader does), each holding the wanted fields as byte ranges of one buffer.
 */
export async function* csvByteBatches(
  path: string,
  options: CsvByteOptions,
  batchRows: number,
): AsyncGenerator<CsvByteBatch> {
  const delim = options.delimiter.charCodeAt(0);
  const comment = options.comment === undefined ? -1 : options.comment.charCodeAt(0);
  const file = options.file;
  const maxField = options.maxFieldLength ?? DEFAULT_MAX_FIELD;
  const width = options.width;
  const slots = options.fields.length;
  const slotOf = new Int32Array(Math.max(width, 1) + 1).fill(-1);
  for (const [k, f] of options.fields.entries()) slotOf[f] = k;
  let skipHeader = options.header;

  // The buffer holds the current batch's records from its first byte, then unread bytes.
  let buf: Buffer = Buffer.alloc(0);
  let n = 0;
  let batchStart = 0; // first byte of the batch's first record
  let pos = 0; // where the next record starts
  let line = options.startLine ?? 1;
  let recordLine = line;
  let rows = 0;
  let fieldsInBatch = 0;
  let startRow = options.startRow ?? 0;
  let first = true;
  let cap = Math.min(batchRows, 1 << 16);
  let start = new Int32Array(cap * slots);
  let end = new Int32Array(cap * slots);
  let widthError: FormatError | undefined;
  // Scratch for the record being read (its fields' raw ranges).
  const recStart = new Int32Array(slots);
  const recEnd = new Int32Array(slots);

  const tooLong = (s: number, e: number, at: number): FormatError | undefined => {
    // Characters never outnumber bytes: only a long raw field can be too long.
    if (e - s <= maxField) return undefined;
    const { text } = fieldText(buf, s, e);
    if (text.length <= maxField) return undefined;
    return new FormatError(`field longer than ${maxField} characters (unbalanced quote?)`, {
      file,
      detail: `line ${at}`,
    });
  };

  const flush = (): CsvByteBatch => {
    if (widthError) throw widthError;
    const batch: CsvByteBatch = {
      startRow,
      rows,
      buf,
      start: start.subarray(0, rows * slots),
      end: end.subarray(0, rows * slots),
      slots,
    };
    startRow += rows;
    rows = 0;
    fieldsInBatch = 0;
    cap = Math.min(batchRows, 1 << 16);
    start = new Int32Array(cap * slots);
    end = new Int32Array(cap * slots);
    return batch;
  };

  // Reads one record from `pos`; returns false when the buffer ends before the record does.
  // Blank and comment lines are consumed without a record (returns true, no row added).
  const record = (final: boolean): boolean => {
    let j = pos;
    let ln = line;
    let rl = recordLine;
    let started = false;
    let field = 0;
    let fs = j; // start of the current field
    let fieldBegun = false; // the current field has a character (or a quoted section)
    recStart.fill(0);
    recEnd.fill(0);
    for (;;) {
      if (j >= n) {
        if (!final) {
          const err = started ? tooLong(fs, n, rl) : undefined;
          if (err) throw err;
          return false;
        }
        // End of file: the last record has no line end.
        if (started) field = finish(field, fs, j);
        break;
      }
      const c = buf[j];
      if (c === LF || c === CR) {
        if (c === CR && j + 1 >= n && !final) return false;
        if (started) field = finish(field, fs, j);
        j += c === CR && buf[j + 1] === LF ? 2 : 1;
        ln++;
        if (field > 0 || started) {
          pos = j;
          line = ln;
          recordLine = rl;
          addRecord(field);
          recordLine = ln;
        } else {
          // A blank line.
          pos = j;
          line = ln;
          recordLine = ln;
        }
        return true;
      }
      if (!started && c === comment) {
        const eol = buf.indexOf(LF, j);
        if (eol < 0) {
          if (!final) return false;
          pos = n;
          line = ln;
          recordLine = rl;
          return true;
        }
        pos = eol + 1;
        line = ln + 1;
        recordLine = rl;
        return true;
      }
      if (c === delim) {
        field = finish(field, fs, j);
        started = true;
        fieldBegun = false;
        j++;
        fs = j;
        continue;
      }
      if (!started) rl = ln;
      started = true;
      if (c === QUOTE && !fieldBegun) {
        // Quoted section: to the closing quote ("" is an escaped quote).
        fieldBegun = true;
        let q = j + 1;
        for (;;) {
          const at = buf.indexOf(QUOTE, q);
          const stop = at < 0 || at >= n ? n : at;
          for (let k = q; k < stop; k++) if (buf[k] === LF) ln++;
          if (stop === n) {
            const err = tooLong(fs, n, rl);
            if (err) throw err;
            if (!final) return false;
            throw new FormatError("file ends inside a quoted field", {
              file,
              detail: `field starting on line ${rl}`,
            });
          }
          if (at + 1 >= n && !final) return false;
          if (buf[at + 1] === QUOTE) {
            q = at + 2;
            continue;
          }
          j = at + 1;
          break;
        }
        const err = tooLong(fs, j, rl);
        if (err) throw err;
        continue;
      }
      fieldBegun = true;
      // Plain run (quotes inside are characters) to the next delimiter or line end.
      let k = j + 1;
      while (k < n) {
        const d = buf[k];
        if (d === delim || d === LF || d === CR) break;
        k++;
      }
      j = k;
      const err = tooLong(fs, j, rl);
      if (err) throw err;
    }
    // End of file reached inside a record.
    pos = j;
    line = ln;
    if (field > 0) {
      recordLine = rl;
      addRecord(field);
    }
    return true;
  };

  // Ends field number `field` (raw bytes s..e); returns the next field's number.
  const finish = (field: number, s: number, e: number): number => {
    const k = field < width ? slotOf[field] : -1;
    if (k >= 0) {
      recStart[k] = s;
      recEnd[k] = e;
    }
    return field + 1;
  };

  const addRecord = (fieldCount: number) => {
    if (skipHeader) {
      skipHeader = false;
      return;
    }
    if (fieldCount !== width && widthError === undefined) {
      widthError = new FormatError(`row has ${fieldCount} fields, the header has ${width}`, {
        file,
        detail: `line ${recordLine}`,
      });
    }
    if (rows === cap) {
      cap = Math.min(batchRows, cap * 2);
      const s2 = new Int32Array(cap * slots);
      const e2 = new Int32Array(cap * slots);
      s2.set(start);
      e2.set(end);
      start = s2;
      end = e2;
    }
    const o = rows * slots;
    for (let k = 0; k < slots; k++) {
      start[o + k] = recStart[k];
      end[o + k] = recEnd[k];
    }
    rows++;
    fieldsInBatch += fieldCount;
  };

  const full = () => rows === batchRows || fieldsInBatch >= MAX_BATCH_FIELDS;

  // Bytes that end a plain field: the delimiter and line ends.
  const stops = new Uint8Array(256);
  stops[delim] = 1;
  stops[LF] = 1;
  stops[CR] = 1;

  /**
   * Reads records from `pos` in one loop while they are plain: not the header, not blank or a
   * comment, no quote at a field's start, the header's width, fields within the limit, a line
   * end in the buffer. It stops before any other record (or a full batch), which record() then
   * reads, so the records, rows and lines are record()'s; this loop only makes the common case
   * cheap (no call, no scratch fields per record: ~2x the bytes per second).
   */
  const plainRecords = (): void => {
    if (skipHeader) return;
    // Locals, not the closure's variables: V8 keeps these in registers in the loops.
    const b = buf;
    const len = n;
    const st = stops;
    const starts = start;
    const ends = end;
    const slot0 = slotOf;
    const w = width;
    const d = delim;
    const limit = Math.min(cap, batchRows);
    let ln = line;
    let p = pos;
    let r = rows;
    let fields = fieldsInBatch;
    records: while (r < limit && fields < MAX_BATCH_FIELDS && p < len) {
      const first = b[p]!;
      if (first === LF || first === CR || first === comment) break;
      const o = r * slots;
      let field = 0;
      let fs = p;
      let k = p;
      for (;;) {
        if (k >= len || b[k] === QUOTE) break records;
        while (k < len && st[b[k]!] === 0) k++;
        if (k >= len || k - fs > maxField) break records;
        const slot = field < w ? slot0[field]! : -1;
        if (slot >= 0) {
          starts[o + slot] = fs;
          ends[o + slot] = k;
        }
        field++;
        const c = b[k];
        if (c === d) {
          fs = ++k;
          continue;
        }
        if (c === CR) {
          if (k + 1 >= len) break records;
          k += b[k + 1] === LF ? 2 : 1;
        } else k++;
        break;
      }
      if (field !== w) break;
      p = k;
      r++;
      fields += w;
      ln++;
    }
    pos = p;
    rows = r;
    fieldsInBatch = fields;
    line = ln;
    recordLine = ln;
  };

  const rebase = (chunk: Buffer | undefined) => {
    // Keep the batch's bytes and the unread tail; offsets move by batchStart.
    const keep = buf.subarray(batchStart, n);
    if (batchStart > 0 && rows > 0) {
      const shift = batchStart;
      for (let i = 0; i < rows * slots; i++) {
        start[i] -= shift;
        end[i] -= shift;
      }
    }
    pos -= batchStart;
    buf = chunk === undefined ? Buffer.from(keep) : Buffer.concat([keep, chunk]);
    n = buf.length;
    batchStart = 0;
  };

  const ended = () => {
    if (options.state) {
      options.state.headerSeen = options.header && !skipHeader;
      options.state.lines = line;
      options.state.rows = startRow + rows;
    }
  };
  const range = { chunkBytes: options.chunkBytes, start: options.start, end: options.end };
  for await (let chunk of byteChunks(path, range)) {
    if (first) {
      // A byte order mark only at the file's start.
      const bom = chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf;
      if (bom && (options.start ?? 0) === 0) chunk = chunk.subarray(3);
      first = false;
    }
    rebase(chunk);
    for (;;) {
      plainRecords();
      if (!full() && !record(false)) break;
      if (full()) {
        yield flush();
        batchStart = pos;
      }
    }
    // The batch so far stays in the buffer; the next chunk is appended after it.
  }
  if (first) {
    ended();
    return;
  }
  while (pos < n) {
    const before = pos;
    record(true);
    if (full()) {
      yield flush();
      batchStart = pos;
    }
    if (pos === before) break;
  }
  if (rows > 0 || widthError) yield flush();
  ended();
}
