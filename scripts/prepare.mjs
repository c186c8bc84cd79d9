// npm's `prepare` hook: builds dist/ after `npm install` / `npm ci` in a checkout. npm also runs
// it for `npm ci --dry-run`, where nothing is installed: then there is no TypeScript to build
// with, and the hook says so and succeeds instead of failing the (dry) install.
import { execSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
try {
  require.resolve("typescript/package.json");
} catch {
  console.log("prepare: TypeScript is not installed (dry run?): dist/ not built");
  process.exit(0);
}
execSync("npm run build", { stdio: "inherit" });
