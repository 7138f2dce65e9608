/**
 * Config keys of issue 12 (limits.max_connections*, ip_allow, ip_deny, rate_limit, basic_auth,
 * forward_authorization, forward_auth, security_headers): the typed result, one mistake per row
 * → field path and message, and the --print-config round trip.
 */
import { describe, expect, test } from "bun:test";
import { loadConfigText } from "../../src/config/load.ts";
import { printConfig } from "../../src/config/print.ts";
import { validate, type FsCheck, type Problem } from "../../src/config/validate.ts";

const fakeFs: FsCheck = { dir: (abs) => ({ real: abs }), readFile: () => ({ error: "no such file" }) };
const OPTS = { baseDir: "/srv", fs: fakeFs, cpus: 4, source: "/srv/dreamserver.toml" };
const HASH = "$argon2id$v=19$m=65536,t=2,p=1$hy9Nt9zjri9CbQn8WxuGXzAnrMzNDvIwF1/yEfYrLVY$u1+Mp0QV+O1bC6iPZ/IeGBfBoUHkwTM5Kfs2V/AkVPc";
const BCRYPT = "$2b$10$ZLpBmjnF6jAmM.Ws5qybOeibjOI9oUDVx5xSkmAiyk/9hOqEin/B2";

type Raw = Record<string, any>;
function base(): Raw {
  return { server: { workers: 1 }, log: { access: "off" }, site: [{ listen: ["127.0.0.1:8080"], route: [{ path: "/", respond: { status: 200 } }] }] };
}
const route = (c: Raw): Raw => c.site[0].route[0];
const problemsOf = (raw: unknown): Problem[] => {
  const r = validate(raw, OPTS);
  return r.ok ? [] : r.problems;
};

test("every key, typed", () => {
  const c = base();
  c.limits = { max_connections: 500, max_connections_per_ip: 16 };
  Object.assign(route(c), {
    ip_allow: ["10.0.0.0/8", "2001:db8::/32"],
    ip_deny: ["10.9.0.0/16"],
    rate_limit: { rate: "100/s", burst: 200, key: "{remote_ip}" },
    basic_auth: { realm: "admin", users: { alice: HASH, bob: BCRYPT } },
    forward_auth: { url: "http://127.0.0.1:9000/check", copy_headers: ["X-User"] },
    security_headers: true,
  });
  const r = validate(c, OPTS);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  expect(r.config.limits.maxConnections).toBe(500);
  expect(r.config.limits.maxConnectionsPerIp).toBe(16);
  const a = r.config.sites[0]!.routes[0]!.access!;
  expect(a.ipAllow).toEqual(["10.0.0.0/8", "2001:db8::/32"]);
  expect(a.ipDeny).toEqual(["10.9.0.0/16"]);
  expect({ ...a.rateLimit!, key: a.rateLimit!.key.source }).toEqual({ count: 100, periodMs: 1000, burst: 200, key: "{remote_ip}", maxKeys: 100_000 });
  expect(a.basicAuth).toEqual({ realm: "admin", users: [["alice", HASH], ["bob", BCRYPT]], failCount: 10, failPeriodMs: 60_000 });
  expect(a.forwardAuthorization).toBe(false);
  expect({ ...a.forwardAuth!, url: a.forwardAuth!.url.href }).toEqual({ url: "http://127.0.0.1:9000/check", copyHeaders: ["X-User"], timeoutMs: 5000 });
  expect(a.securityHeaders).toEqual({ csp: false });
});

test("defaults: no access keys → no access; burst = N of rate; limits 10000 / 0", () => {
  const r = validate(base(), OPTS);
  if (!r.ok) throw new Error("invalid");
  expect(r.config.sites[0]!.routes[0]!.access).toBeUndefined();
  expect([r.config.limits.maxConnections, r.config.limits.maxConnectionsPerIp]).toEqual([10_000, 0]);
  const c = base();
  route(c).rate_limit = { rate: "30/m" };
  const r2 = validate(c, OPTS);
  expect(r2.ok && r2.config.sites[0]!.routes[0]!.access!.rateLimit!.burst).toBe(30);
});

// [name, mutation, path, message fragment]
const CASES: [string, (c: Raw) => void, string, string][] = [
  ["max_connections 0", (c) => (c.limits = { max_connections: 0 }), "limits.max_connections", "out of range"],
  ["max_connections_per_ip as a string", (c) => (c.limits = { max_connections_per_ip: "10" }), "limits.max_connections_per_ip", "without quotes"],
  ["ip_allow bad CIDR", (c) => (route(c).ip_allow = ["10.0.0.1/8"]), "site[0].route[0].ip_allow[0]", "did you mean 10.0.0.0/8?"],
  ["ip_deny not an IP", (c) => (route(c).ip_deny = ["example.com"]), "site[0].route[0].ip_deny[0]", "is not an IP or CIDR"],
  ["ip_allow empty", (c) => (route(c).ip_allow = []), "site[0].route[0].ip_allow", "is empty"],
  ["rate without unit", (c) => (route(c).rate_limit = { rate: "100" }), "site[0].route[0].rate_limit.rate", '"N/s", "N/m" or "N/h"'],
  ["rate missing", (c) => (route(c).rate_limit = { burst: 5 }), "site[0].route[0].rate_limit.rate", 'add rate = "100/s"'],
  ["rate 0", (c) => (route(c).rate_limit = { rate: "0/s" }), "site[0].route[0].rate_limit.rate", "is not a rate"],
  ["burst 0", (c) => (route(c).rate_limit = { rate: "1/s", burst: 0 }), "site[0].route[0].rate_limit.burst", "out of range"],
  ["unknown placeholder in key", (c) => (route(c).rate_limit = { rate: "1/s", key: "{remote_addr}" }), "site[0].route[0].rate_limit.key", "remote_ip"],
  ["unknown rate_limit key", (c) => (route(c).rate_limit = { rate: "1/s", brust: 3 }), "site[0].route[0].rate_limit.brust", 'did you mean "burst"?'],
  ["basic_auth without users", (c) => (route(c).basic_auth = { realm: "x" }), "site[0].route[0].basic_auth.users", "hash-password"],
  ["basic_auth plaintext password", (c) => (route(c).basic_auth = { users: { alice: "secret" } }), "site[0].route[0].basic_auth.users.alice", "not an argon2 or bcrypt hash"],
  ["basic_auth user with a colon", (c) => (route(c).basic_auth = { users: { "a:b": HASH } }), 'site[0].route[0].basic_auth.users["a:b"]', "no colon"],
  ["basic_auth realm with a quote", (c) => (route(c).basic_auth = { realm: 'a"b', users: { alice: HASH } }), "site[0].route[0].basic_auth.realm", "without quotes"],
  ["basic_auth fail_rate", (c) => (route(c).basic_auth = { users: { alice: HASH }, fail_rate: "often" }), "site[0].route[0].basic_auth.fail_rate", "is not a rate"],
  ["forward_auth without url", (c) => (route(c).forward_auth = {}), "site[0].route[0].forward_auth.url", "add url ="],
  ["forward_auth https", (c) => (route(c).forward_auth = { url: "https://auth.example/check" }), "site[0].route[0].forward_auth.url", "plain http://"],
  ["forward_auth copies Content-Length", (c) => (route(c).forward_auth = { url: "http://127.0.0.1:9/", copy_headers: ["Content-Length"] }), "site[0].route[0].forward_auth.copy_headers[0]", "cannot be copied"],
  ["forward_auth timeout 0", (c) => (route(c).forward_auth = { url: "http://127.0.0.1:9/", timeout: "0s" }), "site[0].route[0].forward_auth.timeout", "more than 0"],
  ["security_headers string", (c) => (route(c).security_headers = "yes"), "site[0].route[0].security_headers", "must be a table"],
  ["security_headers unknown key", (c) => (route(c).security_headers = { cps: true }), "site[0].route[0].security_headers.cps", 'did you mean "csp"?'],
  ["forward_authorization string", (c) => (route(c).forward_authorization = "yes"), "site[0].route[0].forward_authorization", "true or false"],
];

describe("mistakes", () => {
  test.each(CASES)("%s", (_n, mutate, path, fragment) => {
    const c = base();
    mutate(c);
    const ps = problemsOf(c);
    const p = ps.find((x) => x.path === path);
    expect(p, `no problem at ${path}; got ${JSON.stringify(ps)}`).toBeDefined();
    expect(p!.message).toContain(fragment);
  });
});

test("--print-config round trip with every key", () => {
  const text = `
[limits]
max_connections = 300
max_connections_per_ip = 8

[[site]]
listen = ["127.0.0.1:8080"]

[[site.route]]
path = "/api/"
ip_allow = ["10.0.0.0/8", "2001:db8::/32"]
ip_deny = ["10.1.0.0/16"]
rate_limit = { rate = "100/s", burst = 200, key = "{remote_ip}:{header.X-Key}", max_keys = 5000 }
basic_auth = { realm = "admin", users = { alice = "${HASH}", bob = "${BCRYPT}" }, fail_rate = "5/h" }
forward_authorization = true
forward_auth = { url = "http://127.0.0.1:9000/check", copy_headers = ["X-User"], timeout = "2s" }
security_headers = { csp = true }
respond = { status = 200 }

[[site.route]]
path = "/"
security_headers = true
respond = { status = 204 }
`;
  const first = loadConfigText(text, "/srv/a.toml", { fs: fakeFs, cpus: 1 });
  if (!first.ok) throw new Error(JSON.stringify(first.problems));
  const printed = printConfig(first.config);
  expect(printed).toContain("max_connections = 300");
  expect(printed).toContain('rate_limit = { rate = "100/s", burst = 200, key = "{remote_ip}:{header.X-Key}", max_keys = 5000 }');
  const again = loadConfigText(printed, "/srv/a.toml", { fs: fakeFs, cpus: 1 });
  if (!again.ok) throw new Error(JSON.stringify(again.problems));
  expect(printConfig(again.config).split("\n").slice(1)).toEqual(printed.split("\n").slice(1));
  expect(again.config.sites[0]!.routes[0]!.access!.basicAuth).toEqual(first.config.sites[0]!.routes[0]!.access!.basicAuth);
  expect(again.config.sites[0]!.routes[1]!.access!.securityHeaders).toEqual({ csp: false });
});
