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
  /**
   * Client connections open at once, per instance (all workers together: each worker holds
   * ceil(max / workers)). Past it (after reclaiming idle keep-alive connections) a new
   * connection gets a prewritten 503 and is closed.
   */
  readonly maxConnections: number;
  /** Connections open at once from one peer address, per instance (divided like maxConnections); 0 = no limit. */
  readonly maxConnectionsPerIp: number;
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
  /**
   * The backends: a named [upstream.NAME] group (`upstream = "app"`), or the route's inline
   * `to = [...]` list as an anonymous group. `url` above is the first server's URL (scheme and
   * base path are the same for every server of a group).
   */
  readonly group: UpstreamGroupConfig;
}

/** How a group picks the server for a request (src/proxy/select.ts). */
export type UpstreamPolicy = "round_robin" | "least_conn" | "random_two" | "ip_hash" | "hash" | "cookie" | "first";

/** One entry of a group's `to` list. */
export interface UpstreamServerConfig {
  readonly url: URL;
  /** Relative share of requests (round_robin, least_conn, hashing). */
  readonly weight: number;
  /** Most in-flight requests at once; 0 = unlimited. */
  readonly maxConns: number;
  /** Gets traffic only when no primary server is eligible. */
  readonly backup: boolean;
}

/** Active checks: a GET on `path` every `intervalMs`. */
export interface HealthCheckConfig {
  readonly path: string;
  /** Host field of the check; null = the server's own authority. */
  readonly host: string | null;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Accepted status codes, inclusive ("2xx" = 200..299, "204" = 204..204). */
  readonly statusMin: number;
  readonly statusMax: number;
  /** As written ("2xx"), for --print-config. */
  readonly status: string;
  /** Optional regex the body (first 64 KiB) must match; null = not checked. */
  readonly body: string | null;
  readonly passes: number;
  readonly fails: number;
}

/** Passive health: failures seen on real traffic (nginx max_fails / fail_timeout). */
export interface PassiveHealthConfig {
  /** Failures within failTimeoutMs that mark a server down; 0 = passive health off. */
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  /** Response statuses that count as failures (the response itself is still relayed). */
  readonly unhealthyStatus: readonly number[];
}

export interface UpstreamGroupConfig {
  /** The NAME of [upstream.NAME]; null for a route's inline `to` list. */
  readonly name: string | null;
  readonly servers: readonly UpstreamServerConfig[];
  readonly policy: UpstreamPolicy;
  /** policy = "hash": what is hashed. */
  readonly hashKey: Template | null;
  /** policy = "cookie": the cookie that names the server. */
  readonly cookie: string;
  /** Extra attempts on another server after a failure that is safe to retry. */
  readonly retries: number;
  /** No new attempt after this long since the first; 0 = no limit (within retries). */
  readonly tryDurationMs: number;
  readonly health: HealthCheckConfig | null;
  readonly passive: PassiveHealthConfig;
  /** Host names in `to` are resolved again this often; each A/AAAA record is a server. */
  readonly resolveIntervalMs: number;
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
  /** Route `compress = { ... }` (issue 10): absent = no on-the-fly compression. */
  readonly compress?: CompressConfig;
  /** `precompressed = [...]`: sidecar codings looked for next to a file, in preference order. */
  readonly precompressed?: readonly Coding[];
  /** Route `cache_control = [...]`: first matching rule sets Cache-Control (200, 206 and 304). */
  readonly cacheControl?: readonly CacheControlRule[];
  /**
   * `try_files` (nginx/Caddy): candidates tried in order, "{path}" = the request path; the
   * first that names an existing file is served with 200. `status` set: the explicit "=404".
   */
  readonly tryFiles?: readonly TryFile[];
  /** Route `errors = { 404 = "/404.html" }`: status → request path of a page in the root. */
  readonly errorPages?: ReadonlyMap<number, string>;
  /** `browse = true`: list a folder without an index file (HTML, or JSON for Accept: application/json). */
  readonly browse?: boolean;
  /**
   * Symlinks: "within_root" (default: followed while the real path stays in the root),
   * "follow" (followed anywhere, nginx's default), "deny" (a path through any symlink is 404,
   * nginx's disable_symlinks on). Absent = "within_root".
   */
  readonly symlinks?: "within_root" | "follow" | "deny";
}

export type TryFile = { readonly template: string } | { readonly status: 404 };

/** Content codings we produce (Bun/node:zlib built-ins). */
export type Coding = "zstd" | "br" | "gzip";

/** On-the-fly compression of a static route (docs/static-files.md, "Compression"). */
export interface CompressConfig {
  /** Offered codings, in server preference order (ties in the client's q-values). */
  readonly codings: readonly Coding[];
  /** Files smaller than this are sent as they are. */
  readonly minSize: number;
  /** Media types compressed: "type/subtype" or "type/*" (lowercase, no parameters). */
  readonly types: readonly string[];
}

/** One `cache_control` rule; `re` is compiled from `match` at load (src/static/cache-control.ts). */
export interface CacheControlRule {
  readonly match: string;
  readonly value: string;
  readonly re: RegExp;
  /** No "/" in the pattern: matched against the file name only. */
  readonly nameOnly: boolean;
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
  /** ip_allow / ip_deny / rate_limit / basic_auth / forward_auth / security_headers; absent = none of them. */
  readonly access?: AccessConfig;
  /** `compress` on a proxy route: compress proxied responses (src/middleware/compress/). Static routes keep theirs in StaticConfig. */
  readonly compress?: CompressConfig;
  /** `cache = { ... }` on a proxy route (issue 13, docs/caching.md); absent or enabled = false: not cached. */
  readonly cache?: RouteCacheConfig;
}

/** A proxy route's shared response cache (RFC 9111; src/middleware/cache/). */
export interface RouteCacheConfig {
  /** Heuristic freshness ceiling for responses with Last-Modified and no explicit lifetime; 0 = explicit freshness only. */
  readonly defaultTtlMs: number;
  /** Serve stale this long while revalidating in the background (RFC 5861 §3), unless the response says otherwise. */
  readonly staleWhileRevalidateMs: number;
  /** Serve stale this long when the upstream fails (RFC 5861 §4), unless the response says otherwise. */
  readonly staleIfErrorMs: number;
  /** The primary cache key. */
  readonly key: Template;
  /** What a client's no-cache / max-age / min-fresh does: "revalidate" (RFC 9111) or "ignore" (nginx without proxy_cache_bypass). */
  readonly clientNoCache: "revalidate" | "ignore";
  /** Store responses that carry Set-Cookie (and replay the cookie to every client). */
  readonly storeSetCookie: boolean;
}

/** The [cache] table: bounds of the per-process response cache. */
export interface CacheLimits {
  /** Bytes of all stored responses (bodies, fields, keys). */
  readonly memory: number;
  /** Larger responses stream through uncached. */
  readonly maxObject: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = { memory: 256 * 1024 * 1024, maxObject: 8 * 1024 * 1024 };
export const DEFAULT_CACHE_KEY = "{host}{uri}";

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
  /** `hsts` (a TLS site): the Strict-Transport-Security value sent on its responses. Absent = none. */
  readonly hsts?: HstsConfig;
  /** `http2 = false` (a TLS site): ALPN offers only http/1.1 on its addresses. Absent: h2 offered. */
  readonly http2?: false;
  /** `h2c = true` (a plain site): prior-knowledge cleartext HTTP/2 on its addresses (docs/http2.md). */
  readonly h2c?: boolean;
}

/** `hsts = true | { max_age, include_subdomains, preload }` (RFC 6797 §6.1). */
export interface HstsConfig {
  readonly maxAge: number;
  readonly includeSubdomains: boolean;
  readonly preload: boolean;
  /** The field value, e.g. "max-age=31536000; includeSubDomains". */
  readonly value: string;
}

/** Client certificates (mTLS) of a TLS site: `client_ca` and `client_auth`. */
export interface ClientAuthConfig {
  /** PEM text of the trusted CAs, and the file it came from. */
  readonly ca: string;
  readonly caFile: string;
  /** "require": no valid certificate → 403; "optional": none is fine, an invalid one → 403. */
  readonly mode: "require" | "optional";
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
  /** `client_ca` (and `client_auth`): ask clients for a certificate and verify it. Absent = no mTLS. */
  readonly clientAuth?: ClientAuthConfig;
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

/** How often certificate files are checked for changes (docs/https.md#reload). */
export const DEFAULT_CERT_CHECK_INTERVAL_MS = 60_000;

/** HSTS max-age when `hsts = true`: one year, what the browsers' preload list asks for (RFC 6797 §6.1.1). */
export const DEFAULT_HSTS_MAX_AGE = 31_536_000;

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
  /** `server.cert_check_interval`: how often tls cert/key/client_ca files are checked for changes. */
  readonly certCheckIntervalMs: number;
  /** The [upstream.NAME] groups, in file order (routes hold the same objects). */
  readonly upstreams: readonly UpstreamGroupConfig[];
  /** [metrics] enabled: count requests, bytes and connections for GET /metrics (off only to measure its cost). */
  readonly metricsEnabled: boolean;
  /** [tracing] sample: the share (0 to 1) of new traces marked sampled; an incoming traceparent's flag is honoured. */
  readonly tracingSample: number;
  /** [tracing] otlp_endpoint: where sampled spans are sent (OTLP/HTTP JSON), or null. */
  readonly otlpEndpoint: URL | null;
  /** [admin] token: Bearer token for /api/* and /dashboard, or null (allowed only on a loopback admin address). */
  readonly adminToken: string | null;
  /** [admin] token_file: where adminToken was read from (absolute), or null when it was given inline. */
  readonly adminTokenFile: string | null;
  /** ACME settings; absent when no site has tls = "auto" and there is no [acme] table. */
  readonly acme?: AcmeConfig;
  /** [cache]: bounds of the response cache (each worker process has its own). */
  readonly cache: CacheLimits;
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
  maxConnections: 10_000,
  maxConnectionsPerIp: 0,
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
  upstreamPolicy: "round_robin" as UpstreamPolicy,
  upstreamRetries: 1,
  upstreamCookie: "ds_upstream",
  maxFails: 1,
  failTimeoutMs: 10_000,
  resolveIntervalMs: 30_000,
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

/** [tracing] sample by default: one new trace in ten is sampled. */
export const DEFAULT_TRACING_SAMPLE = 0.1;

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
    certCheckIntervalMs: DEFAULT_CERT_CHECK_INTERVAL_MS,
    upstreams: [],
    metricsEnabled: true,
    tracingSample: DEFAULT_TRACING_SAMPLE,
    otlpEndpoint: null,
    adminToken: null,
    adminTokenFile: null,
    cache: DEFAULT_CACHE_LIMITS,
    ...overrides,
  };
}

// ---- access and traffic control (issue 12) -------------------------------------------------

/** `rate_limit = { rate, burst, key, max_keys }` of a route: a token bucket per rendered key. */
export interface RateLimitConfig {
  /** Requests per `periodMs` (the "100" of "100/s"). */
  readonly count: number;
  /** The "/s" of "100/s", in ms (1000, 60000 or 3600000). */
  readonly periodMs: number;
  /** Requests a full bucket allows at once. */
  readonly burst: number;
  /** The bucket's key, rendered per request ({remote_ip} = the client as trusted proxies report it). */
  readonly key: Template;
  /** Keys kept at most (least recently used evicted): bounds memory. */
  readonly maxKeys: number;
}

/** `basic_auth = { realm, users, fail_rate }` of a route (RFC 7617). */
export interface BasicAuthConfig {
  readonly realm: string;
  /** user name → argon2id / argon2i / argon2d / bcrypt hash, in file order. */
  readonly users: readonly (readonly [string, string])[];
  /** Failed attempts a client may make per `failPeriodMs` (also the burst). */
  readonly failCount: number;
  readonly failPeriodMs: number;
}

/** `forward_auth = { url, copy_headers, timeout }` of a route (nginx auth_request, Traefik forwardAuth). */
export interface ForwardAuthConfig {
  readonly url: URL;
  /** Fields copied from a 2xx auth response into the upstream request. */
  readonly copyHeaders: readonly string[];
  readonly timeoutMs: number;
}

/** The access-control settings of a route; absent keys are null / false. */
export interface AccessConfig {
  /** CIDRs (as written) whose clients may use the route; null = everyone. */
  readonly ipAllow: readonly string[] | null;
  /** CIDRs (as written) whose clients get 403; null = none. */
  readonly ipDeny: readonly string[] | null;
  readonly rateLimit: RateLimitConfig | null;
  readonly basicAuth: BasicAuthConfig | null;
  /** Forward the client's Authorization field upstream (default: removed on basic_auth routes). */
  readonly forwardAuthorization: boolean;
  readonly forwardAuth: ForwardAuthConfig | null;
  /** security_headers: null = off; csp = also the permissive Content-Security-Policy. */
  readonly securityHeaders: { readonly csp: boolean } | null;
}

export const DEFAULT_RATE_LIMIT_MAX_KEYS = 100_000;
export const DEFAULT_BASIC_AUTH_FAIL_RATE = "10/m";
export const DEFAULT_FORWARD_AUTH_TIMEOUT_MS = 5_000;
