/**
 * https:// upstreams: the certificate is verified by default (a self-signed backend is refused
 * with 502), --upstream-ca trusts a private CA, --insecure-upstream-tls skips verification.
 * The backend is Bun.serve with the fixture certificate in tests/fixtures/tls (127.0.0.1).
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { get, REPO, startServer, waitFor } from "./harness.ts";

setDefaultTimeout(20_000);

const CERT = path.join(REPO, "tests/fixtures/tls/cert.pem");
const KEY = path.join(REPO, "tests/fixtures/tls/key.pem");
let backend: ReturnType<typeof Bun.serve>;

beforeAll(() => {
  backend = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: fs.readFileSync(CERT, "utf8"), key: fs.readFileSync(KEY, "utf8") },
    fetch: (req) => new Response(`secure ${new URL(req.url).pathname}`, { headers: { "content-type": "text/plain" } }),
  });
});

afterAll(() => backend?.stop(true));

test("an untrusted upstream certificate is refused: 502 UPSTREAM_CONNECT", async () => {
  const srv = await startServer(["--proxy", `https://127.0.0.1:${backend.port}`]);
  try {
    const res = await get(srv.port, "/x");
    expect(res.status).toBe(502);
    const log = await waitFor(() => (srv.readLog().includes("error=UPSTREAM_CONNECT") ? srv.readLog() : ""), 3000);
    expect(log).toContain("error=UPSTREAM_CONNECT");
  } finally {
    await srv.stop();
  }
});

test("--upstream-ca trusts the backend's CA; requests and keep-alive work over TLS", async () => {
  const srv = await startServer(["--proxy", `https://127.0.0.1:${backend.port}`, "--upstream-ca", CERT]);
  try {
    for (const p of ["/a", "/b", "/c"]) {
      const res = await get(srv.port, p);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(`secure ${p}`);
    }
  } finally {
    await srv.stop();
  }
});

test("--insecure-upstream-tls skips verification", async () => {
  const srv = await startServer(["--proxy", `https://127.0.0.1:${backend.port}`, "--insecure-upstream-tls"]);
  try {
    const res = await get(srv.port, "/y");
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("secure /y");
  } finally {
    await srv.stop();
  }
});
