/**
 * Regression tests for the defects that real clients and hostile input found in the landed
 * server (the hardening issue). Each test measures the effect, not just the bytes: connection
 * counts, the server's FIN, other clients' latency, RSS, CPU time, access-log lines.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { spawn } from "bun";
import { Conn, makeRoot, rmRoot, rssMiB } from "./core-helpers.ts";
import { command, startServer, tmpDir, waitFor, type RunningServer } from "./harness.ts";
import { expectServerCloses } from "./lifetime.ts";
import { Client, okResponse, rawBackend, serveEach, type RawBackend } from "./proxy-backends.ts";

const servers: RunningServer[] = [];
const backends: RawBackend[] = [];
const roots: string[] = [];

afterEach(async () => {
  // Every cleanup runs; the first failure (e.g. a backend script error) is reported afterwards.
  let first: unknown = null;
  for (const s of servers.splice(0)) await s.stop("SIGKILL").catch((e) => (first ??= e));
  for (const b of backends.splice(0)) {
    try {
      b.stop();
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
});
afterAll(() => {
  for (const r of roots.splice(0)) rmRoot(r);
});

async function proxyTo(port: number, args: string[] = []): Promise<RunningServer> {
  const s = await startServer(["--proxy", `http://127.0.0.1:${port}`, ...args]);
  servers.push(s);
  return s;
}

function backend(script: Parameters<typeof rawBackend>[0]): RawBackend {
  const b = rawBackend(script);
  backends.push(b);
  return b;
}

/** Server-side TCP sockets on `port` (any state but LISTEN), from /proc/net/tcp{,6}. */
function serverSockets(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  let n = 0;
  for (const f of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = fs.readFileSync(f, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const local = cols[1]!;
      const state = cols[3]!;
      // 0A = LISTEN; 06 = TIME_WAIT holds no descriptor.
      if (local.endsWith(":" + hex) && state !== "0A" && state !== "06") n++;
    }
  }
  return n;
}

/** Parse the access log into objects (text format). */
function logLines(s: RunningServer): Array<Record<string, string>> {
  return s
    .readLog()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const o: Record<string, string> = {};
      for (const part of line.split(" | ").slice(1)) {
        const eq = part.indexOf("=");
        if (eq > 0) o[part.slice(0, eq)] = part.slice(eq + 1);
      }
      return o;
    });
}

describe("item 1: a proxied connection that must close is closed", () => {
  test("HTTP/1.0 through the proxy gets its FIN", async () => {
    const b = backend(serveEach(() => okResponse("hello")));
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send("GET /x HTTP/1.0\r\n\r\n");
    const r = await c.readResponse();
    expect(r.status).toBe(200);
    await expectServerCloses(c, 1000, { what: "HTTP/1.0 through the proxy", fin: true, noUnread: true });
  });

  test("a streamed (close-delimited upstream) response to HTTP/1.0 ends with the FIN", async () => {
    const b = backend(async (c) => {
      await c.readRequest();
      await c.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1 ");
      await Bun.sleep(50);
      await c.write("part2");
      c.end();
    });
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send("GET /x HTTP/1.0\r\n\r\n");
    await expectServerCloses(c, 2000, { what: "a close-delimited body relayed to HTTP/1.0", fin: true });
    expect(c.received().toString("latin1")).toEndWith("part1 part2");
  });

  test("1,100 `Connection: close` requests leave no server socket open 1 s after the last response", async () => {
    const b = backend(serveEach(() => okResponse("ok")));
    const s = await proxyTo(b.port);
    const total = 1100;
    const parallel = 20;
    let next = 0;
    let ok = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const c = await Client.connect(s.port);
        c.send("GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        const r = await c.readResponse();
        if (r.status === 200) ok++;
        // Wait for the server's FIN before closing our side: that is the point of the test.
        await expectServerCloses(c, 2000, { what: "Connection: close through the proxy" });
        c.close();
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
    expect(ok).toBe(total);
    await Bun.sleep(1000);
    expect(serverSockets(s.port)).toBe(0);
  }, 60_000);
});

describe("item 2: a 1-byte-chunk upload does not stall other clients", () => {
  test("other clients are answered promptly while a client uploads 1-byte chunks at full speed", async () => {
    // The upload goes to a backend that reads it all; the other client's GETs go to the same proxy.
    const b = backend(async (c) => {
      const req = await c.readRequest(30_000);
      await c.write(okResponse(req.method === "POST" ? `got ${req.body.length}` : "fast"));
      for (;;) {
        const r = await c.readRequest(30_000).catch(() => null);
        if (!r) return;
        await c.write(okResponse("fast"));
      }
    });
    const s = await proxyTo(b.port);
    const up = net.connect({ port: s.port, host: "127.0.0.1" });
    await new Promise((r) => up.once("connect", r));
    up.write("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    const block = Buffer.from("1\r\na\r\n".repeat(10_000)); // 60 KB of wire, 10,000 chunks
    let sending = true;
    let sentChunks = 0;
    const pump = async () => {
      while (sending) {
        if (!up.write(block)) await new Promise((r) => up.once("drain", r));
        sentChunks += 10_000;
      }
    };
    const pumping = pump();
    await Bun.sleep(200);
    const latencies: number[] = [];
    const other = await Client.connect(s.port);
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      other.send("GET /other HTTP/1.1\r\nHost: a\r\n\r\n");
      const r = await other.readResponse("GET", 10_000);
      latencies.push(performance.now() - t);
      expect(r.status).toBe(200);
    }
    sending = false;
    await pumping;
    up.destroy();
    other.close();
    // The upload never ends: its upstream request is cut when the client goes.
    b.allowErrors(/connection closed while waiting for a complete request/);
    expect(sentChunks).toBeGreaterThan(100_000);
    // Before the fix other clients waited 10–18 s; now they wait for about one read batch (about
    // 100 ms on an idle 2-core machine). The bound leaves room for a machine loaded by other work.
    expect(Math.max(...latencies)).toBeLessThan(3000);
  }, 30_000);
});

describe("item 3: a client that goes away during a proxied request is noticed", () => {
  test("full close while the upstream thinks: upstream connection closed, access log 499", async () => {
    const b = backend(async (c) => {
      await c.readRequest();
      await c.waitClosed(10_000); // answers only if the proxy does not cancel (it must)
      if (!c.closed) await c.write(okResponse("late"));
    });
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    await b.accepted(1);
    await b.conns[0]!.waitUntil((u) => (u.includes("\r\n\r\n") ? true : null), "the proxied request");
    c.close(); // close(2): the kernel sends a FIN, nothing tells us it was not a half-close
    await expectServerCloses(b.conns[0]!, 1500, { what: "the proxy cancelling the upstream request" });
    await waitFor(() => logLines(s).length === 1 || null, 3000);
    const [line] = logLines(s);
    expect(line!.status).toBe("499");
    expect(line!.error).toBe("CLIENT_ABORTED");
    expect(serverSockets(s.port)).toBe(0);
  });

  test("a half-close after a complete request is not an abort: the answer comes, then the FIN", async () => {
    const b = backend(async (c) => {
      await c.readRequest();
      await Bun.sleep(300);
      await c.write(okResponse("worth the wait"));
    });
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    await b.accepted(1);
    await b.conns[0]!.waitUntil((u) => (u.includes("\r\n\r\n") ? true : null), "the proxied request");
    c.halfClose();
    const { res, interim } = await c.readFinal("GET", 3000);
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe("worth the wait");
    // The liveness probe is an interim 100, which RFC 9110 §15.2 obliges clients to accept.
    expect(interim.map((m) => m.status)).toEqual([100]);
    await expectServerCloses(c, 1000, { what: "after answering a half-closed client", fin: true, noUnread: true });
    await waitFor(() => logLines(s).length === 1 || null, 3000);
    expect(logLines(s)[0]!.status).toBe("200");
  });

  test("a client that resets mid-body: upstream closed, not pooled, the next request works", async () => {
    let n = 0;
    const b = backend(async (c) => {
      n++;
      const req = await c.readRequest();
      if (req.target === "/big") {
        await c.write("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n");
        for (let i = 0; i < 200 && !c.closed; i++) {
          await c.write(Buffer.alloc(16 * 1024, 0x61));
          await Bun.sleep(10);
        }
        return;
      }
      await c.write(okResponse("next"));
    });
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.readThrough("\r\n\r\n");
    await c.waitReceived(c.receivedBytes + 32 * 1024);
    c.close();
    await expectServerCloses(b.conns[0]!, 1500, { what: "the proxy dropping the upstream of an aborted response" });
    const c2 = await Client.connect(s.port);
    c2.send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    const r = await c2.readResponse();
    expect(r.body.toString()).toBe("next");
    expect(n).toBe(2);
    c2.close();
  });
});

describe("item 3 (cont.): reset while the upstream body is stalled", () => {
  test("a client that resets mid-body while the upstream is idle: upstream closed, never pooled", async () => {
    const b = backend(async (c) => {
      const req = await c.readRequest();
      if (req.target === "/big") {
        await c.write("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + "a".repeat(64 * 1024));
        await c.waitClosed(10_000); // stalls: nothing more unless the proxy reuses this connection
        return;
      }
      await c.write(okResponse("next"));
    });
    const s = await proxyTo(b.port);
    // terminate() sends a RST (a client killed mid-download, or closing with unread data).
    let got = 0;
    const c = await Bun.connect({
      hostname: "127.0.0.1",
      port: s.port,
      socket: {
        data(_s, d) {
          got += d.byteLength;
        },
      },
    });
    c.write("GET /big HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => (got > 64 * 1024 ? true : null), 3000);
    c.terminate();
    await expectServerCloses(b.conns[0]!, 1500, { what: "the proxy dropping the upstream of an aborted response" });
    const c2 = await Client.connect(s.port);
    c2.send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    expect((await c2.readResponse()).body.toString()).toBe("next");
    expect(b.conns.length).toBe(2);
    c2.close();
  });
});

describe("item 6: FIN in the middle of a request body", () => {
  test("static: the answer (400) and a close at once, not after the body timeout", async () => {
    const root = makeRoot({ "a.txt": "A" });
    roots.push(root);
    const s = await startServer(["--root", root]);
    servers.push(s);
    const c = await Conn.open(s.port);
    c.write("POST /a.txt HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
    c.halfClose();
    const t = Date.now();
    expect(await c.closed(1500)).toBe(true);
    expect(Date.now() - t).toBeLessThan(1500);
    expect(c.buf.toString("latin1")).toMatch(/^HTTP\/1\.1 (400|405) /);
  });

  test("proxy: a 400 to the client, and no half-sent request left on an open upstream connection", async () => {
    const b = backend(serveEach((req) => okResponse(`ok ${req.target}`)));
    b.allowErrors(/connection closed while waiting for a complete request/);
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
    await b.accepted(1);
    c.halfClose();
    const r = await c.readResponse("POST", 1500);
    expect(r.status).toBe(400);
    await expectServerCloses(c, 1000, { what: "after a body cut short by FIN", fin: true });
    // Depending on timing the proxy had sent part of the request (that connection must be
    // closed) or nothing yet (a clean connection may be pooled, and must then work).
    const u = b.conns[0]!;
    if (u.receivedBytes > 0) await expectServerCloses(u, 1000, { what: "the half-sent upstream request dropped" });
    const c2 = await Client.connect(s.port);
    c2.send("GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    expect((await c2.readResponse()).body.toString()).toBe("ok /next");
    c2.close();
  });
});

describe("item 7: memory does not scale with clients that stop reading", () => {
  test("400 clients that stop reading a 8 MiB file: RSS bounded by the output budget", async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 0x62);
    const root = makeRoot({ "big.bin": big });
    roots.push(root);
    const s = await startServer(["--root", root, "--max-output-memory", "16m", "--send-timeout", "30s"]);
    servers.push(s);
    // Warm up (the first request loads code paths) before the baseline.
    const w = await Conn.open(s.port);
    w.write("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
    await w.response("GET", 5000);
    w.destroy();
    const base = rssMiB(s.proc.pid);
    const clients: Conn[] = [];
    for (let i = 0; i < 400; i++) {
      const c = await Conn.open(s.port, { paused: true });
      c.write("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
      clients.push(c);
    }
    await Bun.sleep(1500);
    const peak = rssMiB(s.proc.pid);
    for (const c of clients) c.destroy();
    // Unbounded, each client held a 256 KiB queue plus a 256 KiB read-ahead: about 170 MiB for
    // 400 clients. Bounded: the 16 MiB budget, ~7 KiB of state per connection, and garbage the
    // collector has not returned yet.
    expect(peak - base).toBeLessThan(80);
  }, 30_000);
});

describe("item 8: out of file descriptors", () => {
  test("over the descriptor-derived cap: a prewritten 503 at once, no spinning, service resumes", async () => {
    const root = makeRoot({ "a.txt": "A" });
    roots.push(root);
    const logDir = tmpDir("ds-fd-");
    // ulimit -n 100 (soft and hard) → cap = (100 - 64) / 2 = 18 connections.
    const cmd = command(["--root", root, "--listen", "127.0.0.1:0", "--workers", "1", "--access-log", path.join(logDir, "a.log")]);
    const quoted = cmd.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" ");
    const proc = spawn(["bash", "-c", `ulimit -n 100 && exec ${quoted}`], { stdout: "pipe", stderr: "pipe" });
    try {
      let err = "";
      const port = await new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error("no start: " + err)), 15_000);
        (async () => {
          for await (const ch of proc.stderr as ReadableStream<Uint8Array>) {
            err += new TextDecoder().decode(ch);
            const m = /listening on http:\/\/[^\s]*:(\d+)/.exec(err);
            if (m) {
              clearTimeout(t);
              resolve(Number(m[1]));
            }
          }
        })().catch(() => {});
      });
      const idle: Conn[] = [];
      for (let i = 0; i < 60; i++) idle.push(await Conn.open(port));
      // The connections over the cap were answered 503 and closed; the others are kept.
      await Bun.sleep(300);
      const refused = idle.filter((c) => c.ended);
      expect(refused.length).toBeGreaterThan(30);
      expect(refused[0]!.buf.toString("latin1")).toStartWith("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n");
      // No spinning: CPU time over one idle second stays small (it was 100% before).
      const cpu0 = cpuSeconds(proc.pid);
      await Bun.sleep(1000);
      expect(cpuSeconds(proc.pid) - cpu0).toBeLessThan(0.3);
      // A new client is answered at once (503 while full), and served once room is made.
      const t = Date.now();
      const extra = await Conn.open(port);
      expect(await extra.closed(1000)).toBe(true);
      expect(Date.now() - t).toBeLessThan(1000);
      for (const c of idle) c.destroy();
      await Bun.sleep(200);
      const ok = await Conn.open(port);
      ok.write("GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\n");
      expect((await ok.response()).status).toBe(200);
      ok.destroy();
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
      fs.rmSync(logDir, { recursive: true, force: true });
    }
  }, 30_000);
});

/** utime + stime of a process in seconds (from /proc/PID/stat). */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks; USER_HZ is 100 on Linux
}

describe("item 13: the 101 through the proxy carries Date, Server and X-Request-ID", () => {
  test("WebSocket upgrade response", async () => {
    const b = backend(async (c) => {
      await c.readRequest();
      await c.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nServer: backend\r\n\r\n");
      await c.waitClosed(5000);
    });
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send(
      "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Request-ID: ws-123\r\n\r\n",
    );
    const head = (await c.readThrough("\r\n\r\n")).toString("latin1");
    expect(head).toStartWith("HTTP/1.1 101 ");
    expect(head).toMatch(/\r\nDate: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    expect(head).toContain("\r\nServer: DreamServer\r\n");
    expect(head).not.toContain("Server: backend");
    expect(head).toContain("\r\nX-Request-ID: ws-123\r\n");
    c.close();
  });
});

describe("items 4, 9-12 end to end: what reaches the backend", () => {
  test("item 4: Transfer-Encoding \\xa0chunked is refused (400) and nothing reaches the backend", async () => {
    const b = backend(serveEach(() => okResponse("no")));
    const s = await proxyTo(b.port);
    for (const te of ["\xa0chunked", "chunked\xa0"]) {
      const c = await Client.connect(s.port);
      c.send(Buffer.from(`POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ${te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, "latin1"));
      expect((await c.readResponse("POST")).status).toBe(400);
      await expectServerCloses(c, 1000, { what: "after a 400" });
    }
    const c = await Client.connect(s.port);
    c.send(Buffer.from("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: \xa0upgrade\r\nUpgrade: \xa0websocket\r\n\r\n", "latin1"));
    expect((await c.readResponse()).status).toBe(400);
    expect(b.conns.length).toBe(0);
  });

  test("item 9: request trailers lose framing, routing, auth and forwarding fields; response trailers too", async () => {
    let seen: [string, string][] = [];
    const b = backend(
      serveEach((req) => {
        seen = req.trailers;
        return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: resp\r\nSet-Cookie: s=1\r\nContent-Length: 99\r\nLocation: /evil\r\n\r\n";
      }),
    );
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send(
      "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nHost: evil\r\nContent-Length: 5\r\nX-Forwarded-For: 6.6.6.6\r\nAuthorization: Basic eA==\r\nX_Trace: 1\r\n\r\n",
    );
    const r = await c.readResponse("POST");
    expect(r.status).toBe(200);
    expect(seen).toEqual([["X-Checksum", "abc"]]);
    expect(r.trailers).toEqual([["X-Checksum", "resp"]]);
    c.close();
  });

  test("item 10: 4,000-byte chunk extensions cannot carry a body past --max-body-size", async () => {
    const b = backend(serveEach(() => okResponse("no")));
    b.allowErrors(/connection closed while waiting/);
    const s = await proxyTo(b.port, ["--max-body-size", "64k"]);
    const c = await Client.connect(s.port);
    c.send("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    const ext = ";e=" + "x".repeat(900); // under the 1 KiB chunk-line cap
    for (let i = 0; i < 100 && !c.closed; i++) c.send(`1${ext}\r\na\r\n`);
    const r = await c.readResponse("POST", 3000);
    expect(r.status).toBe(413);
    await expectServerCloses(c, 1000, { what: "after a 413" });
    const c2 = await Client.connect(s.port);
    c2.send(`POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;e=${"x".repeat(4000)}\r\na\r\n0\r\n\r\n`);
    expect((await c2.readResponse("POST", 3000)).status).toBe(400); // over the chunk-line cap
  });

  test("item 11: underscore spellings and client-IP fields from an untrusted peer never reach the backend", async () => {
    const seen: Array<[string, string][]> = [];
    const b = backend(
      serveEach((req) => {
        seen.push(req.headers);
        return okResponse("ok");
      }),
    );
    const s = await proxyTo(b.port);
    const c = await Client.connect(s.port);
    c.send("GET /x HTTP/1.1\r\nHost: a\r\nX_Forwarded_For: 6.6.6.6\r\nX-Client-IP: 6.6.6.6\r\nTrue-Client-IP: 6.6.6.6\r\nCF-Connecting-IP: 6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n");
    expect((await c.readResponse()).status).toBe(200);
    const names = seen[0]!.map(([n]) => n.toLowerCase());
    for (const bad of ["x_forwarded_for", "x-client-ip", "true-client-ip", "cf-connecting-ip", "x-real-ip"]) expect(names).not.toContain(bad);
    expect(JSON.stringify(seen[0])).not.toContain("6.6.6.6");
    c.close();

    const s2 = await proxyTo(b.port, ["--underscores-in-headers"]);
    const c2 = await Client.connect(s2.port);
    c2.send("GET /x HTTP/1.1\r\nHost: a\r\nX_Custom: 1\r\n\r\n");
    expect((await c2.readResponse()).status).toBe(200);
    expect(seen[1]!.map(([n]) => n)).toContain("X_Custom");
    c2.close();
  });

  test("item 12: a trusted front proxy's Connection nomination cannot remove its forwarding fields", async () => {
    const seen: Array<[string, string][]> = [];
    const b = backend(
      serveEach((req) => {
        seen.push(req.headers);
        return okResponse("ok");
      }),
    );
    const s = await proxyTo(b.port, ["--trusted-proxy", "127.0.0.1/32"]);
    const c = await Client.connect(s.port);
    c.send("GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\nX-Auth-User: mallory\r\nConnection: X-Forwarded-For, X-Auth-User, Host, Content-Length\r\n\r\n");
    expect((await c.readResponse()).status).toBe(200);
    const h = seen[0]!;
    const get = (n: string) => h.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
    expect(get("x-forwarded-for")).toEqual(["203.0.113.7, 127.0.0.1"]);
    expect(get("x-auth-user")).toEqual([]); // not a forwarding field: the nomination removes it
    expect(get("host")).toEqual(["a"]);
    c.close();
  });
});

describe("a slow upstream is not the client's fault", () => {
  test("an upload the upstream reads slowly is not cut by the client body timeout (408)", async () => {
    const size = 16 * 1024 * 1024;
    const b = backend(async (c) => {
      c.socket.pause(); // read nothing for 2.5 s: the proxy must stop reading the client, not blame it
      await Bun.sleep(2500);
      c.socket.resume();
      const req = await c.readRequest(20_000);
      await c.write(okResponse(`got ${req.body.length}`));
    });
    const s = await proxyTo(b.port, ["--body-timeout", "1s"]);
    const c = await Client.connect(s.port);
    c.send(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
    c.send(Buffer.alloc(size, 0x7a));
    const r = await c.readResponse("POST", 20_000);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`got ${size}`);
    c.close();
  }, 30_000);
});

describe("every proxy phase has a deadline", () => {
  test("an upstream that never reads the upload: 504 UPSTREAM_SEND_TIMEOUT after --send-timeout, both connections released", async () => {
    const b = backend(async (c) => {
      c.socket.pause(); // never reads
      await c.waitClosed(15_000);
    });
    const s = await proxyTo(b.port, ["--send-timeout", "1s"]);
    const c = await Client.connect(s.port);
    const size = 64 * 1024 * 1024;
    c.send(`POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
    c.send(Buffer.alloc(size, 0x7a));
    const t = Date.now();
    const r = await c.readResponse("POST", 8000);
    expect(r.status).toBe(504);
    expect(Date.now() - t).toBeLessThan(6000);
    await expectServerCloses(b.conns[0]!, 2000, { what: "the stuck upstream connection dropped" });
    await expectServerCloses(c, 2000, { what: "the client whose upload can no longer be read" });
    await waitFor(() => (logLines(s).length === 1 ? true : null), 3000);
    expect(logLines(s)[0]!.error).toBe("UPSTREAM_SEND_TIMEOUT");
  }, 20_000);
});
