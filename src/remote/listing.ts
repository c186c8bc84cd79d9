// Directory listings of remote trees: the HTML index pages that Apache (mod_autoindex) and nginx
// (autoindex) write for a directory URL, read one directory at a time, and S3 prefix listings,
// read once for the whole tree. Multimodal Universe publishes its trees as such listings.
//
// A listing page is untrusted input. Only links that name a direct child of the listed directory
// on the same origin are entries: parent links ("../", "Parent Directory"), sort links
// ("?C=N;O=D"), absolute URLs to other hosts, paths elsewhere on the host, fragments, and names
// that decode to a "/" are ignored, never followed. Sizes are taken only when the page gives
// them exactly (nginx; S3 always); Apache's "4.9K" is not a size.
import { RemoteError, redactUrl } from "./errors.ts";
import { typedFailure } from "./remote-file.ts";
import { fetchWhole, listS3Objects, type TransportOptions } from "./transport.ts";

/** One entry of a remote directory. */
export interface RemoteEntry {
  /** The entry's name: one path segment, decoded. */
  name: string;
  directory: boolean;
  /** Exact size in bytes, when the listing gives one. */
  bytes?: number;
  /**
   * What the listing says of the file's version, compared on reopen to notice a change: the S3
   * ETag, else the listed date and size as the page prints them.
   */
  stamp?: string;
}

/** A listing page larger than this is refused. */
export const MAX_LISTING_BYTES = 16 * 2 ** 20;
/** A directory with more entries than this is refused. */
export const MAX_LISTING_ENTRIES = 1_000_000;

const ANCHOR = /<a\b([^>]*)>([\s\S]*?)<\/a\s*>/gi;
const HREF = /\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))/i;
/** nginx: 06-Dec-2026 12:25; Apache: 2026-12-06 12:25 (seconds optional). */
const DATE =
  /(\d{1,2}-[A-Za-z]{3}-\d{4} \d{2}:\d{2}(?::\d{2})?|\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?::\d{2})?)/;
const SIZE = /^\s*(\d+(?:\.\d+)?[KMGTP]?|-)(?:\s|$)/;

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: " ",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, e: string) => {
    if (e[0] === "#") {
      const code =
        e[1] === "x" || e[1] === "X" ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
      return Number.isInteger(code) && code > 0 && code <= 0x10ffff
        ? String.fromCodePoint(code)
        : whole;
    }
    return ENTITIES[e.toLowerCase()] ?? whole;
  });
}

/** The one path segment `href` names directly under `base` (a directory URL), or null. */
function childOf(href: string, base: URL): { name: string; directory: boolean } | null {
  let target: URL;
  try {
    target = new URL(decodeEntities(href.trim()), base);
  } catch {
    return null;
  }
  if (target.origin !== base.origin || target.search !== "" || target.hash !== "") return null;
  if (target.username !== "" || target.password !== "") return null;
  if (!target.pathname.startsWith(base.pathname)) return null;
  const m = /^([^/]+)(\/?)$/.exec(target.pathname.slice(base.pathname.length));
  if (!m) return null;
  let name: string;
  try {
    name = decodeURIComponent(m[1]);
  } catch {
    return null;
  }
  if (name === "." || name === ".." || /[/\\\0]/.test(name)) return null;
  return { name, directory: m[2] === "/" };
}

/**
 * The entries of an Apache or nginx index page for the directory `pageUrl` (which ends in "/").
 * Links that are not direct children are ignored (see the module comment); the first link to a
 * name wins.
 */
export function parseIndexPage(html: string, pageUrl: string): RemoteEntry[] {
  const base = new URL(pageUrl);
  const out: RemoteEntry[] = [];
  const seen = new Set<string>();
  for (const m of html.matchAll(ANCHOR)) {
    const h = HREF.exec(m[1]);
    if (!h) continue;
    const child = childOf(h[1] ?? h[2] ?? h[3] ?? "", base);
    if (!child || seen.has(child.name)) continue;
    seen.add(child.name);
    // What the page prints after the link, up to the end of its line or table row: date, size.
    const after = html.slice((m.index ?? 0) + m[0].length, (m.index ?? 0) + m[0].length + 512);
    const stop = after.search(/\n|<a\b|<\/tr/i);
    const text = decodeEntities(
      (stop >= 0 ? after.slice(0, stop) : after).replace(/<[^>]*>/g, " "),
    );
    const entry: RemoteEntry = { name: child.name, directory: child.directory };
    const date = DATE.exec(text);
    if (date) {
      const size = SIZE.exec(text.slice((date.index ?? 0) + date[0].length));
      entry.stamp = `${date[1]} ${size?.[1] ?? ""}`.trim();
      if (!child.directory && size && /^\d+$/.test(size[1])) entry.bytes = Number(size[1]);
    }
    out.push(entry);
    if (out.length > MAX_LISTING_ENTRIES)
      throw new RemoteError(`listing has more than ${MAX_LISTING_ENTRIES} entries`, {
        file: redactUrl(pageUrl),
      });
  }
  return out;
}

/** Lists one directory: relative directory path ("" for the top) → its entries. */
export type RemoteLister = (rel: string) => Promise<RemoteEntry[]>;

/**
 * How to list the directories of the remote tree at `url`: an http(s) tree through its index
 * pages (Apache or nginx), one request per directory; an s3 tree through one listing of every
 * object under the prefix, grouped into directories.
 * @throws NotFoundError, RemoteAccessDeniedError, RemoteError (a page that is not a listing,
 * one too large) naming the URL.
 */
export async function remoteLister(
  url: string,
  options: TransportOptions = {},
): Promise<RemoteLister> {
  const top = url.replace(/\/+$/, "");
  if (!top.startsWith("s3://"))
    return (rel) => listIndexPage(rel === "" ? `${top}/` : `${top}/${rel}/`, options);
  let objects: Awaited<ReturnType<typeof listS3Objects>>;
  try {
    objects = await listS3Objects(`${top}/`, MAX_LISTING_ENTRIES, options);
  } catch (err) {
    throw typedFailure(err, `${top}/`);
  }
  const levels = new Map<string, Map<string, RemoteEntry>>();
  const level = (dir: string) => {
    let m = levels.get(dir);
    if (!m) {
      m = new Map();
      levels.set(dir, m);
    }
    return m;
  };
  for (const o of objects) {
    const parts = o.key.split("/");
    if (parts.some((p) => p === "" || p === "." || p === "..")) continue;
    for (let i = 0; i < parts.length - 1; i++)
      level(parts.slice(0, i).join("/")).set(parts[i]!, { name: parts[i]!, directory: true });
    const name = parts[parts.length - 1]!;
    level(parts.slice(0, -1).join("/")).set(name, {
      name,
      directory: false,
      bytes: o.bytes,
      ...(o.etag || o.lastModified ? { stamp: o.etag ?? o.lastModified } : {}),
    });
  }
  return async (rel) => [...(levels.get(rel)?.values() ?? [])];
}

async function listIndexPage(dir: string, options: TransportOptions): Promise<RemoteEntry[]> {
  try {
    const { bytes } = await fetchWhole(dir, MAX_LISTING_BYTES, options);
    const html = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    if (!/<a\b/i.test(html) && !/<html\b/i.test(html))
      throw new RemoteError("not a directory listing (no HTML index page at this URL)", {
        file: redactUrl(dir),
      });
    return parseIndexPage(html, dir);
  } catch (err) {
    throw typedFailure(err, dir);
  }
}
