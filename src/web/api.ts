// The viewer's only way to the server: the routes of docs/service.md under /api/v1, relative to
// the page so a server mounted under a prefix still works. Errors keep the server's body
// ({"error": {code, message, parameter}}) so the page can say what was wrong and where.
import { h } from "./dom.ts";

export const API = "api/v1";

/** An error answered by the server (or the network), as the page shows it. */
export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status, 0 when the request never got an answer. */
    readonly status: number,
    /** The server's stable code, e.g. "ASTROPILE_BAD_FILTER". */
    readonly code: string,
    /** The query parameter, path segment or body field at fault, when the server names one. */
    readonly parameter?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export type Params = Record<string, string | number | undefined | null>;

/** `api/v1/<path>?<params>` with empty params left out; path segments must be encoded already. */
export function apiUrl(path: string, params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const qs = q.toString();
  return `${API}/${path}${qs ? `?${qs}` : ""}`;
}

/** Encodes one path segment (dataset name, object id, job id). */
export const seg = encodeURIComponent;

const KEY_STORAGE = "astropile.apiKey";

/** The API key this tab sends (kept for the session only), or "". */
export function apiKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? "";
  } catch {
    return "";
  }
}

/** Remembers (or, with "", forgets) the API key sent with every request of this tab. */
export function setApiKey(key: string): void {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage refused (private mode): the key is not remembered
  }
}

async function request(url: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  const key = apiKey();
  const headers = new Headers(init.headers);
  if (key) headers.set("Authorization", `Bearer ${key}`);
  try {
    res = await fetch(url, { ...init, headers });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new ApiError(`the server did not answer (${(err as Error).message})`, 0, "NETWORK");
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as {
      error?: { code?: string; message?: string; parameter?: string };
    };
    if (body.error?.message) {
      return new ApiError(
        body.error.message,
        res.status,
        body.error.code ?? `HTTP_${res.status}`,
        body.error.parameter,
      );
    }
  } catch {
    // not JSON: fall through to the status line
  }
  const detail = text && text.length < 300 ? `: ${text}` : "";
  return new ApiError(`${res.status} ${res.statusText}${detail}`, res.status, `HTTP_${res.status}`);
}

export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await request(url, { signal, headers: { Accept: "application/json" } });
  return (await res.json()) as T;
}

export async function getText(url: string, signal?: AbortSignal): Promise<string> {
  return (await request(url, { signal })).text();
}

export async function postJson<T>(url: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const res = await request(url, {
    method: "POST",
    signal,
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
  return (await res.json()) as T;
}

/**
 * Loads a rendered image (PNG) into `img` through fetch, so a refused request shows the server's
 * error instead of a broken-image icon. Revokes the previous object URL of `img`. Resolves once
 * the image is decoded.
 */
export async function loadImage(
  img: HTMLImageElement,
  url: string,
  signal?: AbortSignal,
): Promise<void> {
  const res = await request(url, { signal });
  const blob = await res.blob();
  const old = img.dataset.objectUrl;
  const objectUrl = URL.createObjectURL(blob);
  img.dataset.objectUrl = objectUrl;
  img.dataset.source = url;
  img.src = objectUrl;
  try {
    await img.decode();
  } finally {
    if (old) URL.revokeObjectURL(old);
  }
}

/** The box a page shows for a failed request: the message, the code and the parameter at fault. */
export function errorBox(err: unknown, what?: string): HTMLElement {
  const e =
    err instanceof ApiError
      ? err
      : new ApiError(err instanceof Error ? err.message : String(err), 0, "VIEWER_ERROR");
  return h(
    "div",
    { className: "error", role: "alert" },
    h("strong", null, what ? `${what}: ` : "Error: "),
    e.message,
    h(
      "div",
      { className: "error-meta" },
      e.status ? `HTTP ${e.status} · ` : "",
      h("code", null, e.code),
      e.parameter ? [" · parameter ", h("code", { className: "param" }, e.parameter)] : null,
    ),
    e.status === 401 || e.status === 403
      ? h("div", { className: "error-meta" }, "This needs an API key with the right scope.")
      : null,
  );
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === "AbortError";
}
