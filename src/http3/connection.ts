/**
 * The HTTP/3 connection layer (RFC 9114 §6, §4.1; RFC 9204 §4.2) over abstract QUIC streams, with
 * no transport attached: the engine feeds it the bytes of each stream and sends what it returns.
 * It owns the control stream (SETTINGS first, GOAWAY), the QPACK encoder and decoder streams, and
 * the frame sequence of every request stream, including requests whose HEADERS wait for QPACK
 * inserts (their later frames are held, in order, until the section decodes).
 *
 * Connection errors are thrown as H3Error (the engine closes the connection with that code);
 * stream errors come back as "stream-error" events (the engine resets that stream).
 *
 * Stream IDs follow QUIC (RFC 9000 §2.1): bit 0x1 set = server-initiated, bit 0x2 set = unidirectional.
 */
import { FrameReader, Setting, UniStreamRegistry, UniStreamType, encodeData, encodeFrameHeader, encodeGoaway, encodeHeaders, encodeSettings, FrameType, type H3Frame, type Role, type UniStreamKind } from "./frames.ts";
import { H3, H3Error } from "./h3-error.ts";
import { QpackDecoder, type HeaderField } from "./qpack-decoder.ts";
import { QpackEncoder } from "./qpack-encoder.ts";
import { readVarint, varintSize } from "./varint.ts";

export interface H3ConnectionOptions {
  role: Role;
  /** Our SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2). */
  maxFieldSectionSize: number;
  /** Our SETTINGS_QPACK_MAX_TABLE_CAPACITY: the table the peer's encoder may use. */
  qpackMaxTableCapacity: number;
  /** Our SETTINGS_QPACK_BLOCKED_STREAMS. */
  qpackBlockedStreams: number;
  /** How much of the peer's QPACK table our encoder uses at most (our memory bound). */
  qpackEncoderCapacity: number;
  /** Largest buffered frame (HEADERS, SETTINGS, …). */
  maxFrameLength: number;
  /** Frames held per stream while its HEADERS is blocked on QPACK, in octets. */
  maxHeldBytes: number;
}

export const DEFAULT_H3_CONNECTION_OPTIONS: Omit<H3ConnectionOptions, "role"> = {
  maxFieldSectionSize: 64 * 1024,
  qpackMaxTableCapacity: 4096,
  qpackBlockedStreams: 16,
  qpackEncoderCapacity: 4096,
  maxFrameLength: 64 * 1024,
  maxHeldBytes: 256 * 1024,
};

export type H3Event =
  /** A header section on a request stream: the request (server) or a response, interim or final (client). */
  | { type: "headers"; streamId: number; fields: HeaderField[] }
  | { type: "data"; streamId: number; payload: Uint8Array }
  | { type: "trailers"; streamId: number; fields: HeaderField[] }
  /** The peer finished the stream after a complete message. */
  | { type: "end"; streamId: number }
  | { type: "settings"; settings: Map<number, number> }
  | { type: "goaway"; id: number }
  /** Reset this stream with `code` (RFC 9114 §4.1.2 malformed messages, oversized sections, …). */
  | { type: "stream-error"; streamId: number; code: number; message: string }
  /** Stop reading this unidirectional stream of unknown type with H3_STREAM_CREATION_ERROR (§6.2). */
  | { type: "stop-reading"; streamId: number; code: number };

interface RequestStream {
  reader: FrameReader;
  /** Waiting for QPACK inserts: frames arriving meanwhile are held in order. */
  blocked: boolean;
  blockedKind: "headers" | "trailers";
  held: H3Frame[];
  heldBytes: number;
  endPending: boolean;
  headersDone: boolean;
  failed: boolean;
}

interface UniStream {
  typeBuf: Uint8Array;
  typeLen: number;
  kind: UniStreamKind | null;
  reader: FrameReader | null;
}

export const isUnidirectional = (id: number): boolean => (id & 0x2) !== 0;

export class H3Connection {
  private readonly opts: H3ConnectionOptions;
  private readonly registry: UniStreamRegistry;
  private readonly decoder: QpackDecoder;
  private encoder: QpackEncoder;
  private requests = new Map<number, RequestStream>();
  private unis = new Map<number, UniStream>();
  /** The peer's SETTINGS, once received. */
  peerSettings: Map<number, number> | null = null;

  constructor(opts: Partial<H3ConnectionOptions> & { role: Role }) {
    this.opts = { ...DEFAULT_H3_CONNECTION_OPTIONS, ...opts };
    this.registry = new UniStreamRegistry(this.opts.role);
    this.decoder = new QpackDecoder({
      maxTableCapacity: this.opts.qpackMaxTableCapacity,
      maxBlockedStreams: this.opts.qpackBlockedStreams,
      maxFieldSectionSize: this.opts.maxFieldSectionSize,
    });
    // Until the peer's SETTINGS arrive, its table capacity is 0 (RFC 9204 §3.2.3).
    this.encoder = new QpackEncoder({ peerMaxTableCapacity: 0, peerMaxBlockedStreams: 0 });
  }

  /** First bytes of our control stream: its type and our SETTINGS (§6.2.1). */
  controlStreamPreface(): Uint8Array {
    const settings = encodeSettings(new Map([
      [Setting.QPACK_MAX_TABLE_CAPACITY, this.opts.qpackMaxTableCapacity],
      [Setting.MAX_FIELD_SECTION_SIZE, this.opts.maxFieldSectionSize],
      [Setting.QPACK_BLOCKED_STREAMS, this.opts.qpackBlockedStreams],
    ]));
    const out = new Uint8Array(1 + settings.length);
    out[0] = UniStreamType.CONTROL;
    out.set(settings, 1);
    return out;
  }

  encoderStreamPreface(): Uint8Array {
    return Uint8Array.of(UniStreamType.QPACK_ENCODER);
  }

  decoderStreamPreface(): Uint8Array {
    return Uint8Array.of(UniStreamType.QPACK_DECODER);
  }

  /** Bytes that arrived on a stream the peer opened (or, for a client, a request stream it opened). */
  onStreamData(streamId: number, chunk: Uint8Array): H3Event[] {
    const out: H3Event[] = [];
    if (isUnidirectional(streamId)) this.uniData(streamId, chunk, out);
    else this.requestData(streamId, chunk, out);
    return out;
  }

  /** The peer ended a stream (FIN). */
  onStreamEnd(streamId: number): H3Event[] {
    const out: H3Event[] = [];
    if (isUnidirectional(streamId)) {
      const u = this.unis.get(streamId);
      // Closing any critical stream is a connection error (§6.2.1, RFC 9204 §4.2).
      if (u && (u.kind === "control" || u.kind === "qpack-encoder" || u.kind === "qpack-decoder")) {
        throw new H3Error(H3.CLOSED_CRITICAL_STREAM, "connection", `the peer closed its ${u.kind} stream`);
      }
      this.unis.delete(streamId);
      return out;
    }
    const s = this.requests.get(streamId);
    if (!s || s.failed) return out;
    if (s.blocked) {
      s.endPending = true;
      return out;
    }
    this.finishRequest(streamId, s, out);
    return out;
  }

  /** The peer reset a request stream or we abandoned it: forget it and tell the QPACK encoder (§4.4.2 of RFC 9204). */
  onStreamReset(streamId: number): void {
    const s = this.requests.get(streamId);
    if (s && (s.blocked || !s.headersDone)) this.decoder.cancelStream(streamId);
    this.requests.delete(streamId);
  }

  /** A HEADERS frame for `fields`. Send takeEncoderStream() on the encoder stream first. */
  encodeHeaders(streamId: number, fields: readonly HeaderField[]): Uint8Array {
    return encodeHeaders(this.encoder.encodeSection(streamId, fields));
  }

  /** A DATA frame around `payload`. */
  encodeData(payload: Uint8Array): Uint8Array {
    return encodeData(payload);
  }

  /** Only the DATA frame header, to send a large payload after it without copying. */
  encodeDataHeader(length: number): Uint8Array {
    return encodeFrameHeader(FrameType.DATA, length);
  }

  /** A GOAWAY frame for our control stream (§5.2). */
  encodeGoaway(id: number): Uint8Array {
    return encodeGoaway(id);
  }

  /** Bytes for our QPACK encoder stream. */
  takeEncoderStream(): Uint8Array {
    return this.encoder.takeEncoderStream();
  }

  /** Bytes for our QPACK decoder stream. */
  takeDecoderStream(): Uint8Array {
    return this.decoder.takeDecoderStream();
  }

  /** Dynamic-table inserts made by our encoder and received by our decoder (diagnostics). */
  get qpackInserts(): { sent: number; received: number } {
    return { sent: this.encoder.table.insertCount, received: this.decoder.table.insertCount };
  }

  /** Streams open in this layer (for limits and leak checks). */
  get openRequestStreams(): number {
    return this.requests.size;
  }

  // ---- request streams ----

  private requestData(streamId: number, chunk: Uint8Array, out: H3Event[]): void {
    let s = this.requests.get(streamId);
    if (!s) {
      s = {
        reader: new FrameReader("request", this.opts.role, { maxFrameLength: this.opts.maxFrameLength }),
        blocked: false, blockedKind: "headers", held: [], heldBytes: 0, endPending: false, headersDone: false, failed: false,
      };
      this.requests.set(streamId, s);
    }
    if (s.failed) return;
    for (const f of s.reader.feed(chunk)) {
      if (s.failed) return;
      this.requestFrame(streamId, s, f, out);
    }
  }

  private requestFrame(streamId: number, s: RequestStream, f: H3Frame, out: H3Event[]): void {
    if (s.blocked) {
      // DATA pieces are views of a chunk the transport may reuse: keep a copy.
      s.held.push(f.type === "data" ? { ...f, payload: f.payload.slice() } : f);
      s.heldBytes += f.type === "data" ? f.payload.length : f.type === "headers" ? f.block.length : 0;
      if (s.heldBytes > this.opts.maxHeldBytes) this.streamError(streamId, s, H3.EXCESSIVE_LOAD, "too much data while the header section is blocked", out);
      return;
    }
    if (f.type === "data") {
      if (f.payload.length > 0) out.push({ type: "data", streamId, payload: f.payload });
      return;
    }
    if (f.type === "headers") {
      const kind = s.headersDone ? "trailers" : "headers";
      this.decodeHeaders(streamId, s, f.block, kind, out);
      return;
    }
    // push_promise (client only): we never send MAX_PUSH_ID, so any push ID is beyond the limit (§7.2.5).
    if (f.type === "push_promise") throw new H3Error(H3.ID_ERROR, "connection", `PUSH_PROMISE for push ID ${f.pushId} without MAX_PUSH_ID`);
  }

  private decodeHeaders(streamId: number, s: RequestStream, block: Uint8Array, kind: "headers" | "trailers", out: H3Event[]): void {
    let fields: HeaderField[] | null;
    try {
      fields = this.decoder.decodeSection(streamId, block);
    } catch (e) {
      if (e instanceof H3Error && e.scope === "stream") {
        this.streamError(streamId, s, e.code, e.message, out);
        return;
      }
      throw e;
    }
    if (fields === null) {
      s.blocked = true;
      s.blockedKind = kind;
      return;
    }
    this.emitHeaders(streamId, s, kind, fields, out);
  }

  private emitHeaders(streamId: number, s: RequestStream, kind: "headers" | "trailers", fields: HeaderField[], out: H3Event[]): void {
    // A client may receive interim (1xx) responses: headers stay "headers" until a final status.
    if (kind === "headers") {
      out.push({ type: "headers", streamId, fields });
      const status = fields.find(([n]) => n === ":status")?.[1];
      if (this.opts.role === "server" || !(status && status.length === 3 && status[0] === "1")) s.headersDone = true;
    } else {
      out.push({ type: "trailers", streamId, fields });
    }
  }

  private finishRequest(streamId: number, s: RequestStream, out: H3Event[]): void {
    try {
      s.reader.finish();
    } catch (e) {
      if (e instanceof H3Error && e.scope === "stream") {
        this.streamError(streamId, s, e.code, e.message, out);
        return;
      }
      throw e;
    }
    this.requests.delete(streamId);
    out.push({ type: "end", streamId });
  }

  private streamError(streamId: number, s: RequestStream, code: number, message: string, out: H3Event[]): void {
    s.failed = true;
    if (s.blocked) this.decoder.cancelStream(streamId);
    s.blocked = false;
    s.held = [];
    this.requests.delete(streamId);
    out.push({ type: "stream-error", streamId, code, message });
  }

  /** Sections unblocked by encoder-stream inserts: emit them, then replay what the stream held. */
  private unblocked(streamId: number, fields: HeaderField[], out: H3Event[]): void {
    const s = this.requests.get(streamId);
    if (!s || !s.blocked) return;
    s.blocked = false;
    this.emitHeaders(streamId, s, s.blockedKind, fields, out);
    const held = s.held;
    s.held = [];
    s.heldBytes = 0;
    for (let i = 0; i < held.length; i++) {
      if (s.failed) return;
      if (s.blocked) {
        s.held.push(...held.slice(i));
        return;
      }
      this.requestFrame(streamId, s, held[i]!, out);
    }
    if (!s.blocked && !s.failed && s.endPending) this.finishRequest(streamId, s, out);
  }

  // ---- unidirectional streams ----

  private uniData(streamId: number, chunk: Uint8Array, out: H3Event[]): void {
    let u = this.unis.get(streamId);
    if (!u) {
      u = { typeBuf: new Uint8Array(8), typeLen: 0, kind: null, reader: null };
      this.unis.set(streamId, u);
    }
    let pos = 0;
    if (u.kind === null) {
      while (pos < chunk.length && (u.typeLen === 0 || u.typeLen < varintSize(u.typeBuf[0]!))) u.typeBuf[u.typeLen++] = chunk[pos++]!;
      if (u.typeLen === 0 || u.typeLen < varintSize(u.typeBuf[0]!)) return;
      const type = readVarint(u.typeBuf, 0, u.typeLen);
      u.kind = this.registry.classify(type);
      if (u.kind === "push") throw new H3Error(H3.ID_ERROR, "connection", "a push stream although we never sent MAX_PUSH_ID");
      if (u.kind === "ignore") {
        out.push({ type: "stop-reading", streamId, code: H3.STREAM_CREATION_ERROR });
        return;
      }
      if (u.kind === "control") u.reader = new FrameReader("control", this.opts.role, { maxFrameLength: this.opts.maxFrameLength });
    }
    const rest = pos === 0 ? chunk : chunk.subarray(pos);
    if (rest.length === 0) return;
    switch (u.kind) {
      case "control":
        for (const f of u.reader!.feed(rest)) this.controlFrame(f, out);
        return;
      case "qpack-encoder":
        for (const s of this.decoder.feedEncoderStream(rest)) this.unblocked(s.streamId, s.fields, out);
        return;
      case "qpack-decoder":
        this.encoder.feedDecoderStream(rest);
        return;
      default:
        return; // ignored stream type
    }
  }

  private controlFrame(f: H3Frame, out: H3Event[]): void {
    if (f.type === "settings") {
      this.peerSettings = f.settings;
      const cap = f.settings.get(Setting.QPACK_MAX_TABLE_CAPACITY) ?? 0;
      this.encoder = new QpackEncoder({
        peerMaxTableCapacity: cap,
        peerMaxBlockedStreams: f.settings.get(Setting.QPACK_BLOCKED_STREAMS) ?? 0,
        tableCapacity: Math.min(cap, this.opts.qpackEncoderCapacity),
      });
      out.push({ type: "settings", settings: f.settings });
    } else if (f.type === "goaway") {
      out.push({ type: "goaway", id: f.id });
    }
    // MAX_PUSH_ID and CANCEL_PUSH: we never push, nothing to do.
  }
}
