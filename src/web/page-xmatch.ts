// Cross-matches: a form that submits a cross-match job (left and right datasets, radius), and a
// job page that follows its progress and then shows the pairs side by side: each left object
// next to its right match, with their pictures (images or spectra) and the separation.
import {
  ApiError,
  apiKey,
  apiUrl,
  errorBox,
  getJson,
  getText,
  isAbort,
  loadImage,
  postJson,
  seg,
  setApiKey,
} from "./api.ts";
import { field, h, replaceChildren, select } from "./dom.ts";
import { formatValue, routes } from "./format.ts";
import type { PageContext } from "./page.ts";
import type { CatalogEntry, JobStatus } from "./types.ts";

const PAIRS_PER_PAGE = 10;

export async function xmatchPage(ctx: PageContext): Promise<void> {
  ctx.setTitle("Cross-match");
  const { datasets } = await getJson<{ datasets: CatalogEntry[] }>(apiUrl("datasets"), ctx.signal);
  const names = datasets.map((d) => d.name);
  const left = select("left", names, ctx.params.get("left") ?? names[0] ?? "");
  const right = select("right", names, ctx.params.get("right") ?? names[1] ?? names[0] ?? "");
  const radius = h("input", {
    type: "number",
    name: "radius",
    value: "1",
    min: "0.001",
    max: "3600",
    step: "any",
  });
  const key = h("input", {
    type: "password",
    name: "key",
    value: apiKey(),
    autocomplete: "off",
    placeholder: "ap_…",
  });
  const status = h("div", { className: "status", role: "status" });
  const form = h(
    "form",
    { className: "xmatch-form", "aria-label": "New cross-match" },
    field("Left dataset", left),
    field("Right dataset", right),
    field("Radius (arcsec)", radius),
    field(
      "API key",
      key,
      "Submitting a job needs a key with the write scope; kept for this tab only",
    ),
    h(
      "div",
      { className: "buttons" },
      h("button", { type: "submit", className: "primary" }, "Cross-match"),
    ),
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    replaceChildren(status, "Submitting…");
    setApiKey(key.value.trim());
    try {
      const job = await postJson<{ id: string }>(
        apiUrl("jobs"),
        {
          kind: "xmatch",
          left: left.value,
          right: right.value,
          radiusArcsec: Number(radius.value),
          // The pair catalog (xmatch.csv) is what the job page shows.
          output: "catalog",
        },
        ctx.signal,
      );
      location.hash = routes.xmatch(job.id, { left: left.value, right: right.value });
    } catch (err) {
      if (isAbort(err)) return;
      replaceChildren(status, errorBox(err, "The job was refused"));
    }
  });
  replaceChildren(
    ctx.main,
    h("h1", null, "Cross-match two datasets"),
    h(
      "p",
      { className: "lead" },
      "Pairs every object of the left dataset with the objects of the right one within the radius. The match runs as a job on the server; its page shows the progress and then the pairs.",
    ),
    names.length < 1 ? h("p", { className: "empty" }, "No datasets to match.") : form,
  );
}

export async function xmatchJobPage(ctx: PageContext, jobId: string): Promise<void> {
  ctx.setTitle(`Cross-match ${jobId}`);
  const progress = h("progress", { max: 1, value: 0, "aria-label": "Job progress" });
  const state = h("p", { className: "status", role: "status" });
  const body = h("div", { className: "xmatch-body" });
  replaceChildren(
    ctx.main,
    h(
      "nav",
      { className: "breadcrumb", "aria-label": "Breadcrumb" },
      h(
        "ol",
        null,
        h("li", null, h("a", { href: "#/xmatch" }, "Cross-match")),
        h("li", null, h("span", { "aria-current": "page" }, jobId)),
      ),
    ),
    h("h1", null, `Cross-match job ${jobId}`),
    h("div", { className: "job-state" }, progress, state),
    body,
  );
  let job: JobStatus;
  for (;;) {
    job = await getJson<JobStatus>(apiUrl(`jobs/${seg(jobId)}`), ctx.signal);
    progress.value = Math.max(0, Math.min(1, job.progress ?? 0));
    state.textContent = `${job.state}${job.message && job.message !== job.state ? `: ${job.message}` : ""} (${Math.round(progress.value * 100)}%)`;
    if (job.state === "done" || job.state === "failed" || job.state === "cancelled") break;
    await sleep(500, ctx.signal);
  }
  if (job.state !== "done") {
    const e = typeof job.error === "string" ? { message: job.error } : (job.error ?? {});
    const error = new ApiError(
      e.message ?? `the job is ${job.state}`,
      0,
      e.code ?? "ASTROPILE_JOB_FAILED",
      e.parameter,
    );
    const what = job.state === "cancelled" ? "was cancelled" : "failed";
    replaceChildren(body, errorBox(error, `The cross-match ${what}`));
    return;
  }
  const leftName = ctx.params.get("left") ?? stringField(job, "left");
  const rightName = ctx.params.get("right") ?? stringField(job, "right");
  const files = (job.result?.files ?? []).map((f) =>
    typeof f === "string" ? f : (f.path ?? f.name ?? ""),
  );
  const links = h(
    "ul",
    { className: "files" },
    ...files.map((f) =>
      h(
        "li",
        null,
        h(
          "a",
          {
            href: apiUrl(`jobs/${seg(jobId)}/result/${f.split("/").map(seg).join("/")}`),
            download: true,
          },
          f,
        ),
      ),
    ),
  );
  const table = files.find((f) => /\.csv$/i.test(f));
  if (!table) {
    replaceChildren(body, h("h2", null, "Result files"), links);
    return;
  }
  const text = await getText(
    apiUrl(`jobs/${seg(jobId)}/result/${table.split("/").map(seg).join("/")}`),
    ctx.signal,
  );
  const pairs = parseCsv(text);
  const datasets = await getJson<{ datasets: CatalogEntry[] }>(apiUrl("datasets"), ctx.signal);
  const modality = (n: string | undefined) => datasets.datasets.find((d) => d.name === n)?.modality;
  const view = h("div", { className: "pairs" });
  const pager = h("nav", { className: "pager", "aria-label": "Pairs pages" });
  replaceChildren(
    body,
    h(
      "h2",
      null,
      `${pairs.rows.length} pair${pairs.rows.length === 1 ? "" : "s"}${leftName && rightName ? ` of ${leftName} and ${rightName}` : ""}`,
    ),
    pager,
    view,
    h("h2", null, "Result files"),
    links,
  );
  let offset = 0;
  const show = async () => {
    const rows = pairs.rows.slice(offset, offset + PAIRS_PER_PAGE);
    const prev = h("button", { type: "button", disabled: offset === 0 }, "← Previous");
    const next = h(
      "button",
      { type: "button", disabled: offset + PAIRS_PER_PAGE >= pairs.rows.length },
      "Next →",
    );
    prev.addEventListener("click", () => {
      offset = Math.max(0, offset - PAIRS_PER_PAGE);
      void show();
    });
    next.addEventListener("click", () => {
      offset += PAIRS_PER_PAGE;
      void show();
    });
    replaceChildren(
      pager,
      prev,
      h(
        "span",
        { role: "status" },
        `Pairs ${offset + 1}–${offset + rows.length} of ${pairs.rows.length}`,
      ),
      next,
    );
    const loads: Array<Promise<void>> = [];
    const cells = rows.map((r) => {
      const side = (dataset: string | undefined, id: string | undefined, prefix: string) => {
        if (!id) return h("div", { className: "pair-side empty" }, "no match");
        const thumb = dataset ? thumbnail(ctx, dataset, id, modality(dataset)) : null;
        if (thumb) loads.push(thumb.load);
        return h(
          "div",
          { className: "pair-side" },
          dataset ? h("a", { href: routes.object(dataset, id) }, id) : id,
          h(
            "div",
            { className: "coords" },
            `RA ${formatValue(Number(r[`${prefix}_ra`]))}°, Dec ${formatValue(Number(r[`${prefix}_dec`]))}°`,
          ),
          thumb?.element ?? null,
        );
      };
      return h(
        "div",
        { className: "pair" },
        side(leftName, r.left_object_id, "left"),
        h(
          "div",
          { className: "pair-sep" },
          r.sep_arcsec ? `${formatValue(Number(r.sep_arcsec))}″` : "–",
        ),
        side(rightName, r.right_object_id, "right"),
      );
    });
    replaceChildren(view, ...cells);
    await Promise.all(loads);
  };
  await show();
}

/** A small picture of one object: its RGB composite (images) or spectrum plot (spectra). */
function thumbnail(ctx: PageContext, dataset: string, id: string, modality: string | undefined) {
  const base = `datasets/${seg(dataset)}/examples/${seg(id)}`;
  const url =
    modality === "image"
      ? apiUrl(`${base}/rgb.png`, { stretch: "asinh" })
      : modality === "spectrum"
        ? apiUrl(`${base}/spectrum.png`, { width: 320, height: 140 })
        : null;
  if (!url) return null;
  const img = h("img", { alt: `${modality} of ${id}`, className: `thumb thumb-${modality}` });
  const element = h("div", { className: "thumb-box" }, img);
  const load = loadImage(img, url, ctx.signal).catch((err) => {
    if (isAbort(err)) return;
    replaceChildren(element, errorBox(err, "Preview"));
  });
  return { element, load };
}

function stringField(job: JobStatus, key: string): string | undefined {
  const direct = job[key];
  if (typeof direct === "string") return direct;
  for (const k of ["request", "params", "input"]) {
    const v = job[k] as Record<string, unknown> | undefined;
    if (v && typeof v[key] === "string") return v[key] as string;
  }
  return undefined;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(new DOMException("aborted", "AbortError"));
      },
      { once: true },
    );
  });
}

/** RFC 4180 CSV (quoted fields, doubled quotes) into objects keyed by the header. */
export function parseCsv(text: string): { header: string[]; rows: Array<Record<string, string>> } {
  const records: string[][] = [];
  let record: string[] = [];
  let value = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        value += '"';
        i++;
      } else if (c === '"') quoted = false;
      else value += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      record.push(value);
      value = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      record.push(value);
      records.push(record);
      record = [];
      value = "";
    } else value += c;
  }
  if (value !== "" || record.length > 0) {
    record.push(value);
    records.push(record);
  }
  const [header = [], ...data] = records.filter(
    (r) => !(r.length === 1 && r[0] === "") && !r[0]?.startsWith("#"),
  );
  return {
    header,
    rows: data.map((r) => Object.fromEntries(header.map((k, i) => [k, r[i] ?? ""]))),
  };
}
