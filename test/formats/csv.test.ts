// CSV: streaming reader with type inference (checked on an astropy-written file), writer round
// trips, tokenizer edge cases and malformed input.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { FormatError, UsageError } from "../../src/core/errors.ts";
import {
  type CsvRecord,
  CsvTokenizer,
  MAX_BATCH_FIELDS,
  openCsv,
  type TextTableBatch,
  writeCsv,
} from "../../src/formats/csv.ts";
import { tempDir } from "../helpers/tmp.ts";
import { assertValues, type ExpectedValue, fixture, loadExpected } from "./expected.ts";

const dir = tempDir("astropile-csv-");

async function readAll(path: string, options = {}, batchSize = 1000) {
  const reader = await openCsv(path, options);
  const batches: TextTableBatch[] = [];
  for await (const b of reader.batches(batchSize)) batches.push(b);
  return { reader, batches };
}

function column(batches: TextTableBatch[], name: string): unknown[] {
  return batches.flatMap((b) => Array.from(b.columns[name] as ArrayLike<unknown>));
}

function nullsOf(batches: TextTableBatch[], name: string): number[] {
  return batches.flatMap((b) => [...(b.nulls[name] ?? new Uint8Array(b.rows))]);
}

describe("CSV reader", () => {
  test("an astropy-written CSV: int64 beyond 2^53, floats, bools, quoted strings, nulls", async () => {
    const expected = loadExpected<{
      columns: Record<string, { dtype: string; values: ExpectedValue[]; nulls?: number[] }>;
    }>("catalog.csv.expected.json");
    for (const size of [1, 2, 100]) {
      const { reader, batches } = await readAll(fixture("catalog.csv"), {}, size);
      assert.deepEqual(
        reader.specs.map((s) => [s.name, s.dtype]),
        Object.entries(expected.columns).map(([n, c]) => [n, c.dtype]),
      );
      for (const [name, e] of Object.entries(expected.columns)) {
        assertValues(
          column(batches, name) as never,
          e.values,
          `${name} (batches of ${size})`,
          e.nulls,
        );
        assert.deepEqual(nullsOf(batches, name), e.nulls ?? e.values.map(() => 0), `${name} nulls`);
      }
      assert.ok(Number.isNaN(column(batches, "mag")[2] as number), "nan read as NaN, not null");
    }
  });

  test("writer → reader round trip keeps every value exact", async () => {
    const specs: ColumnSpec[] = [
      { name: "i64", dtype: "int64", shape: [] },
      { name: "u64", dtype: "uint64", shape: [] },
      { name: "i8", dtype: "int8", shape: [] },
      { name: "f32", dtype: "float32", shape: [] },
      { name: "f64", dtype: "float64", shape: [] },
      { name: "flag", dtype: "bool", shape: [] },
      { name: "text, with comma", dtype: "string", shape: [] },
    ];
    const batch: ColumnBatch = {
      i64: BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n, 0n, 5n, 7n]),
      u64: BigUint64Array.from([2n ** 64n - 1n, 0n, 1n, 2n, 3n]),
      i8: Int8Array.from([-128, 127, 0, 1, 2]),
      f32: Float32Array.from([0.1, Number.NaN, Number.POSITIVE_INFINITY, -3.4e38, 1e-45]),
      f64: Float64Array.from([0.1, -0, 5e-324, Number.NEGATIVE_INFINITY, Math.PI]),
      flag: Uint8Array.from([1, 0, 1, 0, 1]),
      "text, with comma": ["plain", 'quote " here', "multi\nline\r\nbreaks", "  spaces  ", ""],
    };
    const nulls = { i64: Uint8Array.from([0, 0, 1, 0, 0]), flag: Uint8Array.from([0, 0, 0, 1, 0]) };
    const path = join(dir, "round.csv");
    await writeCsv(path, specs, [{ startRow: 0, rows: 5, columns: batch, nulls }]);
    const types = Object.fromEntries(specs.map((s) => [s.name, s.dtype]));
    const { reader, batches } = await readAll(path, { types }, 2);
    assert.deepEqual(
      reader.names,
      specs.map((s) => s.name),
    );
    for (const s of specs) {
      const got = column(batches, s.name);
      const want = Array.from(batch[s.name] as ArrayLike<unknown>);
      got.forEach((v, i) => {
        if (nulls[s.name as keyof typeof nulls]?.[i]) return;
        assert.ok(Object.is(v, want[i]), `${s.name}[${i}]: ${String(v)} vs ${String(want[i])}`);
      });
    }
    assert.deepEqual(nullsOf(batches, "i64"), [0, 0, 1, 0, 0]);
    assert.deepEqual(nullsOf(batches, "flag"), [0, 0, 0, 1, 0]);
    // The empty string was written as "" and reads back as a string, not a null.
    assert.deepEqual(nullsOf(batches, "text, with comma"), [0, 0, 0, 0, 0]);
    // Without types: int64 (even int8 values), float64, bool, string.
    const inferred = await openCsv(path);
    assert.deepEqual(
      inferred.specs.map((s) => s.dtype),
      ["int64", "float64", "int64", "float64", "float64", "bool", "string"],
    );
    // u64 holds 2^64-1, beyond int64: inferred as float64, like astropy, and listed as a column
    // of integers that uint64 holds exactly (the builder reads it so).
    assert.deepEqual(inferred.uint64Columns, ["u64"]);
  });

  test("tokenizer: quotes, escaped quotes, CRLF and embedded newlines survive any chunking", () => {
    const text = 'a,b,c\r\n"x,1","say ""hi""",\n"multi\nline",,"end"""\n  spaced ,"",last\n';
    const whole: CsvRecord[] = [];
    const t = new CsvTokenizer({ delimiter: "," });
    t.push(text, whole);
    t.end(whole);
    assert.deepEqual(
      whole.map((r) => r.fields),
      [
        ["a", "b", "c"],
        ["x,1", 'say "hi"', ""],
        ["multi\nline", "", 'end"'],
        ["  spaced ", "", "last"],
      ],
    );
    assert.deepEqual(
      whole.map((r) => r.line),
      [1, 2, 3, 5],
    );
    assert.deepEqual(whole[3].quoted, [false, true, false]);
    for (const size of [1, 2, 3, 7]) {
      const out: CsvRecord[] = [];
      const tk = new CsvTokenizer({ delimiter: "," });
      for (let i = 0; i < text.length; i += size) tk.push(text.slice(i, i + size), out);
      tk.end(out);
      assert.deepEqual(out, whole, `chunks of ${size}`);
    }
    const spaced: CsvRecord[] = [];
    const sp = new CsvTokenizer({ delimiter: " ", comment: "#" });
    sp.push('# comment\n  a   "b c"  ""\n#x\n1 2 3', spaced);
    sp.end(spaced);
    assert.deepEqual(
      spaced.map((r) => r.fields),
      [
        ["a", "b c", ""],
        ["1", "2", "3"],
      ],
    );
  });

  test("malformed CSV: ragged rows, unterminated quotes, duplicate names, late type changes", async () => {
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const ragged = write("ragged.csv", "a,b\n1,2\n3\n");
    await assert.rejects(
      readAll(ragged),
      (e: Error) =>
        e instanceof FormatError && /line 3/.test(e.message) && e.message.includes(ragged),
    );
    const open = write("open.csv", 'a,b\n1,"never closed\n2,3\n');
    await assert.rejects(
      readAll(open),
      (e: Error) =>
        e instanceof FormatError && /quoted field/.test(e.message) && /line 2/.test(e.message),
    );
    const dup = write("dup.csv", "a,a\n1,2\n");
    await assert.rejects(
      openCsv(dup),
      (e: Error) => e instanceof FormatError && /duplicate column name "a"/.test(e.message),
    );
    const late = write("late.csv", "n\n1\n2\nthree\n");
    await assert.rejects(
      readAll(late, { inferRows: 2 }),
      (e: Error) =>
        e instanceof FormatError && e.message.includes('column "n"') && /line 4/.test(e.message),
    );
    assert.equal((await openCsv(late)).specs[0].dtype, "string");
    await assert.rejects(openCsv(write("empty.csv", "")), FormatError);
    await assert.rejects(
      writeCsv(join(dir, "x.csv"), [{ name: "v", dtype: "float32", shape: [2] }], []),
      UsageError,
    );
    assert.equal(readFileSync(late, "utf8").length > 0, true);
  });

  test("comment lines before the header: the error says to set the comment character, which reads them", async () => {
    const p = join(dir, "commented.csv");
    writeFileSync(p, "# written by a survey pipeline\n#\nid,ra\n1,10.5\n# mid-file note\n2,11.5\n");
    await assert.rejects(readAll(p), (e: Error) => {
      assert.ok(e instanceof FormatError, String(e));
      assert.equal(
        e.message,
        `row has 2 fields, the header has 1: the header read is the line "# written by a survey pipeline"; to skip comment lines, set the comment character (catalog.comment: "#" in a build spec) (file ${p}, line 3)`,
      );
      return true;
    });
    const { reader, batches } = await readAll(p, { comment: "#" });
    assert.deepEqual(reader.names, ["id", "ra"]);
    assert.deepEqual(column(batches, "ra"), [10.5, 11.5]);
    // A real one-column header keeps the plain message.
    const one = join(dir, "one-column.csv");
    writeFileSync(one, "id\n1,2\n");
    await assert.rejects(readAll(one), /^FormatError: row has 2 fields, the header has 1 \(file /);
  });
});

test("wide rows end a batch early: a batch holds at most MAX_BATCH_FIELDS values", async () => {
  const cols = 3000;
  const rows = 1500;
  const path = join(dir, "wide.csv");
  const line = Array.from({ length: cols }, (_, k) => String(k % 10)).join(",");
  const header = Array.from({ length: cols }, (_, k) => `c${k}`).join(",");
  writeFileSync(path, `${header}\n${`${line}\n`.repeat(rows)}`);
  const reader = await openCsv(path, { inferRows: 10 });
  const sizes: number[] = [];
  for await (const b of reader.batches(65536)) {
    sizes.push(b.rows);
    assert.equal((b.columns.c2999 as BigInt64Array)[b.rows - 1], 9n);
  }
  const most = Math.floor(MAX_BATCH_FIELDS / cols);
  assert.deepEqual(sizes, [most + 1, rows - most - 1]);
});
