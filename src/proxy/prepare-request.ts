/**
 * Preparation of the request we send upstream: one pure function, in a fixed order
 * (after Go's ReverseProxy `Rewrite`):
 *
 *   1. remove hop-by-hop fields: the fixed list (hop-by-hop.ts) and every field a Connection
 *      header names (RFC 9110 §7.6.1); also Content-Length (we re-frame), Expect, HTTP2-Settings;
 *      and, unless underscoresInHeaders, every field whose name contains "_" (see underscoreName);
 *   2. remove client X-Forwarded-*, X-Real-IP, X-Client-IP, True-Client-IP, CF-Connecting-IP and
 *      Forwarded (RFC 7239) unless the peer is a trusted proxy;
 *   3. set Host, X-Forwarded-For/Proto/Host (+ Port, Forwarded if asked), Via, X-Request-ID,
 *      the body framing field and, for a WebSocket tunnel, Connection/Upgrade — last, so that no
 *      client header (not even a Connection token naming them) can remove or pre-empt them.
 *
 * Connection nominations (RFC 9110 §7.6.1) cannot remove what decides framing, routing or
 * attribution. The rule:
 *  - Host, Content-Length, Transfer-Encoding, Via and X-Request-ID: we set them ourselves (Host
 *    in place), whatever Connection names; the framing fields always describe the body exactly
 *    as we re-frame it.
 *  - Forwarding fields (X-Forwarded-*, Forwarded, X-Real-IP, X-Client-IP, True-Client-IP,
 *    CF-Connecting-IP) from a trusted peer are read as that proxy's statements about the client
 *    even when nominated: a front proxy that passes the client's `Connection: X-Forwarded-For`
 *    through would otherwise let the client erase its own address from the chain. We consume
 *    nominated ones as hop information and emit our own X-Forwarded-* built from them, which
 *    is what §7.6.1 asks of the connection options. From an untrusted peer they are dropped
 *    anyway.
 *  - Anything else a Connection token names is removed, as §7.6.1 requires.
 *
 * Everything else is forwarded unchanged: the method, the target byte for byte (only the upstream
 * base path is prefixed), and all other fields in their original order, case and repetition.
 * The route's request_headers rules run before this function (src/middleware/headers): fields
 * they `set` arrive listed in head.configured and pass steps 1 and 2 (the operator vouches for
 * them, e.g. `X-Real-IP = "{remote_ip}"`); step 3 still sets our own fields last.
 */
import { parseUpgradeList, trimOws } from "../http1/field-syntax.ts";
import type { RequestHead } from "../http1/message-head.ts";
import { displayIp, type TrustedProxies } from "./cidr.ts";
import { ForwardingLinesMemo, JoinMemo, PassThroughLines } from "./forwarding-lines.ts";
import { HOP_BY_HOP, connectionNamed, isToken, safeFieldValue } from "./hop-by-hop.ts";
import { upstreamBasePath } from "./location-rewrite.ts";

export interface UpstreamTarget {
  /** host[:port] authority of the upstream (default port omitted), used when rewriting Host. */
  readonly host: string;
  /** Path of the --proxy URL without trailing slash: "" or "/base". */
  readonly basePath: string;
}

/** The UpstreamTarget of a --proxy URL (URL.host already omits a default port). */
export function upstreamTargetOf(url: URL): UpstreamTarget {
  return { host: url.host, basePath: upstreamBasePath(url) };
}

export interface PrepareRequestInput {
  readonly head: RequestHead;
  /** Peer address of the client connection as the socket reports it. */
  readonly clientIp: string;
  /** Scheme of the client connection (TLS listener or not). */
  readonly clientProto: "http" | "https";
  /** The access log's id for this exchange (a valid incoming X-Request-ID was already adopted). */
  readonly requestId: string;
  readonly upstream: UpstreamTarget;
  /** --proxy-host-header: send the upstream's authority as Host instead of the client's. */
  readonly rewriteHost: boolean;
  readonly trusted: TrustedProxies;
  /** The handler will tunnel this request if the upstream answers 101 (see wantsWebSocketTunnel). */
  readonly tunnel: boolean;
  /** Pseudonym for Via (RFC 9110 §7.6.3), e.g. "dreamserver". */
  readonly viaName: string;
  /** Listener port; when given, X-Forwarded-Port is set by the same rule as X-Forwarded-Proto. */
  readonly localPort?: number;
  /**
   * Also append an RFC 7239 Forwarded element (for=…;host=…;proto=…). Off by default: the issue
   * asks for X-Forwarded-*, and most upstream frameworks read those. When off, a trusted peer's
   * Forwarded is passed through untouched (and an untrusted one is still dropped).
   */
  readonly emitForwarded?: boolean;
  /**
   * Forward request fields whose names contain "_" (ProxyConfig.underscoresInHeaders,
   * --underscores-in-headers). Default false: they are dropped, see underscoreName.
   */
  readonly underscoresInHeaders?: boolean;
}

export interface PreparedRequest {
  readonly method: string;
  /** origin-form target (or "*"): basePath + path + query, byte for byte. */
  readonly target: string;
  /** Fields in the order they are sent. */
  readonly headers: [string, string][];
  /** How the relay must frame the body it streams upstream. */
  readonly bodyKind: "none" | "length" | "chunked";
  /** Byte count when bodyKind is "length", else -1. */
  readonly contentLength: number;
  /** Whether Upgrade/Connection: upgrade were sent (tunnel requested and valid for this request). */
  readonly tunnel: boolean;
  /** The serialized head: request line, fields, empty line (latin1). */
  readonly head: Uint8Array;
  /** The same head as a string of byte-valued chars, for writing straight into a write arena. */
  readonly headText: string;
  /** headText without its final empty line, in two parts, so more fields can follow
   * (traceparent) without joining them: "METHOD target HTTP/1.1\r\n" … */
  readonly requestLine: string;
  /** … and the field lines. */
  readonly fieldText: string;
}

/** A request the proxy refuses before preparing it. */
export class ProxyPrepareError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ProxyPrepareError";
  }
}

/**
 * Whether the request can be forwarded at all; null when it can. CONNECT is never tunnelled
 * (we are a reverse proxy, not a forward proxy; an open CONNECT relay is an abuse magnet):
 * 501, as RFC 9110 §15.6.2 describes a method the server cannot support for any resource.
 */
export function refuseReason(head: RequestHead): { status: number; code: string } | null {
  if (head.method === "CONNECT" || head.form === "authority") return { status: 501, code: "PROXY_CONNECT" };
  return null;
}

/**
 * Whether a request asks for a WebSocket we would tunnel (RFC 6455 §4.1: GET, HTTP/1.1,
 * Connection: upgrade, Upgrade listing websocket). Upgrade in HTTP/1.0 is ignored (RFC 9110 §7.8);
 * h2c is never forwarded — we speak HTTP/1.1 to upstreams and do not tunnel HTTP/2.
 */
export function wantsWebSocketTunnel(head: RequestHead): boolean {
  if (head.method !== "GET" || head.minor !== 1) return false;
  if (!head.headers.tokens("connection").includes("upgrade")) return false;
  const offered = parseUpgradeList(head.headers.getAll("upgrade"));
  if (offered === null) return false;
  for (const p of offered) if (p.name === "websocket") return true;
  return false;
}

/** The upstream target: origin-form, basePath prefixed. */
function upstreamTargetString(head: RequestHead, basePath: string): string {
  let pathAndQuery: string;
  if (head.form === "asterisk") return "*";
  if (head.form === "absolute") {
    // RFC 9112 §3.2.2: forward in origin-form; take path + query from the absolute URI verbatim.
    const t = head.target;
    const afterScheme = t.indexOf("://");
    let i = afterScheme < 0 ? 0 : afterScheme + 3;
    while (i < t.length && t[i] !== "/" && t[i] !== "?") i++;
    const rest = t.slice(i);
    if (rest === "" && head.method === "OPTIONS" && basePath === "") {
      // RFC 9112 §3.2.4: OPTIONS with an empty path is about the server as a whole.
      return "*";
    }
    pathAndQuery = rest === "" || rest[0] === "?" ? "/" + rest : rest;
  } else {
    pathAndQuery = head.target;
  }
  return basePath + pathAndQuery;
}

/** RFC 7239 §4/§6: node and value syntax (IPv6 is bracketed, non-tokens are quoted). */
function forwardedValue(v: string): string {
  if (isToken(v)) return v;
  return `"${v.replace(/["\\]/g, (c) => "\\" + c)}"`;
}
function forwardedNode(ip: string): string {
  return ip.includes(":") ? `"[${ip}]"` : forwardedValue(ip);
}

/**
 * Always removed besides the hop-by-hop list: fields we set ourselves (Host is re-set in place,
 * X-Request-ID/Via/Content-Length below), Expect (the engine answers 100-continue to the client
 * itself when the body is read, so the upstream must not wait for or send its own 100), and
 * HTTP2-Settings (connection-specific to an h2c upgrade, RFC 7540 §3.2.1, which we never forward).
 */
const NO_VALUES: string[] = [];

// traceparent/tracestate: replaced per upstream attempt by the proxy (a child span, src/observe/tracer.ts).
const SET_HERE = new Set(["host", "x-request-id", "via", "content-length", "expect", "http2-settings", "traceparent", "tracestate"]);

/**
 * Client-address fields besides X-Forwarded-* / Forwarded that backends and frameworks believe:
 * nginx's X-Real-IP, X-Client-IP (Apache mod_remoteip setups, Express/Rails helpers),
 * True-Client-IP (Akamai, Cloudflare Enterprise) and CF-Connecting-IP (Cloudflare). As
 * spoofable as X-Forwarded-For: only a trusted peer's copies pass, unchanged. We do not set them.
 */
const CLIENT_IP_FIELDS: ReadonlySet<string> = new Set(["x-real-ip", "x-client-ip", "true-client-ip", "cf-connecting-ip"]);

/**
 * Field names containing "_" are dropped by default (nginx `underscores_in_headers off`, Envoy's
 * edge hardening `headers_with_underscores_action`): CGI, WSGI, PHP-FPM and Rack map both "-"
 * and "_" onto "_" (HTTP_X_FORWARDED_FOR), so `X_Forwarded_For: 6.6.6.6` from an untrusted
 * client would reach the application as the X-Forwarded-For we had just dropped, and
 * `Transfer_Encoding` / `Content_Length` could be read as framing by such a backend.
 */
function underscoreName(lower: string): boolean {
  return lower.indexOf("_") >= 0;
}

/** Comma-joined list values with OWS trimmed and empties dropped ("" for none). */
function joinValues(vals: string[]): string {
  let s = "";
  for (let i = 0; i < vals.length; i++) {
    const v = trimOws(vals[i]!);
    if (v === "") continue;
    s = s === "" ? v : s + ", " + v;
  }
  return s;
}

/**
 * The upstream head is written as one latin1 string in a single pass over the client's fields
 * (no [name, value] pair per field, no second serialisation pass): on the proxy's hot path the
 * per-field arrays and the separate serialiser cost more than the filtering itself
 * (docs/performance.md, "Where the time goes"). `headers` is derived from that text on demand.
 */
export function prepareUpstreamRequest(input: PrepareRequestInput): PreparedRequest {
  const { head, upstream } = input;
  const refused = refuseReason(head);
  if (refused) throw new ProxyPrepareError(refused.status, refused.code, "CONNECT is not forwarded");

  let basePath = upstream.basePath;
  while (basePath.endsWith("/")) basePath = basePath.slice(0, -1);
  const target = upstreamTargetString(head, basePath);
  if (/[\x00-\x20\x7f]/.test(target)) {
    throw new ProxyPrepareError(500, "PROXY_BAD_TARGET", "control character or space in upstream target");
  }

  const trusted = input.trusted.has(input.clientIp);
  // WebSocket tunnel only on a real HTTP/1.1 upgrade request naming websocket.
  const tunnel = input.tunnel && wantsWebSocketTunnel(head);

  // Host: the client's (absolute-form: the URI's authority, RFC 9112 §3.2.2) unless rewriting.
  // An HTTP/1.0 client may send none, but our upstream request is HTTP/1.1 and needs one.
  const hostValue = input.rewriteHost || head.host === "" ? upstream.host : head.host;

  // ---- 1 + 2: filter ------------------------------------------------------------------
  const named = connectionNamed(head.headers);
  const src = head.headers;
  const lowerNames = src.lowerNames;
  const names = src.names;
  const values = src.values;
  let fields = "";
  let hostSeen = false;
  let upgradeName = "Upgrade";
  // Shared empty lists until a field shows up (most requests carry none of these).
  let xff: string[] = NO_VALUES;
  let xfProto: string[] = NO_VALUES;
  let xfHost: string[] = NO_VALUES;
  let xfPort: string[] = NO_VALUES;
  let forwarded: string[] = NO_VALUES;
  let via: string[] = NO_VALUES;
  const dropUnderscores = input.underscoresInHeaders !== true;
  // Fields the route's request_headers rules wrote: the operator vouches for them (step 3 of the
  // file comment), so they pass where the client's own copies would be dropped.
  const configured = head.configured;
  const n = lowerNames.length;
  for (let i = 0; i < n; i++) {
    const lower = lowerNames[i]!;
    const name = names[i]!;
    const value = values[i]!;
    const vouched = configured !== undefined && configured.has(lower);
    if (dropUnderscores && underscoreName(lower) && !vouched) continue;
    if (lower === "host") {
      // Host is end-to-end and mandatory in HTTP/1.1 (RFC 9112 §3.2): kept in place (the first
      // copy) even if a Connection token names it, with the value decided above.
      if (!hostSeen) {
        hostSeen = true;
        fields += FIELD_LINES.get(name, hostValue);
      }
      continue;
    }
    if (lower === "upgrade" && upgradeName === "Upgrade") upgradeName = name;
    if (HOP_BY_HOP.has(lower) || SET_HERE.has(lower)) {
      // Earlier hops' Via entries are kept (we append ours), even when a Connection token
      // names Via (see the file comment: fields we set cannot be removed by nomination).
      if (lower === "via") (via = via === NO_VALUES ? [] : via).push(value);
      continue;
    }
    // Forwarding fields are decided before nominations (file comment): trusted → kept.
    if (lower === "forwarded") {
      if (trusted || vouched) (forwarded = forwarded === NO_VALUES ? [] : forwarded).push(value);
      continue;
    }
    if (CLIENT_IP_FIELDS.has(lower)) {
      if (!trusted && !vouched) continue;
      fields += name + ": " + safeFieldValue(value) + "\r\n";
      continue;
    }
    if (lower.startsWith("x-forwarded-")) {
      if (!trusted && !vouched) continue; // RFC 7239 §8.1: never believe these from an unknown peer
      if (lower === "x-forwarded-for") {
        (xff = xff === NO_VALUES ? [] : xff).push(value);
        continue;
      }
      if (lower === "x-forwarded-proto") {
        (xfProto = xfProto === NO_VALUES ? [] : xfProto).push(value);
        continue;
      }
      if (lower === "x-forwarded-host") {
        (xfHost = xfHost === NO_VALUES ? [] : xfHost).push(value);
        continue;
      }
      if (lower === "x-forwarded-port") {
        (xfPort = xfPort === NO_VALUES ? [] : xfPort).push(value);
        continue;
      }
      // Other X-Forwarded-* (Prefix, Server, Ssl…) from a trusted proxy pass through unchanged.
      fields += name + ": " + safeFieldValue(value) + "\r\n";
      continue;
    }
    if (named.size > 0 && named.has(lower) && !vouched) continue;
    if (!isToken(name)) continue; // parser guarantees tokens; never emit a broken line
    fields += FIELD_LINES.get(name, value);
  }
  if (!hostSeen) fields = FIELD_LINES.get("Host", hostValue) + fields;

  // ---- 3: set -------------------------------------------------------------------------
  // The forwarding block usually repeats request after request: it comes from a memo
  // (forwarding-lines.ts), so a typical request adds a few strings here, not one per line.
  const ip = displayIp(input.clientIp);
  const priorXff = xff === NO_VALUES ? "" : joinValues(xff);
  const priorProto = xfProto === NO_VALUES ? "" : joinValues(xfProto);
  const priorHost = xfHost === NO_VALUES ? "" : joinValues(xfHost);
  let port: string | number | null = null;
  if (input.localPort !== undefined) {
    const priorPort = xfPort === NO_VALUES ? "" : joinValues(xfPort);
    port = priorPort !== "" ? priorPort : input.localPort;
  }
  if (input.emitForwarded) {
    let el = `for=${forwardedNode(ip)}`;
    if (head.host !== "") el += `;host=${forwardedValue(head.host)}`;
    el += `;proto=${input.clientProto}`;
    (forwarded = forwarded === NO_VALUES ? [] : forwarded).push(el);
  }
  const fwd = forwarded === NO_VALUES ? "" : joinValues(forwarded);
  // Via (RFC 9110 §7.6.3): append our hop with the protocol version we received ("2" for HTTP/2).
  const ourVia = VIA_ENTRY.get(head.httpVersion === 2 ? "2" : head.minor === 1 ? "1.1" : "1.0", input.viaName);
  const priorVia = via === NO_VALUES ? "" : joinValues(via);
  fields += FORWARDING_LINES.get(
    priorXff === "" ? ip : priorXff + ", " + ip,
    priorProto !== "" ? priorProto : input.clientProto,
    priorHost !== "" ? priorHost : head.host,
    port,
    fwd === "" ? "" : "Forwarded: " + safeFieldValue(fwd) + "\r\n",
    priorVia === "" ? ourVia : priorVia + ", " + ourVia,
  );
  fields += safeFieldValue(input.requestId) + "\r\n";

  // Body framing: the relay forwards the body as received, with the same kind of framing.
  // A request body cannot be close-delimited (RFC 9112 §6.3 rule 6); "close" is treated as chunked.
  let bodyKind: PreparedRequest["bodyKind"];
  let contentLength = -1;
  if (head.bodyKind === "length") {
    bodyKind = "length";
    contentLength = head.contentLength;
    fields += "Content-Length: " + contentLength + "\r\n";
  } else if (head.bodyKind === "chunked" || head.bodyKind === "close") {
    bodyKind = "chunked";
    fields += "Transfer-Encoding: chunked\r\n";
  } else {
    bodyKind = "none";
    // RFC 9110 §8.6: send Content-Length when the method defines a meaning for content (as Go's
    // transport does); some upstreams answer 411 to a bodiless POST otherwise.
    if (head.method === "POST" || head.method === "PUT" || head.method === "PATCH") {
      contentLength = 0;
      bodyKind = "length";
      fields += "Content-Length: 0\r\n";
    }
  }

  // Connection: nothing (HTTP/1.1 persists by default, RFC 9112 §9.3), except for the tunnel.
  if (tunnel) {
    // wantsWebSocketTunnel checked the syntax: the list parses and offers websocket.
    const protos: string[] = [];
    for (const p of parseUpgradeList(src.getAll("upgrade")) ?? []) if (p.name === "websocket") protos.push(p.text);
    fields += "Connection: upgrade\r\n" + upgradeName + ": " + safeFieldValue(protos.join(", ")) + "\r\n";
  }

  // Every value above went through safeFieldValue, which turns a char above U+00FF into "?"
  // (only configuration can make one: request_headers rules, the Via name); names are tokens.
  // So the text is latin1 without a second scan of the whole head.
  return new Prepared(head.method, target, fields, bodyKind, contentLength, tunnel);
}

/** "Name: value\r\n" of Host and of every forwarded field, by name. */
const FIELD_LINES = new PassThroughLines();
const FORWARDING_LINES = new ForwardingLinesMemo();
/** Our Via entry ("1.1 dreamserver"), reused while protocol and name repeat. */
const VIA_ENTRY = new JoinMemo(" ", "");
/** The request line "METHOD target HTTP/1.1\r\n", reused while method and target repeat. */
const REQUEST_LINE = new JoinMemo(" ", " HTTP/1.1\r\n");

/**
 * The same request aimed at another origin-form target (following a redirect): headers and
 * framing unchanged, only the request line rebuilt.
 */
export function withTarget(p: PreparedRequest, target: string): PreparedRequest {
  const text = p.headText;
  return new Prepared(p.method, latin1Only(target), text.slice(text.indexOf("\r\n") + 2, -2), p.bodyKind, p.contentLength, p.tunnel);
}

/** Chars above U+00FF can only come from our own configuration (request_headers rules): sent as "?". */
function latin1Only(s: string): string {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return s.replace(/[^\x00-\xff]/g, "?");
  return s;
}

/** A PreparedRequest whose field list and bytes are derived from the head text only when asked. */
class Prepared implements PreparedRequest {
  readonly requestLine: string;
  private text: string | null = null;
  private bytes: Uint8Array | null = null;
  private pairs: [string, string][] | null = null;
  constructor(
    readonly method: string,
    readonly target: string,
    /** "Name: value\r\n" lines, latin1 only. */
    readonly fieldText: string,
    readonly bodyKind: PreparedRequest["bodyKind"],
    readonly contentLength: number,
    readonly tunnel: boolean,
  ) {
    // method and target come from the parser (latin1) or a URL-encoded base path (ASCII).
    this.requestLine = REQUEST_LINE.get(method, target);
  }

  get headText(): string {
    return (this.text ??= this.requestLine + this.fieldText + "\r\n");
  }

  get headers(): [string, string][] {
    return (this.pairs ??= fieldPairs(this.fieldText));
  }

  // Encoded only if someone asks: the relay writes headText into the socket's arena directly.
  get head(): Uint8Array {
    return (this.bytes ??= latin1Bytes(this.headText));
  }
}

/** "Name: value\r\n"… back into pairs (every line was written by us as name + ": " + value). */
function fieldPairs(text: string): [string, string][] {
  const out: [string, string][] = [];
  let pos = 0;
  while (pos < text.length) {
    const eol = text.indexOf("\r\n", pos);
    const colon = text.indexOf(":", pos);
    out.push([text.slice(pos, colon), text.slice(colon + 2, eol)]);
    pos = eol + 2;
  }
  return out;
}

/** "METHOD target HTTP/1.1\r\n" + "Name: value\r\n"… + "\r\n"; chars above U+00FF (only possible from our own configuration) become "?". */
export function requestHeadText(method: string, target: string, headers: ReadonlyArray<readonly [string, string]>): string {
  let s = method + " " + target + " HTTP/1.1\r\n";
  for (let i = 0; i < headers.length; i++) {
    const h = headers[i]!;
    s += h[0] + ": " + h[1] + "\r\n";
  }
  s += "\r\n";
  return latin1Only(s);
}

function latin1Bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

/**
 * "METHOD target HTTP/1.1\r\n" + "Name: value\r\n"… + "\r\n", encoded as latin1: header values
 * are bytes (obs-text arrives as U+0080..U+00FF), not text. A code point above U+00FF can only
 * come from our own configuration and is sent as "?".
 */
export function serializeRequestHead(method: string, target: string, headers: ReadonlyArray<readonly [string, string]>): Uint8Array {
  return latin1Bytes(requestHeadText(method, target, headers));
}
