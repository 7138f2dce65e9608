/**
 * Harness for the golden wire tables (DESIGN.md lesson 4): a case is raw bytes plus the
 * expected parse, and every case is fed (a) whole, (b) split into two pushes at EVERY byte
 * offset, (c) one byte at a time. All feeds must give the very same outcome: same messages,
 * same body bytes (concatenated), same trailers, same error status + code.
 *
 * The driver behaves like the connection engine: push, drain next() until null, and after the
 * last push call finish() (the peer closed). It stops at the first error event. After a
 * 101 response (or, when asked, a request head with an Upgrade) it calls takeRemaining() and
 * every later byte belongs to the tunnel.
 */
import { expect } from "bun:test";
import { DEFAULT_LIMITS, type Limits } from "../../src/config/config.ts";
import type { RequestHead, ResponseHead } from "../../src/http1/message-head.ts";
import { MessageParser, type ParseEvent } from "../../src/http1/message-parser.ts";

export type Pairs = [string, string][];

/** One parsed message as the tables describe it. */
export interface Msg {
  // request heads
  method?: string;
  target?: string;
  form?: string;
  path?: string;
  query?: string;
  host?: string;
  expectContinue?: boolean;
  upgrade?: string | null;
  // response heads
  status?: number;
  reason?: string;
  // both
  minor?: 0 | 1;
  bodyKind?: string;
  contentLength?: number;
  keepAlive?: boolean;
  connection?: string[];
  headBytes?: number;
  headers?: Pairs;
  /** Body bytes of all body events, concatenated, as latin1. */
  body?: string;
  /** An "end" event was seen for this message. */
  ended?: boolean;
  trailers?: Pairs | null;
}

export interface Rejection {
  status: number;
  code: string;
  /** Messages (possibly partial) emitted before the error; default: none. */
  messages?: Msg[];
}

export interface WireCase {
  name: string;
  /** Raw bytes as a latin1 string (every char code is one byte). */
  bytes: string;
  expect: Msg[] | Rejection;
  /** Small limits keep limit tests fast; merged over DEFAULT_LIMITS. */
  limits?: Partial<Limits>;
  /** Response mode: methods passed to expectResponseTo(), in order. */
  methods?: string[];
  /** Request mode: switch to tunnel mode after a head whose Upgrade is set. */
  tunnelOnUpgrade?: boolean;
  /** Bytes expected to reach the tunnel after takeRemaining(). */
  tunnel?: string;
  /** Skip the one-byte-at-a-time and every-offset feeds (huge inputs). */
  wholeOnly?: boolean;
}

export interface Outcome {
  messages: Msg[];
  error: { status: number; code: string } | null;
  tunnel: string | null;
}

const latin1 = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("latin1");

export function bytesOf(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "latin1"));
}

function summarizeHead(h: RequestHead | ResponseHead): Msg {
  const pairs = h.headers.pairs();
  if ("method" in h) {
    return {
      method: h.method,
      target: h.target,
      form: h.form,
      path: h.path,
      query: h.query,
      minor: h.minor,
      host: h.host,
      bodyKind: h.bodyKind,
      contentLength: h.contentLength,
      keepAlive: h.keepAlive,
      expectContinue: h.expectContinue,
      upgrade: h.upgrade,
      connection: [...h.connection],
      headBytes: h.headBytes,
      headers: pairs,
      body: "",
      ended: false,
      trailers: null,
    };
  }
  return {
    status: h.status,
    reason: h.reason,
    minor: h.minor,
    bodyKind: h.bodyKind,
    contentLength: h.contentLength,
    keepAlive: h.keepAlive,
    connection: [...h.connection],
    headBytes: h.headBytes,
    headers: pairs,
    body: "",
    ended: false,
    trailers: null,
  };
}

export interface DriveOptions {
  kind: "request" | "response";
  limits?: Partial<Limits>;
  methods?: string[];
  tunnelOnUpgrade?: boolean;
}

export function limitsOf(l?: Partial<Limits>): Limits {
  return { ...DEFAULT_LIMITS, ...l };
}

/** Feeds the chunks like the connection engine and records the outcome. */
export function drive(chunks: Uint8Array[], opts: DriveOptions): Outcome {
  const parser = new MessageParser(opts.kind, limitsOf(opts.limits));
  for (const m of opts.methods ?? []) parser.expectResponseTo(m);
  const out: Outcome = { messages: [], error: null, tunnel: null };
  let cur: Msg | null = null;

  const onEvent = (ev: ParseEvent): "go" | "stop" | "tunnel" => {
    switch (ev.type) {
      case "head": {
        if (cur && !cur.ended && cur.bodyKind !== "none" && !(cur.status !== undefined && cur.status < 200)) {
          throw new Error("head while the previous message body is unfinished");
        }
        cur = summarizeHead(ev.head);
        out.messages.push(cur);
        const h = ev.head as Partial<RequestHead & ResponseHead>;
        if ((opts.kind === "response" && h.status === 101) || (opts.kind === "request" && opts.tunnelOnUpgrade && h.upgrade)) return "tunnel";
        return "go";
      }
      case "body":
        if (!cur || cur.ended) throw new Error("body event outside a message");
        if (ev.data.byteLength === 0) throw new Error("empty body event");
        cur.body += latin1(ev.data);
        return "go";
      case "end":
        if (!cur || cur.ended) throw new Error("end event outside a message");
        cur.ended = true;
        cur.trailers = ev.trailers ? ev.trailers.pairs() : null;
        return "go";
      case "error":
        out.error = { status: ev.error.status, code: ev.error.code };
        // Errors are sticky: the parser is dead and keeps reporting the same error.
        if (parser.failed !== ev.error) throw new Error("failed getter disagrees with the error event");
        return "stop";
    }
  };

  for (const chunk of chunks) {
    if (out.tunnel !== null) {
      out.tunnel += latin1(chunk);
      continue;
    }
    parser.push(chunk);
    for (let ev = parser.next(); ev !== null; ev = parser.next()) {
      const r = onEvent(ev);
      if (r === "stop") return out;
      if (r === "tunnel") {
        out.tunnel = latin1(parser.takeRemaining());
        if (parser.next() !== null) throw new Error("events after takeRemaining()");
        break;
      }
    }
  }
  if (out.tunnel !== null) return out;
  const fin = parser.finish();
  if (fin) onEvent(fin);
  return out;
}

/** The three feed modes of a byte string. */
export function* feeds(bytes: Uint8Array, wholeOnly = false): Generator<[string, Uint8Array[]]> {
  yield ["whole", [bytes]];
  if (wholeOnly) return;
  for (let i = 1; i < bytes.length; i++) yield [`split@${i}`, [bytes.subarray(0, i), bytes.subarray(i)]];
  if (bytes.length > 1) {
    const ones: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) ones.push(bytes.subarray(i, i + 1));
    yield ["bytewise", ones];
  }
}

/** Splits bytes at the given offsets (sorted, deduplicated, clamped) into pushes. */
export function splitAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const cuts = [...new Set(offsets.map((o) => Math.max(0, Math.min(bytes.length, o))))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of cuts) {
    if (c > prev) out.push(bytes.subarray(prev, c));
    prev = c;
  }
  if (prev < bytes.length || out.length === 0) out.push(bytes.subarray(prev));
  return out;
}

/** Runs one table case in every feed mode and checks the expectation. */
export function runCase(c: WireCase, kind: "request" | "response"): void {
  // Each feed gets its own copy so no feed can observe another's buffers.
  const bytes = bytesOf(c.bytes);
  const opts: DriveOptions = { kind, limits: c.limits, methods: c.methods, tunnelOnUpgrade: c.tunnelOnUpgrade };
  const whole = drive([bytes.slice()], opts);

  if (Array.isArray(c.expect)) {
    expect(whole.error).toBeNull();
    expect(whole.messages).toHaveLength(c.expect.length);
    expect(whole.messages).toMatchObject(c.expect);
  } else {
    expect(whole.error).toEqual({ status: c.expect.status, code: c.expect.code });
    const before = c.expect.messages ?? [];
    expect(whole.messages).toHaveLength(before.length);
    expect(whole.messages).toMatchObject(before);
  }
  if (c.tunnel !== undefined) expect(whole.tunnel).toBe(c.tunnel);
  else expect(whole.tunnel).toBeNull();

  for (const [mode, chunks] of feeds(bytes, c.wholeOnly)) {
    if (mode === "whole") continue;
    const got = drive(chunks.map((x) => x.slice()), opts);
    if (!Bun.deepEquals(got, whole)) {
      // Report the first diverging feed with a readable diff.
      expect({ mode, ...got }).toEqual({ mode, ...whole });
    }
  }
}
