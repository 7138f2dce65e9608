/**
 * HTTP/2 frame codec (RFC 9113 §4 and §6): the 9-byte frame header, every frame type's
 * payload, and the size/stream-id/flag rules a receiver MUST enforce, raised as H2Error with
 * the code and scope (connection or stream) the RFC names. Pure: no sockets, no Bun.
 *
 * Rules about the sequence of frames (CONTINUATION must follow HEADERS, frames on idle
 * streams, ...) need connection state and live in the engine; rules about one frame live here.
 */
import { connError, ErrorCode, H2Error, streamError } from "./errors.ts";

export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

export const Flags = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

export const FRAME_HEADER_SIZE = 9;

/** §3.4: the client connection preface. */
export const CLIENT_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/**
 * One decoded frame. `length` is the payload length as sent (DATA: what counts against flow
 * control, padding included, §6.9). Type-specific fields are set for their type only.
 */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly length: number;
  /** DATA: the data without padding. HEADERS/PUSH_PROMISE/CONTINUATION: the field block fragment. Unknown types: the payload. */
  readonly payload: Uint8Array;
  /** HEADERS with PRIORITY, PRIORITY: the stream this one depends on. */
  readonly dependency?: number;
  readonly exclusive?: boolean;
  readonly weight?: number;
  /** RST_STREAM, GOAWAY. */
  readonly errorCode?: number;
  /** SETTINGS: [identifier, value] pairs in order. */
  readonly settings?: ReadonlyArray<readonly [number, number]>;
  /** PUSH_PROMISE. */
  readonly promisedStreamId?: number;
  /** GOAWAY. */
  readonly lastStreamId?: number;
  /** WINDOW_UPDATE. */
  readonly increment?: number;
}

export interface FrameHeader {
  readonly length: number;
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
}

/** §4.1: length (24), type (8), flags (8), R (1, ignored on receipt), stream id (31). */
export function parseFrameHeader(b: Uint8Array, off = 0): FrameHeader {
  return {
    length: (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!,
    type: b[off + 3]!,
    flags: b[off + 4]!,
    streamId: readU31(b, off + 5),
  };
}

function readU31(b: Uint8Array, off: number): number {
  return ((b[off]! & 0x7f) * 0x1000000) + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
}

function readU32(b: Uint8Array, off: number): number {
  return b[off]! * 0x1000000 + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
}

/**
 * §4.2: a frame longer than our SETTINGS_MAX_FRAME_SIZE. Any frame that can change
 * connection-wide state (a field block, SETTINGS, anything on stream 0) makes it a connection
 * error; we treat every oversized frame so, which the RFC allows (an endpoint may always close).
 */
export function checkFrameLength(h: FrameHeader, maxFrameSize: number): void {
  if (h.length > maxFrameSize) throw connError(ErrorCode.FRAME_SIZE_ERROR, `frame of ${h.length} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${maxFrameSize}`);
}

/** Strip §6.1/§6.2 padding: the Pad Length byte and that many trailing bytes. */
function unpad(h: FrameHeader, p: Uint8Array, extra: number): [start: number, end: number] {
  if ((h.flags & Flags.PADDED) === 0) return [0, p.byteLength];
  if (p.byteLength < 1 + extra) throw connError(ErrorCode.FRAME_SIZE_ERROR, "padded frame too short for its Pad Length");
  const pad = p[0]!;
  // §6.1, §6.2: padding as long as the payload (or longer) is a connection PROTOCOL_ERROR.
  if (pad >= p.byteLength - extra) throw connError(ErrorCode.PROTOCOL_ERROR, "padding exceeds the frame payload");
  return [1, p.byteLength - pad];
}

/** Decode one complete frame (header already checked against the size limit). */
export function decodeFrame(h: FrameHeader, p: Uint8Array): Frame {
  const { type, flags, streamId } = h;
  const length = p.byteLength;
  switch (type) {
    case FrameType.DATA: {
      // §6.1: DATA on stream 0 is a connection PROTOCOL_ERROR.
      if (streamId === 0) throw connError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
      if ((flags & Flags.PADDED) === 0) return { type, flags, streamId, length, payload: p };
      const [s, e] = unpad(h, p, 0);
      return { type, flags, streamId, length, payload: p.subarray(s, e) };
    }
    case FrameType.HEADERS: {
      if (streamId === 0) throw connError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
      // The common block: neither padded nor prioritised, the payload is the fragment (no second view).
      if ((flags & (Flags.PADDED | Flags.PRIORITY)) === 0) return { type, flags, streamId, length, payload: p };
      const prio = (flags & Flags.PRIORITY) !== 0 ? 5 : 0;
      let [s, e] = unpad(h, p, prio);
      if (e - s < prio) throw connError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for its priority fields");
      if (prio === 0) return { type, flags, streamId, length, payload: p.subarray(s, e) };
      const dependency = readU31(p, s);
      const exclusive = (p[s]! & 0x80) !== 0;
      const weight = p[s + 4]! + 1;
      // §5.3.1: a stream cannot depend on itself: stream PROTOCOL_ERROR.
      if (dependency === streamId) throw streamError(ErrorCode.PROTOCOL_ERROR, streamId, "stream depends on itself");
      s += 5;
      return { type, flags, streamId, length, payload: p.subarray(s, e), dependency, exclusive, weight };
    }
    case FrameType.PRIORITY: {
      if (streamId === 0) throw connError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
      // §6.3: a length other than 5 is a stream FRAME_SIZE_ERROR.
      if (length !== 5) throw streamError(ErrorCode.FRAME_SIZE_ERROR, streamId, "PRIORITY length is not 5");
      const dependency = readU31(p, 0);
      if (dependency === streamId) throw streamError(ErrorCode.PROTOCOL_ERROR, streamId, "stream depends on itself");
      return { type, flags, streamId, length, payload: p, dependency, exclusive: (p[0]! & 0x80) !== 0, weight: p[4]! + 1 };
    }
    case FrameType.RST_STREAM:
      if (streamId === 0) throw connError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
      // §6.4: a length other than 4 is a connection FRAME_SIZE_ERROR.
      if (length !== 4) throw connError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length is not 4");
      return { type, flags, streamId, length, payload: p, errorCode: readU32(p, 0) };
    case FrameType.SETTINGS: {
      // §6.5: stream 0 only; ACK has no payload; otherwise a multiple of 6.
      if (streamId !== 0) throw connError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
      if ((flags & Flags.ACK) !== 0) {
        if (length !== 0) throw connError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
        return { type, flags, streamId, length, payload: p, settings: [] };
      }
      if (length % 6 !== 0) throw connError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length is not a multiple of 6");
      const settings: [number, number][] = [];
      for (let i = 0; i < length; i += 6) settings.push([(p[i]! << 8) | p[i + 1]!, readU32(p, i + 2)]);
      return { type, flags, streamId, length, payload: p, settings };
    }
    case FrameType.PUSH_PROMISE: {
      if (streamId === 0) throw connError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE on stream 0");
      const [s, e] = unpad(h, p, 4);
      if (e - s < 4) throw connError(ErrorCode.FRAME_SIZE_ERROR, "PUSH_PROMISE too short");
      return { type, flags, streamId, length, payload: p.subarray(s + 4, e), promisedStreamId: readU31(p, s) };
    }
    case FrameType.PING:
      // §6.7: stream 0, exactly 8 bytes.
      if (streamId !== 0) throw connError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
      if (length !== 8) throw connError(ErrorCode.FRAME_SIZE_ERROR, "PING length is not 8");
      return { type, flags, streamId, length, payload: p };
    case FrameType.GOAWAY:
      // §6.8: stream 0, at least 8 bytes.
      if (streamId !== 0) throw connError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
      if (length < 8) throw connError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY shorter than 8 bytes");
      return { type, flags, streamId, length, payload: p.subarray(8), lastStreamId: readU31(p, 0), errorCode: readU32(p, 4) };
    case FrameType.WINDOW_UPDATE: {
      // §6.9: exactly 4 bytes (connection FRAME_SIZE_ERROR); increment 0 is a PROTOCOL_ERROR
      // of the stream it names, or of the connection on stream 0.
      if (length !== 4) throw connError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE length is not 4");
      const increment = readU31(p, 0);
      if (increment === 0) {
        throw streamId === 0 ? connError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE increment 0") : streamError(ErrorCode.PROTOCOL_ERROR, streamId, "WINDOW_UPDATE increment 0");
      }
      return { type, flags, streamId, length, payload: p, increment };
    }
    case FrameType.CONTINUATION:
      if (streamId === 0) throw connError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION on stream 0");
      return { type, flags, streamId, length, payload: p };
    default:
      // §4.1, §5.5: unknown frame types MUST be ignored (the engine still checks them against a
      // pending field block, §6.10).
      return { type, flags, streamId, length, payload: p };
  }
}

/**
 * Incremental frame reader: feed socket chunks of any size with push(), take frames with
 * next(). A frame is checked against maxFrameSize as soon as its 9-byte header is in, before
 * its payload is buffered, so a peer cannot make us hold more than one frame. Payloads that sit
 * inside one pushed chunk are returned as views of it (no copy).
 */
export class FrameReader {
  private buf: Uint8Array = EMPTY;
  private start = 0;
  private end = 0;
  /** `buf` is ours (we may append after `end`); otherwise it is the caller's chunk. */
  private owned = false;
  private prefaceLeft: number;
  maxFrameSize: number;

  constructor(maxFrameSize: number, expectPreface = false) {
    this.maxFrameSize = maxFrameSize;
    this.prefaceLeft = expectPreface ? CLIENT_PREFACE.byteLength : 0;
  }

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.end - this.start;
  }

  push(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    if (n === 0) return;
    if (this.start === this.end) {
      this.buf = chunk;
      this.start = 0;
      this.end = n;
      this.owned = false;
      return;
    }
    const live = this.end - this.start;
    if (this.owned && this.end + n <= this.buf.byteLength) {
      this.buf.set(chunk, this.end);
      this.end += n;
      return;
    }
    // Never compact in place: frames already returned may still view the old bytes.
    const need = live + n;
    const cap = Math.max(need, Math.min(Math.max(2 * live, 4096), FRAME_HEADER_SIZE + this.maxFrameSize));
    const nb = new Uint8Array(Math.max(cap, need));
    nb.set(this.buf.subarray(this.start, this.end), 0);
    nb.set(chunk, live);
    this.buf = nb;
    this.start = 0;
    this.end = need;
    this.owned = true;
  }

  /**
   * The next complete frame, or null when more bytes are needed. Throws H2Error for a bad
   * preface (connection PROTOCOL_ERROR, §3.4) or a frame that breaks a §4/§6 rule.
   */
  next(): Frame | null {
    if (this.prefaceLeft > 0) {
      const off = CLIENT_PREFACE.byteLength - this.prefaceLeft;
      const avail = Math.min(this.prefaceLeft, this.end - this.start);
      for (let i = 0; i < avail; i++) {
        if (this.buf[this.start + i] !== CLIENT_PREFACE[off + i]) throw connError(ErrorCode.PROTOCOL_ERROR, "invalid connection preface");
      }
      this.start += avail;
      this.prefaceLeft -= avail;
      if (this.prefaceLeft > 0) return null;
    }
    if (this.end - this.start < FRAME_HEADER_SIZE) return null;
    const h = parseFrameHeader(this.buf, this.start);
    checkFrameLength(h, this.maxFrameSize);
    if (this.end - this.start < FRAME_HEADER_SIZE + h.length) return null;
    const ps = this.start + FRAME_HEADER_SIZE;
    const payload = this.buf.subarray(ps, ps + h.length);
    this.start = ps + h.length;
    if (this.start === this.end) {
      this.buf = EMPTY;
      this.start = this.end = 0;
      this.owned = false;
    }
    return decodeFrame(h, payload);
  }

  /** True while the preface has not been fully received. */
  get awaitingPreface(): boolean {
    return this.prefaceLeft > 0;
  }
}

const EMPTY = new Uint8Array(0);

// ---- serialization -------------------------------------------------------------------------

export function writeFrameHeader(out: Uint8Array, off: number, length: number, type: number, flags: number, streamId: number): void {
  out[off] = (length >>> 16) & 0xff;
  out[off + 1] = (length >>> 8) & 0xff;
  out[off + 2] = length & 0xff;
  out[off + 3] = type;
  out[off + 4] = flags;
  writeU32(out, off + 5, streamId & 0x7fffffff);
}

function writeU32(out: Uint8Array, off: number, v: number): void {
  out[off] = (v >>> 24) & 0xff;
  out[off + 1] = (v >>> 16) & 0xff;
  out[off + 2] = (v >>> 8) & 0xff;
  out[off + 3] = v & 0xff;
}

/** A whole frame with the given payload. */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Uint8Array = EMPTY): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE + payload.byteLength);
  writeFrameHeader(out, 0, payload.byteLength, type, flags, streamId);
  out.set(payload, FRAME_HEADER_SIZE);
  return out;
}

/** Just the 9-byte header of a DATA frame (the data follows as its own write, uncopied). */
export function dataFrameHeader(length: number, streamId: number, endStream: boolean): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_SIZE);
  writeFrameHeader(out, 0, length, FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId);
  return out;
}

export function encodeSettings(settings: ReadonlyArray<readonly [number, number]>): Uint8Array {
  const p = new Uint8Array(settings.length * 6);
  settings.forEach(([id, v], i) => {
    p[i * 6] = (id >>> 8) & 0xff;
    p[i * 6 + 1] = id & 0xff;
    writeU32(p, i * 6 + 2, v);
  });
  return encodeFrame(FrameType.SETTINGS, 0, 0, p);
}

export const SETTINGS_ACK = encodeFrame(FrameType.SETTINGS, Flags.ACK, 0);

export function encodePing(data: Uint8Array, ack: boolean): Uint8Array {
  return encodeFrame(FrameType.PING, ack ? Flags.ACK : 0, 0, data);
}

export function encodeGoaway(lastStreamId: number, errorCode: number, debug = ""): Uint8Array {
  const d = Buffer.from(debug, "utf8");
  const p = new Uint8Array(8 + d.byteLength);
  writeU32(p, 0, lastStreamId & 0x7fffffff);
  writeU32(p, 4, errorCode);
  p.set(d, 8);
  return encodeFrame(FrameType.GOAWAY, 0, 0, p);
}

export function encodeRstStream(streamId: number, errorCode: number): Uint8Array {
  const p = new Uint8Array(4);
  writeU32(p, 0, errorCode);
  return encodeFrame(FrameType.RST_STREAM, 0, streamId, p);
}

export function encodeWindowUpdate(streamId: number, increment: number): Uint8Array {
  const p = new Uint8Array(4);
  writeU32(p, 0, increment & 0x7fffffff);
  return encodeFrame(FrameType.WINDOW_UPDATE, 0, streamId, p);
}

/**
 * A field block as HEADERS plus as many CONTINUATION frames as maxFrameSize needs (§4.3: the
 * frames of one block are sent back to back), in one buffer.
 */
export function encodeHeaders(streamId: number, block: Uint8Array, endStream: boolean, maxFrameSize: number): Uint8Array {
  const n = block.byteLength;
  const frames = Math.max(1, Math.ceil(n / maxFrameSize));
  const out = new Uint8Array(n + frames * FRAME_HEADER_SIZE);
  let off = 0;
  let pos = 0;
  for (let i = 0; i < frames; i++) {
    const len = Math.min(maxFrameSize, n - pos);
    const last = i === frames - 1;
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    let flags = last ? Flags.END_HEADERS : 0;
    if (i === 0 && endStream) flags |= Flags.END_STREAM;
    writeFrameHeader(out, off, len, type, flags, streamId);
    out.set(block.subarray(pos, pos + len), off + FRAME_HEADER_SIZE);
    off += FRAME_HEADER_SIZE + len;
    pos += len;
  }
  return out;
}

export { H2Error };
