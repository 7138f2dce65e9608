/**
 * Helpers shared by the core-server e2e files (protocol, limits, lifecycle, access-log):
 * temp document roots, a persistent raw client, the error-page contract, a tiny body-reading
 * upstream, RSS sampling and a time-bounded CLI runner. Everything talks loopback only.
 */
import { spawn } from "bun";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { expect } from "bun:test";
import { command, completeResponseLength, parseResponses, REPO, tmpDir, type ParsedResponse, type RawResult } from "./harness.ts";

/** A temp document root holding `files` (relative path → content). Remove it with rmRoot. */
export function makeRoot(files: Record<string, string | Uint8Array>): string {
  const dir = tmpDir("ds-core-root-");
  for (const [rel, content] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, content);
  }
  return dir;
}

export function rmRoot(dir: string | undefined): void {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}

/** 64 MiB (by default) of random bytes and their sha256, for the large-file tests. */
export function bigFile(bytes = 64 * 1024 * 1024): { data: Buffer; sha256: string } {
  const data = randomBytes(bytes);
  return { data, sha256: createHash("sha256").update(data).digest("hex") };
}

/**
 * The contract of every built-in error response: the HTML page for that status, Content-Type
 * text/html, a Content-Length equal to the body, and Date + Server.
 */
export function expectErrorPage(res: ParsedResponse, status: number): void {
  expect(res.status).toBe(status);
  expect(res.header("content-type")).toBe("text/html; charset=utf-8");
  expect(res.header("content-length")).toBe(String(res.body.length));
  const date = res.header("date");
  expect(date).toMatch(/^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
  expect(Number.isNaN(Date.parse(date!))).toBe(false);
  expect(res.header("server")).toBe("DreamServer");
  const html = res.body.toString("utf8");
  expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
  expect(html).toContain(`<h1>${status}</h1>`);
  // Every status the server emits has its own wording, not the generic class page.
  expect(html).not.toMatch(/<h2>(Client|Server) Error<\/h2>/);
}

/** A raw result that must hold exactly one error response, followed by the server closing. */
export function expectRejected(r: RawResult, status: number): ParsedResponse {
  const responses = parseResponses(r.data);
  // Exactly one answer: a request pipelined behind the bad one must never be processed.
  expect(responses.map((x) => x.status)).toEqual([status]);
  expectErrorPage(responses[0]!, status);
  expect(responses[0]!.header("connection")).toBe("close");
  expect(r.closed).toBe(true);
  return responses[0]!;
}

export { completeResponseLength } from "./harness.ts";

/** A persistent raw TCP client with awaitable reads, for keep-alive and lifecycle tests. */
export class Conn {
  /** Unconsumed bytes, kept as a list and joined only when read (64 MiB bodies arrive in ~1000 pieces). */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Total bytes received (also those already taken by response()). */
  received = 0;
  ended = false;
  error: string | null = null;
  /** How the connection ended: "FIN" (server's end), "close", or the error code ("ECONNRESET"). */
  endedBy: string | null = null;
  /** Date.now() when it ended. */
  endedAt = 0;
  private waiters = new Set<() => void>();

  get buf(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [this.chunks.length === 0 ? Buffer.alloc(0) : Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  set buf(b: Buffer) {
    this.chunks = [b];
    this.chunkBytes = b.length;
  }

  /** Length of the unconsumed bytes, without joining them. */
  get buffered(): number {
    return this.chunkBytes;
  }

  private constructor(readonly sock: net.Socket) {
    sock.on("data", (d: Buffer) => {
      this.received += d.length;
      this.chunks.push(d);
      this.chunkBytes += d.length;
      this.wake();
    });
    const onEnd = (how: string) => {
      if (!this.ended) {
        this.endedBy = how;
        this.endedAt = Date.now();
      }
      this.ended = true;
      this.wake();
    };
    sock.on("end", () => onEnd("FIN"));
    sock.on("close", () => onEnd("close"));
    sock.on("error", (e: NodeJS.ErrnoException) => {
      this.error = e.code ?? e.message;
      onEnd(this.error);
    });
  }

  static open(port: number, opts: { paused?: boolean } = {}): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
      const c = new Conn(sock);
      if (opts.paused) sock.pause();
      sock.once("connect", () => resolve(c));
      sock.once("error", reject);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  write(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** Resolve true once pred() holds, false after timeoutMs. */
  until(pred: () => boolean, timeoutMs = 3000): Promise<boolean> {
    if (pred()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (!pred()) return;
        clearTimeout(t);
        this.waiters.delete(check);
        resolve(true);
      };
      const t = setTimeout(() => {
        this.waiters.delete(check);
        resolve(pred());
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  /** Wait for the next complete response and take it off the buffer. */
  async response(method = "GET", timeoutMs = 3000): Promise<ParsedResponse> {
    let n = -1;
    // Once the head says Content-Length, only count bytes until the body is there (no re-joining).
    let needed = -1;
    const ready = () => {
      if (needed >= 0) return this.chunkBytes >= needed;
      const b = this.buf;
      const he = b.indexOf("\r\n\r\n");
      if (he >= 0) {
        const head = b.subarray(0, he).toString("latin1");
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
        if (cl && method !== "HEAD" && status >= 200 && status !== 204 && status !== 304 && !/\r\ntransfer-encoding:/i.test(head)) {
          needed = he + 4 + Number(cl[1]);
          return this.chunkBytes >= needed;
        }
      }
      return (n = completeResponseLength(b, method, this.ended)) >= 0;
    };
    const ok = await this.until(() => ready() || (this.ended && needed >= 0), timeoutMs);
    if (needed >= 0) n = this.chunkBytes >= needed ? needed : -1;
    if (!ok || n < 0) {
      throw new Error(`no complete response within ${timeoutMs} ms; have ${this.chunkBytes} bytes ${JSON.stringify(this.buf.subarray(0, 300).toString("latin1"))} ended=${this.ended}`);
    }
    const all = this.buf;
    this.buf = all.subarray(n);
    return parseResponses(Buffer.from(all.subarray(0, n)), [method])[0]!;
  }

  /** Wait until the server closes (FIN or RST); true if it did within timeoutMs. */
  closed(timeoutMs = 3000): Promise<boolean> {
    return this.until(() => this.ended, timeoutMs);
  }

  /**
   * For a paused connection: read until the first response bytes are here, then pause again.
   * Proof that the server is answering (the exchange is in flight) without a fixed sleep.
   */
  async startedResponding(timeoutMs = 5000): Promise<void> {
    this.sock.resume();
    const ok = await this.until(() => this.received > 0 || this.ended, timeoutMs);
    this.sock.pause();
    if (!ok || this.received === 0) throw new Error(`no response bytes within ${timeoutMs} ms (ended=${this.ended})`);
  }

  /** shutdown(SHUT_WR): send our FIN, keep reading (the socket allows half-open). */
  halfClose(): void {
    this.sock.end();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** A connection attempt's outcome: "connected" or the error code (ECONNREFUSED …). */
export function tryConnect(port: number, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: "127.0.0.1" });
    const t = setTimeout(() => {
      sock.destroy();
      resolve("timeout");
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(t);
      sock.destroy();
      resolve("connected");
    });
    sock.once("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(e.code ?? e.message);
    });
  });
}

/** Resident set size of a process in MiB (Linux /proc), or NaN once it is gone. */
export function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Run the CLI to completion, killed after timeoutMs (a server that unexpectedly starts must not hang the suite). */
export async function runCliBounded(args: string[], timeoutMs = 10_000, cwd = REPO): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  const proc = spawn(command(args), { cwd, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let killed = false;
  const t = setTimeout(() => {
    killed = true;
    proc.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  const code = await proc.exited;
  clearTimeout(t);
  return { code, stdout, stderr, killed };
}

export interface UpstreamRequest {
  head: string;
  body: Buffer;
}

/**
 * A minimal HTTP/1.1 upstream that reads whole request bodies (Content-Length or chunked), so
 * that body framing, limits and timeouts can be observed through `--proxy`: the static handler
 * never reads a request body. It answers 200 with "got N bytes: <sha256>" after each complete
 * request, keeps connections alive, and records what it received.
 */
export function startBodyUpstream(): { port: number; requests: UpstreamRequest[]; connections: number; stop(): void } {
  const requests: UpstreamRequest[] = [];
  const state = { connections: 0 };
  const listener = Bun.listen<{ buf: Buffer }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        state.connections++;
        s.data = { buf: Buffer.alloc(0) };
      },
      data(s, chunk) {
        s.data.buf = Buffer.concat([s.data.buf, chunk]);
        for (;;) {
          const buf = s.data.buf;
          const he = buf.indexOf("\r\n\r\n");
          if (he < 0) return;
          const head = buf.subarray(0, he).toString("latin1");
          let pos = he + 4;
          let body: Buffer;
          const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
          if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
            const parts: Buffer[] = [];
            for (;;) {
              const le = buf.indexOf("\r\n", pos);
              if (le < 0) return;
              const size = parseInt(buf.subarray(pos, le).toString("latin1"), 16);
              if (size === 0) {
                const te = buf.indexOf("\r\n\r\n", le); // last-chunk CRLF + optional trailers + CRLF
                if (te < 0) return;
                pos = te + 4;
                break;
              }
              if (buf.length < le + 2 + size + 2) return;
              parts.push(buf.subarray(le + 2, le + 2 + size));
              pos = le + 2 + size + 2;
            }
            body = Buffer.concat(parts);
          } else if (cl) {
            const n = Number(cl[1]);
            if (buf.length < pos + n) return;
            body = buf.subarray(pos, pos + n);
            pos += n;
          } else {
            body = Buffer.alloc(0);
          }
          s.data.buf = buf.subarray(pos);
          requests.push({ head, body: Buffer.from(body) });
          const text = `got ${body.length} bytes: ${createHash("sha256").update(body).digest("hex")}`;
          s.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${text.length}\r\n\r\n${text}`);
        }
      },
    },
  });
  return {
    port: listener.port,
    requests,
    get connections() {
      return state.connections;
    },
    stop: () => listener.stop(true),
  };
}

export function sha256(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}
