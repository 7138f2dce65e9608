/**
 * The HTTP/2 frame codec (RFC 9113 §4, §6) as wire tables: every frame type decoded, every
 * malformed case with the error code and scope (connection or stream) the RFC names, the
 * incremental reader split at every byte offset, and the encoders round-tripped.
 */
import { describe, expect, test } from "bun:test";
import { ErrorCode, H2Error } from "../../src/http2/errors.ts";
import {
  CLIENT_PREFACE,
  decodeFrame,
  encodeFrame,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  Flags,
  type Frame,
  FrameReader,
  FrameType,
  parseFrameHeader,
  SETTINGS_ACK,
} from "../../src/http2/frames.ts";
import { applySetting, initialSettings, SettingId } from "../../src/http2/settings.ts";
import { recvTransition, sendEndTransition, StreamState } from "../../src/http2/stream-state.ts";

const T = FrameType;
const E = ErrorCode;

function frame(type: number, flags: number, stream: number, payload: number[] | Uint8Array = []): Uint8Array {
  return encodeFrame(type, flags, stream, Uint8Array.from(payload));
}

function decode(bytes: Uint8Array, max = 16384): Frame {
  const r = new FrameReader(max);
  r.push(bytes);
  const f = r.next();
  if (f === null) throw new Error("incomplete");
  return f;
}

function errorOf(bytes: Uint8Array, max = 16384): { code: number; stream: number } {
  try {
    decode(bytes, max);
  } catch (e) {
    if (e instanceof H2Error) return { code: e.code, stream: e.streamId };
    throw e;
  }
  throw new Error("no error");
}

describe("frame header (§4.1)", () => {
  test("fields and the reserved bit ignored on receipt", () => {
    const b = Uint8Array.from([0, 1, 2, 0xfa, 0x0f, 0x80, 0, 0, 5]);
    expect(parseFrameHeader(b)).toEqual({ length: 258, type: 0xfa, flags: 0x0f, streamId: 5 });
  });
  test("serialize clears the reserved bit", () => {
    const f = encodeFrame(T.PING, 0, 0x7fffffff, new Uint8Array(8));
    expect(parseFrameHeader(f).streamId).toBe(0x7fffffff);
    expect(f[5]! & 0x80).toBe(0);
  });
});

// [name, bytes, expected fields] for valid frames
const VALID: [string, Uint8Array, Partial<Frame> & { data?: string }][] = [
  ["DATA", frame(T.DATA, Flags.END_STREAM, 1, [104, 105]), { type: T.DATA, streamId: 1, flags: 1, length: 2, data: "hi" }],
  ["DATA padded", frame(T.DATA, Flags.PADDED, 3, [2, 104, 105, 0, 0]), { type: T.DATA, length: 5, data: "hi" }],
  ["DATA empty", frame(T.DATA, 0, 1), { length: 0, data: "" }],
  ["DATA padded, all padding but the pad byte", frame(T.DATA, Flags.PADDED, 1, [0]), { length: 1, data: "" }],
  ["HEADERS", frame(T.HEADERS, Flags.END_HEADERS, 1, [0x82]), { type: T.HEADERS, data: "\x82" }],
  ["HEADERS priority", frame(T.HEADERS, Flags.END_HEADERS | Flags.PRIORITY, 3, [0x80, 0, 0, 1, 15, 0x82]), { dependency: 1, exclusive: true, weight: 16, data: "\x82" }],
  ["HEADERS padded+priority", frame(T.HEADERS, Flags.PADDED | Flags.PRIORITY, 3, [1, 0, 0, 0, 1, 0, 0x82, 0]), { dependency: 1, exclusive: false, weight: 1, data: "\x82" }],
  ["PRIORITY", frame(T.PRIORITY, 0, 3, [0, 0, 0, 1, 255]), { dependency: 1, weight: 256 }],
  ["RST_STREAM", frame(T.RST_STREAM, 0, 1, [0, 0, 0, 8]), { errorCode: 8 }],
  ["SETTINGS", frame(T.SETTINGS, 0, 0, [0, 3, 0, 0, 0, 100, 0, 0x99, 0, 0, 0, 1]), { settings: [[3, 100], [0x99, 1]] }],
  ["SETTINGS empty", frame(T.SETTINGS, 0, 0), { settings: [] }],
  ["SETTINGS ACK", frame(T.SETTINGS, Flags.ACK, 0), { flags: 1, settings: [] }],
  ["PUSH_PROMISE", frame(T.PUSH_PROMISE, Flags.END_HEADERS, 1, [0, 0, 0, 2, 0x82]), { promisedStreamId: 2, data: "\x82" }],
  ["PING", frame(T.PING, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8]), { data: "\x01\x02\x03\x04\x05\x06\x07\x08" }],
  ["GOAWAY", frame(T.GOAWAY, 0, 0, [0, 0, 0, 7, 0, 0, 0, 11, 0x68]), { lastStreamId: 7, errorCode: 11, data: "h" }],
  ["WINDOW_UPDATE conn", frame(T.WINDOW_UPDATE, 0, 0, [0x80, 0, 1, 0]), { increment: 256 }],
  ["WINDOW_UPDATE stream", frame(T.WINDOW_UPDATE, 0, 5, [0x7f, 0xff, 0xff, 0xff]), { increment: 0x7fffffff }],
  ["CONTINUATION", frame(T.CONTINUATION, Flags.END_HEADERS, 1, [0x84]), { data: "\x84" }],
  ["unknown type (ignored, §4.1)", frame(0xfb, 0xff, 9, [1, 2]), { type: 0xfb, data: "\x01\x02" }],
];

describe("valid frames decode", () => {
  for (const [name, bytes, want] of VALID) {
    test(name, () => {
      const f = decode(bytes);
      const { data, ...rest } = want;
      expect(f).toMatchObject(rest);
      if (data !== undefined) expect(Buffer.from(f.payload).toString("latin1")).toBe(data);
    });
  }
});

// [name, bytes, code, connection error?, maxFrameSize]
const MALFORMED: [string, Uint8Array, number, boolean, number?][] = [
  ["§4.2 frame over SETTINGS_MAX_FRAME_SIZE", frame(T.DATA, 0, 1, new Uint8Array(16385)), E.FRAME_SIZE_ERROR, true],
  ["§4.2 over a smaller max", frame(T.PING, 0, 0, new Uint8Array(8)), E.FRAME_SIZE_ERROR, true, 7],
  ["§6.1 DATA on stream 0", frame(T.DATA, 0, 0, [1]), E.PROTOCOL_ERROR, true],
  ["§6.1 DATA padding = payload length", frame(T.DATA, Flags.PADDED, 1, [2, 0]), E.PROTOCOL_ERROR, true],
  ["§6.1 DATA padding > payload", frame(T.DATA, Flags.PADDED, 1, [5, 1, 2]), E.PROTOCOL_ERROR, true],
  ["§6.1 DATA PADDED with no pad byte", frame(T.DATA, Flags.PADDED, 1), E.FRAME_SIZE_ERROR, true],
  ["§6.2 HEADERS on stream 0", frame(T.HEADERS, Flags.END_HEADERS, 0, [0x82]), E.PROTOCOL_ERROR, true],
  ["§6.2 HEADERS padding too long", frame(T.HEADERS, Flags.PADDED | Flags.END_HEADERS, 1, [3, 0x82, 0]), E.PROTOCOL_ERROR, true],
  ["§6.2 HEADERS priority fields cut", frame(T.HEADERS, Flags.PRIORITY, 1, [0, 0, 0]), E.FRAME_SIZE_ERROR, true],
  ["§5.3.1 HEADERS depends on itself", frame(T.HEADERS, Flags.PRIORITY | Flags.END_HEADERS, 3, [0, 0, 0, 3, 0, 0x82]), E.PROTOCOL_ERROR, false],
  ["§6.3 PRIORITY on stream 0", frame(T.PRIORITY, 0, 0, [0, 0, 0, 1, 0]), E.PROTOCOL_ERROR, true],
  ["§6.3 PRIORITY length 4", frame(T.PRIORITY, 0, 1, [0, 0, 0, 3]), E.FRAME_SIZE_ERROR, false],
  ["§6.3 PRIORITY length 6", frame(T.PRIORITY, 0, 1, [0, 0, 0, 3, 0, 0]), E.FRAME_SIZE_ERROR, false],
  ["§5.3.1 PRIORITY depends on itself", frame(T.PRIORITY, 0, 5, [0, 0, 0, 5, 0]), E.PROTOCOL_ERROR, false],
  ["§6.4 RST_STREAM on stream 0", frame(T.RST_STREAM, 0, 0, [0, 0, 0, 0]), E.PROTOCOL_ERROR, true],
  ["§6.4 RST_STREAM length 3", frame(T.RST_STREAM, 0, 1, [0, 0, 0]), E.FRAME_SIZE_ERROR, true],
  ["§6.4 RST_STREAM length 5", frame(T.RST_STREAM, 0, 1, [0, 0, 0, 0, 0]), E.FRAME_SIZE_ERROR, true],
  ["§6.5 SETTINGS on a stream", frame(T.SETTINGS, 0, 1), E.PROTOCOL_ERROR, true],
  ["§6.5 SETTINGS ACK with payload", frame(T.SETTINGS, Flags.ACK, 0, [0, 3, 0, 0, 0, 1]), E.FRAME_SIZE_ERROR, true],
  ["§6.5 SETTINGS length not a multiple of 6", frame(T.SETTINGS, 0, 0, [0, 3, 0, 0, 0]), E.FRAME_SIZE_ERROR, true],
  ["§6.6 PUSH_PROMISE on stream 0", frame(T.PUSH_PROMISE, 0, 0, [0, 0, 0, 2]), E.PROTOCOL_ERROR, true],
  ["§6.6 PUSH_PROMISE too short", frame(T.PUSH_PROMISE, 0, 1, [0, 0]), E.FRAME_SIZE_ERROR, true],
  ["§6.7 PING on a stream", frame(T.PING, 0, 1, new Uint8Array(8)), E.PROTOCOL_ERROR, true],
  ["§6.7 PING length 7", frame(T.PING, 0, 0, new Uint8Array(7)), E.FRAME_SIZE_ERROR, true],
  ["§6.7 PING length 9", frame(T.PING, 0, 0, new Uint8Array(9)), E.FRAME_SIZE_ERROR, true],
  ["§6.8 GOAWAY on a stream", frame(T.GOAWAY, 0, 1, new Uint8Array(8)), E.PROTOCOL_ERROR, true],
  ["§6.8 GOAWAY length 7", frame(T.GOAWAY, 0, 0, new Uint8Array(7)), E.FRAME_SIZE_ERROR, true],
  ["§6.9 WINDOW_UPDATE length 3", frame(T.WINDOW_UPDATE, 0, 0, [0, 0, 1]), E.FRAME_SIZE_ERROR, true],
  ["§6.9 WINDOW_UPDATE length 5 on a stream", frame(T.WINDOW_UPDATE, 0, 1, [0, 0, 0, 1, 0]), E.FRAME_SIZE_ERROR, true],
  ["§6.9 WINDOW_UPDATE 0 on the connection", frame(T.WINDOW_UPDATE, 0, 0, [0, 0, 0, 0]), E.PROTOCOL_ERROR, true],
  ["§6.9 WINDOW_UPDATE 0 on a stream", frame(T.WINDOW_UPDATE, 0, 1, [0x80, 0, 0, 0]), E.PROTOCOL_ERROR, false],
  ["§6.10 CONTINUATION on stream 0", frame(T.CONTINUATION, Flags.END_HEADERS, 0, [0x82]), E.PROTOCOL_ERROR, true],
];

describe("malformed frames: code and scope", () => {
  for (const [name, bytes, code, conn, max] of MALFORMED) {
    test(name, () => {
      const e = errorOf(bytes, max);
      expect(e.code).toBe(code);
      expect(e.stream === 0).toBe(conn);
    });
  }
});

describe("incremental reader", () => {
  const stream = Buffer.concat([CLIENT_PREFACE, ...VALID.map((v) => v[1])]);
  const expected = VALID.map((v) => decode(v[1]));

  function readAll(chunks: Uint8Array[]): Frame[] {
    const r = new FrameReader(16384, true);
    const out: Frame[] = [];
    for (const c of chunks) {
      r.push(c);
      for (let f = r.next(); f !== null; f = r.next()) out.push(f);
    }
    return out;
  }

  const norm = (fs: Frame[]) => fs.map((f) => ({ ...f, payload: Buffer.from(f.payload).toString("hex") }));

  test("split at every byte offset (two chunks)", () => {
    for (let i = 0; i <= stream.length; i++) {
      const got = readAll([stream.subarray(0, i), stream.subarray(i)]);
      expect(norm(got)).toEqual(norm(expected));
    }
  });

  test("one byte at a time", () => {
    const chunks = [...stream].map((b) => Uint8Array.of(b));
    expect(norm(readAll(chunks))).toEqual(norm(expected));
  });

  test("three chunks at every pair of offsets (sampled)", () => {
    for (let i = 0; i < stream.length; i += 3) {
      for (let j = i; j < stream.length; j += 7) {
        expect(norm(readAll([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)])).length).toBe(expected.length);
      }
    }
  });

  test("payloads returned earlier stay intact while more bytes arrive", () => {
    const r = new FrameReader(16384);
    const a = frame(T.DATA, 0, 1, [1, 2, 3, 4]);
    const b = frame(T.DATA, 0, 1, [5, 6, 7, 8]);
    const joined = Buffer.concat([a, b]);
    r.push(joined.subarray(0, 15));
    const f1 = r.next()!;
    r.push(joined.subarray(15));
    const f2 = r.next()!;
    expect([...f1.payload]).toEqual([1, 2, 3, 4]);
    expect([...f2.payload]).toEqual([5, 6, 7, 8]);
  });

  test("bad preface is a connection PROTOCOL_ERROR (§3.4), byte by byte", () => {
    const bad = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\r", "latin1");
    const r = new FrameReader(16384, true);
    let err: H2Error | null = null;
    for (const b of bad) {
      r.push(Uint8Array.of(b));
      try {
        r.next();
      } catch (e) {
        err = e as H2Error;
        break;
      }
    }
    expect(err?.code).toBe(E.PROTOCOL_ERROR);
    expect(new FrameReader(16384, true).awaitingPreface).toBe(true);
  });

  test("an oversized frame fails on its header, before its payload is buffered", () => {
    const r = new FrameReader(16384);
    r.push(Uint8Array.from([0, 0x40, 1, 0, 0, 0, 0, 0, 1]));
    expect(() => r.next()).toThrow(H2Error);
    expect(r.buffered).toBe(9);
  });
});

describe("encoders round-trip", () => {
  test("SETTINGS, ACK, PING, GOAWAY, RST_STREAM, WINDOW_UPDATE", () => {
    expect(decode(encodeSettings([[3, 100], [4, 65535]])).settings).toEqual([[3, 100], [4, 65535]]);
    expect(decode(SETTINGS_ACK).flags).toBe(Flags.ACK);
    const p = decode(encodePing(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), true));
    expect(p.flags).toBe(Flags.ACK);
    expect([...p.payload]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(decode(encodeGoaway(9, 11, "calm"))).toMatchObject({ lastStreamId: 9, errorCode: 11 });
    expect(decode(encodeRstStream(3, 8))).toMatchObject({ streamId: 3, errorCode: 8 });
    expect(decode(encodeWindowUpdate(0, 1 << 20))).toMatchObject({ streamId: 0, increment: 1 << 20 });
  });

  test("a field block larger than the frame size becomes HEADERS + CONTINUATION (§4.3)", () => {
    const block = new Uint8Array(40000).fill(0x82);
    const bytes = encodeHeaders(5, block, true, 16384);
    const r = new FrameReader(16384);
    r.push(bytes);
    const fs: Frame[] = [];
    for (let f = r.next(); f !== null; f = r.next()) fs.push(f);
    expect(fs.map((f) => [f.type, f.flags])).toEqual([
      [T.HEADERS, Flags.END_STREAM],
      [T.CONTINUATION, 0],
      [T.CONTINUATION, Flags.END_HEADERS],
    ]);
    expect(fs.reduce((n, f) => n + f.payload.byteLength, 0)).toBe(40000);
  });
});

describe("SETTINGS values (§6.5.2)", () => {
  const cases: [string, number, number, number | null][] = [
    ["ENABLE_PUSH 2", SettingId.ENABLE_PUSH, 2, E.PROTOCOL_ERROR],
    ["ENABLE_PUSH 0", SettingId.ENABLE_PUSH, 0, null],
    ["INITIAL_WINDOW_SIZE 2^31", SettingId.INITIAL_WINDOW_SIZE, 0x80000000, E.FLOW_CONTROL_ERROR],
    ["INITIAL_WINDOW_SIZE 2^31-1", SettingId.INITIAL_WINDOW_SIZE, 0x7fffffff, null],
    ["MAX_FRAME_SIZE 16383", SettingId.MAX_FRAME_SIZE, 16383, E.PROTOCOL_ERROR],
    ["MAX_FRAME_SIZE 2^24", SettingId.MAX_FRAME_SIZE, 1 << 24, E.PROTOCOL_ERROR],
    ["MAX_FRAME_SIZE 2^24-1", SettingId.MAX_FRAME_SIZE, (1 << 24) - 1, null],
    ["unknown id ignored", 0xabc, 7, null],
  ];
  for (const [name, id, v, code] of cases) {
    test(name, () => {
      const e = applySetting(initialSettings(), id, v);
      expect(e?.code ?? null).toBe(code);
      if (e) expect(e.isConnectionError).toBe(true);
    });
  }
});

describe("stream states (§5.1)", () => {
  const S = StreamState;
  test("idle: HEADERS opens, END_STREAM half-closes; DATA is a connection PROTOCOL_ERROR", () => {
    expect(recvTransition(S.Idle, T.HEADERS, false, 1)).toBe(S.Open);
    expect(recvTransition(S.Idle, T.HEADERS, true, 1)).toBe(S.HalfClosedRemote);
    expect(recvTransition(S.Idle, T.PRIORITY, false, 1)).toBe(S.Idle);
    for (const t of [T.DATA, T.WINDOW_UPDATE, T.CONTINUATION]) {
      try {
        recvTransition(S.Idle, t, false, 1);
        throw new Error("accepted");
      } catch (e) {
        expect((e as H2Error).code).toBe(E.PROTOCOL_ERROR);
        expect((e as H2Error).streamId).toBe(0);
      }
    }
  });
  test("half-closed (remote): DATA is a stream STREAM_CLOSED; WINDOW_UPDATE/PRIORITY fine", () => {
    expect(() => recvTransition(S.HalfClosedRemote, T.DATA, false, 3)).toThrow("STREAM_CLOSED");
    expect(recvTransition(S.HalfClosedRemote, T.WINDOW_UPDATE, false, 3)).toBe(S.HalfClosedRemote);
    expect(recvTransition(S.HalfClosedRemote, T.PRIORITY, false, 3)).toBe(S.HalfClosedRemote);
    expect(recvTransition(S.HalfClosedRemote, T.RST_STREAM, false, 3)).toBe(S.Closed);
  });
  test("closed: DATA is STREAM_CLOSED unless we reset it; sending END_STREAM", () => {
    expect(() => recvTransition(S.Closed, T.DATA, false, 3)).toThrow("STREAM_CLOSED");
    expect(recvTransition(S.Closed, T.DATA, false, 3, true)).toBe(S.Closed);
    expect(sendEndTransition(S.Open)).toBe(S.HalfClosedLocal);
    expect(sendEndTransition(S.HalfClosedRemote)).toBe(S.Closed);
    expect(recvTransition(S.HalfClosedLocal, T.DATA, true, 3)).toBe(S.Closed);
  });
});
