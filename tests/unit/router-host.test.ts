import { describe, expect, test } from "bun:test";
import { buildSiteTables, listenKey, normalizeHost } from "../../src/router/host.ts";
import { makeSite } from "./fake-exchange.ts";

describe("normalizeHost", () => {
  const table: [string, string][] = [
    ["example.com", "example.com"],
    ["Example.COM", "example.com"],
    ["example.com:8080", "example.com"],
    ["example.com.", "example.com"],
    ["Example.com.:443", "example.com"],
    ["example.com:", "example.com"],
    ["127.0.0.1:80", "127.0.0.1"],
    ["[::1]", "[::1]"],
    ["[::1]:8080", "[::1]"],
    ["[FE80::1]:80", "[fe80::1]"],
    ["", ""],
    // ASCII only: bytes above 0x7F are never case-mapped
    ["\u00c4.example", "\u00c4.example"],
  ];
  for (const [h, want] of table) test(JSON.stringify(h), () => expect(normalizeHost(h)).toBe(want));
});

describe("listenKey", () => {
  test("host:port, IPv6 without brackets", () => {
    expect(listenKey({ hostname: "0.0.0.0", port: 8080 })).toBe("0.0.0.0:8080");
    expect(listenKey({ hostname: "::1", port: 443 })).toBe("::1:443");
    expect(listenKey({ hostname: "[::1]", port: 443 })).toBe("::1:443");
    expect(listenKey({ hostname: "localhost", port: 0 })).toBe("localhost:0");
  });
});

describe("SiteTable.lookup", () => {
  const A = { hostname: "0.0.0.0", port: 80 };
  const B = { hostname: "::", port: 8443 };
  const exact = makeSite(["example.com", "www.example.com"], [], [A], 0);
  const wild = makeSite(["*.example.com"], [], [A], 1);
  const other = makeSite(["other.test"], [], [A, B], 2);
  const fallback = makeSite([], [], [A], 3);
  const tables = buildSiteTables([exact, wild, other, fallback]);
  const t = tables.get("0.0.0.0:80")!;

  test("one table per listen address", () => {
    expect([...tables.keys()].sort()).toEqual(["0.0.0.0:80", ":::8443"]);
    expect(t.sites).toEqual([exact, wild, other, fallback]);
    expect(tables.get(":::8443")!.sites).toEqual([other]);
  });

  const cases: [string, unknown][] = [
    ["example.com", exact],
    ["EXAMPLE.com:80", exact],
    ["example.com.", exact],
    ["www.example.com", exact], // exact beats wildcard
    ["api.example.com", wild],
    ["API.Example.Com:80", wild],
    ["b.a.example.com", fallback], // one label only
    [".example.com", fallback], // empty label
    ["example.com.evil", fallback],
    ["xexample.com", fallback],
    ["other.test", other],
    ["unknown.test", fallback],
    ["", fallback], // HTTP/1.0 without Host
    ["[::1]:80", fallback],
  ];
  for (const [host, want] of cases) {
    test(`${JSON.stringify(host)} → site ${(want as { index: number }).index}`, () => expect(t.lookup(host)).toBe(want as never));
  }

  test("no default site: null (421 NO_SITE)", () => {
    const t2 = tables.get(":::8443")!;
    expect(t2.lookup("other.test")).toBe(other);
    expect(t2.lookup("example.com")).toBeNull();
    expect(t2.lookup("")).toBeNull();
  });

  test("first site wins on duplicates", () => {
    const s1 = makeSite(["a.test"], [], [A], 0);
    const s2 = makeSite(["a.test", "*.b.test"], [], [A], 1);
    const s3 = makeSite(["*.b.test"], [], [A], 2);
    const d1 = makeSite([], [], [A], 3);
    const d2 = makeSite([], [], [A], 4);
    const tt = buildSiteTables([s1, s2, s3, d1, d2]).get("0.0.0.0:80")!;
    expect(tt.lookup("a.test")).toBe(s1);
    expect(tt.lookup("x.b.test")).toBe(s2);
    expect(tt.lookup("zzz")).toBe(d1);
  });

  test("a wildcard does not match the bare suffix; an exact name does", () => {
    const s = makeSite(["example.org", "*.example.org"], [], [A]);
    const tt = buildSiteTables([s]).get("0.0.0.0:80")!;
    expect(tt.lookup("example.org")).toBe(s);
    expect(tt.lookup("w.example.org")).toBe(s);
    expect(tt.lookup("x.w.example.org")).toBeNull();
  });
});
