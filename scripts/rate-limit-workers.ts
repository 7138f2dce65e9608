/**
 * Measures how rate_limit behaves with several workers (docs/security.md, "Rate limiting"):
 * each worker enforces ceil(rate / N) and ceil(burst / N) on its own, and the kernel spreads
 * connections over the workers (SO_REUSEPORT). Sends a burst of requests from one client
 * (a) over one keep-alive connection and (b) one request per new connection, and counts the
 * 200s against the configured burst. Usage: bun scripts/rate-limit-workers.ts [workers=2] [runs=5]
 */
import { spawn } from "bun";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const workers = Number(process.argv[2] ?? 2);
const runs = Number(process.argv[3] ?? 5);
const BURST = 40;
const SENT = 80;
const main = path.join(import.meta.dir, "../src/main.ts");

function request(port: number, socket?: net.Socket): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = socket ?? net.connect(port, "127.0.0.1");
    let buf = "";
    const onData = (d: Buffer) => {
      buf += d.toString("latin1");
      const m = /^HTTP\/1\.1 (\d{3})[^]*?\r\nContent-Length: (\d+)\r\n[^]*?\r\n\r\n/.exec(buf);
      if (m && buf.length >= m.index + m[0].length + Number(m[2])) {
        s.off("data", onData);
        if (!socket) s.destroy();
        resolve(Number(m[1]));
      }
    };
    s.on("data", onData);
    if (!socket) s.once("error", reject);
    s.write(`GET / HTTP/1.1\r\nHost: x\r\n${socket ? "" : "Connection: close\r\n"}\r\n`);
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-rl-"));
const port = 20000 + Math.floor(Math.random() * 20000);
fs.writeFileSync(
  path.join(dir, "c.toml"),
  `[server]\nworkers = ${workers}\n[log]\naccess = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\n[[site.route]]\npath = "/"\nrate_limit = { rate = "${BURST}/h", burst = ${BURST}, key = "{remote_ip}" }\nrespond = { status = 200, body = "ok" }\n`,
);
for (let r = 0; r < runs; r++) {
  const proc = spawn([process.execPath, main, "--config", path.join(dir, "c.toml")], { stderr: "pipe", stdout: "ignore" });
  let err = "";
  const dec = new TextDecoder();
  void (async () => {
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += dec.decode(c);
  })();
  while (!err.includes("listening on")) await Bun.sleep(20);
  await Bun.sleep(200); // every worker bound
  // (a) one keep-alive connection
  const ka = net.connect(port, "127.0.0.1");
  await new Promise((r) => ka.once("connect", r));
  let a = 0;
  for (let i = 0; i < SENT; i++) if ((await request(port, ka)) === 200) a++;
  ka.destroy();
  // (b) same client address, a new connection per request: the key is the address, so this
  // shares nothing with (a) only across restarts; restart between (a) and (b).
  proc.kill("SIGTERM");
  await proc.exited;
  const proc2 = spawn([process.execPath, main, "--config", path.join(dir, "c.toml")], { stderr: "pipe", stdout: "ignore" });
  let err2 = "";
  void (async () => {
    for await (const c of proc2.stderr as ReadableStream<Uint8Array>) err2 += dec.decode(c);
  })();
  while (!err2.includes("listening on")) await Bun.sleep(20);
  await Bun.sleep(200);
  let b = 0;
  for (let i = 0; i < SENT; i++) if ((await request(port)) === 200) b++;
  proc2.kill("SIGTERM");
  await proc2.exited;
  console.log(`run ${r + 1}: workers=${workers} burst=${BURST}: one keep-alive connection admitted ${a}/${SENT} (${(a / BURST).toFixed(2)}x burst); new connection per request admitted ${b}/${SENT} (${(b / BURST).toFixed(2)}x burst)`);
}
fs.rmSync(dir, { recursive: true, force: true });
