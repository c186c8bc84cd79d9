// One writer run for bench/parquet-writers.ts: node parquet-writers-child.mjs LIB KIND OUT CODEC quick|full
import { closeSync, createWriteStream, openSync, statSync, writeSync } from "node:fs";
import { Writable } from "node:stream";
import { DuckDBInstance } from "@duckdb/node-api";
import * as arrow from "apache-arrow";
import { ByteWriter, ParquetWriter } from "hyparquet-writer";
import * as pw from "parquet-wasm";

const [lib, kind, out, codec, size] = process.argv.slice(2);
const quick = size === "quick";
const N = kind === "catalog" ? (quick ? 100_000 : 1_000_000) : quick ? 1_000 : 10_000;
const B = kind === "catalog" ? 65536 : 512;
const PIX = 64 * 64;
let seed = 12345;
const rnd = () => {
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 2 ** 32;
};
function* batches() {
  for (let s = 0; s < N; s += B) {
    const n = Math.min(B, N - s);
    const id = new BigInt64Array(n);
    const ra = new Float64Array(n);
    const dec = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      id[i] = BigInt(s + i) * 1000003n;
      ra[i] = rnd() * 360;
      dec[i] = rnd() * 180 - 90;
    }
    const cols = { object_id: id, ra, dec };
    if (kind === "catalog")
      for (const b of "grizy") {
        const m = new Float32Array(n);
        for (let i = 0; i < n; i++) m[i] = 18 + rnd() * 8;
        cols[`mag_${b}`] = m;
      }
    else {
      const im = new Float32Array(n * PIX);
      for (let i = 0; i < im.length; i++) im[i] = rnd();
      cols.image = im;
    }
    yield { n, cols };
  }
}
const t0 = performance.now();
let peak = 0;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().rss);
};
const timer = setInterval(sample, 20);
if (lib === "none") {
  for (const _ of batches());
} else if (lib === "parquet-wasm") {
  const fields = [
    new arrow.Field("object_id", new arrow.Int64(), false),
    new arrow.Field("ra", new arrow.Float64(), false),
    new arrow.Field("dec", new arrow.Float64(), false),
  ];
  if (kind === "catalog")
    for (const b of "grizy") fields.push(new arrow.Field(`mag_${b}`, new arrow.Float32(), false));
  else
    fields.push(
      new arrow.Field(
        "image",
        new arrow.FixedSizeList(PIX, new arrow.Field("item", new arrow.Float32(), false)),
        false,
      ),
    );
  const schema = new arrow.Schema(fields);
  const it = batches();
  const rs = new ReadableStream({
    pull(ctrl) {
      const r = it.next();
      if (r.done) {
        ctrl.close();
        return;
      }
      const { n, cols } = r.value;
      const children = fields.map((f) => {
        const v = cols[f.name];
        if (f.type instanceof arrow.FixedSizeList) {
          const child = arrow.makeData({
            type: f.type.children[0].type,
            length: v.length,
            data: v,
          });
          return arrow.makeData({ type: f.type, length: n, child });
        }
        return arrow.makeData({ type: f.type, length: n, data: v });
      });
      const rb = new arrow.RecordBatch(
        schema,
        arrow.makeData({ type: new arrow.Struct(fields), length: n, children }),
      );
      const t = pw.Table.fromIPCStream(arrow.tableToIPC(new arrow.Table([rb]), "stream"));
      for (const b of t.recordBatches()) ctrl.enqueue(b);
    },
  });
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(codec === "snappy" ? pw.Compression.SNAPPY : pw.Compression.ZSTD)
    .setMaxRowGroupSize(kind === "catalog" ? 1 << 20 : 2048)
    .build();
  const bytes = await pw.transformParquetStream(rs, props);
  await bytes.pipeTo(Writable.toWeb(createWriteStream(out)));
} else {
  const fd = openSync(out, "w");
  const bw = new ByteWriter();
  bw.flush = () => {
    writeSync(fd, new Uint8Array(bw.buffer, 0, bw.index));
    bw.index = 0;
  };
  bw.finish = () => bw.flush();
  const schema = [
    { name: "root", num_children: kind === "catalog" ? 8 : 4 },
    { name: "object_id", type: "INT64", repetition_type: "REQUIRED" },
    { name: "ra", type: "DOUBLE", repetition_type: "REQUIRED" },
    { name: "dec", type: "DOUBLE", repetition_type: "REQUIRED" },
  ];
  if (kind === "catalog")
    for (const b of "grizy")
      schema.push({ name: `mag_${b}`, type: "FLOAT", repetition_type: "REQUIRED" });
  else
    schema.push(
      { name: "image", repetition_type: "REQUIRED", converted_type: "LIST", num_children: 1 },
      { name: "list", repetition_type: "REPEATED", num_children: 1 },
      { name: "element", type: "FLOAT", repetition_type: "REQUIRED" },
    );
  const w = new ParquetWriter({ writer: bw, schema, codec: "SNAPPY" });
  for (const { n, cols } of batches()) {
    // hyparquet-writer takes list rows as plain JS arrays.
    const columnData = Object.entries(cols).map(([name, data]) => {
      if (name !== "image") return { name, data };
      const rows = new Array(n);
      for (let i = 0; i < n; i++) rows[i] = Array.from(data.subarray(i * PIX, (i + 1) * PIX));
      return { name, data: rows };
    });
    await w.write({ columnData, rowGroupSize: n });
  }
  await w.finish();
  closeSync(fd);
}
clearInterval(timer);
sample();
const secs = (performance.now() - t0) / 1000;
if (lib === "none") {
  console.log(JSON.stringify({ lib, kind, secs, peakRssMB: Math.round(peak / 2 ** 20) }));
  process.exit(0);
}
const db = await (await DuckDBInstance.create(":memory:", { threads: "1" })).connect();
const r = await db.runAndReadAll(
  `SELECT count(*), round(sum(ra), 3), ${kind === "catalog" ? "round(sum(mag_g), 1)" : "round(sum(list_sum(image)), 0), max(len(image))"} FROM '${out}'`,
);
const desc = await db.runAndReadAll(`DESCRIBE SELECT * FROM '${out}'`);
console.log(
  JSON.stringify({
    lib,
    kind,
    codec,
    rows: N,
    secs,
    peakRssMB: Math.round(peak / 2 ** 20),
    sizeMB: +(statSync(out).size / 2 ** 20).toFixed(1),
    duck: r.getRows()[0].map(String).join(" "),
    types: desc
      .getRows()
      .map((x) => `${x[0]}:${x[1]}`)
      .join(" "),
  }),
);
