import { describe, expect, test } from "bun:test";
import { CidrError, TrustedProxies, displayIp, parseCidr, parseCidrList, parseIp } from "../../src/proxy/cidr.ts";

describe("parseIp", () => {
  const ok: [string, 4 | 6, number[]][] = [
    ["0.0.0.0", 4, [0, 0, 0, 0]],
    ["255.255.255.255", 4, [255, 255, 255, 255]],
    ["10.1.2.3", 4, [10, 1, 2, 3]],
    ["::ffff:10.1.2.3", 4, [10, 1, 2, 3]],
    ["::FFFF:0a01:0203", 4, [10, 1, 2, 3]],
    ["0:0:0:0:0:ffff:1.2.3.4", 4, [1, 2, 3, 4]],
    ["::", 6, Array(16).fill(0)],
    ["::1", 6, [...Array(15).fill(0), 1]],
    ["1::", 6, [0, 1, ...Array(14).fill(0)]],
    ["2001:db8::8a2e:370:7334", 6, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x34]],
    ["2001:DB8:0:0:1:0:0:1", 6, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]],
    ["fe80::1%eth0", 6, [0xfe, 0x80, ...Array(13).fill(0), 1]],
    ["::1.2.3.4", 6, [...Array(12).fill(0), 1, 2, 3, 4]],
    ["1:2:3:4:5:6:7::", 6, [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]],
  ];
  for (const [s, family, bytes] of ok) {
    test(`valid ${s}`, () => {
      const a = parseIp(s);
      expect(a).not.toBeNull();
      expect(a!.family).toBe(family);
      expect(Array.from(a!.bytes)).toEqual(bytes);
    });
  }
  const bad = [
    "", "1.2.3", "1.2.3.4.5", "256.0.0.1", "01.2.3.4", "1.2.3.-4", "1.2.3.4 ", " 1.2.3.4", "a.b.c.d",
    ":", ":::", "1:::2", "1::2::3", "12345::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "g::1", ":1", "1:",
    "1:2:3:4:5:6:7:8::", "::1.2.3", "::1.2.3.4:5", "localhost",
  ];
  for (const s of bad) test(`invalid ${JSON.stringify(s)}`, () => expect(parseIp(s)).toBeNull());
});

describe("parseCidr", () => {
  test("bare addresses are /32 and /128", () => {
    expect(parseCidr("10.0.0.1")).toMatchObject({ family: 4, prefix: 32 });
    expect(parseCidr("::1")).toMatchObject({ family: 6, prefix: 128 });
  });
  test("IPv4-mapped CIDR becomes IPv4", () => {
    expect(parseCidr("::ffff:10.0.0.0/104")).toMatchObject({ family: 4, prefix: 8 });
    expect(parseCidr("::ffff:1.2.3.4")).toMatchObject({ family: 4, prefix: 32 });
  });
  test("surrounding whitespace tolerated", () => {
    expect(parseCidr(" 10.0.0.0/8 ")).toMatchObject({ family: 4, prefix: 8, source: "10.0.0.0/8" });
  });
  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["10.0.0.0/33", /exceeds 32/],
    ["::/129", /exceeds 128/],
    ["10.0.0.0/", /not a number/],
    ["10.0.0.0/08", /not a number/],
    ["10.0.0.0/-1", /not a number/],
    ["10.0.0.0/8/8", /not a number/],
    ["10.0.0.1/8", /host bits.*did you mean 10\.0\.0\.0\/8/],
    ["192.168.1.10/16", /did you mean 192\.168\.0\.0\/16/],
    ["2001:db8::1/32", /did you mean 2001:db8::\/32/],
    ["example.com", /not an IPv4 address/],
    ["fe80::1%eth0/64", /zone/],
    ["1::2::3/64", /not an IPv6 address/],
  ];
  for (const [s, msg] of bad) {
    test(`rejects ${JSON.stringify(s)}`, () => {
      const r = parseCidr(s);
      expect(r).toBeInstanceOf(CidrError);
      expect((r as CidrError).message).toMatch(msg);
      expect((r as CidrError).message).toContain(JSON.stringify(s));
      expect((r as CidrError).code).toBe("CONFIG_BAD_CIDR");
    });
  }
  test("parseCidrList returns the first error", () => {
    expect(parseCidrList(["10.0.0.0/8", "::1"])).toHaveLength(2);
    const e = parseCidrList(["10.0.0.0/8", "nope", "also bad"]);
    expect(e).toBeInstanceOf(CidrError);
    expect((e as CidrError).input).toBe("nope");
  });
});

describe("TrustedProxies", () => {
  const table: [string[], string, boolean][] = [
    [[], "127.0.0.1", false],
    [["127.0.0.1"], "127.0.0.1", true],
    [["127.0.0.1"], "127.0.0.2", false],
    [["10.0.0.0/8"], "10.255.255.255", true],
    [["10.0.0.0/8"], "11.0.0.0", false],
    [["172.16.0.0/12"], "172.31.255.1", true],
    [["172.16.0.0/12"], "172.32.0.1", false],
    [["192.168.1.128/25"], "192.168.1.128", true],
    [["192.168.1.128/25"], "192.168.1.127", false],
    [["0.0.0.0/0"], "8.8.8.8", true],
    [["0.0.0.0/0"], "::1", false], // families are separate
    [["::/0"], "8.8.8.8", false],
    [["::/0"], "2001:db8::1", true],
    [["10.0.0.0/8"], "::ffff:10.1.2.3", true], // mapped peer matches IPv4 CIDR
    [["::ffff:10.0.0.0/104"], "10.9.9.9", true],
    [["2001:db8::/32"], "2001:db8:ffff::1", true],
    [["2001:db8::/32"], "2001:db9::1", false],
    [["2001:db8::/33"], "2001:db8:7fff::1", true],
    [["2001:db8::/33"], "2001:db8:8000::1", false],
    [["::1"], "0:0:0:0:0:0:0:1", true],
    [["fe80::/10"], "fe80::1%eth0", true],
    [["10.0.0.0/8", "::1"], "::1", true],
    [["10.0.0.0/8"], "garbage", false],
    [["10.0.0.0/8"], "", false],
  ];
  for (const [cidrs, ip, want] of table) {
    test(`${JSON.stringify(cidrs)} has ${ip} = ${want}`, () => expect(new TrustedProxies(cidrs).has(ip)).toBe(want));
  }
  test("constructor throws CidrError on a bad entry", () => {
    expect(() => new TrustedProxies(["10.0.0.0/8", "10.0.0.1/8"])).toThrow(CidrError);
  });
  test("none trusts nobody", () => {
    expect(TrustedProxies.none.size).toBe(0);
    expect(TrustedProxies.none.has("127.0.0.1")).toBe(false);
  });
});

describe("displayIp", () => {
  test.each([
    ["::ffff:1.2.3.4", "1.2.3.4"],
    ["::FFFF:1.2.3.4", "1.2.3.4"],
    ["1.2.3.4", "1.2.3.4"],
    ["2001:db8::1", "2001:db8::1"],
    ["::ffff:zzz.1", "::ffff:zzz.1"],
  ])("%s → %s", (a, b) => expect(displayIp(a)).toBe(b));
});
