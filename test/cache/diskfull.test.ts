// A full disk (a 2 MiB tmpfs when this machine lets us mount one) and a real write failure
// from the kernel (ulimit -f, EFBIG) must leave the cache consistent: the failed download is
// not kept, no partial or temp file remains, and existing entries stay sound.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { CacheWriteError, DownloadCache } from "../../src/cache/index.ts";
import { setup, startChild } from "./helpers.ts";
import { bytes } from "./server.ts";

async function assertNoLeftovers(cacheDir: string) {
  assert.deepEqual(await fsp.readdir(path.join(cacheDir, "tmp")), [], "no temp files");
  const partial = await fsp.readdir(path.join(cacheDir, "partial"));
  assert.deepEqual(
    partial.filter((n) => n.endsWith(".part")),
    [],
    "no partial data kept",
  );
}

/** Mounts a small tmpfs at a fresh directory, or returns why it cannot. */
async function smallTmpfs(t: import("node:test").TestContext, size: string) {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "astropile-tmpfs-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], {
    encoding: "utf8",
  });
  // One cleanup hook: unmount first, then remove the mount point.
  t.after(async () => {
    if (r.status === 0) {
      const u = spawnSync("umount", [dir], { encoding: "utf8" });
      if (u.status !== 0) console.log("UMOUNT FAILED", u.stderr);
    }
    await fsp.rm(dir, { recursive: true, force: true });
  });
  if (r.status !== 0)
    return { dir: null, why: (r.stderr || r.error?.message || "mount failed").trim() };
  return { dir, why: "" };
}

test("disk full (small tmpfs): the download fails with ENOSPC and the cache stays consistent", async (t) => {
  const fs = await smallTmpfs(t, "2m");
  if (!fs.dir) {
    t.skip(`cannot mount a tmpfs here (${fs.why}); the ulimit test below covers write failures`);
    return;
  }
  const { server } = await setup(t);
  const cache = new DownloadCache({ dir: path.join(fs.dir, "cache"), offline: false });
  const small = bytes(400_000, 1);
  const smallUrl = server.set("/small", small);
  const p = await cache.download(smallUrl);
  const freeBefore = (await fsp.statfs(fs.dir)).bavail;
  const bigUrl = server.set("/big", bytes(3_000_000, 2));
  await assert.rejects(cache.download(bigUrl), (err: unknown) => {
    assert.ok(err instanceof CacheWriteError, String(err));
    assert.equal(err.errno, "ENOSPC");
    assert.match(err.message, /\/big.*no space left on device/);
    return true;
  });
  assert.equal(await cache.lookup(bigUrl), null);
  await assertNoLeftovers(cache.dir);
  assert.equal((await fsp.statfs(fs.dir)).bavail, freeBefore, "the space was given back");
  assert.equal(await cache.download(smallUrl), p);
  assert.deepEqual(await fsp.readFile(p), small);
  assert.deepEqual((await cache.check({ deep: true })).problems, []);
  // An update that cannot fit keeps the old version.
  server.set("/small", bytes(3_000_000, 3));
  await assert.rejects(cache.download(smallUrl, { cache: "update" }), CacheWriteError);
  assert.deepEqual(await fsp.readFile((await cache.lookup(smallUrl))!.path), small);
  await assertNoLeftovers(cache.dir);
});

test("a write failure from the kernel (ulimit -f: EFBIG) leaves no partial file and no entry", async (t) => {
  const { server, cache } = await setup(t);
  const keep = bytes(50_000, 4);
  const keepUrl = server.set("/keep", keep);
  const kept = await cache.download(keepUrl);
  const url = server.set("/too-big", bytes(2_000_000, 5));
  const { done } = startChild({ kind: "download", cacheDir: cache.dir, url }, undefined, {
    fileSizeLimitKiB: 512,
  });
  const r = await done;
  assert.equal(r.code, 1, r.stderr);
  const line = r.stdout.split("\n").find((l) => l.startsWith("error "));
  assert.ok(line, r.stdout + r.stderr);
  const e = JSON.parse(line.slice(6)) as { name: string; errno: string; message: string };
  assert.equal(e.name, "CacheWriteError");
  assert.equal(e.errno, "EFBIG");
  assert.match(e.message, /too-big.*file size limit exceeded/);
  assert.equal(await cache.lookup(url), null);
  await assertNoLeftovers(cache.dir);
  assert.deepEqual(await fsp.readFile(kept), keep);
  assert.deepEqual((await cache.check({ deep: true })).problems, []);
  // Without the limit the same URL downloads fine.
  assert.equal((await fsp.stat(await cache.download(url))).size, 2_000_000);
});
