/**
 * forward_auth end to end (issue 12): a scripted auth service on raw TCP. Allow (2xx: copy_headers
 * reach the backend, the client's own copies do not), deny (the service's status, fields and body
 * reach the client as they are: 401 and a 302 login redirect), down (connection refused → 503)
 * and a service that never answers (timeout → 503); the subrequest carries the original method,
 * URI and client address; pooled connections are reused.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startTomlServer, type TomlServer } from "./access-helpers.ts";
import { waitFor } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";

setDefaultTimeout(20_000);

interface Script {
  port: number;
  heads: string[];
  connections: number;
  stop(): void;
}

/** A raw HTTP/1.1 server: answer(head) → the whole response bytes (null: never answer). */
function scripted(answer: (head: string) => string | null): Script {
  const heads: string[] = [];
  let connections = 0;
  const s = Bun.listen<{ buf: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(sock) {
        connections++;
        sock.data = { buf: "" };
      },
      data(sock, d) {
        sock.data.buf += d.toString("latin1");
        let end: number;
        while ((end = sock.data.buf.indexOf("\r\n\r\n")) >= 0) {
          const head = sock.data.buf.slice(0, end);
          sock.data.buf = sock.data.buf.slice(end + 4);
          heads.push(head);
          const a = answer(head);
          if (a !== null) sock.write(a);
        }
      },
    },
  });
  return {
    port: s.port,
    heads,
    get connections() {
      return connections;
    },
    stop: () => s.stop(true),
  };
}

const resp = (status: string, fields: string[], body = ""): string => `HTTP/1.1 ${status}\r\n${fields.map((f) => f + "\r\n").join("")}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

let auth: Script;
let hang: Script;
let backend: Script;
let srv: TomlServer;


beforeAll(async () => {
  auth = scripted((head) => {
    if (head.includes("\r\nAuthorization: Bearer good")) return resp("200 OK", ["X-User: alice", "X-Other: no"]);
    if (head.includes("\r\nAuthorization: Bearer login")) return resp("302 Found", ["Location: https://login.example/?next=/app", "Set-Cookie: t=1"], "go login");
    return resp("401 Unauthorized", ['WWW-Authenticate: Bearer realm="app"', "Content-Type: text/plain"], "who are you?");
  });
  hang = scripted(() => null);
  backend = scripted((head) => resp("200 OK", ["Content-Type: text/plain"], head));
  const down = closedPort();
  srv = await startTomlServer(
    "",
    `[[site]]
listen = ["127.0.0.1:0"]

[[site.route]]
path = "/app"
forward_auth = { url = "http://127.0.0.1:${auth.port}/check/app", copy_headers = ["X-User"] }
proxy = { to = "http://127.0.0.1:${backend.port}" }

[[site.route]]
path = "/down"
forward_auth = { url = "http://127.0.0.1:${down}/check" }
respond = { status = 200, body = "never" }

[[site.route]]
path = "/slow"
forward_auth = { url = "http://127.0.0.1:${hang.port}/check", timeout = "300ms" }
respond = { status = 200, body = "never" }
`,
  );
});

afterAll(async () => {
  await srv?.stop();
  for (const s of [auth, hang, backend]) s?.stop();
});

const url = (p: string): string => `http://127.0.0.1:${srv.port}${p}`;

describe("forward_auth", () => {
  test("2xx: the request continues with X-User from the auth service, never the client's", async () => {
    const r = await fetch(url("/app/items?x=1"), { method: "DELETE", headers: { Authorization: "Bearer good", "X-User": "mallory" } });
    expect(r.status).toBe(200);
    const seen = await r.text();
    expect(seen).toStartWith("DELETE /app/items?x=1 HTTP/1.1");
    expect(seen).toContain("\r\nX-User: alice");
    expect(seen).not.toContain("mallory");
    expect(seen).not.toContain("X-Other");
    const sub = auth.heads.at(-1)!;
    expect(sub).toStartWith("DELETE /check/app HTTP/1.1\r\n");
    expect(sub).toContain("\r\nX-Forwarded-Method: DELETE\r\n");
    expect(sub).toContain("\r\nX-Forwarded-Uri: /app/items?x=1\r\n");
    expect(sub).toContain("\r\nX-Forwarded-For: 127.0.0.1\r\n");
    expect(sub).toContain("\r\nAuthorization: Bearer good");
    expect(sub).toContain("\r\nContent-Length: 0");
  });

  test("the connection to the auth service is reused", async () => {
    const before = auth.connections;
    for (let i = 0; i < 5; i++) expect((await fetch(url("/app/"), { headers: { Authorization: "Bearer good" } })).status).toBe(200);
    expect(auth.connections - before).toBeLessThanOrEqual(1);
  });

  test("401 from the service goes to the client as it is", async () => {
    const r = await fetch(url("/app/"));
    expect(r.status).toBe(401);
    expect(r.headers.get("www-authenticate")).toBe('Bearer realm="app"');
    expect(await r.text()).toBe("who are you?");
    await waitFor(() => srv.readLog().includes("FORWARD_AUTH_DENIED"));
    expect(srv.readLog()).toContain("FORWARD_AUTH_DENIED");
  });

  test("a login redirect goes to the client as it is", async () => {
    const r = await fetch(url("/app/"), { headers: { Authorization: "Bearer login" }, redirect: "manual" });
    expect(r.status).toBe(302);
    expect(r.headers.get("location")).toBe("https://login.example/?next=/app");
    expect(r.headers.get("set-cookie")).toBe("t=1");
    expect(await r.text()).toBe("go login");
  });

  test("service down → 503 FORWARD_AUTH_UNAVAILABLE", async () => {
    const r = await fetch(url("/down"));
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    await waitFor(() => srv.readLog().includes("FORWARD_AUTH_UNAVAILABLE"));
    expect(srv.readLog()).toContain("FORWARD_AUTH_UNAVAILABLE");
  });

  test("service silent → 503 after the timeout", async () => {
    const t0 = performance.now();
    const r = await fetch(url("/slow"));
    const ms = performance.now() - t0;
    expect(r.status).toBe(503);
    expect(ms).toBeGreaterThanOrEqual(280);
    expect(ms).toBeLessThan(3000);
  });
});
