import { describe, expect, test } from "bun:test";
import { renderTemplate, parseTemplate } from "../../src/config/template.ts";
import type { Template } from "../../src/config/config.ts";
import type { Exchange } from "../../src/handler.ts";
import { stripPathPrefix, stripPrefix } from "../../src/middleware/strip-prefix/index.ts";
import { templateContext } from "../../src/middleware/template-context.ts";
import { FakeExchange, makeHead } from "./fake-exchange.ts";

function through(prefix: string, target: string): { inner: Exchange; outer: FakeExchange } {
  let inner: Exchange | null = null;
  const outer = new FakeExchange({ target });
  stripPrefix(prefix)((e) => {
    inner = e;
  })(outer);
  return { inner: inner!, outer };
}

describe("stripPathPrefix", () => {
  const table: [string, string, string | null][] = [
    ["/api", "/api/x", "/x"],
    ["/api", "/api", "/"],
    ["/api", "/api/", "/"],
    ["/api", "/api/x/y/", "/x/y/"],
    ["/api/", "/api/x", "/x"],
    ["/api/", "/api/", "/"],
    ["/api/", "/api", null],
    ["/api", "/apix", null],
    ["/api", "/other", null],
    ["/", "/x", "/x"],
    ["/a/b", "/a/b/c", "/c"],
    ["/api", "/api//x", "//x"],
  ];
  for (const [prefix, path, want] of table) test(`${prefix} ${path} → ${want}`, () => expect(stripPathPrefix(prefix, path)).toBe(want));
});

describe("stripPrefix", () => {
  const table: [string, string, string, string][] = [
    // prefix, target, inner path, inner target
    ["/api", "/api/x?q=1", "/x", "/x?q=1"],
    ["/api", "/api?q", "/", "/?q"],
    ["/api", "/api", "/", "/"],
    ["/api", "/%61pi/%7Ex", "/~x", "/~x"], // matched on the normalised path
    ["/api", "/v1/../api/x", "/x", "/x"],
    ["/api", "/api/a%2fb", "/a%2Fb", "/a%2Fb"],
    ["/api", "http://example.com/api/x?y", "/x", "/x?y"], // absolute-form becomes origin-form
    ["/api", "/apix", "/apix", "/apix"], // not covered: unchanged
    ["/api", "/%zz", "/%zz", "/%zz"], // malformed: unchanged (the engine answers 400 before)
  ];
  for (const [prefix, target, path, innerTarget] of table) {
    test(`${prefix}: ${target} → ${innerTarget}`, () => {
      const { inner, outer } = through(prefix, target);
      expect(inner.head.path).toBe(path);
      expect(inner.head.target).toBe(innerTarget);
      expect(inner.head.form).toBe(innerTarget === target ? outer.head.form : "origin");
      expect(inner.head.query).toBe(outer.head.query);
      expect(inner.head.host).toBe(outer.head.host);
    });
  }

  test("the removed prefix is remembered as head.mount (client-facing URLs put it back), nested strips add up", () => {
    expect(through("/api", "/api/x").inner.head.mount).toBe("/api");
    expect(through("/api/", "/api/x").inner.head.mount).toBe("/api");
    expect(through("/api", "/api").inner.head.mount).toBe("/api");
    const outer = stripPrefix("/v1");
    const inner = stripPrefix("/api");
    let seen: Exchange | null = null;
    outer(inner((ex) => (seen = ex)))(new FakeExchange(makeHead({ target: "/v1/api/x" })));
    expect(seen!.head.path).toBe("/x");
    expect(seen!.head.mount).toBe("/v1/api");
  });

  test("a path the prefix does not cover is passed without a decorator", () => {
    const { inner, outer } = through("/api", "/other");
    expect(inner).toBe(outer);
  });

  test("{path} and {uri} keep the original; the engine's head is untouched", () => {
    const { inner, outer } = through("/api", "/api/x?q=1");
    const t = parseTemplate("{path} {uri}") as Template;
    expect(renderTemplate(t, templateContext(inner))).toBe("/api/x /api/x?q=1");
    expect(outer.head.path).toBe("/api/x");
    expect(outer.head.target).toBe("/api/x?q=1");
  });

  test("responses go through to the engine's exchange", () => {
    const outer = new FakeExchange({ target: "/api/x" });
    stripPrefix("/api")((e) => e.respond(200, [["X-Seen", e.head.path]], "ok"))(outer);
    expect(outer.status).toBe(200);
    expect(outer.header("x-seen")).toBe("/x");
    expect(outer.text).toBe("ok");
  });
});
