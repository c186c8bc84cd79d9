// The tiny synthetic surveys shared by the synth, build and CLI tests, and readers of their truth.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ColumnValues } from "../../src/core/columns.ts";
import { openEcsv } from "../../src/formats/index.ts";
import { generateSurveys, type SynthResult } from "../../src/synth/index.ts";

export const SEED = 7;

/**
 * Generates the tiny surveys (with `defects` broken catalog rows per survey) in `dir` (make it
 * with tempDir() at the top level of the test file, where its cleanup hook belongs).
 */
export async function tinySurveys(dir: string, defects = 4): Promise<SynthResult> {
  return generateSurveys({ dir, size: "tiny", seed: SEED, defects });
}

/** Every column of an ECSV file (small files only). */
export async function readEcsvAll(path: string): Promise<Record<string, ColumnValues>> {
  const reader = await openEcsv(path);
  const out: Record<string, ColumnValues[]> = {};
  for await (const b of reader.batches()) {
    for (const [k, v] of Object.entries(b.columns)) {
      out[k] ??= [];
      out[k].push(v);
    }
  }
  const joined: Record<string, ColumnValues> = {};
  for (const [k, parts] of Object.entries(out)) {
    joined[k] = Array.isArray(parts[0])
      ? ([] as string[]).concat(...(parts as string[][]))
      : parts.length === 1
        ? parts[0]
        : (() => {
            const n = parts.reduce((s, p) => s + p.length, 0);
            const arr = new (parts[0].constructor as new (n: number) => Float64Array)(n);
            let at = 0;
            for (const p of parts) {
              arr.set(p as Float64Array, at);
              at += p.length;
            }
            return arr as unknown as ColumnValues;
          })();
  }
  return joined;
}

/** The imaging catalog CSV as text rows keyed by column name (values exactly as written). */
export function readCatalogCsv(path: string): Array<Record<string, string>> {
  const [header, ...lines] = readFileSync(path, "utf8").trimEnd().split("\n");
  const names = header.split(",");
  return lines.map((l) => {
    const cells = l.split(",");
    return Object.fromEntries(names.map((n, k) => [n, cells[k] ?? ""]));
  });
}

export function hscDir(r: SynthResult): string {
  return join(r.dir, "hsc");
}

export function desiDir(r: SynthResult): string {
  return join(r.dir, "desi");
}
