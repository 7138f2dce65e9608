import { describe, expect, test } from "bun:test";
import type { Template } from "../../src/config/config.ts";
import { parseTemplate } from "../../src/config/template.ts";
import { createRedirectHandler } from "../../src/handlers/redirect.ts";
import { FakeExchange, type FakeRequest } from "./fake-exchange.ts";

const tpl = (s: string): Template => parseTemplate(s) as Template;

function run(to: string, status: 301 | 302 | 303 | 307 | 308, req: FakeRequest = {}): FakeExchange {
  const ex = new FakeExchange(req);
  createRedirectHandler(tpl(to), status)(ex);
  return ex;
}

describe("createRedirectHandler", () => {
  test("https upgrade with {host}{uri}", () => {
    const ex = run("https://{host}{uri}", 308, { target: "/a/b?x=1", host: "Example.com:8080" });
    expect(ex.status).toBe(308);
    expect(ex.header("location")).toBe("https://example.com/a/b?x=1");
    expect(ex.header("content-type")).toBe("text/html; charset=utf-8");
    expect(ex.text).toContain('<a href="https://example.com/a/b?x=1">');
    expect(ex.text).toContain("Permanent Redirect");
    expect(ex.declaredLength).toBe(ex.body.length);
  });

  test("a literal target: head prepared once", () => {
    const h = createRedirectHandler(tpl("https://example.org/"), 301);
    const a = new FakeExchange();
    const b = new FakeExchange({ method: "HEAD" });
    h(a);
    h(b);
    expect(a.preparedHead).toBe(true);
    expect(a.header("location")).toBe("https://example.org/");
    expect(a.status).toBe(301);
    expect(b.status).toBe(301);
    expect(b.body.length).toBe(0); // HEAD: the engine sends no body
    expect(b.declaredLength).toBe(a.declaredLength);
  });

  test("request data is escaped in the body and cannot split the head", () => {
    const ex = run("{query.next}", 302, { target: '/?next=/x%0D%0ASet-Cookie:%20a=1%3Cscript%3E%22' });
    expect(ex.header("location")).toBe('/xSet-Cookie: a=1<script>"');
    expect(ex.headers.length).toBe(2);
    expect(ex.text).not.toContain("<script>");
    expect(ex.text).toContain("&lt;script&gt;&quot;");
  });

  test("the request body is not read", () => {
    const ex = run("/elsewhere", 307, { method: "POST", headers: [["Content-Length", "3"]] });
    expect(ex.bodyRead).toBe(false);
    expect(ex.status).toBe(307);
  });
});
