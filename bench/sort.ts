// `npm run bench sort`: the external sort (src/storage/external-sort.ts) that the writer and the
// build's assembly use, on 1e7 rows of an object_id index (int64 key, uint32 file, uint32 row),
// against numpy's stable argsort and take of the same rows (bench/sort_numpy.py, in memory):
//
//  1. in memory (one radix sort);
//  2. spilled to sorted runs and merged (a memory budget of a quarter of the rows);
//  3. merged from files already sorted (addSortedFile: the build's assembly merging 8 units'
//     indexes), read and merged, nothing sorted again.
//
// Keys: a seeded generator's numbers scaled to 52 bits, times 1000 (every byte varies). Best of
// 3 for numpy; one pass each here (a pass writes and reads files). Results: BENCHMARKS.md,
// section "sort".
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ColumnBatch } from "../src/core/columns.ts";
import { ExternalSorter } from "../src/storage/external-sort.ts";
import { ID_INDEX_COLUMNS } from "../src/storage/id-index.ts";
import { PartitionWriter } from "../src/storage/partition-writer.ts";
import { lcg } from "./random.ts";

const PYTHON = "/usr/bin/python3";
const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), "sort_numpy.py");
const RUNS = 8;

/** RUNS pieces of rows, each sorted by key (as a unit's index is). */
function pieces(total: number): ColumnBatch[] {
  const rand = lcg(7);
  const out: ColumnBatch[] = [];
  for (let p = 0; p < RUNS; p++) {
    const n = Math.floor(total / RUNS);
    const keys = new BigInt64Array(n);
    for (let i = 0; i < n; i++) keys[i] = BigInt(Math.floor(rand() * 2 ** 52)) * 1000n;
    keys.sort();
    out.push({
      id_key: keys,
      file: new Uint32Array(n).fill(p),
      row: Uint32Array.from({ length: n }, (_, i) => i),
    });
  }
  return out;
}

async function drain(sorter: ExternalSorter): Promise<number> {
  let rows = 0;
  for await (const b of sorter.sorted()) rows += (b.id_key as BigInt64Array).length;
  return rows;
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const total = quick ? 1_000_000 : 10_000_000;
  const dir = await mkdtemp(join(tmpdir(), "astropile-bench-sort-"));
  try {
    const input = pieces(total);
    const rows = RUNS * (input[0]!.id_key as BigInt64Array).length;
    const rowBytes = 16;
    console.log(
      `rows: ${rows.toLocaleString("en-US")} in ${RUNS} sorted pieces; load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" / ")}`,
    );

    // numpy on the same rows (concatenated in piece order: a stable sort keeps that order on ties).
    const bin = join(dir, "rows.bin");
    const cat = (name: string) =>
      Buffer.concat(input.map((b) => Buffer.from((b[name] as Uint32Array).buffer)));
    await writeFile(bin, Buffer.concat([cat("id_key"), cat("file"), cat("row")]));
    const py = spawnSync(PYTHON, [SCRIPT, bin, String(rows), "3"], { encoding: "utf8" });
    const numpy =
      py.status === 0
        ? (JSON.parse(py.stdout.trim().split("\n").pop()!) as { seconds: number; numpy: string })
        : null;
    if (!numpy) console.log(`numpy: not run (${py.stderr.trim().split("\n").pop() ?? py.error})`);

    const timed = async (
      label: string,
      memory: number,
      fill: (s: ExternalSorter) => Promise<void>,
    ) => {
      const sorter = new ExternalSorter(ID_INDEX_COLUMNS, "id_key", join(dir, label), memory);
      const t = performance.now();
      await fill(sorter);
      const runs = sorter.spilledRuns;
      const got = await drain(sorter);
      const s = (performance.now() - t) / 1000;
      await sorter.close();
      if (got !== rows) throw new Error(`${label}: ${got} rows out of ${rows}`);
      const ratio = numpy ? ` = ${(s / numpy.seconds).toFixed(2)}x numpy` : "";
      console.log(`| ${label} | ${runs} | ${s.toFixed(2)}${ratio} |`);
    };
    console.log(
      `\nnumpy ${numpy?.numpy ?? "-"} stable argsort + take: ${numpy ? numpy.seconds.toFixed(2) : "-"} s (best of 3)\n`,
    );
    console.log("| AstroPile | runs merged | s (add + sorted) |");
    console.log("|---|--:|--:|");
    await timed("in memory", 4 * rows * rowBytes, async (s) => {
      for (const b of input) await s.add(b, (b.id_key as BigInt64Array).length);
    });
    await timed("spilled, budget 1/4 of the rows", Math.floor((rows * rowBytes) / 4), async (s) => {
      for (const b of input) await s.add(b, (b.id_key as BigInt64Array).length);
    });
    const files: string[] = [];
    for (const [p, b] of input.entries()) {
      const path = join(dir, `piece-${p}.hdf5`);
      const w = await PartitionWriter.create(path, ID_INDEX_COLUMNS, { compression: "none" });
      w.append(b);
      await w.close();
      files.push(path);
    }
    await timed(`${RUNS} sorted files merged (addSortedFile)`, 256 * 2 ** 20, async (s) => {
      for (const path of files) await s.addSortedFile(path);
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
