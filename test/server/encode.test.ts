// The rows encoders: an answer whose rows are all read goes out as one buffer (rowsBytes), and
// must be the bytes the streamed answer (rowsBody) gives, ASCII or not, one batch or several.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type AnswerColumn, type RowBatch, rowsBody, rowsBytes } from "../../src/server/encode.ts";

async function streamed(
  format: "json" | "csv",
  columns: AnswerColumn[],
  batches: RowBatch[],
): Promise<Buffer> {
  const [first, ...rest] = batches;
  async function* more(): AsyncGenerator<RowBatch> {
    yield* rest;
  }
  const parts: Buffer[] = [];
  const head = { offset: 3, limit: 50, total: null };
  for await (const c of rowsBody(format, columns, head, first ? [first] : [], more()))
    parts.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(parts);
}

const numeric: AnswerColumn[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "flux_Å", dtype: "float32", shape: [], unit: "erg/s/cm²/Å" },
  { name: "flag", dtype: "bool", shape: [] },
  { name: "n", dtype: "int32", shape: [] },
  { name: "cell", dtype: "float32", shape: [2] },
];
const ascii: AnswerColumn[] = numeric.filter((c) => c.name !== "flux_Å");
const withText: AnswerColumn[] = [...ascii, { name: "label", dtype: "string", shape: [] }];

function batch(n: number, from: number): RowBatch {
  return {
    length: n,
    columns: {
      object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(from + i) * 10_000_000_007n),
      ra: Float64Array.from({ length: n }, (_, i) => (i % 5 === 0 ? Number.NaN : 150 + i / 7)),
      flux_Å: Float32Array.from({ length: n }, (_, i) => (i === 1 ? -Infinity : i / 3)),
      flag: Uint8Array.from({ length: n }, (_, i) => i % 2),
      n: Int32Array.from({ length: n }, (_, i) => -i),
      cell: Float32Array.from({ length: 2 * n }, (_, i) => i * 0.1),
      label: Array.from({ length: n }, (_, i) => (i % 2 ? `café "${i}"` : `a,b ${i}`)),
    },
  };
}

test("an answer in one buffer has the streamed answer's bytes (JSON and CSV, ASCII or not)", async () => {
  for (const columns of [numeric, ascii, withText, []])
    for (const batches of [
      [],
      [batch(0, 0)],
      [batch(7, 0)],
      [batch(7, 0), batch(0, 7), batch(5, 7)],
    ])
      for (const format of ["json", "csv"] as const) {
        const head = { offset: 3, limit: 50, total: null };
        const whole = rowsBytes(format, columns, head, batches);
        const want = await streamed(format, columns, batches);
        const what = `${format} ${columns.map((c) => c.name)} ${batches.map((b) => b.length)}`;
        assert.ok(whole.equals(want), what);
        if (format === "json") {
          const body = JSON.parse(whole.toString("utf8"));
          assert.equal(
            body.rows.length,
            batches.reduce((s, b) => s + b.length, 0),
            what,
          );
          if (columns === numeric && body.rows.length > 2) {
            assert.equal(body.columns[2].unit, "erg/s/cm²/Å");
            assert.equal(body.rows[2]["flux_Å"], Math.fround(2 / 3));
          }
          if (columns === withText && body.rows.length > 1)
            assert.equal(body.rows[1].label, 'café "1"');
        }
      }
});
