// MaNGA files of a Multimodal Universe tree (one group per object, compound tables with array
// members; fixture by scripts/make_mmu_fixtures.py): IFU examples equal to what h5py reads.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { MmuIfuFile } from "../../src/interop/mmu-ifu.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";

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

test("MaNGA groups read as IFU examples equal h5py's values", {
  skip: referenceSkip(["h5py", "numpy"]),
}, async () => {
  const pixels = readdirSync(MANGA);
  assert.ok(pixels.length >= 2);
  for (const pixel of pixels) {
    const path = join(MANGA, pixel, "0001-of-0001.hdf5");
    const want = JSON.parse(
      runPython(
        `
import json, sys, h5py, numpy as np
out = []
def s(v):
    v = v.item() if hasattr(v, "item") else v
    return v.decode() if isinstance(v, bytes) else v
with h5py.File(sys.argv[1], "r") as f:
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
print(json.dumps(out))
`,
        [path],
      ),
    ) as H5pyObject[];
    const file = await MmuIfuFile.open(path);
    assert.equal(file.length, want.length);
    assert.equal(file.provenance.survey, "MaNGA");
    want.forEach((w, i) => {
      const ex = file.example(i);
      assert.equal(file.objects[i], w.name);
      assert.equal(ex.object_id, w.object_id);
      assert.equal(ex.ra, w.ra);
      assert.equal(ex.dec, w.dec);
      assert.equal(ex.z, Math.fround(w.z));
      assert.equal(Number(ex.extra.healpix), w.healpix);
      assert.equal(ex.spaxels.length, w.spaxels.length);
      ex.spaxels.forEach((s, k) => {
        const e = w.spaxels[k];
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
        assert.deepEqual(num(m.data.data), w.images[k].data);
        assert.deepEqual(m.data.shape, [4, 4]);
        assert.deepEqual(num((m.extra.image_psf as { data: Float32Array }).data), w.images[k].psf);
        assert.equal(m.extra.image_scale, w.images[k].scale);
      });
      ex.maps.forEach((m, k) => {
        assert.equal(m.label, w.maps[k].label);
        assert.deepEqual(num(m.data.data), w.maps[k].data);
        assert.deepEqual(num(m.ivar!.data), w.maps[k].ivar);
        assert.deepEqual(num(m.mask!.data), w.maps[k].mask);
      });
    });
    file.close();
  }
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
