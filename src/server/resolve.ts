// The dataset a request names, looked up once per request: its catalog entry and the stamp of its
// manifest (one stat). The answer cache keys answers by that stamp and the route opens the
// dataset checked against the same stamp, so a request costs one stat of the manifest however
// many layers ask, and no layer answers from a manifest older than the one the request saw.

import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyRequest } from "fastify";
import { isRemoteUrl } from "../storage/remote-hook.ts";
import type { ServerContext } from "./app.ts";
import type { DatasetDirectory, StampedEntry } from "./directory.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The dataset this request named, looked up (see resolveEntry). */
    resolvedEntry: { name: string; at: Promise<StampedEntry | undefined> } | null;
  }
}

/** Changes whenever the manifest is replaced (atomic rename: new inode) or rewritten. */
export async function manifestStamp(root: string): Promise<string> {
  const s = await stat(join(root, "astropile.json"));
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

/** The manifest stamp of a dataset location; "" when remote or unreadable (never cached). */
export async function locationStamp(location: string): Promise<string> {
  return isRemoteUrl(location) ? "" : await manifestStamp(location).catch(() => "");
}

/** The entry named `name` and its manifest stamp; "" when remote or unreadable (never cached). */
export async function stampedEntry(
  directory: DatasetDirectory,
  name: string,
): Promise<StampedEntry | undefined> {
  if (directory.getStamped) return directory.getStamped(name);
  const entry = await directory.get(name);
  if (!entry) return undefined;
  return { entry, stamp: await locationStamp(entry.location) };
}

/** {@link stampedEntry} of the request's dataset, memoised on the request. */
export function resolveEntry(
  context: ServerContext,
  req: FastifyRequest,
  name: string,
): Promise<StampedEntry | undefined> {
  const memo = req.resolvedEntry;
  if (memo && memo.name === name) return memo.at;
  const at = stampedEntry(context.directory, name);
  req.resolvedEntry = { name, at };
  return at;
}
