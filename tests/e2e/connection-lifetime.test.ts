/**
 * Connection lifetime, end to end, for the static handler and the proxy: after each exchange the
 * connection must be closed exactly when HTTP/1.1 says so (RFC 9112 §9.3, §9.6) and kept
 * otherwise. The responses themselves are checked elsewhere; here every test ends by waiting for
 * the server's FIN (expectServerCloses) or by proving the connection stays open and still serves
 * (expectStaysOpen / expectReusable). These would have caught the proxy's missing FIN after
 * `Connection: close`.
 *
 * Bounds: a close must come within CLOSE_MS (generous: the server closes right after its last
 * write); a kept connection must survive KEEP_MS of idleness (well under the 5 s keep-alive
 * default) and then answer another request.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { Conn, makeRoot, rmRoot } from "./core-helpers.ts";
import { type RunningServer, startServer } from "./harness.ts";
import { expectReusable, expectServerCloses, expectStaysOpen } from "./lifetime.ts";
import { type BackendConn, Client, closedPort, deferred, okResponse, type RawBackend, rawBackend, serveEach } from "./proxy-backends.ts";

const CLOSE_MS = 2000;
const KEEP_MS = 300;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  // Run every cleanup even if one fails (a backend that saw errors), then report the first failure.
  let first: unknown = null;
  for (const f of cleanups.splice(0).reverse()) {
    try {
      await f();
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
});

async function stopBounded(s: RunningServer): Promise<void> {
  // SIGTERM waits for in-flight exchanges; a test that failed half-way must not hang the hook.
  const killer = setTimeout(() => s.proc.kill("SIGKILL"), 2000);
  await s.stop();
  clearTimeout(killer);
}

async function open(port: number): Promise<Conn> {
  const c = await Conn.open(port);
  cleanups.push(() => c.destroy());
  return c;
}

async function client(port: number): Promise<Client> {
  const c = await Client.connect(port);
  cleanups.push(() => c.close());
  return c;
}

const get11 = (path = "/a.txt", extra = "") => `GET ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}\r\n`;
const get10 = (path = "/a.txt", extra = "") => `GET ${path} HTTP/1.0\r\n${extra}\r\n`;

// ---- static ------------------------------------------------------------------------------------

describe("static: connection lifetime", () => {
  let root: string;
  let s: RunningServer;
  let small: RunningServer;
  beforeAll(async () => {
    root = makeRoot({ "a.txt": "hello\n", "b.txt": "bee\n" });
    [s, small] = await Promise.all([startServer(["--root", root]), startServer(["--root", root, "--max-body-size", "1k"])]);
  });
  afterAll(async () => {
    await Promise.all([stopBounded(s), stopBounded(small)]);
    rmRoot(root);
  });

  test("HTTP/1.1 default: kept alive, the next request on it is served", async () => {
    const c = await open(s.port);
    c.write(get11());
    const r1 = await c.response();
    expect(r1.status).toBe(200);
    expect(r1.header("connection")).toBeUndefined();
    const r2 = await expectReusable(c, KEEP_MS, get11("/b.txt"));
    expect(r2.status).toBe(200);
    expect(r2.body.toString()).toBe("bee\n");
    await expectStaysOpen(c, 100);
  });

  test("HTTP/1.0 without keep-alive: response, then the server's FIN", async () => {
    const c = await open(s.port);
    c.write(get10());
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("hello\n");
    await expectServerCloses(c, CLOSE_MS, { what: "HTTP/1.0 request without keep-alive", fin: true, noUnread: true });
  });

  test("HTTP/1.0 with Connection: keep-alive: kept alive (and said so), the next request is served", async () => {
    const c = await open(s.port);
    c.write(get10("/a.txt", "Connection: keep-alive\r\n"));
    const r1 = await c.response();
    expect(r1.status).toBe(200);
    expect(r1.header("connection")?.toLowerCase()).toBe("keep-alive");
    const r2 = await expectReusable(c, KEEP_MS, get10("/b.txt", "Connection: keep-alive\r\n"));
    expect(r2.body.toString()).toBe("bee\n");
    // The last request without keep-alive ends it.
    c.write(get10("/a.txt"));
    expect((await c.response()).status).toBe(200);
    await expectServerCloses(c, CLOSE_MS, { what: "HTTP/1.0 request without keep-alive", fin: true, noUnread: true });
  });

  test("HTTP/1.1 Connection: close: response says close, then the server's FIN", async () => {
    const c = await open(s.port);
    c.write(get11("/a.txt", "Connection: close\r\n"));
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.header("connection")).toBe("close");
    await expectServerCloses(c, CLOSE_MS, { what: "after Connection: close", fin: true, noUnread: true });
  });

  test("Connection: close on the 2nd of 3 pipelined requests: two answers, then FIN (the 3rd is never served)", async () => {
    const c = await open(s.port);
    c.write(get11("/a.txt") + get11("/b.txt", "Connection: close\r\n") + get11("/a.txt"));
    expect((await c.response()).status).toBe(200);
    const r2 = await c.response();
    expect(r2.body.toString()).toBe("bee\n");
    expect(r2.header("connection")).toBe("close");
    await expectServerCloses(c, CLOSE_MS, { what: "after the pipelined Connection: close", fin: true, noUnread: true });
  });

  test("a 404 is an ordinary response: the connection is kept", async () => {
    const c = await open(s.port);
    c.write(get11("/missing"));
    expect((await c.response()).status).toBe(404);
    expect((await expectReusable(c, KEEP_MS, get11())).status).toBe(200);
  });

  test("half-close (SHUT_WR) right after a request: the full response, then the server's FIN", async () => {
    const c = await open(s.port);
    c.write(get11());
    c.halfClose();
    const r = await c.response();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("hello\n");
    await expectServerCloses(c, CLOSE_MS, { what: "client half-closed after its request", fin: true, noUnread: true });
  });

  test("half-close after two pipelined requests: both answered in order, then FIN", async () => {
    const c = await open(s.port);
    c.write(get11("/a.txt") + get11("/b.txt"));
    c.halfClose();
    expect((await c.response()).body.toString()).toBe("hello\n");
    expect((await c.response()).body.toString()).toBe("bee\n");
    await expectServerCloses(c, CLOSE_MS, { what: "client half-closed after two requests", fin: true, noUnread: true });
  });

  test("half-close in the middle of a head: no response, the server closes", async () => {
    const c = await open(s.port);
    c.write("GET /a.txt HTTP/1.1\r\nHost: loc");
    c.halfClose();
    await expectServerCloses(c, CLOSE_MS, { what: "half-close with a partial head" });
    expect(c.received).toBe(0);
  });

  test("error before the body (malformed head → 400): Connection: close, then FIN", async () => {
    const c = await open(s.port);
    c.write("GET /a.txt HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n" + get11());
    const r = await c.response();
    expect(r.status).toBe(400);
    expect(r.header("connection")).toBe("close");
    await expectServerCloses(c, CLOSE_MS, { what: "after a 400", fin: true, noUnread: true });
  });

  test("error before the body is read (Content-Length over --max-body-size → 413): close, then FIN", async () => {
    const c = await open(small.port);
    c.write("POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\n\r\n");
    const r = await c.response();
    expect(r.status).toBe(413);
    expect(r.header("connection")).toBe("close");
    await expectServerCloses(c, CLOSE_MS, { what: "after a 413 with the body unread", fin: true, noUnread: true });
  });

  test("error after the body (POST with a small body → 405): the body is skipped and the connection kept", async () => {
    const c = await open(s.port);
    c.write("POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    expect((await c.response()).status).toBe(405);
    const r2 = await expectReusable(c, KEEP_MS, get11("/b.txt"));
    expect(r2.status).toBe(200);
    expect(r2.body.toString()).toBe("bee\n");
  });

  test("a GET with a body: the body is not mistaken for the next request, the connection is kept", async () => {
    const c = await open(s.port);
    c.write(`GET /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${get11("/missing").length}\r\n\r\n${get11("/missing")}`);
    expect((await c.response()).status).toBe(200);
    const r2 = await expectReusable(c, KEEP_MS, get11("/b.txt"));
    expect(r2.body.toString()).toBe("bee\n");
  });
});

// ---- proxy -------------------------------------------------------------------------------------

function backend(script: (c: BackendConn) => Promise<void> | void): RawBackend {
  const b = rawBackend(script);
  cleanups.push(() => b.stop()); // throws if a script failed (proxy-backends.ts)
  return b;
}

async function proxy(port: number, args: string[] = []): Promise<RunningServer> {
  const s = await startServer(["--proxy", `http://127.0.0.1:${port}`, ...args]);
  cleanups.push(() => stopBounded(s));
  return s;
}

/** Backend answering every request with 200 "ok" (keep-alive). */
function okBackend(): RawBackend {
  return backend(serveEach((req) => okResponse(`ok ${req.target}`)));
}

describe("proxy: client connection lifetime", () => {
  test("HTTP/1.1 default: kept alive, the next request on it is served", async () => {
    const b = okBackend();
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    const r1 = await c.readResponse();
    expect(r1.status).toBe(200);
    expect(r1.body.toString()).toBe("ok /one");
    const r2 = await expectReusable(c, KEEP_MS, get11("/two"));
    expect(r2.body.toString()).toBe("ok /two");
    expect(b.conns.length).toBe(1); // the upstream connection was pooled and reused
  });

  test("HTTP/1.0 without keep-alive: response, then the proxy's FIN", async () => {
    const b = okBackend();
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get10("/one", "Host: localhost\r\n"));
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("ok /one");
    await expectServerCloses(c, CLOSE_MS, { what: "HTTP/1.0 request without keep-alive through the proxy", fin: true, noUnread: true });
  });

  test("HTTP/1.0 with Connection: keep-alive: kept alive, the next request is served", async () => {
    const b = okBackend();
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get10("/one", "Host: localhost\r\nConnection: keep-alive\r\n"));
    const r1 = await c.readResponse();
    expect(r1.status).toBe(200);
    expect(r1.header("connection")?.toLowerCase()).toBe("keep-alive");
    const r2 = await expectReusable(c, KEEP_MS, get10("/two", "Host: localhost\r\nConnection: keep-alive\r\n"));
    expect(r2.body.toString()).toBe("ok /two");
  });

  test("HTTP/1.1 Connection: close: response says close, then the proxy's FIN", async () => {
    const b = okBackend();
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one", "Connection: close\r\n"));
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    expect(r.header("connection")).toBe("close");
    await expectServerCloses(c, CLOSE_MS, { what: "after Connection: close through the proxy", fin: true, noUnread: true });
  });

  test("Connection: close on the 2nd of 3 pipelined requests: two answers, then FIN", async () => {
    const b = okBackend();
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one") + get11("/two", "Connection: close\r\n") + get11("/three"));
    expect((await c.readResponse()).body.toString()).toBe("ok /one");
    const r2 = await c.readResponse();
    expect(r2.body.toString()).toBe("ok /two");
    expect(r2.header("connection")).toBe("close");
    await expectServerCloses(c, CLOSE_MS, { what: "after the pipelined Connection: close", fin: true, noUnread: true });
  });

  test("half-close (SHUT_WR) right after a request: the full response, then the proxy's FIN", async () => {
    const b = okBackend();
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    c.halfClose();
    // readFinal: the engine may probe a half-closed client with an interim 100 (RFC 9110 §15.2).
    const r = (await c.readFinal()).res;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("ok /one");
    await expectServerCloses(c, CLOSE_MS, { what: "client half-closed after its request", fin: true, noUnread: true });
  });

  test("half-close while the upstream is still thinking: the response still comes, then FIN", async () => {
    const go = deferred();
    const b = backend(async (conn) => {
      await conn.readRequest();
      await go.promise;
      await conn.write(okResponse("late"));
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/slow"));
    c.halfClose();
    await b.accepted(1);
    await b.conns[0]!.waitUntil((u) => (u.includes("\r\n\r\n") ? true : null), "the proxied request");
    go.resolve();
    const r = (await c.readFinal()).res;
    expect(r.body.toString()).toBe("late");
    await expectServerCloses(c, CLOSE_MS, { what: "client half-closed before the upstream answered", fin: true, noUnread: true });
  });

  test("upstream answers Connection: close and closes: the client's keep-alive connection is kept", async () => {
    const b = backend(async (conn) => {
      const req = await conn.readRequest();
      await conn.write(okResponse(`ok ${req.target}`, [["Connection", "close"]]));
      conn.end();
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    const r1 = await c.readResponse();
    expect(r1.status).toBe(200);
    expect(r1.body.toString()).toBe("ok /one");
    // The upstream's hop-by-hop Connection: close is not the client's.
    expect(r1.header("connection")).toBeUndefined();
    const r2 = await expectReusable(c, KEEP_MS, get11("/two"));
    expect(r2.body.toString()).toBe("ok /two");
    expect(b.conns.length).toBe(2); // a fresh upstream connection for the second request
  });

  test("upstream closes its idle pooled connection: the client's connection is kept and the next request served", async () => {
    const b = backend(async (conn) => {
      const req = await conn.readRequest();
      await conn.write(okResponse(`ok ${req.target}`));
      await Bun.sleep(50);
      conn.end(); // an upstream keep-alive timeout, without saying so in the response
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    expect((await c.readResponse()).body.toString()).toBe("ok /one");
    await b.conns[0]!.waitClosed(CLOSE_MS);
    const r2 = await expectReusable(c, KEEP_MS, get11("/two"));
    expect(r2.status).toBe(200);
    expect(r2.body.toString()).toBe("ok /two");
  });

  test("close-delimited upstream body to an HTTP/1.1 client: re-framed as chunked, the connection kept", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
      conn.end();
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    expect(r.framing).toBe("chunked");
    expect(r.body.toString()).toBe("until the end");
    await expectStaysOpen(c, KEEP_MS, { what: "after a close-delimited upstream body" });
  });

  test("close-delimited upstream body to an HTTP/1.0 client: close-delimited, then FIN", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
      conn.end();
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get10("/one", "Host: localhost\r\nConnection: keep-alive\r\n"));
    await expectServerCloses(c, CLOSE_MS, { what: "close-delimited body to HTTP/1.0", fin: true });
    const r = await c.readResponse();
    expect(r.framing).toBe("close");
    expect(r.body.toString()).toBe("until the end");
  });

  test("error before the response (upstream refuses → 502): a complete error page, the connection kept", async () => {
    const s = await proxy(closedPort());
    const c = await client(s.port);
    c.send(get11("/one"));
    const r = await c.readResponse();
    expect(r.status).toBe(502);
    if (r.header("connection") === "close") {
      await expectServerCloses(c, CLOSE_MS, { what: "a 502 that says Connection: close", fin: true, noUnread: true });
    } else {
      expect((await expectReusable(c, KEEP_MS, get11("/two"))).status).toBe(502);
    }
  });

  test("error before the response on a request with a body (502 after the body was sent): consistent with its Connection header", async () => {
    const s = await proxy(closedPort());
    const c = await client(s.port);
    c.send("POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    const r = await c.readResponse();
    expect(r.status).toBe(502);
    if (r.header("connection") === "close") {
      await expectServerCloses(c, CLOSE_MS, { what: "a 502 that says Connection: close", fin: true, noUnread: true });
    } else {
      expect((await expectReusable(c, KEEP_MS, get11("/two"))).status).toBe(502);
    }
  });

  test("error before the response, request body not yet sent (upstream refuses; 3 of 100 bytes sent): 502, then close or drain", async () => {
    const s = await proxy(closedPort());
    const c = await client(s.port);
    c.send("POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc");
    const r = await c.readResponse();
    expect(r.status).toBe(502);
    if (r.header("connection") === "close") {
      await expectServerCloses(c, CLOSE_MS, { what: "a 502 with Connection: close and the request body unread", fin: true, noUnread: true });
    } else {
      // Kept: then the server must skip the 97 body bytes still owed and serve what follows.
      await expectStaysOpen(c, KEEP_MS, { what: "a kept 502 while the request body is still owed" });
      c.send("x".repeat(97) + get11("/after"));
      const r2 = await c.readResponse();
      expect(r2.status).toBe(502);
      expect(c.unread().length).toBe(0);
    }
  });

  test("error after the head (upstream dies mid-body, Content-Length): the proxy closes, the truncation stays visible", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
      await Bun.sleep(20);
      conn.reset();
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    await c.readThrough("\r\n\r\n");
    await expectServerCloses(c, CLOSE_MS, { what: "upstream died after 10 of 100 body bytes" });
    expect(c.unread().toString()).toBe("0123456789");
  });

  test("error after the head (upstream FIN mid-chunked-body): the proxy closes without a last-chunk", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
      await Bun.sleep(20);
      conn.end();
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    await c.readThrough("\r\n\r\n");
    await expectServerCloses(c, CLOSE_MS, { what: "upstream FIN inside a chunked body" });
    const rest = c.unread().toString("latin1");
    expect(rest).toContain("hello");
    expect(rest).not.toContain("0\r\n\r\n");
  });

  test("upstream timeout (→ 504) before any response byte: the error page, then consistent lifetime", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.waitClosed(10_000); // never answers
    });
    const s = await proxy(b.port, ["--upstream-timeout", "300ms"]);
    const c = await client(s.port);
    c.send(get11("/one"));
    const r = await c.readResponse("GET", 5000);
    expect(r.status).toBe(504);
    // The timed-out upstream connection must be closed, not pooled.
    await expectServerCloses(b.conns[0]!, CLOSE_MS, { what: "the proxy dropping a timed-out upstream connection" });
    if (r.header("connection") === "close") await expectServerCloses(c, CLOSE_MS, { what: "a 504 with Connection: close", fin: true, noUnread: true });
    else await expectStaysOpen(c, KEEP_MS, { what: "after a 504 without Connection: close" });
  });
});

describe("proxy: upstream connection lifetime", () => {
  test("client aborts while the upstream is answering: the proxy closes the upstream connection", async () => {
    // The body keeps flowing: the first relayed bytes after the client's close meet its RST,
    // which is how a dead client is noticed mid-response (a FIN alone looks like a half-close).
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nstart");
      for (let i = 0; i < 200 && !conn.closed; i++) {
        await Bun.sleep(20);
        await conn.write("x".repeat(100));
      }
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    await c.readThrough("start");
    c.close();
    await expectServerCloses(b.conns[0]!, CLOSE_MS, { what: "the proxy closing the upstream after the client went away" });
  });

  test("client aborts before the upstream answered: the proxy closes the upstream connection", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.waitClosed(10_000);
    });
    const s = await proxy(b.port);
    const c = await client(s.port);
    c.send(get11("/one"));
    await b.accepted(1);
    await b.conns[0]!.waitUntil((u) => (u.includes("\r\n\r\n") ? true : null), "the proxied request");
    c.close();
    await expectServerCloses(b.conns[0]!, CLOSE_MS, { what: "the proxy closing the upstream after the client went away" });
  });

  test("client sends Connection: close: the pooled upstream connection stays open for reuse", async () => {
    const b = okBackend();
    const s = await proxy(b.port);
    const c1 = await client(s.port);
    c1.send(get11("/one", "Connection: close\r\n"));
    expect((await c1.readResponse()).status).toBe(200);
    await expectServerCloses(c1, CLOSE_MS, { what: "after Connection: close" });
    // The client's Connection: close is hop-by-hop: the upstream connection is fine to keep.
    await expectStaysOpen(b.conns[0]!, KEEP_MS, { what: "the pooled upstream connection" });
    const c2 = await client(s.port);
    c2.send(get11("/two"));
    expect((await c2.readResponse()).body.toString()).toBe("ok /two");
    expect(b.conns.length).toBe(1);
  });
});
