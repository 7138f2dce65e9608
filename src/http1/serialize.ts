/**
 * Serialization of response heads and chunked framing (RFC 9112 §4, §7.1). Pure.
 * Heads are built as latin1 strings and encoded once: header values are bytes, not text.
 */
import type { HeaderPairs, PreparedHeaders, ResponseHeaders } from "../handler.ts";
import { statusText } from "./status.ts";

/** Serialize header lines once for reuse across responses (e.g. a cached file's head). */
export function prepareHeaders(pairs: HeaderPairs): PreparedHeaders {
  return { prepared: Buffer.from(headerLines(pairs), "latin1") };
}

export function isPrepared(h: ResponseHeaders): h is PreparedHeaders {
  return (h as PreparedHeaders).prepared !== undefined;
}

/**
 * Response headers as editable pairs. Prepared blocks (a cached file's serialized head) are
 * decoded back: only a middleware that edits the head pays for it.
 */
export function headerPairsOf(h: ResponseHeaders): [string, string][] {
  if (!isPrepared(h)) return h.map((p) => [p[0], p[1]] as [string, string]);
  const out: [string, string][] = [];
  const text = Buffer.from(h.prepared).toString("latin1");
  let pos = 0;
  while (pos < text.length) {
    const eol = text.indexOf("\r\n", pos);
    const line = text.slice(pos, eol < 0 ? text.length : eol);
    pos = eol < 0 ? text.length : eol + 2;
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    let v = colon + 1;
    while (v < line.length && (line.charCodeAt(v) === 0x20 || line.charCodeAt(v) === 0x09)) v++;
    out.push([line.slice(0, colon), line.slice(v)]);
  }
  return out;
}

/**
 * "Name: value\r\n" for each pair. CR/LF in a value would split the header: they are dropped here as a last line of defence.
 *
 * The block of the last call is kept with its names and values: a proxied backend answers with
 * the same fields response after response, and the HTTP/1 parser hands out the same value
 * strings for repeated values, so the compare is mostly pointer-equal strings and a hit builds
 * nothing (each `+` would be a new string cell, docs/performance.md "Allocations per request").
 */
const lastBlockNames: string[] = [];
const lastBlockValues: string[] = [];
let lastBlock = "";
export function headerLines(pairs: HeaderPairs): string {
  const n = pairs.length;
  if (n === 0) return "";
  if (n === lastBlockNames.length) {
    let i = 0;
    while (i < n && pairs[i]![0] === lastBlockNames[i] && pairs[i]![1] === lastBlockValues[i]) i++;
    if (i === n) return lastBlock;
  }
  const block = buildHeaderLines(pairs);
  if (n <= 32) {
    lastBlockNames.length = n;
    lastBlockValues.length = n;
    for (let i = 0; i < n; i++) {
      lastBlockNames[i] = pairs[i]![0];
      lastBlockValues[i] = pairs[i]![1];
    }
    lastBlock = block;
  }
  return block;
}

function buildHeaderLines(pairs: HeaderPairs): string {
  let s = "";
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!;
    const v = p[1];
    s += p[0] + ": " + (v.indexOf("\r") >= 0 || v.indexOf("\n") >= 0 ? v.replace(/[\r\n]/g, "") : v) + "\r\n";
  }
  return s;
}

/** "HTTP/1.1 200 OK\r\n" — cached per status. */
const statusLines = new Map<number, string>();
export function statusLine(status: number): string {
  let l = statusLines.get(status);
  if (l === undefined) {
    l = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
    statusLines.set(status, l);
  }
  return l;
}

/** A prepared block's last full head prefix, kept on the block itself (see preparedHeadWithLength). */
interface LengthHeadMemo {
  lengthHead?: { readonly status: number; readonly length: number; readonly bytes: Uint8Array };
}

/**
 * Status line + a prepared block + "Content-Length: n\r\n" as one buffer: the part of a
 * response head that is the same for every answer of a cached file. Memoised on the prepared
 * object for its last (status, length), so a hit costs one copy into the write arena instead of
 * three writes and a number formatted per response. The buffer is never mutated after it is
 * built (a write queue may hold it by reference).
 */
export function preparedHeadWithLength(h: PreparedHeaders, status: number, length: number): Uint8Array {
  const memo = (h as LengthHeadMemo).lengthHead;
  if (memo !== undefined && memo.status === status && memo.length === length) return memo.bytes;
  const sl = statusLine(status);
  const cl = "Content-Length: " + length + "\r\n";
  const block = h.prepared;
  const bytes = Buffer.allocUnsafe(sl.length + block.byteLength + cl.length);
  bytes.write(sl, 0, "latin1");
  bytes.set(block, sl.length);
  bytes.write(cl, sl.length + block.byteLength, "latin1");
  if (Object.isExtensible(h)) (h as LengthHeadMemo).lengthHead = { status, length, bytes };
  return bytes;
}

/** Chunk header for a data chunk of n bytes: "<hex>\r\n". */
export function chunkHeader(n: number): Buffer {
  return Buffer.from(n.toString(16) + "\r\n", "latin1");
}

/**
 * One data chunk in chunked framing: "<hex>\r\n" data "\r\n", as a single buffer so it
 * leaves in one write (the data is copied once; a syscall costs more than the copy).
 */
export function frameChunk(data: Uint8Array): Buffer {
  const h = chunkHeader(data.byteLength);
  const framed = Buffer.allocUnsafe(h.length + data.byteLength + 2);
  framed.set(h, 0);
  framed.set(data, h.length);
  framed[framed.length - 2] = 0x0d;
  framed[framed.length - 1] = 0x0a;
  return framed;
}

export const CRLF = Buffer.from("\r\n", "latin1");
export const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");

/** last-chunk with trailer fields (RFC 9112 §7.1.2). */
export function lastChunkWithTrailers(trailers: HeaderPairs): Buffer {
  return Buffer.from("0\r\n" + headerLines(trailers) + "\r\n", "latin1");
}

/**
 * The Date header value (RFC 9110 §6.6.1), regenerated at most once per second:
 * formatting a date per request is measurable on the hot path.
 */
let dateSecond = -1;
let dateValue = "";
export function httpDate(nowMs: number = Date.now()): string {
  const sec = Math.floor(nowMs / 1000);
  if (sec !== dateSecond) {
    dateSecond = sec;
    dateValue = new Date(sec * 1000).toUTCString();
  }
  return dateValue;
}

/**
 * "Date: …\r\nServer: …\r\nX-Request-ID: " — the fixed part of every response's trailing
 * header lines, rebuilt when the second (or the server name) changes rather than per response.
 */
let commonSecond = -1;
let commonName = "";
let commonValue = "";
export function dateServerIdPrefix(serverName: string, nowMs: number = Date.now()): string {
  const sec = Math.floor(nowMs / 1000);
  if (sec !== commonSecond || serverName !== commonName) {
    commonSecond = sec;
    commonName = serverName;
    commonValue = "Date: " + httpDate(nowMs) + "\r\nServer: " + serverName + "\r\nX-Request-ID: ";
  }
  return commonValue;
}
