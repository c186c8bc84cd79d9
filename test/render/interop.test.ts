// Live interop: fresh random images rendered to PNG files here, read back by PIL in Python and
// compared with astropy + matplotlib computing the same picture there (no stored fixture).
// Skips visibly without the Debian Python packages, fails in CI without them.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type ImageRenderOptions, renderImagePng, renderRgbPng } from "../../src/render/index.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { tempDir } from "../helpers/tmp.ts";

const CHECK = `
import json, sys
import numpy as np
from PIL import Image
import matplotlib
from astropy.visualization import AsymmetricPercentileInterval, ImageNormalize, LinearStretch, SqrtStretch, LogStretch, AsinhStretch, make_lupton_rgb
cases = json.loads(sys.stdin.read())
stretches = {"linear": LinearStretch(), "sqrt": SqrtStretch(), "log": LogStretch(1000), "asinh": AsinhStretch(0.1)}
out = []
for c in cases:
    h, w = c["shape"]
    got = np.asarray(Image.open(c["png"]).convert("RGBA"))[::-1]  # origin lower: flip back to numpy order
    if c["kind"] == "image":
        img = np.array([np.nan if v is None else v for v in c["data"]], dtype=np.float32).reshape(h, w)
        good = np.isfinite(img)
        vmin, vmax = AsymmetricPercentileInterval(c["pmin"], c["pmax"]).get_limits(img[good])
        norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=stretches[c["stretch"]], clip=True)
        want = matplotlib.colormaps[c["cmap"]](np.ma.masked_array(np.asarray(norm(img)), mask=~good), bytes=True)
    else:
        bands = [np.array(b, dtype=np.float32).reshape(h, w) for b in c["bands"]]
        rgb = make_lupton_rgb(*bands, minimum=c["minimum"], stretch=c["range"], Q=c["Q"])
        want = np.dstack([rgb, np.full((h, w), 255, np.uint8)])
    out.append(int((got.astype(int) != want.astype(int)).sum()))
print(json.dumps(out))
`;

test("random images: PIL reads back what astropy + matplotlib draw (image and Lupton RGB)", {
  skip: referenceSkip(["astropy", "matplotlib", "PIL"]),
}, () => {
  const dir = tempDir("astropile-render-");
  let seed = 7;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const cases: unknown[] = [];
  const h = 37;
  const w = 41;
  const stretches = ["linear", "sqrt", "log", "asinh"] as const;
  const cmaps = ["gray", "viridis", "magma", "inferno"] as const;
  for (let k = 0; k < 8; k++) {
    const data = Float32Array.from({ length: h * w }, (_, i) =>
      rand() < 0.01 ? Number.NaN : (rand() - 0.3) * 3 + (i % w === 20 ? 30 * rand() : 0),
    );
    const options: ImageRenderOptions = {
      stretch: stretches[k % 4],
      cmap: cmaps[(k >> 1) % 4],
      pmin: Math.round(rand() * 50) / 10,
      pmax: 100 - Math.round(rand() * 50) / 10,
    };
    const png = join(dir, `image${k}.png`);
    writeFileSync(png, renderImagePng({ data, shape: [h, w] }, options));
    cases.push({
      kind: "image",
      png,
      shape: [h, w],
      data: Array.from(data, (v) => (Number.isNaN(v) ? null : v)),
      ...options,
    });
  }
  for (let k = 0; k < 3; k++) {
    const bands = [0, 1, 2].map(() =>
      Float32Array.from({ length: h * w }, () => rand() * rand() * 20 - 0.5),
    );
    const opts = { minimum: -0.2 * k, range: 1 + 3 * k, Q: 2 + 4 * k };
    const png = join(dir, `rgb${k}.png`);
    writeFileSync(
      png,
      renderRgbPng(
        [
          { data: bands[0]!, shape: [h, w] },
          { data: bands[1]!, shape: [h, w] },
          { data: bands[2]!, shape: [h, w] },
        ],
        opts,
      ),
    );
    cases.push({
      kind: "rgb",
      png,
      shape: [h, w],
      bands: bands.map((b) => Array.from(b)),
      ...opts,
    });
  }
  const mismatches = JSON.parse(runPython(CHECK, [], JSON.stringify(cases))) as number[];
  assert.deepEqual(mismatches, new Array(cases.length).fill(0));
});
