// The HTTP side: the catalog's public product reads, health, readiness and metrics.

import http from "node:http";
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import client from "prom-client";
import { AuthError, type Caller } from "./auth.js";
import { productGet, productList } from "./products.js";
import { filtersParse, lastValues, pageSize, pageUrl, parseQuery, pythonInt, type FieldError } from "./query.js";

const SKU_PATH = /^\/api\/v1\/products\/([A-Z0-9][A-Z0-9-]{2,31})\/$/;
const REQUEST_ID = /^[A-Za-z0-9._:\-]{1,128}$/;
const TITLES: Record<number, string> = {
  400: "Invalid request",
  401: "Not authenticated",
  404: "Not found",
  405: "Method not allowed",
  500: "Internal server error",
  503: "Temporarily unavailable",
};

export interface Deps {
  db: Pool;
  callerFrom: (header: string | undefined) => Promise<Caller | null>;
  readiness: () => Promise<[boolean, Record<string, unknown>]>;
  registry: client.Registry;
}

class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly django = false,
  ) {
    super(detail);
  }
}

// The same escaping as Django REST framework's JSON renderer (compact, U+2028/9 escaped).
function json(body: unknown): string {
  return JSON.stringify(body).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

// Python's json.dumps defaults, as Django's JsonResponse writes (the catch-all 404 of an API).
function pythonJson(body: Record<string, unknown>): string {
  const ascii = (text: string) =>
    text.replace(/[^\x00-\x7f]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  const entries = Object.entries(body).map(([k, v]) => `${ascii(JSON.stringify(k))}: ${ascii(JSON.stringify(v))}`);
  return `{${entries.join(", ")}}`;
}

function send(res: http.ServerResponse, status: number, body: unknown, type = "application/json", django = false) {
  const text = django ? pythonJson(body as Record<string, unknown>) : json(body);
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

function baseUrl(req: http.IncomingMessage, path: string): string {
  const proto = String(req.headers["x-forwarded-proto"] ?? "").split(",")[0].trim() === "https" ? "https" : "http";
  const host = req.headers["x-forwarded-host"] ?? req.headers.host ?? "localhost";
  return `${proto}://${host}${path}`;
}

async function productsPage(deps: Deps, req: http.IncomingMessage, raw: string, caller: Caller | null) {
  const params = lastValues(parseQuery(raw));
  const parsed = filtersParse(params);
  if (parsed.errors) {
    const detail = parsed.errors.map((e: FieldError) => `${e.field}: ${e.message}`).join("; ");
    throw new Problem(400, "validation_error", detail, { errors: parsed.errors });
  }
  const size = pageSize(params);
  const rawPage = params.get("page") || "1";
  const number = pythonInt(rawPage);
  if (number === null) throw new Problem(404, "not_found", "Invalid page.");
  const { count, rows } = await productList(deps.db, parsed.filters!, caller?.isStaff ?? false, size, (number - 1) * size);
  const pages = Math.max(1, Math.ceil(count / size));
  if (number < 1 || number > pages) throw new Problem(404, "not_found", "Invalid page.");
  const base = baseUrl(req, "/api/v1/products/");
  return {
    count,
    next: number < pages ? pageUrl(base, raw, number + 1) : null,
    previous: number > 1 ? pageUrl(base, raw, number === 2 ? null : number - 1) : null,
    results: rows,
  };
}

async function route(deps: Deps, req: http.IncomingMessage, res: http.ServerResponse, path: string, raw: string) {
  if (path === "/healthz") return send(res, 200, { status: "ok" });
  if (path === "/readyz") {
    const [ok, checks] = await deps.readiness();
    return send(res, ok ? 200 : 503, { status: ok ? "ready" : "unavailable", checks });
  }
  if (path === "/metrics") {
    const text = await deps.registry.metrics();
    res.writeHead(200, { "Content-Type": deps.registry.contentType });
    return res.end(text);
  }
  const detail = SKU_PATH.exec(path);
  if (path !== "/api/v1/products/" && !detail)
    throw new Problem(404, "not_found", `No API endpoint at ${path}.`, {}, true);
  if (req.method !== "GET" && req.method !== "HEAD")
    throw new Problem(405, "method_not_allowed", `Method "${req.method}" not allowed.`);
  let caller: Caller | null;
  try {
    caller = await deps.callerFrom(req.headers.authorization);
  } catch (exc) {
    if (!(exc instanceof AuthError)) throw exc;
    // A 503 is not a bad token but a retry (no challenge, as DRF answers it).
    if (exc.status === 503) res.setHeader("Retry-After", String(exc.retryAfter));
    else res.setHeader("WWW-Authenticate", 'Bearer realm="api"');
    throw new Problem(exc.status, exc.code, exc.message);
  }
  if (detail) {
    const product = await productGet(deps.db, detail[1], caller?.isStaff ?? false);
    if (!product) throw new Problem(404, "not_found", "Not found.");
    return send(res, 200, product);
  }
  return send(res, 200, await productsPage(deps, req, raw, caller));
}

export function serverCreate(deps: Deps): http.Server {
  const requests = new client.Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route and status.",
    labelNames: ["method", "route", "status"],
    registers: [deps.registry],
  });
  const latency = new client.Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request latency.",
    labelNames: ["route"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [deps.registry],
  });
  return http.createServer(async (req, res) => {
    const started = process.hrtime.bigint();
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID().replace(/-/g, "");
    res.setHeader("X-Request-ID", requestId);
    const target = req.url ?? "/";
    const mark = target.indexOf("?");
    let path = mark < 0 ? target : target.slice(0, mark);
    const raw = mark < 0 ? "" : target.slice(mark + 1);
    try {
      path = decodeURIComponent(path);
    } catch {
      /* a malformed escape stays as sent: it matches no route */
    }
    const routeName = path.startsWith("/api/v1/products/") ? (path === "/api/v1/products/" ? "list" : "detail") : path;
    try {
      await route(deps, req, res, path, raw);
    } catch (exc) {
      const problem =
        exc instanceof Problem
          ? exc
          : new Problem(500, "server_error", "The server failed to handle the request; it was logged.", {}, true);
      if (!(exc instanceof Problem)) console.error(JSON.stringify({ event: "http.error", error: String(exc), path }));
      send(
        res,
        problem.status,
        {
          type: `urn:problem:strangler:${problem.code}`,
          title: TITLES[problem.status] ?? "Error",
          status: problem.status,
          detail: problem.detail,
          code: problem.code,
          instance: path,
          request_id: requestId,
          ...problem.extra,
        },
        "application/problem+json",
        problem.django,
      );
    } finally {
      requests.inc({ method: req.method ?? "", route: routeName, status: String(res.statusCode) });
      latency.observe({ route: routeName }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  });
}
