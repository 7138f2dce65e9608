/**
 * Real clients, end to end: the server driven by software nobody here wrote, the way users drive
 * it. `ab` (apache2-utils), `curl` and `wrk` on the client side; a plain Node `http` server
 * (`node -e`, real-clients-helpers.ts) on the backend side. Our raw-TCP e2e tests check what we
 * think the wire should look like; these check that widely used clients agree — e.g. `ab`
 * without -k speaks HTTP/1.0 and waits for the server's FIN after every response, so a server
 * that never closes a Connection: close exchange hangs it, however correct its bytes are.
 *
 * Missing clients: under CI (CI=true) a test whose client is missing FAILS (.ci/run installs
 * them); outside CI it is skipped with a printed reason.
 *
 * Every test has a hard time bound (the bun test timeout and a SIGKILL bound on each client),
 * and every child (clients, backend, server) is killed afterwards. No benchmark numbers: load
 * runs are short and only check correctness (no failures, no socket errors, no leaked sockets).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { type RunningServer, startServer } from "./harness.ts";
import { makeRoot, rmRoot } from "./core-helpers.ts";
import {
  describeRun,
  heldConnections,
  HELLO_BODY,
  killAll,
  need,
  type NodeBackend,
  parseAb,
  parseWrk,
  run,
  skipWithout,
  socketsOnPort,
  startNodeBackend,
  STREAM_BODY,
  summarizeStates,
  waitNoHeldConnections,
} from "./real-clients-helpers.ts";

/** A static file big enough to span several TCP segments, with a deterministic pattern. */
const FILE = Buffer.alloc(48 * 1024, 0);
for (let i = 0; i < FILE.length; i++) FILE[i] = 0x20 + ((i * 7) % 95);

let root: string;
let backend: NodeBackend | null = null;
const servers: RunningServer[] = [];

beforeAll(async () => {
  root = makeRoot({ "index.html": "<!doctype html><title>real clients</title>\n", "file.txt": FILE });
  // Outside CI without node the proxy tests skip; don't fail the whole file here.
  if (Bun.which("node")) backend = await startNodeBackend();
});

afterEach(async () => {
  for (const s of servers.splice(0)) {
    const killer = setTimeout(() => s.proc.kill("SIGKILL"), 1500);
    await s.stop();
    clearTimeout(killer);
  }
});

afterAll(async () => {
  await backend?.stop();
  killAll();
  rmRoot(root);
});

/** A fresh server per test, so socket counts and access-log lines belong to that test only. */
async function serve(args: string[]): Promise<RunningServer> {
  const s = await startServer(["--log-format", "json", ...args]);
  servers.push(s);
  return s;
}

function proxyServer(extra: string[] = []): Promise<RunningServer> {
  if (!backend) throw new Error("node backend is not running");
  return serve(["--proxy", `http://127.0.0.1:${backend.port}`, ...extra]);
}

const staticServer = () => serve(["--root", root]);

/** ab, bounded twice: -s (ab's own per-request socket timeout) and a SIGKILL after timeoutMs. */
async function ab(args: string[], url: string, timeoutMs: number) {
  const cmd = ["ab", "-q", "-s", "5", "-r", ...args, url];
  // -r: don't abort on the first socket error, so the summary reports every failure.
  const r = await run(cmd, timeoutMs);
  const what = describeRun(cmd.join(" "), r);
  expect(r.timedOut, `ab hung (killed after ${timeoutMs} ms)\n${what}`).toBe(false);
  const hint = /timeout specified has expired/.test(r.stderr)
    ? "ab waited 5 s (-s 5) for a response to end: without -k that means the server never closed the connection\n"
    : "";
  expect(r.code, hint + what).toBe(0);
  return { ...parseAb(r.stdout), what };
}

async function expectAbClean(args: string[], url: string, n: number, timeoutMs: number): Promise<void> {
  const r = await ab(["-n", String(n), ...args], url, timeoutMs);
  expect(r.complete, r.what).toBe(n);
  expect(r.failed, r.what).toBe(0);
  expect(r.non2xx, r.what).toBe(0);
}

const url = (s: RunningServer, p: string) => `http://127.0.0.1:${s.port}${p}`;

/**
 * One curl transfer; head and body go to temp files (-D/-o). Not -D /dev/stderr: curl 7.88
 * segfaults opening /dev/stderr when stderr is a socket, as Bun's pipes are.
 */
async function curl(args: string[], target: string, timeoutMs = 8000) {
  const dir = fs.mkdtempSync(path.join(root, ".curl-"));
  try {
    const cmd = ["curl", "-sS", "--max-time", "5", "-D", path.join(dir, "h"), "-o", path.join(dir, "b"), ...args, target];
    const r = await run(cmd, timeoutMs);
    const read = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f)) : Buffer.alloc(0));
    const head = read("h").toString("latin1");
    const body = read("b");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
    const header = (n: string) => new RegExp(`^${n}:\\s*(.*?)\\r?$`, "im").exec(head)?.[1];
    const what = `${describeRun(cmd.join(" "), r)}\n--- head\n${head}`;
    return { ...r, status, head, header, body, what };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("ab (ApacheBench)", () => {
  // The headline regression: without -k, ab sends HTTP/1.0 requests and reads each response
  // until the server closes the connection. If the proxy never sends FIN after a
  // Connection: close / HTTP/1.0 response, the first 10 requests hang forever.
  test.skipIf(skipWithout(["ab", "node"], "ab without -k through the proxy"))(
    "ab -n 20000 -c 10 without keep-alive through --proxy to a Node backend: all complete, none fail",
    async () => {
      need(["ab", "node"]);
      const s = await proxyServer();
      await expectAbClean(["-c", "10"], url(s, "/hello"), 20_000, 30_000);
    },
    40_000,
  );

  test.skipIf(skipWithout(["ab", "node"], "ab -k through the proxy"))(
    "ab -k -n 5000 -c 10 through --proxy: all complete, none fail",
    async () => {
      need(["ab", "node"]);
      const s = await proxyServer();
      await expectAbClean(["-k", "-c", "10"], url(s, "/hello"), 5000, 15_000);
    },
    20_000,
  );

  test.skipIf(skipWithout(["ab"], "ab against a static file"))(
    "ab without and with -k against a static file: all complete, none fail",
    async () => {
      need(["ab"]);
      const s = await staticServer();
      await expectAbClean(["-c", "10"], url(s, "/file.txt"), 3000, 15_000);
      await expectAbClean(["-k", "-c", "10"], url(s, "/file.txt"), 5000, 15_000);
    },
    35_000,
  );
});

describe("curl", () => {
  // A streamed backend response (Node: no Content-Length → chunked to us). An HTTP/1.0 client
  // cannot take chunked, so the body is delimited by the server closing the connection: curl
  // only exits when it sees FIN.
  test.skipIf(skipWithout(["curl", "node"], "curl --http1.0 through the proxy"))(
    "curl --http1.0 through --proxy of a streamed response exits 0 with the full body",
    async () => {
      need(["curl", "node"]);
      const s = await proxyServer();
      const r = await curl(["--http1.0"], url(s, "/stream"));
      const hint = r.code === 28 ? "curl --max-time 5 expired: the close-delimited body never ended (no FIN from the server)\n" : "";
      expect(r.code, hint + r.what).toBe(0);
      expect(r.status, r.what).toBe(200);
      expect(r.body.toString(), r.what).toBe(STREAM_BODY);
      expect(r.ms, r.what).toBeLessThan(2000);
    },
    15_000,
  );

  test.skipIf(skipWithout(["curl", "node"], "curl Connection: close through the proxy"))(
    "curl --http1.1 -H 'Connection: close' through --proxy: streamed and fixed-length bodies, exit 0",
    async () => {
      need(["curl", "node"]);
      const s = await proxyServer();
      for (const [p, body] of [["/stream", STREAM_BODY], ["/hello", HELLO_BODY]] as const) {
        const r = await curl(["--http1.1", "-H", "Connection: close"], url(s, p));
        expect(r.code, r.what).toBe(0);
        expect(r.status, r.what).toBe(200);
        expect(r.head.startsWith("HTTP/1.1 "), r.what).toBe(true);
        expect(r.header("connection")?.toLowerCase(), r.what).toBe("close");
        expect(r.body.toString(), r.what).toBe(body);
        expect(r.ms, r.what).toBeLessThan(2000);
      }
    },
    20_000,
  );

  // 1,100 exchanges that each end with Connection: close. curl stops reading at Content-Length
  // and closes its side; the server must close its side too, or it keeps one CLOSE_WAIT socket
  // (and its memory) per request, forever.
  test.skipIf(skipWithout(["curl", "node"], "1,100 Connection: close requests"))(
    "1,100 Connection: close requests through --proxy (curl --parallel): 1 s later the server holds no connection",
    async () => {
      need(["curl", "node"]);
      const s = await proxyServer();
      const N = 1100;
      const cmd = ["curl", "-sS", "--parallel", "--parallel-max", "20", "-H", "Connection: close", "--max-time", "10", "-w", "%{http_code}\\n", "-o", "/dev/null"];
      const u = url(s, "/hello");
      for (let i = 0; i < N; i++) cmd.push(`${u}?n=${i}`);
      // More than one -o is needed for more than one URL: one "-o /dev/null" per URL.
      for (let i = 1; i < N; i++) cmd.push("-o", "/dev/null");
      const r = await run(cmd, 25_000);
      const what = describeRun(`curl --parallel (${N} URLs)`, r);
      expect(r.timedOut, what).toBe(false);
      expect(r.code, what).toBe(0);
      const codes = r.stdout.trim().split("\n");
      expect(codes.length, what).toBe(N);
      expect(codes.filter((c) => c !== "200").length, what).toBe(0);
      await Bun.sleep(1000);
      const held = heldConnections(s.port);
      expect(held.length, `server still holds ${summarizeStates(held)} on port ${s.port} 1 s after the last response`).toBe(0);
      // The listener itself is still there (sanity check of the /proc parsing).
      expect(socketsOnPort(s.port).some((x) => x.state === "LISTEN")).toBe(true);
    },
    35_000,
  );

  // A client that goes away mid-request: the server must close its socket, abort the upstream
  // request (the backend sees its connection close) and log 499.
  test.skipIf(skipWithout(["curl", "node"], "client that goes away"))(
    "curl --max-time 0.5 against a 3 s backend: server socket gone, backend sees the abort, access log says 499",
    async () => {
      need(["curl", "node"]);
      const s = await proxyServer();
      const id = `gone-${Date.now()}`;
      const cmd = ["curl", "-sS", "--max-time", "0.5", "-o", "/dev/null", url(s, `/slow?id=${id}`)];
      const r = await run(cmd, 5000);
      expect(r.code, describeRun(cmd.join(" "), r)).toBe(28); // curl: operation timed out
      expect(await backend!.waitFor(new RegExp(`slow-start ${id}\\b`), 1000), backend!.output()).toBe(true);
      // Three independent observations, all reported together when any is wrong.
      const [held, aborted, rec] = await Promise.all([
        waitNoHeldConnections(s.port, 1500),
        backend!.waitFor(new RegExp(`slow-aborted ${id}\\b`), 1500),
        (async () => {
          const end = Date.now() + 1500;
          for (;;) {
            const r = s
              .readLog()
              .split("\n")
              .filter(Boolean)
              .map((l) => JSON.parse(l) as { status?: number; path?: string; error?: string })
              .find((x) => x.path?.includes(id));
            if (r || Date.now() > end) return r;
            await Bun.sleep(50);
          }
        })(),
      ]);
      const problems: string[] = [];
      if (held.length) problems.push(`server still holds ${summarizeStates(held)} on port ${s.port} 1.5 s after curl gave up`);
      if (!aborted) problems.push(`backend did not see its request's connection close within 1.5 s (backend output: ${JSON.stringify(backend!.output().split("\n").filter((l) => l.includes(id)))})`);
      if (!rec) problems.push(`no access-log line for the abandoned request within 1.5 s`);
      else if (rec.status !== 499) problems.push(`access-log status ${rec.status}, expected 499: ${JSON.stringify(rec)}`);
      expect(problems).toEqual([]);
    },
    15_000,
  );

  test.skipIf(skipWithout(["curl"], "curl range and conditional requests"))(
    "curl range (-r) and conditional (-z, If-None-Match, --etag-compare) requests against a static file",
    async () => {
      need(["curl"]);
      const s = await staticServer();
      const u = url(s, "/file.txt");
      const fetchFile = async (args: string[]) => {
        const r = await curl(args, u);
        expect(r.code, r.what).toBe(0);
        return r;
      };
      const dir = fs.mkdtempSync(path.join(root, ".range-"));

      const full = await fetchFile([]);
      expect(full.status, full.what).toBe(200);
      expect(full.body.equals(FILE), full.what).toBe(true);
      const etag = full.header("etag");
      const lastModified = full.header("last-modified");
      expect(etag, full.what).toBeDefined();
      expect(lastModified, full.what).toBeDefined();

      const first = await fetchFile(["-r", "0-9"]);
      expect(first.status, first.what).toBe(206);
      expect(first.header("content-range"), first.what).toBe(`bytes 0-9/${FILE.length}`);
      expect(first.body.equals(FILE.subarray(0, 10)), first.what).toBe(true);

      const last = await fetchFile(["-r", "-100"]);
      expect(last.status, last.what).toBe(206);
      expect(last.body.equals(FILE.subarray(FILE.length - 100)), last.what).toBe(true);

      // curl -C - resumes a partial download with a Range request: the joined file is whole.
      const partial = path.join(dir, "resume");
      fs.writeFileSync(partial, FILE.subarray(0, 1000));
      const resume = await run(["curl", "-sS", "--max-time", "5", "-C", "-", "-o", partial, u], 8000);
      expect(resume.code, describeRun("curl -C -", resume)).toBe(0);
      expect(fs.readFileSync(partial).equals(FILE)).toBe(true);

      const ims = await fetchFile(["-z", lastModified!]);
      expect(ims.status, ims.what).toBe(304);
      expect(ims.body.length, ims.what).toBe(0);

      const inm = await fetchFile(["-H", `If-None-Match: ${etag}`]);
      expect(inm.status, inm.what).toBe(304);

      const stale = await fetchFile(["-H", 'If-None-Match: "not-the-etag"']);
      expect(stale.status, stale.what).toBe(200);
      expect(stale.body.equals(FILE), stale.what).toBe(true);

      // curl's own ETag cache: save on the first fetch, send it back on the second.
      const etagFile = path.join(dir, "etag");
      const saved = await fetchFile(["--etag-save", etagFile]);
      expect(saved.status, saved.what).toBe(200);
      const compared = await fetchFile(["--etag-compare", etagFile]);
      expect(compared.status, compared.what).toBe(304);
    },
    20_000,
  );
});

describe("wrk", () => {
  async function wrk(u: string) {
    const cmd = ["wrk", "-t1", "-c20", "-d2s", "--timeout", "2s", u];
    const r = await run(cmd, 10_000);
    const what = describeRun(cmd.join(" "), r);
    expect(r.timedOut, what).toBe(false);
    expect(r.code, what).toBe(0);
    const w = parseWrk(r.stdout);
    expect(w.socketErrorLine, what).toBeNull();
    expect(w.non2xx3xx, what).toBe(0);
    expect(w.requests, what).toBeGreaterThan(0);
  }

  test.skipIf(skipWithout(["wrk"], "wrk against a static file"))(
    "wrk -t1 -c20 -d2s against a static file: requests, no socket errors",
    async () => {
      need(["wrk"]);
      const s = await staticServer();
      await wrk(url(s, "/file.txt"));
    },
    15_000,
  );

  test.skipIf(skipWithout(["wrk", "node"], "wrk through the proxy"))(
    "wrk -t1 -c20 -d2s through --proxy: requests, no socket errors",
    async () => {
      need(["wrk", "node"]);
      const s = await proxyServer();
      await wrk(url(s, "/hello"));
    },
    15_000,
  );
});
