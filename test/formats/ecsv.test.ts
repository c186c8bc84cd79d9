// ECSV: astropy-written files (every dtype, units, descriptions, multidimensional and masked
// columns, table meta), writer round trips, the header YAML, and refused headers.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import type { ColumnBatch, ColumnSpec } from "../../src/core/columns.ts";
import { FormatError, MemoryBudgetError, UsageError } from "../../src/core/errors.ts";
import type { TextTableBatch } from "../../src/formats/csv.ts";
import { openEcsv, parseEcsvHeader, writeEcsv } from "../../src/formats/ecsv.ts";
import { tempDir } from "../helpers/tmp.ts";
import { assertValues, type ExpectedValue, fixture, loadExpected } from "./expected.ts";

const dir = tempDir("astropile-ecsv-");

interface ColumnExpected {
  dtype: string;
  shape: number[];
  values: ExpectedValue[];
  nulls?: number[];
  unit?: string;
  description?: string;
}

const expected = loadExpected<{
  meta: Record<string, unknown>;
  columns: Record<string, ColumnExpected>;
}>("all_types.ecsv.expected.json");

async function readAll(path: string, batchSize = 1000) {
  const reader = await openEcsv(path);
  const batches: TextTableBatch[] = [];
  for await (const b of reader.batches(batchSize)) batches.push(b);
  return { reader, batches };
}

function values(batches: TextTableBatch[], name: string): unknown[] {
  return batches.flatMap((b) => Array.from(b.columns[name] as ArrayLike<unknown>));
}

function nulls(batches: TextTableBatch[], name: string, per: number): number[] {
  return batches.flatMap((b) => [...(b.nulls[name] ?? new Uint8Array(b.rows * per))]);
}

describe("ECSV reader", () => {
  for (const file of ["all_types.ecsv", "all_types_comma.ecsv"]) {
    test(`${file} (written by astropy) reads as astropy reads it`, async () => {
      for (const size of [1, 3, 1000]) {
        const { reader, batches } = await readAll(fixture(file), size);
        assert.deepEqual(reader.meta, expected.meta);
        assert.deepEqual(
          reader.specs.map((s) => s.name),
          Object.keys(expected.columns),
        );
        for (const spec of reader.specs) {
          const e = expected.columns[spec.name];
          assert.equal(spec.dtype, e.dtype, spec.name);
          assert.deepEqual(spec.shape, e.shape, spec.name);
          assert.equal(spec.unit, e.unit, `${spec.name} unit`);
          assert.equal(spec.description, e.description, `${spec.name} description`);
          const per = e.shape.reduce((a, b) => a * b, 1);
          assert.deepEqual(
            nulls(batches, spec.name, per),
            e.nulls ?? e.values.map(() => 0),
            `${spec.name} nulls`,
          );
          assertValues(
            values(batches, spec.name) as never,
            e.values,
            `${file} ${spec.name} (batches of ${size})`,
            e.nulls,
          );
        }
      }
    });
  }

  test("writer → reader round trip keeps dtypes, shapes, units, descriptions, meta and nulls", async () => {
    const { reader, batches } = await readAll(fixture("all_types.ecsv"));
    for (const delimiter of [" ", ","] as const) {
      const path = join(dir, `round${delimiter === "," ? "_comma" : ""}.ecsv`);
      await writeEcsv(path, reader.specs, batches, {
        delimiter,
        meta: reader.meta,
        columns: { f64: { format: "%.6f", meta: { ucd: "pos.eq.ra" } } },
      });
      const again = await readAll(path, 2);
      assert.deepEqual(again.reader.specs, reader.specs);
      assert.deepEqual(again.reader.meta, reader.meta);
      const f64 = again.reader.header.columns.find((c) => c.name === "f64");
      assert.equal(f64?.format, "%.6f");
      assert.deepEqual(f64?.meta, { ucd: "pos.eq.ra" });
      for (const spec of reader.specs) {
        const per = spec.shape.reduce((a, b) => a * b, 1);
        const mask = nulls(batches, spec.name, per);
        assert.deepEqual(nulls(again.batches, spec.name, per), mask, spec.name);
        const want = values(batches, spec.name);
        values(again.batches, spec.name).forEach((v, i) => {
          if (!mask[i])
            assert.ok(
              Object.is(v, want[i]),
              `${spec.name}[${i}]: ${String(v)} vs ${String(want[i])}`,
            );
        });
      }
    }
  });

  test("writer: meta objects used twice are written twice; values YAML cannot hold are refused", async () => {
    const specs: ColumnSpec[] = [{ name: "a", dtype: "int8", shape: [] }];
    const bands = ["g", "r"];
    const path = join(dir, "shared.ecsv");
    await writeEcsv(path, specs, [], { meta: { x: bands, y: { bands }, "<<": "not a merge key" } });
    const { reader } = await readAll(path);
    assert.deepEqual(reader.meta, { x: bands, y: { bands }, "<<": "not a merge key" });
    await assert.rejects(
      writeEcsv(join(dir, "fn.ecsv"), specs, [], { meta: { f: () => 1 } }),
      (e: Error) => e instanceof UsageError && e.message.includes("fn.ecsv"),
    );
  });

  test("strings that need quoting, and names with spaces", async () => {
    const specs: ColumnSpec[] = [
      { name: "col with space", dtype: "string", shape: [] },
      { name: "arr", dtype: "string", shape: [2] },
      { name: "b", dtype: "bool", shape: [2, 2] },
    ];
    const batch: ColumnBatch = {
      "col with space": ["#hash", 'q"uote', " lead", "tab\there"],
      arr: ["a b", "c,d", '"', "\\", "", "x", "[", "]"],
      b: Uint8Array.from({ length: 16 }, (_, i) => (i % 3 === 0 ? 1 : 0)),
    };
    const path = join(dir, "quoting.ecsv");
    await writeEcsv(path, specs, [{ startRow: 0, rows: 4, columns: batch, nulls: {} }]);
    const { batches } = await readAll(path);
    assert.deepEqual(values(batches, "col with space"), batch["col with space"]);
    assert.deepEqual(values(batches, "arr"), batch.arr);
    assert.deepEqual(values(batches, "b"), [...(batch.b as Uint8Array)]);
  });

  test("refused: bad version, no datatype, variable-length and object columns, tags, bad values", async () => {
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const head = "# %ECSV 1.0\n# ---\n";
    const cases: [string, string, RegExp][] = [
      ["version.ecsv", "# %ECSV 2.0\n# ---\n# datatype: []\n", /version 2.0/],
      ["notecsv.ecsv", "a b\n1 2\n", /not an ECSV file/],
      ["nodatatype.ecsv", `${head}# meta: {a: 1}\na\n1\n`, /no datatype/],
      [
        "vla.ecsv",
        `${head}# datatype:\n# - {name: a, datatype: string, subtype: 'int64[null]'}\na\n[1]\n`,
        /variable-length/,
      ],
      [
        "json.ecsv",
        `${head}# datatype:\n# - {name: a, datatype: string, subtype: json}\na\n{}\n`,
        /subtype 'json'/,
      ],
      [
        "complex.ecsv",
        `${head}# datatype:\n# - {name: a, datatype: complex128}\na\n1\n`,
        /complex128 is not supported/,
      ],
      [
        "tag.ecsv",
        `${head}# datatype:\n# - {name: a, datatype: int64}\n# meta: !!python/object:os.system {}\na\n1\n`,
        /tag !!python/,
      ],
      ["alias.ecsv", `${head}# datatype:\n# - &x {name: a, datatype: int64}\na\n1\n`, /anchors/],
      [
        "deep.ecsv",
        `${head}# datatype:\n# - {name: a, datatype: int64}\n# meta: ${"[".repeat(100_000)}\na\n1\n`,
        /nested deeper than 100 levels \(file .*line 5\)/,
      ],
      [
        "mixin.ecsv",
        `${head}# datatype:\n# - {name: a, datatype: int64}\n# meta:\n#   __serialized_columns__:\n#     c: !astropy.table.SerializedColumn {}\na\n1\n`,
        /not supported/,
      ],
    ];
    for (const [name, text, re] of cases) {
      const path = write(name, text);
      await assert.rejects(
        readAll(path),
        (e: Error) => e instanceof FormatError && re.test(e.message) && e.message.includes(path),
        name,
      );
    }
    const badValue = write(
      "bad.ecsv",
      `${head}# datatype:\n# - {name: a, datatype: int8}\na\n1\n300\n`,
    );
    await assert.rejects(
      readAll(badValue),
      (e: Error) =>
        e instanceof FormatError && /line 7/.test(e.message) && e.message.includes('column "a"'),
    );
    const badShape = write(
      "shape.ecsv",
      `${head}# datatype:\n# - {name: a, datatype: string, subtype: 'float64[2]'}\na\n[1,2,3]\n`,
    );
    await assert.rejects(readAll(badShape), /not a float64\[2\] value/);
    const names = write("names.ecsv", `${head}# datatype:\n# - {name: a, datatype: int8}\nb\n1\n`);
    await assert.rejects(readAll(names), /do not match/);
  });
});

/** The lines of an ECSV header holding `yaml` (one '# ' line per YAML line). */
function headerLines(yaml: string): string[] {
  return ["# %ECSV 1.0", ...yaml.split("\n").map((l) => `# ${l}`)];
}

describe("ECSV header YAML", () => {
  test("what PyYAML writes: flow and block styles, folding, omap, quoting, resolution", () => {
    const text = [
      "---",
      "datatype:",
      "- {name: a, unit: m / s, datatype: float64, format: '%.3f', description: 'it''s: long",
      "",
      "    and folded'}",
      "- name: b",
      "  datatype: string",
      "  subtype: 'float64[2,3]'",
      "meta: !!omap",
      "- {k: v}",
      "- n:",
      "    a: [1, 2.5, .inf, -.inf, ~, yes, No, '1', 1e5, 0.5e-3, 1.0e+3]",
      '    b: "esc\\"aped\\n\\u00e9"',
      "    c: plain text that",
      "      continues here",
      "    'yes': 'no'",
      "    s:",
      "    - a",
      "    - - b",
      "      - c",
      "    -",
      "    - {x: [1, {y: 2}]}",
      "    block: |",
      "      kept",
      "      lines",
      "schema: astropy-2.0",
    ].join("\n");
    const header = parseEcsvHeader(headerLines(text), "h.ecsv");
    assert.deepEqual(header.columns, [
      {
        name: "a",
        unit: "m / s",
        datatype: "float64",
        format: "%.3f",
        description: "it's: long\nand folded",
      },
      { name: "b", datatype: "string", subtype: "float64[2,3]" },
    ]);
    assert.deepEqual(header.meta, {
      k: "v",
      n: {
        a: [
          1,
          2.5,
          Number.POSITIVE_INFINITY,
          Number.NEGATIVE_INFINITY,
          null,
          true,
          false,
          "1",
          "1e5",
          0.0005,
          1000,
        ],
        b: 'esc"aped\né',
        c: "plain text that continues here",
        yes: "no",
        s: ["a", ["b", "c"], null, { x: [1, { y: 2 }] }],
        block: "kept\nlines\n",
      },
    });
    assert.equal(header.schema, "astropy-2.0");
  });

  test("anything unsafe or malformed is refused with the file and line", () => {
    const deepFlow = `meta: ${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const deepBlock = `meta:\n${"- ".repeat(100_000)}x`;
    for (const [text, re, line] of [
      ["datatype: []\na: &anchor 1", /anchors/, 3],
      ["datatype: []\na: *alias", /anchors/, 3],
      ["datatype: []\na: !foo 1", /tag !foo/, 3],
      ["datatype: []\nmeta: {b: 1", /end with a \}/, 3],
      ["datatype: []\na: 1\na: 2", /duplicate key "a"/, 4],
      ["datatype: []\na: 'open", /Missing closing 'quote/, 3],
      ["datatype: []\n[a, b]: 1", /only scalar mapping keys/, 3],
      ["%TAG !! tag:example.com,2000:\n---\ndatatype: []", /directives/, 2],
      [`datatype: []\n${deepFlow}`, /nested deeper than 100 levels/, 3],
      [`datatype: []\n${deepBlock}`, /nested deeper than 100 levels/, 4],
      [`datatype: []\nmeta: '${"x".repeat(5 << 20)}'`, /longer than 4194304 characters/, 3],
    ] as const) {
      assert.throws(
        () => parseEcsvHeader(headerLines(text), "h.ecsv"),
        (e: Error) =>
          e instanceof FormatError &&
          re.test(e.message) &&
          e.message.includes("h.ecsv") &&
          e.message.includes(`line ${line}`),
        text.slice(0, 60),
      );
    }
  });
});

test("huge array subtypes are refused on open, naming the file and the column, before allocating", async () => {
  const dir = tempDir("astropile-ecsv-huge-");
  const head = "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: id, datatype: int64}\n";
  // More values per row than any field can hold: a FormatError, whatever the budget.
  const impossible = join(dir, "impossible.ecsv");
  writeFileSync(
    impossible,
    `${head}# - {name: flux, datatype: string, subtype: 'float64[1000000,1000000]'}\nid flux\n1 ""\n`,
  );
  await assert.rejects(readAll(impossible), (e: Error) => {
    assert.ok(e instanceof FormatError, String(e));
    assert.match(e.message, /declares 1000000000000 values per row/);
    assert.ok(e.message.includes(impossible) && e.message.includes('column "flux"'), e.message);
    return true;
  });
  // A row that fits a field but not the memory cap: a MemoryBudgetError naming the bytes.
  const big = join(dir, "big.ecsv");
  writeFileSync(
    big,
    `${head}# - {name: cube, datatype: string, subtype: 'float32[4096,4096]'}\nid cube\n1 ""\n2 ""\n3 ""\n`,
  );
  await assert.rejects(openEcsv(big, { maxBytes: 32 * 2 ** 20 }), (e: Error) => {
    assert.ok(e instanceof MemoryBudgetError, String(e));
    assert.ok(e.message.includes(big) && e.message.includes('column "cube"'), e.message);
    assert.match(e.message, /67108864 bytes/);
    return true;
  });
  // Within the cap, batches hold what fits: 80 MiB rows (values and null masks), one a batch.
  const reader = await openEcsv(big, { maxBytes: 100 * 2 ** 20 });
  const sizes: number[] = [];
  for await (const b of reader.batches()) sizes.push(b.rows);
  assert.deepEqual(sizes, [1, 1, 1]);
});

test("a tab inside an unquoted value is part of it, as astropy writes and reads it; rows split on spaces only", async () => {
  // The bytes astropy 5.2 writes for Table({"a": [1, 2], "s": ["tab\tx", "y"]}).write(fmt="ascii.ecsv").
  const path = join(dir, "tabs.ecsv");
  writeFileSync(
    path,
    [
      "# %ECSV 1.0",
      "# ---",
      "# datatype:",
      "# - {name: a, datatype: int64}",
      "# - {name: s, datatype: string}",
      "# schema: astropy-2.0",
      "a s",
      "1 tab\tx",
      "2 y",
      "",
    ].join("\n"),
  );
  const { batches } = await readAll(path);
  assert.deepEqual(values(batches, "s"), ["tab\tx", "y"]);
  assert.deepEqual(values(batches, "a"), [1n, 2n]);
});
