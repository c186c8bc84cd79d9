// The PNG encoder: every colour type, filter and a few sizes decoded back pixel for pixel by
// pngjs (which checks CRCs), and by Python's PIL in an interop test.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { PNG } from "pngjs";
import { isAstroPileError } from "../../src/core/errors.ts";
import { encodePng, type PngFilter, type Raster } from "../../src/render/index.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { tempDir } from "../helpers/tmp.ts";

/** A raster of mixed content: smooth gradients, noise and flat runs (deterministic). */
function raster(width: number, height: number, channels: Raster["channels"], seed = 1): Raster {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) {
        s = (s * 1103515245 + 12345) >>> 0;
        const noise = (s >>> 16) & 0xff;
        const v =
          y < height / 3 ? (x * 7 + y * 3 + c * 50) & 0xff : y < (2 * height) / 3 ? noise : 200;
        data[(y * width + x) * channels + c] = v;
      }
  return { width, height, channels, data };
}

/** The raster as RGBA, the way pngjs returns every decoded PNG. */
function asRgba(r: Raster): number[] {
  const out: number[] = [];
  for (let i = 0; i < r.width * r.height; i++) {
    const p = r.data.subarray(i * r.channels, (i + 1) * r.channels);
    if (r.channels === 1) out.push(p[0]!, p[0]!, p[0]!, 255);
    else if (r.channels === 2) out.push(p[0]!, p[0]!, p[0]!, p[1]!);
    else if (r.channels === 3) out.push(p[0]!, p[1]!, p[2]!, 255);
    else out.push(p[0]!, p[1]!, p[2]!, p[3]!);
  }
  return out;
}

const FILTERS: PngFilter[] = ["none", "sub", "up", "average", "paeth", "adaptive"];

test("every colour type and filter decodes back pixel for pixel (pngjs)", () => {
  for (const channels of [1, 2, 3, 4] as const) {
    for (const [w, h] of [
      [1, 1],
      [1, 9],
      [13, 1],
      [37, 29],
    ] as const) {
      const r = raster(w, h, channels, w * 31 + h);
      for (const filter of FILTERS) {
        for (const compression of [0, 6, 9]) {
          const bytes = encodePng(r, { filter, compression });
          const png = PNG.sync.read(Buffer.from(bytes));
          assert.equal(png.width, w);
          assert.equal(png.height, h);
          assert.deepEqual(
            [...png.data],
            asRgba(r),
            `${channels} channels ${w}x${h} ${filter} ${compression}`,
          );
        }
      }
    }
  }
});

test("the file starts with the PNG signature and IHDR, and says its colour type", () => {
  const bytes = Buffer.from(encodePng(raster(5, 4, 2)));
  assert.deepEqual([...bytes.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  assert.equal(bytes.toString("latin1", 12, 16), "IHDR");
  assert.equal(bytes.readUInt32BE(16), 5);
  assert.equal(bytes.readUInt32BE(20), 4);
  assert.deepEqual([bytes[24], bytes[25]], [8, 4]); // 8-bit gray+alpha
  assert.equal(bytes.toString("latin1", bytes.length - 8, bytes.length - 4), "IEND");
});

test("PIL reads every colour type back pixel for pixel", {
  skip: referenceSkip(["PIL", "numpy"]),
}, () => {
  const dir = tempDir("astropile-png-");
  const files: Array<{ path: string; raster: Raster; mode: string }> = [];
  const modes = { 1: "L", 2: "LA", 3: "RGB", 4: "RGBA" } as const;
  for (const channels of [1, 2, 3, 4] as const) {
    const r = raster(23, 17, channels, channels);
    const path = join(dir, `c${channels}.png`);
    writeFileSync(path, encodePng(r, { filter: "adaptive" }));
    files.push({ path, raster: r, mode: modes[channels] });
  }
  const out = runPython(
    `
import json, sys
import numpy as np
from PIL import Image
res = []
for p in sys.argv[1:]:
    im = Image.open(p)
    im.load()
    res.append({"mode": im.mode, "size": list(im.size), "data": np.asarray(im).ravel().tolist()})
print(json.dumps(res))
`,
    files.map((f) => f.path),
  );
  const got = JSON.parse(out) as Array<{ mode: string; size: [number, number]; data: number[] }>;
  files.forEach((f, i) => {
    assert.equal(got[i]!.mode, f.mode);
    assert.deepEqual(got[i]!.size, [23, 17]);
    assert.deepEqual(got[i]!.data, [...f.raster.data]);
  });
});

test("bad rasters and options are refused with the parameter named", () => {
  const check = (fn: () => unknown, parameter: string, code = "ASTROPILE_USAGE") =>
    assert.throws(
      fn,
      (e: unknown) =>
        isAstroPileError(e, code) && (e as { parameter?: string }).parameter === parameter,
      parameter,
    );
  const r = raster(4, 3, 3);
  check(() => encodePng({ ...r, data: r.data.subarray(1) }), "raster");
  check(() => encodePng({ ...r, data: Array.from(r.data) as never }), "raster");
  check(() => encodePng({ ...r, channels: 5 as never }), "channels");
  check(() => encodePng({ ...r, width: 0 }), "width");
  check(() => encodePng({ ...r, width: 1.5 }), "width");
  check(() => encodePng({ ...r, height: 1 << 20 }), "height", "ASTROPILE_MEMORY_BUDGET");
  check(() => encodePng(r, { compression: -1 }), "compression");
  check(() => encodePng(r, { filter: "best" as never }), "filter");
});
