// `npm run bench parquet`: exporting a 1e6-row catalog (object_id int64, ra/dec float64, five
// float32 magnitudes) to Parquet (zstd), against DuckDB's own `COPY ... TO 'x.parquet'` from
// the same rows as CSV, in the same run. AstroPile is timed twice: from in-memory batches
// (writeParquetExport, the writer alone) and end to end from an AstroPile dataset on disk
// (exportParquet: HDF5 reads + Parquet). DuckDB is timed from the CSV (its parse + write) and
// from a table already in its memory (its writer alone). Both outputs are read back by DuckDB
// and compared (row count, sums). Best of 3 runs each, interleaved.
import { createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import type { ColumnBatch, ColumnSpec } from "../src/core/columns.ts";
import { openDataset } from "../src/dataset/dataset.ts";
import { exportParquet, writeParquetExport } from "../src/interop/parquet-export.ts";
import { writeDataset } from "../src/storage/dataset-writer.ts";

const SPECS: ColumnSpec[] = [
  { name: "object_id", dtype: "int64", shape: [] },
  { name: "ra", dtype: "float64", shape: [], unit: "deg" },
  { name: "dec", dtype: "float64", shape: [], unit: "deg" },
  ...["g", "r", "i", "z", "y"].map(
    (b): ColumnSpec => ({ name: `mag_${b}`, dtype: "float32", shape: [], unit: "mag" }),
  ),
];

function* catalog(rows: number, batch = 65536): Generator<ColumnBatch> {
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let s = 0; s < rows; s += batch) {
    const n = Math.min(batch, rows - s);
    const b: ColumnBatch = {
      object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(s + i) * 7919n + 40000000000n),
      ra: Float64Array.from({ length: n }, () => rand() * 360),
      dec: Float64Array.from({ length: n }, () => Math.asin(2 * rand() - 1) * (180 / Math.PI)),
    };
    for (const band of "grizy")
      b[`mag_${band}`] = Float32Array.from({ length: n }, () => 17 + rand() * 9);
    yield b;
  }
}

async function writeCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write(`${SPECS.map((s) => s.name).join(",")}\n`);
  for (const b of catalog(rows)) {
    const n = (b.ra as Float64Array).length;
    const lines: string[] = [];
    for (let i = 0; i < n; i++)
      lines.push(SPECS.map((s) => String((b[s.name] as ArrayLike<unknown>)[i])).join(","));
    if (!out.write(`${lines.join("\n")}\n`))
      await new Promise<void>((r) => out.once("drain", () => r()));
  }
  await new Promise<void>((r, j) => out.end((e?: Error) => (e ? j(e) : r())));
}

async function time<T>(f: () => Promise<T>): Promise<number> {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const rows = quick ? 100_000 : 1_000_000;
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-parquet-"));
  try {
    const csv = join(dir, "catalog.csv");
    await writeCsv(csv, rows);
    await writeDataset(join(dir, "ds"), SPECS, catalog(rows), {
      config: "main",
      provenance: { project: "bench", survey: "BENCH", release: "1" },
      compression: "none",
    });
    const ds = await openDataset(join(dir, "ds"));
    const exportCols = SPECS.map((s) => s.name);
    const conn = await (await DuckDBInstance.create(":memory:")).connect();
    await conn.run(`CREATE TABLE mem AS SELECT * FROM read_csv('${csv}')`);
    const inMemory = [...catalog(rows)]; // generated once, outside the timings
    const best: Record<string, number> = { mem: 1e9, ds: 1e9, duckCsv: 1e9, duckMem: 1e9 };
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    for (let k = 0; k < 3; k++) {
      const tag = `${k}`;
      best.mem = Math.min(
        best.mem,
        await time(() =>
          writeParquetExport(inMemory, SPECS, join(dir, `mem${tag}.parquet`), { overwrite: true }),
        ),
      );
      best.ds = Math.min(
        best.ds,
        await time(() =>
          exportParquet(ds, join(dir, `ds${tag}.parquet`), {
            columns: exportCols,
            overwrite: true,
          }),
        ),
      );
      best.duckCsv = Math.min(
        best.duckCsv,
        await time(() =>
          conn.run(
            `COPY (SELECT * FROM read_csv('${csv}')) TO '${dir}/duckcsv${tag}.parquet' (FORMAT parquet, COMPRESSION zstd)`,
          ),
        ),
      );
      best.duckMem = Math.min(
        best.duckMem,
        await time(() =>
          conn.run(`COPY mem TO '${dir}/duckmem${tag}.parquet' (FORMAT parquet, COMPRESSION zstd)`),
        ),
      );
    }
    clearInterval(sampler);
    const check = async (f: string) =>
      (
        await conn.runAndReadAll(
          `SELECT count(*)::BIGINT, sum(object_id)::HUGEINT::VARCHAR, round(sum(ra), 3), round(sum(mag_y), 1) FROM '${f}'`,
        )
      )
        .getRows()[0]
        .map(String)
        .join(" ");
    const ref = await check(join(dir, "duckcsv0.parquet"));
    for (const f of ["mem0.parquet", "ds0.parquet"]) {
      const got = await check(join(dir, f));
      if (got !== ref) throw new Error(`${f} differs from DuckDB's output: ${got} vs ${ref}`);
    }
    const mb = (f: string) => (statSync(join(dir, f)).size / 2 ** 20).toFixed(1);
    const rate = (s: number) => `${(rows / s / 1e6).toFixed(2)} M rows/s`;
    console.log(`rows ${rows}; same rows and sums in all outputs (${ref})`);
    console.log(
      `AstroPile writeParquetExport (batches in memory): ${best.mem.toFixed(2)} s, ${rate(best.mem)}, ${mb("mem0.parquet")} MiB`,
    );
    console.log(
      `AstroPile exportParquet (dataset on disk):        ${best.ds.toFixed(2)} s, ${rate(best.ds)}, ${mb("ds0.parquet")} MiB`,
    );
    console.log(
      `DuckDB COPY from CSV:                            ${best.duckCsv.toFixed(2)} s, ${rate(best.duckCsv)}, ${mb("duckcsv0.parquet")} MiB`,
    );
    console.log(
      `DuckDB COPY from its in-memory table:            ${best.duckMem.toFixed(2)} s, ${rate(best.duckMem)}, ${mb("duckmem0.parquet")} MiB`,
    );
    console.log(
      `ratios (time, AstroPile / DuckDB): batches vs CSV ${(best.mem / best.duckCsv).toFixed(2)}x, dataset vs CSV ${(best.ds / best.duckCsv).toFixed(2)}x, batches vs in-memory table ${(best.mem / best.duckMem).toFixed(2)}x`,
    );
    console.log(
      `peak RSS of the whole run (DuckDB in-process too): ${(peakRss / 2 ** 20).toFixed(0)} MiB`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
