/**
 * The response cache on a real server (issue 13; docs/caching.md): hits with Age and
 * Cache-Status, request collapsing (100 concurrent misses → 1 upstream request, 100 full
 * bodies), stale-if-error with the backend killed (stale within the window, 502 past it), and
 * the access log's cache field. The backend is a test fixture (Bun.serve) that counts requests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import { makeRoot, rmRoot } from "./core-helpers.ts";
import { get, type RunningServer, startServer, waitFor } from "./harness.ts";

const BIG = Buffer.alloc(300_000, "abcdefghijklmnopqrstuvwxyz0123456789\n");

function countingBackend() {
  const hits = new Map<string, number>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const u = new URL(req.url);
      hits.set(u.pathname, (hits.get(u.pathname) ?? 0) + 1);
      const n = hits.get(u.pathname)!;
      switch (u.pathname) {
        case "/fresh":
          return new Response(`fresh ${n}`, { headers: { "Cache-Control": "max-age=60", "Content-Type": "text/plain" } });
        case "/slow":
          // Long enough that all 100 clients arrive while the one upstream request is in flight.
          await Bun.sleep(700);
          return new Response(BIG, { headers: { "Cache-Control": "max-age=60", "Content-Type": "application/octet-stream" } });
        case "/short":
          return new Response(`short ${n}`, { headers: { "Cache-Control": "max-age=1", "Content-Type": "text/plain" } });
        case "/nostore":
          return new Response(`nostore ${n}`, { headers: { "Cache-Control": "no-store" } });
      }
      return new Response("no", { status: 404 });
    },
  });
  return { server, hits, count: (p: string) => hits.get(p) ?? 0 };
}

function config(backendPort: number, cache: string): Record<string, string> {
  return {
    "ds.toml": `[cache]\nmemory = "16m"\nmax_object = "1m"\n\n[[site]]\nlisten = ["127.0.0.1:0"]\n\n[[site.route]]\npath = "/"\nproxy = { to = ["http://127.0.0.1:${backendPort}"] }\ncache = ${cache}\n`,
  };
}

describe("response cache", () => {
  let b: ReturnType<typeof countingBackend>;
  let dir: string;
  let s: RunningServer;
  beforeAll(async () => {
    b = countingBackend();
    dir = makeRoot(config(b.server.port!, `{ enabled = true }`));
    s = await startServer(["--config", path.join(dir, "ds.toml")]);
  });
  afterAll(async () => {
    await s?.stop();
    b?.server.stop(true);
    rmRoot(dir);
  });

  test("a second GET is a hit: one backend request, Age and Cache-Status, cache field in the access log", async () => {
    const r1 = await get(s.port, "/fresh");
    expect(r1.status).toBe(200);
    expect(r1.body.toString()).toBe("fresh 1");
    expect(r1.header("cache-status")).toBe("DreamServer; fwd=uri-miss; fwd-status=200; stored");
    const r2 = await get(s.port, "/fresh");
    expect(r2.body.toString()).toBe("fresh 1");
    expect(r2.header("cache-status")).toMatch(/^DreamServer; hit; ttl=(59|60)$/);
    expect(r2.header("age")).toMatch(/^(0|1)$/);
    const h = await get(s.port, "/fresh", {}, "HEAD");
    expect(h.status).toBe(200);
    expect(h.header("content-length")).toBe("7");
    expect(h.header("cache-status")).toContain("hit");
    expect(b.count("/fresh")).toBe(1);
    const log = await waitFor(() => (s.readLog().includes("cache=HIT") ? s.readLog() : null));
    expect(log).toContain("cache=MISS");
  });

  test("100 concurrent misses on one key → exactly 1 upstream request, all 100 get the full body", async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => get(s.port, "/slow")));
    expect(b.count("/slow")).toBe(1);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(BIG.length);
      expect(r.body.equals(BIG)).toBe(true);
    }
    const collapsed = results.filter((r) => (r.header("cache-status") ?? "").includes("collapsed")).length;
    expect(collapsed).toBeGreaterThanOrEqual(90);
  });

  test("no-store responses are never stored", async () => {
    await get(s.port, "/nostore");
    const r = await get(s.port, "/nostore");
    expect(r.body.toString()).toBe("nostore 2");
    expect(b.count("/nostore")).toBe(2);
  });

  test("an unsafe method invalidates the URI (RFC 9111 §4.4)", async () => {
    await get(s.port, "/short");
    expect((await get(s.port, "/short")).header("cache-status")).toContain("hit");
    const post = await get(s.port, "/short", { "Content-Length": "0" }, "POST");
    expect(post.status).toBe(200);
    const after = await get(s.port, "/short");
    expect(after.header("cache-status")).toContain("fwd=uri-miss");
  });
});

describe("stale-if-error with the backend killed", () => {
  test("within the window the stale page is served; past it 502", async () => {
    const b = countingBackend();
    const dir = makeRoot(config(b.server.port!, `{ stale_if_error = "2s" }`));
    const s = await startServer(["--config", path.join(dir, "ds.toml")]);
    try {
      const first = await get(s.port, "/short");
      expect(first.body.toString()).toBe("short 1");
      b.server.stop(true);
      // max-age=1: stale after ~1 s, served for 2 s more.
      await Bun.sleep(1300);
      const stale = await get(s.port, "/short");
      expect(stale.status).toBe(200);
      expect(stale.body.toString()).toBe("short 1");
      expect(stale.header("cache-status")).toContain("detail=stale-if-error");
      await Bun.sleep(2500);
      const gone = await get(s.port, "/short");
      expect(gone.status).toBe(502);
    } finally {
      await s.stop();
      b.server.stop(true);
      rmRoot(dir);
    }
  });
});
