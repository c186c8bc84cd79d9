// `astropile cache ...` end to end through main(): output, --json, exit codes, --help.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { type TestContext, test } from "node:test";
import { fileURLToPath } from "node:url";
import { tempDir } from "../helpers/tmp.ts";
import { setup } from "./helpers.ts";
import { bytes } from "./server.ts";

const RUNNER = fileURLToPath(new URL("../helpers/cli-runner.ts", import.meta.url));

/** One CLI process per test; `cli(...args)` runs a command in it and returns its output. */
function startCli(t: TestContext) {
  const child = spawn(process.execPath, ["--import", "tsx", RUNNER], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, ASTROPILE_OFFLINE: "" },
  });
  t.after(() => child.kill());
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return async (...args: string[]) => {
    child.stdin.write(`${JSON.stringify(args)}\n`);
    const next = await lines.next();
    if (next.done) throw new Error("CLI runner exited");
    return JSON.parse(next.value) as { code: number; stdout: string; stderr: string };
  };
}

test("every cache subcommand has --help that explains it", async (t) => {
  const cli = startCli(t);
  const top = await cli("cache", "--help");
  assert.equal(top.code, 0);
  assert.match(top.stdout, /ASTROPILE_CACHE_DIR/);
  const expect: Record<string, RegExp> = {
    ls: /most recently used first/,
    size: /bytes used against the cap/,
    clear: /every entry when no URL/,
    check: /--repair[\s\S]*--deep[\s\S]*--json/,
    export: /one tar archive/,
    import: /a bad archive changes\s+nothing/,
    get: /--sha256[\s\S]*--update[\s\S]*--offline/,
    pin: /never evicts/,
    unpin: /evicted again/,
    verify: /Re-hash/,
  };
  for (const [cmd, re] of Object.entries(expect)) {
    const r = await cli("cache", cmd, "--help");
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, re, cmd);
  }
});

test("get, ls, size, pin, check, export/import and clear through the CLI", async (t) => {
  const { server, cache, root } = await setup(t);
  const cli = startCli(t);
  const dir = ["--cache-dir", cache.dir];
  const u1 = server.set("/tiles/one.fits", bytes(100_000, 1));
  const u2 = server.set("/two.csv", bytes(3_000, 2));

  const g = await cli("cache", ...dir, "get", "--no-progress", u1);
  assert.equal(g.code, 0, g.stderr);
  assert.deepEqual(await fsp.readFile(g.stdout.trim()), bytes(100_000, 1));
  assert.equal((await cli("cache", ...dir, "get", "--pin", "--no-progress", u2)).code, 0);

  const ls = await cli("cache", ...dir, "ls");
  assert.match(ls.stdout, /97\.7 KiB .*one\.fits/);
  assert.match(ls.stdout, /2\.93 KiB .* P {2}http.*two\.csv/);
  const lsJson = JSON.parse((await cli("cache", ...dir, "ls", "--json")).stdout) as {
    url: string;
    size: number;
    pinned: boolean;
  }[];
  assert.deepEqual(lsJson.map((e) => [e.url, e.size, e.pinned]).sort(), [
    [u1, 100_000, false],
    [u2, 3_000, true],
  ]);
  const size = await cli("cache", ...dir, "size");
  assert.match(size.stdout, /2 entries, 101 KiB of 50\.0 GiB cap/);
  assert.match(size.stdout, /pinned: 2\.93 KiB/);
  const sizeJson = JSON.parse(
    (await cli("cache", ...dir, "--max-bytes", "1G", "size", "--json")).stdout,
  );
  assert.equal(sizeJson.bytes, 103_000);
  assert.equal(sizeJson.maxBytes, 1e9);
  assert.equal((await cli("cache", ...dir, "unpin", u2)).code, 0);
  assert.equal((await cache.lookup(u2))?.pinned, false);

  assert.equal((await cli("cache", ...dir, "check")).code, 0);
  await fsp.truncate((await cache.lookup(u2))!.path, 10);
  const bad = await cli("cache", ...dir, "check", "--json");
  assert.equal(bad.code, 1);
  assert.equal(JSON.parse(bad.stdout).problems[0].kind, "size-mismatch");
  const errLines = bad.stderr.trim().split("\n");
  assert.equal(errLines.length, 1, "one clear line");
  assert.match(errLines[0]!, /^astropile: 1 problem\(s\) .*--repair/);
  const fixed = await cli("cache", ...dir, "check", "--repair");
  assert.equal(fixed.code, 0);
  assert.match(fixed.stdout, /removed: size-mismatch/);
  assert.equal((await cli("cache", ...dir, "check")).code, 0);

  const archive = path.join(root, "carry.tar");
  const ex = await cli("cache", ...dir, "export", archive);
  assert.match(ex.stdout, /wrote 1 entries, 97\.7 KiB/);
  const other = path.join(root, "other");
  const im = await cli("cache", "--cache-dir", other, "import", archive);
  assert.equal(im.code, 0, im.stderr);
  assert.match(im.stdout, /imported 1 entries \(97\.7 KiB\)/);
  const off = await cli("cache", "--cache-dir", other, "get", "--offline", u1);
  assert.equal(off.code, 0);
  const miss = await cli("cache", "--cache-dir", other, "get", "--offline", u2);
  assert.equal(miss.code, 1);
  assert.match(miss.stderr, /offline.*two\.csv/);

  const gone = await cli("cache", ...dir, "clear", u2);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /two\.csv is not in the cache/);
  const cl = await cli("cache", ...dir, "clear");
  assert.match(cl.stdout, /removed 1 entry, 97\.7 KiB/);
  assert.match((await cli("cache", ...dir, "ls")).stdout, /cache is empty/);
  const badImport = await cli("cache", ...dir, "import", path.join(root, "nope.tar"));
  assert.equal(badImport.code, 1);
  assert.match(badImport.stderr, /nope\.tar/);
});

test("cache usage errors exit 2 with one line: bad numbers, URLs, sha256, sizes", async (t) => {
  const cli = startCli(t);
  const dir = ["--cache-dir", path.join(tempDir("ap-"), "c")];
  for (const [args, message] of [
    [["get", "--timeout", "abc", "http://127.0.0.1:9/x"], /--timeout "abc" is not a valid value/],
    [["get", "--max-age", "0x10", "http://127.0.0.1:9/x"], /--max-age "0x10" is not a valid value/],
    [["get", "--sha256", "xyz", "http://127.0.0.1:9/x"], /--sha256 must be 64 hex digits/],
    [["get", "not-a-url"], /"not-a-url" is not an http:\/\/ or https:\/\/ URL/],
    [["get", "ftp://host/file"], /"ftp:\/\/host\/file" is not an http/],
    [["verify", "nope"], /"nope" is not an http/],
    [["pin", "nope"], /"nope" is not an http/],
    [["--max-bytes", "12Q", "ls"], /--max-bytes "12Q" is not a size/],
  ] as const) {
    const r = await cli("cache", ...dir, ...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, message);
  }
  // A URL that is well formed but not cached is a data answer (1), not a usage error.
  const miss = await cli("cache", ...dir, "pin", "http://127.0.0.1:9/none");
  assert.equal(miss.code, 1, miss.stderr);
});
