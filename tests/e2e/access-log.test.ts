/**
 * The access log end to end (issue "Core server"): line shapes (text and JSON), request ids,
 * rejected requests, no line lost at graceful exit, reopen on SIGUSR1 after rotation, stdout,
 * and the fallback when the file cannot be opened.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { parseResponses, raw, startServer, tmpDir, waitFor, type RunningServer } from "./harness.ts";
import { Conn, makeRoot, rmRoot } from "./core-helpers.ts";

const A = "alpha file\n";
let root: string;
let srv: RunningServer;

beforeAll(async () => {
  root = makeRoot({ "a.txt": A, "sub/b.txt": "bravo\n" });
  srv = await startServer(["--root", root]);
});
afterAll(async () => {
  await srv?.stop();
  rmRoot(root);
});

const lines = (text: string) => text.split("\n").filter((l) => l !== "");

/** Wait until a log line containing `needle` shows up (the writer flushes within ~100 ms). */
async function logLine(s: RunningServer, needle: string, read: () => string = () => s.readLog()): Promise<string> {
  const line = await waitFor(() => lines(read()).find((l) => l.includes(needle)), 3000);
  if (!line) throw new Error(`no log line with ${needle}; log:\n${read()}`);
  return line;
}

const TEXT_LINE =
  /^\[(INFO|WARN|ERROR)\] DREAM_SERVER REQUEST \| time=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) \| id=([^ |]+) \| ip=([^ |]+) \| method=([^ |]+) \| path=([^ |]+) \| host=([^ |]+) \| status=(\d{3}) \| bytes=(\d+) \| latency=(\d+\.\d{3})ms( \| .*)?$/;

describe("text format", () => {
  test("a normal request: every field, id matching X-Request-ID, bytes matching the wire", async () => {
    const before = Date.now();
    const r = await raw(srv.port, "GET /sub/b.txt?x=1&y=2 HTTP/1.1\r\nHost: example.test:8080\r\nConnection: close\r\n\r\n");
    const res = parseResponses(r.data)[0]!;
    expect(res.status).toBe(200);
    const id = res.header("x-request-id")!;
    expect(id).toMatch(/^[A-Za-z0-9_-]{21}$/); // a fresh nanoid
    const line = await logLine(srv, `id=${id}`);
    const m = TEXT_LINE.exec(line);
    expect(m).not.toBeNull();
    const [, level, time, lid, ip, method, p, host, status, bytes, latency, extra] = m!;
    expect({ level, lid, ip, method, p, host, status, extra: extra as string | undefined }).toEqual({
      level: "INFO",
      lid: id,
      ip: "127.0.0.1",
      method: "GET",
      p: "/sub/b.txt?x=1&y=2",
      host: "example.test:8080",
      status: "200",
      // Every request is in a trace (W3C Trace Context; a fresh one here): its ids close the line.
      extra: expect.stringMatching(/^ \| trace_id=[0-9a-f]{32} \| span_id=[0-9a-f]{16}$/),
    });
    // bytes = everything written for this exchange, head included.
    expect(Number(bytes)).toBe(r.data.length);
    expect(Number(latency)).toBeLessThan(1000);
    const t = Date.parse(time!);
    expect(t).toBeGreaterThanOrEqual(before - 1000);
    expect(t).toBeLessThanOrEqual(Date.now() + 1000);
  });

  test("a 404 is INFO with its error code; a 405 is WARN", async () => {
    const r1 = await raw(srv.port, "GET /missing HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-404\r\nConnection: close\r\n\r\n");
    expect(parseResponses(r1.data)[0]!.status).toBe(404);
    const l404 = await logLine(srv, "id=log-404");
    expect(l404).toMatch(/^\[INFO\] .* \| status=404 \| .* \| error=FILE_NOT_FOUND \| trace_id=[0-9a-f]{32} \| span_id=[0-9a-f]{16}$/);
    const r2 = await raw(srv.port, "DELETE /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: log-405\r\nConnection: close\r\n\r\n");
    expect(parseResponses(r2.data)[0]!.status).toBe(405);
    const l405 = await logLine(srv, "id=log-405");
    expect(l405).toMatch(/^\[WARN\] .* \| method=DELETE \| .* \| status=405 \| .* \| error=METHOD_NOT_ALLOWED \| trace_id=[0-9a-f]{32} \| span_id=[0-9a-f]{16}$/);
  });

  test("a valid incoming X-Request-ID is kept, echoed and logged", async () => {
    const id = "Req-42.abc:def_ghi";
    const r = await raw(srv.port, `GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: ${id}\r\nConnection: close\r\n\r\n`);
    expect(parseResponses(r.data)[0]!.header("x-request-id")).toBe(id);
    expect(await logLine(srv, `id=${id} `)).toMatch(/status=200/);
  });

  const INVALID: [string, string][] = [
    ["spaces", "has some spaces"],
    ["300 characters", "a".repeat(300)],
    ["a pipe (log field separator)", "abc|status=500"],
    ["quotes", 'x"y'],
  ];
  for (const [name, bad] of INVALID) {
    test(`an invalid incoming X-Request-ID (${name}) is replaced by a fresh one`, async () => {
      const r = await raw(srv.port, `GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: ${bad}\r\nConnection: close\r\n\r\n`);
      const res = parseResponses(r.data)[0]!;
      const id = res.header("x-request-id")!;
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[A-Za-z0-9_-]{21}$/);
      const line = await logLine(srv, `id=${id}`);
      expect(line).not.toContain(bad);
    });
  }

  test("client-controlled values cannot forge fields: | in the path is escaped", async () => {
    const r = await raw(srv.port, "GET /a.txt?q=|status=999 HTTP/1.1\r\nHost: x\r\nX-Request-ID: forge-1\r\nConnection: close\r\n\r\n");
    expect(parseResponses(r.data)[0]!.status).toBe(200);
    const line = await logLine(srv, "id=forge-1");
    expect(line).toContain("path=/a.txt?q=\\x7cstatus=999");
    expect(line.split(" | ").filter((f) => f.startsWith("status=")).length).toBe(1);
  });

  test("a rejected request (CL + TE smuggling shape) is logged with its error code", async () => {
    const r = await raw(srv.port, "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nX-Request-ID: never-parsed\r\n\r\n0\r\n\r\n");
    expect(parseResponses(r.data)[0]!.status).toBe(400);
    const line = await logLine(srv, "error=PARSE_CL_AND_TE");
    const m = TEXT_LINE.exec(line);
    expect(m).not.toBeNull();
    expect(m![1]).toBe("WARN");
    expect(m![4]).toBe("127.0.0.1");
    expect(m![8]).toBe("400");
    expect(Number(m![9])).toBe(r.data.length);
    expect(line.endsWith(" | error=PARSE_CL_AND_TE")).toBe(true);
  });

  test("a header timeout is logged as 408 TIMEOUT_HEADER", async () => {
    const s = await startServer(["--root", root, "--header-timeout", "300ms"]);
    try {
      const c = await Conn.open(s.port);
      c.write("GET /a.txt HTTP/1.1\r\n");
      expect(await c.closed(2000)).toBe(true);
      c.destroy();
      const line = await logLine(s, "error=TIMEOUT_HEADER");
      expect(line).toMatch(/status=408/);
    } finally {
      await s.stop();
    }
  });
});

describe("JSON format", () => {
  test("--log-format json: one parseable object per line with the documented keys", async () => {
    const s = await startServer(["--root", root, "--log-format", "json"]);
    try {
      const r = await raw(s.port, "GET /a.txt HTTP/1.1\r\nHost: j.test\r\nX-Request-ID: json-1\r\n\r\nGET /nope HTTP/1.1\r\nHost: j.test\r\nX-Request-ID: json-2\r\nConnection: close\r\n\r\n");
      expect(parseResponses(r.data).map((x) => x.status)).toEqual([200, 404]);
      await s.stop();
      const recs = lines(s.readLog()).map((l) => JSON.parse(l));
      expect(recs.length).toBe(2);
      expect(Object.keys(recs[0])).toEqual(["time", "id", "ip", "method", "path", "host", "status", "bytes", "latency_ms", "trace_id", "span_id"]);
      expect(recs[0]).toMatchObject({ id: "json-1", ip: "127.0.0.1", method: "GET", path: "/a.txt", host: "j.test", status: 200 });
      expect(typeof recs[0].bytes).toBe("number");
      expect(typeof recs[0].latency_ms).toBe("number");
      expect(Number.isNaN(Date.parse(recs[0].time))).toBe(false);
      expect(recs[1]).toMatchObject({ id: "json-2", path: "/nope", status: 404 });
    } finally {
      await s.stop();
    }
  });

  test("a rejected request in JSON carries error", async () => {
    const s = await startServer(["--root", root, "--log-format", "json"]);
    try {
      await raw(s.port, "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n");
      await s.stop();
      const recs = lines(s.readLog()).map((l) => JSON.parse(l));
      expect(recs.length).toBe(1);
      expect(recs[0]).toMatchObject({ status: 400, error: "PARSE_DUPLICATE_HOST", ip: "127.0.0.1" });
    } finally {
      await s.stop();
    }
  });
});

describe("writer behaviour", () => {
  test("no line lost on graceful exit: 200 quick requests then SIGTERM → 200 lines", async () => {
    const s = await startServer(["--root", root]);
    try {
      const perConn = 50;
      const conns = await Promise.all([0, 1, 2, 3].map(() => Conn.open(s.port)));
      const wire = (c: number) => Array.from({ length: perConn }, (_, i) => `GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: bulk-${c}-${i}\r\n\r\n`).join("");
      conns.forEach((c, i) => c.write(wire(i)));
      await Promise.all(
        conns.map(async (c) => {
          for (let i = 0; i < perConn; i++) expect((await c.response()).status).toBe(200);
        }),
      );
      // Right away: most lines are still in the writer's buffer (it flushes every 100 ms).
      expect(await s.stop("SIGTERM")).toBe(0);
      for (const c of conns) c.destroy();
      const got = lines(s.readLog());
      expect(got.length).toBe(200);
      const ids = new Set(got.map((l) => /id=(bulk-\d-\d+)/.exec(l)?.[1]));
      expect(ids.size).toBe(200);
    } finally {
      await s.stop("SIGKILL");
    }
  });

  test("SIGUSR1 reopens the log after rotation: old file keeps earlier lines, new file gets later ones", async () => {
    const s = await startServer(["--root", root]);
    const rotated = s.logPath + ".1";
    const hit = async (id: string) => {
      const r = await raw(s.port, `GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: ${id}\r\nConnection: close\r\n\r\n`);
      expect(parseResponses(r.data)[0]!.status).toBe(200);
    };
    try {
      for (const id of ["rot-1", "rot-2", "rot-3"]) await hit(id);
      await logLine(s, "id=rot-3");
      fs.renameSync(s.logPath, rotated);
      // Before the signal, writes still go to the open (renamed) file.
      await hit("rot-4");
      await logLine(s, "id=rot-4", () => fs.readFileSync(rotated, "utf8"));
      s.proc.kill("SIGUSR1");
      expect(await waitFor(() => fs.existsSync(s.logPath), 3000)).toBe(true);
      for (const id of ["rot-5", "rot-6"]) await hit(id);
      await logLine(s, "id=rot-6");
      expect(await s.stop()).toBe(0);
      const idsIn = (p: string) => lines(fs.readFileSync(p, "utf8")).map((l) => /id=(\S+)/.exec(l)![1]);
      expect(idsIn(rotated)).toEqual(["rot-1", "rot-2", "rot-3", "rot-4"]);
      expect(idsIn(s.logPath)).toEqual(["rot-5", "rot-6"]);
      expect(s.stderr()).not.toContain("warning");
    } finally {
      await s.stop("SIGKILL");
    }
  });

  test("--access-log - writes the log to stdout, and nothing else goes there", async () => {
    const s = await startServer(["--root", root, "--access-log", "-"]);
    try {
      await raw(s.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: to-stdout\r\nConnection: close\r\n\r\n");
      const line = await logLine(s, "id=to-stdout", () => s.stdout());
      expect(line).toMatch(TEXT_LINE);
      expect(await s.stop()).toBe(0); // stop() also reads stdout to its end
      for (const l of lines(s.stdout())) expect(l).toMatch(TEXT_LINE);
      expect(fs.existsSync(s.logPath)).toBe(false);
    } finally {
      await s.stop("SIGKILL");
    }
  });

  test("--access-log off writes nothing anywhere", async () => {
    const dir = tmpDir("ds-log-off-");
    const s = await startServer(["--root", root, "--access-log", "off"], { cwd: dir });
    try {
      await raw(s.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      expect(await s.stop()).toBe(0);
      expect(s.stdout()).toBe("");
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      await s.stop("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an unwritable log path: one warning on stderr naming it, and the lines go to stdout", async () => {
    const bad = "/proc/forbidden/x.log";
    const s = await startServer(["--root", root, "--access-log", bad]);
    try {
      for (const id of ["fallback-1", "fallback-2"]) {
        await raw(s.port, `GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: ${id}\r\nConnection: close\r\n\r\n`);
      }
      await logLine(s, "id=fallback-2", () => s.stdout());
      expect(await s.stop()).toBe(0);
      const warnings = lines(s.stderr()).filter((l) => /warn/i.test(l));
      expect(warnings.length).toBe(1);
      expect(warnings[0]).toStartWith("dreamserver: ");
      expect(warnings[0]).toContain(bad);
      expect(warnings[0]).toContain("stdout");
      expect(s.stderr()).not.toMatch(/^\s+at /m);
      expect(lines(s.stdout()).filter((l) => l.includes("id=fallback-")).length).toBe(2);
    } finally {
      await s.stop("SIGKILL");
    }
  });

  test("a log file in a directory that does not exist yet is created", async () => {
    const dir = tmpDir("ds-log-mk-");
    const p = path.join(dir, "a", "b", "access.log");
    const s = await startServer(["--root", root, "--access-log", p]);
    try {
      await raw(s.port, "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Request-ID: mkdir-1\r\nConnection: close\r\n\r\n");
      expect(await s.stop()).toBe(0);
      expect(fs.readFileSync(p, "utf8")).toContain("id=mkdir-1");
      expect(s.stderr()).not.toMatch(/warn/i);
    } finally {
      await s.stop("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
