// Numbers and values as the tables show them, and the links between pages (hash routes).

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export function formatCount(n: number | null | undefined): string {
  return n === null || n === undefined ? "?" : n.toLocaleString("en-US");
}

/** A table cell: floats to 7 significant digits, arrays summarised, null as an en dash. */
export function formatValue(v: unknown): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") {
    if (Number.isInteger(v)) return String(v);
    if (!Number.isFinite(v)) return String(v);
    return String(Number(v.toPrecision(7)));
  }
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? "true" : "false";
  if (Array.isArray(v)) return `[${v.length} values]`;
  if (typeof v === "object" && "shape" in v && Array.isArray((v as { shape: unknown }).shape)) {
    const a = v as { dtype?: string; shape: number[] };
    return `${a.dtype ?? "array"} [${a.shape.join("×")}]`;
  }
  return JSON.stringify(v);
}

export function shapeText(shape: number[]): string {
  return shape.length === 0 ? "scalar" : `(${shape.join(", ")})`;
}

/** Hash routes of the viewer. Names and ids are encoded as one path segment each. */
export const routes = {
  datasets: (q?: string) => (q ? `#/datasets?${new URLSearchParams({ q })}` : "#/datasets"),
  dataset: (name: string) => `#/d/${encodeURIComponent(name)}`,
  rows: (name: string, params: Record<string, string> = {}) => {
    const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
    return `#/d/${encodeURIComponent(name)}/rows${qs ? `?${qs}` : ""}`;
  },
  object: (name: string, id: string) =>
    `#/d/${encodeURIComponent(name)}/o/${encodeURIComponent(id)}`,
  xmatch: (job?: string, params: Record<string, string> = {}) => {
    const qs = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "")).toString();
    return `#/xmatch${job ? `/${encodeURIComponent(job)}` : ""}${qs ? `?${qs}` : ""}`;
  },
};
