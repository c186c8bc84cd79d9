// Spectrum plots: the curve, the redshifted line markers, masked shading and the sigma band are
// where the plot's own axes say they are, read back from the decoded PNG (pngjs); the line
// list against the classical air wavelengths; bad inputs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PNG } from "pngjs";
import { isAstroPileError } from "../../src/core/errors.ts";
import {
  drawSpectrum,
  renderSpectrumPng,
  SPECTRAL_LINES,
  SPECTRUM_COLORS,
  type SpectrumData,
} from "../../src/render/index.ts";

const Z = 0.1;
const HALPHA = 6564.61;

/** A galaxy-like spectrum: flat continuum 1, Gaussian Halpha and [OIII] at z = 0.1, a masked run, padding. */
function galaxySpectrum(): SpectrumData & { n: number } {
  const n = 6201 + 50;
  const lambda = new Float32Array(n).fill(-1); // the last 50 are MMU padding (lambda -1)
  const flux = new Float32Array(n);
  const ivar = new Float32Array(n);
  const mask = new Uint8Array(n).fill(1);
  for (let i = 0; i < 6201; i++) {
    const l = 3600 + i;
    lambda[i] = l;
    const line = (rest: number, amp: number) =>
      amp * Math.exp(-0.5 * ((l - (1 + Z) * rest) / 3) ** 2);
    flux[i] = 1 + line(HALPHA, 6) + line(5008.24, 3);
    ivar[i] = 100; // sigma 0.1
    mask[i] = l >= 5000 && l < 5100 ? 1 : 0;
  }
  return { lambda, flux, ivar, mask, z: Z, n };
}

function decode(bytes: Uint8Array) {
  const png = PNG.sync.read(Buffer.from(bytes));
  const at = (x: number, y: number) => {
    const k = (y * png.width + x) * 4;
    return [png.data[k]!, png.data[k + 1]!, png.data[k + 2]!] as const;
  };
  const is = (x: number, y: number, c: readonly number[]) => {
    const p = at(x, y);
    return p[0] === c[0] && p[1] === c[1] && p[2] === c[2];
  };
  return { png, at, is };
}

test("the curve, line markers, masked shading and sigma band are drawn where the axes put them", () => {
  const s = galaxySpectrum();
  const width = 800;
  const height = 300;
  const plot = drawSpectrum(s, { width, height });
  const { png, is } = decode(renderSpectrumPng(s, { width, height }));
  assert.equal(png.width, width);
  assert.equal(png.height, height);
  const { left, right, top, bottom } = plot.box;
  // the axes span the real samples, not the padding
  assert.deepEqual(plot.lambdaRange, [3600, 9800]);
  // the x mapping, checked independently: inner columns left+1 .. right-1 span 3600 .. 9800 Å
  const xOf = (l: number) => left + 1 + ((l - 3600) / 6200) * (right - 1 - (left + 1));
  assert.ok(Math.abs(plot.xOf(HALPHA * (1 + Z)) - xOf(HALPHA * (1 + Z))) < 1e-9, "xOf");
  // the y range holds the continuum (1) and the Halpha peak (7) with a margin
  assert.ok(plot.fluxRange[0] < 1 && plot.fluxRange[1] > 7, `flux range ${plot.fluxRange}`);

  // frame
  for (let x = left; x <= right; x++)
    assert.ok(
      is(x, top, SPECTRUM_COLORS.frame) && is(x, bottom, SPECTRUM_COLORS.frame),
      `frame at column ${x}`,
    );

  // the curve: in each column outside the masked run there is a curve pixel, and in continuum
  // columns it sits within a pixel of the row of flux 1
  const maskedCols = [Math.round(xOf(5000)) + 1, Math.round(xOf(5100)) - 1];
  const yContinuum = plot.yOf(1);
  let curveColumns = 0;
  // (the y-axis tick marks cover columns left+1..left+3 at their rows: start past them)
  for (let x = left + 4; x < right; x++) {
    let rows = 0;
    let nearContinuum = false;
    for (let y = top + 1; y < bottom; y++)
      if (is(x, y, SPECTRUM_COLORS.curve)) {
        rows++;
        if (Math.abs(y - yContinuum) <= 1.5) nearContinuum = true;
      }
    const inMask = x >= maskedCols[0]! && x <= maskedCols[1]!;
    if (inMask) assert.equal(rows, 0, `masked column ${x} has no curve`);
    else {
      assert.ok(rows > 0, `column ${x} has the curve`);
      curveColumns++;
      const l = 3600 + ((x - left - 1) / (right - left - 2)) * 6200;
      const nearLine = Math.abs(l - HALPHA * (1 + Z)) < 20 || Math.abs(l - 5008.24 * (1 + Z)) < 20;
      if (!nearLine) assert.ok(nearContinuum, `column ${x} (${l.toFixed(0)} Å): curve at flux 1`);
    }
  }
  assert.ok(curveColumns > 700, `${curveColumns} columns with the curve`);
  // the Halpha peak reaches the row of flux 7
  const xHa = Math.round(xOf(HALPHA * (1 + Z)));
  const peakRow = Math.round(plot.yOf(7));
  let reached = false;
  for (let x = xHa - 1; x <= xHa + 1; x++)
    for (let y = peakRow - 1; y <= peakRow + 1; y++)
      if (is(x, y, SPECTRUM_COLORS.curve)) reached = true;
  assert.ok(reached, "the Halpha peak is drawn");

  // masked run shaded (away from the continuum row, above the sigma band)
  const mid = Math.round(xOf(5050));
  assert.ok(is(mid, top + 3, SPECTRUM_COLORS.masked), "masked run shaded");
  // the sigma band around the continuum (flux 1 +- 0.1) in an unmasked column
  const xBand = Math.round(xOf(4200));
  const bandRows = [...Array(bottom - top - 1).keys()]
    .map((k) => top + 1 + k)
    .filter((y) => is(xBand, y, SPECTRUM_COLORS.band));
  assert.ok(bandRows.length >= 2, "the band is drawn");
  for (const y of bandRows)
    assert.ok(plot.yOf(1.1) - 1 <= y && y <= plot.yOf(0.9) + 1, `band row ${y}`);

  // lines: every listed line inside 3600..9800 Å at z = 0.1 is marked, at (1 + z) * rest
  const expected = SPECTRAL_LINES.filter(
    (l) => (1 + Z) * l.rest >= 3600 && (1 + Z) * l.rest <= 9800,
  );
  assert.deepEqual(
    plot.marked.map((m) => m.name),
    expected.map((l) => l.name),
  );
  assert.ok(
    expected.some((l) => l.name === "Halpha") && !expected.some((l) => l.name === "Lyalpha"),
  );
  for (const m of plot.marked) {
    const x = Math.round(xOf(m.observed));
    const c = m.kind === "emission" ? SPECTRUM_COLORS.emission : SPECTRUM_COLORS.absorption;
    let dashes = 0;
    for (let y = top + 1; y < bottom; y++) if (is(x, y, c)) dashes++;
    // (dashes 4 of every 7 rows; the curve crosses them, all the way up at Halpha)
    assert.ok(dashes > (bottom - top) / 8, `${m.name} marked at column ${x} (${dashes} pixels)`);
  }
});

test("without z no lines are marked; lines: false and a custom list", () => {
  const s = galaxySpectrum();
  assert.equal(drawSpectrum({ ...s, z: null }).marked.length, 0);
  assert.equal(drawSpectrum(s, { lines: false }).marked.length, 0);
  assert.equal(drawSpectrum({ ...s, lines: false }).marked.length, 0);
  assert.ok(drawSpectrum({ ...s, lines: false }, { lines: true }).marked.length > 5, "options win");
  const custom = drawSpectrum(s, { lines: [{ name: "X", rest: 5000, kind: "absorption" }] });
  assert.deepEqual(
    custom.marked.map((m) => [m.name, m.observed]),
    [["X", (1 + Z) * 5000]],
  );
});

test("an all-masked spectrum, a single sample and a tiny picture still draw the axes", () => {
  const n = 10;
  const lambda = Float64Array.from({ length: n }, (_, i) => 4000 + i);
  const flux = new Float64Array(n).fill(Number.NaN);
  for (const spec of [
    { lambda, flux },
    { lambda: [5000], flux: [2] },
    { lambda: [], flux: [] },
  ]) {
    const { png, is } = decode(renderSpectrumPng(spec, { width: 64, height: 40 }));
    let frame = 0;
    for (let x = 0; x < 64; x++)
      for (let y = 0; y < 40; y++) if (is(x, y, SPECTRUM_COLORS.frame)) frame++;
    assert.ok(frame > 100, `frame drawn (${frame} pixels)`);
    assert.equal(png.width, 64);
  }
});

test("rest wavelengths are vacuum: converted to air (IAU formula) they give the classical air values", () => {
  // air wavelengths from the standard tables (NIST, Å)
  const air: Record<string, number[]> = {
    Halpha: [6562.8],
    Hbeta: [4861.33],
    Hgamma: [4340.47],
    Hdelta: [4101.74],
    "[OIII]": [4958.91, 5006.84],
    "[OII]": [3726.03, 3728.82],
    "[NII]": [6548.05, 6583.45],
    "[SII]": [6716.44, 6730.82],
    "CaII K": [3933.66],
    "CaII H": [3968.47],
    "NaI D2": [5889.95],
    "NaI D1": [5895.92],
    MgII: [2795.53, 2802.7],
  };
  const toAir = (vac: number) => {
    const s2 = (1e4 / vac) ** 2;
    const n = 1 + 0.0000834254 + 0.02406147 / (130 - s2) + 0.00015998 / (38.9 - s2);
    return vac / n;
  };
  let checked = 0;
  for (const [name, values] of Object.entries(air)) {
    const ours = SPECTRAL_LINES.filter((l) => l.name === name).map((l) => l.rest);
    assert.equal(ours.length, values.length, name);
    ours.forEach((vac, i) => {
      assert.ok(Math.abs(toAir(vac) - values[i]!) < 0.05, `${name}: ${toAir(vac)} vs ${values[i]}`);
      checked++;
    });
  }
  assert.equal(checked, 18);
});

test("bad spectra and options: typed errors naming the parameter", () => {
  const s = galaxySpectrum();
  const check = (fn: () => unknown, parameter: string, code = "ASTROPILE_USAGE") =>
    assert.throws(
      fn,
      (e: unknown) =>
        isAstroPileError(e, code) && (e as { parameter?: string }).parameter === parameter,
      parameter,
    );
  check(() => renderSpectrumPng(s, { width: 10 }), "width");
  check(() => renderSpectrumPng(s, { width: 100_000 }), "width", "ASTROPILE_MEMORY_BUDGET");
  check(() => renderSpectrumPng(s, { height: Number.NaN }), "height");
  check(() => renderSpectrumPng({ ...s, flux: Array.from(s.flux).slice(1) }), "flux");
  check(() => renderSpectrumPng({ ...s, ivar: [1] }), "ivar");
  check(() => renderSpectrumPng({ ...s, mask: [1] }), "mask");
  check(() => renderSpectrumPng({ ...s, z: Number.NaN }), "z");
  check(() => renderSpectrumPng({ ...s, z: -1 }), "z");
  check(() => renderSpectrumPng({ lambda: undefined as never, flux: [] }), "lambda");
  check(() => renderSpectrumPng(s, { fluxRange: [2, 1] }), "fluxRange");
  check(() => renderSpectrumPng(s, { lambdaRange: [Number.NaN, 1] }), "lambdaRange");
  check(
    () => renderSpectrumPng(s, { lines: [{ name: "X", rest: Number.NaN, kind: "emission" }] }),
    "lines.rest",
  );
  check(() => renderSpectrumPng(s, { lines: "all" as never }), "lines");
});
