/**
 * Measures the two ways to run N listeners on one port with Bun — N processes, or one process
 * with N worker threads — each listening with reusePort (SO_REUSEPORT), answering a fixed 4 KiB
 * HTTP/1.1 response. The numbers behind the "Processes or threads" section of docs/architecture.md.
 *
 *   bun scripts/threads-vs-processes.ts [--n 2] [--conns 5000] [--requests 20000] [--smol]
 *
 * For each layout: RSS of every process at idle, with --conns idle keep-alive connections, and
 * CPU µs per request (utime+stime of the listeners over --requests requests sent by this script
 * on 50 keep-alive connections). RSS and CPU per request do not depend much on other load on the
 * machine; req/s would. Not part of `bun test`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, groupCpu, groupPids, intArg, splitFlag, statusKiB, sleep, table, mib } from "./bench.ts";

const HELP = "usage: bun scripts/threads-vs-processes.ts [--n 2] [--conns 5000] [--requests 20000] [--smol]\n";
const o = { n: 2, conns: 5000, requests: 20000, smol: false };
{
  const num = intArg(HELP);
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    const val = (): string | undefined => inline ?? argv[++i];
    if (flag === "--n") o.n = num(flag, val(), 1, 16);
    else if (flag === "--conns") o.conns = num(flag, val(), 1, 50000);
    else if (flag === "--requests") o.requests = num(flag, val(), 100, 10_000_000);
    else if (flag === "--smol") o.smol = true;
    else {
      process.stderr.write(HELP);
      process.exit(2);
    }
  }
}

// The listener: the same code as a process or as a worker thread.
const LISTENER = `
const body = "x".repeat(4096);
const resp = Buffer.from("HTTP/1.1 200 OK\\r\\nContent-Length: 4096\\r\\nContent-Type: text/html\\r\\n\\r\\n" + body);
const port = Number(process.env.TVP_PORT ?? (typeof workerData !== "undefined" ? workerData : 0));
Bun.listen({ hostname: "127.0.0.1", port, reusePort: true, socket: {
  data(s, d) { let n = 0; for (let i = 3; i < d.length; i++) if (d[i] === 10 && d[i-1] === 13 && d[i-2] === 10 && d[i-3] === 13) n++; for (; n > 0; n--) s.write(resp); },
} });
if (Bun.isMainThread) console.log("ready"); else postMessage("ready");
`;
const THREADS_MAIN = `
const n = Number(process.env.TVP_N);
let ready = 0;
for (let i = 0; i < n; i++) {
  const w = new Worker(process.env.TVP_LISTENER);
  w.onmessage = () => { if (++ready === n) console.log("ready"); };
}
`;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ds-tvp-"));
const listenerFile = path.join(tmp, "listener.js");
const threadsFile = path.join(tmp, "threads.js");
fs.writeFileSync(listenerFile, LISTENER.replace("process.env.TVP_PORT ?? (typeof workerData !== \"undefined\" ? workerData : 0)", "process.env.TVP_PORT"));
fs.writeFileSync(threadsFile, THREADS_MAIN);
const bunArgs = o.smol ? ["--smol"] : [];

interface Layout {
  name: string;
  start(port: number): { pgid: number; stop(): void; ready: Promise<void> };
}

function spawnGroup(cmd: string[], env: Record<string, string>): { pgid: number; stop(): void; ready: Promise<void> } {
  const p = Bun.spawn(cmd, { detached: true, stdout: "pipe", stderr: "inherit", env: { ...process.env, ...env } });
  const ready = (async () => {
    const dec = new TextDecoder();
    let seen = "";
    for await (const c of p.stdout) {
      seen += dec.decode(c);
      if (seen.split("ready").length - 1 >= Number(env.TVP_EXPECT ?? 1)) return;
    }
  })();
  return {
    pgid: p.pid,
    ready,
    stop: () => {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {}
    },
  };
}

const layouts: Layout[] = [
  {
    name: `${o.n} process(es)`,
    start(port) {
      // One group: a shell that starts n listener processes and waits.
      const cmd = ["sh", "-c", `for i in $(seq ${o.n}); do "$0" ${bunArgs.join(" ")} "$1" & done; wait`, process.execPath, listenerFile];
      return spawnGroup(cmd, { TVP_PORT: String(port), TVP_EXPECT: String(o.n) });
    },
  },
  {
    name: `1 process, ${o.n} worker thread(s)`,
    start(port) {
      fs.writeFileSync(listenerFile + ".w.js", LISTENER.replace("process.env.TVP_PORT ?? (typeof workerData !== \"undefined\" ? workerData : 0)", String(port)));
      return spawnGroup([process.execPath, ...bunArgs, threadsFile], { TVP_N: String(o.n), TVP_LISTENER: listenerFile + ".w.js" });
    },
  },
];

/** RSS of the group's bun processes (the sh wrapper left out). */
function rss(pgid: number): number {
  const pids = groupPids(pgid).filter((p) => {
    try {
      return fs.readlinkSync(`/proc/${p}/exe`) === fs.realpathSync(process.execPath);
    } catch {
      return false;
    }
  });
  return statusKiB(pids, ["VmRSS"]).VmRSS!;
}

async function openIdle(port: number, n: number): Promise<{ close(): void }> {
  const socks: { end(): void }[] = [];
  const REQ = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (let i = 0; i < n; i += 200) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(200, n - i) }, () =>
        new Promise<{ end(): void }>((resolve, reject) => {
          let got = 0;
          Bun.connect({
            hostname: "127.0.0.1",
            port,
            socket: {
              open(s) {
                s.write(REQ);
              },
              data(s, d) {
                got += d.length;
                if (got >= 4096 + 60) resolve(s);
              },
              connectError(_s, e) {
                reject(e);
              },
            },
          }).catch(reject);
        }),
      ),
    );
    socks.push(...batch);
  }
  return { close: () => socks.forEach((s) => s.end()) };
}

/** --requests requests over 50 keep-alive connections, 1 in flight each; resolves with seconds taken. */
async function load(port: number, total: number): Promise<number> {
  const REQ = Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const RESP_LEN = Buffer.byteLength("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\nContent-Type: text/html\r\n\r\n") + 4096;
  let sent = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: 50 }, () =>
      new Promise<void>((resolve, reject) => {
        let got = 0;
        Bun.connect({
          hostname: "127.0.0.1",
          port,
          socket: {
            open(s) {
              sent++;
              s.write(REQ);
            },
            data(s, d) {
              got += d.length;
              while (got >= RESP_LEN) {
                got -= RESP_LEN;
                if (sent < total) {
                  sent++;
                  s.write(REQ);
                } else {
                  s.end();
                  resolve();
                  return;
                }
              }
            },
            connectError(_s, e) {
              reject(e);
            },
          },
        }).catch(reject);
      }),
    ),
  );
  return (performance.now() - t0) / 1000;
}

const rows: string[][] = [];
for (const l of layouts) {
  const port = freePort();
  const g = l.start(port);
  try {
    await Promise.race([g.ready, sleep(10_000).then(() => Promise.reject(new Error(`${l.name}: not ready in 10 s`)))]);
    await load(port, 2000); // warm-up: JIT
    await sleep(500);
    const idle = rss(g.pgid);
    const c0 = groupCpu(g.pgid);
    const secs = await load(port, o.requests);
    const cpu = groupCpu(g.pgid) - c0;
    const conns = await openIdle(port, o.conns);
    await sleep(1000);
    const withConns = rss(g.pgid);
    conns.close();
    rows.push([l.name, mib(idle), mib(withConns), (((withConns - idle) * 1024) / o.conns / 1024).toFixed(1), ((cpu * 1e6) / o.requests).toFixed(1), Math.round(o.requests / secs).toString()]);
  } finally {
    g.stop();
  }
  await sleep(500);
}
fs.rmSync(tmp, { recursive: true, force: true });
process.stdout.write(
  `Bun ${Bun.version}${o.smol ? " --smol" : ""}, ${os.cpus().length} CPUs, load ${os.loadavg()[0]!.toFixed(2)}; ${o.requests} requests on 50 connections, ${o.conns} idle connections\n` +
    table(["layout", "idle RSS MiB", `RSS with ${o.conns} idle MiB`, "KiB/conn", "CPU µs/req", "req/s (noisy)"], rows, [0]) +
    "\n",
);
