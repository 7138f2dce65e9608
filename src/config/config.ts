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
  /** The file tlsCa was read from (absolute), for messages and --print-config; null with tlsCa null. */
  readonly tlsCaFile: string | null;
  /**
   * Forward request fields whose names contain "_" (--underscores-in-headers). Default false:
   * dropped, like nginx `underscores_in_headers off`, because CGI/WSGI backends read
   * X_Forwarded_For as X-Forwarded-For (see prepare-request.ts).
   */
  readonly underscoresInHeaders: boolean;
}

/** What a static route serves (the `static = { ... }` table of a route, or --root). */
export interface StaticConfig {
  /** Document root, absolute and real (symlinks resolved). */
  readonly root: string;
  /** Files tried, in order, for a request that names a directory ("/dir/"). */
  readonly index: readonly string[];
  /** Serve files whose path has a segment starting with "." (default: no, 404). */
  readonly serveDotfiles: boolean;
  /** Files up to this size are kept in memory with a precomputed response head. */
  readonly fileCacheMaxFileSize: number;
  /** Total bytes of file bodies kept in memory (per static route). */
  readonly fileCacheMaxBytes: number;
  /**
   * How long a cached file is trusted without re-checking it on disk. 0 (default): every
   * request re-stats the path, so a changed file is never served stale (like Caddy, and nginx
   * without open_file_cache). >0 trades that for one syscall less per request, like nginx's
   * open_file_cache_valid: a change may go unseen for up to this long.
   */
  readonly fileCacheValidityMs: number;
}

/** One address to listen on. Sites that name the same address share one listener. */
export interface ListenAddress {
  readonly hostname: string;
  /** 0 = an ephemeral port chosen at start. */
  readonly port: number;
}

/** A string with placeholders ({host}, {path}, …), parsed once at load (src/config/template.ts). */
export interface Template {
  /** The text as written in the config. */
  readonly source: string;
  /** Literal text and placeholder names, in order. */
  readonly parts: readonly TemplatePart[];
}
export type TemplatePart = { readonly text: string } | { readonly placeholder: string; readonly arg?: string };

/** `request_headers` / `response_headers` of a route. Names keep their case; `remove` is lowercase. */
export interface HeaderRules {
  readonly set: readonly (readonly [string, Template])[];
  readonly add: readonly (readonly [string, Template])[];
  readonly remove: readonly string[];
}

/** How a route's `path` matches the normalised request path. */
export type PathMatch =
  | { readonly kind: "prefix"; readonly prefix: string }
  | { readonly kind: "exact"; readonly path: string }
  | { readonly kind: "regex"; readonly source: string; readonly re: RegExp };

/** What a route does with a request it matched. */
export type RouteAction =
  | { readonly kind: "static"; readonly static: StaticConfig }
  | { readonly kind: "proxy"; readonly proxy: ProxyConfig }
  | { readonly kind: "redirect"; readonly to: Template; readonly status: 301 | 302 | 303 | 307 | 308 }
  | { readonly kind: "respond"; readonly status: number; readonly body: string; readonly headers: readonly (readonly [string, Template])[] };

export interface RouteConfig {
  /** Position in its site's route list (0-based), for messages and --print-config. */
  readonly index: number;
  readonly match: PathMatch;
  /** Methods this route accepts (uppercase), or null for any. */
  readonly methods: readonly string[] | null;
  /** Request fields that must be present with exactly this value (lowercase name), or null. */
  readonly headers: readonly (readonly [string, string])[] | null;
  /** Removed from the start of the path before the action sees it ({path} still shows the original). */
  readonly stripPrefix: string | null;
  readonly requestHeaders: HeaderRules | null;
  readonly responseHeaders: HeaderRules | null;
  /** The route's own body limit (the global one unless the route overrides it). */
  readonly maxBodySize: number;
  /** The global timeouts with the route's overrides applied (body and upstream phases). */
  readonly timeouts: Timeouts;
  readonly action: RouteAction;
}

export interface SiteConfig {
  /** Position in the config's site list (0-based). */
  readonly index: number;
  readonly listen: readonly ListenAddress[];
  /**
   * Host names, lowercase, without a trailing dot: exact ("example.com") or a leading wildcard
   * ("*.example.com"). Empty: the default site of its addresses.
   */
  readonly hosts: readonly string[];
  readonly routes: readonly RouteConfig[];
  /** `tls = { cert, key }`: this site's addresses serve HTTPS with this pair (docs/https.md). Absent = plain HTTP. */
  readonly tls?: SiteTls;
  /** `redirect_https = true` (a plain site): every request except ACME HTTP-01 challenges gets a 308 to https. */
  readonly redirectHttps?: boolean;
}

/** A site's certificate: PEM texts read at load (cert holds the chain), and the files they came from. */
export interface SiteTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
  /** notAfter of the leaf certificate (ms since the epoch), for the expiry warning and the docs. */
  readonly notAfter: number;
  /** `tls = "auto"`: the certificate comes from ACME (src/acme/manager.ts); the fields above are empty. */
  readonly auto?: boolean;
}

/** The `[acme]` table (docs/https.md#automatic-certificates-acme). */
export interface AcmeConfig {
  readonly directory: string;
  /** Contact for the account, or "" for none. */
  readonly email: string;
  /** Extra trusted roots (PEM text) for the ACME server's HTTPS, or null. */
  readonly ca: string | null;
  readonly caFile: string | null;
  /** Folder for the account key, certificates, challenge answers and locks (absolute). */
  readonly storage: string;
}

export const DEFAULT_ACME_DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory";
export const DEFAULT_ACME_STORAGE = "/var/lib/dreamserver";

/** The whole validated configuration of one instance: immutable; a reload builds a new one. */
export interface Config {
  /** The config file it was loaded from, or null when built from command-line flags. */
  readonly source: string | null;
  /** Number of listener processes. 1 = this process only; the CLI default is one per CPU. */
  readonly workers: number;
  /** Value of the Server response header. */
  readonly serverName: string;
  /** Path of the access log, "-" for stdout, "off" to disable. */
  readonly accessLog: string;
  readonly logFormat: LogFormat;
  readonly limits: Limits;
  readonly timeouts: Timeouts;
  /** Requests served on one connection before we close it (nginx keepalive_requests). */
  readonly maxRequestsPerConnection: number;
  readonly sites: readonly SiteConfig[];
  /**
   * The admin listener (/healthz, /readyz): loopback by default, null when "off". An address
   * that cannot be bound (e.g. a second instance on one machine) is a warning, not a failure:
   * the site listeners are what the server is for.
   */
  readonly admin: ListenAddress | null;
  /**
   * After SIGTERM, /readyz answers 503 and the listeners keep accepting this long before the
   * drain starts, so a load balancer (a Kubernetes Service) stops sending new connections first.
   */
  readonly shutdownDelayMs: number;
  /** ACME settings; absent when no site has tls = "auto" and there is no [acme] table. */
  readonly acme?: AcmeConfig;
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
/** The admin listener's default address: loopback only. */
export const DEFAULT_ADMIN_LISTEN = "127.0.0.1:9180";

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

/**
 * The handler backstop for a set of timeouts (Timeouts.handlerIdleMs), raised so that it never
 * fires before the proxy's own upstream timeouts, which name the real cause.
 */
export function handlerBackstop(t: Timeouts): number {
  return Math.max(t.handlerIdleMs, t.upstreamConnectMs + t.upstreamHeaderMs + 5_000, t.upstreamBodyIdleMs + 5_000);
}

/** Static settings with defaults everywhere, for tests and embedding. Root must be given. */
export function defaultStaticConfig(overrides: Partial<StaticConfig> & { root: string }): StaticConfig {
  return {
    index: ["index.html"],
    serveDotfiles: DEFAULTS.serveDotfiles,
    fileCacheMaxFileSize: DEFAULTS.fileCacheMaxFileSize,
    fileCacheMaxBytes: DEFAULTS.fileCacheMaxBytes,
    fileCacheValidityMs: DEFAULTS.fileCacheValidityMs,
    ...overrides,
  };
}

/** A one-site Config with defaults everywhere, for tests and embedding. */
export function defaultConfig(overrides: Partial<Config> = {}): Config {
  return {
    source: null,
    workers: DEFAULTS.workers,
    serverName: DEFAULTS.serverName,
    accessLog: "off",
    logFormat: DEFAULTS.logFormat,
    limits: DEFAULT_LIMITS,
    timeouts: DEFAULT_TIMEOUTS,
    maxRequestsPerConnection: DEFAULTS.maxRequestsPerConnection,
    sites: [],
    admin: null,
    shutdownDelayMs: 0,
    ...overrides,
  };
}
