// Fuzz family "specs": builder specs edited at random (absurd sizes, wrong types, hostile names
// and paths, modalities with huge stamps or spectra) over a small CSV catalog (some of whose rows
// are absurd), checked by checkSpec and, when accepted, built for real within a 64 MiB budget.
//
// Oracle: checkSpec and build give a SpecError / another AstroPileError, or a dataset that
// verifies clean, whose rows are rows of the catalog with their values unchanged (ra, dec,
// object_id, mag), whose rows kept plus rows rejected are the rows read, and no stored position
// outside the sky. Memory is bounded by the harness (a spec's sizes are checked before
// allocating).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build, checkSpec } from "../../src/build/index.ts";
import { hscSpec } from "../../src/demo/index.ts";
import { verifyDataset } from "../../src/storage/verify.ts";
import { readAll } from "../build/helpers.ts";
import { type Family, FuzzFailure, typedOrValue } from "./family.ts";
import type { Rng } from "./rng.ts";

// biome-ignore lint/suspicious/noExplicitAny: specs are edited as untyped JSON on purpose
type Json = any;

const ROWS = 40;
let src: string;
/** object_id -> "ra dec mag" of the catalog. */
const byId = new Map<string, string>();

function catalogCsv(): string {
  const lines = ["id,ra,dec,mag,flag,name"];
  for (let i = 0; i < ROWS; i++) {
    let ra = String(150 + i * 0.013);
    let dec = String(2 + i * 0.011);
    if (i === 7) ra = "1e308";
    if (i === 8) dec = "-91";
    if (i === 9) ra = "nan";
    const mag = String(18 + i / 8);
    lines.push(`${1000 + i},${ra},${dec},${mag},${i % 2 ? "True" : "False"},n${i}`);
    byId.set(String(1000 + i), `${Number(ra)} ${Number(dec)} ${Math.fround(Number(mag))}`);
  }
  return `${lines.join("\n")}\n`;
}

function cleanSpec(): Json {
  return {
    name: "fz",
    config: "fz",
    provenance: { survey: "FZ" },
    catalog: {
      files: "cat/*.csv",
      columns: {
        object_id: { from: "id", dtype: "int64" },
        ra: "ra",
        dec: "dec",
        mag: { from: "mag", dtype: "float32" },
        flag: "flag",
        name: { from: "name", dtype: "string", stringLength: 8 },
      },
    },
    build: { maxRowsPerFile: 16 },
  };
}

const WEIRD: unknown[] = [
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 53,
  1e15,
  1e308,
  Number.NaN,
  "",
  "x",
  "../../etc",
  "/etc/passwd",
  "__proto__",
  "constructor",
  null,
  true,
  [],
  {},
  [1, 2],
  { from: "ra" },
  "a".repeat(5000),
];

/** Every [object, key] of `x` (for a random edit). */
function slots(x: Json, out: Array<[Json, string]> = []): Array<[Json, string]> {
  if (x && typeof x === "object")
    for (const k of Object.keys(x)) {
      out.push([x, k]);
      slots(x[k], out);
    }
  return out;
}

function setOwn(obj: Json, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function mutate(spec: Json, rng: Rng): string {
  switch (
    rng.weighted([
      [5, "value"],
      [2, "delete"],
      [2, "column"],
      [2, "image"],
      [2, "spectrum"],
      [1, "root"],
    ] as const)
  ) {
    case "value": {
      const [obj, key] = rng.pick(slots(spec));
      // Mostly a value of the same type (the schema lets it through, the builder meets it).
      const v =
        typeof obj[key] === "number" && rng.chance(0.7)
          ? rng.pick([0, 1, 2, 3, 7, 1e6, 2 ** 31, 1e15])
          : typeof obj[key] === "string" && rng.chance(0.6)
            ? rng.pick([
                "mag",
                "flag",
                "x",
                "__proto__",
                "constructor",
                "fz_2",
                "cat/../cat/*.csv",
                "**/*.csv",
                "cat/c.csv",
                "a".repeat(300),
              ])
            : rng.pick(WEIRD);
      obj[key] = v;
      return `${key} = ${JSON.stringify(v)?.slice(0, 60)}`;
    }
    case "delete": {
      const [obj, key] = rng.pick(slots(spec));
      delete obj[key];
      return `${key} deleted`;
    }
    case "column": {
      const name = rng.pick([
        "__proto__",
        "constructor",
        "toString",
        "ra ",
        "a/b",
        "x".repeat(300),
        "mag",
      ]);
      const from = rng.pick(["mag", "flag", "name", "nope", "id"]);
      const dtype = rng.pick([undefined, "float64", "int8", "uint64", "bool", "string", "int64"]);
      if (!(spec.catalog?.columns && typeof spec.catalog.columns === "object")) return "no columns";
      setOwn(
        spec.catalog.columns,
        name,
        dtype ? { from, dtype, stringLength: dtype === "string" ? 4 : undefined } : from,
      );
      return `column ${JSON.stringify(name.slice(0, 20))} <- ${from} as ${dtype}`;
    }
    case "image": {
      const img = structuredClone(hscSpec(rng.pick([1, 16, 512, 4096])).image) as Json;
      for (const b of img.bands) b.files = "tiles/*.fits";
      spec.image = img;
      return `image stamps ${img.stampSize}`;
    }
    case "spectrum": {
      const length = rng.pick([10, 4000, 5e8, 2 ** 31]);
      spec.spectrum = {
        files: "spec/*.fits",
        match: rng.pick(["row", "id"]),
        flux: 1,
        wavelength: 1,
        length,
      };
      return `spectrum length ${length}`;
    }
    default: {
      spec.root = rng.pick(["/", "..", "/nonexistent", ""]);
      return `root ${spec.root}`;
    }
  }
}

export const family: Family = {
  async setup(work) {
    src = join(work, "src");
    mkdirSync(join(src, "cat"), { recursive: true });
    writeFileSync(join(src, "cat", "c.csv"), catalogCsv());
  },

  async run(rng, dir, note) {
    const spec = cleanSpec();
    const edits: string[] = [];
    for (let k = rng.pick([1, 1, 1, 2]); k > 0; k--) edits.push(mutate(spec, rng));
    const what = edits.join("; ");
    note(what);
    const checked = await typedOrValue("checkSpec", async () => checkSpec(spec, src));
    if (!checked.ok) return { outcome: "typed", what };
    const out = join(dir, "out");
    const built = await typedOrValue("build", () =>
      build(checked.value, { out, workers: 1, memoryBytes: 64 * 2 ** 20 }),
    );
    if (!built.ok) return { outcome: "typed", what };
    const { report } = built.value;
    const fail = (text: string) => {
      throw new FuzzFailure(`${what}: ${text}`);
    };
    if (report.rows + report.rejected.count !== report.rowsRead)
      fail(
        `${report.rows} rows kept + ${report.rejected.count} rejected != ${report.rowsRead} read`,
      );
    const problems = await verifyDataset(out, { checksums: true });
    if (problems.length) fail(`the built dataset does not verify: ${JSON.stringify(problems[0])}`);
    const config = checked.value.config;
    const { columns, rows } = await readAll(out, config, ["object_id", "ra", "dec"]);
    if (rows !== report.rows) fail(`${rows} rows stored, the report says ${report.rows}`);
    const mag = spec.catalog.columns.mag;
    const magKept = mag && typeof mag === "object" && mag.from === "mag" && mag.dtype === "float32";
    const mags = magKept ? (await readAll(out, config, ["mag"])).columns.mag : null;
    for (let i = 0; i < rows; i++) {
      const id = String(columns.object_id[i]);
      const ra = columns.ra[i] as number;
      const dec = columns.dec[i] as number;
      if (!(ra >= 0 && ra < 360 && dec >= -90 && dec <= 90))
        fail(`row ${id} stored at ${ra} ${dec}`);
      const cols = spec.catalog.columns;
      if (!(cols.ra === "ra" && cols.dec === "dec" && cols.object_id?.from === "id")) continue;
      const want = byId.get(id);
      if (want === undefined) {
        if (spec.catalog.columns.object_id?.from === "id")
          fail(`object_id ${id} is not in the catalog`);
        continue;
      }
      const [wra, wdec, wmag] = want.split(" ").map(Number);
      if (ra !== wra || dec !== wdec)
        fail(`row ${id} stored at ${ra} ${dec}, the catalog has ${wra} ${wdec}`);
      if (mags && mags[i] !== wmag) fail(`row ${id} mag ${mags[i]}, the catalog has ${wmag}`);
    }
    return { outcome: "correct", what };
  },
};
