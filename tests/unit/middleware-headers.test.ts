import { describe, expect, test } from "bun:test";
import type { HeaderRules, Template } from "../../src/config/config.ts";
import { parseTemplate } from "../../src/config/template.ts";
import type { Exchange, Handler } from "../../src/handler.ts";
import { compose } from "../../src/middleware/decorator.ts";
import { requestHeaders, responseHeaders } from "../../src/middleware/headers/index.ts";
import { stripPrefix } from "../../src/middleware/strip-prefix/index.ts";
import { prepareHeaders } from "../../src/http1/serialize.ts";
import { FakeExchange, type FakeRequest } from "./fake-exchange.ts";

function tpl(s: string): Template {
  const t = parseTemplate(s);
  if (typeof t === "string") throw new Error(t);
  return t;
}
function rules(r: { set?: [string, string][]; add?: [string, string][]; remove?: string[] }): HeaderRules {
  return {
    set: (r.set ?? []).map(([n, v]) => [n, tpl(v)] as const),
    add: (r.add ?? []).map(([n, v]) => [n, tpl(v)] as const),
    remove: r.remove ?? [],
  };
}

/** Runs a request through `mw` and returns the exchange the terminal handler saw. */
function seen(mw: ReturnType<typeof requestHeaders>, req: FakeRequest): { inner: Exchange; outer: FakeExchange } {
  let inner: Exchange | null = null;
  const outer = new FakeExchange(req);
  mw((ex) => {
    inner = ex;
  })(outer);
  return { inner: inner!, outer };
}

describe("requestHeaders", () => {
  test("remove, then set (replace all), then add; names keep their case", () => {
    const mw = requestHeaders(
      rules({
        remove: ["x-remove", "x-set"],
        set: [["X-Set", "s-{remote_ip}"], ["X-Real-IP", "{remote_ip}"]],
        add: [["X-Add", "a1"], ["x-set", "again"]],
      }),
    );
    const { inner, outer } = seen(mw, {
      headers: [
        ["Accept", "*/*"],
        ["X-Remove", "1"],
        ["x-remove", "2"],
        ["X-Real-IP", "spoofed"],
        ["X-Add", "client"],
      ],
      clientIp: "198.51.100.1",
    });
    expect(inner.head.headers.pairs()).toEqual([
      ["Host", "example.com"],
      ["Accept", "*/*"],
      ["X-Add", "client"],
      ["X-Set", "s-198.51.100.1"],
      ["X-Real-IP", "198.51.100.1"],
      ["X-Add", "a1"],
      ["x-set", "again"],
    ]);
    expect(inner.head.headers.get("x-real-ip")).toBe("198.51.100.1");
    // the engine's head is untouched
    expect(outer.head.headers.get("x-real-ip")).toBe("spoofed");
    expect(outer.head.headers.size).toBe(6);
  });

  test("the field list is reused while the rendered values repeat, and rebuilt when one changes", () => {
    const mw = requestHeaders(rules({ set: [["X-Real-IP", "{remote_ip}"], ["X-Env", "bench"]], add: [["X-Path", "{path}"]] }));
    const sequence: [string, string][] = [
      ["198.51.100.1", "/a"],
      ["198.51.100.1", "/a"],
      ["198.51.100.2", "/a"],
      ["198.51.100.2", "/b"],
      ["198.51.100.1", "/a"],
    ];
    for (const [ip, path] of sequence) {
      const { inner } = seen(mw, { clientIp: ip, target: path });
      expect(inner.head.headers.get("x-real-ip")).toBe(ip);
      expect(inner.head.headers.get("x-env")).toBe("bench");
      expect(inner.head.headers.get("x-path")).toBe(path);
      expect(inner.head.headers.count("x-real-ip")).toBe(1);
    }
  });

  test("an empty rendered value adds nothing; set still removes the client's field", () => {
    const mw = requestHeaders(rules({ set: [["X-User", "{cookie.user}"]], add: [["X-Opt", "{header.x-none}"]] }));
    const { inner } = seen(mw, { headers: [["X-User", "forged"]] });
    expect(inner.head.headers.has("x-user")).toBe(false);
    expect(inner.head.headers.has("x-opt")).toBe(false);
    const { inner: i2 } = seen(mw, { headers: [["Cookie", "user=bob"]] });
    expect(i2.head.headers.get("x-user")).toBe("bob");
  });

  test("request data cannot inject a field: CR/LF removed from rendered values", () => {
    const mw = requestHeaders(rules({ set: [["X-Next", "{query.next}"]] }));
    const { inner } = seen(mw, { target: "/?next=a%0D%0AEvil:%20x" });
    expect(inner.head.headers.get("x-next")).toBe("aEvil: x");
    expect(inner.head.headers.size).toBe(2);
  });

  test("framing fields are never touched", () => {
    const mw = requestHeaders(
      rules({
        remove: ["content-length", "connection", "transfer-encoding"],
        set: [["Content-Length", "0"], ["Transfer-Encoding", "chunked"]],
        add: [["Connection", "close"]],
      }),
    );
    const { inner } = seen(mw, { headers: [["Content-Length", "5"], ["Connection", "keep-alive"]] });
    expect(inner.head.headers.pairs()).toEqual([
      ["Host", "example.com"],
      ["Content-Length", "5"],
      ["Connection", "keep-alive"],
    ]);
  });

  test("Host: set (or add) replaces it and head.host follows; invalid values and remove are ignored", () => {
    const setHost = requestHeaders(rules({ set: [["Host", "backend.internal:8080"]] }));
    const a = seen(setHost, { host: "example.com" }).inner;
    expect(a.head.headers.getAll("host")).toEqual(["backend.internal:8080"]);
    expect(a.head.host).toBe("backend.internal:8080");

    const addHost = requestHeaders(rules({ add: [["host", "b.test"]] }));
    const b = seen(addHost, {}).inner;
    expect(b.head.headers.getAll("host")).toEqual(["b.test"]);
    expect(b.head.host).toBe("b.test");

    const bad = requestHeaders(rules({ set: [["Host", "a b/{path}"]], remove: ["host"] }));
    const c = seen(bad, { host: "keep.test" }).inner;
    expect(c.head.headers.getAll("host")).toEqual(["keep.test"]);
    expect(c.head.host).toBe("keep.test");
  });

  test("constant rules resolve once; a Host set with placeholders is checked per request", () => {
    const constant = requestHeaders(rules({ set: [["X-Env", "bench"], ["x-env", "last"]], add: [["X-Tag", " padded "]], remove: ["x-debug"] }));
    const a = seen(constant, { headers: [["X-Debug", "1"], ["X-ENV", "client"]] }).inner;
    expect(a.head.headers.pairs()).toEqual([
      ["Host", "example.com"],
      ["x-env", "last"],
      ["X-Tag", "padded"],
    ]);
    const dynHost = requestHeaders(rules({ set: [["Host", "{query.h}"]] }));
    const ok = seen(dynHost, { host: "a.test", target: "/?h=b.test" }).inner;
    expect(ok.head.headers.getAll("host")).toEqual(["b.test"]);
    expect(ok.head.host).toBe("b.test");
    const bad = seen(dynHost, { host: "a.test", target: "/?h=a%20b" }).inner;
    expect(bad.head.headers.getAll("host")).toEqual(["a.test"]);
    expect(bad.head.host).toBe("a.test");
  });

  test("no rules: the next handler itself, no decorator", () => {
    const h: Handler = () => {};
    expect(requestHeaders(rules({}))(h)).toBe(h);
    expect(responseHeaders(rules({}))(h)).toBe(h);
  });
});

describe("responseHeaders", () => {
  const mw = responseHeaders(
    rules({
      remove: ["x-powered-by", "server", "date"],
      set: [["Cache-Control", "no-store"], ["X-Request-ID", "mine"], ["Content-Length", "1"], ["X-Path", "{path}"]],
      add: [["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"], ["Connection", "close"]],
    }),
  );
  const run = (terminal: Handler, req: FakeRequest = {}): FakeExchange => {
    const ex = new FakeExchange(req);
    mw(terminal)(ex);
    return ex;
  };

  test("respond with pairs", () => {
    const ex = run((e) => e.respond(200, [["Content-Type", "text/plain"], ["X-Powered-By", "x"], ["cache-control", "max-age=60"], ["Server", "upstream"]], "hi"), {
      target: "/p?q",
    });
    expect(ex.headers).toEqual([
      ["Content-Type", "text/plain"],
      ["Server", "upstream"], // engine fields are not the rules' business (the engine replaces them)
      ["Cache-Control", "no-store"],
      ["X-Path", "/p"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
    ]);
    expect(ex.text).toBe("hi");
  });

  test("respond with a prepared block (a cached file's head)", () => {
    const ex = run((e) => e.respond(200, prepareHeaders([["ETag", '"1"'], ["X-Powered-By", "php"]]), "x"));
    // Still a prepared block: the engine writes it as bytes (no decoding to pairs per request).
    expect(ex.preparedHead).toBe(true);
    expect(ex.headers).toEqual([
      ["ETag", '"1"'],
      ["Cache-Control", "no-store"],
      ["X-Path", "/"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
    ]);
  });

  test("constant rules on a prepared block: one block out per block in, reused; names matched in any case", () => {
    const constant = responseHeaders(rules({ remove: ["x-powered-by"], set: [["X-Frame-Options", "DENY"], ["cache-control", "no-cache"]], add: [["Link", "</a>"]] }));
    const block = prepareHeaders([["Content-Type", "text/html"], ["X-POWERED-BY", "php"], ["Cache-Control", "max-age=60"], ["ETag", '"1"']]);
    const outs: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const ex = new FakeExchange();
      constant((e) => e.respond(200, block, "x"))(ex);
      expect(ex.preparedHead).toBe(true);
      expect(ex.headers).toEqual([
        ["Content-Type", "text/html"],
        ["ETag", '"1"'],
        ["X-Frame-Options", "DENY"],
        ["cache-control", "no-cache"],
        ["Link", "</a>"],
      ]);
      outs.push(ex.rawHeaders);
    }
    expect(outs[1]).toBe(outs[0]);
    expect(outs[2]).toBe(outs[0]);
    // Another block (another file) gets its own result.
    const ex = new FakeExchange();
    constant((e) => e.respond(200, prepareHeaders([["ETag", '"2"']]), "x"))(ex);
    expect(ex.headers).toEqual([
      ["ETag", '"2"'],
      ["X-Frame-Options", "DENY"],
      ["cache-control", "no-cache"],
      ["Link", "</a>"],
    ]);
  });

  test("a prepared block with per-request values: rendered per request", () => {
    const dyn = responseHeaders(rules({ set: [["X-Path", "{path}"], ["X-Env", "prod"]] }));
    const block = prepareHeaders([["ETag", '"1"'], ["X-Path", "old"]]);
    for (const target of ["/a", "/b"]) {
      const ex = new FakeExchange({ target });
      dyn((e) => e.respond(200, block, "x"))(ex);
      expect(ex.preparedHead).toBe(true);
      expect(ex.headers).toEqual([
        ["ETag", '"1"'],
        ["X-Path", target],
        ["X-Env", "prod"],
      ]);
    }
  });

  test("startResponse", () => {
    const ex = run((e) => {
      e.startResponse(200, [["X-Powered-By", "x"]], null);
      e.write(Buffer.from("abc"));
      e.end();
    });
    expect(ex.calls).toEqual(["startResponse", "end"]);
    expect(ex.header("cache-control")).toBe("no-store");
    expect(ex.header("x-powered-by")).toBeUndefined();
    expect(ex.text).toBe("abc");
  });

  test("sendError: extra headers get the rules, Content-Type stays the page's", () => {
    const ct = responseHeaders(rules({ set: [["Content-Type", "text/plain"], ["Retry-After", "5"]] }));
    const ex = new FakeExchange();
    ct((e) => e.sendError(503, "UPSTREAM_CONNECT", [["Retry-After", "1"]]))(ex);
    expect(ex.status).toBe(503);
    expect(ex.errorCode).toBe("UPSTREAM_CONNECT");
    expect(ex.headers).toEqual([["Retry-After", "5"]]);
  });

  test("upgrade: Upgrade and Connection are kept", () => {
    const up = responseHeaders(rules({ remove: ["upgrade", "connection"], set: [["Upgrade", "h2c"]], add: [["X-WS", "1"]] }));
    const ex = new FakeExchange();
    up((e) => {
      e.upgrade([["Connection", "Upgrade"], ["Upgrade", "websocket"], ["Sec-WebSocket-Accept", "k"]], { data() {}, end() {}, drain() {} });
    })(ex);
    expect(ex.headers).toEqual([
      ["Connection", "Upgrade"],
      ["Upgrade", "websocket"],
      ["Sec-WebSocket-Accept", "k"],
      ["X-WS", "1"],
    ]);
  });

  test("callbacks set below land on the engine's exchange", () => {
    const ex = run((e) => {
      e.onDrain = () => {};
      e.onAbort = () => {};
      e.respond(204, [], null);
    });
    expect(ex.onDrain).not.toBeNull();
    expect(ex.onAbort).not.toBeNull();
  });
});

describe("composition with strip_prefix", () => {
  test("{path} shows the original path; the handler sees the stripped one", () => {
    let innerPath = "";
    const h = compose(
      [stripPrefix("/api"), requestHeaders(rules({ set: [["X-Orig", "{path}"]] })), responseHeaders(rules({ set: [["X-Orig", "{uri}"]] }))],
      (e) => {
        innerPath = e.head.target + " " + e.head.headers.get("x-orig");
        e.respond(200, [], "");
      },
    );
    const ex = new FakeExchange({ target: "/api/v1?x=1" });
    h(ex);
    expect(innerPath).toBe("/v1?x=1 /api/v1");
    expect(ex.header("x-orig")).toBe("/api/v1?x=1");
  });
});
