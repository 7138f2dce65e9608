/**
 * HTTPS config: `tls = { cert, key }` and `redirect_https` through the real validator, with the
 * real file system and the test certificates in tests/fixtures/tls (one problem per row), plus
 * the pure helpers: the pair check, the redirect Location, the https port, SNI site choice.
 */
import { describe, expect, test } from "bun:test";
import path from "node:path";
import fs from "node:fs";
import { validate, type Problem } from "../../src/config/validate.ts";
import { nodeFs } from "../../src/config/load.ts";
import { checkPair } from "../../src/tls/check-pair.ts";
import { httpsLocation, isAcmeChallenge } from "../../src/handlers/redirect-https.ts";
import { httpsPortFor } from "../../src/runtime.ts";
import { ListenerTls } from "../../src/tls/listener-tls.ts";
import { buildSiteTables } from "../../src/router/index.ts";
import { configToRaw } from "../../src/config/print.ts";
import { renewalDue } from "../../src/acme/manager.ts";

const DIR = path.resolve(import.meta.dir, "../fixtures/tls");
const OPTS = { baseDir: DIR, fs: nodeFs, cpus: 1, source: path.join(DIR, "test.toml") };
const read = (f: string): string => fs.readFileSync(path.join(DIR, f), "utf8");

type Raw = Record<string, any>;
const route = [{ path: "/", respond: { body: "x" } }];
function base(): Raw {
  return {
    log: { access: "off" },
    site: [
      { listen: ["127.0.0.1:8443"], hosts: ["a.example"], tls: { cert: "a.crt", key: "a.key" }, route },
      { listen: ["127.0.0.1:8443"], hosts: ["b.example"], tls: { cert: "b.crt", key: "b.key" }, route },
      { listen: ["127.0.0.1:8080"], hosts: ["a.example", "b.example"], redirect_https: true, route },
    ],
  };
}
function problemsOf(raw: unknown): Problem[] {
  const r = validate(raw, OPTS);
  return r.ok ? [] : r.problems;
}

test("two TLS sites on one address and a redirecting plain site are valid", () => {
  const r = validate(base(), OPTS);
  expect(r.ok).toBe(true);
  if (!r.ok) return;
  expect(r.warnings).toEqual([]);
  const [a, b, plain] = r.config.sites;
  expect(a!.tls!.certFile).toBe(path.join(DIR, "a.crt"));
  expect(a!.tls!.cert).toBe(read("a.crt"));
  expect(b!.tls!.keyFile).toBe(path.join(DIR, "b.key"));
  expect(plain!.tls).toBeUndefined();
  expect(plain!.redirectHttps).toBe(true);
  // --print-config writes the keys back
  const printed = configToRaw(r.config).site as Raw[];
  expect(printed[0]!.tls).toEqual({ cert: path.join(DIR, "a.crt"), key: path.join(DIR, "a.key") });
  expect(printed[2]!.redirect_https).toBe(true);
  expect("tls" in printed[2]!).toBe(false);
});

// [what, mutation, path, message fragment]
const CASES: [string, (c: Raw) => void, string, string][] = [
  ["unreadable cert", (c) => (c.site[0].tls.cert = "missing.crt"), "site[0].tls.cert", "cannot be read"],
  ["unreadable key", (c) => (c.site[0].tls.key = "missing.key"), "site[0].tls.key", "cannot be read"],
  ["cert is not PEM", (c) => (c.site[0].tls.cert = "README.md"), "site[0].tls.cert", "holds no PEM certificate"],
  ["key is not PEM", (c) => (c.site[0].tls.key = "a.crt"), "site[0].tls.key", "holds no PEM private key"],
  ["key of another certificate", (c) => (c.site[0].tls.key = "b.key"), "site[0].tls.key", "does not belong to the certificate"],
  ["cert missing", (c) => delete c.site[0].tls.cert, "site[0].tls.cert", "tls needs both cert and key"],
  ["key missing", (c) => delete c.site[0].tls.key, "site[0].tls.key", "tls needs both cert and key"],
  ["unknown key in tls", (c) => (c.site[0].tls.certificate = "a.crt"), "site[0].tls.certificate", "unknown key"],
  ["tls not a table", (c) => (c.site[0].tls = "a.crt"), "site[0].tls", "must be a table"],
  ["tls = auto without hosts", (c) => ((c.site[0].tls = "auto"), (c.site[0].hosts = [])), "site[0].tls", "needs host names"],
  ["tls = auto with a wildcard", (c) => ((c.site[0].tls = "auto"), (c.site[0].hosts = ["*.a.example"])), "site[0].hosts[0]", "DNS-01"],
  ["acme.directory not https", (c) => (c.acme = { directory: "http://ca/dir" }), "acme.directory", "not an https:// URL"],
  ["acme.email not an address", (c) => (c.acme = { email: "ops" }), "acme.email", "not an e-mail address"],
  ["acme.ca unreadable", (c) => (c.acme = { ca: "nope.pem" }), "acme.ca", "cannot be read"],
  ["acme unknown key", (c) => (c.acme = { dir: "x" }), "acme.dir", "unknown key"],
  ["TLS and plain on one address", (c) => (c.site[2].listen = ["127.0.0.1:8443"]), "site[2].listen", "mixes TLS and plain-HTTP sites"],
  ["redirect_https on a TLS site", (c) => (c.site[0].redirect_https = true), "site[0].redirect_https", "already serves HTTPS"],
  ["redirect_https not a bool", (c) => (c.site[2].redirect_https = "yes"), "site[2].redirect_https", "must be true or false"],
];

describe("tls config problems", () => {
  for (const [what, mutate, p, fragment] of CASES) {
    test(what, () => {
      const c = base();
      c.site = c.site.map((s: Raw) => ({ ...s, tls: s.tls ? { ...s.tls } : undefined }));
      for (const s of c.site) if (s.tls === undefined) delete s.tls;
      mutate(c);
      const problems = problemsOf(c);
      expect(problems.map((x) => x.path)).toContain(p);
      expect(problems.find((x) => x.path === p)!.message).toContain(fragment);
    });
  }
});

test("an expired certificate is a warning, not an error", () => {
  const c = base();
  c.site[0].tls = { cert: "expired.crt", key: "expired.key" };
  c.site[0].hosts = ["expired.example"];
  const r = validate(c, OPTS);
  expect(r.ok).toBe(true);
  expect(r.warnings.map((w) => w.path)).toEqual(["site[0].tls.cert"]);
  expect(r.warnings[0]!.message).toContain("expired on 2020-02-01");
});

describe("checkPair", () => {
  test("a matching pair reports expiry and names", () => {
    const r = checkPair(read("wild.crt"), read("wild.key"));
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.names).toEqual(["*.w.example"]);
      expect(r.notAfter).toBeGreaterThan(Date.now());
    }
  });
  const rows: [string, string, string, "cert" | "key", string][] = [
    ["garbage cert", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", read("a.key"), "cert", "not a valid PEM certificate"],
    ["garbage key", read("a.crt"), "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", "key", "not a valid PEM private key"],
    ["encrypted key", read("a.crt"), "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n", "key", "passphrase"],
    ["mismatch", read("a.crt"), read("b.key"), "key", "does not belong"],
  ];
  for (const [what, cert, key, field, fragment] of rows) {
    test(what, () => {
      const r = checkPair(cert, key);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.field).toBe(field);
        expect(r.error).toContain(fragment);
      }
    });
  }
});

describe("redirect_https", () => {
  const rows: [string, string, string, number, string | null][] = [
    ["a.example", "/", "", 443, "https://a.example/"],
    ["a.example:8080", "/x/y", "?q=1", 443, "https://a.example/x/y?q=1"],
    ["A.Example.", "/", "", 8443, "https://a.example:8443/"],
    ["[::1]:8080", "/p", "", 8443, "https://[::1]:8443/p"],
    ["", "/", "", 443, null],
  ];
  for (const [host, p, q, port, want] of rows) {
    test(`${JSON.stringify(host)} ${p}${q} → ${want}`, () => expect(httpsLocation(host, p, q, port)).toBe(want));
  }
  test("ACME HTTP-01 paths are recognised", () => {
    expect(isAcmeChallenge("/.well-known/acme-challenge/abc")).toBe(true);
    expect(isAcmeChallenge("/.well-known/acme-challengeX")).toBe(false);
    expect(isAcmeChallenge("/")).toBe(false);
  });
  test("the https port is that of a TLS site sharing a host", () => {
    const r = validate(base(), OPTS);
    if (!r.ok) throw new Error("invalid");
    expect(httpsPortFor(r.config, r.config.sites[2]!)).toBe(8443);
    const c = base();
    c.site[0].hosts = ["c.example"];
    c.site[1].hosts = ["d.example"];
    const r2 = validate(c, OPTS);
    if (!r2.ok) throw new Error("invalid");
    expect(httpsPortFor(r2.config, r2.config.sites[2]!)).toBe(443);
  });
});

test("SNI picks the site like Host routing: exact, wildcard, then the first TLS site", () => {
  const c = base();
  c.site[1].hosts = ["b.example", "*.w.example"];
  const r = validate(c, OPTS);
  if (!r.ok) throw new Error("invalid");
  const [a, b] = r.config.sites;
  const table = buildSiteTables(r.config.sites).get("127.0.0.1:8443")!;
  const lt = new ListenerTls(table, [a!, b!]);
  const rows: [string, typeof a][] = [
    ["a.example", a],
    ["b.example", b],
    ["x.w.example", b],
    ["unknown.example", a],
    ["w.example", a],
  ];
  for (const [name, site] of rows) expect([name, lt.siteFor(name)]).toEqual([name, site]);
  expect(lt.listenOptions.cert).toBe(a!.tls!.cert);
  expect(lt.contextFor("b.example")).toBeDefined();
});

test('tls = "auto" with [acme]: defaults, storage relative to the config file, printed back', () => {
  const c = base();
  c.site[0].tls = "auto";
  c.acme = { email: "ops@example.com", ca: "a.crt", storage: "acme-store" };
  const r = validate(c, OPTS);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  expect(r.config.sites[0]!.tls!.auto).toBe(true);
  expect(r.config.acme).toEqual({ directory: "https://acme-v02.api.letsencrypt.org/directory", email: "ops@example.com", ca: read("a.crt"), caFile: path.join(DIR, "a.crt"), storage: path.join(DIR, "acme-store") });
  const printed = configToRaw(r.config);
  expect((printed.site as Raw[])[0]!.tls).toBe("auto");
  expect(printed.acme).toEqual({ directory: "https://acme-v02.api.letsencrypt.org/directory", email: "ops@example.com", ca: path.join(DIR, "a.crt"), storage: path.join(DIR, "acme-store") });
  // Without auto sites and without [acme], the config has no acme key at all.
  const plain = validate(base(), OPTS);
  expect(plain.ok && plain.config.acme).toBeUndefined();
});

describe("renewal at 2/3 of the lifetime", () => {
  const day = 86_400_000;
  const rows: [number, number, number, boolean][] = [
    [0, 90 * day, 59 * day, false],
    [0, 90 * day, 60 * day, true],
    [0, 90 * day, 91 * day, true],
    [10 * day, 40 * day, 29 * day, false],
    [10 * day, 40 * day, 30 * day, true],
  ];
  for (const [nb, na, now, due] of rows) test(`issued ${nb / day}d, expires ${na / day}d, now ${now / day}d → ${due}`, () => expect(renewalDue(nb, na, now)).toBe(due));
});
