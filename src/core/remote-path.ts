// Remote locations as the storage layer names them: a URL stands as a virtual absolute path
// (`/@remote/https/host/a/b` for `https://host/a/b`, see storage/remote-hook.ts). Here, below
// every layer, so errors can name the URL the user gave rather than the virtual path.

/** Prefix of the virtual paths that stand for remote files. */
export const REMOTE_PREFIX = "/@remote/";

/** The URL a virtual path stands for, or null for an ordinary local path. */
export function remoteUrl(path: string): string | null {
  if (!path.startsWith(REMOTE_PREFIX)) return null;
  const rest = path.slice(REMOTE_PREFIX.length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return null;
  return `${rest.slice(0, slash)}://${rest.slice(slash + 1)}`;
}

/** A URL as it may be printed: no user info, no query string (presigned signatures live there). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    const q = u.search ? "?…" : "";
    u.search = "";
    return `${u.toString()}${q}`;
  } catch {
    return url.replace(/\?.*$/, "?…");
  }
}

/** A file as messages name it: a remote file by its URL (redacted), any other path as it is. */
export function displayPath(path: string): string {
  const url = remoteUrl(path);
  return url === null ? path : redactUrl(url);
}
