/**
 * The TemplateContext of a request (src/config/template.ts), built lazily from an Exchange:
 * creating one costs one small object; each field is read from the exchange only when a
 * template asks for it: the original head is looked up, the Host normalised, and the cookie
 * and query strings parsed only then (and once).
 *
 * It describes the request as the client sent it (originalHead): {path} is the path before
 * strip_prefix, {header.NAME} the client's field before request_headers rules.
 *  - host:  normalizeHost(Host): lowercase, no port, no trailing dot
 *  - path:  the request path as received (percent-encoded, not normalised)
 *  - query: the query without "?"; uri: path + "?" + query when the target had a "?"
 *  - header(name): all field lines of that name joined with ", " ("" when absent)
 *  - cookie(name): the first cookie of that name in the Cookie field(s), DQUOTEs removed
 *  - queryParam(name): the first parameter of that name, "+" and %xx decoded byte for byte
 *    (a latin1 string, like every header value: "%C3%A9" stays the two UTF-8 bytes)
 * Decoded values may hold any byte: renderers that put them into a field value pass the result
 * through safeFieldValue().
 */
import type { TemplateContext } from "../config/template.ts";
import type { Exchange } from "../handler.ts";
import { asciiLower, isOws, trimOws } from "../http1/field-syntax.ts";
import type { RequestHead } from "../http1/message-head.ts";
import { normalizeHost } from "../router/host.ts";
import { originalHead } from "./derive-head.ts";

class LazyTemplateContext implements TemplateContext {
  private cookies: Map<string, string> | null = null;
  private params: Map<string, string> | null = null;
  private hostName: string | null = null;
  private original: RequestHead | null = null;

  constructor(private readonly ex: Exchange) {}

  /** The request as the client sent it, looked up on first use (remote_ip alone never needs it). */
  private get h(): RequestHead {
    return (this.original ??= originalHead(this.ex.head));
  }
  get remoteIp(): string {
    return this.ex.clientIp;
  }
  get requestId(): string {
    return this.ex.id;
  }
  get scheme(): "http" | "https" {
    return this.ex.scheme;
  }
  get tlsClientSubject(): string {
    const cert = this.ex.tlsClientCert;
    return cert?.verified ? cert.subject : "";
  }
  get tlsClientFingerprint(): string {
    const cert = this.ex.tlsClientCert;
    return cert?.verified ? cert.fingerprint : "";
  }

  get host(): string {
    return (this.hostName ??= normalizeHost(this.h.host));
  }
  get path(): string {
    return this.h.path;
  }
  get query(): string {
    const q = this.h.query;
    return q.length > 1 ? q.slice(1) : "";
  }
  get uri(): string {
    return this.h.path + this.h.query;
  }
  header(name: string): string {
    const headers = this.h.headers;
    const lower = asciiLower(name);
    let out: string | null = null;
    for (let i = 0; i < headers.lowerNames.length; i++) {
      if (headers.lowerNames[i] !== lower) continue;
      out = out === null ? headers.values[i]! : out + ", " + headers.values[i]!;
    }
    return out ?? "";
  }
  cookie(name: string): string {
    return (this.cookies ??= parseCookies(this.h.headers.getAll("cookie"))).get(name) ?? "";
  }
  queryParam(name: string): string {
    return (this.params ??= parseQuery(this.query)).get(name) ?? "";
  }
}

/** The template context of `ex`'s request (see the module comment). */
export function templateContext(ex: Exchange): TemplateContext {
  return new LazyTemplateContext(ex);
}

/** Cookie: name=value; name2=value2 (RFC 6265 §5.4, several fields allowed). First name wins. */
export function parseCookies(fields: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const field of fields) {
    for (const pair of field.split(";")) {
      const eq = pair.indexOf("=");
      if (eq < 0) continue;
      const name = trimOws(pair.slice(0, eq));
      let value = trimOws(pair.slice(eq + 1));
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = value.slice(1, -1);
      if (name !== "" && !out.has(name)) out.set(name, value);
    }
  }
  return out;
}

/** a=1&b=x+y&c=%41 (application/x-www-form-urlencoded). Names and values decoded; first name wins. */
export function parseQuery(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === "") return out;
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = formDecode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? "" : formDecode(part.slice(eq + 1));
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** "+" → space, %xx → that byte (as a latin1 char); a malformed "%" is kept literally. */
function formDecode(s: string): string {
  if (s.indexOf("%") < 0 && s.indexOf("+") < 0) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2b) out += " ";
    else if (c === 0x25 && i + 2 < s.length && hexVal(s.charCodeAt(i + 1)) >= 0 && hexVal(s.charCodeAt(i + 2)) >= 0) {
      out += String.fromCharCode(hexVal(s.charCodeAt(i + 1)) * 16 + hexVal(s.charCodeAt(i + 2)));
      i += 2;
    } else out += s[i]!;
  }
  return out;
}

/**
 * A rendered value made safe for a field line (RFC 9110 §5.5): CTLs other than HTAB (CR, LF,
 * NUL …) and chars above 0xFF removed, OWS at both ends trimmed. A template that puts request
 * data into a header can then never split or smuggle a field.
 */
export function safeFieldValue(v: string): string {
  let ok = true;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) {
      ok = false;
      break;
    }
  }
  if (!ok) {
    let out = "";
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (!((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff)) out += v[i]!;
    }
    v = out;
  }
  return v.length > 0 && (isOws(v.charCodeAt(0)) || isOws(v.charCodeAt(v.length - 1))) ? trimOws(v) : v;
}
