// A PNG encoder for 8-bit gray, gray+alpha, RGB and RGBA rasters (PNG specification, 2nd
// edition, ISO/IEC 15948): signature, IHDR, one IDAT (zlib from node:zlib), IEND; CRC-32 from
// node:zlib. No interlacing, no palette: small, and enough for cutouts and plots.
import { crc32, deflateSync } from "node:zlib";
import { intParam, RenderParameterError } from "./limits.ts";

/** An 8-bit raster, rows top to bottom, pixels interleaved (gray, gray+alpha, RGB or RGBA). */
export interface Raster {
  /** Pixels per row. */
  width: number;
  /** Rows. */
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
  /** width * height * channels bytes, row-major, top row first. */
  data: Uint8Array;
}

/** PNG row filters (PNG spec 9.2); "adaptive" picks per row the one with the least sum |x|. */
export type PngFilter = "none" | "sub" | "up" | "average" | "paeth" | "adaptive";

/** Options of {@link encodePng}. */
export interface PngOptions {
  /** zlib level 0..9 (default 6). */
  compression?: number;
  /** Row filter (default "up": cheap, and good for smooth images and plots). */
  filter?: PngFilter;
}

/** Largest width or height of a PNG this encoder writes (pixels). */
export const MAX_PNG_SIDE = 1 << 15;

const SIGNATURE = Uint8Array.of(137, 80, 78, 71, 13, 10, 26, 10);
const COLOR_TYPE = { 1: 0, 2: 4, 3: 2, 4: 6 } as const;
const FILTERS: PngFilter[] = ["none", "sub", "up", "average", "paeth", "adaptive"];

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, "latin1");
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** Writes row `y` filtered with filter `f` (0..4) into out[at .. at + stride]. */
function filterRow(
  f: number,
  data: Uint8Array,
  y: number,
  stride: number,
  bpp: number,
  out: Uint8Array,
  at: number,
): void {
  const row = y * stride;
  const up = row - stride; // only read when y > 0
  switch (f) {
    case 0:
      out.set(data.subarray(row, row + stride), at);
      return;
    case 1:
      for (let i = 0; i < stride; i++)
        out[at + i] = data[row + i]! - (i >= bpp ? data[row + i - bpp]! : 0);
      return;
    case 2:
      if (y === 0) out.set(data.subarray(row, row + stride), at);
      else for (let i = 0; i < stride; i++) out[at + i] = data[row + i]! - data[up + i]!;
      return;
    case 3:
      for (let i = 0; i < stride; i++) {
        const left = i >= bpp ? data[row + i - bpp]! : 0;
        const above = y > 0 ? data[up + i]! : 0;
        out[at + i] = data[row + i]! - ((left + above) >>> 1);
      }
      return;
    default:
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? data[row + i - bpp]! : 0;
        const b = y > 0 ? data[up + i]! : 0;
        const c = i >= bpp && y > 0 ? data[up + i - bpp]! : 0;
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        const pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        out[at + i] = data[row + i]! - pred;
      }
  }
}

/** Sum of the filtered bytes taken as signed (libpng's heuristic for choosing a filter). */
function cost(buf: Uint8Array, at: number, n: number): number {
  let s = 0;
  for (let i = at; i < at + n; i++) {
    const v = buf[i]!;
    s += v < 128 ? v : 256 - v;
  }
  return s;
}

/**
 * The PNG file of an 8-bit raster (color type 0, 4, 2 or 6 for 1..4 channels, bit depth 8).
 * Throws a RenderParameterError (naming `raster`, `compression` or `filter`) on a raster whose
 * data does not match its size.
 */
export function encodePng(raster: Raster, options: PngOptions = {}): Uint8Array {
  const { width, height, channels, data } = raster;
  intParam("width", width, 1, MAX_PNG_SIDE, true);
  intParam("height", height, 1, MAX_PNG_SIDE, true);
  if (!(channels in COLOR_TYPE))
    throw new RenderParameterError("channels", `channels must be 1..4, got ${String(channels)}`);
  if (!(data instanceof Uint8Array) || data.length !== width * height * channels)
    throw new RenderParameterError(
      "raster",
      `raster data must be a Uint8Array of ${width}x${height}x${channels} bytes, got ${data?.length}`,
    );
  const level = intParam("compression", options.compression ?? 6, 0, 9);
  const filter = options.filter ?? "up";
  if (!FILTERS.includes(filter))
    throw new RenderParameterError("filter", `unknown PNG filter ${JSON.stringify(filter)}`);

  const stride = width * channels;
  const filtered = new Uint8Array((stride + 1) * height);
  const fixed = FILTERS.indexOf(filter);
  const trial = filter === "adaptive" ? new Uint8Array(stride) : undefined;
  for (let y = 0; y < height; y++) {
    const at = y * (stride + 1);
    let f = fixed;
    if (trial) {
      let best = Number.POSITIVE_INFINITY;
      for (let k = 0; k < 5; k++) {
        filterRow(k, data, y, stride, channels, trial, 0);
        const c = cost(trial, 0, stride);
        if (c < best) {
          best = c;
          f = k;
        }
      }
    }
    filtered[at] = f;
    filterRow(f, data, y, stride, channels, filtered, at + 1);
  }

  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels];
  ihdr[10] = 0; // deflate
  ihdr[11] = 0; // adaptive filtering
  ihdr[12] = 0; // no interlace
  return Buffer.concat([
    SIGNATURE,
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(filtered, { level })),
    chunk("IEND", new Uint8Array(0)),
  ]);
}
