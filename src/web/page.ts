// What a page gets from the router.

export interface PageContext {
  /** Where the page draws (emptied but for a "Loading…" line). */
  main: HTMLElement;
  /** The query part of the hash route (`#/d/x/rows?offset=100` → offset=100). */
  params: URLSearchParams;
  /** Aborted when the user leaves the page: pass it to every request. */
  signal: AbortSignal;
  setTitle(title: string): void;
}

/** Updates the hash query of the current page without a navigation (no re-render, no history). */
export function replaceQuery(params: Record<string, string>): void {
  const path = location.hash.replace(/^#/, "").split("?", 1)[0];
  const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
  history.replaceState(null, "", `#${path}${qs ? `?${qs}` : ""}`);
}
