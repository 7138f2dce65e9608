/**
 * Passive health (src/proxy/passive-health.ts) as a table of events, and the run-time group
 * (src/proxy/upstreams.ts): max_conns, backups, cookie stickiness, active-check verdicts, the
 * NO_HEALTHY_UPSTREAM Retry-After, the per-server state interface, and a registry sync (reload)
 * that keeps the state of servers still configured and retires removed ones; draining through
 * the registry (admin API) and merging states for GET /api/upstreams.
 */
import { describe, expect, test } from "bun:test";
import { DEFAULT_LIMITS, type UpstreamGroupConfig, type PassiveHealthConfig } from "../../src/config/config.ts";
import { PassiveHealth } from "../../src/proxy/passive-health.ts";
import { UpstreamGroup, UpstreamRegistry, type PoolOptions, type UpstreamServerState } from "../../src/proxy/upstreams.ts";
import { mergeUpstreamStates, upstreamsJson } from "../../src/observe/upstream-states.ts";

const CFG: PassiveHealthConfig = { maxFails: 3, failTimeoutMs: 1000, unhealthyStatus: [] };

describe("passive health: max_fails within fail_timeout, then a half-open trial", () => {
  type Step = [op: "fail" | "ok" | "begin", t: number, expectAvailableAfter: boolean, trial?: boolean];
  test.each<[string, PassiveHealthConfig, Step[]]>([
    ["3 failures in the window mark it down", CFG, [["fail", 0, true], ["fail", 100, true], ["fail", 200, false]]],
    ["failures spread over more than fail_timeout do not add up", CFG, [["fail", 0, true], ["fail", 600, true], ["fail", 1200, true], ["fail", 1300, true], ["fail", 1400, false]]],
    ["max_fails = 1 (nginx default): one failure", { ...CFG, maxFails: 1 }, [["fail", 0, false]]],
    ["max_fails = 0: never down", { ...CFG, maxFails: 0 }, [["fail", 0, true], ["fail", 1, true], ["fail", 2, true], ["fail", 3, true]]],
  ])("%s", (_name, cfg, steps) => {
    const p = new PassiveHealth(cfg);
    for (const [op, t, avail] of steps) {
      if (op === "fail") p.failure(t, false);
      expect(p.available(t)).toBe(avail);
    }
  });
  test("down for fail_timeout; then exactly one trial at a time; trial success closes it", () => {
    const p = new PassiveHealth({ ...CFG, maxFails: 1 });
    p.failure(0, false);
    expect(p.available(999)).toBe(false);
    expect(p.available(1000)).toBe(true);
    const trial = p.begin(1000);
    expect(trial).toBe(true);
    expect(p.available(1001)).toBe(false); // the trial is out
    expect(p.begin(1001)).toBe(false);
    p.success(trial);
    expect(p.available(1002)).toBe(true);
    expect(p.down).toBe(false);
  });
  test("a failed trial keeps it down for another fail_timeout; an abandoned trial frees the slot", () => {
    const p = new PassiveHealth({ ...CFG, maxFails: 1 });
    p.failure(0, false);
    const t1 = p.begin(1000);
    p.failure(1500, t1);
    expect(p.available(2499)).toBe(false);
    expect(p.available(2500)).toBe(true);
    const t2 = p.begin(2500);
    p.abandon(t2);
    expect(p.available(2501)).toBe(true);
  });
  test("reset (active checks vouch for it) clears everything", () => {
    const p = new PassiveHealth({ ...CFG, maxFails: 1 });
    p.failure(0, false);
    p.reset();
    expect(p.available(1)).toBe(true);
  });
});

const POOL: PoolOptions = { limits: DEFAULT_LIMITS, poolSize: 4, idleMs: 1000, connectMs: 1000, tlsVerify: true, tlsCa: null };

function group(over: Partial<UpstreamGroupConfig> = {}, urls = ["http://127.0.0.1:3001", "http://127.0.0.1:3002", "http://127.0.0.1:3003"]): UpstreamGroupConfig {
  return {
    name: "app",
    servers: urls.map((u) => ({ url: new URL(u), weight: 1, maxConns: 0, backup: false })),
    policy: "round_robin",
    hashKey: null,
    cookie: "ds_upstream",
    retries: 1,
    tryDurationMs: 0,
    health: null,
    passive: { maxFails: 1, failTimeoutMs: 10_000, unhealthyStatus: [] },
    resolveIntervalMs: 30_000,
    ...over,
  };
}

describe("UpstreamGroup", () => {
  test("max_conns caps in-flight requests per server; none eligible → null", () => {
    const cfg = group();
    const g = new UpstreamGroup({ ...cfg, servers: cfg.servers.map((s) => ({ ...s, maxConns: 2 })) }, "app", POOL);
    const picked = [];
    for (let i = 0; i < 6; i++) {
      const s = g.pick("", null, null)!;
      s.begin(0);
      picked.push(s.label);
    }
    expect(new Set(picked).size).toBe(3);
    for (const s of g.servers) expect(s.inflight).toBe(2);
    expect(g.pick("", null, null)).toBeNull();
    g.servers[1]!.done();
    expect(g.pick("", null, null)).toBe(g.servers[1]!);
    g.retire();
  });
  test("backup gets traffic only when every primary is down", () => {
    const cfg = group();
    const g = new UpstreamGroup({ ...cfg, servers: cfg.servers.map((s, i) => ({ ...s, backup: i === 2 })) }, "app", POOL);
    for (let i = 0; i < 20; i++) expect(g.pick("", null, null)).not.toBe(g.servers[2]!);
    const now = performance.now();
    g.servers[0]!.failed(now, false);
    g.servers[1]!.failed(now, false);
    expect(g.pick("", null, null, now)).toBe(g.servers[2]!);
    // Retry-After: when the first of them comes back (fail_timeout 10 s).
    g.servers[2]!.failed(now, false);
    expect(g.pick("", null, null, now)).toBeNull();
    expect(g.retryAfterSeconds(now)).toBe(10);
    g.retire();
  });
  test("cookie: the named server while it is eligible, another (and a new cookie) when it is not", () => {
    const g = new UpstreamGroup(group({ policy: "cookie" }), "app", POOL);
    const b = g.servers[1]!;
    for (let i = 0; i < 10; i++) expect(g.pick("", null, b.cookieValue)).toBe(b);
    b.failed(performance.now(), false);
    const other = g.pick("", null, b.cookieValue)!;
    expect(other).not.toBe(b);
    expect(other.cookieValue).not.toBe(b.cookieValue);
    // An unknown cookie value is ignored (round robin).
    expect(g.pick("", null, "ffffffff")).not.toBeNull();
    g.retire();
  });
  test("excluded (already tried) servers are not picked again", () => {
    const g = new UpstreamGroup(group(), "app", POOL);
    const a = g.pick("", null, null)!;
    const b = g.pick("", [a], null)!;
    const c = g.pick("", [a, b], null)!;
    expect(new Set([a, b, c]).size).toBe(3);
    expect(g.pick("", [a, b, c], null)).toBeNull();
    g.retire();
  });
  test("active verdicts: fails in a row take it out, passes in a row bring it back and clear passive state", () => {
    const g = new UpstreamGroup(group(), "app", POOL);
    const s = g.servers[0]!;
    const bad = { ok: false, ms: 1, reason: "status 500" };
    const good = { ok: true, ms: 1, reason: "ok" };
    s.checked(bad, 2, 2);
    expect(s.healthyAt(performance.now())).toBe(true);
    s.checked(bad, 2, 2);
    expect(s.healthyAt(performance.now())).toBe(false);
    s.failed(performance.now(), false); // passive down too
    s.checked(good, 2, 2);
    expect(s.healthyAt(performance.now())).toBe(false);
    s.checked(good, 2, 2);
    expect(s.healthyAt(performance.now())).toBe(true);
    const st = g.states()[0]!;
    expect(st).toMatchObject({ group: "app", server: "127.0.0.1:3001", healthy: true, lastCheckOk: true, failures: 1, inflight: 0 });
    expect(typeof st.lastCheck).toBe("number");
    g.retire();
  });
});

describe("UpstreamRegistry (reload)", () => {
  test("servers still configured keep their state and pool; removed ones are retired; dropped groups retire", () => {
    const reg = new UpstreamRegistry();
    const c1 = group();
    const g1 = reg.sync([{ name: "app", cfg: c1, pool: POOL }]).get(UpstreamRegistry.keyOf("app", POOL))!;
    const [s1, s2, s3] = g1.servers;
    s1!.failed(performance.now(), false);
    s2!.requests = 7;
    const c2 = group({}, ["http://127.0.0.1:3002", "http://127.0.0.1:3001", "http://127.0.0.1:3004"]);
    const g2 = reg.sync([{ name: "app", cfg: c2, pool: POOL }]).get(UpstreamRegistry.keyOf("app", POOL))!;
    expect(g2).toBe(g1);
    expect(g2.servers[0]).toBe(s2!);
    expect(g2.servers[0]!.requests).toBe(7);
    expect(g2.servers[1]).toBe(s1!);
    expect(g2.servers[1]!.healthyAt(performance.now())).toBe(false); // still down
    expect(s3!.retired).toBe(true);
    expect(reg.states().map((s) => s.server)).toEqual(["127.0.0.1:3002", "127.0.0.1:3001", "127.0.0.1:3004"]);
    reg.sync([]);
    expect(g2.servers.every((s) => s.retired)).toBe(true);
  });
  test("a single-server group is never marked down passively (nothing to fail over to; nginx does the same)", () => {
    const g = new UpstreamGroup(group({}, ["http://127.0.0.1:3001"]), "one", POOL);
    g.servers[0]!.failed(performance.now(), false);
    expect(g.pick("", null, null)).toBe(g.servers[0]!);
    g.retire();
  });
});

describe("host names in to (resolve_interval)", () => {
  test("each A/AAAA record becomes a server; a changed set keeps the unchanged servers; a failed lookup keeps the last good set", async () => {
    let answer: string[] | Error = ["10.0.0.2", "10.0.0.1"];
    const resolver = async (host: string): Promise<string[]> => {
      expect(host).toBe("app.test");
      if (answer instanceof Error) throw answer;
      return answer;
    };
    const cfg = group({ resolveIntervalMs: 3_600_000 }, ["http://app.test:3000", "http://127.0.0.1:3009"]);
    const g = new UpstreamGroup(cfg, "app", POOL, resolver);
    await g.resolveNow();
    expect(g.servers.map((s) => s.label)).toEqual(["10.0.0.1:3000", "10.0.0.2:3000", "127.0.0.1:3009"]);
    // Host (and SNI) keep the name; the connection goes to the address.
    expect(g.servers[0]!.target.host).toBe("app.test:3000");
    expect(g.servers[0]!.pool.addr).toMatchObject({ hostname: "10.0.0.1", serverName: "app.test", port: 3000 });
    const two = g.servers[1]!;
    two.requests = 5;
    const one = g.servers[0]!;
    answer = ["10.0.0.3", "10.0.0.2"];
    await g.resolveNow();
    expect(g.servers.map((s) => s.label)).toEqual(["10.0.0.2:3000", "10.0.0.3:3000", "127.0.0.1:3009"]);
    expect(g.servers[0]).toBe(two);
    expect(g.servers[0]!.requests).toBe(5);
    expect(one.retired).toBe(true);
    answer = new Error("SERVFAIL");
    await g.resolveNow();
    expect(g.servers.map((s) => s.label)).toEqual(["10.0.0.2:3000", "10.0.0.3:3000", "127.0.0.1:3009"]);
    answer = [];
    await g.resolveNow();
    expect(g.servers.length).toBe(3);
    g.retire();
  });
  test("before the first answer (or when it never comes) the name itself is the server", () => {
    const g = new UpstreamGroup(group({}, ["http://app.test:3000"]), "app", POOL, () => new Promise(() => {}));
    expect(g.servers.map((s) => s.label)).toEqual(["app.test:3000"]);
    g.retire();
  });
});

describe("drain (admin API) in the registry", () => {
  const wanted = (cfg: UpstreamGroupConfig, name = "app") => [{ name, cfg, pool: POOL }];
  test("a drained server is never picked; enable brings it back; unknown names are refused", () => {
    const reg = new UpstreamRegistry();
    const g = reg.sync(wanted(group())).values().next().value!;
    expect(reg.setDrained("app", "127.0.0.1:3002", true)).toBe(true);
    expect(reg.setDrained("app", "127.0.0.1:9999", true)).toBe(false);
    expect(reg.setDrained("nope", "127.0.0.1:3002", true)).toBe(false);
    const picked = new Set(Array.from({ length: 30 }, () => g.pick("", null, null, 0)!.name));
    expect([...picked].sort()).toEqual(["127.0.0.1:3001", "127.0.0.1:3003"]);
    expect(reg.states().map((s) => [s.server, s.drained])).toEqual([
      ["127.0.0.1:3001", false],
      ["127.0.0.1:3002", true],
      ["127.0.0.1:3003", false],
    ]);
    // A cookie naming the drained server does not pin to it.
    const cookie = g.servers[1]!.cookieValue;
    expect(g.pick("", null, cookie, 0)!.name).not.toBe("127.0.0.1:3002");
    reg.setDrained("app", "127.0.0.1:3002", false);
    expect(new Set(Array.from({ length: 30 }, () => g.pick("", null, null, 0)!.name)).size).toBe(3);
    // A supervisor's whole set (a worker it restarted): exactly these, unknown names skipped.
    reg.setDrained("app", "127.0.0.1:3003", true);
    reg.replaceDrained([["app", "127.0.0.1:3001"], ["gone", "x:1"]]);
    expect(reg.states().filter((s) => s.drained).map((s) => s.server)).toEqual(["127.0.0.1:3001"]);
    expect(reg.drainedList()).toEqual([["app", "127.0.0.1:3001"]]);
    reg.retireAll();
  });
  test("survives a reload that keeps the server; forgotten when a reload removes it (re-added: enabled)", () => {
    const reg = new UpstreamRegistry();
    reg.sync(wanted(group()));
    reg.setDrained("app", "127.0.0.1:3003", true);
    reg.sync(wanted(group({ retries: 2 })));
    expect(reg.states().find((s) => s.server === "127.0.0.1:3003")!.drained).toBe(true);
    expect(reg.drainedList()).toEqual([["app", "127.0.0.1:3003"]]);
    reg.sync(wanted(group({}, ["http://127.0.0.1:3001"])));
    expect(reg.drainedList()).toEqual([]);
    reg.sync(wanted(group()));
    expect(reg.states().every((s) => !s.drained)).toBe(true);
    reg.retireAll();
  });
  test("a host name's addresses are one server by name: all drained, and new addresses come up drained", async () => {
    let answer = ["10.0.0.1", "10.0.0.2"];
    const reg = new UpstreamRegistry(async () => answer);
    const cfg = group({ resolveIntervalMs: 3_600_000 }, ["http://app.test:3000", "http://127.0.0.1:3009"]);
    reg.sync(wanted(cfg));
    const g = reg.all()[0]!;
    // sync started the first lookup; wait for it (resolveNow returns at once while one runs).
    for (let i = 0; i < 50 && g.servers.length < 3; i++) await Bun.sleep(1);
    expect(reg.setDrained("app", "app.test:3000", true)).toBe(true);
    expect(reg.states().map((s) => [s.server, s.address, s.drained])).toEqual([
      ["app.test:3000", "10.0.0.1:3000", true],
      ["app.test:3000", "10.0.0.2:3000", true],
      ["127.0.0.1:3009", "127.0.0.1:3009", false],
    ]);
    answer = ["10.0.0.2", "10.0.0.3"];
    await g.resolveNow();
    expect(reg.states().map((s) => [s.address, s.drained])).toEqual([
      ["10.0.0.2:3000", true],
      ["10.0.0.3:3000", true],
      ["127.0.0.1:3009", false],
    ]);
    for (let i = 0; i < 10; i++) expect(g.pick("", null, null, 0)!.name).toBe("127.0.0.1:3009");
    reg.retireAll();
  });
});

describe("mergeUpstreamStates (workers, and groups shared by routes)", () => {
  const st = (over: Partial<UpstreamServerState>): UpstreamServerState => ({
    group: "app",
    server: "a:1",
    address: "a:1",
    drained: false,
    maxConns: 0,
    backup: false,
    weight: 1,
    inflight: 0,
    requests: 0,
    failures: 0,
    healthy: true,
    lastCheck: null,
    lastCheckOk: null,
    lastCheckReason: null,
    latencyMs: null,
    ...over,
  });
  test("counts add up; healthy only if all; drained if any; newest check; requests-weighted latency", () => {
    const merged = mergeUpstreamStates([
      [st({ inflight: 1, requests: 10, failures: 1, latencyMs: 10, lastCheck: 100, lastCheckOk: true, lastCheckReason: null }), st({ server: "b:1", address: "b:1" })],
      [st({ inflight: 2, requests: 30, failures: 2, healthy: false, drained: true, latencyMs: 30, lastCheck: 200, lastCheckOk: false, lastCheckReason: "status 500" })],
    ]);
    expect(merged.length).toBe(2);
    expect(merged[0]).toMatchObject({ inflight: 3, requests: 40, failures: 3, healthy: false, drained: true, lastCheck: 200, lastCheckOk: false, lastCheckReason: "status 500", latencyMs: 25 });
    expect(merged[1]!.server).toBe("b:1");
  });
  test("JSON: groups in first-seen order, snake_case fields, ISO check time", () => {
    const j = upstreamsJson([st({ lastCheck: 0, lastCheckOk: true }), st({ group: "site0.route1", server: "c:1", address: "c:1", latencyMs: 1.23456 })]);
    expect(j.groups.map((g) => g.name)).toEqual(["app", "site0.route1"]);
    expect(j.groups[0]!.servers[0]).toMatchObject({ server: "a:1", in_flight: 0, max_conns: 0, last_check: "1970-01-01T00:00:00.000Z", last_check_ok: true });
    expect(j.groups[1]!.servers[0]!.latency_ms).toBe(1.235);
  });
});
