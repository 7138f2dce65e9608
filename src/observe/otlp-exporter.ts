/**
 * OTLP/HTTP JSON span export (https://opentelemetry.io/docs/specs/otlp/#otlphttp): finished spans
 * go into a bounded queue; a timer sends them in batches with one POST at a time over our own
 * HTTP/1.1 client on Bun.connect (never fetch: the product rule, and no hidden pool or retry).
 *
 * Requests never wait for the collector. When it is slow or down, the queue fills and new spans
 * are dropped and counted (dreamserver_trace_spans_total{result="dropped"}); a batch the collector
 * refuses or that times out is dropped and counted the same way. Nothing is retried: tracing is
 * best-effort and must never turn a collector outage into memory growth.
 */
import type { Socket } from "bun";
import { metrics } from "./metrics.ts";

/** Spans held at most; beyond that new spans are dropped. */
const QUEUE_MAX = 4096;
/** Spans per POST at most. */
const BATCH_MAX = 512;
/** How often the queue is flushed. */
const FLUSH_MS = 1000;
/** A POST that has not been answered by then is abandoned (its spans counted as dropped). */
const EXPORT_TIMEOUT_MS = 5000;

const spansTotal = metrics.counter("dreamserver_trace_spans", "Spans by what became of them: exported (the collector took them) or dropped (queue full, collector down, slow or refusing).", ["result"]);
const exported = spansTotal.labels("exported");
const dropped = spansTotal.labels("dropped");

export interface SpanData {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentId: string;
  name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  kind: 2 | 3;
  /** performance.now() milliseconds. */
  startMs: number;
  endMs: number;
  /** HTTP status (0: none, e.g. an attempt that was retried). */
  status: number;
  method: string;
  upstream?: string;
  error?: string;
}

/** Unix nanoseconds as a decimal string (beyond 2^53: built from ms and the sub-ms part). */
function unixNanos(perfMs: number): string {
  const ms = performance.timeOrigin + perfMs;
  const whole = Math.floor(ms);
  const frac = Math.round((ms - whole) * 1e6);
  return `${whole}${String(Math.min(frac, 999_999)).padStart(6, "0")}`;
}

function attr(key: string, v: string | number): { key: string; value: Record<string, unknown> } {
  return { key, value: typeof v === "number" ? { intValue: String(v) } : { stringValue: v } };
}

/** The OTLP JSON request body for a batch (ExportTraceServiceRequest). */
export function otlpBody(spans: readonly SpanData[], serviceName: string): string {
  return JSON.stringify({
    resourceSpans: [
      {
        resource: { attributes: [attr("service.name", serviceName)] },
        scopeSpans: [
          {
            scope: { name: "dreamserver" },
            spans: spans.map((s) => {
              const attributes = [attr("http.request.method", s.method)];
              if (s.status > 0) attributes.push(attr("http.response.status_code", s.status));
              if (s.upstream !== undefined) attributes.push(attr("server.address", s.upstream));
              if (s.error !== undefined) attributes.push(attr("error.type", s.error));
              return {
                traceId: s.traceId,
                spanId: s.spanId,
                ...(s.parentId ? { parentSpanId: s.parentId } : {}),
                name: s.name,
                kind: s.kind,
                startTimeUnixNano: unixNanos(s.startMs),
                endTimeUnixNano: unixNanos(s.endMs),
                attributes,
                // STATUS_CODE_ERROR (2) for 5xx on a server span and any failure on a client span.
                status: s.status >= 500 || (s.kind === 3 && s.status === 0) || s.error !== undefined ? { code: 2 } : { code: 0 },
              };
            }),
          },
        ],
      },
    ],
  });
}

export class OtlpExporter {
  private queue: SpanData[] = [];
  private inflight = false;
  private timer: ReturnType<typeof setInterval>;
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly path: string;

  constructor(
    readonly endpoint: URL,
    private readonly serviceName = "dreamserver",
  ) {
    this.tls = endpoint.protocol === "https:";
    this.host = endpoint.hostname.replace(/^\[|\]$/g, "");
    this.port = Number(endpoint.port) || (this.tls ? 443 : 80);
    this.path = (endpoint.pathname || "/") + endpoint.search;
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    (this.timer as unknown as { unref?: () => void }).unref?.();
  }

  /** Queue spans; drops (and counts) what does not fit. O(spans), no I/O. */
  push(spans: readonly SpanData[]): void {
    for (const s of spans) {
      if (this.queue.length >= QUEUE_MAX) dropped.inc();
      else this.queue.push(s);
    }
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Send up to one batch if none is in flight. */
  flush(): void {
    if (this.inflight || this.queue.length === 0) return;
    const batch = this.queue.length <= BATCH_MAX ? this.queue : this.queue.slice(0, BATCH_MAX);
    this.queue = this.queue.length <= BATCH_MAX ? [] : this.queue.slice(BATCH_MAX);
    this.inflight = true;
    this.post(otlpBody(batch, this.serviceName)).then((ok) => {
      this.inflight = false;
      (ok ? exported : dropped).inc(batch.length);
      // More waiting: send the next batch now rather than at the next tick.
      if (ok && this.queue.length >= BATCH_MAX) this.flush();
    });
  }

  /** Stop the timer (a reload that changes or removes the endpoint); queued spans are dropped. */
  close(): void {
    clearInterval(this.timer);
    dropped.inc(this.queue.length);
    this.queue = [];
  }

  /** One POST on a fresh connection (Connection: close); true on a 2xx status line. */
  private post(body: string): Promise<boolean> {
    const payload = Buffer.from(body, "utf8");
    const hostField = this.endpoint.host;
    const head = `POST ${this.path} HTTP/1.1\r\nHost: ${hostField}\r\nContent-Type: application/json\r\nContent-Length: ${payload.byteLength}\r\nConnection: close\r\nUser-Agent: dreamserver\r\n\r\n`;
    return new Promise<boolean>((resolve) => {
      let done = false;
      let got = "";
      let sock: Socket | null = null;
      let pending: Buffer | null = Buffer.concat([Buffer.from(head, "latin1"), payload]);
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock?.end();
        resolve(ok);
      };
      const timer = setTimeout(() => {
        sock?.terminate();
        finish(false);
      }, EXPORT_TIMEOUT_MS);
      const writeSome = (s: Socket) => {
        if (pending === null) return;
        const n = s.write(pending);
        pending = n >= pending.byteLength ? null : pending.subarray(n);
      };
      Bun.connect({
        hostname: this.host,
        port: this.port,
        tls: this.tls,
        socket: {
          open(s) {
            sock = s;
            writeSome(s);
          },
          drain(s) {
            writeSome(s);
          },
          data(_s, chunk) {
            got += Buffer.from(chunk).toString("latin1");
            const eol = got.indexOf("\r\n");
            if (eol >= 0) finish(/^HTTP\/1\.[01] 2\d\d /.test(got.slice(0, eol + 1) + " "));
          },
          close() {
            finish(false);
          },
          error() {
            finish(false);
          },
          connectError() {
            finish(false);
          },
        },
      }).catch(() => finish(false));
    });
  }
}
