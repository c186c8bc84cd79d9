// `npm run api:update`: rewrites test/package/api-surface.json from the current sources, so that
// a change of the public API is a deliberate, reviewed change of that file.
import { writeFileSync } from "node:fs";
import { relative } from "node:path";
import { apiSurface, ROOT, SNAPSHOT } from "./api-surface.ts";

const surface = await apiSurface();
writeFileSync(SNAPSHOT, `${JSON.stringify(surface, null, 2)}\n`);
const counts = Object.entries(surface).map(
  ([subpath, e]) => `${subpath}: ${e.values.length} values, ${e.types.length} types`,
);
console.log(`wrote ${relative(ROOT, SNAPSHOT)}\n  ${counts.join("\n  ")}`);
