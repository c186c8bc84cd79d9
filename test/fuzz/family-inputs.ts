// Fuzz family "inputs": the source readers (CSV, ECSV, FITS) on damaged and hostile files.
//
// Clean inputs: a CSV and an ECSV of 60 rows written here (known values), and the FITS fixtures
// (tables, images, a header-only file). Mutations: one cell of the CSV/ECSV replaced by a hostile
// token (huge, tiny, non-finite, hex, quoted, empty, very long, NUL, other types); a header card
// of a FITS file edited (structural keywords to absurd values, or a harmless keyword); ECSV
// header text made hostile (deep nesting, aliases, huge subtypes, unknown datatypes); bytes
// flipped, zeroed, truncated or appended; CRLF line ends.
//
// Oracle: every read gives an AstroPileError or values, nothing else. Values must be right
// wherever "right" is known: a CRLF or harmless-keyword copy reads exactly as the clean file; a
// cell edit leaves every other cell as it was, and a plain decimal number in a column that kept
// its dtype reads as that number (never wrapped, clamped or rounded into range).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openCsv } from "../../src/formats/csv.ts";
import { openEcsv } from "../../src/formats/ecsv.ts";
import { openFits } from "../../src/formats/fits.ts";
import { fixture } from "../formats/expected.ts";
import { canonical, type Family, FuzzFailure, typedOrValue } from "./family.ts";
import type { Rng } from "./rng.ts";

const ROWS = 60;
const NAMES = ["id", "ra", "dec", "mag", "name"] as const;

/** The clean table: cell text by row and column. */
function cleanCells(): string[][] {
  const rows: string[][] = [];
  for (let i = 0; i < ROWS; i++)
    rows.push([
      String(4611686018427387000n + BigInt(i) * 977n),
      (i * 6.0173).toFixed(9),
      (-60 + i * 1.913).toFixed(9),
      (17 + (i % 9) * 0.37).toFixed(4),
      `obj ${i}`,
    ]);
  return rows;
}

const csvText = (cells: string[][], eol = "\n") =>
  [NAMES.join(","), ...cells.map((r) => r.map(csvField).join(","))].join(eol) + eol;

function csvField(s: string): string {
  return /[",\n\r]/.test(s) || s !== s.trim() ? `"${s.replaceAll('"', '""')}"` : s;
}

const ECSV_HEADER = [
  "# %ECSV 1.0",
  "# ---",
  "# datatype:",
  "# - {name: id, datatype: int64}",
  "# - {name: ra, unit: deg, datatype: float64}",
  "# - {name: dec, unit: deg, datatype: float64}",
  "# - {name: mag, datatype: float32}",
  "# - {name: name, datatype: string}",
  "# meta: {survey: fuzz}",
  "# schema: astropy-2.0",
];

const ecsvText = (cells: string[][], header = ECSV_HEADER, eol = "\n") =>
  [...header, NAMES.join(" "), ...cells.map((r) => r.map(ecsvField).join(" "))].join(eol) + eol;

function ecsvField(s: string): string {
  return /[ "\n\r]/.test(s) || s === "" ? `"${s.replaceAll('"', '""')}"` : s;
}

interface Read {
  specs: unknown;
  batches: unknown[];
}

async function readCsv(path: string): Promise<Read> {
  const r = await openCsv(path);
  const batches: unknown[] = [];
  for await (const b of r.batches(16)) batches.push(b);
  return { specs: r.specs, batches };
}

async function readEcsv(path: string): Promise<Read> {
  const r = await openEcsv(path);
  const batches: unknown[] = [];
  for await (const b of r.batches(16)) batches.push(b);
  return { specs: r.specs, batches };
}

async function readFits(path: string): Promise<Read> {
  const fits = await openFits(path);
  const batches: unknown[] = [];
  try {
    for (const hdu of fits.hdus) {
      batches.push(hdu.header);
      if (hdu.kind === "primary" || hdu.kind === "image") batches.push(await hdu.readImage());
      if (hdu.kind === "bintable" || hdu.kind === "table") {
        const t = hdu.table();
        batches.push(t.specs);
        for await (const b of t.rows(7)) batches.push(b);
      }
    }
  } finally {
    await fits.close();
  }
  return { specs: fits.hdus.length, batches };
}

const READERS = { csv: readCsv, ecsv: readEcsv, fits: readFits } as const;
type Kind = keyof typeof READERS;

let cells: string[][];
const FITS = ["tables.fits", "images.fits", "header.fits"] as const;
const fitsBytes = new Map<string, Buffer>();
const cleanText = new Map<string, string>();

/** Tokens a hostile or careless catalog holds in a cell. */
const HOSTILE = [
  "1e308",
  "-1e308",
  "1e309",
  "4.9e-324",
  "1e-400",
  "NaN",
  "nan",
  "inf",
  "-Infinity",
  "0x10",
  "1_000",
  "1,5",
  " 12.5 ",
  "+7",
  "-0",
  "",
  '"',
  "''",
  "True",
  "9223372036854775807",
  "9223372036854775808",
  "-9223372036854775809",
  "123456789012345678901234567890",
  "1e5",
  "12abc",
  "\u0000",
  "\uFEFF1",
  "é",
  "x".repeat(70_000),
  "360",
  "720.5",
  "-90.000001",
];

/** A plain decimal number text: the value a reader that kept the dtype must return. */
const PLAIN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function columnValues(read: Read, name: string): unknown[] {
  const out: unknown[] = [];
  for (const b of read.batches as Array<{ columns: Record<string, ArrayLike<unknown>> }>)
    out.push(...Array.from(b.columns[name] ?? []));
  return out;
}

function dtypeOf(read: Read, name: string): string | undefined {
  return (read.specs as Array<{ name: string; dtype: string }>).find((s) => s.name === name)?.dtype;
}

const cleanReads = new Map<string, Read>();

function flipBytes(buf: Buffer, rng: Rng): string {
  const at: number[] = [];
  const count = rng.pick([1, 1, 2, 8]);
  for (let k = 0; k < count; k++) {
    const i = rng.chance(0.5) ? rng.int(Math.min(buf.length, 2880)) : rng.int(buf.length);
    buf[i] ^= 1 + rng.int(255);
    at.push(i);
  }
  return `flip bytes ${at.join(",")}`;
}

function byteDamage(buf: Buffer, rng: Rng): [Buffer, string] {
  // (subarray and concat give plain Buffers)
  switch (rng.int(4)) {
    case 0:
      return [buf, flipBytes(buf, rng)];
    case 1: {
      const to = rng.pick([0, 1, 79, 80, 2879, 2880, 2881, buf.length >> 1, buf.length - 1]);
      return [buf.subarray(0, Math.max(0, Math.min(buf.length - 1, to))), `truncate to ${to}`];
    }
    case 2: {
      const from = rng.int(buf.length);
      const len = rng.pick([1, 8, 80, 2880]);
      buf.fill(0, from, Math.min(buf.length, from + len));
      return [buf, `zero [${from}, ${from + len})`];
    }
    default: {
      const extra = rng.pick([1, 80, 2880, 5000]);
      return [Buffer.concat([buf, rng.bytes(extra)]), `append ${extra} random bytes`];
    }
  }
}

/** A FITS header card (80 characters) at `at` rewritten as `keyword = value`. */
function writeCard(buf: Buffer, at: number, keyword: string, value: string): void {
  buf.write(`${keyword.padEnd(8)}= ${value.padStart(20)}`.padEnd(80), at, "latin1");
}

function cardsOf(buf: Buffer): Array<{ at: number; keyword: string }> {
  const out: Array<{ at: number; keyword: string }> = [];
  for (let at = 0; at + 80 <= buf.length; at += 80) {
    const keyword = buf.toString("latin1", at, at + 8).trim();
    if (/^[A-Z0-9_-]+$/.test(keyword) && buf.toString("latin1", at + 8, at + 10) === "= ")
      out.push({ at, keyword });
  }
  return out;
}

const STRUCTURAL =
  /^(SIMPLE|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|TFIELDS|TFORM\d+|TDIM\d+|THEAP|TBCOL\d+|TSCAL\d+|TZERO\d+|BSCALE|BZERO|BLANK|TNULL\d+|EXTEND|ZIMAGE|ZBITPIX|ZNAXIS\d*|ZCMPTYPE)$/;

const CARD_VALUES = [
  "2147483647",
  "-1",
  "0",
  "999999999999",
  "1E308",
  "'999999999E'",
  "'1PE(99999999)'",
  "'E'",
  "'2147483647A'",
  "'(1000000,1000000,1000000)'",
  "7",
  "-64",
  "T",
  "F",
  "'XYZ'",
  "1.5",
  "NaN",
  "",
];

/** ECSV header lines that try the YAML parser and the datatype checks. */
function hostileHeader(rng: Rng): [string[], string] {
  const h = [...ECSV_HEADER];
  switch (rng.int(8)) {
    case 0: {
      const depth = rng.pick([100, 10_000, 100_000]);
      h.splice(8, 1, `# meta: {deep: ${"[".repeat(depth)}${"]".repeat(depth)}}`);
      return [h, `meta nested ${depth} deep`];
    }
    case 1:
      h.splice(
        8,
        1,
        "# meta:",
        "#   a: &a [x, x, x, x, x, x, x, x]",
        "#   b: &b [*a, *a, *a, *a, *a, *a, *a, *a]",
        "#   c: &c [*b, *b, *b, *b, *b, *b, *b, *b]",
        "#   d: [*c, *c, *c, *c, *c, *c, *c, *c]",
      );
      return [h, "meta with aliases"];
    case 2: {
      const sub = rng.pick(["float64[100000000000]", "float32[1e9]", "int64[-1]", "float64[0]"]);
      h[5] = `# - {name: dec, unit: deg, datatype: string, subtype: '${sub}'}`;
      return [h, `dec subtype ${sub}`];
    }
    case 3: {
      const t = rng.pick(["complex128", "float128", "object", "int128", "", "__proto__"]);
      h[6] = `# - {name: mag, datatype: ${t}}`;
      return [h, `mag datatype ${JSON.stringify(t)}`];
    }
    case 4:
      h[3] = "# - {name: __proto__, datatype: int64}";
      return [h, "a column named __proto__ in the header only"];
    case 5:
      h.splice(3, 1);
      return [h, "the header lists one column fewer"];
    case 6:
      h[0] = rng.pick(["# %ECSV 9.9", "# %ECSV", "%ECSV 1.0", "# %ECSV 1.0 extra"]);
      return [h, `first line ${JSON.stringify(h[0])}`];
    default:
      h.splice(8, 1, `# meta: !!python/object:os.system {a: 1}`);
      return [h, "a python tag in meta"];
  }
}

export const family: Family = {
  async setup(work) {
    mkdirSync(work, { recursive: true });
    cells = cleanCells();
    const csv = join(work, "clean.csv");
    const ecsv = join(work, "clean.ecsv");
    writeFileSync(csv, csvText(cells));
    writeFileSync(ecsv, ecsvText(cells));
    cleanReads.set("csv", await readCsv(csv));
    cleanReads.set("ecsv", await readEcsv(ecsv));
    for (const name of FITS) {
      const bytes = readFileSync(fixture(name));
      fitsBytes.set(name, bytes);
      cleanReads.set(name, await readFits(fixture(name)));
    }
    for (const [k, r] of cleanReads) cleanText.set(k, canonical(r));
  },

  async run(rng, dir, note) {
    const kind: Kind = rng.weighted([
      [4, "csv"],
      [3, "ecsv"],
      [4, "fits"],
    ] as const);
    let path: string;
    let what: string;
    let cleanKey: string = kind;
    /** Exact clean values expected (a harmless change). */
    let same = false;
    /** The edited cell, for the cell oracle. */
    let cell: { row: number; col: number; token: string } | null = null;

    if (kind === "fits") {
      const name = rng.pick(FITS);
      cleanKey = name;
      let buf: Buffer = Buffer.from(fitsBytes.get(name)!);
      path = join(dir, name);
      const cards = cardsOf(buf);
      const op = rng.weighted([
        [5, "structural"],
        [2, "harmless"],
        [3, "bytes"],
        [1, "end"],
      ] as const);
      if (op === "structural") {
        const structural = cards.filter((c) => STRUCTURAL.test(c.keyword));
        const c = rng.pick(structural.length ? structural : cards);
        const value = rng.pick(CARD_VALUES);
        writeCard(buf, c.at, c.keyword, value);
        what = `${name}: card ${c.keyword} at ${c.at} -> ${JSON.stringify(value)}`;
      } else if (op === "harmless") {
        const others = cards.filter(
          (c) => !STRUCTURAL.test(c.keyword) && !/^(T|Z|C|E|O|W|L|P|R|D)/.test(c.keyword),
        );
        if (others.length) {
          const c = rng.pick(others);
          // A header keyword nothing reads: the data and every other card read as before.
          buf.write(`COMMENT   ${"fuzz ".repeat(10)}`.padEnd(80), c.at, "latin1");
          what = `${name}: card ${c.keyword} at ${c.at} made a COMMENT`;
        } else {
          what = `${name}: no harmless card`;
        }
      } else if (op === "end") {
        const at = buf.indexOf("END".padEnd(80), 0, "latin1");
        if (at >= 0) buf.write("X".padEnd(80), at, "latin1");
        what = `${name}: first END card removed`;
      } else {
        [buf, what] = byteDamage(buf, rng);
        what = `${name}: ${what}`;
      }
      writeFileSync(path, buf);
    } else {
      const edited = cells.map((r) => [...r]);
      const op = rng.weighted([
        [6, "cell"],
        [1, "crlf"],
        [2, "bytes"],
        [kind === "ecsv" ? 3 : 0, "header"],
        [1, "ragged"],
      ] as const);
      let header = ECSV_HEADER;
      let eol = "\n";
      what = "";
      if (op === "cell") {
        const row = rng.int(ROWS);
        const col = rng.int(NAMES.length);
        const token = rng.pick(HOSTILE);
        edited[row][col] = token;
        cell = { row, col, token };
        what = `row ${row} ${NAMES[col]} = ${JSON.stringify(token.slice(0, 40))}${token.length > 40 ? `… (${token.length} chars)` : ""}`;
      } else if (op === "crlf") {
        eol = "\r\n";
        same = true;
        what = "CRLF line ends";
      } else if (op === "header") {
        [header, what] = hostileHeader(rng);
      } else if (op === "ragged") {
        const row = rng.int(ROWS);
        if (rng.chance(0.5)) edited[row].pop();
        else edited[row].push("extra");
        what = `row ${row} has ${edited[row].length} fields`;
      }
      let text = kind === "csv" ? csvText(edited, eol) : ecsvText(edited, header, eol);
      if (op === "bytes") {
        const [buf, w] = byteDamage(Buffer.from(text, "utf8"), rng);
        text = buf.toString("latin1");
        what = w;
        path = join(dir, `in.${kind}`);
        writeFileSync(path, buf);
      } else {
        path = join(dir, `in.${kind}`);
        writeFileSync(path, text);
      }
      what = `${kind}: ${what}`;
    }
    note(what);

    const r = await typedOrValue(`read ${kind}`, () => READERS[kind](path));
    if (!r.ok) return { outcome: "typed", what };
    const got = r.value;
    if (same && canonical(got) !== cleanText.get(cleanKey))
      throw new FuzzFailure(`${what}: read without an error but not as the clean file`);
    if (kind === "fits" && /made a COMMENT/.test(what)) {
      const data = (x: Read) =>
        canonical(
          (x.batches as unknown[]).filter(
            (b) => !(b as object)?.constructor?.name?.includes("Header"),
          ),
        );
      if (data(got) !== data(cleanReads.get(cleanKey)!))
        throw new FuzzFailure(`${what}: a harmless keyword changed the data read`);
    }
    if (cell) {
      const clean = cleanReads.get(kind)!;
      for (let c = 0; c < NAMES.length; c++) {
        const name = NAMES[c];
        const want = columnValues(clean, name);
        const have = columnValues(got, name);
        if (have.length !== want.length)
          throw new FuzzFailure(`${what}: column ${name} has ${have.length} values, not ${ROWS}`);
        const sameType = dtypeOf(got, name) === dtypeOf(clean, name);
        for (let i = 0; i < ROWS; i++) {
          if (c === cell.col && i === cell.row) {
            const t = cell.token;
            if (sameType && /^[+-]?\d+$/.test(t) && /int/.test(dtypeOf(got, name) ?? "")) {
              if (have[i] !== BigInt(t) && have[i] !== Number(t))
                throw new FuzzFailure(`${what}: read ${have[i]} for the text ${JSON.stringify(t)}`);
            } else if (sameType && PLAIN.test(t) && /float/.test(dtypeOf(got, name) ?? "")) {
              const v = have[i] as number;
              const wantV = dtypeOf(got, name) === "float32" ? Math.fround(Number(t)) : Number(t);
              const nullMask = (
                got.batches as Array<{
                  startRow: number;
                  rows: number;
                  nulls: Record<string, Uint8Array>;
                }>
              ).find((b) => i >= b.startRow && i < b.startRow + b.rows);
              const isNull = nullMask?.nulls[name]?.[i - nullMask.startRow] === 1;
              if (!isNull && !Object.is(v, wantV) && !(Number.isNaN(v) && Number.isNaN(wantV)))
                throw new FuzzFailure(`${what}: read ${v} for the text ${JSON.stringify(t)}`);
            }
            continue;
          }
          if (!sameType) break;
          if (canonical(have[i]) !== canonical(want[i]))
            throw new FuzzFailure(
              `${what}: row ${i} ${name} read ${canonical(have[i])}, the clean file has ${canonical(want[i])}`,
            );
        }
      }
    }
    return { outcome: "correct", what };
  },
};
