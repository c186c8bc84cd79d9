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

/** Sums of 16-bit little-endian words mod 65535: a = sum of words, b = sum of running a. */
interface Sums {
  a: number;
  b: number;
  any: boolean;
}

/**
 * The kernel, hand-assembled (WebAssembly 1.0 + fixed-width SIMD): `f(off, n)` walks `n`
 * 16-byte vectors from byte `off` of its memory and stores three i32x4 accumulators at bytes
 * 0-47. Each vector's eight words w0..w7 are first biased to signed 16-bit values x = w - 32768
 * (an xor of the top bit), so two instructions do the arithmetic: a pairwise widening add gives
 * the words' sum (sa), a signed dot product with [8, 7, ..., 1] their weighted sum (wb); pa is
 * the running sum of sa before each vector. For one vector, b grows by 8a + sum (8 - k) wk and a
 * by sum wk; over n vectors that is the lanes' totals plus the bias (32768 per word) put back
 * in JavaScript: 8 words, weights summing to 36, n (n - 1) / 2 earlier vectors in pa. (The
 * unbiased kernel this replaces widened each half of a vector twice and multiplied: twice the
 * instructions a vector.) The loop takes two vectors an iteration: n must be even.
 */
const HEAD = [
  // header; type section: (i32, i32) -> ()
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00,
  // function section: one function of type 0; memory section: one memory of 3 pages (192 KiB)
  0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x03,
  // export section: "f" function 0, "m" memory 0
  0x07, 0x09, 0x02, 0x01, 0x66, 0x00, 0x00, 0x01, 0x6d, 0x02, 0x00,
];
const BODY = [
  // locals: 1 i32 (end), 6 v128 (sa 3, pa 4, wb 5, v 6, bias 7, weights 8)
  0x02, 0x01, 0x7f, 0x06, 0x7b,
  // end = off + (n << 4)
  0x20, 0x00, 0x20, 0x01, 0x41, 0x04, 0x74, 0x6a, 0x21, 0x02,
  // bias = i16x8 splat 0x8000; weights = i16x8 [8, 7, 6, 5, 4, 3, 2, 1]
  0xfd, 0x0c, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0, 0x80, 0x21, 0x07,
  0xfd, 0x0c, 8, 0, 7, 0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0, 0x21, 0x08,
  // block, loop: if off >= end break
  0x02, 0x40, 0x03, 0x40, 0x20, 0x00, 0x20, 0x02, 0x4f, 0x0d, 0x01,
  // Two vectors an iteration (n is even), at off and off + 16; for each:
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
  // off += 32; continue; end loop, end block
  0x20, 0x00, 0x41, 0x20, 0x6a, 0x21, 0x00, 0x0c, 0x00, 0x0b, 0x0b,
  // store sa, pa, wb at 0, 16, 32; end
  0x41, 0x00, 0x20, 0x03, 0xfd, 0x0b, 0x00, 0x00, 0x41, 0x00, 0x20, 0x04, 0xfd, 0x0b, 0x00, 0x10,
  0x41, 0x00, 0x20, 0x05, 0xfd, 0x0b, 0x00, 0x20, 0x0b,
];
/** Unsigned LEB128, as the format spells sizes. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n ? byte | 0x80 : byte);
  } while (n);
  return out;
}
// Code section: one body, its size and the section's counted rather than typed.
const CODE = [0x01, ...leb(BODY.length), ...BODY];
const WASM = Uint8Array.from([...HEAD, 0x0a, ...leb(CODE.length), ...CODE]);

/** Where the data goes in the kernel's memory, and how much per call. */
const DATA_AT = 64;
/**
 * Vectors per kernel call: the biased pairs are in [-65536, 65534], so a lane of sa stays within
 * 65536 n and one of pa within 65536 n (n - 1) / 2, inside a signed 32-bit lane (2^31) for
 * n = 256 (2.14e9); wb's lanes stay within 491520 n.
 */
const VECTORS = 256;
const BLOCK = VECTORS * 16;
/** Bytes copied into the kernel's memory at once (a multiple of BLOCK that fits its 3 pages). */
const COPY = 32 * BLOCK;
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

let kernel: Kernel | null | undefined;

/** The little of the WebAssembly API used here (the project's TypeScript libs do not declare it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}

function getKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const instance = new wasm.Instance(new wasm.Module(WASM));
    const memory = instance.exports.m as { buffer: ArrayBuffer };
    kernel = {
      f: instance.exports.f as Kernel["f"],
      bytes: new Uint8Array(memory.buffer),
      lanes: new Int32Array(memory.buffer, 0, 12),
    };
  } catch {
    kernel = null; // no WebAssembly SIMD here: JavaScript for everything
  }
  return kernel;
}

/** Whether the WebAssembly kernel is in use (false: this runtime lacks WebAssembly SIMD). */
export function fletcher32Kernel(): boolean {
  return getKernel() !== null;
}

/** HDF5's Fletcher32 of `data` (the checksum libhdf5 stores after a chunk). */
export function fletcher32(data: Uint8Array): number {
  const s: Sums = { a: 0, b: 0, any: false };
  const k = data.length >= KERNEL_MIN ? getKernel() : null;
  let p = 0;
  if (k) {
    // Whole pairs of vectors (the kernel takes two at a time); the rest is JavaScript's.
    const whole = data.length - (data.length % 32);
    let copied = 0; // data[p - at .. copied) is in the kernel's memory from DATA_AT
    let at = 0;
    while (p < whole) {
      if (p === copied) {
        copied = Math.min(whole, p + COPY);
        k.bytes.set(data.subarray(p, copied), DATA_AT);
        at = p;
      }
      const n = Math.min(BLOCK, copied - p);
      const v = n >>> 4;
      k.f(DATA_AT + p - at, v);
      const l = k.lanes;
      // The lanes' totals with the bias put back: the sums of the words as they are.
      const sa = l[0] + l[1] + l[2] + l[3] + BIAS_SUM * v;
      const pa = l[4] + l[5] + l[6] + l[7] + (BIAS_SUM * v * (v - 1)) / 2;
      const wb = l[8] + l[9] + l[10] + l[11] + BIAS_WEIGHTED * v;
      // Doubles: every term is below 2^36, exact.
      s.b = (s.b + 8 * v * s.a + 8 * pa + wb) % 65535;
      s.a = (s.a + sa) % 65535;
      if (sa !== 0) s.any = true;
      p += n;
    }
  }
  sumWords(data, p, s);
  let a = (s.a * 256) % 65535;
  let b = (s.b * 256) % 65535;
  if (s.any) {
    if (a === 0) a = 65535;
    if (b === 0) b = 65535;
  }
  return ((b << 16) | a) >>> 0;
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
