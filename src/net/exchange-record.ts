/**
 * What every finished exchange leaves behind, whatever protocol carried it: the route's metrics
 * and the recent-errors ring, the span of a sampled trace, and one access-log record. The HTTP/1
 * engine and each HTTP/2 stream call this once, when the exchange is done.
 */
import type { ExchangeLogFields } from "../handler.ts";
import type { RequestHead } from "../http1/message-head.ts";
import type { AccessLogger } from "../log/access-record.ts";
import { recordError } from "../observe/recent-errors.ts";
import { type RouteMetrics, UNROUTED } from "../observe/server-metrics.ts";
import type { Tracer } from "../observe/tracer.ts";

/** The exchange as the record needs it. */
export interface FinishedExchange {
  readonly head: RequestHead;
  readonly log: ExchangeLogFields;
  readonly id: string;
  readonly clientIp: string;
  /** performance.now() and Date.now() when the request head was complete. */
  readonly startedAt: number;
  readonly startedWall: number;
  readonly routeMetrics: RouteMetrics | null;
}

/** The connection-level parts: where records go and what the TLS handshake said. */
export interface RecordSink {
  readonly metricsOn: boolean;
  readonly tracer: Tracer | null | undefined;
  readonly logger: AccessLogger;
}
export interface TlsFacts {
  readonly tlsVersion: string | null;
  readonly tlsCipher: string | null;
  readonly tlsServerName: string | null;
}

/**
 * Record one finished exchange. `proto` is the HTTP version when it is not HTTP/1.1 (the access
 * log leaves the field out for the common case).
 */
export function recordFinished(sink: RecordSink, tls: TlsFacts, ex: FinishedExchange, status: number, bytes: number, error: string | undefined, proto: string | undefined): void {
  const h = ex.head;
  const l = ex.log;
  const latencyMs = performance.now() - ex.startedAt;
  if (sink.metricsOn) {
    const rm = ex.routeMetrics ?? UNROUTED;
    rm.record(h.method, status, bytes, latencyMs / 1000);
    if (status >= 500 || error !== undefined) recordError({ t: ex.startedWall, status, code: error ?? "-", method: h.method.length <= 16 ? h.method : "other", route: `${rm.site}/${rm.route}` });
  }
  const trace = l.trace;
  // Only a sampled trace is exported (Tracer.finish returns at once otherwise): no span record per request.
  if (trace !== undefined && trace.sampled) sink.tracer?.finish(trace, { method: h.method, status, route: ex.routeMetrics?.route ?? "none", startMs: ex.startedAt, endMs: ex.startedAt + latencyMs, error });
  // One object literal with a fixed shape: an absent field is undefined, which every formatter
  // treats as "not present" (src/log/format-*.ts). Object spreads here cost an allocation each.
  const onTls = tls.tlsVersion !== null;
  sink.logger.log({
    time: ex.startedWall,
    id: ex.id,
    ip: ex.clientIp,
    method: h.method,
    path: h.target,
    host: h.host,
    status,
    bytes,
    latencyMs,
    error,
    upstream: l.upstream,
    upstreamStatus: l.upstreamStatus,
    upstreamConnectMs: l.upstreamConnectMs,
    upstreamTtfbMs: l.upstreamTtfbMs,
    cache: l.cache,
    proto,
    userAgent: h.headers.get("user-agent"),
    traceId: trace?.traceId,
    spanId: trace?.spanId,
    tlsVersion: onTls ? tls.tlsVersion! : undefined,
    tlsCipher: onTls ? (tls.tlsCipher ?? "-") : undefined,
    sni: onTls && tls.tlsServerName !== null ? tls.tlsServerName : undefined,
  });
}
