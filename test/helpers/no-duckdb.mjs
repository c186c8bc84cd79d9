// `node --import ./test/helpers/no-duckdb.mjs ...`: resolves @duckdb/node-api as if it were not
// installed (ERR_MODULE_NOT_FOUND), as on a platform without its native build, to test what
// AstroPile says then.
import { register } from "node:module";

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === "@duckdb/node-api" || specifier.startsWith("@duckdb/")) {
    const e = new Error("Cannot find package '" + specifier + "' (hidden by no-duckdb.mjs)");
    e.code = "ERR_MODULE_NOT_FOUND";
    throw e;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
