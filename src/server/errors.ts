// The service's error answers (docs/service.md, "Conventions"): every error is a JSON body
// `{"error": {"code", "message", "parameter"?}}` with a 4xx/5xx status. Bad input is always 4xx:
// the library's own typed errors caused by a request (a bad filter, an unknown column, an object
// id that is not there) map to 400/404/413, never 500.

import { AstroPileError, isAstroPileError } from "../core/errors.ts";

/** The body of every error answer. */
export interface ErrorBody {
  error: {
    /** Stable code: `ASTROPILE_BAD_PARAMETER`, `ASTROPILE_NOT_FOUND`, or a library code. */
    code: string;
    message: string;
    /** The query parameter, path segment or body field at fault, when there is one. */
    parameter?: string;
  };
}

/**
 * An error the service answers with a given HTTP status (and the parameter at fault). Route code
 * throws it; the app's error handler turns it into the JSON error body.
 */
export class ServiceError extends AstroPileError {
  static override readonly code: string = "ASTROPILE_SERVICE";
  /** HTTP status of the answer. */
  readonly statusCode: number;
  /** The query parameter, path segment or body field at fault. */
  readonly parameter?: string;

  constructor(statusCode: number, code: string, message: string, parameter?: string) {
    super(message, {}, { code });
    this.statusCode = statusCode;
    this.parameter = parameter;
  }
}

/** 400 `ASTROPILE_BAD_PARAMETER` naming the parameter. */
export function badParameter(parameter: string, message: string): ServiceError {
  return new ServiceError(400, "ASTROPILE_BAD_PARAMETER", message, parameter);
}

/** 404 `ASTROPILE_NOT_FOUND`. */
export function notFound(message: string, parameter?: string): ServiceError {
  return new ServiceError(404, "ASTROPILE_NOT_FOUND", message, parameter);
}

/** 413 `ASTROPILE_TOO_LARGE`. */
export function tooLarge(message: string, parameter?: string): ServiceError {
  return new ServiceError(413, "ASTROPILE_TOO_LARGE", message, parameter);
}

/**
 * Status of a library error raised while answering a request: the request's fault (4xx) or the
 * server's (5xx: corrupt or missing files on the server's side, bugs).
 */
const LIBRARY_STATUS: Record<string, number> = {
  ASTROPILE_USAGE: 400,
  ASTROPILE_SCHEMA: 400,
  ASTROPILE_MISSING_COLUMN: 400,
  ASTROPILE_BAD_FILTER: 400,
  ASTROPILE_FORMAT: 400,
  ASTROPILE_NOT_FOUND: 404,
  ASTROPILE_MEMORY_BUDGET: 413,
  ASTROPILE_LOCKED: 409,
};

/**
 * Runs `fn` and tags a library error it throws with the parameter that caused it (the filter
 * text, the column list, the cone), so the answer names it. Errors the request did not cause
 * (a corrupt file on the server) pass through unchanged.
 */
export async function blame<T>(parameter: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw withParameter(err, parameter);
  }
}

/** Synchronous {@link blame}. */
export function blameSync<T>(parameter: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw withParameter(err, parameter);
  }
}

function withParameter(err: unknown, parameter: string): unknown {
  if (err instanceof ServiceError) return err;
  if (isAstroPileError(err)) {
    const status = LIBRARY_STATUS[err.code];
    if (status !== undefined && status < 500)
      return new ServiceError(status, err.code, err.message, parameter);
  }
  return err;
}

/** Fastify's validation error detail (ajv), as far as it is read here. */
interface ValidationDetail {
  instancePath?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
  message?: string;
}

/** The status and body answering `err` (a ServiceError, a library error, a Fastify error). */
export function errorAnswer(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ServiceError) {
    return {
      status: err.statusCode,
      body: { error: { code: err.code, message: err.message, parameter: err.parameter } },
    };
  }
  const e = (err ?? {}) as {
    code?: unknown;
    statusCode?: unknown;
    message?: unknown;
    validation?: ValidationDetail[];
    validationContext?: string;
  };
  const message = typeof e.message === "string" ? e.message : String(err);
  if (Array.isArray(e.validation)) {
    const v = e.validation[0] ?? {};
    const fromPath = (v.instancePath ?? "").replace(/^\//, "").split("/")[0];
    const parameter =
      fromPath ||
      v.params?.missingProperty ||
      v.params?.additionalProperty ||
      e.validationContext ||
      "request";
    return {
      status: 400,
      body: { error: { code: "ASTROPILE_BAD_PARAMETER", message, parameter } },
    };
  }
  if (isAstroPileError(err)) {
    const status = LIBRARY_STATUS[err.code] ?? 500;
    return { status, body: { error: { code: err.code, message } } };
  }
  const status = typeof e.statusCode === "number" ? e.statusCode : 500;
  if (status === 413 || e.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
    return {
      status: 413,
      body: { error: { code: "ASTROPILE_TOO_LARGE", message, parameter: "body" } },
    };
  }
  if (status === 429) {
    return { status, body: { error: { code: "ASTROPILE_RATE_LIMITED", message } } };
  }
  if (status === 404) {
    return { status, body: { error: { code: "ASTROPILE_NOT_FOUND", message } } };
  }
  if (status >= 400 && status < 500) {
    // Fastify's own request errors: unparsable JSON body, unsupported media type, bad URL.
    const parameter =
      typeof e.code === "string" && e.code.startsWith("FST_ERR_CTP") ? "body" : undefined;
    return {
      status,
      body: { error: { code: "ASTROPILE_BAD_PARAMETER", message, parameter } },
    };
  }
  return {
    status: status >= 500 && status < 600 ? status : 500,
    body: { error: { code: "ASTROPILE_INTERNAL", message: "internal server error" } },
  };
}
