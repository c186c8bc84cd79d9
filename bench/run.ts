// `npm run bench [part ...]`: runs benchmark parts (bench/<part>.ts, each exporting `run`).
// Each part compares AstroPile with the reference tool in the same run and prints ratios.
import os from "node:os";

const PARTS = [
  "storage",
  "sort",
  "dataset",
  "build",
  "xmatch",
  "xmatch-out",
  "cache",
  "formats",
  "cli",
  "catalog",
  "export",
  "mmu",
  "parquet",
  "parquet-writers",
  "parquet-memory",
  "remote",
  "render",
  "serve",
  "publish",
] as const;

export interface BenchModule {
  run(options: { quick: boolean }): Promise<void>;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const wanted = args.filter((a) => !a.startsWith("--"));
  const parts = wanted.length > 0 ? wanted : [...PARTS];
  console.log(
    `# machine: ${os.cpus()[0]?.model ?? "?"} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
  );
  for (const part of parts) {
    let mod: BenchModule;
    try {
      mod = (await import(`./${part}.ts`)) as BenchModule;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "ERR_MODULE_NOT_FOUND" && wanted.length === 0) {
        console.log(`\n## ${part}: not written yet`);
        continue;
      }
      throw err;
    }
    console.log(`\n## ${part}`);
    await mod.run({ quick });
  }
}

await main();
