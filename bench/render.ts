// `npm run bench render`: the pictures the data service draws per request, timed in-process
// (median of many calls after a warm-up): renderImagePng of a float32 cutout (64x64, 256x256;
// asinh, percentiles 1..99.5, gray and viridis), renderRgbPng of three bands (Lupton asinh),
// renderSpectrumPng of a 7781-sample DESI-like spectrum (800x300). The reference in the same run:
// astropy (ImageNormalize + matplotlib colormap + PIL PNG, as matplotlib.image.imsave writes; and
// make_lupton_rgb + imsave) on the same pixels in /usr/bin/python3, timed inside Python.
// Also the PNG filter/compression trade-off (bytes, time) behind the encoder's defaults.
import { execFileSync } from "node:child_process";
import {
  drawSpectrum,
  encodePng,
  type ImageArray,
  type PngFilter,
  renderImage,
  renderImagePng,
  renderRgbPng,
  renderSpectrumPng,
} from "../src/render/index.ts";

/** A cutout like the synthetic HSC ones: sky noise, a galaxy, stars. Deterministic. */
function cutout(n: number, seed: number, scale = 1): Float32Array {
  const a = new Float32Array(n * n);
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      const r2 = ((x - n * 0.5) / (n * 0.08)) ** 2 + ((y - n * 0.45) / (n * 0.05)) ** 2;
      const noise = (rand() + rand() + rand() - 1.5) * 0.1;
      a[y * n + x] = scale * (5 * Math.exp(-0.5 * r2) + 0.5 * Math.exp(-0.05 * r2)) + noise;
    }
  for (let k = 0; k < 5; k++) a[Math.floor(rand() * n * n)] = 40 * scale;
  return a;
}

/** Median milliseconds per call over `reps` calls (after `reps / 5` warm-up calls). */
function time(fn: () => unknown, reps: number): number {
  for (let i = 0; i < Math.max(3, reps / 5); i++) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)]!;
}

const PY = `
import json, sys, time, io
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.image
from astropy.visualization import AsymmetricPercentileInterval, AsinhStretch, ImageNormalize, make_lupton_rgb
args = json.loads(sys.stdin.read())
out = {}
def med(fn, reps):
    for _ in range(max(3, reps // 5)): fn()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); t.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(t))
for n in args["sizes"]:
    img = np.array(args["images"][str(n)][0], dtype=np.float32).reshape(n, n)
    def one(cmap):
        vmin, vmax = AsymmetricPercentileInterval(1, 99.5).get_limits(img)
        norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(0.1), clip=True)
        buf = io.BytesIO()
        matplotlib.image.imsave(buf, norm(img), cmap=cmap, vmin=0, vmax=1, origin="lower", format="png")
        return buf.getvalue()
    bands = [np.array(b, dtype=np.float32).reshape(n, n) for b in args["images"][str(n)]]
    def rgb():
        buf = io.BytesIO()
        matplotlib.image.imsave(buf, make_lupton_rgb(*bands, minimum=0, stretch=5, Q=8), origin="lower", format="png")
        return buf.getvalue()
    reps = args["reps"][str(n)]
    out[str(n)] = {"gray": med(lambda: one("gray"), reps), "viridis": med(lambda: one("viridis"), reps), "rgb": med(rgb, reps)}
print(json.dumps(out))
`;

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const sizes = [64, 256];
  const reps: Record<string, number> = { "64": quick ? 50 : 400, "256": quick ? 20 : 100 };
  const images: Record<string, Float32Array[]> = {};
  for (const n of sizes) images[n] = [cutout(n, 1, 1.4), cutout(n, 2, 1), cutout(n, 3, 0.6)];

  let py: Record<string, { gray: number; viridis: number; rgb: number }> | undefined;
  try {
    const input = JSON.stringify({
      sizes,
      reps,
      images: Object.fromEntries(sizes.map((n) => [n, images[n]!.map((a) => Array.from(a))])),
    });
    py = JSON.parse(
      execFileSync("/usr/bin/python3", ["-c", PY], { input, encoding: "utf8", maxBuffer: 1 << 28 }),
    );
  } catch (err) {
    console.log(`(astropy reference not run: ${(err as Error).message.split("\n")[0]})`);
  }

  console.log("| picture | AstroPile ms | astropy+matplotlib ms | ratio | PNG bytes |");
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const n of sizes) {
    const band = (k: number): ImageArray => ({ data: images[n]![k]!, shape: [n, n] });
    const [r, g, b] = [band(0), band(1), band(2)] as const;
    for (const cmap of ["gray", "viridis"] as const) {
      const opts = { stretch: "asinh" as const, pmin: 1, pmax: 99.5, cmap };
      const ms = time(() => renderImagePng(r, opts), reps[n]!);
      const ref = py?.[n]?.[cmap];
      const bytes = renderImagePng(r, opts).length;
      console.log(
        `| renderImagePng ${n}x${n} ${cmap} | ${ms.toFixed(3)} | ${ref?.toFixed(3) ?? "-"} | ${ref ? (ref / ms).toFixed(1) : "-"}x | ${bytes} |`,
      );
    }
    const ms = time(() => renderRgbPng([r, g, b], { minimum: 0, range: 5, Q: 8 }), reps[n]!);
    const ref = py?.[n]?.rgb;
    const bytes = renderRgbPng([r, g, b], { minimum: 0, range: 5, Q: 8 }).length;
    console.log(
      `| renderRgbPng ${n}x${n} (Lupton Q=8) | ${ms.toFixed(3)} | ${ref?.toFixed(3) ?? "-"} | ${ref ? (ref / ms).toFixed(1) : "-"}x | ${bytes} |`,
    );
  }

  // a DESI-like spectrum: 7781 samples 3600..9824 Å, noise, a few lines, a masked run
  const L = 7781;
  const lambda = new Float32Array(L);
  const flux = new Float32Array(L);
  const ivar = new Float32Array(L);
  const mask = new Uint8Array(L);
  for (let i = 0; i < L; i++) {
    const l = 3600 + 0.8 * i;
    lambda[i] = l;
    flux[i] =
      2 + Math.sin(l / 700) + 8 * Math.exp(-0.5 * ((l - 7221) / 3) ** 2) + 0.3 * Math.sin(i * 1.7);
    ivar[i] = 25;
    mask[i] = l > 5570 && l < 5590 ? 1 : 0;
  }
  const spec = { lambda, flux, ivar, mask, z: 0.1 };
  const sms = time(() => renderSpectrumPng(spec, { width: 800, height: 300 }), quick ? 20 : 100);
  console.log(
    `| renderSpectrumPng 7781 samples, 800x300 | ${sms.toFixed(3)} | - | - | ${renderSpectrumPng(spec).length} |`,
  );

  // the encoder's defaults: filter and zlib level on the 256x256 viridis cutout and the plot
  console.log("\nPNG encoder: ms per encode / bytes");
  console.log("| raster | filter | level 1 | level 6 | level 9 |");
  console.log("| --- | --- | --- | --- | --- |");
  const band256 = { data: images[256]![0]!, shape: [256, 256] };
  for (const [name, raster] of [
    ["256x256 gray", renderImage(band256)],
    ["256x256 viridis", renderImage(band256, { cmap: "viridis" })],
    ["spectrum 800x300", drawSpectrum(spec, { width: 800, height: 300 })],
  ] as const) {
    for (const filter of ["none", "sub", "up", "paeth", "adaptive"] as PngFilter[]) {
      const cells = [1, 6, 9].map((level) => {
        const ms = time(() => encodePng(raster, { filter, compression: level }), quick ? 10 : 40);
        return `${ms.toFixed(2)} / ${encodePng(raster, { filter, compression: level }).length}`;
      });
      console.log(`| ${name} | ${filter} | ${cells.join(" | ")} |`);
    }
  }
}
