import { describe, expect, test } from "bun:test";
import { encodeRelPath, resolvePath } from "../../src/static/resolve-path.ts";

type Ok = [raw: string, rel: string, trailingSlash: boolean];
type Err = [raw: string, status: number, code: string];

const ok: Ok[] = [
  ["/", "", true],
  ["/index.html", "index.html", false],
  ["/a/b/c.txt", "a/b/c.txt", false],
  ["/docs/", "docs", true],
  ["/docs", "docs", false],
  ["//a///b//", "a/b", true], // empty segments merged
  ["/a/./b", "a/b", false],
  ["/a/.", "a", true],
  ["/.", "", true],
  ["/a/b/../c", "a/c", false],
  ["/a/b/..", "a", true],
  ["/a/..", "", true],
  ["/a/%2e%2e/b", "b", false], // encoded dot segments are dot segments (RFC 3986 §6.2.2.2)
  ["/a/%2E/b", "a/b", false],
  ["/a/.%2e/b", "b", false],
  ["/%252e%252e/x", "%2e%2e/x", false], // decoded once: double encoding stays literal
  ["/%25", "%", false],
  ["/hello%20world.txt", "hello world.txt", false],
  ["/caf%C3%A9.html", "café.html", false],
  ["/%E2%82%AC", "€", false],
  ["/caf\xc3\xa9", "café", false], // raw UTF-8 bytes (latin1 string from the parser)
  ["/a+b", "a+b", false], // "+" is not a space in paths
  ["/a%3Fb", "a?b", false],
  ["/a%23b", "a#b", false],
];

const err: Err[] = [
  ["", 400, "PATH_INVALID"],
  ["*", 400, "PATH_INVALID"],
  ["a/b", 400, "PATH_INVALID"],
  ["/..", 400, "PATH_TRAVERSAL"],
  ["/../etc/passwd", 400, "PATH_TRAVERSAL"],
  ["/a/../../etc/passwd", 400, "PATH_TRAVERSAL"],
  ["/%2e%2e/etc/passwd", 400, "PATH_TRAVERSAL"],
  ["/%2E%2E/%2E%2E/etc/passwd", 400, "PATH_TRAVERSAL"],
  ["/.%2e/x", 400, "PATH_TRAVERSAL"],
  ["/a/b/../../..", 400, "PATH_TRAVERSAL"],
  ["/..%2fetc/passwd", 400, "PATH_ENCODED_SLASH"],
  ["/a%2Fb", 400, "PATH_ENCODED_SLASH"],
  ["/a%2fb", 400, "PATH_ENCODED_SLASH"],
  ["/..%5cetc", 400, "PATH_BACKSLASH"],
  ["/a%5Cb", 400, "PATH_BACKSLASH"],
  ["/a\\b", 400, "PATH_BACKSLASH"],
  ["/..\\..\\etc", 400, "PATH_BACKSLASH"],
  ["/a%00.txt", 400, "PATH_NUL"],
  ["/a%00", 400, "PATH_NUL"],
  ["/a%0a", 400, "PATH_CONTROL_CHAR"],
  ["/a%0D%0ASet-Cookie:x", 400, "PATH_CONTROL_CHAR"],
  ["/a%7f", 400, "PATH_CONTROL_CHAR"],
  ["/a%", 400, "PATH_BAD_ENCODING"],
  ["/a%2", 400, "PATH_BAD_ENCODING"],
  ["/a%zz", 400, "PATH_BAD_ENCODING"],
  ["/a%g0", 400, "PATH_BAD_ENCODING"],
  ["/%%32%65", 400, "PATH_BAD_ENCODING"],
  ["/%C3", 400, "PATH_BAD_ENCODING"], // truncated UTF-8
  ["/%FF", 400, "PATH_BAD_ENCODING"],
  ["/%C0%AE%C0%AE/etc", 400, "PATH_BAD_ENCODING"], // overlong "." (classic IIS traversal)
  ["/%C0%AF", 400, "PATH_BAD_ENCODING"], // overlong "/"
  ["/%ED%A0%80", 400, "PATH_BAD_ENCODING"], // UTF-16 surrogate encoded in UTF-8
  ["/\xff", 400, "PATH_BAD_ENCODING"], // raw invalid byte
  ["/\u0100", 400, "PATH_BAD_ENCODING"], // not a byte at all
  ["/.git/config", 404, "PATH_DOTFILE"],
  ["/.env", 404, "PATH_DOTFILE"],
  ["/a/.htpasswd", 404, "PATH_DOTFILE"],
  ["/%2egit/HEAD", 404, "PATH_DOTFILE"],
  ["/.well-known/x", 404, "PATH_DOTFILE"],
  ["/...", 404, "PATH_DOTFILE"],
  ["/..a", 404, "PATH_DOTFILE"],
  ["/a/.git/", 404, "PATH_DOTFILE"],
];

describe("resolvePath: accepted paths", () => {
  test.each(ok)("%p → %p (slash %p)", (raw, rel, trailingSlash) => {
    expect(resolvePath(raw)).toEqual({ ok: true, rel, trailingSlash });
  });
});

describe("resolvePath: rejected paths", () => {
  test.each(err)("%p → %p %p", (raw, status, code) => {
    expect(resolvePath(raw)).toEqual({ ok: false, status: status as 400, code: code as "PATH_INVALID" });
  });
});

describe("resolvePath: dotfiles", () => {
  test("a dot segment removed by normalisation is not a dotfile", () => {
    expect(resolvePath("/.git/../x")).toEqual({ ok: true, rel: "x", trailingSlash: false });
  });
  test("serveDotfiles allows them", () => {
    expect(resolvePath("/.well-known/acme", true)).toEqual({ ok: true, rel: ".well-known/acme", trailingSlash: false });
    expect(resolvePath("/..a", true)).toEqual({ ok: true, rel: "..a", trailingSlash: false });
  });
  test("serveDotfiles never allows traversal", () => {
    expect(resolvePath("/../x", true)).toMatchObject({ ok: false, code: "PATH_TRAVERSAL" });
  });
});

describe("encodeRelPath", () => {
  test.each([
    ["", ""],
    ["a/b", "a/b"],
    ["hello world/é", "hello%20world/%C3%A9"],
    ["a?b#c", "a%3Fb%23c"],
    ["%2e", "%252e"],
  ])("%p → %p", (rel, enc) => {
    expect(encodeRelPath(rel)).toBe(enc);
  });

  test("round trip through resolvePath", () => {
    for (const rel of ["a b/c", "café/€", "x%y", "q?r"]) {
      expect(resolvePath("/" + encodeRelPath(rel))).toEqual({ ok: true, rel, trailingSlash: false });
    }
  });
});
