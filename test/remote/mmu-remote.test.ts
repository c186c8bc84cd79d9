// Multimodal Universe trees where they are published: served by a real nginx and a real Apache
// with their own directory listings, and from an S3 prefix (s3rver), opened by URL without
// copying. Every value read remotely equals the same tree read locally. Listings are untrusted:
// links out of the tree are never followed; a file replaced on the server after adoption is
// refused, never mixed in.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { type Dataset, openDataset } from "../../src/dataset/dataset.ts";
import {
  adoptMmuTree,
  datasetRootOf,
  mmuDatasetRoot,
  NotAdoptedError,
} from "../../src/interop/mmu-adopt.ts";
import { readMmuIfuExamples } from "../../src/interop/mmu-ifu.ts";
import { parseIndexPage } from "../../src/remote/listing.ts";
import { s3Client, sameVersion } from "../../src/remote/transport.ts";
import { crossMatch } from "../../src/xmatch/crossmatch.ts";
import {
  type AutoindexKind,
  autoindexSkip,
  startAutoindexServer,
} from "../helpers/autoindex-servers.ts";
import { cliArgs } from "../helpers/cli-process.ts";
import { startRangeServer } from "../helpers/range-server.ts";
import { S3RVER_CREDENTIALS, type S3Server, startS3Server } from "../helpers/s3-server.ts";
import { tempDir } from "../helpers/tmp.ts";

const FIXTURES = join(import.meta.dirname, "..", "fixtures", "mmu", "a");
const expected = JSON.parse(readFileSync(join(FIXTURES, "..", "expected.json"), "utf8")) as {
  xmatch: Record<string, { radiusArcsec: number; pairs: Array<[string, string, number]> }>;
};
const COLUMNS = ["object_id", "ra", "dec", "image_band", "image_array", "FLUX_G"];
const saved = { ...process.env };
process.env.ASTROPILE_CACHE_DIR = tempDir("astropile-mmu-remote-cache-");
// Before any remote read: the fetch worker thread takes the environment when it starts.
Object.assign(process.env, S3RVER_CREDENTIALS);
after(() => {
  process.env = saved;
});

/** Every row of `columns`, in dataset order, as plain arrays. */
async function rowsOf(ds: Dataset, columns: string[]): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = Object.fromEntries(columns.map((c) => [c, []]));
  for await (const b of ds.select(columns).batches({ size: 16 }))
    for (const c of columns) {
      const v = b.columns[c] as ArrayLike<unknown> & { length: number };
      // Images: compare their bytes (deepEqual on 100k-element arrays is slow).
      if (c === "image_array")
        out[c]!.push(Buffer.from((v as Float32Array).buffer).toString("base64"));
      else out[c]!.push(...Array.from(v));
    }
  return out;
}

/** A copy of the fixture surveys in a directory a server can serve (and a test may change). */
function servedCopy(): string {
  const root = tempDir("astropile-mmu-served-");
  for (const survey of ["legacysurvey", "hsc", "desi", "manga"])
    cpSync(join(FIXTURES, survey), join(root, survey), { recursive: true });
  return root;
}

let local: Record<string, unknown[]>;
before(async () => {
  local = await rowsOf(await openDataset(join(FIXTURES, "legacysurvey")), COLUMNS);
});

for (const kind of ["nginx", "apache"] as AutoindexKind[]) {
  test(`an MMU tree served by ${kind} with its directory listings opens by URL: the same rows, cone and ids as local`, {
    skip: autoindexSkip(kind),
  }, async () => {
    const served = servedCopy();
    const server = await startAutoindexServer(kind, served);
    try {
      const ds = await openDataset(`${server.url}/legacysurvey`);
      assert.deepEqual(await rowsOf(ds, COLUMNS), local);
      const localHsc = await openDataset(join(FIXTURES, "hsc"));
      const remoteHsc = await openDataset(`${server.url}/hsc`);
      const [ra, dec] = [
        (await localHsc.get(3)).ra as number,
        (await localHsc.get(3)).dec as number,
      ];
      const ids = async (d: Dataset) =>
        ((await rowsOf(d.coneSearch(ra, dec, 120), ["object_id"])).object_id as string[]).sort();
      assert.deepEqual(await ids(remoteHsc), await ids(localHsc));
      const id = (await localHsc.get(5)).object_id as string;
      assert.equal((await remoteHsc.getById(id))?.object_id, id);
      // Cross-match of two remote trees on 2 threads (the workers read with the tree's recorded
      // versions) equals astropy's search_around_sky on the same files (fixtures/mmu/expected.json).
      const ref = expected.xmatch["hsc-desi"]!;
      const { catalog } = await crossMatch(remoteHsc, await openDataset(`${server.url}/desi`), {
        radiusArcsec: ref.radiusArcsec,
        mode: "all",
        threads: 2,
      });
      const pairs = Array.from({ length: catalog.length }, (_, i) =>
        [String(catalog.left_object_id[i]), String(catalog.right_object_id[i])].join(" "),
      ).sort();
      assert.deepEqual(pairs, ref.pairs.map(([l, r]) => `${l} ${r}`).sort());
      if (kind === "nginx") {
        // The CLI as a user runs it: adopt the URL (index in the cache dir), then a cone by URL.
        const env = { ...process.env, ASTROPILE_CACHE_DIR: tempDir("astropile-mmu-cli-") };
        const run = (...args: string[]) => {
          const r = spawnSync(process.execPath, cliArgs(...args), { env, encoding: "utf8" });
          assert.equal(r.status, 0, r.stderr);
          return r.stdout;
        };
        const adopted = JSON.parse(run("adopt", `${server.url}/hsc`, "--json", "--quiet"));
        assert.equal(adopted.reused, false);
        assert.equal(adopted.dir, `${server.url}/hsc`);
        const cone = run(
          "cone",
          `${server.url}/hsc`,
          "--ra",
          String(ra),
          "--dec",
          String(dec),
          "--radius",
          "120",
          "--columns",
          "object_id",
          "--json",
        );
        const got = (JSON.parse(cone) as { rows: Array<{ object_id: unknown }> }).rows
          .map((r) => String(r.object_id))
          .sort();
        assert.ok(got.length > 0);
        assert.deepEqual(got, (await ids(localHsc)).map(String).sort());
      }
    } finally {
      await server.close();
    }
  });
}

test("opening a served MMU tree asks once for its manifest and lists each directory once", {
  skip: autoindexSkip("nginx"),
}, async () => {
  const served = servedCopy();
  const nginx = await startAutoindexServer("nginx", served);
  try {
    const url = `${nginx.url}/legacysurvey`;
    // Adopted into the default index location (this file's cache dir), where opens look.
    await adoptMmuTree(url);
    // Each way in: the library's openDataset (its manifest 404, then the tree's resolver) and
    // datasetRootOf (what every CLI command calls), on a tree already adopted.
    for (const open of [() => openDataset(url), () => datasetRootOf(url)]) {
      const before = nginx.requests().length;
      await open();
      const asked = nginx.requests().slice(before);
      const count = (p: string) => asked.filter((a) => a === p).length;
      assert.equal(count("/legacysurvey/astropile.json"), 1, asked.join("\n"));
      const listings = asked.filter((a) => a.endsWith("/"));
      assert.ok(listings.length > 2, asked.join("\n"));
      assert.deepEqual(listings, [...new Set(listings)], "a directory listed twice");
    }
  } finally {
    await nginx.close();
  }
});

test("a MaNGA tree (a group per object) served by Apache: catalog rows and IFU examples equal the local tree's", {
  skip: autoindexSkip("apache"),
}, async () => {
  const server = await startAutoindexServer("apache", servedCopy());
  try {
    const local = await openDataset(join(FIXTURES, "manga"));
    const remote = await openDataset(`${server.url}/manga`);
    const columns = ["object_id", "ra", "dec", "z", "mmu_file", "mmu_object"];
    assert.deepEqual(await rowsOf(remote, columns), await rowsOf(local, columns));
    const all = Array.from({ length: local.length }, (_, i) => i);
    const want = await readMmuIfuExamples(local, all);
    const got = await readMmuIfuExamples(remote, all);
    assert.equal(got.length, want.length);
    for (const [i, ex] of got.entries()) {
      assert.equal(ex.object_id, want[i]!.object_id);
      // Every array (spaxel flux, ivar, images, maps) byte for byte, through JSON of the bytes.
      const bytes = (e: unknown) =>
        JSON.stringify(e, (_k, v) =>
          typeof v === "bigint"
            ? `${v}n`
            : ArrayBuffer.isView(v)
              ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64")
              : v,
        );
      assert.equal(bytes(ex), bytes(want[i]));
    }
  } finally {
    await server.close();
  }
});

test("an MMU tree under an S3 prefix opens by s3:// URL: the same rows as local", async () => {
  const store = tempDir("astropile-mmu-s3-");
  const s3: S3Server = await startS3Server(store, ["bucket"]);
  try {
    const client = await s3Client({ endpoint: s3.endpoint });
    const walk = async (dir: string, key: string): Promise<void> => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(join(dir, e.name), `${key}/${e.name}`);
        else
          await client.send(
            new PutObjectCommand({
              Bucket: "bucket",
              Key: `${key}/${e.name}`,
              Body: readFileSync(join(dir, e.name)),
            }),
          );
      }
    };
    await walk(join(FIXTURES, "legacysurvey"), "mmu/legacysurvey");
    const ds = await openDataset("s3://bucket/mmu/legacysurvey", {
      remote: { endpoint: s3.endpoint },
    });
    assert.deepEqual(await rowsOf(ds, COLUMNS), local);
    // The CLI reaches an S3-compatible store with the global --endpoint, on any command.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ASTROPILE_CACHE_DIR: tempDir("astropile-mmu-cli-"),
    };
    delete env.AWS_ENDPOINT_URL;
    const r = spawnSync(
      process.execPath,
      cliArgs("info", "s3://bucket/mmu/legacysurvey", "--endpoint", s3.endpoint, "--json"),
      { env, encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.stringify(JSON.parse(r.stdout)).includes(`"rows":${local.ra!.length}`), true);
  } finally {
    await s3.close();
  }
});

test('ETags compare weakly: Apache\'s W/"x" for a file modified in the last second is the same version as "x"', () => {
  assert.ok(sameVersion({ size: 5, etag: 'W/"7f-66"' }, { size: 5, etag: '"7f-66"' }));
  assert.ok(!sameVersion({ size: 5, etag: 'W/"7f-66"' }, { size: 5, etag: '"7f-67"' }));
  assert.ok(!sameVersion({ size: 5, etag: '"7f-66"' }, { size: 6, etag: '"7f-66"' }));
});

test("listing pages are untrusted: only direct children on the same origin are entries", () => {
  const page = `<HTML><body><pre>
<A HREF="../">../</A>
<a href="/">Parent Directory</a>
<a href="?C=N;O=D">Name</a>
<a href="#top">top</a>
<a href="http://evil.example/tree/x.hdf5">x.hdf5</a>
<a href="//evil.example/tree/y.hdf5">y.hdf5</a>
<a href="/elsewhere/z.hdf5">z.hdf5</a>
<a href="%2e%2e/up.hdf5">up</a>
<a href="a%2Fb.hdf5">slash</a>
<a href="sub/../../escape.hdf5">escape</a>
<a href="deep/er.hdf5">deeper</a>
<a href='healpix%3D3/'>healpix=3/</a>            06-Dec-2026 12:25       -
<a href=001-of-002.hdf5>001-of-002.hdf5</a>       06-Dec-2026 12:25   123456
<a href="002&amp;3.hdf5">002&amp;3.hdf5</a><td align="right">2026-12-06 12:25  </td><td align="right">4.9K</td>
<a href="001-of-002.hdf5">again</a>
<a href="http://user:pw@127.0.0.1:9/tree/cfg/u.hdf5">userinfo</a>
<a name="no-href">x</a><a href="unclosed.hdf5">unclosed
</pre>`;
  const got = parseIndexPage(page, "http://127.0.0.1:9/tree/cfg/");
  assert.deepEqual(got, [
    { name: "healpix=3", directory: true, stamp: "06-Dec-2026 12:25 -" },
    { name: "001-of-002.hdf5", directory: false, stamp: "06-Dec-2026 12:25 123456", bytes: 123456 },
    { name: "002&3.hdf5", directory: false, stamp: "2026-12-06 12:25 4.9K" },
  ]);
});

test("a listing with hostile links: adopt follows none of them, and the other host is never asked", {
  skip: autoindexSkip("nginx"),
}, async () => {
  const served = servedCopy();
  const other = await startRangeServer(served);
  // nginx answers a directory with its index.html when there is one: a hostile listing page.
  const pixelDir = join(served, "legacysurvey", "dr10_south_21");
  const pixels = readdirSync(pixelDir).filter((n) => n.startsWith("healpix="));
  const links = [
    ...pixels.map((p) => `<a href="${p}/">${p}/</a>`),
    `<a href="${other.url}/hsc/">elsewhere/</a>`,
    `<a href="../../hsc/pdr3_dud_22.5/">up/</a>`,
    `<a href="//127.0.0.1:1/x/">protocol-relative/</a>`,
    `<a href="healpix=1%2F..%2F..%2Fhsc/">encoded/</a>`,
    "<p><b>unclosed <i>tags<a>",
  ];
  writeFileSync(join(pixelDir, "index.html"), `<html><body>${links.join("\n")}</body>`);
  const nginx = await startAutoindexServer("nginx", served);
  try {
    const indexDir = tempDir("astropile-mmu-hostile-");
    const r = await adoptMmuTree(`${nginx.url}/legacysurvey`, { indexDir });
    assert.equal(r.files, pixels.length, "only the tree's own pixel directories are adopted");
    assert.deepEqual(await rowsOf(await openDataset(r.indexRoot), COLUMNS), local);
    assert.equal((await other.stats()).requests, 0, "no request to a host the page pointed at");
  } finally {
    await nginx.close();
    await other.close();
  }
});

test("a tree changed on the server after adoption: a new listing is stale; a file replaced in place is refused when read", {
  skip: autoindexSkip("nginx"),
}, async () => {
  const served = servedCopy();
  const tree = join(served, "legacysurvey", "dr10_south_21");
  const pixel = readdirSync(tree).find((n) => n.startsWith("healpix="))!;
  const file = join(tree, pixel, "001-of-001.hdf5");
  // nginx lists times to the minute: both versions get times inside one minute, so only the
  // file's own version (its ETag) can tell them apart.
  const minute = Math.floor(Date.now() / 60_000) * 60;
  utimesSync(file, minute + 10, minute + 10);
  const nginx = await startAutoindexServer("nginx", served);
  try {
    const indexDir = tempDir("astropile-mmu-changed-");
    const url = `${nginx.url}/legacysurvey`;
    await adoptMmuTree(url, { indexDir });
    const root = await mmuDatasetRoot(url, { indexDir, adoptSmall: false });
    assert.ok(root);
    // Same size, other bytes: a flipped byte near the end (in the data, not the superblock).
    const bytes = readFileSync(file);
    bytes[bytes.length - 100] ^= 0xff;
    writeFileSync(file, bytes);
    utimesSync(file, minute + 20, minute + 20);
    assert.equal(statSync(file).size, bytes.length);
    const again = await mmuDatasetRoot(url, { indexDir, adoptSmall: false });
    assert.equal(again, root, "the listing cannot see the change");
    const ds = await openDataset(again!);
    await assert.rejects(rowsOf(ds, COLUMNS), (err: Error & { code?: string }) => {
      assert.equal(err.code, "ASTROPILE_REMOTE_CHANGED", err.message);
      assert.match(err.message, /adopt/);
      return true;
    });
    // A file added to the tree shows in the listing: the index is stale, and says what to run.
    cpSync(file, join(tree, pixel, "002-of-002.hdf5"));
    await assert.rejects(mmuDatasetRoot(url, { indexDir, adoptSmall: false }), (err: Error) => {
      assert.ok(err instanceof NotAdoptedError);
      assert.match(err.message, /002-of-002\.hdf5 was added/);
      assert.match(err.message, /astropile adopt "http:\/\/127\.0\.0\.1:\d+\/legacysurvey"/);
      return true;
    });
  } finally {
    await nginx.close();
  }
});
