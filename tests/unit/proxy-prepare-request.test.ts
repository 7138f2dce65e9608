import { describe, expect, test } from "bun:test";
import { HeaderList } from "../../src/http1/header-list.ts";
import type { BodyKind, RequestHead, TargetForm } from "../../src/http1/message-head.ts";
import { TrustedProxies } from "../../src/proxy/cidr.ts";
import {
  type PrepareRequestInput,
  ProxyPrepareError,
  prepareUpstreamRequest,
  refuseReason,
  upstreamTargetOf,
  withTarget,
  wantsWebSocketTunnel,
} from "../../src/proxy/prepare-request.ts";

interface HeadSpec {
  method?: string;
  target?: string;
  minor?: 0 | 1;
  headers?: [string, string][];
  bodyKind?: BodyKind;
  contentLength?: number;
}

/** A RequestHead as the parser would produce it for the given request line + fields. */
function reqHead(spec: HeadSpec = {}): RequestHead {
  const method = spec.method ?? "GET";
  const target = spec.target ?? "/";
  const headers = new HeaderList();
  for (const [n, v] of spec.headers ?? [["Host", "example.com"]]) headers.add(n, v);
  let form: TargetForm;
  let path = target;
  let query = "";
  let host = headers.get("host") ?? "";
  if (method === "CONNECT") form = "authority";
  else if (target === "*") form = "asterisk";
  else if (target.startsWith("/")) {
    form = "origin";
    const q = target.indexOf("?");
    if (q >= 0) [path, query] = [target.slice(0, q), target.slice(q)];
  } else {
    form = "absolute";
    const m = /^(https?):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(target)!;
    host = m[2]!;
    path = m[3] || "/";
    query = m[4] ?? "";
  }
  const connection = headers.tokens("connection");
  const minor = spec.minor ?? 1;
  const up = headers.get("upgrade");
  return {
    method,
    target,
    form,
    path,
    query,
    minor,
    headers,
    host,
    bodyKind: spec.bodyKind ?? "none",
    contentLength: spec.contentLength ?? -1,
    keepAlive: true,
    expectContinue: false,
    connection,
    upgrade: up !== undefined && connection.includes("upgrade") && minor === 1 ? up : null,
    headBytes: 0,
  };
}

function prep(spec: HeadSpec, over: Partial<PrepareRequestInput> = {}) {
  return prepareUpstreamRequest({
    head: reqHead(spec),
    clientIp: "203.0.113.7",
    clientProto: "http",
    requestId: "req-123",
    upstream: { host: "127.0.0.1:8000", basePath: "" },
    rewriteHost: false,
    trusted: TrustedProxies.none,
    tunnel: false,
    viaName: "dreamserver",
    ...over,
  });
}

const names = (h: [string, string][]) => h.map(([n]) => n.toLowerCase());
const get = (h: [string, string][], name: string) => h.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

describe("hop-by-hop removal (RFC 9110 §7.6.1)", () => {
  const fixed: [string, string][] = [
    ["Connection", "keep-alive"],
    ["Keep-Alive", "timeout=5"],
    ["Proxy-Connection", "keep-alive"],
    // RFC 9110 §11.7.2: credentials for the proxy the client talks to (us), never the backend's.
    ["Proxy-Authorization", "Basic dXNlcjpwYXNz"],
    ["TE", "trailers"],
    ["Trailer", "X-Checksum"],
    ["Transfer-Encoding", "chunked"],
    ["Upgrade", "websocket"],
  ];
  for (const [name, value] of fixed) {
    test(`${name} is removed`, () => {
      const r = prep({ headers: [["Host", "a"], [name, value], ["Accept", "*/*"]] });
      expect(names(r.headers)).not.toContain(name.toLowerCase());
      expect(get(r.headers, "accept")).toEqual(["*/*"]);
    });
  }

  test("fields named in Connection are removed, case-insensitively, across several Connection fields", () => {
    const r = prep({
      headers: [
        ["Host", "a"],
        ["Connection", "X-Secret, keep-alive"],
        ["connection", "x-other"],
        ["x-secret", "1"],
        ["X-Other", "2"],
        ["X-Kept", "3"],
      ],
    });
    expect(names(r.headers)).not.toContain("x-secret");
    expect(names(r.headers)).not.toContain("x-other");
    expect(names(r.headers)).not.toContain("connection");
    expect(get(r.headers, "x-kept")).toEqual(["3"]);
  });

  test("a Connection token cannot remove Host or the fields we set", () => {
    const r = prep({
      headers: [
        ["Host", "a.example"],
        ["Connection", "Host, X-Forwarded-For, Via, X-Request-ID"],
      ],
    });
    expect(get(r.headers, "host")).toEqual(["a.example"]);
    expect(get(r.headers, "x-forwarded-for")).toEqual(["203.0.113.7"]);
    expect(get(r.headers, "via")).toEqual(["1.1 dreamserver"]);
    expect(get(r.headers, "x-request-id")).toEqual(["req-123"]);
  });

  test("Expect and HTTP2-Settings are dropped", () => {
    const r = prep({
      method: "POST",
      bodyKind: "length",
      contentLength: 3,
      headers: [["Host", "a"], ["Expect", "100-continue"], ["HTTP2-Settings", "AAMAAABkAAQAAP__"], ["Content-Length", "3"]],
    });
    expect(names(r.headers)).not.toContain("expect");
    expect(names(r.headers)).not.toContain("http2-settings");
  });

  test("no Connection header is sent for a normal request (keep-alive upstream)", () => {
    const r = prep({ headers: [["Host", "a"], ["Connection", "close"]] });
    expect(get(r.headers, "connection")).toEqual([]);
  });
});

describe("X-Forwarded-* and Forwarded", () => {
  const incoming: [string, string][] = [
    ["Host", "shop.example"],
    ["X-Forwarded-For", "198.51.100.1"],
    ["X-Forwarded-For", "10.0.0.2, 10.0.0.3"],
    ["X-Forwarded-Proto", "https"],
    ["X-Forwarded-Host", "public.example"],
    ["X-Forwarded-Port", "443"],
    ["X-Forwarded-Prefix", "/app"],
    ["Forwarded", "for=198.51.100.1;proto=https"],
  ];

  test("untrusted peer: all client copies dropped, fresh values set", () => {
    const r = prep({ headers: incoming });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["203.0.113.7"]);
    expect(get(r.headers, "x-forwarded-proto")).toEqual(["http"]);
    expect(get(r.headers, "x-forwarded-host")).toEqual(["shop.example"]);
    expect(get(r.headers, "x-forwarded-port")).toEqual([]);
    expect(get(r.headers, "x-forwarded-prefix")).toEqual([]);
    expect(get(r.headers, "forwarded")).toEqual([]);
  });

  test("untrusted peer, odd casing of the names", () => {
    const r = prep({ headers: [["Host", "a"], ["x-FORWARDED-for", "1.1.1.1"], ["FORWARDED", "for=1.1.1.1"]] });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["203.0.113.7"]);
    expect(get(r.headers, "forwarded")).toEqual([]);
  });

  test("trusted peer: XFF joined and appended, Proto/Host/Port/Forwarded kept", () => {
    const r = prep({ headers: incoming }, { trusted: new TrustedProxies(["203.0.113.0/24"]), localPort: 8080 });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["198.51.100.1, 10.0.0.2, 10.0.0.3, 203.0.113.7"]);
    expect(get(r.headers, "x-forwarded-proto")).toEqual(["https"]);
    expect(get(r.headers, "x-forwarded-host")).toEqual(["public.example"]);
    expect(get(r.headers, "x-forwarded-port")).toEqual(["443"]);
    expect(get(r.headers, "x-forwarded-prefix")).toEqual(["/app"]);
    expect(get(r.headers, "forwarded")).toEqual(["for=198.51.100.1;proto=https"]);
  });

  test("X-Real-IP: dropped from an untrusted peer (any casing), passed unchanged from a trusted one", () => {
    const hs: [string, string][] = [["Host", "a"], ["X-Real-IP", "6.6.6.6"], ["x-real-ip", "7.7.7.7"], ["Accept", "*/*"]];
    const r = prep({ headers: hs });
    expect(get(r.headers, "x-real-ip")).toEqual([]);
    expect(get(r.headers, "accept")).toEqual(["*/*"]);
    const t = prep({ headers: hs }, { trusted: new TrustedProxies(["203.0.113.7"]) });
    expect(t.headers.filter(([n]) => n.toLowerCase() === "x-real-ip")).toEqual([
      ["X-Real-IP", "6.6.6.6"],
      ["x-real-ip", "7.7.7.7"],
    ]);
    // Never set by us when the client sent none.
    expect(get(prep({ headers: [["Host", "a"]] }).headers, "x-real-ip")).toEqual([]);
  });

  test("a field the route's request_headers rules `set` passes from an untrusted peer (head.configured)", () => {
    const head = reqHead({ headers: [["Host", "a"], ["X-Real-IP", "203.0.113.7"], ["X_Tenant", "t1"], ["X-Forwarded-Prefix", "/app"], ["Connection", "X-Real-IP"]] });
    const r = prep({}, { head: { ...head, configured: new Set(["x-real-ip", "x_tenant", "x-forwarded-prefix"]) } });
    expect(get(r.headers, "x-real-ip")).toEqual(["203.0.113.7"]);
    expect(get(r.headers, "x_tenant")).toEqual(["t1"]);
    expect(get(r.headers, "x-forwarded-prefix")).toEqual(["/app"]);
    // Without the mark the same fields are the client's and are dropped.
    const plain = prep({ headers: [["Host", "a"], ["X-Real-IP", "6.6.6.6"], ["X_Tenant", "t1"]] });
    expect(get(plain.headers, "x-real-ip")).toEqual([]);
    expect(get(plain.headers, "x_tenant")).toEqual([]);
  });

  test("trusted peer without incoming fields: same as untrusted", () => {
    const r = prep({ headers: [["Host", "a:81"]] }, { trusted: new TrustedProxies(["203.0.113.7"]), clientProto: "https" });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["203.0.113.7"]);
    expect(get(r.headers, "x-forwarded-proto")).toEqual(["https"]);
    expect(get(r.headers, "x-forwarded-host")).toEqual(["a:81"]);
  });

  test("peer outside the trusted CIDR is untrusted", () => {
    const r = prep({ headers: incoming }, { trusted: new TrustedProxies(["10.0.0.0/8"]) });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["203.0.113.7"]);
  });

  test("IPv4-mapped peer is written as IPv4 and matched against IPv4 CIDRs", () => {
    const r = prep({ headers: incoming }, { clientIp: "::ffff:10.1.2.3", trusted: new TrustedProxies(["10.0.0.0/8"]) });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["198.51.100.1, 10.0.0.2, 10.0.0.3, 10.1.2.3"]);
  });

  test("X-Forwarded-Port set from localPort when given", () => {
    const r = prep({ headers: [["Host", "a"]] }, { localPort: 8443 });
    expect(get(r.headers, "x-forwarded-port")).toEqual(["8443"]);
  });

  test("no X-Forwarded-Host when the client sent no Host (HTTP/1.0)", () => {
    const r = prep({ minor: 0, headers: [] });
    expect(get(r.headers, "x-forwarded-host")).toEqual([]);
  });

  test("emitForwarded appends an RFC 7239 element (quoted IPv6 node and host with port)", () => {
    const r = prep({ headers: [["Host", "a.example:8080"]] }, { clientIp: "2001:db8::7", emitForwarded: true, clientProto: "https" });
    expect(get(r.headers, "forwarded")).toEqual(['for="[2001:db8::7]";host="a.example:8080";proto=https']);
  });

  test("emitForwarded appends to a trusted chain", () => {
    const r = prep(
      { headers: [["Host", "a"], ["Forwarded", "for=192.0.2.60"]] },
      { trusted: new TrustedProxies(["203.0.113.7/32"]), emitForwarded: true },
    );
    expect(get(r.headers, "forwarded")).toEqual(["for=192.0.2.60, for=203.0.113.7;host=a;proto=http"]);
  });

  test("fields we set come last, in a fixed order", () => {
    const r = prep({ method: "POST", bodyKind: "length", contentLength: 2, headers: [["Host", "a"], ["Accept", "x"]] });
    expect(names(r.headers)).toEqual([
      "host",
      "accept",
      "x-forwarded-for",
      "x-forwarded-proto",
      "x-forwarded-host",
      "via",
      "x-request-id",
      "content-length",
    ]);
  });
});

describe("Via (RFC 9110 §7.6.3)", () => {
  test("added with the client's version", () => {
    expect(get(prep({}).headers, "via")).toEqual(["1.1 dreamserver"]);
    expect(get(prep({ minor: 0 }).headers, "via")).toEqual(["1.0 dreamserver"]);
  });
  test("appended to existing Via fields, from any peer", () => {
    const r = prep({ headers: [["Host", "a"], ["Via", "1.0 fred"], ["via", "1.1 p.example (Apache/1.1)"]] });
    expect(get(r.headers, "via")).toEqual(["1.0 fred, 1.1 p.example (Apache/1.1), 1.1 dreamserver"]);
  });
  test("custom via name", () => {
    expect(get(prep({}, { viaName: "edge-1" }).headers, "via")).toEqual(["1.1 edge-1"]);
  });
});

describe("X-Request-ID", () => {
  test("replaces any incoming one", () => {
    const r = prep({ headers: [["Host", "a"], ["X-Request-Id", "evil"], ["x-request-id", "evil2"]] }, { requestId: "abc_DEF-123" });
    expect(get(r.headers, "x-request-id")).toEqual(["abc_DEF-123"]);
  });
  test("CR/LF in a value we compose can never split a line", () => {
    const r = prep({}, { requestId: "a\r\nX-Injected: 1" });
    expect(get(r.headers, "x-request-id")).toEqual(["a  X-Injected: 1"]);
    expect(new TextDecoder().decode(r.head)).not.toContain("\r\nX-Injected");
  });
});

describe("Host", () => {
  test("passed through by default, in place with its original case", () => {
    const r = prep({ headers: [["User-Agent", "t"], ["host", "Client.Example:8080"]] });
    expect(r.headers[1]).toEqual(["host", "Client.Example:8080"]);
  });
  test("rewritten to the upstream authority with rewriteHost", () => {
    const r = prep({ headers: [["Host", "client.example"]] }, { rewriteHost: true });
    expect(get(r.headers, "host")).toEqual(["127.0.0.1:8000"]);
    // X-Forwarded-Host still reports what the client asked for.
    expect(get(r.headers, "x-forwarded-host")).toEqual(["client.example"]);
  });
  test("absolute-form: the URI's authority replaces the Host header (RFC 9112 §3.2.2)", () => {
    const r = prep({ target: "http://uri.example:81/p?q", headers: [["Host", "other.example"]] });
    expect(get(r.headers, "host")).toEqual(["uri.example:81"]);
  });
  test("HTTP/1.0 without Host: the upstream authority is sent (HTTP/1.1 requires one)", () => {
    const r = prep({ minor: 0, headers: [["Accept", "*/*"]] });
    expect(r.headers[0]).toEqual(["Host", "127.0.0.1:8000"]);
  });
});

describe("target: origin-form, base path, byte for byte", () => {
  const cases: [string, string, string, string][] = [
    // [description, basePath, client target, upstream target]
    ["root", "", "/", "/"],
    ["path + query", "", "/x?y=1", "/x?y=1"],
    ["base + root", "/base", "/", "/base/"],
    ["base + path + query", "/base", "/x?y", "/base/x?y"],
    ["encoded slash kept", "/base", "/a%2Fb/%2e%2E/c", "/base/a%2Fb/%2e%2E/c"],
    ["dot segments kept", "", "/a/../b/./c", "/a/../b/./c"],
    ["double slashes kept", "/base", "//x//y", "/base//x//y"],
    ["unusual query bytes", "/b", "/s?q=a+b&x=%20|{}[]^`&&=;,/?:@!$'()*", "/b/s?q=a+b&x=%20|{}[]^`&&=;,/?:@!$'()*"],
    ["empty query kept", "", "/x?", "/x?"],
    ["latin1 obs bytes kept", "", "/caf\u00e9?\u00ff", "/caf\u00e9?\u00ff"],
    ["base path with trailing slash normalised", "/base/", "/x", "/base/x"],
  ];
  for (const [desc, basePath, target, expected] of cases) {
    test(desc, () => {
      const r = prep({ target }, { upstream: { host: "u:1", basePath } });
      expect(r.target).toBe(expected);
      const line = r.head.subarray(0, r.head.indexOf(13));
      expect(Array.from(line, (b) => String.fromCharCode(b)).join("")).toBe(`GET ${expected} HTTP/1.1`);
    });
  }

  const absolute: [string, string, string][] = [
    ["http://h.example/x?y", "", "/x?y"],
    ["http://h.example", "", "/"],
    ["http://h.example?q=1", "", "/?q=1"],
    ["HTTP://H.example:8080/a%2Fb?c=%3F", "/base", "/base/a%2Fb?c=%3F"],
    ["https://h.example/x", "/b", "/b/x"],
  ];
  for (const [target, basePath, expected] of absolute) {
    test(`absolute-form ${target} → ${expected}`, () => {
      expect(prep({ target, headers: [] }, { upstream: { host: "u", basePath } }).target).toBe(expected);
    });
  }

  test("OPTIONS * is forwarded as *", () => {
    expect(prep({ method: "OPTIONS", target: "*" }, { upstream: { host: "u", basePath: "/b" } }).target).toBe("*");
  });
  test("OPTIONS with absolute-form empty path becomes * (RFC 9112 §3.2.4)", () => {
    expect(prep({ method: "OPTIONS", target: "http://h.example", headers: [] }).target).toBe("*");
  });
  test("method forwarded unchanged", () => {
    const r = prep({ method: "PROPFIND", target: "/dav/" });
    expect(r.method).toBe("PROPFIND");
    expect(new TextDecoder().decode(r.head).startsWith("PROPFIND /dav/ HTTP/1.1\r\n")).toBe(true);
  });
  test("always HTTP/1.1 upstream, also for HTTP/1.0 clients", () => {
    const r = prep({ minor: 0, headers: [["Host", "a"]] });
    expect(new TextDecoder().decode(r.head).startsWith("GET / HTTP/1.1\r\n")).toBe(true);
  });
});

describe("body framing", () => {
  test("Content-Length passes through", () => {
    const r = prep({ method: "PUT", bodyKind: "length", contentLength: 42, headers: [["Host", "a"], ["Content-Length", "42"]] });
    expect(r.bodyKind).toBe("length");
    expect(r.contentLength).toBe(42);
    expect(get(r.headers, "content-length")).toEqual(["42"]);
  });
  test("chunked stays chunked, the client's Transfer-Encoding field is replaced", () => {
    const r = prep({ method: "POST", bodyKind: "chunked", headers: [["Host", "a"], ["transfer-encoding", "chunked"]] });
    expect(r.bodyKind).toBe("chunked");
    expect(r.headers.filter(([n]) => n.toLowerCase() === "transfer-encoding")).toEqual([["Transfer-Encoding", "chunked"]]);
    expect(get(r.headers, "content-length")).toEqual([]);
  });
  test("no body: no framing field for GET", () => {
    const r = prep({});
    expect(r.bodyKind).toBe("none");
    expect(get(r.headers, "content-length")).toEqual([]);
    expect(get(r.headers, "transfer-encoding")).toEqual([]);
  });
  test("no body: Content-Length: 0 for POST/PUT/PATCH (RFC 9110 §8.6)", () => {
    for (const method of ["POST", "PUT", "PATCH"]) {
      const r = prep({ method });
      expect(r.bodyKind).toBe("length");
      expect(r.contentLength).toBe(0);
      expect(get(r.headers, "content-length")).toEqual(["0"]);
    }
  });
  test("Content-Length: 0 forwarded", () => {
    const r = prep({ method: "DELETE", bodyKind: "length", contentLength: 0, headers: [["Host", "a"], ["Content-Length", "0"]] });
    expect(get(r.headers, "content-length")).toEqual(["0"]);
  });
});

describe("upgrade / tunnel", () => {
  const ws: [string, string][] = [
    ["Host", "a"],
    ["Connection", "Upgrade"],
    ["Upgrade", "websocket"],
    ["Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="],
    ["Sec-WebSocket-Version", "13"],
  ];
  test("wantsWebSocketTunnel", () => {
    expect(wantsWebSocketTunnel(reqHead({ headers: ws }))).toBe(true);
    expect(wantsWebSocketTunnel(reqHead({ headers: ws, method: "POST" }))).toBe(false);
    expect(wantsWebSocketTunnel(reqHead({ headers: ws, minor: 0 }))).toBe(false);
    expect(wantsWebSocketTunnel(reqHead({ headers: [["Host", "a"], ["Upgrade", "websocket"]] }))).toBe(false);
    expect(wantsWebSocketTunnel(reqHead({ headers: [["Host", "a"], ["Connection", "upgrade"], ["Upgrade", "h2c"]] }))).toBe(false);
    expect(wantsWebSocketTunnel(reqHead({ headers: [["Host", "a"], ["Connection", "upgrade"], ["Upgrade", "WebSocket"]] }))).toBe(true);
  });
  test("tunnel keeps Upgrade: websocket and sends Connection: upgrade", () => {
    const r = prep({ headers: ws }, { tunnel: true });
    expect(r.tunnel).toBe(true);
    expect(get(r.headers, "connection")).toEqual(["upgrade"]);
    expect(get(r.headers, "upgrade")).toEqual(["websocket"]);
    expect(get(r.headers, "sec-websocket-key")).toEqual(["dGhlIHNhbXBsZSBub25jZQ=="]);
    expect(get(r.headers, "sec-websocket-version")).toEqual(["13"]);
  });
  test("without tunnel, a websocket Upgrade is stripped", () => {
    const r = prep({ headers: ws }, { tunnel: false });
    expect(r.tunnel).toBe(false);
    expect(get(r.headers, "upgrade")).toEqual([]);
    expect(get(r.headers, "connection")).toEqual([]);
  });
  test("h2c is never forwarded, tunnel or not", () => {
    const h2c: [string, string][] = [["Host", "a"], ["Connection", "Upgrade, HTTP2-Settings"], ["Upgrade", "h2c"], ["HTTP2-Settings", "AAMA"]];
    for (const tunnel of [false, true]) {
      const r = prep({ headers: h2c }, { tunnel });
      expect(r.tunnel).toBe(false);
      expect(get(r.headers, "upgrade")).toEqual([]);
      expect(get(r.headers, "http2-settings")).toEqual([]);
      expect(get(r.headers, "connection")).toEqual([]);
    }
  });
  test("h2c token is removed from a mixed Upgrade list", () => {
    const r = prep({ headers: [["Host", "a"], ["Connection", "upgrade"], ["Upgrade", "h2c, websocket"]] }, { tunnel: true });
    expect(get(r.headers, "upgrade")).toEqual(["websocket"]);
  });
  test("tunnel requested on HTTP/1.0: ignored (RFC 9110 §7.8)", () => {
    const r = prep({ headers: ws, minor: 0 }, { tunnel: true });
    expect(r.tunnel).toBe(false);
    expect(get(r.headers, "upgrade")).toEqual([]);
  });
});

describe("CONNECT", () => {
  test("refused with 501, never prepared", () => {
    const head = reqHead({ method: "CONNECT", target: "example.com:443", headers: [["Host", "example.com:443"]] });
    expect(refuseReason(head)).toEqual({ status: 501, code: "PROXY_CONNECT" });
    expect(refuseReason(reqHead())).toBeNull();
    expect(() => prep({ method: "CONNECT", target: "example.com:443" })).toThrow(ProxyPrepareError);
  });
});

describe("everything else unchanged", () => {
  test("repeated fields kept separate, in order, with original case", () => {
    const r = prep({
      headers: [
        ["Host", "a"],
        ["Accept", "text/html"],
        ["cookie", "a=1"],
        ["X-Custom", "one"],
        ["Cookie", "b=2"],
        ["x-custom", "two"],
        ["Authorization", "Bearer t"],
      ],
    });
    expect(r.headers.slice(0, 7)).toEqual([
      ["Host", "a"],
      ["Accept", "text/html"],
      ["cookie", "a=1"],
      ["X-Custom", "one"],
      ["Cookie", "b=2"],
      ["x-custom", "two"],
      ["Authorization", "Bearer t"],
    ]);
  });
  test("serialized head matches the header list exactly", () => {
    const r = prep({ target: "/p?q", headers: [["Host", "a"], ["Accept", "*/*"]] });
    const text = Array.from(r.head, (b) => String.fromCharCode(b)).join("");
    expect(text).toBe(
      "GET /p?q HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: http\r\n" +
        "X-Forwarded-Host: a\r\nVia: 1.1 dreamserver\r\nX-Request-ID: req-123\r\n\r\n",
    );
  });
  test("obs-text bytes in values survive as single latin1 bytes", () => {
    const r = prep({ headers: [["Host", "a"], ["X-Name", "Jos\u00e9"]] });
    const i = r.head.indexOf(0xe9);
    expect(i).toBeGreaterThan(0);
    expect(r.head[i - 1]).toBe("s".charCodeAt(0));
  });
});

describe("upstreamTargetOf", () => {
  test.each([
    ["http://127.0.0.1:8000", "127.0.0.1:8000", ""],
    ["http://127.0.0.1:80/", "127.0.0.1", ""],
    ["https://api.example:443/base/", "api.example", "/base"],
    ["http://[::1]:9000/a/b", "[::1]:9000", "/a/b"],
  ])("%s", (url, host, basePath) => {
    expect(upstreamTargetOf(new URL(url))).toEqual({ host, basePath });
  });
});

describe("underscore spellings (nginx underscores_in_headers off)", () => {
  const hs: [string, string][] = [
    ["Host", "a"],
    ["X_Forwarded_For", "6.6.6.6"],
    ["x_real_ip", "6.6.6.6"],
    ["Content_Length", "5"],
    ["Transfer_Encoding", "chunked"],
    ["X_Custom", "1"],
    ["X-Custom", "2"],
  ];
  test("dropped by default, from any peer (CGI/WSGI would read them as X-Forwarded-For etc.)", () => {
    for (const trusted of [TrustedProxies.none, new TrustedProxies(["203.0.113.7"])]) {
      const r = prep({ headers: hs }, { trusted });
      expect(r.headers.filter(([n]) => n.includes("_"))).toEqual([]);
      expect(get(r.headers, "x-custom")).toEqual(["2"]);
    }
    expect(get(prep({ headers: hs }).headers, "x-forwarded-for")).toEqual(["203.0.113.7"]);
  });
  test("underscoresInHeaders: true forwards them unchanged (still never as framing)", () => {
    const r = prep({ headers: hs }, { underscoresInHeaders: true });
    expect(r.headers.filter(([n]) => n.includes("_"))).toEqual(hs.filter(([n]) => n.includes("_")));
    expect(get(r.headers, "content-length")).toEqual([]);
    expect(get(r.headers, "transfer-encoding")).toEqual([]);
  });
  test("underscoresInHeaders: false is the same as absent", () => {
    expect(prep({ headers: hs }, { underscoresInHeaders: false }).headText).toBe(prep({ headers: hs }).headText);
  });
});

describe("client-address fields besides X-Forwarded-For", () => {
  const hs: [string, string][] = [
    ["Host", "a"],
    ["X-Client-IP", "6.6.6.6"],
    ["True-Client-IP", "6.6.6.7"],
    ["CF-Connecting-IP", "6.6.6.8"],
    ["cf-connecting-ip", "6.6.6.9"],
  ];
  test("dropped from an untrusted peer", () => {
    const r = prep({ headers: hs });
    for (const n of ["x-client-ip", "true-client-ip", "cf-connecting-ip"]) expect(get(r.headers, n)).toEqual([]);
  });
  test("passed unchanged from a trusted peer", () => {
    const r = prep({ headers: hs }, { trusted: new TrustedProxies(["203.0.113.7"]) });
    expect(r.headers.filter(([n]) => n !== "Host" && hs.some(([m]) => m === n))).toEqual(hs.slice(1));
  });
});

describe("Connection nominations cannot remove framing, routing or attribution", () => {
  const trusted = new TrustedProxies(["203.0.113.7"]);
  test("trusted front proxy passing `Connection: X-Forwarded-For, X-Auth-User`: its forwarding fields stay", () => {
    const r = prep(
      {
        headers: [
          ["Host", "a"],
          ["Connection", "X-Forwarded-For, X-Auth-User, X-Forwarded-Proto, X-Real-IP, Forwarded, X-Forwarded-Prefix"],
          ["X-Forwarded-For", "198.51.100.1"],
          ["X-Forwarded-Proto", "https"],
          ["X-Forwarded-Prefix", "/app"],
          ["X-Real-IP", "198.51.100.1"],
          ["Forwarded", "for=198.51.100.1"],
          ["X-Auth-User", "alice"],
        ],
      },
      { trusted },
    );
    expect(get(r.headers, "x-forwarded-for")).toEqual(["198.51.100.1, 203.0.113.7"]);
    expect(get(r.headers, "x-forwarded-proto")).toEqual(["https"]);
    expect(get(r.headers, "x-forwarded-prefix")).toEqual(["/app"]);
    expect(get(r.headers, "x-real-ip")).toEqual(["198.51.100.1"]);
    expect(get(r.headers, "forwarded")).toEqual(["for=198.51.100.1"]);
    // An ordinary end-to-end field is still removed when nominated (RFC 9110 §7.6.1).
    expect(get(r.headers, "x-auth-user")).toEqual([]);
  });
  test("untrusted peer: nominated or not, its forwarding fields are dropped and ours set", () => {
    const r = prep({ headers: [["Host", "a"], ["Connection", "X-Forwarded-For"], ["X-Forwarded-For", "6.6.6.6"]] });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["203.0.113.7"]);
  });
  test("Via from earlier hops survives a nomination (we append to it)", () => {
    const r = prep({ headers: [["Host", "a"], ["Connection", "Via"], ["Via", "1.1 front"]] });
    expect(get(r.headers, "via")).toEqual(["1.1 front, 1.1 dreamserver"]);
  });
  test("Connection: host keeps Host", () => {
    const r = prep({ headers: [["Host", "a.example"], ["Connection", "host"]] });
    expect(r.headText.startsWith("GET / HTTP/1.1\r\nHost: a.example\r\n")).toBe(true);
  });
  test("Connection: content-length still sends the body's Content-Length", () => {
    const r = prep({ method: "POST", bodyKind: "length", contentLength: 5, headers: [["Host", "a"], ["Connection", "content-length"], ["Content-Length", "5"]] });
    expect(get(r.headers, "content-length")).toEqual(["5"]);
    expect(r.bodyKind).toBe("length");
  });
  test("Connection: transfer-encoding still sends Transfer-Encoding: chunked for a chunked body", () => {
    const r = prep({ method: "POST", bodyKind: "chunked", headers: [["Host", "a"], ["Connection", "Transfer-Encoding"], ["Transfer-Encoding", "chunked"]] });
    expect(get(r.headers, "transfer-encoding")).toEqual(["chunked"]);
    expect(r.bodyKind).toBe("chunked");
  });
  test("Connection: content-length on a bodiless POST still sends Content-Length: 0", () => {
    const r = prep({ method: "POST", headers: [["Host", "a"], ["Connection", "content-length"]] });
    expect(get(r.headers, "content-length")).toEqual(["0"]);
  });
  test("Connection: x-request-id, upgrade on a tunnel: ours are sent", () => {
    const r = prep(
      { headers: [["Host", "a"], ["Connection", "upgrade, x-request-id, upgrade"], ["Upgrade", "websocket"], ["X-Request-ID", "client"]] },
      { tunnel: true },
    );
    expect(get(r.headers, "x-request-id")).toEqual(["req-123"]);
    expect(get(r.headers, "upgrade")).toEqual(["websocket"]);
    expect(get(r.headers, "connection")).toEqual(["upgrade"]);
  });
});

describe("byte-exact list reading in the proxy", () => {
  test("a malformed Upgrade offer is no tunnel (\\xa0websocket is not websocket)", () => {
    expect(wantsWebSocketTunnel(reqHead({ headers: [["Host", "a"], ["Connection", "upgrade"], ["Upgrade", "\xa0websocket"]] }))).toBe(false);
    expect(wantsWebSocketTunnel(reqHead({ headers: [["Host", "a"], ["Connection", "upgrade"], ["Upgrade", "websocket/"]] }))).toBe(false);
  });
  test("the tunnel forwards the offered websocket element as received, OWS removed", () => {
    const r = prep({ headers: [["Host", "a"], ["Connection", "upgrade"], ["Upgrade", "h2c,\tWebSocket/13 "]] }, { tunnel: true });
    expect(get(r.headers, "upgrade")).toEqual(["WebSocket/13"]);
  });
  test("trusted X-Forwarded-For: only SP/HTAB trimmed when joining (\\xa0 is kept, not silently dropped)", () => {
    const r = prep({ headers: [["Host", "a"], ["X-Forwarded-For", "\xa0"], ["X-Forwarded-For", "1.2.3.4"]] }, { trusted: new TrustedProxies(["203.0.113.7"]) });
    expect(get(r.headers, "x-forwarded-for")).toEqual(["\xa0, 1.2.3.4, 203.0.113.7"]);
  });
});

describe("the upstream head, byte for byte (one-pass writer)", () => {
  const TAIL = "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: http\r\n";
  // [spec, input overrides, the exact head sent upstream]
  const cases: [string, HeadSpec, Partial<PrepareRequestInput>, string][] = [
    ["wrk's request: Host only", { headers: [["Host", "127.0.0.1:8080"]] }, {},
      "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" + TAIL + "X-Forwarded-Host: 127.0.0.1:8080\r\nVia: 1.1 dreamserver\r\nX-Request-ID: req-123\r\n\r\n"],
    ["Host kept in place among the client's fields, original case and order",
      { headers: [["accept", "*/*"], ["HOST", "a.example"], ["X-Trace", "1"], ["accept", "b"]] }, {},
      "GET / HTTP/1.1\r\naccept: */*\r\nHOST: a.example\r\nX-Trace: 1\r\naccept: b\r\n" + TAIL + "X-Forwarded-Host: a.example\r\nVia: 1.1 dreamserver\r\nX-Request-ID: req-123\r\n\r\n"],
    ["no Host (HTTP/1.0): ours first", { minor: 0, headers: [["Accept", "*/*"]] }, {},
      "GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n" + TAIL + "Via: 1.0 dreamserver\r\nX-Request-ID: req-123\r\n\r\n"],
    ["hop-by-hop, nominated and our own fields removed; framing last",
      { method: "POST", headers: [["Host", "a"], ["Connection", "keep-alive, X-Hop"], ["X-Hop", "1"], ["Content-Length", "5"], ["Expect", "100-continue"], ["X-Request-ID", "spoof"], ["Via", "1.1 edge"], ["Keep", "me"]], bodyKind: "length", contentLength: 5 },
      { localPort: 8080 },
      "POST / HTTP/1.1\r\nHost: a\r\nKeep: me\r\n" + TAIL + "X-Forwarded-Host: a\r\nX-Forwarded-Port: 8080\r\nVia: 1.1 edge, 1.1 dreamserver\r\nX-Request-ID: req-123\r\nContent-Length: 5\r\n\r\n"],
    ["trusted peer: forwarding fields merged, others passed in place",
      { headers: [["Host", "a"], ["X-Forwarded-For", " 198.51.100.1 "], ["X-Forwarded-For", "10.0.0.2"], ["X-Real-IP", "198.51.100.1"], ["X-Forwarded-Prefix", "/app"]], bodyKind: "chunked" },
      { trusted: new TrustedProxies(["203.0.113.0/24"]) },
      "GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 198.51.100.1\r\nX-Forwarded-Prefix: /app\r\nX-Forwarded-For: 198.51.100.1, 10.0.0.2, 203.0.113.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: a\r\nVia: 1.1 dreamserver\r\nX-Request-ID: req-123\r\nTransfer-Encoding: chunked\r\n\r\n"],
    ["obs-text value relayed as its bytes; a non-latin1 char (only from config) becomes ?",
      { headers: [["Host", "a"], ["X-Bytes", "caf\xe9"], ["X-Config", "snow \u2603"]] }, { head: { ...reqHead({ headers: [["Host", "a"], ["X-Bytes", "caf\xe9"], ["X-Config", "snow \u2603"]] }), configured: new Set<string>() } },
      "GET / HTTP/1.1\r\nHost: a\r\nX-Bytes: caf\xe9\r\nX-Config: snow ?\r\n" + TAIL + "X-Forwarded-Host: a\r\nVia: 1.1 dreamserver\r\nX-Request-ID: req-123\r\n\r\n"],
    ["chars whose low byte is CR or LF (U+010D, U+010A) never become a line break: ?, not a byte",
      { headers: [["Host", "a"], ["X-Config", "x\u010dy\u010az"]] }, { head: { ...reqHead({ headers: [["Host", "a"], ["X-Config", "x\u010dy\u010az"]] }), configured: new Set<string>(["x-config"]) } },
      "GET / HTTP/1.1\r\nHost: a\r\nX-Config: x?y?z\r\n" + TAIL + "X-Forwarded-Host: a\r\nVia: 1.1 dreamserver\r\nX-Request-ID: req-123\r\n\r\n"],
    ["a non-latin1 Via name (config) becomes ?",
      { headers: [["Host", "a"]] }, { viaName: "dr\u00e9am \u2603" },
      "GET / HTTP/1.1\r\nHost: a\r\n" + TAIL + "X-Forwarded-Host: a\r\nVia: 1.1 dr\xe9am ?\r\nX-Request-ID: req-123\r\n\r\n"],
    ["WebSocket tunnel: Connection and Upgrade last",
      { headers: [["Host", "a"], ["connection", "Upgrade"], ["upgrade", "websocket"], ["Sec-WebSocket-Key", "k"]] }, { tunnel: true },
      "GET / HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\n" + TAIL + "X-Forwarded-Host: a\r\nVia: 1.1 dreamserver\r\nX-Request-ID: req-123\r\nConnection: upgrade\r\nupgrade: websocket\r\n\r\n"],
  ];
  for (const [name, spec, over, expected] of cases) {
    test(name, () => {
      const r = prep(spec, over);
      expect(r.headText).toBe(expected);
      // The bytes are the text's latin1 encoding, one byte per char.
      expect(Buffer.from(r.head).toString("latin1")).toBe(expected);
      expect(r.head.byteLength).toBe(expected.length);
      // The field list is the same head read back: names and values exactly as written.
      const lines = expected.slice(expected.indexOf("\r\n") + 2, -4).split("\r\n");
      expect(r.headers).toEqual(lines.map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 2)]));
    });
  }

  test("an empty value reads back as empty", () => {
    const r = prep({ headers: [["Host", "a"], ["X-Empty", ""]] });
    expect(r.headText).toContain("\r\nX-Empty: \r\n");
    expect(r.headers.find(([n]) => n === "X-Empty")).toEqual(["X-Empty", ""]);
  });

  test("withTarget changes only the request line", () => {
    const r = prep({ method: "POST", headers: [["Host", "a"], ["Accept", "*/*"]], bodyKind: "length", contentLength: 3 });
    const w = withTarget(r, "/next?x=1");
    expect(w.headText).toBe("POST /next?x=1 HTTP/1.1\r\n" + r.headText.slice(r.headText.indexOf("\r\n") + 2));
    expect(w.headers).toEqual(r.headers);
    expect([w.method, w.target, w.bodyKind, w.contentLength, w.tunnel]).toEqual(["POST", "/next?x=1", "length", 3, false]);
  });
});
