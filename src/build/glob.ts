// Globs of builder specs, matched by tinyglobby: `*` and `?` within a path segment, `**` for any
// number of directories, `{a,b}` alternatives; every other character is literal. Dot files
// match like any other. Symbolic links are not followed (a linked directory or a loop would
// give the same file under several names, read twice by a build), except in the fixed leading
// part of a pattern. Results are sorted, so a build sees its inputs in the same order on every
// run and machine.
import { isAbsolute, relative } from "node:path";
import { glob } from "tinyglobby";

/** Every file of one or more patterns (relative to `root` unless absolute), absolute, sorted. */
export async function globAll(patterns: string | string[], root: string): Promise<string[]> {
  const list = Array.isArray(patterns) ? patterns : [patterns];
  // Escape what picomatch would read as classes, extglobs or negation: ( ) [ ] ! + @.
  const escaped = list.map((p) => p.replace(/[()[\]!+@]/g, "\\$&"));
  const files = await glob(escaped, {
    cwd: root,
    absolute: true,
    dot: true,
    expandDirectories: false,
    followSymbolicLinks: false,
  });
  return files.sort();
}

/** A path relative to root when inside it (for messages and the plan), else absolute. */
export function displayPath(path: string, root: string): string {
  const rel = relative(root, path);
  return rel.startsWith("..") || isAbsolute(rel) ? path : rel;
}
