/**
 * One HTTP/2 stream as the protocol-neutral Exchange (src/handler.ts): handlers, middleware
 * and the proxy see the same interface as over HTTP/1. The HTTP/1-only members map as
 * follows: cork/uncork batch frames into one socket write; upgrade is not available (no
 * Upgrade over h2, RFC 9113 §8.6; the head never carries one), so 101 is never sent; the head
 * reports minor 1 and keepAlive true (HTTP/1.1 semantics for code that reads them).
 */
import type { ClientCert } from "../tls/client-cert.ts";
import { handlerBackstop, type Config } from "../config/config.ts";
import type { BodySink, ExchangeLogFields, HeaderPairs, PreparedHeaders, ResponseHeaders, TunnelHandlers, TunnelSide } from "../handler.ts";
import type { HeaderList } from "../http1/header-list.ts";
import type { RequestHead } from "../http1/message-head.ts";
import { headerPairsOf, httpDate, isPrepared } from "../http1/serialize.ts";
import { ErrorCode } from "../http2/errors.ts";
import type { RouteMetrics } from "../observe/server-metrics.ts";
import { errorPage } from "../pages/error-page.ts";
import type { DispatchableExchange, RouteLimits } from "../runtime.ts";
import { recordFinished } from "./exchange-record.ts";
import { type H2Session, type H2Stream, responseFields } from "./h2-connection.ts";

const EMPTY = new Uint8Array(0);
/** Status codes and small lengths as strings, made once (the encoder's table lookups hash them). */
const STATUS_STRINGS: string[] = [];
function statusString(status: number): string {
  return (STATUS_STRINGS[status] ??= String(status));
}
const LENGTH_STRINGS = new Map<number, string>();
function lengthString(n: number): string {
  let v = LENGTH_STRINGS.get(n);
  if (v === undefined) {
    v = String(n);
    if (LENGTH_STRINGS.size < 4096) LENGTH_STRINGS.set(n, v);
  }
  return v;
}
/** Prepared header blocks (a cached file's head) decoded once into h2 fields. */
const preparedFields = new WeakMap<PreparedHeaders, [string, string][]>();

export class H2Exchange implements DispatchableExchange {
  readonly scheme: "http" | "https";
  readonly secure: boolean;
  readonly clientIp: string;
  readonly localPort: number;
  readonly config: Config;
  readonly startedAt = performance.now();
  readonly startedWall = Date.now();
  readonly log: ExchangeLogFields = {};
  routeMetrics: RouteMetrics | null = null;
  bodyLimit = Number.POSITIVE_INFINITY;
  bodyIdleMs: number;
  sendIdleMs: number;
  handlerIdleMs: number;
  onDrain: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  responseStarted = false;
  /** The handler ended the response. */
  finished = false;
  aborted = false;
  status = 0;
  /** Bytes of frames sent for this stream (headers and DATA). */
  sentBytes = 0;
  private sink: BodySink | null = null;
  private bodyPaused = false;
  requestDone: boolean;
  private trailersIn: HeaderList | null = null;
  private logged = false;
  private readonly isHead: boolean;
  /** Declared response length (startResponse) and bytes still owed; -1 = unknown. */
  private remaining = -1;

  constructor(
    private readonly session: H2Session,
    private readonly stream: H2Stream,
    readonly head: RequestHead,
    readonly id: string,
  ) {
    const conn = session.conn;
    this.clientIp = conn.clientIp;
    this.secure = conn.ctx.secure === true;
    this.scheme = this.secure ? "https" : "http";
    this.localPort = conn.ctx.localPort;
    this.config = conn.ctx.config;
    this.isHead = head.method === "HEAD";
    this.requestDone = head.bodyKind === "none";
    const t = this.config.timeouts;
    this.bodyIdleMs = t.bodyIdleMs;
    this.sendIdleMs = t.sendIdleMs;
    this.handlerIdleMs = handlerBackstop(t);
  }

  get tlsServerName(): string | null {
    return this.session.conn.tlsServerName;
  }
  /** The verified client certificate of the connection (mTLS): every stream shares it. */
  get tlsClientCert(): ClientCert | null {
    return this.session.conn.tlsClientCert;
  }

  applyRouteLimits(limits: RouteLimits): boolean {
    const h = this.head;
    if (h.bodyKind === "length" && h.contentLength > limits.maxBodySize) {
      this.sendError(413, "LIMIT_BODY_SIZE");
      return false;
    }
    this.bodyLimit = limits.maxBodySize;
    this.sendIdleMs = limits.sendIdleMs;
    this.handlerIdleMs = limits.handlerIdleMs;
    this.bodyIdleMs = limits.bodyIdleMs;
    return true;
  }

  // ---- request body -----------------------------------------------------------------------

  private discarded = 0;

  /**
   * Answered with the body unread, and what is left of it fits limits.discard_body_max: it is
   * read and dropped so the client sees a clean end; otherwise RST_STREAM NO_ERROR (§8.1).
   */
  get discarding(): boolean {
    if (this.requestDone || this.sink !== null) return false;
    const h = this.head;
    const left = h.bodyKind === "length" ? h.contentLength - this.stream.received : 0;
    return left <= this.config.limits.discardBodyMax - this.discarded;
  }

  /** A handler is reading the body and it has not ended. */
  get reading(): boolean {
    return this.sink !== null && !this.requestDone;
  }

  readBody(sink: BodySink): void {
    if (this.aborted || this.sink !== null) return;
    const s = this.stream;
    if (this.requestDone && s.inbufBytes === 0) {
      const t = this.trailersIn;
      queueMicrotask(() => sink.end(t));
      return;
    }
    this.sink = sink;
    if (this.head.expectContinue && !this.responseStarted) this.session.writeHeaders(s, [[":status", "100"]], false);
    this.pumpBody();
  }

  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    this.stream.lastRecv = performance.now();
    this.pumpBody();
  }

  /** Hand buffered body bytes to the sink while it takes them; credit the client for each. */
  private pumpBody(): void {
    const s = this.stream;
    while (this.sink !== null && !this.bodyPaused && s.inbuf.length > 0) {
      const chunk = s.inbuf.shift()!;
      s.inbufBytes -= chunk.byteLength;
      this.session.creditStream(s, chunk.byteLength);
      if (!this.sink.data(chunk)) this.bodyPaused = true;
    }
    if (this.sink !== null && this.requestDone && s.inbuf.length === 0) {
      const sink = this.sink;
      this.sink = null;
      sink.end(this.trailersIn);
      this.session.maybeRetire(s);
    }
  }

  /** DATA for this stream (the engine checked windows and content-length). */
  deliver(data: Uint8Array): void {
    const s = this.stream;
    if (this.finished && this.sink === null) {
      // Answered already and nobody reads: drop the bytes, credit them back, within the budget.
      this.discarded += data.byteLength;
      if (this.discarded > this.config.limits.discardBodyMax) this.session.resetStream(s.id, ErrorCode.NO_ERROR);
      else this.session.creditStream(s, data.byteLength);
      return;
    }
    if (this.sink !== null && !this.bodyPaused && s.inbuf.length === 0) {
      this.session.creditStream(s, data.byteLength);
      if (!this.sink.data(data)) this.bodyPaused = true;
      return;
    }
    // Held until the handler reads: bounded by the stream window we do not credit meanwhile.
    s.inbuf.push(data);
    s.inbufBytes += data.byteLength;
  }

  requestEnded(trailers: HeaderList | null): void {
    this.requestDone = true;
    this.trailersIn = trailers;
    this.pumpBody();
  }

  /** The route's (or global) body limit was passed mid-body. */
  bodyTooLarge(): void {
    this.bodyBroken("LIMIT_BODY_SIZE");
    if (!this.responseStarted) this.sendError(413, "LIMIT_BODY_SIZE");
    else this.abort("LIMIT_BODY_SIZE");
  }

  /** The body can never complete (limit, FIN, timeout): tell the reader and the handler. */
  bodyBroken(code: string): void {
    this.log.errorCode ??= code;
    const sink = this.sink;
    this.sink = null;
    if (sink !== null && !this.requestDone) sink.error(code);
    if (!this.finished) this.abortHandler();
  }

  private abortHandler(): void {
    const f = this.onAbort;
    if (!f) return;
    this.onAbort = null;
    try {
      f();
    } catch {}
  }

  // ---- response ---------------------------------------------------------------------------

  /**
   * Encode the response field block straight into the session's HPACK encoder (no field list
   * per response): :status, the handler's fields, then ours. The handler's own framing fields
   * give way to ours (an h2 body is framed by DATA frames).
   */
  private encodeHead(status: number, headers: ResponseHeaders, length: number | null): void {
    const sess = this.session;
    sess.beginHeaders();
    sess.addField(":status", statusString(status));
    if (isPrepared(headers)) {
      let cached = preparedFields.get(headers);
      if (cached === undefined) {
        cached = responseFields(headerPairsOf(headers), null);
        preparedFields.set(headers, cached);
      }
      for (let i = 0; i < cached.length; i++) {
        const p = cached[i]!;
        if (length !== null && p[0] === "content-length") continue;
        sess.addField(p[0], p[1]);
      }
    } else {
      const skip = length !== null ? "content-length" : null;
      for (let i = 0; i < headers.length; i++) sess.addHandlerField(headers[i]![0], headers[i]![1], skip);
    }
    if (length !== null) sess.addField("content-length", lengthString(length));
    sess.addField("date", httpDate());
    sess.addField("server", this.config.serverName);
    sess.addField("x-request-id", this.id);
  }

  respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    if (this.responseStarted || this.aborted) return;
    this.responseStarted = true;
    this.status = status;
    const bytes = body == null ? EMPTY : typeof body === "string" ? Buffer.from(body, "utf8") : body;
    const noBody = status === 204 || status === 304 || status < 200;
    const s = this.stream;
    const session = this.session;
    const out = session.conn.out;
    session.batchOutput();
    out.cork();
    const empty = noBody || this.isHead || bytes.byteLength === 0;
    this.encodeHead(status, headers, noBody ? null : bytes.byteLength);
    this.sentBytes += session.sendHeaderBlock(s, empty);
    if (!empty) {
      // Marked as ending first, so the last DATA frame carries END_STREAM.
      s.ending = true;
      this.finished = true;
      if (!session.sendWholeBody(s, bytes)) {
        session.queueData(s, bytes);
        session.endStream(s, null);
      }
    } else {
      this.finished = true;
      session.maybeRetire(s);
    }
    out.uncork();
    this.afterFinish();
  }

  startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    if (this.responseStarted || this.aborted) return;
    this.responseStarted = true;
    this.status = status;
    const noBody = status === 204 || status === 304 || status < 200;
    this.remaining = noBody || this.isHead ? 0 : (length ?? -1);
    this.noBodyBytes = noBody || this.isHead;
    this.session.batchOutput();
    this.encodeHead(status, headers, noBody ? null : length);
    this.sentBytes += this.session.sendHeaderBlock(this.stream, false);
  }

  private noBodyBytes = false;

  get writeRoom(): number {
    const pending = this.stream.pendingBytes;
    const room = Math.min(16 * 1024 * 4 - pending, this.session.conn.out.room);
    return pending === 0 ? Math.max(room, 16 * 1024) : Math.max(room, 0);
  }

  write(chunk: Uint8Array): boolean {
    if (!this.responseStarted || this.finished || this.aborted) return false;
    if (this.noBodyBytes) return true;
    if (this.remaining >= 0) {
      if (chunk.byteLength > this.remaining) chunk = chunk.subarray(0, this.remaining);
      this.remaining -= chunk.byteLength;
    }
    return this.session.queueData(this.stream, chunk);
  }

  end(trailers?: HeaderPairs): void {
    if (!this.responseStarted || this.finished || this.aborted) return;
    if (this.remaining > 0) {
      // Fewer bytes than content-length promised: the stream must not end cleanly (§8.1.1).
      this.abort("RESPONSE_TRUNCATED");
      return;
    }
    this.finished = true;
    this.session.endStream(this.stream, trailers && trailers.length ? trailers : null);
    this.afterFinish();
  }

  /** The response is complete from the handler's side; an unread body is dropped from here on. */
  private afterFinish(): void {
    if (!this.requestDone && this.sink === null) {
      const s = this.stream;
      const n = s.inbufBytes;
      s.inbuf = [];
      s.inbufBytes = 0;
      if (n > 0) this.session.creditStream(s, n);
    }
    this.session.maybeRetire(this.stream);
  }

  cork(): void {
    this.session.conn.out.cork();
  }

  uncork(): void {
    this.session.conn.out.uncork();
    this.session.flushStreams();
  }

  informational(status: number, headers: HeaderPairs): void {
    if (this.responseStarted || this.aborted || status < 100 || status > 199 || status === 101) return;
    this.sentBytes += this.session.writeHeaders(this.stream, responseFields(headers, status), false);
  }

  sendError(status: number, code?: string, headers?: HeaderPairs): void {
    if (code) this.log.errorCode ??= code;
    if (this.responseStarted) {
      this.abort(code);
      return;
    }
    const pairs: [string, string][] = [["content-type", "text/html; charset=utf-8"]];
    if (headers) for (const h of headers) pairs.push([h[0], h[1]]);
    this.respond(status, pairs, errorPage(status));
  }

  /** Cut this stream (RST_STREAM INTERNAL_ERROR): the client sees the response did not complete. */
  abort(code?: string): void {
    if (code) this.log.errorCode ??= code;
    if (this.aborted) return;
    this.session.resetStream(this.stream.id, ErrorCode.INTERNAL_ERROR);
  }

  upgrade(_headers: HeaderPairs, handlers: TunnelHandlers): TunnelSide {
    // No connection-level Upgrade over h2 (RFC 9113 §8.6); extended CONNECT is not offered.
    this.log.errorCode ??= "H2_NO_UPGRADE";
    if (!this.responseStarted) this.sendError(501, "H2_NO_UPGRADE");
    queueMicrotask(() => handlers.end());
    return { write: () => false, end: () => {}, pause: () => {}, resume: () => {} };
  }

  // ---- engine callbacks -------------------------------------------------------------------

  drained(): void {
    if (this.onDrain && !this.aborted) this.onDrain();
  }

  /** Both sides are done: log it. */
  completed(): void {
    this.logFinish(this.status, this.log.errorCode);
  }

  /** The client sent RST_STREAM. */
  clientReset(code: number): void {
    this.gone(code === ErrorCode.NO_ERROR && this.finished ? undefined : "CLIENT_RESET");
  }

  /** We reset the stream (stream error, abort, timeout) or the connection failed. */
  serverReset(code: string | undefined): void {
    this.gone(code);
  }

  connectionGone(): void {
    this.gone("CLIENT_ABORTED");
  }

  private gone(code: string | undefined): void {
    if (this.logged) return;
    const wasFinished = this.finished;
    this.aborted = true;
    const sink = this.sink;
    this.sink = null;
    if (sink !== null && !this.requestDone) sink.error(code ?? "CLIENT_RESET");
    if (!wasFinished) this.abortHandler();
    this.logFinish(this.status || (wasFinished ? 200 : 499), code !== undefined ? (this.log.errorCode ?? code) : this.log.errorCode);
  }

  checkTimeout(now: number): void {
    const s = this.stream;
    if (this.finished && !this.requestDone && this.sink === null && now - s.lastRecv > this.config.timeouts.discardMs) {
      this.session.resetStream(s.id, ErrorCode.NO_ERROR);
      return;
    }
    if (!this.requestDone && !this.bodyPaused && !this.finished && now - s.lastRecv > this.bodyIdleMs) {
      this.bodyBroken("TIMEOUT_BODY");
      if (!this.responseStarted) this.sendError(408, "TIMEOUT_BODY");
      else this.abort("TIMEOUT_BODY");
      return;
    }
    if (!this.finished && this.requestDone) {
      const since = Math.max(this.startedAt, s.lastRecv, s.lastSent);
      if (now - since > this.handlerIdleMs && s.pendingBytes === 0) {
        this.log.errorCode ??= "HANDLER_TIMEOUT";
        this.abortHandler();
        if (!this.responseStarted) this.sendError(500, "HANDLER_TIMEOUT");
        else this.abort("HANDLER_TIMEOUT");
      }
    }
  }

  logFinish(status: number, error?: string): void {
    if (this.logged) return;
    this.logged = true;
    const conn = this.session.conn;
    recordFinished(conn.ctx, conn, this, status, this.sentBytes, error, "HTTP/2");
  }
}
