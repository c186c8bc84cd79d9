// The public API surface of the package: for each entry point in package.json `exports`, the
// names it exports at run time (from importing its TypeScript source) and the names it exports
// only as types (from the TypeScript checker). test/package/api-surface.test.ts compares it with
// the committed test/package/api-surface.json; `npm run api:update` rewrites that file.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

export const ROOT = join(import.meta.dirname, "..");
export const SNAPSHOT = join(ROOT, "test", "package", "api-surface.json");

export interface EntrySurface {
  /** Source module of the entry point, relative to the repository. */
  source: string;
  /** Names exported at run time (functions, classes, constants). */
  values: string[];
  /** Names exported only as types (interfaces, type aliases). */
  types: string[];
}

export type ApiSurface = Record<string, EntrySurface>;

/** Each `exports` subpath with a JavaScript entry, mapped from dist/ to its src/ module. */
export function entryPoints(): Array<{ subpath: string; source: string }> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    exports: Record<string, string | { import?: string }>;
  };
  const entries: Array<{ subpath: string; source: string }> = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    const js = typeof target === "string" ? target : target.import;
    if (!js?.endsWith(".js")) continue; // ./package.json
    const match = /^\.\/dist\/(.+)\.js$/.exec(js);
    if (!match) throw new Error(`exports["${subpath}"]: ${js} is not a file in dist/`);
    entries.push({ subpath, source: join(ROOT, "src", `${match[1]}.ts`) });
  }
  return entries;
}

/** Names each entry point's module exports, as the TypeScript checker sees them. */
function checkerExports(files: string[]): Map<string, string[]> {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, "tsconfig.build.json"),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
      },
    },
  );
  if (!config) throw new Error("cannot read tsconfig.build.json");
  const program = ts.createProgram({
    rootNames: files,
    options: { ...config.options, noEmit: true },
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, string[]>();
  for (const file of files) {
    const sf = program.getSourceFile(file);
    const symbol = sf && checker.getSymbolAtLocation(sf);
    if (!symbol) throw new Error(`TypeScript found no module in ${file}`);
    out.set(
      file,
      checker.getExportsOfModule(symbol).map((s) => s.getName()),
    );
  }
  return out;
}

export async function apiSurface(): Promise<ApiSurface> {
  const entries = entryPoints();
  const named = checkerExports(entries.map((e) => e.source));
  const surface: ApiSurface = {};
  for (const { subpath, source } of entries) {
    const values = Object.keys(await import(pathToFileURL(source).href)).sort();
    const all = new Set(named.get(source));
    const missing = values.filter((v) => !all.has(v));
    if (missing.length > 0) {
      throw new Error(`${source}: exported at run time but unknown to TypeScript: ${missing}`);
    }
    const types = [...all].filter((n) => !values.includes(n)).sort();
    surface[subpath] = { source: relative(ROOT, source), values, types };
  }
  return surface;
}
