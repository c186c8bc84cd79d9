// Seeded permutations that need no memory per row, so a shuffled view of a billion rows costs
// nothing until read: a Feistel network over the smallest power-of-4 domain holding n, walked in
// cycles until the value falls below n (a bijection on [0, n), fewer than 4 steps on average).
import { InternalError, UsageError } from "../core/errors.ts";

function mix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export class Permutation {
  readonly n: number;
  private readonly half: number;
  private readonly halfSize: number;
  private readonly keys: number[];

  constructor(n: number, seed: number) {
    if (!(Number.isInteger(n) && n >= 0 && n <= 2 ** 52))
      throw new UsageError(`permutation size ${n} out of range`);
    this.n = n;
    let bits = 2;
    while (2 ** bits < n) bits += 2;
    this.half = bits / 2;
    this.halfSize = 2 ** this.half;
    this.keys = [0, 1, 2, 3].map((r) =>
      mix32(mix32(seed | 0) ^ mix32(r * 0x9e3779b9 + Math.floor(seed / 2 ** 32))),
    );
  }

  private round(x: number, r: number): number {
    // For half > 26 the low 32 bits of the mix are spread over the half by a second mix.
    const low = mix32((x % 2 ** 32) ^ this.keys[r] ^ Math.floor(x / 2 ** 32));
    return this.half <= 32 ? low % this.halfSize : (mix32(low) * 2 ** 32 + low) % this.halfSize;
  }

  private encrypt(v: number): number {
    let left = Math.floor(v / this.halfSize);
    let right = v % this.halfSize;
    for (let r = 0; r < 4; r++) {
      const next = xorNumber(left, this.round(right, r));
      left = right;
      right = next;
    }
    return left * this.halfSize + right;
  }

  private decrypt(v: number): number {
    let left = Math.floor(v / this.halfSize);
    let right = v % this.halfSize;
    for (let r = 3; r >= 0; r--) {
      const prev = xorNumber(right, this.round(left, r));
      right = left;
      left = prev;
    }
    return left * this.halfSize + right;
  }

  /** Where position i goes. */
  at(i: number): number {
    let v = this.encrypt(i);
    while (v >= this.n) v = this.encrypt(v);
    return v;
  }

  /** The position that goes to j. */
  inverse(j: number): number {
    let v = this.decrypt(j);
    while (v >= this.n) v = this.decrypt(v);
    return v;
  }
}

/** XOR of two non-negative integers below 2^53 (JS bitwise ops are 32-bit). */
function xorNumber(a: number, b: number): number {
  const hi = (Math.floor(a / 2 ** 32) ^ Math.floor(b / 2 ** 32)) >>> 0;
  const lo = ((a % 2 ** 32) ^ (b % 2 ** 32)) >>> 0;
  return hi * 2 ** 32 + lo;
}

/**
 * A shuffle that reads efficiently: positions [0, n) are cut into blocks of `blockRows`
 * contiguous rows; blocks are permuted; consecutive permuted blocks form windows of
 * `windowBlocks` blocks; rows are permuted within each window. Reading a window is a few
 * contiguous reads. Every position maps to exactly one row (a bijection), so `get(i)` and
 * iteration agree.
 */
export class BlockShuffle {
  readonly n: number;
  readonly blockRows: number;
  readonly windowBlocks: number;
  private readonly seed: number;
  private readonly nBlocks: number;
  private readonly blocks: Permutation;
  private readonly lastBlockRows: number;
  /** Window holding the one short block (the last block of the data), if any. */
  private readonly shortWindow: number;
  readonly windowCount: number;

  constructor(n: number, seed: number, blockRows = 1024, windowBlocks = 16) {
    this.n = n;
    this.seed = seed;
    this.blockRows = blockRows;
    this.windowBlocks = windowBlocks;
    this.nBlocks = Math.ceil(n / blockRows);
    this.blocks = new Permutation(this.nBlocks, seed);
    this.lastBlockRows = n - (this.nBlocks - 1) * blockRows;
    this.windowCount = Math.ceil(this.nBlocks / windowBlocks);
    this.shortWindow =
      this.nBlocks > 0 && this.lastBlockRows < blockRows
        ? Math.floor(this.blocks.inverse(this.nBlocks - 1) / windowBlocks)
        : Number.POSITIVE_INFINITY;
  }

  /** First position of window w. */
  private windowStart(w: number): number {
    const full = w * this.windowBlocks * this.blockRows;
    return w > this.shortWindow ? full - (this.blockRows - this.lastBlockRows) : full;
  }

  /** The blocks of window w, in order, as [start, end) row ranges. */
  windowBlockRanges(w: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let t = 0; t < this.windowBlocks; t++) {
      const slot = w * this.windowBlocks + t;
      if (slot >= this.nBlocks) break;
      const b = this.blocks.at(slot);
      out.push([b * this.blockRows, Math.min(this.n, (b + 1) * this.blockRows)]);
    }
    return out;
  }

  windowRows(w: number): number {
    const end = w + 1 < this.windowCount ? this.windowStart(w + 1) : this.n;
    return end - this.windowStart(w);
  }

  /** Row order within window w: position j of the window reads its `windowPermutation(w).at(j)`-th row. */
  windowPermutation(w: number): Permutation {
    return new Permutation(this.windowRows(w), mix32(this.seed ^ mix32(w + 1)));
  }

  /** The row at shuffled position i. */
  at(i: number): number {
    if (!(Number.isInteger(i) && i >= 0 && i < this.n))
      throw new UsageError(`position ${i} outside [0, ${this.n})`);
    const span = this.windowBlocks * this.blockRows;
    let w = Math.floor(i / span);
    if (w >= this.windowCount) w = this.windowCount - 1;
    while (w > 0 && this.windowStart(w) > i) w--;
    while (w + 1 < this.windowCount && this.windowStart(w + 1) <= i) w++;
    let r = this.windowPermutation(w).at(i - this.windowStart(w));
    for (const [start, end] of this.windowBlockRanges(w)) {
      if (r < end - start) return start + r;
      r -= end - start;
    }
    throw new InternalError("shuffle: window rows exhausted");
  }
}

/**
 * A seed is a safe integer: NaN, text or 1.5 were taken as some other seed (1.5 as 1), so a typo
 * gave a different order or split without a word.
 */
export function checkSeed(seed: unknown, what: string): void {
  if (!Number.isSafeInteger(seed))
    throw new UsageError(
      `${what} seed must be an integer, got ${JSON.stringify(seed) ?? String(seed)}`,
    );
}
