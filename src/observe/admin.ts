/**
 * The admin listener's handler. It listens on its own address (loopback by default), never on a
 * site's. docs/observability.md describes every endpoint.
 *
 *   GET /healthz   200 "ok"       the process is alive and its event loop answers (liveness)
 *   GET /readyz    200 "ready"    it takes traffic; 503 "stopping" from the moment a stop begins
 *                                 (SIGTERM), through server.shutdown_delay and the drain (readiness)
 *   GET /metrics   Prometheus text, or OpenMetrics when Accept asks for it; with workers the
 *                  supervisor answers with the sum over every worker
 *   GET /api/config   the effective config as JSON, secrets redacted          (token)
 *   POST /api/reload  re-read the config file, like SIGHUP                    (token)
 *   GET /api/upstreams  every upstream group's servers and their state       (token)
 *   POST /api/upstreams/{group}/{server}/drain   no new requests to it        (token)
 *   POST /api/upstreams/{group}/{server}/enable  back in rotation             (token)
 *   POST /api/cache/purge  {"all":true} | {"key":"…"} | {"prefix":"…"}         (token)
 *   GET /dashboard    a live status page, no external assets                  (token)
 *   GET /dashboard/events  its server-sent events, one about every second     (token)
 *
 * The token: with [admin] token set, /api/* and /dashboard* need `Authorization: Bearer <token>`
 * (compared in constant time). /healthz, /readyz and /metrics never do: probes and Prometheus
 * must reach them on the pod address. Without a token (allowed only on loopback) anyone who can
 * connect to the loopback address may use the API.
 *
 * HEAD works like GET on the read-only paths; a wrong method gets 405, other paths 404.
 * Answers are never cached.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { Config } from "../config/config.ts";
import { configToRaw } from "../config/print.ts";
import type { Exchange, Handler } from "../handler.ts";
import { DASHBOARD_HTML } from "./dashboard-page.ts";
import { computeTick, type Tick } from "./dashboard-stats.ts";
import { metrics, OPENMETRICS_TYPE, PROMETHEUS_TYPE, render, type Snapshot, wantsOpenMetrics } from "./metrics.ts";
import { type RecentError, recentErrors } from "./recent-errors.ts";
import type { UpstreamServerState } from "../proxy/upstreams.ts";
import { upstreamsJson } from "./upstream-states.ts";

/** What the instance looks like right now: its merged metrics and recent errors. */
export interface InstanceStats {
  snap: Snapshot;
  errors: RecentError[];
}

/** The result of a reload request. */
export interface ReloadResult {
  ok: boolean;
  /** One line per problem, or what was loaded. */
  messages: string[];
}

export interface AdminState {
  /** False once a stop has begun. */
  readonly ready: boolean;
  /** The config in effect (for /api/config). */
  readonly config?: Config;
  /** The instance's metrics (default: this process's registry and errors). */
  stats?(): Promise<InstanceStats>;
  /** Re-read the config file (POST /api/reload); absent: 404. */
  reload?(): ReloadResult;
  /** The upstream groups (GET /api/upstreams, drain, enable); absent: an empty list. */
  readonly upstreams?: UpstreamControl;
  /** The response cache (POST /api/cache/purge); absent or null: 404 "no cache configured". */
  readonly cache?: CacheAccess | null;
}

/** The admin API's view of the upstream groups (one process's registry, or a supervisor's workers). */
export interface UpstreamControl {
  /** Every server of every group, merged by group, server and address (upstream-states.ts). */
  states(): Promise<UpstreamServerState[]>;
  /**
   * Drain (true) or enable (false) the server named `server` (host:port as configured) of the
   * group `group`. Resolves once new requests no longer (or again) go to it, with its state;
   * null when the config has no such group or server.
   */
  setDrained(group: string, server: string, drained: boolean): Promise<UpstreamServerState[] | null>;
}

/** What POST /api/cache/purge removes: everything, one cache key, or every key with a prefix. */
export type PurgeSelector = { all: true } | { key: string } | { prefix: string };

/** The response cache as the admin API reaches it (issue 13 implements it). */
export interface CachePurger {
  /** Remove the selected entries; returns how many were removed. */
  purge(sel: PurgeSelector): number;
}

/**
 * How the admin API reaches the cache: this process's CachePurger, or (a supervisor) every
 * worker's over IPC, summed; the async form resolves null when no worker has a cache.
 */
export type CacheAccess = CachePurger | { purge(sel: PurgeSelector): Promise<number | null> };

/** The purge selector of a request body, or a reason it is not one (400). */
export function parsePurgeBody(body: Uint8Array): PurgeSelector | string {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    return 'the body must be JSON: {"all":true}, {"key":"..."} or {"prefix":"..."}';
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return 'the body must be a JSON object: {"all":true}, {"key":"..."} or {"prefix":"..."}';
  const keys = Object.keys(v);
  if (keys.length !== 1) return 'name exactly one of "all", "key" or "prefix"';
  const o = v as Record<string, unknown>;
  if ("all" in o) return o.all === true ? { all: true } : '"all" must be true';
  if ("key" in o) return typeof o.key === "string" && o.key !== "" ? { key: o.key } : '"key" must be a non-empty string';
  if ("prefix" in o) return typeof o.prefix === "string" && o.prefix !== "" ? { prefix: o.prefix } : '"prefix" must be a non-empty string (purge everything with {"all":true})';
  return `unknown field ${JSON.stringify(keys[0])}; use "all", "key" or "prefix"`;
}

/** Largest body the admin API reads (a purge selector); more is 413. */
export const ADMIN_MAX_BODY = 8192;

const GET_ONLY: [string, string] = ["Allow", "GET, HEAD"];
const POST_ONLY: [string, string] = ["Allow", "POST"];
const NO_STORE: [string, string] = ["Cache-Control", "no-store"];
const TEXT: [string, string] = ["Content-Type", "text/plain; charset=utf-8"];
const JSON_TYPE: [string, string] = ["Content-Type", "application/json"];
const CHALLENGE: [string, string] = ["WWW-Authenticate", 'Bearer realm="dreamserver-admin"'];

/** Path → [allowed methods, needs the token]. */
const ROUTES = new Map<string, [readonly string[], boolean]>([
  ["/healthz", [["GET", "HEAD"], false]],
  ["/readyz", [["GET", "HEAD"], false]],
  ["/metrics", [["GET", "HEAD"], false]],
  ["/api/config", [["GET", "HEAD"], true]],
  ["/api/reload", [["POST"], true]],
  ["/api/upstreams", [["GET", "HEAD"], true]],
  ["/api/cache/purge", [["POST"], true]],
  ["/dashboard", [["GET", "HEAD"], true]],
  ["/dashboard/events", [["GET"], true]],
]);

/** Header-rule names whose values are secrets (redacted in /api/config). */
const SECRET_NAME = /authorization|cookie|token|secret|password|api[-_]?key/i;
export const REDACTED = "[redacted]";

/** The config as /api/config shows it: the file's shape (like --print-config), secrets replaced. */
export function redactedConfig(c: Config): unknown {
  const raw = configToRaw(c) as Record<string, any>;
  if (raw.admin?.token) raw.admin.token = REDACTED;
  for (const site of raw.site ?? []) {
    for (const route of site.route ?? []) {
      for (const key of ["request_headers", "response_headers"]) {
        const rules = route[key];
        for (const op of ["set", "add"]) {
          const m = rules?.[op];
          if (m && typeof m === "object") for (const name of Object.keys(m)) if (SECRET_NAME.test(name)) m[name] = REDACTED;
        }
      }
    }
  }
  return raw;
}

/** True when the Authorization field is "Bearer <token>" (scheme case-insensitive, RFC 9110 §11.1). */
export function bearerMatches(field: string | undefined, token: string): boolean {
  if (field === undefined || field.length < 8) return false;
  const scheme = field.slice(0, 7);
  // ASCII case-insensitive compare of the scheme without lowercasing wire data.
  const want = "bearer ";
  for (let i = 0; i < 7; i++) {
    const c = scheme.charCodeAt(i) | (i < 6 ? 0x20 : 0);
    if (c !== want.charCodeAt(i)) return false;
  }
  let start = 7;
  while (start < field.length && field.charCodeAt(start) === 0x20) start++;
  // Hash both sides: equal lengths for timingSafeEqual, and no length leak.
  const a = createHash("sha256").update(field.slice(start), "latin1").digest();
  const b = createHash("sha256").update(token, "latin1").digest();
  return timingSafeEqual(a, b);
}

/** How many ticks the dashboard keeps (about five minutes). */
const HISTORY = 300;
const TICK_MS = 1000;

/**
 * The dashboard's feed: while at least one page is open, one snapshot a second, turned into a
 * tick and sent to every open page as a server-sent event. No pages open: no work at all.
 */
class DashboardFeed {
  private readonly clients = new Set<Exchange>();
  private readonly history: Tick[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private prev: { snap: Snapshot; at: number } | null = null;
  private busy = false;

  constructor(private readonly stats: () => Promise<InstanceStats>) {}

  add(ex: Exchange): void {
    ex.startResponse(200, [["Content-Type", "text/event-stream"], NO_STORE, ["X-Accel-Buffering", "no"]], null);
    ex.write(Buffer.from(`retry: 2000\nevent: history\ndata: ${JSON.stringify(this.history)}\n\n`));
    this.clients.add(ex);
    ex.onAbort = () => this.clients.delete(ex);
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), TICK_MS);
      this.tick();
    }
  }

  private tick(): void {
    if (this.clients.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      this.prev = null;
      return;
    }
    if (this.busy) return;
    this.busy = true;
    this.stats().then(
      ({ snap, errors }) => {
        this.busy = false;
        const now = performance.now();
        const prev = this.prev;
        this.prev = { snap, at: now };
        if (prev === null) return;
        const tick = computeTick(prev.snap, snap, (now - prev.at) / 1000, Date.now());
        this.history.push(tick);
        if (this.history.length > HISTORY) this.history.shift();
        const msg = Buffer.from(`data: ${JSON.stringify({ tick, errors: errors.slice(0, 10) })}\n\n`);
        for (const c of this.clients) {
          // A page that does not keep up misses ticks rather than growing a queue.
          if (c.writeRoom > 0) c.write(msg);
        }
      },
      () => {
        this.busy = false;
      },
    );
  }
}

/** A JSON answer (the API's errors are JSON too: {"error": "..."}). */
function json(ex: Exchange, status: number, body: unknown): void {
  ex.respond(status, [JSON_TYPE, NO_STORE], JSON.stringify(body, null, 2) + "\n");
}

/** One path segment, percent-decoded (RFC 3986 §2.1); null when the encoding is invalid. */
function segment(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** /api/upstreams/{group}/{server}/{drain|enable} → its parts, or null for another path. */
function drainPath(path: string): { group: string; server: string; drained: boolean } | null | "bad" {
  if (!path.startsWith("/api/upstreams/")) return null;
  const parts = path.slice("/api/upstreams/".length).split("/");
  if (parts.length !== 3 || (parts[2] !== "drain" && parts[2] !== "enable")) return null;
  const group = segment(parts[0]!);
  const server = segment(parts[1]!);
  if (group === null || server === null || group === "" || server === "") return "bad";
  return { group, server, drained: parts[2] === "drain" };
}

/** Read a small request body whole, then call back (413 above ADMIN_MAX_BODY). */
function readSmallBody(ex: Exchange, done: (body: Uint8Array) => void): void {
  if (ex.head.contentLength > ADMIN_MAX_BODY) {
    json(ex, 413, { error: `the body is larger than ${ADMIN_MAX_BODY} bytes` });
    return;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  let over = false;
  ex.readBody({
    data(c) {
      size += c.length;
      if (size > ADMIN_MAX_BODY) over = true;
      else chunks.push(c.slice());
      return true;
    },
    end() {
      if (over) json(ex, 413, { error: `the body is larger than ${ADMIN_MAX_BODY} bytes` });
      else done(Buffer.concat(chunks));
    },
    error() {},
  });
}

export function createAdminHandler(state: AdminState): Handler {
  const stats = state.stats ?? (() => Promise.resolve({ snap: metrics.snapshot(), errors: recentErrors() }));
  const feed = new DashboardFeed(stats);
  const authorized = (ex: Exchange): boolean => {
    const token = state.config?.adminToken ?? null;
    if (token !== null && !bearerMatches(ex.head.headers.get("authorization"), token)) {
      ex.sendError(401, "ADMIN_UNAUTHORIZED", [CHALLENGE]);
      return false;
    }
    return true;
  };
  return (ex) => {
    const { method, path } = ex.head;
    const route = ROUTES.get(path);
    if (route === undefined) {
      const d = drainPath(path);
      if (d === null) {
        ex.sendError(404, "NO_ROUTE");
        return;
      }
      if (method !== "POST") {
        ex.sendError(405, "METHOD_NOT_ALLOWED", [POST_ONLY]);
        return;
      }
      if (!authorized(ex)) return;
      if (d === "bad") {
        json(ex, 400, { error: "the group or server in the path is not valid percent-encoding" });
        return;
      }
      const ctl = state.upstreams;
      const p = ctl ? ctl.setDrained(d.group, d.server, d.drained) : Promise.resolve(null);
      p.then(
        (st) => {
          if (st === null) json(ex, 404, { error: `no upstream server ${JSON.stringify(d.server)} in group ${JSON.stringify(d.group)}; GET /api/upstreams lists them` });
          else json(ex, 200, upstreamsJson(st));
        },
        () => ex.sendError(500, "INTERNAL_ERROR"),
      );
      return;
    }
    const [methods, guarded] = route;
    if (!methods.includes(method)) {
      ex.sendError(405, "METHOD_NOT_ALLOWED", [methods.includes("POST") ? POST_ONLY : GET_ONLY]);
      return;
    }
    if (guarded && !authorized(ex)) return;
    switch (path) {
      case "/healthz":
        ex.respond(200, [TEXT, NO_STORE], "ok\n");
        return;
      case "/readyz":
        if (state.ready) ex.respond(200, [TEXT, NO_STORE], "ready\n");
        else ex.respond(503, [TEXT, NO_STORE, ["Retry-After", "5"]], "stopping\n");
        return;
      case "/metrics": {
        const om = wantsOpenMetrics(ex.head.headers.get("accept"));
        stats().then(
          (s) => ex.respond(200, [["Content-Type", om ? OPENMETRICS_TYPE : PROMETHEUS_TYPE], NO_STORE], render(s.snap, om)),
          () => ex.sendError(500, "INTERNAL_ERROR"),
        );
        return;
      }
      case "/api/config":
        if (!state.config) ex.sendError(404, "NO_ROUTE");
        else ex.respond(200, [JSON_TYPE, NO_STORE], JSON.stringify(redactedConfig(state.config), null, 2) + "\n");
        return;
      case "/api/reload": {
        if (!state.reload) {
          ex.sendError(404, "NO_ROUTE");
          return;
        }
        const r = state.reload();
        ex.respond(r.ok ? 200 : 422, [JSON_TYPE, NO_STORE], JSON.stringify(r) + "\n");
        return;
      }
      case "/api/upstreams": {
        const ctl = state.upstreams;
        (ctl ? ctl.states() : Promise.resolve([])).then(
          (st) => json(ex, 200, upstreamsJson(st)),
          () => ex.sendError(500, "INTERNAL_ERROR"),
        );
        return;
      }
      case "/api/cache/purge": {
        const cache = state.cache ?? null;
        if (cache === null) {
          json(ex, 404, { error: "no cache configured" });
          return;
        }
        readSmallBody(ex, (body) => {
          const sel = parsePurgeBody(body);
          if (typeof sel === "string") {
            json(ex, 400, { error: sel });
            return;
          }
          Promise.resolve(cache.purge(sel)).then(
            (n) => (n === null ? json(ex, 404, { error: "no cache configured" }) : json(ex, 200, { purged: n })),
            () => ex.sendError(500, "INTERNAL_ERROR"),
          );
        });
        return;
      }
      case "/dashboard":
        ex.respond(200, [["Content-Type", "text/html; charset=utf-8"], NO_STORE, ["Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"]], DASHBOARD_HTML);
        return;
      case "/dashboard/events":
        feed.add(ex);
        return;
    }
  };
}
