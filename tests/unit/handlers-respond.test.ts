import { describe, expect, test } from "bun:test";
import type { Template } from "../../src/config/config.ts";
import { parseTemplate } from "../../src/config/template.ts";
import { createRespondHandler } from "../../src/handlers/respond.ts";
import { FakeExchange, type FakeRequest } from "./fake-exchange.ts";

const tpl = (s: string): Template => parseTemplate(s) as Template;
const hdrs = (pairs: [string, string][]) => pairs.map(([n, v]) => [n, tpl(v)] as const);

function run(status: number, body: string, headers: [string, string][], req: FakeRequest = {}): FakeExchange {
  const ex = new FakeExchange(req);
  createRespondHandler(status, body, hdrs(headers))(ex);
  return ex;
}

describe("createRespondHandler", () => {
  test("fixed response, literal headers prepared once", () => {
    const ex = run(200, "ok\n", [["Content-Type", "text/plain"], ["Cache-Control", "no-store"]]);
    expect(ex.status).toBe(200);
    expect(ex.preparedHead).toBe(true);
    expect(ex.headers).toEqual([
      ["Content-Type", "text/plain"],
      ["Cache-Control", "no-store"],
    ]);
    expect(ex.text).toBe("ok\n");
  });

  test("a body without Content-Type gets text/plain; UTF-8 body", () => {
    const ex = run(403, "d\u00e9nied", []);
    expect(ex.header("content-type")).toBe("text/plain; charset=utf-8");
    expect(ex.body).toEqual(Buffer.from("d\u00e9nied", "utf8"));
    expect(ex.declaredLength).toBe(7);
  });

  test("templated headers rendered per request", () => {
    const h = createRespondHandler(200, "", hdrs([["X-You", "{remote_ip} {header.user-agent}"], ["X-Empty", "{cookie.none}"]]));
    const a = new FakeExchange({ clientIp: "192.0.2.1", headers: [["User-Agent", "curl/8"]] });
    const b = new FakeExchange({ clientIp: "192.0.2.2" });
    h(a);
    h(b);
    expect(a.preparedHead).toBe(false);
    expect(a.headers).toEqual([["X-You", "192.0.2.1 curl/8"]]);
    expect(b.headers).toEqual([["X-You", "192.0.2.2"]]);
  });

  test("HEAD: head only", () => {
    const ex = run(200, "hello", [], { method: "HEAD" });
    expect(ex.body.length).toBe(0);
    expect(ex.declaredLength).toBe(5);
  });

  test("204 and 304 carry no body", () => {
    for (const s of [204, 304]) {
      const ex = run(s, "ignored", []);
      expect(ex.declaredLength).toBe(0);
      expect(ex.header("content-type")).toBeUndefined();
    }
  });

  test("engine fields in the config are skipped", () => {
    const ex = run(200, "x", [["Content-Length", "99"], ["Transfer-Encoding", "chunked"], ["Connection", "close"], ["Server", "me"], ["X-Ok", "1"]]);
    expect(ex.headers).toEqual([
      ["X-Ok", "1"],
      ["Content-Type", "text/plain; charset=utf-8"],
    ]);
  });

  test("the request body is not read", () => {
    const ex = run(200, "x", [], { method: "POST" });
    expect(ex.bodyRead).toBe(false);
  });
});
