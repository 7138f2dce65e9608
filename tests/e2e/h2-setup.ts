/**
 * One server for the HTTP/2 e2e files: a plain site with h2c = true, a TLS site (ALPN h2),
 * a TLS site with http2 = false, a plain site without h2c, and an HTTP/1.1 backend for the
 * proxy routes that echoes what it received.
 */
import fs from "node:fs";
import path from "node:path";
import { startServer, tmpDir, type RunningServer } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";

const FIX = path.resolve(import.meta.dir, "../fixtures/tls");

export interface H2Env {
  server: RunningServer;
  dir: string;
  h2c: number;
  tls: number;
  tlsNoH2: number;
  plain: number;
  big: Buffer;
  backend: ReturnType<typeof Bun.serve>;
  stop(): Promise<void>;
}

function ports(n: number): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const p = closedPort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

export async function startH2Env(extra = ""): Promise<H2Env> {
  const dir = tmpDir("ds-h2-");
  for (const f of ["a.crt", "a.key", "b.crt", "b.key"]) fs.copyFileSync(path.join(FIX, f), path.join(dir, f));
  const www = path.join(dir, "www");
  fs.mkdirSync(www);
  fs.writeFileSync(path.join(www, "index.html"), "<h1>hello h2</h1>\n");
  fs.writeFileSync(path.join(www, "style.css"), "body { color: black; }\n".repeat(200));
  const big = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
  fs.writeFileSync(path.join(www, "big.bin"), big);
  const backend = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const body = Buffer.from(await req.arrayBuffer());
      const seen: Record<string, string> = {};
      req.headers.forEach((v, k) => (seen[k] = v));
      return new Response(body, { headers: { "x-seen": JSON.stringify(seen), "x-body-length": String(body.length), connection: "keep-alive", "keep-alive": "timeout=5" } });
    },
  });
  const [h2c, tls, tlsNoH2, plain] = ports(4);
  const routes = `
[[site.route]]
path = "/api"
proxy = { to = "http://127.0.0.1:${backend.port}" }
[[site.route]]
path = "/hello"
respond = { body = "hello\\n" }
[[site.route]]
path = "/"
static = { root = "www" }
compress = {}
`;
  const config = `
[admin]
listen = "off"
[timeouts]
send_idle = "2s"
body_idle = "2s"
${extra}
[[site]]
listen = ["127.0.0.1:${h2c}"]
h2c = true
${routes}
[[site]]
listen = ["127.0.0.1:${tls}"]
hosts = ["a.example"]
tls = { cert = "a.crt", key = "a.key" }
${routes}
[[site]]
listen = ["127.0.0.1:${tlsNoH2}"]
hosts = ["b.example"]
tls = { cert = "b.crt", key = "b.key" }
http2 = false
${routes}
[[site]]
listen = ["127.0.0.1:${plain}"]
${routes}
`;
  fs.writeFileSync(path.join(dir, "ds.toml"), config);
  const server = await startServer(["--config", path.join(dir, "ds.toml")], { cwd: dir });
  return {
    server,
    dir,
    h2c,
    tls,
    tlsNoH2,
    plain,
    big,
    backend,
    async stop() {
      await server.stop();
      backend.stop(true);
    },
  };
}

/** Resident set size of a process in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}
