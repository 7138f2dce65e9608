/**
 * Golden wire tests for upstream response parsing (proxy side, RFC 9112 §4, §6.3), as data.
 * Each row names the request methods the responses answer (expectResponseTo, FIFO). Any
 * framing error from an upstream is a 502 for the client; codes are UPSTREAM_* (or LIMIT_*).
 */
import { describe, test } from "bun:test";
import { runCase, type Msg, type Rejection, type WireCase } from "./http1-wire-harness.ts";

const res = (start: string, headers: string[] = [], body = ""): string => start + "\r\n" + headers.map((h) => h + "\r\n").join("") + "\r\n" + body;
const rej = (code: string, messages?: Msg[]): Rejection => ({ status: 502, code, messages });

const accepted: WireCase[] = [
  {
    name: "200 with Content-Length",
    methods: ["GET"],
    bytes: res("HTTP/1.1 200 OK", ["Content-Type: text/plain", "Content-Length: 5"], "hello"),
    expect: [
      {
        status: 200,
        reason: "OK",
        minor: 1,
        bodyKind: "length",
        contentLength: 5,
        keepAlive: true,
        connection: [],
        headBytes: 64,
        headers: [
          ["Content-Type", "text/plain"],
          ["Content-Length", "5"],
        ],
        body: "hello",
        ended: true,
        trailers: null,
      },
    ],
  },
  {
    name: "chunked with trailers",
    methods: ["GET"],
    bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked", "Trailer: X-Sum"], "4\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Sum: 42\r\n\r\n"),
    expect: [{ status: 200, bodyKind: "chunked", contentLength: -1, body: "wikipedia", ended: true, trailers: [["X-Sum", "42"]] }],
  },
  {
    name: "close-delimited body ends on finish()",
    methods: ["GET"],
    bytes: res("HTTP/1.1 200 OK", ["Content-Type: text/plain"], "all of this\r\nuntil EOF\r\n\r\n"),
    expect: [{ status: 200, bodyKind: "close", contentLength: -1, body: "all of this\r\nuntil EOF\r\n\r\n", ended: true, trailers: null }],
  },
  { name: "close-delimited empty body", methods: ["GET"], bytes: res("HTTP/1.1 200 OK"), expect: [{ bodyKind: "close", body: "", ended: true }] },
  { name: "close-delimited HTTP/1.0 response", methods: ["GET"], bytes: res("HTTP/1.0 200 OK", [], "x"), expect: [{ minor: 0, keepAlive: false, bodyKind: "close", body: "x", ended: true }] },
  {
    name: "HEAD response with Content-Length has no body; next response follows",
    methods: ["HEAD", "GET"],
    bytes: res("HTTP/1.1 200 OK", ["Content-Length: 1234"]) + res("HTTP/1.1 200 OK", ["Content-Length: 2"], "ok"),
    expect: [
      { status: 200, bodyKind: "none", contentLength: 1234, body: "", ended: false },
      { status: 200, bodyKind: "length", contentLength: 2, body: "ok", ended: true },
    ],
  },
  { name: "HEAD response with Transfer-Encoding: chunked has no body", methods: ["HEAD"], bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"]), expect: [{ bodyKind: "none", contentLength: -1, body: "" }] },
  {
    name: "204 has no body even with Content-Length",
    methods: ["DELETE", "GET"],
    bytes: res("HTTP/1.1 204 No Content", ["Content-Length: 10"]) + res("HTTP/1.1 200 OK", ["Content-Length: 1"], "z"),
    expect: [
      { status: 204, reason: "No Content", bodyKind: "none", contentLength: -1, body: "" },
      { status: 200, body: "z", ended: true },
    ],
  },
  { name: "204 without framing headers", methods: ["DELETE"], bytes: res("HTTP/1.1 204 No Content"), expect: [{ status: 204, bodyKind: "none", body: "" }] },
  {
    name: "304 keeps the declared Content-Length but has no body",
    methods: ["GET", "GET"],
    bytes: res("HTTP/1.1 304 Not Modified", ["ETag: \"x\"", "Content-Length: 100"]) + res("HTTP/1.1 200 OK", ["Content-Length: 0"]),
    expect: [
      { status: 304, bodyKind: "none", contentLength: 100, body: "" },
      { status: 200, bodyKind: "none", contentLength: 0, body: "" },
    ],
  },
  {
    name: "100 Continue then the final 200",
    methods: ["POST"],
    bytes: res("HTTP/1.1 100 Continue") + res("HTTP/1.1 200 OK", ["Content-Length: 2"], "ok"),
    expect: [
      { status: 100, reason: "Continue", bodyKind: "none", body: "", ended: false },
      { status: 200, bodyKind: "length", body: "ok", ended: true },
    ],
  },
  {
    name: "several 1xx (103 Early Hints with fields) then the final response, for a HEAD",
    methods: ["HEAD"],
    bytes: res("HTTP/1.1 100 Continue") + res("HTTP/1.1 103 Early Hints", ["Link: </s.css>; rel=preload"]) + res("HTTP/1.1 200 OK", ["Content-Length: 7"]),
    expect: [
      { status: 100 },
      { status: 103, headers: [["Link", "</s.css>; rel=preload"]] },
      // The 1xx did not consume the HEAD: the final response still has no body.
      { status: 200, bodyKind: "none", contentLength: 7, body: "" },
    ],
  },
  {
    name: "101 Switching Protocols: the rest is handed out by takeRemaining()",
    methods: ["GET"],
    bytes: res("HTTP/1.1 101 Switching Protocols", ["Upgrade: websocket", "Connection: Upgrade"]) + "\x81\x05hello\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
    tunnel: "\x81\x05hello\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
    expect: [{ status: 101, connection: ["upgrade"], bodyKind: "none" }],
  },
  { name: "101 with nothing after it", methods: ["GET"], bytes: res("HTTP/1.1 101 Switching Protocols", ["Upgrade: websocket"]), tunnel: "", expect: [{ status: 101 }] },
  { name: "reason phrase missing: 'HTTP/1.1 200'", methods: ["GET"], bytes: "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", expect: [{ status: 200, reason: "" }] },
  { name: "empty reason phrase: 'HTTP/1.1 200 '", methods: ["GET"], bytes: "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", expect: [{ status: 200, reason: "" }] },
  { name: "reason with spaces, tabs and obs-text", methods: ["GET"], bytes: "HTTP/1.1 404 Not  Found\there \xe9\r\nContent-Length: 0\r\n\r\n", expect: [{ status: 404, reason: "Not  Found\there \xe9" }] },
  { name: "unknown status code 299/599", methods: ["GET", "GET"], bytes: res("HTTP/1.1 299 Whatever", ["Content-Length: 0"]) + res("HTTP/1.1 599 X", ["Content-Length: 0"]), expect: [{ status: 299 }, { status: 599 }] },
  {
    name: "HTTP/1.0 response with Connection: keep-alive",
    methods: ["GET"],
    bytes: res("HTTP/1.0 200 OK", ["Connection: keep-alive", "Content-Length: 2"], "ok"),
    expect: [{ minor: 0, keepAlive: true, connection: ["keep-alive"], bodyKind: "length", body: "ok", ended: true }],
  },
  { name: "HTTP/1.0 response without keep-alive", methods: ["GET"], bytes: res("HTTP/1.0 200 OK", ["Content-Length: 2"], "ok"), expect: [{ minor: 0, keepAlive: false, body: "ok" }] },
  { name: "HTTP/1.1 response with Connection: close", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Connection: close", "Content-Length: 2"], "ok"), expect: [{ minor: 1, keepAlive: false, connection: ["close"] }] },
  {
    name: "two pipelined responses for two expected methods",
    methods: ["GET", "POST"],
    bytes: res("HTTP/1.1 200 OK", ["Content-Length: 3"], "one") + res("HTTP/1.1 201 Created", ["Transfer-Encoding: chunked"], "3\r\ntwo\r\n0\r\n\r\n"),
    expect: [
      { status: 200, body: "one", ended: true },
      { status: 201, reason: "Created", bodyKind: "chunked", body: "two", ended: true },
    ],
  },
  {
    name: "response with no expected method is framed normally",
    bytes: res("HTTP/1.1 200 OK", ["Content-Length: 2"], "ok"),
    expect: [{ status: 200, body: "ok", ended: true }],
  },
  {
    name: "repeated Set-Cookie kept separately",
    methods: ["GET"],
    bytes: res("HTTP/1.1 200 OK", ["Set-Cookie: a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", "Set-Cookie: b=2", "Content-Length: 0"]),
    expect: [
      {
        headers: [
          ["Set-Cookie", "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT"],
          ["Set-Cookie", "b=2"],
          ["Content-Length", "0"],
        ],
      },
    ],
  },
  {
    name: "response bodies are not capped by maxBodySize",
    limits: { maxBodySize: 2 },
    methods: ["GET", "GET"],
    bytes: res("HTTP/1.1 200 OK", ["Content-Length: 5"], "hello") + res("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], "5\r\nworld\r\n0\r\n\r\n"),
    expect: [{ body: "hello" }, { body: "world" }],
  },
];

const rejected: WireCase[] = [
  { name: "CL + TE → 502", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Content-Length: 3", "Transfer-Encoding: chunked"], "0\r\n\r\n"), expect: rej("UPSTREAM_CL_AND_TE") },
  { name: "CL + TE on a 204 is still rejected", methods: ["GET"], bytes: res("HTTP/1.1 204 No Content", ["Content-Length: 3", "Transfer-Encoding: chunked"]), expect: rej("UPSTREAM_CL_AND_TE") },
  { name: "duplicate CL → 502", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Content-Length: 2", "Content-Length: 2"], "ok"), expect: rej("UPSTREAM_DUPLICATE_CL") },
  { name: "duplicate CL on a HEAD response is still rejected", methods: ["HEAD"], bytes: res("HTTP/1.1 200 OK", ["Content-Length: 2", "Content-Length: 3"]), expect: rej("UPSTREAM_DUPLICATE_CL") },
  { name: "bad CL → 502", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Content-Length: 2x"], "ok"), expect: rej("UPSTREAM_BAD_CL") },
  { name: "TE gzip, chunked → 502", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: gzip, chunked"], "0\r\n\r\n"), expect: rej("UPSTREAM_UNSUPPORTED_TE") },
  { name: "TE not ending in chunked → 502", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: gzip"], "x"), expect: rej("UPSTREAM_TE_NOT_CHUNKED") },
  { name: "TE in an HTTP/1.0 response → 502", methods: ["GET"], bytes: res("HTTP/1.0 200 OK", ["Transfer-Encoding: chunked"], "0\r\n\r\n"), expect: rej("UPSTREAM_TE_IN_HTTP10") },
  // ---- status line (RFC 9112 §4) -------------------------------------------------------
  ...(
    [
      ["two-digit status", "HTTP/1.1 20 OK"],
      ["four-digit status", "HTTP/1.1 2000 OK"],
      ["status 600", "HTTP/1.1 600 Nope"],
      ["status 099", "HTTP/1.1 099 Old"],
      ["non-digit status", "HTTP/1.1 2x0 OK"],
      ["double space before status", "HTTP/1.1  200 OK"],
      ["no space after status", "HTTP/1.1 200OK"],
      ["tab instead of space", "HTTP/1.1\t200 OK"],
      ["version only", "HTTP/1.1"],
      ["empty status line", "HTTP/1.1 "],
      ["not HTTP", "ICY 200 OK"],
      ["lowercase version", "http/1.1 200 OK"],
      ["HTTP/1.10", "HTTP/1.10 200 OK"],
      ["control byte in reason", "HTTP/1.1 200 O\x01K"],
      ["NUL in reason", "HTTP/1.1 200 OK\x00"],
      ["leading space", " HTTP/1.1 200 OK"],
    ] as const
  ).map(([name, line]): WireCase => ({ name: "bad status line: " + name, methods: ["GET"], bytes: res(line, ["Content-Length: 0"]), expect: rej("UPSTREAM_BAD_STATUS_LINE") })),
  { name: "HTTP/2.0 status line → 502", methods: ["GET"], bytes: res("HTTP/2.0 200 OK", ["Content-Length: 0"]), expect: rej("UPSTREAM_BAD_VERSION") },
  { name: "HTTP/1.2 status line → 502", methods: ["GET"], bytes: res("HTTP/1.2 200 OK", ["Content-Length: 0"]), expect: rej("UPSTREAM_BAD_VERSION") },
  { name: "bare CR in the status line", methods: ["GET"], bytes: "HTTP/1.1 200 O\rK\r\n\r\n", expect: rej("UPSTREAM_BARE_CR") },
  // ---- field syntax mapped to 502 -------------------------------------------------------
  { name: "bare LF in a response", methods: ["GET"], bytes: "HTTP/1.1 200 OK\nContent-Length: 0\n\n", expect: rej("UPSTREAM_BARE_LF") },
  { name: "obs-fold in a response", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["X: a", " b", "Content-Length: 0"]), expect: rej("UPSTREAM_OBS_FOLD") },
  { name: "space before colon in a response", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Content-Length : 0"]), expect: rej("UPSTREAM_SPACE_BEFORE_COLON") },
  { name: "NUL in a response header value", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["X: \x00", "Content-Length: 0"]), expect: rej("UPSTREAM_BAD_HEADER_VALUE") },
  { name: "bad header name in a 1xx", methods: ["GET"], bytes: res("HTTP/1.1 103 Early Hints", ["Li nk: x"]), expect: rej("UPSTREAM_SPACE_BEFORE_COLON") },
  // ---- bodies ---------------------------------------------------------------------------
  { name: "bad chunk size → 502", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], "g\r\n"), expect: rej("UPSTREAM_BAD_CHUNK", [{ status: 200, body: "" }]) },
  { name: "missing CRLF after chunk data → 502", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], "2\r\nokX"), expect: rej("UPSTREAM_BAD_CHUNK", [{ body: "ok" }]) },
  { name: "truncated CL body: finish() reports it", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Content-Length: 10"], "short"), expect: rej("UPSTREAM_TRUNCATED_BODY", [{ status: 200, body: "short", ended: false }]) },
  { name: "truncated chunked body: finish() reports it", methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], "5\r\nhel"), expect: rej("UPSTREAM_TRUNCATED_BODY", [{ body: "hel" }]) },
  { name: "truncated status line", methods: ["GET"], bytes: "HTTP/1.1 20", expect: rej("UPSTREAM_TRUNCATED_HEAD") },
  { name: "truncated head after 100 Continue", methods: ["POST"], bytes: res("HTTP/1.1 100 Continue") + "HTTP/1.1 200 OK\r\n", expect: rej("UPSTREAM_TRUNCATED_HEAD", [{ status: 100 }]) },
  // ---- limits: 502 with the LIMIT_* code ----------------------------------------------
  { name: "status line over maxRequestLine", limits: { maxRequestLine: 20 }, methods: ["GET"], bytes: res("HTTP/1.1 200 OK-but-long"), expect: rej("LIMIT_STATUS_LINE") },
  { name: "response header line over the limit", limits: { maxHeaderLine: 10 }, methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["X-Long: 12345"]), expect: rej("LIMIT_HEADER_LINE") },
  { name: "too many response header fields", limits: { maxHeaderCount: 1 }, methods: ["GET"], bytes: res("HTTP/1.1 200 OK", ["A: 1", "B: 2"]), expect: rej("LIMIT_HEADER_COUNT") },
  {
    name: "response trailers over maxTrailerBytes",
    limits: { maxTrailerBytes: 8 },
    methods: ["GET"],
    bytes: res("HTTP/1.1 200 OK", ["Transfer-Encoding: chunked"], "0\r\nX-Sum: 42\r\n\r\n"),
    expect: rej("LIMIT_TRAILER_BYTES", [{ body: "" }]),
  },
];

describe("response wire: accepted", () => {
  for (const c of accepted) test(c.name, () => runCase(c, "response"));
});

describe("response wire: rejected", () => {
  for (const c of rejected) test(c.name, () => runCase(c, "response"));
});
