// Globs of builder specs: `*` and `?` within a path segment, `**` for any number of directories,
// `{a,b}` alternatives; every other character is literal. Dot files match like any other.
// Symbolic links to files match like files (data staged by links is common), but links to
// directories are not descended (a loop, or a link to a large tree, would be walked), except in
// the fixed leading part of a pattern. A file reached under several names (a link beside its
// target) is read once, under the first name in order. A matching link whose target is gone is
// an error: a build must not quietly leave a file out. Results are sorted, so a build sees its
// inputs in the same order on every run and machine.
import { lstat, readlink, realpath, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import { NotFoundError } from "../core/errors.ts";

/** Characters that make a path segment a pattern (the others are literal). */
const MAGIC = /[*?{}]/;

/** A pattern's fixed leading directories and the pattern part after them (null: all fixed). */
function splitPattern(pattern: string): { base: string; rest: string | null } {
  const parts = pattern.split("/");
  const k = parts.findIndex((p) => MAGIC.test(p));
  if (k < 0) return { base: pattern, rest: null };
  const base = parts.slice(0, k).join("/");
  return { base: base === "" ? (k > 0 ? "/" : ".") : base, rest: parts.slice(k).join("/") };
}

/** Every file of one or more patterns (relative to `root` unless absolute), absolute, sorted. */
export async function globAll(patterns: string | string[], root: string): Promise<string[]> {
  const list = Array.isArray(patterns) ? patterns : [patterns];
  // Each file found, by path, with its real path (to read a file reached twice only once).
  const found = new Map<string, string>();
  for (const pattern of list) {
    const { base, rest } = splitPattern(pattern);
    const dir = resolve(root, base);
    if (rest === null) {
      if (await isFileAt(dir)) found.set(dir, await realpath(dir));
      continue;
    }
    const realDir = await realpath(dir).catch(() => null);
    if (realDir === null) continue;
    // Regular files come from the crawl itself (no call per file: a tree of tiles may hold tens
    // of thousands); only the links it finds are looked at one by one.
    const crawl = await crawler(rest);
    const [entries, plain] = await Promise.all([crawl(dir, false), crawl(dir, true)]);
    const regular = new Set(plain);
    // Plain concatenation: join's normalising, 20,000 times, took longer than the crawl.
    const under = (folder: string) => (folder.endsWith("/") ? folder : `${folder}/`);
    const [prefix, realPrefix] = [under(dir), under(realDir)];
    for (const rel of entries) {
      const path = prefix + rel;
      // Linked directories are not descended, so a regular file's real path is its folder's.
      if (regular.has(rel)) found.set(path, realPrefix + rel);
      else if (await isFileAt(path)) found.set(path, await realpath(path));
    }
  }
  // One name per file: the first, in sorted order.
  const seen = new Set<string>();
  const files: string[] = [];
  for (const path of [...found.keys()].sort()) {
    const real = found.get(path)!;
    if (seen.has(real)) continue;
    seen.add(real);
    files.push(path);
  }
  return files;
}

/**
 * A crawl for `pattern`: the entries under a folder (relative paths) that match it, found without
 * descending into linked directories, either files and links of any kind or (`regularOnly`)
 * files only. The matcher is compiled once per pattern, and loads only for patterns.
 */
async function crawler(
  pattern: string,
): Promise<(dir: string, regularOnly: boolean) => Promise<string[]>> {
  const [{ fdir }, { default: picomatch }] = await Promise.all([
    import("fdir"),
    import("picomatch"),
  ]);
  // Escape what picomatch would read as classes, extglobs or negation: ( ) [ ] ! + @.
  const match = picomatch(pattern.replace(/[()[\]!+@]/g, "\\$&"), { dot: true });
  // Without ** or braces (which may hold a "/"), a pattern of n segments is n - 1 levels deep.
  const depth = /\*\*|[{}]/.test(pattern)
    ? Number.POSITIVE_INFINITY
    : pattern.split("/").length - 1;
  return (dir, regularOnly) =>
    new fdir({ excludeSymlinks: regularOnly })
      .withRelativePaths()
      .withMaxDepth(depth)
      .filter((path) => match(path))
      .crawl(dir)
      .withPromise();
}

/** True for a regular file, or a link to one; false for directories and what is not there. */
async function isFileAt(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") {
      // A link whose target is gone names a file the user expects: not skipped quietly.
      const link = await lstat(path).catch(() => null);
      if (link?.isSymbolicLink())
        throw new NotFoundError(
          `symbolic link to ${await readlink(path)}, which does not exist; an input of the spec cannot be left out`,
          { file: path },
        );
      return false;
    }
    throw e;
  }
}

/** A path relative to root when inside it (for messages and the plan), else absolute. */
export function displayPath(path: string, root: string): string {
  const rel = relative(root, path);
  return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}
