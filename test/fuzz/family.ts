// What a fuzz family is (a module run by child.ts), and the oracle's shared pieces.
import { isAstroPileError } from "../../src/core/errors.ts";
import type { Rng } from "./rng.ts";

/** How a case ended when the oracle holds. */
export type Outcome =
  /** Everything asked gave the clean answer. */
  | "correct"
  /** At least one call threw an AstroPileError (and the others gave the clean answer). */
  | "typed";

export interface CaseResult {
  outcome: Outcome;
  /** What the case did (the mutation), for the log of a failing neighbour. */
  what: string;
}

export interface Family {
  /** Once per child process: the clean inputs and their answers. */
  setup(work: string): Promise<void>;
  /**
   * One case in its own directory `dir`; throws FuzzFailure when the oracle breaks. `note` tells
   * the parent what the case does before it runs it (named in the report if the case hangs).
   */
  run(rng: Rng, dir: string, note: (what: string) => void): Promise<CaseResult>;
}

/** The oracle broke: a wrong answer, an untyped error, something written where it must not be. */
export class FuzzFailure extends Error {
  override name = "FuzzFailure";
}

/** Runs `fn`: its value, or the AstroPileError it threw; anything else is a FuzzFailure. */
export async function typedOrValue<T>(
  what: string,
  fn: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: Error & { code: string } }> {
  try {
    return { ok: true, value: await fn() };
  } catch (err) {
    if (err instanceof FuzzFailure) throw err;
    if (isAstroPileError(err)) return { ok: false, error: err };
    const e = err as Error;
    throw new FuzzFailure(
      `${what}: threw ${e?.name ?? typeof err} (not an AstroPileError): ${e?.message ?? String(err)}\n${e?.stack ?? ""}`,
    );
  }
}

/** A stable text of a value: typed arrays as dtype + hex bytes, bigints tagged, keys sorted. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === "bigint") return `${v}n`;
    if (ArrayBuffer.isView(v)) {
      const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      return `${v.constructor.name}:${b.toString("hex")}`;
    }
    if (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0)))
      return `num:${Object.is(v, -0) ? "-0" : v}`;
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) out[k] = (v as Record<string, unknown>)[k];
      return out;
    }
    return v;
  });
}
