// Safetensors (src/formats/safetensors.ts): examples round-trip, numpy reads the tensors by the
// format's own rules, and hostile headers are FormatErrors naming the source.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FormatError, isAstroPileError } from "../../src/core/errors.ts";
import {
  decodeExample,
  decodeSafetensors,
  EXAMPLE_METADATA_KEY,
  encodeExample,
  encodeSafetensors,
} from "../../src/formats/safetensors.ts";
import { referenceSkip, runPython } from "../helpers/python.ts";
import { tempDir } from "../helpers/tmp.ts";

const EXAMPLE = {
  object_id: 75338536735211586n,
  ra: 150.123456789,
  name: "HSC J100029",
  image: [
    {
      band: "hsc-g",
      flux: { data: Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1), shape: [3, 4] },
      mask: { data: Uint8Array.of(1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1), shape: [3, 4] },
    },
    { band: "hsc-r", flux: { data: new Float32Array(12).fill(Number.NaN), shape: [3, 4] } },
  ],
  spectrum: { flux: Float64Array.of(1.5, -2, 3e300), lambda: Int16Array.of(-3, 7, 30000) },
  bands: ["g", "r"],
  missing: null,
};
// A column may be called "__proto__": an own property like any other.
Object.defineProperty(EXAMPLE, "__proto__", { value: 3, enumerable: true });

test("an example round-trips: arrays keep dtype, shape and bits; the rest rides in the metadata", () => {
  const bytes = encodeExample(EXAMPLE, { dataset: "hsc" });
  const back = decodeExample(bytes) as typeof EXAMPLE;
  assert.equal(back.object_id, EXAMPLE.object_id);
  assert.equal(back.ra, EXAMPLE.ra);
  assert.equal(back.name, EXAMPLE.name);
  assert.deepEqual(back.bands, ["g", "r"]);
  assert.equal(back.missing, null);
  assert.equal(Object.getOwnPropertyDescriptor(back, "__proto__")?.value, 3);
  assert.deepEqual(back.image[0]!.flux, EXAMPLE.image[0]!.flux);
  assert.ok(back.image[0]!.flux.data instanceof Float32Array);
  assert.deepEqual(back.image[0]!.mask, EXAMPLE.image[0]!.mask);
  assert.ok(Number.isNaN(back.image[1]!.flux.data[5]));
  assert.deepEqual(back.spectrum.flux, EXAMPLE.spectrum.flux);
  assert.deepEqual(back.spectrum.lambda, EXAMPLE.spectrum.lambda);
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.equal(metadata.dataset, "hsc");
  assert.ok(metadata[EXAMPLE_METADATA_KEY]);
  assert.deepEqual(tensors["image.0.flux"]!.shape, [3, 4]);
  assert.equal(tensors["image.0.flux"]!.dtype, "F32");
  assert.equal(tensors.object_id!.dtype, "I64");
  assert.equal(tensors["spectrum.lambda"]!.dtype, "I16");
  // Tensors start 8-byte aligned, as the Python writer lays them out.
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + headerLength) % 8, 0);
});

test("numpy reads the tensors by the format's rules (header length, JSON, little-endian offsets)", {
  skip: referenceSkip(["numpy"]),
}, () => {
  const path = join(tempDir(), "example.safetensors");
  writeFileSync(path, encodeExample(EXAMPLE));
  const out = runPython(
    `
import json, struct, sys
import numpy as np
raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
kinds = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I16": "<i2", "U8": "u1"}
res = {}
for name, t in header.items():
    if name == "__metadata__":
        continue
    a, b = t["data_offsets"]
    v = np.frombuffer(data[a:b], dtype=kinds[t["dtype"]]).reshape(t["shape"])
    res[name] = {"shape": list(v.shape), "values": [None if x != x else str(x) if t["dtype"] == "I64" else float(x) for x in v.ravel().tolist()]}
print(json.dumps(res))
`,
    [path],
  );
  const got = JSON.parse(out) as Record<string, { shape: number[]; values: unknown[] }>;
  assert.deepEqual(got["image.0.flux"]!.shape, [3, 4]);
  assert.deepEqual(got["image.0.flux"]!.values, Array.from(EXAMPLE.image[0]!.flux.data));
  assert.deepEqual(got["image.1.flux"]!.values, new Array(12).fill(null));
  assert.deepEqual(got["spectrum.flux"]!.values, [1.5, -2, 3e300]);
  assert.deepEqual(got["spectrum.lambda"]!.values, [-3, 7, 30000]);
  assert.deepEqual(got.object_id, { shape: [], values: ["75338536735211586"] });
  assert.deepEqual(got.ra!.values, [EXAMPLE.ra]);
});

/** Bytes with `header` (JSON text, unpadded) and `data`. */
function raw(header: string, data = new Uint8Array(0), claimed?: bigint): Uint8Array {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, claimed ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

test("hostile safetensors bytes are FormatErrors naming the source and the tensor", () => {
  const eight = new Uint8Array(8);
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ["too short", new Uint8Array(5), /too short/],
    ["header length past the end", raw("{}", eight, 1n << 62n), /past the end/],
    ["header not JSON", raw("{nope", eight), /not JSON/],
    ["header an array", raw("[]"), /not a JSON object/],
    [
      "unknown dtype",
      raw('{"x":{"dtype":"F8","shape":[1],"data_offsets":[0,8]}}', eight),
      /"x".*|dtype/,
    ],
    [
      "negative shape",
      raw('{"x":{"dtype":"F64","shape":[-1],"data_offsets":[0,8]}}', eight),
      /shape/,
    ],
    [
      "shape and bytes disagree",
      raw('{"x":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}', eight),
      /needs 16 bytes/,
    ],
    [
      "range past the data",
      raw('{"x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}', eight),
      /not a range/,
    ],
    [
      "overlapping tensors",
      raw(
        '{"x":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"y":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}',
        eight,
      ),
      /overlaps/,
    ],
    ["a hole", raw('{"x":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}', eight), /unused/],
    ["metadata not strings", raw('{"__metadata__":{"a":1}}'), /not a string/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(
      () => decodeSafetensors(bytes, "answer.safetensors"),
      (err: unknown) => {
        assert.ok(err instanceof FormatError, `${what}: ${err}`);
        assert.ok(isAstroPileError(err, "ASTROPILE_FORMAT"), what);
        assert.match((err as Error).message, message, what);
        assert.match((err as Error).message, /answer\.safetensors/, what);
        return true;
      },
      what,
    );
  }
  // Valid safetensors that are not an example.
  const plain = encodeSafetensors({ x: { dtype: "F32", shape: [2], data: Float32Array.of(1, 2) } });
  assert.deepEqual(decodeSafetensors(plain).tensors.x!.data, Float32Array.of(1, 2));
  assert.throws(() => decodeExample(plain, "plain.safetensors"), /not an example.*plain/);
  // A tensor whose values do not fill its shape is refused when writing, too.
  assert.throws(
    () => encodeSafetensors({ x: { dtype: "F32", shape: [3], data: Float32Array.of(1, 2) } }),
    FormatError,
  );
});
