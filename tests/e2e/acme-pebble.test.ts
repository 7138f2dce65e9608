/**
 * ACME against a REAL pebble (Debian's `pebble`, the Let's Encrypt test server), with real
 * HTTP-01 validation on loopback: pebble's httpPort points at a challenge responder, the name
 * is "localhost" (it resolves to 127.0.0.1 without a DNS server). Our client (src/acme) makes
 * the account, order, answers the challenge, finalizes with our own CSR and downloads the
 * chain; the chain must verify against pebble's root, and DreamServer must serve it over TLS
 * to curl. Outside CI a missing pebble skips with a printed reason; under CI=true it fails.
 *
 * Then `tls = "auto"` end to end: the server itself orders the certificate, pebble validates
 * HTTP-01 against the server's own plain listener, a restart reuses the stored certificate, and
 * a forced renewal swaps it while an open connection keeps working.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import fs from "node:fs";
import path from "node:path";
import { AcmeClient } from "../../src/acme/client.ts";
import { generateP256 } from "../../src/acme/jws.ts";
import { httpsRequest } from "../../src/acme/https-client.ts";
import { startServer, tmpDir, waitFor } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";
import { need, run, skipWithout, describeRun } from "./real-clients-helpers.ts";

const SKIP = skipWithout(["pebble", "openssl", "curl"], "ACME against pebble");
const dir = tmpDir("ds-acme-");
let pebble: Subprocess | null = null;
let caPem = "";
const ACME_PORT = closedPort();
const MGMT_PORT = closedPort();
const HTTP_PORT = closedPort();
const tokens = new Map<string, string>();
let responder: ReturnType<typeof Bun.serve> | null = null;
const PEBBLE_LOG = path.join(dir, "pebble.log");
/** An ACME exchange is a few dozen requests and three validations; a loaded CI machine gets a minute. */
const ACME_WAIT_MS = 60_000;

/** The last lines of pebble's log, for failure messages. */
function pebbleTail(lines = 40): string {
  try {
    return "\n--- pebble log (tail) ---\n" + fs.readFileSync(PEBBLE_LOG, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function sh(cmd: string): Promise<void> {
  const r = await run(["sh", "-c", cmd], 20_000);
  if (r.code !== 0) throw new Error(describeRun(cmd, r));
}

beforeAll(async () => {
  if (SKIP) return;
  need(["pebble", "openssl", "curl"]);
  // pebble's own HTTPS certificate, from a throwaway CA (the `ca` option of our client).
  await sh(
    `cd ${dir} && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=acme test ca" 2>/dev/null && ` +
      `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out s.csr -subj "/CN=127.0.0.1" 2>/dev/null && ` +
      `printf "subjectAltName=IP:127.0.0.1,DNS:localhost\\n" > ext && openssl x509 -req -in s.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile ext 2>/dev/null`,
  );
  caPem = fs.readFileSync(path.join(dir, "ca.crt"), "utf8");
  fs.writeFileSync(
    path.join(dir, "pebble.json"),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${ACME_PORT}`,
        managementListenAddress: `127.0.0.1:${MGMT_PORT}`,
        certificate: path.join(dir, "cert.pem"),
        privateKey: path.join(dir, "key.pem"),
        httpPort: HTTP_PORT,
        tlsPort: closedPort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  responder = Bun.serve({
    hostname: "127.0.0.1",
    port: HTTP_PORT,
    fetch(req) {
      const token = new URL(req.url).pathname.replace("/.well-known/acme-challenge/", "");
      const v = tokens.get(token);
      return v === undefined ? new Response("unknown token", { status: 404 }) : new Response(v);
    },
  });
  // Real validation (no PEBBLE_VA_ALWAYS_VALID); no sleeps before validation; pebble's default
  // 5 % bad nonces stay on, so the badNonce retry is exercised.
  // pebble's log goes to a file (never an unread pipe that could fill and block it), and its
  // tail is part of every failure message below.
  pebble = Bun.spawn(["pebble", "-config", path.join(dir, "pebble.json"), "-strict", "false"], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: "1" },
    stdout: Bun.file(PEBBLE_LOG),
    stderr: Bun.file(PEBBLE_LOG),
  });
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await httpsRequest("GET", `https://127.0.0.1:${ACME_PORT}/dir`, { ca: caPem });
      if (r.status === 200) break;
    } catch {}
    if (Date.now() > end) throw new Error("pebble did not start");
    await Bun.sleep(100);
  }
});

afterAll(() => {
  pebble?.kill("SIGKILL");
  responder?.stop(true);
});

test.skipIf(SKIP)("a certificate for a test name is obtained with real HTTP-01 validation, verifies against pebble's root, and DreamServer serves it", async () => {
  const client = new AcmeClient(
    {
      directory: `https://127.0.0.1:${ACME_PORT}/dir`,
      ca: caPem,
      email: "ops@example.com",
      present(token, keyAuth) {
        tokens.set(token, keyAuth);
        return () => tokens.delete(token);
      },
    },
    await generateP256(),
  );
  const issued = await client.obtain(["localhost"]).catch((e: Error) => {
    throw new Error(`${e.message}${pebbleTail()}`);
  });
  expect(tokens.size).toBe(0); // the challenge answer is removed afterwards
  fs.writeFileSync(path.join(dir, "site.crt"), issued.certPem);
  fs.writeFileSync(path.join(dir, "site.key"), issued.keyPem, { mode: 0o600 });

  // pebble's root and intermediate come from its management interface (a fresh CA each start).
  const root = await httpsRequest("GET", `https://127.0.0.1:${MGMT_PORT}/roots/0`, { ca: caPem });
  expect(root.status).toBe(200);
  fs.writeFileSync(path.join(dir, "pebble-root.pem"), root.body);
  const chain = issued.certPem.split(/(?=-----BEGIN CERTIFICATE-----)/);
  expect(chain.length).toBeGreaterThanOrEqual(2);
  fs.writeFileSync(path.join(dir, "leaf.pem"), chain[0]!);
  fs.writeFileSync(path.join(dir, "intermediates.pem"), chain.slice(1).join(""));
  const v = await run(["openssl", "verify", "-CAfile", path.join(dir, "pebble-root.pem"), "-untrusted", path.join(dir, "intermediates.pem"), path.join(dir, "leaf.pem")], 10_000);
  expect(v.stdout, describeRun("openssl verify", v)).toContain(": OK");

  // The issued pair passes --check and is served over HTTPS, verified by curl against pebble's root.
  const port = closedPort();
  const cfg = path.join(dir, "acme-site.toml");
  fs.writeFileSync(cfg, `[admin]\nlisten = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\nhosts = ["localhost"]\ntls = { cert = "site.crt", key = "site.key" }\n[[site.route]]\npath = "/"\nrespond = { body = "acme ok\\n" }\n`);
  const srv = await startServer(["--config", cfg]);
  try {
    const c = await run(["curl", "-sS", "--cacert", path.join(dir, "pebble-root.pem"), `https://localhost:${port}/`], 10_000);
    expect(c.stdout, describeRun("curl", c)).toBe("acme ok\n");
  } finally {
    await srv.stop();
  }
}, 90_000);

test.skipIf(SKIP)("a wildcard name is refused before any order (HTTP-01 cannot validate it)", async () => {
  const client = new AcmeClient({ directory: `https://127.0.0.1:${ACME_PORT}/dir`, ca: caPem, email: null, present: () => () => {} }, await generateP256());
  await expect(client.obtain(["*.example.com"])).rejects.toThrow(/wildcard names need DNS-01/);
});

/** Serial number of the certificate served for `name` (openssl s_client | openssl x509). */
async function servedSerial(port: number): Promise<string> {
  const r = await run(["sh", "-c", `echo | openssl s_client -connect 127.0.0.1:${port} -servername localhost 2>/dev/null | openssl x509 -noout -serial`], 10_000);
  return r.stdout.trim();
}

test.skipIf(SKIP)('tls = "auto": obtained at start with HTTP-01 on our plain listener, reused after a restart, renewed in place without dropping a connection', async () => {
  await responder?.stop(true); // pebble's httpPort now belongs to DreamServer's plain listener
  responder = null;
  const storage = path.join(dir, "storage");
  const tlsPort = closedPort();
  const cfg = path.join(dir, "auto.toml");
  fs.writeFileSync(path.join(dir, "acme-ca.pem"), caPem);
  fs.writeFileSync(
    cfg,
    `[admin]\nlisten = "off"\n[acme]\ndirectory = "https://127.0.0.1:${ACME_PORT}/dir"\nca = "acme-ca.pem"\nstorage = "storage"\nemail = "ops@example.com"\n` +
      `[[site]]\nlisten = ["127.0.0.1:${tlsPort}"]\nhosts = ["localhost"]\ntls = "auto"\n[[site.route]]\npath = "/"\nrespond = { body = "auto ok\\n" }\n` +
      `[[site]]\nlisten = ["127.0.0.1:${HTTP_PORT}"]\nhosts = ["localhost"]\nredirect_https = true\n[[site.route]]\npath = "/"\nrespond = { body = "plain\\n" }\n`,
  );
  const rootFile = path.join(dir, "pebble-root.pem");
  const curl = () => run(["curl", "-sS", "--cacert", rootFile, `https://localhost:${tlsPort}/`], 10_000);

  let srv = await startServer(["--config", cfg]);
  try {
    expect(await waitFor(() => srv.stderr().includes("certificate for localhost obtained"), ACME_WAIT_MS), srv.stderr() + pebbleTail()).toBe(true);
    const c = await curl();
    expect(c.stdout, describeRun("curl", c)).toBe("auto ok\n");
    expect((fs.statSync(path.join(storage, "certs/localhost/key.pem")).mode & 0o777).toString(8)).toBe("600");
    expect((fs.statSync(path.join(storage, "account.json")).mode & 0o777).toString(8)).toBe("600");
    expect(fs.readdirSync(path.join(storage, "challenges"))).toEqual([]); // answers removed
    expect(fs.readdirSync(path.join(storage, "locks"))).toEqual([]);
  } finally {
    await srv.stop();
  }

  // A restart serves the stored certificate at once and orders nothing.
  srv = await startServer(["--config", cfg]);
  try {
    const c = await curl();
    expect(c.stdout, describeRun("curl after restart", c)).toBe("auto ok\n");
    const first = await servedSerial(tlsPort);
    await Bun.sleep(300);
    expect(srv.stderr()).not.toContain("ordering a certificate");

    // An open keep-alive connection from before the renewal.
    let buf = "";
    let shaken!: () => void;
    const handshake = new Promise<void>((r) => (shaken = r));
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port: tlsPort,
      tls: { serverName: "localhost", rejectUnauthorized: false },
      socket: { handshake: () => shaken(), data: (_s, d) => void (buf += d.toString("latin1")) },
    });
    await handshake;
    const ask = async () => {
      buf = "";
      sock.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
      await waitFor(() => buf.endsWith("auto ok\n"), 5000);
      return buf;
    };
    expect(await ask()).toStartWith("HTTP/1.1 200 ");

    // Forced renewal: the stored certificate is gone; SIGHUP makes the manager order again.
    fs.rmSync(path.join(storage, "certs/localhost/cert.pem"));
    srv.proc.kill("SIGHUP");
    expect(await waitFor(() => srv.stderr().includes("certificate for localhost obtained"), ACME_WAIT_MS), srv.stderr() + pebbleTail()).toBe(true);
    const second = await servedSerial(tlsPort);
    expect(second).toMatch(/^serial=/);
    expect(second).not.toBe(first);
    expect(await ask()).toStartWith("HTTP/1.1 200 "); // the old connection was not dropped
    sock.end();
    const c2 = await curl();
    expect(c2.stdout, describeRun("curl after renewal", c2)).toBe("auto ok\n");
  } finally {
    await srv.stop();
  }
}, 180_000);
