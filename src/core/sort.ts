// Sorting int64 keys without BigInt comparisons: a stable LSD radix sort on the keys' 16-bit
// (8-bit for small sorts) digits, read through a Uint32Array view of the BigInt64Array (no
// BigInt is created). Passes whose digit is the same for every key are skipped, so keys below
// 2^32 take at most half the passes.

/**
 * Bits per radix digit: 16 (65,536 buckets, 4 passes) for large sorts; 8 (256 buckets, up to 8
 * passes, those on a digit all keys share skipped) below SMALL_SORT keys, where clearing and
 * summing 65,536 counts four times cost more than the sort (one partition file of a few rows).
 */
const SMALL_SORT = 1 << 12;

/**
 * Counts per digit size, kept for the thread's life: a fresh 256 KiB array per sort made a build
 * of 3072 small files spend a quarter of its time in garbage collection (external memory).
 * Sorting is synchronous, so one array per size is never in use twice.
 */
const sharedCounts = new Map<number, Uint32Array>();

function countsOf(bits: number): Uint32Array {
  let counts = sharedCounts.get(bits);
  if (!counts) {
    counts = new Uint32Array(1 << bits);
    sharedCounts.set(bits, counts);
  }
  return counts;
}

/**
 * The permutation that sorts `keys` ascending (as signed int64), stable: equal keys keep their
 * order. `order[i]` is the index in `keys` of the i-th smallest key.
 */
export function sortOrderInt64(keys: BigInt64Array): Uint32Array {
  const n = keys.length;
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (n < 2) return order;
  // Little-endian words: [2i] low 32 bits, [2i + 1] high 32 bits (the sign bit flipped below).
  const words = new Uint32Array(keys.buffer, keys.byteOffset, n * 2);
  let tmp = new Uint32Array(n);
  const bits = n < SMALL_SORT ? 8 : 16;
  const counts = countsOf(bits);
  const perWord = 32 / bits;
  const passes = 64 / bits;
  for (let pass = 0; pass < passes; pass++) {
    // The top digit carries the sign: flipping it orders negative keys first.
    const flip = pass === passes - 1 ? 1 << (bits - 1) : 0;
    const word = Math.floor(pass / perWord);
    if (radixPass(words, order, tmp, counts, word, (pass % perWord) * bits, flip)) {
      const moved = tmp;
      tmp = order;
      order = moved;
    }
  }
  return order;
}

/**
 * One stable counting pass on a digit (`counts.length` buckets): `order` scattered into `tmp` by
 * the digit of each key. False (nothing moved) when every key has the same digit. A function of
 * its own, so V8 optimises it from its second call: with the passes' loops inlined in one
 * function, the first sort of a process ran mostly unoptimised (125 ms for 1e5 keys, 45 ms now).
 */
function radixPass(
  words: Uint32Array,
  order: Uint32Array,
  tmp: Uint32Array,
  counts: Uint32Array,
  word: number,
  shift: number,
  flip: number,
): boolean {
  const n = order.length;
  const buckets = counts.length;
  const mask = buckets - 1;
  counts.fill(0);
  for (let i = 0; i < n; i++) counts[((words[2 * i + word] >>> shift) & mask) ^ flip]++;
  // All keys share this digit: the pass would not move anything.
  if (counts[((words[word] >>> shift) & mask) ^ flip] === n) return false;
  let sum = 0;
  for (let b = 0; b < buckets; b++) {
    const c = counts[b];
    counts[b] = sum;
    sum += c;
  }
  for (let i = 0; i < n; i++) {
    const idx = order[i];
    const d = ((words[2 * idx + word] >>> shift) & mask) ^ flip;
    tmp[counts[d]++] = idx;
  }
  return true;
}
