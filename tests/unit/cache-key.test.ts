/**
 * The cache key of a request: the fast path for the default key "{host}{uri}" must give exactly
 * what rendering the template gives, for every shape of head (ports, case, IP literals,
 * absolute-form, heads derived by strip_prefix), since purges and stored entries use these strings.
 */
import { expect, test } from "bun:test";
import { ResponseCache } from "../../src/cache/response-cache.ts";
import type { RouteCacheConfig } from "../../src/config/config.ts";
import { DEFAULT_CACHE_KEY } from "../../src/config/config.ts";
import { parseTemplate, renderTemplate } from "../../src/config/template.ts";
import { RouteCache } from "../../src/middleware/cache/route-cache.ts";
import { deriveHead } from "../../src/middleware/derive-head.ts";
import { templateContext } from "../../src/middleware/template-context.ts";
import { FakeExchange, makeHead } from "./fake-exchange.ts";

function routeCache(key: string): RouteCache {
  const t = parseTemplate(key);
  if (typeof t === "string") throw new Error(t);
  const cfg: RouteCacheConfig = { defaultTtlMs: 0, staleWhileRevalidateMs: 0, staleIfErrorMs: 0, key: t, clientNoCache: "revalidate", storeSetCookie: false };
  return new RouteCache(cfg, new ResponseCache({ memory: 1 << 20, maxObject: 1 << 16 }), () => {}, 1000, "r", "ns");
}

test("default key: the fast path equals the rendered template, byte for byte", () => {
  const fast = routeCache(DEFAULT_CACHE_KEY);
  const slow = routeCache("{host}{uri}?"); // not the default shape: always rendered
  const template = parseTemplate(DEFAULT_CACHE_KEY);
  if (typeof template === "string") throw new Error(template);
  const heads = [
    makeHead({ target: "/a/b?x=1&y=2", host: "Example.COM:8080" }),
    makeHead({ target: "/", host: "example.com" }),
    makeHead({ target: "/p%20q?", host: "[::1]:443" }),
    makeHead({ target: "/q", host: "[FE80::1]" }),
    makeHead({ target: "http://Other.Example:81/abs?z", host: "ignored.example" }),
    makeHead({ target: "/caf%C3%A9", host: "xn--caf-dma.example." }),
  ];
  const derived = deriveHead(heads[0]!, { path: "/b", target: "/b?x=1&y=2", mount: "/a" }); // strip_prefix
  for (const h of [...heads, derived]) {
    const ex = new FakeExchange(h);
    const want = fast.ns + renderTemplate(template, templateContext(ex));
    expect([h.target, fast.keyOf(ex)]).toEqual([h.target, want]);
    expect(slow.keyOf(ex)).toBe(want + "?");
  }
});
