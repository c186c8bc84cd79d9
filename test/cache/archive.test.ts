// Export / import of cache entries as one tar archive, and rejection of hostile archives
// without touching the cache.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  CacheArchiveError,
  DownloadCache,
  exportCache,
  importCache,
  keyForUrl,
} from "../../src/cache/index.ts";
import { setup, snapshot } from "./helpers.ts";
import { bytes, etagOf, sha256 } from "./server.ts";

const hasTar = spawnSync("tar", ["--version"]).status === 0;

/** An independent ustar member writer (header + padded data), for forging archives. */
function member(name: string, data: Buffer, opts: { type?: string; size?: number } = {}) {
  const h = Buffer.alloc(512);
  // Long names go into the ustar prefix field, split at a slash.
  const cut = name.length > 100 ? name.lastIndexOf("/") : -1;
  h.write(cut >= 0 ? name.slice(cut + 1) : name, 0, "utf8");
  if (cut >= 0) h.write(name.slice(0, cut), 345, "utf8");
  h.write("0000644\0", 100);
  h.write("0000000\0", 108);
  h.write("0000000\0", 116);
  h.write(`${(opts.size ?? data.length).toString(8).padStart(11, "0")}\0`, 124);
  h.write("00000000000\0", 136);
  h.fill(0x20, 148, 156);
  h.write(opts.type ?? "0", 156);
  h.write("ustar\0", 257);
  h.write("00", 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}
const END = Buffer.alloc(1024);

function manifestFor(entries: { url: string; data: Buffer; file?: string }[]) {
  return Buffer.from(
    JSON.stringify({
      format: "astropile-cache-archive",
      version: 1,
      created: new Date().toISOString(),
      entries: entries.map((e) => ({
        key: keyForUrl(e.url),
        url: e.url,
        file: e.file ?? "0123456789ab-data",
        size: e.data.length,
        sha256: sha256(e.data),
        source: e.url,
        etag: null,
        lastModified: null,
        contentType: null,
        fetchedAt: 0,
        validatedAt: 0,
        pinned: false,
      })),
    }),
  );
}

test("export writes one tar archive; import into an empty cache serves the entries offline", async (t) => {
  const { server, cache, root } = await setup(t);
  const files = [
    { p: "/survey/a.fits", c: bytes(70_000, 1) },
    { p: "/survey/b.h5", c: bytes(1, 2) },
    { p: "/c.csv", c: bytes(513, 3) },
  ];
  for (const f of files) server.set(f.p, f.c);
  for (const f of files) await cache.download(server.url(f.p), { pin: f.p === "/c.csv" });
  const archive = path.join(root, "export.tar");
  const res = await exportCache(archive, { cacheDir: cache.dir });
  assert.equal(res.entries, 3);
  assert.equal(res.bytes, 70_000 + 1 + 513);

  if (hasTar) {
    // Standard tools read it.
    const list = spawnSync("tar", ["tf", archive], { encoding: "utf8" });
    assert.equal(list.status, 0, list.stderr);
    const names = list.stdout.trim().split("\n");
    assert.equal(names.at(-1), "astropile-cache/manifest.json");
    assert.equal(names.length, 4);
    const entry = (await cache.lookup(server.url("/survey/a.fits")))!;
    const member = names.find((n) => n.includes(entry.key))!;
    const out = spawnSync("tar", ["xOf", archive, member], { maxBuffer: 1 << 24 });
    assert.deepEqual(out.stdout, files[0]!.c);
  }

  const offline = new DownloadCache({ dir: path.join(root, "offline-machine"), offline: true });
  const imp = await importCache(archive, { cacheDir: offline.dir });
  assert.deepEqual(imp, { file: archive, imported: 3, skipped: 0, bytes: 70_513 + 1 });
  for (const f of files) {
    const p = await offline.download(server.url(f.p));
    assert.deepEqual(await fsp.readFile(p), f.c);
  }
  assert.equal((await offline.lookup(server.url("/c.csv")))!.pinned, true);
  assert.deepEqual((await offline.check({ deep: true })).problems, []);
  // Validators travel too: once online, revalidation gets a 304.
  const online = new DownloadCache({ dir: offline.dir, offline: false });
  await online.download(server.url("/survey/a.fits"), { cache: "revalidate" });
  const last = server.requestsFor("/survey/a.fits").at(-1)!;
  assert.equal(last.headers["if-none-match"], etagOf(files[0]!.c));
  assert.equal(last.status, 304);
});

test("an archive written by the first exporter (hand-written ustar, before tar-stream) still imports", async (t) => {
  // test/fixtures/cache/archive-v1.tar: exportCache at commit f7c653c, from entries adopted
  // with the URLs, bytes and validators below (one data member name needs the ustar prefix).
  const fixture = fileURLToPath(new URL("../fixtures/cache/archive-v1.tar", import.meta.url));
  const { root } = await setup(t);
  const cache = new DownloadCache({ dir: path.join(root, "imported"), offline: true });
  const hsc = "https://data.example.org/hsc/pdr3/calexp-HSC-I-9813-5,5.fits";
  const desi = `https://data.example.org/desi/${"a".repeat(90)}_coadd-sv3-dark-10016.fits`;
  const empty = "https://data.example.org/empty.csv";
  const r = await importCache(fixture, { cacheDir: cache.dir });
  assert.deepEqual(r, { file: fixture, imported: 3, skipped: 0, bytes: 1333 });
  const expect: [string, Buffer][] = [
    [hsc, Buffer.from("SIMPLE  =                    T / fixture\n".repeat(20))],
    [desi, Buffer.from("x".repeat(513))],
    [empty, Buffer.alloc(0)],
  ];
  for (const [url, data] of expect) {
    assert.deepEqual(await fsp.readFile(await cache.download(url)), data, url);
  }
  const e = (await cache.lookup(hsc))!;
  assert.equal(e.pinned, true);
  assert.equal(e.etag, '"abc123"');
  assert.equal(e.lastModified, "Mon, 01 Jan 2024 00:00:00 GMT");
  assert.equal(e.fetchedAt.getTime(), 1704067200000);
  assert.deepEqual((await cache.check({ deep: true })).problems, []);
});

test("import keeps existing entries unless overwrite is asked for", async (t) => {
  const { server, cache, root } = await setup(t);
  const url = server.set("/k", bytes(1000, 1));
  await cache.download(url);
  const archive = path.join(root, "k.tar");
  await exportCache(archive, { cacheDir: cache.dir, urls: [url] });
  const other = new DownloadCache({ dir: path.join(root, "other"), offline: false });
  server.set("/k", bytes(1000, 2));
  const mine = await other.download(url);
  assert.deepEqual(await importCache(archive, { cacheDir: other.dir }), {
    file: archive,
    imported: 0,
    skipped: 1,
    bytes: 0,
  });
  assert.deepEqual(await fsp.readFile(mine), bytes(1000, 2));
  const r = await importCache(archive, { cacheDir: other.dir, overwrite: true });
  assert.equal(r.imported, 1);
  assert.deepEqual(await fsp.readFile((await other.lookup(url))!.path), bytes(1000, 1));
});

test("hostile or damaged archives are rejected with CacheArchiveError and the cache is unchanged", async (t) => {
  const { server, cache, root } = await setup(t);
  const url = server.set("/present", bytes(3000, 9));
  await cache.download(url);
  const good = path.join(root, "good.tar");
  await exportCache(good, { cacheDir: cache.dir });
  const goodBytes = await fsp.readFile(good);
  const before = await snapshot(cache.dir);

  const u = "http://127.0.0.1/x";
  const data = Buffer.from("payload");
  const key = keyForUrl(u);
  const okMember = member(`astropile-cache/entries/${key}/0123456789ab-data`, data);
  const okManifest = member("astropile-cache/manifest.json", manifestFor([{ url: u, data }]));
  const flipped = Buffer.from(goodBytes);
  flipped[512 + 10] = flipped[512 + 10]! ^ 0xff; // first data byte region: sha256 mismatch
  const badHeader = Buffer.from(goodBytes);
  badHeader[3] = badHeader[3]! ^ 0x01; // name byte: header checksum no longer matches

  const cases: [string, Buffer, RegExp][] = [
    [
      "path traversal",
      Buffer.concat([
        member("astropile-cache/entries/../../../../etc/evil", data),
        okManifest,
        END,
      ]),
      /unexpected member name/,
    ],
    [
      "absolute path",
      Buffer.concat([member("/etc/evil", data), okManifest, END]),
      /unexpected member name/,
    ],
    [
      "symlink member",
      Buffer.concat([
        member(`astropile-cache/entries/${key}/0123456789ab-data`, Buffer.alloc(0), { type: "2" }),
        okManifest,
        END,
      ]),
      /not a regular file/,
    ],
    [
      "absurd size",
      Buffer.concat([
        member(`astropile-cache/entries/${key}/0123456789ab-data`, data, { size: 2 ** 33 - 1 }),
        END,
      ]),
      /claims 8589934591 bytes/,
    ],
    [
      "pax extended header",
      Buffer.concat([
        member("PaxHeader/manifest", Buffer.from("38 path=astropile-cache/manifest.json\n"), {
          type: "x",
        }),
        okManifest,
        END,
      ]),
      /extended headers are refused/,
    ],
    [
      "GNU long name",
      Buffer.concat([
        member("././@LongLink", Buffer.from("astropile-cache/manifest.json\0"), { type: "L" }),
        okManifest,
        END,
      ]),
      /extended headers are refused/,
    ],
    ["truncated", goodBytes.subarray(0, 2000), /truncated|claims/],
    ["no end blocks", goodBytes.subarray(0, goodBytes.length - 1024), /truncated/],
    ["sha256 mismatch", flipped, /sha256/],
    ["bad header checksum", badHeader, /checksum/],
    ["no manifest", Buffer.concat([okMember, END]), /no astropile-cache\/manifest\.json/],
    [
      "member not in the manifest",
      Buffer.concat([
        okMember,
        member(`astropile-cache/entries/${"f".repeat(64)}/0123456789ab-data`, data),
        okManifest,
        END,
      ]),
      /not in the manifest/,
    ],
    [
      "manifest key not the URL's hash",
      Buffer.concat([
        member(`astropile-cache/entries/${key}/0123456789ab-data`, data),
        member(
          "astropile-cache/manifest.json",
          Buffer.from(
            manifestFor([{ url: u, data }])
              .toString()
              .replace(key, "e".repeat(64)),
          ),
        ),
        END,
      ]),
      /not the hash of its URL|missing/,
    ],
    [
      "hostile file name in the manifest",
      Buffer.concat([
        okMember,
        member("astropile-cache/manifest.json", manifestFor([{ url: u, data, file: "../../x" }])),
        END,
      ]),
      /invalid manifest/,
    ],
    ["not an archive", Buffer.from("hello, I am not a tar file".repeat(100)), /checksum|truncated/],
  ];
  for (const [name, buf, why] of cases) {
    const f = path.join(root, "bad.tar");
    await fsp.writeFile(f, buf);
    await assert.rejects(importCache(f, { cacheDir: cache.dir }), (err: unknown) => {
      assert.ok(err instanceof CacheArchiveError, `${name}: ${err}`);
      assert.match(err.message, why, name);
      assert.match(err.message, /bad\.tar/, name);
      return true;
    });
    assert.deepEqual(await snapshot(cache.dir), before, `${name}: cache unchanged`);
  }
  // Where the header is known, the error gives its byte offset in the archive.
  const offsetOf = async (buf: Buffer) => {
    const f = path.join(root, "at.tar");
    await fsp.writeFile(f, buf);
    const err = await importCache(f, { cacheDir: cache.dir }).catch((e: unknown) => e);
    assert.ok(err instanceof CacheArchiveError, String(err));
    assert.match(err.message, new RegExp(`at byte ${err.offset}:`));
    return err.offset;
  };
  const evil = member("astropile-cache/entries/../../etc/evil", data);
  assert.equal(await offsetOf(Buffer.concat([okMember, evil, okManifest, END])), 1024);
  assert.equal(await offsetOf(badHeader), 0);
  const forged = Buffer.from(goodBytes);
  forged[512 * 7 + 3] = forged[512 * 7 + 3]! ^ 0x01; // the manifest's header (3000-byte entry first)
  assert.equal(await offsetOf(forged), 512 * 7);
  // An archive that is not there.
  const missing = path.join(root, "no-such.tar");
  await assert.rejects(importCache(missing, { cacheDir: cache.dir }), (err: unknown) => {
    assert.ok(err instanceof CacheArchiveError, String(err));
    assert.match(err.message, /no-such\.tar.*ENOENT/);
    return true;
  });
  assert.deepEqual(await snapshot(cache.dir), before);

  // And the well-formed forged one is accepted, proving the cases above differ only by the flaw.
  const f = path.join(root, "fine.tar");
  await fsp.writeFile(f, Buffer.concat([okMember, okManifest, END]));
  assert.equal((await importCache(f, { cacheDir: cache.dir })).imported, 1);
  assert.deepEqual(await fsp.readFile((await cache.lookup(u))!.path), data);
});
