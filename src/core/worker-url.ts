// Where a worker thread's module is. The package runs compiled JavaScript from dist/, where the
// worker module is the `.js` file next to the module that starts it. Development and tests run
// the TypeScript sources through tsx, which a worker thread does not inherit when the parent
// registered it programmatically, so there the thread starts from a small plain-JS entry
// (`<name>.dev.mjs`, never shipped) that registers tsx and imports the TypeScript module.

/**
 * URL of the worker module `name` (without extension) beside the module whose
 * `import.meta.url` is `base`.
 */
export function workerUrl(name: string, base: string): URL {
  const fromSources = base.endsWith(".ts");
  return new URL(fromSources ? `./${name}.dev.mjs` : `./${name}.js`, base);
}
