// HDF5's shuffle filter (H5Z_filter_shuffle): byte j of element i of a chunk is stored at
// j * n + i, so the like bytes of numbers (exponents, high bytes of keys) stand together and
// deflate finds more to take. Writing shuffles; every read of a shuffled chunk unshuffles, so
// that is made fast for 4-byte elements (float32 images and spectra, the bulk of the data): a
// WebAssembly SIMD kernel puts 16 elements together from the four planes with 8 byte shuffles.

import { unzeroedBytes } from "./bytes.ts";
import { lazyKernel, moduleBytes } from "./wasm-kernel.ts";

/**
 * The kernel, hand-assembled (WebAssembly 1.0 + fixed-width SIMD): `u(src, dst, count, plane)`
 * reads `count` blocks of 16 bytes from each of four planes at src, src + plane, src + 2 plane,
 * src + 3 plane and writes each block's 16 elements of 4 bytes (64 bytes) at dst. A block:
 * a, b, c, d (byte j of 16 elements each); ab_lo = a0 b0 a1 b1 .. a7 b7 (i8x16.shuffle), ab_hi
 * the same for 8..15, cd_lo, cd_hi; then 16-bit interleaves of ab and cd give a0 b0 c0 d0 a1 b1
 * c1 d1 .., four elements a vector. Memory: 3 pages, exported as "m".
 */
const LO8 = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
const HI8 = LO8.map((x) => x + 8);
const LO16 = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const HI16 = LO16.map((x) => x + 8);
const GET = 0x20;
const SET = 0x21;
const load = (ptr: number) => [GET, ptr, 0xfd, 0x00, 0x00, 0x00];
const shuffle8 = (lanes: number[]) => [0xfd, 0x0d, ...lanes];
/** dst + offset = i8x16.shuffle(x, y, lanes) (offsets 0..48: one LEB byte). */
const store = (x: number, y: number, lanes: number[], offset: number) => [
  GET,
  1,
  GET,
  x,
  GET,
  y,
  ...shuffle8(lanes),
  0xfd,
  0x0b,
  0x00,
  offset,
];
/** local += by (a signed LEB constant). */
const advance = (local: number, by: number[]) => [GET, local, 0x41, ...by, 0x6a, SET, local];
// biome-ignore format: laid out one instruction group a line
const BODY = [
  // locals: 3 i32 (planes b 4, c 5, d 6), 4 v128 (ab_lo 7, ab_hi 8, cd_lo 9, cd_hi 10)
  0x02, 0x03, 0x7f, 0x04, 0x7b,
  // b = src + plane, c = b + plane, d = c + plane
  GET, 0, GET, 3, 0x6a, SET, 4, GET, 4, GET, 3, 0x6a, SET, 5, GET, 5, GET, 3, 0x6a, SET, 6,
  // block; if count == 0 break; loop
  0x02, 0x40, GET, 2, 0x45, 0x0d, 0x00, 0x03, 0x40,
  ...load(0), ...load(4), ...shuffle8(LO8), SET, 7,
  ...load(0), ...load(4), ...shuffle8(HI8), SET, 8,
  ...load(5), ...load(6), ...shuffle8(LO8), SET, 9,
  ...load(5), ...load(6), ...shuffle8(HI8), SET, 10,
  ...store(7, 9, LO16, 0),
  ...store(7, 9, HI16, 16),
  ...store(8, 10, LO16, 32),
  ...store(8, 10, HI16, 48),
  // src, b, c, d += 16; dst += 64 (signed LEB: 0xc0 0x00)
  ...advance(0, [0x10]), ...advance(4, [0x10]), ...advance(5, [0x10]), ...advance(6, [0x10]),
  ...advance(1, [0xc0, 0x00]),
  // count -= 1; continue while count != 0; end loop, end block, end
  GET, 2, 0x41, 0x01, 0x6b, 0x22, 2, 0x0d, 0x00, 0x0b, 0x0b, 0x0b,
];
const HEAD = [
  // header; type section: (i32, i32, i32, i32) -> ()
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x04, 0x7f, 0x7f, 0x7f,
  0x7f, 0x00,
  // function section: one function of type 0; memory section: one memory of 3 pages (192 KiB)
  0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x03,
  // export section: "u" function 0, "m" memory 0
  0x07, 0x09, 0x02, 0x01, 0x75, 0x00, 0x00, 0x01, 0x6d, 0x02, 0x00,
];
const WASM = moduleBytes(HEAD, BODY);

/** Elements put together per kernel call: 4 planes of this many bytes in, 4 times that out. */
const PIECE = 16_384;
/** Where the kernel's output goes in its memory (after the four input planes). */
const OUT_AT = 4 * PIECE;
/** Below this many elements the JavaScript loop is as fast as copying into the kernel. */
const KERNEL_MIN = 64;

interface Kernel {
  u: (src: number, dst: number, count: number, plane: number) => void;
  bytes: Uint8Array;
}

const getKernel = lazyKernel<Kernel>(WASM, ({ exports, memory }) => ({
  u: exports.u as Kernel["u"],
  bytes: new Uint8Array(memory),
}));

/** Whether the WebAssembly kernel is in use (false: this runtime lacks WebAssembly SIMD). */
export function unshuffleKernel(): boolean {
  return getKernel() !== null;
}

/** Words are put together as stored (little-endian) only on a little-endian machine. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** HDF5's shuffle of `bytes` by elements of `size` bytes (bytes past the last element stay). */
export function shuffle(bytes: Uint8Array, size: number): Uint8Array {
  if (size <= 1) return bytes;
  const n = Math.floor(bytes.length / size);
  const out = new Uint8Array(bytes.length);
  if ((size === 4 || size === 8) && n % 4 === 0 && bytes.byteOffset % 4 === 0 && LITTLE_ENDIAN)
    shuffleWords(bytes, out, size, n);
  else
    for (let j = 0; j < size; j++) {
      const to = j * n;
      for (let i = 0, k = j; i < n; i++, k += size) out[to + i] = bytes[k]!;
    }
  out.set(bytes.subarray(n * size), n * size);
  return out;
}

/**
 * The shuffle of n elements of 4 or 8 bytes (n a multiple of 4, `bytes` word-aligned) by 32-bit
 * words: four elements' words in, each plane's four bytes of them out as one word (~3x the byte
 * loop: 1.7 GB/s against 0.5-0.6 here).
 */
function shuffleWords(bytes: Uint8Array, out: Uint8Array, size: number, n: number): void {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, (n * size) >>> 2);
  const to = new Uint32Array(out.buffer, out.byteOffset, (n * size) >>> 2);
  const step = size >>> 2; // words per element
  const q = n >>> 2; // words per plane
  for (let h = 0; h < step; h++) {
    // Word h of each element holds planes 4h .. 4h + 3.
    for (let g = 0; g < q; g++) {
      const e = 4 * g * step + h;
      const a = words[e]!;
      const b = words[e + step]!;
      const c = words[e + 2 * step]!;
      const d = words[e + 3 * step]!;
      const at = 4 * h * q + g;
      to[at] = (a & 0xff) | ((b & 0xff) << 8) | ((c & 0xff) << 16) | ((d & 0xff) << 24);
      to[at + q] = ((a >>> 8) & 0xff) | (b & 0xff00) | ((c & 0xff00) << 8) | ((d & 0xff00) << 16);
      to[at + 2 * q] =
        ((a >>> 16) & 0xff) | ((b >>> 8) & 0xff00) | (c & 0xff0000) | ((d & 0xff0000) << 8);
      to[at + 3 * q] =
        (a >>> 24) | ((b >>> 16) & 0xff00) | ((c >>> 8) & 0xff0000) | (d & 0xff000000);
    }
  }
}

/** Undoes HDF5's shuffle: a new array of the elements as they were. */
export function unshuffle(bytes: Uint8Array, size: number, useKernel = true): Uint8Array {
  if (size <= 1) return bytes;
  // Not zeroed first: every byte is written.
  const out = unzeroedBytes(bytes.length);
  unshuffleInto(bytes, size, out, useKernel);
  return out;
}

/**
 * Undoes HDF5's shuffle into `out` (as long as `bytes`, not overlapping it): how a chunk is
 * decoded straight into the place its rows go.
 */
export function unshuffleInto(
  bytes: Uint8Array,
  size: number,
  out: Uint8Array,
  useKernel = true,
): void {
  if (out.length !== bytes.length)
    throw new RangeError(`unshuffleInto: ${out.length} bytes of room for ${bytes.length}`);
  if (size <= 1) {
    out.set(bytes);
    return;
  }
  const n = Math.floor(bytes.length / size);
  const k = useKernel && size === 4 && n >= KERNEL_MIN && LITTLE_ENDIAN ? getKernel() : null;
  let done = 0;
  if (k) {
    // Whole blocks of 16 elements, a piece at a time: each plane's part copied in, the elements
    // copied out.
    const whole = n - (n % 16);
    while (done < whole) {
      const m = Math.min(PIECE, whole - done);
      for (let j = 0; j < 4; j++)
        k.bytes.set(bytes.subarray(j * n + done, j * n + done + m), j * m);
      k.u(0, OUT_AT, m >>> 4, m);
      out.set(k.bytes.subarray(OUT_AT, OUT_AT + 4 * m), 4 * done);
      done += m;
    }
  }
  unshuffleFrom(bytes, out, size, n, done);
  out.set(bytes.subarray(n * size), n * size);
}

/** Elements [from, n) of a shuffled chunk of n elements into `out`, in JavaScript. */
function unshuffleFrom(
  bytes: Uint8Array,
  out: Uint8Array,
  size: number,
  n: number,
  from: number,
): void {
  if ((size === 4 || size === 8) && LITTLE_ENDIAN && out.byteOffset % 4 === 0) {
    // Four planes at a time into 32-bit words: one store instead of four.
    const words = new Uint32Array(out.buffer, out.byteOffset, (n * size) >>> 2);
    const step = size >>> 2;
    for (let w = 0; w < step; w++) {
      const p0 = 4 * w * n;
      const p1 = p0 + n;
      const p2 = p1 + n;
      const p3 = p2 + n;
      for (let i = from, k = from * step + w; i < n; i++, k += step)
        words[k] =
          bytes[p0 + i]! | (bytes[p1 + i]! << 8) | (bytes[p2 + i]! << 16) | (bytes[p3 + i]! << 24);
    }
    return;
  }
  for (let j = 0; j < size; j++) {
    const plane = j * n;
    for (let i = from, k = from * size + j; i < n; i++, k += size) out[k] = bytes[plane + i]!;
  }
}
