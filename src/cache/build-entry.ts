/**
 * Building stored entries: from a received response (§3), and by merging a 304 into a stored
 * one (§4.3.4). Also the client-side conditional check a hit answers (RFC 9110 §13.2.2 steps
 * 3–4). Pure, no Bun imports.
 */
import { HeaderList } from "../http1/header-list.ts";
import { asciiLower, trimOws } from "../http1/field-syntax.ts";
import { parseEntityTags, singleDate } from "../static/conditional.ts";
import { parseHttpDate } from "../static/http-date.ts";
import { parseCacheControl } from "./cache-control.ts";
import { entrySize, type CacheEntry } from "./entry.ts";
import { ageInputs, freshnessLifetime } from "./freshness.ts";

/** Fields never stored: recomputed per answer (Age, Cache-Status) or framing (Content-Length, RFC 9111 §3.1). */
const NOT_STORED: ReadonlySet<string> = new Set(["age", "cache-status", "content-length", "transfer-encoding", "connection", "keep-alive"]);
/** Fields a 304 must not change in the stored response (§3.2: framing and the representation's coding). */
const NOT_UPDATED: ReadonlySet<string> = new Set([...NOT_STORED, "content-encoding", "content-range", "content-type", "vary", "set-cookie"]);

/** The entry's identity, status, fields and body as received; the rest is derived from them. */
export interface ReceivedResponse extends Pick<CacheEntry, "key" | "secondary" | "vary" | "status" | "headers" | "body"> {
  readonly requestTime: number;
  readonly responseTime: number;
  /** The origin's Date when the relayed head lacks it (the engine writes its own Date). */
  readonly upstreamDate?: string | undefined;
  /** The route's default_ttl (heuristic ceiling). */
  readonly heuristicCapMs: number;
}

export function headerListOf(pairs: ReadonlyArray<readonly [string, string]>): HeaderList {
  const l = new HeaderList();
  for (const [k, v] of pairs) l.add(k, v);
  return l;
}

function withDate(list: HeaderList, upstreamDate: string | undefined): HeaderList {
  if (upstreamDate !== undefined && !list.has("date")) list.add("Date", upstreamDate, "date");
  return list;
}

/** The entry for a complete response received for a request sent at requestTime. */
export function buildEntry(r: ReceivedResponse): CacheEntry {
  const all = withDate(headerListOf(r.headers), r.upstreamDate);
  const stored: [string, string][] = [];
  for (const [k, v] of r.headers) if (!NOT_STORED.has(asciiLower(k))) stored.push([k, v]);
  const cc = parseCacheControl(all.getAll("cache-control"));
  const age = ageInputs(all, r.requestTime, r.responseTime);
  return {
    key: r.key,
    secondary: r.secondary,
    vary: r.vary,
    status: r.status,
    headers: stored,
    body: r.body,
    age,
    lifetime: freshnessLifetime(r.status, all, cc, age.dateValue, r.heuristicCapMs),
    cc,
    etag: all.get("etag") ?? null,
    lastModified: all.get("last-modified") ?? null,
    size: entrySize(r.key, r.secondary, stored, r.body),
  };
}

/**
 * §4.3.4: a 304 to our conditional request freshens the stored response: its fields replace
 * every stored line of the same name (framing and coding fields excepted), and the age
 * arithmetic restarts from this exchange. The body stays.
 */
export function mergeNotModified(
  stored: CacheEntry,
  notModified: ReadonlyArray<readonly [string, string]>,
  requestTime: number,
  responseTime: number,
  upstreamDate: string | undefined,
  heuristicCapMs: number,
): CacheEntry {
  const replaced = new Set<string>();
  for (const [k] of notModified) {
    const l = asciiLower(k);
    if (!NOT_UPDATED.has(l)) replaced.add(l);
  }
  const headers: [string, string][] = [];
  for (const [k, v] of stored.headers) if (!replaced.has(asciiLower(k))) headers.push([k, v]);
  for (const [k, v] of notModified) if (replaced.has(asciiLower(k))) headers.push([k, v]);
  // The age inputs come from the 304 (its Date and Age), as for a newly received response.
  const fresh = withDate(headerListOf(notModified), upstreamDate);
  const age = ageInputs(fresh, requestTime, responseTime);
  const all = headerListOf(headers);
  const cc = parseCacheControl(all.getAll("cache-control"));
  return {
    ...stored,
    headers,
    age,
    cc,
    lifetime: freshnessLifetime(stored.status, all, cc, age.dateValue, heuristicCapMs),
    etag: all.get("etag") ?? null,
    lastModified: all.get("last-modified") ?? null,
    size: entrySize(stored.key, stored.secondary, headers, stored.body),
  };
}

/**
 * Whether the client's If-None-Match / If-Modified-Since make this hit a 304 (RFC 9110
 * §13.2.2 steps 3–4; only for a 200). If-None-Match uses the weak comparison; when present,
 * If-Modified-Since is ignored.
 */
export function clientNotModified(request: HeaderList, e: CacheEntry): boolean {
  if (e.status !== 200) return false;
  if (request.has("if-none-match")) {
    if (e.etag === null) return false;
    const mine = parseEntityTags(e.etag);
    if (mine === null || mine.length !== 1) return false;
    for (const line of request.getAll("if-none-match")) {
      if (trimOws(line) === "*") return true;
      const tags = parseEntityTags(line);
      if (tags === null) return false;
      for (const t of tags) if (t.opaque === mine[0]!.opaque) return true;
    }
    return false;
  }
  if (e.lastModified !== null) {
    const since = singleDate(request, "if-modified-since");
    const lm = parseHttpDate(e.lastModified);
    return since !== null && lm !== null && lm <= since;
  }
  return false;
}

/** The stored fields a 304 to the client carries (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS: ReadonlySet<string> = new Set(["cache-control", "content-location", "etag", "expires", "vary", "last-modified"]);

export function notModifiedFields(e: CacheEntry): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of e.headers) if (NOT_MODIFIED_FIELDS.has(asciiLower(k))) out.push([k, v]);
  return out;
}
