/**
 * forward_auth (src/middleware/forward-auth) without sockets: the subrequest's bytes (original
 * method and URI, client address, the chosen client fields, no body) and the 2xx path, where
 * copy_headers replace the client's own copies. The network paths (allow, deny, down, timeout,
 * pooling) are in tests/e2e/forward-auth.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { DEFAULT_LIMITS } from "../../src/config/config.ts";
import type { Exchange } from "../../src/handler.ts";
import { HeaderList } from "../../src/http1/header-list.ts";
import type { ResponseHead } from "../../src/http1/message-head.ts";
import { ForwardAuth } from "../../src/middleware/forward-auth/index.ts";
import { TrustedProxies } from "../../src/proxy/cidr.ts";
import { FakeExchange } from "./fake-exchange.ts";

const fa = (copy: string[] = ["X-User"], trusted = TrustedProxies.none): ForwardAuth =>
  new ForwardAuth({ url: new URL("http://127.0.0.1:9000/auth/check"), copyHeaders: copy, timeoutMs: 1000 }, { limits: DEFAULT_LIMITS, trusted });

function authHead(fields: [string, string][]): ResponseHead {
  const headers = new HeaderList();
  for (const [n, v] of fields) headers.add(n, v);
  return { status: 200, reason: "OK", minor: 1, headers, bodyKind: "none", contentLength: 0, keepAlive: true, connection: [], headBytes: 0 };
}

describe("the subrequest", () => {
  test("original method and URI, client address, chosen fields, no body", () => {
    const ex = new FakeExchange({
      method: "POST",
      target: "/app/x?y=1",
      host: "example.com",
      clientIp: "10.0.0.2",
      headers: [["Authorization", "Bearer t"], ["Cookie", "s=1"], ["X-Secret", "no"], ["X-Forwarded-For", "203.0.113.9"]],
    });
    const bytes = fa(["X-User"], new TrustedProxies(["10.0.0.0/8"])).requestBytes(ex);
    expect(bytes).toStartWith("POST /auth/check HTTP/1.1\r\nHost: 127.0.0.1:9000\r\n");
    for (const line of ["X-Forwarded-Method: POST", "X-Forwarded-Uri: /app/x?y=1", "X-Forwarded-Host: example.com", "X-Forwarded-Proto: http", "X-Forwarded-For: 203.0.113.9", "Authorization: Bearer t", "Cookie: s=1"]) {
      expect(bytes).toContain(`\r\n${line}\r\n`);
    }
    expect(bytes).not.toContain("X-Secret");
    expect(bytes).toEndWith("\r\nContent-Length: 0\r\n\r\n");
  });
});

describe("2xx", () => {
  test.each([
    ["the auth service's value replaces the client's", [["X-User", "mallory"]], [["X-User", "alice"]], ["alice"]],
    ["without one from the service the client's copy is still removed", [["x-user", "mallory"]], [], []],
    ["several values are all copied", [], [["X-User", "a"], ["X-User", "b"]], ["a", "b"]],
  ] as [string, [string, string][], [string, string][], string[]][])("%s", (_n, client, auth, want) => {
    const ex = new FakeExchange({ headers: [...client, ["Accept", "*/*"]] });
    let seen: Exchange | null = null;
    fa().pass(ex, (e) => (seen = e), authHead(auth));
    expect(seen!.head.headers.getAll("x-user")).toEqual(want);
    expect(seen!.head.headers.get("accept")).toBe("*/*");
  });

  test("without copy_headers the exchange passes unchanged", () => {
    const ex = new FakeExchange({ headers: [["X-User", "x"]] });
    let seen: Exchange | null = null;
    fa([]).pass(ex, (e) => (seen = e), authHead([["X-User", "y"]]));
    expect(seen as Exchange | null).toBe(ex as Exchange);
  });
});
