/** src/config/template.ts: placeholders parsed once, rendered per request. */
import { describe, expect, test } from "bun:test";
import type { Template } from "../../src/config/config.ts";
import { parseTemplate, renderTemplate, type TemplateContext } from "../../src/config/template.ts";

const CTX: TemplateContext = {
  host: "example.com",
  path: "/api/users",
  query: "a=1&b=two%20words",
  uri: "/api/users?a=1&b=two%20words",
  remoteIp: "192.0.2.7",
  requestId: "req-1",
  header: (n) => ({ "x-user": "alice", "user-agent": "curl/8" })[n] ?? null,
  cookie: (n) => (n === "session" ? "s3cr3t" : undefined),
  queryParam: (n) => ({ a: "1", b: "two words" })[n] ?? null,
};

function t(src: string): Template {
  const r = parseTemplate(src);
  if (typeof r === "string") throw new Error(r);
  return r;
}

describe("render", () => {
  const CASES: [string, string][] = [
    ["plain text", "plain text"],
    ["", ""],
    ["https://example.com/new{path}?{query}", "https://example.com/new/api/users?a=1&b=two%20words"],
    ["https://{host}{uri}", "https://example.com/api/users?a=1&b=two%20words"],
    ["{remote_ip} {request_id}", "192.0.2.7 req-1"],
    ["user={header.X-User}", "user=alice"],
    ["{header.x-missing}|", "|"],
    ["{cookie.session}/{cookie.other}", "s3cr3t/"],
    ["{query.b}|{query.zzz}", "two words|"],
    ["{{literal}} {path}", "{literal} /api/users"],
    ["a}}b", "a}b"],
  ];
  test.each(CASES)("%p → %p", (src, want) => {
    expect(renderTemplate(t(src), CTX)).toBe(want);
  });

  test("parts are pre-split: text and placeholders", () => {
    expect(t("a{host}b{header.X-Y}").parts).toEqual([{ text: "a" }, { placeholder: "host" }, { text: "b" }, { placeholder: "header", arg: "x-y" }]);
    expect(t("a{host}").source).toBe("a{host}");
  });

  test("{query} is empty when there is no query", () => {
    expect(renderTemplate(t("{path}?{query}"), { ...CTX, query: "", uri: "/x", path: "/x" })).toBe("/x?");
  });
});

describe("parse errors", () => {
  const BAD: [string, string][] = [
    ["{hots}", "unknown placeholder {hots}; did you mean {host}?"],
    ["{remoteip}", "did you mean {remote_ip}?"],
    ["{url}", "did you mean {uri}?"],
    ["{heder.X}", "did you mean {header.NAME}?"],
    ["{header.}", "needs a name after the dot"],
    ["{header.a b}", "is not a header name"],
    ["{cookie.a;b}", "is not a cookie name"],
    ["{completely_unknown}", "unknown placeholder {completely_unknown}; use one of {host}"],
    ["https://x/{path", 'unclosed "{"'],
    ["a}b", 'stray "}"'],
  ];
  test.each(BAD)("%p", (src, fragment) => {
    const r = parseTemplate(src);
    expect(typeof r).toBe("string");
    expect(r as string).toContain(fragment);
  });
});
