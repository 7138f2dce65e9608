/**
 * The config file's schema: every key with its type, default and one-line doc. The single source
 * that the validator (unknown keys, types, defaults), --print-config, the flag parser's defaults
 * and docs/configuration.md (scripts/gen-config-docs.ts) read. The typed defaults themselves are
 * the constants of config.ts (DEFAULT_LIMITS, DEFAULT_TIMEOUTS, DEFAULTS), referenced here.
 */
import { DEFAULT_CACHE_KEY, DEFAULT_CACHE_LIMITS, DEFAULT_ACME_DIRECTORY, DEFAULT_ACME_STORAGE, DEFAULT_TRACING_SAMPLE, DEFAULT_ADMIN_LISTEN, DEFAULT_BASIC_AUTH_FAIL_RATE, DEFAULT_FORWARD_AUTH_TIMEOUT_MS, DEFAULT_LIMITS, DEFAULT_RATE_LIMIT_MAX_KEYS, DEFAULT_TIMEOUTS, DEFAULTS, type Limits, type Timeouts, DEFAULT_CERT_CHECK_INTERVAL_MS, DEFAULT_HSTS_MAX_AGE } from "./config.ts";

export type LeafKind =
  | "string" // any string
  | "bool"
  | "int"
  | "size" // bytes: integer or "8k" / "1m" / "1g"
  | "duration" // ms: "500ms" / "10s" / "2m" / "1h" (or a number of seconds)
  | "enum" // one of `values`
  | "workers" // "auto" or an integer
  | "listen" // "[HOST:]PORT", "[v6]:PORT"
  | "host" // "example.com" / "*.example.com"
  | "path" // route path: "/prefix", "=/exact", "~regex"
  | "url" // http(s) URL
  | "cidr"
  | "token" // HTTP token (method, header name)
  | "template" // string with placeholders
  | "file" // path of a readable file
  | "dir" // path of a directory
  | "ratio"; // number from 0 to 1

export interface Leaf {
  readonly kind: LeafKind;
  readonly doc: string;
  /** Typed default (bytes, ms, …); undefined = no default (optional key, or `required`). */
  readonly default?: unknown;
  /** How the default reads in docs when it is not a literal value (e.g. "the global limit"). */
  readonly defaultText?: string;
  readonly required?: boolean;
  readonly values?: readonly (string | number)[];
  readonly min?: number;
  readonly max?: number;
}
export interface ListNode {
  readonly kind: "list";
  readonly doc: string;
  readonly item: Leaf;
  readonly default?: readonly unknown[];
  readonly defaultText?: string;
  readonly required?: boolean;
  /** Also accept a single value instead of a list. */
  readonly single?: boolean;
}
/** A table with free keys (header names), every value of one kind. */
export interface MapNode {
  readonly kind: "map";
  readonly doc: string;
  /** "status": keys are HTTP status codes (route `errors`). */
  readonly key: "header-name" | "user-name" | "status";
  readonly value: Leaf;
}
export interface TableNode {
  readonly kind: "table";
  readonly doc: string;
  readonly fields: Readonly<Record<string, Node>>;
  /** An array of tables ([[site]]). */
  readonly array?: boolean;
  readonly required?: boolean;
}
export type Node = Leaf | ListNode | MapNode | TableNode;

/** snake_case file key → Limits field, in file order. */
export const LIMIT_KEYS: ReadonlyArray<readonly [string, keyof Limits, string]> = [
  ["max_request_line", "maxRequestLine", "Longest request line (method, target, version); beyond it 414."],
  ["max_header_line", "maxHeaderLine", "Longest single header field line; beyond it 431."],
  ["max_header_bytes", "maxHeaderBytes", "Whole header section; beyond it 431."],
  ["max_header_count", "maxHeaderCount", "Number of header (and trailer) fields; beyond it 431."],
  ["max_body_size", "maxBodySize", "Largest request body (chunk metadata included); beyond it 413. Routes may override it."],
  ["max_chunk_line", "maxChunkLine", "Longest chunk-size line including extensions; beyond it 400."],
  ["max_chunk_ext_bytes", "maxChunkExtBytes", "Chunk-extension bytes summed over one message; beyond it 413."],
  ["max_trailer_bytes", "maxTrailerBytes", "Trailer section of a chunked body; beyond it 431."],
  ["discard_body_max", "discardBodyMax", "Unread request body read and dropped to keep the connection; beyond it the connection closes."],
  ["max_output_memory", "maxOutputMemory", "Bytes queued for slow clients, whole process; over half of it queues shrink, over all of it the slowest clients are cut."],
  ["max_connections", "maxConnections", "Client connections per instance (each worker takes ceil(n / workers)); past it, after closing idle keep-alive ones, new connections get a prewritten 503."],
  ["max_connections_per_ip", "maxConnectionsPerIp", "Connections from one peer address per instance (divided among workers like max_connections); past it a prewritten 503; 0 = no limit."],
];
/** Limits that are counts, not sizes. */
export const INT_LIMITS: ReadonlySet<keyof Limits> = new Set<keyof Limits>(["maxHeaderCount", "maxConnections", "maxConnectionsPerIp"]);
const LIMIT_MIN: Partial<Record<keyof Limits, number>> = {
  maxRequestLine: 64,
  maxHeaderLine: 64,
  maxHeaderBytes: 256,
  maxHeaderCount: 1,
  maxChunkLine: 16,
  maxOutputMemory: 1024 * 1024,
  maxConnections: 1,
};

/** snake_case file key (no _ms) → Timeouts field, in file order. */
export const TIMEOUT_KEYS: ReadonlyArray<readonly [string, keyof Timeouts, string]> = [
  ["header", "headerMs", "Connection open or previous response → request head complete (slowloris); 408."],
  ["keep_alive", "keepAliveMs", "Idle keep-alive connection between requests; closed silently."],
  ["body_idle", "bodyIdleMs", "Longest pause while reading a request body; 408."],
  ["send_idle", "sendIdleMs", "Longest time a client may accept none of our queued bytes."],
  ["shutdown", "shutdownMs", "Graceful shutdown: in-flight requests get this long before connections are cut."],
  ["upstream_connect", "upstreamConnectMs", "Upstream TCP + TLS connect; 504."],
  ["upstream_header", "upstreamHeaderMs", "Request sent → first upstream response byte; 504."],
  ["upstream_body_idle", "upstreamBodyIdleMs", "Longest pause inside an upstream response body; the client connection is closed."],
  ["tunnel_idle", "tunnelIdleMs", "Upgraded (WebSocket) tunnel with no traffic either way."],
  ["upstream_pool_idle", "upstreamPoolIdleMs", "Idle pooled upstream connection before it is closed."],
  ["discard", "discardMs", "Total time for reading and dropping an unread request body after the response."],
  ["handler_idle", "handlerIdleMs", "Backstop for a request whose handler sends nothing (raised above the upstream timeouts); 500."],
];

/** A route's `timeouts` table: short names → the global Timeouts field they override. */
export const ROUTE_TIMEOUT_KEYS: ReadonlyArray<readonly [string, keyof Timeouts, string]> = [
  ["body", "bodyIdleMs", "Overrides timeouts.body_idle for this route."],
  ["upstream_connect", "upstreamConnectMs", "Overrides timeouts.upstream_connect for this route."],
  ["upstream", "upstreamHeaderMs", "Overrides timeouts.upstream_header for this route."],
  ["upstream_body", "upstreamBodyIdleMs", "Overrides timeouts.upstream_body_idle for this route."],
  ["send", "sendIdleMs", "Overrides timeouts.send_idle for this route."],
];

const headerRules = (what: string): TableNode => ({
  kind: "table",
  doc: `Header rules applied to the ${what}: set (replace), add (append), remove; values may hold placeholders.`,
  fields: {
    set: { kind: "map", key: "header-name", doc: "Fields set to this value, replacing any the message had.", value: { kind: "template", doc: "value" } },
    add: { kind: "map", key: "header-name", doc: "Fields appended, keeping those the message had.", value: { kind: "template", doc: "value" } },
    remove: { kind: "list", doc: "Field names removed.", item: { kind: "token", doc: "header name" }, default: [] },
  },
});

export const ROUTE: TableNode = {
  kind: "table",
  array: true,
  required: true,
  doc: "A route: tried in file order, the first match wins. Exactly one of proxy, static, redirect, respond.",
  fields: {
    path: {
      kind: "path",
      required: true,
      doc: 'Prefix of the normalised request path ("/api/"), "=/x" for an exact path, "~^/re" for a JavaScript regex.',
    },
    methods: { kind: "list", doc: "Only these request methods match (uppercase tokens); default any.", item: { kind: "token", doc: "method" }, defaultText: "any" },
    headers: { kind: "map", key: "header-name", doc: "Request fields that must be present with exactly this value.", value: { kind: "string", doc: "value" } },
    strip_prefix: { kind: "string", doc: "Removed from the start of the path before the action sees it ({path} keeps the original)." },
    request_headers: headerRules("request (before the action)"),
    response_headers: headerRules("response"),
    max_body_size: { kind: "size", doc: "This route's request body limit.", defaultText: "limits.max_body_size" },
    timeouts: {
      kind: "table",
      doc: "This route's timeouts; unset ones are the global [timeouts].",
      fields: Object.fromEntries(ROUTE_TIMEOUT_KEYS.map(([k, , doc]) => [k, { kind: "duration", doc, min: 1, defaultText: "global" } satisfies Leaf])),
    },
    proxy: {
      kind: "table",
      doc: "Forward the request to a backend.",
      fields: {
        to: {
          kind: "list",
          single: true,
          doc: 'Backend URLs (http:// or https://, optional base path): an anonymous upstream group with the default options. An entry may be a table { url, weight, max_conns, backup }. Give `to` or `upstream`.',
          item: { kind: "url", doc: "URL" },
        },
        upstream: { kind: "string", doc: "Name of an [upstream.NAME] group to send requests to, instead of `to`." },
        host_header: { kind: "enum", values: ["client", "upstream"], default: "client", doc: 'Host sent to the backend: the client\'s ("client") or the backend\'s authority ("upstream").' },
        trusted_proxies: { kind: "list", default: [], doc: "Peers (IP or CIDR) whose X-Forwarded-* / Forwarded fields are kept and appended to.", item: { kind: "cidr", doc: "CIDR" } },
        follow_redirects: { kind: "int", default: 0, min: 0, max: 99, doc: "Follow up to this many same-origin redirects for GET/HEAD; 0 = off." },
        pool_size: { kind: "int", default: DEFAULTS.proxyPoolSize, min: 0, max: 100_000, doc: "Idle keep-alive connections kept per backend." },
        tls_verify: { kind: "bool", default: true, doc: "Verify an https:// backend's certificate (false: testing only)." },
        tls_ca: { kind: "file", doc: "PEM file of CAs that sign the backend's certificate, instead of the system store.", defaultText: "system CAs" },
        underscores_in_headers: { kind: "bool", default: DEFAULTS.underscoresInHeaders, doc: 'Forward request fields with "_" in the name (default: dropped, like nginx).' },
      },
    },
    static: {
      kind: "table",
      doc: "Serve files from a folder.",
      fields: {
        root: { kind: "dir", required: true, doc: "Folder to serve; relative paths are relative to the config file." },
        index: { kind: "list", default: ["index.html"], doc: 'Files tried, in order, for a request naming a directory ("/dir/").', item: { kind: "string", doc: "file name" } },
        dotfiles: { kind: "bool", default: DEFAULTS.serveDotfiles, doc: 'Serve paths with a segment starting with "." (default: 404).' },
        cache_validity: { kind: "duration", default: DEFAULTS.fileCacheValidityMs, min: 0, doc: "Trust a cached file this long without re-checking the disk; 0 = check every request." },
        cache_max_file_size: { kind: "size", default: DEFAULTS.fileCacheMaxFileSize, doc: "Files up to this size are kept in memory with a precomputed head." },
        cache_max_bytes: { kind: "size", default: DEFAULTS.fileCacheMaxBytes, doc: "Total bytes of file bodies kept in memory for this route." },
        precompressed: {
          kind: "list",
          default: [],
          doc: 'Serve FILE.br / FILE.zst / FILE.gz next to FILE when the client accepts that coding ("br", "zstd", "gzip"; preference order).',
          item: { kind: "enum", values: ["br", "zstd", "gzip"], doc: "coding" },
        },
        hidden: { kind: "enum", values: ["deny", "allow"], default: "deny", doc: 'Paths with a segment starting with ".": "deny" (404, as if missing) or "allow" (served; same as dotfiles = true).' },
        symlinks: {
          kind: "enum",
          values: ["within_root", "follow", "deny"],
          default: "within_root",
          doc: '"within_root": followed while the real path stays in the root (else 404); "follow": followed anywhere; "deny": any symlink in the path is 404.',
        },
        browse: { kind: "bool", default: false, doc: "List folders without an index file (HTML, or JSON for Accept: application/json); dotfiles are never listed." },
        try_files: {
          kind: "list",
          doc: 'Candidates tried in order, the first existing file is served (SPA: ["{path}", "{path}/", "/index.html"]); a last "=404" answers 404.',
          item: { kind: "string", doc: "path" },
          defaultText: "off",
        },
      },
    },
    redirect: {
      kind: "table",
      doc: "Answer with a redirect.",
      fields: {
        to: { kind: "template", required: true, doc: "Target URL; placeholders allowed, e.g. https://example.com{uri}." },
        status: { kind: "int", values: [301, 302, 303, 307, 308], default: 308, doc: "301, 302, 303, 307 or 308." },
      },
    },
    respond: {
      kind: "table",
      doc: "Answer with a fixed response.",
      fields: {
        status: { kind: "int", default: 200, min: 200, max: 599, doc: "Status code, 200 to 599." },
        body: { kind: "string", default: "", doc: "Response body (not allowed with 204 and 304)." },
        headers: { kind: "map", key: "header-name", doc: "Response fields; values may hold placeholders.", value: { kind: "template", doc: "value" } },
      },
    },
    // ---- access and traffic control (issue 12; docs/security.md) ----
    ip_allow: { kind: "list", doc: "Only clients in these networks (IP or CIDR, v4 and v6) may use the route; others get 403 IP_DENIED.", item: { kind: "cidr", doc: "CIDR" }, defaultText: "everyone" },
    ip_deny: { kind: "list", doc: "Clients in these networks get 403 IP_DENIED (checked before ip_allow).", item: { kind: "cidr", doc: "CIDR" }, defaultText: "none" },
    rate_limit: {
      kind: "table",
      doc: "Token bucket per key: past it 429 with Retry-After and RateLimit-Policy / RateLimit fields.",
      fields: {
        rate: { kind: "string", required: true, doc: 'Sustained rate: "N/s", "N/m" or "N/h" (N from 1 to 1000000).' },
        burst: { kind: "int", min: 1, max: 1_000_000, doc: "Requests a full bucket allows at once.", defaultText: "N of rate" },
        key: { kind: "template", default: "{remote_ip}", doc: "Bucket key: any placeholders; {remote_ip} is the client as trusted proxies report it." },
        max_keys: { kind: "int", default: DEFAULT_RATE_LIMIT_MAX_KEYS, min: 1, max: 10_000_000, doc: "Keys kept (least recently used evicted); bounds memory at about 120 bytes per key (measured)." },
      },
    },
    basic_auth: {
      kind: "table",
      doc: "HTTP Basic authentication (RFC 7617); hashes from `dreamserver hash-password`.",
      fields: {
        realm: { kind: "string", default: "restricted", doc: "The realm shown by the browser." },
        users: { kind: "map", key: "user-name", doc: "User name = argon2id or bcrypt hash.", value: { kind: "string", doc: "hash" } },
        fail_rate: { kind: "string", default: DEFAULT_BASIC_AUTH_FAIL_RATE, doc: 'Failed attempts allowed per client: "N/s", "N/m" or "N/h" (N is also the burst); past it 429.' },
      },
    },
    forward_authorization: { kind: "bool", default: false, doc: "Forward the client's Authorization field to the backend (removed by default on basic_auth routes)." },
    forward_auth: {
      kind: "table",
      doc: "Ask an auth service first (nginx auth_request): 2xx continues, any other answer goes to the client.",
      fields: {
        url: { kind: "url", required: true, doc: "The auth service, http://host:port/path." },
        copy_headers: { kind: "list", default: [], doc: "Fields copied from a 2xx auth response into the upstream request.", item: { kind: "token", doc: "header name" } },
        timeout: { kind: "duration", default: DEFAULT_FORWARD_AUTH_TIMEOUT_MS, min: 1, doc: "Whole auth subrequest; past it (or on failure) 503 FORWARD_AUTH_UNAVAILABLE." },
      },
    },
    security_headers: {
      kind: "table",
      doc: "true: add X-Content-Type-Options, Referrer-Policy and X-Frame-Options (unless the response has them); { csp = true } also a permissive Content-Security-Policy.",
      fields: {
        csp: { kind: "bool", default: false, doc: "Also add Content-Security-Policy: frame-ancestors 'self'; object-src 'none'; base-uri 'self'." },
      },
    },
    compress: {
      kind: "table",
      doc: "Compress a static or proxy route's responses for clients that accept it (Accept-Encoding); present = on.",
      fields: {
        codings: { kind: "list", default: ["zstd", "br", "gzip"], doc: "Codings offered, in server preference order (breaks ties in the client's q-values).", item: { kind: "enum", values: ["zstd", "br", "gzip"], doc: "coding" } },
        min_size: { kind: "size", default: 1024, doc: "Files smaller than this are sent as they are." },
        types: {
          kind: "list",
          default: ["text/*", "application/json", "application/javascript", "image/svg+xml", "application/wasm", "application/xml", "application/manifest+json"],
          doc: 'Media types compressed: "type/subtype" or "type/*".',
          item: { kind: "string", doc: "media type" },
        },
      },
    },
    errors: {
      kind: "map",
      key: "status",
      doc: 'Custom error pages of a static route: status → a file in the root, e.g. { 404 = "/404.html" }; a missing page falls back to the built-in one.',
      value: { kind: "string", doc: "path in the root" },
    },
    cache_control: {
      kind: "table",
      array: true,
      doc: 'Cache-Control for a static route\'s files: glob rules, first match wins (a pattern with "/" matches the whole path, "**" crosses folders; without "/" the file name).',
      fields: {
        match: { kind: "string", required: true, doc: 'Glob: "/assets/**" or "*.html".' },
        value: { kind: "string", required: true, doc: 'Cache-Control value, e.g. "public, max-age=31536000, immutable".' },
      },
    },
    cache: {
      kind: "table",
      doc: "Shared response cache of a proxy route (RFC 9111; docs/caching.md). Bounds are in [cache].",
      fields: {
        enabled: { kind: "bool", default: true, doc: "false keeps the settings but caches nothing." },
        default_ttl: { kind: "duration", default: 0, min: 0, doc: 'Heuristic freshness for responses with Last-Modified but no max-age/s-maxage/Expires: 10 % of their age, at most this; "0s" = only explicit freshness.' },
        stale_while_revalidate: { kind: "duration", default: 0, min: 0, doc: "Serve a stale response this long past its lifetime while one background request revalidates it (RFC 5861); the response's own directive wins." },
        stale_if_error: { kind: "duration", default: 0, min: 0, doc: "Serve a stale response this long past its lifetime when the upstream fails or answers 5xx (RFC 5861); the response's own directive wins." },
        key: { kind: "template", default: DEFAULT_CACHE_KEY, doc: "Primary cache key (placeholders as in header rules); purge by key or prefix uses these strings." },
        client_no_cache: { kind: "enum", values: ["revalidate", "ignore"], default: "revalidate", doc: 'A request\'s no-cache, max-age and min-fresh: "revalidate" obeys them (RFC 9111); "ignore" serves fresh entries anyway (nginx without proxy_cache_bypass).' },
        store_set_cookie: { kind: "bool", default: false, doc: "Store responses with Set-Cookie (every client then gets that cookie); by default they pass uncached." },
      },
    },
  },
};

/** An [upstream.NAME] group (docs/reverse-proxy.md "Upstream groups"). */
export const UPSTREAM_GROUP: TableNode = {
  kind: "table",
  doc: "A named group of backend servers; routes use it with proxy = { upstream = \"NAME\" }.",
  fields: {
    to: {
      kind: "list",
      required: true,
      single: true,
      doc: "The servers: URLs, or tables { url, weight = 1, max_conns = 0 (unlimited), backup = false }. Same scheme and base path for all.",
      item: { kind: "url", doc: "URL" },
    },
    policy: {
      kind: "enum",
      values: ["round_robin", "least_conn", "random_two", "ip_hash", "hash", "cookie", "first"],
      default: DEFAULTS.upstreamPolicy,
      doc: "How a server is picked: smooth weighted round robin, fewest in flight, power of two choices, client address, hash_key, sticky cookie, or first in order.",
    },
    hash_key: { kind: "template", doc: 'What policy = "hash" hashes, with placeholders, e.g. "{header.X-User}".', defaultText: "(required with hash)" },
    cookie: { kind: "string", default: DEFAULTS.upstreamCookie, doc: 'Cookie naming the server for policy = "cookie".' },
    retries: { kind: "int", default: DEFAULTS.upstreamRetries, min: 0, max: 100, doc: "Extra attempts on another server after a failed connect (or, for idempotent bodiless requests, a failure before any response byte)." },
    try_duration: { kind: "duration", default: 0, min: 0, doc: "No new attempt after this long since the first; 0 = no limit within retries.", defaultText: '"0s" (no limit)' },
    health: {
      kind: "table",
      doc: "Active health checks (off unless this table is given).",
      fields: {
        path: { kind: "string", required: true, doc: 'Path of the GET each server gets, e.g. "/healthz".' },
        host: { kind: "string", doc: "Host field of the check.", defaultText: "the server's authority" },
        interval: { kind: "duration", default: 2_000, min: 1, doc: "Time between the starts of two checks of a server." },
        timeout: { kind: "duration", default: 1_000, min: 1, doc: "A check that takes longer fails; must be less than interval." },
        status: { kind: "string", default: "2xx", doc: 'Accepted status: a class ("2xx") or a code ("204").' },
        body: { kind: "string", doc: "JavaScript regex the first 64 KiB of the body must match.", defaultText: "not checked" },
        passes: { kind: "int", default: 2, min: 1, max: 100, doc: "Successful checks in a row that bring a server back (and clear its passive state)." },
        fails: { kind: "int", default: 2, min: 1, max: 100, doc: "Failed checks in a row that take a server out." },
      },
    },
    resolve_interval: { kind: "duration", default: DEFAULTS.resolveIntervalMs, min: 1, doc: "Host names in to are resolved at start and again this often; each A/AAAA record becomes a server; a failed lookup keeps the last good set." },
    passive: {
      kind: "table",
      doc: "Passive health from real traffic (nginx max_fails / fail_timeout).",
      fields: {
        max_fails: { kind: "int", default: DEFAULTS.maxFails, min: 0, max: 1000, doc: "Failures within fail_timeout that mark a server down for fail_timeout; 0 = off." },
        fail_timeout: { kind: "duration", default: DEFAULTS.failTimeoutMs, min: 1, doc: "The window failures are counted in, and how long a server stays down before one trial request." },
        unhealthy_status: { kind: "list", default: [], doc: "Response statuses that count as failures (the response is still relayed).", item: { kind: "int", doc: "status", min: 100, max: 599 } },
      },
    },
  },
};

export const SITE: TableNode = {
  kind: "table",
  array: true,
  required: true,
  doc: "A site: addresses, host names and routes.",
  fields: {
    listen: { kind: "list", required: true, single: true, doc: 'Addresses: "PORT", "HOST:PORT" or "[IPv6]:PORT"; sites may share one.', item: { kind: "listen", doc: "address" } },
    hosts: {
      kind: "list",
      default: [],
      single: true,
      doc: 'Host names, exact or with a leading "*." wildcard; none = the default site of its addresses.',
      item: { kind: "host", doc: "host name" },
    },
    tls: {
      kind: "table",
      doc: 'Serve this site\'s addresses over HTTPS (TLS 1.2+, ALPN h2 and http/1.1) with this certificate, or "auto" to obtain it through ACME (see [acme]); SNI picks among the sites of one address (docs/https.md). Every site of an address must have tls, or none.',
      fields: {
        cert: { kind: "file", required: true, doc: "PEM certificate file: the leaf first, then the intermediates (the chain)." },
        key: { kind: "file", required: true, doc: "PEM private key file of the certificate (keep it mode 0600)." },
        client_ca: { kind: "file", doc: "PEM file of the CAs that sign client certificates (mTLS): clients of this address are asked for a certificate, verified against these CAs (docs/https.md#client-certificates-mtls).", defaultText: "none (no client certificates)" },
        client_auth: { kind: "enum", values: ["require", "optional"], default: "require", doc: 'With client_ca: "require" answers 403 to a request without a valid client certificate; "optional" lets a client without one through (an invalid one still gets 403).' },
      },
    },
    hsts: {
      kind: "table",
      doc: "true or a table: send Strict-Transport-Security (RFC 6797) on every response of this TLS site; off by default (docs/https.md#hsts).",
      fields: {
        max_age: { kind: "int", default: DEFAULT_HSTS_MAX_AGE, min: 0, max: 1_000_000_000, doc: "max-age in seconds (default one year; 0 tells browsers to forget the policy)." },
        include_subdomains: { kind: "bool", default: false, doc: "Add includeSubDomains: the policy also covers every subdomain of the host." },
        preload: { kind: "bool", default: false, doc: "Add preload (for the browsers' preload list; needs include_subdomains and max_age of at least one year)." },
      },
    },
    http2: { kind: "bool", default: true, doc: 'On a TLS site: offer HTTP/2 in ALPN ("h2", then "http/1.1"). false on any TLS site of an address offers only http/1.1 there (ALPN is chosen before SNI routing). docs/http2.md.' },
    h2c: { kind: "bool", default: false, doc: "On a plain-HTTP site: also accept prior-knowledge cleartext HTTP/2 (h2c, RFC 9113 §3.3) on its addresses, told apart from HTTP/1.1 by the connection preface. The Upgrade: h2c dance is not offered. docs/http2.md." },
    redirect_https: { kind: "bool", default: false, doc: "On a plain-HTTP site: answer every request with 308 to https://host{uri} (the port of an HTTPS site for that host, if not 443); ACME HTTP-01 challenge paths are not redirected." },
    route: ROUTE,
  },
};

export const SCHEMA: TableNode = {
  kind: "table",
  doc: "A DreamServer config file.",
  fields: {
    server: {
      kind: "table",
      doc: "Process-wide settings.",
      fields: {
        workers: { kind: "workers", default: "auto", min: 1, max: 999, doc: 'Listener processes sharing the ports: a number or "auto" (one per CPU, but 1 on a machine with 1 or 2 CPUs); --workers overrides.' },
        server_name: { kind: "string", default: DEFAULTS.serverName, doc: "Value of the Server response field." },
        max_requests_per_connection: { kind: "int", default: DEFAULTS.maxRequestsPerConnection, min: 1, max: 1_000_000_000, doc: "Requests served on one connection before it is closed." },
        cert_check_interval: { kind: "duration", default: DEFAULT_CERT_CHECK_INTERVAL_MS, min: 100, doc: "How often the files of tls = { cert, key, client_ca } are checked for changes (mtime, size, inode); a changed, valid pair is served to new handshakes without a reload." },
        shutdown_delay: { kind: "duration", default: 0, min: 0, doc: "After SIGTERM: /readyz turns 503 and the listeners keep accepting this long, then the drain (timeouts.shutdown) starts." },
      },
    },
    admin: {
      kind: "table",
      doc: "The admin listener: GET /healthz (the process is alive) and GET /readyz (it takes traffic; 503 once stopping).",
      fields: {
        listen: { kind: "string", default: DEFAULT_ADMIN_LISTEN, doc: 'Address of the admin listener, or "off"; loopback by default. If it cannot be bound (e.g. a second instance on this machine) the server warns and runs without it.' },
        token: { kind: "string", default: "", doc: "Bearer token for the admin API (/api/*) and /dashboard; required when listen is not a loopback address. /healthz, /readyz and /metrics need none. Redacted in GET /api/config." },
        token_file: { kind: "string", default: "", doc: "File holding the admin token instead of token (e.g. a mounted Kubernetes Secret); read at start and at every reload, one trailing newline stripped. An empty or unreadable file is a config error. Relative to the config file." },
      },
    },
    metrics: {
      kind: "table",
      doc: "Prometheus metrics on the admin listener (GET /metrics).",
      fields: {
        enabled: { kind: "bool", default: true, doc: "Count requests, bytes and connections; false leaves only the process series (to measure the cost)." },
      },
    },
    tracing: {
      kind: "table",
      doc: "W3C Trace Context: a span per request, a child span per upstream attempt, trace_id/span_id in the access log.",
      fields: {
        sample: { kind: "ratio", default: DEFAULT_TRACING_SAMPLE, doc: "Share of new traces marked sampled (0 to 1); an incoming traceparent's sampled flag is always honoured." },
        otlp_endpoint: { kind: "string", default: "", doc: 'OTLP/HTTP JSON collector URL for sampled spans, e.g. "http://127.0.0.1:4318/v1/traces"; empty = no export.' },
      },
    },
    log: {
      kind: "table",
      doc: "Access log.",
      fields: {
        access: { kind: "string", default: DEFAULTS.accessLog, doc: 'Access log file, "-" for stdout, "off" to disable; relative to the config file; --access-log overrides.' },
        format: { kind: "enum", values: ["text", "json"], default: DEFAULTS.logFormat, doc: "Line format: text or json; --log-format overrides." },
      },
    },
    limits: {
      kind: "table",
      doc: "Request limits (sizes: integer bytes or 8k / 1m / 1g).",
      fields: Object.fromEntries(
        LIMIT_KEYS.map(([k, f, doc]) => [k, { kind: INT_LIMITS.has(f) ? "int" : "size", default: DEFAULT_LIMITS[f], min: LIMIT_MIN[f] ?? 0, doc } satisfies Leaf]),
      ),
    },
    timeouts: {
      kind: "table",
      doc: "Timeouts (durations: 500ms, 10s, 2m, 1h).",
      fields: Object.fromEntries(TIMEOUT_KEYS.map(([k, f, doc]) => [k, { kind: "duration", default: DEFAULT_TIMEOUTS[f], min: 1, doc } satisfies Leaf])),
    },
    site: SITE,
    upstream: {
      kind: "table",
      doc: "Upstream groups by name: [upstream.NAME] (the keys below are those of one group).",
      fields: { NAME: UPSTREAM_GROUP },
    },
    cache: {
      kind: "table",
      doc: "The response cache of proxy routes with cache = { ... } (docs/caching.md); one per worker process.",
      fields: {
        memory: { kind: "size", default: DEFAULT_CACHE_LIMITS.memory, min: 64 * 1024, doc: "Byte bound for all cached bodies and heads; past it, entries not used recently are evicted (CLOCK, an approximation of least recently used)." },
        max_object: { kind: "size", default: DEFAULT_CACHE_LIMITS.maxObject, min: 1, doc: "Larger responses stream through uncached." },
      },
    },
    acme: {
      kind: "table",
      doc: 'Automatic certificates for sites with tls = "auto" (RFC 8555, HTTP-01; docs/https.md).',
      fields: {
        directory: { kind: "string", default: DEFAULT_ACME_DIRECTORY, doc: "ACME directory URL (https)." },
        email: { kind: "string", default: "", doc: "Contact address for the ACME account; empty = none." },
        ca: { kind: "file", doc: "PEM file of extra roots trusted for the ACME server's HTTPS (a private or test CA)." },
        storage: { kind: "string", default: DEFAULT_ACME_STORAGE, doc: "Folder for the account key, certificates, challenge answers and locks; relative to the config file." },
      },
    },
  },
};

// ---- rendering of typed values back to the file's notation -------------------------------

/** 8192 → "8k", 1073741824 → "1g", 1000 → 1000 (integers that are no whole unit stay numbers). */
export function formatSize(n: number): string | number {
  for (const [u, m] of [["g", 1024 ** 3], ["m", 1024 ** 2], ["k", 1024]] as const) if (n >= m && n % m === 0) return `${n / m}${u}`;
  return n;
}

/** 600000 → "10m", 60000 → "60s" (minutes from 2 on, like the docs), 500 → "500ms", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms >= 7_200_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms >= 120_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A leaf's default in the file's notation, for docs and --print-config. */
export function renderDefault(n: Node): string {
  if (n.kind === "table" || n.kind === "map") return "";
  if (n.defaultText !== undefined) return n.defaultText;
  const d = n.default;
  if (d === undefined) return n.required ? "(required)" : "(none)";
  if (n.kind === "size") return JSON.stringify(formatSize(d as number));
  if (n.kind === "duration") return JSON.stringify(formatDuration(d as number));
  return JSON.stringify(d);
}

/** Human name of a node's type, for docs and "must be …" messages. */
export function typeName(n: Node): string {
  switch (n.kind) {
    case "table":
      return n.array ? "array of tables" : "table";
    case "map":
      return "table of name = value";
    case "list":
      return `list of ${typeName(n.item)}${n.single ? " (or one)" : ""}`;
    case "string":
    case "template":
      return n.kind === "template" ? "string with placeholders" : "string";
    case "bool":
      return "boolean";
    case "int":
      return n.values ? `integer: ${n.values.join(" | ")}` : "integer";
    case "size":
      return "size";
    case "duration":
      return "duration";
    case "enum":
      return n.values!.map((v) => JSON.stringify(v)).join(" | ");
    case "workers":
      return 'integer | "auto"';
    case "listen":
      return "address";
    case "host":
      return "host name";
    case "path":
      return "path pattern";
    case "url":
      return "URL";
    case "cidr":
      return "IP or CIDR";
    case "token":
      return "token";
    case "file":
      return "file path";
    case "dir":
      return "directory path";
    case "ratio":
      return "number from 0 to 1";
  }
}
