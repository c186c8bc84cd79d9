// The web viewer in a real browser (Debian's Chromium through playwright-core) against the real
// server (createServer on 127.0.0.1, port 0) over small datasets this file builds: the demo's
// HSC-like images and DESI-like spectra, and MaNGA-like IFU cubes. Each page is opened and
// looked at as a person would: no console errors or failed requests, pixels actually drawn,
// tables that change when filtered and paged, images that change with the stretch. Screenshots
// are kept under test-artifacts/web/.
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { buildWeb } from "../../scripts/build-web.mjs";
import { build } from "../../src/build/runner.ts";
import { NotFoundError } from "../../src/core/errors.ts";
import { builtinSpec, runDemo } from "../../src/demo/index.ts";
import {
  createServer,
  JobQueue,
  jobRoutes,
  KeyStore,
  LocalDirectory,
} from "../../src/server/index.ts";
import { generateSurveys } from "../../src/synth/index.ts";
import { mollweideForward } from "../../src/web/mollweide.ts";
import {
  browserSkip,
  inkOf,
  launchBrowser,
  PageProblems,
  screenshot,
  waitIdle,
} from "../helpers/browser.ts";
import { type RedisServer, redisSkip, startTestRedis } from "../helpers/redis.ts";
import { tempDir } from "../helpers/tmp.ts";

const skip = browserSkip();
const dir = tempDir("astropile-web-");

let browser: Browser | undefined;
let page: Page;
let problems: PageProblems;
let base = "";
let close: (() => Promise<void>) | undefined;
let writeKey = "";

/** The datasets: hsc and desi from the demo (tiny), manga from the synthetic IFU survey. */
async function buildDatasets(): Promise<string[]> {
  const manga = async () => {
    const sources = join(dir, "manga-sources");
    await generateSurveys({ dir: sources, size: "tiny", seed: 7, surveys: ["manga"] });
    await build(builtinSpec("manga", join(sources, "manga")), {
      out: join(dir, "manga"),
      workers: 1,
    });
  };
  await runDemo({ out: dir, size: "tiny", seed: 7, stampSize: 16, workers: 1 });
  await manga();
  return ["hsc", "desi", "manga"].map((n) => join(dir, n));
}

before(async () => {
  if (skip) return;
  const webRoot = join(dir, "web");
  // The browser starts while the datasets are built.
  const [datasets, , launched] = await Promise.all([
    buildDatasets(),
    buildWeb({ outDir: webRoot, minify: false }),
    launchBrowser(),
  ]);
  browser = launched;
  // Jobs (the cross-match page) on a private Redis, when there is one; submitting needs a key.
  const keys = await KeyStore.open(join(dir, "keys.json"));
  writeKey = (await keys.create({ name: "viewer test", scope: "write" })).key;
  let queue: JobQueue | null = null;
  let redis: RedisServer | null = null;
  if (!redisSkip()) {
    redis = await startTestRedis();
    const locations = new Map(datasets.map((d) => [basename(d), d]));
    queue = await JobQueue.open({
      connection: redis.url,
      dataDir: join(dir, "jobs"),
      resolveDataset: async (name) => {
        const location = locations.get(name);
        if (!location) throw new NotFoundError(`no dataset ${name}`);
        return location;
      },
      progressIntervalMs: 0,
      // Matched in this thread: tiny catalogs, and no worker thread to start under tsx.
      xmatchThreads: 0,
    });
  }
  const app = await createServer({
    directory: await LocalDirectory.open(datasets),
    webRoot,
    keys,
    routes: [
      async (a) => {
        await a.register(jobRoutes, { queue });
      },
    ],
  });
  base = await app.listen({ host: "127.0.0.1", port: 0 });
  close = async () => {
    await app.close();
    await queue?.close({ force: true });
    // The private redis-server is a child process: left running, it keeps this file alive.
    await redis?.stop();
  };
  page = await launched.newPage({ viewport: { width: 1280, height: 900 } });
  problems = new PageProblems(page);
});

after(async () => {
  await browser?.close();
  await close?.();
});

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${base}/api/v1/${path}`);
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as T;
}

/** Opens a route of the viewer and waits until everything on it has loaded. */
async function open(hash: string): Promise<void> {
  problems.clear();
  await page.goto(`${base}/${hash}`);
  await waitIdle(page);
}

/** No console errors, failed requests or refused responses; every form control has a label. */
async function assertClean(where: string): Promise<void> {
  assert.deepEqual(problems.all(), [], `problems on ${where}`);
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")]
      .filter((el) => {
        const c = el as HTMLInputElement;
        return c.labels?.length === 0 && !c.getAttribute("aria-label");
      })
      .map((el) => el.outerHTML.slice(0, 80)),
  );
  assert.deepEqual(unlabelled, [], `form controls without a label on ${where}`);
}

/** The text of the first element matched, trimmed. */
async function text(selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent()) ?? "").trim();
}

async function texts(selector: string): Promise<string[]> {
  return page.locator(selector).allTextContents();
}

interface Rows {
  total: number | null;
  rows: Array<Record<string, unknown>>;
}

test("the dataset list shows every dataset, and the search box narrows it", { skip }, async () => {
  await open("#/datasets");
  assert.deepEqual(await texts("table.datasets tbody th a"), ["desi", "hsc", "manga"]);
  assert.match(await text(".status"), /^3 datasets/);
  await screenshot(page, "datasets");
  // The survey name of the IFU dataset, then a column only the spectra have.
  await page.getByLabel("Search datasets").fill("MaNGA");
  await page.waitForFunction(() =>
    document.querySelector(".status")?.textContent?.includes("MaNGA"),
  );
  await waitIdle(page);
  assert.deepEqual(await texts("table.datasets tbody th a"), ["manga"]);
  assert.match(page.url(), /#\/datasets\?q=MaNGA$/);
  await page.getByLabel("Search datasets").fill("spectrum_flux");
  await page.waitForFunction(() =>
    document.querySelector(".status")?.textContent?.includes("spectrum_flux"),
  );
  await waitIdle(page);
  assert.deepEqual(await texts("table.datasets tbody th a"), ["desi"]);
  await assertClean("the dataset list");
});

test("a dataset page shows its schema, its objects and its sky coverage", { skip }, async () => {
  const info = await api<{
    entry: { coverage: { order: number; pixels: number[] } };
    features: Array<{ name: string; dtype: string; shape: number[]; unit?: string }>;
  }>("datasets/hsc");
  await open("#/d/hsc");
  assert.equal(await text("h1"), "hsc image");
  // Schema: one row per feature, with its dtype, shape and unit.
  const rows = await page.locator("table.schema tbody tr").all();
  assert.equal(rows.length, info.features.length);
  for (const [i, f] of info.features.entries()) {
    const cells = await rows[i]!.locator("th, td").allInnerTexts();
    assert.equal(cells[0], f.name);
    assert.equal(cells[1], f.dtype);
    assert.equal(cells[2], f.shape.length ? `(${f.shape.join(", ")})` : "scalar");
    assert.equal(cells[3], f.unit ?? "");
  }
  const image = info.features.find((f) => f.name === "image_array")!;
  assert.deepEqual(image.shape, [5, 16, 16]);
  // The first objects, linked to their pages.
  const first = await api<Rows>("datasets/hsc/rows?columns=object_id,ra,dec&limit=5");
  assert.deepEqual(
    await texts(".object-list a"),
    first.rows.map((r) => String(r.object_id)),
  );
  // The coverage map: drawn, with the covered colour at every object's position and the sky's
  // colour on the opposite side of the sky.
  const sky = await inkOf(page, "canvas.coverage-sky");
  assert.ok(sky.inked > 1000 && sky.colours > 2, JSON.stringify(sky));
  const geometry = await page.locator("canvas.coverage-sky").evaluate((c: HTMLCanvasElement) => ({
    centreX: Number(c.dataset.centreX),
    centreY: Number(c.dataset.centreY),
    scale: Number(c.dataset.scale),
    ratio: c.width / Number.parseFloat(c.style.width),
  }));
  // The colours of the 3×3 canvas pixels around a position (the raster samples pixel centres,
  // so a position within half a pixel of a HEALPix border may show its neighbour's colour).
  const coloursAt = async (ra: number, dec: number): Promise<string[]> => {
    const p = mollweideForward(ra, dec);
    const x = Math.floor((geometry.centreX + p.x * geometry.scale) * geometry.ratio);
    const y = Math.floor((geometry.centreY - p.y * geometry.scale) * geometry.ratio);
    return page.locator("canvas.coverage-sky").evaluate(
      (c: HTMLCanvasElement, [px, py]) => {
        const d = c.getContext("2d")!.getImageData(px! - 1, py! - 1, 3, 3).data;
        return Array.from({ length: 9 }, (_, k) => Array.from(d.slice(4 * k, 4 * k + 3)).join(","));
      },
      [x, y],
    );
  };
  const FILL = "255,170,51";
  const SKY = "13,27,42";
  for (const r of first.rows) {
    assert.ok((await coloursAt(Number(r.ra), Number(r.dec))).includes(FILL), `${r.ra}, ${r.dec}`);
  }
  const r0 = first.rows[0]!;
  const opposite = await coloursAt((Number(r0.ra) + 180) % 360, -Number(r0.dec));
  assert.deepEqual(new Set(opposite), new Set([SKY]));
  const close = await inkOf(page, "canvas.coverage-zoom");
  assert.ok(close.inked > 1000, JSON.stringify(close));
  assert.match(await text(".coverage figcaption"), /HEALPix pixels? at order/);
  await screenshot(page, "dataset-hsc");
  await assertClean("the dataset page");
});

test("the rows table pages, filters and searches a cone", { skip }, async () => {
  await open("#/d/hsc/rows");
  const ids = () => texts("table.rows tbody td:first-child");
  const all = await api<Rows>("datasets/hsc/rows?columns=object_id&limit=10000");
  const n = all.rows.length;
  assert.ok(n > 100, `${n} rows`);
  const page1 = await ids();
  assert.equal(page1.length, 50);
  assert.deepEqual(
    page1,
    all.rows.slice(0, 50).map((r) => String(r.object_id)),
  );
  assert.equal(await text(".pager .status"), `Rows 1–50 of ${n}`);
  assert.equal(await page.locator("button.prev").isDisabled(), true);

  await page.locator("button.next").click();
  await waitIdle(page);
  assert.deepEqual(
    await ids(),
    all.rows.slice(50, 100).map((r) => String(r.object_id)),
  );
  assert.equal(await text(".pager .status"), `Rows 51–100 of ${n}`);
  assert.match(page.url(), /offset=50/);
  await page.locator("button.prev").click();
  await waitIdle(page);
  assert.deepEqual(await ids(), page1);

  // A filter: fewer rows, each passing it, the same the API gives.
  const filter = "forced.i_cmodel_mag < 23";
  const expected = await api<Rows>(
    `datasets/hsc/rows?columns=object_id&limit=10000&filter=${encodeURIComponent(filter)}`,
  );
  assert.ok(expected.rows.length > 0 && expected.rows.length < n);
  await page.getByLabel("Filter").fill(filter);
  await page.getByRole("button", { name: "Apply" }).click();
  await waitIdle(page);
  const filtered = await ids();
  assert.deepEqual(
    filtered,
    expected.rows.slice(0, 50).map((r) => String(r.object_id)),
  );
  const headers = await texts("table.rows thead th");
  const iCol = headers.findIndex((h) => h.startsWith("forced.i_cmodel_mag "));
  assert.ok(iCol > 0, headers.join("|"));
  for (const v of await texts(`table.rows tbody td:nth-child(${iCol + 1})`)) {
    assert.ok(Number(v) < 23, v);
  }
  await screenshot(page, "rows-filtered");

  // A cone of 3 arcsec around the first object (filter cleared): that object first.
  const target = await api<Rows>("datasets/hsc/rows?columns=object_id,ra,dec&limit=1");
  const centre = target.rows[0]!;
  await page.getByLabel("Filter").fill("");
  await page.getByLabel("RA (deg)").fill(String(centre.ra));
  await page.getByLabel("Dec (deg)").fill(String(centre.dec));
  await page.getByLabel("Radius (arcsec)").fill("3");
  await page.getByRole("button", { name: "Apply" }).click();
  await waitIdle(page);
  const cone = await ids();
  assert.ok(cone.includes(String(centre.object_id)), cone.join(","));
  assert.ok(cone.length < 50, `${cone.length} rows in a 3 arcsec cone`);
  await assertClean("the rows page");

  // A filter the server refuses: its error, code and parameter are shown.
  await page.getByLabel("RA (deg)").fill("");
  await page.getByLabel("Dec (deg)").fill("");
  await page.getByLabel("Radius (arcsec)").fill("");
  await page.getByLabel("Filter").fill("ra >>> 3");
  await page.getByRole("button", { name: "Apply" }).click();
  await waitIdle(page);
  const error = page.locator(".rows-table .error");
  assert.equal(await error.getAttribute("role"), "alert");
  assert.match((await error.textContent()) ?? "", /ASTROPILE_\w+/);
  assert.equal(await error.locator(".param").textContent(), "filter");
  assert.equal(problems.badResponses.length, 1);
  assert.match(problems.badResponses[0]!, /^400 .*\/rows\?/);
  await screenshot(page, "rows-error");
});

test("an object's bands are images whose stretch and colormap the user changes", {
  skip,
}, async () => {
  const id = String(
    (await api<Rows>("datasets/hsc/rows?columns=object_id&limit=1")).rows[0]!.object_id,
  );
  await open(`#/d/hsc/o/${id}`);
  assert.deepEqual(problems.all(), [], "every request of the page answered");
  assert.equal(await page.locator("figure.band").count(), 5);
  const bands = await page
    .locator("figure.band")
    .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.band));
  assert.equal(new Set(bands).size, 5);
  for (let i = 0; i < 5; i++) {
    const ink = await inkOf(page, "img.band-image", i);
    assert.ok(ink.inked > 10 && ink.colours > 10, `band ${bands[i]}: ${JSON.stringify(ink)}`);
  }
  const asinh = await inkOf(page, "img.band-image", 0);
  await page.getByLabel("Stretch", { exact: true }).first().selectOption("linear");
  await waitIdle(page);
  const linear = await inkOf(page, "img.band-image", 0);
  assert.notEqual(linear.digest, asinh.digest, "the linear stretch changed the image");
  assert.match(
    (await page.locator("img.band-image").first().getAttribute("data-source"))!,
    /stretch=linear/,
  );
  await page.getByLabel("Colormap").first().selectOption("viridis");
  await waitIdle(page);
  const viridis = await inkOf(page, "img.band-image", 0);
  assert.ok(viridis.coloured > 10, "viridis is not gray");
  assert.equal(asinh.coloured, 0, "gray is gray");
  const rgb = await inkOf(page, "img.rgb-image");
  assert.ok(rgb.inked > 10 && rgb.coloured > 10, JSON.stringify(rgb));
  await screenshot(page, "object-hsc");
  await assertClean("the image object page");
});

test("a spectrum is a zoomable plot with its mask and redshifted lines", { skip }, async () => {
  const row = (await api<Rows>("datasets/desi/rows?columns=object_id,z&limit=1")).rows[0]!;
  const id = String(row.object_id);
  const spectrum = await api<{ lambda: number[]; mask?: Array<boolean | number> }>(
    `datasets/desi/examples/${id}/spectrum.json`,
  );
  await open(`#/d/desi/o/${id}`);
  assert.deepEqual(problems.all(), [], "every request of the page answered");
  const figure = page.locator("figure.spectrum");
  const data = await figure.evaluate((f: HTMLElement) => ({ ...f.dataset }));
  const valid = spectrum.lambda.filter((l) => l > 0).length;
  assert.equal(Number(data.points), valid);
  // Masked runs, counted here from the API's mask.
  let runs = 0;
  spectrum.lambda.forEach((l, i) => {
    const m = Boolean(spectrum.mask?.[i]) && l > 0;
    const prev = i > 0 && Boolean(spectrum.mask?.[i - 1]) && spectrum.lambda[i - 1]! > 0;
    if (m && !prev) runs++;
  });
  assert.equal(Number(data.maskedRuns), runs);
  assert.ok(Number(data.linesDrawn) > 0, "lines at the redshift are marked");
  assert.equal(await page.locator("figure.spectrum .u-legend .u-series").count(), 3);
  const plot = await inkOf(page, "figure.spectrum .uplot canvas");
  assert.ok(plot.inked > 5000 && plot.colours > 5, JSON.stringify(plot));
  const full = [Number(data.xMin), Number(data.xMax)];
  // Drag across the middle fifth of the plot: the wavelength range shrinks to about that.
  const over = await page.locator("figure.spectrum .u-over").boundingBox();
  assert.ok(over);
  const y = over.y + over.height / 2;
  await page.mouse.move(over.x + over.width * 0.4, y);
  await page.mouse.down();
  await page.mouse.move(over.x + over.width * 0.5, y, { steps: 5 });
  await page.mouse.move(over.x + over.width * 0.6, y, { steps: 5 });
  await page.mouse.up();
  const zoomed = await figure.evaluate((f: HTMLElement) => [
    Number(f.dataset.xMin),
    Number(f.dataset.xMax),
  ]);
  const fraction = (zoomed[1]! - zoomed[0]!) / (full[1]! - full[0]!);
  assert.ok(fraction > 0.15 && fraction < 0.25, `zoomed to ${fraction} of the range`);
  assert.notEqual((await inkOf(page, "figure.spectrum .uplot canvas")).digest, plot.digest);
  await screenshot(page, "object-desi-zoomed");
  await page.getByRole("button", { name: "Reset zoom" }).click();
  const reset = await figure.evaluate((f: HTMLElement) => [
    Number(f.dataset.xMin),
    Number(f.dataset.xMax),
  ]);
  assert.deepEqual(reset, full);
  // Without a mouse: the range typed in.
  await figure.locator("input[name=from]").fill("5000");
  await figure.locator("input[name=to]").fill("5500");
  await figure.locator("input[name=to]").press("Enter");
  const typed = await figure.evaluate((f: HTMLElement) => [
    Number(f.dataset.xMin),
    Number(f.dataset.xMax),
  ]);
  assert.deepEqual(typed, [5000, 5500]);
  await assertClean("the spectrum object page");
});

test("an IFU cube shows a wavelength slice, and a click shows that spaxel's spectrum", {
  skip,
}, async () => {
  const id = String(
    (await api<Rows>("datasets/manga/rows?columns=object_id&limit=1")).rows[0]!.object_id,
  );
  const info = await api<{ features: Array<{ name: string; shape: number[] }> }>("datasets/manga");
  const [ny, nx] = info.features.find((f) => f.name === "ifu_flux")!.shape as [number, number];
  await open(`#/d/manga/o/${encodeURIComponent(id)}`);
  assert.deepEqual(problems.all(), [], "every request of the page answered");
  const slice = await inkOf(page, "img.slice-image");
  assert.ok(slice.inked > 10 && slice.coloured > 0, JSON.stringify(slice));
  const frame = page.locator(".slice-frame");
  assert.deepEqual(await frame.evaluate((f: HTMLElement) => [f.dataset.x, f.dataset.y]), [
    String(Math.floor(nx / 2)),
    String(Math.floor(ny / 2)),
  ]);
  // Click the picture's column 2, row 3 from the top: spaxel x 2, y ny - 4 (row 0 of the cube is
  // drawn at the bottom, origin "lower").
  const box = (await page.locator("img.slice-image").boundingBox())!;
  await page.mouse.click(box.x + (2.5 / nx) * box.width, box.y + (3.5 / ny) * box.height);
  await waitIdle(page);
  const spaxelXY = () => frame.evaluate((f: HTMLElement) => [f.dataset.x, f.dataset.y]);
  const y = ny - 4;
  assert.deepEqual(await spaxelXY(), ["2", String(y)]);
  assert.equal(await text(".spaxel h3"), `Spaxel (x 2, y ${y})`);
  // The keyboard moves the spaxel too: up is +y.
  await frame.press("ArrowUp");
  await waitIdle(page);
  assert.deepEqual(await spaxelXY(), ["2", String(y + 1)]);
  await frame.press("ArrowDown");
  await waitIdle(page);
  assert.deepEqual(await spaxelXY(), ["2", String(y)]);
  const spaxel = await api<{ lambda: number[] }>(
    `datasets/manga/examples/${encodeURIComponent(id)}/ifu/spaxel.json?x=2&y=${y}`,
  );
  assert.equal(
    Number(await page.locator(".spaxel figure.spectrum").getAttribute("data-points")),
    spaxel.lambda.filter((l) => l > 0).length,
  );
  const plot = await inkOf(page, ".spaxel .uplot canvas");
  assert.ok(plot.inked > 1000, JSON.stringify(plot));
  // Another wavelength: another slice.
  const slider = page.getByLabel("Wavelength (Å)");
  await slider.evaluate((el: HTMLInputElement) => {
    el.value = String(Number(el.min) + (Number(el.max) - Number(el.min)) * 0.1);
    el.dispatchEvent(new Event("change", { bubbles: true }));
  });
  await waitIdle(page);
  assert.notEqual((await inkOf(page, "img.slice-image")).digest, slice.digest);
  await screenshot(page, "object-manga");
  await assertClean("the IFU object page");
});

test("a cross-match job shows its pairs side by side", { skip: skip || redisSkip() }, async () => {
  await open("#/xmatch");
  await page.getByLabel("Left dataset").selectOption("hsc");
  await page.getByLabel("Right dataset").selectOption("desi");
  await page.getByLabel("Radius (arcsec)").fill("1");
  // Without a key the server refuses the job (write scope), and the page says so.
  await page.getByRole("button", { name: "Cross-match" }).click();
  await page.locator(".xmatch-form .error").waitFor();
  assert.match(
    (await page.locator(".xmatch-form .error").textContent()) ?? "",
    /ASTROPILE_UNAUTHORIZED/,
  );
  assert.deepEqual(
    problems.badResponses.map((r) => r.split(" ")[0]),
    ["401"],
  );
  problems.clear();
  await page.getByLabel("API key").fill(writeKey);
  await page.getByRole("button", { name: "Cross-match" }).click();
  await page.waitForURL(/#\/xmatch\/[^/?]+\?/);
  await waitIdle(page, 30_000);
  const jobId = decodeURIComponent(/#\/xmatch\/([^/?]+)/.exec(page.url())![1]!);
  const status = await api<{ state: string; result: { files: string[] } }>(`jobs/${jobId}`);
  assert.equal(status.state, "done");
  assert.ok(status.result.files.includes("xmatch.csv"), status.result.files.join(","));
  const csv = await (await fetch(`${base}/api/v1/jobs/${jobId}/result/xmatch.csv`)).text();
  const pairs = csv.trim().split("\n").slice(1);
  assert.ok(pairs.length > 0, "the demo's spectra are of imaged objects");
  assert.match(
    await text(".xmatch-body h2"),
    new RegExp(`^${pairs.length} pairs? of hsc and desi`),
  );
  const shown = Math.min(10, pairs.length);
  assert.equal(await page.locator(".pair").count(), shown);
  const [leftId, rightId] = pairs[0]!.split(",");
  const first = page.locator(".pair").first();
  assert.equal(
    await first.locator(".pair-side a").first().getAttribute("href"),
    `#/d/hsc/o/${leftId}`,
  );
  assert.equal(
    await first.locator(".pair-side a").nth(1).getAttribute("href"),
    `#/d/desi/o/${rightId}`,
  );
  for (const sep of await texts(".pair-sep")) assert.ok(Number.parseFloat(sep) <= 1, sep);
  await screenshot(page, "xmatch");
  // The previews are the rendered images and spectra: refused only while those routes are missing.
  const renderMissing = problems.badResponses.filter((r) => /^404 .*\/(rgb|spectrum)\.png/.test(r));
  if (renderMissing.length > 0) {
    const rgb = await fetch(`${base}/api/v1/datasets/hsc/examples/${leftId}/rgb.png`);
    assert.match(await rgb.text(), /no route/);
    problems.badResponses.splice(
      0,
      problems.badResponses.length,
      ...problems.badResponses.filter((r) => !renderMissing.includes(r)),
    );
    problems.console.splice(
      0,
      problems.console.length,
      ...problems.console.filter((c) => !/404/.test(c)),
    );
  } else {
    assert.ok((await inkOf(page, ".pair img.thumb", 0)).inked > 10);
  }
  await assertClean("the cross-match page");
});

test("errors from the API are shown to the user with their code", { skip }, async () => {
  await open("#/d/no-such-dataset");
  const error = page.locator("main .error");
  assert.match((await error.textContent()) ?? "", /ASTROPILE_NOT_FOUND/);
  assert.equal(problems.badResponses.length, 1);
  assert.equal(problems.exceptions.length, 0);
  await open("#/nowhere");
  assert.equal(await text("h1"), "Page not found");
  await assertClean("the not-found page");
});
