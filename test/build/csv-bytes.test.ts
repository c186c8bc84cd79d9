// The catalog builder's CSV byte reader (formats/csv-bytes.ts, build/catalog.ts convertByteBatch)
// against the text reader it replaces: seeded CSVs with quotes, escapes, newlines in quotes,
// CR / CRLF / LF, comments, blank lines, a BOM, bad widths, unterminated quotes, gzip, every kind
// of number text; read in small chunks so records and batches cross chunk boundaries.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import {
  convertBatch,
  convertByteBatch,
  openCatalog,
  outputColumns,
  parsePlainFloat,
} from "../../src/build/catalog.ts";
import { readRecords } from "../../src/formats/csv.ts";
import { csvByteBatches, fieldText } from "../../src/formats/csv-bytes.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-csv-bytes-");
let seed = 1;
const rnd = () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
};
const pick = <T>(a: T[]) => a[Math.floor(rnd() * a.length)];
const nums = [
  "1",
  "-0",
  "+5",
  "0.5",
  ".5",
  "5.",
  ".",
  "1e5",
  "1E-5",
  "1e",
  "1e400",
  "1e-400",
  "123456789012345678",
  "0.1234567890123456789",
  " 3 ",
  "\t4",
  "nan",
  "-inf",
  "Infinity",
  "",
  '""',
  '"7"',
  '"a,b"',
  '"x""y"',
  'x"y',
  '"q"z',
  "abc",
  "é1",
  "1.7976931348623157e308",
  "4.9e-324",
  "9007199254740993",
  "-12",
  "0x1f",
  "1_0",
  "00012",
  "3.000000000000000001",
  "1e22",
  "1e23",
  "123.456e-20",
  "\u00a05",
  "true",
  "FALSE",
];
function randNum() {
  const r = rnd();
  if (r < 0.5) return pick(nums);
  if (r < 0.8)
    return (rnd() * 10 ** Math.floor(rnd() * 30 - 15)).toPrecision(1 + Math.floor(rnd() * 18));
  return String(Math.floor(rnd() * 1e6) - 5e5);
}
function makeCsv(): string {
  const eol = pick(["\n", "\r\n", "\r"]);
  let s = rnd() < 0.1 ? "\ufeff" : "";
  s += pick(["id,ra,dec,mag,name", "id,ra,dec,mag,name,extra", '"id",ra, dec ,mag,name']) + eol;
  const w = s.split(",").length;
  const rows = 1 + Math.floor(rnd() * 60);
  for (let i = 0; i < rows; i++) {
    if (rnd() < 0.05) {
      s += eol;
      continue;
    }
    if (rnd() < 0.05) {
      s += `#comment${eol}`;
      continue;
    }
    const f = [
      randNum(),
      rnd() < 0.8 ? String(rnd() * 360) : randNum(),
      rnd() < 0.8 ? String(rnd() * 180 - 90) : randNum(),
      randNum(),
      pick(["abc", '"multi\nline"', '""', "", " sp ", '"quoted""x"', "é"]),
    ];
    while (f.length < w) f.push(pick(["1", '"x\ny"', ""]));
    if (rnd() < 0.02) f.pop();
    s += f.join(",") + (i === rows - 1 && rnd() < 0.3 ? "" : eol);
  }
  if (rnd() < 0.02) s += '"unterminated';
  return s;
}
const specs: Array<Record<string, unknown>> = [
  { object_id: "id", ra: "ra", dec: "dec", mag: { from: "mag", dtype: "float32" }, name: "name" },
  {
    object_id: { from: "id", dtype: "int32" },
    ra: "ra",
    dec: "dec",
    mag: { from: "mag", dtype: "float64", range: [0, 10] },
    name: { from: "name", required: true },
  },
  {
    object_id: { from: "id", dtype: "string" },
    ra: "ra",
    dec: "dec",
    mag: { from: "mag", dtype: "int64", fill: 7 },
    name: { from: "name", dtype: "bool", fill: true },
  },
  {
    object_id: { from: "id", dtype: "uint8", range: [1, 100] },
    ra: "ra",
    dec: "dec",
    mag: { from: "mag", dtype: "int16" },
  },
];
async function run(
  path: string,
  mapping: Record<string, unknown>,
  useBytes: boolean,
  carry: string[],
) {
  const out: unknown[] = [];
  try {
    const reader = await openCatalog(path, { files: path, comment: "#" } as never);
    const outputs = outputColumns(mapping as never, reader.specs, path);
    const needed = [...new Set([...outputs.map((o) => o.source), ...carry])];
    if (useBytes) {
      const b = reader.byteBatches!(needed, 7);
      const names = reader.specs.map((s) => s.name);
      const gen = csvByteBatches(
        path,
        {
          delimiter: ",",
          comment: "#",
          file: path,
          width: names.length,
          fields: needed.map((c) => names.indexOf(c)),
          header: true,
          chunkBytes: 64 + Math.floor(rnd() * 200),
        },
        7,
      );
      for await (const x of gen)
        out.push([x.startRow, convertByteBatch(x, outputs, carry, b.slotOf)]);
    } else
      for await (const raw of reader.batches(needed, 7))
        out.push([raw.startRow, convertBatch(raw, outputs, carry)]);
  } catch (e) {
    out.push(
      `ERR ${(e as Error).constructor.name} ${(e as Error).message} ${JSON.stringify((e as { context?: unknown }).context ?? "")}`,
    );
  }
  return out;
}
function ser(x: unknown): string {
  return JSON.stringify(x, (_k, v) => {
    if (typeof v === "bigint") return `${v}n`;
    if (typeof v === "number")
      return Object.is(v, -0)
        ? "-0"
        : Number.isNaN(v)
          ? "NaN"
          : v === Infinity
            ? "Inf"
            : v === -Infinity
              ? "-Inf"
              : v;
    if (ArrayBuffer.isView(v))
      return Array.from(v as unknown as ArrayLike<number>, (y) =>
        typeof y === "number" ? (Object.is(y, -0) ? "-0" : Number.isNaN(y) ? "NaN" : y) : `${y}n`,
      );
    if (v instanceof Map) return [...v];
    return v;
  });
}
let bad = 0;
const stats = { n: 0, err: 0, rej: 0 };

test("CSV read as bytes: the same rows, values, refusals and errors as the text reader (seeded cases, small chunks)", async () => {
  for (let t = 0; t < 150; t++) {
    const csv = makeCsv();
    const path = `${join(dir, `t${t % 5}`)}.csv${rnd() < 0.3 ? ".gz" : ""}`;
    writeFileSync(path, path.endsWith(".gz") ? gzipSync(csv) : csv);
    for (const m of specs) {
      const carry = rnd() < 0.5 ? ["name"] : [];
      const a = ser(await run(path, m, false, carry));
      const b = ser(await run(path, m, true, carry));
      stats.n++;
      if (a.includes("ERR")) stats.err++;
      stats.rej += (b.match(/column /g) ?? []).length;
      if (a !== b) {
        bad++;
        if (bad < 2) assert.equal(b, a, `case ${t}: ${JSON.stringify(csv)} ${JSON.stringify(m)}`);
      }
    }
  }
  assert.equal(bad, 0);
  assert.ok(stats.err > 0 && stats.n - stats.err > 100 && stats.rej > 1000, JSON.stringify(stats));
});

/**
 * A CSV of long runs of plain records (the byte reader's one-loop path) broken now and then by
 * a record that path must leave to the general one: a comment, a blank line, a quoted field,
 * a CR or CRLF line end, a row of the wrong width, a field over the length limit; or a file
 * that ends without a line end or inside quotes.
 */
function makePlainCsv(): string {
  const eol = pick(["\n", "\n", "\r\n"]);
  let s = `id,ra,dec,mag,name${eol}`;
  const rows = 50 + Math.floor(rnd() * 400);
  const plain = () =>
    [
      String(1 + Math.floor(rnd() * 1e6)),
      (rnd() * 360).toFixed(9),
      (rnd() * 180 - 90).toFixed(9),
      rnd() < 0.1 ? "" : (10 + rnd() * 10).toFixed(3),
      pick(["a", "bc", "", 'x"y', "d e"]),
    ].join(",");
  for (let i = 0; i < rows; i++) {
    const r = rnd();
    if (r < 0.01) s += pick(["#c", "#c,1,2,3,4"]) + eol;
    else if (r < 0.02) s += eol;
    else if (r < 0.03) s += `${plain().replace(/,[^,]*$/, ',"q,\nr"')}${eol}`;
    else if (r < 0.04) s += `${plain()}\r`;
    else if (r < 0.05) s += `${plain()}\r\n`;
    else if (r < 0.052) s += `${plain().replace(/,[^,]*$/, "")}${eol}`;
    else if (r < 0.054) s += `${plain()},extra${eol}`;
    else if (r < 0.056) s += `${plain().replace(/,[^,]*$/, `,${"z".repeat(40)}`)}${eol}`;
    else s += plain() + (i === rows - 1 && rnd() < 0.3 ? "" : eol);
  }
  if (rnd() < 0.05) s += '1,2,3,4,"unterminated';
  return s;
}

test("CSV read as bytes: long runs of plain records, and the records among them only the general path reads, as the text reader reads them", async () => {
  let errors = 0;
  let lineErrors = 0;
  for (let t = 0; t < 120; t++) {
    const csv = makePlainCsv();
    const path = join(dir, `plain${t % 3}.csv`);
    writeFileSync(path, csv);
    const chunkBytes = pick([97, 300, 4096, 1 << 20]);
    const batchRows = pick([7, 64, 16384]);
    // The byte reader's rows (of the batches it yields) and its error.
    const rows: string[][] = [];
    let error = "";
    try {
      for await (const b of csvByteBatches(
        path,
        {
          delimiter: ",",
          comment: "#",
          file: path,
          width: 5,
          fields: [4, 0, 1, 3],
          header: true,
          chunkBytes,
          maxFieldLength: 32,
        },
        batchRows,
      )) {
        assert.equal(b.startRow, rows.length);
        for (let i = 0; i < b.rows; i++) {
          const at = i * b.slots;
          rows.push(
            [0, 1, 2, 3].map((k) => fieldText(b.buf, b.start[at + k]!, b.end[at + k]!).text),
          );
        }
      }
    } catch (e) {
      error = (e as Error).message;
    }
    // The text tokenizer's records (to its error, if any). A row of the wrong width is an
    // error raised when its batch is complete, so a tokenizer error within that batch, or the
    // file's end, comes first; either way the batch the error is found in is not handed out.
    const records: string[][] = [];
    let widthAt = -1;
    let widthError = "";
    let tokenError = "";
    try {
      let header = true;
      const opts = { delimiter: ",", comment: "#", file: path, maxFieldLength: 32 };
      // Small chunks: records found before an error in the same chunk are not handed out.
      for await (const batch of readRecords(path, opts, 0, 8))
        for (const rec of batch) {
          if (header) {
            header = false;
            continue;
          }
          if (rec.fields.length !== 5 && widthAt < 0) {
            widthAt = records.length;
            widthError = `row has ${rec.fields.length} fields, the header has 5 (file ${path}, line ${rec.line})`;
          }
          records.push([4, 0, 1, 3].map((k) => rec.fields[k] ?? ""));
        }
    } catch (e) {
      tokenError = (e as Error).message;
    }
    const batchOf = (row: number) => Math.floor(row / batchRows) * batchRows;
    const widthFirst =
      widthAt >= 0 && (!tokenError || records.length >= batchOf(widthAt) + batchRows);
    const wantError = widthFirst ? widthError : tokenError;
    const handed = widthFirst
      ? batchOf(widthAt)
      : tokenError
        ? batchOf(records.length)
        : records.length;
    const where = `case ${t} (chunks of ${chunkBytes}, batches of ${batchRows})`;
    assert.equal(error, wantError, where);
    assert.deepEqual(rows, records.slice(0, handed), where);
    if (wantError) errors++;
    if (/line (\d{3,})/.test(wantError)) lineErrors++;
  }
  // Errors after long plain runs were met (so their line numbers were compared).
  assert.ok(errors > 20 && lineErrors > 10, `${errors} errors, ${lineErrors} past line 99`);
});

test("plain decimals parsed from bytes are the doubles Number() gives (or left to the text path)", () => {
  let fbad = 0;
  for (let i = 0; i < 200000; i++) {
    const r = rnd();
    let t: string;
    if (r < 0.3)
      t = (rnd() * 10 ** Math.floor(rnd() * 50 - 25)).toPrecision(1 + Math.floor(rnd() * 17));
    else if (r < 0.6) t = (Math.floor(rnd() * 1e9) / 10 ** Math.floor(rnd() * 12)).toString();
    else {
      t = "";
      const n = 1 + Math.floor(rnd() * 20);
      for (let k = 0; k < n; k++) t += pick(["1", "2", "9", "0", "0", ".", "e", "-", "+", "5"]);
    }
    const x = parsePlainFloat(Buffer.from(t), 0, t.length);
    if (Number.isNaN(x)) continue;
    const ok = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t);
    if (!ok || !Object.is(x, Number(t))) {
      fbad++;
      assert.fail(`${t}: ${x} vs ${Number(t)}`);
    }
  }
  assert.equal(fbad, 0);
});
