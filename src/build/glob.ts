// Minimal glob for builder specs: `*` and `?` within a path segment, `**` for any number of
// directories, `{a,b}` alternatives. Results are sorted, so a build sees its inputs in the same
// order on every run and machine.
import { readdir } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";

function segmentRegex(segment: string): RegExp {
  let re = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "{") {
      const end = segment.indexOf("}", i);
      if (end < 0) re += "\\{";
      else {
        const alts = segment
          .slice(i + 1, end)
          .split(",")
          .map(escapeRe);
        re += `(?:${alts.join("|")})`;
        i = end;
      }
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const isPattern = (s: string) => /[*?{]/.test(s);

/** Files matching `pattern` (relative to `root` unless absolute), as absolute paths, sorted. */
export async function glob(pattern: string, root: string): Promise<string[]> {
  const abs = isAbsolute(pattern) ? pattern : join(root, pattern);
  const parts = abs.split(sep === "\\" ? /[\\/]/ : "/");
  // Fixed leading segments form the starting directory.
  let start = parts[0] === "" ? "/" : parts[0];
  let k = 1;
  while (k < parts.length - 1 && !isPattern(parts[k])) {
    start = join(start, parts[k]);
    k++;
  }
  const out: string[] = [];
  await walk(start, parts.slice(k), out);
  return [...new Set(out)].sort();
}

async function walk(dir: string, rest: string[], out: string[]): Promise<void> {
  if (rest.length === 0) return;
  const [head, ...tail] = rest;
  let entries: import("node:fs").Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  if (head === "**") {
    await walk(dir, tail, out);
    for (const e of entries) if (e.isDirectory()) await walk(join(dir, e.name), rest, out);
    return;
  }
  const re = isPattern(head) ? segmentRegex(head) : null;
  for (const e of entries) {
    if (re ? !re.test(e.name) : e.name !== head) continue;
    const path = join(dir, e.name);
    if (tail.length === 0) {
      if (e.isFile()) out.push(path);
    } else if (e.isDirectory()) await walk(path, tail, out);
  }
}

/** Every file of one or more patterns, deduplicated and sorted. */
export async function globAll(patterns: string | string[], root: string): Promise<string[]> {
  const list = Array.isArray(patterns) ? patterns : [patterns];
  const all = new Set<string>();
  for (const p of list) for (const f of await glob(p, root)) all.add(f);
  return [...all].sort();
}

/** A path relative to root when inside it (for messages and the plan), else absolute. */
export function displayPath(path: string, root: string): string {
  const rel = relative(root, path);
  return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}
