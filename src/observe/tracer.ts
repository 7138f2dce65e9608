/**
 * Tracing: one span per request, one child span id per upstream attempt (forwarded in
 * traceparent), sampling of new traces by `[tracing] sample`, and hand-off of finished sampled
 * spans to the OTLP exporter (src/observe/otlp-exporter.ts) when `otlp_endpoint` is set.
 *
 * Every request gets a trace id and a span id (they go to the access log and upstream even when
 * the trace is not sampled), so ids must be cheap: they are cut from the hex text of a pool of
 * random bytes, refilled 32 KiB at a time.
 */
import { randomFillSync } from "node:crypto";
import type { RequestHead } from "../http1/index.ts";
import { formatTraceparent, parseTraceparent, parseTracestate } from "./trace-context.ts";
import { OtlpExporter, type SpanData } from "./otlp-exporter.ts";

/** Random bytes per refill; the pool is kept as their hex text, so an id is a substring of it. */
const POOL_BYTES = 32 * 1024;
let hexPool = "";
let hexPos = 0;
/** Only "0" digits (an all-zero id is invalid per W3C). A char scan: no substring built per request. */
function allZeroHex(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== 0x30) return false;
  return true;
}

/**
 * `bytes` random bytes as lowercase hex; never all zeros (invalid per W3C). Cut from a hex string
 * made by one native conversion per 32 KiB of random bytes: a per-id toString("hex") was 3 % of
 * the proxy's JS time per request (scripts/bench/proxy-inprocess.ts).
 */
function randomHex(bytes: number): string {
  const chars = bytes * 2;
  for (;;) {
    if (hexPos + chars > hexPool.length) {
      hexPool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES)).toString("hex");
      hexPos = 0;
    }
    const s = hexPool.slice(hexPos, hexPos + chars);
    hexPos += chars;
    if (!allZeroHex(s)) return s;
  }
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

/** One upstream attempt: its span id and when it started (performance.now ms). */
export interface UpstreamAttempt {
  readonly spanId: string;
  readonly start: number;
  readonly upstream: string;
}

/** The trace state of one request, kept in its log fields (ex.log.trace). */
export interface RequestTrace {
  readonly traceId: string;
  /** This request's span (the server span). */
  readonly spanId: string;
  /** The caller's span, or "" for a trace we started. */
  readonly parentId: string;
  readonly sampled: boolean;
  /** Validated tracestate to forward, or null. */
  readonly state: string | null;
  attempts: UpstreamAttempt[] | null;
}

export class Tracer {
  sample = 0;
  exporter: OtlpExporter | null = null;

  /** The request's trace: continue a valid incoming traceparent (its sampled flag honoured), else a new one. */
  start(head: RequestHead): RequestTrace {
    // Most requests carry no traceparent: look before collecting the field lines.
    const parent = head.headers.get("traceparent") === undefined ? null : parseTraceparent(head.headers.getAll("traceparent"));
    if (parent !== null) {
      return { traceId: parent.traceId, spanId: newSpanId(), parentId: parent.parentId, sampled: (parent.flags & 1) === 1, state: parseTracestate(head.headers.getAll("tracestate")), attempts: null };
    }
    // Trace and span id from one hex conversion (24 random bytes).
    const ids = randomHex(24);
    let traceId = ids.slice(0, 32);
    let spanId = ids.slice(32);
    if (allZeroHex(traceId)) traceId = newTraceId();
    if (allZeroHex(spanId)) spanId = newSpanId();
    return { traceId, spanId, parentId: "", sampled: this.sample > 0 && Math.random() < this.sample, state: null, attempts: null };
  }

  /** The traceparent/tracestate field lines for a new upstream attempt (a child of the request's span). */
  upstreamFields(t: RequestTrace, upstream: string): string {
    const spanId = newSpanId();
    // Attempts are only read by finish() for a sampled trace with an exporter: no record otherwise.
    if (t.sampled && this.exporter !== null) (t.attempts ??= []).push({ spanId, start: performance.now(), upstream });
    let s = `traceparent: ${formatTraceparent(t.traceId, spanId, t.sampled)}\r\n`;
    if (t.state !== null) s += `tracestate: ${t.state}\r\n`;
    return s;
  }

  /** The request is over: queue its spans for export when sampled. Never blocks, never throws. */
  finish(t: RequestTrace, info: { method: string; status: number; route: string; startMs: number; endMs: number; error?: string }): void {
    const exp = this.exporter;
    if (!t.sampled || exp === null) return;
    const spans: SpanData[] = [
      { traceId: t.traceId, spanId: t.spanId, parentId: t.parentId, name: `${info.method} ${info.route}`, kind: 2, startMs: info.startMs, endMs: info.endMs, status: info.status, method: info.method, error: info.error },
    ];
    const a = t.attempts;
    if (a !== null) {
      for (let i = 0; i < a.length; i++) {
        const end = i + 1 < a.length ? a[i + 1]!.start : info.endMs;
        spans.push({ traceId: t.traceId, spanId: a[i]!.spanId, parentId: t.spanId, name: `${info.method} upstream`, kind: 3, startMs: a[i]!.start, endMs: end, status: i + 1 < a.length ? 0 : info.status, method: info.method, upstream: a[i]!.upstream });
      }
    }
    exp.push(spans);
  }
}

/** The process-wide tracer; main configures it from the config at start and on reload. */
export const tracer = new Tracer();

/** Apply [tracing] (start and reload): the sample ratio, and an exporter for a new endpoint. */
export function configureTracing(sample: number, endpoint: URL | null): void {
  tracer.sample = sample;
  if (tracer.exporter?.endpoint.href === endpoint?.href) return;
  tracer.exporter?.close();
  tracer.exporter = endpoint === null ? null : new OtlpExporter(endpoint);
}
