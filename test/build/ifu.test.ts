// The IFU builder on the synthetic MaNGA-like cubes: cubes stored [y, x, λ] exactly as the FITS
// cubes hold them ([λ, y, x]), masks, maps, and a missing cube rejected with its reason.
import assert from "node:assert/strict";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { build } from "../../src/build/index.ts";
import { builtinSpec } from "../../src/demo/index.ts";
import { openFits } from "../../src/formats/index.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { IFU_PIXELS } from "../../src/synth/ifu.ts";
import { generateSurveys, type SynthResult } from "../../src/synth/index.ts";
import { tempDir } from "../helpers/tmp.ts";
import { SEED } from "../synth/fixture.ts";
import { readAll } from "./helpers.ts";

const srcDir = tempDir();
const out = tempDir();
const out2 = tempDir();
let sky: SynthResult;

before(async () => {
  sky = await generateSurveys({ dir: srcDir, size: "tiny", seed: SEED, surveys: ["manga"] });
  await build(builtinSpec("manga", join(srcDir, "manga")), { out, workers: 1 });
});

describe("IFU builder (per-object cubes and maps)", () => {
  test("cubes, wavelengths, masks and maps equal the source files", async () => {
    const manga = sky.manga!;
    const { rows, columns } = await readAll(out, "dr17_synthetic");
    assert.equal(rows, manga.cubes.length);
    const n = 11;
    const L = IFU_PIXELS;
    for (let i = 0; i < rows; i++) {
      const plateifu = (columns.plateifu as string[])[i];
      const c = manga.plateifu.indexOf(plateifu);
      const f = await openFits(manga.cubes[c]);
      const flux = (await f.hdu("FLUX").readImage()).data;
      const ivar = (await f.hdu("IVAR").readImage()).data;
      const mask = (await f.hdu("MASK").readImage()).data;
      const wave = (await f.hdu("WAVE").readImage()).data;
      await f.close();
      for (let y = 0; y < n; y++)
        for (let x = 0; x < n; x++)
          for (let k = 0; k < L; k += 97) {
            const stored = i * n * n * L + (y * n + x) * L + k;
            const fits = k * n * n + y * n + x;
            assert.equal((columns.ifu_flux as Float32Array)[stored], flux[fits]);
            assert.equal((columns.ifu_ivar as Float32Array)[stored], ivar[fits]);
            assert.equal(
              (columns.ifu_mask as Uint8Array)[stored],
              mask[fits] !== 0 || ivar[fits] === 0 ? 1 : 0,
            );
          }
      // The corners lie outside the fibre bundle: masked at every wavelength.
      for (let k = 0; k < L; k++)
        assert.equal((columns.ifu_mask as Uint8Array)[i * n * n * L + k], 1);
      for (let k = 0; k < L; k += 101)
        assert.equal((columns.ifu_lambda as Float32Array)[i * L + k], Math.fround(Number(wave[k])));
      assert.equal((columns.spaxel_size as Float32Array)[i], 0.5);
      const m = await openFits(manga.maps[c]);
      const vel = (await m.hdu("STELLAR_VEL").readImage()).data;
      await m.close();
      const stored = (columns.ifu_map_stellar_vel as Float32Array).subarray(
        i * n * n,
        (i + 1) * n * n,
      );
      assert.deepEqual(Array.from(stored), Array.from(vel as Float32Array));
      // A rotating disc: the velocity field changes sign across the centre.
      assert.ok(Math.min(...stored) < 0 && Math.max(...stored) > 0);
    }
    assert.deepEqual(await verifyDataset(out, { checksums: true }), []);
  });

  test("a missing cube file rejects its row with the reason; the others are built", async () => {
    const copy = join(srcDir, "manga-copy");
    cpSync(join(srcDir, "manga"), copy, { recursive: true });
    rmSync(join(copy, "cubes", `manga-${sky.manga!.plateifu[0]}-LOGCUBE.fits`));
    const r = await build(builtinSpec("manga", copy), { out: out2, workers: 1 });
    assert.equal(r.report.rejected.count, 1);
    assert.match(
      r.report.rejected.sample[0].reason,
      /cube file cubes\/manga-.*-LOGCUBE\.fits does not exist/,
    );
    assert.equal(r.report.rows, sky.manga!.cubes.length - 1);
  });
});
