/**
 * The admin listener (/healthz, /readyz), shutdown_delay for zero-drop rolling updates, the
 * built-in `dreamserver health` client (a container's HEALTHCHECK) and --version.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Conn } from "./core-helpers.ts";
import { runCli, startServer, waitFor, type RunningServer } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";

const servers: RunningServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop("SIGKILL");
});

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const c = await Conn.open(port);
  try {
    c.write(`GET ${path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n`);
    const r = await c.response("GET", 3000);
    return { status: r.status, body: r.body.toString() };
  } finally {
    c.destroy();
  }
}

describe("admin listener", () => {
  test("/healthz and /readyz answer on the admin address, never on a site's", async () => {
    const admin = await closedPort();
    const s = await startServer(["--root", "staticfiles", "--admin", `127.0.0.1:${admin}`]);
    servers.push(s);
    expect(await get(admin, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get(admin, "/readyz")).toEqual({ status: 200, body: "ready\n" });
    expect((await get(admin, "/other")).status).toBe(404);
    // The site does not expose them.
    expect((await get(s.port, "/readyz")).status).toBe(404);
  });

  test("after SIGTERM: /readyz turns 503 at once, the site keeps accepting for shutdown_delay, then drains and exits 0", async () => {
    const admin = await closedPort();
    const port = await closedPort();
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-health-"));
    const file = path.join(dir, "c.toml");
    fs.writeFileSync(
      file,
      `[server]\nshutdown_delay = "1500ms"\n[admin]\nlisten = "127.0.0.1:${admin}"\n[log]\naccess = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\n  [[site.route]]\n  path = "/"\n  respond = { status = 200, body = "up" }\n`,
    );
    try {
      const s = await startServer(["--config", file, "--workers", "1"]);
      servers.push(s);
      expect((await get(admin, "/readyz")).status).toBe(200);
      const sigAt = Date.now();
      s.proc.kill("SIGTERM");
      let status = 0;
      while (Date.now() - sigAt < 2000 && (status = (await get(admin, "/readyz")).status) !== 503) await Bun.sleep(20);
      expect(status).toBe(503);
      expect(Date.now() - sigAt).toBeLessThan(1000);
      // Still alive and still serving new connections during the delay.
      expect(await get(admin, "/healthz")).toEqual({ status: 200, body: "ok\n" });
      expect(await get(port, "/")).toEqual({ status: 200, body: "up" });
      expect(await s.proc.exited).toBe(0);
      expect(Date.now() - sigAt).toBeGreaterThanOrEqual(1400);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an admin address that is taken is a warning, not a failure", async () => {
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const s = await startServer(["--root", "staticfiles", "--admin", `127.0.0.1:${holder.port}`]);
      servers.push(s);
      await waitFor(() => (s.stderr().includes("running without the admin listener") ? true : null), 3000);
      expect((await get(s.port, "/")).status).toBe(200);
    } finally {
      holder.stop(true);
    }
  });
});

describe("dreamserver health URL", () => {
  test("exit 0 for a 2xx, 1 for anything else or nothing at all", async () => {
    const admin = await closedPort();
    const s = await startServer(["--root", "staticfiles", "--admin", `127.0.0.1:${admin}`]);
    servers.push(s);
    const ok = await runCli(["health", `http://127.0.0.1:${admin}/healthz`]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe("healthy: 200 OK\n");
    const missing = await runCli(["health", `http://127.0.0.1:${admin}/nope`]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toStartWith("unhealthy: 404");
    const down = await runCli(["health", `http://127.0.0.1:${await closedPort()}/healthz`]);
    expect(down.code).toBe(1);
    expect(down.stdout).toContain("cannot connect");
  });
});

describe("--version", () => {
  test("names the version and the git commit", async () => {
    const r = await runCli(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^dreamserver \d+\.\d+\.\d+ \(commit [0-9a-f]{7,40}, bun \d+\.\d+\.\d+\)\n$/);
  });
});
