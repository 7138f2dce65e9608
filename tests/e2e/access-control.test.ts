/**
 * Access control end to end (issue 12), one server from a config file: rate_limit with the real
 * clock (burst, then the steady rate; 429 fields), ip_allow / ip_deny on loopback, basic_auth
 * with a hash made by `dreamserver hash-password` (success, failure, Authorization not
 * forwarded), security_headers, and the access-log lines of the refusals.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { spawn } from "bun";
import { startTomlServer, type TomlServer } from "./access-helpers.ts";
import { command, waitFor } from "./harness.ts";

setDefaultTimeout(20_000);

let srv: TomlServer;
let hash = "";
let backend: { port: number; stop(): void; seen: string[] };

/** An echo backend: answers 200 with the request head it received as the body. */
function echoBackend(): { port: number; stop(): void; seen: string[] } {
  const seen: string[] = [];
  const s = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(sock) {
        sock.data = { buf: "" };
      },
      data(sock, d) {
        sock.data.buf += d.toString("latin1");
        let end: number;
        while ((end = sock.data.buf.indexOf("\r\n\r\n")) >= 0) {
          const head = sock.data.buf.slice(0, end);
          sock.data.buf = sock.data.buf.slice(end + 4);
          seen.push(head);
          sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(head)}\r\n\r\n${head}`);
        }
      },
    },
  });
  return { port: s.port, stop: () => s.stop(true), seen };
}

async function hashPassword(pw: string): Promise<string> {
  const p = spawn(command(["hash-password"]), { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  p.stdin.write(pw + "\n");
  p.stdin.end();
  const out = await new Response(p.stdout).text();
  expect(await p.exited).toBe(0);
  return out.trim();
}

beforeAll(async () => {
  backend = echoBackend();
  hash = await hashPassword("s3cret");
  srv = await startTomlServer(
    "",
    `[[site]]
listen = ["127.0.0.1:0"]

[[site.route]]
path = "/limited"
rate_limit = { rate = "2/s", burst = 3 }
respond = { status = 200, body = "ok" }

[[site.route]]
path = "/allowed"
ip_allow = ["127.0.0.0/8", "::1"]
respond = { status = 200, body = "in" }

[[site.route]]
path = "/denied"
ip_deny = ["127.0.0.0/8"]
respond = { status = 200, body = "never" }

[[site.route]]
path = "/admin"
basic_auth = { realm = "admin", users = { alice = "${hash}" } }
security_headers = true
proxy = { to = "http://127.0.0.1:${backend.port}" }

[[site.route]]
path = "/open"
security_headers = { csp = true }
respond = { status = 200, body = "hi" }
`,
  );
});

afterAll(async () => {
  await srv?.stop();
  backend?.stop();
});

const url = (p: string): string => `http://127.0.0.1:${srv.port}${p}`;

describe("rate_limit (real clock)", () => {
  test("burst of 3, then 429 with Retry-After and RateLimit fields, then one per 500 ms", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetch(url("/limited"))).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const r = await fetch(url("/limited"));
    expect(r.status).toBe(429);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(r.headers.get("ratelimit-policy")).toBe('"default";q=3;w=2');
    expect(r.headers.get("ratelimit")).toBe('"default";r=0;t=1');
    // One token every 500 ms: after 550 ms exactly one more request passes.
    await Bun.sleep(550);
    expect((await fetch(url("/limited"))).status).toBe(200);
    expect((await fetch(url("/limited"))).status).toBe(429);
    await waitFor(() => (srv.readLog().match(/RATE_LIMITED/g) ?? []).length >= 3);
    expect((srv.readLog().match(/RATE_LIMITED/g) ?? []).length).toBe(3);
  });
});

describe("ip rules", () => {
  test("loopback allowed by ip_allow, refused by ip_deny with 403 IP_DENIED", async () => {
    expect(await (await fetch(url("/allowed"))).text()).toBe("in");
    expect((await fetch(url("/denied"))).status).toBe(403);
    await waitFor(() => srv.readLog().includes("IP_DENIED"));
    expect(srv.readLog()).toMatch(/\/denied.*IP_DENIED|IP_DENIED.*\/denied/);
  });
});

describe("basic_auth", () => {
  const auth = (u: string, p: string): string => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");
  test("no credentials → 401 with the challenge and the security headers", async () => {
    const r = await fetch(url("/admin/x"));
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toBe('Basic realm="admin", charset="UTF-8"');
    expect(r.headers.get("x-content-type-options")).toBe("nosniff");
  });
  test("wrong password and unknown user → 401 AUTH_FAILED", async () => {
    expect((await fetch(url("/admin/x"), { headers: { Authorization: auth("alice", "nope") } })).status).toBe(401);
    expect((await fetch(url("/admin/x"), { headers: { Authorization: auth("mallory", "s3cret") } })).status).toBe(401);
    await waitFor(() => (srv.readLog().match(/AUTH_FAILED/g) ?? []).length >= 2);
    expect((srv.readLog().match(/AUTH_FAILED/g) ?? []).length).toBe(2);
  });
  test("the right password passes; the backend does not see Authorization", async () => {
    const r = await fetch(url("/admin/x"), { headers: { Authorization: auth("alice", "s3cret"), "X-Probe": "1" } });
    expect(r.status).toBe(200);
    const head = await r.text();
    expect(head).toContain("X-Probe: 1");
    expect(head.toLowerCase()).not.toContain("authorization");
    expect(r.headers.get("x-frame-options")).toBe("SAMEORIGIN");
  });
});

test("security_headers with csp on a fixed response", async () => {
  const r = await fetch(url("/open"));
  expect(r.headers.get("content-security-policy")).toBe("frame-ancestors 'self'; object-src 'none'; base-uri 'self'");
  expect(r.headers.get("referrer-policy")).toBe("strict-origin-when-cross-origin");
});

test("hash-password strips one trailing newline only", async () => {
  const h = await hashPassword("pw\n"); // stdin "pw\n\n": the password is "pw\n"
  expect(await Bun.password.verify("pw\n", h)).toBe(true);
  expect(hash).toStartWith("$argon2id$");
  expect(await Bun.password.verify("s3cret", hash)).toBe(true);
});
