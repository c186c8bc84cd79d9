// The rows of a dataset as a table: a filter in the filter language (parsed by the server, never
// evaluated here), a cone (RA, Dec in degrees, radius in arcsec), the columns to show, paging.
// The state lives in the hash query, so a table can be bookmarked and shared.
import { apiUrl, errorBox, getJson, isAbort, seg } from "./api.ts";
import { field, h, replaceChildren, select } from "./dom.ts";
import { formatCount, formatValue, routes } from "./format.ts";
import { type PageContext, replaceQuery } from "./page.ts";
import { breadcrumb } from "./page-dataset.ts";
import type { ColumnInfo, RowsPage } from "./types.ts";

const LIMITS = ["25", "50", "100", "500"];

interface RowsState {
  filter: string;
  ra: string;
  dec: string;
  radius: string;
  columns: string;
  offset: number;
  limit: number;
}

function stateFrom(params: URLSearchParams): RowsState {
  const [ra = "", dec = "", radius = ""] = (params.get("cone") ?? "").split(",");
  const limit = Number(params.get("limit") ?? 50);
  const offset = Number(params.get("offset") ?? 0);
  return {
    filter: params.get("filter") ?? "",
    ra,
    dec,
    radius,
    columns: params.get("columns") ?? "",
    offset: Number.isInteger(offset) && offset >= 0 ? offset : 0,
    limit: LIMITS.includes(String(limit)) ? limit : 50,
  };
}

function coneOf(s: RowsState): string {
  return s.ra || s.dec || s.radius ? `${s.ra},${s.dec},${s.radius}` : "";
}

export async function rowsPage(ctx: PageContext, name: string): Promise<void> {
  ctx.setTitle(`${name} rows`);
  const state = stateFrom(ctx.params);
  const input = (n: string, value: string, attrs: Record<string, string> = {}) =>
    h("input", { name: n, value, autocomplete: "off", spellcheck: "false", ...attrs });
  const filter = input("filter", state.filter, {
    type: "text",
    placeholder: "e.g. z > 0.5 and ra < 150",
  });
  const ra = input("ra", state.ra, { type: "text", inputmode: "decimal", size: "9" });
  const dec = input("dec", state.dec, { type: "text", inputmode: "decimal", size: "9" });
  const radius = input("radius", state.radius, { type: "text", inputmode: "decimal", size: "7" });
  const columns = input("columns", state.columns, {
    type: "text",
    placeholder: "default: every scalar column",
  });
  const limit = select("limit", LIMITS, String(state.limit));
  const formError = h("p", { className: "form-error", role: "alert" });
  const status = h("p", { className: "status", role: "status" });
  const prev = h("button", { type: "button", className: "prev" }, "← Previous");
  const next = h("button", { type: "button", className: "next" }, "Next →");
  const tableWrap = h("div", { className: "table-wrap rows-table", "aria-busy": "true" });

  const form = h(
    "form",
    { className: "query", "aria-label": "Row query" },
    h(
      "div",
      { className: "query-grid" },
      field("Filter", filter, "Column comparisons with and, or, not, in [...], between"),
      h(
        "fieldset",
        { className: "cone" },
        h("legend", null, "Cone search"),
        field("RA (deg)", ra),
        field("Dec (deg)", dec),
        field("Radius (arcsec)", radius),
      ),
      field("Columns", columns, "Comma-separated column names"),
      field("Rows per page", limit),
    ),
    h(
      "div",
      { className: "buttons" },
      h("button", { type: "submit", className: "primary" }, "Apply"),
      h("button", { type: "reset" }, "Clear"),
    ),
    formError,
  );
  replaceChildren(
    ctx.main,
    breadcrumb(name, "Rows"),
    h("h1", null, `Rows of ${name}`),
    form,
    h("nav", { className: "pager", "aria-label": "Pages" }, prev, status, next),
    tableWrap,
  );

  const load = async () => {
    replaceQuery({
      filter: state.filter,
      cone: coneOf(state),
      columns: state.columns,
      offset: state.offset ? String(state.offset) : "",
      limit: String(state.limit),
    });
    tableWrap.setAttribute("aria-busy", "true");
    prev.disabled = true;
    next.disabled = true;
    try {
      const page = await getJson<RowsPage>(
        apiUrl(`datasets/${seg(name)}/rows`, {
          filter: state.filter,
          cone: coneOf(state),
          columns: state.columns,
          offset: state.offset,
          limit: state.limit,
        }),
        ctx.signal,
      );
      const first = page.rows.length ? page.offset + 1 : 0;
      const last = page.offset + page.rows.length;
      status.textContent =
        page.rows.length === 0
          ? `No rows${page.offset > 0 ? ` after row ${formatCount(page.offset)}` : ""}`
          : `Rows ${formatCount(first)}–${formatCount(last)}${page.total === null ? "" : ` of ${formatCount(page.total)}`}`;
      prev.disabled = page.offset === 0;
      next.disabled = page.total === null ? page.rows.length < page.limit : last >= page.total;
      replaceChildren(tableWrap, rowsTable(name, page));
    } catch (err) {
      if (isAbort(err)) throw err;
      status.textContent = "";
      prev.disabled = state.offset === 0;
      replaceChildren(tableWrap, errorBox(err, "The query was refused"));
    } finally {
      tableWrap.setAttribute("aria-busy", "false");
    }
  };

  const run = (update: () => void) => {
    update();
    void load().catch(() => {});
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const cone = [ra.value.trim(), dec.value.trim(), radius.value.trim()];
    if (cone.some(Boolean) && !cone.every(Boolean)) {
      formError.textContent = "A cone needs RA, Dec and a radius.";
      return;
    }
    formError.textContent = "";
    run(() => {
      state.filter = filter.value.trim();
      [state.ra, state.dec, state.radius] = cone as [string, string, string];
      state.columns = columns.value.replace(/\s+/g, "");
      state.limit = Number(limit.value);
      state.offset = 0;
    });
  });
  form.addEventListener("reset", () => {
    formError.textContent = "";
    // After the browser has cleared the fields (reset restores default values: empty them).
    setTimeout(() => {
      for (const el of [filter, ra, dec, radius, columns]) el.value = "";
      form.requestSubmit();
    });
  });
  prev.addEventListener("click", () =>
    run(() => {
      state.offset = Math.max(0, state.offset - state.limit);
    }),
  );
  next.addEventListener("click", () =>
    run(() => {
      state.offset += state.limit;
    }),
  );
  await load();
}

function rowsTable(name: string, page: RowsPage): HTMLElement {
  if (page.rows.length === 0) return h("p", { className: "empty" }, "No rows match.");
  const cols = page.columns;
  return h(
    "table",
    { className: "data rows" },
    h(
      "thead",
      null,
      h("tr", null, ...cols.map((c) => h("th", { scope: "col" }, columnHeading(c)))),
    ),
    h(
      "tbody",
      null,
      ...page.rows.map((r) =>
        h(
          "tr",
          null,
          ...cols.map((c) => {
            const v = r[c.name];
            if (c.name === "object_id" && v !== null && v !== undefined) {
              return h("td", null, h("a", { href: routes.object(name, String(v)) }, String(v)));
            }
            return h(
              "td",
              { className: typeof v === "number" ? "num" : undefined },
              formatValue(v),
            );
          }),
        ),
      ),
    ),
  );
}

function columnHeading(c: ColumnInfo): Array<Node | string> {
  return [
    c.name,
    c.unit ? h("span", { className: "unit" }, ` [${c.unit}]`) : "",
    c.shape.length ? h("span", { className: "unit" }, ` (${c.shape.join("×")})`) : "",
  ];
}
