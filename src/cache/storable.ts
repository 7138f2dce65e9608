/**
 * May a shared cache store this response? (RFC 9111 §3, §3.5.) Pure, no Bun imports.
 * Returns null when it may, else a short reason (used in Cache-Status detail and tests).
 */
import type { HeaderList } from "../http1/header-list.ts";
import type { CacheDirectives } from "./cache-control.ts";
import { HEURISTIC_STATUS, hasExplicitFreshness } from "./freshness.ts";
import { varyFields } from "./vary.ts";

/**
 * Final statuses whose semantics we understand well enough to store (§3: "the response status
 * code is final" and "understood by the cache"). 206 is not here: partial responses are not
 * combined (§3.3), so they are never stored; 304 updates an entry instead (§4.3.4).
 */
const UNDERSTOOD: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501]);

export interface StorableInput {
  readonly method: string;
  readonly status: number;
  readonly requestHeaders: HeaderList;
  readonly requestCc: CacheDirectives;
  readonly responseHeaders: HeaderList;
  readonly responseCc: CacheDirectives;
  /** The route's store_set_cookie. */
  readonly allowSetCookie: boolean;
  /** The route's default_ttl (heuristic freshness ceiling); 0 = no heuristics. */
  readonly heuristicCapMs: number;
  /**
   * The request was authenticated on its way here (basic_auth, forward_auth), so it counts as
   * carrying Authorization even when the check removed the field or used a cookie (§3.5).
   */
  readonly authenticated?: boolean;
}

export function notStorableReason(x: StorableInput): string | null {
  // §3: "the request method is understood by the cache" — GET only; a HEAD response has no
  // body to answer a later GET with (§4.3.5 freshening is not done).
  if (x.method !== "GET") return "method";
  if (!UNDERSTOOD.has(x.status)) return "status";
  const rc = x.responseCc;
  if (rc.malformed) return "malformed-cache-control";
  if (x.requestCc.noStore || rc.noStore) return "no-store";
  // §3: "if the cache is shared: the private response directive is either not present or
  // allows a shared cache to store a modified response" — we never store private ones.
  if (rc.private) return "private";
  // §3.5: a request with Authorization only with public, s-maxage or must-revalidate.
  if ((x.authenticated || x.requestHeaders.has("authorization")) && !rc.public && rc.sMaxAge === null && !rc.mustRevalidate) return "authorization";
  // A cookie set for one client must not be replayed to others (nginx does the same by default).
  if (!x.allowSetCookie && x.responseHeaders.has("set-cookie")) return "set-cookie";
  // §4.1: Vary: * always fails to match; storing it would only waste memory.
  if (varyFields(x.responseHeaders) === "*") return "vary-star";
  const explicit = hasExplicitFreshness(x.responseHeaders, rc);
  const validator = x.responseHeaders.has("etag") || x.responseHeaders.has("last-modified");
  // §3: explicit freshness, public, or a heuristically cacheable status. Beyond the RFC's
  // minimum we also require that the entry can ever be used: fresh for a while, or
  // revalidatable with a validator.
  const heuristic = x.heuristicCapMs > 0 && (HEURISTIC_STATUS.has(x.status) || rc.public) && x.responseHeaders.has("last-modified");
  if (!explicit && !rc.public && !HEURISTIC_STATUS.has(x.status)) return "no-freshness";
  if (!explicit && !heuristic && !validator) return "no-freshness";
  if (rc.noCache && !validator) return "no-cache-without-validator";
  return null;
}
