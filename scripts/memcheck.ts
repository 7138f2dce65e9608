/**
 * npm run memcheck — DreamServer's resident memory under many idle connections and slow readers.
 *
 *   bun scripts/memcheck.ts [--conns 5000] [--size 1g] [--chunk-kib 64] [--every-ms 2] [--max-secs 120]
 *
 * 1. Starts dist/dreamserver (built if missing; access log ON to a temp file) on a generated root
 *    and reads its VmRSS (/proc, whole process group).
 * 2. Opens --conns keep-alive connections; each sends one request, reads the whole response and
 *    then stays idle. RSS with all of them open, and again after they are closed.
 * 3. Streams a --size file (sparse, made with truncate: no disk needed) to a slow reader that takes
 *    --chunk-kib every --every-ms (token bucket; the socket is paused in between, so the server
 *    sees TCP backpressure) and samples the server's RSS during the transfer: peak.
 * 4. The same through a second dreamserver started with --proxy to the first one (peaks of both).
 * A server that buffers instead of honouring backpressure shows a peak that grows with --size.
 * Exit status 1 when a check fails, among them: the whole instance (every process of the group,
 * default settings) above --limit-mib (100) RSS with the idle connections open (issue 16's target).
 *
 * The client and the server each need about --conns file descriptors: if `ulimit -n` is too low
 * the script raises its soft limit up to the hard limit (re-running itself under `ulimit -n`),
 * or prints a hint and opens fewer connections. Loopback only; every process group is stopped on
 * exit and on Ctrl-C; the run has a hard time bound.
 */
import type { Socket } from "bun";
import fs from "node:fs";
import path from "node:path";
import { parseSize } from "../src/config/size.ts";
import { BINARY, cleanup, die, ensureBinary, freePort, Group, installCleanup, intArg, isInterrupted, makeTmp, mib, sleep, splitFlag, statusKiB, groupPids, table } from "./bench.ts";

interface Options {
  conns: number;
  size: number;
  chunk: number;
  everyMs: number;
  maxSecs: number;
  limitMiB: number;
}

const HELP = `usage: bun scripts/memcheck.ts [options]     (npm run memcheck -- [options])
  --conns N        idle keep-alive connections to open (default 5000)
  --size SIZE      file streamed to the slow reader, e.g. 256m, 1g (default 1g)
  --chunk-kib N    the slow reader takes N KiB… (default 64)
  --every-ms N     …every N ms (default 2, about 32 MiB/s with 64 KiB)
  --max-secs N     stop a slow transfer after N seconds (default 120)
  --limit-mib N    fail when the instance's RSS with the idle connections open exceeds N MiB (default 100 on a
                   machine with 1 or 2 CPUs, where the default is one process; 0 = no check)
`;

function parseArgs(argv: string[]): Options {
  const o: Options = { conns: 5000, size: 1024 ** 3, chunk: 64 * 1024, everyMs: 2, maxSecs: 120, limitMiB: (navigator.hardwareConcurrency || 1) <= 2 ? 100 : 0 };
  const num = intArg(HELP);
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    const val = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--conns": o.conns = num(flag, val(), 1, 100_000); break;
      case "--size": {
        const v = val() ?? "";
        const n = parseSize(v);
        if (n === null || n < 1 || n > 64 * 1024 ** 3) die(`--size: "${v}" is not a size from 1 to 64g (e.g. 256m, 1g)`, 2);
        o.size = n;
        break;
      }
      case "--chunk-kib": o.chunk = num(flag, val(), 1, 65536) * 1024; break;
      case "--every-ms": o.everyMs = num(flag, val(), 1, 1000); break;
      case "--max-secs": o.maxSecs = num(flag, val(), 1, 3600); break;
      case "--limit-mib": o.limitMiB = num(flag, val(), 0, 1_000_000); break;
      case "-h":
      case "--help": process.stdout.write(HELP); process.exit(0);
      default: die(`unknown option ${argv[i]}\n\n${HELP}`, 2);
    }
  }
  return o;
}

function ulimit(flag: "-n" | "-Hn"): number {
  const out = Bun.spawnSync(["sh", "-c", `ulimit ${flag}`]).stdout.toString().trim();
  return out === "unlimited" ? Infinity : Number(out) || 0;
}

/** Make sure this process (and so the servers it starts) may open enough descriptors. */
async function ensureFdLimit(o: Options): Promise<void> {
  const need = o.conns + 512;
  const soft = ulimit("-n");
  if (soft >= need) return;
  const hard = ulimit("-Hn");
  if (hard >= need && !process.env.MEMCHECK_ULIMIT_RAISED) {
    process.stderr.write(`ulimit -n is ${soft}; re-running under ulimit -n ${need}\n`);
    const child = Bun.spawn(["sh", "-c", `ulimit -n ${need} && exec "$0" "$@"`, process.execPath, import.meta.path, ...process.argv.slice(2)], {
      stdio: ["inherit", "inherit", "inherit"],
      env: { ...process.env, MEMCHECK_ULIMIT_RAISED: "1" },
    });
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(sig, () => child.kill(sig));
    process.exit(await child.exited);
  }
  const fit = Math.max(100, soft - 512);
  process.stderr.write(
    `hint: ulimit -n is ${soft} (hard ${hard}); ${o.conns} connections need about ${need} descriptors in this process and in the server.\n` +
      `      Raise it (e.g. \`ulimit -n 65536\`, or nofile in /etc/security/limits.conf) and run again; continuing with ${fit} connections.\n`,
  );
  o.conns = fit;
}

interface Mem {
  rss: number;
  anon: number;
}
function mem(g: Group): Mem {
  const s = statusKiB(groupPids(g.pgid), ["VmRSS", "RssAnon"]);
  return { rss: s.VmRSS!, anon: s.RssAnon! };
}

/** A transfer with no byte for this long (while the reader wants more) is reported as stalled. */
const STALL_SECS = 15;

const REQ = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: memcheck\r\n\r\n`;
const HEAD_END = Buffer.from("\r\n\r\n");

/** Incremental HTTP/1.1 response reader: head, then Content-Length body bytes. */
class ResponseReader {
  private head: Buffer | null = Buffer.alloc(0);
  status = 0;
  length = -1;
  body = 0;
  /** Feed bytes; true once the whole response arrived. */
  feed(chunk: Uint8Array): boolean {
    if (this.head !== null) {
      const buf = Buffer.concat([this.head, chunk]);
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        if (buf.length > 65536) throw new Error("response head too large");
        this.head = buf;
        return false;
      }
      const text = buf.subarray(0, end).toString("latin1");
      this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(text);
      if (!cl) throw new Error(`response without Content-Length (status ${this.status})`);
      this.length = Number(cl[1]);
      this.body = buf.length - end - 4;
      this.head = null;
    } else {
      this.body += chunk.length;
    }
    return this.body >= this.length;
  }
}

interface Idle {
  sockets: Socket<IdleState>[];
  failed: number;
  firstError: string;
  closedByServer: () => number;
}
interface IdleState {
  reader: ResponseReader;
  finished: boolean;
  resolve: (s: Socket<IdleState>) => void;
  reject: (e: Error) => void;
}

/** Open n connections, one request each, fully read; they then stay open and idle. */
async function openIdle(port: number, n: number, onProgress: (done: number) => void): Promise<Idle> {
  let closedAfter = 0;
  const sockets: Socket<IdleState>[] = [];
  let failed = 0;
  let firstError = "";
  const one = (): Promise<Socket<IdleState>> =>
    new Promise((resolve, reject) => {
      const st: IdleState = { reader: new ResponseReader(), finished: false, resolve, reject };
      const timer = setTimeout(() => reject(new Error("no response within 15 s")), 15_000);
      st.resolve = (s) => (clearTimeout(timer), resolve(s));
      st.reject = (e) => (clearTimeout(timer), reject(e));
      Bun.connect<IdleState>({
        hostname: "127.0.0.1",
        port,
        data: st,
        socket: {
          open(s) {
            s.write(REQ("/index.html"));
          },
          data(s, chunk) {
            if (s.data.finished) return;
            try {
              if (s.data.reader.feed(chunk)) {
                s.data.finished = true;
                if (s.data.reader.status !== 200) s.data.reject(new Error(`status ${s.data.reader.status}`));
                else s.data.resolve(s);
              }
            } catch (e) {
              s.data.reject(e as Error);
            }
          },
          close(s) {
            if (s.data.finished) closedAfter++;
            else s.data.reject(new Error("closed before the response"));
          },
          error(s, e) {
            s.data.reject(e);
          },
          connectError(_s, e) {
            st.reject(e);
          },
        },
      }).catch((e: Error) => st.reject(e));
    });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n && !isInterrupted()) {
      next++;
      try {
        sockets.push(await one());
      } catch (e) {
        failed++;
        firstError ||= (e as Error).message ?? String(e);
      }
      if ((sockets.length + failed) % 500 === 0) onProgress(sockets.length + failed);
    }
  };
  await Promise.all(Array.from({ length: Math.min(100, n) }, worker));
  return { sockets, failed, firstError, closedByServer: () => closedAfter };
}

interface Transfer {
  bytes: number;
  secs: number;
  complete: boolean;
  error: string;
  peaks: Mem[];
  before: Mem[];
}

/** GET path and read it at chunk bytes per everyMs; sample the groups' memory every 100 ms. */
async function slowRead(port: number, urlPath: string, o: Options, groups: Group[], log: (s: string) => void): Promise<Transfer> {
  const before = groups.map(mem);
  const peaks = before.map((m) => ({ ...m }));
  const sample = (): void => {
    groups.forEach((g, i) => {
      const m = mem(g);
      peaks[i]!.rss = Math.max(peaks[i]!.rss, m.rss);
      peaks[i]!.anon = Math.max(peaks[i]!.anon, m.anon);
    });
  };
  const reader = new ResponseReader();
  const t0 = performance.now();
  let tokens = o.chunk;
  let sock: Socket<undefined> | null = null;
  let lastReport = t0;
  let lastByte = t0;
  const result = await new Promise<{ complete: boolean; error: string }>((resolve) => {
    let settled = false;
    const finish = (complete: boolean, error = ""): void => {
      if (settled) return;
      settled = true;
      clearInterval(bucket);
      clearInterval(sampler);
      clearTimeout(limit);
      sock?.end();
      resolve({ complete, error });
    };
    const bucket = setInterval(() => {
      tokens = Math.min(tokens + o.chunk, o.chunk);
      if (tokens > 0 && sock) sock.resume();
      if (isInterrupted()) finish(false, "interrupted");
    }, o.everyMs);
    const sampler = setInterval(() => {
      sample();
      const now = performance.now();
      if (now - lastByte > STALL_SECS * 1000) {
        finish(false, `stalled: no byte for ${STALL_SECS} s after ${mib(Math.max(0, reader.body) / 1024)} MiB`);
        return;
      }
      if (now - lastReport > 5000) {
        lastReport = now;
        log(`  … ${mib(reader.body / 1024)} MiB of ${mib(o.size / 1024)} MiB, server RSS ${groups.map((g) => mib(mem(g).rss)).join(" / ")} MiB`);
      }
    }, 100);
    const limit = setTimeout(() => finish(false, `stopped after --max-secs ${o.maxSecs}`), o.maxSecs * 1000);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          sock = s;
          s.write(REQ(urlPath));
        },
        data(s, chunk) {
          lastByte = performance.now();
          try {
            if (reader.feed(chunk)) {
              if (reader.status !== 200) finish(false, `status ${reader.status}`);
              else finish(true);
              return;
            }
          } catch (e) {
            finish(false, (e as Error).message);
            return;
          }
          tokens -= chunk.length;
          if (tokens <= 0) s.pause();
        },
        close() {
          finish(reader.length >= 0 && reader.body >= reader.length, reader.length >= 0 && reader.body >= reader.length ? "" : "connection closed early");
        },
        error(_s, e) {
          finish(false, e.message);
        },
        connectError(_s, e) {
          finish(false, e.message);
        },
      },
    }).catch((e: Error) => finish(false, e.message));
  });
  sample();
  return { bytes: Math.max(0, reader.body), secs: (performance.now() - t0) / 1000, ...result, peaks, before };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  await ensureFdLimit(o);
  const log = (s: string): void => void process.stderr.write(s + "\n");
  installCleanup((90 + 2 * (o.maxSecs + 15)) * 1000);
  ensureBinary();

  const tmp = makeTmp("ds-memcheck-");
  const root = path.join(tmp, "root");
  fs.mkdirSync(root, { mode: 0o755 });
  fs.writeFileSync(path.join(root, "index.html"), "<!doctype html><title>memcheck</title>".padEnd(4096), { mode: 0o644 });
  const big = path.join(root, "big.bin");
  fs.writeFileSync(big, "", { mode: 0o644 });
  fs.truncateSync(big, o.size); // sparse: reads are zeros from the page cache, no disk space used

  const port = freePort();
  const server = new Group("dreamserver", [BINARY, "--listen", `127.0.0.1:${port}`, "--root", root, "--access-log", path.join(tmp, "access.log")], path.join(tmp, "server.out"));
  await server.waitPort(port);
  await fetch(`http://127.0.0.1:${port}/index.html`).then((r) => r.arrayBuffer()); // warm: first request paths loaded
  await sleep(500);
  const idle0 = mem(server);
  log(`server idle: ${mib(idle0.rss)} MiB RSS. Opening ${o.conns} keep-alive connections…`);

  const t0 = performance.now();
  const idle = await openIdle(port, o.conns, (d) => log(`  … ${d} / ${o.conns}`));
  const openSecs = (performance.now() - t0) / 1000;
  await sleep(1000);
  const idle1 = mem(server);
  const stillOpen = idle.sockets.length - idle.closedByServer();
  if (idle.failed) log(`  ${idle.failed} connections failed (first: ${idle.firstError})`);
  for (const s of idle.sockets) s.end();
  await sleep(1000);
  const idle2 = mem(server);
  if (isInterrupted()) return;

  log(`streaming ${mib(o.size / 1024)} MiB to a slow reader (${o.chunk / 1024} KiB every ${o.everyMs} ms)…`);
  const direct = await slowRead(port, "/big.bin", o, [server], log);
  if (isInterrupted()) return;

  const pport = freePort();
  const proxy = new Group("dreamserver --proxy", [BINARY, "--listen", `127.0.0.1:${pport}`, "--proxy", `http://127.0.0.1:${port}`, "--access-log", path.join(tmp, "proxy-access.log")], path.join(tmp, "proxy.out"));
  await proxy.waitPort(pport);
  await fetch(`http://127.0.0.1:${pport}/index.html`).then((r) => r.arrayBuffer());
  await sleep(500);
  log(`the same through dreamserver --proxy…`);
  const proxied = await slowRead(pport, "/big.bin", o, [proxy, server], log);
  await cleanup();

  const perConn = stillOpen > 0 ? ((idle1.rss - idle0.rss) / stillOpen).toFixed(1) : "?";
  const verdict = (grow: number): string => (grow > 64 * 1024 ? "GROWS: buffering instead of backpressure?" : "ok");
  const xfer = (t: Transfer): string =>
    `${mib(t.bytes / 1024)} MiB in ${t.secs.toFixed(1)} s (${(t.bytes / 1048576 / t.secs).toFixed(1)} MiB/s)${t.complete ? "" : `, INCOMPLETE: ${t.error}`}`;
  const rows: string[][] = [
    ["static server idle (after one request)", mib(idle0.rss), mib(idle0.anon), ""],
    [`${stillOpen} idle keep-alive connections open`, mib(idle1.rss), mib(idle1.anon), `+${perConn} KiB RSS per connection; opened in ${openSecs.toFixed(1)} s${idle.failed ? `; ${idle.failed} failed` : ""}`],
    ["1 s after closing them", mib(idle2.rss), mib(idle2.anon), ""],
    ["slow reader, static: before", mib(direct.before[0]!.rss), mib(direct.before[0]!.anon), ""],
    ["slow reader, static: peak", mib(direct.peaks[0]!.rss), mib(direct.peaks[0]!.anon), `+${mib(direct.peaks[0]!.rss - direct.before[0]!.rss)} MiB, ${verdict(direct.peaks[0]!.rss - direct.before[0]!.rss)}; ${xfer(direct)}`],
    ["slow reader via --proxy: proxy before", mib(proxied.before[0]!.rss), mib(proxied.before[0]!.anon), ""],
    ["slow reader via --proxy: proxy peak", mib(proxied.peaks[0]!.rss), mib(proxied.peaks[0]!.anon), `+${mib(proxied.peaks[0]!.rss - proxied.before[0]!.rss)} MiB, ${verdict(proxied.peaks[0]!.rss - proxied.before[0]!.rss)}; ${xfer(proxied)}`],
    ["slow reader via --proxy: origin peak", mib(proxied.peaks[1]!.rss), mib(proxied.peaks[1]!.anon), `+${mib(proxied.peaks[1]!.rss - proxied.before[1]!.rss)} MiB over its ${mib(proxied.before[1]!.rss)} MiB before`],
  ];
  const problems: string[] = [];
  if (idle.failed) problems.push(`${idle.failed} of ${o.conns} idle connections failed (first: ${idle.firstError})`);
  if (stillOpen < idle.sockets.length) problems.push(`${idle.sockets.length - stillOpen} idle connections were closed by the server within 1 s`);
  if (o.limitMiB > 0 && idle1.rss > o.limitMiB * 1024) problems.push(`${stillOpen} idle connections: the instance uses ${mib(idle1.rss)} MiB RSS, over --limit-mib ${o.limitMiB}`);
  if (!direct.complete) problems.push(`static slow transfer incomplete: ${direct.error}`);
  if (!proxied.complete) problems.push(`proxied slow transfer incomplete: ${proxied.error}`);
  for (const [what, grow] of [["static", direct.peaks[0]!.rss - direct.before[0]!.rss], ["proxy", proxied.peaks[0]!.rss - proxied.before[0]!.rss]] as const) {
    if (grow > 64 * 1024) problems.push(`${what} server RSS grew by ${mib(grow)} MiB during the slow transfer`);
  }
  if (problems.length) process.exitCode = 1;
  process.stdout.write(
    `\nDreamServer memory check — ${path.relative(process.cwd(), BINARY) || BINARY}, VmRSS / RssAnon of each server process, MiB\n` +
      table(["  measurement", "RSS", "anon", "detail"], rows.map((r) => ["  " + r[0], ...r.slice(1)]), [0, 3]) +
      "\n" +
      (problems.length ? `\nPROBLEMS:\n${problems.map((p) => `  - ${p}`).join("\n")}\n` : ""),
  );
}

if (import.meta.main) {
  main().catch(async (e) => {
    if (isInterrupted()) return;
    process.stderr.write(`memcheck failed: ${(e as Error)?.message ?? e}\n`);
    await cleanup();
    process.exit(1);
  });
}
