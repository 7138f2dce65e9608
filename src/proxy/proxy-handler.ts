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
import { ConnectError, type UpstreamConnection, type UpstreamListener } from "../net/upstream-pool.ts";
import { UpstreamGroup, type UpstreamServer } from "./upstreams.ts";
import { renderTemplate } from "../config/template.ts";
import { parseCookies, templateContext } from "../middleware/template-context.ts";
import { trimOws } from "../http1/field-syntax.ts";
import { TrustedProxies } from "./cidr.ts";
import { connectionNamed } from "./hop-by-hop.ts";
import { forwardableTrailers } from "./trailers.ts";
import { makeLocationRewriter } from "./location-rewrite.ts";
import { prepareUpstreamRequest, ProxyPrepareError, refuseReason, withTarget, wantsWebSocketTunnel, type PreparedRequest } from "./prepare-request.ts";
import { classifyUpgradeResponse, decideClientFraming, prepareClientResponseHeaders, type ResponsePrepareOptions } from "./prepare-response.ts";
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
  /** The servers (with their pools and health), shared by every route that names the group. */
  readonly group: UpstreamGroup;
  readonly trusted: TrustedProxies;
  readonly timers: DeadlineSweep<ProxiedExchange>;
}

/** `group`: from the runtime's registry; without one (tests, embedding) the route gets its own. */
export function createProxyContext(config: ProxyEnv, proxy: ProxyConfig, group?: UpstreamGroup): ProxyContext {
  group ??= new UpstreamGroup(proxy.group, "@route", {
    limits: config.limits,
    poolSize: proxy.poolSize,
    idleMs: config.timeouts.upstreamPoolIdleMs,
    connectMs: config.timeouts.upstreamConnectMs,
    tlsVerify: proxy.tlsVerify,
    tlsCa: proxy.tlsCa,
  });
  return { config, proxy, group, trusted: new TrustedProxies(proxy.trustedProxies), timers: new DeadlineSweep() };
}

export function createProxyHandler(config: ProxyEnv, proxy: ProxyConfig, ctx: ProxyContext = createProxyContext(config, proxy)): Handler {
  return (ex) => new ProxiedExchange(ex, ctx).start();
}

class ProxiedExchange implements BodySink, ResponsePrepareOptions, UpstreamListener {
  /** The upstream connection's listener: this exchange itself (UpstreamListener's names do not clash with BodySink's). */
  private get listener(): UpstreamListener {
    return this;
  }
  private prepared!: PreparedRequest;
  private conn: UpstreamConnection | null = null;
  private reused = false;
  /** A pooled connection turned out dead: the one free re-send on a fresh connection was used. */
  private staleRetried = false;
  /** The server of the current attempt (its in-flight count includes us), or null. */
  private server: UpstreamServer | null = null;
  /** The server that got the latest attempt (for Location rewriting). */
  private lastServer: UpstreamServer | null = null;
  /** This attempt is the server's passive half-open trial. */
  private trial = false;
  /** The passive-health verdict of this attempt was reported. */
  private verdict = false;
  private readonly tried: UpstreamServer[] = [];
  private firstAttemptAt = 0;
  /** Why attempts failed: every one a failed connect (→ 502 UPSTREAM_CONNECT), all timeouts (→ 504). */
  private connectFailures = 0;
  private connectTimeouts = 0;
  private lastFailure: { status: number; code: string } | null = null;
  /** policy = "cookie": the request's cookie value, and the Set-Cookie to add when we re-pick. */
  private cookieIn: string | null = null;
  private setCookie: string | null = null;
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
  private tunnelSide: TunnelSide | null = null;
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
      this.prepare(this.ctx.group.servers[0]!);
    } catch (e) {
      if (e instanceof ProxyPrepareError) {
        ex.sendError(e.status, e.code);
        return;
      }
      throw e;
    }
    const g = this.ctx.group.cfg;
    if (g.policy === "cookie") this.cookieIn = parseCookies(head.headers.getAll("cookie")).get(g.cookie) ?? null;
    ex.onAbort = () => this.cancel();
    this.firstAttemptAt = performance.now();
    this.nextAttempt();
  }

  /** Whether the prepared head names the server (Host rewritten to its authority). */
  private get hostIsPerServer(): boolean {
    return this.ctx.proxy.rewriteHost || this.ex.head.host === "";
  }

  private preparedFor: UpstreamServer | null = null;

  private prepare(server: UpstreamServer): void {
    const ex = this.ex;
    const head = ex.head;
    {
      this.preparedFor = server;
      this.prepared = prepareUpstreamRequest({
        head,
        clientIp: ex.clientIp,
        clientProto: ex.scheme,
        requestId: ex.id,
        upstream: server.target,
        rewriteHost: this.ctx.proxy.rewriteHost,
        trusted: this.ctx.trusted,
        tunnel: wantsWebSocketTunnel(head),
        viaName: "dreamserver",
        underscoresInHeaders: this.ctx.proxy.underscoresInHeaders,
        localPort: ex.localPort,
      });
    }
  }

  // ---- choosing a server ----------------------------------------------------------------

  /** The key ip_hash / hash hash on. */
  private hashKey(): string {
    const g = this.ctx.group.cfg;
    if (g.policy === "ip_hash") return this.clientAddress();
    if (g.policy === "hash" && g.hashKey) return renderTemplate(g.hashKey, templateContext(this.ex));
    return "";
  }

  /**
   * The client address for ip_hash: the peer, or, when the peer is a trusted proxy, the
   * right-most X-Forwarded-For entry that is not itself a trusted proxy (what that chain reports).
   */
  private clientAddress(): string {
    let ip = this.ex.clientIp;
    const trusted = this.ctx.trusted;
    if (!trusted.has(ip)) return ip;
    const parts = this.ex.head.headers.getAll("x-forwarded-for").join(",").split(",");
    for (let i = parts.length - 1; i >= 0; i--) {
      const a = trimOws(parts[i]!);
      if (a === "") continue;
      ip = a;
      if (!trusted.has(a)) break;
    }
    return ip;
  }

  /**
   * Start the next attempt on an eligible server, or answer: 503 NO_HEALTHY_UPSTREAM at once when
   * no server is eligible for the first attempt, the last failure's answer when retries or
   * try_duration are used up.
   */
  private nextAttempt(): void {
    if (this.finished) return;
    const group = this.ctx.group;
    const g = group.cfg;
    const now = performance.now();
    if (this.tried.length > 0) {
      const retriesLeft = this.tried.length <= g.retries;
      const inTime = g.tryDurationMs === 0 || now - this.firstAttemptAt < g.tryDurationMs;
      if (!retriesLeft || !inTime) return this.giveUp();
    }
    let s = group.pick(this.hashKey(), this.tried, this.cookieIn, now);
    // One server only: after a refused connect, one re-send on a fresh connection (what a single
    // backend always had); not after a timeout (connect or first byte), which would double the wait.
    if (s === null && this.tried.length > 0 && group.servers.length === 1 && this.connectFailures === this.tried.length && this.connectTimeouts === 0) {
      s = group.pick(this.hashKey(), null, null, now);
    }
    if (s === null) {
      if (this.tried.length === 0) {
        this.finished = true;
        this.ex.log.errorCode ??= "NO_HEALTHY_UPSTREAM";
        this.ex.sendError(503, "NO_HEALTHY_UPSTREAM", [["Retry-After", String(group.retryAfterSeconds(now))]]);
        return;
      }
      return this.giveUp();
    }
    this.server = s;
    this.lastServer = s;
    this.trial = s.begin(now);
    this.verdict = false;
    this.tried.push(s);
    this.ex.log.upstream = this.ex.log.upstream === undefined ? s.label : `${this.ex.log.upstream}, ${s.label}`;
    if (g.policy === "cookie") this.setCookie = this.cookieIn === s.cookieValue ? null : `${g.cookie}=${s.cookieValue}; Path=/; HttpOnly; SameSite=Lax`;
    if (this.preparedFor !== s && this.hostIsPerServer && this.hops === 0) {
      try {
        this.prepare(s);
      } catch (e) {
        if (e instanceof ProxyPrepareError) return this.fail(e.status, e.code);
        throw e;
      }
    }
    this.acquire(true);
  }

  /** Retries are used up (or no other server is eligible): the answer of the failures seen. */
  private giveUp(): void {
    const n = this.tried.length;
    if (n > 0 && this.connectFailures === n) {
      if (this.connectTimeouts === n) this.fail(504, "UPSTREAM_TIMEOUT");
      else this.fail(502, "UPSTREAM_CONNECT");
      return;
    }
    const f = this.lastFailure ?? { status: 502, code: "UPSTREAM_CONNECT" };
    this.fail(f.status, f.code);
  }

  /** Passive health: the verdict on the current attempt (once). */
  private report(ok: boolean): void {
    const s = this.server;
    if (!s || this.verdict) return;
    this.verdict = true;
    if (ok) s.succeeded(this.trial, this.ex.log.upstreamTtfbMs ?? 0);
    else s.failed(performance.now(), this.trial);
  }

  /** The current attempt no longer occupies its server. */
  private releaseServer(): void {
    const s = this.server;
    if (!s) return;
    if (!this.verdict) s.passive.abandon(this.trial);
    this.server = null;
    s.done();
  }

  /** A failure before any response byte: retry elsewhere when that is safe, else answer. */
  private attemptFailed(status: number, code: string, retrySafe: boolean): void {
    this.report(false);
    this.lastFailure = { status, code };
    const dead = this.conn;
    this.detach();
    dead?.destroy();
    this.releaseServer();
    if (retrySafe && !this.ex.responseStarted) this.nextAttempt();
    else this.fail(status, code);
  }

  /** Idempotent and bodiless, so sending it again after bytes went out is safe (RFC 9110 §9.2.2). */
  private get resendable(): boolean {
    const p = this.prepared;
    return !this.gotResponseBytes && p.bodyKind === "none" && IDEMPOTENT.has(p.method) && this.followTarget === null;
  }

  // ---- connecting -----------------------------------------------------------------------

  private acquire(allowPooled: boolean): void {
    const server = this.server!;
    const pool = server.pool;
    const idle = allowPooled ? pool.takeIdle() : null;
    if (idle) {
      this.ex.log.upstreamConnectMs ??= 0;
      this.send(idle, true);
      return;
    }
    this.connectStart = performance.now();
    pool.connect(this.ctx.config.timeouts.upstreamConnectMs).then(
      (conn) => {
        this.ex.log.upstreamConnectMs = performance.now() - this.connectStart;
        if (this.finished || this.server !== server) {
          pool.release(conn); // unused and clean
          return;
        }
        this.send(conn, false);
      },
      (err: unknown) => {
        if (this.finished || this.server !== server) return;
        const timeout = err instanceof ConnectError && err.code === "UPSTREAM_CONNECT_TIMEOUT";
        // A failed connect sent nothing: the next server may always get the request.
        this.connectFailures++;
        if (timeout) this.connectTimeouts++;
        this.attemptFailed(timeout ? 504 : 502, timeout ? "UPSTREAM_TIMEOUT" : "UPSTREAM_CONNECT", true);
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
      if (trace === undefined) conn.out.writeLatin1(p.headText);
      else {
        // Corked writes into the arena rather than one concatenated copy of the whole head.
        conn.out.writeLatin1(p.requestLine);
        conn.out.writeLatin1(p.fieldText);
        conn.out.writeLatin1(tracer.upstreamFields(trace, this.server?.label ?? "", "\r\n"));
      }
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

  onUpstreamDrain(): void {
    if (this.tunnelSide) {
      // [fix] A client FIN that arrived while bytes were still queued is passed on now.
      if (this.tunnelClientEnded && this.conn && !this.conn.closed) this.conn.socket.shutdown();
      else this.tunnelSide.resume();
      return;
    }
    if (this.bodyWaitingForDrain) {
      this.bodyWaitingForDrain = false;
      if (this.timerPhase === "send") this.clearTimer();
      this.ex.resumeBody();
    }
  }

  onUpstreamData(chunk: Uint8Array): void {
    if (this.tunnelSide) {
      if (!this.tunnelSide.write(chunk)) this.conn?.pause();
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
    if (!this.finished && this.responseHead !== null && !this.tunnelSide) this.armTimer(this.ctx.config.timeouts.upstreamBodyIdleMs, "body");
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
      if (h.status !== 100) ex.informational(h.status, prepareClientResponseHeaders(h, this));
      return;
    }
    const kind = classifyUpgradeResponse(h, this.prepared.tunnel);
    if (kind === "bad") {
      this.fail(502, "UPSTREAM_BAD_UPGRADE");
      return;
    }
    ex.log.upstreamStatus = h.status;
    // The engine writes its own Date: the response cache reads the origin's from here (RFC 9111 §4.2.3).
    ex.log.upstreamDate = h.headers.get("date");
    this.report(!this.ctx.group.cfg.passive.unhealthyStatus.includes(h.status));
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
    const headers = prepareClientResponseHeaders(h, this);
    if (this.setCookie !== null) headers.push(["Set-Cookie", this.setCookie]);
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
  onUpstreamEnd(): void {
    if (this.tunnelSide) {
      this.tunnelSide.end();
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

  onUpstreamClose(): void {
    if (this.finished) return;
    if (this.tunnelSide) {
      this.tunnelSide.end();
      this.finish(false);
      return;
    }
    this.upstreamGone();
  }

  private upstreamGone(): void {
    if (this.resendable && this.reused && !this.staleRetried) {
      // The pooled connection was dead (server closed it while idle). Safe to send again on a
      // fresh one: idempotent and bodiless, and the upstream answered nothing (RFC 9110 §9.2.2).
      // Not the server's fault, so no passive failure and no retry used.
      this.staleRetried = true;
      // [fix] Destroy, not just detach: after a FIN (allowHalfOpen) the socket stays open on our
      // side, and a detached one is never closed — one leaked half-open socket per retry.
      const dead = this.conn;
      this.detach();
      dead?.destroy();
      this.acquire(false);
      return;
    }
    if (!this.gotResponseBytes) {
      // A fresh connection closed before any response byte: the server failed this attempt.
      this.attemptFailed(502, "UPSTREAM_CLOSED", this.resendable);
      return;
    }
    if (!this.ex.responseStarted) this.fail(502, "UPSTREAM_PROTOCOL");
    else this.fail(502, "UPSTREAM_TRUNCATED");
  }

  // ---- WebSocket tunnel ----------------------------------------------------------------

  private startTunnel(h: ResponseHead): void {
    const conn = this.conn!;
    this.clearTimer();
    const rest = conn.parser.takeRemaining();
    const headers = prepareClientResponseHeaders(h, { tunnel: true, rewriteLocation: (v: string) => this.rewriteLocation(v) });
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
    this.tunnelSide = side;
    if (rest.byteLength > 0 && !side.write(rest)) conn.pause();
  }

  // ---- ending --------------------------------------------------------------------------

  /** The exchange is its own ResponsePrepareOptions for ordinary responses (no options object or closure per request). */
  readonly tunnel = false;

  /** ResponsePrepareOptions.rewriteLocation: Location/Refresh as the client must see them. */
  rewriteLocation(v: string): string {
    return makeLocationRewriter(this.lastServer?.cfg.url ?? this.ctx.proxy.url, { proto: this.ex.scheme, host: this.ex.head.host, mount: this.ex.head.mount })(v);
  }

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
    this.releaseServer();
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
    conn.pool.release(conn);
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
      this.tunnelSide?.end();
      this.finish(false);
    } else if (this.timerPhase === "header") {
      // No first byte in time: a passive failure; an idempotent bodiless request may go elsewhere.
      this.attemptFailed(504, "UPSTREAM_TIMEOUT", this.resendable);
    }
    else if (this.timerPhase === "send") this.fail(504, "UPSTREAM_SEND_TIMEOUT");
    else this.fail(504, "UPSTREAM_BODY_TIMEOUT");
    // [fix] A retry that went out on a pooled connection armed a new deadline synchronously:
    // "fired" must then be false, or the sweep would drop the new attempt's deadline.
    return this.deadline === 0;
  }

  private clearTimer(): void {
    this.deadline = 0;
    this.ctx.timers.delete(this);
  }
}

