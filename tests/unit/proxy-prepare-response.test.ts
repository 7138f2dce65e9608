import { describe, expect, test } from "bun:test";
import { HeaderList } from "../../src/http1/header-list.ts";
import type { BodyKind, ResponseHead } from "../../src/http1/message-head.ts";
import { makeLocationRewriter } from "../../src/proxy/location-rewrite.ts";
import {
  classifyUpgradeResponse,
  decideClientFraming,
  prepareClientResponseHeaders,
  rewriteRefresh,
} from "../../src/proxy/prepare-response.ts";

function resHead(status: number, headers: [string, string][], bodyKind: BodyKind = "none", contentLength = -1, minor: 0 | 1 = 1): ResponseHead {
  const h = new HeaderList();
  for (const [n, v] of headers) h.add(n, v);
  const connection = h.tokens("connection");
  return { status, reason: "", minor, headers: h, bodyKind, contentLength, keepAlive: true, connection, headBytes: 0 };
}

const rewrite = makeLocationRewriter(new URL("http://u:8000/base/"), { proto: "https", host: "www.example" });
const plain = { tunnel: false, rewriteLocation: rewrite };

describe("prepareClientResponseHeaders", () => {
  test("hop-by-hop and framing fields removed, the rest kept in order", () => {
    const head = resHead(
      200,
      [
        ["Content-Type", "text/html"],
        ["Connection", "keep-alive, X-Hop"],
        ["Keep-Alive", "timeout=5"],
        ["Proxy-Connection", "keep-alive"],
        ["Proxy-Authenticate", 'Basic realm="backend"'],
        ["TE", "trailers"],
        ["Trailer", "X-Sum"],
        ["Transfer-Encoding", "chunked"],
        ["Content-Length", "10"],
        ["Upgrade", "h2c"],
        ["X-Hop", "1"],
        ["x-hop", "2"],
        ["Cache-Control", "no-cache"],
      ],
      "chunked",
    );
    expect(prepareClientResponseHeaders(head, plain)).toEqual([
      ["Content-Type", "text/html"],
      ["Cache-Control", "no-cache"],
    ]);
  });

  test("repeated Set-Cookie stay separate and in order, names keep their case", () => {
    const head = resHead(200, [
      ["Set-Cookie", "a=1; Path=/"],
      ["X-A", "1"],
      ["set-cookie", "b=2, c=3; Expires=Wed, 21 Oct 2015 07:28:00 GMT"],
    ]);
    expect(prepareClientResponseHeaders(head, plain)).toEqual([
      ["Set-Cookie", "a=1; Path=/"],
      ["X-A", "1"],
      ["set-cookie", "b=2, c=3; Expires=Wed, 21 Oct 2015 07:28:00 GMT"],
    ]);
  });

  test("Location pointing at the upstream is rewritten; others are not", () => {
    const a = prepareClientResponseHeaders(resHead(302, [["Location", "http://u:8000/base/login?next=%2F"]]), plain);
    expect(a).toEqual([["Location", "https://www.example/login?next=%2F"]]);
    const b = prepareClientResponseHeaders(resHead(302, [["location", "https://idp.example/auth"]]), plain);
    expect(b).toEqual([["location", "https://idp.example/auth"]]);
    const c = prepareClientResponseHeaders(resHead(201, [["Location", "/base/items/7"]]), plain);
    expect(c).toEqual([["Location", "/base/items/7"]]);
  });

  test("Content-Location is not rewritten (like nginx)", () => {
    const r = prepareClientResponseHeaders(resHead(200, [["Content-Location", "http://u:8000/base/x"]]), plain);
    expect(r).toEqual([["Content-Location", "http://u:8000/base/x"]]);
  });

  test("Refresh URL is rewritten (like nginx)", () => {
    const r = prepareClientResponseHeaders(resHead(200, [["Refresh", "5; url=http://u:8000/base/next"]]), plain);
    expect(r).toEqual([["Refresh", "5; url=https://www.example/next"]]);
  });

  test("101 tunnel keeps Upgrade and sends Connection: Upgrade", () => {
    const head = resHead(101, [
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
      ["Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
    ]);
    expect(prepareClientResponseHeaders(head, { ...plain, tunnel: true })).toEqual([
      ["Upgrade", "websocket"],
      ["Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="],
      ["Connection", "Upgrade"],
    ]);
  });

  test("tunnel flag on a non-101 response: Upgrade stripped like any hop-by-hop field", () => {
    const head = resHead(426, [["Upgrade", "websocket"], ["Connection", "Upgrade"], ["Content-Length", "0"]], "length", 0);
    expect(prepareClientResponseHeaders(head, { ...plain, tunnel: true })).toEqual([]);
  });

  test("upstream Date, Server and X-Request-ID dropped (the engine writes its own), any casing", () => {
    const head = resHead(200, [
      ["Date", "Wed, 21 Oct 2015 07:28:00 GMT"],
      ["Server", "gunicorn/20.0"],
      ["X-Request-ID", "upstream-id"],
      ["x-request-id", "again"],
      ["SERVER", "x"],
      ["X-Served-By", "kept"],
      ["Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"],
    ]);
    expect(prepareClientResponseHeaders(head, plain)).toEqual([
      ["X-Served-By", "kept"],
      ["Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT"],
    ]);
    // Also on a 101 tunnel answer and on 1xx.
    const up = resHead(101, [["Upgrade", "websocket"], ["Server", "ws"], ["Date", "x"]]);
    expect(prepareClientResponseHeaders(up, { ...plain, tunnel: true })).toEqual([
      ["Upgrade", "websocket"],
      ["Connection", "Upgrade"],
    ]);
  });

  test("Via appended only when viaName is given", () => {
    const head = resHead(200, [["Via", "1.1 cache"], ["X", "y"], ["via", "1.0 other"]], "length", 0, 0);
    expect(prepareClientResponseHeaders(head, plain)).toEqual([
      ["Via", "1.1 cache"],
      ["X", "y"],
      ["via", "1.0 other"],
    ]);
    expect(prepareClientResponseHeaders(head, { ...plain, viaName: "dreamserver" })).toEqual([
      ["Via", "1.1 cache, 1.0 other, 1.0 dreamserver"],
      ["X", "y"],
    ]);
    expect(prepareClientResponseHeaders(resHead(200, []), { ...plain, viaName: "ds" })).toEqual([["Via", "1.1 ds"]]);
  });

  test("a CR/LF that a rewriter might introduce never reaches the wire", () => {
    const r = prepareClientResponseHeaders(resHead(302, [["Location", "http://u:8000/base/x"]]), {
      tunnel: false,
      rewriteLocation: () => "/x\r\nSet-Cookie: evil=1",
    });
    expect(r).toEqual([["Location", "/x  Set-Cookie: evil=1"]]);
  });
});

describe("rewriteRefresh", () => {
  const f = (u: string) => u.toUpperCase();
  test.each([
    ["5; url=http://a/x", "5; url=HTTP://A/X"],
    ["0;URL='http://a/x'", "0;URL='HTTP://A/X'"],
    ['3, url="http://a/x" ', '3, url="HTTP://A/X" '],
    ["5", "5"],
    ["5; url=", "5; url="],
    ["soon; url=http://a", "soon; url=http://a"],
  ])("%j → %j", (v, want) => expect(rewriteRefresh(v, f)).toBe(want));
});

describe("classifyUpgradeResponse", () => {
  test.each([
    [200, [], false, "normal"],
    [401, [], true, "normal"],
    [101, [["Upgrade", "websocket"]], true, "tunnel"],
    [101, [["Upgrade", "WebSocket"]], true, "tunnel"],
    [101, [["Upgrade", "websocket"]], false, "bad"],
    [101, [["Upgrade", "h2c"]], true, "bad"],
    [101, [], true, "bad"],
    [101, [["Upgrade", "websocket, foo"]], true, "bad"],
  ] as [number, [string, string][], boolean, "tunnel" | "normal" | "bad"][])("%d %j tunnel=%p → %s", (status, headers, tunnel, want) => {
    expect(classifyUpgradeResponse(resHead(status, headers), tunnel)).toBe(want);
  });
});

describe("decideClientFraming (RFC 9112 §6.3)", () => {
  const table: [string, ResponseHead, string, object][] = [
    ["HEAD with Content-Length advertises it", resHead(200, [["Content-Length", "1234"]], "none", 1234), "HEAD", { kind: "none", length: 1234 }],
    ["HEAD, length only in the field", resHead(200, [["Content-Length", "99"]], "none", -1), "HEAD", { kind: "none", length: 99 }],
    ["HEAD chunked", resHead(200, [["Transfer-Encoding", "chunked"]], "none"), "HEAD", { kind: "none" }],
    ["100", resHead(100, []), "GET", { kind: "none" }],
    ["103", resHead(103, [["Link", "</a.css>; rel=preload"]]), "GET", { kind: "none" }],
    ["101", resHead(101, [["Upgrade", "websocket"]]), "GET", { kind: "none" }],
    ["204 never advertises a length", resHead(204, [["Content-Length", "0"]], "none", 0), "DELETE", { kind: "none" }],
    ["304 with Content-Length", resHead(304, [["Content-Length", "50"]], "none", 50), "GET", { kind: "none", length: 50 }],
    ["304 without", resHead(304, [], "none"), "GET", { kind: "none" }],
    ["200 length", resHead(200, [], "length", 10), "GET", { kind: "length", length: 10 }],
    ["200 length 0", resHead(200, [], "length", 0), "POST", { kind: "length", length: 0 }],
    ["200 chunked", resHead(200, [], "chunked"), "GET", { kind: "stream" }],
    ["200 close-delimited", resHead(200, [], "close", -1, 0), "GET", { kind: "stream" }],
    ["404 none → empty body", resHead(404, [], "none"), "GET", { kind: "length", length: 0 }],
  ];
  for (const [desc, head, method, want] of table) test(desc, () => expect(decideClientFraming(head, method)).toEqual(want as never));
});
