/**
 * GET /api/upstreams and POST /api/upstreams/{group}/{server}/drain|enable against the real
 * server, single process and --workers 2: a drained server gets no new request (the backends
 * count their hits), an enabled one gets traffic again, a drain survives a reload while the
 * server is still configured, and unknown names are 404 JSON. The per-server metric series are
 * checked on the same traffic. POST /api/cache/purge without a cache is 404 JSON (the purge
 * bodies with a fake cache are unit-tested in tests/unit/observe-admin.test.ts).
 */
import { afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, type RunningServer } from "./harness.ts";
import { closedPort, httpBackend, request, type HttpBackend } from "./proxy-backends.ts";

const servers: RunningServer[] = [];
const backends: HttpBackend[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop("SIGTERM");
  for (const b of backends.splice(0)) b.stop();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const TOKEN = "upstream-admin-token-0123456789";
const AUTH = { Authorization: `Bearer ${TOKEN}` };

function counted(): HttpBackend & { hits: number } {
  const b = { hits: 0 } as HttpBackend & { hits: number };
  const inner = httpBackend(() => {
    b.hits++;
    return new Response("ok");
  });
  backends.push(inner);
  return Object.assign(b, { port: inner.port, stop: inner.stop });
}

function configText(admin: number, port: number, a: number, b: number, withB = true): string {
  return (
    `[admin]\nlisten = "127.0.0.1:${admin}"\ntoken = "${TOKEN}"\n[log]\naccess = "off"\n` +
    `[upstream.app]\nto = ["http://127.0.0.1:${a}"${withB ? `, "http://127.0.0.1:${b}"` : ""}]\n` +
    `[[site]]\nlisten = ["127.0.0.1:${port}"]\n` +
    `  [[site.route]]\n  path = "/inline"\n  proxy = { to = ["http://127.0.0.1:${a}"] }\n` +
    `  [[site.route]]\n  path = "/"\n  proxy = { upstream = "app" }\n`
  );
}

/** The supervisor's worker processes (Linux /proc: field 4 of /proc/PID/stat is the parent). */
function childPids(parent: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, "utf8");
      // The command name (field 2) is in parentheses and may hold spaces: split after it.
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[1]) === parent) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** n requests, each on its own connection (so with workers they spread over the processes). */
async function send(port: number, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await request(port, `GET /x${i} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    expect(r.status).toBe(200);
  }
}

for (const workers of [1, 2]) {
  describe(`upstream admin API (--workers ${workers})`, () => {
    test("list; drain → no new requests reach it; enable → traffic returns; survives reload; 404/405/401", async () => {
      const A = counted();
      const B = counted();
      const admin = closedPort();
      const port = closedPort();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-upadmin-"));
      dirs.push(dir);
      const file = path.join(dir, "c.toml");
      fs.writeFileSync(file, configText(admin, port, A.port, B.port));
      const s = await startServer(["--config", file, "--workers", String(workers)]);
      servers.push(s);
      const api = `http://127.0.0.1:${admin}/api/upstreams`;
      const nameA = `127.0.0.1:${A.port}`;
      const nameB = `127.0.0.1:${B.port}`;

      expect((await fetch(api)).status).toBe(401);
      expect((await fetch(`${api}/app/${nameB}/drain`, { method: "POST" })).status).toBe(401);

      await send(port, 10);
      expect(A.hits + B.hits).toBe(10);
      expect(B.hits).toBeGreaterThan(0);
      const list = (await (await fetch(api, { headers: AUTH })).json()) as any;
      const names = list.groups.map((g: any) => g.name).sort();
      expect(names).toEqual(["app", "site0.route0"]);
      const app = list.groups.find((g: any) => g.name === "app");
      expect(app.servers.map((x: any) => x.server)).toEqual([nameA, nameB]);
      const sb = app.servers[1];
      expect(sb).toMatchObject({ address: nameB, healthy: true, drained: false, in_flight: 0, failures: 0, weight: 1, backup: false, max_conns: 0 });
      expect(sb.requests).toBe(B.hits);
      expect(app.servers[0].requests).toBe(A.hits);
      expect(typeof sb.latency_ms).toBe("number");

      // Drain B: every new request goes to A.
      const d = await fetch(`${api}/app/${nameB}/drain`, { method: "POST", headers: AUTH });
      expect(d.status).toBe(200);
      expect(d.headers.get("content-type")).toBe("application/json");
      const dj = (await d.json()) as any;
      expect(dj.groups[0].servers[0]).toMatchObject({ server: nameB, drained: true });
      const bBefore = B.hits;
      const aBefore = A.hits;
      await send(port, 20);
      expect(B.hits).toBe(bBefore);
      expect(A.hits).toBe(aBefore + 20);
      // Idempotent; and the state is shown.
      expect((await fetch(`${api}/app/${nameB}/drain`, { method: "POST", headers: AUTH })).status).toBe(200);
      const after = (await (await fetch(api, { headers: AUTH })).json()) as any;
      expect(after.groups.find((g: any) => g.name === "app").servers[1].drained).toBe(true);

      // Metrics: per-server series with config names as labels.
      const m = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
      expect(m).toContain(`dreamserver_upstream_drained{group="app",server="${nameB}"} 1\n`);
      expect(m).toContain(`dreamserver_upstream_healthy{group="app",server="${nameA}"} 1\n`);
      expect(m).toContain(`dreamserver_upstream_requests_total{group="app",server="${nameA}"} ${A.hits}\n`);
      expect(m).toContain(`dreamserver_upstream_requests_total{group="app",server="${nameB}"} ${B.hits}\n`);
      expect(m).toContain(`dreamserver_upstream_in_flight{group="app",server="${nameA}"} 0\n`);
      expect(m).toContain(`dreamserver_upstream_response_seconds_count{group="app",server="${nameA}"} ${A.hits}\n`);

      if (workers > 1) {
        // A worker that dies is restarted by the supervisor with the drained set in its environment.
        const pids = childPids(s.proc.pid);
        expect(pids.length).toBe(workers);
        process.kill(pids[0]!, "SIGKILL");
        const killedAt = Date.now();
        while (!s.stderr().includes("restarting") && Date.now() - killedAt < 5000) await Bun.sleep(20);
        // /readyz is 200 again once every worker listens (the restart waits 1 s for a young worker).
        let ready = 0;
        while (Date.now() - killedAt < 10_000) {
          ready = (await fetch(`http://127.0.0.1:${admin}/readyz`)).status;
          if (ready === 200 && s.stderr().includes("restarting")) break;
          await Bun.sleep(50);
        }
        expect(ready).toBe(200);
        const now = childPids(s.proc.pid);
        expect(now.length).toBe(workers);
        expect(now).not.toContain(pids[0]!);
        await send(port, 30);
        expect(B.hits).toBe(bBefore);
      }

      // A reload of a config that still has B keeps it drained.
      const rl = await fetch(`http://127.0.0.1:${admin}/api/reload`, { method: "POST", headers: AUTH });
      expect(rl.status).toBe(200);
      await send(port, 10);
      expect(B.hits).toBe(bBefore);

      // Enable: B gets traffic again.
      const e = await fetch(`${api}/app/${nameB}/enable`, { method: "POST", headers: AUTH });
      expect(e.status).toBe(200);
      expect(((await e.json()) as any).groups[0].servers[0].drained).toBe(false);
      await send(port, 10);
      expect(B.hits).toBeGreaterThan(bBefore);

      // Drained, removed from the config, added back: it comes back enabled.
      expect((await fetch(`${api}/app/${nameB}/drain`, { method: "POST", headers: AUTH })).status).toBe(200);
      fs.writeFileSync(file, configText(admin, port, A.port, B.port, false));
      expect((await fetch(`http://127.0.0.1:${admin}/api/reload`, { method: "POST", headers: AUTH })).status).toBe(200);
      expect((await fetch(`${api}/app/${nameB}/enable`, { method: "POST", headers: AUTH })).status).toBe(404);
      fs.writeFileSync(file, configText(admin, port, A.port, B.port));
      expect((await fetch(`http://127.0.0.1:${admin}/api/reload`, { method: "POST", headers: AUTH })).status).toBe(200);
      const back = (await (await fetch(api, { headers: AUTH })).json()) as any;
      expect(back.groups.find((g: any) => g.name === "app").servers.find((x: any) => x.server === nameB).drained).toBe(false);

      // The inline group by its route position; percent-encoded names are decoded.
      const inl = await fetch(`${api}/site0.route0/127.0.0.1%3A${A.port}/drain`, { method: "POST", headers: AUTH });
      expect(inl.status).toBe(200);
      const r503 = await request(port, `GET /inline HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
      expect(r503.status).toBe(503);
      expect(r503.header("retry-after")).toBeDefined();

      // Unknown group or server: 404 JSON; wrong method: 405; other paths under /api/upstreams: 404.
      for (const p of [`/nope/${nameA}/drain`, `/app/127.0.0.1:1/drain`, `/app/${nameA}x/enable`]) {
        const r = await fetch(api + p, { method: "POST", headers: AUTH });
        expect(r.status).toBe(404);
        expect(r.headers.get("content-type")).toBe("application/json");
        expect(((await r.json()) as any).error).toContain("no upstream server");
      }
      const g405 = await fetch(`${api}/app/${nameA}/drain`, { headers: AUTH });
      expect(g405.status).toBe(405);
      expect(g405.headers.get("allow")).toBe("POST");
      expect((await fetch(`${api}/app/${nameA}/pause`, { method: "POST", headers: AUTH })).status).toBe(404);
      expect((await fetch(`${api}/app/%ZZ/drain`, { method: "POST", headers: AUTH })).status).toBe(400);

      // No response cache in this build's config: purge is 404 JSON (with workers: no worker has one).
      const purge = await fetch(`http://127.0.0.1:${admin}/api/cache/purge`, { method: "POST", headers: AUTH, body: '{"all":true}' });
      expect(purge.status).toBe(404);
      expect(await purge.json()).toEqual({ error: "no cache configured" });
    }, 60_000);
  });
}
