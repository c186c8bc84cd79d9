// Public API of the builders: specs and the runner. (The specs of the synthetic surveys live
// with the demo, src/demo.)

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
