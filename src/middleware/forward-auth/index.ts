/**
 * `forward_auth = { url, copy_headers, timeout }` of a route: ask an auth service before the
 * request goes on, like nginx `auth_request` and Traefik `forwardAuth`.
 *
 * The subrequest is our own HTTP/1.1 client on Bun.connect (UpstreamPool + MessageParser, the
 * same code and strictness as the proxy; kept-alive connections are pooled):
 *
 *   <original method> <url path and query> HTTP/1.1
 *   Host: <url authority>
 *   X-Forwarded-Method / X-Forwarded-Uri / X-Forwarded-Host / X-Forwarded-Proto: the original request
 *   X-Forwarded-For: the client address (as the route's trusted proxies report it)
 *   X-Request-ID, and the client's Authorization, Cookie, User-Agent and Accept (what auth
 *   services decide on); Content-Length: 0 (the request body is never sent to the auth service)
 *
 * The answer:
 *  - 2xx: the request continues. Every field named in copy_headers is removed from the client's
 *    request and replaced by the auth response's copies (so a client cannot send its own
 *    X-User), through a derived head (derive-head.ts).
 *  - any other final status: goes back to the client as it is (status, fields, body): the auth
 *    service owns login redirects and 401 challenges. Framing and hop-by-hop fields are the
 *    engine's; the body is buffered up to MAX_DENY_BODY (past it, 503). Logged
 *    FORWARD_AUTH_DENIED with the service's status.
 *  - no answer within `timeout` (connect included), a connection failure, or an unparseable
 *    response: 503 FORWARD_AUTH_UNAVAILABLE with Retry-After: 1 (fail closed).
 * A pooled connection that dies before any byte of the answer is retried once on a fresh one.
 */
import type { Config, ForwardAuthConfig, Limits } from "../../config/config.ts";
import type { Exchange, Handler, HeaderPairs } from "../../handler.ts";
import { asciiLower } from "../../http1/field-syntax.ts";
import { HeaderList } from "../../http1/header-list.ts";
import type { ResponseHead } from "../../http1/message-head.ts";
import { UpstreamPool, type UpstreamConnection, type UpstreamListener } from "../../net/upstream-pool.ts";
import { HOP_BY_HOP } from "../../proxy/hop-by-hop.ts";
import type { TrustedProxies } from "../../proxy/cidr.ts";
import { clientAddress } from "../client-address.ts";
import type { Middleware } from "../decorator.ts";
import { deriveHead, HeadDecorator } from "../derive-head.ts";
import { safeFieldValue } from "../template-context.ts";

/** Largest auth-service body relayed to the client on a refusal (login pages are small). */
export const MAX_DENY_BODY = 64 * 1024;
/** The auth service's failures are written to stderr at most once per this interval (the access log has every one). */
const WARN_INTERVAL_MS = 10_000;
let lastWarning = -Infinity;
/** Idle connections kept to the auth service. */
const POOL_IDLE = 16;
const PASSED_FIELDS = ["authorization", "cookie", "user-agent", "accept"];
/** Fields of the auth response never relayed to the client: the engine frames and dates every response. */
const NOT_RELAYED = new Set([...HOP_BY_HOP, "content-length", "transfer-encoding", "connection", "date", "server", "x-request-id"]);

export interface ForwardAuthEnv {
  readonly limits: Limits;
  readonly trusted: TrustedProxies;
}

export class ForwardAuth {
  readonly pool: UpstreamPool;
  private readonly hostHeader: string;
  private readonly target: string;
  private readonly copyLower: readonly string[];

  constructor(
    readonly config: ForwardAuthConfig,
    private readonly env: ForwardAuthEnv,
  ) {
    const u = config.url;
    const hostname = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
    const port = u.port === "" ? 80 : Number(u.port);
    this.pool = new UpstreamPool({ hostname, port, tls: false, tlsVerify: true, serverName: hostname, ca: null }, env.limits, POOL_IDLE, 30_000, config.timeoutMs);
    this.hostHeader = u.host;
    this.target = (u.pathname || "/") + u.search;
    this.copyLower = config.copyHeaders.map(asciiLower);
  }

  retire(): void {
    this.pool.retire();
  }

  /** The subrequest's bytes. */
  requestBytes(ex: Exchange): string {
    const h = ex.head;
    const line = (n: string, v: string): string => `${n}: ${safeFieldValue(v)}\r\n`;
    let s = `${h.method} ${this.target} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    s += line("X-Forwarded-Method", h.method);
    s += line("X-Forwarded-Uri", h.target);
    s += line("X-Forwarded-Host", h.host);
    s += line("X-Forwarded-Proto", ex.scheme);
    s += line("X-Forwarded-For", clientAddress(ex, this.env.trusted));
    s += line("X-Request-ID", ex.id);
    const hl = h.headers;
    for (let i = 0; i < hl.names.length; i++) if (PASSED_FIELDS.includes(hl.lowerNames[i]!)) s += line(hl.names[i]!, hl.values[i]!);
    return s + "Content-Length: 0\r\n\r\n";
  }

  handle(ex: Exchange, next: Handler): void {
    new AuthRequest(this, ex, next).start();
  }

  /** 2xx: the request with copy_headers replaced by the auth response's. */
  pass(ex: Exchange, next: Handler, auth: ResponseHead): void {
    if (this.copyLower.length === 0) return next(ex);
    const hl = ex.head.headers;
    const headers = new HeaderList();
    for (let i = 0; i < hl.names.length; i++) if (!this.copyLower.includes(hl.lowerNames[i]!)) headers.add(hl.names[i]!, hl.values[i]!, hl.lowerNames[i]!);
    const ah = auth.headers;
    for (let i = 0; i < ah.names.length; i++) if (this.copyLower.includes(ah.lowerNames[i]!)) headers.add(ah.names[i]!, ah.values[i]!, ah.lowerNames[i]!);
    next(new HeadDecorator(ex, deriveHead(ex.head, { headers })));
  }
}

/** One subrequest. */
class AuthRequest implements UpstreamListener {
  private conn: UpstreamConnection | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private done = false;
  private head: ResponseHead | null = null;
  private body: Uint8Array[] = [];
  private bodyBytes = 0;
  private gotBytes = false;
  private retried = false;

  constructor(
    private readonly fa: ForwardAuth,
    private readonly ex: Exchange,
    private readonly next: Handler,
  ) {}

  start(): void {
    this.ex.onAbort = () => this.finish(null);
    this.timer = setTimeout(() => this.unavailable(`no answer within ${this.fa.config.timeoutMs} ms`), this.fa.config.timeoutMs);
    this.acquire(true);
  }

  private acquire(allowPooled: boolean): void {
    const idle = allowPooled ? this.fa.pool.takeIdle() : null;
    if (idle) return this.send(idle, true);
    this.fa.pool.connect().then(
      (c) => {
        if (this.done) this.fa.pool.release(c);
        else this.send(c, false);
      },
      (e: unknown) => this.unavailable((e as Error)?.message ?? String(e)),
    );
  }

  private send(conn: UpstreamConnection, pooled: boolean): void {
    this.conn = conn;
    this.pooled = pooled;
    conn.listener = this;
    conn.uses++;
    conn.parser.expectResponseTo(this.ex.head.method);
    conn.out.write(Buffer.from(this.fa.requestBytes(this.ex), "latin1"));
  }
  private pooled = false;

  onUpstreamData(chunk: Uint8Array): void {
    if (this.done || !this.conn) return;
    this.gotBytes = true;
    const p = this.conn.parser;
    p.push(chunk);
    for (let ev = p.next(); ev !== null && !this.done; ev = p.next()) {
      switch (ev.type) {
        case "head": {
          const h = ev.head as ResponseHead;
          if (h.status < 200) {
            if (h.status === 101) return this.unavailable("the auth service answered 101");
            continue; // 1xx informational: wait for the final answer
          }
          this.head = h;
          // A bodiless answer (204, 304, HEAD, Content-Length: 0) has no "end" event.
          if (h.bodyKind === "none") return this.answered();
          break;
        }
        case "body":
          this.bodyBytes += ev.data.byteLength;
          if (this.bodyBytes > MAX_DENY_BODY) return this.unavailable(`the auth service's body is over ${MAX_DENY_BODY} bytes`);
          if (this.head && (this.head.status < 200 || this.head.status > 299)) this.body.push(ev.data.slice());
          break;
        case "end":
          return this.answered();
        case "error":
          return this.unavailable(`unparseable response (${ev.error.code})`);
      }
    }
  }

  onUpstreamDrain(): void {}

  onUpstreamEnd(): void {
    // A close-delimited body ends with the FIN.
    if (this.done || !this.conn) return;
    const ev = this.conn.parser.finish();
    if (ev && ev.type === "end" && this.head) return this.answered();
    this.closed();
  }

  onUpstreamClose(): void {
    this.closed();
  }

  private closed(): void {
    if (this.done) return;
    if (this.pooled && !this.gotBytes && !this.retried) {
      // A kept-alive connection the service had already closed: nothing was processed.
      this.retried = true;
      this.conn = null;
      this.acquire(false);
      return;
    }
    this.unavailable("the auth service closed the connection without an answer");
  }

  private answered(): void {
    const h = this.head!;
    const conn = this.conn!;
    this.finish(h.keepAlive && h.bodyKind !== "close" ? conn : null);
    const ex = this.ex;
    if (h.status >= 200 && h.status <= 299) return this.fa.pass(ex, this.next, h);
    ex.log.errorCode ??= "FORWARD_AUTH_DENIED";
    const headers: [string, string][] = [];
    const hl = h.headers;
    for (let i = 0; i < hl.names.length; i++) if (!NOT_RELAYED.has(hl.lowerNames[i]!)) headers.push([hl.names[i]!, hl.values[i]!]);
    const body = this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body);
    // A response to HEAD carries no body; the engine also drops it for 204/304.
    ex.respond(h.status, headers, body);
  }

  private unavailable(why: string): void {
    if (this.done) return;
    this.finish(null);
    const now = performance.now();
    if (now - lastWarning > WARN_INTERVAL_MS) {
      lastWarning = now;
      console.error(`[ERROR] forward_auth ${this.fa.config.url.href}: ${why} (answering 503 FORWARD_AUTH_UNAVAILABLE)`);
    }
    const headers: HeaderPairs = [["Retry-After", "1"]];
    if (!this.ex.responseStarted) this.ex.sendError(503, "FORWARD_AUTH_UNAVAILABLE", headers);
  }

  /** Stop the timer; pool the connection when `keep` (a complete answer), else close it. */
  private finish(keep: UpstreamConnection | null): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.ex.onAbort = null;
    const c = this.conn;
    this.conn = null;
    if (!c) return;
    if (keep === c) this.fa.pool.release(c);
    else {
      c.listener = null;
      c.destroy();
    }
  }
}

export function createForwardAuth(config: ForwardAuthConfig, cfg: Config, trusted: TrustedProxies): ForwardAuth {
  return new ForwardAuth(config, { limits: cfg.limits, trusted });
}

export function forwardAuth(fa: ForwardAuth): Middleware {
  return (next) => (ex) => fa.handle(ex, next);
}
