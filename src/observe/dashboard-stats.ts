/**
 * The dashboard's numbers, computed from two consecutive metric snapshots (about a second
 * apart): request rate, status mix, latency percentiles from the duration histogram's growth,
 * connections, the busiest routes, upstream health. Aggregation only: the dashboard costs one snapshot per second
 * however much traffic there is, never an event per request.
 *
 * Pure code: no Bun imports.
 */
import type { FamilySnapshot, Snapshot } from "./metrics.ts";

export interface Tick {
  /** Unix ms. */
  t: number;
  rps: number;
  /** Requests per second by status class. */
  status: Record<string, number>;
  /** Latency percentiles over this interval, seconds (null: no requests). */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  connections: number;
  tunnels: number;
  rssBytes: number;
  /** Busiest routes in this interval: "site/route" and requests per second. */
  top: { route: string; rps: number }[];
  /** Every upstream server (from the dreamserver_upstream_* series), in series order. */
  upstreams: UpstreamTick[];
}

export interface UpstreamTick {
  group: string;
  server: string;
  /** "up", "down" (health) or "drained" (admin API; wins over health). */
  state: "up" | "down" | "drained";
  inflight: number;
  /** Attempts per second in this interval. */
  rps: number;
}

/** Upstream servers as the dashboard shows them: health and drain gauges, in-flight, attempt rate. */
function upstreamTicks(prev: Snapshot, cur: Snapshot, dt: number): UpstreamTick[] {
  const healthy = counterMap(family(cur, "dreamserver_upstream_healthy"));
  const drained = counterMap(family(cur, "dreamserver_upstream_drained"));
  const inflight = counterMap(family(cur, "dreamserver_upstream_in_flight"));
  const req1 = counterMap(family(cur, "dreamserver_upstream_requests"));
  const req0 = counterMap(family(prev, "dreamserver_upstream_requests"));
  const out: UpstreamTick[] = [];
  for (const [k, { labels, v }] of healthy) {
    const d = (req1.get(k)?.v ?? 0) - (req0.get(k)?.v ?? 0);
    out.push({
      group: labels[0]!,
      server: labels[1]!,
      state: drained.get(k)?.v === 1 ? "drained" : v === 1 ? "up" : "down",
      inflight: inflight.get(k)?.v ?? 0,
      rps: Math.max(0, d) / dt,
    });
  }
  return out;
}

function family(s: Snapshot, name: string): FamilySnapshot | undefined {
  return s.find((f) => f.name === name);
}

function scalar(s: Snapshot, name: string): number {
  const v = family(s, name)?.series[0]?.[1];
  return typeof v === "number" ? v : 0;
}

/** Per-series counter values keyed by joined labels. */
function counterMap(f: FamilySnapshot | undefined): Map<string, { labels: string[]; v: number }> {
  const m = new Map<string, { labels: string[]; v: number }>();
  if (f) for (const [labels, v] of f.series) if (typeof v === "number") m.set(labels.join("\u0000"), { labels, v });
  return m;
}

/**
 * The q-quantile of a histogram given per-bucket counts (last = +Inf), by linear interpolation
 * inside the bucket like Prometheus's histogram_quantile; the +Inf bucket reports its lower bound.
 */
export function quantile(q: number, bounds: readonly number[], counts: readonly number[]): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (total <= 0) return null;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > 0 && cum + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lo = i === 0 ? 0 : bounds[i - 1]!;
      const hi = bounds[i]!;
      return lo + (hi - lo) * ((rank - cum) / c);
    }
    cum += c;
  }
  return bounds[bounds.length - 1] ?? null;
}

/** The tick for the interval between two snapshots taken `seconds` apart. */
export function computeTick(prev: Snapshot, cur: Snapshot, seconds: number, now: number): Tick {
  const dt = seconds > 0 ? seconds : 1;
  const before = counterMap(family(prev, "dreamserver_requests"));
  const after = counterMap(family(cur, "dreamserver_requests"));
  const status: Record<string, number> = { "1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0 };
  const byRoute = new Map<string, number>();
  let total = 0;
  for (const [k, { labels, v }] of after) {
    const d = v - (before.get(k)?.v ?? 0);
    if (d <= 0) continue;
    total += d;
    status[labels[3]!] = (status[labels[3]!] ?? 0) + d;
    const route = `${labels[0]}/${labels[1]}`;
    byRoute.set(route, (byRoute.get(route) ?? 0) + d);
  }
  // Latency: the histogram's growth summed over routes.
  const h1 = family(cur, "dreamserver_request_duration_seconds");
  const h0 = family(prev, "dreamserver_request_duration_seconds");
  let p50: number | null = null;
  let p95: number | null = null;
  let p99: number | null = null;
  if (h1) {
    const old = new Map<string, number[]>();
    if (h0) for (const [l, v] of h0.series) if (typeof v !== "number") old.set(l.join("\u0000"), v.counts);
    const sum = new Array<number>(h1.buckets.length + 1).fill(0);
    for (const [l, v] of h1.series) {
      if (typeof v === "number") continue;
      const o = old.get(l.join("\u0000"));
      for (let i = 0; i < sum.length; i++) sum[i]! += (v.counts[i] ?? 0) - (o?.[i] ?? 0);
    }
    p50 = quantile(0.5, h1.buckets, sum);
    p95 = quantile(0.95, h1.buckets, sum);
    p99 = quantile(0.99, h1.buckets, sum);
  }
  for (const k of Object.keys(status)) status[k] = status[k]! / dt;
  const top = [...byRoute.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([route, n]) => ({ route, rps: n / dt }));
  return {
    t: now,
    rps: total / dt,
    status,
    p50,
    p95,
    p99,
    connections: scalar(cur, "dreamserver_connections_open"),
    tunnels: scalar(cur, "dreamserver_websocket_tunnels_open"),
    rssBytes: scalar(cur, "process_resident_memory_bytes"),
    top,
    upstreams: upstreamTicks(prev, cur, dt),
  };
}
