/**
 * Reverse proxy, end to end: real backends inside this process (proxy-backends.ts), dreamserver
 * as a child process with --proxy, raw TCP on both sides. Each test starts its own backend and
 * server (~80 ms) so upstream connection counts and pooled connections never leak between tests.
 *
 * What the backend received is checked byte for byte where framing matters (bodies, smuggling).
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { type RunningServer, startServer, waitFor } from "./harness.ts";
import {
  type BackendConn,
  BulkClient,
  bulkRequest,
  Client,
  closedPort,
  deferred,
  hashResponse,
  httpBackend,
  type Message,
  okResponse,
  type RawBackend,
  rawBackend,
  request,
  serveEach,
  sha256,
} from "./proxy-backends.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  // Run every cleanup, then fail with the first error: a backend's stop() throws when one of its
  // scripts failed (proxy-backends.ts), and that must not leave servers running.
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

function backend(script: (c: BackendConn) => Promise<void> | void): RawBackend {
  const b = rawBackend(script);
  cleanups.push(() => b.stop());
  return b;
}

async function proxy(port: number, args: string[] = [], base = ""): Promise<RunningServer> {
  const s = await startServer(["--proxy", `http://127.0.0.1:${port}${base}`, "--log-format", "json", ...args]);
  // SIGTERM waits for in-flight exchanges; a test that failed half-way must not hang the hook.
  cleanups.push(async () => {
    const killer = setTimeout(() => s.proc.kill("SIGKILL"), 1500);
    await s.stop();
    clearTimeout(killer);
  });
  return s;
}

async function connect(s: RunningServer): Promise<Client> {
  const c = await Client.connect(s.port);
  cleanups.push(() => c.close());
  return c;
}

type LogRecord = { id: string; status: number; error?: string; upstream?: string; upstream_status?: number; method: string; path: string };

/** The first n access-log records (waits for the writer's flush, ≤ 100 ms). */
async function logRecords(s: RunningServer, n = 1): Promise<LogRecord[]> {
  const lines = await waitFor(() => {
    const l = s.readLog().split("\n").filter(Boolean);
    return l.length >= n ? l : null;
  });
  if (!lines) throw new Error(`expected ${n} access-log lines, got: ${JSON.stringify(s.readLog())}`);
  return lines.map((l) => JSON.parse(l) as LogRecord);
}

/** Request lines ("METHOD target HTTP/1.x") anywhere in the bytes a backend received. */
function requestLines(b: RawBackend): string[] {
  const out: string[] = [];
  for (const c of b.conns) for (const m of c.received().toString("latin1").matchAll(/(?:^|\r\n)([A-Z]+ \S+ HTTP\/1\.[01])\r\n/g)) out.push(m[1]!);
  return out;
}

/** Backend that records every request and answers 200 "ok" (keep-alive). */
function recordingBackend(respond: (req: Message, n: number) => Buffer | string = () => okResponse("ok")) {
  const reqs: Message[] = [];
  const b = backend(
    serveEach((req, _c, n) => {
      reqs.push(req);
      return respond(req, n);
    }),
  );
  return { b, reqs };
}

const sleep = (ms: number) => Bun.sleep(ms);

/** Poll a growing counter until it stops changing for 200 ms (bounded): the flow has stalled. */
async function settled(read: () => number, maxMs = 5000): Promise<number> {
  const end = Date.now() + maxMs;
  let last = read();
  for (;;) {
    await sleep(200);
    const now = read();
    if (now === last && now > 0) return now;
    if (Date.now() > end) throw new Error(`still moving after ${maxMs} ms (at ${now} bytes): no backpressure`);
    last = now;
  }
}

// =============================================================================================

describe("request forwarding", () => {
  test("method and target are forwarded byte for byte (query, odd-but-valid characters, custom method, *, absolute-form)", async () => {
    const { b, reqs } = recordingBackend();
    const s = await proxy(b.port);
    const c = await connect(s);
    const cases: [string, string, string][] = [
      // [method, target sent, target expected upstream]
      ["GET", "/a/b?x=1&y=%20z&q=a+b&e=&e=2", "/a/b?x=1&y=%20z&q=a+b&e=&e=2"],
      ["GET", "/%7Euser/./../a//b;p=1,2/%2F%2e%2E/~!$&'()*+,;=:@?q=/?:@!$&'()*+,;=", "/%7Euser/./../a//b;p=1,2/%2F%2e%2E/~!$&'()*+,;=:@?q=/?:@!$&'()*+,;="],
      ["GET", "/caf%C3%A9/%E2%9C%93?%00=%ff", "/caf%C3%A9/%E2%9C%93?%00=%ff"],
      ["PURGE", "/cache/item", "/cache/item"],
      ["DELETE", "/r/1", "/r/1"],
      ["OPTIONS", "*", "*"],
      ["GET", "http://client.example/abs/path?x=1", "/abs/path?x=1"],
    ];
    for (const [method, target] of cases) {
      c.send(`${method} ${target} HTTP/1.1\r\nHost: client.example\r\n\r\n`);
      const r = await c.readResponse(method);
      expect(r.status).toBe(200);
    }
    expect(reqs.map((r) => r.startLine)).toEqual(cases.map(([m, , want]) => `${m} ${want} HTTP/1.1`));
    // absolute-form: Host comes from the URI
    expect(reqs[6]!.header("host")).toBe("client.example");
  });

  test("base path of the --proxy URL is prefixed (with or without trailing slash)", async () => {
    const { b, reqs } = recordingBackend();
    for (const base of ["/base", "/base/"]) {
      const s = await proxy(b.port, [], base);
      const c = await connect(s);
      for (const t of ["/x?y=1", "/", "/a//b/"]) {
        c.send(`GET ${t} HTTP/1.1\r\nHost: h\r\n\r\n`);
        expect((await c.readResponse()).status).toBe(200);
      }
    }
    expect(reqs.map((r) => r.target)).toEqual(["/base/x?y=1", "/base/", "/base/a//b/", "/base/x?y=1", "/base/", "/base/a//b/"]);
  });

  test("end-to-end headers kept in order and case; hop-by-hop and Connection-named ones removed; X-Forwarded-*, Via set", async () => {
    const { b, reqs } = recordingBackend();
    const s = await proxy(b.port);
    const r = await request(
      s.port,
      "GET /h HTTP/1.1\r\n" +
        "Host: client.example:8443\r\n" +
        "Connection: keep-alive, X-Secret, x-other-hop\r\n" +
        "X-Secret: s3cr3t\r\n" +
        "X-Other-Hop: 1\r\n" +
        "Keep-Alive: timeout=5\r\n" +
        "Proxy-Connection: keep-alive\r\n" +
        "TE: trailers\r\n" +
        "Trailer: X-T\r\n" +
        "Upgrade: foo/1\r\n" +
        "X-Custom-Case: A b  c\r\n" +
        "accept: */*\r\n" +
        "X-Dup: 1\r\n" +
        "X-Dup: 2\r\n" +
        "X-Forwarded-For: 6.6.6.6\r\n" +
        "X-Forwarded-Host: evil.example\r\n" +
        "X-Forwarded-Proto: https\r\n" +
        "X-Real-IP: 6.6.6.6\r\n" +
        "Forwarded: for=6.6.6.6\r\n" +
        "Via: 1.0 earlier-proxy\r\n" +
        "\r\n",
    );
    expect(r.status).toBe(200);
    const up = reqs[0]!;
    const names = up.headers.map(([n]) => n.toLowerCase());
    for (const gone of ["connection", "x-secret", "x-other-hop", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "x-real-ip", "forwarded"]) {
      expect(names).not.toContain(gone);
    }
    // Kept: exact name case, value, repetition and relative order.
    const kept = up.headers.filter(([n]) => ["x-custom-case", "accept", "x-dup"].includes(n.toLowerCase()));
    expect(kept).toEqual([
      ["X-Custom-Case", "A b  c"],
      ["accept", "*/*"],
      ["X-Dup", "1"],
      ["X-Dup", "2"],
    ]);
    expect(up.header("host")).toBe("client.example:8443");
    // Untrusted client: its X-Forwarded-* are replaced with what we saw.
    expect(up.all("x-forwarded-for")).toEqual(["127.0.0.1"]);
    expect(up.all("x-forwarded-proto")).toEqual(["http"]);
    expect(up.all("x-forwarded-host")).toEqual(["client.example:8443"]);
    expect(up.all("via")).toEqual(["1.0 earlier-proxy, 1.1 dreamserver"]);
    // Connection persistence is HTTP/1.1's default upstream: no Connection field at all.
    expect(up.header("connection")).toBeUndefined();
  });

  test("--trusted-proxy 127.0.0.1 keeps and appends the client's X-Forwarded-* and X-Real-IP", async () => {
    const { b, reqs } = recordingBackend();
    const s = await proxy(b.port, ["--trusted-proxy", "127.0.0.1"]);
    await request(s.port, "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: public.example\r\nX-Real-IP: 6.6.6.6\r\n\r\n");
    const up = reqs[0]!;
    expect(up.all("x-forwarded-for")).toEqual(["6.6.6.6, 127.0.0.1"]);
    expect(up.all("x-forwarded-proto")).toEqual(["https"]);
    expect(up.all("x-forwarded-host")).toEqual(["public.example"]);
    expect(up.all("x-real-ip")).toEqual(["6.6.6.6"]);
  });

  test("X-Request-ID: the one sent upstream is echoed to the client and logged; upstream Date/Server/X-Request-ID are not duplicated", async () => {
    const { b, reqs } = recordingBackend(() =>
      okResponse("ok", [
        ["Date", "Wed, 21 Oct 2015 07:28:00 GMT"],
        ["Server", "backend/9.9"],
        ["X-Request-ID", "backend-made-this"],
        ["X-Backend", "yes"],
      ]),
    );
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET /gen HTTP/1.1\r\nHost: h\r\n\r\n");
    const r1 = await c.readResponse();
    c.send("GET /given HTTP/1.1\r\nHost: h\r\nX-Request-ID: trace-abc.123\r\n\r\n");
    const r2 = await c.readResponse();

    const id1 = reqs[0]!.header("x-request-id")!;
    expect(id1).toMatch(/^[A-Za-z0-9_-]{10,}$/);
    expect(reqs[0]!.all("x-request-id")).toEqual([id1]);
    expect(r1.all("x-request-id")).toEqual([id1]);
    expect(reqs[1]!.all("x-request-id")).toEqual(["trace-abc.123"]);
    expect(r2.all("x-request-id")).toEqual(["trace-abc.123"]);
    for (const r of [r1, r2]) {
      expect(r.all("server")).toEqual(["DreamServer"]);
      expect(r.all("date")).toHaveLength(1);
      expect(r.header("date")).not.toBe("Wed, 21 Oct 2015 07:28:00 GMT");
      expect(r.header("x-backend")).toBe("yes");
    }
    const log = await logRecords(s, 2);
    expect(log.map((l) => l.id)).toEqual([id1, "trace-abc.123"]);
    expect(log[0]!.upstream).toBe(`127.0.0.1:${b.port}`);
    expect(log[0]!.upstream_status).toBe(200);
  });

  test("Host: the client's by default, the upstream's with --proxy-host-header", async () => {
    const { b, reqs } = recordingBackend();
    const s1 = await proxy(b.port);
    await request(s1.port, "GET / HTTP/1.1\r\nHost: client.example\r\n\r\n");
    const s2 = await proxy(b.port, ["--proxy-host-header"]);
    await request(s2.port, "GET / HTTP/1.1\r\nHost: client.example\r\n\r\n");
    expect(reqs[0]!.all("host")).toEqual(["client.example"]);
    expect(reqs[1]!.all("host")).toEqual([`127.0.0.1:${b.port}`]);
    // X-Forwarded-Host still tells the backend what the client asked for.
    expect(reqs[1]!.all("x-forwarded-host")).toEqual(["client.example"]);
  });
});

// =============================================================================================

describe("request bodies", () => {
  test("Content-Length body: the backend gets exactly the head and those bytes", async () => {
    const { b, reqs } = recordingBackend();
    const s = await proxy(b.port);
    const body = "hello\r\nworld\0\xff";
    const r = await request(s.port, `POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(r.status).toBe(200);
    const up = reqs[0]!;
    expect(up.all("content-length")).toEqual([String(body.length)]);
    expect(up.header("transfer-encoding")).toBeUndefined();
    expect(up.body.toString("latin1")).toBe(body);
    // Nothing after the body on the upstream connection.
    expect(b.conns[0]!.received().length).toBe(up.raw.length);
    expect(up.raw.subarray(up.raw.length - body.length).toString("latin1")).toBe(body);
  });

  test("chunked body is re-framed with our own chunk sizes (extensions and padding dropped), trailers forwarded", async () => {
    const { b, reqs } = recordingBackend();
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("POST /chunky HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhel");
    await sleep(30);
    c.send("lo\r\n0006\r\n world\r");
    await sleep(30);
    c.send("\n0\r\nX-Trailer: t1\r\n\r\n");
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    const up = reqs[0]!;
    expect(up.all("transfer-encoding")).toEqual(["chunked"]);
    expect(up.header("content-length")).toBeUndefined();
    expect(up.body.toString()).toBe("hello world");
    expect(up.trailers).toEqual([["X-Trailer", "t1"]]);
    const rawBody = up.raw.subarray(up.raw.indexOf("\r\n\r\n") + 4).toString("latin1");
    expect(rawBody).not.toContain("name=val");
    expect(rawBody).not.toContain("0006");
    // Every chunk-size line is plain lowercase hex without leading zeros.
    expect(rawBody).toMatch(/^(?:[1-9a-f][0-9a-f]*\r\n[\s\S]*?\r\n)+0\r\nX-Trailer: t1\r\n\r\n$/);
    expect(b.conns[0]!.received().length).toBe(up.raw.length);
  });

  test("Expect: 100-continue: the client gets one 100 from us, the backend never sees Expect, a backend 100 is not relayed twice", async () => {
    const reqs: Message[] = [];
    const b = backend(async (conn) => {
      const req = await conn.readRequest();
      reqs.push(req);
      await conn.write("HTTP/1.1 100 Continue\r\n\r\n" + okResponse("got " + req.body.toString()).toString("latin1"));
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    const cont = await c.readResponse();
    expect(cont.startLine).toBe("HTTP/1.1 100 Continue");
    c.send("data");
    const { res, interim } = await c.readFinal();
    expect(interim).toEqual([]);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("got data");
    expect(reqs[0]!.header("expect")).toBeUndefined();
  });
});

// =============================================================================================

describe("response framing", () => {
  test("Content-Length response relayed with the same length", async () => {
    const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
    const { b } = recordingBackend(() => okResponse(body, [["Content-Type", "application/octet-stream"]]));
    const s = await proxy(b.port);
    const r = await request(s.port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(r.framing).toBe("length");
    expect(r.header("content-length")).toBe("3000");
    expect(r.header("content-type")).toBe("application/octet-stream");
    expect(r.body.equals(body)).toBe(true);
  });

  test("chunked response with trailers: body and trailers arrive, our own chunk framing", async () => {
    const { b } = recordingBackend(
      () => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Checksum: abc\r\nX-Other: 2\r\n\r\n",
    );
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const r = await c.readResponse();
    expect(r.framing).toBe("chunked");
    expect(r.body.toString()).toBe("wikipedia");
    expect(r.trailers).toEqual([
      ["X-Checksum", "abc"],
      ["X-Other", "2"],
    ]);
    expect(r.raw.toString("latin1")).not.toContain("ext=1");
    // The connection is still in sync: a second exchange works.
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    expect((await c.readResponse()).body.toString()).toBe("wikipedia");
  });

  test("close-delimited backend response: chunked to an HTTP/1.1 client (connection kept), close-delimited to HTTP/1.0", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart one, ");
      await sleep(20);
      await conn.write("part two");
      conn.end();
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET /11 HTTP/1.1\r\nHost: h\r\n\r\n");
    const r = await c.readResponse();
    expect(r.framing).toBe("chunked");
    expect(r.header("content-length")).toBeUndefined();
    expect(r.body.toString()).toBe("part one, part two");
    c.send("GET /11-again HTTP/1.1\r\nHost: h\r\n\r\n");
    expect((await c.readResponse()).body.toString()).toBe("part one, part two");
    expect(c.closed).toBe(false);

    const c10 = await connect(s);
    c10.send("GET /10 HTTP/1.0\r\nHost: h\r\n\r\n");
    const r10 = await c10.readResponse();
    expect(r10.version).toBe("HTTP/1.1");
    expect(r10.framing).toBe("close");
    expect(r10.header("transfer-encoding")).toBeUndefined();
    expect(r10.body.toString()).toBe("part one, part two");
    expect(c10.closed).toBe(true);
  });

  test("response hop-by-hop fields (fixed list and Connection-named) are not relayed", async () => {
    const { b } = recordingBackend(() =>
      okResponse("ok", [
        ["Connection", "keep-alive, X-Internal"],
        ["X-Internal", "secret"],
        ["Keep-Alive", "timeout=5, max=100"],
        ["Proxy-Connection", "keep-alive"],
        ["Upgrade", "h2c"],
        ["Trailer", "X-Sum"],
        ["X-Public", "yes"],
      ]),
    );
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    const r = await c.readResponse();
    const names = r.headers.map(([n]) => n.toLowerCase());
    for (const gone of ["connection", "x-internal", "keep-alive", "proxy-connection", "upgrade", "trailer"]) expect(names).not.toContain(gone);
    expect(r.header("x-public")).toBe("yes");
  });

  test("repeated Set-Cookie fields stay separate and in order", async () => {
    const { b } = recordingBackend(() =>
      okResponse("ok", [
        ["Set-Cookie", "a=1; Path=/"],
        ["Set-Cookie", "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly"],
        ["set-cookie", "c=3"],
      ]),
    );
    const s = await proxy(b.port);
    const r = await request(s.port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(r.headers.filter(([n]) => n.toLowerCase() === "set-cookie")).toEqual([
      ["Set-Cookie", "a=1; Path=/"],
      ["Set-Cookie", "b=2; Expires=Wed, 21 Oct 2015 07:28:00 GMT; HttpOnly"],
      ["set-cookie", "c=3"],
    ]);
  });

  test("103 Early Hints is relayed before the final response", async () => {
    const gate = deferred();
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n");
      await gate.promise;
      await conn.write(okResponse("final"));
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    // The 103 arrives while the backend is still thinking.
    const hint = await c.readResponse();
    expect(hint.status).toBe(103);
    expect(hint.header("link")).toBe("</style.css>; rel=preload; as=style");
    gate.resolve();
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("final");
  });

  test("204, 304 and HEAD responses carry no body bytes (the keep-alive stream stays in sync)", async () => {
    const { b } = recordingBackend((req) => {
      if (req.method === "HEAD") return "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1234\r\n\r\n";
      if (req.target === "/204") return "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
      if (req.target === "/304") return 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 99\r\n\r\n';
      return okResponse("after");
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n");
    const head = await c.readResponse("HEAD");
    c.send("GET /204 HTTP/1.1\r\nHost: h\r\n\r\n");
    const r204 = await c.readResponse();
    c.send('GET /304 HTTP/1.1\r\nHost: h\r\nIf-None-Match: "v1"\r\n\r\n');
    const r304 = await c.readResponse();
    c.send("GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    const after = await c.readResponse();
    expect(head.status).toBe(200);
    expect(head.header("content-length")).toBe("1234");
    expect(r204.status).toBe(204);
    expect(r204.header("content-length")).toBeUndefined();
    expect(r204.header("transfer-encoding")).toBeUndefined();
    expect(r204.header("x-a")).toBe("1");
    expect(r304.status).toBe(304);
    expect(r304.header("etag")).toBe('"v1"');
    expect(after.body.toString()).toBe("after");
    await sleep(50);
    expect(c.unread().length).toBe(0);
  });

  test("Location naming the upstream is rewritten to the client's origin; others untouched", async () => {
    let up = 0;
    const { b } = recordingBackend((req) => {
      const loc =
        req.target === "/base/self"
          ? `http://127.0.0.1:${up}/base/next?x=1`
          : req.target === "/base/other"
            ? "https://other.example/x"
            : "/base/relative";
      return okResponse("", [["Location", loc]], "302 Found");
    });
    up = b.port;
    const s = await proxy(b.port, [], "/base");
    const loc = async (p: string) => (await request(s.port, `GET ${p} HTTP/1.1\r\nHost: www.example:8080\r\n\r\n`)).header("location");
    expect(await loc("/self")).toBe("http://www.example:8080/next?x=1");
    expect(await loc("/other")).toBe("https://other.example/x");
    expect(await loc("/rel")).toBe("/base/relative");
  });

  test("--follow-redirects 2 follows same-origin redirects for GET, not for POST, and stops after 2 hops", async () => {
    let up = 0;
    const { b, reqs } = recordingBackend((req) => {
      const redirect = (status: string, loc: string) => okResponse("moved", [["Location", loc]], status);
      switch (req.target) {
        case "/a":
          return redirect("302 Found", "/b");
        case "/b":
          return redirect("301 Moved Permanently", `http://127.0.0.1:${up}/c`);
        case "/c":
          return okResponse(`final c for ${req.method}`);
        case "/1":
          return redirect("302 Found", "/2");
        case "/2":
          return redirect("302 Found", "/3");
        case "/3":
          return redirect("302 Found", "/4");
        case "/away":
          return redirect("302 Found", "http://elsewhere.example/c");
        default:
          return okResponse("?");
      }
    });
    up = b.port;
    const s = await proxy(b.port, ["--follow-redirects", "2"]);
    const c = await connect(s);

    c.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    const got = await c.readResponse();
    expect(got.status).toBe(200);
    expect(got.body.toString()).toBe("final c for GET");
    expect(reqs.map((r) => `${r.method} ${r.target}`)).toEqual(["GET /a", "GET /b", "GET /c"]);

    reqs.length = 0;
    c.send("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nx=1");
    const post = await c.readResponse();
    expect(post.status).toBe(302);
    expect(post.header("location")).toBe("/b");
    expect(reqs.map((r) => `${r.method} ${r.target}`)).toEqual(["POST /a"]);

    reqs.length = 0;
    c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
    const chain = await c.readResponse();
    expect(chain.status).toBe(302);
    expect(chain.header("location")).toBe("/4");
    expect(reqs.map((r) => r.target)).toEqual(["/1", "/2", "/3"]);

    reqs.length = 0;
    c.send("GET /away HTTP/1.1\r\nHost: h\r\n\r\n");
    const away = await c.readResponse();
    expect(away.status).toBe(302);
    expect(away.header("location")).toBe("http://elsewhere.example/c");
    expect(reqs).toHaveLength(1);

    // A GET with a body is not replayed either.
    reqs.length = 0;
    c.send("GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody");
    const withBody = await c.readResponse();
    expect(withBody.status).toBe(302);
    expect(reqs.map((r) => r.target)).toEqual(["/a"]);
  });

  test("--follow-redirects: a close-delimited redirect response is followed too", async () => {
    const b = backend(async (conn) => {
      const req = await conn.readRequest();
      if (req.target === "/cd") {
        await conn.write("HTTP/1.1 302 Found\r\nLocation: /target\r\n\r\nclose-delimited body");
        conn.end();
        return;
      }
      await conn.write(okResponse(`reached ${req.target}`));
    });
    const s = await proxy(b.port, ["--follow-redirects", "1"]);
    const r = await request(s.port, "GET /cd HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("reached /target");
  });
});

// =============================================================================================

describe("streaming and bulk integrity", () => {
  for (const kind of ["length", "chunked"] as const) {
    test(`first bytes reach the client before the backend finished (${kind})`, async () => {
      const gate = deferred();
      const b = backend(async (conn) => {
        await conn.readRequest();
        if (kind === "length") await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
        else await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
        await gate.promise;
        await conn.write(kind === "length" ? "secnd" : "5\r\nsecnd\r\n0\r\n\r\n");
      });
      const s = await proxy(b.port);
      const c = await connect(s);
      c.send("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n");
      await c.readThrough("first"); // would time out if the proxy buffered the whole response
      expect(gate.settled).toBe(false);
      gate.resolve();
      await c.readThrough(kind === "length" ? "secnd" : "0\r\n\r\n");
    });
  }

  const MiB = 1024 * 1024;

  // Kernel buffers on the four loopback sockets involved (receive ~6 MiB, send ~4 MiB at most
  // with default autotuning) plus the proxy's 256 KiB queues hold ~21 MiB in the worst case
  // (~10 MiB measured): if more than 24 MiB of a 32 MiB flood got through, the proxy buffered it.
  const FLOOD = 32 * MiB;

  test("backpressure: a client that stops reading stalls the backend (the proxy buffers a bounded amount)", async () => {
    const piece = Buffer.alloc(MiB, 0x62);
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${FLOOD}\r\n\r\n`);
      for (let off = 0; off < FLOOD && !conn.socketClosed; off += MiB) await conn.write(piece);
    });
    const s = await proxy(b.port);
    const c = await BulkClient.connect(s.port);
    cleanups.push(() => c.close());
    c.pause();
    c.send(Buffer.from("GET /big HTTP/1.1\r\nHost: h\r\n\r\n"));
    await b.accepted(1);
    const stalledAt = await settled(() => b.conns[0]!.written);
    expect(stalledAt).toBeGreaterThan(0);
    expect(stalledAt).toBeLessThan(24 * MiB);
    c.resume();
    await c.waitReceived(FLOOD, 20_000);
    // The head's bytes come on top of the body: wait for exactly head + body, no sleep.
    const headEnd = c.received().indexOf("\r\n\r\n") + 4;
    await c.waitReceived(headEnd + FLOOD, 5_000);
    expect(c.received().length - headEnd).toBe(FLOOD);
  }, 30_000);

  test("backpressure: a backend that stops reading stalls the client's upload", async () => {
    const gate = deferred();
    const b = backend(async (conn) => {
      const head = await conn.readThrough("\r\n\r\n");
      conn.socket.pause();
      await gate.promise;
      conn.socket.resume();
      await conn.waitReceived(head.length + FLOOD, 20_000);
      await conn.write(okResponse(`got ${conn.receivedBytes - head.length}`));
    });
    const s = await proxy(b.port, ["--max-body-size", "100m"]);
    const c = await BulkClient.connect(s.port);
    cleanups.push(() => c.close());
    c.send(Buffer.from(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${FLOOD}\r\n\r\n`), Buffer.alloc(FLOOD, 0x63));
    const sent = await settled(() => c.accepted);
    expect(sent).toBeLessThan(24 * MiB); // the proxy stopped reading from us
    gate.resolve();
    const r = await c.readResponse("POST", 20_000);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`got ${FLOOD}`);
  }, 30_000);

  const big = Buffer.allocUnsafe(50 * MiB);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
  const bigHash = sha256(big);

  test("50 MiB download (Content-Length and chunked) arrives intact", async () => {
    const hb = httpBackend((req) => {
      if (new URL(req.url).pathname === "/chunked") {
        let off = 0;
        return new Response(
          new ReadableStream({
            pull(ctrl) {
              if (off >= big.length) return ctrl.close();
              ctrl.enqueue(big.subarray(off, off + MiB));
              off += MiB;
            },
          }),
        );
      }
      return new Response(big);
    });
    cleanups.push(() => hb.stop());
    const s = await proxy(hb.port);
    const a = await hashResponse(s.port, Buffer.from("GET /cl HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    expect(a.status).toBe(200);
    expect(a.framing).toBe("length");
    expect(a.bytes).toBe(big.length);
    expect(a.sha256).toBe(bigHash);
    const ch = await hashResponse(s.port, Buffer.from("GET /chunked HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    expect(ch.status).toBe(200);
    expect(ch.framing).toBe("chunked");
    expect(ch.bytes).toBe(big.length);
    expect(ch.sha256).toBe(bigHash);
  }, 30_000);

  test("50 MiB upload (Content-Length and chunked) arrives intact (--max-body-size 100m)", async () => {
    const hb = httpBackend(async (req) => {
      const body = new Uint8Array(await req.arrayBuffer());
      return new Response(`${body.byteLength} ${sha256(body)} ${req.headers.get("transfer-encoding") ?? "-"}`);
    });
    cleanups.push(() => hb.stop());
    const s = await proxy(hb.port, ["--max-body-size", "100m"]);

    const r = await bulkRequest(s.port, [Buffer.from(`POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: ${big.length}\r\n\r\n`), big]);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`${big.length} ${bigHash} -`);

    const parts: Buffer[] = [Buffer.from("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")];
    for (let off = 0; off < big.length; off += 3 * MiB + 17) {
      const piece = big.subarray(off, off + 3 * MiB + 17);
      parts.push(Buffer.from(piece.length.toString(16) + "\r\n"), piece, Buffer.from("\r\n"));
    }
    parts.push(Buffer.from("0\r\n\r\n"));
    const r2 = await bulkRequest(s.port, parts);
    expect(r2.status).toBe(200);
    expect(r2.body.toString()).toBe(`${big.length} ${bigHash} chunked`);
  }, 30_000);
});

// =============================================================================================

describe("WebSocket tunnel", () => {
  test("101 is relayed and bytes flow both ways through the tunnel", async () => {
    const reqs: Message[] = [];
    const b = backend(async (conn) => {
      const req = await conn.readRequest();
      reqs.push(req);
      await conn.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello-from-backend",
      );
      // echo until the client's FIN comes through, then say goodbye and close
      for (;;) {
        const chunk = await conn.readSome(10_000).catch(() => null);
        if (!chunk || chunk.length === 0) break;
        await conn.write(chunk);
      }
      await conn.write("bye");
      conn.end();
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    const r = await c.readResponse();
    expect(r.status).toBe(101);
    expect(r.header("upgrade")).toBe("websocket");
    expect(r.header("connection")).toBe("Upgrade");
    expect(r.header("sec-websocket-accept")).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    await c.readThrough("hello-from-backend");

    const up = reqs[0]!;
    expect(up.header("upgrade")).toBe("websocket");
    expect(up.header("connection")?.toLowerCase()).toBe("upgrade");
    expect(up.header("sec-websocket-key")).toBe("dGhlIHNhbXBsZSBub25jZQ==");
    expect(up.header("sec-websocket-version")).toBe("13");

    c.send("ping-1");
    await c.readThrough("ping-1");
    const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    c.send(binary);
    expect((await c.readBytes(256)).equals(binary)).toBe(true);
    // 200 KiB each way, written at once: exercises the tunnel's backpressure path a little.
    const bulk = Buffer.alloc(200 * 1024, 0x61);
    c.send(bulk);
    expect((await c.readBytes(bulk.length)).equals(bulk)).toBe(true);

    // Half-close: our FIN reaches the backend, whose last bytes still reach us, then its close.
    c.halfClose();
    await c.readThrough("bye");
    expect(await c.waitClosed()).toBe(true);
    const log = await logRecords(s);
    expect(log[0]!.status).toBe(101);
  });
});

const WS_REQUEST =
  "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

describe("WebSocket tunnel: endings and refusals", () => {
  test("the backend closing the tunnel first: its last bytes arrive, then the client connection closes", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
      await conn.readThrough("last words?");
      await conn.write("goodbye");
      conn.halfClose();
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send(WS_REQUEST);
    expect((await c.readResponse()).status).toBe(101);
    c.send("last words?");
    await c.readThrough("goodbye");
    expect(await c.waitClosed()).toBe(true);
    expect(await b.conns[0]!.waitClosed(2000)).toBe(true);
  });

  test("a 101 nobody asked for → 502 UPSTREAM_BAD_UPGRADE", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw bytes");
    });
    const s = await proxy(b.port);
    const r = await request(s.port, "GET /plain HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(r.status).toBe(502);
    const [rec] = await logRecords(s);
    expect(rec!.error).toBe("UPSTREAM_BAD_UPGRADE");
  });

  test("a backend refusing the upgrade with an ordinary response: relayed as is, no tunnel", async () => {
    const { b } = recordingBackend(() => okResponse("use /ws2", [["Content-Type", "text/plain"]], "426 Upgrade Required"));
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send(WS_REQUEST);
    const r = await c.readResponse();
    expect(r.status).toBe(426);
    expect(r.body.toString()).toBe("use /ws2");
    expect(r.header("upgrade")).toBeUndefined();
    // still plain HTTP on this connection
    c.send("GET /after HTTP/1.1\r\nHost: h\r\n\r\n");
    expect((await c.readResponse()).status).toBe(426);
  });
});

// =============================================================================================

describe("upstream failures", () => {
  test("backend down → 502, logged as UPSTREAM_CONNECT", async () => {
    const port = closedPort();
    const s = await proxy(port);
    const r = await request(s.port, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(r.status).toBe(502);
    const [rec] = await logRecords(s);
    expect(rec!.status).toBe(502);
    expect(rec!.error).toBe("UPSTREAM_CONNECT");
    // Both attempts: the refused connect and the one re-send on a fresh connection (a one-server
    // group keeps the single retry a lone backend always had; docs/reverse-proxy.md "Retries").
    expect(rec!.upstream).toBe(`127.0.0.1:${port}, 127.0.0.1:${port}`);
  });

  test("backend accepts and never answers → 504 after --upstream-timeout 500ms, logged as UPSTREAM_TIMEOUT", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      // say nothing
    });
    const s = await proxy(b.port, ["--upstream-timeout", "500ms"]);
    const t0 = performance.now();
    const r = await request(s.port, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", "GET", 5000);
    const took = performance.now() - t0;
    expect(r.status).toBe(504);
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(2500);
    const [rec] = await logRecords(s);
    expect(rec!.error).toBe("UPSTREAM_TIMEOUT");
  });

  test("garbage status line → 502 UPSTREAM_PROTOCOL", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTX/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nhi");
    });
    const s = await proxy(b.port);
    const r = await request(s.port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(r.status).toBe(502);
    const [rec] = await logRecords(s);
    expect(rec!.error).toBe("UPSTREAM_PROTOCOL");
  });

  test("smuggling-shaped upstream response (CL + TE) → 502, never relayed", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    });
    const s = await proxy(b.port);
    const r = await request(s.port, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(r.status).toBe(502);
  });

  for (const kind of ["length", "chunked"] as const) {
    test(`backend dies mid-body (${kind}) → the client sees a truncated response and a closed connection, never a clean end`, async () => {
      const b = backend(async (conn) => {
        await conn.readRequest();
        if (kind === "length") await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + "x".repeat(40));
        else await conn.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n" + "x".repeat(40) + "\r\n");
        await sleep(30);
        conn.halfClose();
      });
      const s = await proxy(b.port);
      const c = await connect(s);
      c.send("GET /dies HTTP/1.1\r\nHost: h\r\n\r\n");
      expect(await c.waitClosed()).toBe(true);
      expect(await b.conns[0]!.waitClosed(2000)).toBe(true); // upstream socket not leaked
      const all = c.received();
      const headEnd = all.indexOf("\r\n\r\n") + 4;
      const head = all.subarray(0, headEnd).toString("latin1");
      expect(head).toStartWith("HTTP/1.1 200 ");
      const rest = all.subarray(headEnd).toString("latin1");
      if (kind === "length") {
        expect(head).toContain("Content-Length: 100\r\n");
        expect(rest).toBe("x".repeat(40));
      } else {
        expect(head).toContain("Transfer-Encoding: chunked\r\n");
        expect(rest).toContain("x".repeat(40));
        expect(rest).not.toContain("0\r\n\r\n"); // no last-chunk: the client knows it was cut
      }
      const [rec] = await logRecords(s);
      expect(rec!.error).toBe("UPSTREAM_TRUNCATED");
    });
  }
});

// =============================================================================================

describe("upstream connection pool", () => {
  test("10 sequential keep-alive requests use one upstream connection (also across client connections)", async () => {
    const { b, reqs } = recordingBackend((_r, n) => okResponse(`r${n}`));
    const s = await proxy(b.port);
    const c = await connect(s);
    for (let i = 0; i < 10; i++) {
      c.send(`GET /k${i} HTTP/1.1\r\nHost: h\r\n\r\n`);
      expect((await c.readResponse()).body.toString()).toBe(`r${i}`);
    }
    for (let i = 0; i < 5; i++) {
      const r = await request(s.port, `GET /fresh${i} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
      expect(r.status).toBe(200);
    }
    expect(reqs).toHaveLength(15);
    expect(b.conns).toHaveLength(1);
  });

  test("a close-delimited response's connection is not reused", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write("HTTP/1.1 200 OK\r\n\r\nuntil close");
      conn.end();
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    for (let i = 0; i < 2; i++) {
      c.send(`GET /${i} HTTP/1.1\r\nHost: h\r\n\r\n`);
      expect((await c.readResponse()).body.toString()).toBe("until close");
    }
    expect(b.conns).toHaveLength(2);
    // Each upstream connection carried exactly one request.
    for (const bc of b.conns) expect(bc.received().toString("latin1").match(/ HTTP\/1\.1\r\n/g)).toHaveLength(1);
  });

  test("a pooled connection the backend closed while idle is not used", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write(okResponse(`conn${conn.index}`));
      if (conn.index === 0) {
        await sleep(20);
        conn.halfClose(); // silently closes the idle keep-alive connection
      } else await serveEach(() => okResponse(`conn${conn.index}`))(conn);
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
    expect((await c.readResponse()).body.toString()).toBe("conn0");
    // The proxy notices the FIN on its idle pooled connection and closes its side.
    expect(await b.conns[0]!.waitClosed(2000)).toBe(true);
    c.send("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("conn1");
  });

  test("GET on a pooled connection that dies without answering is retried once on a fresh connection", async () => {
    const b = backend(async (conn) => {
      if (conn.index === 0) {
        await conn.readRequest();
        await conn.write(okResponse("first"));
        await conn.readRequest(); // the proxy reuses this connection…
        conn.halfClose(); // …and it dies without a byte of answer (the keep-alive race)
        return;
      }
      await serveEach(() => okResponse("retried"))(conn);
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
    expect((await c.readResponse()).body.toString()).toBe("first");
    c.send("GET /2 HTTP/1.1\r\nHost: h\r\n\r\n");
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("retried");
    expect(b.conns).toHaveLength(2);
    expect(requestLines(b)).toEqual(["GET /1 HTTP/1.1", "GET /2 HTTP/1.1", "GET /2 HTTP/1.1"]);
    // The dead connection is closed on the proxy's side too (not leaked half-open).
    expect(await b.conns[0]!.waitClosed(2000)).toBe(true);
  });

  test("POST with a body on a pooled connection that dies is NOT retried → 502", async () => {
    const b = backend(async (conn) => {
      await conn.readRequest();
      await conn.write(okResponse("first"));
      await conn.readRequest();
      conn.halfClose();
    });
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n");
    expect((await c.readResponse()).body.toString()).toBe("first");
    c.send("POST /pay HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\namount=10");
    const r = await c.readResponse();
    expect(r.status).toBe(502);
    await sleep(100);
    expect(b.conns).toHaveLength(1);
    expect(requestLines(b)).toEqual(["GET /1 HTTP/1.1", "POST /pay HTTP/1.1"]);
    expect(await b.conns[0]!.waitClosed(2000)).toBe(true);
    const recs = await logRecords(s, 2);
    expect(recs[1]!.status).toBe(502);
    expect(recs[1]!.error).toBe("UPSTREAM_CLOSED");
  });
});

// =============================================================================================

describe("request smuggling through the proxy", () => {
  const SMUGGLED = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
  const cases: [string, string][] = [
    ["CL + TE", `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["TE + CL", `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["Transfer-Encoding: xchunked", `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["Transfer-Encoding : chunked (space before colon)", `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["Transfer-Encoding: chunked, identity", `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["Transfer-Encoding twice chunked", `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["obs-fold Transfer-Encoding", `POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["duplicate Content-Length (same value)", `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello${SMUGGLED}`],
    ["duplicate Content-Length (different values)", `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n${SMUGGLED}`],
    ["Content-Length list", `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\nhello${SMUGGLED}`],
    ["Content-Length with sign", `POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\nhello${SMUGGLED}`],
    ["Transfer-Encoding in HTTP/1.0", `POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
    ["bare LF line ending", `POST / HTTP/1.1\r\nHost: h\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`],
  ];
  // One backend and server for the whole table (these never reach the backend, so nothing is
  // shared between cases except the process; every case checks the backend is still untouched).
  let shared: { b: RawBackend; s: RunningServer } | null = null;
  afterAll(async () => {
    if (!shared) return;
    await shared.s.stop();
    shared.b.stop();
  });
  for (const [name, bytes] of cases) {
    test(`${name} → 400, the backend gets no request`, async () => {
      if (!shared) {
        const b0 = rawBackend(serveEach(() => okResponse("ok")));
        shared = { b: b0, s: await startServer(["--proxy", `http://127.0.0.1:${b0.port}`]) };
      }
      const { b, s } = shared;
      const c = await connect(s);
      c.send(bytes);
      const r = await c.readResponse();
      expect(r.status).toBe(400);
      expect(await c.waitClosed()).toBe(true);
      // Let anything that might have been forwarded arrive.
      await sleep(50);
      expect(requestLines(b)).toEqual([]);
      expect(b.conns).toHaveLength(0);
    });
  }

  test("chunk size that does not match its data → 400; the backend saw at most one (cut) request, never two", async () => {
    const { b } = recordingBackend();
    const s = await proxy(b.port);
    const c = await connect(s);
    c.send(`POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n${SMUGGLED}`);
    const r = await c.readResponse();
    expect(r.status).toBe(400);
    expect(await c.waitClosed()).toBe(true);
    await sleep(50);
    const lines = requestLines(b);
    expect(lines.length).toBeLessThanOrEqual(1);
    expect(lines.join()).not.toContain("/smuggled");
  });

  for (const framing of ["chunked", "length"] as const) {
    test(`a request hidden in a ${framing} body is forwarded as ONE request whose body holds those bytes`, async () => {
      const { b, reqs } = recordingBackend();
      const s = await proxy(b.port);
      const c = await connect(s);
      const hidden = `0\r\n\r\n${SMUGGLED}`;
      const msg =
        framing === "chunked"
          ? `POST /outer HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${hidden.length.toString(16)}\r\n${hidden}\r\n0\r\n\r\n`
          : `POST /outer HTTP/1.1\r\nHost: h\r\nContent-Length: ${hidden.length}\r\n\r\n${hidden}`;
      c.send(msg);
      const r = await c.readResponse("POST");
      expect(r.status).toBe(200);
      c.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
      expect((await c.readResponse()).status).toBe(200);
      await sleep(50);
      expect(reqs.map((q) => q.startLine)).toEqual(["POST /outer HTTP/1.1", "GET /next HTTP/1.1"]);
      expect(reqs[0]!.body.toString("latin1")).toBe(hidden);
      // Byte-exact: the backend connection holds exactly these two requests, nothing between.
      expect(b.conns[0]!.received().length).toBe(reqs[0]!.raw.length + reqs[1]!.raw.length);
    });
  }
});
