// `npm run bench cli`: start-up of the installed command, process start to exit, as a user
// runs it: `astropile --help`, `astropile info` and `astropile head -n 3` on the demo's HSC
// dataset, from the built package (dist/cli/bin.js, what `npx astropile` runs). The floor is
// `node -e 0` (Node's own start-up); the reference is h5py opening the same dataset's first
// file and reading its row count (python3 start-up + import h5py), in the same run.
// Targets (issue "A real npm package"): --help under 0.3 s, info under 0.6 s.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runDemo } from "../src/demo/index.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DATA = join(ROOT, "bench", "data", "cli-demo");
const BIN = join(ROOT, "dist", "cli", "bin.js");

function time(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", cwd: ROOT });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return s;
}

function stats(xs: number[]): { best: number; median: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { best: s[0]!, median: s[Math.floor(s.length / 2)]! };
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  const hsc = join(DATA, "hsc");
  if (!existsSync(join(hsc, "astropile.json"))) await runDemo({ out: DATA, size: "tiny" });
  const manifest = JSON.parse(await readFile(join(hsc, "astropile.json"), "utf8")) as {
    files: Array<{ path: string }>;
  };
  const first = join(hsc, manifest.files[0]!.path);
  const rounds = quick ? 5 : 15;
  const cases: Array<[string, string, string[], number | null]> = [
    ["node -e 0 (floor)", process.execPath, ["-e", "0"], null],
    ["astropile --help", process.execPath, [BIN, "--help"], 0.3],
    ["astropile info hsc", process.execPath, [BIN, "info", hsc], 0.6],
    ["astropile head hsc -n 3", process.execPath, [BIN, "head", hsc, "-n", "3"], null],
    [
      "python3 + h5py: open a file, read its rows (reference)",
      "/usr/bin/python3",
      ["-c", "import sys, h5py; f = h5py.File(sys.argv[1]); print(len(f['ra']))", first],
      null,
    ],
  ];
  const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    // Interleaved, so a burst of load on the machine hits every command alike.
    for (const [name, cmd, args] of cases) {
      try {
        times.get(name)!.push(time(cmd, args));
      } catch (err) {
        if (cmd !== "/usr/bin/python3") throw err;
      }
    }
  }
  console.log(`${rounds} interleaved runs each, wall time from spawn to exit`);
  console.log("| command | best s | median s | target s |");
  console.log("|---|--:|--:|--:|");
  for (const [name, , , target] of cases) {
    const xs = times.get(name)!;
    if (xs.length === 0) {
      console.log(`| ${name} | unavailable | | |`);
      continue;
    }
    const { best, median } = stats(xs);
    const mark = target === null ? "" : `${target}${median <= target ? " (met)" : " (MISSED)"}`;
    console.log(`| ${name} | ${best.toFixed(3)} | ${median.toFixed(3)} | ${mark} |`);
  }
}
