// Where a path really is, and whether one holds another: so a writer never writes into (or
// over) the dataset it reads, whatever links or relative spellings the paths use.
import { realpath } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";

/** `path` made absolute, with symbolic links resolved as far as it exists (the rest as given). */
export async function realPathOf(path: string): Promise<string> {
  const abs = resolve(path);
  try {
    return await realpath(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(await realPathOf(parent), basename(abs));
  }
}

/** True when `inner` is `outer` or lies under it (both absolute, as realPathOf gives them). */
function pathWithin(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * How the place a writer would write (`target`) lies against a local dataset `root`, links
 * resolved: the same directory, inside it, holding it, or null when apart.
 */
export async function placeAgainst(
  target: string,
  root: string,
): Promise<"same" | "inside" | "holds" | null> {
  const t = await realPathOf(target);
  const r = await realPathOf(root);
  if (t === r) return "same";
  if (pathWithin(t, r)) return "inside";
  return pathWithin(r, t) ? "holds" : null;
}
