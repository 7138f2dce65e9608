/** Admin pieces as tables: Bearer matching, /api/config redaction, dashboard percentiles and ticks, cache purge bodies with a fake purger. */
import { describe, expect, test } from "bun:test";
import { defaultConfig } from "../../src/config/config.ts";
import { ADMIN_MAX_BODY, type AdminState, bearerMatches, type CachePurger, createAdminHandler, parsePurgeBody, type PurgeSelector, redactedConfig } from "../../src/observe/admin.ts";
import type { BodySink } from "../../src/handler.ts";
import { FakeExchange } from "./fake-exchange.ts";
import { computeTick, quantile } from "../../src/observe/dashboard-stats.ts";
import { Registry } from "../../src/observe/metrics.ts";

describe("Bearer token", () => {
  const T = "0123456789abcdef";
  const rows: [string | undefined, boolean][] = [
    [`Bearer ${T}`, true],
    [`bearer ${T}`, true],
    [`BEARER ${T}`, true],
    [`Bearer  ${T}`, true],
    [`Bearer ${T}x`, false],
    [`Bearer ${T.slice(1)}`, false],
    [`Basic ${T}`, false],
    [`Bearer`, false],
    [`Bearer${T}`, false],
    ["", false],
    [undefined, false],
  ];
  for (const [field, ok] of rows) test(`${JSON.stringify(field)} → ${ok}`, () => expect(bearerMatches(field, T)).toBe(ok));
});

describe("/api/config redaction", () => {
  test("the admin token and secret-looking header rule values are replaced", () => {
    const c = defaultConfig({ adminToken: "0123456789abcdef-secret" });
    const raw = redactedConfig(c) as any;
    expect(raw.admin.token).toBe("[redacted]");
    expect(JSON.stringify(raw)).not.toContain("0123456789abcdef-secret");
  });
});

describe("dashboard percentiles", () => {
  const B = [0.001, 0.01, 0.1];
  const rows: [number, number[], number | null][] = [
    [0.5, [0, 0, 0, 0], null],
    [0.5, [10, 0, 0, 0], 0.0005],
    [0.5, [0, 10, 0, 0], 0.0055],
    [0.99, [50, 50, 0, 0], 0.001 + 0.009 * 0.98],
    [0.5, [0, 0, 0, 4], 0.1],
  ];
  for (const [q, counts, want] of rows) {
    test(`q=${q} of ${counts}`, () => {
      const got = quantile(q, B, counts);
      if (want === null) expect(got).toBeNull();
      else expect(got!).toBeCloseTo(want, 9);
    });
  }
});

describe("dashboard tick", () => {
  test("rates and status mix from the growth between two snapshots; top routes sorted", () => {
    const r = new Registry();
    const req = r.counter("dreamserver_requests", "r", ["site", "route", "method", "status"]);
    const h = r.histogram("dreamserver_request_duration_seconds", "d", ["site", "route"], [0.001, 0.01]);
    r.gauge("dreamserver_connections_open", "c").labels().set(3);
    req.labels("0", "0", "GET", "2xx").inc(100);
    const prev = r.snapshot();
    req.labels("0", "0", "GET", "2xx").inc(10);
    req.labels("0", "1", "GET", "5xx").inc(30);
    for (let i = 0; i < 40; i++) h.labels("0", "0").observe(0.0005);
    const t = computeTick(prev, r.snapshot(), 2, 1234);
    expect(t.rps).toBe(20);
    expect(t.status["2xx"]).toBe(5);
    expect(t.status["5xx"]).toBe(15);
    expect(t.top).toEqual([
      { route: "0/1", rps: 15 },
      { route: "0/0", rps: 5 },
    ]);
    expect(t.connections).toBe(3);
    expect(t.p50).toBeCloseTo(0.0005, 9);
    expect(t.upstreams).toEqual([]);
  });

  test("upstream servers: state from the health and drain gauges (drained wins), in flight, attempt rate", () => {
    const r = new Registry();
    const L = ["group", "server"];
    const healthy = r.gauge("dreamserver_upstream_healthy", "h", L, "min");
    const drained = r.gauge("dreamserver_upstream_drained", "d", L, "max");
    const inflight = r.gauge("dreamserver_upstream_in_flight", "i", L);
    const req = r.counter("dreamserver_upstream_requests", "r", L);
    const servers = [["app", "10.0.0.1:80", 1, 0, 2], ["app", "10.0.0.2:80", 0, 0, 0], ["app", "10.0.0.3:80", 1, 1, 1]] as const;
    for (const [g, sv, h, d, n] of servers) {
      healthy.labels(g, sv).set(h);
      drained.labels(g, sv).set(d);
      inflight.labels(g, sv).set(n);
      req.labels(g, sv).inc(5);
    }
    const prev = r.snapshot();
    req.labels("app", "10.0.0.1:80").inc(40);
    const t = computeTick(prev, r.snapshot(), 2, 0);
    expect(t.upstreams).toEqual([
      { group: "app", server: "10.0.0.1:80", state: "up", inflight: 2, rps: 20 },
      { group: "app", server: "10.0.0.2:80", state: "down", inflight: 0, rps: 0 },
      { group: "app", server: "10.0.0.3:80", state: "drained", inflight: 1, rps: 0 },
    ]);
  });
});

describe("POST /api/cache/purge", () => {
  const rows: [string, PurgeSelector | RegExp][] = [
    ['{"all":true}', { all: true }],
    ['{"key":"GET example.com/a"}', { key: "GET example.com/a" }],
    ['{"prefix":"GET example.com/img/"}', { prefix: "GET example.com/img/" }],
    ['  {"all" : true}\n', { all: true }],
    ['{"all":false}', /"all" must be true/],
    ['{"all":1}', /"all" must be true/],
    ['{"key":""}', /"key" must be a non-empty string/],
    ['{"key":7}', /"key" must be a non-empty string/],
    ['{"prefix":""}', /"prefix" must be a non-empty string/],
    ['{"all":true,"key":"x"}', /exactly one/],
    ["{}", /exactly one/],
    ['{"path":"/x"}', /unknown field "path"/],
    ["[]", /JSON object/],
    ['"all"', /JSON object/],
    ["null", /JSON object/],
    ["", /must be JSON/],
    ["{all:true}", /must be JSON/],
    ['{"key":"\xff"}', { key: "\xff" }],
  ];
  test.each(rows)("body %j → %p", (body, want) => {
    const got = parsePurgeBody(Buffer.from(body, "utf8"));
    if (want instanceof RegExp) expect(got).toMatch(want);
    else expect(got).toEqual(want);
  });
  test("invalid UTF-8 is a bad body", () => {
    expect(parsePurgeBody(Uint8Array.from([0x7b, 0x22, 0xff, 0x22, 0x7d]))).toMatch(/must be JSON/);
  });

  /** A FakeExchange whose request body arrives in the given pieces. */
  class BodyExchange extends FakeExchange {
    constructor(
      req: ConstructorParameters<typeof FakeExchange>[0],
      private readonly pieces: string[],
    ) {
      super(req);
    }
    override readBody(sink: BodySink): void {
      for (const p of this.pieces) sink.data(Buffer.from(p));
      sink.end(null);
    }
  }
  const TOKEN = "0123456789abcdef-token";
  const config = defaultConfig({ adminToken: TOKEN });
  const auth: [string, string][] = [["Authorization", `Bearer ${TOKEN}`]];
  function run(cache: AdminState["cache"], pieces: string[], method = "POST", headers = auth): Promise<BodyExchange> {
    const ex = new BodyExchange({ method, target: "/api/cache/purge", headers }, pieces);
    createAdminHandler({ ready: true, config, cache })(ex);
    // The answer may come a microtask later (a purge may be async with workers).
    return new Promise((r) => setTimeout(() => r(ex), 0));
  }

  test("a fake purger gets the selector and its count is the answer; pieces of a body are joined", async () => {
    const seen: PurgeSelector[] = [];
    const purger: CachePurger = {
      purge(sel) {
        seen.push(sel);
        return "all" in sel ? 42 : 3;
      },
    };
    let ex = await run(purger, ['{"pre', 'fix":"GET a/', '"}']);
    expect([ex.status, JSON.parse(ex.text)]).toEqual([200, { purged: 3 }]);
    expect(ex.header("Content-Type")).toBe("application/json");
    ex = await run(purger, ['{"all":true}']);
    expect(JSON.parse(ex.text)).toEqual({ purged: 42 });
    expect(seen).toEqual([{ prefix: "GET a/" }, { all: true }]);
    ex = await run(purger, ['{"all":"yes"}']);
    expect(ex.status).toBe(400);
    expect(JSON.parse(ex.text).error).toContain('"all" must be true');
    expect(seen.length).toBe(2);
    // Async access (workers): null = no worker has a cache.
    ex = await run({ purge: () => Promise.resolve(7) }, ['{"key":"k"}']);
    expect(JSON.parse(ex.text)).toEqual({ purged: 7 });
    ex = await run({ purge: () => Promise.resolve(null) }, ['{"key":"k"}']);
    expect([ex.status, JSON.parse(ex.text)]).toEqual([404, { error: "no cache configured" }]);
  });

  test("no cache: 404 JSON; the token and the method are checked first; a large body is 413", async () => {
    let ex = await run(undefined, ['{"all":true}']);
    expect([ex.status, JSON.parse(ex.text)]).toEqual([404, { error: "no cache configured" }]);
    ex = await run(null, ['{"all":true}'], "POST", []);
    expect([ex.status, ex.errorCode]).toEqual([401, "ADMIN_UNAUTHORIZED"]);
    ex = await run(null, [], "GET");
    expect([ex.status, ex.header("Allow")]).toEqual([405, "POST"]);
    const never: CachePurger = {
      purge() {
        throw new Error("must not be called");
      },
    };
    ex = await run(never, ["x".repeat(ADMIN_MAX_BODY + 1)]);
    expect(ex.status).toBe(413);
  });
});
