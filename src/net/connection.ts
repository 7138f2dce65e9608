/**
 * One client connection: bytes from the socket go through the pure parser; each request head
 * becomes an Exchange handed to the handler; responses go out through the write queue.
 *
 * Ordering: requests on one connection are handled strictly one after another. While an
 * exchange is in flight the parser is not asked for the next head, so pipelined requests are
 * answered in order by construction (RFC 9112 §9.3.2). Synchronous responses produced while
 * one read is processed are corked into a single write.
 *
 * Timers are deadlines checked by the server's coarse sweep (Server.sweep, every 500 ms); Bun's socket.timeout is
 * too coarse and not reset by traffic (docs/runtime-notes.md).
 */
import type { ClientCert } from "../tls/client-cert.ts";
import type { Socket } from "bun";
import { nanoid } from "nanoid";
import { handlerBackstop, type Config, type Limits } from "../config/config.ts";
import { handlerThrew, type BodySink, type ExchangeLogFields, type HeaderPairs, type ResponseHeaders, type TunnelHandlers, type TunnelSide } from "../handler.ts";
import type { HeaderList } from "../http1/header-list.ts";
import type { RequestHead } from "../http1/message-head.ts";
import { MessageParser, ParseError } from "../http1/message-parser.ts";
import { dateServerIdPrefix, frameChunk, headerLines, httpDate, isPrepared, LAST_CHUNK, lastChunkWithTrailers, preparedHeadWithLength, statusLine } from "../http1/serialize.ts";
import type { AccessLogger } from "../log/access-record.ts";
import { closesConnection } from "../errors.ts";
import { errorPage } from "../pages/error-page.ts";
import type { DispatchableExchange, RouteLimits } from "../runtime.ts";
import { WriteQueue } from "./write-queue.ts";
import { requestIdFor } from "./request-id.ts";
import { recordFinished } from "./exchange-record.ts";
import { H2Session } from "./h2-connection.ts";
import { CLIENT_PREFACE } from "../http2/frames.ts";
import { ErrorCode } from "../http2/errors.ts";
import type { Tracer } from "../observe/tracer.ts";
import { receivedBytes, type RouteMetrics, UNROUTED } from "../observe/server-metrics.ts";

export interface ConnectionContext {
  readonly config: Config;
  /** What the request parser enforces: the global limits, with the body limit raised to the largest a route allows. */
  readonly parserLimits: Limits;
  /** Route the exchange and run its handler chain (Runtime.dispatch on this listener's address). */
  dispatch(ex: DispatchableExchange): void;
  /** Plain listener serving prior-knowledge h2c next to HTTP/1.1 (a site of the address sets h2c = true). */
  readonly h2c?: boolean;
  readonly logger: AccessLogger;
  readonly localPort: number;
  /** Set by the server while draining for shutdown: finish in-flight work, then close. */
  readonly shuttingDown: boolean;
  /** Count this listener's traffic in the metrics (false for the admin listener, or [metrics] enabled = false). */
  readonly metricsOn: boolean;
  /** The tracer for this listener's requests, or null (the admin listener). */
  readonly tracer: Tracer | null;
  /** The listener serves TLS: exchanges report scheme "https" (X-Forwarded-Proto, Location rewrites). */
  readonly secure?: boolean;
  release(conn: Connection): void;
  /**
   * The connection became idle keep-alive (a request answered, no byte of the next one yet) or
   * stopped being so. The server reclaims the oldest idle ones near max_connections (issue 12).
   */
  idle?(conn: Connection, idle: boolean): void;
}

/** Tail of the read buffer above which we stop reading the socket until we catch up. */
const READ_HIGH_WATER = 256 * 1024;
/**
 * Request body bytes handed to a sink in one call at most. Body events of one read are joined
 * up to this size, so a client sending 1-byte chunks costs one upstream write per read, not one
 * per chunk (a 1-byte-chunk upload once did 156,000 sendto calls in 10 s and stalled the worker).
 */
const BODY_BATCH_MAX = 64 * 1024;
/**
 * A read at least this large means the client is sending as fast as it can (Bun reads up to
 * 512 KiB at a time and reads a full socket again at once). After such a read we pause the
 * socket until the event loop has served everyone else once, so one flooding client cannot
 * hold the worker: with 1-byte chunks a 512 KiB read is ~87,000 chunks of parsing.
 */
const YIELD_READ_BYTES = 256 * 1024;
/** How often a closing connection re-checks its queue (backstop for a missed notification). */
const CLOSING_RECHECK_MS = 1_000;
/** The ends of a response head after the X-Request-ID value (see ExchangeImpl.headEnd). */
const END_PLAIN = "\r\n\r\n";
const END_CLOSE = "\r\nConnection: close\r\n\r\n";
const END_KEEP_ALIVE = "\r\nConnection: keep-alive\r\n\r\n";

/** "Content-Length: n\r\n" of the last length asked for: responses of one size repeat it. */
let lastLength = -1;
let lastLengthLine = "";
function contentLengthLine(n: number): string {
  if (n !== lastLength) {
    lastLength = n;
    lastLengthLine = "Content-Length: " + n + "\r\n";
  }
  return lastLengthLine;
}

const CONTINUE_100 = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n", "latin1");

const enum Phase {
  /** Waiting for (the rest of) a request head. */
  Head,
  /** Idle keep-alive between requests. */
  KeepAlive,
  /** Reading a request body. */
  Body,
  /** Waiting on the handler (e.g. upstream); no client-side deadline. */
  Handler,
  /** Upgraded tunnel. */
  Tunnel,
  /** Last response queued; FIN once the queue is empty. */
  Closing,
  Closed,
}

export class Connection {
  readonly parser: MessageParser;
  readonly out: WriteQueue;
  readonly clientIp: string;
  /** The listener's port, read once: the bound listener's port getter is a native call. */
  readonly localPort: number;
  current: ExchangeImpl | null = null;
  private requests = 0;
  private pumping = false;
  private needPump = false;
  private readPaused = false;
  peerEnded = false;
  phase = Phase.Head;
  /** performance.now() deadline for the current phase; 0 = none. */
  deadline = 0;
  private tunnel: TunnelHandlers | null = null;
  /** An upgraded (WebSocket) tunnel is open on this connection (the metrics count them at scrape time). */
  get tunnelled(): boolean {
    return this.tunnel !== null;
  }
  closed = false;
  /** TLS: the SNI name (ASCII-lowercased) once the handshake is done; null without SNI or on plain HTTP. */
  tlsServerName: string | null = null;
  /** TLS: protocol version and cipher suite, for the access log; null on plain HTTP. */
  tlsVersion: string | null = null;
  tlsCipher: string | null = null;
  /** mTLS: the client's certificate once the handshake is done (null: none sent, or no mTLS on this address). */
  tlsClientCert: ClientCert | null = null;
  /** TLS: the handshake callback ran (for counting connections that closed before it as failed). */
  tlsHandshook = false;
  /** The server's list of idle keep-alive connections (Server.markIdle): links and when this one joined. */
  idlePrev: Connection | null = null;
  idleNext: Connection | null = null;
  idleSince = 0;
  idleListed = false;

  constructor(
    readonly socket: Socket<Connection>,
    readonly ctx: ConnectionContext,
  ) {
    this.parser = new MessageParser("request", ctx.parserLimits, true);
    this.out = new WriteQueue(socket);
    this.out.onDrained = () => this.onOutputDrained();
    const ip = socket.remoteAddress ?? "";
    this.clientIp = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
    this.localPort = ctx.localPort;
    this.deadline = performance.now() + ctx.config.timeouts.headerMs;
  }

  get config(): Config {
    return this.ctx.config;
  }

  /** Idle keep-alive: at least one request answered, nothing of the next one received or queued. */
  get reclaimable(): boolean {
    if (this.h2 !== null) return this.h2.reclaimable;
    return !this.closed && this.phase === Phase.KeepAlive && this.current === null && this.out.pending === 0 && this.parser.idle;
  }

  // ---- socket events ------------------------------------------------------------------

  onData(chunk: Uint8Array): void {
    if (this.closed) return;
    if (this.ctx.secure === true && !this.tlsReady) {
      // Bytes that arrive with the end of the handshake, before we know the ALPN choice: held
      // until handshakeDone() says whether they are HTTP/2 or HTTP/1.1.
      this.sniffed = this.sniffed === null ? chunk : Buffer.concat([this.sniffed, chunk]);
      return;
    }
    if (this.ctx.metricsOn) receivedBytes.inc(chunk.byteLength);
    if (this.h2 !== null) {
      this.h2.onData(chunk);
      return;
    }
    if (this.sniffing && (this.sniffing = this.ctx.h2c === true)) {
      if (!this.sniffPreface(chunk)) return;
      chunk = this.sniffed ?? chunk;
      this.sniffed = null;
      if (this.h2 !== null) return;
    }
    if (this.tunnel) {
      this.deadline = performance.now() + this.config.timeouts.tunnelIdleMs;
      this.tunnel.data(chunk);
      return;
    }
    if (this.phase === Phase.KeepAlive) {
      this.ctx.idle?.(this, false);
      // First byte of the next request: the header timer starts now (slowloris protection).
      this.phase = Phase.Head;
      this.deadline = performance.now() + this.config.timeouts.headerMs;
    } else if (this.phase === Phase.Body && !this.current?.finished) {
      // Progress extends the body idle timer, but not the fixed budget for discarding the
      // unread body of an exchange that is already answered.
      this.deadline = performance.now() + this.current!.bodyIdleMs;
    }
    this.parser.push(chunk);
    this.pump();
    if (chunk.byteLength >= YIELD_READ_BYTES && !this.closed && !this.yielding) this.yieldReads();
  }

  /** HTTP/2 engine once the connection speaks h2 (ALPN "h2", or the h2c preface); null for HTTP/1. */
  h2: H2Session | null = null;
  /** Still deciding between HTTP/1.1 and the h2c preface (RFC 9113 §3.3): no byte parsed yet. */
  private sniffing = true;
  private sniffed: Uint8Array | null = null;

  /**
   * Prior-knowledge h2c (RFC 9113 §3.3) next to HTTP/1.1 on one address: the first 24 bytes
   * tell them apart. Bytes that are still a prefix of the preface are held. Returns true when
   * HTTP/1 parsing should go on with this.sniffed (or the chunk), false while still undecided.
   */
  private sniffPreface(chunk: Uint8Array): boolean {
    const seen = this.sniffed === null ? chunk : Buffer.concat([this.sniffed, chunk]);
    const n = Math.min(seen.byteLength, CLIENT_PREFACE.byteLength);
    for (let i = 0; i < n; i++) {
      if (seen[i] !== CLIENT_PREFACE[i]) {
        this.sniffing = false;
        this.sniffed = seen;
        return true;
      }
    }
    if (seen.byteLength < CLIENT_PREFACE.byteLength) {
      this.sniffed = seen;
      return false;
    }
    this.sniffing = false;
    this.sniffed = null;
    this.startH2(seen);
    return false;
  }

  /** TLS: the handshake is done (ALPN settled). */
  private tlsReady = false;

  /** TLS handshake finished: start HTTP/2 if ALPN chose "h2", then process any bytes held meanwhile. */
  handshakeDone(alpn: string | false | null | undefined): void {
    this.tlsReady = true;
    const held = this.sniffed;
    this.sniffed = null;
    this.sniffing = false;
    if (alpn === "h2") this.startH2(held);
    else if (held !== null) this.onData(held);
  }

  /** Switch this connection to HTTP/2 (after ALPN "h2" or the h2c preface). */
  startH2(initial: Uint8Array | null): void {
    this.sniffing = false;
    this.phase = Phase.Handler;
    this.h2 = new H2Session(this, initial);
  }

  /** Socket paused to let other connections run (see YIELD_READ_BYTES); not backpressure. */
  private yielding = false;

  private yieldReads(): void {
    this.yielding = true;
    this.socket.pause();
    setImmediate(() => {
      if (!this.yielding) return; // cancelled (the connection became a tunnel)
      this.yielding = false;
      if (!this.closed && !this.readPaused) this.socket.resume();
    });
  }

  onDrain(): void {
    this.out.flush();
  }

  /**
   * Client sent FIN (allowHalfOpen). Three cases:
   * - inside a head or body: the request can never complete. Answer it if an answer is due
   *   (400), then close at once instead of waiting for a body timeout;
   * - between requests: close once queued responses are out;
   * - while a complete request waits on its handler (e.g. the upstream): a half-close is not an
   *   abort, so keep serving. But a client that closed its socket completely (curl --max-time)
   *   also shows up only as a FIN. To tell the two apart we send an interim 100 (RFC 9110
   *   §15.2: a client MUST accept unsolicited 1xx responses): a fully closed peer answers it
   *   with a RST, which lands in onClose as an abort and cancels the upstream request; a
   *   half-closed client ignores it and gets its answer.
   */
  onEnd(): void {
    this.peerEnded = true;
    if (this.h2 !== null) {
      this.h2.onEnd();
      return;
    }
    if (this.tunnel) {
      this.tunnel.end();
      return;
    }
    const ex = this.current;
    const ev = this.parser.finish();
    if (ev && ev.type === "error") {
      if (!ex) {
        // Partial head then FIN: nothing to answer to.
        this.close();
        return;
      }
      this.onParseError(ev.error);
      return;
    }
    if (!ex) {
      this.closeWhenFlushed();
      return;
    }
    if (ev && ev.type === "end" && !ex.requestDone) {
      // The body ended exactly at the FIN; finish() consumed its "end" event, so deliver it here.
      this.bodyEnded(ex, ev.trailers);
      if (this.current !== ex) return;
    }
    if (ex.requestDone && !ex.responseStarted && !ex.probed && ex.head.minor === 1) {
      ex.probed = true;
      this.out.write(CONTINUE_100);
    }
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.phase = Phase.Closed;
    this.out.discard();
    if (this.h2 !== null) {
      this.h2.onClose();
      this.ctx.release(this);
      return;
    }
    const ex = this.current;
    if (this.tunnel) {
      const t = this.tunnel;
      this.tunnel = null;
      t.end();
    }
    if (ex && !ex.finished) {
      ex.aborted = true;
      if (ex.sink && !ex.requestDone) ex.sink.error("CLIENT_ABORTED");
      ex.abortHandler();
      ex.logFinish(ex.status || 499, ex.log.errorCode ?? "CLIENT_ABORTED");
    }
    this.current = null;
    this.ctx.release(this);
  }

  /** Called by the sweep with the current time. */
  checkTimeout(now: number): void {
    if (this.closed) return;
    if (this.h2 !== null) {
      this.h2.checkTimeout(now);
      return;
    }
    const sendIdle = this.current !== null ? this.current.sendIdleMs : this.config.timeouts.sendIdleMs;
    if (this.out.pending > 0 && now - this.out.lastProgress > sendIdle) {
      // The client stopped reading our bytes: give up (nginx send_timeout).
      if (this.current) this.current.log.errorCode ??= "CLIENT_SEND_TIMEOUT";
      this.terminate();
      return;
    }
    if (this.deadline === 0 || now < this.deadline) return;
    switch (this.phase) {
      case Phase.KeepAlive:
      case Phase.Head:
        // [e2e fix] While earlier responses are still queued for this client we are waiting on
        // the client, not the other way round: the send timeout above governs. Before, the
        // keep-alive timer close()d the socket and discarded the queued tail of a response the
        // log recorded as complete, and pipelined requests held back by our own backpressure
        // (unparsed while the queue was full) were answered 408 by the header timer.
        if (this.out.pending > 0) {
          this.deadline = now + (this.phase === Phase.KeepAlive ? this.config.timeouts.keepAliveMs : this.config.timeouts.headerMs);
          return;
        }
        if (this.phase === Phase.Head && this.parser.inHead) this.rejectAndClose(408, "TIMEOUT_HEADER");
        else this.close();
        return;
      case Phase.Body: {
        const ex = this.current;
        if (ex && ex.finished) {
          // The discard budget for an unread body ran out: the answer is out; just close.
          ex.keepAlive = false;
          this.completeExchange(ex);
          return;
        }
        if (ex && ex.bodyPaused) {
          // We stopped reading (the handler's side is slow, e.g. an upstream that reads our
          // upload slowly): not the client's fault. The handler's own timers govern.
          this.deadline = now + ex.bodyIdleMs;
          return;
        }
        if (ex) {
          if (ex.sink) ex.sink.error("TIMEOUT_BODY");
          ex.sink = null;
          ex.abortHandler();
          if (!ex.responseStarted) ex.sendError(408, "TIMEOUT_BODY");
          else ex.abort("TIMEOUT_BODY");
        }
        this.closeWhenFlushed();
        return;
      }
      case Phase.Handler: {
        // Backstop: the handler has let no byte reach the client for too long. Bytes that
        // moved (out.lastProgress) re-arm it, so a long streamed response is never cut.
        const idle = this.current !== null ? this.current.handlerIdleMs : this.config.timeouts.handlerIdleMs;
        const since = Math.max(this.handlerSince, this.out.lastProgress);
        if (now - since < idle) {
          this.deadline = since + idle;
          return;
        }
        const ex = this.current;
        if (ex) {
          ex.log.errorCode ??= "HANDLER_TIMEOUT";
          ex.keepAlive = false;
          ex.abortHandler();
          if (!ex.responseStarted) ex.sendError(500, "HANDLER_TIMEOUT");
          else ex.abort("HANDLER_TIMEOUT");
        }
        this.closeWhenFlushed();
        return;
      }
      case Phase.Closing:
        // Normally onOutputDrained closes; this catches any path that emptied the queue
        // without telling us. A tail that does not move is the send timeout's business.
        if (this.out.pending === 0 && !this.out.isCorked) this.close();
        else this.deadline = now + CLOSING_RECHECK_MS;
        return;
      case Phase.Tunnel:
        this.terminate();
        return;
      default:
        return;
    }
  }

  /** performance.now() when the current exchange started waiting on its handler. */
  private handlerSince = 0;


  /** The request is complete (or its body is being read by the handler): only the handler can move now. */
  private enterHandlerPhase(): void {
    this.phase = Phase.Handler;
    this.handlerSince = performance.now();
    this.deadline = this.handlerSince + (this.current !== null ? this.current.handlerIdleMs : this.config.timeouts.handlerIdleMs);
  }

  // ---- the request loop ---------------------------------------------------------------

  pump(): void {
    if (this.pumping) {
      this.needPump = true;
      return;
    }
    this.pumping = true;
    this.out.cork();
    try {
      do {
        this.needPump = false;
        this.pumpOnce();
      } while (this.needPump && !this.closed);
    } finally {
      this.pumping = false;
      this.out.uncork();
    }
    this.updateReadPause();
  }

  private pumpOnce(): void {
    this.pumpEvents();
    this.flushBodyBatch();
  }

  /** Body bytes parsed in this pump and not yet handed to the sink (see BODY_BATCH_MAX). */
  private batch: Uint8Array[] = [];
  private batchBytes = 0;

  private flushBodyBatch(): void {
    const n = this.batch.length;
    if (n === 0) return;
    const ex = this.current;
    const parts = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    if (!ex || !ex.sink) return;
    let data: Uint8Array;
    if (n === 1) data = parts[0]!;
    else {
      data = Buffer.allocUnsafe(bytes);
      let off = 0;
      for (const p of parts) {
        (data as Buffer).set(p, off);
        off += p.byteLength;
      }
    }
    if (!ex.sink.data(data)) ex.bodyPaused = true;
  }

  private pumpEvents(): void {
    while (!this.closed && !this.tunnel) {
      const ex = this.current;
      if (ex) {
        if (ex.requestDone) return; // waiting for the response before the next request
        if (ex.sink === null) {
          // Nobody reads this body (yet). Once the response is done it is drained and dropped.
          if (!ex.finished) return;
        } else if (ex.bodyPaused) return;
      } else if (this.out.overHighWater) {
        return; // pipelined responses are piling up unread: stop producing more
      } else if (this.closingAfterResponse) {
        return;
      }
      const ev = this.parser.next();
      if (ev === null) return;
      if (ev.type !== "body") this.flushBodyBatch();
      switch (ev.type) {
        case "head":
          this.startExchange(ev.head as RequestHead);
          break;
        case "body": {
          const cur = this.current!;
          const len = ev.data.byteLength;
          cur.bodyBytes += len;
          if (cur.bodyBytes > cur.bodyLimit) {
            // The route's own body limit, lower than the global one the parser enforces.
            this.onParseError(new ParseError(413, "LIMIT_BODY_SIZE", "request body exceeds the route's limit"));
            return;
          }
          if (cur.sink) {
            this.batch.push(ev.data);
            this.batchBytes += len;
            if (this.batchBytes >= BODY_BATCH_MAX) this.flushBodyBatch();
          } else if (cur.finished) {
            // Discarding the unread body of an answered exchange, within a byte budget.
            cur.discarded += len;
            if (cur.discarded > this.config.limits.discardBodyMax) {
              cur.keepAlive = false;
              this.completeExchange(cur);
              return;
            }
          }
          break;
        }
        case "end":
          this.bodyEnded(this.current!, ev.trailers);
          break;
        case "error":
          this.onParseError(ev.error);
          return;
      }
    }
  }

  private closingAfterResponse = false;

  private bodyEnded(cur: ExchangeImpl, trailers: HeaderList | null): void {
    cur.requestDone = true;
    const sink = cur.sink;
    cur.sink = null;
    if (sink) sink.end(trailers);
    if (cur.finished) this.completeExchange(cur);
    else if (this.phase === Phase.Body) this.enterHandlerPhase();
  }

  private startExchange(head: RequestHead): void {
    const cfg = this.config;
    this.requests++;
    const incomingId = head.headers.get("x-request-id");
    const id = requestIdFor(incomingId);
    const ex = new ExchangeImpl(this, head, id);
    const tracer = this.ctx.tracer;
    if (tracer !== null) ex.log.trace = tracer.start(head);
    this.current = ex;
    ex.requestDone = head.bodyKind === "none";
    if (ex.requestDone) {
      this.enterHandlerPhase();
    } else {
      this.phase = Phase.Body;
      this.deadline = performance.now() + ex.bodyIdleMs;
    }
    ex.keepAlive = head.keepAlive && !this.ctx.shuttingDown && this.requests < cfg.maxRequestsPerConnection && !this.peerEnded;
    if (head.method === "CONNECT") {
      // We are not a forward proxy: CONNECT is never tunnelled (RFC 9110 §9.3.6).
      // [e2e fix] Close afterwards: a client may send tunnel bytes (e.g. a TLS ClientHello)
      // right behind the CONNECT head; those must never be parsed as the next HTTP request.
      ex.keepAlive = false;
      ex.sendError(405, "METHOD_CONNECT", [["Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"]]);
      return;
    }
    try {
      this.ctx.dispatch(ex);
    } catch (err) {
      handlerThrew(ex, err);
    }
  }

  /** Response written and request fully read: log it and move on to the next request. */
  completeExchange(ex: ExchangeImpl): void {
    if (this.current !== ex) return;
    ex.logFinish(ex.status, ex.log.errorCode);
    this.current = null;
    if (!ex.keepAlive || this.peerEnded || this.ctx.shuttingDown) {
      this.closeWhenFlushed();
      return;
    }
    this.phase = this.parser.idle ? Phase.KeepAlive : Phase.Head;
    this.deadline = performance.now() + (this.phase === Phase.KeepAlive ? this.config.timeouts.keepAliveMs : this.config.timeouts.headerMs);
    if (this.phase === Phase.KeepAlive) this.ctx.idle?.(this, true);
    if (this.pumping) this.needPump = true;
    else this.pump();
  }

  private onParseError(err: ParseError): void {
    const ex = this.current;
    if (ex) {
      // Framing error inside a body (or a FIN before its end): the rest of the stream is unusable.
      ex.keepAlive = false;
      const sink = ex.sink;
      ex.sink = null;
      if (sink) sink.error(err.code);
      // The handler may not be reading the body yet (the proxy still connecting): tell it
      // the exchange is over, or it would go on to send a request that can never complete.
      if (!ex.finished) ex.abortHandler();
      if (!ex.responseStarted) ex.sendError(err.status, err.code);
      else if (!ex.finished) ex.abort(err.code);
      else {
        // Answered already; the body being discarded broke off. Log the exchange as answered.
        ex.log.errorCode ??= err.code;
        this.completeExchange(ex);
      }
      this.closeWhenFlushed();
      return;
    }
    this.rejectAndClose(err.status, err.code);
  }

  /** Answer a request we could not parse with its error page, log it, and close. */
  private rejectAndClose(status: number, code: string): void {
    const body = errorPage(status);
    // The id is echoed like on every other response, so a client can quote it to the operator.
    const id = nanoid();
    const head =
      statusLine(status) +
      `Date: ${httpDate()}\r\nServer: ${this.config.serverName}\r\nX-Request-ID: ${id}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`;
    const before = this.out.totalBytes;
    this.out.write(Buffer.from(head, "latin1"));
    this.out.write(body);
    this.ctx.logger.log({
      time: Date.now(),
      id,
      ip: this.clientIp,
      method: "-",
      path: "-",
      host: "-",
      status,
      bytes: this.out.totalBytes - before,
      latencyMs: 0,
      error: code,
    });
    if (this.ctx.metricsOn) UNROUTED.record("-", status, this.out.totalBytes - before, 0);
    this.closeWhenFlushed();
  }

  // ---- flow control -------------------------------------------------------------------

  private onOutputDrained(): void {
    const ex = this.current;
    if (ex && ex.wantDrain && ex.onDrain) {
      ex.wantDrain = false;
      ex.onDrain();
    } else if (this.tunnel) {
      this.tunnel.drain();
    }
    if (this.closeAfterFlush && this.out.pending === 0) {
      this.close();
      return;
    }
    if (!this.closed && !this.tunnel && !this.current) this.pump();
  }

  /** Pause reading while we are not consuming and the unparsed tail is large. */
  private updateReadPause(): void {
    if (this.closed || this.tunnel) return;
    const shouldPause = this.parser.buffered > READ_HIGH_WATER;
    if (shouldPause !== this.readPaused) {
      this.readPaused = shouldPause;
      if (shouldPause) this.socket.pause();
      else if (!this.yielding) this.socket.resume();
    }
  }

  /** The route set its own body idle timeout: re-arm the running one. */
  bodyTimeoutChanged(ex: ExchangeImpl): void {
    if (this.current === ex && this.phase === Phase.Body) this.deadline = performance.now() + ex.bodyIdleMs;
  }

  /** Read and drop the unread body of an answered exchange, within limits.discardBodyMax and timeouts.discardMs. */
  startDiscard(ex: ExchangeImpl): void {
    if (this.current !== ex) return;
    this.phase = Phase.Body;
    this.deadline = performance.now() + this.config.timeouts.discardMs;
    this.pump();
  }

  resumeBody(ex: ExchangeImpl): void {
    if (this.current !== ex || !ex.bodyPaused) return;
    ex.bodyPaused = false;
    // The client cannot be blamed for the time we were not reading: its idle clock restarts.
    if (this.phase === Phase.Body) this.deadline = performance.now() + ex.bodyIdleMs;
    this.pump();
  }

  private closeAfterFlush = false;

  /**
   * Close once queued bytes are out (response complete, connection not reusable). The queue
   * tells us when it empties on every path (WriteQueue.notifyWhenEmpty), and the Closing
   * phase has its own deadline as a backstop: a connection that must close always does.
   */
  closeWhenFlushed(): void {
    if (this.closed) return;
    if (this.h2 !== null) {
      // HTTP/2: a graceful GOAWAY; in-flight streams finish, then the socket closes.
      this.h2.goAway(ErrorCode.NO_ERROR);
      return;
    }
    this.closingAfterResponse = true;
    if (this.out.pending === 0 && !this.pumping && !this.out.isCorked) {
      this.close();
      return;
    }
    this.closeAfterFlush = true;
    this.phase = Phase.Closing;
    this.deadline = performance.now() + CLOSING_RECHECK_MS;
    this.out.notifyWhenEmpty();
  }

  close(): void {
    if (this.closed) return;
    // end() runs our close handler synchronously (docs/runtime-notes.md): state is already consistent here.
    this.socket.end();
  }

  terminate(): void {
    if (this.closed) return;
    this.socket.terminate();
  }

  // ---- upgrade --------------------------------------------------------------------------

  startTunnel(handlers: TunnelHandlers): TunnelSide {
    this.tunnel = handlers;
    this.phase = Phase.Tunnel;
    this.deadline = performance.now() + this.config.timeouts.tunnelIdleMs;
    if (this.readPaused || this.yielding) {
      this.readPaused = false;
      this.yielding = false;
      this.socket.resume();
    }
    const rest = this.parser.takeRemaining();
    if (rest.byteLength > 0) queueMicrotask(() => this.tunnel?.data(rest));
    return {
      write: (chunk) => {
        this.deadline = performance.now() + this.config.timeouts.tunnelIdleMs;
        return this.out.write(chunk);
      },
      end: () => this.closeWhenFlushed(),
      pause: () => this.socket.pause(),
      resume: () => this.socket.resume(),
    };
  }
}

// ---- the exchange ------------------------------------------------------------------------

const enum Framing {
  None,
  Length,
  Chunked,
  Close,
}

export class ExchangeImpl implements DispatchableExchange {
  readonly scheme: "http" | "https";
  readonly secure: boolean;
  /** The route's body limit (the global one is enforced by the parser). */
  bodyLimit = Number.POSITIVE_INFINITY;
  /** Longest pause inside the request body: the route's, once routed. */
  bodyIdleMs: number;
  /** Longest time the client may take none of our queued bytes: the route's, once routed. */
  sendIdleMs: number;
  /** Backstop while the handler works (see Connection.checkTimeout): the route's, once routed. */
  handlerIdleMs: number;
  readonly startedAt = performance.now();
  readonly startedWall = Date.now();
  readonly log: ExchangeLogFields = {};
  readonly clientIp: string;
  readonly localPort: number;
  readonly config: Config;
  sink: BodySink | null = null;
  bodyPaused = false;
  requestDone = false;
  bodyBytes = 0;
  /** Bytes of an unread body dropped after the response (bounded by limits.discardBodyMax). */
  discarded = 0;
  /** The FIN probe (an interim 100) was sent; see Connection.onEnd. */
  probed = false;
  keepAlive = true;
  responseStarted = false;
  finished = false;
  aborted = false;
  status = 0;
  wantDrain = false;
  onDrain: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  /** The route's pre-resolved metrics, set by Runtime.dispatch (null: not routed). */
  routeMetrics: RouteMetrics | null = null;
  private framing = Framing.None;
  private remaining = 0;
  private bytesBefore: number;
  private logged = false;
  private readonly isHead: boolean;

  constructor(
    private readonly conn: Connection,
    readonly head: RequestHead,
    readonly id: string,
  ) {
    this.clientIp = conn.clientIp;
    this.secure = conn.ctx.secure === true;
    this.scheme = this.secure ? "https" : "http";
    this.localPort = conn.localPort;
    this.config = conn.ctx.config;
    this.bytesBefore = conn.out.totalBytes;
    this.isHead = head.method === "HEAD";
    const t = this.config.timeouts;
    this.bodyIdleMs = t.bodyIdleMs;
    this.sendIdleMs = t.sendIdleMs;
    this.handlerIdleMs = handlerBackstop(t);
  }

  /** The SNI name of this TLS connection (Runtime.dispatch answers 421 when Host names another site). */
  get tlsServerName(): string | null {
    return this.conn.tlsServerName;
  }
  get tlsClientCert(): ClientCert | null {
    return this.conn.tlsClientCert;
  }

  // ---- request body -------------------------------------------------------------------

  applyRouteLimits(limits: RouteLimits): boolean {
    const h = this.head;
    if (h.bodyKind === "length" && h.contentLength > limits.maxBodySize) {
      // Refused before any body byte is read, like the global limit (RFC 9110 §15.5.14).
      this.sendError(413, "LIMIT_BODY_SIZE");
      return false;
    }
    this.bodyLimit = limits.maxBodySize;
    this.sendIdleMs = limits.sendIdleMs;
    this.handlerIdleMs = limits.handlerIdleMs;
    if (limits.bodyIdleMs !== this.bodyIdleMs) {
      this.bodyIdleMs = limits.bodyIdleMs;
      this.conn.bodyTimeoutChanged(this);
    }
    return true;
  }

  /** The exchange ends from the client's side (gone, broken body, timeout): tell the handler once. */
  abortHandler(): void {
    const f = this.onAbort;
    if (!f) return;
    this.onAbort = null;
    try {
      f();
    } catch {}
  }

  readBody(sink: BodySink): void {
    if (this.conn.current !== this) return; // the exchange is over; nothing will read for it
    if (this.requestDone) {
      // Bodiless request: end right away.
      queueMicrotask(() => sink.end(null));
      return;
    }
    this.sink = sink;
    if (this.head.expectContinue && !this.responseStarted) this.conn.out.write(CONTINUE_100);
    this.conn.pump();
  }

  resumeBody(): void {
    this.conn.resumeBody(this);
  }

  // ---- response -----------------------------------------------------------------------

  /**
   * Decide keep-alive for this response. Returns the end of its head: the line break after the
   * X-Request-ID value, the Connection field when one is due, and the empty line.
   */
  private headEnd(): string {
    if (!this.requestDone && this.sink === null) {
      // The body is unread. Draining a small one keeps the connection; a client still waiting
      // for 100-continue or a large/unknown body means closing is cheaper (RFC 9110 §10.1.1).
      // A chunked body is discarded under the same byte budget, checked as it arrives.
      const h = this.head;
      if (h.expectContinue || (h.bodyKind === "length" && h.contentLength - this.bodyBytes > this.config.limits.discardBodyMax)) this.keepAlive = false;
    }
    if (this.conn.ctx.shuttingDown || this.conn.peerEnded) this.keepAlive = false;
    if (!this.keepAlive) return END_CLOSE;
    return this.head.minor === 0 ? END_KEEP_ALIVE : END_PLAIN;
  }

  /**
   * Date, Server, X-Request-ID and the end of the head, as three writes into the corked arena:
   * the prefix is shared per second, the id is the exchange's, the end a constant. Concatenating
   * them made several string cells per response (docs/performance.md, "Allocations per request").
   */
  private writeCommonFields(out: WriteQueue, end: string): void {
    out.writeLatin1(dateServerIdPrefix(this.config.serverName));
    out.writeLatin1(this.id);
    out.writeLatin1(end);
  }

  respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    if (this.responseStarted || this.aborted) return;
    this.responseStarted = true;
    this.status = status;
    const bodyBytes = body == null ? EMPTY : typeof body === "string" ? Buffer.from(body, "utf8") : body;
    const noBody = status === 204 || status === 304 || status < 200;
    // Head and body leave as one write (docs/runtime-notes.md): corked, they are copied into the shared
    // arena and sent together at uncork, with no per-response allocation.
    const out = this.conn.out;
    out.cork();
    if (!noBody && isPrepared(headers)) {
      // A cached file's answer: its status line, fields and length come prebuilt (serialize.ts).
      const end = this.headEnd();
      out.write(preparedHeadWithLength(headers, status, bodyBytes.byteLength));
      this.writeCommonFields(out, end);
    } else this.writeHead(status, headers, noBody ? "" : contentLengthLine(bodyBytes.byteLength));
    if (!noBody && !this.isHead && bodyBytes.byteLength > 0) out.write(bodyBytes);
    out.uncork();
    this.finish();
  }

  startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    if (this.responseStarted || this.aborted) return;
    this.responseStarted = true;
    this.status = status;
    let extra = "";
    const noBody = status === 204 || status === 304 || status < 200;
    if (noBody) {
      this.framing = Framing.None;
    } else if (length !== null) {
      extra = contentLengthLine(length);
      this.framing = this.isHead ? Framing.None : Framing.Length;
      this.remaining = length;
    } else if (this.isHead) {
      this.framing = Framing.None;
    } else if (this.head.minor === 1) {
      extra = "Transfer-Encoding: chunked\r\n";
      this.framing = Framing.Chunked;
    } else {
      // HTTP/1.0 has no chunked coding: the end of the body is the end of the connection.
      this.framing = Framing.Close;
      this.keepAlive = false;
    }
    this.writeHead(status, headers, extra);
  }

  /** Status line, the handler's fields (pairs or a prepared block), `framing` line, common fields, blank line — one corked batch. */
  private writeHead(status: number, headers: ResponseHeaders, framing: string): void {
    const out = this.conn.out;
    const end = this.headEnd();
    out.cork();
    out.writeLatin1(statusLine(status));
    if (isPrepared(headers)) out.write(headers.prepared);
    else out.writeLatin1(headerLines(headers));
    if (framing !== "") out.writeLatin1(framing);
    this.writeCommonFields(out, end);
    out.uncork();
  }

  get writeRoom(): number {
    return this.conn.out.room;
  }

  write(chunk: Uint8Array): boolean {
    if (!this.responseStarted || this.finished || this.aborted) return false;
    const out = this.conn.out;
    let ok: boolean;
    switch (this.framing) {
      case Framing.None:
        return true;
      case Framing.Length:
        if (chunk.byteLength > this.remaining) chunk = chunk.subarray(0, this.remaining);
        this.remaining -= chunk.byteLength;
        ok = out.write(chunk);
        break;
      case Framing.Chunked: {
        if (chunk.byteLength === 0) return !out.overHighWater;
        ok = out.write(frameChunk(chunk));
        break;
      }
      default:
        ok = out.write(chunk);
    }
    if (!ok) this.wantDrain = true;
    return ok;
  }

  end(trailers?: HeaderPairs): void {
    if (!this.responseStarted || this.finished || this.aborted) return;
    if (this.framing === Framing.Chunked) {
      this.conn.out.write(trailers && trailers.length ? lastChunkWithTrailers(trailers) : LAST_CHUNK);
    } else if (this.framing === Framing.Length && this.remaining > 0) {
      // The producer promised more bytes than it delivered: the framing is broken, so the
      // connection must close for the client to notice (never a fake clean end).
      this.log.errorCode ??= "RESPONSE_TRUNCATED";
      this.keepAlive = false;
      this.finish();
      this.conn.closeWhenFlushed();
      return;
    }
    if (this.framing === Framing.Close) this.keepAlive = false;
    this.finish();
  }

  cork(): void {
    this.conn.out.cork();
  }

  uncork(): void {
    this.conn.out.uncork();
  }

  informational(status: number, headers: HeaderPairs): void {
    if (this.responseStarted || this.aborted || status < 100 || status > 199 || status === 101) return;
    if (this.head.minor === 0) return; // HTTP/1.0 clients do not understand 1xx (RFC 9110 §15.2)
    this.conn.out.write(Buffer.from(statusLine(status) + headerLines(headers) + "\r\n", "latin1"));
  }

  sendError(status: number, code?: string, headers?: HeaderPairs): void {
    if (code) this.log.errorCode ??= code;
    if (this.responseStarted) {
      this.abort(code);
      return;
    }
    // These statuses mean the request stream itself is suspect or unwanted: do not reuse it.
    if (code !== undefined ? closesConnection(code) : CLOSE_AFTER.has(status)) this.keepAlive = false;
    const pairs: [string, string][] = [["Content-Type", "text/html; charset=utf-8"]];
    if (headers) for (const h of headers) pairs.push([h[0], h[1]]);
    this.respond(status, pairs, errorPage(status));
  }

  abort(code?: string): void {
    if (code) this.log.errorCode ??= code;
    if (this.aborted || this.conn.closed) return;
    this.aborted = true;
    this.keepAlive = false;
    // Deliver what is queued, then FIN without completing the framing: the client sees a
    // Content-Length shortfall or a missing last-chunk, never a fake clean end.
    this.conn.closeWhenFlushed();
  }

  upgrade(headers: HeaderPairs, handlers: TunnelHandlers): TunnelSide {
    this.responseStarted = true;
    this.status = 101;
    // Date, Server and X-Request-ID on every response, the 101 included.
    this.conn.out.writeLatin1(statusLine(101) + headerLines(headers) + dateServerIdPrefix(this.config.serverName) + this.id + "\r\n\r\n");
    this.requestDone = true;
    this.finished = true;
    return this.conn.startTunnel({
      data: handlers.data,
      drain: handlers.drain,
      end: () => {
        this.logFinish(101, this.log.errorCode);
        handlers.end();
      },
    });
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.requestDone) {
      this.conn.completeExchange(this);
      return;
    }
    // Answered before the request body ended (an error page, or an upstream that replied
    // early): whoever was reading the body is done with it.
    this.sink = null;
    this.bodyPaused = false;
    if (!this.keepAlive) this.conn.completeExchange(this); // unread body and no keep-alive: stop here
    else this.conn.startDiscard(this); // drop the rest within the budget, then completeExchange on its end
  }

  logFinish(status: number, error?: string): void {
    if (this.logged) return;
    this.logged = true;
    const conn = this.conn;
    recordFinished(conn.ctx, conn, this, status, conn.out.totalBytes - this.bytesBefore, error, this.head.minor === 0 ? "HTTP/1.0" : undefined);
  }
}

const EMPTY = new Uint8Array(0);
/** For an error page without a code; coded errors say for themselves (src/errors.ts). */
const CLOSE_AFTER = new Set([400, 408, 413, 414, 417, 431, 501, 505]);
