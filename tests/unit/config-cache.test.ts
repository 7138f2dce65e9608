/** [cache] and route cache = { ... } (issue 13): defaults, typed values, and FILE-path messages for mistakes. */
import { describe, expect, test } from "bun:test";
import { validate, type FsCheck } from "../../src/config/validate.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { printConfig } from "../../src/config/print.ts";

const fakeFs: FsCheck = { dir: (abs) => ({ real: abs }), readFile: () => ({ error: "no such file" }) };
const OPTS = { baseDir: "/srv", fs: fakeFs, cpus: 1, source: "/srv/ds.toml" };

type Raw = Record<string, any>;
function base(cache?: unknown, top?: unknown, action: Raw = { proxy: { to: ["http://127.0.0.1:9000"] } }): Raw {
  return {
    log: { access: "off" },
    ...(top !== undefined ? { cache: top } : {}),
    site: [{ listen: ["127.0.0.1:8080"], route: [{ path: "/", ...action, ...(cache !== undefined ? { cache } : {}) }] }],
  };
}

describe("cache config", () => {
  test("defaults: 256m / 8m; route cache with the issue's defaults", () => {
    const r = validate(base({ enabled: true }), OPTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.cache).toEqual({ memory: 256 * 1024 * 1024, maxObject: 8 * 1024 * 1024 });
    const c = r.config.sites[0]!.routes[0]!.cache!;
    expect(c.defaultTtlMs).toBe(0);
    expect(c.staleWhileRevalidateMs).toBe(0);
    expect(c.staleIfErrorMs).toBe(0);
    expect(c.key.source).toBe("{host}{uri}");
    expect(c.clientNoCache).toBe("revalidate");
    expect(c.storeSetCookie).toBe(false);
  });
  test("the issue's example parses", () => {
    const r = validate(base({ enabled: true, default_ttl: "0s", stale_while_revalidate: "30s", stale_if_error: "5m", key: "{host}{uri}" }, { memory: "256m", max_object: "8m" }), OPTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const c = r.config.sites[0]!.routes[0]!.cache!;
    expect([c.staleWhileRevalidateMs, c.staleIfErrorMs]).toEqual([30_000, 300_000]);
  });
  test("enabled = false: no cache on the route", () => {
    const r = validate(base({ enabled: false }), OPTS);
    expect(r.ok && r.config.sites[0]!.routes[0]!.cache).toBeUndefined();
  });
  const bad: [string, Raw, string, string][] = [
    ["unknown key", base({ ttl: "1s" }), "site[0].route[0].cache.ttl", "unknown key"],
    ["bad duration", base({ stale_if_error: "soon" }), "site[0].route[0].cache.stale_if_error", "is not a duration"],
    ["bad enum", base({ client_no_cache: "bypass" }), "site[0].route[0].cache.client_no_cache", '"revalidate" or "ignore"'],
    ["key without placeholder", base({ key: "static" }), "site[0].route[0].cache.key", "no placeholder"],
    // An empty template has no parts at all: every request would share one entry (/b answered with /a).
    ["empty key", base({ key: "" }), "site[0].route[0].cache.key", "no placeholder"],
    ["key with a bad placeholder", base({ key: "{nope}" }), "site[0].route[0].cache.key", "nope"],
    ["not on a static route", base({}, undefined, { static: { root: "/srv" } }), "site[0].route[0].cache", "proxy routes only"],
    ["max_object >= memory", base({}, { memory: "1m", max_object: "1m" }), "cache.max_object", "not below cache.memory"],
    ["bad size", base({}, { memory: "lots" }), "cache.memory", "is not a size"],
    // hsts = true works, so users write cache = true too: the fix must name a form that works.
    ["cache = true", base(true), "site[0].route[0].cache", "write cache = {} to cache with the defaults"],
  ];
  for (const [name, raw, path, msg] of bad) {
    test(`rejects: ${name}`, () => {
      const r = validate(raw, OPTS);
      expect(r.ok).toBe(false);
      if (r.ok) return;
      const p = r.problems.find((x) => x.path === path);
      expect(p?.message ?? JSON.stringify(r.problems)).toContain(msg);
    });
  }
});

describe("--print-config with a cache", () => {
  test("the printed config loads back to the same cache settings", () => {
    const text = `[cache]\nmemory = "32m"\nmax_object = "2m"\n[log]\naccess = "off"\n[[site]]\nlisten = ["127.0.0.1:8080"]\n[[site.route]]\npath = "/"\nproxy = { to = ["http://127.0.0.1:9000"] }\ncache = { stale_if_error = "5m", key = "{host}{path}", client_no_cache = "ignore" }\n`;
    const first = loadConfigText(text, "/tmp/c.toml", { cpus: 1 });
    if (!first.ok) throw new Error(JSON.stringify(first.problems));
    const printed = printConfig(first.config);
    expect(printed).toContain('stale_if_error = "5m"');
    const again = loadConfigText(printed, "/tmp/p.toml", { cpus: 1 });
    if (!again.ok) throw new Error(JSON.stringify(again.problems));
    expect(again.config.cache).toEqual(first.config.cache);
    const a = again.config.sites[0]!.routes[0]!.cache!;
    const b = first.config.sites[0]!.routes[0]!.cache!;
    expect({ ...a, key: a.key.source }).toEqual({ ...b, key: b.key.source });
  });
});
