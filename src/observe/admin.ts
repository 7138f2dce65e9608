/**
 * The admin listener's handler: health endpoints for load balancers, container runtimes and
 * Kubernetes probes. It listens on its own address (loopback by default), never on a site's.
 *
 *   GET /healthz  200 "ok"       the process is alive and its event loop answers (liveness)
 *   GET /readyz   200 "ready"    it takes traffic; 503 "stopping" from the moment a stop begins
 *                                (SIGTERM), through server.shutdown_delay and the drain (readiness)
 *   GET /metrics  Prometheus text, or OpenMetrics when Accept asks for it (docs/observability.md);
 *                 with workers the supervisor answers with the sum over every worker
 *
 * HEAD works like GET; other methods get 405, other paths 404. Answers are never cached.
 */
import type { Handler } from "../handler.ts";
import { metrics, OPENMETRICS_TYPE, PROMETHEUS_TYPE, render, type Snapshot, wantsOpenMetrics } from "./metrics.ts";

export interface AdminState {
  /** False once a stop has begun. */
  readonly ready: boolean;
  /** The instance's metrics (default: this process's registry). */
  scrape?(): Promise<Snapshot>;
}

const PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

const ALLOW: [string, string] = ["Allow", "GET, HEAD"];
const NO_STORE: [string, string] = ["Cache-Control", "no-store"];
const TEXT: [string, string] = ["Content-Type", "text/plain; charset=utf-8"];

export function createAdminHandler(state: AdminState): Handler {
  return (ex) => {
    const { method, path } = ex.head;
    if (!PATHS.has(path)) {
      ex.sendError(404, "NO_ROUTE");
      return;
    }
    if (method !== "GET" && method !== "HEAD") {
      ex.sendError(405, "METHOD_NOT_ALLOWED", [ALLOW]);
      return;
    }
    if (path === "/metrics") {
      const om = wantsOpenMetrics(ex.head.headers.get("accept"));
      const snap = state.scrape ? state.scrape() : Promise.resolve(metrics.snapshot());
      snap.then(
        (s) => ex.respond(200, [["Content-Type", om ? OPENMETRICS_TYPE : PROMETHEUS_TYPE], NO_STORE], render(s, om)),
        () => ex.sendError(500, "INTERNAL_ERROR"),
      );
    } else if (path === "/healthz") ex.respond(200, [TEXT, NO_STORE], "ok\n");
    else if (state.ready) ex.respond(200, [TEXT, NO_STORE], "ready\n");
    else ex.respond(503, [TEXT, NO_STORE, ["Retry-After", "5"]], "stopping\n");
  };
}
