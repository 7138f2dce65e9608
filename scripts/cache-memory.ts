/**
 * The response cache's memory bound on a real server (issue 13): 100,000 distinct keys through
 * a proxy route with cache = { }, [cache] memory = 8m. Prints the cache gauges from /metrics
 * and the server's RSS before, during and after, and fails (exit 1) when the charged bytes
 * exceed the bound or the RSS grows by more than RSS_SLACK_MB (default 120) over the warm-up.
 *
 *   nice -n 10 bun scripts/cache-memory.ts [KEYS]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "bun";

const KEYS = Number(process.argv[2] ?? 100_000);
const MEMORY = 8 * 1024 * 1024;
const SLACK = Number(process.env.RSS_SLACK_MB ?? 120) * 1024 * 1024;
const body = Buffer.alloc(900, "x");
const backend = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response(body, { headers: { "Cache-Control": "max-age=600", "Content-Type": "text/plain" } }) });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-cache-mem-"));
const adminPort = 20000 + Math.floor(Math.random() * 20000);
fs.writeFileSync(
  path.join(dir, "c.toml"),
  `[cache]\nmemory = "8m"\nmax_object = "64k"\n[admin]\nlisten = "127.0.0.1:${adminPort}"\n[log]\naccess = "off"\n[server]\nworkers = 1\n[[site]]\nlisten = ["127.0.0.1:0"]\n[[site.route]]\npath = "/"\nproxy = { to = ["http://127.0.0.1:${backend.port}"] }\ncache = { enabled = true }\n`,
);
const proc = spawn([process.execPath, path.join(import.meta.dir, "../src/main.ts"), "--config", path.join(dir, "c.toml")], { stderr: "pipe", stdout: "ignore" });
let err = "";
const port = await new Promise<number>((resolve, reject) => {
  (async () => {
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) {
      err += new TextDecoder().decode(c);
      const m = /listening on http:\/\/[^\s]*:(\d+)/.exec(err);
      if (m) return resolve(Number(m[1]));
    }
    reject(new Error(err));
  })();
});
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${proc.pid}/status`, "utf8"))![1]) * 1024;
async function gauges(): Promise<{ bytes: number; entries: number }> {
  const t = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const g = (n: string) => Number(new RegExp(`^${n} (\\S+)$`, "m").exec(t)?.[1] ?? NaN);
  return { bytes: g("dreamserver_cache_bytes"), entries: g("dreamserver_cache_entries") };
}
let failed = false;
try {
  let next = 0;
  const run = async (n: number) => {
    const end = next + n;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        for (;;) {
          const i = next++;
          if (i >= end) return;
          const r = await fetch(`http://127.0.0.1:${port}/item/${i}?v=${i * 7}`);
          await r.arrayBuffer();
          if (r.status !== 200) throw new Error(`status ${r.status} for ${i}`);
        }
      }),
    );
    next = end;
  };
  await run(Math.min(10_000, KEYS));
  const base = rss();
  console.log(`after ${next} keys: rss ${(base / 1048576).toFixed(1)} MiB`, await gauges());
  while (next < KEYS) {
    await run(Math.min(30_000, KEYS - next));
    const g = await gauges();
    const r = rss();
    console.log(`after ${next} keys: rss ${(r / 1048576).toFixed(1)} MiB, cache ${(g.bytes / 1048576).toFixed(2)} MiB in ${g.entries} entries`);
    if (!(g.bytes <= MEMORY)) failed = true;
    if (r - base > SLACK) failed = true;
  }
  console.log(failed ? "FAIL: the bound did not hold" : `ok: cache bytes stayed within ${MEMORY / 1048576} MiB and RSS within ${SLACK / 1048576} MiB of the warm-up`);
} finally {
  proc.kill();
  await proc.exited;
  backend.stop(true);
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
