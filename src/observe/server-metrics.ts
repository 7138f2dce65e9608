/**
 * The server's own series (docs/observability.md lists them all) and the per-route recorder the
 * HTTP engine calls once per finished exchange.
 *
 * Hot-path cost: Runtime resolves one RouteMetrics per route at config load; an exchange carries
 * a reference to it, and at its end record() does two array lookups, a histogram bucket scan
 * (18 bounds) and a few additions. No string is built and no map is searched per request: the
 * children for a method × status class are resolved on their first use and kept in an array.
 */
import fs from "node:fs";
import { VERSION } from "../build-info.ts";
import { type CounterChild, type HistogramChild, metrics } from "./metrics.ts";

const requests = metrics.counter("dreamserver_requests", "Requests answered, by site and route (config indexes; \"none\" when no route matched), method and status class.", ["site", "route", "method", "status"]);
const duration = metrics.histogram("dreamserver_request_duration_seconds", "Time from the complete request head to the last response byte queued, by site and route.", ["site", "route"]);
const sentBytes = metrics.counter("dreamserver_response_bytes", "Bytes written to clients (heads and bodies), by site and route.", ["site", "route"]);
export const receivedBytes = metrics.counter("dreamserver_received_bytes", "Bytes read from client connections (requests and tunnel traffic).").labels();
export const acceptedConnections = metrics.counter("dreamserver_connections_accepted", "Client connections accepted (including those refused with 503 over the connection cap).").labels();
export const refusedConnections = metrics.counter("dreamserver_connections_refused", "Client connections answered 503 and closed because the connection cap was reached.").labels();
export const openConnections = metrics.gauge("dreamserver_connections_open", "Client connections open now.").labels();
export const openTunnels = metrics.gauge("dreamserver_websocket_tunnels_open", "Upgraded (WebSocket) tunnels open now.").labels();
const reloads = metrics.counter("dreamserver_config_reloads", "Configuration reloads (SIGHUP or POST /api/reload) by result.", ["result"]);
export const reloadSuccess = reloads.labels("success");
export const reloadFailure = reloads.labels("failure");
const rateLimited = metrics.counter("dreamserver_rate_limited", "Requests refused with 429 by a route's rate_limit, by site and route (config indexes).", ["site", "route"]);
/** The rejection counter of one route's rate_limit (resolved once, at config load). */
export function rateLimitRejections(site: string, route: string): CounterChild {
  return rateLimited.labels(site, route);
}
const handshakes = metrics.counter("dreamserver_tls_handshakes", "TLS handshakes by listen address (as configured) and result: ok, or failed (refused by the TLS stack, or the connection closed before the handshake completed).", ["listener", "result"]);
/** The two children of one TLS listener (its config address: bounded by the config). */
export function tlsHandshakes(listener: string): { ok: CounterChild; failed: CounterChild } {
  return { ok: handshakes.labels(listener, "ok"), failed: handshakes.labels(listener, "failed") };
}
export const logWriteErrors = metrics.counter("dreamserver_log_write_errors", "Access-log lines lost to write errors or a blocked log output.").labels();
metrics.gauge("dreamserver_build_info", "Always 1; the version as a label.", ["version"], "max").labels(VERSION).set(1);

// Process: the standard Prometheus process_* names, so existing dashboards work. Summed over
// workers (and the supervisor) in one instance's scrape; event-loop lag takes the worst.
const rss = metrics.gauge("process_resident_memory_bytes", "Resident memory size in bytes.").labels();
const cpu = metrics.counter("process_cpu_seconds", "User and system CPU time spent, in seconds.").labels();
const fds = metrics.gauge("process_open_fds", "Open file descriptors.").labels();
const lag = metrics.gauge("dreamserver_event_loop_lag_seconds", "How late a 100 ms timer fired, at the last check (worst process with workers).", [], "max").labels();
const processes = metrics.gauge("dreamserver_processes", "Processes whose metrics this scrape includes (supervisor and workers).").labels();
processes.set(1);

let lastLag = 0;
let lagTimer: ReturnType<typeof setInterval> | null = null;
/** Start the event-loop lag probe (unref'd: it never keeps the process alive). */
export function startLagProbe(): void {
  if (lagTimer) return;
  let expected = performance.now() + 100;
  lagTimer = setInterval(() => {
    const now = performance.now();
    lastLag = Math.max(0, now - expected) / 1000;
    expected = now + 100;
  }, 100);
  (lagTimer as unknown as { unref?: () => void }).unref?.();
}

metrics.onCollect(() => {
  rss.set(process.memoryUsage.rss());
  const u = process.cpuUsage();
  // A counter: set to the process total (monotonic), not incremented.
  cpu.value = (u.user + u.system) / 1e6;
  try {
    fds.set(fs.readdirSync("/proc/self/fd").length);
  } catch {
    fds.set(0); // not Linux: unknown
  }
  lag.set(lastLag);
});

const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other"] as const;
const CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;

function methodIndex(m: string): number {
  switch (m) {
    case "GET":
      return 0;
    case "HEAD":
      return 1;
    case "POST":
      return 2;
    case "PUT":
      return 3;
    case "DELETE":
      return 4;
    case "PATCH":
      return 5;
    case "OPTIONS":
      return 6;
    default:
      return 7;
  }
}

/** One route's pre-resolved series. Created by the Runtime; kept across reloads by its labels. */
export class RouteMetrics {
  private readonly counts: (CounterChild | undefined)[] = new Array(METHODS.length * CLASSES.length);
  private readonly hist: HistogramChild;
  private readonly bytes: CounterChild;

  constructor(
    readonly site: string,
    readonly route: string,
  ) {
    this.hist = duration.labels(site, route);
    this.bytes = sentBytes.labels(site, route);
  }

  record(method: string, status: number, bytesOut: number, seconds: number): void {
    let c = (status / 100) | 0;
    c = c < 1 ? 0 : c > 5 ? 4 : c - 1;
    const i = methodIndex(method) * 5 + c;
    let child = this.counts[i];
    if (child === undefined) child = this.counts[i] = requests.labels(this.site, this.route, METHODS[(i / 5) | 0]!, CLASSES[c]!);
    child.inc();
    this.hist.observe(seconds);
    this.bytes.inc(bytesOut);
  }
}

const cache = new Map<string, RouteMetrics>();
/** The recorder for site/route labels (the same object for the same labels, across reloads). */
export function routeMetrics(site: string, route: string): RouteMetrics {
  const key = `${site}\u0000${route}`;
  let m = cache.get(key);
  if (m === undefined) {
    m = new RouteMetrics(site, route);
    cache.set(key, m);
  }
  return m;
}

/** Requests no site or route took (421, 404, 400, parse errors, 503 over capacity). */
export const UNROUTED = routeMetrics("none", "none");
