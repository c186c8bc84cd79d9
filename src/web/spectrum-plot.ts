// A spectrum as a zoomable plot (uPlot, bundled): flux and its 1σ noise against wavelength,
// masked pixels shaded, and the usual emission and absorption lines marked at the redshift
// given. Drag across the plot to zoom in on wavelength; double-click or "Reset zoom" to go back.
import uPlot from "uplot";
import { field, h } from "./dom.ts";
import type { SpectrumBody } from "./types.ts";

/** Rest-frame vacuum wavelengths (Å) of lines worth marking on optical spectra. */
export const SPECTRAL_LINES: Array<[string, number]> = [
  ["Lyα", 1215.67],
  ["C IV", 1549.06],
  ["C III]", 1908.73],
  ["Mg II", 2799.12],
  ["[O II]", 3728.48],
  ["[Ne III]", 3869.86],
  ["Ca K", 3934.78],
  ["Ca H", 3969.59],
  ["Hδ", 4102.89],
  ["Hγ", 4341.68],
  ["Hβ", 4862.68],
  ["[O III]", 4960.3],
  ["[O III]", 5008.24],
  ["Mg b", 5176.7],
  ["Na D", 5895.6],
  ["[N II]", 6549.86],
  ["Hα", 6564.61],
  ["[N II]", 6585.27],
  ["[S II]", 6718.29],
  ["[S II]", 6732.67],
];

/** Ångström per unit of the wavelength axis (the lines are in Å). */
function angstromPer(unit: string | undefined): number {
  const u = (unit ?? "").toLowerCase();
  if (u === "nm") return 10;
  if (u === "um" || u === "µm" || u === "micron") return 1e4;
  return 1;
}

export interface SpectrumPlot {
  element: HTMLElement;
  /** The plot, once drawn (after `draw()`). */
  plot(): uPlot | null;
  draw(): void;
  destroy(): void;
}

interface Cleaned {
  lambda: number[];
  flux: Array<number | null>;
  sigma: Array<number | null>;
  masked: boolean[];
}

/** Drops padding (λ ≤ 0, NaN) and turns inverse variance into a 1σ noise. */
function clean(s: SpectrumBody): Cleaned {
  const out: Cleaned = { lambda: [], flux: [], sigma: [], masked: [] };
  for (let i = 0; i < s.lambda.length; i++) {
    const l = s.lambda[i]!;
    if (!(l > 0) || !Number.isFinite(l)) continue;
    const f = s.flux[i];
    const iv = s.ivar?.[i];
    out.lambda.push(l);
    out.flux.push(typeof f === "number" && Number.isFinite(f) ? f : null);
    out.sigma.push(typeof iv === "number" && iv > 0 ? 1 / Math.sqrt(iv) : null);
    const m = s.mask?.[i];
    out.masked.push(m === true || m === 1);
  }
  return out;
}

/** Runs of masked pixels as [first λ, last λ] pairs (for the shading). */
export function maskedRuns(lambda: number[], masked: boolean[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  let start = -1;
  for (let i = 0; i <= lambda.length; i++) {
    const m = i < lambda.length && masked[i];
    if (m && start < 0) start = i;
    if (!m && start >= 0) {
      // Half a pixel either side, so a single masked pixel still shows.
      const lo = start > 0 ? (lambda[start - 1]! + lambda[start]!) / 2 : lambda[start]!;
      const hi = i < lambda.length ? (lambda[i - 1]! + lambda[i]!) / 2 : lambda[i - 1]!;
      runs.push([lo, hi]);
      start = -1;
    }
  }
  return runs;
}

export function spectrumPlot(
  spectrum: SpectrumBody,
  options: { title: string; height?: number; showRedshift?: boolean },
): SpectrumPlot {
  const data = clean(spectrum);
  const runs = maskedRuns(data.lambda, data.masked);
  const lambdaUnit = spectrum.units?.lambda ?? spectrum.units?.wavelength ?? "Å";
  const fluxUnit = spectrum.units?.flux ?? "";
  const perUnit = angstromPer(lambdaUnit);
  let z = typeof spectrum.z === "number" && Number.isFinite(spectrum.z) ? spectrum.z : null;
  let linesDrawn = 0;

  const holder = h("div", { className: "plot-holder" });
  const zInput = h("input", {
    type: "number",
    step: "0.0001",
    min: "-0.01",
    max: "10",
    value: z === null ? "" : String(Number(z.toFixed(5))),
    className: "redshift",
  });
  const reset = h("button", { type: "button", className: "reset-zoom" }, "Reset zoom");
  // The range shown, also as inputs: zooming without a mouse.
  const rangeInput = (name: string) =>
    h("input", { type: "number", name, step: "any", className: "range", inputmode: "decimal" });
  const fromInput = rangeInput("from");
  const toInput = rangeInput("to");
  const note = h(
    "p",
    { className: "hint" },
    `${data.lambda.length} pixels, ${data.masked.filter(Boolean).length} masked (shaded). Drag across the plot to zoom; double-click to reset.`,
  );
  const element = h(
    "figure",
    { className: "spectrum", "aria-label": options.title },
    h(
      "div",
      { className: "plot-controls" },
      options.showRedshift === false ? null : field("Redshift z (line markers)", zInput),
      field(`From (${lambdaUnit})`, fromInput),
      field(`To (${lambdaUnit})`, toInput),
      reset,
    ),
    holder,
    h("figcaption", null, note),
  );

  let u: uPlot | null = null;
  let observer: ResizeObserver | null = null;

  const drawMask = (self: uPlot) => {
    const ctx = self.ctx;
    const { top, height } = self.bbox;
    ctx.save();
    ctx.fillStyle = "rgba(220, 53, 69, 0.16)";
    for (const [lo, hi] of runs) {
      const x0 = self.valToPos(lo, "x", true);
      const x1 = self.valToPos(hi, "x", true);
      const left = Math.max(self.bbox.left, Math.min(x0, x1));
      const right = Math.min(self.bbox.left + self.bbox.width, Math.max(x0, x1));
      if (right > left) ctx.fillRect(left, top, Math.max(1, right - left), height);
    }
    ctx.restore();
  };
  const drawLines = (self: uPlot) => {
    linesDrawn = 0;
    if (z === null) {
      element.dataset.linesDrawn = "0";
      return;
    }
    const ctx = self.ctx;
    const { top, height, left, width } = self.bbox;
    const xmin = self.scales.x!.min!;
    const xmax = self.scales.x!.max!;
    const ratio = uPlot.pxRatio;
    ctx.save();
    ctx.strokeStyle = "rgba(46, 125, 50, 0.8)";
    ctx.fillStyle = "#1b5e20";
    ctx.lineWidth = ratio;
    ctx.setLineDash([4 * ratio, 3 * ratio]);
    ctx.font = `${10 * ratio}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    let lastLabelX = -Infinity;
    let row = 0;
    for (const [label, rest] of SPECTRAL_LINES) {
      const observed = (rest * (1 + z)) / perUnit;
      if (observed < xmin || observed > xmax) continue;
      const x = self.valToPos(observed, "x", true);
      if (x < left || x > left + width) continue;
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      // Close labels go on alternate rows so they do not overprint.
      row = x - lastLabelX < 40 * ratio ? (row + 1) % 3 : 0;
      ctx.fillText(label, x, top + (10 + 11 * row) * ratio);
      lastLabelX = x;
      linesDrawn++;
    }
    ctx.restore();
    element.dataset.linesDrawn = String(linesDrawn);
  };

  zInput.addEventListener("change", () => {
    const v = Number(zInput.value);
    z = zInput.value.trim() === "" || !Number.isFinite(v) ? null : v;
    u?.redraw(false);
  });
  const zoomTo = () => {
    const lo = Number(fromInput.value);
    const hi = Number(toInput.value);
    if (u && fromInput.value !== "" && toInput.value !== "" && hi > lo) {
      u.setScale("x", { min: lo, max: hi });
    }
  };
  fromInput.addEventListener("change", zoomTo);
  toInput.addEventListener("change", zoomTo);
  reset.addEventListener("click", () => {
    if (u && data.lambda.length > 1) {
      u.setScale("x", { min: data.lambda[0]!, max: data.lambda[data.lambda.length - 1]! });
    }
  });

  const width = () => Math.max(300, holder.clientWidth || 640);
  return {
    element,
    plot: () => u,
    draw() {
      u?.destroy();
      const opts: uPlot.Options = {
        width: width(),
        height: options.height ?? 320,
        scales: { x: { time: false } },
        cursor: { drag: { x: true, y: false, setScale: true } },
        legend: { live: true },
        axes: [
          { label: `Wavelength (${lambdaUnit})`, stroke: "#334" },
          { label: fluxUnit ? `Flux (${fluxUnit})` : "Flux", stroke: "#334", size: 60 },
        ],
        series: [
          { label: `λ (${lambdaUnit})` },
          { label: "Flux", stroke: "#1f5fae", width: 1 },
          { label: "1σ noise", stroke: "#9aa5b1", width: 1 },
        ],
        hooks: {
          drawClear: [drawMask],
          draw: [drawLines],
          // The wavelength range shown, on the figure (what a zoom did, for tests and tools).
          setScale: [
            (self: uPlot, key: string) => {
              if (key !== "x") return;
              const { min, max } = self.scales.x!;
              element.dataset.xMin = String(min);
              element.dataset.xMax = String(max);
              fromInput.value = min === undefined ? "" : min.toFixed(1);
              toInput.value = max === undefined ? "" : max.toFixed(1);
            },
          ],
        },
      };
      u = new uPlot(opts, [data.lambda, data.flux, data.sigma] as uPlot.AlignedData, holder);
      element.dataset.points = String(data.lambda.length);
      element.dataset.maskedRuns = String(runs.length);
      observer?.disconnect();
      observer = new ResizeObserver(() => {
        if (u && Math.abs(u.width - width()) > 2) u.setSize({ width: width(), height: u.height });
      });
      observer.observe(holder);
    },
    destroy() {
      observer?.disconnect();
      u?.destroy();
      u = null;
    },
  };
}
