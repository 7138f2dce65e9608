/**
 * rate_limit (src/middleware/rate-limit): the exact 429 boundary with a fake clock (burst at
 * once, then one request per emission interval), the 429's Retry-After and RateLimit fields,
 * keys from placeholders, the per-worker division, and the LRU bound on keys (1 million distinct
 * clients never hold more than max_keys buckets, and memory stays within the documented bound).
 */
import { describe, expect, test } from "bun:test";
import type { RateLimitConfig } from "../../src/config/config.ts";
import { parseTemplate } from "../../src/config/template.ts";
import { RateLimiter } from "../../src/middleware/rate-limit/index.ts";
import { TokenBuckets } from "../../src/middleware/rate-limit/token-bucket.ts";
import { TrustedProxies } from "../../src/proxy/cidr.ts";
import type { Template } from "../../src/config/config.ts";
import { FakeExchange } from "./fake-exchange.ts";

const tpl = (s: string): Template => parseTemplate(s) as Template;
const cfg = (over: Partial<RateLimitConfig> = {}): RateLimitConfig => ({ count: 10, periodMs: 1000, burst: 5, key: tpl("{remote_ip}"), maxKeys: 1000, ...over });

describe("TokenBuckets: the exact boundary", () => {
  // [count, periodMs, burst, [time ms, allowed?][]]
  const CASES: [string, number, number, number, [number, boolean][]][] = [
    ["10/s burst 5: five at once, the sixth refused, one more each 100 ms", 10, 1000, 5, [
      [0, true], [0, true], [0, true], [0, true], [0, true], [0, false],
      [99, false], [100, true], [100, false], [199, false], [200, true],
      [700, true], [700, true], [700, true], [700, true], [700, true], [700, false], // 500 ms idle = 5 tokens back, never more than burst
    ]],
    ["1/s burst 1", 1, 1000, 1, [[0, true], [999, false], [1000, true], [1000, false], [5000, true], [5000, false]]],
    ["3/s burst 3 (333.3 ms interval: exact in units of 1/3 ms)", 3, 1000, 3, [
      [0, true], [0, true], [0, true], [0, false], [333, false], [334, true], [334, false], [666, false], [667, true],
    ]],
    ["60/m burst 2", 60, 60_000, 2, [[0, true], [0, true], [0, false], [999, false], [1000, true], [1000, false]]],
    ["100/s burst 200", 100, 1000, 200, [...Array.from({ length: 200 }, () => [0, true] as [number, boolean]), [0, false], [9, false], [10, true], [10, false]]],
  ];
  test.each(CASES)("%s", (_name, count, periodMs, burst, steps) => {
    const b = new TokenBuckets(count, periodMs, burst, 10);
    steps.forEach(([t, want], i) => {
      expect([i, t, b.take("k", t).allowed]).toEqual([i, t, want]);
    });
  });

  test("remaining, retry-after and peek", () => {
    const b = new TokenBuckets(10, 1000, 3, 10);
    expect(b.take("k", 0)).toEqual({ allowed: true, remaining: 2, retryAfterMs: 0, fullInMs: 100 });
    expect(b.take("k", 0).remaining).toBe(1);
    const last = b.take("k", 0);
    expect([last.allowed, last.remaining, last.retryAfterMs]).toEqual([true, 0, 100]);
    expect(b.peek("k", 0)).toBe(100);
    expect(b.take("k", 40)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 60 });
    expect(b.peek("k", 100)).toBe(0);
    expect(b.peek("other", 0)).toBe(0);
  });

  test("keys are independent", () => {
    const b = new TokenBuckets(1, 1000, 1, 10);
    expect(b.take("a", 0).allowed).toBe(true);
    expect(b.take("a", 0).allowed).toBe(false);
    expect(b.take("b", 0).allowed).toBe(true);
  });
});

describe("TokenBuckets: bounded keys (LRU)", () => {
  test("the least recently used key is evicted; a hit refreshes it", () => {
    const b = new TokenBuckets(1, 1000, 1, 2);
    b.take("a", 0);
    b.take("b", 0);
    expect(b.take("a", 0).allowed).toBe(false); // a is now the newest
    b.take("c", 0); // evicts b
    expect(b.size).toBe(2);
    expect(b.take("a", 0).allowed).toBe(false); // a kept its empty bucket
    expect(b.take("b", 0).allowed).toBe(true); // b was forgotten: a full bucket again
  });

  test("1 million distinct client addresses never hold more than max_keys buckets, and memory stays bounded", () => {
    const maxKeys = 10_000;
    const b = new TokenBuckets(100, 1000, 200, maxKeys);
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    let peak = 0;
    for (let i = 0; i < 1_000_000; i++) {
      // IPv6-looking keys: the longest {remote_ip} values.
      b.take(`2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::${i % 7}`, i >> 10);
      if (b.size > peak) peak = b.size;
    }
    expect(peak).toBeLessThanOrEqual(maxKeys);
    expect(peak).toBeGreaterThan(maxKeys / 2);
    Bun.gc(true);
    const grown = process.memoryUsage().heapUsed - before;
    // docs/security.md: about 200 bytes per key; allow 300 plus 1 MiB of noise.
    expect(grown).toBeLessThan(maxKeys * 300 + 1024 * 1024);
  });
});

describe("RateLimiter", () => {
  test("429 RATE_LIMITED with Retry-After, RateLimit-Policy and RateLimit", () => {
    let now = 0;
    const rl = new RateLimiter(cfg({ count: 10, burst: 5 }), TrustedProxies.none, { workers: 1, now: () => now });
    let passed = 0;
    for (let i = 0; i < 5; i++) rl.handle(new FakeExchange({ clientIp: "192.0.2.1" }), () => passed++);
    const ex = new FakeExchange({ clientIp: "192.0.2.1" });
    rl.handle(ex, () => passed++);
    expect(passed).toBe(5);
    expect([ex.status, ex.errorCode]).toEqual([429, "RATE_LIMITED"]);
    expect(ex.header("Retry-After")).toBe("1");
    expect(ex.header("RateLimit-Policy")).toBe('"default";q=5;w=1');
    expect(ex.header("RateLimit")).toBe('"default";r=0;t=1');
    now = 100;
    rl.handle(new FakeExchange({ clientIp: "192.0.2.1" }), () => passed++);
    expect(passed).toBe(6);
    // another client has its own bucket
    rl.handle(new FakeExchange({ clientIp: "192.0.2.2" }), () => passed++);
    expect(passed).toBe(7);
  });

  test("every 429 (and only a 429) increments the route's rejection counter", () => {
    let rejected = 0;
    const rl = new RateLimiter(cfg({ count: 1, periodMs: 60_000, burst: 2 }), TrustedProxies.none, { workers: 1, now: () => 0, rejected: { inc: () => rejected++ } });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const e = new FakeExchange({ clientIp: "192.0.2.1" });
      rl.handle(e, () => e.respond(200, []));
      statuses.push(e.status);
    }
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    expect(rejected).toBe(4);
  });

  test("Retry-After rounds up to whole seconds; the policy window is the refill time of a full bucket", () => {
    const rl = new RateLimiter(cfg({ count: 1, periodMs: 60_000, burst: 2 }), TrustedProxies.none, { workers: 1, now: () => 0 });
    const ex = () => new FakeExchange({ clientIp: "192.0.2.1" });
    rl.handle(ex(), () => {});
    rl.handle(ex(), () => {});
    const e = ex();
    rl.handle(e, () => {});
    expect(e.header("Retry-After")).toBe("60");
    expect(e.header("RateLimit-Policy")).toBe('"default";q=2;w=120');
  });

  test.each([
    ["{remote_ip}", { clientIp: "192.0.2.9" }, "192.0.2.9"],
    ["{header.X-Api-Key}", { headers: [["X-Api-Key", "k1"]] as [string, string][] }, "k1"],
    ["{remote_ip}:{query.user}", { clientIp: "192.0.2.9", target: "/?user=bob" }, "192.0.2.9:bob"],
    ["{remote_ip}", { clientIp: "10.0.0.1", headers: [["X-Forwarded-For", "203.0.113.4"]] as [string, string][] }, "203.0.113.4"],
  ])("key %s", (key, req, want) => {
    const rl = new RateLimiter(cfg({ key: tpl(key) }), new TrustedProxies(["10.0.0.0/8"]), { workers: 1 });
    expect(rl.keyOf(new FakeExchange(req))).toBe(want);
  });

  test("with N workers each bucket holds ceil(rate / N) and ceil(burst / N)", () => {
    const rl = new RateLimiter(cfg({ count: 100, burst: 7 }), TrustedProxies.none, { workers: 2, now: () => 0 });
    expect([rl.buckets.count, rl.buckets.burst]).toEqual([50, 4]);
  });
});
