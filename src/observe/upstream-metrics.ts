/**
 * Per upstream server series. Labels: `group` (the [upstream.NAME], or "site<i>.route<j>" for a
 * route's inline `to` list) and `server` (the `to` entry's host:port as configured), both from
 * the config, so the series count is bounded by it; a host name that resolves to several
 * addresses is one series (its addresses add up).
 *
 * Hot path: the children are resolved once when a server object is created; an attempt costs a
 * gauge increment and decrement, a counter increment, and a histogram observation on success.
 * Health and drained are read at scrape time from the live registries (registerUpstreamSource).
 */
import { type CounterChild, DURATION_BUCKETS, type GaugeChild, type HistogramChild, metrics } from "./metrics.ts";

const LABELS = ["group", "server"] as const;
const inflight = metrics.gauge("dreamserver_upstream_in_flight", "Requests in flight to an upstream server now.", LABELS);
const requests = metrics.counter("dreamserver_upstream_requests", "Attempts sent to an upstream server (a retried request counts once per server tried).", LABELS);
const failures = metrics.counter("dreamserver_upstream_failures", "Attempts that failed (connect error, timeout, reset, or a status in passive.unhealthy_status).", LABELS);
const latency = metrics.histogram("dreamserver_upstream_response_seconds", "Time from the request sent to the upstream's response head, successful attempts.", LABELS, DURATION_BUCKETS);
// "min" over workers: 1 only when every process sees the server healthy.
const healthy = metrics.gauge("dreamserver_upstream_healthy", "1 when the server is eligible by active and passive health (in every worker), else 0.", LABELS, "min");
const drained = metrics.gauge("dreamserver_upstream_drained", "1 when the server was drained through the admin API.", LABELS, "max");

export interface UpstreamServerMetrics {
  readonly inflight: GaugeChild;
  readonly requests: CounterChild;
  readonly failures: CounterChild;
  readonly latency: HistogramChild;
}

export function upstreamServerMetrics(group: string, server: string): UpstreamServerMetrics {
  return { inflight: inflight.labels(group, server), requests: requests.labels(group, server), failures: failures.labels(group, server), latency: latency.labels(group, server) };
}

/** What the scrape-time collector reads: every server's health and drain flag now. */
export type UpstreamSource = () => Iterable<{ readonly group: string; readonly server: string; readonly healthy: boolean; readonly drained: boolean }>;

let source: UpstreamSource | null = null;

/** The process's live upstream registry (the latest runtime's; set again on reload). */
export function registerUpstreamSource(s: UpstreamSource): void {
  source = s;
}

metrics.onCollect(() => {
  if (source === null) return;
  // Several objects may share a name (one per resolved address, or per route connection
  // settings): healthy only when all are.
  const h = new Map<string, [string, string, boolean, boolean]>();
  for (const st of source()) {
    const k = `${st.group}\u0000${st.server}`;
    const cur = h.get(k);
    if (cur === undefined) h.set(k, [st.group, st.server, st.healthy, st.drained]);
    else {
      cur[2] &&= st.healthy;
      cur[3] ||= st.drained;
    }
  }
  for (const [g, s, ok, d] of h.values()) {
    healthy.labels(g, s).set(ok ? 1 : 0);
    drained.labels(g, s).set(d ? 1 : 0);
  }
  // A server the config dropped has no health any more (its counters stay, as counters do).
  for (const f of [healthy, drained]) for (const k of f.children.keys()) if (!h.has(k)) f.children.delete(k);
});
