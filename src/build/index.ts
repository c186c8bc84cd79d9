// Public API of the builders: specs, the runner, built-in specs of the synthetic surveys.

export {
  type BuiltinName,
  builtinSpec,
  builtinSpecJson,
  desiSpec,
  hscSpec,
  mangaSpec,
} from "./builtin.ts";
export {
  type BuildOptions,
  type BuildProgress,
  type BuildReport,
  type BuildResult,
  build,
  defaultWorkers,
  REPORT_NAME,
  readReport,
} from "./runner.ts";
export {
  type BuilderSpec,
  BuilderSpecSchema,
  checkSpec,
  loadSpec,
  type ResolvedSpec,
} from "./spec.ts";
