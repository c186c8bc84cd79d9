// MaNGA files of a Multimodal Universe tree (one group per object, compound tables with array
// members; fixture by scripts/make_mmu_fixtures.py): IFU examples equal to what h5py reads, read
// by MmuIfuFile and through the Dataset API of the adopted tree.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { type Example, openDataset } from "../../src/dataset/index.ts";
import { adoptMmuTree } from "../../src/interop/mmu-adopt.ts";
import { type MmuIfuExample, MmuIfuFile, readMmuIfuExamples } from "../../src/interop/mmu-ifu.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { tempDir } from "../helpers/tmp.ts";

const MANGA = join(import.meta.dirname, "..", "fixtures", "mmu", "a", "manga", "dr17");
const BAD = join(import.meta.dirname, "..", "fixtures", "mmu", "bad", "manga_missing", "dr17");

/** One group as the Python snippet prints it. */
interface H5pyObject {
  name: string;
  object_id: string;
  ra: number;
  dec: number;
  z: number;
  healpix: number;
  spaxels: Array<{
    flux: number[];
    ivar: number[];
    lsf_sigma: number[];
    lambda: number[];
    mask_bits: number[];
    x: number;
    y: number;
    flux_units: string;
  }>;
  images: Array<{ label: string; data: number[]; psf: number[]; scale: number }>;
  maps: Array<{ label: string; data: number[]; ivar: number[]; mask: number[] }>;
}

const num = (a: ArrayLike<number | bigint>) => Array.from(a, Number);

/** Every group of each file, as h5py reads it (one list per file, groups in h5py's order). */
function h5pyObjects(paths: string[]): H5pyObject[][] {
  const out = runPython(
    `
import json, sys, h5py, numpy as np
def s(v):
    v = v.item() if hasattr(v, "item") else v
    return v.decode() if isinstance(v, bytes) else v
files = []
for path in sys.argv[1:]:
    out = []
    with h5py.File(path, "r") as f:
        for name in f:
            g = f[name]
            sp, im, mp = g["spaxels"][()], g["images"][()], g["maps"][()]
            out.append({
                "name": name, "object_id": s(g["object_id"][()]), "ra": float(g["ra"][()]), "dec": float(g["dec"][()]),
                "z": float(g["z"][()]), "healpix": int(g["healpix"][()]),
                "spaxels": [{"flux": r["flux"].astype(float).tolist(), "ivar": r["ivar"].astype(float).tolist(),
                             "lsf_sigma": r["lsf_sigma"].astype(float).tolist(), "lambda": r["lambda"].astype(float).tolist(),
                             "mask_bits": r["mask"].astype(int).tolist(), "x": int(r["x"]), "y": int(r["y"]),
                             "flux_units": s(r["flux_units"])} for r in sp],
                "images": [{"label": s(r["image_band"]), "data": r["image_array"].astype(float).ravel().tolist(),
                            "psf": r["image_psf"].astype(float).ravel().tolist(), "scale": float(r["image_scale"])} for r in im],
                "maps": [{"label": s(r["label"]), "data": r["array"].astype(float).ravel().tolist(), "ivar": r["ivar"].astype(float).ravel().tolist(),
                          "mask": r["mask"].astype(float).ravel().tolist()} for r in mp],
            })
    files.append(out)
print(json.dumps(files))
`,
    paths,
  );
  return JSON.parse(out) as H5pyObject[][];
}

/** An IFU example (from MmuIfuFile or the Dataset API) against h5py's reading of its group. */
function sameAsH5py(ex: MmuIfuExample, w: H5pyObject): void {
  assert.equal(ex.object_id, w.object_id);
  assert.equal(ex.ra, w.ra);
  assert.equal(ex.dec, w.dec);
  assert.equal(ex.z, Math.fround(w.z));
  assert.equal(Number(ex.extra.healpix), w.healpix);
  assert.equal(ex.spaxels.length, w.spaxels.length);
  ex.spaxels.forEach((s, k) => {
    const e = w.spaxels[k]!;
    assert.deepEqual(num(s.flux.data), e.flux);
    assert.deepEqual(num(s.ivar.data), e.ivar);
    assert.deepEqual(num(s.lsf_sigma.data), e.lsf_sigma, "big-endian float64 member");
    assert.deepEqual(num(s.lambda.data), e.lambda);
    assert.deepEqual(
      num((s.extra.mask_bits as { data: Int32Array }).data),
      e.mask_bits,
      "big-endian int32 member",
    );
    assert.deepEqual(
      num(s.mask.data),
      e.mask_bits.map((b) => (b !== 0 ? 1 : 0)),
    );
    assert.equal(s.x, e.x);
    assert.equal(s.y, e.y);
    assert.equal(s.extra.flux_units, e.flux_units);
    assert.deepEqual(s.flux.shape, [e.flux.length]);
  });
  assert.deepEqual(
    ex.images.map((m) => m.label),
    w.images.map((m) => m.label),
  );
  ex.images.forEach((m, k) => {
    assert.deepEqual(num(m.data.data), w.images[k]!.data);
    assert.deepEqual(m.data.shape, [4, 4]);
    assert.deepEqual(num((m.extra.image_psf as { data: Float32Array }).data), w.images[k]!.psf);
    assert.equal(m.extra.image_scale, w.images[k]!.scale);
  });
  assert.equal(ex.maps.length, w.maps.length);
  ex.maps.forEach((m, k) => {
    assert.equal(m.label, w.maps[k]!.label);
    assert.deepEqual(num(m.data.data), w.maps[k]!.data);
    assert.deepEqual(num(m.ivar!.data), w.maps[k]!.ivar);
    assert.deepEqual(num(m.mask!.data), w.maps[k]!.mask);
  });
}

test("MaNGA groups read as IFU examples equal h5py's values", {
  skip: referenceSkip(["h5py", "numpy"]),
}, async () => {
  const pixels = readdirSync(MANGA);
  assert.ok(pixels.length >= 2);
  const paths = pixels.map((pixel) => join(MANGA, pixel, "0001-of-0001.hdf5"));
  for (const [f, want] of h5pyObjects(paths).entries()) {
    const file = await MmuIfuFile.open(paths[f]!);
    assert.equal(file.length, want.length);
    assert.equal(file.provenance.survey, "MaNGA");
    want.forEach((w, i) => {
      assert.equal(file.objects[i], w.name);
      sameAsH5py(file.example(i), w);
    });
    file.close();
  }
});

test("a dataset opened on an adopted MaNGA tree: get, take, getById and examples give IFU examples (the catalog row merged), equal to readMmuIfuExamples and to h5py", {
  skip: referenceSkip(["h5py", "numpy"]),
}, async () => {
  const tree = dirname(MANGA);
  const { indexRoot } = await adoptMmuTree(tree, { indexDir: tempDir("astropile-manga-idx-") });
  const ds = await openDataset(indexRoot);
  const n = ds.length;
  assert.ok(n >= 4);
  const all = Array.from({ length: n }, (_, i) => i);
  // h5py's groups of the rows, in the dataset's order (files by pixel, groups in file order).
  const catalog = await ds.select(["object_id", "mmu_file", "mmu_object"]).take(all);
  const files = [...new Set(catalog.map((r) => String(r.mmu_file)))];
  const groups = h5pyObjects(files.map((f) => join(tree, f)));
  const want = catalog.map(
    (r) => groups[files.indexOf(String(r.mmu_file))]![Number(r.mmu_object)]!,
  );
  const direct = await readMmuIfuExamples(ds, all);
  const ifuPart = (e: Example) => ({
    object_id: e.object_id,
    ra: e.ra,
    dec: e.dec,
    z: e.z,
    spaxel_size: e.spaxel_size,
    spaxels: e.spaxels,
    images: e.images,
    maps: e.maps,
    extra: e.extra,
  });
  const check = (got: Example, i: number, what: string) => {
    sameAsH5py(got as MmuIfuExample, want[i]!);
    assert.deepEqual(ifuPart(got), ifuPart(direct[i]!), `${what}: as readMmuIfuExamples`);
    // The catalog row is there too, with the dataset's provenance.
    assert.equal(got.mmu_file, catalog[i]!.mmu_file, what);
    assert.equal(got.mmu_object, catalog[i]!.mmu_object, what);
    assert.equal(got.healpix, want[i]!.healpix, what);
    assert.equal(got.provenance.adoptedFrom, tree, what);
  };
  for (const i of all) check(await ds.get(i), i, `get(${i})`);
  const reversed = [...all].reverse();
  for (const [k, ex] of (await ds.take(reversed)).entries())
    check(ex, reversed[k]!, `take, position ${k}`);
  for (const i of all)
    check(await ds.getById(want[i]!.object_id), i, `getById(${want[i]!.object_id})`);
  let k = 0;
  for await (const ex of ds.examples({ size: 2 })) check(ex, k++, `examples() #${k}`);
  assert.equal(k, n);
  // Any view without select: a cone keeps its rows' IFU data.
  const [ra, dec] = [want[0]!.ra, want[0]!.dec];
  const cone = ds.coneSearch(ra, dec, 1);
  assert.equal(await cone.count(), 1);
  check(await cone.get(0), 0, "cone");
  // select reads exactly the columns named: catalog rows, no IFU data read.
  const row = await ds.select(["object_id", "z"]).get(0);
  assert.deepEqual(Object.keys(row).sort(), ["object_id", "provenance", "z"]);
  const rows = await ds.select(["object_id", "mmu_file", "mmu_object"]).take([0]);
  assert.equal(rows[0]!.spaxels, undefined);
  ds.close();
  // Datasets the hook does not apply to: no extension (decided from the manifest).
  const adopted = await adoptMmuTree(join(dirname(tree), "desi"), {
    indexDir: tempDir("astropile-desi-idx-"),
  });
  const desi = await openDataset(adopted.indexRoot);
  const { source } = await desi.parentRows();
  assert.ok(desi.provenance.adoptedFrom, "an adopted tree too");
  assert.equal(source!.exampleExtension, null);
  assert.equal((await desi.get(0)).spaxels, undefined);
  desi.close();
});

test("a MaNGA group without its spaxels table: SchemaError naming the file and member", async () => {
  const path = join(BAD, "healpix=1000", "0001-of-0001.hdf5");
  const file = await MmuIfuFile.open(path);
  assert.throws(
    () => file.example(0),
    (e: Error & { code?: string; file?: string; column?: string }) =>
      e.code === "ASTROPILE_SCHEMA" && e.file === path && e.column === "8001-1901/spaxels",
  );
  file.close();
});
