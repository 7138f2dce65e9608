/**
 * npm run bench — DreamServer against nginx (and haproxy for the proxy) on this machine, with wrk.
 *
 *   bun scripts/bench.ts [--scenario static|large|pipeline|proxy|all] [--rounds 3] [--secs 5]
 *                        [--conns 50] [--threads 1] [--workers 1] [--nginx-workers 2]
 *                        [--ds-args "--cache-validity 1s"] [--json]
 *
 * Scenarios (comma-separated list allowed; `all` = the table of issue 16, in this order):
 *   static         GET /index.html (4 KiB) from a generated document root
 *   large          GET /1m.bin (1 MiB)
 *   pipeline       GET /index.html, 16 requests per write (wrk Lua script)
 *   proxy          GET / through each proxy to one shared fixed-response backend (Bun.serve, 19-byte body)
 *   latency        the proxy scenario at moderate load (--latency-conns, default 4 connections):
 *                  p50/p99 through each proxy minus p50/p99 going direct to the backend
 *   latency-paced  the same at a fixed moderate rate instead of a closed loop: --paced-conns
 *                  (default 16) connections, each pausing a random 0-2 ms before every request
 *                  (about a third of the proxy's closed-loop rate on the development VM)
 *   routes-static  static 4 KiB: the plain one-route server against a realistic config
 *   routes-proxy   proxy: the same pair (scripts/bench/realistic-*.toml: 20 routes, header rules on
 *                  the matched route, metrics on with an admin listener, access log on)
 *   memory         npm run memcheck (scripts/memcheck.ts): RSS of the whole instance with 5,000
 *                  idle keep-alive connections, default settings
 *
 * Every server runs as users run it: the compiled dist/dreamserver (built if missing) with its
 * access log ON (to a temp file); nginx with a tuned production config (N workers, sendfile,
 * open_file_cache, keep-alive, access_log buffer=64k, upstream keepalive); haproxy (nbthread N,
 * http-reuse always). nginx / haproxy are skipped when not installed. Everything listens on
 * 127.0.0.1 only.
 *
 * Rounds alternate A B A B… so drift (other load, thermal) hits every server alike. For each run:
 * req/s and p99 latency from `wrk --latency`, and server CPU µs per request = utime+stime of the
 * server's whole process group (master + workers, from /proc/<pid>/stat) over the run divided by
 * the requests wrk completed. On a small machine wrk saturates its own core, so CPU per request
 * is the steadier comparison; the "wrk cpu" column shows when the client was the bottleneck.
 * Peak RSS is the highest sum of VmRSS over the server's processes, sampled during the runs
 * (shared pages count once per process, which slightly favours single-process servers).
 *
 * Each server is its own process group (setsid); all groups are stopped on exit, on Ctrl-C and
 * on SIGTERM, and the whole run has a hard time bound. Not part of `bun test` (tests/ only).
 */
import { spawnSync, type Subprocess } from "bun";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dir, "..");
export const BINARY = path.join(REPO, "dist/dreamserver");

// ───────────────────────────── shared helpers (also used by scripts/memcheck.ts) ─────────────

export function die(msg: string, code = 1): never {
  process.stderr.write(`${msg}\n`);
  process.exit(code);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A command on PATH, also looking in the sbin directories (nginx/haproxy live there on Debian). */
export function which(cmd: string): string | null {
  return Bun.which(cmd) ?? Bun.which(cmd, { PATH: "/usr/local/sbin:/usr/sbin:/sbin" });
}

/** Build dist/dreamserver if it is missing; warn if it is older than the sources. */
export function ensureBinary(): void {
  if (!fs.existsSync(BINARY)) {
    process.stderr.write("dist/dreamserver missing: building it (bun scripts/build.ts)…\n");
    const r = spawnSync([process.execPath, path.join(REPO, "scripts/build.ts")], { cwd: REPO, stdout: "inherit", stderr: "inherit" });
    if (r.exitCode !== 0 || !fs.existsSync(BINARY)) die("build failed: see the output above");
    return;
  }
  const built = fs.statSync(BINARY).mtimeMs;
  let newest = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, fs.statSync(p).mtimeMs);
    }
  };
  try {
    walk(path.join(REPO, "src"));
  } catch {}
  if (newest > built) process.stderr.write("note: dist/dreamserver is older than src/ — run `npm run build` to measure the current code\n");
}

export function makeTmp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o755); // nginx workers run as an unprivileged user
  tmpDirs.add(d);
  return d;
}

/** An unused 127.0.0.1 port (bound and released; the race is harmless on a bench machine). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every mainstream Linux). */
const TICK = (() => {
  try {
    const n = Number(spawnSync(["getconf", "CLK_TCK"]).stdout?.toString().trim());
    if (Number.isFinite(n) && n > 0) return n;
  } catch {}
  return 100;
})();

/** The /proc/PID/stat fields (after the command name) of every process, by pid. */
function procStats(): [number, string[]][] {
  const out: [number, string[]][] = [];
  for (const d of fs.readdirSync("/proc")) {
    const c = d.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${d}/stat`, "latin1");
    } catch {
      continue;
    }
    out.push([Number(d), stat.slice(stat.lastIndexOf(")") + 2).split(" ")]);
  }
  return out;
}

/** Live (non-zombie) pids of process group pgid. */
export function groupPids(pgid: number): number[] {
  return procStats()
    .filter(([, f]) => Number(f[2]) === pgid && f[0] !== "Z")
    .map(([pid]) => pid);
}

/** CPU seconds (user + system) of every live process in group pgid. */
export function groupCpu(pgid: number): number {
  let ticks = 0;
  for (const [, f] of procStats()) if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
  return ticks / TICK;
}

/** Fields of /proc/<pid>/status in KiB (VmRSS, RssAnon, RssFile, …), summed over pids. */
export function statusKiB(pids: number[], fields: string[]): Record<string, number> {
  const sum: Record<string, number> = Object.fromEntries(fields.map((f) => [f, 0]));
  for (const pid of pids) {
    let s: string;
    try {
      s = fs.readFileSync(`/proc/${pid}/status`, "latin1");
    } catch {
      continue;
    }
    for (const f of fields) {
      const m = new RegExp(`^${f}:\\s+(\\d+) kB`, "m").exec(s);
      if (m) sum[f]! += Number(m[1]);
    }
  }
  return sum;
}

/** Resident memory of the whole group, KiB. */
export function groupRssKiB(pgid: number): number {
  return statusKiB(groupPids(pgid), ["VmRSS"]).VmRSS!;
}

const groups = new Set<Group>();
const tmpDirs = new Set<string>();
const children = new Set<Subprocess>();

/** A server started in its own process group (setsid), output to a log file. */
export class Group {
  readonly proc: Subprocess;
  readonly pgid: number;
  constructor(
    readonly name: string,
    cmd: string[],
    readonly logPath: string,
    env: Record<string, string> = {},
  ) {
    const fd = fs.openSync(logPath, "a");
    try {
      this.proc = Bun.spawn(cmd, { detached: true, stdin: "ignore", stdout: fd, stderr: fd, env: { ...process.env, ...env } });
    } finally {
      fs.closeSync(fd);
    }
    this.pgid = this.proc.pid;
    groups.add(this);
  }
  tail(n = 600): string {
    try {
      return fs.readFileSync(this.logPath, "utf8").slice(-n).trim();
    } catch {
      return "";
    }
  }
  signal(sig: NodeJS.Signals): void {
    try {
      process.kill(-this.pgid, sig);
    } catch {}
  }
  alive(): boolean {
    return groupPids(this.pgid).length > 0;
  }
  cpu(): number {
    return groupCpu(this.pgid);
  }
  rssKiB(): number {
    return groupRssKiB(this.pgid);
  }
  /** Wait until something accepts on 127.0.0.1:port; fail with the server's output if it exits. */
  async waitPort(port: number, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`${this.name} exited (${this.proc.exitCode ?? this.proc.signalCode}) before listening on ${port}:\n${this.tail()}`);
      }
      try {
        const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
        s.end();
        return;
      } catch {
        await sleep(100);
      }
    }
    throw new Error(`${this.name} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000} s:\n${this.tail()}`);
  }
  /** SIGTERM the group, SIGKILL whatever is left after graceMs. */
  async stop(graceMs = 3000): Promise<void> {
    this.signal("SIGTERM");
    const end = Date.now() + graceMs;
    while (Date.now() < end && groupPids(this.pgid).length > 0) await sleep(50);
    this.signal("SIGKILL");
    groups.delete(this);
  }
}

/** Track a non-detached child (wrk, a client) so cleanup can kill it. */
export function track<T extends Subprocess>(p: T): T {
  children.add(p);
  p.exited.then(() => children.delete(p));
  return p;
}

function cleanupNow(): void {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
  for (const g of groups) g.signal("SIGKILL");
  groups.clear();
  if (process.env.BENCH_KEEP_TMP) for (const d of tmpDirs) process.stderr.write(`kept ${d} (BENCH_KEEP_TMP)\n`);
  else for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
}

/** Stop every server gracefully (bounded) and remove temp dirs. */
export async function cleanup(): Promise<void> {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
  await Promise.all([...groups].map((g) => g.stop()));
  cleanupNow();
}

/** Ctrl-C / SIGTERM / SIGHUP / exit → stop every process group; a hard deadline bounds the run. */
let interrupted = false;
/** True once Ctrl-C / SIGTERM arrived: the main flow should stop quietly (the handler exits 130). */
export function isInterrupted(): boolean {
  return interrupted;
}

export function installCleanup(deadlineMs: number): void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      if (interrupted) {
        cleanupNow();
        process.exit(130);
      }
      interrupted = true;
      process.stderr.write(`\n${sig}: stopping the servers…\n`);
      cleanup().finally(() => process.exit(130));
    });
  }
  process.on("exit", cleanupNow);
  const t = setTimeout(() => {
    process.stderr.write(`run exceeded its time bound (${Math.round(deadlineMs / 1000)} s): stopping\n`);
    cleanupNow();
    process.exit(3);
  }, deadlineMs);
  t.unref();
}

export function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const mib = (kib: number): string => (kib / 1024).toFixed(1);
const int = (n: number): string => Math.round(n).toLocaleString("en-US");

/** Columns listed in `left` (default the first) are left-aligned, the others right-aligned. */
export function table(header: string[], rows: string[][], left: number[] = [0]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]): string => r.map((c, i) => (left.includes(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

// ───────────────────────────── the benchmark ─────────────────────────────

type ScenarioName = "static" | "large" | "pipeline" | "proxy" | "latency" | "latency-paced" | "routes-static" | "routes-proxy" | "memory";

interface Scenario {
  readonly title: string;
  readonly path: string;
  readonly depth: number;
  readonly bodyBytes: number;
  /** Which servers it needs: the static ones, the proxy ones, or none (memory runs memcheck). */
  readonly mode: "static" | "proxy" | "none";
  /** Who is compared: the reference servers (nginx, haproxy), the realistic config, or going direct. */
  readonly compare: "reference" | "realistic" | "direct" | "none";
  /** Each connection pauses a random 0-2 ms before each request (wrk Lua `delay`): a fixed moderate rate, not a closed loop. */
  readonly paced?: boolean;
}

const SCENARIOS: Record<ScenarioName, Scenario> = {
  static: { title: "static GET /index.html (4 KiB)", path: "/index.html", depth: 1, bodyBytes: 4096, mode: "static", compare: "reference" },
  large: { title: "static GET /1m.bin (1 MiB)", path: "/1m.bin", depth: 1, bodyBytes: 1 << 20, mode: "static", compare: "reference" },
  pipeline: { title: "static GET /index.html, pipelined 16 deep", path: "/index.html", depth: 16, bodyBytes: 4096, mode: "static", compare: "reference" },
  proxy: { title: "proxy GET / → shared Bun.serve backend (19-byte body)", path: "/", depth: 1, bodyBytes: 19, mode: "proxy", compare: "reference" },
  latency: { title: "proxy latency added over going direct, moderate load", path: "/", depth: 1, bodyBytes: 19, mode: "proxy", compare: "direct" },
  "latency-paced": { title: "proxy latency added over going direct, paced: each connection pauses a random 0-2 ms before each request", path: "/", depth: 1, bodyBytes: 19, mode: "proxy", compare: "direct", paced: true },
  "routes-static": { title: "static 4 KiB: realistic config (20 routes, header rules, metrics, access log) vs plain", path: "/index.html", depth: 1, bodyBytes: 4096, mode: "static", compare: "realistic" },
  "routes-proxy": { title: "proxy: realistic config (20 routes, header rules, metrics, access log) vs plain", path: "/", depth: 1, bodyBytes: 19, mode: "proxy", compare: "realistic" },
  memory: { title: "memory: whole instance with 5,000 idle keep-alive connections (npm run memcheck)", path: "", depth: 1, bodyBytes: 0, mode: "none", compare: "none" },
};

/** The realistic config's name in the tables. */
const REALISTIC = "dreamserver realistic";

const BACKEND_BODY = "hello from backend\n"; // 19 bytes

interface Options {
  scenarios: ScenarioName[];
  rounds: number;
  secs: number;
  conns: number;
  threads: number;
  /** dreamserver --workers; "auto" passes nothing (what users get by default). */
  workers: number | "auto";
  latencyConns: number;
  pacedConns: number;
  nginxWorkers: number;
  dsArgs: string[];
  json: boolean;
}

const HELP = `usage: bun scripts/bench.ts [options]     (npm run bench -- [options])
  --scenario S        static | large | pipeline | proxy | latency | latency-paced | routes-static |
                      routes-proxy | memory | all, or a comma list (default all)
  --rounds N          interleaved rounds per server (default 3)
  --secs N            seconds per wrk run (default 5)
  --conns N           wrk connections (default 50)
  --threads N         wrk threads (default 1)
  --workers N|auto    dreamserver --workers (default auto: the default users get, no flag)
  --latency-conns N   wrk connections for the latency scenario (default 4)
  --paced-conns N     wrk connections for the latency-paced scenario (default 16)
  --nginx-workers N   nginx worker_processes / haproxy nbthread (default 2)
  --ds-args "..."     extra dreamserver flags, e.g. "--cache-validity 1s"
  --json              machine-readable results on stdout (progress stays on stderr)
Needs wrk (apt-get install wrk nginx); nginx and haproxy are compared when installed.
`;

/** "--flag=value" → ["--flag", "value"]; anything else → [arg, undefined]. Shared with memcheck.ts. */
export function splitFlag(a: string): [string, string | undefined] {
  const eq = a.indexOf("=");
  return a.startsWith("--") && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
}

/** An integer option parser that exits 2 with the help text on a bad value. Shared with memcheck.ts. */
export function intArg(help: string): (flag: string, v: string | undefined, min: number, max: number) => number {
  return (flag, v, min, max) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min || n > max) die(`${flag}: expected an integer from ${min} to ${max}, got ${v ?? "nothing"}\n\n${help}`, 2);
    return n;
  };
}

function parseArgs(argv: string[]): Options {
  const o: Options = { scenarios: Object.keys(SCENARIOS) as ScenarioName[], rounds: 3, secs: 5, conns: 50, threads: 1, workers: "auto", latencyConns: 4, pacedConns: 16, nginxWorkers: 2, dsArgs: [], json: false };
  const num = intArg(HELP);
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    const val = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case "--scenario": {
        const v = val() ?? "";
        const names = v === "all" ? Object.keys(SCENARIOS) : v.split(",").map((s) => s.trim());
        for (const n of names) if (!(n in SCENARIOS)) die(`--scenario: unknown "${n}"; use ${Object.keys(SCENARIOS).join(", ")} or all`, 2);
        o.scenarios = [...new Set(names)] as ScenarioName[];
        break;
      }
      case "--rounds": o.rounds = num(flag, val(), 1, 20); break;
      case "--secs": o.secs = num(flag, val(), 1, 60); break;
      case "--conns": o.conns = num(flag, val(), 1, 5000); break;
      case "--threads": o.threads = num(flag, val(), 1, 16); break;
      case "--workers": {
        const v = val();
        o.workers = v === "auto" ? "auto" : num(flag, v, 1, 64);
        break;
      }
      case "--latency-conns": o.latencyConns = num(flag, val(), 1, 1000); break;
      case "--paced-conns": o.pacedConns = num(flag, val(), 1, 1000); break;
      case "--nginx-workers": o.nginxWorkers = num(flag, val(), 1, 64); break;
      case "--ds-args": o.dsArgs = (val() ?? "").split(/\s+/).filter(Boolean); break;
      case "--json": o.json = true; break;
      case "-h":
      case "--help": process.stdout.write(HELP); process.exit(0);
      default: die(`unknown option ${argv[i]}\n\n${HELP}`, 2);
    }
  }
  if (o.conns < o.threads) die("--conns must be at least --threads", 2);
  return o;
}

interface Target {
  readonly name: string; // dreamserver | nginx | haproxy
  readonly port: number;
  readonly group: Group;
}

interface Run {
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  requests: number;
  cpuUsPerReq: number;
  errors: number;
  errorDetail: string;
  wrkCpuPct: number;
  peakRssKiB: number;
}

function makeRoot(dir: string): void {
  fs.mkdirSync(dir, { mode: 0o755 });
  const html = "<!doctype html><html><head><title>bench</title></head><body>" + "<p>Hello from the static file server benchmark.</p>\n".repeat(80);
  fs.writeFileSync(path.join(dir, "index.html"), html.slice(0, 4096).padEnd(4096), { mode: 0o644 });
  fs.writeFileSync(path.join(dir, "small.txt"), "hello world\n", { mode: 0o644 });
  const big = Buffer.allocUnsafe(1 << 20);
  crypto.getRandomValues(big.subarray(0, 65536));
  for (let off = 65536; off < big.length; off += 65536) big.copy(big, off, 0, 65536);
  fs.writeFileSync(path.join(dir, "1m.bin"), big, { mode: 0o644 });
}

function nginxConf(o: { prefix: string; root: string; workers: number; staticPort: number; proxyPort: number | null; backendPort: number | null }): string {
  const p = o.prefix;
  const proxy =
    o.proxyPort !== null && o.backendPort !== null
      ? `  upstream backend { server 127.0.0.1:${o.backendPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${o.proxyPort};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffering off;
    }
  }
`
      : "";
  return `# generated by scripts/bench.ts: a tuned production-like nginx
worker_processes ${o.workers};
daemon off;
pid ${p}/nginx.pid;
error_log ${p}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${p}/access.log combined buffer=64k flush=1s;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 75s;
  keepalive_requests 100000;
  open_file_cache max=1000 inactive=60s;
  types { text/html html; text/css css; text/plain txt; application/octet-stream bin; }
  default_type application/octet-stream;
  client_body_temp_path ${p}/tmp; proxy_temp_path ${p}/tmp; fastcgi_temp_path ${p}/tmp; uwsgi_temp_path ${p}/tmp; scgi_temp_path ${p}/tmp;
  server { listen 127.0.0.1:${o.staticPort}; root ${o.root}; }
${proxy}}
`;
}

function haproxyConf(port: number, backendPort: number, threads: number): string {
  return `# generated by scripts/bench.ts
global
  maxconn 4000
  nbthread ${threads}
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${port}
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:${backendPort}
`;
}

function parseWrk(out: string): { rps: number; p50Ms: number | null; p99Ms: number | null; requests: number; errors: number; errorDetail: string } {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  // wrk sometimes prints "99% 0.00us" when requests are pipelined (latency is sampled per batch): n/a.
  const pct = (n: number): number | null => {
    const p = new RegExp(`^\\s*${n}%\\s+([\\d.]+)(us|ms|s)\\b`, "m").exec(out);
    return p && Number(p[1]) > 0 ? (p[2] === "us" ? Number(p[1]) / 1000 : p[2] === "s" ? Number(p[1]) * 1000 : Number(p[1])) : null;
  };
  const p50Ms = pct(50);
  const p99Ms = pct(99);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockSum = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const detail = [non2xx ? `non-2xx ${non2xx}` : "", sockSum ? `socket errors: connect ${sock![1]}, read ${sock![2]}, write ${sock![3]}, timeout ${sock![4]}` : ""].filter(Boolean).join("; ");
  return { rps, p50Ms, p99Ms, requests, errors: non2xx + sockSum, errorDetail: detail };
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (s: string): void => void process.stderr.write(s + "\n");
  const wrkBin = which("wrk");
  if (!wrkBin) die("wrk not found: install it with `apt-get install wrk nginx` (nginx and haproxy are optional references)");
  const nginxBin = which("nginx");
  const haproxyBin = which("haproxy");
  const needProxy = o.scenarios.some((s) => SCENARIOS[s].mode === "proxy");
  const needStatic = o.scenarios.some((s) => SCENARIOS[s].mode === "static");
  const wrkScenarios = o.scenarios.filter((s) => SCENARIOS[s].mode !== "none");

  // Bounded run time: every wrk run plus a warm-up per server and scenario, plus start/stop slack.
  const perScenario = (s: ScenarioName): number => {
    const c = SCENARIOS[s].compare;
    if (c === "realistic") return 2;
    return 1 + (nginxBin ? 1 : 0) + (SCENARIOS[s].mode === "proxy" && haproxyBin ? 1 : 0) + (c === "direct" ? 1 : 0);
  };
  const runs = wrkScenarios.reduce((a, s) => a + perScenario(s), 0);
  const estimate = runs * (o.rounds * o.secs + 1) + (o.scenarios.includes("memory") ? 60 : 0);
  installCleanup((estimate * 1.5 + 90) * 1000);
  ensureBinary();

  const load = os.loadavg()[0]!;
  log(`bench: ${o.scenarios.join(", ")} — ${o.rounds} round(s) × ${o.secs} s, wrk -t${o.threads} -c${o.conns}, dreamserver --workers ${o.workers}, nginx ${nginxBin ? `${o.nginxWorkers} workers` : "not installed"}${needProxy ? `, haproxy ${haproxyBin ? `nbthread ${o.nginxWorkers}` : "not installed"}` : ""}; about ${Math.ceil(estimate / 60)} min`);
  if (load > 0.75) log(`note: load average is ${load.toFixed(2)} on ${os.cpus().length} CPUs — something else may be running; figures will be noisy`);

  const tmp = makeTmp("ds-bench-");
  const root = path.join(tmp, "root");
  makeRoot(root);
  const accessLogs: string[] = [];
  // A random pause of 0-2 ms (wrk's delay() is in ms) before each request of a connection: the
  // connections fall out of step, so requests arrive spread out at a rate set by the pauses.
  const pacedLua = path.join(tmp, "paced.lua");
  fs.writeFileSync(pacedLua, "math.randomseed(os.time())\ndelay = function() return math.random(0, 2) end\n");
  const pipelineLua = path.join(tmp, "pipeline.lua");
  fs.writeFileSync(pipelineLua, `init = function(args)\n  local r = {}\n  for i = 1, ${SCENARIOS.pipeline.depth} do r[i] = wrk.format(nil) end\n  req = table.concat(r)\nend\nrequest = function() return req end\n`);

  const staticTargets: Target[] = [];
  const proxyTargets: Target[] = [];
  let realisticStatic: Target | null = null;
  let realisticProxy: Target | null = null;
  let direct: Target | null = null;
  const started: { name: string; group: Group; port: number }[] = [];
  const wf = o.workers === "auto" ? [] : ["--workers", String(o.workers)];
  /** scripts/bench/realistic-MODE.toml with its placeholders filled; the workers setting as for the plain server. */
  const realistic = (mode: "static" | "proxy", port: number, backendPort: number | null): string => {
    const logFile = path.join(tmp, `ds-realistic-${mode}-access.log`);
    accessLogs.push(logFile);
    let text = fs.readFileSync(path.join(REPO, `scripts/bench/realistic-${mode}.toml`), "utf8")
      .replace(/\bPORT\b/g, String(port))
      .replace(/\bADMIN\b/g, String(freePort()))
      .replace(/\bROOT\b/g, root)
      .replace(/\bLOG\b/g, logFile)
      .replace(/\bBACKEND\b/g, `http://127.0.0.1:${backendPort}`);
    if (o.workers !== "auto") text = text.replace(/^workers = "auto"$/m, `workers = ${o.workers}`);
    const file = path.join(tmp, `realistic-${mode}.toml`);
    fs.writeFileSync(file, text);
    return file;
  };

  let backendPort: number | null = null;
  if (needProxy) {
    backendPort = freePort();
    const script = path.join(tmp, "upstream.ts");
    fs.writeFileSync(
      script,
      `const body = ${JSON.stringify(BACKEND_BODY)};\nBun.serve({ hostname: "127.0.0.1", port: Number(process.env.PORT), fetch: () => new Response(body, { headers: { "content-type": "text/plain" } }) });\n`,
    );
    const g = new Group("backend", [process.execPath, script], path.join(tmp, "backend.out"), { PORT: String(backendPort) });
    started.push({ name: "backend", group: g, port: backendPort });
  }
  if (needStatic) {
    const port = freePort();
    const logFile = path.join(tmp, "ds-static-access.log");
    accessLogs.push(logFile);
    const g = new Group("dreamserver", [BINARY, "--listen", `127.0.0.1:${port}`, "--root", root, "--access-log", logFile, ...wf, ...o.dsArgs], path.join(tmp, "ds-static.out"));
    staticTargets.push({ name: "dreamserver", port, group: g });
    started.push({ name: "dreamserver (static)", group: g, port });
  }
  if (needProxy) {
    const port = freePort();
    const logFile = path.join(tmp, "ds-proxy-access.log");
    accessLogs.push(logFile);
    const g = new Group("dreamserver", [BINARY, "--listen", `127.0.0.1:${port}`, "--proxy", `http://127.0.0.1:${backendPort}`, "--access-log", logFile, ...wf, ...o.dsArgs], path.join(tmp, "ds-proxy.out"));
    proxyTargets.push({ name: "dreamserver", port, group: g });
    started.push({ name: "dreamserver (proxy)", group: g, port });
  }
  if (o.scenarios.includes("routes-static")) {
    const port = freePort();
    const g = new Group("dreamserver", [BINARY, "--config", realistic("static", port, null), ...o.dsArgs], path.join(tmp, "ds-realistic-static.out"));
    realisticStatic = { name: REALISTIC, port, group: g };
    started.push({ name: "dreamserver realistic (static)", group: g, port });
  }
  if (o.scenarios.includes("routes-proxy")) {
    const port = freePort();
    const g = new Group("dreamserver", [BINARY, "--config", realistic("proxy", port, backendPort), ...o.dsArgs], path.join(tmp, "ds-realistic-proxy.out"));
    realisticProxy = { name: REALISTIC, port, group: g };
    started.push({ name: "dreamserver realistic (proxy)", group: g, port });
  }
  if (nginxBin) {
    const prefix = path.join(tmp, "nginx");
    fs.mkdirSync(path.join(prefix, "tmp"), { recursive: true });
    const staticPort = freePort();
    const proxyPort = needProxy ? freePort() : null;
    const conf = path.join(prefix, "nginx.conf");
    fs.writeFileSync(conf, nginxConf({ prefix, root, workers: o.nginxWorkers, staticPort, proxyPort, backendPort }));
    accessLogs.push(path.join(prefix, "access.log"));
    const g = new Group("nginx", [nginxBin, "-p", prefix, "-e", path.join(prefix, "error.log"), "-c", conf], path.join(prefix, "stderr.out"));
    if (needStatic) staticTargets.push({ name: "nginx", port: staticPort, group: g });
    if (proxyPort !== null) proxyTargets.push({ name: "nginx", port: proxyPort, group: g });
    started.push({ name: "nginx", group: g, port: staticPort });
  }
  if (needProxy && haproxyBin) {
    const port = freePort();
    const conf = path.join(tmp, "haproxy.cfg");
    fs.writeFileSync(conf, haproxyConf(port, backendPort!, o.nginxWorkers));
    const g = new Group("haproxy", [haproxyBin, "-f", conf], path.join(tmp, "haproxy.out"));
    proxyTargets.push({ name: "haproxy", port, group: g });
    started.push({ name: "haproxy", group: g, port });
  }

  const backendStarted = started.find((s) => s.name === "backend");
  if (backendStarted) direct = { name: "direct", port: backendStarted.port, group: backendStarted.group };
  /** The servers of one scenario, the one compared against first where there is one. */
  const targetsFor = (sn: ScenarioName): Target[] => {
    const sc = SCENARIOS[sn];
    if (sc.compare === "realistic") return [sc.mode === "proxy" ? proxyTargets[0]! : staticTargets[0]!, (sc.mode === "proxy" ? realisticProxy : realisticStatic)!];
    if (sc.compare === "direct") return [direct!, ...proxyTargets];
    return sc.mode === "proxy" ? proxyTargets : staticTargets;
  };

  try {
    for (const s of started) await s.group.waitPort(s.port);
  } catch (e) {
    log(`${(e as Error).message}`);
    await cleanup();
    process.exit(1);
  }
  const idleRss = new Map<Group, number>();
  await sleep(300);
  for (const s of started) idleRss.set(s.group, s.group.rssKiB());

  // Sanity: every server answers each scenario's URL with 200 and the expected body length.
  for (const sn of wrkScenarios) {
    const sc = SCENARIOS[sn];
    for (const t of targetsFor(sn)) {
      const res = await fetch(`http://127.0.0.1:${t.port}${sc.path}`).catch((e: Error) => e);
      if (res instanceof Error || res.status !== 200) {
        log(`${t.name} does not serve ${sc.path} (${res instanceof Error ? res.message : `status ${res.status}`}):\n${t.group.tail()}`);
        await cleanup();
        process.exit(1);
      }
      const len = (await res.arrayBuffer()).byteLength;
      if (len !== sc.bodyBytes) {
        log(`${t.name} ${sc.path}: body of ${len} bytes, expected ${sc.bodyBytes}`);
        await cleanup();
        process.exit(1);
      }
    }
  }

  const backend = started.find((s) => s.name === "backend")?.group;
  const assertAlive = (gs: (Group | undefined)[]): void => {
    for (const g of gs) if (g && !g.alive()) throw new Error(`${g.name} (pid ${g.pgid}) is no longer running:\n${g.tail()}`);
  };
  const wrk = async (t: Target, sc: Scenario, secs: number): Promise<Run> => {
    if (isInterrupted()) throw new Error("interrupted");
    const watched = [t.group, sc.mode === "proxy" ? backend : undefined];
    // (for "direct" the target is the backend itself)
    assertAlive(watched);
    const conns = sc.paced ? Math.max(o.pacedConns, o.threads) : sc.compare === "direct" ? Math.max(o.latencyConns, o.threads) : o.conns;
    const cmd = [wrkBin, `-t${o.threads}`, `-c${conns}`, `-d${secs}s`, "--latency", "--timeout", "5s"];
    if (sc.depth > 1) cmd.push("-s", pipelineLua);
    if (sc.paced) cmd.push("-s", pacedLua);
    cmd.push(`http://127.0.0.1:${t.port}${sc.path}`);
    let peak = t.group.rssKiB();
    const sampler = setInterval(() => (peak = Math.max(peak, t.group.rssKiB())), 250);
    const cpu0 = t.group.cpu();
    const t0 = performance.now();
    const p = track(Bun.spawn(cmd, { stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
    const killer = setTimeout(() => p.kill("SIGKILL"), (secs + 20) * 1000);
    const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    await p.exited;
    const wall = performance.now() - t0;
    const cpu = t.group.cpu() - cpu0;
    clearTimeout(killer);
    clearInterval(sampler);
    peak = Math.max(peak, t.group.rssKiB());
    assertAlive(watched);
    if (p.exitCode !== 0) throw new Error(`wrk failed against ${t.name} (exit ${p.exitCode ?? p.signalCode}): ${err.trim() || out.trim()}`);
    const w = parseWrk(out);
    const ru = p.resourceUsage();
    const wrkCpuPct = ru ? (Number(ru.cpuTime.total) / 1000 / wall) * 100 : 0;
    for (const f of accessLogs) {
      try {
        fs.truncateSync(f, 0); // every writer appends (O_APPEND): keeps the temp disk use bounded
      } catch {}
    }
    return { ...w, cpuUsPerReq: w.requests ? (cpu * 1e6) / w.requests : 0, wrkCpuPct, peakRssKiB: peak };
  };

  interface Result {
    scenario: ScenarioName;
    title: string;
    servers: Record<string, { runs: Run[]; rps: number; p50Ms: number | null; p99Ms: number | null; cpuUsPerReq: number; peakRssKiB: number; idleRssKiB: number; errors: number; wrkCpuPct: number }>;
    /** dreamserver against the first server compared (nginx, or the plain server for "realistic"). */
    ratios: { against: string; rps: number; cpuPerReq: number } | null;
    /** compare = "direct": latency each proxy adds over going direct, ms. */
    added: Record<string, { p50Ms: number | null; p99Ms: number | null }> | null;
  }
  const results: Result[] = [];
  for (const sn of wrkScenarios) {
    const sc = SCENARIOS[sn];
    const targets = targetsFor(sn);
    log(`\n[${sn}] ${sc.title}: warm-up`);
    for (const t of targets) await wrk(t, sc, 1);
    const runs = new Map<Target, Run[]>(targets.map((t) => [t, []]));
    for (let r = 1; r <= o.rounds; r++) {
      for (const t of targets) {
        const run = await wrk(t, sc, o.secs);
        runs.get(t)!.push(run);
        log(`[${sn}] round ${r}/${o.rounds} ${t.name.padEnd(11)} ${int(run.rps).padStart(9)} req/s  p99 ${run.p99Ms === null ? "n/a" : run.p99Ms.toFixed(2) + " ms"}  ${run.cpuUsPerReq.toFixed(1)} µs/req${run.errors ? `  ERRORS ${run.errorDetail}` : ""}`);
      }
    }
    const servers: Result["servers"] = {};
    for (const [t, rs] of runs) {
      servers[t.name] = {
        runs: rs,
        rps: median(rs.map((x) => x.rps)),
        p50Ms: rs.some((x) => x.p50Ms !== null) ? median(rs.filter((x) => x.p50Ms !== null).map((x) => x.p50Ms!)) : null,
        p99Ms: rs.some((x) => x.p99Ms !== null) ? median(rs.filter((x) => x.p99Ms !== null).map((x) => x.p99Ms!)) : null,
        cpuUsPerReq: median(rs.map((x) => x.cpuUsPerReq)),
        peakRssKiB: Math.max(...rs.map((x) => x.peakRssKiB)),
        idleRssKiB: idleRss.get(t.group) ?? 0,
        errors: rs.reduce((a, x) => a + x.errors, 0),
        wrkCpuPct: median(rs.map((x) => x.wrkCpuPct)),
      };
    }
    const ds = sc.compare === "realistic" ? servers[REALISTIC]! : servers.dreamserver!;
    const ref = sc.compare === "realistic" ? servers.dreamserver : servers.nginx;
    let added: Result["added"] = null;
    if (sc.compare === "direct") {
      const d = servers.direct!;
      const minus = (a: number | null, b: number | null): number | null => (a === null || b === null ? null : a - b);
      added = Object.fromEntries(Object.entries(servers).filter(([n]) => n !== "direct").map(([n, s]) => [n, { p50Ms: minus(s.p50Ms, d.p50Ms), p99Ms: minus(s.p99Ms, d.p99Ms) }]));
    }
    results.push({
      scenario: sn,
      title: sc.title,
      servers,
      ratios: ref && ref.rps > 0 && ref.cpuUsPerReq > 0 && sc.compare !== "direct" ? { against: sc.compare === "realistic" ? "plain" : "nginx", rps: ds.rps / ref.rps, cpuPerReq: ds.cpuUsPerReq / ref.cpuUsPerReq } : null,
      added,
    });
  }

  await cleanup();

  // memory: npm run memcheck with its defaults for the connections (5,000 idle), a short slow
  // transfer (its flatness is memcheck's own check), the instance as users run it.
  let memory: { rssMiB: number; idleMiB: number; conns: number; limitOk: boolean; output: string } | null = null;
  if (o.scenarios.includes("memory") && !isInterrupted()) {
    log("\n[memory] npm run memcheck -- --size 64m (5,000 idle keep-alive connections)");
    const p = track(Bun.spawn([process.execPath, path.join(REPO, "scripts/memcheck.ts"), "--size", "64m", "--max-secs", "60"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" }));
    const out = await new Response(p.stdout).text();
    await p.exited;
    const row = /^\s*(\d+) idle keep-alive connections open\s+([\d.]+)/m.exec(out);
    const idle = /^\s*static server idle \(after one request\)\s+([\d.]+)/m.exec(out);
    if (row && idle) memory = { conns: Number(row[1]), rssMiB: Number(row[2]), idleMiB: Number(idle[1]), limitOk: p.exitCode === 0, output: out.trim() };
    else log(`memcheck gave no result (exit ${p.exitCode}):\n${out}`);
  }

  if (o.json) {
    const out = {
      machine: { cpus: os.cpus().length, loadAvgAtStart: load, bun: Bun.version },
      settings: { rounds: o.rounds, secs: o.secs, conns: o.conns, threads: o.threads, workers: o.workers, nginxWorkers: o.nginxWorkers, dsArgs: o.dsArgs, nginx: !!nginxBin, haproxy: !!haproxyBin },
      scenarios: Object.fromEntries(
        results.map((r) => [
          r.scenario,
          {
            title: r.title,
            ratios: r.ratios && { against: r.ratios.against, rps: round(r.ratios.rps, 3), cpuPerReq: round(r.ratios.cpuPerReq, 3) },
            addedLatencyMs: r.added,
            servers: Object.fromEntries(
              Object.entries(r.servers).map(([n, s]) => [
                n,
                {
                  rps: round(s.rps, 0), p50Ms: s.p50Ms === null ? null : round(s.p50Ms, 3), p99Ms: s.p99Ms === null ? null : round(s.p99Ms, 3), cpuUsPerReq: round(s.cpuUsPerReq, 2), peakRssMiB: round(s.peakRssKiB / 1024, 1), idleRssMiB: round(s.idleRssKiB / 1024, 1), errors: s.errors, wrkCpuPct: round(s.wrkCpuPct, 0),
                  rounds: s.runs.map((x) => ({ rps: round(x.rps, 0), p99Ms: x.p99Ms, requests: x.requests, cpuUsPerReq: round(x.cpuUsPerReq, 2), errors: x.errors, wrkCpuPct: round(x.wrkCpuPct, 0) })),
                },
              ]),
            ),
          },
        ]),
      ),
      memory: memory && { conns: memory.conns, wholeInstanceRssMiB: memory.rssMiB, idleRssMiB: memory.idleMiB, under100MiB: memory.rssMiB < 100 },
    };
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
    return;
  }

  const lines: string[] = [""];
  lines.push(`DreamServer benchmark — ${new Date().toISOString().slice(0, 16)}Z, wrk -t${o.threads} -c${o.conns} (latency: -c${o.latencyConns}), ${o.rounds} × ${o.secs} s interleaved, medians; dreamserver --workers ${o.workers}, nginx ${o.nginxWorkers} workers, haproxy nbthread ${o.nginxWorkers}; ${os.cpus().length} CPUs, load ${load.toFixed(2)} at start`);
  let clientBound = false;
  for (const r of results) {
    lines.push("", `${r.scenario}: ${r.title}`);
    const rows = Object.entries(r.servers).map(([n, s]) => {
      if (s.wrkCpuPct >= 95 * o.threads) clientBound = true;
      return [n, int(s.rps), s.p50Ms === null ? "n/a" : s.p50Ms.toFixed(3), s.p99Ms === null ? "n/a" : s.p99Ms.toFixed(3), s.cpuUsPerReq.toFixed(1), mib(s.peakRssKiB), `${Math.round(s.wrkCpuPct)}%`, String(s.errors), s.runs.map((x) => int(x.rps)).join(" ")];
    });
    lines.push(table(["  server", "req/s", "p50 ms", "p99 ms", "cpu µs/req", "peak RSS MiB", "wrk cpu", "errors", "req/s per round"], rows.map((x) => ["  " + x[0], ...x.slice(1)])));
    if (r.ratios) lines.push(`  ${r.ratios.against === "plain" ? "realistic/plain" : "dreamserver/nginx"}: req/s ${r.ratios.rps.toFixed(2)}×, cpu per request ${r.ratios.cpuPerReq.toFixed(2)}× (below 1 = ${r.ratios.against === "plain" ? "the realistic config" : "dreamserver"} spends less)`);
    else if (r.added === null) lines.push("  (nginx not installed: no ratios)");
    const hap = r.servers.haproxy;
    if (hap && r.added === null && hap.rps > 0) lines.push(`  dreamserver/haproxy: req/s ${(r.servers.dreamserver!.rps / hap.rps).toFixed(2)}×, cpu per request ${(r.servers.dreamserver!.cpuUsPerReq / hap.cpuUsPerReq).toFixed(2)}×`);
    if (r.added) for (const [n, a] of Object.entries(r.added)) lines.push(`  added over direct, ${n}: p50 ${a.p50Ms === null ? "n/a" : `${(a.p50Ms * 1000).toFixed(0)} µs`}, p99 ${a.p99Ms === null ? "n/a" : `${(a.p99Ms * 1000).toFixed(0)} µs`}`);
    for (const [n, s] of Object.entries(r.servers)) if (s.errors) lines.push(`  ${n}: errors in some rounds: ${s.runs.map((x) => x.errorDetail).filter(Boolean).join(" | ")}`);
  }
  if (results.some((r) => Object.values(r.servers).some((s) => s.p99Ms === null))) lines.push("", "p99 n/a: wrk printed no usable 99th percentile (it samples latency once per pipelined batch).");
  if (clientBound) lines.push("", "note: wrk used a whole core in some runs — there req/s is partly client-bound; cpu µs/req is the steadier comparison.");
  if (memory) lines.push("", "memory: npm run memcheck (VmRSS of every process of the instance, default settings)", memory.output.split("\n").filter((l) => /idle|slow reader|PROBLEMS|  - /.test(l)).join("\n"));

  // The table of issue 16: one line per scenario, ratios against nginx (and the targets).
  const summary: string[][] = [];
  const x = (v: number): string => `${v.toFixed(2)}×`;
  for (const r of results) {
    const s = r.servers;
    const ds = s.dreamserver;
    if (r.added) {
      const a = r.added.dreamserver;
      summary.push([r.scenario === "latency-paced" ? `proxy latency added vs direct (paced, -c${o.pacedConns})` : `proxy latency added vs direct (-c${o.latencyConns})`, a ? `p50 +${a.p50Ms === null ? "n/a" : (a.p50Ms * 1000).toFixed(0) + " µs"}, p99 +${a.p99Ms === null ? "n/a" : (a.p99Ms * 1000).toFixed(0) + " µs"}` : "n/a", r.added.nginx ? `nginx p50 +${((r.added.nginx.p50Ms ?? NaN) * 1000).toFixed(0)} µs, p99 +${((r.added.nginx.p99Ms ?? NaN) * 1000).toFixed(0)} µs` : "", "p50 < 100 µs, p99 < 1 ms"]);
    } else if (r.ratios && r.ratios.against === "plain") {
      summary.push([r.scenario === "routes-static" ? "realistic config vs plain, static" : "realistic config vs plain, proxy", `req/s ${x(r.ratios.rps)}`, `CPU/req ${x(r.ratios.cpuPerReq)} (${s[REALISTIC]!.cpuUsPerReq.toFixed(1)} vs ${s.dreamserver!.cpuUsPerReq.toFixed(1)} µs)`, "within 5%"]);
    } else if (r.ratios && ds) {
      const ngx = s.nginx!;
      const hap = s.haproxy;
      summary.push([
        r.scenario === "static" ? "static 4 KiB" : r.scenario === "large" ? "static 1 MiB" : r.scenario === "pipeline" ? "static 4 KiB, pipelined 16" : "proxy, small response",
        `req/s ${x(r.ratios.rps)}${hap ? ` (HAProxy ${x(ds.rps / hap.rps)})` : ""}`,
        `CPU/req ${ds.cpuUsPerReq.toFixed(1)} vs ${ngx.cpuUsPerReq.toFixed(1)} µs (${x(ngx.cpuUsPerReq / ds.cpuUsPerReq)} efficiency)`,
        r.scenario === "large" ? "≥ 0.9× req/s" : r.scenario === "pipeline" ? "" : "≥ 1.0× req/s, CPU ≤ nginx",
      ]);
    }
  }
  if (memory) summary.push([`${memory.conns} idle keep-alive connections`, `${memory.rssMiB.toFixed(1)} MiB RSS, whole instance`, `idle ${memory.idleMiB.toFixed(1)} MiB`, "< 100 MiB"]);
  if (summary.length) lines.push("", "Summary (ratios are DreamServer / nginx unless stated; efficiency > 1 = less CPU than nginx)", table(["  scenario", "throughput", "CPU / other", "target"], summary.map((r) => ["  " + r[0], ...r.slice(1)]), [0, 1, 2, 3]));
  process.stdout.write(lines.join("\n") + "\n");
}

function round(n: number, d: number): number {
  const f = 10 ** d;
  return Math.round(n * f) / f;
}

if (import.meta.main) {
  main().catch(async (e) => {
    if (isInterrupted()) return; // the signal handler is stopping everything and exits 130
    process.stderr.write(`bench failed: ${(e as Error)?.message ?? e}\n`);
    await cleanup();
    process.exit(1);
  });
}
