/**
 * RFC 9111 (and RFC 5861) behaviour of the response cache middleware, as a table: each case
 * names its section, scripts the origin, and runs requests against a fake clock, checking
 * what the client got and how many requests reached the origin. The origin is a fake terminal
 * handler that answers like the proxy does (the Date field travels in ex.log.upstreamDate,
 * Content-Length is framing).
 */
import { describe, expect, test } from "bun:test";
import type { RouteCacheConfig, Template } from "../../src/config/config.ts";
import { parseTemplate } from "../../src/config/template.ts";
import type { Exchange } from "../../src/handler.ts";
import type { HeaderList } from "../../src/http1/header-list.ts";
import { formatHttpDate } from "../../src/static/http-date.ts";
import { ResponseCache } from "../../src/cache/response-cache.ts";
import { cacheResponses } from "../../src/middleware/cache/index.ts";
import { FakeExchange } from "./fake-exchange.ts";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

interface OriginReq {
  method: string;
  path: string;
  headers: HeaderList;
  /** 1-based count of origin requests so far (this one included). */
  n: number;
  now: number;
}
interface OriginAnswer {
  status?: number;
  headers?: [string, string][];
  body?: string;
  /** Date field (ms); default: now. null = no Date. */
  date?: number | null;
  /** Cut the body after half of it (a truncated upstream body). */
  truncate?: boolean;
  /** The upstream failed before answering (connect error): the proxy's sendError. */
  fail?: number;
}
type Origin = (r: OriginReq) => OriginAnswer;

interface Step {
  /** Seconds to advance the clock before this request. */
  wait?: number;
  method?: string;
  path?: string;
  headers?: [string, string][];
  status: number;
  body?: string;
  /** Origin requests so far, after this step. */
  hits: number;
  cacheStatus?: RegExp;
  age?: string;
  /** Response header checks. */
  has?: [string, string][];
  /** What the last origin request carried (checked after the step). */
  originSaw?: [string, string | null][];
}

interface Case {
  name: string;
  cfg?: Partial<RouteCacheConfig>;
  maxObject?: number;
  origin: Origin;
  steps: Step[];
}

const tpl = (s: string): Template => parseTemplate(s) as Template;

function harness(c: Case) {
  let now = T0;
  let hits = 0;
  let last: OriginReq | null = null;
  const cache = new ResponseCache({ memory: 1 << 20, maxObject: c.maxObject ?? 64 * 1024 }, () => now);
  const cfg: RouteCacheConfig = { defaultTtlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, key: tpl("{host}{uri}"), clientNoCache: "revalidate", storeSetCookie: false, ...c.cfg };
  const terminal = (ex: Exchange): void => {
    hits++;
    const req: OriginReq = { method: ex.head.method, path: ex.head.path + ex.head.query, headers: ex.head.headers, n: hits, now };
    last = req;
    const a = c.origin(req);
    if (a.fail !== undefined) return ex.sendError(a.fail, "UPSTREAM_CONNECT");
    const date = a.date === undefined ? now : a.date;
    if (date !== null) ex.log.upstreamDate = formatHttpDate(date);
    const body = Buffer.from(a.body ?? "");
    const status = a.status ?? 200;
    const bodiless = ex.head.method === "HEAD" || status === 304 || status === 204;
    ex.startResponse(status, a.headers ?? [], bodiless ? null : body.length);
    if (bodiless) return ex.end();
    if (a.truncate) {
      ex.write(body.subarray(0, body.length >> 1));
      return ex.abort("UPSTREAM_TRUNCATED");
    }
    ex.write(body.subarray(0, 3));
    ex.write(body.subarray(3));
    ex.end();
  };
  const handler = cacheResponses(cfg, cache, 1000, "t")(terminal);
  return {
    cache,
    run(s: Step) {
      now += (s.wait ?? 0) * 1000;
      const ex = new FakeExchange({ method: s.method ?? "GET", target: s.path ?? "/a", headers: s.headers ?? [] });
      handler(ex);
      return { ex, hits, last: last as OriginReq | null };
    },
  };
}

const maxAge = (n: number, extra: [string, string][] = []): OriginAnswer => ({ headers: [["Cache-Control", `max-age=${n}`], ...extra], body: "v1" });
const versioned =
  (cc: string, extra: [string, string][] = []): Origin =>
  (r) => ({ headers: [["Cache-Control", cc], ...extra], body: `v${r.n}` });

const CASES: Case[] = [
  // ---- §3 storing ----------------------------------------------------------------------
  {
    name: "§3 a 200 with max-age is stored; the second GET is a hit",
    origin: () => maxAge(60),
    steps: [
      { status: 200, body: "v1", hits: 1, cacheStatus: /^DreamServer; fwd=uri-miss; fwd-status=200; stored$/ },
      { wait: 5, status: 200, body: "v1", hits: 1, cacheStatus: /^DreamServer; hit; ttl=55$/, age: "5" },
    ],
  },
  { name: "§3 no-store is never stored", origin: versioned("no-store, max-age=60"), steps: [{ status: 200, body: "v1", hits: 1 }, { status: 200, body: "v2", hits: 2 }] },
  { name: "§3 private is not stored by a shared cache", origin: versioned("private, max-age=60"), steps: [{ status: 200, body: "v1", hits: 1 }, { status: 200, body: "v2", hits: 2 }] },
  { name: "§3 request no-store: not stored", origin: versioned("max-age=60"), steps: [{ headers: [["Cache-Control", "no-store"]], status: 200, body: "v1", hits: 1 }, { status: 200, body: "v2", hits: 2 }] },
  { name: "§3 a malformed Cache-Control is not trusted", origin: versioned('max-age=60, "oops"'), steps: [{ status: 200, hits: 1 }, { status: 200, body: "v2", hits: 2 }] },
  { name: "§3 a 500 is not stored even with max-age", origin: (r) => ({ status: 500, headers: [["Cache-Control", "max-age=60"]], body: `e${r.n}` }), steps: [{ status: 500, hits: 1 }, { status: 500, body: "e2", hits: 2 }] },
  { name: "§3.3 a 206 is never stored", origin: (r) => ({ status: 206, headers: [["Cache-Control", "max-age=60"], ["Content-Range", "bytes 0-1/10"]], body: `p${r.n}` }), steps: [{ status: 206, hits: 1 }, { status: 206, body: "p2", hits: 2 }] },
  { name: "§3 a 404 with max-age is stored", origin: (r) => ({ status: 404, headers: [["Cache-Control", "max-age=60"]], body: `nf${r.n}` }), steps: [{ status: 404, hits: 1 }, { status: 404, body: "nf1", hits: 1 }] },
  {
    name: "§3 no explicit freshness and no validator: not stored",
    origin: (r) => ({ body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { status: 200, body: "v2", hits: 2 }],
  },
  {
    name: "§3.5 a request with Authorization is not stored without public/s-maxage/must-revalidate",
    origin: versioned("max-age=60"),
    steps: [
      { headers: [["Authorization", "Basic YTpi"]], status: 200, body: "v1", hits: 1 },
      { headers: [["Authorization", "Basic YTpi"]], status: 200, body: "v2", hits: 2 },
    ],
  },
  {
    name: "§3.5 Authorization with s-maxage is stored",
    origin: versioned("s-maxage=60"),
    steps: [
      { headers: [["Authorization", "Basic YTpi"]], status: 200, body: "v1", hits: 1 },
      { headers: [["Authorization", "Basic YTpi"]], status: 200, body: "v1", hits: 1 },
    ],
  },
  { name: "§3 Set-Cookie responses are not stored by default", origin: versioned("max-age=60", [["Set-Cookie", "a=1"]]), steps: [{ status: 200, hits: 1 }, { status: 200, body: "v2", hits: 2 }] },
  {
    name: "§3 Set-Cookie responses are stored with store_set_cookie",
    cfg: { storeSetCookie: true },
    origin: versioned("max-age=60", [["Set-Cookie", "a=1"]]),
    steps: [{ status: 200, hits: 1 }, { status: 200, body: "v1", hits: 1, has: [["set-cookie", "a=1"]] }],
  },
  {
    name: "§3 a truncated upstream body is never stored",
    origin: (r) => ({ headers: [["Cache-Control", "max-age=60"]], body: `v${r.n}-0123456789`, truncate: r.n === 1 }),
    steps: [{ status: 200, hits: 1 }, { status: 200, body: "v2-0123456789", hits: 2 }, { status: 200, body: "v2-0123456789", hits: 2 }],
  },
  {
    name: "§3 a body over max_object streams through uncached",
    maxObject: 10,
    origin: (r) => ({ headers: [["Cache-Control", "max-age=60"]], body: `v${r.n}-0123456789abcdef` }),
    steps: [{ status: 200, body: "v1-0123456789abcdef", hits: 1, cacheStatus: /fwd=uri-miss; fwd-status=200$/ }, { status: 200, body: "v2-0123456789abcdef", hits: 2 }],
  },

  // ---- §4.2 freshness ------------------------------------------------------------------
  {
    name: "§4.2.1 s-maxage wins over max-age in a shared cache",
    origin: versioned("max-age=100, s-maxage=10"),
    steps: [{ status: 200, hits: 1 }, { wait: 9, status: 200, body: "v1", hits: 1 }, { wait: 2, status: 200, body: "v2", hits: 2 }],
  },
  {
    name: "§4.2.1 Expires − Date gives the lifetime",
    origin: (r) => ({ headers: [["Expires", formatHttpDate(r.now + 30_000)]], body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { wait: 29, status: 200, body: "v1", hits: 1 }, { wait: 2, status: 200, body: "v2", hits: 2 }],
  },
  {
    name: "§5.3 an invalid Expires means already expired",
    origin: (r) => ({ headers: [["Expires", "0"], ["ETag", '"e"']], body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { status: 200, body: "v2", hits: 2 }],
  },
  {
    name: "§4.2.3 an Age from upstream counts against max-age, and the Age we send includes it",
    origin: (r) => ({ headers: [["Cache-Control", "max-age=60"], ["Age", "50"]], body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { wait: 5, status: 200, body: "v1", hits: 1, age: "55" }, { wait: 6, status: 200, body: "v2", hits: 2 }],
  },
  {
    name: "§4.2.3 a Date in the past makes the response older (apparent_age)",
    origin: (r) => ({ headers: [["Cache-Control", "max-age=60"]], body: `v${r.n}`, date: r.now - 40_000 }),
    steps: [{ status: 200, hits: 1 }, { wait: 1, status: 200, body: "v1", hits: 1, age: "41" }, { wait: 20, status: 200, body: "v2", hits: 2 }],
  },
  {
    name: "§4.2.2 no heuristic freshness with default_ttl = 0: Last-Modified alone means revalidate",
    origin: (r) => ({ headers: [["Last-Modified", formatHttpDate(T0 - 100 * 86400_000)]], body: `v${r.n}` }),
    steps: [
      { status: 200, hits: 1 },
      { status: 200, body: "v2", hits: 2, originSaw: [["if-modified-since", formatHttpDate(T0 - 100 * 86400_000)]] },
    ],
  },
  {
    name: "§4.2.2 heuristic freshness from Last-Modified, at most default_ttl",
    cfg: { defaultTtlMs: 3600_000 },
    origin: (r) => ({ headers: [["Last-Modified", formatHttpDate(T0 - 100 * 86400_000)]], body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { wait: 3599, status: 200, body: "v1", hits: 1 }, { wait: 2, status: 200, body: "v2", hits: 2 }],
  },

  // ---- §4.1 Vary -----------------------------------------------------------------------
  {
    name: "§4.1 Vary: Accept-Encoding keeps one variant per normalised value",
    origin: (r) => ({ headers: [["Cache-Control", "max-age=60"], ["Vary", "Accept-Encoding"]], body: `v${r.n}:${r.headers.get("accept-encoding") ?? ""}` }),
    steps: [
      { headers: [["Accept-Encoding", "gzip, br"]], status: 200, body: "v1:gzip, br", hits: 1 },
      { headers: [["Accept-Encoding", "br,gzip"]], status: 200, body: "v1:gzip, br", hits: 1 },
      { headers: [["Accept-Encoding", "gzip"]], status: 200, body: "v2:gzip", hits: 2, cacheStatus: /fwd=vary-miss/ },
      { headers: [["accept-encoding", "GZIP"]], status: 200, body: "v2:gzip", hits: 2 },
      { status: 200, body: "v3:", hits: 3 },
      { headers: [["Accept-Encoding", "gzip, br"]], status: 200, body: "v1:gzip, br", hits: 3 },
    ],
  },
  {
    name: "§4.1 Vary: * is never served from the cache",
    origin: versioned("max-age=60", [["Vary", "*"]]),
    steps: [{ status: 200, hits: 1 }, { status: 200, body: "v2", hits: 2 }],
  },

  // ---- §4.3 validation -----------------------------------------------------------------
  {
    name: "§4.3.1/§4.3.4 a stale entry is revalidated with If-None-Match; a 304 freshens it and merges fields",
    origin: (r) =>
      r.n === 1
        ? { headers: [["Cache-Control", "max-age=10"], ["ETag", '"e1"'], ["X-Version", "1"], ["Content-Type", "text/plain"]], body: "body-1" }
        : { status: 304, headers: [["Cache-Control", "max-age=100"], ["ETag", '"e1"'], ["X-Version", "2"]] },
    steps: [
      { status: 200, body: "body-1", hits: 1 },
      { wait: 11, status: 200, body: "body-1", hits: 2, cacheStatus: /fwd=stale; fwd-status=304/, has: [["x-version", "2"], ["content-type", "text/plain"]], originSaw: [["if-none-match", '"e1"']] },
      { wait: 90, status: 200, body: "body-1", hits: 2, cacheStatus: /hit; ttl=10$/, has: [["x-version", "2"]] },
    ],
  },
  {
    name: "§4.3.2 the client's own validators are answered by the cache, not forwarded",
    origin: () => ({ headers: [["Cache-Control", "max-age=60"], ["ETag", '"e1"'], ["Last-Modified", formatHttpDate(T0 - 1000_000)]], body: "x" }),
    steps: [
      { headers: [["If-None-Match", '"e1"']], status: 200, body: "x", hits: 1, originSaw: [["if-none-match", null]] },
      { headers: [["If-None-Match", 'W/"e1", "zz"']], status: 304, hits: 1, has: [["etag", '"e1"']] },
      { headers: [["If-Modified-Since", formatHttpDate(T0)]], status: 304, hits: 1 },
      { headers: [["If-None-Match", '"other"']], status: 200, body: "x", hits: 1 },
    ],
  },
  {
    name: "§5.2.2.4 a no-cache response is stored but revalidated every time",
    origin: (r) => (r.n === 1 ? { headers: [["Cache-Control", "no-cache"], ["ETag", '"n"']], body: "nc" } : { status: 304, headers: [["ETag", '"n"']] }),
    steps: [{ status: 200, body: "nc", hits: 1 }, { status: 200, body: "nc", hits: 2, cacheStatus: /fwd-status=304/ }, { status: 200, body: "nc", hits: 3 }],
  },
  {
    name: "§4.3.3 a 200 to a revalidation replaces the entry",
    origin: (r) => ({ headers: [["Cache-Control", "max-age=10"], ["ETag", `"e${r.n}"`]], body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { wait: 11, status: 200, body: "v2", hits: 2, originSaw: [["if-none-match", '"e1"']] }, { status: 200, body: "v2", hits: 2 }],
  },

  // ---- §5.2.1 request directives --------------------------------------------------------
  { name: "§5.2.1.1 request max-age=0 revalidates even at age 0 (ages have whole-second resolution)", origin: versioned("max-age=60", [["ETag", '"e"']]), steps: [{ status: 200, hits: 1 }, { headers: [["Cache-Control", "max-age=0"]], status: 200, body: "v2", hits: 2, cacheStatus: /fwd=request; fwd-status=200/, originSaw: [["if-none-match", '"e"']] }] },
  { name: "§5.2.1.1 request max-age=0 forces revalidation", origin: versioned("max-age=60", [["ETag", '"e"']]), steps: [{ status: 200, hits: 1 }, { wait: 1, headers: [["Cache-Control", "max-age=0"]], status: 200, body: "v2", hits: 2, originSaw: [["if-none-match", '"e"']] }] },
  { name: "§5.2.1.3 min-fresh beyond the remaining lifetime goes upstream", origin: versioned("max-age=60"), steps: [{ status: 200, hits: 1 }, { wait: 30, headers: [["Cache-Control", "min-fresh=40"]], status: 200, body: "v2", hits: 2 }, { wait: 1, headers: [["Cache-Control", "min-fresh=10"]], status: 200, body: "v2", hits: 2 }] },
  { name: "§5.2.1.2 max-stale lets a stale entry be served", origin: versioned("max-age=10"), steps: [{ status: 200, hits: 1 }, { wait: 20, headers: [["Cache-Control", "max-stale=15"]], status: 200, body: "v1", hits: 1, cacheStatus: /hit; ttl=-10/ }, { headers: [["Cache-Control", "max-stale=5"]], status: 200, body: "v2", hits: 2 }] },
  { name: "§5.2.2.2 must-revalidate forbids serving stale even with max-stale", origin: versioned("max-age=10, must-revalidate"), steps: [{ status: 200, hits: 1 }, { wait: 20, headers: [["Cache-Control", "max-stale"]], status: 200, body: "v2", hits: 2 }] },
  { name: "§5.2.1.7 only-if-cached with nothing stored → 504", origin: versioned("max-age=60"), steps: [{ headers: [["Cache-Control", "only-if-cached"]], status: 504, hits: 0 }, { status: 200, hits: 1 }, { headers: [["Cache-Control", "only-if-cached"]], status: 200, body: "v1", hits: 1 }] },
  { name: "§5.2.1.4 request no-cache goes to the origin (client_no_cache = revalidate)", origin: versioned("max-age=60"), steps: [{ status: 200, hits: 1 }, { headers: [["Cache-Control", "no-cache"]], status: 200, body: "v2", hits: 2, cacheStatus: /fwd=request/ }, { status: 200, body: "v2", hits: 2 }] },
  { name: "§5.2.1.4 request no-cache ignored with client_no_cache = ignore (nginx default)", cfg: { clientNoCache: "ignore" }, origin: versioned("max-age=60"), steps: [{ status: 200, hits: 1 }, { headers: [["Cache-Control", "no-cache, max-age=0"]], status: 200, body: "v1", hits: 1 }] },

  // ---- RFC 5861 stale-* -----------------------------------------------------------------
  {
    name: "RFC 5861 §3 stale-while-revalidate serves stale now and refreshes in the background",
    origin: versioned("max-age=10, stale-while-revalidate=30"),
    steps: [
      { status: 200, hits: 1 },
      { wait: 15, status: 200, body: "v1", hits: 2, cacheStatus: /hit; ttl=-5; detail=stale-while-revalidate/ },
      { status: 200, body: "v2", hits: 2, cacheStatus: /hit; ttl=10/ },
      { wait: 50, status: 200, body: "v3", hits: 3 },
    ],
  },
  {
    name: "RFC 5861 §3 the route's stale_while_revalidate applies when the response is silent",
    cfg: { staleWhileRevalidateMs: 30_000 },
    origin: versioned("max-age=10"),
    steps: [{ status: 200, hits: 1 }, { wait: 15, status: 200, body: "v1", hits: 2 }, { status: 200, body: "v2", hits: 2 }],
  },
  {
    name: "RFC 5861 §4 stale-if-error: a 5xx within the window gets the stale response; past it the error",
    origin: (r) => (r.n === 1 ? { headers: [["Cache-Control", "max-age=10, stale-if-error=20"]], body: "good" } : { status: 503, body: "down" }),
    steps: [
      { status: 200, hits: 1 },
      { wait: 15, status: 200, body: "good", hits: 2, cacheStatus: /hit; fwd-status=503; ttl=-5; detail=stale-if-error/ },
      { wait: 20, status: 503, body: "down", hits: 3 },
    ],
  },
  {
    name: "RFC 5861 §4 the route's stale_if_error covers a failed connect",
    cfg: { staleIfErrorMs: 60_000 },
    origin: (r) => (r.n === 1 ? maxAge(10) : { fail: 502 }),
    steps: [{ status: 200, hits: 1 }, { wait: 30, status: 200, body: "v1", hits: 2 }, { wait: 60, status: 502, hits: 3 }],
  },
  {
    name: "§4.2.4 must-revalidate overrides the route's stale_if_error",
    cfg: { staleIfErrorMs: 60_000 },
    origin: (r) => (r.n === 1 ? { headers: [["Cache-Control", "max-age=10, must-revalidate"]], body: "v1" } : { fail: 502 }),
    steps: [{ status: 200, hits: 1 }, { wait: 30, status: 502, hits: 2 }],
  },

  // ---- §4.4 invalidation ----------------------------------------------------------------
  {
    name: "§4.4 a non-error response to POST invalidates the target URI",
    origin: (r) => (r.method === "POST" ? { status: 201, body: "made" } : { headers: [["Cache-Control", "max-age=60"]], body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { method: "POST", status: 201, hits: 2, cacheStatus: /^DreamServer; fwd=method; fwd-status=201$/ }, { status: 200, body: "v3", hits: 3 }],
  },
  {
    name: "§4.4 an error response to DELETE invalidates nothing",
    origin: (r) => (r.method === "DELETE" ? { status: 500, body: "no" } : { headers: [["Cache-Control", "max-age=60"]], body: `v${r.n}` }),
    steps: [{ status: 200, hits: 1 }, { method: "DELETE", status: 500, hits: 2 }, { status: 200, body: "v1", hits: 2 }],
  },
  {
    name: "§4.4 Location and Content-Location on the same host are invalidated; another host's are not",
    origin: (r) =>
      r.method === "PUT" ? { status: 200, headers: [["Location", "/b"], ["Content-Location", "http://other.example/c"]] } : { headers: [["Cache-Control", "max-age=60"]], body: `${r.path}#${r.n}` },
    steps: [
      { path: "/b", status: 200, body: "/b#1", hits: 1 },
      { path: "/c", status: 200, body: "/c#2", hits: 2 },
      { method: "PUT", path: "/a", status: 200, hits: 3 },
      { path: "/b", status: 200, body: "/b#4", hits: 4 },
      { path: "/c", status: 200, body: "/c#2", hits: 4 },
    ],
  },

  // ---- §9.3.2 (RFC 9110) HEAD --------------------------------------------------------------
  {
    name: "HEAD is answered from a stored GET (RFC 9110 §9.3.2, RFC 9111 §4)",
    origin: versioned("max-age=60"),
    steps: [{ status: 200, body: "v1", hits: 1 }, { method: "HEAD", status: 200, body: "", hits: 1, has: [["cache-status", "DreamServer; hit; ttl=60"]] }],
  },
  {
    name: "a HEAD miss goes upstream as GET (nginx proxy_cache_convert_head) and fills the entry; the HEAD client gets no body",
    origin: versioned("max-age=60"),
    steps: [
      { method: "HEAD", status: 200, body: "", hits: 1, cacheStatus: /^DreamServer; fwd=uri-miss; fwd-status=200; stored$/ },
      { status: 200, body: "v1", hits: 1, cacheStatus: /hit/ },
      { method: "HEAD", status: 200, body: "", hits: 1 },
    ],
  },
  {
    name: "a HEAD miss whose GET body exceeds max_object stores nothing",
    maxObject: 4,
    origin: (r) => ({ headers: [["Cache-Control", "max-age=60"]], body: `body-${r.n}` }),
    steps: [
      { method: "HEAD", status: 200, body: "", hits: 1 },
      { status: 200, body: "body-2", hits: 2, cacheStatus: /fwd=uri-miss/ },
    ],
  },
  {
    name: "RFC 9110 §14: a Range request is answered from a stored 200 (206 / 416); on a miss it bypasses and stores nothing",
    origin: versioned("max-age=60", [["ETag", '"e"']]),
    steps: [
      { status: 200, hits: 1 },
      { headers: [["Range", "bytes=1-1"]], status: 206, body: "1", hits: 1, cacheStatus: /^DreamServer; hit; ttl=60$/, has: [["content-range", "bytes 1-1/2"]] },
      { headers: [["Range", "bytes=5-"]], status: 416, hits: 1, has: [["content-range", "bytes */2"]] },
      { headers: [["Range", "bytes=0-0"], ["If-Range", '"other"']], status: 200, body: "v1", hits: 1 },
      { path: "/b", headers: [["Range", "bytes=0-0"]], status: 200, body: "v2", hits: 2, cacheStatus: /^DreamServer; fwd=bypass; fwd-status=200$/ },
      { path: "/b", status: 200, body: "v3", hits: 3, cacheStatus: /fwd=uri-miss/ },
    ],
  },
];

describe("RFC 9111 response cache (table)", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const h = harness(c);
      c.steps.forEach((s, i) => {
        const { ex, hits, last } = h.run(s);
        const where = `step ${i}`;
        expect([where, ex.status]).toEqual([where, s.status]);
        if (s.body !== undefined) expect([where, ex.text]).toEqual([where, s.body]);
        expect([where, "origin hits", hits]).toEqual([where, "origin hits", s.hits]);
        if (s.cacheStatus) expect(ex.header("cache-status") ?? "").toMatch(s.cacheStatus);
        if (s.age !== undefined) expect([where, ex.header("age")]).toEqual([where, s.age]);
        for (const [k, v] of s.has ?? []) expect([where, k, ex.header(k)]).toEqual([where, k, v]);
        for (const [k, v] of s.originSaw ?? []) expect([where, k, last?.headers.get(k) ?? null]).toEqual([where, k, v]);
      });
    });
  }
});

describe("request collapsing (unit)", () => {
  test("concurrent misses wait for the one origin request and are served from it", () => {
    const cache = new ResponseCache({ memory: 1 << 20, maxObject: 1 << 16 }, () => T0);
    const cfg: RouteCacheConfig = { defaultTtlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, key: tpl("{host}{uri}"), clientNoCache: "revalidate", storeSetCookie: false };
    const pending: Exchange[] = [];
    const handler = cacheResponses(cfg, cache, 60_000, "t")((ex) => void pending.push(ex));
    const clients = Array.from({ length: 10 }, () => new FakeExchange({ target: "/x" }));
    for (const c of clients) handler(c);
    expect(pending.length).toBe(1);
    const up = pending[0]!;
    up.startResponse(200, [["Cache-Control", "max-age=60"]], 4);
    up.write(Buffer.from("da"));
    // The first client streams before the body is complete (never buffered first).
    expect(clients[0]!.text).toBe("da");
    expect(clients[1]!.responseStarted).toBe(false);
    up.write(Buffer.from("ta"));
    up.end();
    for (const c of clients) expect(c.text).toBe("data");
    expect(clients[5]!.header("cache-status")).toContain("collapsed");
    expect(pending.length).toBe(1);
  });

  test("an uncacheable answer releases the waiters to the origin", () => {
    const cache = new ResponseCache({ memory: 1 << 20, maxObject: 1 << 16 }, () => T0);
    const cfg: RouteCacheConfig = { defaultTtlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, key: tpl("{host}{uri}"), clientNoCache: "revalidate", storeSetCookie: false };
    const pending: Exchange[] = [];
    const handler = cacheResponses(cfg, cache, 60_000, "t")((ex) => void pending.push(ex));
    const a = new FakeExchange({ target: "/x" });
    const b = new FakeExchange({ target: "/x" });
    handler(a);
    handler(b);
    expect(pending.length).toBe(1);
    pending[0]!.startResponse(200, [["Cache-Control", "private"]], 1);
    expect(pending.length).toBe(2);
  });

  test("waiters give up after the wait bound and go upstream themselves", async () => {
    const cache = new ResponseCache({ memory: 1 << 20, maxObject: 1 << 16 });
    const cfg: RouteCacheConfig = { defaultTtlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, key: tpl("{host}{uri}"), clientNoCache: "revalidate", storeSetCookie: false };
    const pending: Exchange[] = [];
    const handler = cacheResponses(cfg, cache, 30, "t")((ex) => void pending.push(ex));
    handler(new FakeExchange({ target: "/x" }));
    handler(new FakeExchange({ target: "/x" }));
    expect(pending.length).toBe(1);
    await Bun.sleep(80);
    expect(pending.length).toBe(2);
  });
});

describe("route namespaces and purge", () => {
  test("two routes that render the same key keep separate entries; purge by key reaches both", () => {
    const cache = new ResponseCache({ memory: 1 << 20, maxObject: 1 << 16 }, () => T0);
    const cfg: RouteCacheConfig = { defaultTtlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, key: tpl("{host}{uri}"), clientNoCache: "revalidate", storeSetCookie: false };
    const origin = (body: string) => (ex: Exchange) => ex.respond(200, [["Cache-Control", "max-age=60"]], body);
    const a = cacheResponses(cfg, cache, 1000, "0.0", "0.0@a")(origin("from a"));
    const b = cacheResponses(cfg, cache, 1000, "0.1", "0.1@b")(origin("from b"));
    const ask = (h: (ex: Exchange) => void) => {
      const ex = new FakeExchange({ target: "/same" });
      h(ex);
      return ex;
    };
    expect(ask(a).text).toBe("from a");
    expect(ask(b).text).toBe("from b");
    expect(ask(a).header("cache-status")).toContain("hit");
    expect(ask(a).text).toBe("from a");
    expect(ask(b).text).toBe("from b");
    expect(cache.purge({ key: "example.com/same" })).toBe(2);
    expect(ask(a).header("cache-status")).toContain("uri-miss");
    expect(cache.purge({ prefix: "example.com/" })).toBe(1);
    expect(cache.purge({ all: true })).toBe(0);
  });
});

describe("§3.5 on authenticating routes", () => {
  test("behind basic_auth/forward_auth a response is stored only with public, s-maxage or must-revalidate", () => {
    const cache = new ResponseCache({ memory: 1 << 20, maxObject: 1 << 16 }, () => T0);
    const cfg: RouteCacheConfig = { defaultTtlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, key: tpl("{host}{uri}"), clientNoCache: "revalidate", storeSetCookie: false };
    let n = 0;
    const h = cacheResponses(cfg, cache, 1000, "t", "t", true)((ex) => {
      n++;
      ex.respond(200, [["Cache-Control", ex.head.path === "/pub" ? "public, max-age=60" : "max-age=60"]], "x");
    });
    for (const p of ["/me", "/me", "/pub", "/pub"]) h(new FakeExchange({ target: p }));
    expect(n).toBe(3);
  });
});
