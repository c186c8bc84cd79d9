// Bounds on what the renderers accept, and the errors they throw: every size comes from a
// request (the data service passes width, height, percentiles through), so each is checked
// before anything is allocated and the error names the parameter at fault.
import { MemoryBudgetError, UsageError } from "../core/errors.ts";

/** Largest image (or IFU slice, or RGB band) the renderers accept, in pixels (2048 x 2048). */
export const MAX_RENDER_PIXELS = 2048 * 2048;
/** Largest width or height of a spectrum plot, in pixels. */
export const MAX_PLOT_SIDE = 4096;
/** Smallest width or height of a spectrum plot, in pixels (room for the axes box). */
export const MIN_PLOT_SIDE = 32;
/** Largest spectrum (samples) a plot accepts. */
export const MAX_SPECTRUM_SAMPLES = 1 << 22;
/** Largest IFU cube the slice renderer accepts, in values (all channels). */
export const MAX_CUBE_VALUES = 1 << 28;

/**
 * A render parameter out of range or of the wrong kind (code `ASTROPILE_USAGE`);
 * `parameter` names it (`"pmin"`, `"width"`, `"flux.shape"` ...), for a 400 naming it.
 */
export class RenderParameterError extends UsageError {
  /** The parameter at fault, as the caller named it in the options. */
  readonly parameter: string;
  constructor(parameter: string, message: string) {
    super(`${message} (parameter ${parameter})`);
    this.parameter = parameter;
  }
}

/**
 * An array or picture larger than the renderers allow (code `ASTROPILE_MEMORY_BUDGET`), refused
 * before allocating; `parameter` names the option or array at fault, for a 413 naming it.
 */
export class RenderTooLargeError extends MemoryBudgetError {
  /** The parameter at fault (`"width"`, `"flux"` ...). */
  readonly parameter: string;
  constructor(parameter: string, message: string) {
    super(`${message} (parameter ${parameter})`);
    this.parameter = parameter;
  }
}

/** A finite number, else a RenderParameterError naming `name`. */
export function finiteParam(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isFinite(v))
    throw new RenderParameterError(name, `${name} must be a finite number, got ${String(v)}`);
  return v;
}

/**
 * An integer in [min, max], else a RenderParameterError naming `name`; for a size (`size` true)
 * one above max is a RenderTooLargeError instead.
 */
export function intParam(name: string, v: unknown, min: number, max: number, size = false): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min)
    throw new RenderParameterError(name, `${name} must be an integer >= ${min}, got ${String(v)}`);
  if (v > max) {
    if (size) throw new RenderTooLargeError(name, `${name} ${v} is more than the limit ${max}`);
    throw new RenderParameterError(name, `${name} must be at most ${max}, got ${v}`);
  }
  return v;
}

/** A percentile in [0, 100]. */
export function percentParam(name: string, v: unknown): number {
  const p = finiteParam(name, v);
  if (p < 0 || p > 100)
    throw new RenderParameterError(name, `${name} must be a percentile in [0, 100], got ${p}`);
  return p;
}
