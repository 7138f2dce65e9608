/**
 * From a decoded HTTP/2 field list to the protocol-neutral RequestHead every handler reads,
 * enforcing the message rules of RFC 9113 §8: field names and values (§8.2.1),
 * connection-specific fields (§8.2.2), pseudo-header fields (§8.3). A request that breaks
 * them is malformed (§8.1.1): the engine resets the stream with PROTOCOL_ERROR.
 */
import { HeaderList } from "../http1/header-list.ts";
import type { RequestHead, TargetForm } from "../http1/message-head.ts";
import { validHost } from "../http1/message-parser.ts";
import { asciiLower, isToken, parseDecimal } from "../http1/field-syntax.ts";

export type RequestResult =
  | { readonly ok: true; readonly head: RequestHead }
  /** Malformed (§8.1.1): stream error PROTOCOL_ERROR. */
  | { readonly ok: false; readonly reason: string };

/** §8.2.2: fields that only mean something to one HTTP/1.1 connection. */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(["connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade"]);

/**
 * Bytes of the request-target a server accepts in :path: the same visible ASCII as HTTP/1.1's
 * request-target (no space, no control, no DEL, no obs-text).
 */
function validPath(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** §8.2.1: no uppercase, no 0x00-0x20, no 0x7f-0xff; not empty. Leading ":" only for pseudo-fields (checked by the caller). */
function validName(n: string, from: number): boolean {
  if (n.length <= from) return false;
  for (let i = from; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x41 && c <= 0x5a) || c >= 0x7f || c === 0x3a) return false;
  }
  return true;
}

/** §8.2.1: no NUL, CR or LF; no leading or trailing SP/HTAB. */
function validValue(v: string): boolean {
  const n = v.length;
  if (n === 0) return true;
  let c = v.charCodeAt(0);
  if (c === 0x20 || c === 0x09) return false;
  c = v.charCodeAt(n - 1);
  if (c === 0x20 || c === 0x09) return false;
  for (let i = 0; i < n; i++) {
    c = v.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d || c > 0xff) return false;
  }
  return true;
}

/** An h2 request has no Connection field (§8.2.2): one shared empty list. */
const NO_TOKENS: readonly string[] = Object.freeze([]);

const bad = (reason: string): RequestResult => ({ ok: false, reason });

/**
 * Build the request head. `endStream`: the HEADERS frame ended the stream (no body).
 * `headBytes`: size of the field block, for accounting.
 */
export function requestHeadFrom(fields: ReadonlyArray<readonly [string, string]>, endStream: boolean, headBytes: number): RequestResult {
  let method: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let path: string | undefined;
  let regular = false;
  const headers = new HeaderList();
  let cookies: string[] | null = null;
  for (const [name, value] of fields) {
    if (name.charCodeAt(0) === 0x3a) {
      // §8.3: pseudo-fields come first, each at most once, only the four request ones.
      if (regular) return bad(`pseudo-header ${name} after a regular field`);
      if (!validValue(value)) return bad(`invalid value in ${name}`);
      switch (name) {
        case ":method":
          if (method !== undefined) return bad("duplicate :method");
          method = value;
          break;
        case ":scheme":
          if (scheme !== undefined) return bad("duplicate :scheme");
          scheme = value;
          break;
        case ":authority":
          if (authority !== undefined) return bad("duplicate :authority");
          authority = value;
          break;
        case ":path":
          if (path !== undefined) return bad("duplicate :path");
          path = value;
          break;
        default:
          // :status and unknown pseudo-fields are not allowed in a request (§8.3).
          return bad(`pseudo-header ${name} not allowed in a request`);
      }
      continue;
    }
    regular = true;
    if (!validName(name, 0)) return bad(`invalid field name ${JSON.stringify(name)}`);
    if (!validValue(value)) return bad(`invalid value in ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) return bad(`connection-specific field ${name}`);
    // §8.2.2: TE may appear, with "trailers" as its only value.
    if (name === "te" && value !== "trailers") return bad('TE other than "trailers"');
    if (name === "cookie") {
      // §8.2.3: cookie crumbs are joined with "; " before the message reaches HTTP/1.1 code.
      (cookies ??= []).push(value);
      continue;
    }
    headers.add(name, value, name);
  }
  if (cookies !== null) headers.add("cookie", cookies.join("; "), "cookie");
  if (method === undefined) return bad("missing :method");
  // method = token (RFC 9110 §9.1)
  if (!isToken(method)) return bad("invalid :method");

  let form: TargetForm;
  let target: string;
  let pathPart: string;
  let query = "";
  if (method === "CONNECT") {
    // §8.5: CONNECT carries only :method and :authority.
    if (scheme !== undefined || path !== undefined) return bad("CONNECT with :scheme or :path");
    if (authority === undefined || authority === "") return bad("CONNECT without :authority");
    form = "authority";
    target = pathPart = authority;
  } else {
    // §8.3.1: :method, :scheme and :path are required; :path is not empty.
    if (scheme === undefined) return bad("missing :scheme");
    if (path === undefined) return bad("missing :path");
    if (path === "") return bad("empty :path");
    if (!validPath(path)) return bad("invalid byte in :path");
    if (path === "*") {
      if (method !== "OPTIONS") return bad('":path *" is only for OPTIONS');
      form = "asterisk";
      pathPart = "*";
    } else if (path.charCodeAt(0) === 0x2f) {
      form = "origin";
      const q = path.indexOf("?");
      pathPart = q < 0 ? path : path.slice(0, q);
      query = q < 0 ? "" : path.slice(q);
      const hash = pathPart.indexOf("#");
      if (hash >= 0 || query.indexOf("#") >= 0) return bad("fragment in :path");
    } else {
      return bad(":path is neither origin-form nor *");
    }
    target = path;
  }

  // §8.3.1: :authority, else Host; when both, they must name the same thing.
  const hostHeaders = headers.count("host");
  if (hostHeaders > 1) return bad("more than one Host field");
  const hostField = headers.get("host");
  if (authority !== undefined && hostField !== undefined && authority !== hostField) return bad(":authority and Host differ");
  if (authority !== undefined && authority.indexOf("@") >= 0) return bad("userinfo in :authority");
  const host = authority ?? hostField ?? "";
  if (host !== "" && !validHost(host)) return bad("invalid :authority");

  // content-length: one valid decimal (repeats must agree, RFC 9110 §8.6).
  let contentLength = -1;
  const lower = headers.lowerNames;
  for (let i = 0; i < lower.length; i++) {
    if (lower[i] !== "content-length") continue;
    const n = parseDecimal(headers.values[i]!);
    if (n < 0 || (contentLength >= 0 && n !== contentLength)) return bad("invalid content-length");
    contentLength = n;
  }
  if (endStream && contentLength > 0) return bad("content-length with no DATA");
  const bodyKind = endStream ? "none" : contentLength >= 0 ? "length" : "chunked";
  const expect = headers.get("expect");
  const head: RequestHead = {
    method,
    target,
    form,
    path: pathPart,
    query,
    minor: 1,
    headers,
    host,
    bodyKind,
    contentLength: bodyKind === "length" ? contentLength : -1,
    keepAlive: true,
    expectContinue: expect !== undefined && asciiLower(expect) === "100-continue" && !endStream,
    connection: NO_TOKENS,
    upgrade: null,
    headBytes,
    httpVersion: 2,
  };
  return { ok: true, head };
}
