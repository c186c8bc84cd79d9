// Seeded randomness for the fuzz suite: every case draws from its own generator, derived from
// the run's seed, the family and the case number, so one case replays alone
// (ASTROPILE_FUZZ_SEED=S ASTROPILE_FUZZ_CASE=k) exactly as it ran among the others.
import { createHash } from "node:crypto";
import { mulberry32 } from "../helpers/sky-points.ts";

export class Rng {
  private readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** The generator of case `index` of `family` in the run seeded `seed`. */
  static forCase(seed: number, family: string, index: number): Rng {
    const h = createHash("sha256").update(`${seed}:${family}:${index}`).digest();
    return new Rng(h.readUInt32LE(0));
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [a, b]. */
  between(a: number, b: number): number {
    return a + this.int(b - a + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.int(items.length)];
  }

  /** An entry of `table` chosen with probability proportional to its weight. */
  weighted<T>(table: ReadonlyArray<readonly [number, T]>): T {
    const total = table.reduce((s, [w]) => s + w, 0);
    let x = this.next() * total;
    for (const [w, v] of table) {
      x -= w;
      if (x < 0) return v;
    }
    return table[table.length - 1][1];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}
