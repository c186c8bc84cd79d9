const require_s = (v) => JSON.stringify(v, (k, x) => typeof x === "bigint" ? `${x}n` : (ArrayBuffer.isView(x) ? `${x.constructor.name}(${x.length})[${Array.from(x).slice(0,3)}]` : x));
import h5wasm from "h5wasm/node";
await h5wasm.ready;
const f = new h5wasm.File("/work/wt-o/test/fixtures/mmu/a/manga/dr17/healpix=1001/0001-of-0001.hdf5", "r");
console.log(f.keys(), f.attrs && Object.keys(f.attrs));
const g = f.get(f.keys()[0]);
console.log(g.constructor.name, g.keys(), Object.keys(g.attrs));
for (const k of g.keys()) {
  const d = g.get(k);
  const m = d.metadata;
  console.log(k, m.type, m.shape, m.size, m.compound_type ? m.compound_type.members.map(x => `${x.name}:${x.type}:${x.size}:${JSON.stringify(x.array_type?.shape ?? null)}`).join(",") : "");
}
const sp = g.get("spaxels");
const v = sp.value;
console.log(Array.isArray(v), v.length, require_s(v[0]).slice(0, 400));
console.log(require_s(g.get("images").value[0]).slice(0,300));
console.log(g.get("object_id").value, g.get("z").value, g.get("ra").value);
