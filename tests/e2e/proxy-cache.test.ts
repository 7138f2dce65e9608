/**
 * The response cache on a real server (issue 13; docs/caching.md): hits with Age and
 * Cache-Status, request collapsing (100 concurrent misses → 1 upstream request, 100 full
 * bodies), stale-if-error with the backend killed (stale within the window, 502 past it), and
 * the access log's cache field. The backend is a test fixture (Bun.serve) that counts requests.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import zlib from "node:zlib";
import { makeRoot, rmRoot } from "./core-helpers.ts";
import { get, parseResponses, raw, type RunningServer, startServer, waitFor } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";

const BIG = Buffer.alloc(300_000, "abcdefghijklmnopqrstuvwxyz0123456789\n");
const TEXT = Array.from({ length: 400 }, (_, i) => `line ${i}: cached and compressed\n`).join("");

const VIDEO = Buffer.from(Array.from({ length: 1000 }, (_, i) => String.fromCharCode(0x41 + (i % 26))).join(""));
const VIDEO_LM = "Sun, 06 Dec 2026 09:00:00 GMT";
const HUGE = Buffer.alloc(1_500_000, "0123456789abcdef");

function countingBackend() {
  const hits = new Map<string, number>();
  /** Per path: the method and request fields the backend received, in order. */
  const seen = new Map<string, { method: string; range: string | null; inm: string | null }[]>();
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const u = new URL(req.url);
      hits.set(u.pathname, (hits.get(u.pathname) ?? 0) + 1);
      const n = hits.get(u.pathname)!;
      if (!seen.has(u.pathname)) seen.set(u.pathname, []);
      seen.get(u.pathname)!.push({ method: req.method, range: req.headers.get("range"), inm: req.headers.get("if-none-match") });
      if (u.pathname.startsWith("/video")) {
        // A full 200 only (the backend ignores Range), as many app servers do.
        return new Response(VIDEO, { headers: { "Cache-Control": "max-age=60", ETag: '"vid1"', "Last-Modified": VIDEO_LM, "Content-Type": "video/mp4" } });
      }
      if (u.pathname.startsWith("/hugestream")) {
        // Chunked (no Content-Length): max_object is crossed while the body streams.
        return new Response(
          new ReadableStream({
            pull(c) {
              for (let i = 0; i < 15; i++) c.enqueue(HUGE.subarray(i * 100_000, (i + 1) * 100_000));
              c.close();
            },
          }),
          { headers: { "Cache-Control": "max-age=60", "Content-Type": "application/octet-stream" } },
        );
      }
      if (u.pathname.startsWith("/huge")) return new Response(HUGE, { headers: { "Cache-Control": "max-age=60", "Content-Type": "application/octet-stream" } });
      if (u.pathname.startsWith("/slowm/")) {
        await Bun.sleep(300);
        return new Response(BIG, { headers: { "Cache-Control": "max-age=60", "Content-Type": "application/octet-stream" } });
      }
      if (u.pathname.startsWith("/m/")) return new Response(`${u.pathname} ${n}`, { headers: { "Cache-Control": "max-age=60", "Content-Type": "text/plain" } });
      if (u.pathname.startsWith("/rv/")) {
        // Fresh for a minute, with a validator: client no-cache / max-age=0 revalidate it.
        if (req.headers.get("if-none-match") === '"rv"') return new Response(null, { status: 304, headers: { ETag: '"rv"', "Cache-Control": "max-age=60" } });
        return new Response(`${u.pathname} ${n}`, { headers: { ETag: '"rv"', "Cache-Control": "max-age=60", "Content-Type": "text/plain" } });
      }
      if (u.pathname.startsWith("/s/")) return new Response(`${u.pathname} ${n}`, { headers: { "Cache-Control": "max-age=2", "Content-Type": "text/plain" } });
      switch (u.pathname) {
        case "/fresh":
          return new Response(`fresh ${n}`, { headers: { "Cache-Control": "max-age=60", "Content-Type": "text/plain" } });
        case "/slow":
          // Long enough that all 100 clients arrive while the one upstream request is in flight.
          await Bun.sleep(700);
          return new Response(BIG, { headers: { "Cache-Control": "max-age=60", "Content-Type": "application/octet-stream" } });
        case "/short":
          // max-age=2, not 1: Date has whole seconds, so a 1 s lifetime can be used up on arrival (§4.2.3).
          return new Response(`short ${n}`, { headers: { "Cache-Control": "max-age=2", "Content-Type": "text/plain" } });
        case "/etag":
          if (req.headers.get("if-none-match") === '"v1"') return new Response(null, { status: 304, headers: { ETag: '"v1"', "Cache-Control": "max-age=2", "X-Seen-Inm": "yes" } });
          return new Response(`etag ${n}`, { headers: { ETag: '"v1"', "Cache-Control": "max-age=2", "Content-Type": "text/plain" } });
        case "/text":
          return new Response(TEXT, { headers: { "Cache-Control": "max-age=60", "Content-Type": "text/plain" } });
        case "/dribble":
          // A slow body the first client abandons half way.
          return new Response(
            new ReadableStream({
              async pull(c) {
                for (let i = 0; i < 10; i++) {
                  c.enqueue(new TextEncoder().encode("x".repeat(1000)));
                  await Bun.sleep(50);
                }
                c.close();
              },
            }),
            { headers: { "Cache-Control": "max-age=60", "Content-Type": "text/plain" } },
          );
        case "/swr":
          return new Response(`swr ${n}`, { headers: { "Cache-Control": "max-age=2, stale-while-revalidate=30", "Content-Type": "text/plain" } });
        case "/nostore":
          return new Response(`nostore ${n}`, { headers: { "Cache-Control": "no-store" } });
      }
      return new Response("no", { status: 404 });
    },
  });
  return { server, hits, seen, count: (p: string) => hits.get(p) ?? 0 };
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

describe("response cache with compress, revalidation and an abandoned fill", () => {
  let b: ReturnType<typeof countingBackend>;
  let dir: string;
  let s: RunningServer;
  beforeAll(async () => {
    b = countingBackend();
    const cfg = config(b.server.port!, `{ enabled = true }`);
    cfg["ds.toml"] += `compress = { codings = ["gzip"] }\n`;
    dir = makeRoot(cfg);
    s = await startServer(["--config", path.join(dir, "ds.toml")]);
  });
  afterAll(async () => {
    await s?.stop();
    b?.server.stop(true);
    rmRoot(dir);
  });

  test("a stale entry is revalidated with the stored ETag; the 304 freshens it (RFC 9111 §4.3)", async () => {
    expect((await get(s.port, "/etag")).body.toString()).toBe("etag 1");
    await Bun.sleep(2200);
    const r = await get(s.port, "/etag");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("etag 1");
    expect(r.header("cache-status")).toContain("fwd=stale; fwd-status=304");
    expect(r.header("x-seen-inm")).toBe("yes");
    expect((await get(s.port, "/etag")).header("cache-status")).toContain("hit");
    expect(b.count("/etag")).toBe(2);
  });

  test("stale-while-revalidate: the stale page at once, one background request through the proxy refreshes it (RFC 5861 §3)", async () => {
    expect((await get(s.port, "/swr")).body.toString()).toBe("swr 1");
    await Bun.sleep(2200);
    const stale = await get(s.port, "/swr");
    expect(stale.body.toString()).toBe("swr 1");
    expect(stale.header("cache-status")).toContain("detail=stale-while-revalidate");
    await waitFor(() => b.count("/swr") === 2);
    // The background response may still be completing when the backend counted it.
    let fresh = await get(s.port, "/swr");
    for (let i = 0; i < 40 && fresh.body.toString() !== "swr 2"; i++) {
      await Bun.sleep(25);
      fresh = await get(s.port, "/swr");
    }
    expect(fresh.body.toString()).toBe("swr 2");
    expect(fresh.header("cache-status")).toContain("hit");
    expect(b.count("/swr")).toBe(2);
  });

  test("the compressed variant is stored once per Accept-Encoding and not compressed again", async () => {
    const gz1 = await get(s.port, "/text", { "Accept-Encoding": "gzip" });
    expect(gz1.header("content-encoding")).toBe("gzip");
    const gz2 = await get(s.port, "/text", { "Accept-Encoding": "gzip" });
    expect(gz2.header("cache-status")).toContain("hit");
    expect(gz2.header("content-encoding")).toBe("gzip");
    expect(zlib.gunzipSync(gz2.body).toString()).toBe(TEXT);
    const plain = await get(s.port, "/text");
    expect(plain.header("content-encoding")).toBeUndefined();
    expect(plain.header("cache-status")).toContain("fwd=vary-miss");
    expect(plain.body.toString()).toBe(TEXT);
    expect(b.count("/text")).toBe(2);
  });

  test("when the first client leaves mid-body nothing truncated is stored and the waiters still get the full body", async () => {
    const net = await import("node:net");
    const leader = net.connect({ port: s.port, host: "127.0.0.1" });
    await new Promise((r) => leader.once("connect", r));
    leader.write("GET /dribble HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await new Promise((r) => leader.once("data", r));
    const waiters = Array.from({ length: 5 }, () => get(s.port, "/dribble"));
    await Bun.sleep(100);
    leader.destroy();
    const rs = await Promise.all(waiters);
    for (const r of rs) {
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(10_000);
    }
    const again = await get(s.port, "/dribble");
    expect(again.body.length).toBe(10_000);
    expect(again.header("cache-status")).toContain("hit");
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
      // max-age=2: stale after 1–2 s (Date has whole seconds), served for 2 s more.
      await Bun.sleep(2100);
      const stale = await get(s.port, "/short");
      expect(stale.status).toBe(200);
      expect(stale.body.toString()).toBe("short 1");
      expect(stale.header("cache-status")).toContain("detail=stale-if-error");
      // Past 2 s + 2 s whatever the sub-second part of Date was.
      await Bun.sleep(3200);
      const gone = await get(s.port, "/short");
      expect(gone.status).toBe(502);
    } finally {
      await s.stop();
      b.server.stop(true);
      rmRoot(dir);
    }
  });
});

describe("POST /api/cache/purge reaches the real cache (issue 14 × issue 13)", () => {
  let b: ReturnType<typeof countingBackend>;
  let dir: string;
  let s: RunningServer;
  let admin: number;
  beforeAll(async () => {
    b = countingBackend();
    admin = closedPort();
    const cfg = config(b.server.port!, `{ enabled = true }`);
    cfg["ds.toml"] = `[admin]\nlisten = "127.0.0.1:${admin}"\n\n` + cfg["ds.toml"];
    dir = makeRoot(cfg);
    s = await startServer(["--config", path.join(dir, "ds.toml")]);
  });
  afterAll(async () => {
    await s?.stop();
    b?.server.stop(true);
    rmRoot(dir);
  });

  const purge = async (body: string) => {
    const r = await fetch(`http://127.0.0.1:${admin}/api/cache/purge`, { method: "POST", body });
    return [r.status, await r.json()] as const;
  };
  const hit = async (p: string) => (await get(s.port, p)).header("cache-status") ?? "";

  test("one key, a prefix, everything: each purged entry is a miss again", async () => {
    for (const p of ["/fresh", "/text"]) {
      await get(s.port, p);
      expect(await hit(p)).toContain("hit");
    }
    // The default key is {host}{uri}; the harness sends Host: localhost.
    expect(await purge('{"key":"localhost/fresh"}')).toEqual([200, { purged: 1 }]);
    expect(await hit("/fresh")).toContain("fwd=uri-miss");
    expect(await hit("/text")).toContain("hit");
    expect(b.count("/fresh")).toBe(2);

    expect(await purge('{"prefix":"localhost/te"}')).toEqual([200, { purged: 1 }]);
    expect(await hit("/text")).toContain("fwd=uri-miss");
    expect(b.count("/text")).toBe(2);

    const [status, all] = await purge('{"all":true}');
    expect(status).toBe(200);
    expect((all as { purged: number }).purged).toBe(2);
    expect(await hit("/fresh")).toContain("fwd=uri-miss");
    expect(b.count("/fresh")).toBe(3);
    expect((await purge('{"key":1}'))[0]).toBe(400);
  });
});

describe("request directives on a real server (RFC 9111 §5.2.1)", () => {
  let b: ReturnType<typeof countingBackend>;
  let dir: string;
  let s: RunningServer;
  let ignoreDir: string;
  let ignoring: RunningServer;
  beforeAll(async () => {
    b = countingBackend();
    dir = makeRoot(config(b.server.port!, `{ enabled = true }`));
    s = await startServer(["--config", path.join(dir, "ds.toml")]);
    ignoreDir = makeRoot(config(b.server.port!, `{ client_no_cache = "ignore" }`));
    ignoring = await startServer(["--config", path.join(ignoreDir, "ds.toml")]);
  });
  afterAll(async () => {
    await s?.stop();
    await ignoring?.stop();
    b?.server.stop(true);
    rmRoot(dir);
    rmRoot(ignoreDir);
  });

  test("only-if-cached: nothing stored → 504 CACHE_ONLY_IF_CACHED without a backend request; stored → hit (§5.2.1.7)", async () => {
    const none = await get(s.port, "/m/oic", { "Cache-Control": "only-if-cached" });
    expect(none.status).toBe(504);
    expect(none.header("cache-status")).toBe("DreamServer; fwd=miss; detail=only-if-cached");
    expect(b.count("/m/oic")).toBe(0);
    const log = await waitFor(() => (s.readLog().includes("CACHE_ONLY_IF_CACHED") ? s.readLog() : null));
    expect(log).toContain("CACHE_ONLY_IF_CACHED");
    expect((await get(s.port, "/m/oic")).body.toString()).toBe("/m/oic 1");
    const hit = await get(s.port, "/m/oic", { "Cache-Control": "only-if-cached" });
    expect(hit.status).toBe(200);
    expect(hit.body.toString()).toBe("/m/oic 1");
    expect(hit.header("cache-status")).toMatch(/^DreamServer; hit; ttl=\d+$/);
    expect(b.count("/m/oic")).toBe(1);
  });

  test("max-stale serves a stale entry without asking the backend; without it the entry is fetched again (§5.2.1.2)", async () => {
    expect((await get(s.port, "/s/ms")).body.toString()).toBe("/s/ms 1");
    // max-age=2: stale after 1–2 s (Date has whole seconds).
    await Bun.sleep(2200);
    const stale = await get(s.port, "/s/ms", { "Cache-Control": "max-stale=30" });
    expect(stale.status).toBe(200);
    expect(stale.body.toString()).toBe("/s/ms 1");
    expect(stale.header("cache-status")).toMatch(/^DreamServer; hit; ttl=(0|-\d+)$/);
    expect(Number(stale.header("age"))).toBeGreaterThanOrEqual(2);
    // Without max-stale the stale entry is fetched again.
    const tooStale = await get(s.port, "/s/ms");
    expect(tooStale.body.toString()).toBe("/s/ms 2");
    expect(tooStale.header("cache-status")).toContain("fwd=stale; fwd-status=200; stored");
    expect(b.count("/s/ms")).toBe(2);
    const log = await waitFor(() => (s.readLog().includes("cache=STALE") ? s.readLog() : null));
    expect(log).toContain("cache=STALE");
  });

  for (const directive of ["no-cache", "max-age=0"]) {
    test(`client ${directive}: revalidated with the stored ETag by default, served from the cache with client_no_cache = "ignore"`, async () => {
      const p = `/rv/${directive === "no-cache" ? "nc" : "ma0"}`;
      expect((await get(s.port, p)).body.toString()).toBe(`${p} 1`);
      const r = await get(s.port, p, { "Cache-Control": directive });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`${p} 1`);
      // §4.3.1: conditional request with the stored validator; RFC 9211 fwd=request.
      expect(r.header("cache-status")).toContain("fwd=request; fwd-status=304");
      expect(b.seen.get(p)!.map((x) => x.inm)).toEqual([null, '"rv"']);

      const q = `${p}-ignored`;
      expect((await get(ignoring.port, q)).body.toString()).toBe(`${q} 1`);
      const i = await get(ignoring.port, q, { "Cache-Control": directive });
      expect(i.body.toString()).toBe(`${q} 1`);
      expect(i.header("cache-status")).toMatch(/^DreamServer; hit; ttl=\d+$/);
      expect(b.count(q)).toBe(1);
    });
  }
});

const CI = process.env.CI === "true";

describe("Range requests answered from a cached 200 (RFC 9110 §14)", () => {
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

  test("206 slices, 416, several ranges → 200, If-Range against the stored validators; one backend request", async () => {
    expect((await get(s.port, "/video")).body.equals(VIDEO)).toBe(true);
    const r = await get(s.port, "/video", { Range: "bytes=10-19" });
    expect(r.status).toBe(206);
    expect(r.header("content-range")).toBe("bytes 10-19/1000");
    expect(r.header("content-length")).toBe("10");
    expect(r.body.equals(VIDEO.subarray(10, 20))).toBe(true);
    expect(r.header("cache-status")).toMatch(/^DreamServer; hit; ttl=\d+$/);
    expect(r.header("etag")).toBe('"vid1"');
    expect(r.header("age")).toMatch(/^\d+$/);

    const suffix = await get(s.port, "/video", { Range: "bytes=-3" });
    expect(suffix.status).toBe(206);
    expect(suffix.body.equals(VIDEO.subarray(997))).toBe(true);

    const bad = await get(s.port, "/video", { Range: "bytes=1000-" });
    expect(bad.status).toBe(416);
    expect(bad.header("content-range")).toBe("bytes */1000");
    expect(bad.header("cache-status")).toContain("hit");

    const multi = await get(s.port, "/video", { Range: "bytes=0-1,5-6" });
    expect(multi.status).toBe(200);
    expect(multi.body.equals(VIDEO)).toBe(true);

    const ifRangeTag = await get(s.port, "/video", { Range: "bytes=0-4", "If-Range": '"vid1"' });
    expect(ifRangeTag.status).toBe(206);
    expect(ifRangeTag.body.toString()).toBe("ABCDE");
    const ifRangeDate = await get(s.port, "/video", { Range: "bytes=0-4", "If-Range": VIDEO_LM });
    expect(ifRangeDate.status).toBe(206);
    const changed = await get(s.port, "/video", { Range: "bytes=0-4", "If-Range": '"vid0"' });
    expect(changed.status).toBe(200);
    expect(changed.body.equals(VIDEO)).toBe(true);

    // HEAD ignores Range (§14.2): the 200 head.
    const head = await get(s.port, "/video", { Range: "bytes=0-4" }, "HEAD");
    expect(head.status).toBe(200);
    expect(head.header("content-length")).toBe("1000");

    // If-None-Match is evaluated before Range (§13.2.2).
    const nm = await get(s.port, "/video", { Range: "bytes=0-4", "If-None-Match": '"vid1"' });
    expect(nm.status).toBe(304);

    expect(b.count("/video")).toBe(1);
    expect(b.seen.get("/video")!.every((x) => x.range === null)).toBe(true);
  });

  test("a Range request on a miss goes to the backend unchanged and stores nothing", async () => {
    const r = await get(s.port, "/video-miss", { Range: "bytes=0-9" });
    expect(r.header("cache-status")).toMatch(/^DreamServer; fwd=bypass; fwd-status=200$/);
    expect(b.seen.get("/video-miss")![0]!.range).toBe("bytes=0-9");
    const next = await get(s.port, "/video-miss");
    expect(next.header("cache-status")).toContain("fwd=uri-miss");
    expect(b.count("/video-miss")).toBe(2);
  });

  test("curl -r against a cached object", async () => {
    if (Bun.which("curl") === null) {
      if (CI) throw new Error("curl is required under CI");
      console.log("skip: curl not installed");
      return;
    }
    // The harness sends Host: localhost, so curl does too: the key is {host}{uri}.
    await get(s.port, "/video-curl");
    const p = Bun.spawn(["curl", "-sS", "--max-time", "10", "-H", "Host: localhost", "-r", "100-199", "-D", "-", "-o", "-", `http://127.0.0.1:${s.port}/video-curl`], { stdout: "pipe", stderr: "pipe" });
    const out = Buffer.from(await new Response(p.stdout).arrayBuffer());
    expect(await p.exited).toBe(0);
    const split = out.indexOf("\r\n\r\n");
    const headText = out.subarray(0, split).toString("latin1");
    expect(headText).toMatch(/^HTTP\/1\.1 206 /);
    expect(headText.toLowerCase()).toContain("content-range: bytes 100-199/1000");
    expect(headText).toMatch(/Cache-Status: DreamServer; hit/i);
    expect(out.subarray(split + 4).equals(VIDEO.subarray(100, 200))).toBe(true);
    expect(b.count("/video-curl")).toBe(1);
  });
});

describe("HEAD on a miss fills the entry with a GET (nginx proxy_cache_convert_head)", () => {
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

  test("the HEAD client gets the head only; the backend saw GET; the next GET is a hit", async () => {
    const h = await get(s.port, "/m/head", {}, "HEAD");
    expect(h.status).toBe(200);
    expect(h.header("content-length")).toBe(String("/m/head 1".length));
    expect(h.header("cache-status")).toBe("DreamServer; fwd=uri-miss; fwd-status=200; stored");
    expect(b.seen.get("/m/head")!.map((x) => x.method)).toEqual(["GET"]);
    const g = await get(s.port, "/m/head");
    expect(g.body.toString()).toBe("/m/head 1");
    expect(g.header("cache-status")).toContain("hit");
    expect(b.count("/m/head")).toBe(1);
  });

  test("curl -I on a miss fills the entry", async () => {
    if (Bun.which("curl") === null) {
      if (CI) throw new Error("curl is required under CI");
      console.log("skip: curl not installed");
      return;
    }
    const p = Bun.spawn(["curl", "-sS", "--max-time", "10", "-I", "-H", "Host: localhost", `http://127.0.0.1:${s.port}/m/curl-head`], { stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(out.toLowerCase()).toContain(`content-length: ${"/m/curl-head 1".length}`);
    const g = await get(s.port, "/m/curl-head");
    expect(g.body.toString()).toBe("/m/curl-head 1");
    expect(g.header("cache-status")).toContain("hit");
    expect(b.seen.get("/m/curl-head")!.map((x) => x.method)).toEqual(["GET"]);
  });

  test("GETs arriving while a HEAD fills the entry wait for it and get the full body (one backend request)", async () => {
    const head = get(s.port, "/slowm/x", {}, "HEAD");
    await Bun.sleep(50);
    const gets = await Promise.all(Array.from({ length: 5 }, () => get(s.port, "/slowm/x")));
    expect((await head).body.length).toBe(0);
    for (const g of gets) {
      expect(g.body.equals(BIG)).toBe(true);
      expect(g.header("cache-status")).toContain("collapsed");
    }
    expect(b.count("/slowm/x")).toBe(1);
  });

  test("a body over max_object is not stored; the HEAD answer ends at once and the connection stays usable", async () => {
    const r = await raw(s.port, "HEAD /huge HTTP/1.1\r\nHost: localhost\r\n\r\nGET /m/after-huge HTTP/1.1\r\nHost: localhost\r\n\r\n", { responses: 2, methods: ["HEAD", "GET"], idleMs: 5000 });
    const [h, g] = parseResponses(r.data, ["HEAD", "GET"]);
    expect(h!.status).toBe(200);
    expect(h!.header("content-length")).toBe(String(HUGE.length));
    expect(h!.body.length).toBe(0);
    expect(h!.header("cache-status")).toContain("fwd=uri-miss; fwd-status=200");
    expect(g!.status).toBe(200);
    expect(g!.body.toString()).toBe("/m/after-huge 1");
    const again = await get(s.port, "/huge");
    expect(again.body.length).toBe(HUGE.length);
    expect(again.header("cache-status")).toContain("fwd=uri-miss");
    expect(b.seen.get("/huge")!.map((x) => x.method)).toEqual(["GET", "GET"]);
  });

  test("a chunked body that crosses max_object while streaming: the HEAD answer ends, nothing is stored", async () => {
    const r = await raw(s.port, "HEAD /hugestream HTTP/1.1\r\nHost: localhost\r\n\r\nGET /m/after-stream HTTP/1.1\r\nHost: localhost\r\n\r\n", { responses: 2, methods: ["HEAD", "GET"], idleMs: 5000 });
    const [h, g] = parseResponses(r.data, ["HEAD", "GET"]);
    expect(h!.status).toBe(200);
    expect(h!.header("content-length")).toBeUndefined();
    expect(h!.body.length).toBe(0);
    expect(g!.body.toString()).toBe("/m/after-stream 1");
    const again = await get(s.port, "/hugestream");
    expect(again.body.equals(HUGE)).toBe(true);
    expect(again.header("cache-status")).toContain("fwd=uri-miss");
    expect(b.seen.get("/hugestream")!.map((x) => x.method)).toEqual(["GET", "GET"]);
  });
});
