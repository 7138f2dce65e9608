/**
 * src/middleware/compress/ (compress on proxy routes): which responses qualify, the head we
 * send, and backpressure through the compressor with a fake client queue.
 */
import { describe, expect, test } from "bun:test";
import zlib from "node:zlib";
import type { CompressConfig } from "../../src/config/config.ts";
import type { Exchange, HeaderPairs } from "../../src/handler.ts";
import { compressedHead, compressResponses, eligible, HIGH_WATER } from "../../src/middleware/compress/index.ts";
import { makeHead } from "./fake-exchange.ts";

const CFG: CompressConfig = { codings: ["zstd", "br", "gzip"], minSize: 1024, types: ["text/*", "application/json"] };
const T: [string, string] = ["Content-Type", "text/html"];

describe("eligible", () => {
  const cases: Array<[string, number, HeaderPairs, number | null, boolean]> = [
    ["text, unknown length", 200, [T], null, true],
    ["json with parameters", 200, [["content-type", "application/json; charset=utf-8"]], 5000, true],
    ["206", 206, [T, ["Content-Range", "bytes 0-1/2"]], 2, false],
    ["304", 304, [T], 0, false],
    ["404 page", 404, [T], 5000, false],
    ["already encoded", 200, [T, ["Content-Encoding", "gzip"]], null, false],
    ["no-transform", 200, [T, ["Cache-Control", "public, no-transform"]], null, false],
    ["no-transform uppercase", 200, [T, ["cache-control", "No-Transform"]], null, false],
    ["event stream", 200, [["Content-Type", "text/event-stream"]], null, false],
    ["small length", 200, [T], 100, false],
    ["small Content-Length field", 200, [T, ["Content-Length", "100"]], null, false],
    ["image", 200, [["Content-Type", "image/png"]], 5000, false],
    ["no type", 200, [], 5000, false],
  ];
  test.each(cases)("%s", (_n, status, pairs, len, want) => expect(eligible(CFG, status, pairs, len)).toBe(want));
});

describe("compressedHead", () => {
  test("drops Content-Length, weakens ETag, appends to Vary, adds Content-Encoding", () => {
    expect(compressedHead([T, ["Content-Length", "5000"], ["ETag", '"x"'], ["Vary", "Cookie"]], "br")).toEqual([
      T,
      ["ETag", 'W/"x"'],
      ["Vary", "Cookie, Accept-Encoding"],
      ["Content-Encoding", "br"],
    ]);
  });
  test("a weak ETag stays; Vary already naming it stays; identity keeps the length", () => {
    expect(compressedHead([["ETag", 'W/"x"'], ["vary", "accept-encoding"]], "gzip")).toEqual([
      ["ETag", 'W/"x"'],
      ["vary", "accept-encoding"],
      ["Content-Encoding", "gzip"],
    ]);
    expect(compressedHead([T, ["Content-Length", "5000"], ["ETag", '"x"']], null)).toEqual([T, ["Content-Length", "5000"], ["ETag", '"x"'], ["Vary", "Accept-Encoding"]]);
  });
});

/** A client queue we control: write() says false while `full`. */
class FakeClient {
  head = makeHead({ headers: [["Accept-Encoding", "gzip"]] });
  log = {};
  full = false;
  chunks: Buffer[] = [];
  ended = false;
  status = 0;
  headers: HeaderPairs = [];
  onDrain: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  startResponse(status: number, headers: HeaderPairs) {
    this.status = status;
    this.headers = headers;
  }
  write(c: Uint8Array) {
    this.chunks.push(Buffer.from(c));
    return !this.full;
  }
  end() {
    this.ended = true;
  }
  abort() {}
  drain() {
    this.full = false;
    this.onDrain?.();
  }
}

test("backpressure: write() says stop while the client is full, onDrain fires after it drains, nothing lost", async () => {
  const client = new FakeClient();
  let ex!: Exchange;
  compressResponses(CFG)((e) => (ex = e))(client as unknown as Exchange);
  let drained = 0;
  ex.onDrain = () => drained++;
  ex.startResponse(200, [T], null);
  expect(client.headers).toContainEqual(["Content-Encoding", "gzip"]);
  const block = Buffer.from("abcdefghij".repeat(1000) + Math.random());
  const sent: Buffer[] = [];
  client.full = true;
  let ok = true;
  let n = 0;
  // Random-ish data that compresses poorly, so output flows; keep writing until told to stop.
  while (ok && n < 10_000) {
    const b = Buffer.from(Array.from({ length: 8192 }, () => Math.floor(Math.random() * 256)));
    sent.push(b);
    ok = ex.write(b);
    n++;
    await Bun.sleep(0);
  }
  expect(ok).toBe(false);
  // Bounded: we stopped within a few high-water marks of input.
  expect(n * 8192).toBeLessThan(HIGH_WATER * 8);
  expect(drained).toBe(0);
  client.drain();
  for (let i = 0; i < 100 && drained === 0; i++) {
    if (client.full) client.drain();
    await Bun.sleep(5);
  }
  expect(drained).toBe(1);
  sent.push(block);
  ex.write(block);
  ex.end();
  for (let i = 0; i < 200 && !client.ended; i++) await Bun.sleep(5);
  expect(client.ended).toBe(true);
  expect(zlib.gunzipSync(Buffer.concat(client.chunks)).equals(Buffer.concat(sent))).toBe(true);
});
