/**
 * The one small interface everything composes through (after undici's
 * dispatcher/handler): a Handler gets an Exchange — the parsed request plus a response sink —
 * and answers it. Static files, the reverse proxy and error pages are all handlers.
 *
 * The connection engine (src/net/) implements Exchange; handlers never touch sockets.
 */
import type { ClientCert } from "./tls/client-cert.ts";
import type { RequestTrace } from "./observe/tracer.ts";
import type { Config } from "./config/config.ts";
import type { HeaderList } from "./http1/header-list.ts";
import type { RequestHead } from "./http1/message-head.ts";

export type HeaderPairs = ReadonlyArray<readonly [string, string]>;

/**
 * Header lines serialized once ("Name: value\r\n"…) and reused for many responses,
 * e.g. the Content-Type/ETag/Last-Modified block of a cached file. Build with prepareHeaders().
 */
export interface PreparedHeaders {
  readonly prepared: Uint8Array;
}

export type ResponseHeaders = HeaderPairs | PreparedHeaders;

/** Consumer of a request body. Return false from data() to pause reading; call ex.resumeBody() to continue. */
export interface BodySink {
  data(chunk: Uint8Array): boolean;
  end(trailers: HeaderList | null): void;
  /** The body could not be completed (client gone, framing error, timeout). */
  error(code: string): void;
}

/** Raw byte stream of a connection after a 101 Switching Protocols (WebSocket tunnels). */
export interface TunnelSide {
  write(chunk: Uint8Array): boolean;
  end(): void;
  pause(): void;
  resume(): void;
}
export interface TunnelHandlers {
  data(chunk: Uint8Array): void;
  /** Peer sent FIN or the socket closed. */
  end(): void;
  /** Our queued bytes towards the client have drained. */
  drain(): void;
}

/** Extra access-log fields a handler may fill in. */
export interface ExchangeLogFields {
  errorCode?: string;
  upstream?: string;
  upstreamStatus?: number;
  upstreamConnectMs?: number;
  upstreamTtfbMs?: number;
  /** The response cache's result for this request (HIT, MISS, STALE, REVALIDATED, EXPIRED, BYPASS; src/cache/cache-status.ts). */
  cache?: string;
  /** The upstream response's Date field, kept for the cache's age arithmetic (the engine sends its own Date). */
  upstreamDate?: string;
  /** W3C trace state of this request (src/observe/tracer.ts); the proxy forwards a child of it. */
  trace?: RequestTrace;
}

/**
 * One request and its response sink, as every handler and middleware sees it. The request view
 * (head, id, clientIp, scheme, secure) is protocol-neutral: HTTP/1 (net/connection.ts) and
 * HTTP/2 (net/h2-exchange.ts, one per stream) fill it the same way (head.minor, head.keepAlive
 * and head.form are the only HTTP/1 details, and only the engine and the proxy's forwarding
 * rules read them).
 */
export interface Exchange {
  /** The request: method, target, path, query, headers, host, body framing. */
  readonly head: RequestHead;
  /** "https" once the connection is TLS. */
  readonly scheme: "http" | "https";
  readonly secure: boolean;
  /** mTLS: the client certificate of the connection (null: none; absent: not a TLS exchange). */
  readonly tlsClientCert?: ClientCert | null;
  /** Request id: the client's valid X-Request-ID or a fresh nanoid; echoed in the response. */
  readonly id: string;
  readonly clientIp: string;
  /** Local port of the listener, for X-Forwarded-Port and redirects. */
  readonly localPort: number;
  /** Config snapshot this connection started with. */
  readonly config: Config;
  /** performance.now() when the request head was complete. */
  readonly startedAt: number;
  readonly log: ExchangeLogFields;

  // ---- request body -------------------------------------------------------------------
  /** Start receiving the body (sends 100 Continue if the client asked for it). Unread bodies are discarded. */
  readBody(sink: BodySink): void;
  resumeBody(): void;

  // ---- response -----------------------------------------------------------------------
  /** Whether a final response head has been started. */
  readonly responseStarted: boolean;
  /** A complete response with a known body. Content-Length is set; HEAD gets no body bytes. */
  respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void;
  /**
   * Start a streamed response. length = byte count (Content-Length), or null: chunked for HTTP/1.1,
   * close-delimited for HTTP/1.0. Headers must not contain Content-Length/Transfer-Encoding/Connection.
   */
  startResponse(status: number, headers: ResponseHeaders, length: number | null): void;
  /** Queue body bytes. false = above the high-water mark: stop producing until onDrain fires. */
  write(chunk: Uint8Array): boolean;
  /**
   * Bytes write() takes before it says stop. A producer that reads ahead (files) sizes its
   * reads by this, so a client that stops reading never holds more than one high-water mark.
   */
  readonly writeRoom: number;
  /** Finish the response (chunked: last-chunk + trailers). */
  end(trailers?: HeaderPairs): void;
  /** Called once the queue drained after write() returned false. */
  onDrain: (() => void) | null;
  /**
   * Called once if the exchange ends from the client's side before the handler finished: the
   * connection went away, the request body broke off or timed out. The handler stops its work
   * (the proxy drops its upstream request); the engine answers the client if an answer is due.
   */
  onAbort: (() => void) | null;
  /** Send a 1xx informational response (not 101). */
  informational(status: number, headers: HeaderPairs): void;
  /** The built-in error page for status; code goes to the access log (e.g. "PATH_TRAVERSAL"). */
  sendError(status: number, code?: string, headers?: HeaderPairs): void;
  /** Cut the client connection now (e.g. upstream died mid-body): the truncation stays visible. */
  abort(code?: string): void;
  /**
   * Batch everything written until the matching uncork() into one socket write (e.g. a relayed
   * response head and its first body bytes). Corks nest; never hold one across an await.
   */
  cork(): void;
  uncork(): void;
  /** Write a 101 head and switch the connection to a raw tunnel. */
  upgrade(headers: HeaderPairs, handlers: TunnelHandlers): TunnelSide;
}

export type Handler = (ex: Exchange) => void;

/**
 * What happens when a handler throws synchronously, wherever it is called from (the engine's
 * dispatch, or a handler answering later from its own callback): logged, and a 500 when nothing
 * was sent yet, else the connection is cut so the truncation stays visible.
 */
export function handlerThrew(ex: Exchange, err: unknown): void {
  ex.log.errorCode ??= "HANDLER_EXCEPTION";
  console.error(`[ERROR] handler threw for ${ex.head.method} ${ex.head.target}: ${(err as Error)?.message ?? err}`);
  if (!ex.responseStarted) ex.sendError(500, "HANDLER_EXCEPTION");
  else ex.abort("HANDLER_EXCEPTION");
}
