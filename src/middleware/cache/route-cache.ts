/**
 * The shared response cache of one proxy route (RFC 9111; docs/caching.md): lookup, hits
 * answered from memory, request collapsing, revalidation, stale-while-revalidate and
 * stale-if-error (RFC 5861), and invalidation by unsafe methods (§4.4).
 */
import type { RouteCacheConfig, Template } from "../../config/config.ts";
import { renderTemplate } from "../../config/template.ts";
import type { Exchange, Handler, PreparedHeaders } from "../../handler.ts";
import { prepareHeaders } from "../../http1/serialize.ts";
import { metrics, type CounterChild } from "../../observe/metrics.ts";
import { emptyDirectives, parseCacheControl, type CacheDirectives } from "../../cache/cache-control.ts";
import { clientNotModified, notModifiedFields } from "../../cache/build-entry.ts";
import type { CacheEntry } from "../../cache/entry.ts";
import { formatCacheStatus, type CacheStatus, type ForwardReason } from "../../cache/cache-status.ts";
import { currentAge } from "../../cache/freshness.ts";
import { rangeOfEntry } from "../../cache/entry-range.ts";
import { currentProcessCache, type Fill, type ResponseCache } from "../../cache/response-cache.ts";
import { secondaryKey } from "../../cache/vary.ts";
import { NAMESPACE_END } from "../../cache/store.ts";
import { normalizeHost } from "../../router/host.ts";
import { deriveHead, originalHead } from "../derive-head.ts";
import { templateContext } from "../template-context.ts";
import { DetachedExchange } from "./detached-exchange.ts";
import { FillingExchange } from "./filling-exchange.ts";
import { InvalidatingExchange } from "./invalidate.ts";
import { CacheStatusExchange } from "./status-exchange.ts";

export type CacheResult = "hit" | "stale" | "miss" | "expired" | "revalidated" | "bypass";
const RESULTS: readonly CacheResult[] = ["hit", "stale", "miss", "expired", "revalidated", "bypass"];

const cacheBytes = metrics.gauge("dreamserver_cache_bytes", "Bytes charged to the response cache (bodies, fields, keys), against [cache] memory.").labels();
const cacheEntries = metrics.gauge("dreamserver_cache_entries", "Responses stored in the response cache (Vary variants counted one by one).").labels();
metrics.onCollect(() => {
  const c = currentProcessCache();
  cacheBytes.set(c?.store.bytes ?? 0);
  cacheEntries.set(c?.store.entries ?? 0);
});
const requestsTotal = metrics.counter("dreamserver_cache_requests", "Requests on cached routes by cache result (hit, stale, miss, expired, revalidated, bypass).", ["route", "result"]);

/** Hit heads serialized once per (entry, age): the per-second Age is the only thing that changes. */
interface HitMemo {
  age: number;
  head: PreparedHeaders;
}

/**
 * Request fields that make us step aside: preconditions we do not evaluate. (Range is answered
 * from a stored entry, see serve(); If-Range only matters with Range, §13.1.5.)
 */
const BYPASS_FIELDS = ["if-match", "if-unmodified-since"] as const;

/** The template is exactly "{host}{uri}" (the default key). */
function isHostUriTemplate(t: Template): boolean {
  const p = t.parts;
  return p.length === 2 && "placeholder" in p[0]! && p[0].placeholder === "host" && "placeholder" in p[1]! && p[1].placeholder === "uri";
}

export class RouteCache {
  private readonly counters: Record<CacheResult, CounterChild>;
  private readonly memo = new WeakMap<CacheEntry, HitMemo>();
  /** Prefix of this route's stored keys. */
  readonly ns: string;
  /** The key template is the default "{host}{uri}" (keyOf's fast path). */
  private readonly defaultKey: boolean;

  constructor(
    readonly cfg: RouteCacheConfig,
    readonly cache: ResponseCache,
    private readonly next: Handler,
    /** Collapsed waiters wait at most this long (the route's upstream first-byte timeout). */
    private readonly waitMs: number,
    routeLabel: string,
    /** Keeps this route's entries apart from other routes' (src/cache/store.ts NAMESPACE_END). */
    namespace: string,
    /** The route authenticates requests (basic_auth, forward_auth): responses are stored only when §3.5 allows. */
    readonly authenticated = false,
  ) {
    this.ns = namespace + NAMESPACE_END;
    this.defaultKey = isHostUriTemplate(cfg.key);
    this.counters = {} as Record<CacheResult, CounterChild>;
    for (const r of RESULTS) this.counters[r] = requestsTotal.labels(routeLabel, r);
  }

  count(r: CacheResult): void {
    this.counters[r].inc();
  }

  handle(ex: Exchange, collapsed = false): void {
    const h = ex.head;
    const m = h.method;
    if (m !== "GET" && m !== "HEAD") {
      if (m === "OPTIONS" || m === "TRACE") this.next(ex);
      // §4.4: any other method is unsafe (or of unknown safety).
      else this.next(new InvalidatingExchange(ex, this));
      return;
    }
    const rh = h.headers;
    if (h.upgrade !== null || rh.has(BYPASS_FIELDS[0]) || rh.has(BYPASS_FIELDS[1])) return this.bypass(ex);
    const reqCc = rh.has("cache-control") ? parseCacheControl(rh.getAll("cache-control")) : NO_DIRECTIVES;
    const key = this.keyOf(ex);
    const now = this.cache.now();
    const variants = this.cache.store.lookup(key);
    let entry: CacheEntry | null = null;
    if (variants !== undefined) {
      for (const v of variants) {
        if (v.vary.length === 0 || secondaryKey(v.vary, rh) === v.secondary) {
          entry = v;
          break;
        }
      }
    }
    const obey = this.cfg.clientNoCache === "revalidate";
    let ttl = 0;
    if (entry !== null) {
      const age = currentAge(entry.age, now);
      ttl = entry.lifetime - age;
      const clientNoCache = obey && reqCc.noCache;
      // §5.2.1.1 with whole-second ages: an age of 0 does not prove the entry is 0 s old, so
      // max-age=0 (a browser's reload) always revalidates, as no-cache does.
      const maxAgeOk = !obey || reqCc.maxAge === null || (age <= reqCc.maxAge && reqCc.maxAge > 0);
      const minFreshOk = !obey || reqCc.minFresh === null || ttl >= reqCc.minFresh;
      if (ttl > 0 && !entry.cc.noCache && !clientNoCache && maxAgeOk && minFreshOk) {
        return this.serve(ex, entry, now, { hit: true, ttl, collapsed: collapsed || undefined }, "HIT", "hit");
      }
      // §4.2.4: stale only when nothing forbids it; the client's max-stale (§5.2.1.2) allows it.
      if (ttl <= 0 && this.mayServeStale(entry) && !clientNoCache && reqCc.maxStale !== null && -ttl <= reqCc.maxStale) {
        return this.serve(ex, entry, now, { hit: true, ttl, collapsed: collapsed || undefined }, "STALE", "stale");
      }
      if (reqCc.onlyIfCached) return this.onlyIfCached(ex);
      const swr = this.staleWhileRevalidate(entry);
      if (ttl <= 0 && !clientNoCache && !entry.cc.noCache && swr > 0 && -ttl <= swr) {
        // RFC 5861 §3: answer stale now, one background request refreshes the entry.
        if (this.cache.fillOf(key) === undefined) this.revalidateInBackground(ex, key, entry, reqCc, now);
        return this.serve(ex, entry, now, { hit: true, ttl, detail: "stale-while-revalidate" }, "STALE", "stale");
      }
    } else if (reqCc.onlyIfCached) return this.onlyIfCached(ex);
    // A Range request the stored entry cannot answer goes to the backend unchanged and stores
    // nothing (206 is never stored, and no full-body fill is started for it).
    if (m === "GET" && rh.has("range")) return this.bypass(ex);
    if (!collapsed) {
      const fill = this.cache.fillOf(key);
      if (fill !== undefined) return this.wait(ex, fill);
    }
    // RFC 9211 §2.2: "request" = a fresh entry the request's directives did not allow.
    const fwd: ForwardReason = entry !== null ? (ttl > 0 && !entry.cc.noCache ? "request" : "stale") : variants !== undefined ? "vary-miss" : "uri-miss";
    const fill = this.cache.startFill(key);
    this.next(new FillingExchange(ex, this, key, entry, reqCc, fwd, fill, now, collapsed));
  }

  keyOf(ex: Exchange): string {
    // The default key "{host}{uri}" without a template context per request (a cache hit's
    // largest cost after the store lookup); the same text renderTemplate gives.
    if (this.defaultKey) {
      const h = originalHead(ex.head);
      return this.ns + normalizeHost(h.host) + h.path + h.query;
    }
    return this.ns + renderTemplate(this.cfg.key, templateContext(ex));
  }

  /** Answer from a stored entry: 304 when the client's validators match, else the stored response with Age. */
  serve(ex: Exchange, e: CacheEntry, now: number, status: CacheStatus, logResult: string, result: CacheResult): void {
    const age = currentAge(e.age, now);
    ex.log.cache = logResult;
    this.count(result);
    const rh = ex.head.headers;
    if ((rh.has("if-none-match") || rh.has("if-modified-since")) && clientNotModified(rh, e)) {
      const f = notModifiedFields(e);
      f.push(["Age", String(age)], ["Cache-Status", formatCacheStatus({ ...status, ttl: e.lifetime - age })]);
      ex.respond(304, f);
      return;
    }
    // §14.2: Range is only defined for GET; a HEAD with Range gets the 200 head.
    if (ex.head.method === "GET" && rh.has("range")) {
      const r = rangeOfEntry(rh, e);
      if (r.kind !== "full") {
        const ageCs: [string, string][] = [["Age", String(age)], ["Cache-Status", formatCacheStatus({ ...status, ttl: e.lifetime - age })]];
        // The 416 is our error page: the stored Content-Type etc. do not describe it.
        if (r.kind === "unsatisfiable") return ex.sendError(416, "RANGE_NOT_SATISFIABLE", [["Content-Range", r.contentRange], ...ageCs]);
        ex.respond(206, [...e.headers, ...ageCs, ["Content-Range", r.contentRange]], e.body.subarray(r.range.start, r.range.end + 1));
        return;
      }
    }
    if (status.hit && status.ttl !== undefined && status.ttl > 0 && !status.collapsed) {
      // The common case: a fresh hit. Its head is serialized once per second of age.
      let memo = this.memo.get(e);
      if (memo === undefined || memo.age !== age) {
        memo = { age, head: prepareHeaders([...e.headers, ["Age", String(age)], ["Cache-Status", formatCacheStatus({ hit: true, ttl: e.lifetime - age })]]) };
        this.memo.set(e, memo);
      }
      ex.respond(e.status, memo.head, e.body);
      return;
    }
    ex.respond(e.status, [...e.headers, ["Age", String(age)], ["Cache-Status", formatCacheStatus({ ...status, ttl: e.lifetime - age })]], e.body);
  }

  /** §4.2.4: must-revalidate and no-cache always forbid stale; s-maxage and proxy-revalidate do unless the response itself allows stale (RFC 5861). */
  private mayServeStale(e: CacheEntry): boolean {
    return !e.cc.noCache && !e.cc.mustRevalidate && e.cc.sMaxAge === null && !e.cc.proxyRevalidate;
  }

  private staleWhileRevalidate(e: CacheEntry): number {
    if (e.cc.noCache || e.cc.mustRevalidate) return -1;
    if (e.cc.staleWhileRevalidate !== null) return e.cc.staleWhileRevalidate;
    return this.mayServeStale(e) ? this.cfg.staleWhileRevalidateMs / 1000 : -1;
  }

  /** RFC 5861 §4: may a stale entry answer for a failed upstream (now)? */
  staleIfErrorAllows(e: CacheEntry): boolean {
    if (e.cc.noCache || e.cc.mustRevalidate) return false;
    const window = e.cc.staleIfError !== null ? e.cc.staleIfError : this.mayServeStale(e) ? this.cfg.staleIfErrorMs / 1000 : -1;
    if (window <= 0) return false;
    const ttl = e.lifetime - currentAge(e.age, this.cache.now());
    return -ttl <= window;
  }

  private bypass(ex: Exchange): void {
    ex.log.cache = "BYPASS";
    this.count("bypass");
    this.next(new CacheStatusExchange(ex, BYPASS_STATUS));
  }

  /** §5.2.1.7: nothing usable stored → 504. */
  private onlyIfCached(ex: Exchange): void {
    ex.log.cache = "MISS";
    this.count("miss");
    ex.sendError(504, "CACHE_ONLY_IF_CACHED", [["Cache-Status", formatCacheStatus({ fwd: "miss", detail: "only-if-cached" })]]);
  }

  /** Request collapsing: wait for the fill in flight, at most waitMs, then look again. */
  private wait(ex: Exchange, fill: Fill): void {
    let done = false;
    const resume = (): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      ex.onAbort = null;
      this.handle(ex, true);
    };
    const timer = setTimeout(() => {
      fill.cancel(resume);
      resume();
    }, this.waitMs);
    fill.wait(resume);
    ex.onAbort = () => {
      done = true;
      clearTimeout(timer);
      fill.cancel(resume);
    };
  }

  private revalidateInBackground(ex: Exchange, key: string, entry: CacheEntry, reqCc: CacheDirectives, now: number): void {
    const fill = this.cache.startFill(key);
    // A GET even when the client sent HEAD: the entry needs the body if the response changed.
    const head = deriveHead(ex.head, { method: "GET" });
    const bg = new DetachedExchange(ex, head, () => {});
    this.next(new FillingExchange(bg, this, key, entry, reqCc, "stale", fill, now, false, true));
  }
}

const BYPASS_STATUS = formatCacheStatus({ fwd: "bypass" });
const NO_DIRECTIVES: CacheDirectives = Object.freeze(emptyDirectives()) as CacheDirectives;
