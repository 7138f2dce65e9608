/**
 * Every error code the server emits, in one registry: the access log's `error` field, the
 * status of the built-in error page, whether the connection closes afterwards, and the log
 * level. docs/errors.md is generated from it (scripts/gen-errors-doc.ts) and
 * tests/unit/errors-registry.test.ts fails when a code literal in src/ is missing here.
 *
 *  - status: what the client gets, or null when no response is sent for it (the connection is
 *    cut, e.g. mid-response; the access log then shows the status already sent, or 499).
 *  - close: the connection closes after it. True for every request the engine can no longer
 *    trust the framing of (parse errors, limits, timeouts: the same statuses as the engine's
 *    close-after set), and for every code that cuts a response.
 *  - level: "error" = our side or an upstream failed (every 5xx); "warn" = the client sent
 *    something refused or misbehaved; "info" = routine traffic that needs no attention
 *    (a missing file, a path no route serves).
 *
 * The codes of the upstream response parser (UPSTREAM_BAD_STATUS_LINE, UPSTREAM_BAD_CL, …)
 * are registered so the parser's output stays documented, but the proxy logs them as
 * UPSTREAM_PROTOCOL. Pure data, no Bun imports.
 */

export type ErrorLevel = "info" | "warn" | "error";

export interface ErrorInfo {
  readonly code: string;
  /** The response status, or null when the connection is cut without one. */
  readonly status: number | null;
  /** Whether the connection closes after it. */
  readonly close: boolean;
  readonly level: ErrorLevel;
  /** One line for docs/errors.md. */
  readonly doc: string;
}

type Entry = readonly [status: number | null, close: boolean, level: ErrorLevel, doc: string];

const E = {
  // ---- request parser (connection closes: the byte stream can not be trusted) --------------
  PARSE_BAD_REQUEST_LINE: [400, true, "warn", "Request line is not `method SP target SP version`."],
  PARSE_BAD_METHOD: [400, true, "warn", "Method is not a token."],
  PARSE_BAD_TARGET: [400, true, "warn", "Request target has an invalid byte, a fragment, or the wrong form for its method."],
  PARSE_BAD_VERSION: [400, true, "warn", "Malformed HTTP version."],
  PARSE_UNSUPPORTED_VERSION: [505, true, "warn", "Well-formed HTTP version other than 1.0 and 1.1."],
  PARSE_BARE_LF: [400, true, "warn", "A line ends in LF without CR."],
  PARSE_BARE_CR: [400, true, "warn", "A CR not followed by LF in the start line or a field value."],
  PARSE_OBS_FOLD: [400, true, "warn", "Obsolete line folding (a field line starting with SP/HTAB)."],
  PARSE_BAD_HEADER_NAME: [400, true, "warn", "Empty field name or a non-token byte in it."],
  PARSE_SPACE_BEFORE_COLON: [400, true, "warn", "Whitespace between a field name and its colon (smuggling vector)."],
  PARSE_BAD_HEADER_VALUE: [400, true, "warn", "Control character in a field value."],
  PARSE_MISSING_HOST: [400, true, "warn", "HTTP/1.1 request without Host."],
  PARSE_DUPLICATE_HOST: [400, true, "warn", "More than one Host field."],
  PARSE_BAD_HOST: [400, true, "warn", "Host is empty or not `uri-host [:port]`."],
  PARSE_BAD_CONNECTION: [400, true, "warn", "Connection field is not a list of tokens."],
  PARSE_BAD_UPGRADE: [400, true, "warn", "Upgrade field is not a list of protocols."],
  PARSE_BAD_EXPECT: [417, true, "warn", "Expect other than a single `100-continue`."],
  PARSE_CL_AND_TE: [400, true, "warn", "Both Content-Length and Transfer-Encoding (smuggling shape)."],
  PARSE_TE_IN_HTTP10: [400, true, "warn", "Transfer-Encoding in an HTTP/1.0 request."],
  PARSE_BAD_TE: [400, true, "warn", "Empty or malformed transfer coding, or chunked applied twice."],
  PARSE_TE_NOT_CHUNKED: [400, true, "warn", "Transfer-Encoding does not end in chunked."],
  PARSE_UNSUPPORTED_TE: [501, true, "warn", "A transfer coding other than chunked (not decoded)."],
  PARSE_DUPLICATE_CL: [400, true, "warn", "More than one Content-Length field."],
  PARSE_BAD_CL: [400, true, "warn", "Content-Length is not 1*DIGIT."],
  PARSE_BAD_CHUNK: [400, true, "warn", "Malformed chunk size line, extension or chunk terminator."],
  PARSE_TRUNCATED_HEAD: [400, true, "warn", "The client closed inside the request head."],
  PARSE_TRUNCATED_BODY: [400, true, "warn", "The client closed inside the request body."],

  // ---- limits ------------------------------------------------------------------------------
  LIMIT_REQUEST_LINE: [414, true, "warn", "Request line longer than max_request_line."],
  LIMIT_HEADER_LINE: [431, true, "warn", "A field line longer than max_header_line."],
  LIMIT_HEADER_BYTES: [431, true, "warn", "Header section larger than max_header_bytes."],
  LIMIT_HEADER_COUNT: [431, true, "warn", "More fields (headers plus trailers) than max_header_count."],
  LIMIT_BODY_SIZE: [413, true, "warn", "Request body (declared or received) larger than the route's max_body_size."],
  LIMIT_CHUNK_EXTENSIONS: [413, true, "warn", "Chunk extensions over their per-message budget."],
  LIMIT_TRAILER_BYTES: [431, true, "warn", "Trailer section larger than max_trailer_bytes (502 when an upstream's)."],
  LIMIT_STATUS_LINE: [502, false, "error", "Upstream status line too long (logged as UPSTREAM_PROTOCOL)."],

  // ---- timeouts and client behaviour -----------------------------------------------------
  TIMEOUT_HEADER: [408, true, "warn", "Request head not complete within the header timeout (slowloris)."],
  TIMEOUT_BODY: [408, true, "warn", "The client paused the request body longer than the body idle timeout."],
  CLIENT_ABORTED: [null, true, "warn", "The client closed the connection before the response was complete."],
  CLIENT_SEND_TIMEOUT: [null, true, "warn", "The client took none of our queued bytes for the send timeout."],
  OUTPUT_BUDGET: [null, true, "warn", "Process-wide output memory over budget: the slowest clients are cut."],

  // ---- access and traffic control (issue 12) ----------------------------------------------
  CONN_LIMIT: [503, true, "warn", "limits.max_connections reached and no idle keep-alive connection to close: prewritten 503 with Retry-After."],
  CONN_LIMIT_PER_IP: [503, true, "warn", "limits.max_connections_per_ip reached for this peer address: prewritten 503 with Retry-After."],
  IP_DENIED: [403, false, "warn", "The client address is not allowed by the route's ip_allow / ip_deny."],
  RATE_LIMITED: [429, false, "warn", "The route's rate_limit bucket for this key is empty: 429 with Retry-After and RateLimit fields."],
  AUTH_REQUIRED: [401, false, "info", "basic_auth: no credentials (or a scheme other than Basic): 401 with WWW-Authenticate."],
  AUTH_FAILED: [401, false, "warn", "basic_auth: unknown user or wrong password (counts towards the client's failure rate)."],
  AUTH_BAD_HEADER: [400, true, "warn", "basic_auth: malformed Basic credentials (bad base64, no colon, invalid UTF-8)."],
  AUTH_TOO_MANY_FAILURES: [429, false, "warn", "basic_auth: too many failed attempts from this client; 429 with Retry-After."],
  AUTH_BUSY: [503, false, "error", "basic_auth: too many password checks waiting (at most 4 run at once, 256 wait)."],
  FORWARD_AUTH_DENIED: [401, false, "info", "forward_auth: the auth service answered non-2xx (401 shown; its own status, e.g. 403 or 302, is what the client gets and the log shows): its response went to the client as it was."],
  FORWARD_AUTH_UNAVAILABLE: [503, false, "error", "forward_auth: the auth service could not be reached, failed or timed out."],

  // ---- routing ------------------------------------------------------------------------------
  NO_SITE: [421, false, "warn", "No site of this listener serves the Host and there is no default site (Misdirected Request)."],
  BAD_PATH: [400, true, "warn", "The request path has malformed percent-encoding."],
  NO_ROUTE: [404, false, "info", "The site has no route for this path, method and headers."],
  METHOD_CONNECT: [405, false, "warn", "CONNECT: this server is not a forward proxy."],
  METHOD_NOT_ALLOWED: [405, false, "warn", "Method the static handler does not serve (it serves GET, HEAD and OPTIONS)."],
  MISDIRECTED_SNI: [421, false, "warn", "HTTPS: the Host names another site than the one the TLS SNI chose (and whose certificate was sent); no domain fronting across sites (docs/https.md)."],
  CLIENT_CERT_REQUIRED: [403, true, "warn", "mTLS: the site has client_ca with client_auth = \"require\" and the connection sent no client certificate (docs/https.md#client-certificates-mtls)."],
  CLIENT_CERT_INVALID: [403, true, "warn", "mTLS: the client certificate did not verify against the site's client_ca (unknown issuer, expired, bad signature)."],
  CLIENT_CERT_MISDIRECTED: [421, false, "warn", "mTLS: the connection's client certificate was verified against another site's client_ca (a client without SNI, or a connection from before client_ca changed); retry on a new connection for this host."],
  REDIRECT_NO_HOST: [400, true, "warn", "redirect_https: an HTTP/1.0 request without Host has no name to redirect to."],

  // ---- static files -------------------------------------------------------------------------
  PATH_INVALID: [400, true, "warn", "Path does not start with /."],
  PATH_BAD_ENCODING: [400, true, "warn", "Malformed percent-encoding or invalid UTF-8 in a file path."],
  PATH_NUL: [400, true, "warn", "NUL byte (encoded) in a file path."],
  PATH_CONTROL_CHAR: [400, true, "warn", "Control character (encoded) in a file path."],
  PATH_ENCODED_SLASH: [400, true, "warn", "Encoded slash (%2F) in a file path."],
  PATH_BACKSLASH: [400, true, "warn", "Backslash (raw or encoded) in a file path."],
  PATH_TRAVERSAL: [400, true, "warn", "A .. segment that would leave the document root."],
  PATH_DOTFILE: [404, false, "warn", "A path segment starting with . while dotfiles are not served."],
  PATH_SYMLINK_ESCAPE: [404, false, "warn", "A symlink that resolves outside the document root."],
  PATH_SYMLINK_DENIED: [404, false, "warn", "The path goes through a symlink and the route has symlinks = \"deny\"."],
  FILE_NOT_FOUND: [404, false, "info", "No such file (or a directory without an index file)."],
  FILE_NOT_REGULAR: [404, false, "warn", "The path names a device, socket or FIFO."],
  FILE_FORBIDDEN: [403, false, "warn", "The file exists but may not be read (EACCES/EPERM)."],
  FILE_NAME_TOO_LONG: [414, true, "warn", "A path component or the whole path is too long for the file system."],
  FILE_SYMLINK_LOOP: [404, false, "warn", "Too many levels of symbolic links."],
  FILE_ERROR: [500, false, "error", "Unexpected file system error while opening a file."],
  FILE_READ_ERROR: [null, true, "error", "A read failed mid-response: the response is cut."],
  FILE_TRUNCATED: [null, true, "error", "The file shrank while it was sent: the response is cut."],
  PRECONDITION_FAILED: [412, false, "warn", "If-Match / If-Unmodified-Since failed."],
  RANGE_NOT_SATISFIABLE: [416, false, "warn", "No requested range overlaps the file."],
  NOT_ACCEPTABLE: [406, false, "info", "Accept-Encoding rules out every representation we have (e.g. identity;q=0 and no acceptable coding)."],

  // ---- reverse proxy ------------------------------------------------------------------------
  PROXY_CONNECT: [501, true, "warn", "CONNECT or authority-form target on a proxy route."],
  PROXY_BAD_TARGET: [500, false, "error", "The upstream target would contain a control character or space."],
  UPSTREAM_CONNECT: [502, false, "error", "Could not connect to the upstream."],
  UPSTREAM_CONNECT_TIMEOUT: [504, false, "error", "Upstream connect timed out (logged as UPSTREAM_TIMEOUT)."],
  UPSTREAM_TIMEOUT: [504, false, "error", "Upstream connect or first response byte timed out."],
  CACHE_ONLY_IF_CACHED: [504, false, "error", "The request said Cache-Control: only-if-cached and the response cache holds nothing usable (RFC 9111 §5.2.1.7)."],
  UPSTREAM_SEND_TIMEOUT: [504, false, "error", "The upstream took no request bytes for the send timeout."],
  UPSTREAM_BODY_TIMEOUT: [504, true, "error", "The upstream paused its response body too long: the response is cut."],
  COMPRESS_ERROR: [null, true, "error", "Compressing a proxied response failed mid-stream: the response is cut."],
  UPSTREAM_PROTOCOL: [502, false, "error", "The upstream response could not be parsed."],
  UPSTREAM_CLOSED: [502, false, "error", "The upstream closed before sending a response."],
  UPSTREAM_TRUNCATED: [null, true, "error", "The upstream closed mid-response: the response is cut."],
  NO_HEALTHY_UPSTREAM: [503, false, "error", "No server of the upstream group is eligible (all down or at max_conns): answered at once, with Retry-After."],
  UPSTREAM_BAD_UPGRADE: [502, false, "error", "The upstream answered an upgrade with an invalid 101 (or one not asked for)."],
  UPSTREAM_BAD_STATUS_LINE: [502, false, "error", "Malformed upstream status line (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_BAD_VERSION: [502, false, "error", "Upstream HTTP version other than 1.x (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_BAD_CONNECTION: [502, false, "error", "Upstream Connection field is not a token list (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_CL_AND_TE: [502, false, "error", "Upstream sent Content-Length and Transfer-Encoding (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_TE_IN_HTTP10: [502, false, "error", "Transfer-Encoding in an HTTP/1.0 upstream response (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_BAD_TE: [502, false, "error", "Malformed upstream transfer coding (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_TE_NOT_CHUNKED: [502, false, "error", "Upstream Transfer-Encoding does not end in chunked (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_UNSUPPORTED_TE: [502, false, "error", "Upstream used a transfer coding other than chunked (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_DUPLICATE_CL: [502, false, "error", "Upstream sent more than one Content-Length (logged as UPSTREAM_PROTOCOL)."],
  UPSTREAM_BAD_CL: [502, false, "error", "Upstream Content-Length is not 1*DIGIT (logged as UPSTREAM_PROTOCOL)."],

  // ---- engine -------------------------------------------------------------------------------
  HANDLER_EXCEPTION: [500, false, "error", "A handler threw (a response already started is cut)."],
  HANDLER_TIMEOUT: [500, true, "error", "No byte reached the client for handler_idle (a response already started is cut)."],
  RESPONSE_TRUNCATED: [null, true, "error", "A handler ended with fewer bytes than its Content-Length: the connection closes."],
  INTERNAL_ERROR: [500, false, "error", "An unexpected error in the engine around a handler."],
  SHUTDOWN_TIMEOUT: [null, true, "warn", "Graceful shutdown deadline passed: the remaining connections are cut."],
  SHUTDOWN_FORCED: [null, true, "warn", "A second stop signal: all connections are cut at once."],

  // ---- HTTP/2 (docs/http2.md) -----------------------------------------------------------------
  H2_MALFORMED_REQUEST: [400, true, "warn", "A malformed HTTP/2 request (RFC 9113 §8.1.1: pseudo-headers, connection-specific fields, content-length): the stream is reset with PROTOCOL_ERROR."],
  H2_NO_UPGRADE: [501, true, "warn", "A handler asked for a protocol upgrade (WebSocket) on an HTTP/2 stream: not available over h2."],
  H2_STREAM_RESET: [null, true, "warn", "We reset the stream (RST_STREAM) for a stream error (RFC 9113 §5.4.2)."],
  H2_CONNECTION_ERROR: [null, true, "warn", "The HTTP/2 connection ended with a GOAWAY error (RFC 9113 §5.4.1), e.g. a protocol violation or an attack limit (ENHANCE_YOUR_CALM)."],
  H2_WINDOW_STALL: [null, true, "warn", "The client's flow-control window stayed shut for send_idle with response bytes waiting: the stream is reset."],
  TIMEOUT_H2_PREFACE: [408, true, "warn", "An HTTP/2 connection did not send its preface and SETTINGS within the header timeout."],
  CLIENT_RESET: [null, true, "info", "The client cancelled the HTTP/2 stream (RST_STREAM) before the response was complete."],

  // ---- admin listener -------------------------------------------------------------------------
  ADMIN_UNAUTHORIZED: [401, false, "warn", "The admin API or dashboard needs Authorization: Bearer <[admin] token>; it was missing or wrong."],
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof E;

/** The registry, code → info, in documentation order. */
export const ERRORS: ReadonlyMap<string, ErrorInfo> = new Map(
  Object.entries(E).map(([code, [status, close, level, doc]]) => [code, Object.freeze({ code, status, close, level, doc })]),
);

/** Everything about `code`, or undefined for a code that is not registered. */
export function errorInfo(code: string): ErrorInfo | undefined {
  return ERRORS.get(code);
}

/** Whether the connection closes after `code` (unregistered codes: false). */
export function closesConnection(code: string): boolean {
  return ERRORS.get(code)?.close ?? false;
}
