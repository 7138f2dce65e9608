/**
 * HPACK micro-benchmark: decode of a browser-like request block (first and repeated, i.e. mostly
 * indexed), and encode of a typical static-file response. Prints ns per block; run with
 * `nice -n 10 bun scripts/bench-hpack.ts`. Numbers are for spotting regressions, not claims.
 */
import { HpackDecoder, HpackEncoder } from "../src/http2/hpack.ts";

const request: [string, string][] = [
  [":method", "GET"],
  [":scheme", "https"],
  [":authority", "www.example.com"],
  [":path", "/assets/app.3f2a9c.js"],
  ["sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"'],
  ["sec-ch-ua-mobile", "?0"],
  ["user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"],
  ["accept", "*/*"],
  ["sec-fetch-site", "same-origin"],
  ["sec-fetch-mode", "no-cors"],
  ["referer", "https://www.example.com/"],
  ["accept-encoding", "gzip, deflate, br, zstd"],
  ["accept-language", "en-US,en;q=0.9"],
];
const response: [string, string][] = [
  [":status", "200"],
  ["content-type", "application/javascript; charset=utf-8"],
  ["content-length", "48213"],
  ["etag", '"5f3a-18c2b4e9a10"'],
  ["last-modified", "Sun, 06 Dec 2026 09:00:00 GMT"],
  ["cache-control", "public, max-age=31536000, immutable"],
  ["date", "Sun, 06 Dec 2026 09:30:00 GMT"],
  ["server", "DreamServer"],
];

function bench(name: string, n: number, fn: () => void): void {
  for (let i = 0; i < 2000; i++) fn();
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < n; i++) fn();
  console.log(`${name.padEnd(44)} ${((Bun.nanoseconds() - t0) / n).toFixed(0).padStart(7)} ns/block`);
}

const enc = new HpackEncoder();
const first = new HpackEncoder().encode(request);
const repeated = (enc.encode(request), enc.encode(request));
bench("decode request, first on a connection (literals)", 200_000, () => {
  new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 65536 }).decode(first);
});
const dec = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 65536 });
dec.decode(new HpackEncoder().encode(request));
bench("decode request, repeated (indexed)", 500_000, () => {
  dec.decode(repeated);
});
bench("encode response, fresh encoder", 200_000, () => {
  new HpackEncoder().encode(response);
});
const re = new HpackEncoder();
bench("encode response, warm table", 500_000, () => {
  re.encode(response);
});
console.log(`request block: ${first.length} octets first, ${repeated.length} repeated`);
