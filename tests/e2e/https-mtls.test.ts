/**
 * HTTPS options end to end (issue 11): client certificates (mTLS) with curl and openssl
 * s_client, HSTS with curl -I, certificate files reloaded when they change on disk (no
 * SIGHUP), TLS session resumption with openssl -sess_out/-sess_in, and the
 * dreamserver_tls_handshakes_total counter.
 *
 * Every certificate is made here with openssl (a client CA, a client "alice" it signed, a
 * rogue CA and its "mallory", and the site pairs), in a temp folder.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { startServer, tmpDir, waitFor, type RunningServer } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";
import { describeRun, killAll, need, run, skipWithout } from "./real-clients-helpers.ts";

const FIX = path.resolve(import.meta.dir, "../fixtures/tls");
const dir = tmpDir("ds-mtls-");
for (const f of ["a.crt", "a.key", "b.crt", "b.key"]) fs.copyFileSync(path.join(FIX, f), path.join(dir, f));

const TLS_PORT = closedPort();
let ADMIN_PORT = closedPort();
while (ADMIN_PORT === TLS_PORT) ADMIN_PORT = closedPort();
let PLAIN_PORT = closedPort();
while (PLAIN_PORT === TLS_PORT || PLAIN_PORT === ADMIN_PORT) PLAIN_PORT = closedPort();

/** What the backend saw last. */
let seenSubject: string | null = null;
const backend: ReturnType<typeof Bun.serve> = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req): Response {
    seenSubject = req.headers.get("x-client-subject");
    return new Response("backend\n", { headers: { "Strict-Transport-Security": "max-age=5" } });
  },
});

const CONFIG = `
[admin]
listen = "127.0.0.1:${ADMIN_PORT}"
[server]
cert_check_interval = "200ms"
[[site]]
listen = ["127.0.0.1:${TLS_PORT}"]
hosts = ["a.example"]
tls = { cert = "a.crt", key = "a.key" }
hsts = true
[[site.route]]
path = "/"
respond = { body = "site a\\n" }
[[site]]
listen = ["127.0.0.1:${TLS_PORT}"]
hosts = ["b.example"]
tls = { cert = "b.crt", key = "b.key", client_ca = "clients-ca.pem" }
hsts = { max_age = 600, include_subdomains = true }
[[site.route]]
path = "/proxy"
proxy = { to = "http://127.0.0.1:${backend.port}" }
request_headers = { set = { "X-Client-Subject" = "{tls_client_subject}" } }
[[site.route]]
path = "/"
respond = { body = "site b\\n", headers = { "X-Subject" = "{tls_client_subject}", "X-Fingerprint" = "{tls_client_fingerprint}" } }
[[site]]
listen = ["127.0.0.1:${TLS_PORT}"]
hosts = ["c.example"]
tls = { cert = "c.crt", key = "c.key", client_ca = "clients-ca.pem", client_auth = "optional" }
[[site.route]]
path = "/"
respond = { body = "site c\\n", headers = { "X-Subject" = "{tls_client_subject}" } }
[[site]]
listen = ["127.0.0.1:${PLAIN_PORT}"]
hosts = ["a.example"]
[[site.route]]
path = "/"
respond = { body = "plain a\\n" }
`;
const configFile = path.join(dir, "mtls.toml");
const haveOpenssl = !skipWithout(["openssl", "curl"], "mTLS / HSTS e2e");

/** openssl with arguments; fails the test with its output when it fails. */
async function openssl(args: string[]): Promise<void> {
  const r = await run(["openssl", ...args], 10_000, { cwd: dir });
  if (r.code !== 0) throw new Error(describeRun(`openssl ${args.join(" ")}`, r));
}
async function ecKey(name: string): Promise<void> {
  await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`]);
}
async function selfSigned(name: string, subj: string, extra: string[] = []): Promise<void> {
  await ecKey(name);
  await openssl(["req", "-x509", "-new", "-key", `${name}.key`, "-subj", subj, "-days", "30", "-out", `${name}.pem`, ...extra]);
}
async function clientCert(name: string, subj: string, ca: string): Promise<void> {
  await ecKey(name);
  await openssl(["req", "-new", "-key", `${name}.key`, "-subj", subj, "-out", `${name}.csr`]);
  fs.writeFileSync(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  await openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "10", "-extfile", "client.ext", "-out", `${name}.crt`]);
}
async function sitePair(name: string, host: string, o = ""): Promise<void> {
  await ecKey(name);
  await openssl(["req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/CN=${host}${o}`, "-addext", `subjectAltName=DNS:${host}`, "-days", "30", "-out", `${name}.crt`]);
}

let srv: RunningServer;
beforeAll(async () => {
  if (!haveOpenssl) return;
  await selfSigned("ca", "/CN=Test Client CA", ["-addext", "basicConstraints=critical,CA:TRUE"]);
  fs.copyFileSync(path.join(dir, "ca.pem"), path.join(dir, "clients-ca.pem"));
  await selfSigned("rogue", "/CN=Rogue CA", ["-addext", "basicConstraints=critical,CA:TRUE"]);
  await clientCert("alice", "/CN=alice/O=Example", "ca");
  await clientCert("mallory", "/CN=mallory", "rogue");
  await sitePair("c", "c.example");
  fs.writeFileSync(configFile, CONFIG);
  srv = await startServer(["--config", configFile]);
  await waitFor(() => /listening on https:\/\//.test(srv.stderr()), 5000);
}, 60_000);
afterAll(async () => {
  if (process.env.DS_DEBUG) console.error(srv?.stderr());
  killAll();
  await srv?.stop();
  backend.stop(true);
});

interface CurlResult {
  code: number | null;
  status: number;
  headers: string;
  body: string;
  err: string;
}
/** curl over TLS to `host` (resolved to 127.0.0.1); -k: these tests are about the client side. */
async function curl(host: string, urlPath: string, args: string[] = [], port = TLS_PORT, scheme = "https"): Promise<CurlResult> {
  const r = await run(["curl", "-sS", "-k", "--max-time", "5", "-D", "-", "--resolve", `${host}:${port}:127.0.0.1`, ...args, `${scheme}://${host}:${port}${urlPath}`], 10_000, { cwd: dir });
  const i = r.stdout.indexOf("\r\n\r\n");
  const headers = i >= 0 ? r.stdout.slice(0, i) : r.stdout;
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(headers)?.[1] ?? 0);
  return { code: r.code, status, headers, body: i >= 0 ? r.stdout.slice(i + 4) : "", err: r.stderr };
}
const header = (r: CurlResult, name: string): string | null => new RegExp(`^${name}: *(.*?)\\r?$`, "im").exec(r.headers)?.[1] ?? null;
const ALICE = ["--cert", "alice.crt", "--key", "alice.key"];
const MALLORY = ["--cert", "mallory.crt", "--key", "mallory.key"];

/** `openssl s_client` sending one request; its whole output. */
async function sClient(args: string[], request: string): Promise<string> {
  const r = await run(["sh", "-c", `(printf '${request}'; sleep 0.5) | openssl s_client -connect 127.0.0.1:${TLS_PORT} -ign_eof ${args.join(" ")} 2>&1`], 10_000, { cwd: dir });
  return r.stdout + r.stderr;
}

describe("client certificates (mTLS)", () => {
  test.skipIf(!haveOpenssl)("require: curl without a certificate gets 403; with one the CA signed, 200 and its subject", async () => {
    need(["openssl", "curl"]);
    const none = await curl("b.example", "/");
    expect(none.status, none.err).toBe(403);
    expect(none.body).toContain("403");
    const alice = await curl("b.example", "/", ALICE);
    expect(alice.status, alice.err).toBe(200);
    expect(alice.body).toBe("site b\n");
    expect(header(alice, "X-Subject")).toBe("O=Example,CN=alice");
    expect(header(alice, "X-Fingerprint")).toMatch(/^[0-9a-f]{64}$/);
  });

  test.skipIf(!haveOpenssl)("require: a certificate from another CA gets 403; the access log names the code", async () => {
    need(["openssl", "curl"]);
    const r = await curl("b.example", "/?mallory", MALLORY);
    expect(r.status, r.err).toBe(403);
    const line = await waitFor(() => srv.readLog().split("\n").find((l) => l.includes("/?mallory")), 3000);
    expect(line).toContain("CLIENT_CERT_INVALID");
  });

  test.skipIf(!haveOpenssl)("the verified subject reaches the backend through a header rule; a client's own header is replaced", async () => {
    need(["openssl", "curl"]);
    const r = await curl("b.example", "/proxy", [...ALICE, "-H", "X-Client-Subject: CN=admin"]);
    expect(r.status, r.err).toBe(200);
    expect(seenSubject).toBe("O=Example,CN=alice");
  });

  test.skipIf(!haveOpenssl)("optional: no certificate is fine (empty subject); a valid one is seen; an invalid one gets 403", async () => {
    need(["openssl", "curl"]);
    const none = await curl("c.example", "/");
    expect(none.status, none.err).toBe(200);
    // An empty field value is left out of the response.
    expect(header(none, "X-Subject") ?? "").toBe("");
    const alice = await curl("c.example", "/", ALICE);
    expect(header(alice, "X-Subject")).toBe("O=Example,CN=alice");
    expect((await curl("c.example", "/", MALLORY)).status).toBe(403);
  });

  test.skipIf(!haveOpenssl)("a site without client_ca ignores a certificate; openssl s_client sees the CertificateRequest naming the CA", async () => {
    need(["openssl", "curl"]);
    expect((await curl("a.example", "/", MALLORY)).status).toBe(200);
    const out = await sClient(["-servername", "b.example"], "GET / HTTP/1.1\\r\\nHost: b.example\\r\\nConnection: close\\r\\n\\r\\n");
    expect(out).toContain("Acceptable client certificate CA names");
    expect(out).toContain("CN = Test Client CA");
    expect(out).toContain("HTTP/1.1 403 ");
    const ok = await sClient(["-servername", "b.example", "-cert", "alice.crt", "-key", "alice.key"], "GET / HTTP/1.1\\r\\nHost: b.example\\r\\nConnection: close\\r\\n\\r\\n");
    expect(ok).toContain("HTTP/1.1 200 ");
  });

  test.skipIf(!haveOpenssl)("a client without SNI is verified against the default site's CAs: 421 for an mTLS site, never its content", async () => {
    need(["openssl"]);
    const out = await sClient(["-noservername", "-cert", "alice.crt", "-key", "alice.key"], "GET / HTTP/1.1\\r\\nHost: b.example\\r\\nConnection: close\\r\\n\\r\\n");
    expect(out).toContain("HTTP/1.1 421 ");
    expect(out).not.toContain("site b");
  });

  test.skipIf(!haveOpenssl)("a resumed TLS session keeps its verified certificate (tickets work; TLS 1.2 and 1.3)", async () => {
    need(["openssl"]);
    for (const v of ["-tls1_2", "-tls1_3"]) {
      const sess = path.join(dir, `sess${v}`);
      const req = "GET / HTTP/1.1\\r\\nHost: b.example\\r\\nConnection: close\\r\\n\\r\\n";
      const first = await sClient([v, "-servername", "b.example", "-cert", "alice.crt", "-key", "alice.key", "-sess_out", sess], req);
      expect(first).toMatch(/^New, TLSv1\.[23]/m);
      const again = await sClient([v, "-servername", "b.example", "-sess_in", sess], req);
      expect(again, v).toMatch(/^Reused, TLSv1\.[23]/m);
      expect(again).toContain("HTTP/1.1 200 ");
    }
  });
});

describe("HSTS", () => {
  test.skipIf(!haveOpenssl)("curl -I: hsts = true sends max-age one year; a table adds includeSubDomains; plain HTTP never", async () => {
    need(["curl"]);
    const a = await curl("a.example", "/", ["-I"]);
    expect(header(a, "Strict-Transport-Security")).toBe("max-age=31536000");
    const b = await curl("b.example", "/", ["-I", ...ALICE]);
    expect(header(b, "Strict-Transport-Security")).toBe("max-age=600; includeSubDomains");
    // Also on the site's own errors (404 from no route is impossible here: "/" takes all; the 403 of mTLS).
    const refused = await curl("b.example", "/", ["-I"]);
    expect(refused.status).toBe(403);
    expect(header(refused, "Strict-Transport-Security")).toBe("max-age=600; includeSubDomains");
    // A backend's own field wins (it is added only when absent).
    const proxied = await curl("b.example", "/proxy", ["-I", ...ALICE]);
    expect(header(proxied, "Strict-Transport-Security")).toBe("max-age=5");
    const plain = await curl("a.example", "/", ["-I"], PLAIN_PORT, "http");
    expect(plain.status).toBe(200);
    expect(header(plain, "Strict-Transport-Security")).toBeNull();
  });
});

describe("certificate files changed on disk", () => {
  test.skipIf(!haveOpenssl)("a new valid pair is served without SIGHUP; a broken one keeps the old and says why", async () => {
    need(["openssl"]);
    const req = "GET / HTTP/1.1\\r\\nHost: c.example\\r\\nConnection: close\\r\\n\\r\\n";
    const subjectOf = async (): Promise<string | null> => /^subject=(.*)$/m.exec(await sClient(["-servername", "c.example"], req))?.[1]?.trim() ?? null;
    expect(await subjectOf()).toBe("CN = c.example");
    // A broken pair first: the key of another certificate.
    fs.copyFileSync(path.join(dir, "a.key"), path.join(dir, "c.key"));
    await waitFor(() => /\[WARN\] tls: site\[2\] .*c\.key does not belong to the certificate.*still serving the previous certificate/.test(srv.stderr()), 5000);
    expect(await subjectOf()).toBe("CN = c.example");
    // Then a renewed, valid pair (written the way certbot does: new files renamed into place).
    await sitePair("c2", "c.example", "/O=renewed");
    fs.renameSync(path.join(dir, "c2.crt"), path.join(dir, "c.crt"));
    fs.renameSync(path.join(dir, "c2.key"), path.join(dir, "c.key"));
    await waitFor(() => /tls: site\[2\] certificate files changed: now serving CN=c\.example, O=renewed/.test(srv.stderr()), 5000);
    expect(await subjectOf()).toBe("CN = c.example, O = renewed");
    expect(srv.stderr()).not.toContain("configuration reloaded");
  });
});

describe("metrics", () => {
  test.skipIf(!haveOpenssl)("dreamserver_tls_handshakes_total counts ok and failed handshakes per listener", async () => {
    need(["openssl"]);
    const sample = async (result: string): Promise<number> => {
      const r = await run(["curl", "-sS", `http://127.0.0.1:${ADMIN_PORT}/metrics`], 5000);
      const m = new RegExp(`^dreamserver_tls_handshakes_total\\{listener="127\\.0\\.0\\.1:${TLS_PORT}",result="${result}"\\} (\\d+)`, "m").exec(r.stdout);
      return Number(m?.[1] ?? 0);
    };
    const ok0 = await sample("ok");
    const failed0 = await sample("failed");
    expect((await curl("a.example", "/")).status).toBe(200);
    // TLS 1.1 is refused: a failed handshake.
    await run(["sh", "-c", `echo | openssl s_client -connect 127.0.0.1:${TLS_PORT} -tls1_1 2>&1`], 10_000);
    // A client that connects and leaves without a ClientHello.
    const s = await Bun.connect({ hostname: "127.0.0.1", port: TLS_PORT, socket: { data() {} } });
    s.end();
    const end = Date.now() + 3000;
    while ((await sample("failed")) < failed0 + 2 && Date.now() < end) await Bun.sleep(100);
    expect(await sample("failed")).toBeGreaterThanOrEqual(failed0 + 2);
    expect(await sample("ok")).toBeGreaterThanOrEqual(ok0 + 1);
  });
});

describe("the default certificate on SIGHUP", () => {
  test.skipIf(!haveOpenssl)("SNI clients get the new default-site pair; clients without SNI keep the bound one, and the server says so", async () => {
    need(["openssl"]);
    const req = "GET / HTTP/1.1\\r\\nHost: a.example\\r\\nConnection: close\\r\\n\\r\\n";
    const subjectOf = async (args: string[]): Promise<string | null> => /^subject=(.*)$/m.exec(await sClient(args, req))?.[1]?.trim() ?? null;
    await sitePair("a2", "a.example", "/O=renewed");
    fs.renameSync(path.join(dir, "a2.key"), path.join(dir, "a.key"));
    fs.renameSync(path.join(dir, "a2.crt"), path.join(dir, "a.crt"));
    const reloads = (srv.stderr().match(/configuration reloaded/g) ?? []).length;
    srv.proc.kill("SIGHUP");
    await waitFor(() => (srv.stderr().match(/configuration reloaded/g) ?? []).length > reloads, 5000);
    expect(srv.stderr()).toContain(`127.0.0.1:${TLS_PORT}: clients without SNI keep the certificate the address was started with`);
    expect(await subjectOf(["-servername", "a.example"])).toBe("CN = a.example, O = renewed");
    expect(await subjectOf(["-noservername"])).toBe("CN = a.example");
  });
});
