// HDF5's shuffle filter (src/storage/shuffle.ts): the writer's shuffle and the reader's unshuffle
// (the WebAssembly SIMD kernel for 4-byte elements and the JavaScript loops) undo each other for
// every element size and length, trailing bytes included. That they agree with libhdf5 is
// checked on files h5py wrote (direct-read.test.ts) and h5py reading ours (h5py-interop.test.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { shuffle, unshuffle, unshuffleInto, unshuffleKernel } from "../../src/storage/shuffle.ts";

function bytesOf(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

test("the WebAssembly kernel is in use on this runtime", () => {
  assert.equal(unshuffleKernel(), true);
});

test("shuffle puts byte j of element i at j * n + i", () => {
  const bytes = Uint8Array.from([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23, 99]);
  assert.deepEqual([...shuffle(bytes, 4)], [0, 10, 20, 1, 11, 21, 2, 12, 22, 3, 13, 23, 99]);
  assert.deepEqual([...shuffle(bytes, 1)], [...bytes]);
});

test("shuffle by words equals byte j of element i at j * n + i, aligned or not", () => {
  for (const size of [2, 4, 8])
    for (const n of [0, 3, 4, 8, 1000, 1001, 16_384])
      for (const offset of [0, 4, 1]) {
        // Offsets 0 and 4: word-aligned views (the word loop when n is a multiple of 4).
        const whole = bytesOf(offset + n * size + size - 1, n + size + offset);
        const bytes = whole.subarray(offset);
        const want = new Uint8Array(bytes.length);
        for (let i = 0; i < n; i++)
          for (let j = 0; j < size; j++) want[j * n + i] = bytes[i * size + j]!;
        want.set(bytes.subarray(n * size), n * size);
        assert.deepEqual(
          shuffle(bytes, size),
          want,
          `size ${size}, ${n} elements, offset ${offset}`,
        );
      }
});

test("unshuffle undoes shuffle for every size and length, kernel and JavaScript alike", () => {
  // Lengths around the kernel's 16-element blocks, its 64-element minimum and its pieces of
  // 16,384 elements.
  const counts = [0, 1, 15, 16, 17, 63, 64, 65, 100, 16_383, 16_384, 16_400, 40_000, 70_001];
  for (const size of [2, 3, 4, 8])
    for (const n of counts)
      for (const extra of [0, size - 1]) {
        const bytes = bytesOf(n * size + extra, n + size);
        const shuffled = shuffle(bytes, size);
        const label = `size ${size}, ${n} elements, ${extra} trailing bytes`;
        assert.deepEqual(unshuffle(shuffled, size), bytes, label);
        assert.deepEqual(unshuffle(shuffled, size, false), bytes, `${label} (JavaScript)`);
      }
});

test("unshuffle of a view into a larger buffer reads only the view", () => {
  const bytes = bytesOf(4 * 1000, 7);
  const shuffled = shuffle(bytes, 4);
  const padded = new Uint8Array(shuffled.length + 13);
  padded.set(shuffled, 5);
  assert.deepEqual(unshuffle(padded.subarray(5, 5 + shuffled.length), 4), bytes);
});

test("unshuffleInto writes the elements into a view of a larger buffer, and nothing around it", () => {
  for (const size of [1, 4, 8])
    for (const offset of [0, 4, 3]) {
      // Offsets 0 and 4 are word-aligned (the fast loops), 3 is not.
      const bytes = bytesOf(size * 5000 + 1, size + offset);
      const room = new Uint8Array(bytes.length + 20).fill(0xab);
      unshuffleInto(shuffle(bytes, size), size, room.subarray(offset, offset + bytes.length));
      const label = `size ${size}, offset ${offset}`;
      assert.deepEqual(room.subarray(offset, offset + bytes.length), bytes, label);
      assert.ok(
        room.subarray(0, offset).every((b) => b === 0xab),
        `${label}: before untouched`,
      );
      assert.ok(
        room.subarray(offset + bytes.length).every((b) => b === 0xab),
        `${label}: after untouched`,
      );
    }
  assert.throws(
    () => unshuffleInto(new Uint8Array(8), 4, new Uint8Array(12)),
    /12 bytes of room for 8/,
  );
});
