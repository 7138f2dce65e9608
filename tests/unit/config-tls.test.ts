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
import { readClientCert, rfc4514, type PeerCertSource } from "../../src/tls/client-cert.ts";
import { X509Certificate } from "node:crypto";

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
  ["hsts on a plain site (RFC 6797 §7.2)", (c) => (c.site[2].hsts = true), "site[2].hsts", "only sent over HTTPS"],
  ["hsts not a table", (c) => (c.site[0].hsts = "yes"), "site[0].hsts", 'must be true, false or a table, got the string "yes"; e.g. hsts = true'],
  ["hsts max_age negative", (c) => (c.site[0].hsts = { max_age: -1 }), "site[0].hsts.max_age", "out of range"],
  ["hsts max_age a string", (c) => (c.site[0].hsts = { max_age: "1y" }), "site[0].hsts.max_age", "must be an integer"],
  ["hsts unknown key", (c) => (c.site[0].hsts = { maxage: 5 }), "site[0].hsts.maxage", "unknown key"],
  ["hsts preload without include_subdomains", (c) => (c.site[0].hsts = { preload: true }), "site[0].hsts.preload", "needs include_subdomains = true"],
  ["hsts preload with a short max_age", (c) => (c.site[0].hsts = { preload: true, include_subdomains: true, max_age: 600 }), "site[0].hsts.preload", "at least 31536000"],
  ["client_ca unreadable", (c) => (c.site[0].tls.client_ca = "nope.pem"), "site[0].tls.client_ca", "cannot be read"],
  ["client_ca not PEM", (c) => (c.site[0].tls.client_ca = "README.md"), "site[0].tls.client_ca", "holds no PEM certificate"],
  ["client_ca is a leaf, not a CA", (c) => (c.site[0].tls.client_ca = "leaf-not-ca.crt"), "site[0].tls.client_ca", "is not a CA certificate"],
  ["client_auth without client_ca", (c) => (c.site[0].tls.client_auth = "require"), "site[0].tls.client_auth", "needs client_ca"],
  ["client_auth unknown mode", (c) => ((c.site[0].tls.client_ca = "client-ca.pem"), (c.site[0].tls.client_auth = "on")), "site[0].tls.client_auth", '"require" or "optional"'],
  ["client_auth misspelt", (c) => ((c.site[0].tls.client_ca = "client-ca.pem"), (c.site[0].tls.client_auth = "requird")), "site[0].tls.client_auth", 'did you mean "require"'],
  ["cert_check_interval too short", (c) => (c.server = { cert_check_interval: "10ms" }), "server.cert_check_interval", "must be more than 0"],
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

describe("hsts and client certificates", () => {
  // [hsts value in the file, the field value sent]
  const HSTS: [unknown, string | null][] = [
    [undefined, null],
    [false, null],
    [true, "max-age=31536000"],
    [{}, "max-age=31536000"],
    [{ max_age: 0 }, "max-age=0"],
    [{ max_age: 600, include_subdomains: true }, "max-age=600; includeSubDomains"],
    [{ max_age: 63072000, include_subdomains: true, preload: true }, "max-age=63072000; includeSubDomains; preload"],
  ];
  for (const [raw, want] of HSTS) {
    test(`hsts = ${JSON.stringify(raw)} → ${want}`, () => {
      const c = base();
      if (raw !== undefined) c.site[0].hsts = raw;
      const r = validate(c, OPTS);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.config.sites[0]!.hsts?.value ?? null).toBe(want);
      const printed = (configToRaw(r.config).site as Raw[])[0]!;
      if (want === null) expect("hsts" in printed).toBe(false);
      else expect(validate({ ...c, site: [{ ...c.site[0], hsts: printed.hsts }, c.site[1], c.site[2]] }, OPTS).ok).toBe(true);
    });
  }

  test("client_ca: read, default mode require, printed back; optional kept", () => {
    const c = base();
    c.site[0].tls.client_ca = "client-ca.pem";
    c.site[1].tls.client_ca = "client-ca.pem";
    c.site[1].tls.client_auth = "optional";
    const r = validate(c, OPTS);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const [a, b] = r.config.sites;
    expect(a!.tls!.clientAuth).toEqual({ ca: read("client-ca.pem"), caFile: path.join(DIR, "client-ca.pem"), mode: "require" });
    expect(b!.tls!.clientAuth!.mode).toBe("optional");
    expect((configToRaw(r.config).site as Raw[])[0]!.tls).toEqual({ cert: path.join(DIR, "a.crt"), key: path.join(DIR, "a.key"), client_ca: path.join(DIR, "client-ca.pem"), client_auth: "require" });
    expect(r.config.certCheckIntervalMs).toBe(60_000);
  });

  test("the listener asks for client certificates when any site of the address has client_ca", () => {
    const c = base();
    c.site[1].tls.client_ca = "client-ca.pem";
    const r = validate(c, OPTS);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const tables = buildSiteTables(r.config.sites);
    const key = [...tables.keys()].find((k) => k.endsWith(":8443"))!;
    const lt = new ListenerTls(tables.get(key)!, r.config.sites.filter((s) => s.tls));
    expect(lt.requestsClientCert).toBe(true);
    const o = lt.listenOptions;
    expect(o.requestCert).toBe(true);
    expect(o.rejectUnauthorized).toBe(false);
    // The default site (a.example) has no client_ca: no listener CA, and b's CA only through its SNI context.
    expect(o.ca).toBeUndefined();
    expect(lt.clientCaFor("b.example")).toBe(read("client-ca.pem"));
    expect(lt.clientCaFor("a.example")).toBeNull();
    expect(lt.clientCaFor("unknown.example")).toBeNull();
    const r0 = validate(base(), OPTS);
    if (!r0.ok) throw new Error(JSON.stringify(r0.problems));
    const plain = new ListenerTls(buildSiteTables(r0.config.sites).get(key)!, r0.config.sites.filter((s) => s.tls));
    expect(plain.requestsClientCert).toBe(false);
    expect("requestCert" in plain.listenOptions).toBe(false);
  });
});

describe("client certificate details", () => {
  const ROWS: [string, string][] = [
    ["CN=alice\nO=Example", "O=Example,CN=alice"],
    ["C=DE\nO=Example\\, Inc.\nCN=bob", "CN=bob,O=Example\\, Inc.,C=DE"],
    ["CN=solo", "CN=solo"],
    ["", ""],
  ];
  for (const [subject, want] of ROWS) test(`${JSON.stringify(subject)} → ${want}`, () => expect(rfc4514(subject)).toBe(want));

  const der = new X509Certificate(read("client-ca.pem")).raw;
  const source = (authorized: boolean, raw: Uint8Array | undefined, code: string | null = null): PeerCertSource => ({
    authorized,
    getAuthorizationError: () => (code === null ? null : Object.assign(new Error(code), { code })),
    getPeerCertificate: () => (raw === undefined ? {} : { raw }),
  });
  test("no certificate sent → null", () => expect(readClientCert(source(false, undefined), "CA")).toBeNull());
  test("a verified certificate: subject, fingerprint, the CAs it was verified with", () => {
    const c = readClientCert(source(true, der), "CA-PEM")!;
    expect(c).toEqual({ subject: "CN=DreamServer Test Client CA", fingerprint: new X509Certificate(der).fingerprint256.replace(/:/g, "").toLowerCase(), verified: true, error: null, verifiedWith: "CA-PEM" });
  });
  test("not verified: the stack's code is kept", () => {
    const c = readClientCert(source(false, der, "UNABLE_TO_GET_ISSUER_CERT"), "CA-PEM")!;
    expect(c.verified).toBe(false);
    expect(c.error).toBe("UNABLE_TO_GET_ISSUER_CERT");
  });
  test("authorized by a context without client CAs (the system store) is not verified for us", () => {
    expect(readClientCert(source(true, der), null)!.verified).toBe(false);
  });
});
