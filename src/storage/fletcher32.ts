// HDF5's Fletcher32 checksum (H5_checksum_fletcher32), computed fast enough not to dominate
// uncompressed reads: a 16-byte-at-a-time WebAssembly SIMD kernel for the bulk of the data and
// plain JavaScript for the rest.
//
// Why the arithmetic may be reordered: libhdf5 sums big-endian 16-bit words and folds the sums
// modulo 65535 (keeping 65535 for a nonzero multiple, 0 only for all-zero data). Swapping a
// word's two bytes multiplies it by 256 modulo 65535 (256 * 256 = 65536 = 1 mod 65535), so the
// sums can be taken over little-endian words, in any grouping, reduced once, then multiplied
// by 256. Each fold keeps a value nonzero iff it was, so the result is 0 exactly when every
// byte is 0 and otherwise the residue with 65535 standing for 0 - what libhdf5 returns.

import { lazyKernel, moduleBytes } from "./wasm-kernel.ts";

/** Sums of 16-bit little-endian words mod 65535: a = sum of words, b = sum of running a. */
interface Sums {
  a: number;
  b: number;
  any: boolean;
}

/**
 * The kernel, hand-assembled (WebAssembly 1.0 + fixed-width SIMD): `f(off, n)` walks `n`
 * 16-byte vectors (n even) from byte `off` of its memory and stores three i32x4 accumulators at
 * bytes 0-47, each lane congruent modulo 65535 to its exact sum. Each vector's eight words
 * w0..w7 are first biased to signed 16-bit values x = w - 32768 (an xor of the top bit), so two
 * instructions do the arithmetic: a pairwise widening add gives the words' sum (sa), a signed
 * dot product with [8, 7, ..., 1] their weighted sum (wb); pa is the running sum of sa before
 * each vector. For one vector, b grows by 8a + sum (8 - k) wk and a by sum wk; over n vectors
 * that is the lanes' totals plus the bias (32768 per word) put back in JavaScript: 8 words,
 * weights summing to 36, n (n - 1) / 2 earlier vectors in pa.
 *
 * Every 128 vectors the lanes are folded, x = 65536 hi + lo -> hi + lo (65536 = 1 modulo
 * 65535; hi by an arithmetic shift, so negative lanes fold too), which keeps them in signed
 * 32 bits: after a fold a lane is in [-32768, 98302]; over the next 128 vectors sa stays within
 * 8.5e6, pa within 1.1e9, wb within 6.4e7. So one call covers any n, and a chunk costs one call
 * per 128 KiB copied in, not one per 4 KiB (the call from JavaScript into WebAssembly was a
 * quarter of the checksum's time). The loop takes two vectors an iteration.
 */
const HEAD = [
  // header; type section: (i32, i32) -> ()
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00,
  // function section: one function of type 0; memory section: one memory of 3 pages (192 KiB)
  0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x03,
  // export section: "f" function 0, "m" memory 0
  0x07, 0x09, 0x02, 0x01, 0x66, 0x00, 0x00, 0x01, 0x6d, 0x02, 0x00,
];
/** Folds the v128 local `x` (see above): x = (x >>s 16) + (x & 0xffff), the mask in local 10. */
function fold(x: number): number[] {
  // i32x4.shr_s(x, 16), v128.and(x, mask), i32x4.add, x = ...; local x at 1, 8 and 17
  const code = [0x20, 0, 0x41, 0x10, 0xfd, 0xac, 0x01, 0x20, 0, 0x20, 0x0a, 0xfd, 0x4e, 0xfd, 0xae];
  code.push(0x01, 0x21, 0);
  code[1] = code[8] = code[17] = x;
  return code;
}
const BODY = [
  // locals: 1 i32 (end 2), 6 v128 (sa 3, pa 4, wb 5, v 6, bias 7, weights 8), 1 i32 (segment
  // end 9), 1 v128 (mask 10)
  0x04, 0x01, 0x7f, 0x06, 0x7b, 0x01, 0x7f, 0x01, 0x7b,
  // end = off + (n << 4)
  0x20, 0x00, 0x20, 0x01, 0x41, 0x04, 0x74, 0x6a, 0x21, 0x02,
  // bias = i16x8 splat 0x8000; weights = i16x8 [8, 7, 6, 5, 4, 3, 2, 1]; mask = i32x4 0xffff
  0xfd, 0x0c, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0x21, 0x07,
  0xfd, 0x0c, 8, 0, 7, 0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0, 0x21, 0x08, 0xfd, 0x0c, 0xff, 0xff, 0,
  0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, 0, 0x21, 0x0a,
  // block, loop (segments): if off >= end break
  0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x20, 0x02, 0x4f, 0x0d, 0x01,
  // segment end = min(off + 2048, end): select(off + 2048, end, off + 2048 < end)
  0x20, 0x00, 0x41, 0x80, 0x10, 0x6a, 0x22, 0x09, 0x20, 0x02, 0x20, 0x09, 0x20, 0x02, 0x49, 0x1b,
  0x21, 0x09,
  // loop (two vectors an iteration, at off and off + 16); for each:
  0x03, 0x40,
  // pa = pa + sa
  0x20, 0x04, 0x20, 0x03, 0xfd, 0xae, 0x01, 0x21, 0x04,
  // v = v128.load(off) xor bias
  0x20, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x20, 0x07, 0xfd, 0x51, 0x21, 0x06,
  // sa = sa + i32x4.extadd_pairwise_i16x8_s(v)
  0x20, 0x03, 0x20, 0x06, 0xfd, 0x7e, 0xfd, 0xae, 0x01, 0x21, 0x03,
  // wb = wb + i32x4.dot_i16x8_s(v, weights)
  0x20, 0x05, 0x20, 0x06, 0x20, 0x08, 0xfd, 0xba, 0x01, 0xfd, 0xae, 0x01, 0x21, 0x05,
  // the same for the vector at off + 16 (v128.load's offset field)
  0x20, 0x04, 0x20, 0x03, 0xfd, 0xae, 0x01, 0x21, 0x04, 0x20, 0x00, 0xfd, 0x00, 0x00, 0x10, 0x20,
  0x07, 0xfd, 0x51, 0x21, 0x06, 0x20, 0x03, 0x20, 0x06, 0xfd, 0x7e, 0xfd, 0xae, 0x01, 0x21, 0x03,
  0x20, 0x05, 0x20, 0x06, 0x20, 0x08, 0xfd, 0xba, 0x01, 0xfd, 0xae, 0x01, 0x21, 0x05,
  // off += 32; continue while off < segment end; end loop
  0x20, 0x00, 0x41, 0x20, 0x6a, 0x22, 0x00, 0x20, 0x09, 0x49, 0x0d, 0x00, 0x0b,
].concat(
  fold(0x03),
  fold(0x04),
  fold(0x05),
  [
    // (after folding sa, pa, wb) next segment; end loop, end block
    0x0c, 0x00, 0x0b, 0x0b,
    // store sa, pa, wb at 0, 16, 32; end
    0x41, 0x00, 0x20, 0x03, 0xfd, 0x0b, 0x00, 0x00, 0x41, 0x00, 0x20, 0x04, 0xfd, 0x0b, 0x00, 0x10,
    0x41, 0x00, 0x20, 0x05, 0xfd, 0x0b, 0x00, 0x20, 0x0b,
  ],
);
const WASM = moduleBytes(HEAD, BODY);

/** Where the data goes in the kernel's memory, and how much per call. */
const DATA_AT = 64;
/** Bytes copied into the kernel's memory at once (fits its 3 pages), one kernel call each. */
const COPY = 128 * 1024;
/** The bias (32768 a word) the kernel's sums leave out, per vector: of sa and pa, and of wb. */
const BIAS_SUM = 8 * 32768;
const BIAS_WEIGHTED = 36 * 32768;
/** Below this many bytes the JavaScript loop is as fast as copying into the kernel. */
const KERNEL_MIN = 256;

interface Kernel {
  f: (off: number, n: number) => void;
  bytes: Uint8Array;
  lanes: Int32Array;
}

const getKernel = lazyKernel<Kernel>(WASM, ({ exports, memory }) => ({
  f: exports.f as Kernel["f"],
  bytes: new Uint8Array(memory),
  lanes: new Int32Array(memory, 0, 12),
}));

/** Whether the WebAssembly kernel is in use (false: this runtime lacks WebAssembly SIMD). */
export function fletcher32Kernel(): boolean {
  return getKernel() !== null;
}

/** x modulo 65535 in [0, 65535) for any integer x (the kernel's lanes may be negative). */
function mod(x: number): number {
  const r = x % 65535;
  return r < 0 ? r + 65535 : r;
}

/** HDF5's Fletcher32 of `data` (the checksum libhdf5 stores after a chunk). */
export function fletcher32(data: Uint8Array): number {
  const s: Sums = { a: 0, b: 0, any: false };
  const k = data.length >= KERNEL_MIN ? getKernel() : null;
  let p = 0;
  if (k) {
    // Whole pairs of vectors (the kernel takes two at a time); the rest is JavaScript's.
    const whole = data.length - (data.length % 32);
    while (p < whole) {
      const n = Math.min(COPY, whole - p);
      k.bytes.set(data.subarray(p, p + n), DATA_AT);
      const v = n >>> 4;
      k.f(DATA_AT, v);
      const l = k.lanes;
      // The lanes' totals with the bias put back, modulo 65535. Doubles: every term is below
      // 2^44, exact.
      const sa = mod(l[0] + l[1] + l[2] + l[3] + BIAS_SUM * v);
      const pa = mod(l[4] + l[5] + l[6] + l[7] + (BIAS_SUM * v * (v - 1)) / 2);
      const wb = mod(l[8] + l[9] + l[10] + l[11] + BIAS_WEIGHTED * v);
      s.b = (s.b + 8 * v * s.a + 8 * pa + wb) % 65535;
      s.a = (s.a + sa) % 65535;
      p += n;
    }
  }
  sumWords(data, p, s);
  let a = (s.a * 256) % 65535;
  let b = (s.b * 256) % 65535;
  // A sum that is a nonzero multiple of 65535 stays 65535 (libhdf5's folds), 0 only when every
  // byte is 0; the kernel's sums are residues, so the bytes say which (rarely: a residue of 0).
  if ((a === 0 || b === 0) && (s.any || anyNonzero(data))) {
    if (a === 0) a = 65535;
    if (b === 0) b = 65535;
  }
  return ((b << 16) | a) >>> 0;
}

/** Whether any byte of `data` is not 0. */
function anyNonzero(data: Uint8Array): boolean {
  let p = 0;
  const head = (4 - (data.byteOffset % 4)) % 4;
  if (data.length < head + 4) return data.some((x) => x !== 0);
  for (; p < head; p++) if (data[p] !== 0) return true;
  const words = new Uint32Array(data.buffer, data.byteOffset + p, (data.length - p) >>> 2);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return true;
  for (p += words.length * 4; p < data.length; p++) if (data[p] !== 0) return true;
  return false;
}

/**
 * Adds the little-endian words of data[from..] to the sums (a lone last byte is the low byte of
 * a word whose high byte is 0: libhdf5 pads it as the high byte of a big-endian word).
 */
function sumWords(data: Uint8Array, from: number, s: Sums): void {
  let a = s.a;
  let b = s.b;
  let any = 0;
  const len = data.length;
  let p = from;
  // Four bytes at a time where aligned: two words, b grows by 2a + 2 w0 + w1.
  if ((data.byteOffset + p) % 4 === 0) {
    const q = new Uint32Array(data.buffer, data.byteOffset + p, (len - p) >>> 2);
    const nq = q.length;
    let i = 0;
    while (i < nq) {
      // a < 2^17 and b < 2^17 after each fold; 64 steps keep b < 2^31 (int32 arithmetic).
      const end = Math.min(nq, i + 64);
      for (; i < end; i++) {
        const x = q[i];
        any |= x;
        const lo = x & 0xffff;
        const hi = x >>> 16;
        b = (b + 2 * a + 2 * lo + hi) | 0;
        a = (a + lo + hi) | 0;
      }
      a = (a & 0xffff) + (a >>> 16);
      b = (b & 0xffff) + (b >>> 16);
    }
    p += nq << 2;
  }
  let step = 0;
  for (; p + 1 < len; p += 2) {
    const w = data[p] | (data[p + 1] << 8);
    any |= w;
    a += w;
    b += a;
    if (++step === 128) {
      step = 0;
      a = (a & 0xffff) + (a >>> 16);
      b = (b & 0xffff) + (b >>> 16);
    }
  }
  if (p < len) {
    any |= data[p];
    a += data[p];
    b += a;
  }
  s.a = a % 65535;
  s.b = b % 65535;
  if (any !== 0) s.any = true;
}
