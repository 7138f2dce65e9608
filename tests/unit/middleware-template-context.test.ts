import { describe, expect, test } from "bun:test";
import { parseTemplate, renderTemplate } from "../../src/config/template.ts";
import type { Template } from "../../src/config/config.ts";
import { deriveHead, HeadDecorator } from "../../src/middleware/derive-head.ts";
import { parseCookies, parseQuery, safeFieldValue, templateContext } from "../../src/middleware/template-context.ts";
import { FakeExchange } from "./fake-exchange.ts";

function tpl(s: string): Template {
  const t = parseTemplate(s);
  if (typeof t === "string") throw new Error(t);
  return t;
}

describe("templateContext", () => {
  const ex = new FakeExchange({
    target: "/a/%7Eb?x=1&next=%2Fhome%0D%0AX:+y&x=2&e=%C3%A9",
    host: "WWW.Example.com.:8443",
    headers: [
      ["Accept", "text/html"],
      ["X-Multi", "a"],
      ["x-multi", "b"],
      ["Cookie", 'sid=abc; theme="dark"'],
      ["Cookie", "sid=second; lang=en"],
    ],
    clientIp: "203.0.113.9",
    id: "rid-42",
  });
  const ctx = templateContext(ex);
  const table: [string, string][] = [
    ["{host}", "www.example.com"],
    ["{path}", "/a/%7Eb"],
    ["{query}", "x=1&next=%2Fhome%0D%0AX:+y&x=2&e=%C3%A9"],
    ["{uri}", "/a/%7Eb?x=1&next=%2Fhome%0D%0AX:+y&x=2&e=%C3%A9"],
    ["{remote_ip}", "203.0.113.9"],
    ["{request_id}", "rid-42"],
    ["{header.accept}", "text/html"],
    ["{header.ACCEPT}", "text/html"],
    ["{header.x-multi}", "a, b"],
    ["{header.absent}", ""],
    ["{cookie.sid}", "abc"],
    ["{cookie.theme}", "dark"],
    ["{cookie.lang}", "en"],
    ["{cookie.none}", ""],
    ["{query.x}", "1"],
    ["{query.next}", "/home\r\nX: y"],
    ["{query.e}", "\u00c3\u00a9"], // bytes, as latin1
    ["{query.none}", ""],
    ["https://{host}{uri}", "https://www.example.com/a/%7Eb?x=1&next=%2Fhome%0D%0AX:+y&x=2&e=%C3%A9"],
  ];
  for (const [src, want] of table) test(src, () => expect(renderTemplate(tpl(src), ctx)).toBe(want));

  test("no query: {query} is empty and {uri} is the path; a bare '?' is kept in {uri}", () => {
    const c1 = templateContext(new FakeExchange({ target: "/p" }));
    expect([c1.query, c1.uri]).toEqual(["", "/p"]);
    const c2 = templateContext(new FakeExchange({ target: "/p?" }));
    expect([c2.query, c2.uri]).toEqual(["", "/p?"]);
  });

  test("reads the original head, not a derived one", () => {
    const e = new FakeExchange({ target: "/api/x?q=1", headers: [["X-A", "client"]] });
    const derived = deriveHead(e.head, { path: "/x", target: "/x?q=1" });
    const twice = deriveHead(derived, { host: "other" });
    const c = templateContext(new HeadDecorator(new HeadDecorator(e, derived), twice));
    expect([c.path, c.uri, c.host, c.header("x-a")]).toEqual(["/api/x", "/api/x?q=1", "example.com", "client"]);
  });
});

describe("parsers", () => {
  test("parseCookies", () => {
    expect([...parseCookies(["a=1;b=2 ; c = 3", "a=9; d"])]).toEqual([
      ["a", "1"],
      ["b", "2"],
      ["c", "3"],
    ]);
    expect(parseCookies([]).size).toBe(0);
  });
  test("parseQuery", () => {
    expect([...parseQuery("a=1&b&c=x+y&%41=%zz&&a=2")]).toEqual([
      ["a", "1"],
      ["b", ""],
      ["c", "x y"],
      ["A", "%zz"],
    ]);
  });
  test("safeFieldValue", () => {
    expect(safeFieldValue("a\r\nb")).toBe("ab");
    expect(safeFieldValue(" a\tb ")).toBe("a\tb");
    expect(safeFieldValue("x\u0000y\u007f\u20ac")).toBe("xy");
    expect(safeFieldValue("\u00e9")).toBe("\u00e9");
    const s = "plain";
    expect(safeFieldValue(s)).toBe(s);
  });
});
