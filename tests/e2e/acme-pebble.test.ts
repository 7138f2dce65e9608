/**
 * ACME against a REAL pebble (Debian's `pebble`, the Let's Encrypt test server), with real
 * HTTP-01 validation on loopback: pebble's httpPort points at a challenge responder, the name
 * is "localhost" (it resolves to 127.0.0.1 without a DNS server). Our client (src/acme) makes
 * the account, order, answers the challenge, finalizes with our own CSR and downloads the
 * chain; the chain must verify against pebble's root, and DreamServer must serve it over TLS
 * to curl. Outside CI a missing pebble skips with a printed reason; under CI=true it fails.
 *
 * Not covered yet: `tls = "auto"` in the config (the client is not wired into the server).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import fs from "node:fs";
import path from "node:path";
import { AcmeClient } from "../../src/acme/client.ts";
import { generateP256 } from "../../src/acme/jws.ts";
import { httpsRequest } from "../../src/acme/https-client.ts";
import { startServer, tmpDir } from "./harness.ts";
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
  pebble = Bun.spawn(["pebble", "-config", path.join(dir, "pebble.json"), "-strict", "false"], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: "1" },
    stdout: "pipe",
    stderr: "pipe",
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
  const issued = await client.obtain(["localhost"]);
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
});

test.skipIf(SKIP)("a wildcard name is refused before any order (HTTP-01 cannot validate it)", async () => {
  const client = new AcmeClient({ directory: `https://127.0.0.1:${ACME_PORT}/dir`, ca: caPem, email: null, present: () => () => {} }, await generateP256());
  await expect(client.obtain(["*.example.com"])).rejects.toThrow(/wildcard names need DNS-01/);
});
