import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  MissingColumnError,
  NotFoundError,
  SchemaError,
  UsageError,
} from "../../src/core/errors.ts";
import { concatenate, type Dataset, openDataset } from "../../src/dataset/index.ts";
import { angularSeparationDeg } from "../../src/sky/index.ts";
import { readManifest } from "../../src/storage/manifest.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { tempDir } from "../helpers/tmp.ts";
import { imageRows, layouts } from "./fixtures.ts";

const dir = tempDir();
const N = 3000;
const truth = imageRows(N);
const ra = truth.ra as Float64Array;
const dec = truth.dec as Float64Array;
const ids = truth.object_id as BigInt64Array;
let roots: string[] = [];
let datasets: Dataset[] = [];

before(async () => {
  roots = await layouts(dir, N);
  datasets = await Promise.all(roots.map((r) => openDataset(r)));
});

/** object_ids of every row the view yields, as sorted strings. */
async function idsOf(view: Dataset): Promise<string[]> {
  const out: string[] = [];
  for await (const b of view.batches({ size: 97, columns: ["object_id"] })) {
    for (const v of b.columns.object_id as BigInt64Array) out.push(v.toString());
  }
  return out.sort();
}

function bruteCone(ra0: number, dec0: number, radiusArcsec: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < N; i++)
    if (angularSeparationDeg(ra[i], dec[i], ra0, dec0) <= radiusArcsec / 3600)
      out.push(ids[i].toString());
  return out.sort();
}

describe("open and inspect", () => {
  test("length, columns, features, provenance, configs from the manifest alone", () => {
    const ds = datasets[0];
    assert.equal(ds.length, N);
    assert.deepEqual(ds.configs, ["pdr3_wide"]);
    assert.equal(ds.provenance.survey, "HSC");
    assert.equal(ds.modality, "image");
    assert.ok(ds.columns.includes("forced.g_cmodel_mag"));
    const img = ds.features.find((f) => f.name === "image_array")!;
    assert.deepEqual(
      [img.dtype, img.shape, img.unit, img.modality],
      ["float32", [3, 4, 4], "nanomaggy", "image"],
    );
    assert.equal(ds.features.find((f) => f.name === "forced.g_cmodel_mag")!.modality, "catalog");
  });

  test("unknown config, unknown column, not a dataset: clear errors", async () => {
    await assert.rejects(
      openDataset(roots[0], { config: "nope" }),
      (e: Error) => e instanceof UsageError && /unknown config "nope".*pdr3_wide/.test(e.message),
    );
    await assert.rejects(openDataset(dir), /no manifest/);
    assert.throws(
      () => datasets[0].select(["image_array", "flux_x"]),
      (e: Error) =>
        e instanceof MissingColumnError &&
        /"flux_x"/.test(e.message) &&
        /available: .*image_array/.test(e.message),
    );
    assert.throws(
      () => datasets[0].filter("image_array > 3"),
      (e: Error) => e instanceof SchemaError && /array column/.test(e.message),
    );
    assert.throws(() => datasets[0].filter("tract >"), UsageError);
  });
});

describe("examples in the seed schema", () => {
  test("get(i) gives an image example with a per-band list of typed arrays", async () => {
    const ds = datasets[1];
    const ex = await ds.get(5);
    const i = ids.indexOf(ex.object_id as bigint);
    assert.ok(i >= 0);
    assert.equal(ex.ra, ra[i]);
    assert.equal(ex.dec, dec[i]);
    assert.deepEqual(ex.provenance, { project: "test", survey: "HSC", release: "pdr3" });
    assert.equal(typeof ex.healpix, "number");
    assert.equal(ex.image!.length, 3);
    const g = ex.image![1];
    assert.equal(g.band, "hsc-r");
    assert.ok(g.flux.data instanceof Float32Array);
    assert.deepEqual(g.flux.shape, [4, 4]);
    assert.equal(g.flux.data[0], Math.fround(i + 16 / 100));
    assert.deepEqual(Array.from(g.ivar!.data.slice(0, 2) as Float32Array), [17, 18]);
    assert.deepEqual(g.mask!.shape, [4, 4]);
    assert.equal(g.psf_fwhm, Math.fround(0.7));
    assert.equal(g.scale, Math.fround(0.168));
    assert.equal(g.units, "nanomaggy");
    assert.equal(ex["forced.g_cmodel_mag"], Math.fround(18 + (i % 70) / 10));
    assert.equal(ex.is_star, i % 4 === 0);
    assert.equal(ex.tract, 9800 + (i % 7));
  });

  test("take keeps the order asked; getById finds every id in every layout", async () => {
    for (const ds of datasets) {
      const picked = await ds.take([10, 3, 10, N - 1]);
      assert.equal(picked[0].object_id, picked[2].object_id);
      const fromGet = await ds.get(3);
      assert.equal(picked[1].object_id, fromGet.object_id);
      // a third of the ids in one layout, a sample in the others
      const step = ds === datasets[1] ? 3 : 97;
      for (let i = 0; i < N; i += step) {
        const ex = await ds.getById(ids[i]);
        assert.equal(ex.ra, ra[i]);
        // ids compare by value whatever JS type they come as
        assert.equal((await ds.getById(ids[i].toString())).dec, dec[i]);
      }
      await assert.rejects(ds.getById(42n), NotFoundError);
      await assert.rejects(ds.take([N]), UsageError);
    }
  });
});

describe("queries give the same answers whatever the partitioning", () => {
  const cones: Array<[number, number, number]> = [
    [0.001, 10, 900],
    [359.999, -10, 1200],
    [45, 89.99, 600],
    [200, -89.99, 3600],
    [123.4, 5.6, 36000],
    [10, 10, 0.5],
    [300, 60, 360_000],
    [10, -80, 648_000],
  ];
  test("coneSearch equals brute force, in every layout (poles, RA wrap, tiny and wide)", async () => {
    const { ra: cra, dec: cdec } = {
      ra: Array.from(ra.slice(0, 4)),
      dec: Array.from(dec.slice(0, 4)),
    };
    const all = [...cones, ...cra.map((r, k) => [r, cdec[k], 60] as [number, number, number])];
    for (const [r0, d0, rad] of all) {
      const want = bruteCone(r0, d0, rad);
      for (const ds of datasets) {
        const view = ds.coneSearch(r0, d0, rad);
        assert.deepEqual(await idsOf(view), want, `cone ${r0},${d0},${rad}"`);
        assert.equal(await view.count(), want.length);
      }
    }
  });

  test("boxSearch (crossing RA 0) and filters equal brute force in every layout", async () => {
    const want: string[] = [];
    for (let i = 0; i < N; i++) {
      const inRa = ra[i] >= 350 || ra[i] <= 20;
      if (inRa && dec[i] >= -30 && dec[i] <= 40 && i % 4 !== 0) want.push(ids[i].toString());
    }
    const wantFilter: string[] = [];
    for (let i = 0; i < N; i++) {
      const mag = Math.fround(18 + (i % 70) / 10);
      if ((mag < 20.5 && 9800 + (i % 7) !== 9803) || ids[i] === ids[7])
        wantFilter.push(ids[i].toString());
    }
    for (const ds of datasets) {
      assert.deepEqual(
        await idsOf(ds.boxSearch(350, 20, -30, 40).filter("is_star == false")),
        want.sort(),
      );
      const s = ds.filter(
        `(forced.g_cmodel_mag < 20.5 and not tract == 9803) or object_id in [${ids[7]}]`,
      );
      assert.deepEqual(await idsOf(s), wantFilter.sort());
      const f = ds.filter((row) => (row.tract as number) === 9801, { columns: ["tract"] });
      assert.equal(
        await f.count(),
        Array.from({ length: N }, (_, i) => i).filter((i) => i % 7 === 1).length,
      );
      const obj = ds.filter({
        and: [
          { column: "tract", op: "between", value: [9801, 9802] },
          { column: "is_star", op: "==", value: true },
        ],
      });
      assert.equal(
        await obj.count(),
        Array.from({ length: N }, (_, i) => i).filter(
          (i) => i % 7 >= 1 && i % 7 <= 2 && i % 4 === 0,
        ).length,
      );
    }
  });

  test("the layouts are what they say: order-4 pixels (mmu), pixels of several orders (adaptive)", async () => {
    const manifests = await Promise.all(roots.map((r) => readManifest(r)));
    assert.deepEqual(
      manifests.map((m) => m.layout),
      ["mmu", "adaptive", "adaptive"],
    );
    const orders = manifests.map((m) => new Set(m.files.map((f) => f.order)));
    assert.deepEqual([...orders[0]], [4]);
    assert.ok(orders[1].size >= 3, `adaptive, small files: orders ${[...orders[1]]}`);
    assert.ok(orders[2].size >= 2, `adaptive: orders ${[...orders[2]]}`);
  });

  test("boxes at the poles, across RA 0, tiny and the whole sky equal brute force", async () => {
    const boxes: Array<[number, number, number, number]> = [
      [0, 360, 80, 90],
      [100, 300, -90, -85],
      [355, 5, -20, 20],
      // Around a row away from the poles.
      ...[...ra.keys()]
        .filter((i) => Math.abs(dec[i]) < 80)
        .slice(0, 1)
        .map(
          (i) =>
            [ra[i] - 0.001, ra[i] + 0.001, dec[i] - 0.001, dec[i] + 0.001] as [
              number,
              number,
              number,
              number,
            ],
        ),
      [0, 360, -90, 90],
    ];
    for (const [a, b, c, d] of boxes) {
      const want: string[] = [];
      for (let i = 0; i < N; i++) {
        const width = b - a;
        const span = (((b - a) % 360) + 360) % 360;
        const off = (((ra[i] - a) % 360) + 360) % 360;
        if (dec[i] >= c && dec[i] <= d && (width >= 360 || off <= span))
          want.push(ids[i].toString());
      }
      assert.ok(want.length > 0 || a === 100, `box ${a}..${b} ${c}..${d} holds rows`);
      for (const ds of datasets)
        assert.deepEqual(
          await idsOf(ds.boxSearch(a, b, c, d)),
          want.sort(),
          `box ${a}..${b} ${c}..${d}`,
        );
    }
  });

  test("trainTestSplit is stable per object across layouts, disjoint, and covers all", async () => {
    const splits = await Promise.all(
      datasets.map(async (ds) => {
        const { train, test } = ds.trainTestSplit({ testSize: 0.2, seed: 1 });
        return { train: await idsOf(train), test: await idsOf(test) };
      }),
    );
    for (const s of splits) {
      assert.deepEqual(s.test, splits[0].test);
      assert.equal(s.train.length + s.test.length, N);
      assert.ok(
        s.test.length > N * 0.15 && s.test.length < N * 0.25,
        `test fraction ${s.test.length / N}`,
      );
      const t = new Set(s.test);
      assert.ok(s.train.every((x) => !t.has(x)));
    }
  });
});

test("split fractions are uniform for consecutive ids and string ids", async () => {
  const { splitFraction } = await import("../../src/dataset/dataset.ts");
  for (const ids of [
    BigInt64Array.from({ length: 4000 }, (_, i) => 75338536735211500n + BigInt(i)),
    Array.from({ length: 4000 }, (_, i) => `1518p024-${4036 + i}`),
  ]) {
    const f = Array.from({ length: 4000 }, (_, i) => splitFraction(0, ids, i));
    const below = f.filter((x) => x < 0.1).length;
    assert.ok(below > 300 && below < 500, `${below} of 4000 below 0.1`);
    const deciles = new Array(10).fill(0);
    for (const x of f) deciles[Math.floor(x * 10)]++;
    assert.ok(
      deciles.every((c) => c > 320 && c < 480),
      `deciles ${deciles}`,
    );
  }
});

describe("iteration", () => {
  test("batches yield every row once with the asked size and columns", async () => {
    const ds = datasets[2];
    let rows = 0;
    const sizes: number[] = [];
    for await (const b of ds.select(["object_id", "image"]).batches({ size: 256 })) {
      assert.deepEqual(Object.keys(b.columns).sort(), [
        "image_array",
        "image_band",
        "image_ivar",
        "image_mask",
        "image_psf_fwhm",
        "image_scale",
        "object_id",
      ]);
      assert.equal((b.columns.image_array as Float32Array).length, b.length * 48);
      assert.deepEqual(b.shapes.image_array, [3, 4, 4]);
      sizes.push(b.length);
      rows += b.length;
    }
    assert.equal(rows, N);
    assert.ok(sizes.slice(0, -1).every((s) => s === 256));
    assert.equal(sizes.at(-1), N % 256);
    assert.deepEqual(await idsOf(ds), ids.length ? Array.from(ids, String).sort() : []);
  });

  test("a row number that is not an integer, or an id given as text that is not decimal digits, is refused saying so", async () => {
    const ds = datasets[0];
    await assert.rejects(ds.get(1.5), /index 1\.5 is not an integer row number/);
    await assert.rejects(
      ds.get("3" as unknown as number),
      /index "3" is not an integer row number/,
    );
    await assert.rejects(ds.get(ds.length), /outside \[0, /);
    for (const id of ["0x10", "", " ", "1e3", "12abc"])
      await assert.rejects(ds.getById(id), /is not an integer id \(decimal digits\)/, id);
    const first = (await ds.get(0)).object_id as bigint;
    assert.equal((await ds.getById(` ${first} `)).object_id, first);
  });

  test("a seed that is not an integer is refused everywhere a seed is taken (NaN, 1.5 and text were other seeds)", async () => {
    const ds = datasets[0];
    for (const seed of [Number.NaN, 1.5, "a", Number.POSITIVE_INFINITY]) {
      const is = (err: Error & { code?: string }) =>
        err.code === "ASTROPILE_USAGE" && /seed must be an integer/.test(err.message);
      assert.throws(() => ds.shuffle(seed as number), is, String(seed));
      assert.throws(() => ds.trainTestSplit({ testSize: 0.2, seed: seed as number }), is);
      await assert.rejects(ds.batches({ shuffle: { seed: seed as number } }).next(), is);
      assert.throws(() => ds.loader({ shuffle: { seed: seed as number }, workers: 0 }), is);
    }
    assert.doesNotThrow(() => ds.shuffle(2 ** 40));
  });

  test("seeded shuffle: reproducible, seed-dependent, a permutation, and get(i) agrees with iteration", async () => {
    const ds = datasets[1];
    const order = async (seed: number) => {
      const out: string[] = [];
      for await (const b of ds.batches({
        size: 100,
        columns: ["object_id"],
        shuffle: { seed, blockRows: 64, windowBlocks: 4 },
      })) {
        for (const v of b.columns.object_id as BigInt64Array) out.push(v.toString());
      }
      return out;
    };
    const a = await order(7);
    assert.deepEqual(a, await order(7));
    assert.notDeepEqual(a, await order(8));
    assert.deepEqual([...a].sort(), Array.from(ids, String).sort());
    const inFileOrder: string[] = [];
    for await (const b of ds.batches({ size: 100, columns: ["object_id"] }))
      for (const v of b.columns.object_id as BigInt64Array) inFileOrder.push(v.toString());
    assert.notDeepEqual(a, inFileOrder);
    const view = ds.shuffle(7, { blockRows: 64, windowBlocks: 4 });
    for (const i of [0, 1, 63, 64, 255, 256, N - 1])
      assert.equal(String((await view.get(i)).object_id), a[i]);
  });

  test("a filtered view can be counted, indexed and shuffled", async () => {
    const [r0, d0] = [ra[0], dec[0]];
    const view = datasets[0].coneSearch(r0, d0, 7200);
    assert.throws(() => view.length, /count/);
    const n = await view.count();
    assert.equal(view.length, n);
    const want = bruteCone(r0, d0, 7200);
    assert.ok(want.length > 20, `${want.length} rows in the cone`);
    const got = await view.take(Array.from({ length: n }, (_, i) => i));
    assert.deepEqual(got.map((e) => String(e.object_id)).sort(), want);
    const shuffled = view.shuffle(3, { blockRows: 8, windowBlocks: 2 });
    const viaBatches: string[] = [];
    for await (const b of shuffled.batches({ size: 10, columns: ["object_id"] }))
      for (const v of b.columns.object_id as BigInt64Array) viaBatches.push(v.toString());
    assert.deepEqual([...viaBatches].sort(), want);
    assert.equal(String((await shuffled.get(5)).object_id), viaBatches[5]);
  });
});

describe("combine and save", () => {
  test("concatenate datasets with compatible features; refuse incompatible ones", async () => {
    const both = concatenate([datasets[0], datasets[1]]);
    assert.equal(both.length, 2 * N);
    assert.equal((await both.get(N + 3)).object_id, (await datasets[1].get(3)).object_id);
    const ids2 = await idsOf(both);
    assert.equal(ids2.length, 2 * N);
    assert.throws(
      () =>
        concatenate([
          datasets[0].select(["object_id", "ra"]),
          datasets[1].select(["object_id", "dec"]),
        ]),
      /cannot concatenate: dataset 1 lacks "ra"; has extra "dec"/,
    );
    assert.throws(
      () => concatenate([datasets[0].filter("tract == 9800"), datasets[1]]),
      /before filtering/,
    );
    // The same column in another unit: refused, not labelled with the first one's unit.
    const { writeDataset } = await import("../../src/storage/dataset-writer.ts");
    const flux = async (name: string, unit: string | undefined) => {
      const root = `${dir}/${name}`;
      await writeDataset(
        root,
        [
          { name: "object_id", dtype: "int64", shape: [] },
          { name: "ra", dtype: "float64", shape: [] },
          { name: "dec", dtype: "float64", shape: [] },
          { name: "x", dtype: "float64", shape: [], ...(unit ? { unit } : {}) },
        ],
        [
          {
            object_id: BigInt64Array.from([1n]),
            ra: Float64Array.from([1]),
            dec: Float64Array.from([2]),
            x: Float64Array.from([3]),
          },
        ],
        { config: "main", provenance: { survey: name } },
      );
      return openDataset(root);
    };
    const mag = await flux("in-mag", "mag");
    assert.equal(concatenate([mag, await flux("in-mag-too", "mag")]).length, 2);
    const jy = await flux("in-jy", "Jy");
    const none = await flux("no-unit", undefined);
    assert.throws(
      () => concatenate([mag, jy]),
      /cannot concatenate: dataset 1 "x" is in "Jy", not "mag"/,
    );
    assert.throws(
      () => concatenate([mag, none]),
      /cannot concatenate: dataset 1 "x" is in no unit, not "mag"/,
    );
  });

  test("saveToDisk never writes inside or around the dataset it reads, over its config, or into a folder of other files", async () => {
    const { mkdirSync, writeFileSync, readdirSync, cpSync } = await import("node:fs");
    const copyRoot = `${dir}/save-guard`;
    cpSync(datasets[0].root, copyRoot, { recursive: true });
    const src = await openDataset(copyRoot);
    const view = src.filter("tract == 9813");
    const before = readdirSync(copyRoot).sort();
    for (const [path, config, why] of [
      [`${copyRoot}/sub`, undefined, /is inside the dataset being read/],
      [dir, undefined, /holds the dataset being read/],
      [copyRoot, undefined, /that is the config being read/],
    ] as const) {
      await assert.rejects(
        view.saveToDisk(path, config ? { config } : {}),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, "ASTROPILE_USAGE", err.message);
          assert.match(err.message, why);
          return true;
        },
      );
    }
    assert.deepEqual(readdirSync(copyRoot).sort(), before, "nothing written in the dataset");
    // Another config of the same dataset is a new config beside the one read.
    await view.saveToDisk(copyRoot, { config: "tract_9813" });
    assert.deepEqual(
      Object.keys((await readManifest(copyRoot)).configs).sort(),
      [src.config, "tract_9813"].sort(),
    );
    // A folder of other files is not a dataset to add to.
    const folder = `${dir}/notes`;
    mkdirSync(folder);
    writeFileSync(`${folder}/important.txt`, "keep me");
    await assert.rejects(view.saveToDisk(folder), /it is a folder of other files, not a dataset/);
    assert.deepEqual(readdirSync(folder), ["important.txt"]);
  });

  test("saveToDisk writes a filtered view as a new parent dataset", async () => {
    const view = datasets[1]
      .coneSearch(359.999, -10, 1200)
      .select(["object_id", "image_array", "forced.g_cmodel_mag"]);
    const out = `${dir}/saved`;
    const manifest = await view.saveToDisk(out);
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
    const saved = await openDataset(out);
    assert.equal(saved.length, bruteCone(359.999, -10, 1200).length);
    assert.deepEqual(
      manifest.configs.pdr3_wide.columns.map((c) => c.name),
      ["object_id", "ra", "dec", "image_array", "forced.g_cmodel_mag", "healpix", "_healpix_29"],
    );
    assert.deepEqual(await idsOf(saved), bruteCone(359.999, -10, 1200));
    const one = await saved.getById(
      saved.length > 0 ? ((await saved.get(0)).object_id as bigint) : 0n,
    );
    const orig = await datasets[0].getById(one.object_id as bigint);
    assert.deepEqual(one.image![0].flux.data, orig.image![0].flux.data);
  });
});
