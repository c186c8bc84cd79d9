// One object: its scalar fields, each image band rendered by the server (PNG) with a stretch,
// colormap and percentile interval the user picks, an RGB composite, its spectrum as a zoomable
// plot, and for an IFU cube a wavelength slice where a click shows that spaxel's spectrum.
import { apiUrl, errorBox, getJson, isAbort, loadImage, seg } from "./api.ts";
import { field, h, replaceChildren, select } from "./dom.ts";
import { formatValue } from "./format.ts";
import type { PageContext } from "./page.ts";
import { breadcrumb } from "./page-dataset.ts";
import { SPECTRAL_LINES, spectrumPlot } from "./spectrum-plot.ts";
import type { DatasetInfo, Feature, RowsPage, SpectrumBody } from "./types.ts";

export const STRETCHES = ["asinh", "linear"];
export const COLORMAPS = ["gray", "viridis", "magma"];

export async function objectPage(ctx: PageContext, name: string, id: string): Promise<void> {
  ctx.setTitle(`${id} · ${name}`);
  const info = await getJson<DatasetInfo>(apiUrl(`datasets/${seg(name)}`), ctx.signal);
  const modality = info.entry.modality;
  const has = (column: string) => info.features.some((f) => f.name === column);
  const base = `datasets/${seg(name)}/examples/${seg(id)}`;

  const header = [
    breadcrumb(name, [`Object ${id}`, ""]),
    h("h1", null, h("span", { className: "muted" }, `${name} / `), id),
  ];
  replaceChildren(ctx.main, ...header, h("p", { className: "loading" }, "Loading the object…"));

  // Scalars: from the example itself, except for IFU cubes (megabytes of spaxels as JSON):
  // there the rows route gives the catalog columns of this one object.
  const isIfu = modality === "ifu" || has("ifu_flux");
  let example: Record<string, unknown> | null = null;
  let scalars: Array<[string, unknown]>;
  if (isIfu) {
    scalars = await rowScalars(ctx, name, id, info.features);
  } else {
    example = await getJson<Record<string, unknown>>(apiUrl(base, { format: "json" }), ctx.signal);
    scalars = exampleScalars(example);
  }
  const z = numberOr(scalars.find(([k]) => k === "z")?.[1]);

  const sections: HTMLElement[] = [];
  const loads: Array<Promise<void>> = [];
  const bands = example ? bandsOf(example, info.features) : [];
  if (bands.length > 0) {
    const s = imageSection(ctx, base, bands);
    sections.push(s.element);
    loads.push(s.ready);
  }
  const spectrum =
    !isIfu &&
    (modality === "spectrum" ||
      has("spectrum_flux") ||
      (example !== null && "flux" in example && "lambda" in example));
  let spectrumSection: ReturnType<typeof spectrumSectionOf> | null = null;
  if (spectrum) {
    spectrumSection = spectrumSectionOf(ctx, base, `Spectrum of ${id}`);
    sections.push(spectrumSection.element);
  }
  let ifu: ReturnType<typeof ifuSection> | null = null;
  if (isIfu) {
    const shape = info.features.find((f) => f.name === "ifu_flux")?.shape ?? [];
    ifu = ifuSection(ctx, base, shape, z);
    sections.push(ifu.element);
  }
  replaceChildren(
    ctx.main,
    ...header,
    h(
      "section",
      { "aria-labelledby": "fields-h" },
      h("h2", { id: "fields-h" }, "Fields"),
      fieldsTable(scalars),
    ),
    ...sections,
    sections.length === 0
      ? h("p", { className: "empty" }, "This dataset has no images, spectra or cubes to show.")
      : null,
  );
  // Plots measure their width, so they are drawn once attached.
  if (spectrumSection) loads.push(spectrumSection.load());
  if (ifu) loads.push(ifu.load());
  await Promise.all(loads);
}

function numberOr(v: unknown): number | null {
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
  return typeof n === "number" && Number.isFinite(n) ? n : null;
}

function isArrayLike(v: unknown): boolean {
  return Array.isArray(v) || (typeof v === "object" && v !== null && "shape" in v && "data" in v);
}

/** The example's scalar fields (provenance and `extra` flattened), arrays left out. */
function exampleScalars(ex: Record<string, unknown>): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = [];
  const visit = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v !== null && typeof v === "object" && !isArrayLike(v)) {
        if (k === "provenance" || k === "extra")
          visit(v as Record<string, unknown>, k === "extra" ? "" : `${k}.`);
        continue;
      }
      if (isArrayLike(v)) continue;
      out.push([`${prefix}${k}`, v]);
    }
  };
  visit(ex, "");
  return out;
}

/** The catalog columns of one object through the rows route (a filter on object_id). */
async function rowScalars(
  ctx: PageContext,
  name: string,
  id: string,
  features: Feature[],
): Promise<Array<[string, unknown]>> {
  const idFeature = features.find((f) => f.name === "object_id");
  const numeric = idFeature && /int|float/.test(idFeature.dtype);
  const filter = `object_id == ${numeric ? id : JSON.stringify(id)}`;
  const page = await getJson<RowsPage>(
    apiUrl(`datasets/${seg(name)}/rows`, { filter, limit: 1 }),
    ctx.signal,
  );
  const row = page.rows[0];
  if (!row) throw new Error(`no object ${id} in ${name}`);
  return Object.entries(row).filter(([, v]) => !isArrayLike(v));
}

/** Band names from the example (`image: [{band}]`, or an `image_band` column). */
function bandsOf(ex: Record<string, unknown>, features: Feature[]): string[] {
  if (Array.isArray(ex.image)) {
    return (ex.image as Array<{ band?: unknown }>).map((b, i) => String(b.band ?? i));
  }
  const raw = ex.image_band;
  const list = Array.isArray(raw) ? raw : (raw as { data?: unknown[] } | undefined)?.data;
  if (Array.isArray(list)) return list.map(String);
  const image = features.find((f) => f.name === "image_array");
  return image && image.shape.length === 3
    ? Array.from({ length: image.shape[0]! }, (_, i) => String(i))
    : [];
}

function fieldsTable(scalars: Array<[string, unknown]>): HTMLElement {
  return h(
    "table",
    { className: "data fields" },
    h(
      "tbody",
      null,
      ...scalars.map(([k, v]) =>
        h("tr", null, h("th", { scope: "row" }, h("code", null, k)), h("td", null, formatValue(v))),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Images

interface ImageSettings {
  stretch: string;
  cmap: string;
  pmin: string;
  pmax: string;
}

function percentInput(name: string, value: string, min: number, max: number): HTMLInputElement {
  return h("input", { type: "number", name, value, min, max, step: "0.1", inputmode: "decimal" });
}

function imageSection(
  ctx: PageContext,
  base: string,
  bands: string[],
): { element: HTMLElement; ready: Promise<void> } {
  const settings: ImageSettings = { stretch: "asinh", cmap: "gray", pmin: "1", pmax: "99.5" };
  const stretch = select("stretch", STRETCHES, settings.stretch);
  const cmap = select("cmap", COLORMAPS, settings.cmap);
  const pmin = percentInput("pmin", settings.pmin, 0, 50);
  const pmax = percentInput("pmax", settings.pmax, 50, 100);
  const controls = h(
    "form",
    { className: "image-controls", "aria-label": "Image display" },
    field("Stretch", stretch),
    field("Colormap", cmap),
    field("Lower percentile", pmin),
    field("Upper percentile", pmax),
  );
  const tiles = bands.map((band) => {
    const img = h("img", { alt: `Band ${band}`, className: "band-image", width: 160, height: 160 });
    const status = h("div", { className: "image-status" });
    const figure = h(
      "figure",
      { className: "band", "data-band": band },
      img,
      h("figcaption", null, `Band ${band}`),
      status,
    );
    return { band, img, status, figure };
  });
  const loadBands = async () => {
    await Promise.all(
      tiles.map(async (t) => {
        t.figure.setAttribute("aria-busy", "true");
        try {
          await loadImage(
            t.img,
            apiUrl(`${base}/image.png`, { band: t.band, ...settings }),
            ctx.signal,
          );
          replaceChildren(t.status);
          t.img.hidden = false;
        } catch (err) {
          if (isAbort(err)) return;
          t.img.hidden = true;
          replaceChildren(t.status, errorBox(err, `Band ${t.band}`));
        } finally {
          t.figure.setAttribute("aria-busy", "false");
        }
      }),
    );
  };
  controls.addEventListener("change", () => {
    settings.stretch = stretch.value;
    settings.cmap = cmap.value;
    settings.pmin = pmin.value;
    settings.pmax = pmax.value;
    void loadBands();
  });
  controls.addEventListener("submit", (e) => e.preventDefault());

  const rgb = rgbComposite(ctx, base, bands);
  const element = h(
    "section",
    { "aria-labelledby": "images-h", className: "images" },
    h("h2", { id: "images-h" }, `Images (${bands.length} band${bands.length === 1 ? "" : "s"})`),
    controls,
    h("div", { className: "band-grid" }, ...tiles.map((t) => t.figure)),
    rgb?.element ?? null,
  );
  return { element, ready: Promise.all([loadBands(), rgb?.load()]).then(() => {}) };
}

function rgbComposite(ctx: PageContext, base: string, bands: string[]) {
  if (bands.length < 3) return null;
  // Bands come blue to red: the third, second and first make red, green, blue (i, r, g for HSC).
  const pick = [bands[2]!, bands[1]!, bands[0]!];
  const selects = ["Red", "Green", "Blue"].map((c, i) =>
    select(`rgb-${c.toLowerCase()}`, bands, pick[i]!),
  );
  const stretch = select("rgb-stretch", STRETCHES, "asinh");
  const q = h("input", {
    type: "number",
    name: "q",
    value: "8",
    min: "0.1",
    max: "100",
    step: "0.5",
  });
  const img = h("img", { alt: "RGB composite", className: "rgb-image", width: 240, height: 240 });
  const status = h("div", { className: "image-status" });
  const figure = h(
    "figure",
    { className: "rgb" },
    img,
    h("figcaption", null, "RGB composite"),
    status,
  );
  const load = async () => {
    figure.setAttribute("aria-busy", "true");
    const bandsParam = selects.map((s) => s.value).join(",");
    img.alt = `RGB composite of bands ${bandsParam}`;
    try {
      await loadImage(
        img,
        apiUrl(`${base}/rgb.png`, { bands: bandsParam, stretch: stretch.value, q: q.value }),
        ctx.signal,
      );
      img.hidden = false;
      replaceChildren(status);
    } catch (err) {
      if (isAbort(err)) return;
      img.hidden = true;
      replaceChildren(status, errorBox(err, "RGB composite"));
    } finally {
      figure.setAttribute("aria-busy", "false");
    }
  };
  const form = h(
    "form",
    { className: "rgb-controls", "aria-label": "RGB composite" },
    ...selects.map((s, i) => field(["Red", "Green", "Blue"][i]!, s)),
    field("Stretch", stretch),
    field("Softening Q", q),
  );
  form.addEventListener("change", () => void load());
  form.addEventListener("submit", (e) => e.preventDefault());
  const element = h(
    "div",
    { className: "rgb-block" },
    h("h3", null, "RGB composite"),
    form,
    figure,
  );
  return { element, load };
}

// ---------------------------------------------------------------------------------------------
// Spectra

function spectrumSectionOf(ctx: PageContext, base: string, title: string) {
  const body = h("div", { className: "spectrum-body" });
  const element = h(
    "section",
    { "aria-labelledby": "spectrum-h", className: "spectrum-section" },
    h("h2", { id: "spectrum-h" }, "Spectrum"),
    body,
  );
  const load = async () => {
    body.setAttribute("aria-busy", "true");
    try {
      const s = await getJson<SpectrumBody>(apiUrl(`${base}/spectrum.json`), ctx.signal);
      const plot = spectrumPlot(s, { title });
      replaceChildren(body, plot.element);
      plot.draw();
    } catch (err) {
      if (isAbort(err)) throw err;
      replaceChildren(body, errorBox(err, "Could not load the spectrum"));
    } finally {
      body.setAttribute("aria-busy", "false");
    }
  };
  return { element, load };
}

// ---------------------------------------------------------------------------------------------
// IFU cubes

function ifuSection(ctx: PageContext, base: string, shape: number[], z: number | null) {
  const ny = shape[0] ?? 0;
  const nx = shape[1] ?? 0;
  const wavelength = h("input", {
    type: "range",
    name: "wavelength",
    min: "0",
    max: "1",
    step: "any",
  });
  const wavelengthOut = h("output", { for: "", className: "wavelength-value" });
  const stretch = select("ifu-stretch", STRETCHES, "asinh");
  const cmap = select("ifu-cmap", COLORMAPS, "magma");
  const img = h("img", {
    alt: "Wavelength slice of the cube",
    className: "slice-image",
    width: 264,
    height: 264,
  });
  const marker = h("div", { className: "spaxel-marker", hidden: true });
  const sliceStatus = h("div", { className: "image-status" });
  const frame = h(
    "div",
    {
      className: "slice-frame",
      tabindex: 0,
      role: "application",
      "aria-label": `Wavelength slice, ${nx} × ${ny} spaxels: click a spaxel, or use the arrow keys, to see its spectrum`,
    },
    img,
    marker,
  );
  const spaxelTitle = h("h3", null, "Spaxel spectrum");
  const spaxelBody = h("div", { className: "spaxel-body" });
  const controls = h(
    "form",
    { className: "ifu-controls", "aria-label": "Cube slice" },
    field("Wavelength (Å)", wavelength),
    wavelengthOut,
    field("Stretch", stretch),
    field("Colormap", cmap),
  );
  controls.addEventListener("submit", (e) => e.preventDefault());
  const element = h(
    "section",
    { "aria-labelledby": "ifu-h", className: "ifu" },
    h("h2", { id: "ifu-h" }, `IFU cube (${nx} × ${ny} spaxels)`),
    controls,
    h(
      "div",
      { className: "ifu-grid" },
      h(
        "figure",
        { className: "slice" },
        frame,
        h("figcaption", null, "Slice at the chosen wavelength"),
        sliceStatus,
      ),
      h("div", { className: "spaxel" }, spaxelTitle, spaxelBody),
    ),
  );

  let selected = { x: Math.floor(nx / 2), y: Math.floor(ny / 2) };
  let plot: ReturnType<typeof spectrumPlot> | null = null;

  const loadSlice = async () => {
    frame.setAttribute("aria-busy", "true");
    wavelengthOut.textContent = `${Number(wavelength.value).toFixed(1)} Å`;
    try {
      await loadImage(
        img,
        apiUrl(`${base}/ifu/slice.png`, {
          wavelength: Number(wavelength.value).toFixed(2),
          stretch: stretch.value,
          cmap: cmap.value,
        }),
        ctx.signal,
      );
      img.hidden = false;
      replaceChildren(sliceStatus);
    } catch (err) {
      if (isAbort(err)) return;
      img.hidden = true;
      replaceChildren(sliceStatus, errorBox(err, "Slice"));
    } finally {
      frame.setAttribute("aria-busy", "false");
    }
  };

  const placeMarker = () => {
    marker.hidden = false;
    marker.style.left = `${(selected.x / nx) * 100}%`;
    marker.style.top = `${((ny - 1 - selected.y) / ny) * 100}%`;
    marker.style.width = `${100 / nx}%`;
    marker.style.height = `${100 / ny}%`;
  };

  /** Loads the spectrum of the selected spaxel; returns its wavelengths (for the slider). */
  const loadSpaxel = async (): Promise<number[] | null> => {
    placeMarker();
    spaxelTitle.textContent = `Spaxel (x ${selected.x}, y ${selected.y})`;
    frame.dataset.x = String(selected.x);
    frame.dataset.y = String(selected.y);
    spaxelBody.setAttribute("aria-busy", "true");
    try {
      const s = await getJson<SpectrumBody>(
        apiUrl(`${base}/ifu/spaxel.json`, { x: selected.x, y: selected.y }),
        ctx.signal,
      );
      if (s.z === undefined || s.z === null) s.z = z;
      plot?.destroy();
      plot = spectrumPlot(s, {
        title: `Spectrum of spaxel ${selected.x}, ${selected.y}`,
        height: 260,
      });
      replaceChildren(spaxelBody, plot.element);
      plot.draw();
      return s.lambda.filter((l) => l > 0);
    } catch (err) {
      if (isAbort(err)) throw err;
      replaceChildren(spaxelBody, errorBox(err, "Could not load the spaxel"));
      return null;
    } finally {
      spaxelBody.setAttribute("aria-busy", "false");
    }
  };

  // The server draws slices as astronomers do (origin "lower", src/render): array row 0, spaxel
  // y = 0, is the bottom row of the picture.
  const selectAt = (clientX: number, clientY: number) => {
    const r = img.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return;
    const x = Math.floor(((clientX - r.left) / r.width) * nx);
    const y = ny - 1 - Math.floor(((clientY - r.top) / r.height) * ny);
    if (x < 0 || y < 0 || x >= nx || y >= ny) return;
    selected = { x, y };
    void loadSpaxel().catch(() => {});
  };
  frame.addEventListener("click", (e) => selectAt(e.clientX, e.clientY));
  frame.addEventListener("keydown", (e) => {
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-1, 0],
      ArrowRight: [1, 0],
      ArrowUp: [0, 1],
      ArrowDown: [0, -1],
    };
    const m = moves[e.key];
    if (!m) return;
    e.preventDefault();
    selected = {
      x: Math.max(0, Math.min(nx - 1, selected.x + m[0])),
      y: Math.max(0, Math.min(ny - 1, selected.y + m[1])),
    };
    void loadSpaxel().catch(() => {});
  });
  controls.addEventListener("change", () => void loadSlice());

  const load = async () => {
    if (nx === 0 || ny === 0) {
      replaceChildren(spaxelBody, h("p", null, "The cube's shape is unknown."));
      return;
    }
    // The centre spaxel first: its wavelengths set the slider's range.
    const lambda = await loadSpaxel();
    if (!lambda || lambda.length === 0) return;
    const lo = Math.min(...lambda);
    const hi = Math.max(...lambda);
    wavelength.min = String(lo);
    wavelength.max = String(hi);
    wavelength.step = String((hi - lo) / Math.max(1, lambda.length - 1));
    // Start on Hα at the object's redshift when the cube covers it, else mid-range.
    const halpha = SPECTRAL_LINES.find(([n]) => n === "Hα")![1] * (1 + (z ?? 0));
    wavelength.value = String(z !== null && halpha > lo && halpha < hi ? halpha : (lo + hi) / 2);
    await loadSlice();
  };
  return { element, load };
}
