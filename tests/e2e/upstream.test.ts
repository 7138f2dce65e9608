/**
 * Upstream groups end to end (issue 9, "done means"): dreamserver --config with [upstream.NAME]
 * groups in front of three or more scripted backends in this process.
 *
 * - distribution (round robin weights, exact), hash stickiness, cookie stickiness (and re-pick
 *   when the server is gone), backup only when every primary is down, max_conns → 503 at once;
 * - under load (8 keep-alive clients, ≥ 2,000 GETs) one backend is killed and restarted:
 *   retries = 2 gives zero client-visible failures; active checks bring it back within
 *   passes × interval; a backend whose health check fails is taken out within fails × interval;
 *   passive health alone also takes a killed backend out (the access log shows the attempts);
 * - all servers down → 503 NO_HEALTHY_UPSTREAM within 50 ms with Retry-After;
 * - a backend that accepts and never answers is taken out by the first-byte timeout plus passive
 *   health, and the other servers' traffic does not stall; a retry on a pooled connection keeps
 *   its own first-byte deadline;
 * - reload keeps the state and pooled connections of servers still configured; a host name in
 *   `to` is resolved to its address.
 *
 * Backends are Bun.listen servers with a tiny HTTP/1.1 responder; kill() closes the listener and
 * every connection at once (a crash), start() listens again on the same port.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import fs from "node:fs";
import path from "node:path";
import { startServer, tmpDir, type RunningServer } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";

setDefaultTimeout(60_000);

interface BackendOpts {
  /** Never answer (accept and read only). */
  silent?: boolean;
  /** Delay before each answer to a non-health request, ms. */
  delayMs?: number;
}

class Backend {
  listener: TCPSocketListener<{ buf: string }> | null = null;
  port = 0;
  readonly conns = new Set<Socket<{ buf: string }>>();
  /** Non-health requests answered, with their time. */
  hits: number[] = [];
  healthChecks = 0;
  /** The health endpoint answers 500 while set. */
  sick = false;
  constructor(
    readonly name: string,
    readonly opts: BackendOpts = {},
  ) {}

  start(): this {
    const self = this;
    this.listener = Bun.listen<{ buf: string }>({
      hostname: "127.0.0.1",
      port: this.port,
      socket: {
        open(s) {
          s.data = { buf: "" };
          self.conns.add(s);
        },
        data(s, chunk) {
          s.data.buf += chunk.toString("latin1");
          for (;;) {
            const end = s.data.buf.indexOf("\r\n\r\n");
            if (end < 0) return;
            const head = s.data.buf.slice(0, end);
            s.data.buf = s.data.buf.slice(end + 4);
            const target = head.split(" ")[1] ?? "/";
            if (target === "/healthz") {
              self.healthChecks++;
              const st = self.sick ? "500 Sick" : "200 OK";
              s.write(`HTTP/1.1 ${st}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhc`);
              s.end();
              return;
            }
            if (self.opts.silent) continue;
            const cookieLine = /\r\ncookie: *([^\r]*)/i.exec(head)?.[1] ?? "";
            const answer = (): void => {
              if (!self.conns.has(s)) return;
              self.hits.push(performance.now());
              const body = self.name;
              s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Backend: ${self.name}\r\nX-Saw-Cookie: ${cookieLine}\r\n\r\n${body}`);
            };
            if (self.opts.delayMs) setTimeout(answer, self.opts.delayMs);
            else answer();
          }
        },
        close(s) {
          self.conns.delete(s);
        },
        error(s) {
          self.conns.delete(s);
        },
      },
    });
    this.port = this.listener.port;
    return this;
  }

  /** A crash: the listener and every connection go at once. */
  kill(): void {
    this.listener?.stop(true);
    this.listener = null;
    for (const s of this.conns) s.terminate();
    this.conns.clear();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get label(): string {
    return `127.0.0.1:${this.port}`;
  }
}

let server: RunningServer | null = null;
let backends: Backend[] = [];
afterEach(async () => {
  await server?.stop();
  server = null;
  for (const b of backends) b.kill();
  backends = [];
});

let configFile = "";
const configText = (groupToml: string, routeExtra = "", port = 0): string =>
  `${groupToml}\n[[site]]\nlisten = ["127.0.0.1:${port}"]\n  [[site.route]]\n  path = "/"\n  proxy = { upstream = "app" }\n${routeExtra}\n`;

async function start(groupToml: string, routeExtra = ""): Promise<RunningServer> {
  const dir = tmpDir("ds-upstream-");
  configFile = path.join(dir, "c.toml");
  fs.writeFileSync(configFile, configText(groupToml, routeExtra));
  server = await startServer(["--config", configFile, "--log-format", "json"]);
  return server;
}

const toList = (bs: Backend[]): string => `[${bs.map((b) => JSON.stringify(b.url)).join(", ")}]`;

async function get(port: number, pathname = "/", headers: Record<string, string> = {}): Promise<{ status: number; backend: string | null; headers: Headers; ms: number }> {
  const t0 = performance.now();
  const r = await fetch(`http://127.0.0.1:${port}${pathname}`, { headers });
  await r.arrayBuffer();
  return { status: r.status, backend: r.headers.get("x-backend"), headers: r.headers, ms: performance.now() - t0 };
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** Complete access-log lines written so far (a line still being written is left out). */
function logLines(s: RunningServer): Record<string, unknown>[] {
  const text = s.readLog();
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("selection through the proxy", () => {
  test("round_robin with weights 2:1:1 gives an exact 2:1:1 split, interleaved", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const [a, b, c] = backends as [Backend, Backend, Backend];
    const s = await start(`[upstream.app]\nto = [{ url = "${a.url}", weight = 2 }, "${b.url}", "${c.url}"]`);
    const seen: string[] = [];
    for (let i = 0; i < 400; i++) seen.push((await get(s.port)).backend!);
    expect([a.hits.length, b.hits.length, c.hits.length]).toEqual([200, 100, 100]);
    // Smooth: never more than two a's in a row.
    expect(seen.join("")).not.toContain("aaa");
  });

  test("hash on a header: one user always reaches the same backend, users spread over all", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const s = await start(`[upstream.app]\nto = ${toList(backends)}\npolicy = "hash"\nhash_key = "{header.X-User}"`);
    const byUser = new Map<string, Set<string>>();
    for (let i = 0; i < 60; i++) {
      const u = `user${i % 30}`;
      const r = await get(s.port, "/", { "X-User": u });
      if (!byUser.has(u)) byUser.set(u, new Set());
      byUser.get(u)!.add(r.backend!);
    }
    for (const set of byUser.values()) expect(set.size).toBe(1);
    expect(new Set([...byUser.values()].map((x) => [...x][0])).size).toBe(3);
  });

  test("cookie: sticky to the named server; a new pick and a new cookie when it is gone", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const s = await start(`[upstream.app]\nto = ${toList(backends)}\npolicy = "cookie"\nretries = 2`);
    const first = await get(s.port);
    const setCookie = first.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/^ds_upstream=[0-9a-f]{8}; Path=\/; HttpOnly; SameSite=Lax$/);
    const cookie = setCookie.split(";")[0]!;
    for (let i = 0; i < 20; i++) {
      const r = await get(s.port, "/", { Cookie: cookie });
      expect(r.backend).toBe(first.backend);
      expect(r.headers.get("set-cookie")).toBeNull();
      // The cookie still reaches the backend.
      expect(r.headers.get("x-saw-cookie")).toBe(cookie);
    }
    backends.find((b) => b.name === first.backend)!.kill();
    const moved = await get(s.port, "/", { Cookie: cookie });
    expect(moved.status).toBe(200);
    expect(moved.backend).not.toBe(first.backend);
    const next = moved.headers.get("set-cookie")!.split(";")[0]!;
    expect(next).not.toBe(cookie);
    for (let i = 0; i < 5; i++) expect((await get(s.port, "/", { Cookie: next })).backend).toBe(moved.backend);
  });

  test("backup: no traffic while a primary is up; all of it when every primary is down", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const [a, b, c] = backends as [Backend, Backend, Backend];
    const s = await start(`[upstream.app]\nto = ["${a.url}", "${b.url}", { url = "${c.url}", backup = true }]\nretries = 2`);
    for (let i = 0; i < 30; i++) expect((await get(s.port)).backend).not.toBe("c");
    expect(c.hits.length).toBe(0);
    a.kill();
    for (let i = 0; i < 20; i++) {
      const r = await get(s.port);
      expect(r.status).toBe(200);
      expect(r.backend).toBe("b");
    }
    b.kill();
    for (let i = 0; i < 10; i++) {
      const r = await get(s.port);
      expect(r.status).toBe(200);
      expect(r.backend).toBe("c");
    }
  });

  test("max_conns: the cap holds; with every server at its cap the answer is 503 at once with Retry-After", async () => {
    backends = [new Backend("a", { delayMs: 600 }).start(), new Backend("b", { delayMs: 600 }).start(), new Backend("c", { delayMs: 600 }).start()];
    const [a, b, c] = backends as [Backend, Backend, Backend];
    const s = await start(`[upstream.app]\nto = [{ url = "${a.url}", max_conns = 1 }, { url = "${b.url}", max_conns = 1 }, { url = "${c.url}", max_conns = 2 }]\npolicy = "least_conn"`);
    const slow = Array.from({ length: 4 }, () => get(s.port));
    // The proxy counts a request in flight before it connects, so 4 backend connections = 4 in flight.
    await until(() => a.conns.size + b.conns.size + c.conns.size >= 4, 3000, "4 requests upstream");
    const over = await get(s.port);
    expect(over.status).toBe(503);
    expect(over.ms).toBeLessThan(100);
    expect(over.headers.get("retry-after")).toBe("1");
    const done = await Promise.all(slow);
    expect(done.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(done.filter((r) => r.backend === "c").length).toBe(2);
    await until(() => logLines(s).some((l) => l.error === "NO_HEALTHY_UPSTREAM" && l.status === 503), 5000, "the 503 in the access log");
  });
});

describe("failures", () => {
  test("all servers down: the first request tries each (502 UPSTREAM_CONNECT), the next gets 503 NO_HEALTHY_UPSTREAM within 50 ms", async () => {
    const ports = [closedPort(), closedPort(), closedPort()];
    const s = await start(`[upstream.app]\nto = [${ports.map((p) => `"http://127.0.0.1:${p}"`).join(", ")}]\nretries = 2`);
    const first = await get(s.port);
    expect(first.status).toBe(502);
    for (let i = 0; i < 5; i++) {
      const r = await get(s.port);
      expect(r.status).toBe(503);
      expect(r.ms).toBeLessThan(50);
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    }
    await until(() => logLines(s).length >= 6, 5000, "6 access-log lines");
    const log = logLines(s);
    expect(log[0]).toMatchObject({ status: 502, error: "UPSTREAM_CONNECT" });
    // The attempts: all three servers, in the order tried.
    expect(String(log[0]!.upstream).split(", ").length).toBe(3);
    expect(log[1]).toMatchObject({ status: 503, error: "NO_HEALTHY_UPSTREAM" });
  });

  test("a backend that accepts and never answers: first-byte timeout + passive health take it out; the others do not stall", async () => {
    backends = [new Backend("a").start(), new Backend("stuck", { silent: true }).start(), new Backend("c").start()];
    const s = await start(`[upstream.app]\nto = ${toList(backends)}\nretries = 2\npassive = { max_fails = 1, fail_timeout = "30s" }`, `  timeouts = { upstream = "300ms" }`);
    const results = await Promise.all(Array.from({ length: 4 }, async () => {
      const out = [];
      for (let i = 0; i < 15; i++) out.push(await get(s.port));
      return out;
    }));
    const all = results.flat();
    expect(all.every((r) => r.status === 200)).toBe(true);
    // Only requests that happened to be on the stuck server when it was picked waited for the timeout.
    const slow = all.filter((r) => r.ms > 250).length;
    expect(slow).toBeLessThanOrEqual(4);
    await until(() => logLines(s).length >= 60, 5000, "60 access-log lines");
    const log = logLines(s);
    const viaStuck = log.filter((l) => String(l.upstream).includes(backends[1]!.label));
    expect(viaStuck.length).toBeLessThanOrEqual(4);
    for (const l of viaStuck) expect(String(l.upstream).split(", ").length).toBe(2); // retried elsewhere
  });
});

describe("host names", () => {
  test("a host name in to is resolved: the record's address is the server (Host keeps the name)", async () => {
    backends = [new Backend("a").start()];
    const a = backends[0]!;
    const s = await start(`[upstream.app]\nto = ["http://localhost:${a.port}"]\nresolve_interval = "1s"`);
    let n = 0;
    for (;;) {
      expect((await get(s.port)).status).toBe(200);
      n++;
      await Bun.sleep(20);
      if (logLines(s).some((l) => l.upstream === a.label)) break;
      if (n > 100) throw new Error(`never logged ${a.label}: ${JSON.stringify(logLines(s).map((l) => l.upstream))}`);
    }
  });
});

describe("timeouts on retries", () => {
  test("a retry that goes out on a pooled connection keeps its own first-byte deadline", async () => {
    backends = [new Backend("a").start(), new Backend("b").start()];
    const [a, b] = backends as [Backend, Backend];
    const s = await start(`[upstream.app]\nto = ${toList(backends)}\nretries = 1\npassive = { max_fails = 0 }`, `  timeouts = { upstream = "300ms" }`);
    // Both servers get a pooled connection…
    for (let i = 0; i < 4; i++) expect((await get(s.port)).status).toBe(200);
    // …then both stop answering: attempt 1 times out, attempt 2 (pooled, on the other) must too.
    a.opts.silent = true;
    b.opts.silent = true;
    const r = await get(s.port);
    expect(r.status).toBe(504);
    expect(r.ms).toBeLessThan(1500);
    await until(() => logLines(s).length >= 5, 5000, "5 access-log lines");
    const last = logLines(s).at(-1)!;
    expect(last).toMatchObject({ status: 504, error: "UPSTREAM_TIMEOUT" });
    expect(String(last.upstream).split(", ").length).toBe(2);
  });
});

/** 8 keep-alive clients doing GETs until `total` answers; `at` runs actions at fractions of it. */
async function load(port: number, total: number, at: [number, () => void][]): Promise<{ ok: number; failed: { status: number; body: string }[] }> {
  let sent = 0;
  let ok = 0;
  const failed: { status: number; body: string }[] = [];
  const pending = [...at].sort((x, y) => x[0] - y[0]);
  const client = async (): Promise<void> => {
    while (sent < total) {
      sent++;
      while (pending.length && sent >= pending[0]![0] * total) pending.shift()![1]();
      try {
        const r = await fetch(`http://127.0.0.1:${port}/load`);
        const body = await r.text();
        if (r.status === 200) ok++;
        else failed.push({ status: r.status, body: body.slice(0, 80) });
      } catch (e) {
        failed.push({ status: 0, body: String(e) });
      }
      // A little pacing so the run lasts long enough for health checks to act.
      if (sent % 8 === 0) await Bun.sleep(1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));
  return { ok, failed };
}

describe("kill and restart under load (retries = 2)", () => {
  test("active checks: zero client-visible failures; back within passes × interval of the restart", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const b = backends[1]!;
    const interval = 200;
    const s = await start(`[upstream.app]\nto = ${toList(backends)}\nretries = 2\nhealth = { path = "/healthz", interval = "${interval}ms", timeout = "100ms", passes = 2, fails = 2 }`);
    let killedAt = 0;
    let restartedAt = 0;
    const r1 = await load(s.port, 1200, [[0.5, () => { b.kill(); killedAt = performance.now(); }]]);
    // Down for a while (active checks fail meanwhile), then back.
    await Bun.sleep(interval * 3);
    const hitsBefore = b.hits.length;
    b.start();
    restartedAt = performance.now();
    const r2 = await load(s.port, 1200, []);
    // Keep traffic going until b is back (or well past the bound), so a fast run cannot end first.
    while (b.hits.length === hitsBefore && performance.now() < restartedAt + 10 * interval) expect((await get(s.port)).status).toBe(200);
    expect(r1.failed).toEqual([]);
    expect(r2.failed).toEqual([]);
    expect(r1.ok + r2.ok).toBe(2400);
    expect(killedAt).toBeGreaterThan(0);
    const back = b.hits.slice(hitsBefore);
    expect(back.length).toBeGreaterThan(0);
    // passes × interval, plus one interval of phase and scheduling slack.
    expect(back[0]! - restartedAt).toBeLessThan(2 * interval + interval + 150);
  });

  test("active checks take a server whose check fails out within fails × interval", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const b = backends[1]!;
    const interval = 200;
    const s = await start(`[upstream.app]\nto = ${toList(backends)}\nhealth = { path = "/healthz", interval = "${interval}ms", timeout = "100ms", passes = 2, fails = 2 }`);
    await until(() => b.healthChecks >= 1, 2000, "a first check");
    let sickAt = 0;
    const r = await load(s.port, 2000, [[0.3, () => { b.sick = true; sickAt = performance.now(); }]]);
    expect(r.failed).toEqual([]);
    // Keep traffic going until well past fails × interval, so the bound below is what is measured.
    while (performance.now() < sickAt + 5 * interval) expect((await get(s.port)).status).toBe(200);
    const last = b.hits[b.hits.length - 1]!;
    expect(last - sickAt).toBeLessThan(2 * interval + interval + 150);
    // …and after the run it gets nothing.
    const n = b.hits.length;
    for (let i = 0; i < 20; i++) await get(s.port);
    expect(b.hits.length).toBe(n);
  });

  test("passive health alone: zero client-visible failures, the killed server is skipped after its first failures", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const b = backends[1]!;
    const s = await start(`[upstream.app]\nto = ${toList(backends)}\nretries = 2\npassive = { max_fails = 1, fail_timeout = "30s" }`);
    const r = await load(s.port, 2400, [[0.4, () => b.kill()]]);
    expect(r.failed).toEqual([]);
    expect(r.ok).toBe(2400);
    await until(() => logLines(s).length >= 2400, 5000, "2400 access-log lines");
    const log = logLines(s);
    expect(log.length).toBe(2400);
    // Attempts that went to b after it died: each one retried elsewhere, and only a handful
    // (requests already on their way when it died, plus the one that marked it down).
    const retried = log.filter((l) => String(l.upstream).includes(", "));
    expect(retried.length).toBeGreaterThan(0);
    expect(retried.length).toBeLessThanOrEqual(12);
    for (const l of retried) expect(String(l.upstream).startsWith(b.label)).toBe(true);
  });
});

describe("reload", () => {
  test("servers still configured keep their state and pooled connections; a removed server drains", async () => {
    backends = [new Backend("a").start(), new Backend("b").start(), new Backend("c").start()];
    const [a, b, c] = backends as [Backend, Backend, Backend];
    const dead = closedPort();
    const group = (list: string[]) => `[upstream.app]\nto = [${list.map((u) => JSON.stringify(u)).join(", ")}]\nretries = 2\npassive = { max_fails = 1, fail_timeout = "30s" }`;
    const s = await start(group([a.url, b.url, `http://127.0.0.1:${dead}`]));
    // Warm up: a and b get pooled connections; the dead server is taken out passively.
    for (let i = 0; i < 12; i++) expect((await get(s.port)).status).toBe(200);
    const aConns = a.conns.size;
    const bConns = b.conns.size;
    expect(aConns).toBeGreaterThan(0);
    // Reload: b is removed, c added; a and the dead server stay.
    fs.writeFileSync(configFile, configText(group([a.url, `http://127.0.0.1:${dead}`, c.url])));
    const before = s.stderr().split("configuration reloaded").length;
    s.proc.kill("SIGHUP");
    await until(() => s.stderr().split("configuration reloaded").length > before, 5000, "the reload");
    const beforeHits = a.hits.length;
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await get(s.port);
      expect(r.status).toBe(200);
      seen.add(r.backend!);
    }
    expect([...seen].sort()).toEqual(["a", "c"]);
    expect(a.hits.length).toBeGreaterThan(beforeHits);
    // a's pooled connections were reused, not reopened; b's were closed (drained).
    expect(a.conns.size).toBe(aConns);
    await until(() => b.conns.size === 0, 3000, "b's connections to close");
    expect(bConns).toBeGreaterThan(0);
    // The dead server kept its passive state: no request after the reload tried it.
    await until(() => logLines(s).length >= 24, 5000, "24 access-log lines");
    const after = logLines(s).slice(12);
    expect(after.every((l) => !String(l.upstream).includes(`:${dead}`))).toBe(true);
  });
});
