/**
 * In-process cost of the proxy's per-request head work, without sockets: parse the request head
 * wrk sends and the bench backend's response head, prepare the upstream request and the client
 * response fields. `bun scripts/bench/proxy-prepare-micro.ts [iterations]` prints ns per request.
 * docs/performance.md ("Where the time goes") quotes it.
 */
import { DEFAULT_LIMITS } from "../../src/config/config.ts";
import { MessageParser } from "../../src/http1/message-parser.ts";
import type { RequestHead, ResponseHead } from "../../src/http1/message-head.ts";
import { TrustedProxies } from "../../src/proxy/cidr.ts";
import { prepareUpstreamRequest } from "../../src/proxy/prepare-request.ts";
import { decideClientFraming, prepareClientResponseHeaders } from "../../src/proxy/prepare-response.ts";

const enc = new TextEncoder();
const REQ = enc.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
const BROWSER = enc.encode(
  "GET /api/items?page=2 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n" +
    "Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n" +
    "Connection: keep-alive\r\nCookie: session=abc123; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\n\r\n",
);
const RES = enc.encode("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Sun, 06 Dec 2026 09:00:00 GMT\r\nContent-Length: 19\r\n\r\n");

function parseReq(bytes: Uint8Array): RequestHead {
  const p = new MessageParser("request", DEFAULT_LIMITS);
  p.push(bytes);
  const ev = p.next();
  if (ev?.type !== "head") throw new Error("no head");
  return ev.head as RequestHead;
}
function parseRes(bytes: Uint8Array): ResponseHead {
  const p = new MessageParser("response", DEFAULT_LIMITS);
  p.expectResponseTo("GET");
  p.push(bytes);
  const ev = p.next();
  if (ev?.type !== "head") throw new Error("no head");
  return ev.head as ResponseHead;
}

const n = Number(process.argv[2] ?? 200_000);
const upstream = { host: "127.0.0.1:9000", basePath: "" };
const trusted = TrustedProxies.none;
const rewrite = (v: string) => v;
let sink = 0;
function time(name: string, f: () => void): void {
  for (let i = 0; i < n / 10; i++) f();
  const t0 = Bun.nanoseconds();
  for (let i = 0; i < n; i++) f();
  console.log(`${name.padEnd(34)} ${((Bun.nanoseconds() - t0) / n).toFixed(0).padStart(6)} ns`);
}
for (const [label, bytes] of [["wrk request", REQ], ["browser request", BROWSER]] as const) {
  const head = parseReq(bytes);
  time(`parse ${label}`, () => void (sink += parseReq(bytes).headBytes));
  time(`prepare ${label}`, () => {
    const p = prepareUpstreamRequest({ head, clientIp: "127.0.0.1", clientProto: "http", requestId: "AX2awNB6jLe-afyIcZJUD", upstream, rewriteHost: false, trusted, tunnel: false, viaName: "dreamserver", localPort: 8080 });
    sink += p.headText.length;
  });
}
const res = parseRes(RES);
time("parse backend response", () => void (sink += parseRes(RES).headBytes));
time("prepare client response fields", () => {
  sink += prepareClientResponseHeaders(res, { tunnel: false, rewriteLocation: rewrite }).length;
  sink += decideClientFraming(res, "GET").kind.length;
});
if (sink === 0) console.log(sink);
