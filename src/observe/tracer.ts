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
import { parseTraceparent, parseTracestate } from "./trace-context.ts";
import { OtlpExporter, type SpanData } from "./otlp-exporter.ts";

/** Random bytes per refill; the pool is also kept as their hex text, so an id is a substring of it. */
const POOL_BYTES = 32 * 1024;
let pool = Buffer.alloc(0);
let hexPool = "";
let poolPos = 0;

/**
 * `bytes` random bytes as lowercase hex; never all zeros (invalid per W3C). Cut from the hex text
 * of a pool made by one native conversion per 32 KiB of random bytes (a toString("hex") per id
 * was 3 % of the proxy's JS time per request, scripts/bench/proxy-inprocess.ts); the zero check
 * reads the bytes, not the text.
 */
function randomHex(bytes: number): string {
  for (;;) {
    if (poolPos + bytes > pool.length) {
      pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
      hexPool = pool.toString("hex");
      poolPos = 0;
    }
    const at = poolPos;
    poolPos += bytes;
    for (let i = at; i < at + bytes; i++) if (pool[i] !== 0) return hexPool.slice(at * 2, (at + bytes) * 2);
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
    const traceId = newTraceId();
    const spanId = newSpanId();
    return { traceId, spanId, parentId: "", sampled: this.sample > 0 && Math.random() < this.sample, state: null, attempts: null };
  }

  /**
   * The traceparent/tracestate field lines for a new upstream attempt (a child of the request's
   * span), followed by `end` (the head's empty line, so the caller writes one string). Built in
   * one concatenation: this runs per proxied request (the format is formatTraceparent's).
   */
  upstreamFields(t: RequestTrace, upstream: string, end = ""): string {
    const spanId = newSpanId();
    // Attempts are only read by finish() for a sampled trace with an exporter: no record otherwise.
    if (t.sampled && this.exporter !== null) (t.attempts ??= []).push({ spanId, start: performance.now(), upstream });
    const flags = t.sampled ? "-01\r\n" : "-00\r\n";
    if (t.state === null) return "traceparent: 00-" + t.traceId + "-" + spanId + flags + end;
    return "traceparent: 00-" + t.traceId + "-" + spanId + flags + "tracestate: " + t.state + "\r\n" + end;
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
