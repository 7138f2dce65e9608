/**
 * The pure parts of the response cache (src/cache/): Cache-Control parsing (RFC 9111 §5.2),
 * age and freshness arithmetic (§4.2), storability (§3), Vary keys (§4.1), the byte-bounded
 * store (CLOCK eviction, the memory bound under 100,000 distinct keys) and Cache-Status (RFC 9211).
 */
import { describe, expect, test } from "bun:test";
import { DELTA_MAX, parseCacheControl } from "../../src/cache/cache-control.ts";
import { formatCacheStatus } from "../../src/cache/cache-status.ts";
import { entrySize, type CacheEntry } from "../../src/cache/entry.ts";
import { ageInputs, currentAge, freshnessLifetime } from "../../src/cache/freshness.ts";
import { notStorableReason } from "../../src/cache/storable.ts";
import { CacheStore } from "../../src/cache/store.ts";
import { normaliseAcceptEncoding, secondaryKey, varyFields } from "../../src/cache/vary.ts";
import { headerListOf } from "../../src/cache/build-entry.ts";
import { HeaderList } from "../../src/http1/header-list.ts";
import { formatHttpDate } from "../../src/static/http-date.ts";

describe("Cache-Control (RFC 9111 §5.2)", () => {
  const cases: [string[], Record<string, unknown>][] = [
    [["max-age=60"], { maxAge: 60, malformed: false }],
    [["MAX-AGE=60, Public"], { maxAge: 60, public: true }],
    [['max-age="60"'], { maxAge: 60 }], // §5.2: senders SHOULD NOT quote, recipients accept either form
    [["s-maxage=10, max-age=100"], { sMaxAge: 10, maxAge: 100 }],
    [["max-age=60", "no-cache"], { maxAge: 60, noCache: true }],
    [["max-age=60, max-age=10"], { maxAge: 0 }], // §4.2.1 duplicate → stale
    [["max-age= 60"], { maxAge: null, malformed: true }],
    [["max-age=1e3"], { maxAge: 0, malformed: true }],
    [["max-age=-1"], { maxAge: 0, malformed: true }],
    [["max-age=99999999999"], { maxAge: DELTA_MAX }], // §1.2.2 cap
    [['private="set-cookie", no-cache="x"'], { private: true, noCache: true }],
    [["no-store,,  ,must-revalidate"], { noStore: true, mustRevalidate: true }],
    [["max-stale"], { maxStale: Infinity }],
    [["max-stale=5, min-fresh=3, only-if-cached"], { maxStale: 5, minFresh: 3, onlyIfCached: true }],
    [["stale-while-revalidate=30, stale-if-error=600"], { staleWhileRevalidate: 30, staleIfError: 600 }],
    [["max-age=60, \xa0public"], { maxAge: 60, public: false, malformed: true }],
    [['foo="unterminated'], { malformed: true }],
    [["community=\"UCI\", max-age=5"], { maxAge: 5, malformed: false }],
    [["max-age=5 x"], { malformed: true }],
  ];
  for (const [lines, want] of cases) {
    test(JSON.stringify(lines), () => {
      const d = parseCacheControl(lines) as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(want)) expect([k, d[k]]).toEqual([k, v]);
    });
  }
});

describe("age and freshness (RFC 9111 §4.2)", () => {
  const T = Date.UTC(2026, 0, 1);
  const h = (pairs: [string, string][]) => headerListOf(pairs);
  test("§4.2.3 current_age: Age + response delay, apparent age, resident time", () => {
    // Sent at T, answered at T+2 s with Date T-10 s and Age 5: apparent 12 s, corrected 5+2 = 7 → 12; +30 s resident.
    const a = ageInputs(h([["Date", formatHttpDate(T - 10_000)], ["Age", "5"]]), T, T + 2000);
    expect(currentAge(a, T + 2000)).toBe(12);
    expect(currentAge(a, T + 32_000)).toBe(42);
    // Age larger than the apparent age wins.
    const b = ageInputs(h([["Date", formatHttpDate(T)], ["Age", "100"]]), T, T + 1000);
    expect(currentAge(b, T + 1000)).toBe(101);
    // A Date in the future does not make a negative age.
    const c = ageInputs(h([["Date", formatHttpDate(T + 3600_000)]]), T, T);
    expect(currentAge(c, T)).toBe(0);
    // Invalid / repeated Age and Date are ignored.
    const d = ageInputs(h([["Age", "x"], ["Date", "yesterday"]]), T, T);
    expect(d.ageValue).toBe(0);
    expect(d.dateValue).toBe(T);
    expect(ageInputs(h([["Age", "1"], ["Age", "2"]]), T, T).ageValue).toBe(0);
  });
  const lifetimes: [string, [string, string][], number, number][] = [
    ["s-maxage first", [["Cache-Control", "max-age=5, s-maxage=50"]], 0, 50],
    ["max-age", [["Cache-Control", "max-age=5"], ["Expires", formatHttpDate(T + 99_000)]], 0, 5],
    ["Expires − Date", [["Date", formatHttpDate(T)], ["Expires", formatHttpDate(T + 90_000)]], 0, 90],
    ["Expires in the past", [["Date", formatHttpDate(T)], ["Expires", formatHttpDate(T - 90_000)]], 0, 0],
    ["invalid Expires", [["Expires", "0"]], 0, 0],
    ["no heuristic when default_ttl is 0", [["Last-Modified", formatHttpDate(T - 1000_000)]], 0, 0],
    ["heuristic: 10 % of Date − Last-Modified", [["Date", formatHttpDate(T)], ["Last-Modified", formatHttpDate(T - 1000_000)]], 3600_000, 100],
    ["heuristic capped by default_ttl", [["Date", formatHttpDate(T)], ["Last-Modified", formatHttpDate(T - 100_000_000)]], 60_000, 60],
    ["no heuristic without Last-Modified", [["Date", formatHttpDate(T)]], 60_000, 0],
  ];
  for (const [name, pairs, cap, want] of lifetimes) {
    test(`§4.2.1 lifetime: ${name}`, () => {
      const l = h(pairs);
      const a = ageInputs(l, T, T);
      expect(freshnessLifetime(200, l, parseCacheControl(l.getAll("cache-control")), a.dateValue, cap)).toBe(want);
    });
  }
  test("§4.2.2 heuristics only for heuristically cacheable statuses", () => {
    const l = h([["Date", formatHttpDate(T)], ["Last-Modified", formatHttpDate(T - 1000_000)]]);
    expect(freshnessLifetime(302, l, parseCacheControl([]), T, 3600_000)).toBe(0);
    expect(freshnessLifetime(404, l, parseCacheControl([]), T, 3600_000)).toBe(100);
  });
});

describe("storable (RFC 9111 §3)", () => {
  const base = { method: "GET", status: 200, allowSetCookie: false, heuristicCapMs: 0 };
  const run = (req: [string, string][], res: [string, string][], over: Partial<typeof base> = {}) => {
    const rq = headerListOf(req);
    const rs = headerListOf(res);
    return notStorableReason({ ...base, ...over, requestHeaders: rq, requestCc: parseCacheControl(rq.getAll("cache-control")), responseHeaders: rs, responseCc: parseCacheControl(rs.getAll("cache-control")) });
  };
  const cc = (v: string): [string, string][] => [["Cache-Control", v]];
  const cases: [string, string | null, () => string | null][] = [
    ["max-age", null, () => run([], cc("max-age=1"))],
    ["HEAD", "method", () => run([], cc("max-age=1"), { method: "HEAD" })],
    ["POST", "method", () => run([], cc("max-age=1"), { method: "POST" })],
    ["206", "status", () => run([], cc("max-age=1"), { status: 206 })],
    ["500", "status", () => run([], cc("max-age=1"), { status: 500 })],
    ["no-store", "no-store", () => run([], cc("max-age=1, no-store"))],
    ["request no-store", "no-store", () => run(cc("no-store"), cc("max-age=1"))],
    ["private", "private", () => run([], cc("private, max-age=1"))],
    ["Authorization", "authorization", () => run([["Authorization", "x"]], cc("max-age=1"))],
    ["Authorization + public", null, () => run([["Authorization", "x"]], cc("public, max-age=1"))],
    ["Authorization + must-revalidate", null, () => run([["Authorization", "x"]], cc("must-revalidate, max-age=1"))],
    ["Set-Cookie", "set-cookie", () => run([], [...cc("max-age=1"), ["Set-Cookie", "a=b"]])],
    ["Set-Cookie allowed", null, () => run([], [...cc("max-age=1"), ["Set-Cookie", "a=b"]], { allowSetCookie: true })],
    ["Vary: *", "vary-star", () => run([], [...cc("max-age=1"), ["Vary", "Accept, *"]])],
    ["nothing at all", "no-freshness", () => run([], [])],
    ["validator only (revalidated each time)", null, () => run([], [["ETag", '"x"']])],
    ["no-cache without validator", "no-cache-without-validator", () => run([], cc("no-cache, max-age=5"))],
    ["302 without freshness", "no-freshness", () => run([], [["ETag", '"x"']], { status: 302 })],
  ];
  for (const [name, want, f] of cases) test(name, () => expect(f()).toBe(want));
});

describe("Vary (RFC 9111 §4.1)", () => {
  test("field names are lowercased, deduplicated, sorted; * wins", () => {
    expect(varyFields(headerListOf([["Vary", "Accept-Encoding, accept-language"], ["Vary", "ACCEPT-ENCODING"]]))).toEqual(["accept-encoding", "accept-language"]);
    expect(varyFields(headerListOf([["Vary", "a, *"]]))).toBe("*");
    expect(varyFields(new HeaderList())).toEqual([]);
  });
  test("Accept-Encoding normalisation", () => {
    expect(normaliseAcceptEncoding(["gzip, br"])).toBe(normaliseAcceptEncoding(["br,gzip"]));
    expect(normaliseAcceptEncoding(["GZIP;q=1.0", "br"])).toBe("br,gzip");
    expect(normaliseAcceptEncoding(["gzip;q=0.5, br"])).toBe("br,gzip;q=500");
    expect(normaliseAcceptEncoding(["gzip;q=0, br"])).toBe("br");
    expect(normaliseAcceptEncoding(["gzip;q=2"])).toBe("gzip;q=2");
  });
  test("secondary keys: absent differs from empty; OWS and line splits are normalised", () => {
    const k = (pairs: [string, string][]) => secondaryKey(["accept-language"], headerListOf(pairs));
    expect(k([])).not.toBe(k([["Accept-Language", ""]]));
    expect(k([["Accept-Language", "en ,  de"]])).toBe(k([["Accept-Language", "en"], ["Accept-Language", "de"]]));
    expect(k([["Accept-Language", "en"]])).not.toBe(k([["Accept-Language", "de"]]));
  });
});

function entry(key: string, bodyBytes: number, secondary = ""): CacheEntry {
  const headers: [string, string][] = [["Content-Type", "text/plain"]];
  const body = new Uint8Array(bodyBytes);
  return {
    key,
    secondary,
    vary: secondary === "" ? [] : ["x"],
    status: 200,
    headers,
    body,
    age: { requestTime: 0, responseTime: 0, dateValue: 0, ageValue: 0 },
    lifetime: 60,
    cc: parseCacheControl([]),
    etag: null,
    lastModified: null,
    size: entrySize(key, secondary, headers, body),
  };
}

/** A store with room for `n` entries of 1000-byte bodies, with `keys` inserted in order. */
function storeOf(n: number, keys: string[]): CacheStore {
  const s = new CacheStore(entry("a", 1000).size * n + 10, 10_000);
  for (const k of keys) s.insert(entry(k, 1000));
  return s;
}

describe("store: byte-bounded", () => {
  test("the oldest key not looked up since the last pass is evicted; a lookup saves a key", () => {
    const s = storeOf(3, ["a", "b", "c"]);
    s.lookup("a");
    s.insert(entry("d", 1000));
    expect(s.peek("b")).toBeUndefined();
    expect(s.peek("a")).toBeDefined();
    expect(s.bytes).toBeLessThanOrEqual(s.maxBytes);
  });
  test("max_object refuses large bodies; variants replace by secondary key", () => {
    const s = new CacheStore(1 << 20, 100);
    expect(s.insert(entry("big", 101))).toBe(false);
    s.insert(entry("k", 10, "v1"));
    s.insert(entry("k", 10, "v2"));
    s.insert(entry("k", 20, "v1"));
    expect(s.peek("k")!.map((e) => [e.secondary, e.body.length])).toEqual([["v1", 20], ["v2", 10]]);
    expect(s.entries).toBe(2);
  });
  test("purge by key, prefix and all returns the entries removed", () => {
    const s = new CacheStore(1 << 20, 1000);
    for (const k of ["example.com/a", "example.com/b", "example.com/c/1", "other.org/a"]) s.insert(entry(k, 10));
    s.insert(entry("example.com/a", 10, "gz"));
    expect(s.purge({ key: "example.com/a" })).toBe(2); // both variants
    expect(s.purge({ prefix: "example.com/" })).toBe(2);
    expect(s.purge({ all: true })).toBe(1);
    expect(s.bytes).toBe(0);
    expect(s.entries).toBe(0);
  });
  test("memory bound holds under 100,000 distinct keys", () => {
    const limit = 4 * 1024 * 1024;
    const s = new CacheStore(limit, 64 * 1024);
    Bun.gc(true);
    const heap0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < 100_000; i++) {
      s.insert(entry(`example.com/item/${i}?q=${i * 7}`, 200 + (i % 500)));
      if (s.bytes > limit) throw new Error(`over the bound at ${i}: ${s.bytes}`);
    }
    expect(s.bytes).toBeLessThanOrEqual(limit);
    expect(s.evictions).toBeGreaterThan(90_000);
    Bun.gc(true);
    const grown = process.memoryUsage().heapUsed - heap0;
    // The charged bytes are an honest estimate: the heap holds at most a small multiple of them.
    expect(grown).toBeLessThan(4 * limit);
  }, 30_000); // 100,000 inserts and two full GCs: slow on a loaded machine
});

test("Cache-Status (RFC 9211)", () => {
  expect(formatCacheStatus({ hit: true, ttl: 42 })).toBe("DreamServer; hit; ttl=42");
  expect(formatCacheStatus({ fwd: "uri-miss", fwdStatus: 200, stored: true, collapsed: true })).toBe("DreamServer; fwd=uri-miss; fwd-status=200; stored; collapsed");
  expect(formatCacheStatus({ hit: true, ttl: -3.7, detail: "stale-if-error" })).toBe("DreamServer; hit; ttl=-3; detail=stale-if-error");
});

describe("store: CLOCK eviction (second chance)", () => {
  test("keys referenced since their last pass survive; the new entry is never the victim", () => {
    const s = storeOf(3, ["a", "b", "c"]);
    s.lookup("a");
    s.lookup("b");
    s.lookup("c");
    expect(s.insert(entry("d", 1000))).toBe(true); // all three referenced: one of them goes, not d
    expect(s.peek("d")).toBeDefined();
    expect(s.keys).toBe(3);
    expect(s.evictions).toBe(1);
    expect(s.peek("a")).toBeUndefined(); // the oldest, after every bit was cleared
    expect(s.bytes).toBeLessThanOrEqual(s.maxBytes);
  });
  test("a hit costs one lookup: no reordering until an eviction looks at the key", () => {
    const s = storeOf(2, ["a", "b"]);
    for (let i = 0; i < 5; i++) s.lookup("a");
    s.insert(entry("c", 1000)); // a referenced → second chance; b evicted
    expect(s.peek("a")).toBeDefined();
    expect(s.peek("b")).toBeUndefined();
    // Order is now c, a (a moved behind c when it got its second chance): c goes next, then a,
    // whose bit was cleared and not set again.
    s.insert(entry("d", 1000));
    expect(s.peek("c")).toBeUndefined();
    expect(s.peek("a")).toBeDefined();
    s.insert(entry("e", 1000));
    expect(s.peek("a")).toBeUndefined();
    expect(s.peek("d")).toBeDefined();
  });
  test("property: bytes stay within bounds and match the stored entries under random traffic", () => {
    let seed = 99;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) >>> 16) % n;
    const s = new CacheStore(20_000, 5_000);
    for (let i = 0; i < 5000; i++) {
      const k = `k${rand(40)}`;
      if (rand(3) === 0) s.insert(entry(k, rand(4000)));
      else s.lookup(k);
      expect(s.bytes).toBeLessThanOrEqual(s.maxBytes);
    }
    let bytes = 0;
    let n = 0;
    for (let i = 0; i < 40; i++) for (const v of s.peek(`k${i}`) ?? []) (bytes += v.size), n++;
    expect([s.bytes, s.entries]).toEqual([bytes, n]);
  });
});
