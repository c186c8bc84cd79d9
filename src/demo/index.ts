// Public API of the demo: the synthetic sky built into parent datasets, and the builder specs of
// the synthetic surveys.

export type { SynthProgress, SynthSize } from "../synth/index.ts";
export {
  DEMO_DATASETS,
  type DemoDataset,
  type DemoDatasetKey,
  type DemoOptions,
  type DemoProgress,
  type DemoResult,
  type DemoSources,
  runDemo,
  SOURCES_MARKER,
} from "./demo.ts";
export {
  BUILTIN_NAMES,
  type BuiltinName,
  builtinSpec,
  builtinSpecJson,
  desiSpec,
  hscSpec,
  mangaSpec,
} from "./specs.ts";
