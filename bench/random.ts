// A seeded linear congruential generator for benchmark data: the same numbers on every run and
// machine (not for statistics, only for reproducible inputs).

/** Numbers in [0, 1], the same sequence for the same seed. */
export function lcg(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}
