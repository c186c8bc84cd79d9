// The data service: a Fastify app over the library (docs/service.md). createServer builds it with
// the JSON error answers, the API-key hook (each route declares `config: { scope }`), limits,
// CORS, the OpenAPI document and the routes; the caller listens. Fastify and its plugins are
// loaded when a server is created, so `import "astropile"` does not pay for them.

import type { FastifyInstance, FastifyRequest } from "fastify";
import { AnswerCache, type AnswerCacheOptions, registerAnswerCache } from "./answer-cache.ts";
import type { DatasetDirectory } from "./directory.ts";
import { badParameter, errorAnswer, ServiceError } from "./errors.ts";
import { DEFAULT_TRIM_WHEN_IDLE_MS, trimWhenIdle } from "./idle-trim.ts";
import type { ApiKeyIdentity, KeyStore, Scope } from "./keys.ts";
import { OpenDatasets } from "./open-datasets.ts";
import { registerCoverageRoutes } from "./routes-coverage.ts";
import { registerDatasetRoutes } from "./routes-datasets.ts";
import { registerExampleRoutes } from "./routes-examples.ts";
import { registerFileRoutes } from "./routes-files.ts";
import { registerIfuRoutes } from "./routes-ifu.ts";
import { registerImageRoutes } from "./routes-images.ts";
import { registerRowRoutes } from "./routes-rows.ts";

declare module "fastify" {
  interface FastifyContextConfig {
    /** The scope a route needs (docs/service.md, "Auth"); API routes without one need `read`. */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** The API key the request presented, checked; null when it presented none. */
    apiKey: ApiKeyIdentity | null;
  }
}

/** Limits that keep one request (or one client) from taking the server. */
export interface ServerLimits {
  /** Largest request body (bytes). Default 1 MiB. */
  bodyBytes?: number;
  /** Largest answer a query may produce (bytes, estimated before reading). Default 256 MiB. */
  responseBytes?: number;
  /** Most rows of one JSON rows or cone answer. Default 10,000. */
  jsonRows?: number;
  /** Most rows of one CSV or Arrow rows answer. Default 1,000,000. */
  streamRows?: number;
  /** A query (rows, cone, example, coverage) that runs longer answers 504. Default 30,000 ms. */
  queryTimeoutMs?: number;
  /**
   * Requests per client per window: a key's id, or the IP address of anonymous requests.
   * Default 6,000 per minute; false turns rate limiting off.
   */
  rateLimit?: { max: number; windowMs?: number } | false;
  /** Datasets kept open (name and config) between requests. Default 32. */
  openDatasets?: number;
}

/** CORS: the origins allowed to call the API from a browser. */
export interface ServerCors {
  /** An origin (`https://viewer.example.org`), a list of them, or `"*"`. */
  origin: string | string[];
}

/** Everything a route needs from the app (also handed to extra route plugins). */
export interface ServerContext {
  directory: DatasetDirectory;
  /** Opened datasets, cached per name and config. */
  datasets: OpenDatasets;
  /** The limits in force, defaults filled in. */
  limits: Required<Omit<ServerLimits, "rateLimit">> & { rateLimit: ServerLimits["rateLimit"] };
  keys: KeyStore | null;
}

/** Routes added to the app after the core ones (the jobs, the catalog), under the same hooks. */
export type ServerRoutes = (app: FastifyInstance, context: ServerContext) => void | Promise<void>;

export interface ServerOptions {
  /** The datasets served (a {@link LocalDirectory}, or the catalog database). */
  directory: DatasetDirectory;
  /** API keys; null or omitted: no key is accepted (anonymous read only, if on). */
  keys?: KeyStore | null;
  /** Requests without a key may use read-scoped routes. Default true. */
  anonymousRead?: boolean;
  /** A directory served at `/` as static files (the viewer, `dist/web`). */
  webRoot?: string;
  limits?: ServerLimits;
  /** Cross-origin access; default none (same origin only). */
  cors?: ServerCors | false;
  /**
   * Request logging (pino, as Fastify's `logger` option): false (default), true, or pino
   * options. Keys are never logged: headers are not logged, and the key headers are redacted
   * in any case.
   */
  logger?: boolean | Record<string, unknown>;
  /** Extra routes registered after the core ones. */
  routes?: ServerRoutes[];
  /**
   * Answers of the dataset routes kept in memory, keyed by URL and manifest stamp (sizes, or
   * false for none). Default 64 MiB, answers up to 2 MiB. ETags are sent either way.
   */
  answerCache?: AnswerCacheOptions | false;
  /**
   * After this long without a request (ms), empty the answer cache and this thread's decoded
   * chunks (shared by every server of the thread) and run a full garbage collection, so the
   * process's memory comes back down after a burst of load; 0: never. Default 10,000.
   */
  trimWhenIdleMs?: number;
}

export const DEFAULT_LIMITS: ServerContext["limits"] = {
  bodyBytes: 1024 * 1024,
  responseBytes: 256 * 1024 * 1024,
  jsonRows: 10_000,
  streamRows: 1_000_000,
  queryTimeoutMs: 30_000,
  rateLimit: { max: 6000, windowMs: 60_000 },
  openDatasets: 32,
};

/** A decimal number as people write it: 12, -0.5, .5, 1e-6; no hex, no Infinity, no blanks. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Headers that carry keys: never logged. */
const REDACTED = ["req.headers.authorization", 'req.headers["x-api-key"]'];

/** The key a request presents (`Authorization: Bearer`, else `X-API-Key`), if any. */
function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === "string" && auth.length > 0) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m)
      throw new ServiceError(
        401,
        "ASTROPILE_UNAUTHORIZED",
        "the Authorization header must be `Bearer <key>`",
        "authorization",
      );
    return m[1];
  }
  const header = req.headers["x-api-key"];
  if (typeof header === "string" && header.length > 0) return header.trim();
  if (Array.isArray(header))
    throw new ServiceError(
      401,
      "ASTROPILE_UNAUTHORIZED",
      "one X-API-Key header, please",
      "x-api-key",
    );
  return undefined;
}

/**
 * Builds the data service app, ready (plugins loaded, routes registered). Listen with
 * `await app.listen({ host: "127.0.0.1", port: 8765 })`; stop with `await app.close()`.
 */
export async function createServer(options: ServerOptions): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: swagger }, { default: cors }, { default: rateLimit }] =
    await Promise.all([
      import("fastify"),
      import("@fastify/swagger"),
      import("@fastify/cors"),
      import("@fastify/rate-limit"),
    ]);
  const limits: ServerContext["limits"] = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
  const keys = options.keys ?? null;
  const anonymousRead = options.anonymousRead ?? true;
  const logger =
    options.logger === true
      ? { redact: REDACTED }
      : options.logger
        ? { ...options.logger, redact: REDACTED }
        : false;
  const app = Fastify({
    logger,
    bodyLimit: limits.bodyBytes,
    // Long parameters reach the routes, which refuse them with a 400 naming the parameter
    // (the router would answer 404 above its limit).
    routerOptions: { maxParamLength: 4096 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: true, allErrors: false } },
  }) as unknown as FastifyInstance;

  app.decorateRequest("apiKey", null);
  app.decorateRequest("resolvedEntry", null);
  app.setErrorHandler((err, req, reply) => {
    const { status, body } = errorAnswer(err);
    if (status >= 500) req.log.error({ err }, "request failed");
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    reply.status(status).type("application/json; charset=utf-8").send(body);
  });
  app.setNotFoundHandler((req, reply) => {
    const path = (req.url.split("?")[0] ?? "").slice(0, 200);
    reply.status(404).send({
      error: { code: "ASTROPILE_NOT_FOUND", message: `no route ${req.method} ${path}` },
    });
  });

  // Auth: the scope a route declares (API routes default to read) against the key presented.
  app.addHook("onRequest", async (req) => {
    const declared = req.routeOptions.config?.scope;
    const scope: Scope | undefined = declared ?? (req.url.startsWith("/api/") ? "read" : undefined);
    if (!scope) return;
    const token = presentedKey(req);
    if (token !== undefined) {
      const identity = keys ? await keys.verify(token) : null;
      if (!identity)
        throw new ServiceError(401, "ASTROPILE_UNAUTHORIZED", "unknown or revoked API key");
      req.apiKey = identity;
    }
    if (!req.apiKey) {
      if (scope === "read" && anonymousRead) return;
      throw new ServiceError(
        401,
        "ASTROPILE_UNAUTHORIZED",
        `this route needs an API key with the ${scope} scope (Authorization: Bearer <key>)`,
      );
    }
    if (!req.apiKey.scopes.includes(scope))
      throw new ServiceError(
        403,
        "ASTROPILE_FORBIDDEN",
        `the API key "${req.apiKey.name}" lacks the ${scope} scope`,
      );
  });

  // Numbers in the query string: only decimal numbers are numbers (ajv's own coercion would take
  // "0x10", " 5", "Infinity" and "1e400"). Numeric parameters (and booleans: "true", "false")
  // are converted here, before the schema is checked; anything else stays a string and fails
  // the schema with a 400 naming it.
  app.addHook("preValidation", async (req) => {
    const schema = req.routeOptions.schema?.querystring as
      | { properties?: Record<string, { type?: unknown }> }
      | undefined;
    const query = req.query as Record<string, unknown> | undefined;
    if (!schema?.properties || !query) return;
    for (const [name, prop] of Object.entries(schema.properties)) {
      const raw = query[name];
      if (typeof raw !== "string") continue;
      if (prop.type === "boolean") {
        if (raw === "true" || raw === "false") query[name] = raw === "true";
        continue;
      }
      if (prop.type !== "number" && prop.type !== "integer") continue;
      if (!DECIMAL.test(raw)) continue;
      const x = Number(raw);
      if (!Number.isFinite(x)) throw badParameter(name, `${name} must be a finite number`);
      query[name] = x;
    }
  });

  if (options.cors) {
    await app.register(cors, {
      origin: options.cors.origin === "*" ? true : options.cors.origin,
      methods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
      allowedHeaders: [
        "Authorization",
        "X-API-Key",
        "Content-Type",
        "Range",
        "If-Match",
        "If-None-Match",
        "X-Checksum-SHA256",
      ],
      exposedHeaders: [
        "ETag",
        "Content-Range",
        "Accept-Ranges",
        "Content-Length",
        "X-AstroPile-Cache",
        "X-AstroPile-Channel",
        "X-AstroPile-Wavelength",
      ],
    });
  }
  if (limits.rateLimit) {
    await app.register(rateLimit, {
      global: true,
      // After the auth hook, so a key's requests count against the key.
      hook: "preHandler",
      max: limits.rateLimit.max,
      timeWindow: limits.rateLimit.windowMs ?? 60_000,
      keyGenerator: (req) => (req.apiKey ? `key:${req.apiKey.id}` : `ip:${req.ip}`),
      errorResponseBuilder: (_req, context) =>
        new ServiceError(
          429,
          "ASTROPILE_RATE_LIMITED",
          `rate limit reached: ${context.max} requests per ${context.after}`,
        ),
    });
  }
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: {
        title: "AstroPile data service",
        version: "1",
        description: "Browse, query and fetch AstroPile datasets (docs/service.md).",
      },
      components: {
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer" },
          apiKey: { type: "apiKey", in: "header", name: "X-API-Key" },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }, {}],
    },
  });

  const context: ServerContext = {
    directory: options.directory,
    datasets: new OpenDatasets(limits.openDatasets),
    limits,
    keys,
  };
  app.addHook("onClose", async () => context.datasets.close());
  // After the auth and rate-limit hooks: a cached answer is still authorised and counted.
  const answerCache =
    options.answerCache === false ? null : new AnswerCache(options.answerCache ?? {});
  registerAnswerCache(app, context, answerCache);
  trimWhenIdle(app, answerCache, options.trimWhenIdleMs ?? DEFAULT_TRIM_WHEN_IDLE_MS);

  app.get("/api/v1/openapi.json", { schema: { hide: true }, config: { scope: "read" } }, async () =>
    app.swagger(),
  );
  registerDatasetRoutes(app, context);
  registerFileRoutes(app, context);
  registerRowRoutes(app, context);
  registerExampleRoutes(app, context);
  registerCoverageRoutes(app, context);
  registerImageRoutes(app, context);
  registerIfuRoutes(app, context);
  for (const routes of options.routes ?? []) await routes(app, context);

  if (options.webRoot) {
    const { default: statics } = await import("@fastify/static");
    await app.register(statics, {
      root: options.webRoot,
      prefix: "/",
      wildcard: true,
      index: ["index.html"],
      dotfiles: "ignore",
      schemaHide: true,
    });
  }
  await app.ready();
  return app;
}
