/**
 * HTTP/3 frames (RFC 9114 §7) and the per-stream rules about which frames may appear where
 * (§4.1, §6.2.1, §7.2). Pure: bytes in, frames or H3Error out.
 *
 * FrameReader is incremental: a frame may be split across any number of chunks. DATA payloads are
 * handed out piece by piece as they arrive, never buffered whole, so memory per stream is bounded
 * by `maxFrameLength` (for the frames that must be buffered) plus a 16-octet frame header.
 */
import { H3, H3Error } from "./h3-error.ts";
import { readVarint, varintLength, varintSize, writeVarint } from "./varint.ts";

/** Frame types (RFC 9114 §7.2, §11.2.1). */
export const FrameType = {
  DATA: 0x00,
  HEADERS: 0x01,
  CANCEL_PUSH: 0x03,
  SETTINGS: 0x04,
  PUSH_PROMISE: 0x05,
  GOAWAY: 0x07,
  MAX_PUSH_ID: 0x0d,
} as const;

/** HTTP/2 frame types with no HTTP/3 meaning; receiving one is H3_FRAME_UNEXPECTED (§7.2.8). */
export const HTTP2_ONLY_FRAME_TYPES: ReadonlySet<number> = new Set([0x02, 0x06, 0x08, 0x09]);

/** Settings (RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3, RFC 9297 §2.1.1). */
export const Setting = {
  QPACK_MAX_TABLE_CAPACITY: 0x01,
  MAX_FIELD_SECTION_SIZE: 0x06,
  QPACK_BLOCKED_STREAMS: 0x07,
  ENABLE_CONNECT_PROTOCOL: 0x08,
  H3_DATAGRAM: 0x33,
} as const;

/** HTTP/2 setting identifiers reserved in HTTP/3; receiving one is H3_SETTINGS_ERROR (§7.2.4.1). */
export const HTTP2_ONLY_SETTINGS: ReadonlySet<number> = new Set([0x00, 0x02, 0x03, 0x04, 0x05]);

/** Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2). */
export const UniStreamType = { CONTROL: 0x00, PUSH: 0x01, QPACK_ENCODER: 0x02, QPACK_DECODER: 0x03 } as const;

/** Reserved ("grease") identifiers 0x1f * N + 0x21 (§7.2.8, §6.2.3, §7.2.4.1). */
export function isReservedIdentifier(v: number): boolean {
  return v >= 0x21 && (v - 0x21) % 0x1f === 0;
}

export type H3Frame =
  /** A piece of a DATA frame's payload, in order; `end` marks the last piece of that frame. */
  | { type: "data"; payload: Uint8Array; end: boolean }
  | { type: "headers"; block: Uint8Array }
  | { type: "push_promise"; pushId: number; block: Uint8Array }
  | { type: "settings"; settings: Map<number, number> }
  | { type: "goaway"; id: number }
  | { type: "max_push_id"; pushId: number }
  | { type: "cancel_push"; pushId: number };

/** Which stream the reader is parsing: a request stream, the peer's control stream, or a push stream. */
export type FrameStreamKind = "request" | "control" | "push";
/** The local endpoint's role: what it may receive depends on it. */
export type Role = "server" | "client";

export interface FrameReaderLimits {
  /** Largest payload of a frame that is buffered whole (everything but DATA and unknown types). */
  maxFrameLength: number;
}

/** Default buffered-frame limit: a HEADERS frame is bounded separately by the field section size. */
export const DEFAULT_MAX_FRAME_LENGTH = 64 * 1024;

const enum Phase {
  /** Reading type and length varints. */
  Header,
  /** Buffering a whole payload (HEADERS, SETTINGS, …). */
  Buffer,
  /** Streaming a DATA payload. */
  Data,
  /** Skipping an unknown frame's payload. */
  Skip,
}

const connErr = (code: (typeof H3)[keyof typeof H3], msg: string) => new H3Error(code, "connection", msg);

/** Parses the frames of one stream and enforces the frame-sequence rules for its kind. */
export class FrameReader {
  private phase = Phase.Header;
  private head = new Uint8Array(16);
  private headLen = 0;
  private frameType = 0;
  private remaining = 0;
  private payload: Uint8Array | null = null;
  private payloadLen = 0;
  // Request/push stream sequence (§4.1): HEADERS+ (interim responses on the client) DATA* HEADERS?.
  private headersSeen = false;
  private dataSeen = false;
  private trailersSeen = false;
  // Control stream state (§6.2.1, §5.2, §7.2.7).
  private settingsSeen = false;
  private lastGoaway = Infinity;
  private maxPushId = -1;
  private finished = false;

  constructor(
    readonly kind: FrameStreamKind,
    readonly role: Role,
    private readonly limits: FrameReaderLimits = { maxFrameLength: DEFAULT_MAX_FRAME_LENGTH },
  ) {}

  /** Feeds the next chunk of stream data; returns the frames (and DATA pieces) it completed. */
  feed(chunk: Uint8Array): H3Frame[] {
    if (this.finished) throw connErr(H3.FRAME_ERROR, "data after the end of the stream");
    const out: H3Frame[] = [];
    let pos = 0;
    const end = chunk.length;
    while (pos < end) {
      if (this.phase === Phase.Header) {
        pos = this.readHeader(chunk, pos, end, out);
      } else if (this.phase === Phase.Data) {
        const n = Math.min(this.remaining, end - pos);
        this.remaining -= n;
        out.push({ type: "data", payload: chunk.subarray(pos, pos + n), end: this.remaining === 0 });
        pos += n;
        if (this.remaining === 0) this.phase = Phase.Header;
      } else if (this.phase === Phase.Skip) {
        const n = Math.min(this.remaining, end - pos);
        this.remaining -= n;
        pos += n;
        if (this.remaining === 0) this.phase = Phase.Header;
      } else {
        const n = Math.min(this.remaining, end - pos);
        this.payload!.set(chunk.subarray(pos, pos + n), this.payloadLen);
        this.payloadLen += n;
        this.remaining -= n;
        pos += n;
        if (this.remaining === 0) this.completeBuffered(out);
      }
    }
    return out;
  }

  /**
   * The peer ended the stream (FIN). A truncated frame is H3_FRAME_ERROR (§7.1); a request stream
   * without HEADERS is an incomplete request (§4.1.2); the control stream must never end (§6.2.1).
   */
  finish(): void {
    this.finished = true;
    if (this.phase !== Phase.Header || this.headLen !== 0) throw connErr(H3.FRAME_ERROR, "stream ended inside a frame");
    if (this.kind === "control") throw connErr(H3.CLOSED_CRITICAL_STREAM, "the control stream was closed");
    if (!this.headersSeen) throw new H3Error(H3.REQUEST_INCOMPLETE, "stream", "stream ended before a HEADERS frame");
  }

  private readHeader(chunk: Uint8Array, pos: number, end: number, out: H3Frame[]): number {
    // Accumulate type and length (each 1–8 octets) in `head`; usually both are in one chunk.
    while (pos < end) {
      this.head[this.headLen++] = chunk[pos++]!;
      const tSize = varintSize(this.head[0]!);
      if (this.headLen < tSize + 1) continue;
      const lSize = varintSize(this.head[tSize]!);
      if (this.headLen < tSize + lSize) continue;
      const type = readVarint(this.head, 0, tSize);
      const length = readVarint(this.head, tSize, tSize + lSize);
      this.headLen = 0;
      this.startFrame(type, length, out);
      return pos;
    }
    return pos;
  }

  private startFrame(type: number, length: number, out: H3Frame[]): void {
    this.frameType = type;
    this.remaining = length;
    this.checkAllowed(type);
    if (type === FrameType.DATA) {
      this.dataSeen = true;
      if (length === 0) out.push({ type: "data", payload: new Uint8Array(0), end: true });
      else this.phase = Phase.Data;
      return;
    }
    if (!isKnownFrameType(type)) {
      // Unknown and reserved types are ignored (§7.2.8, §9).
      if (length > 0) this.phase = Phase.Skip;
      return;
    }
    if (length > this.limits.maxFrameLength) {
      throw connErr(H3.EXCESSIVE_LOAD, `frame type 0x${type.toString(16)} of ${length} octets exceeds the ${this.limits.maxFrameLength}-octet limit`);
    }
    this.payload = new Uint8Array(length);
    this.payloadLen = 0;
    this.phase = Phase.Buffer;
    if (length === 0) this.completeBuffered(out);
  }

  /** Frame-sequence rules, checked when the frame header is read (before its payload). */
  private checkAllowed(type: number): void {
    if (HTTP2_ONLY_FRAME_TYPES.has(type)) throw connErr(H3.FRAME_UNEXPECTED, `HTTP/2 frame type 0x${type.toString(16)} is reserved in HTTP/3`);
    if (this.kind === "control") {
      if (!this.settingsSeen) {
        if (type !== FrameType.SETTINGS) throw connErr(H3.MISSING_SETTINGS, "the first frame on the control stream must be SETTINGS");
        return;
      }
      switch (type) {
        case FrameType.SETTINGS:
          throw connErr(H3.FRAME_UNEXPECTED, "a second SETTINGS frame");
        case FrameType.DATA:
        case FrameType.HEADERS:
        case FrameType.PUSH_PROMISE:
          throw connErr(H3.FRAME_UNEXPECTED, `frame type 0x${type.toString(16)} on the control stream`);
        case FrameType.MAX_PUSH_ID:
          if (this.role === "client") throw connErr(H3.FRAME_UNEXPECTED, "MAX_PUSH_ID received by a client");
          return;
      }
      return;
    }
    // Request and push streams.
    switch (type) {
      case FrameType.SETTINGS:
      case FrameType.GOAWAY:
      case FrameType.MAX_PUSH_ID:
      case FrameType.CANCEL_PUSH:
        throw connErr(H3.FRAME_UNEXPECTED, `frame type 0x${type.toString(16)} on a ${this.kind} stream`);
      case FrameType.PUSH_PROMISE:
        // Only a server sends PUSH_PROMISE, only on request streams (§7.2.5).
        if (this.role === "server") throw connErr(H3.FRAME_UNEXPECTED, "PUSH_PROMISE received by a server");
        if (this.kind === "push") throw connErr(H3.FRAME_UNEXPECTED, "PUSH_PROMISE on a push stream");
        return;
      case FrameType.HEADERS:
        if (this.trailersSeen) throw connErr(H3.FRAME_UNEXPECTED, "HEADERS after the trailer section");
        if (this.dataSeen) this.trailersSeen = true;
        else if (this.headersSeen && this.role === "server") this.trailersSeen = true; // trailers with no body
        this.headersSeen = true;
        return;
      case FrameType.DATA:
        if (!this.headersSeen) throw connErr(H3.FRAME_UNEXPECTED, "DATA before HEADERS");
        if (this.trailersSeen) throw connErr(H3.FRAME_UNEXPECTED, "DATA after the trailer section");
        return;
    }
  }

  private completeBuffered(out: H3Frame[]): void {
    const p = this.payload!;
    this.payload = null;
    this.phase = Phase.Header;
    switch (this.frameType) {
      case FrameType.HEADERS:
        out.push({ type: "headers", block: p });
        return;
      case FrameType.SETTINGS:
        this.settingsSeen = true;
        out.push({ type: "settings", settings: parseSettings(p) });
        return;
      case FrameType.PUSH_PROMISE: {
        if (p.length === 0) throw connErr(H3.FRAME_ERROR, "PUSH_PROMISE without a push ID");
        const n = varintSize(p[0]!);
        const pushId = readVarint(p, 0, p.length);
        if (pushId < 0) throw connErr(H3.FRAME_ERROR, "PUSH_PROMISE push ID is truncated");
        out.push({ type: "push_promise", pushId, block: p.subarray(n) });
        return;
      }
      case FrameType.GOAWAY: {
        const id = singleVarint(p, "GOAWAY");
        // A server's GOAWAY carries a client-initiated bidirectional stream ID (§5.2).
        if (this.role === "client" && id % 4 !== 0) throw connErr(H3.ID_ERROR, `GOAWAY stream ID ${id} is not a client-initiated bidirectional stream`);
        if (id > this.lastGoaway) throw connErr(H3.ID_ERROR, `GOAWAY ID ${id} is larger than the previous ${this.lastGoaway}`);
        this.lastGoaway = id;
        out.push({ type: "goaway", id });
        return;
      }
      case FrameType.MAX_PUSH_ID: {
        const pushId = singleVarint(p, "MAX_PUSH_ID");
        if (pushId < this.maxPushId) throw connErr(H3.ID_ERROR, `MAX_PUSH_ID ${pushId} is smaller than the previous ${this.maxPushId}`);
        this.maxPushId = pushId;
        out.push({ type: "max_push_id", pushId });
        return;
      }
      case FrameType.CANCEL_PUSH: {
        const pushId = singleVarint(p, "CANCEL_PUSH");
        // A server can only be asked to cancel a push ID the client allowed (§7.2.3).
        if (this.role === "server" && pushId > this.maxPushId) throw connErr(H3.ID_ERROR, `CANCEL_PUSH for push ID ${pushId} beyond MAX_PUSH_ID`);
        out.push({ type: "cancel_push", pushId });
        return;
      }
    }
  }
}

function isKnownFrameType(type: number): boolean {
  return (
    type === FrameType.HEADERS ||
    type === FrameType.SETTINGS ||
    type === FrameType.PUSH_PROMISE ||
    type === FrameType.GOAWAY ||
    type === FrameType.MAX_PUSH_ID ||
    type === FrameType.CANCEL_PUSH
  );
}

/** A payload that must be exactly one varint (§7.2.3, §7.2.6, §7.2.7); anything else is H3_FRAME_ERROR (§7.1). */
function singleVarint(p: Uint8Array, name: string): number {
  if (p.length === 0 || varintSize(p[0]!) !== p.length) throw connErr(H3.FRAME_ERROR, `${name} payload is not exactly one varint`);
  return readVarint(p, 0, p.length);
}

/** SETTINGS payload (§7.2.4): identifier/value varint pairs, each identifier at most once. */
export function parseSettings(p: Uint8Array): Map<number, number> {
  const settings = new Map<number, number>();
  let pos = 0;
  while (pos < p.length) {
    const id = readVarint(p, pos, p.length);
    if (id < 0) throw connErr(H3.FRAME_ERROR, "SETTINGS identifier is truncated");
    pos += varintSize(p[pos]!);
    const value = readVarint(p, pos, p.length);
    if (value < 0) throw connErr(H3.FRAME_ERROR, "SETTINGS value is truncated");
    pos += varintSize(p[pos]!);
    if (HTTP2_ONLY_SETTINGS.has(id)) throw connErr(H3.SETTINGS_ERROR, `HTTP/2 setting 0x${id.toString(16)} is reserved in HTTP/3`);
    if (settings.has(id)) throw connErr(H3.SETTINGS_ERROR, `setting 0x${id.toString(16)} appears twice`);
    if ((id === Setting.ENABLE_CONNECT_PROTOCOL || id === Setting.H3_DATAGRAM) && value > 1) {
      throw connErr(H3.SETTINGS_ERROR, `setting 0x${id.toString(16)} must be 0 or 1`);
    }
    settings.set(id, value);
  }
  return settings;
}

// ---- Unidirectional stream types (§6.2) ----

export type UniStreamKind = "control" | "push" | "qpack-encoder" | "qpack-decoder" | "ignore";

/**
 * Classifies a peer-initiated unidirectional stream by its type and rejects a second control or
 * QPACK stream (§6.2.1, RFC 9204 §4.2) and a push stream sent to a server (§6.2.2).
 * "ignore": unknown or reserved type; the caller stops reading with H3_STREAM_CREATION_ERROR (§6.2).
 */
export class UniStreamRegistry {
  private seen = new Set<UniStreamKind>();
  constructor(private readonly role: Role) {}

  classify(type: number): UniStreamKind {
    let kind: UniStreamKind;
    switch (type) {
      case UniStreamType.CONTROL: kind = "control"; break;
      case UniStreamType.QPACK_ENCODER: kind = "qpack-encoder"; break;
      case UniStreamType.QPACK_DECODER: kind = "qpack-decoder"; break;
      case UniStreamType.PUSH:
        if (this.role === "server") throw connErr(H3.STREAM_CREATION_ERROR, "a client opened a push stream");
        return "push";
      default:
        return "ignore";
    }
    if (this.seen.has(kind)) throw connErr(H3.STREAM_CREATION_ERROR, `a second ${kind} stream`);
    this.seen.add(kind);
    return kind;
  }
}

// ---- Encoding ----

/** A frame with the given type and payload. */
export function encodeFrame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(payload.length) + payload.length);
  let pos = writeVarint(type, out, 0);
  pos = writeVarint(payload.length, out, pos);
  out.set(payload, pos);
  return out;
}

/** Only the type and length of a frame (to send a large DATA payload without copying it). */
export function encodeFrameHeader(type: number, length: number): Uint8Array {
  const out = new Uint8Array(varintLength(type) + varintLength(length));
  writeVarint(length, out, writeVarint(type, out, 0));
  return out;
}

export function encodeSettings(settings: ReadonlyMap<number, number>): Uint8Array {
  let n = 0;
  for (const [id, v] of settings) n += varintLength(id) + varintLength(v);
  const p = new Uint8Array(n);
  let pos = 0;
  for (const [id, v] of settings) pos = writeVarint(v, p, writeVarint(id, p, pos));
  return encodeFrame(FrameType.SETTINGS, p);
}

function varintFrame(type: number, v: number): Uint8Array {
  const p = new Uint8Array(varintLength(v));
  writeVarint(v, p, 0);
  return encodeFrame(type, p);
}

export const encodeGoaway = (id: number): Uint8Array => varintFrame(FrameType.GOAWAY, id);
export const encodeMaxPushId = (pushId: number): Uint8Array => varintFrame(FrameType.MAX_PUSH_ID, pushId);
export const encodeCancelPush = (pushId: number): Uint8Array => varintFrame(FrameType.CANCEL_PUSH, pushId);
export const encodeData = (payload: Uint8Array): Uint8Array => encodeFrame(FrameType.DATA, payload);
export const encodeHeaders = (block: Uint8Array): Uint8Array => encodeFrame(FrameType.HEADERS, block);
