/**
 * Helpers for real-clients.test.ts: run third-party clients (ab, curl, wrk) and a plain Node
 * `http` backend as child processes with hard time bounds, and count the server's TCP sockets
 * from /proc/net/tcp{,6}. Nothing here is our own HTTP code: the point of that suite is that
 * every byte on the wire is produced or judged by software somebody else wrote.
 */
import { spawn, type Subprocess } from "bun";
import fs from "node:fs";

/** CI=true (GitHub Actions, GitLab, our .ci/run callers): a missing client fails, never skips. */
export const IN_CI = process.env.CI === "true" || process.env.CI === "1";

/** Where each client comes from, for the failure / skip message. */
const SOURCE: Record<string, string> = {
  ab: "apt-get install apache2-utils",
  curl: "apt-get install curl",
  wrk: "apt-get install wrk",
  node: "install Node.js (it ships with npm)",
  prometheus: "apt-get install prometheus",
  promtool: "apt-get install prometheus",
  chromium: "apt-get install chromium",
  openssl: "apt-get install openssl",
  pebble: "apt-get install pebble",
  nghttp: "apt-get install nghttp2-client",
  h2load: "apt-get install nghttp2-client",
};

/** Clients from `names` that are not on PATH. */
export function missing(names: readonly string[]): string[] {
  return names.filter((n) => !Bun.which(n));
}

/**
 * For test.skipIf: true only outside CI when a client is missing (with a printed reason).
 * Under CI it returns false, so the test runs and `need()` fails it with a clear message.
 */
export function skipWithout(names: readonly string[], what: string): boolean {
  const gone = missing(names);
  if (gone.length === 0 || IN_CI) return false;
  console.warn(`[real-clients] skipping "${what}": ${gone.map((n) => `${n} not found on PATH (${SOURCE[n] ?? "install it"})`).join("; ")}`);
  return true;
}

/** First line of every test body: throws (fails the test) if a client is missing. */
export function need(names: readonly string[]): void {
  const gone = missing(names);
  if (gone.length === 0) return;
  throw new Error(
    `required client(s) missing: ${gone.map((n) => `${n} (${SOURCE[n] ?? "install it"})`).join(", ")}` +
      (IN_CI ? " — CI must install them; see .ci/run" : ""),
  );
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed by our time bound (the client hung). */
  timedOut: boolean;
  ms: number;
}

/** Every child started here, so an afterAll can kill what a failed test left behind. */
const live = new Set<Subprocess>();

/** Kill every child process these helpers started that is still running (SIGKILL). */
export function killAll(): void {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  live.clear();
}

/** Run a command to completion, SIGKILLing it after timeoutMs. Never rejects. */
export async function run(cmd: string[], timeoutMs: number, opts: { cwd?: string } = {}): Promise<RunResult> {
  const started = performance.now();
  const proc = spawn(cmd, { cwd: opts.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(timer);
  live.delete(proc);
  return { code, stdout, stderr, timedOut, ms: performance.now() - started };
}

/** A one-line description of a run for assertion messages. */
export function describeRun(cmd: string, r: RunResult): string {
  const tail = (s: string) => (s.length > 1500 ? "…" + s.slice(-1500) : s);
  return `${cmd}: exit=${r.code} timedOut=${r.timedOut} after ${Math.round(r.ms)} ms\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`;
}

/** `ab` summary fields (absent "Non-2xx responses" means 0, which is how ab prints it). */
export function parseAb(out: string): { complete: number; failed: number; non2xx: number } {
  const num = (re: RegExp, dflt: number) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : dflt;
  };
  return {
    complete: num(/^Complete requests:\s+(\d+)/m, -1),
    failed: num(/^Failed requests:\s+(\d+)/m, -1),
    non2xx: num(/^Non-2xx responses:\s+(\d+)/m, 0),
  };
}

/** `wrk` summary: requests done, socket errors (summed), non-2xx/3xx responses. */
export function parseWrk(out: string): { requests: number; socketErrors: number; socketErrorLine: string | null; non2xx3xx: number } {
  const req = /^\s*(\d+) requests in /m.exec(out);
  const se = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(out);
  const bad = /^\s*Non-2xx or 3xx responses: (\d+)/m.exec(out);
  return {
    requests: req ? Number(req[1]) : -1,
    socketErrors: se ? Number(se[1]) + Number(se[2]) + Number(se[3]) + Number(se[4]) : 0,
    socketErrorLine: se ? se[0].trim() : null,
    non2xx3xx: bad ? Number(bad[1]) : 0,
  };
}

// ---------------------------------------------------------------------------------------------
// /proc/net/tcp: which sockets does the server hold?

/** Linux TCP states as they appear (hex) in /proc/net/tcp. */
export const TCP_STATES: Record<string, string> = {
  "01": "ESTABLISHED",
  "02": "SYN_SENT",
  "03": "SYN_RECV",
  "04": "FIN_WAIT1",
  "05": "FIN_WAIT2",
  "06": "TIME_WAIT",
  "07": "CLOSE",
  "08": "CLOSE_WAIT",
  "09": "LAST_ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
  "0C": "NEW_SYN_RECV",
};

export interface TcpSocket {
  local: string;
  remote: string;
  state: string;
}

/** Every IPv4/IPv6 TCP socket whose local port is `port` (listener included). */
export function socketsOnPort(port: number): TcpSocket[] {
  const out: TcpSocket[] = [];
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4) continue;
      const [local, remote, st] = [f[1]!, f[2]!, f[3]!];
      if (local.slice(local.lastIndexOf(":") + 1) !== hexPort) continue;
      out.push({ local, remote, state: TCP_STATES[st] ?? st });
    }
  }
  return out;
}

/**
 * Sockets on the server's port that are a client connection the server still holds: everything
 * but the LISTEN socket and TIME_WAIT (after the server's own close the kernel keeps that
 * 4-tuple for 2*MSL with no file descriptor behind it: not a leak, the normal end of an active
 * close).
 */
export function heldConnections(port: number): TcpSocket[] {
  return socketsOnPort(port).filter((s) => s.state !== "LISTEN" && s.state !== "TIME_WAIT");
}

/** Poll until the server holds no client connection on `port`, or timeoutMs; returns what is left. */
export async function waitNoHeldConnections(port: number, timeoutMs: number): Promise<TcpSocket[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const held = heldConnections(port);
    if (held.length === 0 || Date.now() > end) return held;
    await Bun.sleep(50);
  }
}

/** "3 × CLOSE_WAIT, 1 × ESTABLISHED" */
export function summarizeStates(socks: readonly TcpSocket[]): string {
  const n = new Map<string, number>();
  for (const s of socks) n.set(s.state, (n.get(s.state) ?? 0) + 1);
  return [...n].map(([s, c]) => `${c} × ${s}`).join(", ") || "none";
}

// ---------------------------------------------------------------------------------------------
// A plain Node `http` backend (node -e), so the upstream side is also someone else's HTTP code.

/**
 * Routes:
 *   /hello          200, fixed body with Content-Length (what ab and wrk hit)
 *   /stream         200, no Content-Length: 10 writes 20 ms apart (~200 ms), so Node sends chunked
 *   /slow?id=X      answers after 3 s; prints "slow-start X", then "slow-aborted X" if the
 *                   connection closed before the response ended, or "slow-done X"
 * Prints "listening PORT" once ready.
 */
export const NODE_BACKEND = String.raw`
const http = require("http");
const HELLO = "hello from node\n";
const srv = http.createServer((req, res) => {
  const u = new URL(req.url, "http://backend");
  if (u.pathname === "/hello") {
    res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(HELLO) });
    res.end(HELLO);
  } else if (u.pathname === "/stream") {
    res.writeHead(200, { "content-type": "text/plain" });
    let i = 0;
    const t = setInterval(() => {
      res.write("chunk-" + String(i).padStart(2, "0") + " " + "x".repeat(100) + "\n");
      if (++i === 10) { clearInterval(t); res.end(); }
    }, 20);
    res.on("close", () => clearInterval(t));
  } else if (u.pathname === "/slow") {
    const id = u.searchParams.get("id");
    process.stdout.write("slow-start " + id + "\n");
    const t = setTimeout(() => res.end("late\n"), 3000);
    res.on("close", () => {
      clearTimeout(t);
      process.stdout.write((res.writableEnded ? "slow-done " : "slow-aborted ") + id + "\n");
    });
  } else {
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found\n");
  }
});
srv.keepAliveTimeout = 65000;
srv.headersTimeout = 66000;
srv.listen(0, "127.0.0.1", () => process.stdout.write("listening " + srv.address().port + "\n"));
process.on("SIGTERM", () => process.exit(0));
`;

export const HELLO_BODY = "hello from node\n";
export const STREAM_BODY = Array.from({ length: 10 }, (_, i) => `chunk-${String(i).padStart(2, "0")} ${"x".repeat(100)}\n`).join("");

export interface NodeBackend {
  port: number;
  proc: Subprocess;
  /** Everything the backend printed so far. */
  output(): string;
  /** Wait until output matches re (or timeoutMs); returns whether it did. */
  waitFor(re: RegExp, timeoutMs: number): Promise<boolean>;
  stop(): Promise<void>;
}

/** Start `node -e NODE_BACKEND` and wait for its port (bounded: 10 s). */
export async function startNodeBackend(script = NODE_BACKEND): Promise<NodeBackend> {
  const proc = spawn(["node", "-e", script], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  live.add(proc);
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  (async () => {
    for await (const c of proc.stderr as ReadableStream<Uint8Array>) err += dec.decode(c);
  })().catch(() => {});
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`node backend did not start in 10 s: ${err}`));
    }, 10_000);
    (async () => {
      for await (const c of proc.stdout as ReadableStream<Uint8Array>) {
        out += dec.decode(c);
        const m = /listening (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
      clearTimeout(timer);
      reject(new Error(`node backend exited: ${err}`));
    })().catch(() => {});
  });
  return {
    port,
    proc,
    output: () => out,
    async waitFor(re, timeoutMs) {
      const end = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (Date.now() > end) return false;
        await Bun.sleep(25);
      }
      return true;
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await proc.exited;
      }
      live.delete(proc);
    },
  };
}
