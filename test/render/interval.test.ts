// Percentiles and intervals against numpy's percentile and astropy's intervals (fixtures from
// scripts/make_render_fixtures.py).
import assert from "node:assert/strict";
import { test } from "node:test";
import { isAstroPileError } from "../../src/core/errors.ts";
import {
  asymmetricPercentileInterval,
  manualInterval,
  percentileInterval,
  percentiles,
} from "../../src/render/index.ts";
import { readFixture, toNumbers, typed } from "./fixtures.ts";

interface PercentileFixture {
  cases: Array<{ dtype: string; values: number[]; percentiles: number[]; expected: number[] }>;
  interval: {
    dtype: string;
    values: Array<number | string>;
    intervals: Array<{
      kind: string;
      lower?: number;
      upper?: number;
      percentile?: number;
      expected: number[];
    }>;
  };
}

const fx = readFixture<PercentileFixture>("percentile.json");

test("percentiles equal numpy.percentile bit for bit (float32 and float64, ties, n = 1..1001)", () => {
  assert.ok(fx.cases.length >= 14, "fixture cases");
  for (const c of fx.cases) {
    const values = typed(c.dtype, c.values);
    const got = percentiles(values, c.percentiles);
    assert.deepEqual(got, toNumbers(c.expected), `${c.dtype} n=${values.length}`);
  }
});

test("the float32 rule matters: a float64 copy of float32 data gives numpy's float64 answer, not its float32 one", () => {
  // The same values as float64 differ from numpy's float32 percentile somewhere, or the
  // Math.fround in the interpolation would be untested.
  let differ = 0;
  for (const c of fx.cases.filter((k) => k.dtype === "float32")) {
    const got = percentiles(Float64Array.from(typed("float32", c.values)), c.percentiles);
    got.forEach((v, i) => {
      if (v !== toNumbers(c.expected)[i]) differ++;
    });
  }
  assert.ok(differ > 0, "float32 rule exercised");
});

test("astropy's AsymmetricPercentileInterval and PercentileInterval, NaN and Inf ignored", () => {
  const values = typed(fx.interval.dtype, fx.interval.values);
  for (const iv of fx.interval.intervals) {
    const got =
      iv.kind === "asymmetric"
        ? asymmetricPercentileInterval(values, iv.lower!, iv.upper!)
        : percentileInterval(values, iv.percentile!);
    assert.deepEqual([got.vmin, got.vmax], toNumbers(iv.expected), JSON.stringify(iv));
  }
});

test("masked pixels are left out of the interval, in either mask meaning", () => {
  const values = Float64Array.of(1, 2, 3, 4, 100, Number.NaN);
  const good = Uint8Array.of(1, 1, 1, 1, 0, 1);
  assert.deepEqual(asymmetricPercentileInterval(values, 0, 100, { mask: good }), {
    vmin: 1,
    vmax: 4,
  });
  const bad = good.map((g) => 1 - g);
  assert.deepEqual(
    asymmetricPercentileInterval(values, 0, 100, { mask: bad, maskMeaning: "bad" }),
    {
      vmin: 1,
      vmax: 4,
    },
  );
  // numpy: np.percentile([1, 2, 3, 4], 50) == 2.5
  assert.deepEqual(percentiles(values, [50], { mask: good }), [2.5]);
});

test("manualInterval: given limits as they are, missing ones from the finite values", () => {
  const values = [3, Number.NaN, -2, Number.POSITIVE_INFINITY, 7];
  assert.deepEqual(manualInterval(values, -1, 5), { vmin: -1, vmax: 5 });
  assert.deepEqual(manualInterval(values), { vmin: -2, vmax: 7 });
  assert.deepEqual(manualInterval(values, 0), { vmin: 0, vmax: 7 });
});

test("percentiles of a large array: quickselect agrees with a full sort, adversarial orders included", () => {
  const n = 100_003;
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = Math.round(Math.sin(i * 12.9898) * 1e4) / 7;
  sorted.sort();
  const orders: Float64Array[] = [
    sorted.slice(),
    sorted.slice().reverse(),
    Float64Array.from({ length: n }, (_, i) =>
      i % 2 ? sorted[i >> 1]! : sorted[n - 1 - (i >> 1)]!,
    ),
    new Float64Array(n).fill(5),
  ];
  for (const values of orders) {
    const ref = values.slice().sort();
    for (const p of [0, 0.1, 1, 50, 99.5, 100]) {
      const v = (n - 1) * (p / 100);
      const lo = Math.floor(v);
      const hi = Math.min(lo + 1, n - 1);
      const g = v - lo;
      const d = ref[hi]! - ref[lo]!;
      const want = g >= 0.5 ? ref[hi]! - d * (1 - g) : ref[lo]! + d * g;
      assert.equal(percentiles(values, [p])[0], want, `p=${p}`);
    }
  }
});

test("bad percentiles and masks are refused with the parameter named", () => {
  const values = [1, 2, 3];
  const check = (fn: () => unknown, parameter: string) =>
    assert.throws(
      fn,
      (e: unknown) =>
        isAstroPileError(e, "ASTROPILE_USAGE") &&
        (e as { parameter?: string }).parameter === parameter,
    );
  check(() => asymmetricPercentileInterval(values, -1, 99), "pmin");
  check(() => asymmetricPercentileInterval(values, 1, 101), "pmax");
  check(() => asymmetricPercentileInterval(values, 60, 40), "pmin");
  check(() => asymmetricPercentileInterval(values, Number.NaN, 40), "pmin");
  check(() => percentileInterval(values, 120), "percentile");
  check(() => percentiles(values, [50], { mask: [1, 1] }), "mask");
  check(() => manualInterval(values, Number.NaN, 1), "vmin");
  assert.deepEqual(percentiles([Number.NaN, Number.POSITIVE_INFINITY], [50]), [Number.NaN]);
});
