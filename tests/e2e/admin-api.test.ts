/**
 * The admin API (token, /api/config, /api/reload) and the live dashboard, loaded in a real
 * headless Chromium (driven over the DevTools protocol) during a small load: its numbers must
 * update. The test also writes the screenshots in docs/ (light and dark).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO, runCli, startServer, type RunningServer } from "./harness.ts";
import { need, skipWithout } from "./real-clients-helpers.ts";
import { closedPort } from "./proxy-backends.ts";

const servers: RunningServer[] = [];
const procs: Subprocess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill("SIGKILL");
  for (const s of servers.splice(0)) await s.stop("SIGTERM");
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const TOKEN = "s3cret-token-0123456789";

function configFile(body: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-admin-"));
  dirs.push(dir);
  const file = path.join(dir, "c.toml");
  fs.writeFileSync(file, body);
  return file;
}

function siteToml(port: number): string {
  return (
    `[log]\naccess = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\n` +
    `  [[site.route]]\n  path = "=/fail"\n  respond = { status = 502, body = "bad" }\n` +
    `  [[site.route]]\n  path = "/"\n  respond = { status = 200, body = "ok" }\n  request_headers = { set = { Authorization = "Basic c2VjcmV0" } }\n`
  );
}

describe("admin API", () => {
  test("token: /api needs Bearer; health and metrics do not; config redacted; reload ok and refused", async () => {
    const port = closedPort();
    const admin = closedPort();
    const file = configFile(`[admin]\nlisten = "127.0.0.1:${admin}"\ntoken = "${TOKEN}"\n` + siteToml(port));
    const s = await startServer(["--config", file, "--workers", "1"]);
    servers.push(s);
    const base = `http://127.0.0.1:${admin}`;
    const auth = { Authorization: `Bearer ${TOKEN}` };
    for (const p of ["/healthz", "/readyz", "/metrics"]) expect((await fetch(base + p)).status).toBe(200);
    for (const [p, method] of [["/api/config", "GET"], ["/api/reload", "POST"], ["/dashboard", "GET"]] as const) {
      const r = await fetch(base + p, { method });
      expect(r.status).toBe(401);
      expect(r.headers.get("www-authenticate")).toBe('Bearer realm="dreamserver-admin"');
      expect((await fetch(base + p, { method, headers: { Authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
      expect((await fetch(base + p, { method, headers: { Authorization: `Basic ${TOKEN}` } })).status).toBe(401);
    }
    // The scheme is case-insensitive (RFC 9110 §11.1).
    expect((await fetch(base + "/api/config", { headers: { Authorization: `bearer ${TOKEN}` } })).status).toBe(200);

    const cfg = (await (await fetch(base + "/api/config", { headers: auth })).json()) as any;
    expect(cfg.admin.token).toBe("[redacted]");
    expect(cfg.site[0].route[1].request_headers.set.Authorization).toBe("[redacted]");
    expect(cfg.site[0].listen).toEqual([`127.0.0.1:${port}`]);
    expect(JSON.stringify(cfg)).not.toContain(TOKEN);

    expect((await fetch(base + "/api/reload", { headers: auth })).status).toBe(405);
    const ok = await fetch(base + "/api/reload", { method: "POST", headers: auth });
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as any).ok).toBe(true);
    fs.writeFileSync(file, fs.readFileSync(file, "utf8") + "\n[bogus]\n");
    const bad = await fetch(base + "/api/reload", { method: "POST", headers: auth });
    expect(bad.status).toBe(422);
    const j = (await bad.json()) as { ok: boolean; messages: string[] };
    expect(j.ok).toBe(false);
    expect(j.messages.join("\n")).toContain("bogus");
    // Still serving the previous configuration.
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok");
    const metrics = await (await fetch(base + "/metrics")).text();
    expect(metrics).toContain('dreamserver_config_reloads_total{result="success"} 1\n');
    expect(metrics).toContain('dreamserver_config_reloads_total{result="failure"} 1\n');
  });

  test("[admin] token_file: read at start and at every reload (rotation), newline stripped; empty or missing → FILE:LINE error", async () => {
    const port = closedPort();
    const admin = closedPort();
    const tokenFile = configFile("");
    const dir = path.dirname(tokenFile);
    const secret = path.join(dir, "admin-token");
    fs.writeFileSync(secret, `${TOKEN}\n`);
    const file = path.join(dir, "token.toml");
    fs.writeFileSync(file, `[admin]\nlisten = "127.0.0.1:${admin}"\ntoken_file = "admin-token"\n` + siteToml(port));
    const s = await startServer(["--config", file, "--workers", "1"]);
    servers.push(s);
    const base = `http://127.0.0.1:${admin}`;
    const as = (t: string) => ({ Authorization: `Bearer ${t}` });
    expect((await fetch(base + "/api/config")).status).toBe(401);
    const cfg = (await (await fetch(base + "/api/config", { headers: as(TOKEN) })).json()) as any;
    expect(cfg.admin.token_file).toBe(secret);
    expect(JSON.stringify(cfg)).not.toContain(TOKEN);
    // Rotation: a new file content takes effect at the reload; the old token stops working.
    const NEW = "rotated-token-abcdefghijklmnop";
    fs.writeFileSync(secret, NEW);
    expect((await fetch(base + "/api/reload", { method: "POST", headers: as(TOKEN) })).status).toBe(200);
    expect((await fetch(base + "/api/config", { headers: as(TOKEN) })).status).toBe(401);
    expect((await fetch(base + "/api/config", { headers: as(NEW) })).status).toBe(200);
    // An emptied file is a config error: the reload is refused and the token in effect stays.
    fs.writeFileSync(secret, "");
    const bad = await fetch(base + "/api/reload", { method: "POST", headers: as(NEW) });
    expect(bad.status).toBe(422);
    const msg = ((await bad.json()) as { messages: string[] }).messages.join("\n");
    expect(msg).toContain(`${file}:3: admin.token_file: "admin-token" is empty`);
    expect((await fetch(base + "/api/config", { headers: as(NEW) })).status).toBe(200);
    // At start: --check names the file and line, and the process exits 2.
    const chk = await runCli(["--check", "--config", file]);
    expect(chk.code).toBe(2);
    expect(chk.stderr).toContain(`${file}:3: admin.token_file: "admin-token" is empty`);
    fs.rmSync(secret);
    const missing = await runCli(["--check", "--config", file]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${file}:3: admin.token_file: "admin-token" cannot be read`);
  });

  test("--check: an admin listener off loopback without a token is an error", async () => {
    const file = configFile(`[admin]\nlisten = "0.0.0.0:9180"\n` + siteToml(8080));
    const r = await runCli(["--check", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/admin\.token: is required when admin\.listen \(0\.0\.0\.0:9180\) is not a loopback address/);
    const ok = configFile(`[admin]\nlisten = "0.0.0.0:9180"\ntoken = "${TOKEN}"\n` + siteToml(8080));
    expect((await runCli(["--check", "--config", ok])).code).toBe(0);
  });
});

/** A minimal DevTools-protocol client: one page, commands by id. */
async function devtools(browserStderr: ReadableStream<Uint8Array>): Promise<{ send: (method: string, params?: object) => Promise<any>; close: () => void }> {
  const dec = new TextDecoder();
  let err = "";
  let wsUrl = "";
  const reader = browserStderr.getReader();
  const end = Date.now() + 20_000;
  while (!wsUrl && Date.now() < end) {
    const { value, done } = await reader.read();
    if (done) break;
    err += dec.decode(value);
    wsUrl = /DevTools listening on (ws:\/\/\S+)/.exec(err)?.[1] ?? "";
  }
  if (!wsUrl) throw new Error(`chromium did not start: ${err}`);
  // Keep draining stderr so the browser never blocks on a full pipe.
  (async () => {
    for (;;) if ((await reader.read()).done) break;
  })().catch(() => {});
  const port = new URL(wsUrl).port;
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
  const page = list.find((t) => t.type === "page")!;
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let seq = 0;
  const waiting = new Map<number, (v: any) => void>();
  ws.onmessage = (ev) => {
    const m = JSON.parse(String(ev.data));
    if (m.id !== undefined) waiting.get(m.id)?.(m);
  };
  return {
    send: (method, params = {}) =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        waiting.set(id, (m) => (m.error ? reject(new Error(`${method}: ${m.error.message}`)) : resolve(m.result)));
        ws.send(JSON.stringify({ id, method, params }));
      }),
    close: () => ws.close(),
  };
}

describe("dashboard in a real browser", () => {
  test.skipIf(skipWithout(["chromium"], "dashboard in headless Chromium"))(
    "headless Chromium: the numbers update during a load; screenshots in docs/",
    async () => {
      need(["chromium"]);
      const port = closedPort();
      const admin = closedPort();
      // Two upstream servers (one drained below) so the Upstreams card has rows.
      const ups = [0, 1].map(() => Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("app") }));
      const upNames = ups.map((u) => `127.0.0.1:${u.port}`);
      const toml =
        `[admin]\nlisten = "127.0.0.1:${admin}"\n[log]\naccess = "off"\n[upstream.app]\nto = [${upNames.map((n) => `"http://${n}"`).join(", ")}]\n` +
        `[[site]]\nlisten = ["127.0.0.1:${port}"]\n` +
        `  [[site.route]]\n  path = "=/fail"\n  respond = { status = 502, body = "bad" }\n` +
        `  [[site.route]]\n  path = "=/app"\n  proxy = { upstream = "app" }\n` +
        `  [[site.route]]\n  path = "/"\n  respond = { status = 200, body = "ok" }\n`;
      const s = await startServer(["--config", configFile(toml), "--workers", "2"]);
      servers.push(s);
      expect((await fetch(`http://127.0.0.1:${admin}/api/upstreams/app/${upNames[1]}/drain`, { method: "POST" })).status).toBe(200);
      // A small steady load (with some 502s for the error list) for as long as the test runs.
      let loading = true;
      const load = (async () => {
        let i = 0;
        while (loading) {
          await Promise.all(Array.from({ length: 8 }, (_, k) => fetch(`http://127.0.0.1:${port}/${(i + k) % 10 === 0 ? "fail" : (i + k) % 4 === 0 ? "app" : "page"}`).then((r) => r.text())));
          i += 8;
        }
      })();
      const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ds-chromium-"));
      dirs.push(profile);
      const browser = spawn(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0", `--user-data-dir=${profile}`, "--window-size=1280,900", "about:blank"],
        { stdout: "ignore", stderr: "pipe" },
      );
      procs.push(browser);
      const cdp = await devtools(browser.stderr as ReadableStream<Uint8Array>);
      try {
        await cdp.send("Page.enable");
        await cdp.send("Page.navigate", { url: `http://127.0.0.1:${admin}/dashboard` });
        const read = async () =>
          (await cdp.send("Runtime.evaluate", {
            expression: `JSON.stringify({ ticks: Number(document.body.dataset.ticks || 0), rps: document.getElementById("rps").textContent, p50: document.getElementById("p50").textContent, state: document.getElementById("state").textContent, top: document.getElementById("top").textContent, errors: document.getElementById("errors").textContent, upstreams: document.getElementById("upstreams").textContent })`,
            returnByValue: true,
          })).result.value as string;
        let v = { ticks: 0, rps: "–", p50: "–", state: "", top: "", errors: "", upstreams: "" };
        const seen = new Set<number>();
        const end = Date.now() + 15_000;
        while (Date.now() < end) {
          try {
            v = JSON.parse(await read());
          } catch {
            // the page is still loading
          }
          if (v.ticks > 0) seen.add(v.ticks);
          if (seen.size >= 3 && v.rps !== "–" && Number.parseFloat(v.rps) > 0 && v.errors.includes("502")) break;
          await Bun.sleep(200);
        }
        // Three different ticks arrived and were drawn: the page updates live.
        expect(seen.size).toBeGreaterThanOrEqual(3);
        expect(v.state).toContain("live");
        expect(Number.parseFloat(v.rps)).toBeGreaterThan(0);
        expect(v.p50).toMatch(/µs|ms/);
        expect(v.top).toContain("0/2");
        expect(v.errors).toContain("502");
        // Upstream health: one server up, the other drained through the admin API.
        expect(v.upstreams).toContain(`app${upNames[0]}up`);
        expect(v.upstreams).toContain(`app${upNames[1]}drained`);
        // Screenshots, light then dark (prefers-color-scheme): into docs/ with
        // UPDATE_SCREENSHOTS=1 (how docs/dashboard*.png were made), else a temp dir, so a test
        // run never dirties the worktree.
        const outDir = process.env.UPDATE_SCREENSHOTS === "1" ? path.join(REPO, "docs") : profile;
        const shot = async (file: string) => {
          const { data } = await cdp.send("Page.captureScreenshot", { format: "png" });
          const png = Buffer.from(data, "base64");
          expect(png.subarray(1, 4).toString()).toBe("PNG");
          fs.writeFileSync(path.join(outDir, file), png);
        };
        await cdp.send("Emulation.setDeviceMetricsOverride", { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
        await shot("dashboard.png");
        await cdp.send("Emulation.setEmulatedMedia", { features: [{ name: "prefers-color-scheme", value: "dark" }] });
        await Bun.sleep(1100); // one more tick drawn in dark
        await shot("dashboard-dark.png");
      } finally {
        cdp.close();
        loading = false;
        await load;
        for (const u of ups) u.stop(true);
      }
    },
    40_000,
  );
});
