/**
 * RFC 9113 §8 request rules as a table: decoded field lists in, a RequestHead or "malformed"
 * out (src/http2/request-head.ts).
 */
import { describe, expect, test } from "bun:test";
import { requestHeadFrom } from "../../src/http2/request-head.ts";

type F = [string, string][];
const BASE: F = [
  [":method", "GET"],
  [":scheme", "https"],
  [":authority", "example.com"],
  [":path", "/a/b?x=1"],
];
const without = (n: string): F => BASE.filter((f) => f[0] !== n);
const withPath = (p: string): F => BASE.map((f) => (f[0] === ":path" ? [":path", p] : f));

const MALFORMED: [string, F, boolean?][] = [
  ["§8.3.1 missing :method", without(":method")],
  ["§8.3.1 missing :scheme", without(":scheme")],
  ["§8.3.1 missing :path", without(":path")],
  ["§8.3.1 empty :path", withPath("")],
  ["§8.3.1 :path neither origin-form nor *", withPath("a/b")],
  ["§8.3.1 :path * for GET", withPath("*")],
  ["§8.3.1 fragment in :path", withPath("/a#b")],
  ["space in :path", withPath("/a b")],
  ["§8.3 duplicate :method", [...BASE.slice(0, 1), ...BASE]],
  ["§8.3 unknown pseudo-header", [...BASE, [":protocol", "websocket"]]],
  ["§8.3 :status in a request", [...BASE, [":status", "200"]]],
  ["§8.3 pseudo-header after a regular field", [[":method", "GET"], ["accept", "*/*"], [":scheme", "https"], [":path", "/"]]],
  ["§8.2.1 uppercase name", [...BASE, ["Accept", "*/*"]]],
  ["§8.2.1 space in name", [...BASE, ["x a", "1"]]],
  ["§8.2.1 empty name", [...BASE, ["", "1"]]],
  ["§8.2.1 NUL in value", [...BASE, ["x-a", "a\0b"]]],
  ["§8.2.1 CR in value", [...BASE, ["x-a", "a\rb"]]],
  ["§8.2.1 LF in value", [...BASE, ["x-a", "a\nb"]]],
  ["§8.2.1 leading space in value", [...BASE, ["x-a", " a"]]],
  ["§8.2.1 trailing tab in value", [...BASE, ["x-a", "a\t"]]],
  ["§8.2.2 connection", [...BASE, ["connection", "close"]]],
  ["§8.2.2 keep-alive", [...BASE, ["keep-alive", "5"]]],
  ["§8.2.2 proxy-connection", [...BASE, ["proxy-connection", "close"]]],
  ["§8.2.2 transfer-encoding", [...BASE, ["transfer-encoding", "chunked"]]],
  ["§8.2.2 upgrade", [...BASE, ["upgrade", "websocket"]]],
  ["§8.2.2 TE other than trailers", [...BASE, ["te", "gzip"]]],
  ["§8.3.1 :authority and Host differ", [...BASE, ["host", "other.example"]]],
  ["two Host fields", [...without(":authority"), ["host", "a"], ["host", "a"]]],
  ["userinfo in :authority", BASE.map((f) => (f[0] === ":authority" ? [":authority", "u@example.com"] : f))],
  ["invalid content-length", [...BASE, ["content-length", "1x"]], false],
  ["content-length values that differ", [...BASE, ["content-length", "1"], ["content-length", "2"]], false],
  ["content-length > 0 with END_STREAM on HEADERS", [...BASE, ["content-length", "3"]], true],
  ["invalid :method", BASE.map((f) => (f[0] === ":method" ? [":method", "G(T"] : f))],
  ["§8.5 CONNECT with :path", [[":method", "CONNECT"], [":authority", "h:443"], [":path", "/"]]],
  ["§8.5 CONNECT without :authority", [[":method", "CONNECT"]]],
];

describe("malformed requests (§8.1.1)", () => {
  for (const [name, fields, endStream] of MALFORMED) {
    test(name, () => {
      const r = requestHeadFrom(fields, endStream ?? true, 10);
      expect(r.ok).toBe(false);
    });
  }
});

describe("well-formed requests", () => {
  test("origin-form: path, query, host from :authority, minor 1, httpVersion 2", () => {
    const r = requestHeadFrom(BASE, true, 10);
    if (!r.ok) throw new Error(r.reason);
    expect(r.head).toMatchObject({ method: "GET", path: "/a/b", query: "?x=1", target: "/a/b?x=1", form: "origin", host: "example.com", bodyKind: "none", minor: 1, keepAlive: true, httpVersion: 2, upgrade: null });
  });
  test("Host when there is no :authority; equal Host and :authority are fine", () => {
    const a = requestHeadFrom([...without(":authority"), ["host", "h.example"]], true, 1);
    expect(a.ok && a.head.host).toBe("h.example");
    const b = requestHeadFrom([...BASE, ["host", "example.com"]], true, 1);
    expect(b.ok).toBe(true);
  });
  test("§8.2.3 cookie crumbs are joined with '; '", () => {
    const r = requestHeadFrom([...BASE, ["cookie", "a=1"], ["accept", "*/*"], ["cookie", "b=2"]], true, 1);
    if (!r.ok) throw new Error(r.reason);
    expect(r.head.headers.getAll("cookie")).toEqual(["a=1; b=2"]);
  });
  test("body framing: none / length / unknown (DATA frames)", () => {
    const a = requestHeadFrom([...BASE, ["content-length", "5"]], false, 1);
    expect(a.ok && [a.head.bodyKind, a.head.contentLength]).toEqual(["length", 5]);
    const b = requestHeadFrom(BASE, false, 1);
    expect(b.ok && [b.head.bodyKind, b.head.contentLength]).toEqual(["chunked", -1]);
    const c = requestHeadFrom([...BASE, ["content-length", "0"]], true, 1);
    expect(c.ok && c.head.bodyKind).toBe("none");
  });
  test("TE: trailers, OPTIONS *, CONNECT with :authority, expect: 100-continue", () => {
    expect(requestHeadFrom([...BASE, ["te", "trailers"]], true, 1).ok).toBe(true);
    const o = requestHeadFrom([[":method", "OPTIONS"], [":scheme", "https"], [":authority", "e"], [":path", "*"]], true, 1);
    expect(o.ok && o.head.form).toBe("asterisk");
    const c = requestHeadFrom([[":method", "CONNECT"], [":authority", "h:443"]], false, 1);
    expect(c.ok && c.head.form).toBe("authority");
    const e = requestHeadFrom([...BASE, ["expect", "100-Continue"]], false, 1);
    expect(e.ok && e.head.expectContinue).toBe(true);
  });
});
