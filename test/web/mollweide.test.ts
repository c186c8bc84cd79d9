// The coverage map's projection against healpy's MollweideProj (centred on RA 180°, RA to the
// left: flipconv "astro"). healpy's plane is ours scaled by 1/√2 (x ∈ [-2, 2], y ∈ [-1, 1]).
// healpy stops its Newton iteration for the auxiliary angle early: its plane points are off by up
// to ~1e-4 at |Dec| 72° and by 1e-3 near the poles (ours converge to 1e-13; checked by bisection
// at Dec -33.3°). So the forward check stays within |Dec| <= 75° at 2e-4 (0.05 px on the map), and
// the inverses are compared on healpy's own plane points, where both are exact formulas.
import assert from "node:assert/strict";
import { test } from "node:test";
import { mollweideForward, mollweideInverse } from "../../src/web/mollweide.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";

const POINTS: Array<[number, number]> = [];
for (let ra = 0.7; ra < 360; ra += 37.3) {
  for (const dec of [-75, -60, -33.3, -5.1, 0, 0.01, 17, 45, 72.5]) POINTS.push([ra, dec]);
}
POINTS.push([180, 0], [179.999, 10], [0.001, -20], [359.999, 20]);

test("mollweideForward and mollweideInverse agree with healpy's MollweideProj", {
  skip: referenceSkip(["healpy"]),
}, () => {
  const out = runPython(
    `
import json, math, sys, healpy as hp
p = hp.projector.MollweideProj(rot=(180, 0, 0), flipconv="astro")
pts = json.loads(sys.stdin.read())
num = lambda v: None if math.isnan(v) else float(v)
xy = [list(map(num, p.ang2xy(ra, dec, lonlat=True))) for ra, dec in pts]
back = [list(map(num, p.xy2ang(x, y, lonlat=True))) for x, y in xy]
print(json.dumps({"xy": xy, "back": back}))
`,
    [],
    JSON.stringify(POINTS),
  );
  const ref = JSON.parse(out) as { xy: number[][]; back: Array<Array<number | null>> };
  POINTS.forEach(([ra, dec], i) => {
    const p = mollweideForward(ra, dec);
    const [hx, hy] = ref.xy[i]!;
    assert.ok(
      Math.abs(p.x / Math.SQRT2 - hx!) < 2e-4,
      `x of (${ra}, ${dec}): ${p.x / Math.SQRT2} vs ${hx}`,
    );
    assert.ok(
      Math.abs(p.y / Math.SQRT2 - hy!) < 2e-4,
      `y of (${ra}, ${dec}): ${p.y / Math.SQRT2} vs ${hy}`,
    );
    // Back to the sky from healpy's own plane point: same direction as healpy's inverse.
    const q = mollweideInverse(hx! * Math.SQRT2, hy! * Math.SQRT2);
    assert.ok(q, `(${ra}, ${dec}) maps inside the ellipse`);
    // healpy answers NaN on the rim of the ellipse (|x| at its limit): compare elsewhere.
    const [hra, hdec] = ref.back[i]!;
    if (hra === null || hdec === null) return;
    assert.ok(Math.abs(q.dec - hdec) < 1e-9, `dec of (${ra}, ${dec}): ${q.dec} vs ${hdec}`);
    if (Math.abs(dec) < 89) {
      const dra = Math.abs(((q.ra - ((hra + 360) % 360) + 540) % 360) - 180);
      assert.ok(dra < 1e-9, `ra of (${ra}, ${dec}): ${q.ra} vs ${hra}`);
    }
  });
});

test("mollweideInverse undoes mollweideForward", () => {
  for (const [ra, dec] of POINTS) {
    const p = mollweideForward(ra, dec);
    const q = mollweideInverse(p.x, p.y)!;
    assert.ok(Math.abs(q.dec - dec) < 1e-9, `dec of (${ra}, ${dec}): ${q.dec}`);
    assert.ok(Math.abs(((q.ra - ra + 540) % 360) - 180) < 1e-9, `ra of (${ra}, ${dec}): ${q.ra}`);
  }
});

test("mollweideInverse refuses points outside the ellipse", () => {
  assert.equal(mollweideInverse(2.9, 0), null);
  assert.equal(mollweideInverse(0, 1.5), null);
  assert.equal(mollweideInverse(2.7, 0.8), null);
  assert.ok(mollweideInverse(2.8, 0));
});
