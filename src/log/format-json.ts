/**
 * The JSON-lines access-log format: one object per line, for log shippers (Vector, Loki, jq).
 *
 * Keys, in this order: time (ISO 8601 UTC), id, ip, method, path, host, status, bytes,
 * latency_ms; then, only when present: error, upstream, upstream_status, upstream_connect_ms,
 * upstream_ttfb_ms, cache, proto, tls, cipher, sni, user_agent, trace_id, span_id. Durations are
 * numbers of milliseconds rounded to microseconds.
 */
import type { AccessRecord } from "./access-record.ts";
import { isoTime, writeIsoTime } from "./format-text.ts";
import { ascii, jsonMs, jsonNumber, jsonString } from "./line-bytes.ts";

/**
 * JSON.stringify already escapes `"`, `\`, C0 controls and (ES2019 well-formed stringify) lone
 * surrogates, so the output is one valid JSON line. It leaves DEL, C1 controls (0x80-0x9f, where
 * 0x9b is CSI for some terminals) and U+2028/U+2029 raw; the latter two are line terminators for
 * JavaScript, and some line splitters treat them as newlines. We escape every code unit >= 0x7f
 * as \uHHHH, so each line is plain ASCII and still parses back to exactly the same strings.
 * This replacement is safe on the whole serialized line: outside string literals JSON.stringify
 * only emits ASCII.
 */
const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_G = /[\u007f-\uffff]/g;

function escapeUnit(c: string): string {
  return "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
}

/** Millisecond durations with microsecond resolution; non-finite → null (what JSON can say). */
function ms(n: number): number | null {
  return Number.isFinite(n) ? Math.round(n * 1000) / 1000 : null;
}

/** One access-log line as JSON, newline-terminated. */
export function formatJson(r: AccessRecord): string {
  const o: Record<string, unknown> = {
    time: isoTime(r.time),
    id: r.id,
    ip: r.ip,
    method: r.method,
    path: r.path,
    host: r.host,
    status: r.status,
    bytes: r.bytes,
    latency_ms: ms(r.latencyMs),
  };
  if (r.error !== undefined) o.error = r.error;
  if (r.upstream !== undefined) o.upstream = r.upstream;
  if (r.upstreamStatus !== undefined) o.upstream_status = r.upstreamStatus;
  if (r.upstreamConnectMs !== undefined) o.upstream_connect_ms = ms(r.upstreamConnectMs);
  if (r.upstreamTtfbMs !== undefined) o.upstream_ttfb_ms = ms(r.upstreamTtfbMs);
  if (r.cache !== undefined) o.cache = r.cache;
  if (r.proto !== undefined) o.proto = r.proto;
  if (r.tlsVersion !== undefined) o.tls = r.tlsVersion;
  if (r.tlsCipher !== undefined) o.cipher = r.tlsCipher;
  if (r.sni !== undefined) o.sni = r.sni;
  if (r.userAgent !== undefined) o.user_agent = r.userAgent;
  if (r.traceId !== undefined) {
    o.trace_id = r.traceId;
    o.span_id = r.spanId;
  }
  const s = JSON.stringify(o);
  return (NON_ASCII.test(s) ? s.replace(NON_ASCII_G, escapeUnit) : s) + "\n";
}

/**
 * formatJson(r) written as bytes into buf at off, without building the object or the string;
 * returns the offset after the "\n". The caller reserves lineBound(recordChars(r)) bytes first.
 * Optional fields follow formatJson exactly, including JSON.stringify's rule that a key whose
 * value is undefined is left out (span_id without a value).
 */
export function encodeJson(r: AccessRecord, buf: Uint8Array, off: number): number {
  off = ascii(buf, off, '{"time":"');
  off = writeIsoTime(buf, off, r.time);
  off = jsonString(buf, ascii(buf, off, '","id":'), r.id);
  off = jsonString(buf, ascii(buf, off, ',"ip":'), r.ip);
  off = jsonString(buf, ascii(buf, off, ',"method":'), r.method);
  off = jsonString(buf, ascii(buf, off, ',"path":'), r.path);
  off = jsonString(buf, ascii(buf, off, ',"host":'), r.host);
  off = jsonNumber(buf, ascii(buf, off, ',"status":'), r.status);
  off = jsonNumber(buf, ascii(buf, off, ',"bytes":'), r.bytes);
  off = jsonMs(buf, ascii(buf, off, ',"latency_ms":'), r.latencyMs);
  if (r.error !== undefined) off = jsonString(buf, ascii(buf, off, ',"error":'), r.error);
  if (r.upstream !== undefined) off = jsonString(buf, ascii(buf, off, ',"upstream":'), r.upstream);
  if (r.upstreamStatus !== undefined) off = jsonNumber(buf, ascii(buf, off, ',"upstream_status":'), r.upstreamStatus);
  if (r.upstreamConnectMs !== undefined) off = jsonMs(buf, ascii(buf, off, ',"upstream_connect_ms":'), r.upstreamConnectMs);
  if (r.upstreamTtfbMs !== undefined) off = jsonMs(buf, ascii(buf, off, ',"upstream_ttfb_ms":'), r.upstreamTtfbMs);
  if (r.cache !== undefined) off = jsonString(buf, ascii(buf, off, ',"cache":'), r.cache);
  if (r.proto !== undefined) off = jsonString(buf, ascii(buf, off, ',"proto":'), r.proto);
  if (r.tlsVersion !== undefined) off = jsonString(buf, ascii(buf, off, ',"tls":'), r.tlsVersion);
  if (r.tlsCipher !== undefined) off = jsonString(buf, ascii(buf, off, ',"cipher":'), r.tlsCipher);
  if (r.sni !== undefined) off = jsonString(buf, ascii(buf, off, ',"sni":'), r.sni);
  if (r.userAgent !== undefined) off = jsonString(buf, ascii(buf, off, ',"user_agent":'), r.userAgent);
  if (r.traceId !== undefined) {
    off = jsonString(buf, ascii(buf, off, ',"trace_id":'), r.traceId);
    if (r.spanId !== undefined) off = jsonString(buf, ascii(buf, off, ',"span_id":'), r.spanId);
  }
  buf[off] = 125; // "}"
  buf[off + 1] = 10;
  return off + 2;
}
