/**
 * Differential fuzz of parse → prepare → forward → parse (the hardening issue's acceptance test):
 * every request the parser accepts must reach the upstream with exactly the framing we parsed,
 * so the upstream can never see a different message boundary than we did (request smuggling).
 *
 * Requests are generated from a seeded PRNG (seed: fc-seed.ts, FC_SEED to override; printed in
 * every failure with the case number) and mutated: random bytes (controls, SP/HTAB, ",", 0x80-0xFF)
 * around Transfer-Encoding / Content-Length / Connection list elements, duplicated framing fields,
 * case changes, obs-fold, bare LF / bare CR, both CL and TE, chunk extensions, tiny chunks,
 * trailers and random byte edits. For each accepted request:
 *  - the head is prepared with prepareUpstreamRequest and the body re-framed exactly as
 *    proxy-handler.ts does it (frameChunk / LAST_CHUNK / lastChunkWithTrailers when chunked,
 *    verbatim for Content-Length), with trailers filtered by forwardableTrailers;
 *  - a fresh parser must read exactly one request from the forwarded bytes: same method and
 *    target, same body bytes, same body kind (chunked→chunked, length→length with the same
 *    length, none→none), the forwarded trailers, and nothing left over;
 *  - the input parses the same when split at every offset (short inputs) or at random offsets.
 */
import { describe, expect, test } from "bun:test";
import { DEFAULT_LIMITS } from "../../src/config/config.ts";
import type { HeaderList } from "../../src/http1/header-list.ts";
import type { RequestHead } from "../../src/http1/message-head.ts";
import { MessageParser, type ParseEvent } from "../../src/http1/message-parser.ts";
import { LAST_CHUNK, frameChunk, lastChunkWithTrailers } from "../../src/http1/serialize.ts";
import { TrustedProxies } from "../../src/proxy/cidr.ts";
import { connectionNamed } from "../../src/proxy/hop-by-hop.ts";
import { prepareUpstreamRequest, refuseReason, wantsWebSocketTunnel } from "../../src/proxy/prepare-request.ts";
import { forwardableTrailers } from "../../src/proxy/trailers.ts";
import { FC_SEED } from "./fc-seed.ts";
import { bytesOf, drive, splitAt } from "./http1-wire-harness.ts";

const CASES = Number(process.env.FRAMING_FUZZ_CASES ?? 3000);

/** mulberry32: small, fast, good enough to drive a fuzzer deterministically. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const chance = (r: Rand, p: number): boolean => r() < p;

/** Bytes that break lenient parsers: OWS and its look-alikes, separators, controls, obs-text. */
const NASTY = [0x20, 0x09, 0x2c, 0x3b, 0x22, 0x00, 0x0b, 0x0c, 0x0d, 0x0a, 0x7f, 0x80, 0x85, 0xa0, 0xc0, 0xe9, 0xff, 0x1f, 0x3d, 0x2f];
const nastyByte = (r: Rand): string => String.fromCharCode(chance(r, 0.7) ? pick(r, NASTY) : int(r, 256));

interface Gen {
  method: string;
  target: string;
  minor: 0 | 1;
  headers: [string, string][];
  body: string;
  framing: "none" | "cl" | "chunked";
}

const TE_VALUES = ["chunked", "Chunked", "CHUNKED", "chunked ", "gzip, chunked", "chunked, chunked", "identity", "chunked,", " ,chunked", "chunked;q=1", "xchunked"];
const CONNECTION_VALUES = ["keep-alive", "close", "Keep-Alive, Upgrade", "upgrade", "x-secret, close", "te, trailer", "content-length", "transfer-encoding", "host"];

function generate(r: Rand): Gen {
  const framing = pick(r, ["none", "cl", "chunked", "chunked"] as const);
  const method = framing === "none" ? pick(r, ["GET", "GET", "HEAD", "DELETE", "POST", "OPTIONS"]) : pick(r, ["POST", "PUT", "PATCH"]);
  const target = pick(r, ["/", "/a/b?x=1", "/p%20q", "/?", "http://h.example/abs?q"]);
  const headers: [string, string][] = [["Host", pick(r, ["h.example", "h.example:8080", "[::1]:81"])]];
  const bodyLen = framing === "none" ? 0 : int(r, 40);
  let body = "";
  for (let i = 0; i < bodyLen; i++) body += String.fromCharCode(int(r, 256));
  if (chance(r, 0.4)) headers.push(["Connection", pick(r, CONNECTION_VALUES)]);
  if (chance(r, 0.2)) headers.push(["Upgrade", pick(r, ["websocket", "h2c", "WebSocket/13"])]);
  if (chance(r, 0.2)) headers.push(["X-Secret", "s"]);
  if (chance(r, 0.2)) headers.push([pick(r, ["X_Forwarded_For", "Content_Length", "Transfer_Encoding"]), "1"]);
  if (chance(r, 0.15)) headers.push(["Expect", "100-continue"]);
  if (chance(r, 0.1)) headers.push(["TE", "trailers"]);
  if (framing === "cl") headers.push(["Content-Length", String(bodyLen)]);
  if (framing === "chunked") headers.push(["Transfer-Encoding", chance(r, 0.7) ? "chunked" : pick(r, TE_VALUES)]);
  return { method, target, minor: chance(r, 0.9) ? 1 : 0, headers, body, framing };
}

function chunkedBody(r: Rand, body: string): string {
  let s = "";
  let i = 0;
  const tiny = chance(r, 0.2);
  while (i < body.length) {
    const n = tiny ? 1 : 1 + int(r, Math.min(16, body.length - i));
    let size = n.toString(16);
    if (chance(r, 0.2)) size = size.toUpperCase();
    if (chance(r, 0.1)) size = "0" + size;
    let ext = "";
    if (chance(r, 0.15)) ext = pick(r, [";a=b", ";x", ' ; q="v;w"', ";\xe9", ";" + "e".repeat(int(r, 60))]);
    s += size + ext + "\r\n" + body.slice(i, i + n) + "\r\n";
    i += n;
  }
  s += "0" + (chance(r, 0.1) ? ";last" : "") + "\r\n";
  if (chance(r, 0.3)) {
    const trailers = ["X-Checksum: abc", "Host: evil.example", "Content-Length: 5", "X-Forwarded-For: 6.6.6.6", "Transfer-Encoding: chunked", "X_Sum: 1", "Set-Cookie: a=b"];
    const count = 1 + int(r, 3);
    for (let k = 0; k < count; k++) s += pick(r, trailers) + "\r\n";
  }
  return s + "\r\n";
}

/** Insert a nasty byte before/after one element of a list value. */
function dirtyListValue(r: Rand, value: string): string {
  const parts = value.split(",");
  const k = int(r, parts.length);
  parts[k] = chance(r, 0.5) ? nastyByte(r) + parts[k] : parts[k] + nastyByte(r);
  return parts.join(",");
}

function serialize(r: Rand, g: Gen): string {
  const headers = g.headers.map(([n, v]) => [n, v] as [string, string]);
  const framingIdx = headers.findIndex(([n]) => /^(transfer-encoding|content-length|connection|upgrade)$/i.test(n));
  // ---- head mutations -----------------------------------------------------------------
  const muts = int(r, 4);
  for (let m = 0; m < muts; m++) {
    switch (int(r, 8)) {
      case 0:
      case 1: {
        // nasty byte around a list element of a framing/connection field
        if (framingIdx >= 0) {
          const i = chance(r, 0.7) ? framingIdx : int(r, headers.length);
          headers[i]![1] = dirtyListValue(r, headers[i]![1]);
        }
        break;
      }
      case 2: {
        // duplicate a framing-related field (same or different value)
        const src = headers[int(r, headers.length)]!;
        headers.splice(int(r, headers.length + 1), 0, [src[0], chance(r, 0.5) ? src[1] : pick(r, ["chunked", "0", "5", "close", "h.example"])]);
        break;
      }
      case 3: {
        // case change of a name
        const i = int(r, headers.length);
        headers[i]![0] = chance(r, 0.5) ? headers[i]![0].toUpperCase() : headers[i]![0].toLowerCase();
        break;
      }
      case 4:
        // both Content-Length and Transfer-Encoding
        headers.push(chance(r, 0.5) ? ["Content-Length", String(g.body.length)] : ["Transfer-Encoding", "chunked"]);
        break;
      case 5: {
        // obs-fold
        const i = int(r, headers.length);
        headers[i]![1] = headers[i]![1] + "\r\n" + pick(r, [" ", "\t"]) + "x";
        break;
      }
      default:
        break;
    }
  }
  const start = `${g.method} ${g.target} HTTP/1.${g.minor}\r\n`;
  let head = start + headers.map(([n, v]) => `${n}: ${v}\r\n`).join("") + "\r\n";
  const body = g.framing === "chunked" ? chunkedBody(r, g.body) : g.body;
  // ---- byte-level mutations -----------------------------------------------------------
  if (chance(r, 0.15)) {
    // a bare LF or bare CR instead of one CRLF
    const crlfs: number[] = [];
    for (let i = head.indexOf("\r\n"); i >= 0; i = head.indexOf("\r\n", i + 2)) crlfs.push(i);
    const at = pick(r, crlfs);
    head = head.slice(0, at) + (chance(r, 0.5) ? "\n" : "\r") + head.slice(at + 2);
  }
  let wire = head + body;
  const edits = chance(r, 0.25) ? 1 + int(r, 2) : 0;
  for (let e = 0; e < edits; e++) {
    const at = int(r, wire.length + 1);
    const op = int(r, 3);
    if (op === 0) wire = wire.slice(0, at) + nastyByte(r) + wire.slice(at);
    else if (op === 1 && at < wire.length) wire = wire.slice(0, at) + nastyByte(r) + wire.slice(at + 1);
    else if (at < wire.length) wire = wire.slice(0, at) + wire.slice(at + 1);
  }
  return wire;
}

interface Parsed {
  head: RequestHead;
  body: Buffer;
  trailers: HeaderList | null;
}

function describeCase(n: number, wire: string): string {
  return `[FC_SEED=${FC_SEED} case ${n}] ${JSON.stringify(wire)}`;
}

describe("differential fuzz: forwarded framing equals parsed framing", () => {
  test(`${CASES} mutated requests (seed ${FC_SEED})`, () => {
    const r = prng(FC_SEED);
    let accepted = 0;
    let chunked = 0;
    let length = 0;
    let splitChecked = 0;
    for (let n = 0; n < CASES; n++) {
      const wire = serialize(r, generate(r));
      const bytes = bytesOf(wire);
      const what = describeCase(n, wire);

      // The same parse under every split (short inputs) or random splits (long ones).
      const whole = drive([bytes.slice()], { kind: "request", tunnelOnUpgrade: true });
      const offsets = bytes.length <= 160 ? Array.from({ length: bytes.length - 1 }, (_, i) => i + 1) : Array.from({ length: 8 }, () => 1 + int(r, bytes.length - 1));
      for (const k of offsets) {
        const got = drive(splitAt(bytes.slice(), [k]), { kind: "request", tunnelOnUpgrade: true });
        if (!Bun.deepEquals(got, whole)) expect({ what, split: k, ...got }).toEqual({ what, split: k, ...whole });
      }
      splitChecked++;

      const req = nextParsed(bytes);
      if (req === null) continue;
      const { head } = req;
      if (refuseReason(head)) continue;
      accepted++;
      const tunnel = wantsWebSocketTunnel(head);
      const prepared = prepareUpstreamRequest({
        head,
        clientIp: "192.0.2.1",
        clientProto: "http",
        requestId: "fuzz-id",
        upstream: { host: "up.example:80", basePath: "" },
        rewriteHost: false,
        trusted: TrustedProxies.none,
        tunnel,
        viaName: "fuzz",
      });

      // Re-frame exactly as proxy-handler.ts send()/data()/end() do.
      const parts: Buffer[] = [Buffer.from(prepared.headText, "latin1")];
      let sentTrailers: [string, string][] = [];
      if (prepared.bodyKind === "chunked") {
        // data() is called once per body event; here a few pieces of the body stand for them.
        for (let i = 0; i < req.body.length; ) {
          const n2 = 1 + int(r, req.body.length - i);
          parts.push(frameChunk(req.body.subarray(i, i + n2)));
          i += n2;
        }
        sentTrailers = req.trailers ? forwardableTrailers(req.trailers, connectionNamed(head.headers)) : [];
        parts.push(sentTrailers.length ? lastChunkWithTrailers(sentTrailers) : LAST_CHUNK);
      } else if (prepared.bodyKind === "length") {
        parts.push(req.body);
      }
      const forwarded = Buffer.concat(parts);

      // A fresh parser must see exactly one request with the framing we parsed.
      const up = new MessageParser("request", DEFAULT_LIMITS);
      up.push(forwarded);
      const events: ParseEvent[] = [];
      for (let ev = up.next(); ev !== null; ev = up.next()) {
        events.push(ev);
        if (ev.type === "error" || (ev.type === "head" && (ev.head as RequestHead).upgrade !== null)) break;
      }
      const ctx = { what, forwarded: forwarded.toString("latin1") };
      expect({ ...ctx, error: events.find((e) => e.type === "error") ?? null }).toEqual({ ...ctx, error: null });
      const heads = events.filter((e) => e.type === "head").map((e) => (e as { head: RequestHead }).head);
      expect({ ...ctx, heads: heads.length }).toEqual({ ...ctx, heads: 1 });
      const fh = heads[0]!;
      const gotBody = Buffer.concat(events.filter((e) => e.type === "body").map((e) => Buffer.from((e as { data: Uint8Array }).data)));
      const end = events.find((e) => e.type === "end") as { trailers: HeaderList | null } | undefined;
      const expectKind = head.bodyKind === "close" ? "chunked" : head.bodyKind;
      expect({ ...ctx, method: fh.method, target: fh.target, kind: fh.bodyKind, length: fh.contentLength, body: gotBody.toString("latin1") }).toEqual({
        ...ctx,
        method: head.method,
        target: prepared.target,
        kind: expectKind,
        // A bodiless POST/PUT/PATCH is sent with Content-Length: 0, which parses as "none" with length 0.
        length: expectKind === "length" ? head.contentLength : fh.contentLength === 0 && head.bodyKind === "none" ? 0 : -1,
        body: req.body.toString("latin1"),
      });
      if (head.form === "origin") expect(fh.target).toBe(head.target);
      if (fh.upgrade === null) {
        // "end" follows a body (none for a bodiless request); then nothing is left over.
        expect({ ...ctx, ended: end !== undefined, leftover: up.buffered, idle: up.idle }).toEqual({ ...ctx, ended: fh.bodyKind !== "none", leftover: 0, idle: true });
        expect({ ...ctx, trailers: end?.trailers ? end.trailers.pairs() : [] }).toEqual({ ...ctx, trailers: sentTrailers });
      } else {
        expect({ ...ctx, tunnel, leftover: up.buffered }).toEqual({ ...ctx, tunnel: true, leftover: 0 });
      }
      if (expectKind === "chunked") chunked++;
      if (expectKind === "length") length++;
    }
    if (process.env.FRAMING_FUZZ_STATS) console.log({ accepted, chunked, length, cases: CASES });
    // The generator must actually reach the interesting region, or the test proves nothing.
    expect(accepted).toBeGreaterThan(CASES / 5);
    expect(chunked).toBeGreaterThan(CASES / 20);
    expect(length).toBeGreaterThan(CASES / 20);
    expect(splitChecked).toBe(CASES);
  });
});

/** The first request of `bytes` if it is complete and accepted (whole buffer, then EOF); a bodiless one is complete at its head. */
function nextParsed(bytes: Uint8Array): Parsed | null {
  const p = new MessageParser("request", DEFAULT_LIMITS);
  p.push(bytes);
  let head: RequestHead | null = null;
  const body: Buffer[] = [];
  for (let ev = p.next(); ; ev = p.next()) {
    if (ev === null) {
      if (head && head.bodyKind === "none") return { head, body: Buffer.alloc(0), trailers: null };
      const fin = p.finish();
      if (fin === null || fin.type !== "end" || !head) return null;
      return { head, body: Buffer.concat(body), trailers: fin.trailers };
    }
    if (ev.type === "error") return null;
    if (ev.type === "head") {
      if (head) return head.bodyKind === "none" ? { head, body: Buffer.alloc(0), trailers: null } : null;
      head = ev.head as RequestHead;
      if (head.bodyKind === "none") return { head, body: Buffer.alloc(0), trailers: null };
      continue;
    }
    if (ev.type === "body") {
      body.push(Buffer.from(ev.data));
      continue;
    }
    return { head: head!, body: Buffer.concat(body), trailers: ev.trailers };
  }
}
