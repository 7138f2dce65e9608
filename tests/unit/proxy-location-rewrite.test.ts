import { describe, expect, test } from "bun:test";
import { makeLocationRewriter, upstreamBasePath } from "../../src/proxy/location-rewrite.ts";

describe("makeLocationRewriter (nginx proxy_redirect default)", () => {
  const table: [string, { proto: "http" | "https"; host: string }, string, string][] = [
    // [upstream URL, client origin, Location, expected]
    ["http://u:8000/base/", { proto: "http", host: "clienthost" }, "http://u:8000/base/x", "http://clienthost/x"],
    ["http://u:8000/base", { proto: "http", host: "clienthost" }, "http://u:8000/base/x?y=1#f", "http://clienthost/x?y=1#f"],
    ["http://u:8000/base/", { proto: "https", host: "www.example:8443" }, "http://u:8000/base/", "https://www.example:8443/"],
    ["http://u:8000/base/", { proto: "http", host: "c" }, "http://u:8000/base", "http://c/"],
    ["http://u:8000/base/", { proto: "http", host: "c" }, "http://u:8000/base?q", "http://c/?q"],
    // outside the base path: unchanged (maps to a different resource on the client side)
    ["http://u:8000/base/", { proto: "http", host: "c" }, "http://u:8000/other", "http://u:8000/other"],
    ["http://u:8000/base/", { proto: "http", host: "c" }, "http://u:8000/basement", "http://u:8000/basement"],
    // no base path: origin swapped, path kept byte for byte
    ["http://u:8000", { proto: "http", host: "c" }, "http://u:8000/a%2Fb/../c?x=%20", "http://c/a%2Fb/../c?x=%20"],
    ["http://u:8000/", { proto: "http", host: "c" }, "http://u:8000", "http://c/"],
    ["http://u:8000/", { proto: "http", host: "c" }, "http://u:8000?q", "http://c/?q"],
    // origin comparison: case-insensitive scheme/host, default ports normalised
    ["http://u:8000/", { proto: "http", host: "c" }, "HTTP://U:8000/x", "http://c/x"],
    ["http://u/", { proto: "http", host: "c" }, "http://u:80/x", "http://c/x"],
    ["http://u:80/", { proto: "http", host: "c" }, "http://u/x", "http://c/x"],
    ["https://u/", { proto: "http", host: "c" }, "https://u:443/x", "http://c/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "http://u:08000/x", "http://c/x"],
    ["http://[::1]:8000/", { proto: "http", host: "c" }, "http://[::1]:8000/x", "http://c/x"],
    // other origins: unchanged
    ["http://u:8000/", { proto: "http", host: "c" }, "http://u:8001/x", "http://u:8001/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "https://u:8000/x", "https://u:8000/x"],
    ["http://u/", { proto: "http", host: "c" }, "http://u:443/x", "http://u:443/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "http://other.example/x", "http://other.example/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "http://user@u:8000/x", "http://user@u:8000/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "http://u:8000.evil/x", "http://u:8000.evil/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "http://u.evil:8000/x", "http://u.evil:8000/x"],
    // relative references: unchanged
    ["http://u:8000/base/", { proto: "http", host: "c" }, "/base/x", "/base/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "x/y", "x/y"],
    ["http://u:8000/", { proto: "http", host: "c" }, "?q", "?q"],
    ["http://u:8000/", { proto: "http", host: "c" }, "", ""],
    ["http://u:8000/", { proto: "http", host: "c" }, "mailto:a@u", "mailto:a@u"],
    // scheme-relative to the upstream authority
    ["http://u:8000/base/", { proto: "https", host: "c" }, "//u:8000/base/x", "https://c/x"],
    ["http://u:8000/", { proto: "http", host: "c" }, "//elsewhere/x", "//elsewhere/x"],
    // client sent no Host (HTTP/1.0): relative reference instead
    ["http://u:8000/base/", { proto: "http", host: "" }, "http://u:8000/base/x", "/x"],
  ];
  for (const [up, client, loc, want] of table) {
    test(`${up} | ${client.proto}://${client.host} | ${JSON.stringify(loc)} → ${want}`, () => {
      expect(makeLocationRewriter(new URL(up), client)(loc)).toBe(want);
    });
  }
});

describe("behind strip_prefix (mount)", () => {
  test.each([
    ["http://u:8000", "http://u:8000/login", "http://a/api/login"],
    ["http://u:8000", "http://u:8000/", "http://a/api/"],
    ["http://u:8000/base", "http://u:8000/base/x?y", "http://a/api/x?y"],
    ["http://u:8000", "/relative", "/relative"], // relative references stay as they are
    ["http://u:8000", "http://other/x", "http://other/x"],
  ])("%s | %s → %s", (up, loc, want) => {
    expect(makeLocationRewriter(new URL(up), { proto: "http", host: "a", mount: "/api" })(loc)).toBe(want);
  });
});

describe("upstreamBasePath", () => {
  test.each([
    ["http://u", ""],
    ["http://u/", ""],
    ["http://u/base", "/base"],
    ["http://u/base/", "/base"],
    ["http://u/a/b//", "/a/b"],
  ])("%s → %j", (u, p) => expect(upstreamBasePath(new URL(u))).toBe(p));
});
