/**
 * ip_allow / ip_deny (src/middleware/ip-rules) and the client address behind trusted proxies
 * (src/middleware/client-address.ts), as tables: CIDR matching for v4 and v6, IPv4-mapped IPv6
 * against IPv4 rules, deny before allow, and X-Forwarded-For read right to left.
 */
import { describe, expect, test } from "bun:test";
import { clientAddress } from "../../src/middleware/client-address.ts";
import { ipAllowed, ipRules } from "../../src/middleware/ip-rules/index.ts";
import { parseCidrList, TrustedProxies, type Cidr } from "../../src/proxy/cidr.ts";
import { FakeExchange } from "./fake-exchange.ts";

const L = (xs: string[]): Cidr[] => parseCidrList(xs) as Cidr[];

// [client, allow, deny, allowed?]
const CASES: [string, string[] | null, string[] | null, boolean][] = [
  ["10.1.2.3", ["10.0.0.0/8"], null, true],
  ["11.1.2.3", ["10.0.0.0/8"], null, false],
  ["10.255.255.255", ["10.0.0.0/8"], null, true],
  ["192.168.1.1", ["192.168.1.0/31"], null, true],
  ["192.168.1.2", ["192.168.1.0/31"], null, false],
  ["203.0.113.9", ["203.0.113.9"], null, true], // bare address = /32
  ["203.0.113.10", ["203.0.113.9"], null, false],
  ["1.2.3.4", ["0.0.0.0/0"], null, true],
  ["2001:db8::1", ["2001:db8::/32"], null, true],
  ["2001:db9::1", ["2001:db8::/32"], null, false],
  ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", ["2001:db8::/32"], null, true],
  ["::1", ["::1"], null, true],
  ["fe80::1%eth0", ["fe80::/10"], null, true], // zone ignored for matching
  // families never cross, except IPv4-mapped IPv6
  ["10.1.2.3", ["::/0"], null, false],
  ["2001:db8::1", ["0.0.0.0/0"], null, false],
  ["::ffff:10.1.2.3", ["10.0.0.0/8"], null, true],
  ["::ffff:11.1.2.3", ["10.0.0.0/8"], null, false],
  ["10.1.2.3", ["::ffff:10.0.0.0/104"], null, true],
  ["::ffff:10.1.2.3", null, ["10.0.0.0/8"], false],
  // deny first, then allow
  ["10.0.0.5", ["10.0.0.0/8"], ["10.0.0.0/24"], false],
  ["10.0.1.5", ["10.0.0.0/8"], ["10.0.0.0/24"], true],
  ["8.8.8.8", null, ["10.0.0.0/8"], true],
  ["10.8.8.8", null, ["10.0.0.0/8", "2001:db8::/32"], false],
  ["2001:db8::5", null, ["10.0.0.0/8", "2001:db8::/32"], false],
  // a peer that is no address is refused
  ["", null, ["10.0.0.0/8"], false],
  ["not-an-ip", ["0.0.0.0/0"], null, false],
];

describe("ipAllowed", () => {
  test.each(CASES)("%s allow=%j deny=%j → %p", (ip, allow, deny, want) => {
    expect(ipAllowed(ip, allow && L(allow), deny && L(deny))).toBe(want);
  });
});

// [peer, X-Forwarded-For fields, trusted, client]
const XFF: [string, string[], string[], string][] = [
  ["198.51.100.1", ["203.0.113.5"], [], "198.51.100.1"], // no trusted proxies: the peer
  ["198.51.100.1", ["203.0.113.5"], ["10.0.0.0/8"], "198.51.100.1"], // untrusted peer: header ignored
  ["10.0.0.2", ["203.0.113.5"], ["10.0.0.0/8"], "203.0.113.5"],
  ["10.0.0.2", ["6.6.6.6, 203.0.113.5, 10.0.0.3"], ["10.0.0.0/8"], "203.0.113.5"], // rightmost untrusted
  ["10.0.0.2", ["6.6.6.6", "203.0.113.5"], ["10.0.0.0/8"], "203.0.113.5"], // several fields
  ["10.0.0.2", ["10.0.0.9, 10.0.0.3"], ["10.0.0.0/8"], "10.0.0.9"], // all trusted: the leftmost
  ["10.0.0.2", ["garbage, 203.0.113.5"], ["10.0.0.0/8"], "203.0.113.5"],
  ["10.0.0.2", ["203.0.113.5, garbage"], ["10.0.0.0/8"], "10.0.0.2"], // the walk stops at the last believed
  ["10.0.0.2", ["::ffff:203.0.113.5"], ["10.0.0.0/8"], "203.0.113.5"],
  ["10.0.0.2", [], ["10.0.0.0/8"], "10.0.0.2"],
];

describe("clientAddress", () => {
  test.each(XFF)("peer %s, XFF %j, trusted %j → %s", (peer, xff, trusted, want) => {
    const ex = new FakeExchange({ clientIp: peer, headers: xff.map((v) => ["X-Forwarded-For", v] as [string, string]) });
    expect(clientAddress(ex, new TrustedProxies(trusted))).toBe(want);
  });
});

describe("ipRules middleware", () => {
  test("403 IP_DENIED, and the handler runs for allowed clients (last answer cached per address)", () => {
    let ran = 0;
    const h = ipRules({ allow: ["10.0.0.0/8"], deny: null }, TrustedProxies.none)(() => ran++);
    for (const [ip, ok] of [["10.0.0.1", true], ["10.0.0.1", true], ["192.0.2.1", false], ["192.0.2.1", false], ["10.9.9.9", true]] as const) {
      const ex = new FakeExchange({ clientIp: ip });
      const before = ran;
      h(ex);
      if (ok) expect(ran).toBe(before + 1);
      else expect([ex.status, ex.errorCode, ran]).toEqual([403, "IP_DENIED", before]);
    }
  });

  test("behind a trusted proxy the forwarded client is judged", () => {
    const h = ipRules({ allow: null, deny: ["203.0.113.0/24"] }, new TrustedProxies(["127.0.0.1"]))(() => {});
    const ex = new FakeExchange({ clientIp: "127.0.0.1", headers: [["X-Forwarded-For", "203.0.113.7"]] });
    h(ex);
    expect(ex.status).toBe(403);
  });
});
