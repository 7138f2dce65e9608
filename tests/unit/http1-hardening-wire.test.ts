/**
 * Golden wire tests for the hardening issue: byte-exact list syntax (item 4), trailer limits
 * (item 9) and chunk-extension limits (item 10). Same harness as http1-request-wire: every row
 * is fed whole, split at every byte offset and one byte at a time, with identical outcomes.
 */
import { describe, test } from "bun:test";
import { runCase, type Msg, type Rejection, type WireCase } from "./http1-wire-harness.ts";

const H = "Host: example.com";
const req = (start: string, headers: string[] = [H], body = ""): string => start + "\r\n" + headers.map((h) => h + "\r\n").join("") + "\r\n" + body;
const rej = (status: number, code: string, messages?: Msg[]): Rejection => ({ status, code, messages });
const GET = (extra: string[] = []): string => req("GET / HTTP/1.1", [H, ...extra]);
const POST_TE = (te: string, body = "0\r\n\r\n"): string => req("POST / HTTP/1.1", [H, `Transfer-Encoding: ${te}`], body);
const resp = (headers: string[], body = ""): string => "HTTP/1.1 200 OK\r\n" + headers.map((h) => h + "\r\n").join("") + "\r\n" + body;
const chunkedPost = (body: string, extra: string[] = []): string => req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked", ...extra], body);

// ---- item 4: OWS is SP/HTAB only; list elements are tokens -----------------------------------

const listSyntax: WireCase[] = [
  // Transfer-Encoding: JavaScript trim() would strip \xa0 and read "chunked" (TE.TE desync).
  { name: "TE '\\xa0chunked' → 400 BAD_TE", bytes: POST_TE("\xa0chunked"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE 'chunked\\xa0' → 400 BAD_TE", bytes: POST_TE("chunked\xa0"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE 'gzip,\\xa0chunked' → 400 BAD_TE", bytes: POST_TE("gzip,\xa0chunked"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE 'chunked\\x85' (NEL) → 400 BAD_TE", bytes: POST_TE("chunked\x85"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE 'CHUNKED' in any ASCII case is chunked", bytes: POST_TE("CHUNKED"), expect: [{ bodyKind: "chunked", ended: true }] },
  { name: "TE ' \\t chunked \\t' (real OWS) is chunked", bytes: POST_TE("chunked \t"), expect: [{ bodyKind: "chunked", ended: true }] },
  { name: "TE 'gzip ,\\tchunked' (OWS around comma) → 501", bytes: POST_TE("gzip ,\tchunked"), expect: rej(501, "PARSE_UNSUPPORTED_TE") },
  // Connection: a non-token element is refused (its lenient reading is the desync).
  { name: "Connection '\\xa0close' → 400 BAD_CONNECTION", bytes: GET(["Connection: \xa0close"]), expect: rej(400, "PARSE_BAD_CONNECTION") },
  { name: "Connection 'close\\xa0' → 400 BAD_CONNECTION", bytes: GET(["Connection: close\xa0"]), expect: rej(400, "PARSE_BAD_CONNECTION") },
  {
    name: "Connection '\\xa0upgrade' + Upgrade websocket → 400 (no tunnel the front proxy never saw)",
    bytes: GET(["Connection: \xa0upgrade", "Upgrade: websocket"]),
    tunnelOnUpgrade: true,
    expect: rej(400, "PARSE_BAD_CONNECTION"),
  },
  { name: "Connection 'keep-alive, \\xa0' → 400", bytes: GET(["Connection: keep-alive, \xa0"]), expect: rej(400, "PARSE_BAD_CONNECTION") },
  { name: "Connection 'a b' (space inside an element) → 400", bytes: GET(["Connection: a b"]), expect: rej(400, "PARSE_BAD_CONNECTION") },
  { name: "Connection 'close;x' → 400", bytes: GET(["Connection: close;x"]), expect: rej(400, "PARSE_BAD_CONNECTION") },
  { name: "Connection '\"close\"' → 400", bytes: GET(['Connection: "close"']), expect: rej(400, "PARSE_BAD_CONNECTION") },
  { name: "bad Connection in a second field line → 400", bytes: GET(["Connection: keep-alive", "Connection: \xe9"]), expect: rej(400, "PARSE_BAD_CONNECTION") },
  { name: "Connection ', ,close, ' (empty elements) accepted", bytes: GET(["Connection: , ,close, "]), expect: [{ keepAlive: false, connection: ["close"] }] },
  { name: "Connection 'CLOSE' ASCII case-insensitive", bytes: GET(["Connection: CLOSE"]), expect: [{ keepAlive: false, connection: ["close"] }] },
  // Upgrade: protocol = token ["/" token]; a malformed offer is refused.
  {
    name: "Upgrade '\\xa0websocket' → 400 BAD_UPGRADE",
    bytes: GET(["Connection: upgrade", "Upgrade: \xa0websocket"]),
    tunnelOnUpgrade: true,
    expect: rej(400, "PARSE_BAD_UPGRADE"),
  },
  { name: "Upgrade 'websocket\\xa0' → 400", bytes: GET(["Connection: upgrade", "Upgrade: websocket\xa0"]), tunnelOnUpgrade: true, expect: rej(400, "PARSE_BAD_UPGRADE") },
  { name: "Upgrade 'websocket/' → 400", bytes: GET(["Connection: upgrade", "Upgrade: websocket/"]), tunnelOnUpgrade: true, expect: rej(400, "PARSE_BAD_UPGRADE") },
  { name: "Upgrade '/13' → 400", bytes: GET(["Connection: upgrade", "Upgrade: /13"]), tunnelOnUpgrade: true, expect: rej(400, "PARSE_BAD_UPGRADE") },
  { name: "Upgrade 'a/b/c' → 400", bytes: GET(["Connection: upgrade", "Upgrade: a/b/c"]), tunnelOnUpgrade: true, expect: rej(400, "PARSE_BAD_UPGRADE") },
  { name: "malformed Upgrade without Connection: upgrade → still 400", bytes: GET(["Upgrade: \xa0websocket"]), expect: rej(400, "PARSE_BAD_UPGRADE") },
  {
    name: "Upgrade 'h2c, WebSocket/13' is well-formed",
    bytes: GET(["Connection: Upgrade", "Upgrade: h2c, WebSocket/13"]),
    tunnelOnUpgrade: true,
    tunnel: "",
    expect: [{ upgrade: "h2c, WebSocket/13" }],
  },
  // Expect and Content-Length: exact bytes.
  { name: "Expect '100-continue\\xa0' → 417", bytes: GET(["Expect: 100-continue\xa0"]), expect: rej(417, "PARSE_BAD_EXPECT") },
  { name: "CL '\\xa05' → 400", bytes: req("POST / HTTP/1.1", [H, "Content-Length: \xa05"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL '5\\xa0' → 400", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 5\xa0"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
];

const responseListSyntax: WireCase[] = [
  { name: "response TE '\\xa0chunked' → 502 UPSTREAM_BAD_TE", bytes: resp(["Transfer-Encoding: \xa0chunked"], "0\r\n\r\n"), methods: ["GET"], expect: rej(502, "UPSTREAM_BAD_TE") },
  { name: "response TE 'chunked\\xa0' → 502", bytes: resp(["Transfer-Encoding: chunked\xa0"], "0\r\n\r\n"), methods: ["GET"], expect: rej(502, "UPSTREAM_BAD_TE") },
  { name: "response Connection '\\xa0close' → 502 UPSTREAM_BAD_CONNECTION", bytes: resp(["Connection: \xa0close", "Content-Length: 0"]), methods: ["GET"], expect: rej(502, "UPSTREAM_BAD_CONNECTION") },
  { name: "response Connection 'close' still fine", bytes: resp(["Connection: close", "Content-Length: 0"]), methods: ["GET"], expect: [{ status: 200, keepAlive: false }] },
];

// ---- item 9: trailers count against the body limit and the field count ------------------------

const trailerLimits: WireCase[] = [
  {
    // counted: data 1 + "X-T: 12\r\n" 9 = 10
    name: "trailers exactly filling maxBodySize are accepted",
    limits: { maxBodySize: 10 },
    bytes: chunkedPost("1\r\nx\r\n0\r\nX-T: 12\r\n\r\n"),
    expect: [{ body: "x", ended: true, trailers: [["X-T", "12"]] }],
  },
  {
    name: "trailers one byte past maxBodySize → 413 LIMIT_BODY_SIZE",
    limits: { maxBodySize: 10 },
    bytes: chunkedPost("1\r\nx\r\n0\r\nX-T: 123\r\n\r\n"),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "x", ended: false }]),
  },
  {
    name: "a long trailer line without LF → 413 as soon as it passes the body limit",
    limits: { maxBodySize: 10 },
    bytes: chunkedPost("1\r\nx\r\n0\r\nX-T: " + "v".repeat(40)),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "x", ended: false }]),
  },
  {
    name: "over both trailer and body limit: the lower remaining budget decides (body)",
    limits: { maxBodySize: 10, maxTrailerBytes: 12 },
    bytes: chunkedPost("1\r\nx\r\n0\r\nX-T: " + "v".repeat(40) + "\r\n\r\n"),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "x", ended: false }]),
  },
  {
    name: "over both trailer and body limit: the lower remaining budget decides (trailer)",
    limits: { maxBodySize: 100, maxTrailerBytes: 8 },
    bytes: chunkedPost("1\r\nx\r\n0\r\nX-T: " + "v".repeat(200) + "\r\n\r\n"),
    expect: rej(431, "LIMIT_TRAILER_BYTES", [{ body: "x", ended: false }]),
  },
  {
    name: "header + trailer fields exactly maxHeaderCount are accepted",
    limits: { maxHeaderCount: 4 },
    bytes: chunkedPost("0\r\nA: 1\r\nB: 2\r\n\r\n"),
    expect: [{ ended: true, trailers: [["A", "1"], ["B", "2"]] }],
  },
  {
    name: "header + trailer fields past maxHeaderCount → 431",
    limits: { maxHeaderCount: 4 },
    bytes: chunkedPost("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
    expect: rej(431, "LIMIT_HEADER_COUNT", [{ body: "", ended: false }]),
  },
];

// ---- item 10: chunk extensions are not free ------------------------------------------------

const ext = (n: number): string => ";e=" + "x".repeat(n - 3);
const chunkLimits: WireCase[] = [
  {
    name: "size digits and CRLFs are not counted: tiny chunks of exactly maxBodySize data are accepted",
    limits: { maxBodySize: 4 },
    bytes: chunkedPost("1\r\na\r\n01\r\nb\r\n1\r\nc\r\n1\r\nd\r\n0\r\n\r\n"),
    expect: [{ body: "abcd", ended: true }],
  },
  {
    // counted: 1 + 1 data, then 1 + ";a" (2 extension bytes) = 5 > 4
    name: "a two-byte extension tips a body at the limit over → 413",
    limits: { maxBodySize: 4 },
    bytes: chunkedPost("1\r\na\r\n1\r\nb\r\n1;a\r\nc\r\n0\r\n\r\n"),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "ab", ended: false }]),
  },
  {
    // counted: 4 data + ";e" on the last chunk = 6 > 5
    name: "extension bytes on the last-chunk line count too",
    limits: { maxBodySize: 5 },
    bytes: chunkedPost("4\r\nabcd\r\n0;e\r\n\r\n"),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "abcd", ended: false }]),
  },
  {
    name: "extension bytes count against maxBodySize",
    limits: { maxBodySize: 40 },
    bytes: chunkedPost("1" + ext(40) + "\r\nx\r\n0\r\n\r\n"),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "", ended: false }]),
  },
  {
    name: "extension budget per message: exactly maxChunkExtBytes accepted",
    limits: { maxChunkExtBytes: 20 },
    bytes: chunkedPost("1" + ext(10) + "\r\na\r\n1" + ext(10) + "\r\nb\r\n0\r\n\r\n"),
    expect: [{ body: "ab", ended: true }],
  },
  {
    name: "extension budget per message: one byte over → 413 LIMIT_CHUNK_EXTENSIONS",
    limits: { maxChunkExtBytes: 20 },
    bytes: chunkedPost("1" + ext(10) + "\r\na\r\n1" + ext(10) + "\r\nb\r\n0;\r\n\r\n"),
    expect: rej(413, "LIMIT_CHUNK_EXTENSIONS", [{ body: "ab", ended: false }]),
  },
  {
    name: "extension budget restarts with each message",
    limits: { maxChunkExtBytes: 20 },
    bytes: chunkedPost("1" + ext(20) + "\r\na\r\n0\r\n\r\n") + chunkedPost("1" + ext(20) + "\r\nb\r\n0\r\n\r\n"),
    expect: [
      { body: "a", ended: true },
      { body: "b", ended: true },
    ],
  },
  {
    name: "default maxChunkLine is 1 KiB: a 1024-byte size line is accepted",
    bytes: chunkedPost("1" + ext(1023) + "\r\nx\r\n0\r\n\r\n"),
    expect: [{ body: "x", ended: true }],
  },
  {
    name: "default maxChunkLine: 1025 bytes → 400 (the issue's 4,000-byte extensions)",
    bytes: chunkedPost("1" + ext(1024) + "\r\nx\r\n0\r\n\r\n"),
    expect: rej(400, "PARSE_BAD_CHUNK", [{ body: "", ended: false }]),
  },
  {
    name: "default extension budget: 17 chunks with 1000-byte extensions → 413",
    bytes: chunkedPost(("1" + ext(1000) + "\r\nx\r\n").repeat(17) + "0\r\n\r\n"),
    wholeOnly: true,
    expect: rej(413, "LIMIT_CHUNK_EXTENSIONS", [{ body: "x".repeat(16), ended: false }]),
  },
];

const responseChunkLimits: WireCase[] = [
  {
    name: "response extension budget → 502 LIMIT_CHUNK_EXTENSIONS",
    limits: { maxChunkExtBytes: 10 },
    methods: ["GET"],
    bytes: resp(["Transfer-Encoding: chunked"], "1" + ext(11) + "\r\nx\r\n0\r\n\r\n"),
    expect: rej(502, "LIMIT_CHUNK_EXTENSIONS", [{ status: 200, body: "", ended: false }]),
  },
  {
    name: "response bodies are not subject to maxBodySize (extensions and trailers neither)",
    limits: { maxBodySize: 1 },
    methods: ["GET"],
    bytes: resp(["Transfer-Encoding: chunked"], "3;a=b\r\nabc\r\n0\r\nX: y\r\n\r\n"),
    expect: [{ status: 200, body: "abc", ended: true, trailers: [["X", "y"]] }],
  },
];

describe("hardening wire: list syntax (requests)", () => {
  for (const c of listSyntax) test(c.name, () => runCase(c, "request"));
});
describe("hardening wire: list syntax (responses)", () => {
  for (const c of responseListSyntax) test(c.name, () => runCase(c, "response"));
});
describe("hardening wire: trailers count against the limits", () => {
  for (const c of trailerLimits) test(c.name, () => runCase(c, "request"));
});
describe("hardening wire: chunk extensions are not free", () => {
  for (const c of chunkLimits) test(c.name, () => runCase(c, "request"));
  for (const c of responseChunkLimits) test(c.name, () => runCase(c, "response"));
});
