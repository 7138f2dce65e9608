/**
 * The Cache-Status response field (RFC 9211). Pure, no Bun imports.
 *
 *   Cache-Status: DreamServer; hit; ttl=42
 *   Cache-Status: DreamServer; fwd=miss; stored; collapsed
 *   Cache-Status: DreamServer; fwd=stale; fwd-status=304; ttl=60
 *   Cache-Status: DreamServer; hit; ttl=-3; detail=stale-if-error
 * A negative ttl means a stale response was served (RFC 9211 §2.3).
 */

/** RFC 9211 §2.2 fwd values we use. */
export type ForwardReason = "bypass" | "method" | "uri-miss" | "vary-miss" | "miss" | "request" | "stale";

export interface CacheStatus {
  hit?: boolean;
  fwd?: ForwardReason;
  fwdStatus?: number;
  stored?: boolean;
  /** Remaining freshness in seconds (negative: stale). */
  ttl?: number;
  collapsed?: boolean;
  /** An sf-token naming an implementation detail, e.g. stale-if-error. */
  detail?: string;
}

/** The cache's identifier in the field: an sf-token (RFC 8941 §3.3.4). */
export const CACHE_NAME = "DreamServer";

export function formatCacheStatus(s: CacheStatus, name = CACHE_NAME): string {
  let out = name;
  if (s.hit) out += "; hit";
  if (s.fwd !== undefined) out += "; fwd=" + s.fwd;
  if (s.fwdStatus !== undefined) out += "; fwd-status=" + s.fwdStatus;
  if (s.stored) out += "; stored";
  if (s.collapsed) out += "; collapsed";
  if (s.ttl !== undefined) out += "; ttl=" + Math.trunc(s.ttl);
  if (s.detail !== undefined) out += "; detail=" + s.detail;
  return out;
}

/** The short form written to the access log's cache field: HIT, MISS, STALE, BYPASS … */
export function logCacheResult(s: CacheStatus): string {
  if (s.hit) return s.ttl !== undefined && s.ttl < 0 ? "STALE" : "HIT";
  switch (s.fwd) {
    case "stale":
      return s.fwdStatus === 304 ? "REVALIDATED" : "EXPIRED";
    case "bypass":
    case "method":
    case "request":
      return "BYPASS";
    default:
      return "MISS";
  }
}
