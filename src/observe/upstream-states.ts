/**
 * GET /api/upstreams: the per-server state of every upstream group as JSON, merged over the
 * objects that share a name (a group used by routes with different connection settings has one
 * object per setting; with workers, one per worker). Pure code.
 *
 * Merging the same group, server and address: in-flight, requests and failures add up; healthy
 * only when every copy says so; drained when any copy is (they agree unless a drain is still
 * reaching the workers); the latest active check wins; latency is the requests-weighted mean.
 */
import type { UpstreamServerState } from "../proxy/upstreams.ts";

export function mergeUpstreamStates(lists: readonly (readonly UpstreamServerState[])[]): UpstreamServerState[] {
  const out = new Map<string, UpstreamServerState>();
  for (const list of lists) {
    for (const s of list) {
      const k = `${s.group}\u0000${s.server}\u0000${s.address}`;
      const a = out.get(k);
      if (a === undefined) {
        out.set(k, { ...s });
        continue;
      }
      const newer = (s.lastCheck ?? -1) > (a.lastCheck ?? -1);
      const n = a.requests + s.requests;
      const lat = a.latencyMs === null ? s.latencyMs : s.latencyMs === null ? a.latencyMs : n === 0 ? (a.latencyMs + s.latencyMs) / 2 : (a.latencyMs * a.requests + s.latencyMs * s.requests) / n;
      out.set(k, {
        ...a,
        inflight: a.inflight + s.inflight,
        requests: n,
        failures: a.failures + s.failures,
        healthy: a.healthy && s.healthy,
        drained: a.drained || s.drained,
        lastCheck: newer ? s.lastCheck : a.lastCheck,
        lastCheckOk: newer ? s.lastCheckOk : a.lastCheckOk,
        lastCheckReason: newer ? s.lastCheckReason : a.lastCheckReason,
        latencyMs: lat,
      });
    }
  }
  return [...out.values()];
}

/** One server as the API shows it (snake_case like the config file). */
function serverJson(s: UpstreamServerState): Record<string, unknown> {
  return {
    server: s.server,
    address: s.address,
    healthy: s.healthy,
    drained: s.drained,
    in_flight: s.inflight,
    requests: s.requests,
    failures: s.failures,
    weight: s.weight,
    backup: s.backup,
    max_conns: s.maxConns,
    latency_ms: s.latencyMs === null ? null : Math.round(s.latencyMs * 1000) / 1000,
    last_check: s.lastCheck === null ? null : new Date(s.lastCheck).toISOString(),
    last_check_ok: s.lastCheckOk,
    last_check_reason: s.lastCheckReason,
  };
}

/** The body of GET /api/upstreams: {"groups": [{"name", "servers": [...]}]}, groups in config order. */
export function upstreamsJson(states: readonly UpstreamServerState[]): { groups: { name: string; servers: Record<string, unknown>[] }[] } {
  const groups = new Map<string, Record<string, unknown>[]>();
  for (const s of states) {
    let g = groups.get(s.group);
    if (g === undefined) groups.set(s.group, (g = []));
    g.push(serverJson(s));
  }
  return { groups: [...groups].map(([name, servers]) => ({ name, servers })) };
}
