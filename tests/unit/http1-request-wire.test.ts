/**
 * Golden wire tests for request parsing (RFC 9112 / RFC 9110), as data. Each row is raw bytes
 * (latin1 string) and either the parsed messages or the exact rejection. runCase() feeds every
 * row whole, split at every byte offset, and one byte at a time, and demands identical results.
 */
import { describe, test } from "bun:test";
import { runCase, type Msg, type Rejection, type WireCase } from "./http1-wire-harness.ts";

const H = "Host: example.com";
/** A request from its start line, header lines and body; the CRLFs are added here. */
const req = (start: string, headers: string[] = [H], body = ""): string => start + "\r\n" + headers.map((h) => h + "\r\n").join("") + "\r\n" + body;
const rej = (status: number, code: string, messages?: Msg[]): Rejection => ({ status, code, messages });
const GET = (extra: string[] = []): string => req("GET / HTTP/1.1", [H, ...extra]);
/** The plain GET / head as summarised, for rows that do not care about details. */
const okGet = (extra: Partial<Msg> = {}): Msg => ({ method: "GET", path: "/", minor: 1, bodyKind: "none", ...extra });

const SMALL = { maxRequestLine: 32, maxHeaderLine: 26, maxHeaderBytes: 64, maxHeaderCount: 4, maxBodySize: 10, maxChunkLine: 12, maxTrailerBytes: 20 };
/** SMALL with room in the body limit, for rows about the chunk-line and trailer limits (their bytes also count as body). */
const SMALL_ROOMY = { ...SMALL, maxBodySize: 1000 };

const accepted: WireCase[] = [
  // ---- basics -------------------------------------------------------------------------
  {
    name: "simple GET with query",
    bytes: "GET /index.html?x=1&y=%20 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n",
    expect: [
      {
        method: "GET",
        target: "/index.html?x=1&y=%20",
        form: "origin",
        path: "/index.html",
        query: "?x=1&y=%20",
        minor: 1,
        host: "example.com",
        bodyKind: "none",
        contentLength: -1,
        keepAlive: true,
        expectContinue: false,
        upgrade: null,
        connection: [],
        headBytes: 74,
        headers: [
          ["Host", "example.com"],
          ["User-Agent", "t/1"],
        ],
        body: "",
        ended: false,
        trailers: null,
      },
    ],
  },
  { name: "empty query keeps its ?", bytes: req("GET /a/? HTTP/1.1"), expect: [okGet({ path: "/a/", query: "?", target: "/a/?" })] },
  {
    name: "target with sub-delims, percent escapes and ':' '@'",
    bytes: req("GET /a%2Fb;p=1!$&'()*+,=:@~-._/c?q=/?x HTTP/1.1"),
    expect: [okGet({ path: "/a%2Fb;p=1!$&'()*+,=:@~-._/c", query: "?q=/?x" })],
  },
  { name: "lowercase method is just another token", bytes: req("get / HTTP/1.1"), expect: [okGet({ method: "get" })] },
  { name: "extension methods with tchar", bytes: req("M-SEARCH / HTTP/1.1") + req("PURGE /x HTTP/1.1"), expect: [okGet({ method: "M-SEARCH" }), okGet({ method: "PURGE", path: "/x" })] },
  { name: "Host name case-insensitive, value kept", bytes: req("GET / HTTP/1.1", ["hOsT: Example.COM:8080"]), expect: [okGet({ host: "Example.COM:8080", headers: [["hOsT", "Example.COM:8080"]] })] },
  { name: "IPv6 literal Host with port", bytes: req("GET / HTTP/1.1", ["Host: [::1]:8080"]), expect: [okGet({ host: "[::1]:8080" })] },
  { name: "IPv4 Host with empty port", bytes: req("GET / HTTP/1.1", ["Host: 127.0.0.1:"]), expect: [okGet({ host: "127.0.0.1:" })] },

  // ---- HTTP/1.0 and keep-alive (RFC 9112 §9.3) ----------------------------------------
  { name: "HTTP/1.0 without Host", bytes: "GET / HTTP/1.0\r\n\r\n", expect: [okGet({ minor: 0, host: "", keepAlive: false, headers: [], headBytes: 18 })] },
  { name: "HTTP/1.0 with Host", bytes: req("GET / HTTP/1.0", ["Host: a.example"]), expect: [okGet({ minor: 0, host: "a.example", keepAlive: false })] },
  { name: "HTTP/1.0 + Connection: keep-alive", bytes: req("GET / HTTP/1.0", ["Connection: keep-alive"]), expect: [okGet({ minor: 0, keepAlive: true, connection: ["keep-alive"] })] },
  { name: "HTTP/1.0 + Keep-Alive token in any case", bytes: req("GET / HTTP/1.0", ["Connection: Keep-Alive"]), expect: [okGet({ minor: 0, keepAlive: true, connection: ["keep-alive"] })] },
  { name: "HTTP/1.0 + keep-alive in a second Connection field", bytes: req("GET / HTTP/1.0", ["Connection: foo", "Connection: keep-alive"]), expect: [okGet({ minor: 0, keepAlive: true, connection: ["foo", "keep-alive"] })] },
  { name: "HTTP/1.0 + keep-alive, close → close wins", bytes: req("GET / HTTP/1.0", ["Connection: keep-alive, close"]), expect: [okGet({ minor: 0, keepAlive: false })] },
  { name: "HTTP/1.1 default keep-alive", bytes: GET(), expect: [okGet({ keepAlive: true, connection: [] })] },
  { name: "HTTP/1.1 + Connection: close", bytes: GET(["Connection: close"]), expect: [okGet({ keepAlive: false, connection: ["close"] })] },
  { name: "HTTP/1.1 + Close in mixed case among tokens", bytes: GET(["Connection: foo, , Close ,bar"]), expect: [okGet({ keepAlive: false, connection: ["foo", "close", "bar"] })] },
  { name: "HTTP/1.1 multiple Connection fields, close in the second", bytes: GET(["Connection: keep-alive", "Connection: close"]), expect: [okGet({ keepAlive: false, connection: ["keep-alive", "close"] })] },
  { name: "HTTP/1.1 + keep-alive token changes nothing", bytes: GET(["Connection: keep-alive"]), expect: [okGet({ keepAlive: true })] },

  // ---- framing of several messages ----------------------------------------------------
  {
    name: "three pipelined requests in one buffer",
    bytes: req("GET /1 HTTP/1.1") + req("POST /2 HTTP/1.1", [H, "Content-Length: 3"], "abc") + req("DELETE /3 HTTP/1.1", [H, "Connection: close"]),
    expect: [
      okGet({ path: "/1" }),
      { method: "POST", path: "/2", bodyKind: "length", contentLength: 3, body: "abc", ended: true },
      { method: "DELETE", path: "/3", bodyKind: "none", keepAlive: false, body: "" },
    ],
  },
  {
    name: "leading CRLFs before the request line are ignored (RFC 9112 §2.2), not counted in headBytes",
    bytes: "\r\n\r\n" + req("GET / HTTP/1.1"),
    expect: [okGet({ headBytes: req("GET / HTTP/1.1").length })],
  },
  { name: "CRLF between pipelined requests is ignored", bytes: req("GET /a HTTP/1.1") + "\r\n" + req("GET /b HTTP/1.1"), expect: [okGet({ path: "/a" }), okGet({ path: "/b" })] },

  // ---- request-target forms (RFC 9112 §3.2) --------------------------------------------
  {
    name: "absolute-form http: host from the URI, not the Host header",
    bytes: req("GET http://Example.COM:8080/a/b?q=1 HTTP/1.1", ["Host: other.example"]),
    expect: [okGet({ form: "absolute", host: "Example.COM:8080", path: "/a/b", query: "?q=1", target: "http://Example.COM:8080/a/b?q=1" })],
  },
  { name: "absolute-form https without a path → /", bytes: req("GET https://example.com HTTP/1.1"), expect: [okGet({ form: "absolute", host: "example.com", path: "/", query: "" })] },
  { name: "absolute-form with query and no path", bytes: req("GET http://h.example?x=1 HTTP/1.1"), expect: [okGet({ form: "absolute", host: "h.example", path: "/", query: "?x=1" })] },
  { name: "absolute-form scheme is case-insensitive", bytes: req("GET HTTPS://h.example/p HTTP/1.1"), expect: [okGet({ form: "absolute", host: "h.example", path: "/p" })] },
  { name: "absolute-form with empty Host header", bytes: req("GET http://h.example/ HTTP/1.1", ["Host:"]), expect: [okGet({ form: "absolute", host: "h.example" })] },
  { name: "absolute-form IPv6 authority", bytes: req("GET http://[::1]:81/x HTTP/1.1"), expect: [okGet({ form: "absolute", host: "[::1]:81", path: "/x" })] },
  { name: "absolute-form in HTTP/1.0 without Host", bytes: "GET http://h.example/x HTTP/1.0\r\n\r\n", expect: [okGet({ form: "absolute", minor: 0, host: "h.example", path: "/x" })] },
  { name: "OPTIONS * (asterisk-form)", bytes: req("OPTIONS * HTTP/1.1"), expect: [{ method: "OPTIONS", form: "asterisk", path: "*", query: "", target: "*", host: "example.com" }] },
  {
    name: "CONNECT host:443 recognised as authority-form",
    bytes: req("CONNECT example.com:443 HTTP/1.1", ["Host: example.com:443"]),
    expect: [{ method: "CONNECT", form: "authority", path: "example.com:443", target: "example.com:443", host: "example.com:443", bodyKind: "none" }],
  },

  // ---- bodies -------------------------------------------------------------------------
  {
    name: "Content-Length body (with OWS around the value)",
    bytes: req("POST /upload HTTP/1.1", [H, "Content-Length:  11 "], "hello world"),
    expect: [{ method: "POST", bodyKind: "length", contentLength: 11, body: "hello world", ended: true, trailers: null }],
  },
  { name: "Content-Length with leading zeros", bytes: req("PUT / HTTP/1.1", [H, "Content-Length: 003"], "abc"), expect: [{ method: "PUT", bodyKind: "length", contentLength: 3, body: "abc", ended: true }] },
  { name: "Content-Length body in HTTP/1.0", bytes: req("POST / HTTP/1.0", ["Content-Length: 2"], "hi"), expect: [{ minor: 0, bodyKind: "length", contentLength: 2, body: "hi", keepAlive: false }] },
  { name: "Content-Length body with binary bytes incl. CR LF NUL", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 6"], "\r\n\x00\xff\n\r"), expect: [{ body: "\r\n\x00\xff\n\r", ended: true }] },
  {
    name: "zero Content-Length: no body, next request follows",
    bytes: req("POST / HTTP/1.1", [H, "Content-Length: 0"]) + GET(),
    expect: [{ method: "POST", bodyKind: "none", contentLength: 0, body: "", ended: false }, okGet()],
  },
  {
    name: "chunked body with extensions",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], '5;name=value\r\nhello\r\n6 ; a ; b="q ;x"\r\n world\r\n0;last=1\r\n\r\n'),
    expect: [{ method: "POST", bodyKind: "chunked", contentLength: -1, body: "hello world", ended: true, trailers: null }],
  },
  {
    name: "chunked body with trailers",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "3\r\nabc\r\n0\r\nX-Checksum: abc\r\nx-other:  v v \t\r\nX-Checksum: again\r\n\r\n"),
    expect: [
      {
        bodyKind: "chunked",
        body: "abc",
        ended: true,
        trailers: [
          ["X-Checksum", "abc"],
          ["x-other", "v v"],
          ["X-Checksum", "again"],
        ],
      },
    ],
  },
  {
    name: "chunk sizes in upper and lower case hex, with leading zeros",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "A\r\n0123456789\r\na\r\nabcdefghij\r\n0B\r\nABCDEFGHIJK\r\n1f\r\n" + "x".repeat(31) + "\r\n000\r\n\r\n"),
    expect: [{ bodyKind: "chunked", body: "0123456789abcdefghijABCDEFGHIJK" + "x".repeat(31), ended: true }],
  },
  { name: "chunked with no data chunks", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "0\r\n\r\n") + GET(), expect: [{ bodyKind: "chunked", body: "", ended: true }, okGet()] },
  { name: "chunk data containing CRLF bytes", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "4\r\n\r\n\r\n\r\n0\r\n\r\n"), expect: [{ body: "\r\n\r\n", ended: true }] },
  {
    name: "pipelined chunked request then GET",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "2\r\nhi\r\n0\r\n\r\n") + GET(),
    expect: [{ method: "POST", body: "hi", ended: true }, okGet()],
  },
  { name: "Transfer-Encoding value is case-insensitive", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: Chunked"], "0\r\n\r\n"), expect: [{ bodyKind: "chunked", ended: true }] },
  { name: "TE 'chunked ' (trailing OWS) is fine after trimming", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked "], "0\r\n\r\n"), expect: [{ bodyKind: "chunked", ended: true }] },
  { name: "TE with leading OWS after the colon is fine (OWS, not obs-fold)", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: \t chunked"], "0\r\n\r\n"), expect: [{ bodyKind: "chunked", ended: true }] },
  { name: "Transfer_Encoding is just an unknown header", bytes: req("POST / HTTP/1.1", [H, "Transfer_Encoding: chunked"]), expect: [{ bodyKind: "none", headers: [["Host", "example.com"], ["Transfer_Encoding", "chunked"]] }] },

  // ---- field values (RFC 9110 §5.5) ----------------------------------------------------
  {
    name: "OWS around values trimmed, inner whitespace kept",
    bytes: GET(["X-A: \t value  with \t inner \t ", "X-B:nospace"]),
    expect: [okGet({ headers: [["Host", "example.com"], ["X-A", "value  with \t inner"], ["X-B", "nospace"]] })],
  },
  { name: "obs-text 0x80-0xff in a value accepted", bytes: GET(["X-Latin: caf\xe9 \x80\xff"]), expect: [okGet({ headers: [["Host", "example.com"], ["X-Latin", "caf\xe9 \x80\xff"]] })] },
  { name: "empty header values accepted", bytes: GET(["X-Empty:", "X-Blank:  \t "]), expect: [okGet({ headers: [["Host", "example.com"], ["X-Empty", ""], ["X-Blank", ""]] })] },
  { name: "all tchar in a header name", bytes: GET(["!#$%&'*+-.^_`|~09AZaz: v"]), expect: [okGet({ headers: [["Host", "example.com"], ["!#$%&'*+-.^_`|~09AZaz", "v"]] })] },
  { name: "value with every VCHAR", bytes: GET(["X-V: !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"]), expect: [okGet({ headers: [["Host", "example.com"], ["X-V", "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~"]] })] },
  {
    name: "repeated fields kept separately, in order, original case",
    bytes: GET(["Set-Cookie: a=1; Path=/", "X-Tag: one", "set-cookie: b=2, c=3", "X-TAG: two"]),
    expect: [
      okGet({
        headers: [
          ["Host", "example.com"],
          ["Set-Cookie", "a=1; Path=/"],
          ["X-Tag", "one"],
          ["set-cookie", "b=2, c=3"],
          ["X-TAG", "two"],
        ],
      }),
    ],
  },

  // ---- Expect / Upgrade ---------------------------------------------------------------
  { name: "Expect: 100-continue", bytes: req("PUT / HTTP/1.1", [H, "Expect: 100-continue", "Content-Length: 2"], "ok"), expect: [{ expectContinue: true, body: "ok", ended: true }] },
  { name: "Expect: 100-Continue is case-insensitive", bytes: GET(["Expect: 100-Continue"]), expect: [okGet({ expectContinue: true })] },
  { name: "Expect: 100-continue from HTTP/1.0 is ignored (RFC 9110 §10.1.1)", bytes: req("PUT / HTTP/1.0", ["Expect: 100-continue", "Content-Length: 1"], "x"), expect: [{ minor: 0, expectContinue: false, body: "x" }] },
  { name: "Upgrade: websocket with Connection: Upgrade", bytes: GET(["Connection: Upgrade", "Upgrade: websocket"]), expect: [okGet({ upgrade: "websocket", connection: ["upgrade"], keepAlive: true })] },
  { name: "Upgrade without Connection: upgrade is ignored", bytes: GET(["Upgrade: websocket"]), expect: [okGet({ upgrade: null })] },
  { name: "Upgrade in HTTP/1.0 is ignored", bytes: req("GET / HTTP/1.0", ["Connection: upgrade", "Upgrade: websocket"]), expect: [okGet({ minor: 0, upgrade: null })] },
  {
    name: "bytes after an Upgrade head are taken raw for the tunnel",
    bytes: GET(["Connection: keep-alive, Upgrade", "Upgrade: websocket"]) + "\x81\x05hello\r\n\x00",
    tunnelOnUpgrade: true,
    tunnel: "\x81\x05hello\r\n\x00",
    expect: [okGet({ upgrade: "websocket", connection: ["keep-alive", "upgrade"] })],
  },

  // ---- limits exactly at the boundary are accepted -------------------------------------
  { name: "request line exactly maxRequestLine", limits: SMALL, bytes: req("GET /" + "a".repeat(32 - 14) + " HTTP/1.1", ["Host: a"]), expect: [okGet({ path: "/" + "a".repeat(18) })] },
  { name: "header line exactly maxHeaderLine", limits: SMALL, bytes: req("GET / HTTP/1.1", ["Host: a", "X: " + "v".repeat(23)]), expect: [okGet({ host: "a" })] },
  {
    name: "header section exactly maxHeaderBytes (CRLFs of field lines counted)",
    limits: SMALL,
    // 4 lines of 14 + 2 = 64 bytes
    bytes: req("GET / HTTP/1.1", ["Host: abcdefgh", "X-1: abcdefghi", "X-2: abcdefghi", "X-3: abcdefghi"]),
    expect: [okGet({ host: "abcdefgh" })],
  },
  { name: "exactly maxHeaderCount fields", limits: SMALL, bytes: req("GET / HTTP/1.1", ["Host: a", "A: 1", "B: 2", "C: 3"]), expect: [okGet()] },
  { name: "100 header fields with default limits", bytes: req("GET / HTTP/1.1", [H, ...Array.from({ length: 99 }, (_, i) => `X-${i}: ${i}`)]), expect: [okGet()] },
  { name: "Content-Length exactly maxBodySize", limits: SMALL, bytes: req("POST / HTTP/1.1", ["Host: a", "Content-Length: 10"], "0123456789"), expect: [{ bodyKind: "length", body: "0123456789", ended: true }] },
  {
    // Size digits and CRLFs are framing, not counted: 10 data bytes fit a limit of 10.
    name: "chunked body exactly maxBodySize",
    limits: SMALL,
    bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n"),
    expect: [{ bodyKind: "chunked", body: "0123456789", ended: true }],
  },
  { name: "chunk size line exactly maxChunkLine", limits: SMALL_ROOMY, bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "1;abcdefghij\r\nx\r\n0\r\n\r\n"), expect: [{ body: "x", ended: true }] },
  {
    name: "trailer section exactly maxTrailerBytes",
    limits: SMALL_ROOMY,
    bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "0\r\nX-T: 1234567890123\r\n\r\n"),
    expect: [{ ended: true, trailers: [["X-T", "1234567890123"]] }],
  },
  { name: "request line of exactly 8 KiB with default limits", bytes: req("GET /" + "a".repeat(8192 - 14) + " HTTP/1.1"), expect: [okGet({ path: "/" + "a".repeat(8178), headBytes: 8192 + 2 + 19 + 2 })] },
];

const rejected: WireCase[] = [
  // ---- line endings -------------------------------------------------------------------
  { name: "bare LF as line end everywhere", bytes: "GET / HTTP/1.1\nHost: a\n\n", expect: rej(400, "PARSE_BARE_LF") },
  { name: "bare LF ending a header line", bytes: "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", expect: rej(400, "PARSE_BARE_LF") },
  { name: "bare LF as the empty line", bytes: "GET / HTTP/1.1\r\nHost: a\r\n\n", expect: rej(400, "PARSE_BARE_LF") },
  { name: "bare LF before the request line", bytes: "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", expect: rej(400, "PARSE_BARE_LF") },
  { name: "bare CR inside the request line", bytes: "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", expect: rej(400, "PARSE_BARE_CR") },
  { name: "CR CR LF ending the request line", bytes: "GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", expect: rej(400, "PARSE_BARE_CR") },
  { name: "bare CR inside a header value", bytes: GET(["X: a\rb"]), expect: rej(400, "PARSE_BARE_CR") },
  { name: "CR CR LF ending a header line", bytes: "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", expect: rej(400, "PARSE_BARE_CR") },
  { name: "bare CR inside a header name", bytes: GET(["X\rY: a"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "bare CR as the empty line", bytes: "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", expect: rej(400, "PARSE_BAD_HEADER_NAME") },

  // ---- field syntax (RFC 9112 §5) -------------------------------------------------------
  { name: "obs-fold with SP", bytes: GET(["X: a", " b"]), expect: rej(400, "PARSE_OBS_FOLD") },
  { name: "obs-fold with HTAB", bytes: GET(["X: a", "\tb"]), expect: rej(400, "PARSE_OBS_FOLD") },
  { name: "space before colon", bytes: req("GET / HTTP/1.1", ["Host : a"]), expect: rej(400, "PARSE_SPACE_BEFORE_COLON") },
  { name: "tab before colon", bytes: req("GET / HTTP/1.1", ["Host\t: a"]), expect: rej(400, "PARSE_SPACE_BEFORE_COLON") },
  { name: "space inside a name", bytes: GET(["X Y: a"]), expect: rej(400, "PARSE_SPACE_BEFORE_COLON") },
  { name: "empty header name", bytes: GET([": a"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "header line without colon", bytes: GET(["NoColonHere"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "'@' in header name", bytes: GET(["X@Y: a"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "'(' in header name", bytes: GET(["X(Y): a"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "'\"' in header name", bytes: GET(['X"Y: a']), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "'/' in header name", bytes: GET(["X/Y: a"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "obs-text in header name", bytes: GET(["X\xe9: a"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "NUL in header name", bytes: GET(["X\x00: a"]), expect: rej(400, "PARSE_BAD_HEADER_NAME") },
  { name: "NUL in value", bytes: GET(["X: a\x00b"]), expect: rej(400, "PARSE_BAD_HEADER_VALUE") },
  { name: "SOH in value", bytes: GET(["X: \x01"]), expect: rej(400, "PARSE_BAD_HEADER_VALUE") },
  { name: "VT in value", bytes: GET(["X: a\x0b"]), expect: rej(400, "PARSE_BAD_HEADER_VALUE") },
  { name: "ESC in value", bytes: GET(["X: a\x1bb"]), expect: rej(400, "PARSE_BAD_HEADER_VALUE") },
  { name: "DEL in value", bytes: GET(["X: a\x7fb"]), expect: rej(400, "PARSE_BAD_HEADER_VALUE") },

  // ---- request line (RFC 9112 §3) -------------------------------------------------------
  { name: "method with invalid char", bytes: req("GE(T / HTTP/1.1"), expect: rej(400, "PARSE_BAD_METHOD") },
  { name: "method with NUL", bytes: req("GET\x00 / HTTP/1.1"), expect: rej(400, "PARSE_BAD_METHOD") },
  { name: "method with obs-text", bytes: req("G\xc9T / HTTP/1.1"), expect: rej(400, "PARSE_BAD_METHOD") },
  { name: "double space after method", bytes: req("GET  / HTTP/1.1"), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "double space before version", bytes: req("GET /  HTTP/1.1"), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "leading space", bytes: req(" GET / HTTP/1.1"), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "trailing space", bytes: req("GET / HTTP/1.1 "), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "tabs as separators", bytes: req("GET\t/\tHTTP/1.1"), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "space inside the target", bytes: req("GET /a b HTTP/1.1"), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "missing version", bytes: req("GET /"), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "method only", bytes: req("GET"), expect: rej(400, "PARSE_BAD_REQUEST_LINE") },
  { name: "empty version after a space", bytes: req("GET / "), expect: rej(400, "PARSE_BAD_VERSION") },
  { name: "HTTP/2.0 → 505", bytes: req("GET / HTTP/2.0"), expect: rej(505, "PARSE_UNSUPPORTED_VERSION") },
  { name: "HTTP/1.2 → 505", bytes: req("GET / HTTP/1.2"), expect: rej(505, "PARSE_UNSUPPORTED_VERSION") },
  { name: "HTTP/0.9-style version → 505", bytes: req("GET / HTTP/0.9"), expect: rej(505, "PARSE_UNSUPPORTED_VERSION") },
  { name: "HTTP/1.1x", bytes: req("GET / HTTP/1.1x"), expect: rej(400, "PARSE_BAD_VERSION") },
  { name: "lowercase http/1.1", bytes: req("GET / http/1.1"), expect: rej(400, "PARSE_BAD_VERSION") },
  { name: "HTTP/1", bytes: req("GET / HTTP/1"), expect: rej(400, "PARSE_BAD_VERSION") },
  { name: "HTTP/11.1", bytes: req("GET / HTTP/11.1"), expect: rej(400, "PARSE_BAD_VERSION") },
  { name: "HTTP/2", bytes: req("GET / HTTP/2"), expect: rej(400, "PARSE_BAD_VERSION") },

  // ---- request-target -------------------------------------------------------------------
  { name: "GET * is not asterisk-form", bytes: req("GET * HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "fragment in origin-form", bytes: req("GET /a#frag HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "fragment after the query", bytes: req("GET /a?b#c HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "fragment in absolute-form", bytes: req("GET http://h.example/a#f HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "control byte in target", bytes: req("GET /a\x01b HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "tab in target", bytes: req("GET /a\tb HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "VT in target", bytes: req("GET /a\x0bb HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "FF in target", bytes: req("GET /a\x0cb HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "NUL in target", bytes: req("GET /a\x00 HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "DEL in target", bytes: req("GET /a\x7f HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "NBSP (0xa0) in target", bytes: req("GET /a\xa0b HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "raw non-ASCII in target", bytes: req("GET /caf\xe9 HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "authority-form for GET", bytes: req("GET example.com:80 HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "relative target", bytes: req("GET index.html HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "unsupported scheme", bytes: req("GET ftp://h.example/ HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "userinfo in absolute-form", bytes: req("GET http://user@h.example/ HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "empty authority in absolute-form", bytes: req("GET http:///x HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "bad port in absolute-form", bytes: req("GET http://h.example:8x/ HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "CONNECT without port", bytes: req("CONNECT example.com HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "CONNECT with origin-form", bytes: req("CONNECT / HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "CONNECT with userinfo", bytes: req("CONNECT u@example.com:443 HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },
  { name: "OPTIONS with '*' plus path", bytes: req("OPTIONS */x HTTP/1.1"), expect: rej(400, "PARSE_BAD_TARGET") },

  // ---- Host (RFC 9112 §3.2) -----------------------------------------------------------
  { name: "no Host in HTTP/1.1", bytes: "GET / HTTP/1.1\r\n\r\n", expect: rej(400, "PARSE_MISSING_HOST") },
  { name: "no Host in HTTP/1.1 absolute-form", bytes: "GET http://h.example/ HTTP/1.1\r\n\r\n", expect: rej(400, "PARSE_MISSING_HOST") },
  { name: "two Host headers (same value)", bytes: req("GET / HTTP/1.1", [H, H]), expect: rej(400, "PARSE_DUPLICATE_HOST") },
  { name: "two Host headers (different values)", bytes: req("GET / HTTP/1.1", ["Host: a", "host: b"]), expect: rej(400, "PARSE_DUPLICATE_HOST") },
  { name: "two Host headers in HTTP/1.0", bytes: req("GET / HTTP/1.0", ["Host: a", "Host: a"]), expect: rej(400, "PARSE_DUPLICATE_HOST") },
  { name: "Host with a space", bytes: req("GET / HTTP/1.1", ["Host: a b"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host with '/'", bytes: req("GET / HTTP/1.1", ["Host: a/b"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host with '@'", bytes: req("GET / HTTP/1.1", ["Host: user@a"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host with '?'", bytes: req("GET / HTTP/1.1", ["Host: a?b"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host with non-numeric port", bytes: req("GET / HTTP/1.1", ["Host: a:http"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host with 6-digit port", bytes: req("GET / HTTP/1.1", ["Host: a:123456"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host starting with ':'", bytes: req("GET / HTTP/1.1", ["Host: :80"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host with unclosed IPv6 literal", bytes: req("GET / HTTP/1.1", ["Host: [::1"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "Host with obs-text", bytes: req("GET / HTTP/1.1", ["Host: caf\xe9"]), expect: rej(400, "PARSE_BAD_HOST") },
  { name: "empty Host in HTTP/1.1 origin-form", bytes: req("GET / HTTP/1.1", ["Host:"]), expect: rej(400, "PARSE_BAD_HOST") },

  // ---- Content-Length (RFC 9110 §8.6, RFC 9112 §6.3) -----------------------------------
  { name: "CL + TE", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 5", "Transfer-Encoding: chunked"], "0\r\n\r\n"), expect: rej(400, "PARSE_CL_AND_TE") },
  { name: "TE + CL", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked", "Content-Length: 5"], "0\r\n\r\n"), expect: rej(400, "PARSE_CL_AND_TE") },
  { name: "duplicate CL, same value", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 5", "Content-Length: 5"], "hello"), expect: rej(400, "PARSE_DUPLICATE_CL") },
  { name: "duplicate CL, different values", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 5", "content-length: 6"], "hello!"), expect: rej(400, "PARSE_DUPLICATE_CL") },
  { name: "CL list '5, 5' in one field", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 5, 5"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with comma", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 5,"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with plus sign", bytes: req("POST / HTTP/1.1", [H, "Content-Length: +5"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with minus sign", bytes: req("POST / HTTP/1.1", [H, "Content-Length: -5"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with inner space", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 1 0"], "0123456789"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL in hex", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 0x5"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL in exponent notation", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 1e1"], "0123456789"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with decimal point", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 5.0"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL empty", bytes: req("POST / HTTP/1.1", [H, "Content-Length:"]), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with 16 digits (overflow cap)", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 1000000000000000"]), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with 16 digits even if leading zeros", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 0000000000000005"], "hello"), expect: rej(400, "PARSE_BAD_CL") },
  { name: "CL with full-width digits (obs-text)", bytes: req("POST / HTTP/1.1", [H, "Content-Length: \xb9"]), expect: rej(400, "PARSE_BAD_CL") },

  // ---- Transfer-Encoding (RFC 9112 §6.1, §7) ---------------------------------------------
  { name: "TE in HTTP/1.0", bytes: req("POST / HTTP/1.0", ["Transfer-Encoding: chunked"], "0\r\n\r\n"), expect: rej(400, "PARSE_TE_IN_HTTP10") },
  { name: "TE gzip only (not ending in chunked) → 400", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: gzip"]), expect: rej(400, "PARSE_TE_NOT_CHUNKED") },
  { name: "TE 'gzip, chunked' → 501", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: gzip, chunked"], "0\r\n\r\n"), expect: rej(501, "PARSE_UNSUPPORTED_TE") },
  { name: "TE gzip and chunked in two fields → 501", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: gzip", "Transfer-Encoding: chunked"], "0\r\n\r\n"), expect: rej(501, "PARSE_UNSUPPORTED_TE") },
  { name: "TE 'chunked, chunked' → 400", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked, chunked"], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE chunked in two fields → 400", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE 'chunked, gzip' → 400", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked, gzip"]), expect: rej(400, "PARSE_TE_NOT_CHUNKED") },
  { name: "TE xchunked", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: xchunked"], "0\r\n\r\n"), expect: rej(400, "PARSE_TE_NOT_CHUNKED") },
  { name: "TE identity", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: identity"]), expect: rej(400, "PARSE_TE_NOT_CHUNKED") },
  { name: "TE 'chunked\\x0b' (VT is a control byte)", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked\x0b"], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_HEADER_VALUE") },
  { name: "TE 'chunked\\x00'", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked\x00"], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_HEADER_VALUE") },
  { name: "TE folded onto the next line (' chunked')", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding:", " chunked"], "0\r\n\r\n"), expect: rej(400, "PARSE_OBS_FOLD") },
  { name: "'Transfer-Encoding : chunked' → space before colon", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding : chunked"], "0\r\n\r\n"), expect: rej(400, "PARSE_SPACE_BEFORE_COLON") },
  { name: "TE empty value", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding:"]), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE 'chunked,' (empty list element)", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked,"], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE quoted '\"chunked\"'", bytes: req("POST / HTTP/1.1", [H, 'Transfer-Encoding: "chunked"'], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE 'chunked;q=1'", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked;q=1"], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_TE") },
  { name: "TE with obs-text 'chunk\\xe9d'", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunk\xe9d"], "0\r\n\r\n"), expect: rej(400, "PARSE_BAD_TE") },

  // ---- chunked framing (RFC 9112 §7.1) ------------------------------------------------
  ...(
    [
      ["non-hex chunk size", "zz\r\n"],
      ["empty chunk size line", "\r\n5\r\nhello\r\n0\r\n\r\n"],
      ["'0x10' chunk size", "0x10\r\n" + "x".repeat(16) + "\r\n0\r\n\r\n"],
      ["chunk size overflow fffffffffffffffff", "fffffffffffffffff\r\nx\r\n0\r\n\r\n"],
      ["chunk size overflow 14 digits", "10000000000000\r\nx\r\n"],
      ["negative chunk size", "-1\r\n"],
      ["leading space in chunk size", " 5\r\nhello\r\n0\r\n\r\n"],
      ["trailing space without extension", "5 \r\nhello\r\n0\r\n\r\n"],
      ["'+5' chunk size", "+5\r\nhello\r\n0\r\n\r\n"],
      ["chunk size with bare LF", "5\nhello\r\n0\r\n\r\n"],
      ["chunk size with bare CR inside", "5\r;x\r\nhello\r\n0\r\n\r\n"],
      ["chunk extension with control char", "5;a=\x01\r\nhello\r\n0\r\n\r\n"],
      ["chunk extension with NUL", "5;a\x00\r\nhello\r\n0\r\n\r\n"],
      ["last-chunk with bare LF", "0\n\r\n"],
    ] as const
  ).map(([name, body]): WireCase => ({
    name,
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], body),
    expect: rej(400, "PARSE_BAD_CHUNK", [{ method: "POST", bodyKind: "chunked", body: "", ended: false }]),
  })),
  {
    name: "missing CRLF after chunk data (data longer than the size)",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "5\r\nhelloX\r\n0\r\n\r\n"),
    expect: rej(400, "PARSE_BAD_CHUNK", [{ body: "hello", ended: false }]),
  },
  {
    name: "next chunk size straight after data, no CRLF",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "5\r\nhello0\r\n\r\n"),
    expect: rej(400, "PARSE_BAD_CHUNK", [{ body: "hello", ended: false }]),
  },
  {
    name: "LF only after chunk data",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "5\r\nhello\n0\r\n\r\n"),
    expect: rej(400, "PARSE_BAD_CHUNK", [{ body: "hello", ended: false }]),
  },
  {
    name: "CR then junk after chunk data",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "5\r\nhello\rX0\r\n\r\n"),
    expect: rej(400, "PARSE_BAD_CHUNK", [{ body: "hello", ended: false }]),
  },
  {
    name: "obs-fold in trailers",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "1\r\nx\r\n0\r\nX: a\r\n b\r\n\r\n"),
    expect: rej(400, "PARSE_OBS_FOLD", [{ body: "x", ended: false }]),
  },
  {
    name: "bare LF in trailers",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "0\r\nX: a\n\r\n"),
    expect: rej(400, "PARSE_BARE_LF", [{ body: "" }]),
  },
  {
    name: "control byte in a trailer value",
    bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "0\r\nX: a\x00\r\n\r\n"),
    expect: rej(400, "PARSE_BAD_HEADER_VALUE", [{ body: "" }]),
  },

  // ---- Expect (RFC 9110 §10.1.1) -----------------------------------------------------------
  { name: "Expect: something-else → 417", bytes: GET(["Expect: something-else"]), expect: rej(417, "PARSE_BAD_EXPECT") },
  { name: "Expect: 100-continue twice → 417", bytes: GET(["Expect: 100-continue", "Expect: 100-continue"]), expect: rej(417, "PARSE_BAD_EXPECT") },
  { name: "Expect: 100-continue, foo → 417", bytes: GET(["Expect: 100-continue, foo"]), expect: rej(417, "PARSE_BAD_EXPECT") },

  // ---- limits -------------------------------------------------------------------------
  { name: "request line > 8 KiB → 414 (defaults)", bytes: req("GET /" + "a".repeat(8192 - 13) + " HTTP/1.1"), expect: rej(414, "LIMIT_REQUEST_LINE") },
  { name: "request line without LF beyond 8 KiB → 414 before the line ends", bytes: "GET /" + "a".repeat(9000), expect: rej(414, "LIMIT_REQUEST_LINE") },
  { name: "request line one byte over a small limit", limits: SMALL, bytes: req("GET /" + "a".repeat(19) + " HTTP/1.1", ["Host: a"]), expect: rej(414, "LIMIT_REQUEST_LINE") },
  { name: "request line over the limit but ending in bare LF → still 414", limits: SMALL, bytes: "GET /" + "a".repeat(40) + " HTTP/1.1\nHost: a\r\n\r\n", expect: rej(414, "LIMIT_REQUEST_LINE") },
  { name: "header line one byte over the limit → 431", limits: SMALL, bytes: req("GET / HTTP/1.1", ["Host: a", "X: " + "v".repeat(24)]), expect: rej(431, "LIMIT_HEADER_LINE") },
  { name: "header line over the limit, no LF yet → 431", limits: SMALL, bytes: "GET / HTTP/1.1\r\nHost: a\r\nX: " + "v".repeat(40), expect: rej(431, "LIMIT_HEADER_LINE") },
  { name: "header line over the limit ending in bare LF → still 431", limits: SMALL, bytes: "GET / HTTP/1.1\r\nHost: a\r\nX: " + "v".repeat(40) + "\n\r\n", expect: rej(431, "LIMIT_HEADER_LINE") },
  { name: "header line > 8 KiB with defaults → 431", bytes: GET(["X-Big: " + "v".repeat(8192)]), expect: rej(431, "LIMIT_HEADER_LINE") },
  {
    name: "header section one byte over the limit → 431",
    limits: SMALL,
    bytes: req("GET / HTTP/1.1", ["Host: abcdefgh", "X-1: abcdefghi", "X-2: abcdefghi", "X-3: abcdefghij"]),
    expect: rej(431, "LIMIT_HEADER_BYTES"),
  },
  {
    name: "header section over the limit with a line also over the line limit → the lower threshold (bytes) wins",
    limits: { maxHeaderLine: 40, maxHeaderBytes: 50 },
    bytes: req("GET / HTTP/1.1", ["Host: abcdefghijklmnopqrstuvwxyz", "X-1: " + "v".repeat(60)]),
    expect: rej(431, "LIMIT_HEADER_BYTES"),
  },
  {
    name: "line over the line limit while the section is also over → the lower threshold (line) wins",
    limits: { maxHeaderLine: 20, maxHeaderBytes: 50 },
    bytes: req("GET / HTTP/1.1", ["Host: abcdefghijklm", "X-1: " + "v".repeat(60)]),
    expect: rej(431, "LIMIT_HEADER_LINE"),
  },
  { name: "header section > 64 KiB with defaults → 431", bytes: GET(Array.from({ length: 90 }, (_, i) => `X-${i}: ${"v".repeat(800)}`)), wholeOnly: true, expect: rej(431, "LIMIT_HEADER_BYTES") },
  { name: "too many header fields (small limit) → 431", limits: SMALL, bytes: req("GET / HTTP/1.1", ["Host: a", "A: 1", "B: 2", "C: 3", "D: 4"]), expect: rej(431, "LIMIT_HEADER_COUNT") },
  { name: "101 header fields with defaults → 431", bytes: req("GET / HTTP/1.1", [H, ...Array.from({ length: 100 }, (_, i) => `X-${i}: ${i}`)]), expect: rej(431, "LIMIT_HEADER_COUNT") },
  { name: "Content-Length above maxBodySize → 413 before any body", limits: SMALL, bytes: req("POST / HTTP/1.1", ["Host: a", "Content-Length: 11"], "01234567890"), expect: rej(413, "LIMIT_BODY_SIZE") },
  { name: "huge Content-Length with defaults → 413", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 999999999999999"]), expect: rej(413, "LIMIT_BODY_SIZE") },
  {
    name: "chunked body crossing maxBodySize → 413 at the chunk-size line, before its data arrives",
    limits: SMALL,
    bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "5\r\nhello\r\n6\r\n"),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "hello", ended: false }]),
  },
  {
    name: "single chunk above maxBodySize → 413",
    limits: SMALL,
    bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "b\r\n"),
    expect: rej(413, "LIMIT_BODY_SIZE", [{ body: "" }]),
  },
  { name: "chunk size line over maxChunkLine", limits: SMALL_ROOMY, bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "1;abcdefghijk\r\nx\r\n0\r\n\r\n"), expect: rej(400, "PARSE_BAD_CHUNK", [{ body: "" }]) },
  {
    name: "trailer section over maxTrailerBytes → 431",
    limits: SMALL_ROOMY,
    bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "0\r\nX-T: 12345678901234\r\n\r\n"),
    expect: rej(431, "LIMIT_TRAILER_BYTES", [{ body: "" }]),
  },
  {
    name: "trailer line over maxTrailerBytes ending in bare LF → still 431",
    limits: SMALL_ROOMY,
    bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "0\r\nX-T: 1234567890123456789\n\r\n"),
    expect: rej(431, "LIMIT_TRAILER_BYTES", [{ body: "" }]),
  },
  {
    name: "too many trailer fields → 431",
    limits: { maxHeaderCount: 2 },
    bytes: req("POST / HTTP/1.1", ["Host: a", "Transfer-Encoding: chunked"], "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"),
    expect: rej(431, "LIMIT_HEADER_COUNT", [{ body: "" }]),
  },

  // ---- truncation: finish() inside a message ----------------------------------------------
  { name: "EOF inside the request line", bytes: "GE", expect: rej(400, "PARSE_TRUNCATED_HEAD") },
  { name: "EOF after a lone CR before any request", bytes: "\r", expect: rej(400, "PARSE_TRUNCATED_HEAD") },
  { name: "EOF inside the headers", bytes: "GET / HTTP/1.1\r\nHost: a\r\n", expect: rej(400, "PARSE_TRUNCATED_HEAD") },
  { name: "EOF before the final LF", bytes: "GET / HTTP/1.1\r\nHost: a\r\n\r", expect: rej(400, "PARSE_TRUNCATED_HEAD") },
  { name: "EOF inside a second pipelined head", bytes: GET() + "GET /2 HT", expect: rej(400, "PARSE_TRUNCATED_HEAD", [okGet()]) },
  { name: "EOF inside a Content-Length body", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 10"], "hello"), expect: rej(400, "PARSE_TRUNCATED_BODY", [{ body: "hello", ended: false }]) },
  { name: "EOF right after a Content-Length head", bytes: req("POST / HTTP/1.1", [H, "Content-Length: 1"]), expect: rej(400, "PARSE_TRUNCATED_BODY", [{ body: "" }]) },
  { name: "EOF inside chunk data", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "5\r\nhel"), expect: rej(400, "PARSE_TRUNCATED_BODY", [{ body: "hel" }]) },
  { name: "EOF before the CRLF after chunk data", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "5\r\nhello\r"), expect: rej(400, "PARSE_TRUNCATED_BODY", [{ body: "hello" }]) },
  { name: "EOF inside a chunk size line", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "5\r\nhello\r\n1"), expect: rej(400, "PARSE_TRUNCATED_BODY", [{ body: "hello" }]) },
  { name: "EOF after last-chunk, before the final CRLF", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "0\r\n"), expect: rej(400, "PARSE_TRUNCATED_BODY", [{ body: "" }]) },
  { name: "EOF inside trailers", bytes: req("POST / HTTP/1.1", [H, "Transfer-Encoding: chunked"], "0\r\nX: 1\r\n"), expect: rej(400, "PARSE_TRUNCATED_BODY", [{ body: "" }]) },
];

describe("request wire: accepted", () => {
  for (const c of accepted) test(c.name, () => runCase(c, "request"));
});

describe("request wire: rejected", () => {
  for (const c of rejected) test(c.name, () => runCase(c, "request"));
});

test("case names are unique", () => {
  const names = [...accepted, ...rejected].map((c) => c.name);
  const dup = names.filter((n, i) => names.indexOf(n) !== i);
  if (dup.length) throw new Error("duplicate case names: " + dup.join(", "));
});
