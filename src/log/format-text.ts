/**
 * The text access-log line: the original project's shape, one exchange per line.
 *
 *   [INFO] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET
 *     | path=/x?y=1 | host=example.com | status=200 | bytes=1234 | latency=0.42ms
 *     [ | error=CODE] [ | upstream=127.0.0.1:8000] [ | upstream_status=200]
 *     [ | upstream_connect=0.10ms] [ | upstream_ttfb=1.20ms] [ | user_agent=curl/8.5.0]
 *     [ | trace_id=4bf92f3577b34da6a3ce929d0e0e4736 | span_id=00f067aa0ba902b7]
 *     [ | upstream_connect=0.10ms] [ | upstream_ttfb=1.20ms] [ | tls=TLSv1.3] [ | cipher=TLS_AES_128_GCM_SHA256]
 *     [ | cache=HIT] [ | proto=HTTP/2] [ | sni=example.com] [ | user_agent=curl/8.5.0]
 *
 * (one physical line, wrapped here for reading).
 *
 * Timestamp: `time=` is the first field after REQUEST rather than a prefix, so every line still
 * starts with `[LEVEL] DREAM_SERVER REQUEST | ` and a parser that splits on " | " and on the first
 * "=" keeps working; only a pattern anchored on "REQUEST | id=" would notice.
 *
 * Level: [ERROR] for 5xx; [WARN] when the exchange carries an error code (a 4xx we rejected with
 * a reason, or a 2xx that was cut short, e.g. UPSTREAM_TRUNCATED mid-body); [INFO] otherwise, which
 * includes a plain 404 for a missing file.
 *
 * Forgery: the method, path, host, id and user agent come from the client. Every string value is
 * escaped so that the only " | " and "\n" in a line are the ones we wrote (see escapeValue).
 */
import { errorInfo } from "../errors.ts";
import type { AccessRecord } from "./access-record.ts";
import { ascii, textInt, textMs, textValue, uint } from "./line-bytes.ts";

/**
 * Characters that may appear unescaped in a value: printable ASCII except "\" (0x5c, our escape
 * character) and "|" (0x7c, the field separator). Everything else — CR, LF, other C0 controls,
 * DEL, latin1 bytes 0x80-0xff of a raw request target, any non-ASCII code unit, lone surrogates —
 * is written as \xHH (code unit <= 0xff) or \uHHHH (above), lowercase hex. Decoding is therefore
 * one rule: /\\x([0-9a-f]{2})|\\u([0-9a-f]{4})/ → String.fromCharCode(hex).
 *
 * Because "|" is always escaped, a client value like "a | status=200" becomes
 * "a \x7c status=200" and can never split into a second field; because CR/LF are escaped it can
 * never start a second line.
 */
const UNSAFE = /[^\x20-\x5b\x5d-\x7b\x7d\x7e]/;
const UNSAFE_G = /[^\x20-\x5b\x5d-\x7b\x7d\x7e]/g;

function escapeUnit(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff
    ? "\\x" + code.toString(16).padStart(2, "0")
    : "\\u" + code.toString(16).padStart(4, "0");
}

/** Escape one field value for the text format (see UNSAFE). Fast path: most values are clean. */
export function escapeValue(value: string): string {
  return UNSAFE.test(value) ? value.replace(UNSAFE_G, escapeUnit) : value;
}

/** Integers (status, bytes). A non-finite number is a bug upstream; log "-" rather than "NaN". */
function int(n: number): string {
  return Number.isFinite(n) ? String(Math.trunc(n)) : "-";
}

/** Durations: two decimals of milliseconds, as the original project printed them. */
function ms(n: number): string {
  // Microsecond resolution: a cache hit takes a few µs, and "0.00ms" said nothing about it.
  return Number.isFinite(n) ? n.toFixed(3) + "ms" : "-";
}

/**
 * ISO 8601 UTC with milliseconds. toISOString() throws on out-of-range dates; a log line must
 * never throw. Consecutive lines almost always share the second, so the "YYYY-MM-DDTHH:MM:SS."
 * prefix is cached (toISOString is ~30% of the cost of a whole text line).
 */
let cachedSecond = NaN;
let cachedPrefix = "";
export function isoTime(epochMs: number): string {
  if (!Number.isFinite(epochMs) || Math.abs(epochMs) > 8.64e15) return "-";
  const t = Math.floor(epochMs);
  const sec = Math.floor(t / 1000);
  const milli = t - sec * 1000;
  // Years outside 0000-9999 use the ±YYYYYY form; not worth caching.
  if (sec !== cachedSecond) {
    const iso = new Date(t).toISOString();
    if (iso.length !== 24) return iso;
    cachedSecond = sec;
    cachedPrefix = iso.slice(0, 20);
  }
  return cachedPrefix + (milli < 10 ? "00" : milli < 100 ? "0" : "") + milli + "Z";
}

/** isoTime(epochMs) written into buf at off; the cached prefix is copied, nothing is built. */
export function writeIsoTime(buf: Uint8Array, off: number, epochMs: number): number {
  if (!Number.isFinite(epochMs) || Math.abs(epochMs) > 8.64e15) return ascii(buf, off, "-");
  const t = Math.floor(epochMs);
  const sec = Math.floor(t / 1000);
  if (sec !== cachedSecond) {
    const iso = isoTime(t);
    if (iso.length !== 24) return ascii(buf, off, iso);
  }
  off = ascii(buf, off, cachedPrefix);
  const milli = t - sec * 1000;
  if (milli < 100) buf[off++] = 48;
  if (milli < 10) buf[off++] = 48;
  off = uint(buf, off, milli);
  buf[off] = 90; // "Z"
  return off + 1;
}

/**
 * The level of a coded line comes from the error registry: a missing file (FILE_NOT_FOUND) or
 * an unrouted path (NO_ROUTE) is routine traffic and stays INFO; a refused or misbehaving
 * client is WARN (probing codes such as PATH_TRAVERSAL among them); our side or an upstream
 * failing is ERROR.
 */
const LEVELS = { info: "INFO", warn: "WARN", error: "ERROR" } as const;

/** INFO / WARN / ERROR: the error registry's level for the code (src/errors.ts), else by status. */
export function levelOf(r: AccessRecord): "INFO" | "WARN" | "ERROR" {
  if (r.error !== undefined && r.error !== "") {
    const info = errorInfo(r.error);
    if (info !== undefined) return LEVELS[info.level];
    return r.status >= 500 ? "ERROR" : "WARN";
  }
  return r.status >= 500 ? "ERROR" : "INFO";
}

/** One access-log line in the text format, newline-terminated. */
export function formatText(r: AccessRecord): string {
  let line =
    "[" + levelOf(r) + "] DREAM_SERVER REQUEST" +
    " | time=" + isoTime(r.time) +
    " | id=" + escapeValue(r.id) +
    " | ip=" + escapeValue(r.ip) +
    " | method=" + escapeValue(r.method) +
    " | path=" + escapeValue(r.path) +
    " | host=" + escapeValue(r.host) +
    " | status=" + int(r.status) +
    " | bytes=" + int(r.bytes) +
    " | latency=" + ms(r.latencyMs);
  if (r.error !== undefined) line += " | error=" + escapeValue(r.error);
  if (r.upstream !== undefined) line += " | upstream=" + escapeValue(r.upstream);
  if (r.upstreamStatus !== undefined) line += " | upstream_status=" + int(r.upstreamStatus);
  if (r.upstreamConnectMs !== undefined) line += " | upstream_connect=" + ms(r.upstreamConnectMs);
  if (r.upstreamTtfbMs !== undefined) line += " | upstream_ttfb=" + ms(r.upstreamTtfbMs);
  if (r.cache !== undefined) line += " | cache=" + escapeValue(r.cache);
  if (r.proto !== undefined) line += " | proto=" + escapeValue(r.proto);
  if (r.tlsVersion !== undefined) line += " | tls=" + escapeValue(r.tlsVersion);
  if (r.tlsCipher !== undefined) line += " | cipher=" + escapeValue(r.tlsCipher);
  if (r.sni !== undefined) line += " | sni=" + escapeValue(r.sni);
  if (r.userAgent !== undefined) line += " | user_agent=" + escapeValue(r.userAgent);
  // Our own lowercase hex: nothing to escape.
  if (r.traceId !== undefined) line += " | trace_id=" + r.traceId + " | span_id=" + r.spanId;
  return line + "\n";
}

/**
 * formatText(r) written as bytes into buf at off, without building the line; returns the offset
 * after the "\n". The caller reserves lineBound(textChars(r)) bytes first.
 */
export function encodeText(r: AccessRecord, buf: Uint8Array, off: number): number {
  buf[off++] = 91; // "["
  off = ascii(buf, off, levelOf(r));
  off = ascii(buf, off, "] DREAM_SERVER REQUEST | time=");
  off = writeIsoTime(buf, off, r.time);
  off = ascii(buf, off, " | id=");
  off = textValue(buf, off, r.id);
  off = middleSegment(buf, off, r);
  off = textMs(buf, off, r.latencyMs);
  if (r.error !== undefined) off = textValue(buf, ascii(buf, off, " | error="), r.error);
  if (r.upstream !== undefined) off = textValue(buf, ascii(buf, off, " | upstream="), r.upstream);
  if (r.upstreamStatus !== undefined) off = textInt(buf, ascii(buf, off, " | upstream_status="), r.upstreamStatus);
  if (r.upstreamConnectMs !== undefined) off = textMs(buf, ascii(buf, off, " | upstream_connect="), r.upstreamConnectMs);
  if (r.upstreamTtfbMs !== undefined) off = textMs(buf, ascii(buf, off, " | upstream_ttfb="), r.upstreamTtfbMs);
  if (r.cache !== undefined) off = textValue(buf, ascii(buf, off, " | cache="), r.cache);
  if (r.proto !== undefined) off = textValue(buf, ascii(buf, off, " | proto="), r.proto);
  if (r.tlsVersion !== undefined) off = textValue(buf, ascii(buf, off, " | tls="), r.tlsVersion);
  if (r.tlsCipher !== undefined) off = textValue(buf, ascii(buf, off, " | cipher="), r.tlsCipher);
  if (r.sni !== undefined) off = textValue(buf, ascii(buf, off, " | sni="), r.sni);
  if (r.userAgent !== undefined) off = textValue(buf, ascii(buf, off, " | user_agent="), r.userAgent);
  if (r.traceId !== undefined) {
    // As formatText: our own hex ids, written as they are (String() mirrors "+" on undefined).
    off = ascii(buf, ascii(buf, off, " | trace_id="), r.traceId);
    off = ascii(buf, ascii(buf, off, " | span_id="), String(r.spanId));
  }
  buf[off] = 10;
  return off + 1;
}

/**
 * " | ip=… | method=… | path=… | host=… | status=… | bytes=… | latency=" as encodeText writes
 * it, copied from the bytes of the last record when those six fields are the same: a client's
 * keep-alive requests for one resource repeat all of them, and escaping them char by char was
 * the biggest part of the log's cost per static request (docs/performance.md, "Allocations per
 * request"). The memo holds one segment (at most a few KiB: the fields are bounded by the head
 * limits); a miss encodes as before and keeps a copy.
 */
const middle = { ip: "", method: "", path: "", host: "", status: -1, bytes: -1, seg: new Uint8Array(0) };
function middleSegment(buf: Uint8Array, off: number, r: AccessRecord): number {
  const m = middle;
  if (r.bytes === m.bytes && r.status === m.status && r.path === m.path && r.ip === m.ip && r.host === m.host && r.method === m.method && m.seg.length > 0) {
    const seg = m.seg;
    const n = seg.length;
    if (n <= 256) for (let i = 0; i < n; i++) buf[off + i] = seg[i]!;
    else buf.set(seg, off);
    return off + n;
  }
  const start = off;
  off = ascii(buf, off, " | ip=");
  off = textValue(buf, off, r.ip);
  off = ascii(buf, off, " | method=");
  off = textValue(buf, off, r.method);
  off = ascii(buf, off, " | path=");
  off = textValue(buf, off, r.path);
  off = ascii(buf, off, " | host=");
  off = textValue(buf, off, r.host);
  off = ascii(buf, off, " | status=");
  off = textInt(buf, off, r.status);
  off = ascii(buf, off, " | bytes=");
  off = textInt(buf, off, r.bytes);
  off = ascii(buf, off, " | latency=");
  // Only integral, non-negative numbers and short fields are worth keeping (-0, NaN and huge
  // values have their own spellings; a very long path would pin a large copy).
  if (Number.isInteger(r.status) && Number.isInteger(r.bytes) && !Object.is(r.bytes, -0) && !Object.is(r.status, -0) && off - start <= 4096) {
    m.ip = r.ip;
    m.method = r.method;
    m.path = r.path;
    m.host = r.host;
    m.status = r.status;
    m.bytes = r.bytes;
    // A copy: `buf` is the log writer's reused staging Buffer, whose slice() would be a view.
    m.seg = Uint8Array.prototype.slice.call(buf, start, off);
  }
  return off;
}

/** Total length of a record's string fields: lineBound(recordChars(r)) bytes always suffice. */
export function recordChars(r: AccessRecord): number {
  return (
    r.id.length + r.ip.length + r.method.length + r.path.length + r.host.length +
    (r.error?.length ?? 0) + (r.upstream?.length ?? 0) + (r.tlsVersion?.length ?? 0) + (r.tlsCipher?.length ?? 0) +
    (r.cache?.length ?? 0) + (r.proto?.length ?? 0) +
    (r.sni?.length ?? 0) + (r.userAgent?.length ?? 0) + (r.traceId?.length ?? 0) + (r.spanId?.length ?? 9)
  );
}
