// `npm run bench parquet-memory`: peak RSS of a Parquet export of image rows (5x64x64 float32,
// 80 KiB a row) at two sizes, each in a process of its own: bounded memory means the peak does
// not grow with the rows written (one 256-row input batch and one ~64 MiB row group in memory).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeParquetExport } from "../src/interop/parquet-export.ts";

function* images(rows: number): Generator<{ object_id: BigInt64Array; image_array: Float32Array }> {
  let s = 1;
  for (let at = 0; at < rows; at += 256) {
    const n = Math.min(256, rows - at);
    const im = new Float32Array(n * 5 * 4096);
    for (let i = 0; i < im.length; i++) {
      s = (s * 16807) % 2147483647;
      im[i] = s / 2147483647;
    }
    yield {
      object_id: BigInt64Array.from({ length: n }, (_, i) => BigInt(at + i)),
      image_array: im,
    };
  }
}

async function child(rows: number, out: string): Promise<void> {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  const t0 = performance.now();
  await writeParquetExport(
    images(rows),
    [
      { name: "object_id", dtype: "int64", shape: [] },
      { name: "image_array", dtype: "float32", shape: [5, 64, 64] },
    ],
    out,
  );
  clearInterval(timer);
  console.log(
    JSON.stringify({
      rows,
      secs: (performance.now() - t0) / 1000,
      peakMiB: Math.round(peak / 2 ** 20),
    }),
  );
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-pqmem-"));
  try {
    for (const rows of quick ? [500, 2000] : [2000, 8000]) {
      const out = execFileSync(
        process.execPath,
        ["--import", "tsx", import.meta.filename, String(rows), join(dir, `${rows}.parquet`)],
        { encoding: "utf8" },
      );
      const r = JSON.parse(out.trim().split("\n").at(-1)!);
      console.log(
        `${rows} image rows (${((rows * 80) / 1024).toFixed(0)} MiB of pixels): ${r.secs.toFixed(1)} s, peak RSS ${r.peakMiB} MiB`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === import.meta.filename && process.argv.length === 4)
  await child(Number(process.argv[2]), process.argv[3]);
