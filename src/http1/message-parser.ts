/**
 * Incremental, strict HTTP/1.1 message parser (RFC 9112) for requests (client side of the
 * server) and responses (upstream side of the proxy). Pure: bytes in, events out, no I/O.
 *
 * Usage is pull-based so the connection decides when it is ready for the next event:
 *   parser.push(chunk)            // bytes as they arrive, split anywhere
 *   while ((ev = parser.next()))  // head → body* → end, then the next message's head …
 *   parser.finish()               // peer closed: ends a close-delimited body or reports truncation
 *
 * Strictness (after llhttp; each rule was a smuggling CVE somewhere): only CRLF line
 * endings, no whitespace before ":", no obs-fold, token-only names and methods, no control
 * bytes in values, one Content-Length of 1*DIGIT, Transfer-Encoding ending in one "chunked",
 * no CL together with TE, chunk sizes 1*HEXDIG with an overflow cap, CRLF after every chunk.
 *
 * Body views handed out are subarrays of the pushed chunks; push() never mutates a buffer
 * it has handed out (it allocates a new one when it must join a tail), so views stay valid.
 */
import type { Limits } from "../config/config.ts";
import { COLON, CR, FIELD_VALUE, HEX, HOST, HTAB, LF, SP, TARGET, TOKEN } from "./chars.ts";
import { asciiLower, isToken, parseDecimal, parseUpgradeList, trimOws } from "./field-syntax.ts";
import { HeaderList } from "./header-list.ts";
import type { BodyKind, RequestHead, ResponseHead, TargetForm } from "./message-head.ts";

export type ParseEvent =
  | { readonly type: "head"; readonly head: RequestHead | ResponseHead }
  | { readonly type: "body"; readonly data: Uint8Array }
  | { readonly type: "end"; readonly trailers: HeaderList | null }
  | { readonly type: "error"; readonly error: ParseError };

/** A rejected message: the status to answer with (requests) and a stable code for the access log. */
export class ParseError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
  ) {}
}

const enum State {
  Start, // before a message: skipping empty lines, expecting the start line
  Headers,
  BodyLength,
  BodyLengthEnd, // [test fix] all Content-Length bytes delivered; next() reports "end"
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  BodyClose,
  Dead,
}

/**
 * Bytes → string, one char per byte. Buffer#latin1Slice (present in Node and Bun, untyped) is
 * about twice as fast as toString("latin1", …), which dominated header parsing in profiles.
 */
type Latin1Slicer = { latin1Slice?(start: number, end: number): string };
const hasLatin1Slice = typeof (Buffer.alloc(0) as unknown as Latin1Slicer).latin1Slice === "function";
function latin1(buf: Buffer, start: number, end: number): string {
  return hasLatin1Slice ? (buf as unknown as Required<Latin1Slicer>).latin1Slice(start, end) : buf.toString("latin1", start, end);
}

/**
 * Field names that most requests and responses carry, spelled as clients and servers send them.
 * A name whose bytes equal one of these exactly gets the shared strings (its original case kept,
 * and its lowercase form), instead of a decoded string and a lowercased copy per field line.
 */
const KNOWN_NAMES = [
  "Host", "host", "User-Agent", "user-agent", "Accept", "accept", "Accept-Encoding", "accept-encoding",
  "Accept-Language", "accept-language", "Connection", "connection", "Content-Length", "content-length",
  "Content-Type", "content-type", "Cache-Control", "cache-control", "Cookie", "cookie", "Referer", "referer",
  "If-None-Match", "if-none-match", "If-Modified-Since", "if-modified-since", "Upgrade", "upgrade",
  "Date", "date", "Server", "server", "Transfer-Encoding", "transfer-encoding", "Keep-Alive", "keep-alive",
  "Origin", "origin", "Range", "range", "X-Forwarded-For", "x-forwarded-for", "X-Request-ID", "x-request-id",
];
interface KnownName {
  readonly name: string;
  readonly lower: string;
  readonly bytes: Uint8Array;
  /** The last value decoded for this name: reused while it repeats (see sameLatin1). */
  lastValue: string;
}
/** By length, then by first byte: a miss usually costs one or two array reads. */
const KNOWN_BY_LENGTH: (KnownName[] | undefined)[] = [];
for (const name of KNOWN_NAMES) {
  const k: KnownName = { name, lower: asciiLower(name), bytes: Buffer.from(name, "latin1"), lastValue: "" };
  (KNOWN_BY_LENGTH[name.length] ??= []).push(k);
}

function knownName(buf: Uint8Array, start: number, end: number): KnownName | null {
  const list = KNOWN_BY_LENGTH[end - start];
  if (list === undefined) return null;
  const first = buf[start];
  outer: for (let i = 0; i < list.length; i++) {
    const b = list[i]!.bytes;
    if (b[0] !== first) continue;
    for (let j = 1; j < b.length; j++) if (buf[start + j] !== b[j]) continue outer;
    return list[i]!;
  }
  return null;
}

/**
 * Whether buf[start, end) are exactly the chars of `s` (one byte per char). Start lines and the
 * values of common fields repeat from message to message (the same Host, Content-Type, status
 * line, request line of a keep-alive client); reusing the string decoded last time instead of a
 * new one per message takes several string cells per message off the garbage collector, whose
 * pauses are the proxy's latency tail (docs/performance.md, "Allocations per request"). The memo
 * is per process, not per connection: one string per known name and per kind of start line.
 */
function sameLatin1(buf: Uint8Array, start: number, end: number, s: string): boolean {
  if (end - start !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (buf[start + i] !== s.charCodeAt(i)) return false;
  return true;
}

/** The last request line seen by any request parser, and what completeRequest derived from it. */
const lastRequestLine = { line: "", method: "", target: "", minor: 1 as 0 | 1, form: "origin" as TargetForm, path: "", query: "", authority: null as string | null };
/** The last status line seen by any response parser, and what completeResponse derived from it. */
const lastStatusLine = { line: "", minor: 1 as 0 | 1, status: 0, reason: "" };

const END_NO_TRAILERS: ParseEvent = { type: "end", trailers: null };
const EMPTY_BYTES = new Uint8Array(0);

/** A body framing verdict: kind and declared length (-1 when none). */
type Framing = readonly [BodyKind, number];
/** The verdicts without a length, shared: most requests have no body, and this runs per message. */
const NO_BODY: Framing = ["none", -1];
const CLOSE_DELIMITED: Framing = ["close", -1];

const MAX_SAFE_DIGITS = 15; // 10^15 < 2^53: a 15-digit length is exact in a double

export class MessageParser {
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private state = State.Start;
  // partial head
  private startLine = "";
  private headers = new HeaderList();
  private headerBytes = 0;
  private headStart = 0; // bytes of the head consumed so far (for headBytes)
  private remaining = 0; // body bytes left (length body) or chunk bytes left
  /** Request body bytes counted against maxBodySize: data, chunk extensions, trailer lines. */
  private bodyCounted = 0;
  /** Chunk-extension bytes of the current message (maxChunkExtBytes). */
  private extBytes = 0;
  /** Header fields of the current message, counted with its trailer fields. */
  private headFields = 0;
  private trailers: HeaderList | null = null;
  private trailerBytes = 0;
  /** Request method of the response we expect next (response mode): HEAD has no body (RFC 9112 §6.3). */
  private pendingMethods: string[] = [];
  private error: ParseError | null = null;

  constructor(
    readonly kind: "request" | "response",
    private readonly limits: Limits,
    /**
     * Hand out one "head" and one "body" event object per parser, refilled by each next(),
     * instead of a new object per event: for callers that are done with an event before they
     * call next() again (the HTTP/1 engine and the proxy's upstream connections), it takes two or
     * three objects per exchange off the garbage collector (docs/performance.md, "Allocations per
     * request"). Callers that keep events (tests, collectors) leave it off.
     */
    private readonly reuseEvents = false,
  ) {}

  private readonly headEvent: { type: "head"; head: RequestHead | ResponseHead } = { type: "head", head: null as unknown as RequestHead };
  private readonly bodyEvent: { type: "body"; data: Uint8Array } = { type: "body", data: EMPTY_BYTES };

  private headOut(head: RequestHead | ResponseHead): ParseEvent {
    if (!this.reuseEvents) return { type: "head", head };
    this.headEvent.head = head;
    return this.headEvent;
  }

  private bodyOut(data: Uint8Array): ParseEvent {
    if (!this.reuseEvents) return { type: "body", data };
    this.bodyEvent.data = data;
    return this.bodyEvent;
  }

  /** Response mode: tell the parser which request the next response answers (FIFO). */
  expectResponseTo(method: string): void {
    this.pendingMethods.push(method);
  }

  /** Bytes pushed but not yet consumed (buffered tail). */
  get buffered(): number {
    return this.buf.length - this.pos;
  }

  /** True between messages with nothing partial buffered: EOF here is a clean close. */
  get idle(): boolean {
    return this.state === State.Start && this.pos >= this.buf.length;
  }

  /** True while in the middle of a message head. */
  get inHead(): boolean {
    return (this.state === State.Start && this.pos < this.buf.length) || this.state === State.Headers;
  }

  get failed(): ParseError | null {
    return this.error;
  }

  push(chunk: Uint8Array): void {
    if (this.state === State.Dead) return;
    // Bun hands us Buffers; a cheap duck-type check (instanceof Buffer showed up in profiles).
    const c = (chunk as { latin1Slice?: unknown }).latin1Slice !== undefined ? (chunk as Buffer) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pos >= this.buf.length) {
      this.buf = c;
    } else {
      // Join the unconsumed tail with the new bytes into a fresh buffer (never mutate handed-out views).
      const tail = this.buf.length - this.pos;
      const joined = Buffer.allocUnsafe(tail + c.length);
      this.buf.copy(joined, 0, this.pos);
      c.copy(joined, tail);
      this.buf = joined;
    }
    this.pos = 0;
  }

  /** Hands out the unconsumed bytes and empties the buffer (after an Upgrade the rest is tunnel data). */
  takeRemaining(): Uint8Array {
    const rest = this.buf.subarray(this.pos);
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    this.state = State.Dead;
    return rest;
  }

  /** The peer closed its sending side. Returns the final event, if any. */
  finish(): ParseEvent | null {
    if (this.state === State.BodyClose) {
      this.state = State.Dead;
      return END_NO_TRAILERS;
    }
    if (this.state === State.BodyLengthEnd) {
      // [test fix] the body was complete; only its "end" was not pulled yet.
      this.state = State.Dead;
      return END_NO_TRAILERS;
    }
    if (this.state === State.Dead || this.idle) return null;
    const truncated =
      this.state === State.Start || this.state === State.Headers
        ? this.fail(400, "PARSE_TRUNCATED_HEAD", "connection closed inside the message head")
        : this.fail(400, "PARSE_TRUNCATED_BODY", "connection closed inside the message body");
    return truncated;
  }

  next(): ParseEvent | null {
    for (;;) {
      switch (this.state) {
        case State.Start:
        case State.Headers: {
          const r = this.parseHeadLine();
          if (r === null) return null;
          if (r !== true) return r;
          continue;
        }
        case State.BodyLength:
          // [test fix] BodyLengthEnd (was `State.Start`, which never emitted "end" for a Content-Length body).
          return this.takeCounted(State.BodyLengthEnd);
        case State.BodyLengthEnd:
          this.state = State.Start;
          return END_NO_TRAILERS;
        case State.BodyClose: {
          const avail = this.buf.length - this.pos;
          if (avail === 0) return null;
          const data = this.buf.subarray(this.pos);
          this.pos = this.buf.length;
          return this.bodyOut(data);
        }
        case State.ChunkSize: {
          const r = this.parseChunkSize();
          if (r === null) return null;
          if (r !== true) return r;
          continue;
        }
        case State.ChunkData:
          return this.takeCounted(State.ChunkDataEnd);
        case State.ChunkDataEnd: {
          // RFC 9112 §7.1: chunk-data is followed by exactly CRLF; anything else is a framing error.
          if (this.buf.length - this.pos < 1) return null;
          if (this.buf[this.pos] !== CR) return this.fail(400, "PARSE_BAD_CHUNK", "chunk data not followed by CRLF");
          if (this.buf.length - this.pos < 2) return null;
          if (this.buf[this.pos + 1] !== LF) return this.fail(400, "PARSE_BAD_CHUNK", "chunk data not followed by CRLF");
          this.pos += 2;
          this.state = State.ChunkSize;
          continue;
        }
        case State.Trailers: {
          const r = this.parseTrailerLine();
          if (r === null) return null;
          if (r !== true) return r;
          continue;
        }
        case State.Dead:
          return this.error ? { type: "error", error: this.error } : null;
      }
    }
  }

  /** Hand out up to `remaining` buffered body bytes; `then` is the state once they are all out. */
  private takeCounted(then: State): ParseEvent | null {
    const avail = this.buf.length - this.pos;
    if (avail === 0) return null;
    const n = avail < this.remaining ? avail : this.remaining;
    const data = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.remaining -= n;
    if (this.remaining === 0) this.state = then;
    return this.bodyOut(data);
  }

  // ---- heads --------------------------------------------------------------------------

  /** Parses one line of a head. true = progress, null = need more bytes, or an event. */
  private parseHeadLine(): ParseEvent | true | null {
    const buf = this.buf;
    const lineStart = this.pos;
    const lf = buf.indexOf(LF, lineStart);
    const inStartLine = this.state === State.Start;
    // [test fix] Limits are checked on the line content seen so far, without a trailing CR, and
    // before the CRLF check, so the verdict is the same whether the line arrived whole or split
    // (before: a line of exactly the limit was rejected when a push ended between its CR and LF,
    // and an over-long line ending in a bare LF got 400 or 414/431 depending on the split).
    const seenEnd = lf < 0 ? buf.length : lf;
    const seen = seenEnd - lineStart - (seenEnd > lineStart && buf[seenEnd - 1] === CR ? 1 : 0);
    const over = this.headLineOverLimit(inStartLine, seen);
    if (over !== null) return over;
    if (lf < 0) return null;
    // Only CRLF ends a line (RFC 9112 §2.2): a bare LF is rejected, not tolerated.
    if (lf === lineStart || buf[lf - 1] !== CR) return this.fail(400, "PARSE_BARE_LF", "line not terminated by CRLF");
    const lineEnd = lf - 1; // exclusive end of content
    const lineLen = lineEnd - lineStart;
    this.pos = lf + 1;
    this.headStart += lf + 1 - lineStart;

    if (inStartLine) {
      if (lineLen === 0) {
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line received before the request-line.
        this.headStart = 0;
        return true;
      }
      const memo = this.kind === "request" ? lastRequestLine : lastStatusLine;
      this.startLine = sameLatin1(buf, lineStart, lineEnd, memo.line) ? memo.line : latin1(buf, lineStart, lineEnd);
      if (this.startLine.indexOf("\r") >= 0) return this.fail(400, "PARSE_BARE_CR", "bare CR in start line");
      this.state = State.Headers;
      return true;
    }

    if (lineLen === 0) return this.completeHead();

    this.headerBytes += lineLen + 2;
    if (this.headerBytes > this.limits.maxHeaderBytes) return this.fail(431, "LIMIT_HEADER_BYTES", "header section too large");
    if (this.headers.size >= this.limits.maxHeaderCount) return this.fail(431, "LIMIT_HEADER_COUNT", "too many header fields");
    return this.parseField(this.headers, lineStart, lineEnd);
  }

  /**
   * [test fix] Limit verdict for a head line of which `seen` content bytes have arrived. When a
   * line is over both the line and the section limit, the one whose threshold is lower is
   * reported: that is the one a byte-at-a-time feed hits first, so the code is split-independent.
   */
  private headLineOverLimit(inStartLine: boolean, seen: number): ParseEvent | null {
    const lim = this.limits;
    if (inStartLine) return seen > lim.maxRequestLine ? this.startLineTooLong() : null;
    const sectionLeft = lim.maxHeaderBytes - this.headerBytes;
    if (seen <= lim.maxHeaderLine && seen <= sectionLeft) return null;
    return lim.maxHeaderLine <= sectionLeft
      ? this.fail(431, "LIMIT_HEADER_LINE", "header field line too long")
      : this.fail(431, "LIMIT_HEADER_BYTES", "header section too large");
  }

  private startLineTooLong(): ParseEvent {
    return this.kind === "request"
      ? this.fail(414, "LIMIT_REQUEST_LINE", "request line too long")
      : this.fail(502, "LIMIT_STATUS_LINE", "status line too long");
  }

  /** field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). */
  private parseField(into: HeaderList, start: number, end: number): ParseEvent | true {
    const buf = this.buf;
    const first = buf[start]!;
    // obs-fold (RFC 9112 §5.2): a line starting with whitespace. A server MUST reject or replace; we reject.
    if (first === SP || first === HTAB) return this.fail(400, "PARSE_OBS_FOLD", "obsolete line folding");
    let i = start;
    while (i < end && TOKEN[buf[i]!] === 1) i++;
    if (i === start) return this.fail(400, "PARSE_BAD_HEADER_NAME", "empty or invalid header name");
    if (i >= end || buf[i] !== COLON) {
      // Whitespace between name and colon MUST be rejected (RFC 9112 §5.1).
      const b = i < end ? buf[i] : -1;
      return b === SP || b === HTAB
        ? this.fail(400, "PARSE_SPACE_BEFORE_COLON", "whitespace between header name and colon")
        : this.fail(400, "PARSE_BAD_HEADER_NAME", "invalid character in header name");
    }
    const nameEnd = i;
    i++;
    let vs = i;
    let ve = end;
    while (vs < ve && (buf[vs] === SP || buf[vs] === HTAB)) vs++;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    for (let j = vs; j < ve; j++) {
      if (FIELD_VALUE[buf[j]!] !== 1) {
        return buf[j] === CR
          ? this.fail(400, "PARSE_BARE_CR", "bare CR in header value")
          : this.fail(400, "PARSE_BAD_HEADER_VALUE", "control character in header value");
      }
    }
    const k = knownName(buf, start, nameEnd);
    if (k !== null) {
      let value = k.lastValue;
      if (!sameLatin1(buf, vs, ve, value)) k.lastValue = value = latin1(buf, vs, ve);
      into.add(k.name, value, k.lower);
    } else into.add(latin1(buf, start, nameEnd), latin1(buf, vs, ve));
    return true;
  }

  private completeHead(): ParseEvent {
    const headBytes = this.headStart;
    const headers = this.headers;
    this.headFields = headers.size;
    const startLine = this.startLine;
    this.headers = new HeaderList();
    this.headerBytes = 0;
    this.headStart = 0;
    this.startLine = "";
    return this.kind === "request" ? this.completeRequest(startLine, headers, headBytes) : this.completeResponse(startLine, headers, headBytes);
  }

  private completeRequest(line: string, headers: HeaderList, headBytes: number): ParseEvent {
    const memo = lastRequestLine;
    if (line === memo.line) return this.completeRequestHead(headers, headBytes, memo.method, memo.target, memo.minor, memo.form, memo.path, memo.query, memo.authority);
    // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces only.
    const sp1 = line.indexOf(" ");
    const sp2 = sp1 < 0 ? -1 : line.indexOf(" ", sp1 + 1);
    if (sp1 <= 0 || sp2 < 0 || line.indexOf(" ", sp2 + 1) >= 0 || sp2 === sp1 + 1) {
      return this.fail(400, "PARSE_BAD_REQUEST_LINE", "malformed request line");
    }
    const method = line.slice(0, sp1);
    for (let k = 0; k < method.length; k++) {
      if (TOKEN[method.charCodeAt(k)] !== 1) return this.fail(400, "PARSE_BAD_METHOD", "invalid method");
    }
    const target = line.slice(sp1 + 1, sp2);
    for (let k = 0; k < target.length; k++) {
      if (TARGET[target.charCodeAt(k)] !== 1) return this.fail(400, "PARSE_BAD_TARGET", "invalid byte in request target");
    }
    const minor = this.parseVersion(line.slice(sp2 + 1));
    if (typeof minor !== "number") return minor;

    // Request target forms (RFC 9112 §3.2).
    let form: TargetForm;
    let path: string;
    let query = "";
    let authority: string | null = null;
    if (method === "CONNECT") {
      // authority-form only; we never tunnel CONNECT, but recognise it to answer properly.
      if (!/^[^\s/?#@]+:\d{1,5}$/.test(target)) return this.fail(400, "PARSE_BAD_TARGET", "CONNECT needs host:port");
      form = "authority";
      path = target;
    } else if (target.charCodeAt(0) === 0x2f /* / */) {
      form = "origin";
      const q = target.indexOf("?");
      path = q < 0 ? target : target.slice(0, q);
      query = q < 0 ? "" : target.slice(q);
      if (target.indexOf("#") >= 0) return this.fail(400, "PARSE_BAD_TARGET", "fragment in request target");
    } else if (target === "*") {
      if (method !== "OPTIONS") return this.fail(400, "PARSE_BAD_TARGET", "asterisk-form is only for OPTIONS");
      form = "asterisk";
      path = "*";
    } else {
      const m = /^(https?):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?$/i.exec(target);
      if (!m) return this.fail(400, "PARSE_BAD_TARGET", "unsupported request target");
      form = "absolute";
      authority = m[2]!;
      if (authority === "" || authority.indexOf("@") >= 0 || !validHost(authority)) return this.fail(400, "PARSE_BAD_TARGET", "bad authority in absolute-form");
      path = m[3] || "/";
      query = m[4] ?? "";
    }
    memo.line = line;
    memo.method = method;
    memo.target = target;
    memo.minor = minor;
    memo.form = form;
    memo.path = path;
    memo.query = query;
    memo.authority = authority;
    return this.completeRequestHead(headers, headBytes, method, target, minor, form, path, query, authority);
  }

  /** The rest of a request head, once its request line is parsed (or known from the memo). */
  private completeRequestHead(
    headers: HeaderList,
    headBytes: number,
    method: string,
    target: string,
    minor: 0 | 1,
    form: TargetForm,
    path: string,
    query: string,
    authority: string | null,
  ): ParseEvent {

    // Host (RFC 9112 §3.2): exactly one in HTTP/1.1; absolute-form authority wins over it.
    const hostCount = headers.count("host");
    if (hostCount > 1) return this.fail(400, "PARSE_DUPLICATE_HOST", "more than one Host header");
    if (hostCount === 0 && minor === 1) return this.fail(400, "PARSE_MISSING_HOST", "HTTP/1.1 request without Host");
    const hostHeader = headers.get("host") ?? "";
    if (hostCount === 1 && !validHostMemo(hostHeader) && !(hostHeader === "" && form !== "origin")) {
      return this.fail(400, "PARSE_BAD_HOST", "invalid Host header");
    }
    if (hostCount === 1 && hostHeader === "" && form === "origin" && minor === 1) return this.fail(400, "PARSE_BAD_HOST", "empty Host header");
    const host = authority ?? hostHeader;

    const framing = this.bodyFraming(headers, minor, true);
    if (framing instanceof ParseError) return this.failWith(framing);
    const bodyKind = framing[0];
    const contentLength = framing[1];
    if (bodyKind === "length" && contentLength > this.limits.maxBodySize) {
      return this.fail(413, "LIMIT_BODY_SIZE", "declared Content-Length exceeds the body limit");
    }

    // Connection = #connection-option, each a token (RFC 9110 §7.6.1). A non-token element has
    // no meaning every hop agrees on (`\xa0upgrade`: trim() reads "upgrade", a strict peer does
    // not), so the request is refused rather than read leniently.
    const connection = headers.tokenList("connection");
    if (connection === null) return this.fail(400, "PARSE_BAD_CONNECTION", "Connection field is not a list of tokens");
    const keepAlive = minor === 1 ? connection.indexOf("close") < 0 : connection.indexOf("keep-alive") >= 0 && connection.indexOf("close") < 0;
    let expectContinue = false;
    const expect = headers.get("expect");
    if (expect !== undefined) {
      // RFC 9110 §10.1.1: the only expectation defined is 100-continue; others get 417.
      if (headers.count("expect") > 1 || asciiLower(expect) !== "100-continue") return this.fail(417, "PARSE_BAD_EXPECT", "unsupported expectation");
      expectContinue = minor === 1; // HTTP/1.0 clients must be ignored here (RFC 9110 §10.1.1)
    }
    // Upgrade = #protocol, protocol = token ["/" token] (RFC 9110 §7.8). A malformed offer is
    // refused outright (not merely "no upgrade"): a front proxy might read it differently.
    if (headers.has("upgrade") && parseUpgradeList(headers.getAll("upgrade")) === null) {
      return this.fail(400, "PARSE_BAD_UPGRADE", "Upgrade field is not a list of protocols");
    }
    const upgradeValue = headers.get("upgrade");
    const upgrade = upgradeValue !== undefined && connection.indexOf("upgrade") >= 0 && minor === 1 ? upgradeValue : null;

    const head: RequestHead = {
      method,
      target,
      form,
      path,
      query,
      minor,
      headers,
      host,
      bodyKind,
      contentLength,
      keepAlive,
      expectContinue,
      connection,
      upgrade,
      headBytes,
    };
    this.enterBody(bodyKind, contentLength);
    return this.headOut(head);
  }

  private completeResponse(line: string, headers: HeaderList, headBytes: number): ParseEvent {
    const memo = lastStatusLine;
    let minor: 0 | 1;
    let status: number;
    let reason: string;
    if (line === memo.line) {
      minor = memo.minor;
      status = memo.status;
      reason = memo.reason;
    } else {
      // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4).
      if (line.length < 12 || line.charCodeAt(8) !== SP) return this.fail(502, "UPSTREAM_BAD_STATUS_LINE", "malformed status line");
      const version = this.parseVersion(line.slice(0, 8));
      // [test fix] was a second fail() that overwrote parseVersion's error, so UPSTREAM_BAD_VERSION was unreachable.
      if (typeof version !== "number") return version;
      minor = version;
      const code = line.slice(9, 12);
      if (!/^[1-5]\d\d$/.test(code)) return this.fail(502, "UPSTREAM_BAD_STATUS_LINE", "bad status code");
      if (line.length > 12 && line.charCodeAt(12) !== SP) return this.fail(502, "UPSTREAM_BAD_STATUS_LINE", "malformed status line");
      reason = line.length > 13 ? line.slice(13) : "";
      for (let k = 0; k < reason.length; k++) {
        if (FIELD_VALUE[reason.charCodeAt(k)] !== 1) return this.fail(502, "UPSTREAM_BAD_STATUS_LINE", "control byte in reason");
      }
      status = parseDecimal(code, 3);
      memo.line = line;
      memo.minor = minor;
      memo.status = status;
      memo.reason = reason;
    }
    const informational = status < 200;
    const method = informational ? this.pendingMethods[0] : this.pendingMethods.shift();

    // As for requests: a Connection element that is not a token is a confused or hostile peer.
    const connection = headers.tokenList("connection");
    if (connection === null) return this.fail(502, "UPSTREAM_BAD_CONNECTION", "Connection field is not a list of tokens");
    const keepAlive = minor === 1 ? connection.indexOf("close") < 0 : connection.indexOf("keep-alive") >= 0 && connection.indexOf("close") < 0;

    let bodyKind: BodyKind;
    let contentLength = -1;
    // RFC 9112 §6.3 rule 1: HEAD responses, 1xx, 204 and 304 never have content, whatever the fields say.
    if (method === "HEAD" || informational || status === 204 || status === 304) {
      bodyKind = "none";
      // Still reject a malformed framing header from a hostile upstream: it signals a confused peer.
      const framing = this.bodyFraming(headers, minor, false);
      if (framing instanceof ParseError) return this.failWith(framing);
      if (status === 304 || method === "HEAD") contentLength = framing[1];
    } else {
      const framing = this.bodyFraming(headers, minor, false);
      if (framing instanceof ParseError) return this.failWith(framing);
      bodyKind = framing[0];
      contentLength = framing[1];
    }
    const head: ResponseHead = { status, reason, minor, headers, bodyKind, contentLength, keepAlive, connection, headBytes };
    if (status === 101) {
      // After 101 the bytes are another protocol: the caller takes them with takeRemaining().
      this.state = State.Dead;
      return this.headOut(head);
    }
    if (informational) {
      this.state = State.Start; // [test fix] was left in State.Headers: the next status line failed as a field
      return this.headOut(head);
    }
    this.enterBody(bodyKind, method === "HEAD" || status === 304 ? -1 : contentLength);
    return this.headOut(head);
  }

  /** HTTP-version = "HTTP/" DIGIT "." DIGIT; 1.0 and 1.1 served, other well-formed versions 505. */
  private parseVersion(v: string): 0 | 1 | ParseEvent {
    if (v === "HTTP/1.1") return 1;
    if (v === "HTTP/1.0") return 0;
    if (/^HTTP\/\d\.\d$/.test(v)) {
      return this.kind === "request"
        ? this.fail(505, "PARSE_UNSUPPORTED_VERSION", "HTTP version not supported")
        : this.fail(502, "UPSTREAM_BAD_VERSION", "unsupported upstream HTTP version");
    }
    return this.kind === "request" ? this.fail(400, "PARSE_BAD_VERSION", "malformed HTTP version") : this.fail(502, "UPSTREAM_BAD_STATUS_LINE", "malformed HTTP version");
  }

  /**
   * Message body length rules (RFC 9112 §6.1–6.3), strict:
   * - Transfer-Encoding with Content-Length → reject (smuggling shape, §6.1 allows us to close).
   * - Transfer-Encoding in HTTP/1.0 → reject (§6.1).
   * - Transfer-Encoding must end in exactly one "chunked"; other codings → 501 (we do not decode them).
   * - Content-Length is 1*DIGIT, one field, one value.
   * Responses without either are close-delimited.
   */
  private bodyFraming(headers: HeaderList, minor: 0 | 1, isRequest: boolean): Framing | ParseError {
    const bad = isRequest ? 400 : 502;
    const pfx = isRequest ? "PARSE_" : "UPSTREAM_";
    const teCount = headers.count("transfer-encoding");
    const clCount = headers.count("content-length");
    if (teCount > 0) {
      if (clCount > 0) return new ParseError(bad, pfx + "CL_AND_TE", "both Content-Length and Transfer-Encoding");
      if (minor === 0) return new ParseError(bad, pfx + "TE_IN_HTTP10", "Transfer-Encoding in an HTTP/1.0 message");
      // Transfer-Encoding = #transfer-coding (RFC 9112 §6.1). Only SP/HTAB are OWS (RFC 9110
      // §5.6.3): `\xa0chunked` or `chunked\xa0` is not chunked, and is refused rather than
      // forwarded as a clean "chunked" (the TE.TE desync). Empty elements are refused too: a
      // framing field gets no leniency.
      const codings: string[] = [];
      for (const v of headers.getAll("transfer-encoding")) {
        for (const part of v.split(",")) {
          const t = trimOws(part);
          if (t === "") return new ParseError(bad, pfx + "BAD_TE", "empty transfer coding");
          if (!isToken(t)) return new ParseError(bad, pfx + "BAD_TE", "malformed transfer coding");
          codings.push(asciiLower(t));
        }
      }
      const last = codings[codings.length - 1];
      if (last !== "chunked") return new ParseError(bad, pfx + "TE_NOT_CHUNKED", "Transfer-Encoding does not end in chunked");
      if (codings.indexOf("chunked") !== codings.length - 1) return new ParseError(bad, pfx + "BAD_TE", "chunked applied more than once");
      if (codings.length > 1) {
        return isRequest
          ? new ParseError(501, "PARSE_UNSUPPORTED_TE", "unsupported transfer coding")
          : new ParseError(502, "UPSTREAM_UNSUPPORTED_TE", "unsupported transfer coding");
      }
      return ["chunked", -1];
    }
    if (clCount > 0) {
      if (clCount > 1) return new ParseError(bad, pfx + "DUPLICATE_CL", "more than one Content-Length");
      // Content-Length = 1*DIGIT (RFC 9110 §8.6); one value, no list, no sign, no OWS inside.
      const n = parseDecimal(headers.get("content-length")!, MAX_SAFE_DIGITS);
      if (n < 0) return new ParseError(bad, pfx + "BAD_CL", "invalid Content-Length");
      return [n === 0 ? "none" : "length", n];
    }
    return isRequest ? NO_BODY : CLOSE_DELIMITED;
  }

  private enterBody(kind: BodyKind, length: number): void {
    this.bodyCounted = 0;
    this.extBytes = 0;
    this.trailers = null;
    this.trailerBytes = 0;
    switch (kind) {
      case "length":
        this.remaining = length;
        this.state = State.BodyLength;
        break;
      case "chunked":
        this.state = State.ChunkSize;
        break;
      case "close":
        this.state = State.BodyClose;
        break;
      default:
        this.state = State.Start;
    }
  }

  // ---- chunked body (RFC 9112 §7.1) -----------------------------------------------------

  private parseChunkSize(): ParseEvent | true | null {
    const buf = this.buf;
    const start = this.pos;
    const lf = buf.indexOf(LF, start);
    if (lf < 0) {
      // [test fix] a trailing CR may be half of the CRLF: do not count it against the limit.
      if (buf.length - start - (buf[buf.length - 1] === CR ? 1 : 0) > this.limits.maxChunkLine) {
        return this.fail(400, "PARSE_BAD_CHUNK", "chunk size line too long");
      }
      // Fail fast on a byte that can never start a valid size line.
      if (buf.length > start && HEX[buf[start]!] === 255) return this.fail(400, "PARSE_BAD_CHUNK", "invalid chunk size");
      return null;
    }
    if (lf === start || buf[lf - 1] !== CR) return this.fail(400, "PARSE_BAD_CHUNK", "chunk size line not terminated by CRLF");
    const end = lf - 1;
    if (end - start > this.limits.maxChunkLine) return this.fail(400, "PARSE_BAD_CHUNK", "chunk size line too long");
    let i = start;
    let size = 0;
    while (i < end && HEX[buf[i]!] !== 255) {
      if (i - start >= 13) return this.fail(400, "PARSE_BAD_CHUNK", "chunk size overflow"); // 16^13 > 2^52: cap
      size = size * 16 + HEX[buf[i]!]!;
      i++;
    }
    if (i === start) return this.fail(400, "PARSE_BAD_CHUNK", "invalid chunk size");
    // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] ): allow only those bytes.
    if (i < end) {
      let j = i;
      while (j < end && (buf[j] === SP || buf[j] === HTAB)) j++;
      if (j >= end || buf[j] !== 0x3b /* ; */) return this.fail(400, "PARSE_BAD_CHUNK", "invalid chunk size");
      for (; j < end; j++) {
        const b = buf[j]!;
        if (FIELD_VALUE[b] !== 1) return this.fail(400, "PARSE_BAD_CHUNK", "control byte in chunk extension");
      }
    }
    // Extensions cost parsing and buffering but carry no data: without a budget, a client can
    // send megabytes of them past every body limit (CVE-2024-22019). Node's fix caps them per
    // message; 413 like Node, since they are part of the message body (RFC 9112 §6, §7.1.1).
    const extLen = end - i;
    this.extBytes += extLen;
    if (this.extBytes > this.limits.maxChunkExtBytes) return this.fail(413, "LIMIT_CHUNK_EXTENSIONS", "chunk extensions exceed their budget");
    this.pos = lf + 1;
    // The request body limit counts extension bytes with the data. The size digits and CRLFs are
    // not counted: they are bounded framing (at most 13 digits + 2 CRLFs per chunk, and every
    // chunk but the last carries data), and counting them would refuse a clean chunked body of
    // exactly --max-body-size that the same body with Content-Length passes.
    this.bodyCounted += size + extLen;
    if (this.kind === "request" && this.bodyCounted > this.limits.maxBodySize) {
      return this.fail(413, "LIMIT_BODY_SIZE", "chunked body exceeds the body limit");
    }
    if (size === 0) {
      this.state = State.Trailers;
      return true;
    }
    this.remaining = size;
    this.state = State.ChunkData;
    return true;
  }

  private parseTrailerLine(): ParseEvent | true | null {
    const buf = this.buf;
    const start = this.pos;
    const lf = buf.indexOf(LF, start);
    // [test fix] as in parseHeadLine: no trailing CR counted, limit checked before the CRLF check.
    const seenEnd = lf < 0 ? buf.length : lf;
    const seen = seenEnd - start - (seenEnd > start && buf[seenEnd - 1] === CR ? 1 : 0);
    // Trailer bytes count against both the trailer limit and (requests) the body limit. When a
    // line crosses both, the lower remaining budget is reported: that is the one a byte-at-a-time
    // feed crosses first, so the verdict does not depend on how the bytes were split.
    const trailerLeft = this.limits.maxTrailerBytes - this.trailerBytes;
    const bodyLeft = this.kind === "request" ? this.limits.maxBodySize - this.bodyCounted : Infinity;
    if (seen > trailerLeft || seen > bodyLeft) {
      return trailerLeft <= bodyLeft
        ? this.fail(this.kind === "request" ? 431 : 502, "LIMIT_TRAILER_BYTES", "trailer section too large")
        : this.fail(413, "LIMIT_BODY_SIZE", "trailers exceed the body limit");
    }
    if (lf < 0) return null;
    if (lf === start || buf[lf - 1] !== CR) return this.fail(400, "PARSE_BARE_LF", "trailer line not terminated by CRLF");
    const end = lf - 1;
    this.pos = lf + 1;
    if (end === start) {
      const trailers = this.trailers;
      this.trailers = null;
      this.state = State.Start;
      return trailers ? { type: "end", trailers } : END_NO_TRAILERS;
    }
    this.trailerBytes += end - start + 2;
    this.bodyCounted += end - start + 2;
    if (this.trailerBytes > this.limits.maxTrailerBytes) return this.fail(this.kind === "request" ? 431 : 502, "LIMIT_TRAILER_BYTES", "trailer section too large");
    if (this.kind === "request" && this.bodyCounted > this.limits.maxBodySize) return this.fail(413, "LIMIT_BODY_SIZE", "trailers exceed the body limit");
    this.trailers ??= new HeaderList();
    // Header and trailer fields share maxHeaderCount: a recipient may merge trailers into the
    // header section (RFC 9110 §6.5.1), so together they must stay within the header limit.
    if (this.headFields + this.trailers.size >= this.limits.maxHeaderCount) return this.fail(431, "LIMIT_HEADER_COUNT", "too many trailer fields");
    return this.parseField(this.trailers, start, end);
  }

  // ---- errors -------------------------------------------------------------------------

  private fail(status: number, code: string, detail: string): ParseEvent {
    // Errors while reading an upstream response are the upstream's fault: 502 Bad Gateway.
    if (this.kind === "response" && status !== 502) {
      status = 502;
      if (code.startsWith("PARSE_")) code = "UPSTREAM_" + code.slice(6);
    }
    return this.failWith(new ParseError(status, code, detail));
  }

  private failWith(e: ParseError): ParseEvent {
    this.error = e;
    this.state = State.Dead;
    return { type: "error", error: e };
  }
}

/** validHost, remembering the last valid Host (the known-name value memo hands out the same string again). */
let lastValidHost = "";
function validHostMemo(h: string): boolean {
  if (h === lastValidHost && h !== "") return true;
  if (!validHost(h)) return false;
  lastValidHost = h;
  return true;
}

/** Host = uri-host [ ":" port ] (RFC 9110 §7.2); conservative byte check plus a port check. */
export function validHost(h: string): boolean {
  const n = h.length;
  if (n === 0 || n > 255) return false;
  let colon = -1;
  let bracket = false;
  for (let k = 0; k < n; k++) {
    const c = h.charCodeAt(k);
    if (HOST[c] !== 1) return false;
    if (c === 0x5b /* [ */ || c === 0x5d /* ] */) bracket = true;
    else if (c === 0x3a /* : */ && colon < 0) colon = k;
  }
  if (h.charCodeAt(0) === 0x5b /* [ */) {
    const close = h.indexOf("]");
    if (close < 0 || h.indexOf("[", 1) >= 0 || h.indexOf("]", close + 1) >= 0) return false;
    return close === n - 1 || (h.charCodeAt(close + 1) === 0x3a && portDigits(h, close + 2));
  }
  if (bracket) return false;
  if (colon < 0) return true;
  if (colon === 0) return false;
  return portDigits(h, colon + 1);
}

/** 0-5 ASCII digits from `from` to the end (an empty port is allowed, RFC 3986 §3.2.3). */
function portDigits(h: string, from: number): boolean {
  if (h.length - from > 5) return false;
  for (let k = from; k < h.length; k++) {
    const c = h.charCodeAt(k);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
