/**
 * [limits] max_connections / max_connections_per_ip end to end (issue 12): a flood of silent
 * connections past the cap gets the prewritten 503 (with Retry-After) while an established,
 * busy keep-alive client keeps being served; an idle keep-alive connection is closed to make
 * room; the per-address cap refuses with an access-log line.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import net from "node:net";
import { startTomlServer, type TomlServer } from "./access-helpers.ts";
import { waitFor } from "./harness.ts";

setDefaultTimeout(20_000);

const SITE = `[[site]]\nlisten = ["127.0.0.1:0"]\n[[site.route]]\npath = "/"\nrespond = { status = 200, body = "ok" }\n`;
const GET = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/** A socket that collects everything it receives. */
function connect(port: number): Promise<{ s: net.Socket; data: () => string; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let closed = false;
    const s = net.connect(port, "127.0.0.1", () => resolve({ s, data: () => buf, closed: () => closed }));
    s.on("data", (d) => (buf += d.toString("latin1")));
    s.on("close", () => (closed = true));
    s.on("error", (e) => (closed ? undefined : reject(e)));
  });
}

const count = (s: string, re: RegExp): number => (s.match(re) ?? []).length;

describe("max_connections", () => {
  let srv: TomlServer;
  beforeAll(async () => {
    srv = await startTomlServer("[limits]\nmax_connections = 20\n", SITE);
  });
  afterAll(async () => {
    await srv?.stop();
  });

  test("a flood past the cap gets 503 + Retry-After while a busy keep-alive client is served", async () => {
    // The busy client pipelines: its next request is always sent before the previous answer
    // arrives, so it is never idle and never reclaimed.
    const client = await connect(srv.port);
    client.s.write(GET + GET);
    let answered = 0;
    let sent = 2;
    const pump = setInterval(() => {
      const n = count(client.data(), /HTTP\/1\.1 200 OK/g);
      while (n > answered) {
        answered++;
        client.s.write(GET);
        sent++;
      }
    }, 1);
    await waitFor(() => answered >= 2);
    // 19 silent connections fill the cap (20 with the client): they have sent no request, so none is idle keep-alive.
    const silent = await Promise.all(Array.from({ length: 19 }, () => connect(srv.port)));
    const flood = await Promise.all(Array.from({ length: 50 }, () => connect(srv.port)));
    await waitFor(() => flood.every((f) => f.closed()));
    for (const f of flood) {
      expect(f.data()).toStartWith("HTTP/1.1 503 Service Unavailable\r\n");
      expect(f.data()).toContain("\r\nRetry-After: 1\r\n");
    }
    const before = answered;
    await waitFor(() => answered >= before + 20);
    expect(client.closed()).toBe(false);
    for (const c of silent) expect(c.closed()).toBe(false);
    clearInterval(pump);
    client.s.destroy();
    for (const c of silent) c.s.destroy();
    expect(sent).toBeGreaterThan(answered);
    await waitFor(() => count(srv.readLog(), /CONN_LIMIT\b/g) >= 50);
    expect(count(srv.readLog(), /CONN_LIMIT\b/g)).toBe(50);
  });

  test("an idle keep-alive connection is closed to make room for a new one", async () => {
    const idle = await connect(srv.port);
    idle.s.write(GET);
    await waitFor(() => idle.data().includes("ok"));
    // Only a connection that has sat idle for a second is reclaimed (src/net/server.ts).
    await Bun.sleep(1100);
    const silent = await Promise.all(Array.from({ length: 19 }, () => connect(srv.port)));
    // At the cap now; the newcomer takes the idle keep-alive connection's place.
    const fresh = await connect(srv.port);
    await waitFor(() => idle.closed());
    fresh.s.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    await waitFor(() => fresh.closed());
    expect(fresh.data()).toStartWith("HTTP/1.1 200 OK");
    for (const c of silent) c.s.destroy();
  });
});

describe("max_connections_per_ip", () => {
  let srv: TomlServer;
  beforeAll(async () => {
    srv = await startTomlServer("[limits]\nmax_connections_per_ip = 3\n", SITE);
  });
  afterAll(async () => {
    await srv?.stop();
  });

  test("the fourth connection from one address gets the 503 and a log line; closing one makes room", async () => {
    const held = await Promise.all(Array.from({ length: 3 }, () => connect(srv.port)));
    const over = await connect(srv.port);
    await waitFor(() => over.closed());
    expect(over.data()).toStartWith("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n");
    await waitFor(() => srv.readLog().includes("CONN_LIMIT_PER_IP"));
    expect(srv.readLog()).toContain("CONN_LIMIT_PER_IP");
    held[0]!.s.destroy();
    // The server sees the close a moment later: retry until the slot is free.
    let served = false;
    for (let i = 0; i < 40 && !served; i++) {
      const c = await connect(srv.port);
      c.s.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      await waitFor(() => c.closed());
      served = c.data().startsWith("HTTP/1.1 200 OK");
    }
    expect(served).toBe(true);
    for (const c of held) c.s.destroy();
  });
});
