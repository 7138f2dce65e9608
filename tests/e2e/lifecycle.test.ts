/**
 * Core server lifecycle end to end (issue "Core server"): the command line (help, version,
 * every configuration mistake is one line on stderr and exit 2, never a stack trace) and
 * signals (graceful shutdown that finishes in-flight responses, refuses new connections,
 * closes idle ones, and cuts stuck clients at --shutdown-timeout).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { REPO, startServer, type RunningServer } from "./harness.ts";
import { bigFile, Conn, makeRoot, rmRoot, runCliBounded, sha256, tryConnect } from "./core-helpers.ts";

// Large transfers and real timers: a bound well above the slowest test (~3 s), not a budget.
setDefaultTimeout(15_000);

const A = "alpha file\n";
const big = bigFile(64 * 1024 * 1024);
/** Small enough for the in-memory cache: each response is complete the moment it is queued. */
const cached = big.data.subarray(0, 200 * 1024);
let root: string;

beforeAll(() => {
  root = makeRoot({ "a.txt": A, "big.bin": big.data, "cached.bin": cached });
});
afterAll(() => rmRoot(root));

/** The one-line, exit-2 contract for configuration mistakes. */
function expectConfigError(r: { code: number | null; stdout: string; stderr: string; killed: boolean }, mentions?: string): void {
  expect(r.killed).toBe(false);
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.split("\n").filter((l) => l !== "");
  expect(lines.length).toBe(1);
  expect(lines[0]!.startsWith("dreamserver: ")).toBe(true);
  expect(r.stderr).not.toMatch(/^\s+at /m); // no stack frames
  expect(r.stderr).not.toMatch(/error:|Error\b.*\n.*\^/); // no Bun error banner either
  if (mentions) expect(lines[0]).toContain(mentions);
}

describe("command line", () => {
  test("--help exits 0 and documents every flag the parser knows", async () => {
    const r = await runCliBounded(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    // Every "--flag" string literal in the flag parser (case labels and the timeout table).
    const src = fs.readFileSync(path.join(REPO, "src/config/flags.ts"), "utf8");
    const flags = new Set([...src.matchAll(/"(--[a-z][a-z0-9-]*)"/g)].map((m) => m[1]!));
    expect(flags.size).toBeGreaterThanOrEqual(20);
    for (const f of ["--listen", "--root", "--proxy", "--access-log", "--log-format", "--max-body-size", "--header-timeout", "--keepalive-timeout", "--body-timeout", "--send-timeout", "--shutdown-timeout", "--help", "--version"]) {
      expect(flags.has(f)).toBe(true);
    }
    const missing = [...flags].filter((f) => !new RegExp(`(^|\\s)${f}(\\s|$|,|=)`, "m").test(r.stdout));
    expect(missing).toEqual([]);
  });

  test("-h is --help", async () => {
    const r = await runCliBounded(["-h"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--listen");
  });

  test("--version prints the package version and exits 0", async () => {
    const r = await runCliBounded(["--version"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`^dreamserver ${pkg.version.replace(/\./g, "\\.")}\\b`));
    expect(r.stdout.split("\n").filter(Boolean).length).toBe(1);
  });

  test("unknown flag → exit 2, one line naming it", async () => {
    expectConfigError(await runCliBounded(["--frobnicate"]), "--frobnicate");
  });

  const BAD: [string, string[], string][] = [
    ["port out of range", ["--listen", "99999"], "99999"],
    ["port not a number", ["--listen", "abc"], "abc"],
    ["host:port with a bad port", ["--listen", "127.0.0.1:http"], "127.0.0.1:http"],
    ["unbracketed IPv6", ["--listen", "::1:8080"], "--listen"],
    ["missing value", ["--listen"], "--listen"],
    ["missing root", ["--root", "/nonexistent/ds-e2e-root"], "/nonexistent/ds-e2e-root"],
    ["root is a file", ["--root", "package.json"], "package.json"],
    ["ftp proxy", ["--proxy", "ftp://x"], "ftp://x"],
    ["proxy not a URL", ["--proxy", "not a url"], "--proxy"],
    ["bad duration", ["--header-timeout", "soon"], "--header-timeout"],
    ["zero duration", ["--shutdown-timeout", "0"], "--shutdown-timeout"],
    ["bad size", ["--max-body-size", "lots"], "--max-body-size"],
    ["bad log format", ["--log-format", "xml"], "--log-format"],
    ["stray argument", ["serve"], "serve"],
    ["proxy-only flag without --proxy", ["--trusted-proxy", "10.0.0.0/8"], "--proxy"],
  ];
  for (const [name, args, mentions] of BAD) {
    test(`${name} (${args.join(" ")}) → exit 2, one line`, async () => {
      expectConfigError(await runCliBounded([...args, "--access-log", "off"]), mentions);
    });
  }

  test("port already in use → exit 2, one line", async () => {
    const first = await startServer(["--root", root, "--access-log", "off"]);
    try {
      const r = await runCliBounded(["--root", root, "--listen", `127.0.0.1:${first.port}`, "--access-log", "off"], 10_000);
      expectConfigError(r, String(first.port));
      expect(r.stderr).toContain("in use");
      // The first server is unaffected.
      expect(await tryConnect(first.port)).toBe("connected");
    } finally {
      await first.stop();
    }
  });
});

describe("signals", () => {
  test("SIGTERM: the in-flight response completes, new connections are refused, exit 0", async () => {
    const s = await startServer(["--root", root, "--shutdown-timeout", "5s"]);
    const c = await Conn.open(s.port, { paused: true });
    try {
      c.write("GET /big.bin HTTP/1.1\r\nHost: x\r\nX-Request-ID: in-flight\r\n\r\n");
      await c.startedResponding(); // the body is streaming into full buffers
      const t0 = performance.now();
      s.proc.kill("SIGTERM");
      // Stop accepting promptly.
      let refused = "";
      for (let i = 0; i < 40 && refused !== "ECONNREFUSED"; i++) {
        await Bun.sleep(25);
        refused = await tryConnect(s.port, 500);
      }
      expect(refused).toBe("ECONNREFUSED");
      expect(s.proc.exitCode).toBeNull(); // still finishing our response
      c.sock.resume();
      const res = await c.response("GET", 10_000);
      expect(res.status).toBe(200);
      expect(res.body.length).toBe(big.data.length);
      expect(sha256(res.body)).toBe(big.sha256);
      expect(await c.closed(2000)).toBe(true);
      expect(await s.proc.exited).toBe(0);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(s.readLog()).toContain("id=in-flight");
      expect(s.readLog()).toMatch(/id=in-flight .*status=200/);
    } finally {
      c.destroy();
      await s.stop("SIGKILL");
    }
  });

  test("SIGTERM: idle keep-alive connections are closed at once and the process exits 0", async () => {
    const s = await startServer(["--root", root, "--shutdown-timeout", "5s"]);
    const conns: Conn[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const c = await Conn.open(s.port);
        conns.push(c);
        c.write("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        expect((await c.response()).body.toString()).toBe(A);
      }
      const idleNew = await Conn.open(s.port); // connected, nothing sent yet
      conns.push(idleNew);
      await Bun.sleep(50);
      const t0 = performance.now();
      s.proc.kill("SIGTERM");
      for (const c of conns) expect(await c.closed(1500)).toBe(true);
      expect(await s.proc.exited).toBe(0);
      expect(performance.now() - t0).toBeLessThan(1500);
      for (const c of conns) expect(c.buf.length).toBe(0); // closed silently, nothing half-sent
    } finally {
      for (const c of conns) c.destroy();
      await s.stop("SIGKILL");
    }
  });

  test("SIGTERM: idle connections close while a busy one finishes; its pipelined next request is not started", async () => {
    const s = await startServer(["--root", root, "--shutdown-timeout", "5s"]);
    const idle = await Conn.open(s.port);
    const busy = await Conn.open(s.port, { paused: true });
    try {
      idle.write("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      await idle.response();
      busy.write("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      await busy.startedResponding();
      s.proc.kill("SIGTERM");
      expect(await idle.closed(1500)).toBe(true);
      busy.sock.resume();
      const res = await busy.response("GET", 10_000);
      expect(res.body.length).toBe(big.data.length);
      expect(sha256(res.body)).toBe(big.sha256);
      // The server is draining: the exchange in flight was the last one on this connection.
      expect(await busy.closed(2000)).toBe(true);
      expect(busy.buffered).toBe(0);
      expect(await s.proc.exited).toBe(0);
    } finally {
      idle.destroy();
      busy.destroy();
      await s.stop("SIGKILL");
    }
  });

  test("SIGTERM while finished responses are still queued: they are delivered whole, then close", async () => {
    // Pipelined cached responses to a paused client: the queue fills, no exchange is in
    // flight, but the queue holds complete responses (one of them partly sent). Those bytes
    // were promised; the pipelined requests not started yet are simply not answered.
    const s = await startServer(["--root", root, "--shutdown-timeout", "5s"]);
    const c = await Conn.open(s.port, { paused: true });
    try {
      let wire = "";
      for (let i = 0; i < 40; i++) wire += `GET /cached.bin HTTP/1.1\r\nHost: x\r\nX-Request-ID: queued-${i}\r\n\r\n`;
      c.write(wire);
      await Bun.sleep(300);
      s.proc.kill("SIGTERM");
      await Bun.sleep(300);
      c.sock.resume();
      expect(await c.closed(3000)).toBe(true);
      expect(await s.proc.exited).toBe(0);
      const want = sha256(cached);
      let count = 0;
      while (c.buffered > 0) {
        const res = await c.response("GET", 100); // throws on a truncated trailing response
        expect({ status: res.status, id: res.header("x-request-id"), len: res.body.length }).toEqual({ status: 200, id: `queued-${count}`, len: cached.length });
        expect(sha256(res.body)).toBe(want);
        count++;
      }
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThan(40);
    } finally {
      c.destroy();
      await s.stop("SIGKILL");
    }
  });

  test("SIGTERM with a stuck client: cut at --shutdown-timeout 500ms, exit 0", async () => {
    const s = await startServer(["--root", root, "--shutdown-timeout", "500ms"]);
    const c = await Conn.open(s.port, { paused: true });
    try {
      c.write("GET /big.bin HTTP/1.1\r\nHost: x\r\nX-Request-ID: stuck-1\r\n\r\n");
      await c.startedResponding();
      const t0 = performance.now();
      s.proc.kill("SIGTERM");
      expect(await s.proc.exited).toBe(0);
      const elapsed = performance.now() - t0;
      expect(elapsed).toBeGreaterThanOrEqual(400);
      expect(elapsed).toBeLessThan(2000);
      c.sock.resume();
      expect(await c.closed(3000)).toBe(true);
      expect(c.received).toBeLessThan(big.data.length);
      // The cut exchange is logged, attributed to the shutdown rather than to the client.
      expect(s.readLog()).toMatch(/id=stuck-1 .* \| error=SHUTDOWN_TIMEOUT \| trace_id=[0-9a-f]{32} \| span_id=[0-9a-f]{16}$/m);
    } finally {
      c.destroy();
      await s.stop("SIGKILL");
    }
  });

  test("a second SIGTERM exits at once, still logging the exchange it cuts", async () => {
    const s = await startServer(["--root", root, "--shutdown-timeout", "10s"]);
    const c = await Conn.open(s.port, { paused: true });
    try {
      c.write("GET /big.bin HTTP/1.1\r\nHost: x\r\nX-Request-ID: stuck-2\r\n\r\n");
      await c.startedResponding();
      const t0 = performance.now();
      s.proc.kill("SIGTERM");
      await Bun.sleep(150);
      expect(s.proc.exitCode).toBeNull(); // the first one waits for the stuck client
      s.proc.kill("SIGTERM");
      expect(await s.proc.exited).toBe(0);
      expect(performance.now() - t0).toBeLessThan(1500);
      expect(s.readLog()).toMatch(/id=stuck-2 .* \| error=SHUTDOWN_FORCED \| trace_id=[0-9a-f]{32} \| span_id=[0-9a-f]{16}$/m);
    } finally {
      c.destroy();
      await s.stop("SIGKILL");
    }
  });

  test("SIGINT shuts down like SIGTERM", async () => {
    const s = await startServer(["--root", root]);
    try {
      const c = await Conn.open(s.port);
      c.write("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
      expect((await c.response()).status).toBe(200);
      s.proc.kill("SIGINT");
      expect(await s.proc.exited).toBe(0);
      expect(await c.closed(1000)).toBe(true);
      c.destroy();
    } finally {
      await s.stop("SIGKILL");
    }
  });

  test("an idle server exits 0 on SIGTERM at once, with the shutdown noted on stderr", async () => {
    const s = await startServer(["--root", root]);
    const t0 = performance.now();
    expect(await s.stop("SIGTERM")).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(s.stderr()).toContain("SIGTERM");
    expect(s.stderr()).not.toMatch(/^\s+at /m);
  });
});
