/**
 * src/config/validate.ts as a table: one config mistake per row → the field path it is reported
 * at and a fragment of the message (which must say what is wrong and how to fix it). The file
 * system is a fake (FsCheck), so every row is pure.
 */
import { describe, expect, test } from "bun:test";
import { validate, type FsCheck, type Problem } from "../../src/config/validate.ts";
import { DEFAULT_TIMEOUTS } from "../../src/config/config.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const fakeFs: FsCheck = {
  dir(abs) {
    if (abs === "/srv/public" || abs === "/srv/docs") return { real: abs };
    if (abs === "/srv/link") return { real: "/srv/public" };
    if (abs === "/srv/file.txt" || abs === "/srv/ca.pem") return { error: "not a directory" };
    return { error: "missing" };
  },
  readFile(abs) {
    if (abs === "/srv/ca.pem") return { text: PEM };
    if (abs === "/srv/file.txt") return { text: "hello\n" };
    return { error: "no such file" };
  },
};
const OPTS = { baseDir: "/srv", fs: fakeFs, cpus: 4, source: "/srv/dreamserver.toml" };

type Raw = Record<string, any>;
/** A valid config: one site, one static route. Each row mutates a fresh copy. */
function base(): Raw {
  return {
    server: { workers: 2 },
    log: { access: "off", format: "text" },
    site: [{ listen: ["127.0.0.1:8080"], hosts: ["example.com"], route: [{ path: "/", static: { root: "public" } }] }],
  };
}
const route = (c: Raw, i = 0): Raw => c.site[0].route[i];

function problemsOf(raw: unknown): Problem[] {
  const r = validate(raw, OPTS);
  return r.ok ? [] : r.problems;
}

test("the base config is valid", () => {
  const r = validate(base(), OPTS);
  expect(r.ok).toBe(true);
  if (!r.ok) return;
  expect(r.warnings).toEqual([]);
  expect(r.config.workers).toBe(2);
  expect(r.config.sites[0]!.routes[0]!.action).toEqual({
    kind: "static",
    static: { root: "/srv/public", index: ["index.html"], serveDotfiles: false, fileCacheMaxFileSize: 1024 * 1024, fileCacheMaxBytes: 64 * 1024 * 1024, fileCacheValidityMs: 0 },
  });
});

// [kind, mutation, expected path, message fragment]
const CASES: [string, (c: Raw) => void, string, string][] = [
  // unknown keys, with did-you-mean
  ["unknown top-level key", (c) => (c.sever = {}), "sever", 'did you mean "server"?'],
  ["unknown route key", (c) => (route(c).strip_prefx = "/a"), "site[0].route[0].strip_prefx", 'did you mean "strip_prefix"?'],
  ["unknown static key", (c) => (route(c).static.dotfile = true), "site[0].route[0].static.dotfile", 'did you mean "dotfiles"?'],
  ["global timeout name in a route", (c) => (route(c).timeouts = { body_idle: "5s" }), "site[0].route[0].timeouts.body_idle", 'did you mean "body"?'],
  ["unknown key without a near name lists the known ones", (c) => (c.log.zzzzzzzz = 1), "log.zzzzzzzz", "known keys here: access, format"],
  // wrong types
  ["workers of the wrong type", (c) => (c.server.workers = true), "server.workers", 'must be a number from 1 to 999 or "auto"'],
  ["listen as a table", (c) => (c.site[0].listen = { a: 1 }), "site[0].listen", "must be a list of address"],
  ["boolean as a string", (c) => (route(c).static.dotfiles = "yes"), "site[0].route[0].static.dotfiles", "must be true or false"],
  ["integer in quotes", (c) => (route(c).static = undefined, (route(c).proxy = { to: ["http://a"], pool_size: "64" })), "site[0].route[0].proxy.pool_size", "write it without quotes: 64"],
  ["section that is not a table", (c) => (c.server = 3), "server", "must be a table"],
  ["site given as a table", (c) => (c.site = c.site[0]), "site", "write [[site]]"],
  ["route given as a table", (c) => (c.site[0].route = c.site[0].route[0]), "site[0].route", "write [[site.route]]"],
  // listen addresses
  ["port out of range", (c) => (c.site[0].listen = ["0.0.0.0:99999"]), "site[0].listen[0]", "port must be a number from 0 to 65535"],
  ["port not a number", (c) => (c.site[0].listen = ["127.0.0.1:http"]), "site[0].listen[0]", "port must be a number"],
  ["unbracketed IPv6", (c) => (c.site[0].listen = ["::1:8080"]), "site[0].listen[0]", "brackets"],
  ["bad listen host", (c) => (c.site[0].listen = ["exa mple:80"]), "site[0].listen[0]", "not an IP address or host name"],
  ["site without listen", (c) => delete c.site[0].listen, "site[0].listen", 'add listen = ["0.0.0.0:8080"]'],
  ["empty listen list", (c) => (c.site[0].listen = []), "site[0].listen", "at least one address"],
  // static roots
  ["missing static root", (c) => (route(c).static.root = "nope"), "site[0].route[0].static.root", '"nope" does not exist (resolved to /srv/nope)'],
  ["static root is a file", (c) => (route(c).static.root = "file.txt"), "site[0].route[0].static.root", "is not a directory"],
  ["static without root", (c) => (route(c).static = {}), "site[0].route[0].static.root", 'add root = "./public"'],
  ["index with a slash", (c) => (route(c).static.index = ["a/index.html"]), "site[0].route[0].static.index[0]", "not a file name"],
  // tls_ca
  ["unreadable tls_ca", (c) => (route(c).static = undefined, (route(c).proxy = { to: "https://b", tls_ca: "missing.pem" })), "site[0].route[0].proxy.tls_ca", "cannot be read (no such file"],
  ["tls_ca that is not PEM", (c) => (route(c).static = undefined, (route(c).proxy = { to: "https://b", tls_ca: "file.txt" })), "site[0].route[0].proxy.tls_ca", "holds no PEM certificate"],
  // duplicate listen + host pairs
  [
    "same host on the same address in two sites",
    (c) => c.site.push({ listen: ["127.0.0.1:8080"], hosts: ["EXAMPLE.com."], route: [{ path: "/", respond: {} }] }),
    "site[1].hosts[0]",
    "already served by site[0]",
  ],
  [
    "two default sites on one address",
    (c) => {
      delete c.site[0].hosts;
      c.site.push({ listen: ["127.0.0.1:8080"], route: [{ path: "/", respond: {} }] });
    },
    "site[1].listen",
    "already the default site (no hosts) of 127.0.0.1:8080",
  ],
  [
    "overlapping addresses on one port",
    (c) => c.site.push({ listen: ["0.0.0.0:8080"], hosts: ["other.com"], route: [{ path: "/", respond: {} }] }),
    "site[1].listen[0]",
    "overlaps 127.0.0.1:8080",
  ],
  // host names
  ["wildcard in the middle", (c) => (c.site[0].hosts = ["foo.*.example.com"]), "site[0].hosts[0]", 'only a leading "*." wildcard'],
  ["wildcard without a dot", (c) => (c.site[0].hosts = ["*example.com"]), "site[0].hosts[0]", 'only a leading "*." wildcard'],
  ["lone star", (c) => (c.site[0].hosts = ["*"]), "site[0].hosts[0]", "leave hosts out"],
  ["host with a port", (c) => (c.site[0].hosts = ["example.com:8080"]), "site[0].hosts[0]", 'write "example.com"'],
  ["host with bad characters", (c) => (c.site[0].hosts = ["exa!mple.com"]), "site[0].hosts[0]", "not a valid host name"],
  // paths
  ["bad regex", (c) => (route(c).path = "~^/(a"), "site[0].route[0].path", "not a valid JavaScript regular expression"],
  ["prefix without a leading slash", (c) => (route(c).path = "api/"), "site[0].route[0].path", 'must start with "/"; write "/api/"'],
  ["exact without a leading slash", (c) => (route(c).path = "=health"), "site[0].route[0].path", 'write "=/health"'],
  ["path with dot segments", (c) => (route(c).path = "/a/../b/"), "site[0].route[0].path", 'normalised path (dot segments removed, unreserved %XX decoded); write "/b/"'],
  ["path with encoded unreserved", (c) => (route(c).path = "/%61pi/"), "site[0].route[0].path", 'write "/api/"'],
  ["path with bad percent-encoding", (c) => (route(c).path = "/a%zz"), "site[0].route[0].path", "malformed percent-encoding"],
  ["path with a query", (c) => (route(c).path = "/a?b=1"), "site[0].route[0].path", "matched without the query"],
  ["missing path", (c) => delete route(c).path, "site[0].route[0].path", "a route needs a path"],
  // strip_prefix
  ["strip_prefix not a prefix", (c) => ((route(c).path = "/api/"), (route(c).strip_prefix = "/v1")), "site[0].route[0].strip_prefix", 'is not a prefix of the route\'s path "/api/"'],
  ["strip_prefix not on a segment boundary", (c) => ((route(c).path = "/api/"), (route(c).strip_prefix = "/ap")), "site[0].route[0].strip_prefix", "is not a prefix"],
  ["strip_prefix without a slash", (c) => (route(c).strip_prefix = "api"), "site[0].route[0].strip_prefix", 'does not start with "/"'],
  // actions
  ["no action", (c) => delete route(c).static, "site[0].route[0]", "the route has no action; add one of proxy"],
  ["two actions", (c) => (route(c).redirect = { to: "https://x/" }), "site[0].route[0].redirect", "exactly one action, this one has static and redirect"],
  ["bad redirect status", (c) => (c.site[0].route = [{ path: "/", redirect: { to: "https://x{uri}", status: 305 } }]), "site[0].route[0].redirect.status", "use one of 301, 302, 303, 307, 308"],
  ["redirect without a target", (c) => (c.site[0].route = [{ path: "/", redirect: {} }]), "site[0].route[0].redirect.to", "a redirect needs a target"],
  ["redirect target with a space", (c) => (c.site[0].route = [{ path: "/", redirect: { to: "https://x/a b" } }]), "site[0].route[0].redirect.to", "percent-encode"],
  // proxy URLs
  ["proxy scheme", (c) => (c.site[0].route = [{ path: "/", proxy: { to: ["ftp://x"] } }]), "site[0].route[0].proxy.to[0]", "only http:// and https://"],
  ["proxy credentials", (c) => (c.site[0].route = [{ path: "/", proxy: { to: ["http://u:p@x"] } }]), "site[0].route[0].proxy.to[0]", "credentials in the URL are not supported"],
  ["proxy query", (c) => (c.site[0].route = [{ path: "/", proxy: { to: ["http://x/?a=1"] } }]), "site[0].route[0].proxy.to[0]", "cannot carry a query or fragment"],
  ["proxy not a URL", (c) => (c.site[0].route = [{ path: "/", proxy: { to: ["not a url"] } }]), "site[0].route[0].proxy.to[0]", "is not a URL"],
  ["proxy without to", (c) => (c.site[0].route = [{ path: "/", proxy: {} }]), "site[0].route[0].proxy.to", "a proxy needs a backend"],
  [
    "the same backend twice in an inline group",
    (c) => (c.site[0].route = [{ path: "/", proxy: { to: ["http://a", "http://a/"] } }]),
    "site[0].route[0].proxy.to[1]",
    "is already site[0].route[0].proxy.to[0]; list each server once",
  ],
  ["bad trusted proxy", (c) => (c.site[0].route = [{ path: "/", proxy: { to: "http://a", trusted_proxies: ["10.0.0.1/8"] } }]), "site[0].route[0].proxy.trusted_proxies[0]", "is not an IP or CIDR"],
  ["bad host_header", (c) => (c.site[0].route = [{ path: "/", proxy: { to: "http://a", host_header: "upstrem" } }]), "site[0].route[0].proxy.host_header", 'did you mean "upstream"?'],
  ["follow_redirects out of range", (c) => (c.site[0].route = [{ path: "/", proxy: { to: "http://a", follow_redirects: 100 } }]), "site[0].route[0].proxy.follow_redirects", "from 0 to 99"],
  // methods
  ["method that is not a token", (c) => (route(c).methods = ["GE T"]), "site[0].route[0].methods[0]", "not a method name"],
  ["empty methods list", (c) => (route(c).methods = []), "site[0].route[0].methods", "never matches"],
  // header names and values
  ["bad header name in a match", (c) => (route(c).headers = { "X Canary": "1" }), 'site[0].route[0].headers["X Canary"]', "is not a header name"],
  ["header match value with a newline", (c) => (route(c).headers = { "X-Canary": "1\n2" }), "site[0].route[0].headers.X-Canary", "can never match"],
  ["header match value not a string", (c) => (route(c).headers = { "X-Canary": 1 }), "site[0].route[0].headers.X-Canary", "put it in quotes"],
  ["bad header name in a rule", (c) => (route(c).request_headers = { set: { "Bad:Name": "x" } }), 'site[0].route[0].request_headers.set["Bad:Name"]', "is not a header name"],
  ["header rule value with CR LF", (c) => (route(c).response_headers = { add: { "X-A": "a\r\nX-B: b" } }), "site[0].route[0].response_headers.add.X-A", "not a valid header value"],
  ["bad name to remove", (c) => (route(c).response_headers = { remove: ["a b"] }), "site[0].route[0].response_headers.remove[0]", "is not a header name"],
  ["unknown key in header rules", (c) => (route(c).response_headers = { sett: {} }), "site[0].route[0].response_headers.sett", 'did you mean "set"?'],
  // placeholders
  ["unknown placeholder in a header value", (c) => (route(c).request_headers = { set: { "X-Host": "{hots}" } }), "site[0].route[0].request_headers.set.X-Host", "unknown placeholder {hots}; did you mean {host}?"],
  ["unknown placeholder in a redirect", (c) => (c.site[0].route = [{ path: "/", redirect: { to: "https://x/{reqeust_id}" } }]), "site[0].route[0].redirect.to", "did you mean {request_id}?"],
  ["unclosed brace", (c) => (c.site[0].route = [{ path: "/", redirect: { to: "https://x/{path" } }]), "site[0].route[0].redirect.to", 'unclosed "{"'],
  ["unknown placeholder kind", (c) => (route(c).response_headers = { set: { "X-A": "{heder.x}" } }), "site[0].route[0].response_headers.set.X-A", "did you mean {header.NAME}?"],
  // sizes and durations
  ["bad size", (c) => (c.limits = { max_body_size: "lots" }), "limits.max_body_size", 'is not a size; use bytes or a k/m/g suffix, e.g. "10m"'],
  ["size too small", (c) => (c.limits = { max_output_memory: "1k" }), "limits.max_output_memory", 'use at least "1m"'],
  ["negative size", (c) => (route(c).max_body_size = -1), "site[0].route[0].max_body_size", "is not a size"],
  ["bad duration", (c) => (c.timeouts = { header: "soon" }), "timeouts.header", 'is not a duration; use e.g. "500ms"'],
  ["zero duration", (c) => (c.timeouts = { shutdown: "0s" }), "timeouts.shutdown", "must be more than 0"],
  ["bad route duration", (c) => (route(c).timeouts = { upstream: "1 minute" }), "site[0].route[0].timeouts.upstream", "is not a duration"],
  ["bad cache_validity", (c) => (route(c).static.cache_validity = "-1s"), "site[0].route[0].static.cache_validity", "is not a duration"],
  // server
  ["workers out of range", (c) => (c.server.workers = 1000), "server.workers", 'from 1 to 999 or "auto"'],
  ["workers zero", (c) => (c.server.workers = 0), "server.workers", 'from 1 to 999 or "auto"'],
  ["max_requests_per_connection zero", (c) => (c.server.max_requests_per_connection = 0), "server.max_requests_per_connection", "out of range"],
  ["server_name with a newline", (c) => (c.server.server_name = "a\nb"), "server.server_name", "not a valid Server field value"],
  ["empty access log", (c) => (c.log.access = ""), "log.access", '"-" for stdout or "off"'],
  // sites and routes
  ["empty sites list", (c) => (c.site = []), "site", "no sites; add at least one [[site]]"],
  ["no sites at all", (c) => delete c.site, "site", "no sites"],
  ["site without routes", (c) => (c.site[0].route = []), "site[0].route", "a site needs at least one route"],
  ["site without route key", (c) => delete c.site[0].route, "site[0].route", "at least one route"],
  // log
  ["log format", (c) => (c.log.format = "xml"), "log.format", 'must be "text" or "json"'],
  ["request rule on a framing field", (c) => (route(c).request_headers = { set: { "Content-Length": "5" } }), "site[0].route[0].request_headers.set.Content-Length", "cannot be changed by a header rule"],
  ["request rule removing Host", (c) => (route(c).request_headers = { remove: ["Host"] }), "site[0].route[0].request_headers.remove[0]", "cannot be removed"],
  ["response rule on Server", (c) => (route(c).response_headers = { set: { Server: "x" } }), "site[0].route[0].response_headers.set.Server", "server_name"],
  ["response rule removing Date", (c) => (route(c).response_headers = { remove: ["Date"] }), "site[0].route[0].response_headers.remove[0]", "writes Date on every response"],
  // respond
  ["respond status too low", (c) => (c.site[0].route = [{ path: "/", respond: { status: 101 } }]), "site[0].route[0].respond.status", "use a number from 200 to 599"],
  ["respond status too high", (c) => (c.site[0].route = [{ path: "/", respond: { status: 600 } }]), "site[0].route[0].respond.status", "from 200 to 599"],
  ["respond 204 with a body", (c) => (c.site[0].route = [{ path: "/", respond: { status: 204, body: "x" } }]), "site[0].route[0].respond.body", "a 204 response has no body"],
  ["respond framing header", (c) => (c.site[0].route = [{ path: "/", respond: { headers: { "Content-Length": "3" } } }]), "site[0].route[0].respond.headers.Content-Length", "set by the server"],
];

describe("each mistake is reported at its field with a how-to-fix message", () => {
  test("the table covers at least 20 kinds", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(20);
  });
  test.each(CASES)("%s", (_name, mutate, path, fragment) => {
    const c = base();
    mutate(c);
    const problems = problemsOf(c);
    const at = problems.filter((p) => p.path === path);
    expect(at.length, `no problem at ${path}; got ${JSON.stringify(problems)}`).toBeGreaterThan(0);
    expect(at.map((p) => p.message).join("\n")).toContain(fragment);
    // The contract of every message: "what is wrong; how to fix it".
    for (const p of problems) expect(p.message, `${p.path}: ${p.message}`).toMatch(/\S; \S/);
  });
});

describe("several problems are all reported", () => {
  test("one per field, in one pass", () => {
    const c = base();
    c.server.workers = 0;
    c.log.format = "xml";
    route(c).path = "api";
    c.site[0].listen = ["99999"];
    const paths = problemsOf(c).map((p) => p.path);
    expect(paths).toEqual(expect.arrayContaining(["server.workers", "log.format", "site[0].route[0].path", "site[0].listen[0]"]));
  });
  test("a non-object file", () => {
    expect(problemsOf([1, 2])[0]).toMatchObject({ path: "", message: expect.stringContaining("must be a table") });
  });
});

describe("shadowed routes are warnings, not errors", () => {
  test('prefix "/" before "/api/"', () => {
    const c = base();
    c.site[0].route = [
      { path: "/", static: { root: "public" } },
      { path: "/api/", proxy: { to: "http://127.0.0.1:3000" } },
    ];
    const r = validate(c, OPTS);
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([{ path: "site[0].route[1]", message: expect.stringContaining('never matches: route[0] (path "/")') }]);
  });
  test("a method condition on the earlier route: no warning", () => {
    const c = base();
    c.site[0].route = [
      { path: "/", methods: ["GET"], static: { root: "public" } },
      { path: "/api/", proxy: { to: "http://127.0.0.1:3000" } },
    ];
    const r = validate(c, OPTS);
    expect(r.ok && r.warnings).toEqual([]);
  });
});

describe("values", () => {
  test("hosts are lowercased and lose a trailing dot; methods uppercased; header match names lowercased", () => {
    const c = base();
    c.site[0].hosts = ["Example.COM.", "*.Example.com"];
    route(c).methods = ["get", "GET", "post"];
    route(c).headers = { "X-Canary": "1" };
    const r = validate(c, OPTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.sites[0]!.hosts).toEqual(["example.com", "*.example.com"]);
    expect(r.config.sites[0]!.routes[0]!.methods).toEqual(["GET", "POST"]);
    expect(r.config.sites[0]!.routes[0]!.headers).toEqual([["x-canary", "1"]]);
  });
  test("route limits override the global ones; the rest follow [timeouts]", () => {
    const c = base();
    c.timeouts = { body_idle: "20s", upstream_header: "30s" };
    c.limits = { max_body_size: "10m" };
    route(c).timeouts = { body: "5s" };
    c.site[0].route.push({ path: "/b/", max_body_size: "1k", static: { root: "public" } });
    const r = validate(c, OPTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const [r0, r1] = r.config.sites[0]!.routes;
    expect(r0!.timeouts).toEqual({ ...DEFAULT_TIMEOUTS, bodyIdleMs: 5000, upstreamHeaderMs: 30_000 });
    expect(r0!.maxBodySize).toBe(10 * 1024 * 1024);
    expect(r1!.timeouts.bodyIdleMs).toBe(20_000);
    expect(r1!.maxBodySize).toBe(1024);
  });
  test.each([
    [1, 1],
    [2, 1],
    [3, 3],
    [8, 8],
  ])('workers = "auto" on %d CPUs is %d (one process on a 1- or 2-CPU machine; see src/config/auto-workers.ts)', (cpus, want) => {
    const c = base();
    c.server.workers = "auto";
    const r = validate(c, { ...OPTS, cpus });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.workers).toBe(want);
  });

  test('workers = "auto" is the CPU count; relative paths resolve against the config directory', () => {
    const c = base();
    c.server.workers = "auto";
    c.log.access = "logs/access.log";
    route(c).static.root = "link";
    const r = validate(c, OPTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.workers).toBe(4);
    expect(r.config.accessLog).toBe("/srv/logs/access.log");
    expect((r.config.sites[0]!.routes[0]!.action as any).static.root).toBe("/srv/public");
  });
  test("proxy options", () => {
    const c = base();
    c.site[0].route = [
      {
        path: "/",
        proxy: { to: "https://b:8443/base", host_header: "upstream", trusted_proxies: ["10.0.0.0/8"], follow_redirects: 2, pool_size: 8, tls_verify: false, tls_ca: "ca.pem", underscores_in_headers: true },
      },
    ];
    const r = validate(c, OPTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const p = (r.config.sites[0]!.routes[0]!.action as any).proxy;
    expect({ ...p, url: p.url.href, group: undefined }).toEqual({
      url: "https://b:8443/base",
      rewriteHost: true,
      trustedProxies: ["10.0.0.0/8"],
      followRedirects: 2,
      poolSize: 8,
      tlsVerify: false,
      tlsCa: PEM,
      tlsCaFile: "/srv/ca.pem",
      underscoresInHeaders: true,
    });
  });
});
