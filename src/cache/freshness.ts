/**
 * Age and freshness arithmetic of a shared cache (RFC 9111 §4.2). Pure, no Bun imports.
 * All times are milliseconds since the epoch; ages and lifetimes are whole seconds as the
 * fields carry them.
 */
import { singleDate } from "../static/conditional.ts";
import type { HeaderList } from "../http1/header-list.ts";
import { deltaSeconds, DELTA_MAX, type CacheDirectives } from "./cache-control.ts";

/**
 * RFC 9110 §15.1: status codes "heuristically cacheable" — only these may get a heuristic
 * lifetime. (206 is also listed, but we never store partial responses.)
 */
export const HEURISTIC_STATUS: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** What the arithmetic needs from a stored response, fixed when it is stored or re-validated. */
export interface AgeInputs {
  /** Our clock when the request that produced the response was sent (§4.2.3 request_time). */
  readonly requestTime: number;
  /** Our clock when the response head arrived (response_time). */
  readonly responseTime: number;
  /** Date field, or responseTime when absent/invalid (RFC 9110 §6.6.1: the recipient adds one). */
  readonly dateValue: number;
  /** Age field in seconds, 0 when absent/invalid. */
  readonly ageValue: number;
}

/** The Age field (§5.1): delta-seconds; several lines or an invalid value → ignored (0). */
export function ageField(headers: HeaderList): number {
  if (headers.count("age") !== 1) return 0;
  const v = deltaSeconds(headers.get("age")!);
  return v < 0 ? 0 : v;
}

/** §4.2.3: the age of the stored response at `now`, in whole seconds. */
export function currentAge(a: AgeInputs, now: number): number {
  const apparentAge = Math.max(0, a.responseTime - a.dateValue) / 1000;
  const responseDelay = (a.responseTime - a.requestTime) / 1000;
  const correctedAgeValue = a.ageValue + responseDelay;
  const correctedInitialAge = Math.max(apparentAge, correctedAgeValue);
  const residentTime = (now - a.responseTime) / 1000;
  return Math.min(DELTA_MAX, Math.floor(correctedInitialAge + residentTime));
}

/**
 * §4.2.1 for a shared cache: s-maxage, then max-age, then Expires − Date; otherwise a heuristic
 * (§4.2.2) of 10 % of the time since Last-Modified, never above `heuristicCapMs`, and only when
 * that cap is above 0 (the route's default_ttl) and the status is heuristically cacheable or the
 * response says public. Returns seconds; 0 = stale at once.
 */
export function freshnessLifetime(status: number, headers: HeaderList, cc: CacheDirectives, dateValue: number, heuristicCapMs: number): number {
  if (cc.sMaxAge !== null) return cc.sMaxAge;
  if (cc.maxAge !== null) return cc.maxAge;
  if (headers.has("expires")) {
    // An invalid Expires (e.g. "0") means already expired (§5.3).
    const exp = singleDate(headers, "expires");
    if (exp === null) return 0;
    return Math.max(0, Math.floor((exp - dateValue) / 1000));
  }
  return heuristicLifetime(status, headers, cc, dateValue, heuristicCapMs);
}

/** Whether the response states its freshness (§4.2.1), i.e. no heuristic is involved. */
export function hasExplicitFreshness(headers: HeaderList, cc: CacheDirectives): boolean {
  return cc.sMaxAge !== null || cc.maxAge !== null || headers.has("expires");
}

function heuristicLifetime(status: number, headers: HeaderList, cc: CacheDirectives, dateValue: number, capMs: number): number {
  if (capMs <= 0) return 0;
  if (!HEURISTIC_STATUS.has(status) && !cc.public) return 0;
  const lm = singleDate(headers, "last-modified");
  if (lm === null || lm >= dateValue) return 0;
  return Math.floor(Math.min(capMs, (dateValue - lm) / 10) / 1000);
}

/** The stored inputs of a response received at responseTime for a request sent at requestTime. */
export function ageInputs(headers: HeaderList, requestTime: number, responseTime: number): AgeInputs {
  return { requestTime, responseTime, dateValue: singleDate(headers, "date") ?? responseTime, ageValue: ageField(headers) };
}
