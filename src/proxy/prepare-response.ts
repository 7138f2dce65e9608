/**
 * Preparation of an upstream response for the client. Pure.
 *
 * The same hop-by-hop cleaning as for requests (RFC 9110 §7.6.1), plus the framing fields: the
 * engine re-frames every response for the client connection (Content-Length, chunked for
 * HTTP/1.1 clients, close-delimited for HTTP/1.0), so the upstream's Content-Length and
 * Transfer-Encoding describe the wrong hop. Repeated fields (Set-Cookie above all, RFC 9110 §5.3)
 * stay separate and in order.
 *
 * Date, Server and X-Request-ID are dropped too: the engine always writes its own (one Date per
 * message, RFC 9110 §6.6.1; one X-Request-ID that matches the access log), so forwarding the
 * upstream's copies would send each field twice with different values. nginx likewise hides the
 * upstream's Date and Server by default (proxy_pass_header to undo); hiding Server also avoids
 * advertising the backend's software.
 */
import { parseDecimal, trimOws } from "../http1/field-syntax.ts";
import type { ResponseHead } from "../http1/message-head.ts";
import { HOP_BY_HOP, connectionNamed, isToken, safeFieldValue, upgradeProtocolNames } from "./hop-by-hop.ts";

export interface ResponsePrepareOptions {
  /** This is the 101 of a WebSocket tunnel we asked for: keep Upgrade, send Connection: Upgrade. */
  readonly tunnel: boolean;
  /** Applied to Location (and Refresh's URL): see makeLocationRewriter. */
  readonly rewriteLocation: (location: string) => string;
  /**
   * When given, append our hop to Via (RFC 9110 §7.6.3 asks proxies to do so for responses too);
   * nginx and Go do not, so the default is to leave Via as the upstream sent it.
   */
  readonly viaName?: string;
}

/**
 * `Refresh: 5; url=http://u/x` (nginx's proxy_redirect rewrites it along with Location).
 * Returns the value with the URL passed through `rewrite`, or the value unchanged if it has no URL.
 */
export function rewriteRefresh(value: string, rewrite: (u: string) => string): string {
  const m = /^(\s*\d+(?:\.\d*)?\s*[;,]\s*url\s*=\s*)(["']?)(.*?)\2(\s*)$/i.exec(value);
  if (!m || m[3] === "") return value;
  return m[1]! + m[2]! + rewrite(m[3]!) + m[2]! + m[4]!;
}

/** Response fields the engine always sets itself (see the file comment). */
const ENGINE_SETS: ReadonlySet<string> = new Set(["date", "server", "x-request-id"]);

export function prepareClientResponseHeaders(head: ResponseHead, opts: ResponsePrepareOptions): [string, string][] {
  const src = head.headers;
  const named = connectionNamed(src);
  const tunnel = opts.tunnel && head.status === 101;
  const out: [string, string][] = [];
  const via: string[] | null = opts.viaName !== undefined ? [] : null;
  let viaIndex = -1;
  for (let i = 0; i < src.size; i++) {
    const lower = src.lowerNames[i]!;
    const name = src.names[i]!;
    let value = src.values[i]!;
    if (lower === "upgrade" && tunnel) {
      out.push([name, safeFieldValue(value)]);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || lower === "content-length" || ENGINE_SETS.has(lower)) continue;
    if (named.has(lower)) continue;
    if (!isToken(name)) continue;
    if (lower === "location") value = opts.rewriteLocation(value);
    else if (lower === "refresh") value = rewriteRefresh(value, opts.rewriteLocation);
    else if (lower === "via" && via) {
      // Collected and re-emitted once, where the first one was, with our hop appended.
      if (viaIndex < 0) {
        viaIndex = out.length;
        out.push([name, ""]);
      }
      via.push(trimOws(value));
      continue;
    }
    out.push([name, safeFieldValue(value)]);
  }
  if (via) {
    const ours = `1.${head.minor} ${opts.viaName}`;
    const joined = [...via.filter((v) => v !== ""), ours].join(", ");
    if (viaIndex >= 0) out[viaIndex] = [out[viaIndex]![0], safeFieldValue(joined)];
    else out.push(["Via", safeFieldValue(joined)]);
  }
  // After 101 the connection is the tunnel: the client must see Connection: Upgrade (RFC 9110 §7.8).
  if (tunnel) out.push(["Connection", "Upgrade"]);
  return out;
}

/**
 * What a 101 / non-101 answer to a request means for the proxy (RFC 9110 §7.8, §15.2.2):
 * - "tunnel": the upstream switched to WebSocket as asked; relay raw bytes both ways.
 * - "normal": an ordinary response (also a valid answer to an upgrade request, e.g. 401/426).
 * - "bad": a 101 we did not ask for, or to a protocol the client did not offer (h2c is never
 *   offered): the upstream is confused or hostile → 502 UPSTREAM_BAD_UPGRADE.
 */
export function classifyUpgradeResponse(head: ResponseHead, tunnelRequested: boolean): "tunnel" | "normal" | "bad" {
  if (head.status !== 101) return "normal";
  if (!tunnelRequested) return "bad";
  for (const v of head.headers.getAll("upgrade")) {
    const names = upgradeProtocolNames(v);
    if (names !== null && names.length === 1 && names[0] === "websocket") return "tunnel";
  }
  return "bad";
}

export type ClientFraming =
  /** No body bytes to relay. `length`: a Content-Length to advertise without a body (HEAD, 304). */
  | { readonly kind: "none"; readonly length?: number }
  /** Exactly `length` bytes follow: the client gets Content-Length: length. */
  | { readonly kind: "length"; readonly length: number }
  /** Unknown length (upstream chunked or close-delimited): chunked to HTTP/1.1 clients, close-delimited to 1.0. */
  | { readonly kind: "stream"; readonly length?: undefined };

/**
 * How the response body reaches the client, RFC 9112 §6.3 in order:
 * 1. a response to HEAD, and any 1xx, 204 or 304, has no content whatever its fields say;
 *    for HEAD and 304 the upstream's Content-Length may be advertised (RFC 9110 §8.6), never for
 *    1xx/204 (which must not carry one);
 * 2. (2xx to CONNECT: never happens, CONNECT is refused);
 * 3/4. Transfer-Encoding chunked → stream;
 * 5/6. a valid Content-Length → exactly that many bytes;
 * 7. otherwise the body runs until the upstream closes → stream.
 * The engine picks the client framing for "stream": chunked for HTTP/1.1, close for HTTP/1.0.
 */
export function decideClientFraming(head: ResponseHead, requestMethod: string): ClientFraming {
  const s = head.status;
  if (s < 200 || s === 204) return NO_BODY;
  if (requestMethod === "HEAD" || s === 304) {
    const n = declaredLength(head);
    return n >= 0 ? { kind: "none", length: n } : NO_BODY;
  }
  switch (head.bodyKind) {
    case "length":
      return lengthFraming(head.contentLength);
    case "chunked":
    case "close":
      return STREAM;
    case "none":
      // The parser only says "none" for the cases handled above; be explicit: empty body.
      return lengthFraming(0);
  }
}

// The verdicts are read, never changed: shared objects instead of one per proxied response.
const NO_BODY: ClientFraming = Object.freeze({ kind: "none" });
const STREAM: ClientFraming = Object.freeze({ kind: "stream" });
let lastLength: ClientFraming = Object.freeze({ kind: "length", length: 0 });
function lengthFraming(n: number): ClientFraming {
  if (lastLength.length !== n) lastLength = Object.freeze({ kind: "length", length: n });
  return lastLength;
}

/** The Content-Length of a bodiless response (parser keeps it for HEAD/304), or -1. */
function declaredLength(head: ResponseHead): number {
  if (head.contentLength >= 0) return head.contentLength;
  const v = head.headers.get("content-length");
  return v !== undefined && head.headers.count("content-length") === 1 ? parseDecimal(v, 15) : -1;
}
