/**
 * --follow-redirects N: whether the proxy itself follows an upstream redirect. Pure.
 *
 * Off by default (N = 0), like nginx and every mainstream reverse proxy, because a reverse proxy
 * should be transparent:
 * - the client should see the redirect: its address bar, relative links and bookmarks depend on
 *   the final URL, and a followed redirect leaves the client resolving them against the old one;
 * - Set-Cookie (and any other field) on the 3xx would be lost with the 3xx itself — login flows
 *   commonly set a session cookie on exactly that response;
 * - caching semantics change: a cacheable 301/308 and the Cache-Control of the 3xx disappear, and
 *   the content is cached under a URL that is not its own;
 * - redirects can loop or chain, costing upstream requests per client request.
 * When enabled it is deliberately narrow: GET/HEAD without a body (nothing to replay, RFC 9110
 * §9.2.1 safe methods), the five redirect codes, the same upstream origin only (never turn the
 * proxy into an open fetcher of arbitrary URLs), and at most maxHops hops.
 */

import { trimOws } from "../http1/field-syntax.ts";

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

export interface RedirectInput {
  /** Method of the request just sent (unchanged on follow: for GET/HEAD every code keeps it, RFC 9110 §15.4). */
  readonly method: string;
  readonly status: number;
  /** The Location value, undefined if absent. */
  readonly location: string | undefined;
  /** The --proxy URL (its origin is the only one followed). */
  readonly upstream: URL;
  /** Redirects already followed for this client request. */
  readonly hopsSoFar: number;
  readonly maxHops: number;
  /** origin-form target of the request just sent, for resolving relative references (default basePath + "/"). */
  readonly currentTarget?: string;
  /** The request had a body: it would have to be replayed, so never follow. */
  readonly hasBody?: boolean;
}

/**
 * `target` is the complete origin-form target for the next upstream request: it already includes
 * the upstream base path, so it must be sent as-is, not joined with the base path again.
 */
export type RedirectDecision = { readonly follow: false } | { readonly follow: true; readonly target: string };

const NO: RedirectDecision = { follow: false };

export function shouldFollow(r: RedirectInput): RedirectDecision {
  if (r.maxHops <= 0 || r.hopsSoFar >= r.maxHops) return NO;
  if (r.method !== "GET" && r.method !== "HEAD") return NO;
  if (r.hasBody) return NO;
  if (!REDIRECT_STATUSES.has(r.status)) return NO;
  // Only SP/HTAB are whitespace around a field value (RFC 9110 §5.6.3); trim() would also strip \xa0.
  const loc = r.location === undefined ? undefined : trimOws(r.location);
  if (!loc) return NO;
  let base = r.currentTarget;
  if (base === undefined || base === "*" || base[0] !== "/") {
    const p = r.upstream.pathname;
    base = p.endsWith("/") ? p : p + "/";
  }
  let next: URL;
  try {
    // RFC 9110 §10.2.2: Location is a URI-reference resolved against the request's URI.
    next = new URL(loc, r.upstream.origin + base);
  } catch {
    return NO;
  }
  if (next.protocol !== "http:" && next.protocol !== "https:") return NO;
  // Same origin: scheme, host and port, default ports normalised by URL. Userinfo is refused.
  if (next.origin !== r.upstream.origin || next.username !== "" || next.password !== "") return NO;
  // The fragment is for the client, never sent in a request (RFC 9110 §4.2.5).
  return { follow: true, target: next.pathname + next.search };
}
