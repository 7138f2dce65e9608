/**
 * The reverse-proxy handler: one ProxiedExchange per client request. It prepares the upstream
 * request (pure, prepare-request.ts), gets a pooled or fresh upstream connection, streams the
 * request body up and the response down with backpressure both ways, tunnels WebSocket
 * upgrades, and turns every failure into an answer (502/504) or a visible truncation.
 *
 * Flow control: a slow client makes ex.write() return false → we pause the upstream socket
 * until ex.onDrain; a slow upstream makes its write queue fill → the request body sink returns
 * false and the engine stops reading the client until we call ex.resumeBody().
 */
import { tracer } from "../observe/tracer.ts";
import type { Limits, ProxyConfig, Timeouts } from "../config/config.ts";
import type { BodySink, Exchange, Handler, HeaderPairs, TunnelSide } from "../handler.ts";
import type { HeaderList } from "../http1/header-list.ts";
import type { ResponseHead } from "../http1/message-head.ts";
import { frameChunk, LAST_CHUNK, lastChunkWithTrailers } from "../http1/serialize.ts";
import { ConnectError, UpstreamPool, type UpstreamConnection, type UpstreamListener } from "../net/upstream-pool.ts";
import { TrustedProxies } from "./cidr.ts";
import { connectionNamed } from "./hop-by-hop.ts";
import { forwardableTrailers } from "./trailers.ts";
import { makeLocationRewriter } from "./location-rewrite.ts";
import { prepareUpstreamRequest, ProxyPrepareError, refuseReason, upstreamTargetOf, withTarget, wantsWebSocketTunnel, type PreparedRequest, type UpstreamTarget } from "./prepare-request.ts";
import { classifyUpgradeResponse, decideClientFraming, prepareClientResponseHeaders } from "./prepare-response.ts";
import { shouldFollow } from "./redirect-policy.ts";
import { DeadlineSweep } from "../net/deadline-sweep.ts";

const NO_TRAILERS: [string, string][] = [];

/** Idempotent methods (RFC 9110 §9.2.2): only these may be re-sent after a dead pooled connection. */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);

/** What a proxy route runs with: the engine limits and the route's own timeouts. */
export interface ProxyEnv {
  readonly limits: Limits;
  readonly timeouts: Timeouts;
}

export interface ProxyContext {
  readonly config: ProxyEnv;
  readonly proxy: ProxyConfig;
  readonly pool: UpstreamPool;
  readonly target: UpstreamTarget;
  readonly trusted: TrustedProxies;
  readonly timers: DeadlineSweep<ProxiedExchange>;
}

export function createProxyContext(config: ProxyEnv, proxy: ProxyConfig): ProxyContext {
  const url = proxy.url;
  const tls = url.protocol === "https:";
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : tls ? 443 : 80;
  const pool = new UpstreamPool(
    { hostname, port, tls, tlsVerify: proxy.tlsVerify, serverName: hostname, ca: proxy.tlsCa },
    config.limits,
    proxy.poolSize,
    config.timeouts.upstreamPoolIdleMs,
    config.timeouts.upstreamConnectMs,
  );
  return { config, proxy, pool, target: upstreamTargetOf(url), trusted: new TrustedProxies(proxy.trustedProxies), timers: new DeadlineSweep() };
}

export function createProxyHandler(config: ProxyEnv, proxy: ProxyConfig, ctx: ProxyContext = createProxyContext(config, proxy)): Handler {
  return (ex) => new ProxiedExchange(ex, ctx).start();
}

/**
 * The upstream socket's events for one exchange. A class rather than an object of four arrow
 * functions: one allocation per request instead of five. (BodySink also has data()/end(), so
 * ProxiedExchange cannot be the listener itself.)
 */
class UpstreamEvents implements UpstreamListener {
  constructor(private readonly p: ProxiedExchange) {}
  data(c: Uint8Array): void {
    this.p.onUpstreamData(c);
  }
  drain(): void {
    this.p.onUpstreamDrain();
  }
  end(): void {
    this.p.onUpstreamEnd();
  }
  close(): void {
    this.p.onUpstreamClose();
  }
}

class ProxiedExchange implements BodySink {
  /** Upstream socket events; a separate object because BodySink also has data()/end(). */
  private readonly listener: UpstreamListener = new UpstreamEvents(this);
  private prepared!: PreparedRequest;
  private conn: UpstreamConnection | null = null;
  private reused = false;
  private retried = false;
  private requestSent = false;
  private bodyStarted = false;
  private bodyWaitingForDrain = false;
  private gotResponseBytes = false;
  private responseHead: ResponseHead | null = null;
  private paused = false;
  private finished = false;
  private connectStart = 0;
  private sentAt = 0;
  private hops = 0;
  /** Set while discarding the body of a redirect we are following. */
  private followTarget: string | null = null;
  private tunnel: TunnelSide | null = null;
  /** The client half-closed the tunnel; the upstream got (or gets, once drained) our FIN. */
  private tunnelClientEnded = false;

  constructor(
    private readonly ex: Exchange,
    private readonly ctx: ProxyContext,
  ) {}

  start(): void {
    const ex = this.ex;
    const head = ex.head;
    const refuse = refuseReason(head);
    if (refuse) {
      ex.sendError(refuse.status, refuse.code);
      return;
    }
    try {
      this.prepared = prepareUpstreamRequest({
        head,
        clientIp: ex.clientIp,
        clientProto: ex.scheme,
        requestId: ex.id,
        upstream: this.ctx.target,
        rewriteHost: this.ctx.proxy.rewriteHost,
        trusted: this.ctx.trusted,
        tunnel: wantsWebSocketTunnel(head),
        viaName: "dreamserver",
        underscoresInHeaders: this.ctx.proxy.underscoresInHeaders,
        localPort: ex.localPort,
      });
    } catch (e) {
      if (e instanceof ProxyPrepareError) {
        ex.sendError(e.status, e.code);
        return;
      }
      throw e;
    }
    ex.log.upstream = this.ctx.pool.label;
    ex.onAbort = () => this.cancel();
    this.acquire(true);
  }

  // ---- connecting -----------------------------------------------------------------------

  private acquire(allowPooled: boolean): void {
    const idle = allowPooled ? this.ctx.pool.takeIdle() : null;
    if (idle) {
      this.ex.log.upstreamConnectMs ??= 0;
      this.send(idle, true);
      return;
    }
    this.connectStart = performance.now();
    this.ctx.pool.connect().then(
      (conn) => {
        this.ex.log.upstreamConnectMs = performance.now() - this.connectStart;
        if (this.finished) {
          this.ctx.pool.release(conn); // unused and clean
          return;
        }
        this.send(conn, false);
      },
      (err: unknown) => {
        if (this.finished) return;
        const timeout = err instanceof ConnectError && err.code === "UPSTREAM_CONNECT_TIMEOUT";
        if (!timeout && !this.retried) {
          // A failed connect sent nothing: trying once more on a fresh connection is always safe.
          this.retried = true;
          this.acquire(false);
          return;
        }
        this.fail(timeout ? 504 : 502, timeout ? "UPSTREAM_TIMEOUT" : "UPSTREAM_CONNECT");
      },
    );
  }

  private send(conn: UpstreamConnection, reused: boolean): void {
    this.conn = conn;
    this.reused = reused;
    this.gotResponseBytes = false;
    this.requestSent = false;
    conn.listener = this.listener;
    conn.uses++;
    const p = this.prepared;
    conn.parser.expectResponseTo(p.method);
    // Corked: the head is encoded straight into a write arena (no Buffer per request), and any
    // body bytes produced before uncork leave in the same write.
    conn.out.cork();
    try {
      const trace = this.ex.log.trace;
      // A new child span per attempt, its traceparent added at the end of the head (W3C Trace Context §3.2).
      conn.out.writeLatin1(trace === undefined ? p.headText : p.headText.slice(0, -2) + tracer.upstreamFields(trace, this.ctx.pool.label) + "\r\n");
      this.sentAt = performance.now();
      if (p.bodyKind === "none") {
        this.requestSent = true;
        this.armTimer(this.ctx.config.timeouts.upstreamHeaderMs, "header");
      } else if (!this.bodyStarted) {
        this.bodyStarted = true;
        this.ex.readBody(this);
      }
    } finally {
      conn.out.uncork();
    }
  }

  // ---- request body: client → upstream (BodySink) ----------------------------------------

  data(chunk: Uint8Array): boolean {
    const conn = this.conn;
    if (!conn || conn.closed) return true; // being torn down; the engine discards the rest
    let ok: boolean;
    if (this.prepared.bodyKind === "chunked") {
      // Re-frame: our own chunk sizes, never the client's bytes verbatim (no smuggling through us).
      ok = conn.out.write(frameChunk(chunk));
    } else {
      ok = conn.out.write(chunk);
    }
    if (!ok) {
      this.bodyWaitingForDrain = true;
      // An upstream that stops reading our upload must not hold both connections forever.
      if (!this.gotResponseBytes) this.armTimer(this.ctx.config.timeouts.sendIdleMs, "send");
    }
    return ok;
  }

  end(trailers: HeaderList | null): void {
    const conn = this.conn;
    if (!conn || conn.closed) return;
    if (this.prepared.bodyKind === "chunked") {
      // Trailers cannot carry framing, routing, auth or forwarding fields (RFC 9110 §6.5.1).
      const t = trailers && trailers.size ? forwardableTrailers(trailers, connectionNamed(this.ex.head.headers)) : NO_TRAILERS;
      conn.out.write(t.length ? lastChunkWithTrailers(t) : LAST_CHUNK);
    }
    this.requestSent = true;
    this.sentAt = performance.now();
    if (!this.gotResponseBytes) this.armTimer(this.ctx.config.timeouts.upstreamHeaderMs, "header");
  }

  error(code: string): void {
    // The client's body failed (framing error, timeout, gone). The engine answers the client;
    // the upstream got a partial request and must not be reused.
    this.ex.log.errorCode ??= code;
    this.finish(false);
  }

  // ---- upstream events (UpstreamListener) -------------------------------------------------

  /** @internal via UpstreamEvents */
  onUpstreamDrain(): void {
    if (this.tunnel) {
      // [fix] A client FIN that arrived while bytes were still queued is passed on now.
      if (this.tunnelClientEnded && this.conn && !this.conn.closed) this.conn.socket.shutdown();
      else this.tunnel.resume();
      return;
    }
    if (this.bodyWaitingForDrain) {
      this.bodyWaitingForDrain = false;
      if (this.timerPhase === "send") this.clearTimer();
      this.ex.resumeBody();
    }
  }

  /** @internal via UpstreamEvents */
  onUpstreamData(chunk: Uint8Array): void {
    if (this.tunnel) {
      if (!this.tunnel.write(chunk)) this.conn?.pause();
      return;
    }
    if (this.finished) return;
    if (!this.gotResponseBytes) {
      this.gotResponseBytes = true;
      this.ex.log.upstreamTtfbMs = performance.now() - this.sentAt;
    }
    this.conn!.parser.push(chunk);
    this.pumpUpstream();
    // Until the final (non-1xx) head has arrived the first-byte timeout keeps running; after
    // it, each read re-arms the body idle timeout.
    if (!this.finished && this.responseHead !== null && !this.tunnel) this.armTimer(this.ctx.config.timeouts.upstreamBodyIdleMs, "body");
  }

  private pumpUpstream(): void {
    // Everything one upstream read produces for the client (head, body bytes, last-chunk) leaves
    // in one client write.
    this.ex.cork();
    try {
      this.pumpUpstreamEvents();
    } finally {
      this.ex.uncork();
    }
  }

  private pumpUpstreamEvents(): void {
    const conn = this.conn;
    while (conn && !this.finished && !this.paused && conn.listener === this.listener) {
      const ev = conn.parser.next();
      if (ev === null) return;
      switch (ev.type) {
        case "head":
          this.onResponseHead(ev.head as ResponseHead);
          break;
        case "body":
          if (this.followTarget !== null) break;
          if (!this.ex.write(ev.data)) {
            this.paused = true;
            conn.pause();
            this.ex.onDrain = () => {
              this.paused = false;
              conn.resume();
              this.pumpUpstream();
            };
          }
          break;
        case "end":
          this.onResponseEnd(ev.trailers);
          return;
        case "error":
          this.fail(502, "UPSTREAM_PROTOCOL");
          return;
      }
    }
  }

  private onResponseHead(h: ResponseHead): void {
    const ex = this.ex;
    if (h.status < 200 && h.status !== 101) {
      // 1xx informational (100, 103 …) are relayed as they come (RFC 9110 §15.2).
      if (h.status !== 100) ex.informational(h.status, prepareClientResponseHeaders(h, { tunnel: false, rewriteLocation: this.rewriteLocation }));
      return;
    }
    const kind = classifyUpgradeResponse(h, this.prepared.tunnel);
    if (kind === "bad") {
      this.fail(502, "UPSTREAM_BAD_UPGRADE");
      return;
    }
    ex.log.upstreamStatus = h.status;
    if (kind === "tunnel") {
      this.startTunnel(h);
      return;
    }
    this.responseHead = h;
    const pc = this.ctx.proxy;
    if (pc.followRedirects > 0) {
      const d = shouldFollow({
        method: this.prepared.method,
        status: h.status,
        location: h.headers.get("location"),
        upstream: pc.url,
        hopsSoFar: this.hops,
        maxHops: pc.followRedirects,
        currentTarget: this.prepared.target,
        // A "Content-Length: 0" body is nothing to replay (prepare sends CL: 0 for bodiless POSTs too).
        hasBody: this.prepared.contentLength > 0 || this.prepared.bodyKind === "chunked",
      });
      if (d.follow) {
        this.followTarget = d.target;
        if (h.bodyKind === "none") this.onResponseEnd(null);
        return;
      }
    }
    const headers = prepareClientResponseHeaders(h, { tunnel: false, rewriteLocation: this.rewriteLocation });
    const framing = decideClientFraming(h, this.prepared.method);
    if (framing.kind === "none") {
      ex.startResponse(h.status, headers, framing.length ?? null);
      this.onResponseEnd(null);
    } else if (framing.kind === "length") {
      ex.startResponse(h.status, headers, framing.length);
      if (framing.length === 0) this.onResponseEnd(null);
    } else {
      ex.startResponse(h.status, headers, null);
    }
  }

  private onResponseEnd(trailers: HeaderList | null): void {
    if (this.followTarget !== null) {
      const target = this.followTarget;
      this.followTarget = null;
      this.responseHead = null;
      this.hops++;
      this.releaseConn();
      this.prepared = withTarget(this.prepared, target);
      this.acquire(true);
      return;
    }
    this.clearTimer();
    const h = this.responseHead;
    const t = trailers && trailers.size && h ? forwardableTrailers(trailers, connectionNamed(h.headers)) : NO_TRAILERS;
    this.ex.end(t.length ? t : undefined);
    this.finish(true);
  }

  /** FIN from the upstream. */
  /** @internal via UpstreamEvents */
  onUpstreamEnd(): void {
    if (this.tunnel) {
      this.tunnel.end();
      return;
    }
    if (this.finished) return;
    const conn = this.conn!;
    const ev = conn.parser.finish();
    if (ev && ev.type === "end") {
      // Close-delimited body complete (RFC 9112 §6.3 rule 8).
      if (this.followTarget !== null) {
        // [fix] The body of a redirect we follow: go on to the target (the closed connection
        // is destroyed, not pooled, by release()). Before, ex.end() was a no-op here because
        // no response had started, and the client waited forever.
        this.onResponseEnd(null);
        return;
      }
      this.ex.end();
      this.finish(false);
      return;
    }
    this.upstreamGone();
  }

  /** @internal via UpstreamEvents */
  onUpstreamClose(): void {
    if (this.finished) return;
    if (this.tunnel) {
      this.tunnel.end();
      this.finish(false);
      return;
    }
    this.upstreamGone();
  }

  private upstreamGone(): void {
    const p = this.prepared;
    if (!this.gotResponseBytes && this.reused && !this.retried && p.bodyKind === "none" && IDEMPOTENT.has(p.method)) {
      // The pooled connection was dead (server closed it while idle). Safe to send again on a
      // fresh one: idempotent and bodiless, and the upstream answered nothing (RFC 9110 §9.2.2).
      this.retried = true;
      // [fix] Destroy, not just detach: after a FIN (allowHalfOpen) the socket stays open on our
      // side, and a detached one is never closed — one leaked half-open socket per retry.
      const dead = this.conn;
      this.detach();
      dead?.destroy();
      this.acquire(false);
      return;
    }
    if (!this.ex.responseStarted) this.fail(502, this.gotResponseBytes ? "UPSTREAM_PROTOCOL" : "UPSTREAM_CLOSED");
    else this.fail(502, "UPSTREAM_TRUNCATED");
  }

  // ---- WebSocket tunnel ----------------------------------------------------------------

  private startTunnel(h: ResponseHead): void {
    const conn = this.conn!;
    this.clearTimer();
    const rest = conn.parser.takeRemaining();
    const headers = prepareClientResponseHeaders(h, { tunnel: true, rewriteLocation: this.rewriteLocation });
    const side = this.ex.upgrade(headers, {
      data: (c) => {
        if (!conn.out.write(c)) side.pause();
      },
      drain: () => conn.resume(),
      end: () => {
        // [fix] The client sent FIN (or its connection is gone). This used to shutdown() and then
        // finish(false) at once, which destroyed the upstream socket and left the client's
        // half-closed connection open (no FIN back) until the tunnel idle timeout — and the
        // upstream's last bytes were lost. Now: pass the FIN on once the bytes queued for the
        // upstream are out, keep relaying what the upstream still sends, and let the upstream's
        // FIN/close end the tunnel (onUpstreamEnd → client closes → end() again → finish).
        if (this.tunnelClientEnded || conn.ended || conn.closed) {
          this.finish(false);
          return;
        }
        this.tunnelClientEnded = true;
        if (conn.out.pending === 0) conn.socket.shutdown();
        // An upstream that ignores our FIN must not keep its socket forever.
        this.armTimer(this.ctx.config.timeouts.tunnelIdleMs, "tunnel");
      },
    });
    this.tunnel = side;
    if (rest.byteLength > 0 && !side.write(rest)) conn.pause();
  }

  // ---- ending --------------------------------------------------------------------------

  private rewriteLocation = (v: string): string =>
    makeLocationRewriter(this.ctx.proxy.url, { proto: this.ex.scheme, host: this.ex.head.host, mount: this.ex.head.mount })(v);

  private fail(status: number, code: string): void {
    if (this.finished) return;
    this.ex.log.errorCode ??= code;
    if (!this.ex.responseStarted) this.ex.sendError(status, code);
    else this.ex.abort(code); // mid-body: close so the truncation stays visible
    this.finish(false);
  }

  /** Client went away. */
  private cancel(): void {
    this.finish(false);
  }

  private finish(reusable: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTimer();
    const conn = this.conn;
    if (!conn) return;
    const h = this.responseHead;
    if (reusable && h && h.keepAlive && h.bodyKind !== "close" && this.requestSent && conn.parser.idle) this.releaseConn();
    else {
      this.detach();
      conn.destroy();
    }
  }

  private releaseConn(): void {
    const conn = this.conn;
    if (!conn) return;
    this.conn = null;
    this.ctx.pool.release(conn);
  }

  private detach(): void {
    const conn = this.conn;
    if (conn && conn.listener === this.listener) conn.listener = null;
    this.conn = null;
  }

  /**
   * Upstream timeouts are deadlines checked by the context's coarse sweep (net/deadline-sweep.ts):
   * a setTimeout per request (and a refresh per body chunk) measurably cost CPU on the hot path.
   */
  private armTimer(ms: number, phase: "header" | "body" | "tunnel" | "send"): void {
    this.timerPhase = phase;
    this.deadline = performance.now() + ms;
    this.ctx.timers.add(this);
  }
  private timerPhase: "header" | "body" | "tunnel" | "send" = "header";
  /** performance.now() after which the current phase has timed out; 0 = no deadline. */
  deadline = 0;

  /** Called by the sweep. */
  expire(now: number): boolean {
    if (this.deadline === 0 || now < this.deadline) return false;
    this.deadline = 0;
    if (this.timerPhase === "tunnel") {
      this.tunnel?.end();
      this.finish(false);
    } else if (this.timerPhase === "header") this.fail(504, "UPSTREAM_TIMEOUT");
    else if (this.timerPhase === "send") this.fail(504, "UPSTREAM_SEND_TIMEOUT");
    else this.fail(504, "UPSTREAM_BODY_TIMEOUT");
    return true;
  }

  private clearTimer(): void {
    this.deadline = 0;
    this.ctx.timers.delete(this);
  }
}

