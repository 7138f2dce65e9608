/**
 * compress on a proxy route (issue 10): proxied responses compressed as a stream, decompressed
 * and compared byte for byte; skipped for Content-Encoding already set, no-transform, ranges,
 * HEAD, server-sent events and small bodies; a strong upstream ETag is weakened. The backend
 * is a test fixture (Bun.serve is fine on the test side).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import path from "node:path";
import zlib from "node:zlib";
import { makeRoot, rmRoot } from "./core-helpers.ts";
import { get, type RunningServer, startServer } from "./harness.ts";

const TEXT = Array.from({ length: 3000 }, (_, i) => `line ${i}: the quick brown fox ${i % 17}\n`).join("");
const BIG_CHUNK = Array.from({ length: 2000 }, (_, i) => `big ${i} jumps over the lazy dog\n`).join("");
const BIG_PARTS = 80; // ~4.6 MB streamed in parts

let backend: ReturnType<typeof Bun.serve>;
let cfgDir: string;
let s: RunningServer;

beforeAll(async () => {
  backend = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const u = new URL(req.url);
      const text = { "Content-Type": "text/plain; charset=utf-8" };
      switch (u.pathname) {
        case "/text":
          return new Response(TEXT, { headers: { ...text, ETag: '"v1"', Vary: "Cookie" } });
        case "/json":
          return new Response(JSON.stringify({ t: TEXT }), { headers: { "Content-Type": "application/json" } });
        case "/big":
          return new Response(
            new ReadableStream({
              async pull(c) {
                for (let i = 0; i < BIG_PARTS; i++) {
                  c.enqueue(new TextEncoder().encode(BIG_CHUNK));
                  if (i % 10 === 0) await Bun.sleep(1);
                }
                c.close();
              },
            }),
            { headers: text },
          );
        case "/encoded":
          return new Response(zlib.gzipSync(TEXT), { headers: { ...text, "Content-Encoding": "gzip" } });
        case "/notransform":
          return new Response(TEXT, { headers: { ...text, "Cache-Control": "public, no-transform" } });
        case "/sse":
          return new Response("data: " + "x".repeat(5000) + "\n\n", { headers: { "Content-Type": "text/event-stream" } });
        case "/small":
          return new Response("tiny", { headers: text });
        case "/png":
          return new Response("P".repeat(5000), { headers: { "Content-Type": "image/png" } });
      }
      return new Response("no", { status: 404 });
    },
  });
  cfgDir = makeRoot({
    "ds.toml": `[[site]]\nlisten = ["127.0.0.1:0"]\n\n[[site.route]]\npath = "/"\nproxy = { to = ["http://127.0.0.1:${backend.port}"] }\ncompress = { codings = ["zstd", "br", "gzip"], min_size = 1024 }\n`,
  });
  s = await startServer(["--config", path.join(cfgDir, "ds.toml")]);
});

afterAll(async () => {
  await s?.stop();
  backend?.stop(true);
  rmRoot(cfgDir);
});

const decode = (c: string | undefined, b: Buffer): Buffer =>
  c === "gzip" ? zlib.gunzipSync(b) : c === "br" ? zlib.brotliDecompressSync(b) : c === "zstd" ? zlib.zstdDecompressSync(b) : b;

describe("compressed per coding", () => {
  const cases = ["gzip", "br", "zstd"].flatMap((c) => ["/text", "/json", "/big"].map((p) => [c, p] as const));
  test.each(cases)("%s %s", async (coding, p) => {
    const r = await get(s.port, p, { "Accept-Encoding": coding });
    expect(r.status).toBe(200);
    expect(r.header("content-encoding")).toBe(coding);
    expect(r.header("content-length")).toBeUndefined();
    expect(r.header("vary")).toContain("Accept-Encoding");
    const want = p === "/text" ? TEXT : p === "/json" ? JSON.stringify({ t: TEXT }) : BIG_CHUNK.repeat(BIG_PARTS);
    const got = decode(coding, r.body);
    expect(got.length).toBe(Buffer.byteLength(want));
    expect(got.equals(Buffer.from(want))).toBe(true);
  });
});

test("a strong upstream ETag is weakened and the upstream's Vary kept", async () => {
  const r = await get(s.port, "/text", { "Accept-Encoding": "gzip" });
  expect(r.header("etag")).toBe('W/"v1"');
  expect(r.header("vary")).toBe("Cookie, Accept-Encoding");
  const plain = await get(s.port, "/text");
  expect(plain.header("content-encoding")).toBeUndefined();
  expect(plain.header("etag")).toBe('"v1"');
  expect(plain.header("vary")).toBe("Cookie, Accept-Encoding");
  expect(plain.body.toString()).toBe(TEXT);
});

const skipped: Array<[string, Record<string, string>, string]> = [
  ["/encoded", { "Accept-Encoding": "br" }, "upstream already set Content-Encoding"],
  ["/notransform", { "Accept-Encoding": "gzip" }, "Cache-Control: no-transform"],
  ["/sse", { "Accept-Encoding": "gzip" }, "text/event-stream"],
  ["/small", { "Accept-Encoding": "gzip" }, "below min_size"],
  ["/png", { "Accept-Encoding": "gzip" }, "type not listed"],
  ["/text", { "Accept-Encoding": "gzip", Range: "bytes=0-9" }, "a Range request"],
  ["/text", { "Accept-Encoding": "identity" }, "identity only"],
];
test.each(skipped)("%s %p: passed through (%s)", async (p, headers, why) => {
  const r = await get(s.port, p, headers);
  if (p === "/encoded") {
    expect(r.header("content-encoding")).toBe("gzip");
    expect(zlib.gunzipSync(r.body).toString()).toBe(TEXT);
    return;
  }
  expect(r.header("content-encoding"), why).toBeUndefined();
  if (p === "/text" && headers.Range) expect(r.status === 206 || r.status === 200).toBe(true);
});

test("HEAD passes through with the upstream's head", async () => {
  const r = await get(s.port, "/text", { "Accept-Encoding": "gzip" }, "HEAD");
  expect(r.status).toBe(200);
  expect(r.header("content-encoding")).toBeUndefined();
});
