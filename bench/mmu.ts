// `npm run bench mmu`: a Multimodal Universe v1 tree used in place. h5py writes a tree of 1e6
// catalog rows in 3072 files (every order-4 pixel; rows in random order, no _healpix_29, as MMU
// writes them); AstroPile adopts it (time, peak RSS of the adopting process), then cone searches
// on the adopted tree are timed against the same rows saved by AstroPile (sorted, key-range
// files). Target: cone time on the adopted tree <= 1.5x the AstroPile-built dataset's.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openDataset } from "../src/dataset/index.ts";
import { mmuDatasetRoot } from "../src/interop/mmu-adopt.ts";
import { moduleArgs } from "../test/helpers/cli-process.ts";

const PYTHON = "/usr/bin/python3";

const WRITE_TREE = `
import sys, h5py, numpy as np, healpy as hp
root, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
# Uniform on the sphere, then one file per order-4 pixel (3072), rows in random order.
ra = rng.random(n) * 360
dec = np.degrees(np.arcsin(rng.random(n) * 2 - 1))
pix = hp.ang2pix(16, ra, dec, lonlat=True, nest=True)
order = np.argsort(pix, kind="stable")
ra, dec, pix = ra[order], dec[order], pix[order]
ids = np.arange(n, dtype=np.int64)[order]
mag = (18 + 6 * rng.random(n)).astype(">f4")
bounds = np.searchsorted(pix, np.arange(3073))
import os
for p in range(3072):
    a, b = bounds[p], bounds[p + 1]
    d = f"{root}/cat/healpix={p}"
    os.makedirs(d, exist_ok=True)
    sel = rng.permutation(np.arange(a, b))
    with h5py.File(f"{d}/001-of-001.hdf5", "w") as f:
        f.create_dataset("object_id", data=ids[sel].astype(">i8"))
        f.create_dataset("ra", data=ra[sel].astype(">f8"))
        f.create_dataset("dec", data=dec[sel].astype(">f8"))
        f.create_dataset("healpix", data=pix[sel].astype(np.int64))
        f.create_dataset("MAG_G", data=mag[sel])
`;

const ADOPT_CHILD = `
import { adoptMmuTree } from ${JSON.stringify(join(import.meta.dirname, "..", "src", "interop", "mmu-adopt.ts"))};
const t = performance.now();
const r = await adoptMmuTree(process.argv[1], { indexDir: process.argv[2] });
console.log(JSON.stringify({ seconds: (performance.now() - t) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, files: r.files, rows: r.rows }));
`;

async function coneSeconds(dir: string, cones: Array<[number, number]>, radiusArcsec: number) {
  const ds = await openDataset(dir);
  let rows = 0;
  const t = performance.now();
  for (const [ra, dec] of cones) {
    for await (const b of ds
      .coneSearch(ra, dec, radiusArcsec)
      .select(["object_id", "ra", "dec"])
      .batches({ size: 4096 }))
      rows += b.length;
  }
  const seconds = (performance.now() - t) / 1000;
  ds.close();
  return { seconds, rows };
}

export async function run({ quick }: { quick: boolean }): Promise<void> {
  const n = quick ? 100_000 : 1_000_000;
  const work = mkdtempSync(join(tmpdir(), "astropile-bench-mmu-"));
  try {
    const tree = join(work, "tree");
    let t = performance.now();
    const w = spawnSync(PYTHON, ["-c", WRITE_TREE, tree, String(n)], { encoding: "utf8" });
    if (w.status !== 0) throw new Error(`h5py could not write the tree: ${w.stderr}`);
    console.log(
      `h5py wrote ${n} rows in 3072 files: ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const index = join(work, "index");
    const a = spawnSync(process.execPath, moduleArgs(ADOPT_CHILD, tree, index), {
      encoding: "utf8",
      cwd: join(import.meta.dirname, ".."),
    });
    if (a.status !== 0) throw new Error(`adopt failed: ${a.stderr}`);
    const adopted = JSON.parse(a.stdout.trim().split("\n").pop()!);
    console.log(
      `adopt: ${adopted.files} files, ${adopted.rows} rows in ${adopted.seconds.toFixed(1)} s (${Math.round(adopted.rows / adopted.seconds)} rows/s), peak RSS ${adopted.maxRssMiB.toFixed(0)} MiB`,
    );
    const root = (await mmuDatasetRoot(tree, { indexDir: index, adoptSmall: false }))!;
    const built = join(work, "built");
    t = performance.now();
    const src = await openDataset(root);
    await src.saveToDisk(built);
    src.close();
    console.log(
      `the same rows saved by AstroPile: ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    // Cones at random places (fixed seed), two radii; each side run twice, the second timed.
    let s = 12345;
    const rand = () => {
      s = (s * 1103515245 + 12345) % 2 ** 31;
      return s / 2 ** 31;
    };
    const cones: Array<[number, number]> = Array.from({ length: quick ? 20 : 100 }, () => [
      rand() * 360,
      (Math.asin(rand() * 2 - 1) * 180) / Math.PI,
    ]);
    for (const radius of [60, 1800]) {
      await coneSeconds(root, cones.slice(0, 5), radius);
      await coneSeconds(built, cones.slice(0, 5), radius);
      const mmu = await coneSeconds(root, cones, radius);
      const ap = await coneSeconds(built, cones, radius);
      if (mmu.rows !== ap.rows) throw new Error(`cones disagree: ${mmu.rows} rows vs ${ap.rows}`);
      console.log(
        `cone ${radius}" x${cones.length} (${mmu.rows} rows): adopted MMU ${((mmu.seconds * 1000) / cones.length).toFixed(2)} ms/cone, AstroPile-built ${((ap.seconds * 1000) / cones.length).toFixed(2)} ms/cone, ratio ${(mmu.seconds / ap.seconds).toFixed(2)}x (target <= 1.5x)`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
