// The Fletcher32 used to verify uncompressed chunks (WebAssembly SIMD kernel plus JavaScript
// tail) against libhdf5's own loop, transcribed word for word below, on lengths and alignments
// that cross every boundary of the kernel (16-byte vectors taken in pairs, 4 KiB calls, 128 KiB
// copies) and on data whose sums land on the 0 / 65535 ambiguity. Files h5py wrote with
// Fletcher32 are read through it in direct-read.test.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { fletcher32, fletcher32Kernel } from "../../src/storage/fletcher32.ts";

/** H5_checksum_fletcher32 from libhdf5's H5checksum.c, as written there. */
function libhdf5Fletcher32(data: Uint8Array): number {
  let sum1 = 0;
  let sum2 = 0;
  let len = data.length >>> 1;
  let p = 0;
  while (len) {
    let tlen = Math.min(len, 360);
    len -= tlen;
    do {
      sum1 = (sum1 + ((data[p] << 8) | data[p + 1])) >>> 0;
      p += 2;
      sum2 = (sum2 + sum1) >>> 0;
    } while (--tlen);
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  if (data.length % 2) {
    sum1 += data[p] << 8;
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >>> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >>> 16);
  return ((sum2 << 16) | sum1) >>> 0;
}

test("the WebAssembly kernel compiles on this Node (else every checksum falls back to JavaScript)", () => {
  assert.equal(fletcher32Kernel(), true);
});

test("fletcher32 equals libhdf5's loop across lengths, alignments and fills", () => {
  let seed = 17;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed >>> 15;
  };
  const lengths = [0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 32, 33, 47, 48, 255, 256, 257, 719, 720, 721];
  lengths.push(2047, 2048);
  lengths.push(2049, 2064, 4095, 4096, 4097, 4112, 65535, 65536, 65537, 65552, 81920, 81924);
  lengths.push(131071, 131072, 131073, 131088, 300001, 1048593);
  const fills: Record<string, (i: number) => number> = {
    random: () => rand() & 0xff,
    ones: () => 0xff,
    zeros: () => 0,
    // Words 0xfffe / 0xfeff: sums that are multiples of 65535 after a few words.
    fffe: (i) => (i % 2 ? 0xfe : 0xff),
    oneByte: (i) => (i === 1000 ? 1 : 0),
  };
  let checked = 0;
  for (const length of lengths)
    for (const offset of [0, 1, 2, 3, 4, 8])
      for (const [name, fill] of Object.entries(fills)) {
        const buffer = new Uint8Array(length + 16);
        for (let i = 0; i < buffer.length; i++) buffer[i] = fill(i - offset);
        const data = buffer.subarray(offset, offset + length);
        assert.equal(
          fletcher32(data),
          libhdf5Fletcher32(data),
          `length ${length}, offset ${offset}, ${name}`,
        );
        checked++;
      }
  assert.equal(checked, lengths.length * 6 * 5);
});

test("fletcher32 of all-0xff data is 65535 in both halves, of all zeros 0", () => {
  // Sums that are nonzero multiples of 65535 keep 65535 (libhdf5's fold never gives 0 for them).
  const ones = new Uint8Array(4096).fill(0xff);
  assert.equal(fletcher32(ones), 0xffffffff);
  assert.equal(libhdf5Fletcher32(ones), 0xffffffff);
  assert.equal(fletcher32(new Uint8Array(4096)), 0);
});
