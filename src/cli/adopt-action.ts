// Action of `astropile adopt DIR` (loaded when it runs).
import { adoptMmuTree } from "../interop/mmu-adopt.ts";
import type { AdoptFlags } from "./adopt.ts";
import { formatCount, out, printJson } from "./format.ts";
import { progress } from "./progress.ts";

export async function adopt(dir: string, flags: AdoptFlags): Promise<void> {
  const view = progress("adopt", { quiet: flags.quiet });
  let result: Awaited<ReturnType<typeof adoptMmuTree>>;
  try {
    result = await adoptMmuTree(dir, {
      indexDir: flags.indexDir,
      inPlace: flags.inPlace,
      skipBad: flags.skipBad,
      force: flags.force,
      onProgress: (p) =>
        view.update({
          phase: p.phase,
          done: p.done,
          total: p.total,
          unit: p.phase === "sidecars" ? "configs" : "files",
          detail: p.file,
        }),
    });
  } finally {
    view.stop();
  }
  if (flags.json) return printJson(result);
  for (const s of result.skipped)
    process.stderr.write(
      `astropile: skipped ${s.file}${s.column ? ` (column "${s.column}")` : ""}: ${s.message} [${s.code}]\n`,
    );
  out(
    result.reused
      ? `${result.dir}: index is current (${result.files} files), at ${result.indexRoot}`
      : `${result.dir}: adopted ${formatCount(result.files)} files, ${formatCount(result.rows)} rows, configs ${result.configs.join(", ")}${result.skipped.length ? `; ${result.skipped.length} skipped` : ""}\nindex: ${result.indexRoot}`,
  );
}
