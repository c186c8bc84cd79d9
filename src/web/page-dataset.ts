// One dataset: what it is (card, provenance), what each row holds (schema: dtype, shape, unit),
// where on the sky its rows are (coverage map), and ways in: the rows table and a few objects.
import { apiUrl, errorBox, getJson, isAbort, seg } from "./api.ts";
import { coverageFigure } from "./coverage-map.ts";
import { h, replaceChildren } from "./dom.ts";
import { formatBytes, formatCount, formatValue, routes, shapeText } from "./format.ts";
import type { PageContext } from "./page.ts";
import type { DatasetInfo, Feature, RowsPage } from "./types.ts";

export async function datasetPage(ctx: PageContext, name: string): Promise<void> {
  ctx.setTitle(name);
  const info = await getJson<DatasetInfo>(apiUrl(`datasets/${seg(name)}`), ctx.signal);
  const e = info.entry;
  const provenance = { ...(info.manifest.provenance ?? {}) };
  const coverage = coverageFigure(e.coverage, e.name);
  const samples = h("div", { className: "samples", "aria-busy": "true" }, "Loading objects…");
  replaceChildren(
    ctx.main,
    breadcrumb(e.name),
    h("h1", null, e.name, " ", h("span", { className: `tag tag-${e.modality}` }, e.modality)),
    e.description ? h("p", { className: "lead" }, e.description) : null,
    h(
      "p",
      { className: "actions" },
      h("a", { className: "button", href: routes.rows(e.name) }, "Browse rows"),
    ),
    h(
      "div",
      { className: "columns-2" },
      h(
        "section",
        { "aria-labelledby": "facts-h" },
        h("h2", { id: "facts-h" }, "About"),
        definitionList([
          ["Survey", e.survey],
          ["Project", e.project],
          ["Release", e.release],
          ...Object.entries(provenance)
            .filter(([k]) => !["survey", "project", "release"].includes(k))
            .map(([k, v]) => [k[0]!.toUpperCase() + k.slice(1), v] as [string, string | undefined]),
          ["Rows", formatCount(e.rows)],
          ["Size", formatBytes(e.bytes)],
          ["Configs", e.configs.join(", ")],
          ["Location", e.location],
          [
            "Added",
            e.addedAt
              ? new Date(e.addedAt).toISOString().slice(0, 19).replace("T", " ")
              : undefined,
          ],
        ]),
        h("h3", null, "Objects"),
        samples,
      ),
      h(
        "section",
        { "aria-labelledby": "coverage-h" },
        h("h2", { id: "coverage-h" }, "Sky coverage"),
        coverage.element,
      ),
    ),
    h(
      "section",
      { "aria-labelledby": "schema-h" },
      h("h2", { id: "schema-h" }, `Schema (${info.features.length} columns)`),
      schemaTable(info.features),
    ),
    info.card ? cardSection(info.card) : null,
  );
  coverage.draw();
  await loadSamples(ctx, e.name, samples);
}

export function breadcrumb(name: string, ...more: Array<[string, string] | string>): HTMLElement {
  const items: HTMLElement[] = [
    h("li", null, h("a", { href: "#/datasets" }, "Datasets")),
    h(
      "li",
      null,
      more.length
        ? h("a", { href: routes.dataset(name) }, name)
        : h("span", { "aria-current": "page" }, name),
    ),
  ];
  more.forEach((m, i) => {
    const last = i === more.length - 1;
    items.push(
      h(
        "li",
        null,
        typeof m === "string" || last
          ? h(
              "span",
              { "aria-current": last ? "page" : undefined },
              typeof m === "string" ? m : m[0],
            )
          : h("a", { href: m[1] }, m[0]),
      ),
    );
  });
  return h("nav", { className: "breadcrumb", "aria-label": "Breadcrumb" }, h("ol", null, ...items));
}

function definitionList(pairs: Array<[string, string | undefined]>): HTMLElement {
  return h(
    "dl",
    { className: "facts" },
    ...pairs
      .filter(([, v]) => v !== undefined && v !== "")
      .flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v!)]),
  );
}

function schemaTable(features: Feature[]): HTMLElement {
  return h(
    "div",
    { className: "table-wrap" },
    h(
      "table",
      { className: "data schema" },
      h(
        "thead",
        null,
        h(
          "tr",
          null,
          ...["Column", "dtype", "Shape", "Unit", "Description"].map((c) =>
            h("th", { scope: "col" }, c),
          ),
        ),
      ),
      h(
        "tbody",
        null,
        ...features.map((f) =>
          h(
            "tr",
            null,
            h("th", { scope: "row" }, h("code", null, f.name)),
            h("td", null, h("code", null, f.dtype)),
            h("td", null, shapeText(f.shape)),
            h("td", null, f.unit ?? ""),
            h(
              "td",
              null,
              f.description ?? "",
              f.standardName && f.standardName !== f.name ? ` (standard: ${f.standardName})` : "",
            ),
          ),
        ),
      ),
    ),
  );
}

function cardSection(card: unknown): HTMLElement {
  const text =
    typeof card === "string"
      ? card
      : typeof card === "object" && card && "text" in card && typeof card.text === "string"
        ? card.text
        : JSON.stringify(card, null, 2);
  return h(
    "section",
    { "aria-labelledby": "card-h" },
    h("h2", { id: "card-h" }, "Dataset card"),
    h("details", null, h("summary", null, "README.md"), h("pre", { className: "card" }, text)),
  );
}

/** The first few objects, linked to their pages: a way in for a person who just arrived. */
async function loadSamples(ctx: PageContext, name: string, into: HTMLElement): Promise<void> {
  try {
    const page = await getJson<RowsPage>(
      apiUrl(`datasets/${seg(name)}/rows`, { columns: "object_id,ra,dec", limit: 5 }),
      ctx.signal,
    );
    replaceChildren(
      into,
      page.rows.length === 0
        ? h("p", null, "No rows.")
        : h(
            "ul",
            { className: "object-list" },
            ...page.rows.map((r) => {
              const id = String(r.object_id);
              return h(
                "li",
                null,
                h("a", { href: routes.object(name, id) }, id),
                ` — RA ${formatValue(r.ra)}°, Dec ${formatValue(r.dec)}°`,
              );
            }),
          ),
    );
  } catch (err) {
    if (isAbort(err)) throw err;
    replaceChildren(into, errorBox(err, "Could not read the first rows"));
  } finally {
    into.setAttribute("aria-busy", "false");
  }
}
