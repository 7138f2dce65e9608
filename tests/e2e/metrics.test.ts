/**
 * GET /metrics on the admin listener: counters match the traffic (one process and --workers 2,
 * where the supervisor sums its workers), OpenMetrics on request, [metrics] enabled = false,
 * reload counters, `promtool check metrics`, and a real Prometheus server scraping us.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Conn } from "./core-helpers.ts";
import { startServer, waitFor, type RunningServer } from "./harness.ts";
import { IN_CI, need, skipWithout } from "./real-clients-helpers.ts";
import { closedPort, httpBackend, type HttpBackend } from "./proxy-backends.ts";

const servers: RunningServer[] = [];
const procs: Subprocess[] = [];
const dirs: string[] = [];
const backends: HttpBackend[] = [];
afterEach(async () => {
  for (const b of backends.splice(0)) b.stop();
  for (const p of procs.splice(0)) p.kill("SIGKILL");
  // SIGTERM, not SIGKILL: a killed supervisor would leave its workers running.
  for (const s of servers.splice(0)) await s.stop("SIGTERM");
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function request(port: number, target: string, headers = ""): Promise<{ status: number; type: string; body: string }> {
  const c = await Conn.open(port);
  try {
    c.write(`GET ${target} HTTP/1.1\r\nHost: localhost\r\n${headers}Connection: close\r\n\r\n`);
    const r = await c.response("GET", 5000);
    return { status: r.status, type: r.header("content-type") ?? "", body: r.body.toString() };
  } finally {
    c.destroy();
  }
}

/** Sample lines as "name{labels}" → value. */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

/** A config with one route per status class we count, and the admin listener on `admin`. */
function writeConfig(port: number, admin: number, extra = "", upstream = 0): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-metrics-"));
  dirs.push(dir);
  const file = path.join(dir, "c.toml");
  fs.writeFileSync(
    file,
    `${extra}[admin]\nlisten = "127.0.0.1:${admin}"\n[log]\naccess = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\n` +
      `  [[site.route]]\n  path = "=/ok"\n  respond = { status = 200, body = "ok" }\n` +
      `  [[site.route]]\n  path = "=/gone"\n  respond = { status = 410, body = "gone" }\n` +
      `  [[site.route]]\n  path = "=/fail"\n  respond = { status = 503, body = "fail" }\n` +
      `  [[site.route]]\n  path = "=/limited"\n  respond = { status = 200, body = "ok" }\n  rate_limit = { rate = "1/m", burst = 1 }\n` +
      (upstream ? `  [[site.route]]\n  path = "=/up"\n  proxy = { to = ["http://127.0.0.1:${upstream}"] }\n` : ""),
  );
  return file;
}

/** Requests to the rate-limited route; returns how many got 429. */
async function limited(port: number, n: number): Promise<number> {
  let refused = 0;
  for (let i = 0; i < n; i++) if ((await request(port, "/limited")).status === 429) refused++;
  return refused;
}

async function traffic(port: number, n2: number, n4: number, n5: number, nNone: number): Promise<void> {
  const all: Promise<unknown>[] = [];
  for (let i = 0; i < n2; i++) all.push(request(port, "/ok"));
  for (let i = 0; i < n4; i++) all.push(request(port, "/gone"));
  for (let i = 0; i < n5; i++) all.push(request(port, "/fail"));
  for (let i = 0; i < nNone; i++) all.push(request(port, "/nowhere"));
  await Promise.all(all);
}

function expectCounts(m: Map<string, number>, refused: number): void {
  expect(refused).toBeGreaterThan(0);
  expect(m.get('dreamserver_rate_limited_total{site="0",route="3"}')).toBe(refused);
  expect(m.get('dreamserver_requests_total{site="0",route="3",method="GET",status="4xx"}')).toBe(refused);
  expect(m.get("dreamserver_websocket_tunnels_open")).toBe(0);
  expect(m.get("dreamserver_log_write_errors_total")).toBe(0);
  expect(m.get("dreamserver_event_loop_lag_seconds")).toBeGreaterThanOrEqual(0);
  expect(m.get('dreamserver_requests_total{site="0",route="0",method="GET",status="2xx"}')).toBe(7);
  expect(m.get('dreamserver_requests_total{site="0",route="1",method="GET",status="4xx"}')).toBe(3);
  expect(m.get('dreamserver_requests_total{site="0",route="2",method="GET",status="5xx"}')).toBe(2);
  // No route took it: the site's "none" series, never the path as a label.
  expect(m.get('dreamserver_requests_total{site="0",route="none",method="GET",status="4xx"}')).toBe(4);
  expect(m.get('dreamserver_request_duration_seconds_count{site="0",route="0"}')).toBe(7);
  expect(m.get('dreamserver_request_duration_seconds_bucket{site="0",route="0",le="60"}')).toBe(7);
  expect(m.get("dreamserver_connections_accepted_total")).toBe(16 + 5);
  expect(m.get('dreamserver_response_bytes_total{site="0",route="0"}')!).toBeGreaterThan(7 * 40);
  expect(m.get("dreamserver_received_bytes_total")!).toBeGreaterThan(16 * 40);
  expect(m.get("process_resident_memory_bytes")!).toBeGreaterThan(1e6);
  expect(m.get("process_open_fds")!).toBeGreaterThan(3);
  expect(m.get("process_cpu_seconds_total")!).toBeGreaterThan(0);
  for (const k of m.keys()) expect(k).not.toContain("nowhere");
}

describe("GET /metrics", () => {
  test("N requests → N counted per route and status class; OpenMetrics on request; reloads counted", async () => {
    const port = closedPort();
    const admin = closedPort();
    const file = writeConfig(port, admin);
    const s = await startServer(["--config", file, "--workers", "1"]);
    servers.push(s);
    await traffic(port, 7, 3, 2, 4);
    const refused = await limited(port, 5);
    const r = await request(admin, "/metrics");
    expect(r.status).toBe(200);
    expect(r.type).toBe("text/plain; version=0.0.4; charset=utf-8");
    expectCounts(samples(r.body), refused);
    expect(refused).toBe(4); // one process: burst 1, then 429s
    // The admin listener's own requests are not counted as site traffic.
    expect(samples((await request(admin, "/metrics")).body).get("dreamserver_connections_accepted_total")).toBe(16 + 5);

    const om = await request(admin, "/metrics", "Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n");
    expect(om.type).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
    expect(om.body.endsWith("# EOF\n")).toBe(true);
    expect(om.body).toContain("# TYPE dreamserver_requests counter\n");

    s.proc.kill("SIGHUP");
    await waitFor(() => s.stderr().includes("configuration reloaded"), 5000);
    fs.writeFileSync(file, "[[site]]\nlisten = 12\n");
    s.proc.kill("SIGHUP");
    await waitFor(() => s.stderr().includes("reload refused"), 5000);
    const after = samples((await request(admin, "/metrics")).body);
    expect(after.get('dreamserver_config_reloads_total{result="success"}')).toBe(1);
    expect(after.get('dreamserver_config_reloads_total{result="failure"}')).toBe(1);
    // Counts survive the reload (series are keyed by labels, not by runtime).
    expect(after.get('dreamserver_requests_total{site="0",route="0",method="GET",status="2xx"}')).toBe(7);
  });

  test("--workers 2: one scrape returns the whole instance (the supervisor sums its workers)", async () => {
    const port = closedPort();
    const admin = closedPort();
    const s = await startServer(["--config", writeConfig(port, admin), "--workers", "2"]);
    servers.push(s);
    await traffic(port, 7, 3, 2, 4);
    const refused = await limited(port, 5);
    const m = samples((await request(admin, "/metrics")).body);
    expectCounts(m, refused);
    expect(m.get("dreamserver_processes")).toBe(3);
    expect(m.get('dreamserver_build_info{version="0.1.0"}')).toBe(1);
    expect((await request(admin, "/readyz")).status).toBe(200);
  });

  test("[metrics] enabled = false: no request series, process series still there", async () => {
    const port = closedPort();
    const admin = closedPort();
    const b = httpBackend(() => new Response("up"));
    backends.push(b);
    const s = await startServer(["--config", writeConfig(port, admin, "[metrics]\nenabled = false\n", b.port), "--workers", "1"]);
    servers.push(s);
    await traffic(port, 2, 0, 0, 0);
    await limited(port, 3);
    expect((await request(port, "/up")).status).toBe(200);
    const body = (await request(admin, "/metrics")).body;
    expect(body).not.toContain("dreamserver_requests_total{");
    expect(body).not.toContain("dreamserver_upstream_requests_total{");
    expect(body).not.toContain("dreamserver_upstream_healthy{");
    expect(body).not.toContain("dreamserver_rate_limited_total{");
    expect(samples(body).get("dreamserver_connections_accepted_total")).toBe(0);
    expect(body).toContain("process_resident_memory_bytes ");
  });
});

describe("TLS handshakes", () => {
  test("each completed handshake on a TLS site is counted", async () => {
    const port = closedPort();
    const admin = closedPort();
    const fix = path.resolve(import.meta.dir, "../fixtures/tls");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-metrics-tls-"));
    dirs.push(dir);
    const file = path.join(dir, "c.toml");
    fs.writeFileSync(
      file,
      `[admin]\nlisten = "127.0.0.1:${admin}"\n[log]\naccess = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\ntls = { cert = "${fix}/cert.pem", key = "${fix}/key.pem" }\n` +
        `  [[site.route]]\n  path = "/"\n  respond = { status = 200, body = "ok" }\n`,
    );
    const s = await startServer(["--config", file, "--workers", "1"]);
    servers.push(s);
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve, reject) => {
        Bun.connect({
          hostname: "127.0.0.1",
          port,
          tls: { rejectUnauthorized: false },
          socket: {
            handshake(sock) {
              sock.end();
              resolve();
            },
            data() {},
            error(_s, e) {
              reject(e);
            },
            connectError(_s, e) {
              reject(e);
            },
          },
        }).catch(reject);
      });
    }
    // The server counts in its handshake callback, which may run just after ours: poll briefly.
    const okHandshakes = (m: Map<string, number>) => {
      let sum = 0;
      for (const [k, v] of m) if (k.startsWith("dreamserver_tls_handshakes_total{") && k.includes('result="ok"')) sum += v;
      return sum;
    };
    let n: number | undefined;
    for (let i = 0; i < 50 && n !== 3; i++, await Bun.sleep(20)) n = okHandshakes(samples((await request(admin, "/metrics")).body));
    expect(n).toBe(3);
  });
});

describe("real Prometheus", () => {
  test.skipIf(skipWithout(["promtool"], "promtool check metrics"))("promtool check metrics passes on our output", async () => {
    need(["promtool"]);
    const port = closedPort();
    const admin = closedPort();
    const b = httpBackend(() => new Response("up"));
    backends.push(b);
    const s = await startServer(["--config", writeConfig(port, admin, "", b.port), "--workers", "1"]);
    servers.push(s);
    await traffic(port, 7, 3, 2, 4);
    await limited(port, 3);
    for (let i = 0; i < 3; i++) expect((await request(port, "/up")).status).toBe(200);
    const body = (await request(admin, "/metrics")).body;
    // Every family is in the checked text: per-upstream series and the rate-limit counter too.
    for (const name of ["dreamserver_upstream_response_seconds_bucket{", "dreamserver_upstream_healthy{", "dreamserver_upstream_in_flight{", "dreamserver_rate_limited_total{"]) expect(body).toContain(name);
    const p = spawn(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(body), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect({ code, out, err }).toEqual({ code: 0, out: "", err: "" });
  });

  test.skipIf(skipWithout(["prometheus"], "a Prometheus server scrapes /metrics"))(
    "a Prometheus server scrapes us: target up, our names queryable, counts match",
    async () => {
      need(["prometheus"]);
      const port = closedPort();
      const admin = closedPort();
      const s = await startServer(["--config", writeConfig(port, admin), "--workers", "2"]);
      servers.push(s);
      await traffic(port, 7, 3, 2, 4);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-prom-"));
      dirs.push(dir);
      fs.writeFileSync(
        path.join(dir, "prometheus.yml"),
        `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: dreamserver\n    static_configs:\n      - targets: ["127.0.0.1:${admin}"]\n`,
      );
      const web = closedPort();
      const prom = spawn(["prometheus", `--config.file=${path.join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${path.join(dir, "data")}`, `--web.listen-address=127.0.0.1:${web}`], {
        stdout: "ignore",
        stderr: "pipe",
      });
      procs.push(prom);
      const query = async (q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
        try {
          const res = await fetch(`http://127.0.0.1:${web}/api/v1/query?query=${encodeURIComponent(q)}`);
          const j = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
          return j.status === "success" ? j.data.result : [];
        } catch {
          return [];
        }
      };
      // Prometheus starts, scrapes every second; wait for the series (events, not a fixed sleep).
      const deadline = Date.now() + 25_000;
      let up: { value: [number, string] }[] = [];
      while (Date.now() < deadline && (up = await query('up{job="dreamserver"}')).length === 0) await Bun.sleep(250);
      expect(up.length).toBe(1);
      expect(up[0]!.value[1]).toBe("1");
      const targets = (await (await fetch(`http://127.0.0.1:${web}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
      expect(targets.data.activeTargets.map((t) => [t.health, t.lastError])).toEqual([["up", ""]]);
      const byStatus = await query('sum by (status) (dreamserver_requests_total{job="dreamserver"})');
      const counts = Object.fromEntries(byStatus.map((r) => [r.metric.status, r.value[1]]));
      expect(counts).toEqual({ "2xx": "7", "4xx": "7", "5xx": "2" });
      // Traffic sent now is in Prometheus within a scrape interval (1 s) or two: exact, from both workers.
      await traffic(port, 9, 0, 1, 0);
      const sentAt = Date.now();
      let later: Record<string, string> = {};
      while (Date.now() - sentAt < 10_000) {
        later = Object.fromEntries((await query('sum by (status) (dreamserver_requests_total{job="dreamserver"})')).map((r) => [r.metric.status, r.value[1]]));
        if (later["2xx"] === "16" && later["5xx"] === "3") break;
        await Bun.sleep(100);
      }
      expect(later).toEqual({ "2xx": "16", "4xx": "7", "5xx": "3" });
      // Two intervals plus the query's own staleness; generous for a loaded machine, still bounded.
      expect(Date.now() - sentAt).toBeLessThan(4000);
      // A counter that has not moved yet is still exported (0), so rate() works from the start.
      expect((await query("dreamserver_config_reloads_total")).length).toBe(2);
      for (const name of ["dreamserver_request_duration_seconds_bucket", "dreamserver_connections_open", "process_resident_memory_bytes", "dreamserver_event_loop_lag_seconds"]) {
        expect((await query(name)).length).toBeGreaterThan(0);
      }
    },
    40_000,
  );
});

if (IN_CI) console.log("[metrics] CI=true: a missing prometheus/promtool fails its test");
