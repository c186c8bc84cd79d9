// `npm run bench parquet-writers`: the measurement behind the choice of Parquet writer
// (DESIGN.md: parquet-wasm + apache-arrow, or hyparquet-writer). Each writer streams the same
// batches to a file, in a child process of its own so peak RSS is its own:
//   catalog: 1e6 rows of object_id int64, ra/dec float64, five float32 magnitudes;
//   images:  1e4 rows of a 64x64 float32 image (list column), plus object_id, ra, dec.
// Reported: time (data generation excluded: measured alone and subtracted), peak RSS, file
// size; DuckDB reads every file back (row count, sums, list length) and must agree.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "astropile-bench-pqw-"));
  const child = join(import.meta.dirname, "parquet-writers-child.mjs");
  try {
    for (const kind of ["catalog", "image"]) {
      const results: Array<Record<string, unknown>> = [];
      for (const lib of ["none", "parquet-wasm", "hyparquet-writer"]) {
        for (const codec of lib === "none" ? ["-"] : ["zstd", "snappy"]) {
          if (lib === "hyparquet-writer" && codec === "zstd") continue; // needs a zstd compressor it lacks
          const out = execFileSync(
            process.execPath,
            [
              child,
              lib,
              kind,
              join(dir, `${lib}-${kind}-${codec}.parquet`),
              codec,
              quick ? "quick" : "full",
            ],
            { encoding: "utf8" },
          );
          results.push(JSON.parse(out.trim().split("\n").at(-1)!));
        }
      }
      const gen = results[0].secs as number;
      console.log(`${kind}: ${results[1].rows} rows; data generation alone ${gen.toFixed(2)} s`);
      for (const r of results.slice(1)) {
        console.log(
          `  ${String(r.lib).padEnd(17)} ${String(r.codec).padEnd(7)} write ${((r.secs as number) - gen).toFixed(2)} s, peak RSS ${r.peakRssMB} MiB, ${r.sizeMB} MiB; DuckDB: ${r.duck} (${r.types})`,
        );
      }
      const sums = new Set(results.slice(1).map((r) => JSON.stringify(r.duck)));
      if (sums.size !== 1) throw new Error(`writers disagree: ${[...sums].join(" / ")}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
