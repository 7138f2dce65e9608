/**
 * The typed configuration of one DreamServer instance, with every default in one place.
 *
 * A Config is immutable once built: connections keep the snapshot they started with
 * (docs/architecture.md). Sizes are bytes, times are milliseconds.
 */

export type LogFormat = "text" | "json";

export interface Limits {
  /** Longest request line (method + target + version). Beyond it: 414 URI Too Long. nginx: 8k large buffer. */
  readonly maxRequestLine: number;
  /** Longest single header field line. Beyond it: 431. */
  readonly maxHeaderLine: number;
  /** Whole header section (all field lines). Beyond it: 431. */
  readonly maxHeaderBytes: number;
  /** Number of header fields; a message's trailer fields count with its header fields. Beyond it: 431. */
  readonly maxHeaderCount: number;
  /**
   * Request body: the Content-Length, or for chunked the chunk data plus the metadata a client
   * can make arbitrarily long (chunk extensions and trailer lines), so those are never free.
   * Size digits and CRLFs are not counted (bounded framing). Beyond it: 413.
   */
  readonly maxBodySize: number;
  /**
   * Longest chunk-size line incl. extensions (CVE-2024-22019 class). 1 KiB: a size is at most 13
   * hex digits and real clients send no extensions. Beyond it: 400.
   */
  readonly maxChunkLine: number;
  /** Chunk-extension bytes (after the size digits) summed over one message; Node's fix uses 16 KiB. Beyond it: 413. */
  readonly maxChunkExtBytes: number;
  /** Trailer section of a chunked body (also counted against maxBodySize; trailer fields count against maxHeaderCount with the header fields). Beyond it: 431. */
  readonly maxTrailerBytes: number;
  /**
   * A request body the handler did not read (a GET with a body, a 404 or 405 after a POST) is
   * read and dropped up to this many bytes so the connection can be reused (nginx discards such
   * bodies too). Beyond it, or a declared Content-Length above it, the connection closes after
   * the response.
   */
  readonly discardBodyMax: number;
  /**
   * Process-wide bytes queued for slow clients. Above half of it every connection's high-water
   * mark drops to 16 KiB; above all of it producers stop and the slowest clients are cut first.
   */
  readonly maxOutputMemory: number;
}

export interface Timeouts {
  /** From connection open / previous response until the request head is complete (slowloris). 408. */
  readonly headerMs: number;
  /** Idle keep-alive connection between requests; closed silently. */
  readonly keepAliveMs: number;
  /** Longest pause while reading a request body. 408. */
  readonly bodyIdleMs: number;
  /** Longest time the client may go without accepting any of our bytes while we have some queued. */
  readonly sendIdleMs: number;
  /** Graceful shutdown: how long in-flight requests may take before connections are cut. */
  readonly shutdownMs: number;
  /** Upstream connect (TCP + TLS handshake). 504. */
  readonly upstreamConnectMs: number;
  /** Request fully sent → first response byte from the upstream. 504. */
  readonly upstreamHeaderMs: number;
  /** Longest pause inside an upstream response body. Client connection is closed. */
  readonly upstreamBodyIdleMs: number;
  /** Upgraded (WebSocket) tunnel with no traffic in either direction. */
  readonly tunnelIdleMs: number;
  /** Idle pooled upstream connection before it is closed. */
  readonly upstreamPoolIdleMs: number;
  /** Total time allowed for reading and dropping an unread request body after the response (nginx lingering). */
  readonly discardMs: number;
  /**
   * Backstop for a request waiting on its handler with no byte reaching the client. The
   * proxy's own upstream timeouts fire first (this one is raised above them if needed); it
   * exists so that no connection state is without a deadline. 500 (or a cut mid-response).
   */
  readonly handlerIdleMs: number;
}

export interface ProxyConfig {
  /** Backend origin, e.g. http://127.0.0.1:8000/base */
  readonly url: URL;
  /** Rewrite Host to the upstream's authority instead of passing the client's. */
  readonly rewriteHost: boolean;
  /** CIDRs whose X-Forwarded-* / Forwarded headers are trusted (kept and appended to). */
  readonly trustedProxies: readonly string[];
  /** Follow same-origin redirects for GET/HEAD, up to this many hops. 0 = off (default). */
  readonly followRedirects: number;
  /** Idle keep-alive connections kept per upstream. */
  readonly poolSize: number;
  /** Verify the upstream TLS certificate (https:// upstreams). */
  readonly tlsVerify: boolean;
  /** PEM bundle of CAs to trust for the upstream instead of the system store (--upstream-ca). */
  readonly tlsCa: string | null;
  /**
   * Forward request fields whose names contain "_" (--underscores-in-headers). Default false:
   * dropped, like nginx `underscores_in_headers off`, because CGI/WSGI backends read
   * X_Forwarded_For as X-Forwarded-For (see prepare-request.ts).
   */
  readonly underscoresInHeaders: boolean;
}

export interface Config {
  readonly hostname: string;
  readonly port: number;
  /** Document root, absolute and real (symlinks resolved). */
  readonly root: string;
  readonly proxy: ProxyConfig | null;
  /** Path of the access log, "-" for stdout, "off" to disable. */
  readonly accessLog: string;
  readonly logFormat: LogFormat;
  readonly limits: Limits;
  readonly timeouts: Timeouts;
  /** Requests served on one connection before we close it (nginx keepalive_requests). */
  readonly maxRequestsPerConnection: number;
  /** Serve files whose path has a segment starting with "." (default: no, 404). */
  readonly serveDotfiles: boolean;
  /** Files up to this size are kept in memory with a precomputed response head. */
  readonly fileCacheMaxFileSize: number;
  /** Total bytes of file bodies kept in memory. */
  readonly fileCacheMaxBytes: number;
  /**
   * How long a cached file is trusted without re-checking it on disk. 0 (default): every
   * request re-stats the path, so a changed file is never served stale (like Caddy, and nginx
   * without open_file_cache). >0 trades that for one syscall less per request, like nginx's
   * open_file_cache_valid: a change may go unseen for up to this long.
   */
  readonly fileCacheValidityMs: number;
  /** Number of listener processes (issue 4). 1 = this process only; the CLI default is one per CPU. */
  readonly workers: number;
  /** Value of the Server response header. */
  readonly serverName: string;
}

export const DEFAULT_LIMITS: Limits = {
  maxRequestLine: 8 * 1024,
  maxHeaderLine: 8 * 1024,
  maxHeaderBytes: 64 * 1024,
  maxHeaderCount: 100,
  maxBodySize: 1024 * 1024 * 1024,
  maxChunkLine: 1024,
  maxChunkExtBytes: 16 * 1024,
  maxTrailerBytes: 16 * 1024,
  discardBodyMax: 1024 * 1024,
  maxOutputMemory: 128 * 1024 * 1024,
};

export const DEFAULT_TIMEOUTS: Timeouts = {
  headerMs: 10_000,
  keepAliveMs: 75_000,
  bodyIdleMs: 60_000,
  sendIdleMs: 60_000,
  shutdownMs: 10_000,
  upstreamConnectMs: 5_000,
  upstreamHeaderMs: 60_000,
  upstreamBodyIdleMs: 60_000,
  tunnelIdleMs: 600_000,
  upstreamPoolIdleMs: 30_000,
  discardMs: 5_000,
  handlerIdleMs: 120_000,
};

export const DEFAULT_ACCESS_LOG = "/var/log/dreamserver/access.log";

export const DEFAULTS = {
  hostname: "0.0.0.0",
  port: 8080,
  root: "./staticfiles",
  accessLog: DEFAULT_ACCESS_LOG,
  logFormat: "text" as LogFormat,
  maxRequestsPerConnection: 1000,
  serveDotfiles: false,
  fileCacheMaxFileSize: 1024 * 1024,
  fileCacheMaxBytes: 64 * 1024 * 1024,
  fileCacheValidityMs: 0,
  workers: 1,
  serverName: "DreamServer",
  proxyPoolSize: 64,
  underscoresInHeaders: false,
} as const;

/** A Config with defaults everywhere, for tests and embedding. Root must be given. */
export function defaultConfig(overrides: Partial<Config> & { root: string }): Config {
  return {
    hostname: DEFAULTS.hostname,
    port: DEFAULTS.port,
    proxy: null,
    accessLog: "off",
    logFormat: DEFAULTS.logFormat,
    limits: DEFAULT_LIMITS,
    timeouts: DEFAULT_TIMEOUTS,
    maxRequestsPerConnection: DEFAULTS.maxRequestsPerConnection,
    serveDotfiles: DEFAULTS.serveDotfiles,
    fileCacheMaxFileSize: DEFAULTS.fileCacheMaxFileSize,
    fileCacheMaxBytes: DEFAULTS.fileCacheMaxBytes,
    fileCacheValidityMs: DEFAULTS.fileCacheValidityMs,
    workers: DEFAULTS.workers,
    serverName: DEFAULTS.serverName,
    ...overrides,
  };
}
