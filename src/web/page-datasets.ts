// The dataset list: every dataset the server serves, narrowed by a search box (names,
// provenance, descriptions, column names: the server's `q`).
import { apiUrl, errorBox, getJson, isAbort } from "./api.ts";
import { field, h, replaceChildren } from "./dom.ts";
import { formatBytes, formatCount, routes } from "./format.ts";
import { type PageContext, replaceQuery } from "./page.ts";
import type { CatalogEntry } from "./types.ts";

export async function datasetsPage(ctx: PageContext): Promise<void> {
  ctx.setTitle("Datasets");
  const q = ctx.params.get("q") ?? "";
  const search = h("input", {
    type: "search",
    name: "q",
    value: q,
    placeholder: "name, survey, column…",
    autocomplete: "off",
  });
  const status = h("p", { className: "status", role: "status" });
  const results = h("div", { className: "results" });
  replaceChildren(
    ctx.main,
    h("h1", null, "Datasets"),
    h(
      "form",
      { className: "search", role: "search", onsubmit: (e: Event) => e.preventDefault() },
      field("Search datasets", search, "Matches names, provenance, descriptions and columns"),
    ),
    status,
    results,
  );

  let inflight: AbortController | null = null;
  const load = async (query: string) => {
    inflight?.abort();
    const controller = new AbortController();
    inflight = controller;
    ctx.signal.addEventListener("abort", () => controller.abort(), { once: true });
    results.setAttribute("aria-busy", "true");
    try {
      const body = await getJson<{ datasets: CatalogEntry[] }>(
        apiUrl("datasets", { q: query }),
        controller.signal,
      );
      status.textContent = `${body.datasets.length} dataset${body.datasets.length === 1 ? "" : "s"}${query ? ` matching “${query}”` : ""}`;
      replaceChildren(results, datasetTable(body.datasets));
    } catch (err) {
      if (isAbort(err)) return;
      status.textContent = "";
      replaceChildren(results, errorBox(err, "Could not list the datasets"));
    } finally {
      if (inflight === controller) results.setAttribute("aria-busy", "false");
    }
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      replaceQuery({ q: search.value.trim() });
      void load(search.value.trim());
    }, 200);
  });
  await load(q);
}

function datasetTable(entries: CatalogEntry[]): HTMLElement {
  if (entries.length === 0) return h("p", { className: "empty" }, "No dataset matches.");
  return h(
    "table",
    { className: "data datasets" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ...["Name", "Survey", "Modality", "Rows", "Size", "Configs", "Description"].map((c) =>
          h("th", { scope: "col" }, c),
        ),
      ),
    ),
    h(
      "tbody",
      null,
      ...entries.map((e) =>
        h(
          "tr",
          null,
          h("th", { scope: "row" }, h("a", { href: routes.dataset(e.name) }, e.name)),
          h("td", null, [e.survey, e.release].filter(Boolean).join(" ") || "–"),
          h("td", null, h("span", { className: `tag tag-${e.modality}` }, e.modality)),
          h("td", { className: "num" }, formatCount(e.rows)),
          h("td", { className: "num" }, formatBytes(e.bytes)),
          h("td", null, e.configs.join(", ")),
          h("td", { className: "desc" }, e.description ?? ""),
        ),
      ),
    ),
  );
}
