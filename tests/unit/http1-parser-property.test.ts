/**
 * Property tests for the message parser (fast-check):
 * 1. random valid requests / responses, built from generated tokens, values and bodies, parse
 *    to exactly what was built, whatever the split points;
 * 2. random byte mutations never throw: the parser only returns events or an error, and the
 *    outcome does not depend on how the bytes were split (so a split feed can never yield, say,
 *    two heads where the whole-buffer parse of the same bytes yields one error).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import type { Limits } from "../../src/config/config.ts";
import { bytesOf, drive, splitAt, type DriveOptions, type Msg, type Outcome } from "./http1-wire-harness.ts";

const RUNS = Number(process.env.HTTP1_PROPERTY_RUNS ?? 300);

// ---- generators ---------------------------------------------------------------------------

const chars = (s: string) => fc.constantFrom(...s.split(""));
const TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const PCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@";
const token = (max = 10) => fc.string({ unit: chars(TCHAR), minLength: 1, maxLength: max });
/** field-vchar: VCHAR or obs-text. */
const vchar = fc.oneof(
  fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)),
  fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)),
);
/** A field value as the parser should report it: no leading/trailing whitespace. */
const fieldValue = fc
  .array(fc.oneof({ weight: 4, arbitrary: vchar }, { weight: 1, arbitrary: chars(" \t") }), { maxLength: 16 })
  .map((a) => a.join("").replace(/^[ \t]+|[ \t]+$/g, ""));
const ows = fc.string({ unit: chars(" \t"), maxLength: 2 });
const latin1Bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u).toString("latin1"));

const field = fc.record({ name: token().map((t) => "X-" + t), value: fieldValue, pre: ows, post: ows });
type Field = { name: string; value: string; pre: string; post: string };
const fieldLine = (f: Field) => `${f.name}:${f.pre}${f.value}${f.post}\r\n`;

const host = fc
  .tuple(fc.string({ unit: chars("abcdefghijklmnopqrstuvwxyz0123456789-."), minLength: 1, maxLength: 12 }), fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }))
  .map(([h, p]) => (p === undefined ? h : `${h}:${p}`));

const path = fc.array(fc.string({ unit: chars(PCHAR), maxLength: 8 }), { minLength: 1, maxLength: 4 }).map((segs) => "/" + segs.join("/"));
const query = fc.option(fc.string({ unit: chars(PCHAR + "/?"), maxLength: 12 }).map((q) => "?" + q), { nil: "" });

/** A chunked encoding of `body`: random chunk boundaries, hex case, leading zeros, extensions. */
const chunked = (body: string) =>
  fc
    .record({
      cuts: fc.array(fc.nat({ max: Math.max(0, body.length) }), { maxLength: 4 }),
      upper: fc.boolean(),
      zeros: fc.nat({ max: 2 }),
      ext: fc.option(fc.tuple(token(5), fc.option(token(5), { nil: undefined })), { nil: undefined }),
      trailers: fc.array(field, { maxLength: 2 }),
    })
    .map(({ cuts, upper, zeros, ext, trailers }) => {
      const points = [...new Set([0, ...cuts, body.length])].sort((a, b) => a - b);
      const extStr = ext ? `;${ext[0]}${ext[1] !== undefined ? "=" + ext[1] : ""}` : "";
      let s = "";
      for (let i = 0; i + 1 < points.length; i++) {
        const part = body.slice(points[i], points[i + 1]);
        if (part.length === 0) continue;
        let hex = "0".repeat(zeros) + part.length.toString(16);
        if (upper) hex = hex.toUpperCase();
        s += hex + extStr + "\r\n" + part + "\r\n";
      }
      s += "0" + extStr + "\r\n" + trailers.map(fieldLine).join("") + "\r\n";
      return { wire: s, trailers: trailers.length ? trailers.map((t) => [t.name, t.value] as [string, string]) : null };
    });

interface Built {
  wire: string;
  expect: Msg;
}

const requestArb: fc.Arbitrary<Built> = fc
  .record({
    method: token(8).filter((m) => m !== "CONNECT"),
    path,
    query,
    minor: fc.constantFrom(0 as const, 1 as const),
    host: fc.option(host, { nil: undefined }),
    hostName: fc.constantFrom("Host", "host", "HOST"),
    fields: fc.array(field, { maxLength: 5 }),
    conn: fc.constantFrom(undefined, "close", "keep-alive", "Keep-Alive, foo"),
    bodyMode: fc.constantFrom("none", "length", "chunked"),
    body: latin1Bytes(40),
  })
  .chain((r) => {
    const useChunked = r.bodyMode === "chunked" && r.minor === 1;
    return (useChunked ? chunked(r.body) : fc.constant(null)).map((ch): Built => {
      const hostValue = r.minor === 1 ? (r.host ?? "h.example") : r.host;
      const headers: [string, string][] = [];
      let head = `${r.method} ${r.path}${r.query} HTTP/1.${r.minor}\r\n`;
      if (hostValue !== undefined) {
        head += `${r.hostName}: ${hostValue}\r\n`;
        headers.push([r.hostName, hostValue]);
      }
      for (const f of r.fields) {
        head += fieldLine(f);
        headers.push([f.name, f.value]);
      }
      let body = "";
      let wireBody = "";
      let bodyKind = "none";
      let contentLength = -1;
      let ended = false;
      let trailers: [string, string][] | null = null;
      if (ch) {
        head += "Transfer-Encoding: chunked\r\n";
        headers.push(["Transfer-Encoding", "chunked"]);
        wireBody = ch.wire;
        body = r.body;
        bodyKind = "chunked";
        ended = true;
        trailers = ch.trailers;
      } else if (r.bodyMode !== "none") {
        head += `Content-Length: ${r.body.length}\r\n`;
        headers.push(["Content-Length", String(r.body.length)]);
        wireBody = body = r.body;
        contentLength = r.body.length;
        bodyKind = r.body.length === 0 ? "none" : "length";
        ended = r.body.length > 0;
      }
      if (r.conn !== undefined) {
        head += `Connection: ${r.conn}\r\n`;
        headers.push(["Connection", r.conn]);
      }
      head += "\r\n";
      const tokens = r.conn === undefined ? [] : r.conn.toLowerCase().split(",").map((t) => t.trim());
      const keepAlive = r.minor === 1 ? !tokens.includes("close") : tokens.includes("keep-alive");
      return {
        wire: head + wireBody,
        expect: {
          method: r.method,
          target: r.path + r.query,
          form: "origin",
          path: r.path,
          query: r.query,
          minor: r.minor,
          host: hostValue ?? "",
          bodyKind,
          contentLength,
          keepAlive,
          expectContinue: false,
          upgrade: null,
          connection: tokens,
          headBytes: head.length,
          headers,
          body,
          ended,
          trailers,
        },
      };
    });
  });

type RespBuilt = Built & { method: string };
const responseArb: fc.Arbitrary<RespBuilt> = fc
  .record({
    method: fc.constantFrom("GET", "POST", "HEAD"),
    status: fc.oneof(fc.constantFrom(200, 201, 204, 206, 301, 304, 404, 500, 503), fc.integer({ min: 200, max: 599 })),
    reason: fc.option(fc.string({ unit: chars("abcdefghij ABC"), maxLength: 12 }), { nil: undefined }),
    minor: fc.constantFrom(0 as const, 1 as const),
    fields: fc.array(field, { maxLength: 4 }),
    bodyMode: fc.constantFrom("length", "chunked"),
    body: latin1Bytes(40),
  })
  .chain((r) => {
    const useChunked = r.bodyMode === "chunked" && r.minor === 1;
    return (useChunked ? chunked(r.body) : fc.constant(null)).map((ch): RespBuilt => {
      const noBody = r.method === "HEAD" || r.status === 204 || r.status === 304;
      let head = `HTTP/1.${r.minor} ${r.status}${r.reason === undefined ? "" : " " + r.reason}\r\n`;
      const headers: [string, string][] = r.fields.map((f) => [f.name, f.value]);
      head += r.fields.map(fieldLine).join("");
      let wireBody = "";
      let m: Msg;
      if (ch) {
        head += "Transfer-Encoding: chunked\r\n\r\n";
        headers.push(["Transfer-Encoding", "chunked"]);
        wireBody = noBody ? "" : ch.wire;
        m = noBody
          ? { bodyKind: "none", contentLength: -1, body: "", ended: false, trailers: null }
          : { bodyKind: "chunked", contentLength: -1, body: r.body, ended: true, trailers: ch.trailers };
      } else {
        head += `Content-Length: ${r.body.length}\r\n\r\n`;
        headers.push(["Content-Length", String(r.body.length)]);
        wireBody = noBody ? "" : r.body;
        const none = noBody || r.body.length === 0;
        m = {
          bodyKind: none ? "none" : "length",
          // 204 drops the declared length; HEAD and 304 keep it (it describes the GET response).
          contentLength: r.status === 204 && r.method !== "HEAD" ? -1 : r.body.length,
          body: none ? "" : r.body,
          ended: !none,
          trailers: null,
        };
      }
      const reason = r.reason === undefined ? "" : r.reason;
      return {
        method: r.method,
        wire: head + wireBody,
        expect: { status: r.status, reason, minor: r.minor, keepAlive: r.minor === 1, connection: [], headBytes: head.length, headers, ...m },
      };
    });
  });

const splits = fc.array(fc.nat({ max: 4000 }), { maxLength: 8 });

// ---- properties: valid messages round-trip ------------------------------------------------

describe("property: valid messages parse to what was built, under any split", () => {
  test("pipelined requests", () => {
    fcAssert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 3 }), splits, (reqs, cuts) => {
        const bytes = bytesOf(reqs.map((r) => r.wire).join(""));
        const got = drive(splitAt(bytes, cuts), { kind: "request" });
        expect(got.error).toBeNull();
        expect(got.messages).toEqual(reqs.map((r) => r.expect));
      }),
      RUNS,
    );
  });

  test("pipelined requests, one byte at a time", () => {
    fcAssert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 2 }), (reqs) => {
        const bytes = bytesOf(reqs.map((r) => r.wire).join(""));
        const got = drive(splitAt(bytes, Array.from({ length: bytes.length }, (_, i) => i)), { kind: "request" });
        expect(got.error).toBeNull();
        expect(got.messages).toEqual(reqs.map((r) => r.expect));
      }),
      Math.ceil(RUNS / 3),
    );
  });

  test("pipelined responses for the expected methods", () => {
    fcAssert(
      fc.property(fc.array(responseArb, { minLength: 1, maxLength: 3 }), splits, (resps, cuts) => {
        const bytes = bytesOf(resps.map((r) => r.wire).join(""));
        const got = drive(splitAt(bytes, cuts), { kind: "response", methods: resps.map((r) => r.method) });
        expect(got.error).toBeNull();
        expect(got.messages).toEqual(resps.map((r) => r.expect));
      }),
      RUNS,
    );
  });
});

// ---- properties: mutations -----------------------------------------------------------------

type Mutation = { op: "set" | "insert" | "delete"; at: number; byte: number };
const interesting = [0x0d, 0x0a, 0x20, 0x09, 0x00, 0x3a, 0x3b, 0x2c, 0x30, 0x31, 0x66, 0x7f, 0xff, 0x0b];
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom("set", "insert", "delete"),
  at: fc.nat(),
  byte: fc.oneof(fc.constantFrom(...interesting), fc.integer({ min: 0, max: 255 })),
});

function mutate(wire: string, muts: Mutation[]): Uint8Array {
  const b = [...bytesOf(wire)];
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % (b.length + (m.op === "insert" ? 1 : 0));
    if (m.op === "set" && b.length) b[at] = m.byte;
    else if (m.op === "insert") b.splice(at, 0, m.byte);
    else if (m.op === "delete" && b.length) b.splice(at, 1);
  }
  return new Uint8Array(b);
}

/** Small limits so mutated messages also land on limit thresholds. */
const limitsArb: fc.Arbitrary<Partial<Limits> | undefined> = fc.option(
  fc.record({
    maxRequestLine: fc.integer({ min: 8, max: 80 }),
    maxHeaderLine: fc.integer({ min: 4, max: 60 }),
    maxHeaderBytes: fc.integer({ min: 8, max: 200 }),
    maxHeaderCount: fc.integer({ min: 1, max: 8 }),
    maxBodySize: fc.integer({ min: 0, max: 60 }),
    maxChunkLine: fc.integer({ min: 1, max: 20 }),
    maxTrailerBytes: fc.integer({ min: 0, max: 40 }),
  }),
  { nil: undefined },
);

function sameUnderSplits(bytes: Uint8Array, opts: DriveOptions, cuts: number[]): void {
  let whole: Outcome;
  try {
    whole = drive([bytes.slice()], opts);
  } catch (e) {
    throw new Error(`parser threw on ${JSON.stringify(Buffer.from(bytes).toString("latin1"))}: ${(e as Error).stack}`);
  }
  const split = drive(splitAt(bytes.slice(), cuts), opts);
  const bytewise = drive(splitAt(bytes.slice(), Array.from({ length: bytes.length }, (_, i) => i)), opts);
  expect(split).toEqual(whole);
  expect(bytewise).toEqual(whole);
}

describe("property: mutated bytes never throw and parse the same under any split", () => {
  test("requests", () => {
    fcAssert(
      fc.property(fc.array(requestArb, { minLength: 1, maxLength: 2 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), splits, limitsArb, (reqs, muts, cuts, limits) => {
        const bytes = mutate(reqs.map((r) => r.wire).join(""), muts);
        sameUnderSplits(bytes, { kind: "request", limits, tunnelOnUpgrade: true }, cuts);
      }),
      RUNS * 2,
    );
  });

  test("responses", () => {
    fcAssert(
      fc.property(fc.array(responseArb, { minLength: 1, maxLength: 2 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), splits, limitsArb, (resps, muts, cuts, limits) => {
        const bytes = mutate(resps.map((r) => r.wire).join(""), muts);
        sameUnderSplits(bytes, { kind: "response", limits, methods: resps.map((r) => r.method) }, cuts);
      }),
      RUNS * 2,
    );
  });

  test("random bytes with a valid-looking prefix", () => {
    fcAssert(
      fc.property(
        fc.constantFrom("", "GET / HTTP/1.1\r\nHost: a\r\n", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        fc.uint8Array({ maxLength: 80 }),
        splits,
        limitsArb,
        (prefix, tail, cuts, limits) => {
          const bytes = new Uint8Array([...bytesOf(prefix), ...tail]);
          sameUnderSplits(bytes, { kind: "request", limits }, cuts);
        },
      ), RUNS * 2);
  });

  test("a strictly rejected request never yields more heads when split", () => {
    // Smuggling shape: if the whole buffer is one error, no split may produce heads beyond it.
    fcAssert(
      fc.property(fc.array(requestArb, { minLength: 2, maxLength: 3 }), fc.array(mutation, { minLength: 1, maxLength: 3 }), splits, (reqs, muts, cuts) => {
        const bytes = mutate(reqs.map((r) => r.wire).join(""), muts);
        const whole = drive([bytes.slice()], { kind: "request" });
        const split = drive(splitAt(bytes.slice(), cuts), { kind: "request" });
        if (whole.error) {
          expect(split.messages.length).toBe(whole.messages.length);
          expect(split.error).toEqual(whole.error);
        }
      }),
      RUNS,
    );
  });
});
