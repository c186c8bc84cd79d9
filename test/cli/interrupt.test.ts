// Ctrl-C on `astropile build`: the process ends at once (exit 130; SIGTERM 143) saying the build
// did not finish and that running the same command resumes; its lock is released, nothing is
// published, and the same command then builds the dataset. The build is held with its lock taken
// (ASTROPILE_TEST_HOLD_LOCK, which writes HOLD.held once the lock is registered) so the signal
// arrives mid-build without any timing.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LOCK_FILE } from "../../src/core/lock.ts";
import { cliArgs, ROOT } from "../helpers/cli-process.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("astropile-interrupt-");

test("a build interrupted by SIGINT or SIGTERM says how to resume, releases its lock, publishes nothing", async () => {
  const rows = ["id,ra,dec"];
  for (let i = 0; i < 500; i++) rows.push(`${i},${(i * 0.7) % 360},${((i * 0.37) % 170) - 85}`);
  writeFileSync(join(dir, "cat.csv"), `${rows.join("\n")}\n`);
  const spec = join(dir, "spec.json");
  writeFileSync(
    spec,
    JSON.stringify({
      config: "main",
      provenance: { survey: "INT" },
      catalog: { files: "cat.csv", columns: { object_id: "id", ra: "ra", dec: "dec" } },
    }),
  );
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    const out = join(dir, `out-${signal}`);
    const child = spawn(process.execPath, cliArgs("build", spec, "--out", out), {
      cwd: ROOT,
      env: { ...process.env, ASTROPILE_TEST_HOLD_LOCK: join(dir, `never-${signal}`) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const done = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    try {
      // The build holds its lock (taken and registered for release at exit) and waits for the
      // hold file: the test hook writes HOLD.held then.
      const end = Date.now() + 120_000;
      while (!existsSync(`${join(dir, `never-${signal}`)}.held`)) {
        assert.ok(Date.now() < end, "the build never took its lock");
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill(signal);
      assert.equal(await done, code, stderr);
    } finally {
      child.kill("SIGKILL");
    }
    assert.match(
      stderr,
      new RegExp(
        `astropile: build \\[main\\] interrupted \\(${signal}\\): it did not finish; .*running the same command again resumes`,
      ),
    );
    assert.ok(!existsSync(join(out, LOCK_FILE)), "the lock is released");
    assert.ok(!existsSync(join(out, "astropile.json")), "nothing is published");
    const again = spawnSync(process.execPath, cliArgs("build", spec, "--out", out), {
      cwd: ROOT,
      encoding: "utf8",
    });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /500 rows/);
  }
});
