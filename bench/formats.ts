// `npm run bench formats`: reading a 1e6-row catalog CSV to columns, with AstroPile's
// hand-written tokenizer (`readRecords` in src/formats/csv.ts) against the csv-parse package
// driven to give the same records (fields, quoted empties, line numbers), and csv-parse without
// the hook that tells quoted empties (faster, not a drop-in). All feed the same conversion to
// typed columns; the outputs are checked equal; best of 3 runs each, interleaved.
//   catalog: id int64, ra, dec float64, g/r/i/z magnitudes (float32 in storage), a name string
//   (some quoted, some with commas and doubled quotes), empty cells in about 2% of magnitudes.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Options, parse } from "csv-parse";
import type { ColumnSpec } from "../src/core/columns.ts";
import {
  allocateValues,
  type CsvRecord,
  readRecords,
  storeNull,
  storeValue,
  type TokenizerOptions,
} from "../src/formats/csv.ts";

const SPECS: ColumnSpec[] = [
  { name: "id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [] },
  { name: "dec", dtype: "float64", shape: [] },
  ...["g", "r", "i", "z"].map(
    (b): ColumnSpec => ({ name: `mag_${b}`, dtype: "float32", shape: [] }),
  ),
  { name: "name", dtype: "string", shape: [] },
];

/** Deterministic catalog text, written in blocks. */
async function writeCatalog(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  out.write(`${SPECS.map((s) => s.name).join(",")}\n`);
  for (let start = 0; start < rows; start += 10_000) {
    const lines: string[] = [];
    for (let r = start; r < Math.min(rows, start + 10_000); r++) {
      const id = 40_000_000_000_000_000n + BigInt(r) * 7919n;
      const mags = [0, 1, 2, 3].map(() =>
        rand() < 0.02 ? "" : (18 + rand() * 8).toFixed(4 + Math.floor(rand() * 3)),
      );
      const k = rand();
      const name =
        k < 0.1 ? `"SDSS J${r}, field ${r % 97}"` : k < 0.12 ? `"say ""hi"" ${r}"` : `obj_${r}`;
      lines.push(
        `${id},${(rand() * 360).toPrecision(17)},${(rand() * 180 - 90).toPrecision(16)},${mags.join(",")},${name}`,
      );
    }
    if (!out.write(`${lines.join("\n")}\n`))
      await new Promise((r) => out.once("drain", () => r(0)));
  }
  await new Promise<void>((resolve, reject) =>
    out.end((e?: Error | null) => (e ? reject(e) : resolve())),
  );
}

const QUOTED_EMPTY = Object.freeze(new String(""));

/**
 * csv-parse configured to give the records the hand-written tokenizer gives. Telling a quoted
 * empty field ("", an empty string; in ECSV also a field between spaces) from an empty cell (a
 * null) needs csv-parse's `cast` hook, whose per-field context is what makes it slow; with
 * `quoting` false that hook is left out (not a drop-in: "" and nothing read the same).
 */
async function* readRecordsCsvParse(
  path: string,
  options: TokenizerOptions,
  quoting = true,
): AsyncGenerator<CsvRecord[]> {
  const spaces = options.delimiter === " ";
  const config: Options<CsvRecord, (string | typeof QUOTED_EMPTY)[]> = {
    delimiter: spaces ? [" ", "\t"] : options.delimiter,
    record_delimiter: ["\r\n", "\n", "\r"],
    comment: options.comment,
    comment_no_infix: true,
    relax_column_count: true,
    relax_quotes: true,
    skip_empty_lines: true,
    bom: true,
    max_record_size: options.maxFieldLength ?? 64 * 1024 * 1024,
    // Only empty fields need to say whether they were quoted ("" is a string, nothing a null).
    cast: quoting
      ? (value, context) => (value === "" && context.quoting ? QUOTED_EMPTY : value)
      : undefined,
    on_record: (record, context) => {
      const fields: string[] = [];
      const quoted: boolean[] = [];
      for (const v of record) {
        const isQuoted = v === QUOTED_EMPTY;
        if (spaces && v === "") continue; // runs of spaces: no field between them
        fields.push(isQuoted ? "" : (v as string));
        quoted.push(isQuoted);
      }
      return fields.length ? { fields, quoted, line: context.lines } : null;
    },
  };
  const parser = parse(config as unknown as Options);
  const source = createReadStream(path, { highWaterMark: 1 << 20 });
  source.on("error", (e) => parser.destroy(e));
  source.pipe(parser);
  let out: CsvRecord[] = [];
  for await (const rec of parser) {
    out.push(rec as CsvRecord);
    if (out.length === 8192) {
      yield out;
      out = [];
    }
  }
  if (out.length) yield out;
}

type Reader = (path: string, options: TokenizerOptions) => AsyncGenerator<CsvRecord[]>;

/** Records to typed columns in batches of 65536 rows, as CsvReader.batches does. */
async function readColumns(path: string, reader: Reader) {
  const columns: Record<string, unknown[]> = Object.fromEntries(SPECS.map((s) => [s.name, []]));
  let rows = 0;
  let pending: CsvRecord[] = [];
  let header = true;
  const flush = () => {
    for (const [k, spec] of SPECS.entries()) {
      const values = allocateValues(spec.dtype, pending.length);
      for (let r = 0; r < pending.length; r++) {
        const rec = pending[r];
        const text = rec.fields[k];
        if (text === "" && !(spec.dtype === "string" && rec.quoted[k])) storeNull(values, r);
        else if (!storeValue(values, r, spec.dtype, text))
          throw new Error(`line ${rec.line}: ${text}`);
      }
      columns[spec.name].push(values);
    }
    rows += pending.length;
    pending = [];
  };
  for await (const records of reader(path, { delimiter: "," })) {
    for (const rec of records) {
      if (header) {
        header = false;
        continue;
      }
      pending.push(rec);
      if (pending.length === 65536) flush();
    }
  }
  if (pending.length) flush();
  return { rows, columns };
}

function sameColumns(a: Record<string, unknown[]>, b: Record<string, unknown[]>): boolean {
  for (const spec of SPECS) {
    const x = a[spec.name].flatMap((v) => Array.from(v as ArrayLike<unknown>));
    const y = b[spec.name].flatMap((v) => Array.from(v as ArrayLike<unknown>));
    if (x.length !== y.length || x.some((v, i) => !Object.is(v, y[i]))) return false;
  }
  return true;
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const rows = quick ? 100_000 : 1_000_000;
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-formats-"));
  try {
    const path = join(dir, "catalog.csv");
    await writeCatalog(path, rows);
    console.log(
      `catalog: ${rows} rows, ${(statSync(path).size / 2 ** 20).toFixed(1)} MiB, ${SPECS.length} columns`,
    );
    const readers: [string, Reader][] = [
      ["hand-written tokenizer", readRecords],
      ["csv-parse", readRecordsCsvParse],
      [
        "csv-parse without the cast hook (not a drop-in)",
        (p, o) => readRecordsCsvParse(p, o, false),
      ],
    ];
    const best: Record<string, number> = {};
    const outputs: Record<string, Record<string, unknown[]>> = {};
    for (let round = 0; round < 3; round++) {
      for (const [name, reader] of readers) {
        const t0 = performance.now();
        const { rows: n, columns } = await readColumns(path, reader);
        const s = (performance.now() - t0) / 1000;
        if (n !== rows) throw new Error(`${name}: ${n} rows, expected ${rows}`);
        best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, s);
        if (round === 0) outputs[name] = columns;
      }
    }
    // This catalog has no quoted empty strings, so all three give the same columns.
    for (const [name] of readers.slice(1)) {
      if (!sameColumns(outputs[readers[0][0]], outputs[name]))
        throw new Error(`${name} gave other columns than the hand-written tokenizer`);
    }
    console.log("outputs equal: yes");
    console.log("| tokenizer | best of 3 (s) | rows/s |");
    console.log("|---|--:|--:|");
    for (const [name] of readers) {
      console.log(`| ${name} | ${best[name].toFixed(2)} | ${Math.round(rows / best[name])} |`);
    }
    for (const [name] of readers.slice(1)) {
      const ratio = best[name] / best[readers[0][0]];
      console.log(`ratio ${name} / hand-written: ${ratio.toFixed(2)}x (replace if <= 1.5x)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
