/**
 * Core server, HTTP/1.1 protocol behaviour end to end (issue "Core server"): connection reuse
 * and pipelining, and the strict parser's rejections as seen on the wire. Raw TCP bytes only.
 *
 * Two servers: a static one (no handler reads request bodies there) and a proxy in front of a
 * tiny body-reading upstream, the only place where chunked-body framing errors and
 * 100-continue can be observed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { get, parseResponses, raw, startServer, type RunningServer } from "./harness.ts";
import { Conn, expectErrorPage, expectRejected, makeRoot, rmRoot, sha256, startBodyUpstream } from "./core-helpers.ts";

const A = "alpha file\n";
const B = "bravo file, a little longer\n";
let root: string;
let srv: RunningServer;
let upstream: ReturnType<typeof startBodyUpstream>;
let proxy: RunningServer;

beforeAll(async () => {
  root = makeRoot({ "a.txt": A, "b.txt": B, "index.html": "<h1>home</h1>\n" });
  upstream = startBodyUpstream();
  [srv, proxy] = await Promise.all([
    startServer(["--root", root, "--access-log", "off"]),
    startServer(["--proxy", `http://127.0.0.1:${upstream.port}`, "--access-log", "off", "--max-body-size", "1m"]),
  ]);
});

afterAll(async () => {
  await Promise.all([srv?.stop(), proxy?.stop()]);
  upstream?.stop();
  rmRoot(root);
});

const GET_A = "GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";
/** GET_A as the last request of a raw() exchange: the server's close ends the read, no idle wait. */
const GET_A_LAST = "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

describe("connection reuse", () => {
  test("10 pipelined requests in one write get 10 responses, in order", async () => {
    const paths = ["/a.txt", "/b.txt", "/missing", "/a.txt", "/", "/b.txt", "/a.txt", "/nope/x", "/b.txt", "/a.txt"];
    const methods = paths.map((_, i) => (i === 3 ? "HEAD" : "GET"));
    const wire = paths.map((p, i) => `${methods[i]} ${p} HTTP/1.1\r\nHost: localhost\r\nX-Request-ID: pipe-${i}\r\n\r\n`).join("");
    // An 11th request with Connection: close ends the exchange (no idle timeout to wait for).
    const r = await raw(srv.port, wire + GET_A_LAST);
    const res = parseResponses(r.data, methods).slice(0, 10);
    expect(parseResponses(r.data, methods).length).toBe(11);
    // Our own ids come back in request order: the responses are not just right in number.
    expect(res.map((x) => x.header("x-request-id"))).toEqual(paths.map((_, i) => `pipe-${i}`));
    expect(res.map((x) => x.status)).toEqual([200, 200, 404, 200, 200, 200, 200, 404, 200, 200]);
    expect(res[0]!.body.toString()).toBe(A);
    expect(res[1]!.body.toString()).toBe(B);
    expect(res[3]!.body.length).toBe(0); // HEAD
    expect(res[3]!.header("content-length")).toBe(String(A.length));
    expect(res[4]!.body.toString()).toBe("<h1>home</h1>\n");
    expect(res[9]!.body.toString()).toBe(A);
    // HTTP/1.1 without Connection: close: still open after the 10th response (the 11th was
    // served on it), closed only after the one that asked.
    expect(res.every((x) => x.header("connection") === undefined)).toBe(true);
    expect(r.closed).toBe(true);
  });

  test("HTTP/1.1 keeps the connection alive by default; Connection: close is honoured", async () => {
    const c = await Conn.open(srv.port);
    try {
      for (let i = 0; i < 3; i++) {
        c.write(GET_A);
        const res = await c.response();
        expect(res.status).toBe(200);
        expect(res.body.toString()).toBe(A);
        expect(res.header("connection")).toBeUndefined();
        await Bun.sleep(20); // separate writes, separate reads: real reuse, not pipelining
      }
      expect(c.ended).toBe(false);
      c.write("GET /b.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
      const last = await c.response();
      expect(last.body.toString()).toBe(B);
      expect(last.header("connection")).toBe("close");
      expect(await c.closed()).toBe(true);
    } finally {
      c.destroy();
    }
  });

  test("Connection: close in the middle of a pipeline: later requests are not answered", async () => {
    const r = await raw(srv.port, GET_A + "GET /b.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" + GET_A);
    const res = parseResponses(r.data);
    expect(res.map((x) => x.body.toString())).toEqual([A, B]);
    expect(r.closed).toBe(true);
  });

  test("HTTP/1.0 closes by default", async () => {
    const r = await raw(srv.port, "GET /a.txt HTTP/1.0\r\n\r\n" + "GET /b.txt HTTP/1.0\r\n\r\n");
    const res = parseResponses(r.data);
    expect(res.length).toBe(1);
    expect(res[0]!.body.toString()).toBe(A);
    expect(res[0]!.header("connection")).toBe("close");
    expect(r.closed).toBe(true);
  });

  test("HTTP/1.0 keep-alive opt-in is echoed and honoured", async () => {
    const c = await Conn.open(srv.port);
    try {
      c.write("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      const r1 = await c.response();
      expect(r1.body.toString()).toBe(A);
      expect(r1.header("connection")?.toLowerCase()).toBe("keep-alive");
      await Bun.sleep(20);
      expect(c.ended).toBe(false);
      c.write("GET /b.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      const r2 = await c.response();
      expect(r2.body.toString()).toBe(B);
      expect(r2.header("connection")?.toLowerCase()).toBe("keep-alive");
      // Without the opt-in the next one closes.
      c.write("GET /a.txt HTTP/1.0\r\n\r\n");
      const r3 = await c.response();
      expect(r3.header("connection")).toBe("close");
      expect(await c.closed()).toBe(true);
    } finally {
      c.destroy();
    }
  });

  test("empty lines before a request line are ignored (RFC 9112 §2.2)", async () => {
    const r = await raw(srv.port, "\r\n\r\n" + GET_A + "\r\n" + "GET /b.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    const res = parseResponses(r.data);
    expect(res.map((x) => [x.status, x.body.toString()])).toEqual([
      [200, A],
      [200, B],
    ]);
  });

  test("half-close: request then FIN still gets the full response, then the server closes", async () => {
    const r = await raw(srv.port, GET_A + "GET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n", { halfClose: true, idleMs: 2000 });
    const res = parseResponses(r.data);
    expect(res.map((x) => x.body.toString())).toEqual([A, B]);
    expect(r.closed).toBe(true);
  });

  test("a request split across many small writes with gaps", async () => {
    const wire = "GET /b.txt HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slow-typist\r\nConnection: close\r\n\r\n";
    const parts: string[] = [];
    // Splits inside the method, the CRLFs, a header name, and between CR and LF.
    for (let i = 0; i < wire.length; i += 7) parts.push(wire.slice(i, i + 7));
    parts.splice(1, 0, ""); // an empty write is harmless
    const r = await raw(srv.port, parts, { gapMs: 15 });
    const res = parseResponses(r.data);
    expect(res.length).toBe(1);
    expect(res[0]!.status).toBe(200);
    expect(res[0]!.body.toString()).toBe(B);
    expect(r.closed).toBe(true);
  });

  test("a byte-at-a-time request line, including a CR/LF split", async () => {
    const wire = "GET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    const r = await raw(srv.port, [...wire], { gapMs: 1 });
    expect(parseResponses(r.data)[0]!.body.toString()).toBe(A);
  });
});

describe("unread request bodies (the static handler never reads them)", () => {
  // A body that looks like a request: if the server lost track of the framing, it would answer it.
  const SMUGGLED = "GET /b.txt HTTP/1.1\r\nHost: localhost\r\n\r\n";

  test("a small Content-Length body is skipped and the connection reused", async () => {
    const r = await raw(srv.port, `POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` + GET_A_LAST);
    const res = parseResponses(r.data);
    expect(res.map((x) => x.status)).toEqual([405, 200]);
    expect(res[0]!.header("connection")).toBeUndefined();
    expect(res[1]!.body.toString()).toBe(A);
  });

  test("a small body arriving slowly after the 405 is still skipped", async () => {
    const r = await raw(srv.port, [`POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n`, SMUGGLED.slice(0, 10), SMUGGLED.slice(10), GET_A_LAST], { gapMs: 30 });
    expect(parseResponses(r.data).map((x) => [x.status, x.body.length])).toEqual([
      [405, expect.any(Number)],
      [200, A.length],
    ]);
  });

  test("a chunked body is drained like nginx does: 405, the body never parsed as a request, the connection reused (issue 7 item 5)", async () => {
    const chunk = SMUGGLED.length.toString(16);
    const r = await raw(srv.port, `POST /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}\r\n${SMUGGLED}\r\n0\r\n\r\n` + GET_A_LAST);
    const res = parseResponses(r.data);
    expect(res.map((x) => x.status)).toEqual([405, 200]);
    expect(res[0]!.header("connection")).toBeUndefined();
    expect(res[1]!.body.toString()).toBe(A);
  });

  test("a GET with a chunked body of 1-byte chunks to a static file: answered, body dropped, connection kept (issue 7 item 5)", async () => {
    const body = "1\r\nx\r\n".repeat(500) + "0\r\n\r\n";
    const r = await raw(srv.port, [`GET /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n`, body, GET_A_LAST], { gapMs: 5 });
    const res = parseResponses(r.data);
    expect(res.map((x) => x.status)).toEqual([200, 200]);
    expect(res[0]!.header("connection")).toBeUndefined();
    expect(res[1]!.body.toString()).toBe(A);
  });

  test("an unread chunked body over the discard budget (1 MiB) closes the connection after the answer", async () => {
    const c = await Conn.open(srv.port);
    try {
      c.write("POST /a.txt HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
      const res = await c.response("POST", 2000);
      expectErrorPage(res, 405);
      // Keep-alive was offered (a chunked body may be short), but 2 MiB later the server gives up on it.
      const block = "10000\r\n" + "x".repeat(0x10000) + "\r\n";
      for (let i = 0; i < 32 && !c.ended; i++) c.write(block);
      expect(await c.closed(3000)).toBe(true);
    } finally {
      c.destroy();
    }
  });

  test("a large declared body is not waited for: 405 at once, then close", async () => {
    const c = await Conn.open(srv.port);
    try {
      c.write("PUT /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50000000\r\n\r\n");
      const res = await c.response("PUT", 1000);
      expectErrorPage(res, 405);
      expect(res.header("connection")).toBe("close");
      expect(await c.closed(1000)).toBe(true);
    } finally {
      c.destroy();
    }
  });
});

describe("Expect: 100-continue", () => {
  test("static file: POST is answered 405 at once, no 100, no body read, connection closed", async () => {
    const c = await Conn.open(srv.port);
    try {
      c.write("POST /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
      const res = await c.response("POST", 2000);
      // The final status comes first: a 100 would invite the body we are not going to read.
      expectErrorPage(res, 405);
      expect(res.header("allow")).toBe("GET, HEAD, OPTIONS");
      expect(res.header("connection")).toBe("close");
      expect(await c.closed(2000)).toBe(true);
    } finally {
      c.destroy();
    }
  });

  test("a handler that reads the body (proxy): 100 Continue, then the body, then the answer", async () => {
    const c = await Conn.open(proxy.port);
    try {
      c.write("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n");
      const interim = await c.response("POST", 2000);
      expect(interim.status).toBe(100);
      expect(c.buf.length).toBe(0); // nothing final before we sent the body
      c.write("hello world");
      const res = await c.response("POST", 3000);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(`got 11 bytes: ${sha256("hello world")}`);
    } finally {
      c.destroy();
    }
  });
});

describe("request bodies through a body-reading handler", () => {
  test("chunked body with extensions and trailers is decoded; the connection stays usable", async () => {
    const body = "Wikipedia in\r\n\r\nchunks.";
    const wire =
      "POST /c HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" +
      "4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: yes\r\n\r\n" +
      "POST /d HTTP/1.1\r\nHost: localhost\r\nContent-Length:  5 \r\nConnection: close\r\n\r\nhello";
    const r = await raw(proxy.port, wire, { idleMs: 2000 });
    const res = parseResponses(r.data);
    expect(res.map((x) => x.body.toString())).toEqual([`got ${body.length} bytes: ${sha256(body)}`, `got 5 bytes: ${sha256("hello")}`]);
  });

  const chunkCases: [string, string][] = [
    ["non-hex chunk size", "zz\r\nhello\r\n0\r\n\r\n"],
    ["chunk size with a sign", "+5\r\nhello\r\n0\r\n\r\n"],
    ["chunk size overflow", "1000000000000000\r\nhello\r\n0\r\n\r\n"],
    ["chunk data not followed by CRLF", "5\r\nhelloXY0\r\n\r\n"],
    ["chunk data followed by a bare LF", "5\r\nhello\n0\r\n\r\n"],
    ["chunk size line ending in a bare LF", "5\nhello\r\n0\r\n\r\n"],
  ];
  for (const [name, body] of chunkCases) {
    test(`bad chunked framing → 400 and close: ${name}`, async () => {
      const before = upstream.requests.length;
      const r = await raw(proxy.port, "POST /c HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n" + body + GET_A, { idleMs: 2000 });
      expectRejected(r, 400);
      // The bad request never completed upstream, and the pipelined GET never got there.
      expect(upstream.requests.length).toBe(before);
    });
  }
});

/**
 * Each shape is sent with a valid request pipelined behind it: the answer must be exactly one
 * error page, then the server must close, so the trailing request is never interpreted.
 */
const REJECT: [string, string, number][] = [
  // message framing: the classic smuggling shapes
  ["CL + TE", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
  ["TE + CL (order swapped)", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400],
  ["duplicate Content-Length, same value", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400],
  ["duplicate Content-Length, different values", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400],
  ["Content-Length +5", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400],
  ["Content-Length -1", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400],
  ["Content-Length 5 5 (inner space)", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5 5\r\n\r\nhello", 400],
  ["Content-Length 5,5 (list)", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,5\r\n\r\nhello", 400],
  ["Content-Length hex 0x5", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400],
  ["Content-Length empty", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400],
  ["Content-Length 1e3", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400],
  ["Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
  ["Transfer-Encoding: gzip (not chunked last)", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400],
  ["Transfer-Encoding: chunked, gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400],
  ["Transfer-Encoding: gzip, chunked (unsupported coding)", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501],
  ["Transfer-Encoding: chunked, chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400],
  ["two Transfer-Encoding: chunked fields", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
  ["Transfer-Encoding: xchunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400],
  // header syntax
  ["obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n", 400],
  ["obs-fold with a tab", "GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\ttwo\r\n\r\n", 400],
  ["bare LF ending a header line", "GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400],
  ["bare LF ending the request line", "GET / HTTP/1.1\nHost: x\r\n\r\n", 400],
  ["bare LF ending the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", 400],
  ["bare CR inside a header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400],
  ["bare CR inside the request line", "GET /\r HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["space before colon", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello", 400],
  ["tab before colon", "GET / HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n", 400],
  ["empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n", 400],
  ["header line without a colon", "GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400],
  ["invalid byte in a header name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", 400],
  ["NUL in a header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400],
  ["control byte 0x01 in a header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", 400],
  ["DEL in a header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n", 400],
  // request line
  ["invalid method characters", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["method with a control byte", "G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["two spaces in the request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["missing version", "GET /\r\nHost: x\r\n\r\n", 400],
  ["space in the target", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400],
  ["HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505],
  ["HTTP/0.9 style version", "GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505],
  ["junk version HTTP/1.x", "GET / HTTP/1.x\r\nHost: x\r\n\r\n", 400],
  ["junk version HTTPS/1.1", "GET / HTTPS/1.1\r\nHost: x\r\n\r\n", 400],
  ["lowercase version http/1.1", "GET / http/1.1\r\nHost: x\r\n\r\n", 400],
  // Host
  ["missing Host in HTTP/1.1", "GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400],
  ["two Host fields", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400],
  ["Host with a space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400],
  // semantics
  ["Expect: something else", "GET / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417],
];

describe("strict parser: bad requests get an error page and the connection is closed", () => {
  for (const [name, wire, status] of REJECT) {
    test(`${name} → ${status}`, async () => {
      const r = await raw(srv.port, wire + GET_A, { idleMs: 2000 });
      expectRejected(r, status);
    });
  }

  test("the same shapes are rejected when the request arrives split into pieces", async () => {
    // A parser that only checks whole buffers would miss these across packet boundaries.
    for (const [name, wire, status] of REJECT.filter((_, i) => i % 4 === 0)) {
      const parts: string[] = [];
      for (let i = 0; i < wire.length; i += 3) parts.push(wire.slice(i, i + 3));
      const r = await raw(srv.port, [...parts, GET_A], { gapMs: 1, idleMs: 2000 });
      const res = parseResponses(r.data);
      expect({ name, statuses: res.map((x) => x.status), closed: r.closed }).toEqual({ name, statuses: [status], closed: true });
    }
  });

  test("CONNECT → 405 with Allow, and the connection is closed (bytes after it may be tunnel data)", async () => {
    const r = await raw(srv.port, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n" + GET_A, { idleMs: 2000 });
    const res = parseResponses(r.data);
    expect(res.length).toBe(1);
    expectErrorPage(res[0]!, 405);
    expect(res[0]!.header("allow")).toBeDefined();
    expect(r.closed).toBe(true);
  });

  test("also on the proxy listener (the rejection happens before any handler)", async () => {
    const before = upstream.requests.length;
    for (const i of [0, 2, 12, 18, 25]) {
      const [, wire, status] = REJECT[i]!;
      expectRejected(await raw(proxy.port, wire + GET_A, { idleMs: 2000 }), status);
    }
    expect(upstream.requests.length).toBe(before);
  });

  test("a good request still works after all of that (the server is healthy)", async () => {
    const res = await get(srv.port, "/a.txt");
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(A);
  });

  test("leading whitespace is trimmed from values: Content-Length with OWS is valid (RFC 9112 §5)", async () => {
    // " 5 " around the value is optional whitespace, not part of the value; this is the
    // positive control for the "5 5" / "+5" rejections above.
    const r = await raw(proxy.port, "POST /ows HTTP/1.1\r\nHost: x\r\nContent-Length: \t5 \r\nConnection: close\r\n\r\nhello", { idleMs: 2000 });
    const res = parseResponses(r.data);
    expect(res.map((x) => x.status)).toEqual([200]);
    expect(res[0]!.body.toString()).toBe(`got 5 bytes: ${sha256("hello")}`);
  });
});
