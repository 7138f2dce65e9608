/**
 * Rewriting of upstream redirects that name the upstream itself, nginx's `proxy_redirect default`:
 * with `proxy_pass http://u:8000/base/`, a `Location: http://u:8000/base/x` becomes a URL on the
 * client-facing origin, `http://<client Host>/x`. Without this, clients get redirected to an
 * internal address they cannot reach (and learn it).
 *
 * Deliberately textual, not `new URL()`: WHATWG URL parsing normalises paths (dot segments,
 * backslashes, percent-encoding), and the path is the upstream's to choose, byte for byte.
 *
 * What is rewritten: absolute (`http://u:8000/base/x`) and scheme-relative (`//u:8000/base/x`)
 * references whose origin is the upstream origin (scheme + host + port; host case-insensitive;
 * default ports 80/443 normalised, RFC 9110 §4.2.3) and whose path starts with the upstream base
 * path. Everything else is returned unchanged: relative references (RFC 9110 §10.2.2 allows them;
 * the client resolves them against the URL it asked for, which is already client-facing), other
 * origins, and upstream URLs outside the base path (nginx leaves those too: mapping them to the
 * client origin would name a different resource).
 */

import { asciiLower } from "../http1/field-syntax.ts";

export interface ClientOrigin {
  readonly proto: "http" | "https";
  /** The client's Host header (authority). "" when the client sent none (HTTP/1.0). */
  readonly host: string;
  /** The route's strip_prefix as the client sees it ("/api"), put in front of mapped paths. */
  readonly mount?: string;
}

function defaultPort(scheme: string): string {
  return scheme === "https" ? "443" : scheme === "http" ? "80" : "";
}

/** Lowercased host + explicit port ("" port becomes the scheme's default). null if not parseable. */
function normaliseAuthority(authority: string, scheme: string): { host: string; port: string } | null {
  if (authority.includes("@")) return null; // userinfo: never ours (RFC 9110 §4.2.4 deprecates it)
  let host: string;
  let port: string;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) return null;
    host = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":")) return null;
    port = rest.slice(1);
  } else {
    const colon = authority.lastIndexOf(":");
    host = colon >= 0 ? authority.slice(0, colon) : authority;
    port = colon >= 0 ? authority.slice(colon + 1) : "";
  }
  if (!/^[0-9]*$/.test(port)) return null;
  port = port.replace(/^0+(?=\d)/, "");
  if (port === "") port = defaultPort(scheme);
  // Hosts compare case-insensitively in ASCII only (RFC 3986 §3.2.2; an obs-text byte is not a letter).
  return { host: asciiLower(host), port };
}

/** The base path of an upstream URL: its pathname without trailing slash, "" for "/". */
export function upstreamBasePath(upstream: URL): string {
  let p = upstream.pathname;
  while (p.endsWith("/")) p = p.slice(0, -1);
  return p;
}

/**
 * Build the rewriter for one exchange. `upstream` is the --proxy URL including its base path;
 * `clientOrigin` is what the client used (connection scheme + Host header).
 */
export function makeLocationRewriter(upstream: URL, clientOrigin: ClientOrigin): (location: string) => string {
  const upScheme = upstream.protocol.slice(0, -1).toLowerCase();
  const upAuth = normaliseAuthority(upstream.host, upScheme);
  const base = upstreamBasePath(upstream);
  const clientPrefix = (clientOrigin.host === "" ? "" : `${clientOrigin.proto}://${clientOrigin.host}`) + (clientOrigin.mount ?? "");

  return (location: string): string => {
    if (!upAuth) return location;
    let scheme: string;
    let afterScheme: string;
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(location);
    if (m) {
      scheme = asciiLower(m[1]!);
      afterScheme = location.slice(m[0].length);
    } else if (location.startsWith("//")) {
      // Scheme-relative: the client would resolve it with its own scheme, but the authority is
      // the upstream's, so the upstream meant its own scheme.
      scheme = upScheme;
      afterScheme = location.slice(2);
    } else {
      return location;
    }
    if (scheme !== upScheme) return location;
    let end = afterScheme.length;
    for (const ch of ["/", "?", "#"]) {
      const i = afterScheme.indexOf(ch);
      if (i >= 0 && i < end) end = i;
    }
    const auth = normaliseAuthority(afterScheme.slice(0, end), scheme);
    if (!auth || auth.host !== upAuth.host || auth.port !== upAuth.port) return location;

    const rest = afterScheme.slice(end); // path-abempty + query + fragment
    let mapped: string;
    if (base === "") {
      mapped = rest === "" || rest[0] !== "/" ? "/" + rest : rest;
    } else if (rest === base) {
      mapped = "/";
    } else if (rest.startsWith(base) && "/?#".includes(rest[base.length]!)) {
      const tail = rest.slice(base.length);
      mapped = tail[0] === "/" ? tail : "/" + tail;
    } else {
      return location; // outside the base path: leave it (nginx does too)
    }
    // No client Host (HTTP/1.0): a relative reference is still correct (RFC 9110 §10.2.2).
    // Behind strip_prefix the upstream's "/" is the client's mount ("/api/"), as nginx's
    // proxy_redirect default maps a location's prefix.
    return clientPrefix + mapped;
  };
}
