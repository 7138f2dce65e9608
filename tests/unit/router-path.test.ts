import { describe, expect, test } from "bun:test";
import { normalizePath } from "../../src/router/path.ts";

describe("normalizePath", () => {
  const table: [string, string | null][] = [
    ["/", "/"],
    ["/a/b", "/a/b"],
    ["/a/b/", "/a/b/"],
    // unreserved characters are decoded, hex of the rest uppercased
    ["/%61dmin", "/admin"],
    ["/%41%5a%30%2D%2e%5F%7e", "/AZ0-._~"],
    ["/a%2fb", "/a%2Fb"],
    ["/a%2Fb", "/a%2Fb"],
    ["/%e2%82%ac", "/%E2%82%AC"],
    ["/%20x", "/%20x"],
    ["/%3f", "/%3F"],
    ["/%25", "/%25"],
    ["/%2561", "/%2561"], // decoded once only: "%25" stays, "61" is literal
    // dot segments (RFC 3986 §5.2.4)
    ["/a/./b", "/a/b"],
    ["/a/../b", "/b"],
    ["/a/b/..", "/a/"],
    ["/a/b/.", "/a/b/"],
    ["/..", "/"],
    ["/../a", "/a"],
    ["/../../a/../../b", "/b"],
    ["/.", "/"],
    ["/a/%2e%2e/b", "/b"],
    ["/a/%2E/b", "/a/b"],
    ["/a/.%2e", "/"],
    ["/..a/.b/c..", "/..a/.b/c.."],
    ["/a/..%2Fb", "/a/..%2Fb"], // an encoded slash is not a separator
    // "//" is kept
    ["//admin", "//admin"],
    ["/a//b", "/a//b"],
    ["/a//../b", "/a/b"],
    ["/a/b//", "/a/b//"],
    // not an absolute path: percent rules only
    ["*", "*"],
    // malformed percent-encoding
    ["/%", null],
    ["/%4", null],
    ["/a%4", null],
    ["/%zz", null],
    ["/%4g", null],
    ["/%%41", null],
  ];
  for (const [raw, want] of table) {
    test(`${raw} → ${want}`, () => expect(normalizePath(raw)).toBe(want));
  }

  test("a normal path is returned as is", () => {
    const p = "/static/app.js";
    expect(normalizePath(p)).toBe(p);
  });

  test("idempotent", () => {
    for (const [, want] of table) if (want !== null) expect(normalizePath(want)).toBe(want);
  });
});
