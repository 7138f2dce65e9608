/**
 * Hop-by-hop fields: they describe one connection, not the message, so a proxy must not forward
 * them (RFC 9110 §7.6.1). Shared by request and response preparation.
 */
import { isToken as isTokenBytes, parseUpgradeList } from "../http1/field-syntax.ts";
import type { HeaderList } from "../http1/header-list.ts";

/**
 * The fixed list, lowercase. RFC 9110 §7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE,
 * Transfer-Encoding and Upgrade; Trailer is included as in RFC 2616 §13.5.1 / Go's ReverseProxy
 * (we re-frame bodies, so a Trailer declaration about the old framing does not carry over).
 * Upgrade is put back only for a WebSocket tunnel. Proxy-Authorization and Proxy-Authenticate
 * are for the proxy the client talks to, which is us (RFC 9110 §11.7.1–2: consumed by the first
 * inbound proxy that expects credentials); forwarding them would hand a client's proxy
 * credentials to the backend. Go's ReverseProxy and Caddy drop both.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Every field name a Connection header lists (RFC 9110 §7.6.1: "connection options"), ASCII
 * lowercase. The parser has already refused a Connection field with a non-token element; if one
 * gets here anyway it is kept verbatim (HeaderList.tokens) and so names no real field.
 */
export function connectionNamed(headers: HeaderList): ReadonlySet<string> {
  // Most messages have no Connection field (HTTP/1.1 keep-alive is the default): no allocation.
  return headers.has("connection") ? new Set(headers.tokens("connection")) : NONE;
}
const NONE: ReadonlySet<string> = new Set();

/** token = 1*tchar (RFC 9110 §5.6.2): what a field name may consist of. */
export function isToken(s: string): boolean {
  return isTokenBytes(s);
}

/**
 * RFC 9110 §5.5: CR, LF and NUL inside a field value must be rejected or replaced with SP before
 * forwarding. The parser rejects them already; values we compose ourselves get this as a backstop
 * so no input can ever split a header line. A char above U+00FF (only our own configuration can
 * make one) becomes "?": heads are written as latin1, one byte per char, and U+010D written that
 * way would be a CR.
 */
export function safeFieldValue(v: string): string {
  // A char loop, not a regex test: called for every forwarded field, and nearly always clean.
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0 || c > 0xff) return v.replace(/[\r\n\0]/g, " ").replace(/[^\x00-\xff]/g, "?");
  }
  return v;
}

/**
 * Protocol names in an Upgrade value (RFC 9110 §7.8: protocol-name ["/" protocol-version]),
 * ASCII-lowercased, without versions; null when the value is not a list of protocols (a
 * malformed offer or answer is no upgrade: `\xa0websocket` is not websocket).
 */
export function upgradeProtocolNames(value: string): string[] | null {
  const list = parseUpgradeList([value]);
  return list === null ? null : list.map((p) => p.name);
}
