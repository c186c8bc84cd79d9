// FITS headers (FITS Standard 4.0, section 4): 2880-byte blocks of 80-character ASCII cards.
// Parsing keeps every card in order with its original text, so a header can be written back as
// it was; lookups take the last card of a keyword, as astropy does. Formatting writes fixed-
// format cards, CONTINUE for long strings and HIERARCH for long or free-form keywords.
import { FormatError, UsageError } from "../core/errors.ts";

export const BLOCK = 2880;
export const CARD = 80;
const CARDS_PER_BLOCK = BLOCK / CARD;

export interface FitsComplex {
  re: number;
  im: number;
}

/**
 * A card value. Integers outside ±(2^53−1) are bigint so 64-bit values stay exact; `null` is
 * an undefined value (`KEY = / comment`).
 */
export type FitsValue = string | number | bigint | boolean | FitsComplex | null;

export type FitsValueKind =
  | "string"
  | "logical"
  | "integer"
  | "float"
  | "complex"
  | "undefined"
  /** COMMENT, HISTORY, blank keyword, or any card without a value indicator: `text` holds it. */
  | "commentary";

export interface FitsCard {
  /** Keyword as written (HIERARCH cards: the words after HIERARCH, e.g. "ESO DET CHIP NAME"). */
  keyword: string;
  kind: FitsValueKind;
  /** The value; undefined for commentary cards. Long strings are joined across CONTINUE cards. */
  value?: FitsValue;
  comment?: string;
  /** Commentary cards: their text (columns 9-80, trailing spaces removed). */
  text?: string;
  hierarch?: boolean;
  /** Position of the (first) card in the header, 0-based. */
  index: number;
  /** The original 80-character card images; more than one when CONTINUE cards follow. */
  images: string[];
}

/** Where a header came from, for error messages. */
export interface HeaderPlace {
  file?: string;
  hdu?: number;
}

function placeOf(place: HeaderPlace, detail: string) {
  const hdu = place.hdu === undefined ? "" : `HDU ${place.hdu}, `;
  return { file: place.file, detail: `${hdu}${detail}` };
}

const COMMENTARY = new Set(["COMMENT", "HISTORY", ""]);

/** Normalised lookup key: upper case, without a leading "HIERARCH ". */
export function keyOf(keyword: string): string {
  const k = keyword.trim().toUpperCase();
  return k.startsWith("HIERARCH ") ? k.slice(9).trim() : k;
}

export class FitsHeader {
  readonly cards: readonly FitsCard[];
  readonly place: HeaderPlace;
  private readonly last = new Map<string, FitsCard>();

  constructor(cards: FitsCard[], place: HeaderPlace = {}) {
    this.cards = cards;
    this.place = place;
    for (const card of cards)
      if (card.kind !== "commentary") this.last.set(keyOf(card.keyword), card);
  }

  has(keyword: string): boolean {
    return this.last.has(keyOf(keyword));
  }

  /** The value of the last card with this keyword (duplicates: last wins, as in astropy). */
  get(keyword: string): FitsValue | undefined {
    return this.last.get(keyOf(keyword))?.value;
  }

  card(keyword: string): FitsCard | undefined {
    return this.last.get(keyOf(keyword));
  }

  /** Every valued card with this keyword, in header order. */
  getAll(keyword: string): FitsCard[] {
    const key = keyOf(keyword);
    return this.cards.filter((c) => c.kind !== "commentary" && keyOf(c.keyword) === key);
  }

  /** Texts of the COMMENT cards (or HISTORY, or blank-keyword cards with `keyword = ""`). */
  commentary(keyword: "COMMENT" | "HISTORY" | "" = "COMMENT"): string[] {
    return this.cards
      .filter((c) => c.kind === "commentary" && c.keyword.trim().toUpperCase() === keyword)
      .map((c) => c.text ?? "");
  }

  /** Last value of every valued keyword (commentary excluded). */
  toRecord(): Record<string, FitsValue> {
    const out: Record<string, FitsValue> = {};
    for (const [k, c] of this.last) out[k] = c.value ?? null;
    return out;
  }

  private fail(keyword: string, message: string): never {
    const card = this.card(keyword);
    const where = card ? `card ${card.index + 1} (${keyword})` : `keyword ${keyword}`;
    throw new FormatError(message, placeOf(this.place, where));
  }

  /** A required integer keyword that must be a safe JS integer within [min, max]. */
  int(keyword: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.get(keyword);
    if (v === undefined) this.fail(keyword, `missing required keyword ${keyword}`);
    return this.checkInt(keyword, v, min, max);
  }

  /** An optional integer keyword; `fallback` when absent. */
  optionalInt(
    keyword: string,
    fallback: number,
    min = Number.MIN_SAFE_INTEGER,
    max = Number.MAX_SAFE_INTEGER,
  ): number {
    const v = this.get(keyword);
    if (v === undefined) return fallback;
    return this.checkInt(keyword, v, min, max);
  }

  private checkInt(keyword: string, v: FitsValue, min: number, max: number): number {
    if (typeof v === "bigint") this.fail(keyword, `${keyword} = ${v} is out of range`);
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.fail(keyword, `${keyword} must be an integer, found ${describe(v)}`);
    }
    if (v < min || v > max) {
      this.fail(keyword, `${keyword} = ${v} is out of range [${min}, ${max}]`);
    }
    return v;
  }

  /** An optional real keyword (integers accepted); bigint values are kept exact. */
  optionalNumber(keyword: string): number | bigint | undefined {
    const v = this.get(keyword);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "number" && typeof v !== "bigint") {
      this.fail(keyword, `${keyword} must be a number, found ${describe(v)}`);
    }
    return v;
  }

  optionalString(keyword: string): string | undefined {
    const v = this.get(keyword);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "string")
      this.fail(keyword, `${keyword} must be a string, found ${describe(v)}`);
    return v;
  }
}

function describe(v: FitsValue): string {
  if (v === null) return "an undefined value";
  if (typeof v === "object") return "a complex value";
  return `${typeof v === "string" ? `'${v}'` : String(v)}`;
}

const INT_RE = /^[+-]?\d+$/;
const FLOAT_RE = /^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$/;

function parseNumber(token: string): { value: number | bigint; kind: "integer" | "float" } | null {
  if (INT_RE.test(token)) {
    const n = Number(token);
    return { value: Number.isSafeInteger(n) ? n : BigInt(token), kind: "integer" };
  }
  if (FLOAT_RE.test(token)) return { value: Number(token.replace(/[Dd]/, "e")), kind: "float" };
  return null;
}

interface ParsedValue {
  kind: FitsValueKind;
  value: FitsValue;
  comment?: string;
}

/** Parses the value field `s` (text after the value indicator); throws a message on failure. */
function parseValueField(s: string): ParsedValue {
  let i = 0;
  while (i < s.length && s[i] === " ") i++;
  if (s[i] === "'") {
    let text = "";
    let j = i + 1;
    for (;;) {
      const q = s.indexOf("'", j);
      if (q < 0) throw new Error("string value has no closing quote");
      text += s.slice(j, q);
      if (s[q + 1] === "'") {
        text += "'";
        j = q + 2;
      } else {
        j = q + 1;
        break;
      }
    }
    return { kind: "string", value: text.replace(/ +$/, ""), ...commentAfter(s.slice(j)) };
  }
  if (s[i] === "(") {
    const close = s.indexOf(")", i);
    if (close < 0) throw new Error("complex value has no closing parenthesis");
    const parts = s.slice(i + 1, close).split(",");
    const re = parts.length === 2 ? parseNumber(parts[0].trim()) : null;
    const im = parts.length === 2 ? parseNumber(parts[1].trim()) : null;
    if (!re || !im) throw new Error(`cannot parse complex value ${s.slice(i, close + 1)}`);
    return {
      kind: "complex",
      value: { re: Number(re.value), im: Number(im.value) },
      ...commentAfter(s.slice(close + 1)),
    };
  }
  const slash = s.indexOf("/", i);
  const token = (slash < 0 ? s.slice(i) : s.slice(i, slash)).trim();
  const comment = slash < 0 ? undefined : s.slice(slash + 1).trim();
  const withComment = comment === undefined ? {} : { comment };
  if (token === "") return { kind: "undefined", value: null, ...withComment };
  if (token === "T" || token === "F")
    return { kind: "logical", value: token === "T", ...withComment };
  const n = parseNumber(token);
  if (!n) throw new Error(`cannot parse value "${token}"`);
  return { kind: n.kind, value: n.value, ...withComment };
}

function commentAfter(rest: string): { comment?: string } {
  const t = rest.trim();
  if (t === "") return {};
  if (t[0] !== "/") throw new Error(`unexpected text "${t}" after the value`);
  return { comment: t.slice(1).trim() };
}

/**
 * Parses header cards block by block. `feed` returns true once the END card is seen; cards
 * after END in the same block are padding and ignored.
 */
export class HeaderParser {
  readonly cards: FitsCard[] = [];
  private count = 0;
  private readonly place: HeaderPlace;
  private readonly maxCards: number;
  /** Absolute byte offset of the header start, for error messages. */
  private readonly start: number;

  constructor(place: HeaderPlace, start: number, maxCards = 1_000_000) {
    this.place = place;
    this.start = start;
    this.maxCards = maxCards;
  }

  get cardCount(): number {
    return this.count;
  }

  feed(block: Uint8Array): boolean {
    for (let c = 0; c < CARDS_PER_BLOCK; c++) {
      const index = this.count++;
      if (index >= this.maxCards) {
        throw new FormatError(
          `header has more than ${this.maxCards} cards and no END card`,
          placeOf(this.place, `byte offset ${this.start + index * CARD}`),
        );
      }
      const at = c * CARD;
      for (let k = 0; k < CARD; k++) {
        const b = block[at + k];
        if (b < 32 || b > 126) {
          throw new FormatError(
            `card ${index + 1} has byte 0x${b.toString(16).padStart(2, "0")} at column ${k + 1}; FITS headers are ASCII text (32-126)`,
            placeOf(this.place, `card ${index + 1}, byte offset ${this.start + index * CARD + k}`),
          );
        }
      }
      const image = Buffer.from(block.buffer, block.byteOffset + at, CARD).toString("latin1");
      if (image.startsWith("END") && image.slice(3, 8) === "     ") return true;
      this.addCard(image, index);
    }
    return false;
  }

  private error(index: number, message: string): FormatError {
    return new FormatError(
      `card ${index + 1}: ${message}`,
      placeOf(this.place, `card ${index + 1}, byte offset ${this.start + index * CARD}`),
    );
  }

  private addCard(image: string, index: number): void {
    const name = image.slice(0, 8).trimEnd();
    const upper = name.toUpperCase();
    if (upper === "CONTINUE" && this.continues()) {
      const prev = this.cards[this.cards.length - 1];
      let parsed: ParsedValue;
      try {
        parsed = parseValueField(image.slice(8));
      } catch (e) {
        throw this.error(index, `CONTINUE card: ${(e as Error).message}`);
      }
      if (parsed.kind !== "string") throw this.error(index, "CONTINUE card without a string value");
      prev.value = (prev.value as string).slice(0, -1) + (parsed.value as string);
      if (parsed.comment)
        prev.comment = prev.comment ? `${prev.comment} ${parsed.comment}` : parsed.comment;
      prev.images.push(image);
      return;
    }
    if (upper === "HIERARCH" && image[8] === " ") {
      const eq = image.indexOf("=", 9);
      if (eq > 0) {
        const keyword = image.slice(9, eq).trim().replace(/\s+/g, " ");
        this.pushValued(keyword, image.slice(eq + 1), image, index, true);
        return;
      }
    }
    // The value indicator is "= " in columns 9-10; anything else is commentary (as astropy).
    if (COMMENTARY.has(upper) || image.slice(8, 10) !== "= ") {
      this.cards.push({
        keyword: name,
        kind: "commentary",
        text: image.slice(8).trimEnd(),
        index,
        images: [image],
      });
      return;
    }
    this.pushValued(name, image.slice(10), image, index, false);
  }

  private pushValued(
    keyword: string,
    field: string,
    image: string,
    index: number,
    hierarch: boolean,
  ): void {
    let parsed: ParsedValue;
    try {
      parsed = parseValueField(field);
    } catch (e) {
      throw this.error(index, `${keyword}: ${(e as Error).message}`);
    }
    const card: FitsCard = {
      keyword,
      kind: parsed.kind,
      value: parsed.value,
      index,
      images: [image],
    };
    if (parsed.comment !== undefined) card.comment = parsed.comment;
    if (hierarch) card.hierarch = true;
    this.cards.push(card);
  }

  /** Does the last card hold a string ending in '&' (the long-string convention)? */
  private continues(): boolean {
    const prev = this.cards[this.cards.length - 1];
    return prev?.kind === "string" && typeof prev.value === "string" && prev.value.endsWith("&");
  }
}

/** Parses a whole header given as text or bytes (a multiple of 80 characters ending in END). */
export function parseHeader(text: string | Uint8Array, place: HeaderPlace = {}): FitsHeader {
  let bytes = typeof text === "string" ? Buffer.from(text, "latin1") : text;
  if (bytes.length % BLOCK !== 0) {
    const padded = Buffer.alloc(Math.ceil(bytes.length / BLOCK) * BLOCK, 32);
    padded.set(bytes);
    bytes = padded;
  }
  const parser = new HeaderParser(place, 0);
  for (let at = 0; at < bytes.length; at += BLOCK) {
    if (parser.feed(bytes.subarray(at, at + BLOCK))) return new FitsHeader(parser.cards, place);
  }
  throw new FormatError("header has no END card", placeOf(place, `card ${parser.cardCount}`));
}

// ---------------------------------------------------------------------------------------------
// Formatting cards

/** A card to write: a raw 80-character card image, or keyword, value and comment. */
export type FitsCardInput =
  | string
  | {
      keyword: string;
      value?: FitsValue;
      comment?: string;
      /** "float" writes an integral number as a real (150 → 150.0); "commentary" writes text. */
      kind?: FitsValueKind;
      /** Commentary cards (COMMENT, HISTORY): the text. */
      text?: string;
    };

const STANDARD_KEYWORD = /^[A-Z0-9_-]{1,8}$/;

/** Formats a real so that it reads back as the same double: shortest repr, with '.' and 'E'. */
export function formatReal(x: number): string {
  if (!Number.isFinite(x)) throw new UsageError(`FITS header values must be finite, got ${x}`);
  if (Object.is(x, -0)) return "-0.0";
  let s = String(x).toUpperCase();
  if (!s.includes(".")) s = s.includes("E") ? s.replace("E", ".0E") : `${s}.0`;
  return s;
}

function formatValue(value: FitsValue, kind: FitsValueKind | undefined): string {
  if (value === null) return "";
  if (typeof value === "boolean") return value ? "T" : "F";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (kind !== "float" && Number.isSafeInteger(value) && !Object.is(value, -0))
      return String(value);
    return formatReal(value);
  }
  if (typeof value === "string") return `'${value.replace(/'/g, "''").padEnd(8, " ")}'`;
  return `(${formatReal(value.re)}, ${formatReal(value.im)})`;
}

function checkAscii(s: string, what: string): void {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c > 126) {
      throw new UsageError(
        `${what} has character U+${c.toString(16).padStart(4, "0")}; FITS headers are ASCII`,
      );
    }
  }
}

function pad80(s: string): string {
  return s.padEnd(CARD, " ");
}

function withComment(card: string, comment: string | undefined): string {
  if (!comment) return pad80(card);
  const room = CARD - card.length - 3;
  if (room <= 0) return pad80(card);
  // Comments are not data: one that does not fit is cut, as astropy does.
  return pad80(`${card} / ${comment.slice(0, room)}`);
}

/** Splits an escaped string into pieces of at most `max` characters without cutting a ''. */
function splitEscaped(escaped: string, max: number): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < escaped.length) {
    let end = Math.min(at + max, escaped.length);
    // Count quotes before `end` in this piece: an odd run ending at end-1 would split a pair.
    let run = 0;
    for (let k = end - 1; k >= at && escaped[k] === "'"; k--) run++;
    if (run % 2 === 1 && end < escaped.length) end--;
    out.push(escaped.slice(at, end));
    at = end;
  }
  return out.length ? out : [""];
}

/** Formats one card input as one or more 80-character card images. */
export function formatCard(input: FitsCardInput): string[] {
  if (typeof input === "string") {
    checkAscii(input, "card");
    if (input.length > CARD) throw new UsageError(`card longer than 80 characters: ${input}`);
    return [pad80(input)];
  }
  const keyword = input.keyword.trim();
  checkAscii(keyword, `keyword ${keyword}`);
  if (input.comment) checkAscii(input.comment, `comment of ${keyword}`);
  const upper = keyword.toUpperCase();
  if (input.kind === "commentary" || (COMMENTARY.has(upper) && input.value === undefined)) {
    const text = input.text ?? (typeof input.value === "string" ? input.value : "");
    checkAscii(text, `${keyword} text`);
    const pieces: string[] = [];
    for (let at = 0; at === 0 || at < text.length; at += 72) pieces.push(text.slice(at, at + 72));
    return pieces.map((p) => pad80(`${upper.padEnd(8, " ")}${p}`));
  }
  const value = input.value === undefined ? null : input.value;
  if (typeof value === "string") checkAscii(value, `value of ${keyword}`);
  const standard = STANDARD_KEYWORD.test(upper);
  const lead = standard ? `${upper.padEnd(8, " ")}= ` : `HIERARCH ${keyword} = `;
  if (lead.length > 60) throw new UsageError(`keyword too long for a HIERARCH card: ${keyword}`);
  if (typeof value === "string") {
    const escaped = value.replace(/'/g, "''");
    const single = `${lead}'${escaped.padEnd(8, " ")}'`;
    if (single.length <= CARD) return [withComment(single, input.comment)];
    // Long string: CONTINUE convention, each piece but the last ending in '&'.
    const firstRoom = CARD - lead.length - 3;
    const first = splitEscaped(escaped, firstRoom)[0];
    const rest = splitEscaped(escaped.slice(first.length), 67);
    const cards = [pad80(`${lead}'${first}&'`)];
    rest.forEach((piece, k) => {
      const last = k === rest.length - 1;
      const card = `CONTINUE  '${piece}${last ? "" : "&"}'`;
      cards.push(last ? withComment(card, input.comment) : pad80(card));
    });
    return cards;
  }
  const formatted = formatValue(value, input.kind);
  // Fixed format: numbers and logicals right-justified to column 30.
  const card = standard ? `${lead}${formatted.padStart(20, " ")}` : `${lead}${formatted}`;
  if (card.length > CARD) throw new UsageError(`card for ${keyword} is longer than 80 characters`);
  return [withComment(card, input.comment)];
}

/** Header bytes: the card images, END, padded with spaces to a multiple of 2880. */
export function headerBytes(images: string[]): Buffer {
  for (const image of images) {
    if (image.length > CARD) throw new UsageError(`card longer than 80 characters: ${image}`);
  }
  const all = [...images, "END"].map(pad80).join("");
  const size = Math.ceil(all.length / BLOCK) * BLOCK;
  const out = Buffer.alloc(size, 32);
  out.write(all, 0, "latin1");
  return out;
}
