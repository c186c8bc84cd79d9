// The viewer: hash routes to pages. Each navigation aborts the previous page's requests, renders
// the new page into <main>, and marks <main> busy until the page has drawn everything it loads
// (tests and assistive technology both wait on aria-busy).
//
//   #/datasets?q=          dataset list and search
//   #/d/NAME               dataset card, schema, sky coverage
//   #/d/NAME/rows?...      rows table (filter, cone, paging)
//   #/d/NAME/o/ID          one object: images, spectrum, IFU
//   #/xmatch, #/xmatch/JOB cross-match: submit a job, see its pairs
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { errorBox, isAbort } from "./api.ts";
import { h, replaceChildren } from "./dom.ts";
import type { PageContext } from "./page.ts";
import { datasetPage } from "./page-dataset.ts";
import { datasetsPage } from "./page-datasets.ts";
import { objectPage } from "./page-object.ts";
import { rowsPage } from "./page-rows.ts";
import { xmatchJobPage, xmatchPage } from "./page-xmatch.ts";

interface Route {
  name: string;
  pattern: RegExp;
  render: (ctx: PageContext, ...segments: string[]) => Promise<void>;
}

const ROUTES: Route[] = [
  { name: "datasets", pattern: /^\/?(?:datasets)?$/, render: datasetsPage },
  { name: "dataset", pattern: /^\/d\/([^/]+)$/, render: datasetPage },
  { name: "rows", pattern: /^\/d\/([^/]+)\/rows$/, render: rowsPage },
  { name: "object", pattern: /^\/d\/([^/]+)\/o\/([^/]+)$/, render: objectPage },
  { name: "xmatch", pattern: /^\/xmatch$/, render: xmatchPage },
  { name: "xmatch-job", pattern: /^\/xmatch\/([^/]+)$/, render: xmatchJobPage },
];

let current: AbortController | null = null;

async function navigate(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const main = document.getElementById("main")!;
  const hash = location.hash.replace(/^#/, "");
  const [path = "", query = ""] = hash.split("?", 2);
  const route = ROUTES.find((r) => r.pattern.test(path));
  main.setAttribute("aria-busy", "true");
  main.dataset.page = route?.name ?? "not-found";
  replaceChildren(main, h("p", { className: "loading" }, "Loading…"));
  const ctx: PageContext = {
    main,
    params: new URLSearchParams(query),
    signal: controller.signal,
    setTitle: (title) => {
      document.title = title ? `${title} · AstroPile` : "AstroPile";
    },
  };
  try {
    if (!route) {
      ctx.setTitle("Not found");
      replaceChildren(
        main,
        h("h1", null, "Page not found"),
        h("p", null, "No page at ", h("code", null, location.hash || "/"), ". "),
        h("p", null, h("a", { href: "#/datasets" }, "See the datasets")),
      );
    } else {
      const segments = route.pattern.exec(path)!.slice(1).map(decodeURIComponent);
      await route.render(ctx, ...segments);
    }
  } catch (err) {
    if (isAbort(err) || controller.signal.aborted) return;
    console.warn(err);
    main.append(errorBox(err));
  }
  if (current === controller) main.setAttribute("aria-busy", "false");
}

window.addEventListener("hashchange", () => {
  void navigate().then(() => document.getElementById("main")?.focus({ preventScroll: true }));
});
void navigate();
