/**
 * HTTP/3 frames (RFC 9114 §7): wire tables of valid and malformed frames per stream kind with the
 * error code the RFC requires, each fed whole and split at every octet offset.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import {
  encodeCancelPush, encodeData, encodeFrame, encodeGoaway, encodeHeaders, encodeMaxPushId, encodeSettings,
  FrameReader, Setting, UniStreamRegistry, type FrameStreamKind, type H3Frame, type Role,
} from "../../src/http3/frames.ts";
import { H3, H3Error, h3ErrorName } from "../../src/http3/h3-error.ts";

const hex = (s: string) => Uint8Array.from((s.replace(/\s+/g, "").match(/../g) ?? []).map((b) => parseInt(b, 16)));
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};

/** Frames with DATA pieces merged per frame, so results do not depend on chunking. */
function normalise(frames: H3Frame[]): unknown[] {
  const out: unknown[] = [];
  let data: number[] | null = null;
  for (const f of frames) {
    if (f.type === "data") {
      data ??= [];
      data.push(...f.payload);
      if (f.end) { out.push({ data: Buffer.from(data).toString("hex") }); data = null; }
      continue;
    }
    if (f.type === "headers") out.push({ headers: Buffer.from(f.block).toString("hex") });
    else if (f.type === "settings") out.push({ settings: [...f.settings] });
    else if (f.type === "push_promise") out.push({ push_promise: f.pushId, block: Buffer.from(f.block).toString("hex") });
    else out.push(f);
  }
  return out;
}

type Outcome = { frames: unknown[] } | { error: string; scope: string };

function run(kind: FrameStreamKind, role: Role, wire: Uint8Array, splits: number[], fin: boolean, maxFrameLength = 1024): Outcome {
  const r = new FrameReader(kind, role, { maxFrameLength });
  const frames: H3Frame[] = [];
  try {
    let prev = 0;
    for (const s of [...splits, wire.length]) {
      // Pieces are copied so the reader cannot rely on the whole buffer.
      frames.push(...r.feed(wire.slice(prev, s)).map((f) => (f.type === "data" ? { ...f, payload: f.payload.slice() } : f)));
      prev = s;
    }
    if (fin) r.finish();
    return { frames: normalise(frames) };
  } catch (e) {
    if (!(e instanceof H3Error)) throw e;
    return { error: h3ErrorName(e.code), scope: e.scope };
  }
}

interface Case {
  name: string;
  kind: FrameStreamKind;
  role?: Role;
  wire: Uint8Array;
  fin?: boolean;
  want: Outcome;
}

const SETTINGS_EMPTY = hex("0400");
const settingsWith = (pairs: [number, number][]) => encodeSettings(new Map(pairs));
const err = (code: number, scope = "connection"): Outcome => ({ error: h3ErrorName(code), scope });

const CASES: Case[] = [
  // Request streams, server side.
  { name: "HEADERS then DATA then FIN", kind: "request", wire: cat(encodeHeaders(hex("0000d1")), encodeData(hex("68656c6c6f"))), fin: true,
    want: { frames: [{ headers: "0000d1" }, { data: "68656c6c6f" }] } },
  { name: "HEADERS, two DATA, trailers", kind: "request", wire: cat(encodeHeaders(hex("0000d1")), encodeData(hex("01")), encodeData(hex("0203")), encodeHeaders(hex("0000"))), fin: true,
    want: { frames: [{ headers: "0000d1" }, { data: "01" }, { data: "0203" }, { headers: "0000" }] } },
  { name: "zero-length DATA", kind: "request", wire: cat(encodeHeaders(hex("0000")), hex("0000")), fin: true, want: { frames: [{ headers: "0000" }, { data: "" }] } },
  { name: "unknown and reserved frame types are skipped anywhere", kind: "request", wire: cat(encodeFrame(0x21, hex("aabb")), encodeHeaders(hex("0000")), encodeFrame(0x1234, hex("00")), encodeData(hex("07")), encodeHeaders(hex("0000")), encodeFrame(0x40, new Uint8Array(0))), fin: true,
    want: { frames: [{ headers: "0000" }, { data: "07" }, { headers: "0000" }] } },
  { name: "DATA before HEADERS", kind: "request", wire: encodeData(hex("01")), want: err(H3.FRAME_UNEXPECTED) },
  { name: "DATA after trailers", kind: "request", wire: cat(encodeHeaders(hex("0000")), encodeData(hex("01")), encodeHeaders(hex("0000")), encodeData(hex("01"))), want: err(H3.FRAME_UNEXPECTED) },
  { name: "third HEADERS", kind: "request", wire: cat(encodeHeaders(hex("0000")), encodeHeaders(hex("0000")), encodeHeaders(hex("0000"))), want: err(H3.FRAME_UNEXPECTED) },
  { name: "SETTINGS on a request stream", kind: "request", wire: SETTINGS_EMPTY, want: err(H3.FRAME_UNEXPECTED) },
  { name: "GOAWAY on a request stream", kind: "request", wire: encodeGoaway(0), want: err(H3.FRAME_UNEXPECTED) },
  { name: "MAX_PUSH_ID on a request stream", kind: "request", wire: encodeMaxPushId(0), want: err(H3.FRAME_UNEXPECTED) },
  { name: "CANCEL_PUSH on a request stream", kind: "request", wire: encodeCancelPush(0), want: err(H3.FRAME_UNEXPECTED) },
  { name: "PUSH_PROMISE from a client", kind: "request", wire: cat(encodeHeaders(hex("0000")), encodeFrame(0x05, hex("000000"))), want: err(H3.FRAME_UNEXPECTED) },
  { name: "PUSH_PROMISE to a client", kind: "request", role: "client", wire: cat(encodeFrame(0x05, hex("030000")), encodeHeaders(hex("0000"))), fin: true,
    want: { frames: [{ push_promise: 3, block: "0000" }, { headers: "0000" }] } },
  { name: "interim then final HEADERS to a client", kind: "request", role: "client", wire: cat(encodeHeaders(hex("01")), encodeHeaders(hex("02")), encodeData(hex("03"))), fin: true,
    want: { frames: [{ headers: "01" }, { headers: "02" }, { data: "03" }] } },
  ...[0x02, 0x06, 0x08, 0x09].map((t): Case => ({ name: `HTTP/2 frame type 0x0${t} on a request stream`, kind: "request", wire: encodeFrame(t, hex("00")), want: err(H3.FRAME_UNEXPECTED) })),
  { name: "FIN inside a frame header", kind: "request", wire: cat(encodeHeaders(hex("0000")), hex("00")), fin: true, want: err(H3.FRAME_ERROR) },
  { name: "FIN inside a DATA payload", kind: "request", wire: cat(encodeHeaders(hex("0000")), hex("0005aabb")), fin: true, want: err(H3.FRAME_ERROR) },
  { name: "FIN inside a HEADERS payload", kind: "request", wire: hex("0105000000"), fin: true, want: err(H3.FRAME_ERROR) },
  { name: "FIN inside a multi-octet length", kind: "request", wire: hex("0140"), fin: true, want: err(H3.FRAME_ERROR) },
  { name: "FIN before any HEADERS", kind: "request", wire: encodeFrame(0x21, new Uint8Array(0)), fin: true, want: err(H3.REQUEST_INCOMPLETE, "stream") },
  { name: "HEADERS over the frame limit", kind: "request", wire: hex("01 44 01"), want: err(H3.EXCESSIVE_LOAD) },
  { name: "DATA is not subject to the buffered-frame limit", kind: "request", wire: cat(encodeHeaders(hex("0000")), encodeData(new Uint8Array(3000))), fin: true,
    want: { frames: [{ headers: "0000" }, { data: "00".repeat(3000) }] } },
  // Control streams.
  { name: "SETTINGS first, then GOAWAY", kind: "control", role: "client", wire: cat(settingsWith([[Setting.QPACK_MAX_TABLE_CAPACITY, 4096], [Setting.QPACK_BLOCKED_STREAMS, 16], [0x21, 5]]), encodeGoaway(8), encodeGoaway(4)),
    want: { frames: [{ settings: [[1, 4096], [7, 16], [0x21, 5]] }, { type: "goaway", id: 8 }, { type: "goaway", id: 4 }] } },
  { name: "empty SETTINGS", kind: "control", wire: SETTINGS_EMPTY, want: { frames: [{ settings: [] }] } },
  { name: "first frame is not SETTINGS", kind: "control", wire: encodeGoaway(0), want: err(H3.MISSING_SETTINGS) },
  { name: "first frame is an unknown type", kind: "control", wire: encodeFrame(0x21, new Uint8Array(0)), want: err(H3.MISSING_SETTINGS) },
  { name: "second SETTINGS", kind: "control", wire: cat(SETTINGS_EMPTY, SETTINGS_EMPTY), want: err(H3.FRAME_UNEXPECTED) },
  { name: "DATA on the control stream", kind: "control", wire: cat(SETTINGS_EMPTY, encodeData(hex("00"))), want: err(H3.FRAME_UNEXPECTED) },
  { name: "HEADERS on the control stream", kind: "control", wire: cat(SETTINGS_EMPTY, encodeHeaders(hex("0000"))), want: err(H3.FRAME_UNEXPECTED) },
  { name: "PUSH_PROMISE on the control stream", kind: "control", role: "client", wire: cat(SETTINGS_EMPTY, encodeFrame(0x05, hex("0000"))), want: err(H3.FRAME_UNEXPECTED) },
  { name: "HTTP/2 PRIORITY frame on the control stream", kind: "control", wire: cat(SETTINGS_EMPTY, encodeFrame(0x02, hex("00"))), want: err(H3.FRAME_UNEXPECTED) },
  { name: "unknown frame after SETTINGS is ignored", kind: "control", wire: cat(SETTINGS_EMPTY, encodeFrame(0x3f, hex("010203"))), want: { frames: [{ settings: [] }] } },
  { name: "control stream closed", kind: "control", wire: SETTINGS_EMPTY, fin: true, want: err(H3.CLOSED_CRITICAL_STREAM) },
  { name: "HTTP/2 setting 0x02 (ENABLE_PUSH)", kind: "control", wire: encodeFrame(0x04, hex("0201")), want: err(H3.SETTINGS_ERROR) },
  { name: "HTTP/2 setting 0x00", kind: "control", wire: encodeFrame(0x04, hex("0000")), want: err(H3.SETTINGS_ERROR) },
  { name: "duplicate setting", kind: "control", wire: encodeFrame(0x04, hex("0101 0102")), want: err(H3.SETTINGS_ERROR) },
  { name: "ENABLE_CONNECT_PROTOCOL = 2", kind: "control", wire: encodeFrame(0x04, hex("0802")), want: err(H3.SETTINGS_ERROR) },
  { name: "SETTINGS with a dangling identifier", kind: "control", wire: encodeFrame(0x04, hex("0601 07")), want: err(H3.FRAME_ERROR) },
  { name: "SETTINGS with a truncated varint", kind: "control", wire: encodeFrame(0x04, hex("06 40")), want: err(H3.FRAME_ERROR) },
  { name: "GOAWAY with trailing octets", kind: "control", wire: cat(SETTINGS_EMPTY, encodeFrame(0x07, hex("0000"))), want: err(H3.FRAME_ERROR) },
  { name: "GOAWAY with an empty payload", kind: "control", wire: cat(SETTINGS_EMPTY, encodeFrame(0x07, new Uint8Array(0))), want: err(H3.FRAME_ERROR) },
  { name: "GOAWAY with a truncated varint", kind: "control", wire: cat(SETTINGS_EMPTY, encodeFrame(0x07, hex("40"))), want: err(H3.FRAME_ERROR) },
  { name: "GOAWAY naming a unidirectional stream (client side)", kind: "control", role: "client", wire: cat(SETTINGS_EMPTY, encodeGoaway(2)), want: err(H3.ID_ERROR) },
  { name: "GOAWAY ID increases", kind: "control", role: "client", wire: cat(SETTINGS_EMPTY, encodeGoaway(4), encodeGoaway(8)), want: err(H3.ID_ERROR) },
  { name: "client GOAWAY carries a push ID (any value)", kind: "control", wire: cat(SETTINGS_EMPTY, encodeGoaway(3)), want: { frames: [{ settings: [] }, { type: "goaway", id: 3 }] } },
  { name: "MAX_PUSH_ID to a server", kind: "control", wire: cat(SETTINGS_EMPTY, encodeMaxPushId(5), encodeMaxPushId(5)), want: { frames: [{ settings: [] }, { type: "max_push_id", pushId: 5 }, { type: "max_push_id", pushId: 5 }] } },
  { name: "MAX_PUSH_ID decreases", kind: "control", wire: cat(SETTINGS_EMPTY, encodeMaxPushId(5), encodeMaxPushId(4)), want: err(H3.ID_ERROR) },
  { name: "MAX_PUSH_ID to a client", kind: "control", role: "client", wire: cat(SETTINGS_EMPTY, encodeMaxPushId(5)), want: err(H3.FRAME_UNEXPECTED) },
  { name: "CANCEL_PUSH within MAX_PUSH_ID", kind: "control", wire: cat(SETTINGS_EMPTY, encodeMaxPushId(5), encodeCancelPush(5)), want: { frames: [{ settings: [] }, { type: "max_push_id", pushId: 5 }, { type: "cancel_push", pushId: 5 }] } },
  { name: "CANCEL_PUSH beyond MAX_PUSH_ID", kind: "control", wire: cat(SETTINGS_EMPTY, encodeCancelPush(0)), want: err(H3.ID_ERROR) },
  { name: "SETTINGS over the frame limit", kind: "control", wire: hex("04 44 01"), want: err(H3.EXCESSIVE_LOAD) },
];

describe("frame tables (whole, and split at every octet offset)", () => {
  for (const c of CASES) {
    test(c.name, () => {
      const role = c.role ?? "server";
      expect(run(c.kind, role, c.wire, [], c.fin ?? false)).toEqual(c.want);
      for (let cut = 1; cut < c.wire.length; cut++) {
        expect([cut, run(c.kind, role, c.wire, [cut], c.fin ?? false)]).toEqual([cut, c.want]);
      }
      const everyOctet = Array.from({ length: Math.max(0, c.wire.length - 1) }, (_, i) => i + 1);
      expect(run(c.kind, role, c.wire, everyOctet, c.fin ?? false)).toEqual(c.want);
    });
  }
});

describe("unidirectional stream types (§6.2)", () => {
  test("control, encoder and decoder streams once each; a second is H3_STREAM_CREATION_ERROR", () => {
    const reg = new UniStreamRegistry("server");
    expect([reg.classify(0), reg.classify(2), reg.classify(3)]).toEqual(["control", "qpack-encoder", "qpack-decoder"]);
    for (const t of [0, 2, 3]) {
      try { reg.classify(t); throw new Error("no error"); } catch (e) { expect((e as H3Error).code).toBe(H3.STREAM_CREATION_ERROR); }
    }
  });
  test("a push stream sent to a server is H3_STREAM_CREATION_ERROR; a client accepts it", () => {
    expect(() => new UniStreamRegistry("server").classify(1)).toThrow(/H3_STREAM_CREATION_ERROR/);
    expect(new UniStreamRegistry("client").classify(1)).toBe("push");
  });
  test("reserved and unknown types are ignored", () => {
    const reg = new UniStreamRegistry("server");
    expect([reg.classify(0x21), reg.classify(0x40), reg.classify(0x21 + 0x1f * 1000)]).toEqual(["ignore", "ignore", "ignore"]);
  });
});

test("property: any request (HEADERS, DATA*, trailers?, grease) parses the same however it is chunked", () => {
  const frameArb = fc.oneof(
    fc.uint8Array({ maxLength: 40 }).map((b) => ({ kind: "data" as const, b })),
    fc.uint8Array({ maxLength: 8 }).map((b) => ({ kind: "grease" as const, b })),
  );
  fcAssert(fc.property(fc.uint8Array({ maxLength: 30 }), fc.array(frameArb, { maxLength: 6 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 8 }), (head, body, trailers, cutSeeds) => {
    const parts = [encodeHeaders(head), ...body.map((f) => (f.kind === "data" ? encodeData(f.b) : encodeFrame(0x21 + 0x1f * f.b.length, f.b)))];
    if (trailers) parts.push(encodeHeaders(hex("0000")));
    const wire = cat(...parts);
    const cuts = [...new Set(cutSeeds.map((s) => (wire.length ? s % wire.length : 0)))].sort((a, b) => a - b);
    const whole = run("request", "server", wire, [], true, 1 << 20);
    const split = run("request", "server", wire, cuts, true, 1 << 20);
    const want = [{ headers: Buffer.from(head).toString("hex") }, ...body.filter((f) => f.kind === "data").map((f) => ({ data: Buffer.from(f.b).toString("hex") }))];
    if (trailers) want.push({ headers: "0000" });
    expect(whole).toEqual({ frames: want });
    expect(split).toEqual(whole);
  }), 300);
});

describe("bounded memory", () => {
  test("an unknown frame claiming 2^40 octets is skipped as it streams, without buffering", () => {
    const r = new FrameReader("request", "server");
    r.feed(cat(encodeHeaders(hex("0000")), hex("21 c0000100 00000000")));
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 64; i++) expect(r.feed(chunk)).toEqual([]);
  });
  test("DATA payload pieces are views of the received chunk, not copies", () => {
    const r = new FrameReader("request", "server");
    r.feed(cat(encodeHeaders(hex("0000")), hex("00 c0000000 10000000"))); // DATA of 256 MiB
    const chunk = new Uint8Array(1 << 20);
    for (let i = 0; i < 16; i++) {
      const [piece, ...rest] = r.feed(chunk);
      expect(rest).toEqual([]);
      expect(piece!.type).toBe("data");
      if (piece!.type === "data") expect(piece!.payload.buffer).toBe(chunk.buffer);
    }
  });
  test("a HEADERS frame is refused by its declared length before its payload arrives", () => {
    const r = new FrameReader("request", "server", { maxFrameLength: 16 * 1024 });
    expect(() => r.feed(hex("01 8000 4001"))).toThrow(/H3_EXCESSIVE_LOAD/); // 16385 octets declared
  });
});
