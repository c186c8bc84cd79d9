// `astropile index DIR --force`: a thin layer over reindexConfig (src/storage/reindex.ts).
import type { WriterLock } from "../core/lock.ts";
import { formatBytes } from "../core/units.ts";
import { readManifest } from "../storage/manifest.ts";
import type { IndexFlags } from "./data-actions.ts";
import { formatCount, out, printJson } from "./format.ts";
import { progress } from "./progress.ts";

const PHASES = { check: "check files", positions: "positions", "id-index": "object_id index" };

/** `root` is `dir` resolved; the caller holds its writer lock. */
export async function reindex(
  root: string,
  dir: string,
  flags: IndexFlags,
  lock: WriterLock,
): Promise<void> {
  const { reindexConfig } = await import("../storage/reindex.ts");
  const { UsageError } = await import("../core/errors.ts");
  const manifest = await readManifest(root);
  const all = Object.keys(manifest.configs);
  if (flags.config && !all.includes(flags.config))
    throw new UsageError(`no config "${flags.config}" in ${dir}; it has: ${all.join(", ")}`);
  const configs = flags.config ? [flags.config] : all;
  const done: Record<string, unknown> = {};
  for (const config of configs) {
    const started = performance.now();
    const view = progress(`[${config}]`, { quiet: flags.json });
    let r: Awaited<ReturnType<typeof reindexConfig>>;
    try {
      r = await reindexConfig(root, config, {
        lock,
        onProgress: (p) =>
          view.update({ phase: PHASES[p.phase], done: p.done, total: p.total, unit: "files" }),
      });
    } finally {
      view.stop();
    }
    done[config] = r;
    if (!flags.json)
      out(
        `${config}: files checked${r.stamped ? `, ${formatCount(r.stamped)} given an identity` : ""}; wrote ${r.positions.path} (${formatCount(r.positions.rows)} rows, ${formatBytes(r.positions.bytes)}) and ${r.idIndex.path} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
      );
  }
  if (flags.json) printJson({ path: root, written: done });
}
