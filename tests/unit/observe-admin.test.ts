/** Admin pieces as tables: Bearer matching, /api/config redaction, dashboard percentiles and ticks. */
import { describe, expect, test } from "bun:test";
import { defaultConfig } from "../../src/config/config.ts";
import { bearerMatches, redactedConfig } from "../../src/observe/admin.ts";
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
  });
});
