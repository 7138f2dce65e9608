/**
 * Per-route limits and timeouts from a config file: a route may raise or lower the global body
 * limit, and its own timeouts govern the requests it serves (body, client send, the handler
 * backstop derived from its upstream timeouts).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { Conn } from "./core-helpers.ts";
import { startServer, tmpDir, type RunningServer } from "./harness.ts";
import { expectServerCloses } from "./lifetime.ts";
import { closedPort } from "./proxy-backends.ts";

const dir = tmpDir("ds-route-limits-");
let server: RunningServer | null = null;

afterEach(async () => {
  if (server) await server.stop("SIGKILL");
  server = null;
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function start(toml: string): Promise<number> {
  const port = await closedPort();
  const file = path.join(dir, `c-${port}.toml`);
  fs.writeFileSync(file, toml.replaceAll("PORT", String(port)));
  server = await startServer(["--config", file, "--workers", "1"]);
  return server.port;
}

function post(target: string, size: number): string {
  return `POST ${target} HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n${"x".repeat(size)}`;
}

describe("per-route body limit", () => {
  test("a route may raise the global limit and another may lower it; the rest keep the global one", async () => {
    const port = await start(`
[limits]
max_body_size = "1k"
[[site]]
listen = ["127.0.0.1:PORT"]
  [[site.route]]
  path = "/big/"
  max_body_size = "64k"
  respond = { status = 200, body = "big ok" }
  [[site.route]]
  path = "/tiny/"
  max_body_size = 10
  respond = { status = 200, body = "tiny ok" }
  [[site.route]]
  path = "/"
  respond = { status = 200, body = "default ok" }
`);
    const cases: [string, number, number][] = [
      ["/big/x", 50_000, 200],
      ["/big/x", 70_000, 413],
      ["/tiny/x", 10, 200],
      ["/tiny/x", 11, 413],
      ["/other", 1024, 200],
      ["/other", 1025, 413],
    ];
    for (const [target, size, status] of cases) {
      const c = await Conn.open(port);
      c.write(post(target, size));
      const r = await c.response("POST", 3000);
      expect([target, size, r.status]).toEqual([target, size, status]);
      c.destroy();
    }
  });

  test("a chunked body over the route's limit is cut with 413 mid-stream", async () => {
    const port = await start(`
[[site]]
listen = ["127.0.0.1:PORT"]
  [[site.route]]
  path = "/"
  max_body_size = 100
  respond = { status = 200, body = "ok" }
`);
    const c = await Conn.open(port);
    c.write("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (let i = 0; i < 5; i++) c.write("32\r\n" + "y".repeat(50) + "\r\n");
    const r = await c.response("POST", 3000);
    // The respond handler answers at once; the body is then read and dropped under the route's
    // limit, which it crosses: the connection closes after the answer.
    expect([200, 413]).toContain(r.status);
    await expectServerCloses(c, 2000, { what: "a chunked body over the route's limit" });
  });
});

describe("per-route timeouts", () => {
  test("the route's body timeout governs its requests (408); another route keeps the global one", async () => {
    // A backend that reads whatever it gets and never answers: only the client's silence can end it.
    const backend = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const port = await start(`
[timeouts]
body_idle = "30s"
[[site]]
listen = ["127.0.0.1:PORT"]
  [[site.route]]
  path = "/fast/"
  timeouts = { body = "500ms" }
  proxy = { to = ["http://127.0.0.1:${backend.port}"] }
  [[site.route]]
  path = "/"
  proxy = { to = ["http://127.0.0.1:${backend.port}"] }
`);
      const fast = await Conn.open(port);
      const slow = await Conn.open(port);
      fast.write("POST /fast/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
      slow.write("POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
      const t = Date.now();
      const r = await fast.response("POST", 4000);
      expect(r.status).toBe(408);
      expect(Date.now() - t).toBeLessThan(3000);
      // The other route's request, stalled just as long, is still waiting (global 30 s).
      expect(slow.received).toBe(0);
      expect(slow.ended).toBe(false);
      fast.destroy();
      slow.destroy();
    } finally {
      backend.stop(true);
    }
  });
});
