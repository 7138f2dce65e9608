/**
 * End-to-end harness: starts the real server as a child process on an ephemeral port and
 * talks raw TCP to it. DS_TARGET=binary runs the same suite against dist/dreamserver
 * (DESIGN.md lesson 11: packaging bugs show up in CI).
 */
import { spawn, type Subprocess } from "bun";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(import.meta.dir, "../..");
export const TARGET = process.env.DS_TARGET === "binary" ? "binary" : "source";
export const BINARY = path.join(REPO, "dist/dreamserver");

export interface RunningServer {
  port: number;
  proc: Subprocess;
  stderr: () => string;
  stdout: () => string;
  logPath: string;
  /** Send SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  readLog(): string;
}

export function command(args: string[]): string[] {
  return TARGET === "binary" ? [BINARY, ...args] : [process.execPath, path.join(REPO, "src/main.ts"), ...args];
}

export function tmpDir(prefix = "ds-e2e-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * Temp log folders of startServer live under one folder per test process. Tests read a log (and
 * its rotated siblings) after stop(), so a server's folder is removed once its process has
 * exited and the next server starts; the last ones go when a later test run finds this
 * process's folder abandoned (bun test runs no process "exit" hooks).
 */
const RUN_PREFIX = "ds-e2e-run-";
const RUN_DIR = path.join(os.tmpdir(), `${RUN_PREFIX}${process.pid}`);
const serverDirs: { dir: string; proc: Subprocess }[] = [];
let runDirReady = false;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function serverLogDir(): string {
  if (!runDirReady) {
    runDirReady = true;
    for (const name of fs.readdirSync(os.tmpdir())) {
      if (!name.startsWith(RUN_PREFIX)) continue;
      const pid = Number(name.slice(RUN_PREFIX.length));
      if (Number.isInteger(pid) && pid !== process.pid && !pidAlive(pid)) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
    fs.mkdirSync(RUN_DIR, { recursive: true });
  }
  // Servers that have exited since: their logs were read by now.
  for (let i = serverDirs.length - 1; i >= 0; i--) {
    if (serverDirs[i]!.proc.exitCode !== null || serverDirs[i]!.proc.signalCode !== null) {
      fs.rmSync(serverDirs[i]!.dir, { recursive: true, force: true });
      serverDirs.splice(i, 1);
    }
  }
  return fs.mkdtempSync(path.join(RUN_DIR, "log-"));
}

/** Start dreamserver with args (plus --listen 127.0.0.1:0 and a temp access log unless given). */
export async function startServer(args: string[] = [], opts: { cwd?: string; env?: Record<string, string>; prefix?: string[] } = {}): Promise<RunningServer> {
  const logDir = serverLogDir();
  const logPath = path.join(logDir, "access.log");
  const full = [...args];
  // A config file names its own addresses (and --listen with --config is refused).
  if (!full.includes("--listen") && !full.includes("--config")) full.push("--listen", "127.0.0.1:0");
  // One process unless a test asks for workers: the default (one per CPU) would make proc.pid a
  // supervisor, and per-process checks (RSS, signals) would look at the wrong process.
  if (!full.includes("--workers")) full.push("--workers", "1");
  if (!full.includes("--access-log")) full.push("--access-log", logPath);
  // Many servers run at once in the suite: only tests about it get the admin listener.
  if (!full.includes("--admin") && !full.includes("--config")) full.push("--admin", "off");
  // prefix: a wrapper that execs the server (e.g. setpriv to drop privileges), so proc.pid stays the server.
  const proc = spawn([...(opts.prefix ?? []), ...command(full)], {
    cwd: opts.cwd ?? REPO,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...opts.env },
  });
  serverDirs.push({ dir: logDir, proc });
  let err = "";
  let out = "";
  const decoder = new TextDecoder();
  let errDone: Promise<void> = Promise.resolve();
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 15_000);
    errDone = (async () => {
      for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) {
        err += decoder.decode(chunk);
        const m = /listening on https?:\/\/[^\s]*:(\d+)/.exec(err);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
      clearTimeout(timer);
      reject(new Error(`server exited: ${err}`));
    })().catch(() => {});
  });
  const outDone = (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) out += decoder.decode(chunk);
  })().catch(() => {});
  /** Both pipes read to their end (bounded: a grandchild holding them open must not hang us). */
  const outputDone = () => Promise.race([Promise.all([errDone, outDone]).then(() => {}), Bun.sleep(3000)]);
  return {
    port,
    proc,
    logPath,
    stderr: () => err,
    stdout: () => out,
    readLog: () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, "utf8") : ""),
    /** Signal (SIGTERM), wait for the exit and for stdout/stderr to be read to the end. */
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const code = await proc.exited;
      await outputDone();
      return code;
    },
  };
}

/** Run the CLI to completion (for --help, bad flags). */
export async function runCli(args: string[], cwd = REPO): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = spawn(command(args), { cwd, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  return { code, stdout, stderr };
}

export interface RawResult {
  data: Buffer;
  /** The server closed the connection (FIN or RST) before raw() returned. */
  closed: boolean;
}

export interface RawOptions {
  /**
   * Return as soon as this many complete responses arrived (for a connection that is meant to
   * stay open). Without it raw() waits for the server to close, bounded by idleMs.
   */
  responses?: number;
  /** Request methods, in order, for telling bodiless HEAD responses apart (with `responses`). */
  methods?: string[];
  /**
   * Give up after this long without a byte (default 2000 ms). Only a safety net: a call either
   * waits for the close or states how many responses it waits for, so no test depends on it.
   */
  idleMs?: number;
  /** Pause between the payload parts. */
  gapMs?: number;
  /** shutdown(SHUT_WR) after the last part. */
  halfClose?: boolean;
}

/**
 * Send bytes (optionally in several writes with pauses) and collect everything until the server
 * closes, until `responses` complete responses arrived, or (safety net) nothing arrived for idleMs.
 */
export function raw(port: number, payload: string | Buffer | (string | Buffer)[], opts: RawOptions = {}): Promise<RawResult> {
  const idleMs = opts.idleMs ?? 2000;
  const parts = Array.isArray(payload) ? payload : [payload];
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const chunks: Buffer[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed });
    };
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => finish(false), idleMs);
    };
    const enough = () => opts.responses !== undefined && countResponses(Buffer.concat(chunks), opts.methods ?? []) >= opts.responses;
    sock.on("data", (d: Buffer) => {
      chunks.push(d);
      if (enough()) return finish(false);
      arm();
    });
    sock.on("end", () => finish(true));
    sock.on("close", () => finish(true));
    sock.on("error", () => finish(true));
    sock.on("connect", async () => {
      for (let i = 0; i < parts.length; i++) {
        sock.write(parts[i]!);
        if (opts.gapMs && i < parts.length - 1) await Bun.sleep(opts.gapMs);
      }
      if (opts.halfClose) sock.end();
      arm();
    });
  });
}

/**
 * Length of the first complete response in buf, or -1 if it is not complete yet. Understands
 * Content-Length, chunked, and bodiless responses (HEAD, 1xx, 204, 304). A response without
 * either framing header is close-delimited: complete only once `ended`.
 */
export function completeResponseLength(buf: Buffer, method = "GET", ended = false): number {
  const he = buf.indexOf("\r\n\r\n");
  if (he < 0) return -1;
  const head = buf.subarray(0, he).toString("latin1");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
  let pos = he + 4;
  if (status < 200 || status === 204 || status === 304 || method === "HEAD") return pos;
  const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    for (;;) {
      const le = buf.indexOf("\r\n", pos);
      if (le < 0) return -1;
      const size = parseInt(buf.subarray(pos, le).toString("latin1"), 16);
      pos = le + 2;
      if (size === 0) {
        const te = buf.indexOf("\r\n\r\n", pos - 2);
        return te < 0 ? -1 : te + 4;
      }
      pos += size + 2;
      if (pos > buf.length) return -1;
    }
  }
  if (cl) {
    const end = pos + Number(cl[1]);
    return buf.length >= end ? end : -1;
  }
  return ended ? buf.length : -1;
}

/** How many complete final responses buf holds (1xx interim responses are not counted). */
export function countResponses(buf: Buffer, methods: string[] = []): number {
  let n = 0;
  let pos = 0;
  for (;;) {
    const rest = buf.subarray(pos);
    const isInterim = /^HTTP\/1\.[01] 1\d\d/.test(rest.subarray(0, 12).toString("latin1"));
    const len = completeResponseLength(rest, isInterim ? "GET" : (methods[n] ?? "GET"));
    if (len < 0) return n;
    if (!isInterim) n++;
    pos += len;
  }
}

export interface ParsedResponse {
  status: number;
  reason: string;
  headers: [string, string][];
  header(name: string): string | undefined;
  body: Buffer<ArrayBufferLike>;
}

/**
 * A deliberately simple, independent response splitter for tests (not our production parser):
 * handles Content-Length, chunked, and bodiless responses to HEAD/1xx/204/304.
 */
export function parseResponses(data: Buffer, methods: string[] = []): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  let i = 0;
  while (pos < data.length) {
    const end = data.indexOf("\r\n\r\n", pos);
    if (end < 0) throw new Error(`incomplete head at ${pos}: ${JSON.stringify(data.subarray(pos, pos + 200).toString("latin1"))}`);
    const lines = data.subarray(pos, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(lines[0]!);
    if (!m) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    const headers: [string, string][] = lines.slice(1).map((l) => {
      const c = l.indexOf(":");
      return [l.slice(0, c), l.slice(c + 1).trim()];
    });
    const header = (n: string) => headers.find((h) => h[0].toLowerCase() === n.toLowerCase())?.[1];
    pos = end + 4;
    const method = status >= 200 ? (methods[i++] ?? "GET") : "GET";
    let body: Buffer = Buffer.alloc(0);
    if (status < 200 || status === 204 || status === 304 || method === "HEAD") {
      // no body
    } else if (header("transfer-encoding")?.toLowerCase() === "chunked") {
      const parts: Buffer[] = [];
      for (;;) {
        const le = data.indexOf("\r\n", pos);
        const size = parseInt(data.subarray(pos, le).toString("latin1"), 16);
        pos = le + 2;
        if (size === 0) {
          const te = data.indexOf("\r\n\r\n", pos - 2);
          pos = te + 4;
          break;
        }
        parts.push(data.subarray(pos, pos + size));
        pos += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (header("content-length") !== undefined) {
      const n = Number(header("content-length"));
      body = data.subarray(pos, pos + n);
      pos += n;
    } else {
      body = data.subarray(pos);
      pos = data.length;
    }
    out.push({ status, reason: m[2]!, headers, header, body });
  }
  return out;
}

/** One request, one parsed response. */
export async function get(port: number, target: string, headers: Record<string, string> = {}, method = "GET") {
  const h = Object.entries({ Host: "localhost", Connection: "close", ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("");
  const r = await raw(port, `${method} ${target} HTTP/1.1\r\n${h}\r\n`);
  return parseResponses(r.data, [method])[0]!;
}

/** Wait until fn() is truthy (polling), for log flushes and the like. */
export async function waitFor<T>(fn: () => T, timeoutMs = 3000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await Bun.sleep(25);
  }
}
