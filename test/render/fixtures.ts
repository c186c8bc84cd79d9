// Reads the astropy/matplotlib references of test/fixtures/render (made by
// scripts/make_render_fixtures.py). Non-finite values are stored as the strings "NaN",
// "Infinity" and "-Infinity", which Number() reads back.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const DIR = join(import.meta.dirname, "..", "fixtures", "render");

export function readFixture<T>(name: string): T {
  return JSON.parse(readFileSync(join(DIR, name), "utf8")) as T;
}

export function toNumbers(a: Array<number | string | null>): number[] {
  return a.map((v) => (v === null ? Number.NaN : Number(v)));
}

export function typed(
  dtype: string,
  values: Array<number | string | null>,
): Float32Array | Float64Array {
  return dtype === "float32"
    ? Float32Array.from(toNumbers(values))
    : Float64Array.from(toNumbers(values));
}
