/**
 * One HTTP/2 connection (RFC 9113) on a client socket: frames in through the pure codec
 * (src/http2/), one H2Exchange per stream handed to the same dispatch as HTTP/1, frames out
 * through the connection's WriteQueue.
 *
 * It lives inside the HTTP/1 Connection object that the server registered (Connection.h2), so
 * the server's sweep, shutdown, reload and output budget treat both protocols alike.
 *
 * Flow control (§5.2, §6.9): response bodies queue per stream and leave as DATA frames
 * round-robin, as far as the stream window, the connection window and the write queue's
 * high-water mark allow. A stream whose window is shut keeps its bytes (its producer is told
 * to stop at H2_STREAM_HIGH_WATER) while the others go on; a client that stops reading fills
 * the write queue, which stops every producer. Request bodies are credited back to the
 * client only as the handler consumes them, so an unread body costs at most one stream window.
 */
import { requestIdFor } from "./request-id.ts";
import { handlerThrew } from "../handler.ts";
import { nanoid } from "nanoid";
import type { HeaderPairs } from "../handler.ts";
import { HeaderList } from "../http1/header-list.ts";
import { connError, ErrorCode, H2Error, streamError } from "../http2/errors.ts";
import {
  dataFrameHeader,
  encodeGoaway,
  encodeHeaders,
  encodePing,
  encodeRstStream,
  encodeSettings,
  encodeWindowUpdate,
  Flags,
  FRAME_HEADER_SIZE,
  writeFrameHeader,
  type Frame,
  FrameReader,
  FrameType,
  SETTINGS_ACK,
} from "../http2/frames.ts";
import { HpackDecoder, HpackEncoder } from "../http2/hpack.ts";
import { H2_LIMITS } from "../http2/limits.ts";
import { CONNECTION_SPECIFIC, requestHeadFrom } from "../http2/request-head.ts";
import { applySetting, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW, initialSettings, MAX_WINDOW, type PeerSettings, SettingId } from "../http2/settings.ts";
import { recvTransition, sendEndTransition, StreamState, type StreamStateValue } from "../http2/stream-state.ts";
import { errorPage } from "../pages/error-page.ts";
import { httpDate } from "../http1/serialize.ts";
import { asciiLower } from "../http1/field-syntax.ts";
import { UNROUTED } from "../observe/server-metrics.ts";
import type { Connection } from "./connection.ts";
import { H2Exchange } from "./h2-exchange.ts";

/**
 * Fields sent as never-indexed literals (RFC 7541 §6.2.3): secrets, so no intermediary indexes
 * them, and the request id, which is new on every response (indexing it would only evict
 * useful entries from the dynamic table).
 */
const NEVER_INDEXED: ReadonlySet<string> = new Set(["x-request-id", "set-cookie", "authorization", "proxy-authorization", "www-authenticate"]);
const EMPTY = new Uint8Array(0);

/** One stream's engine-side state; the handler sees it through its H2Exchange. */
export class H2Stream {
  state: StreamStateValue = StreamState.Idle;
  ex: H2Exchange | null = null;
  /** Bytes the client may still send us (our receive window for it). */
  recvWindow: number = DEFAULT_WINDOW;
  /** Received bytes consumed by the handler (or dropped) not yet credited back with WINDOW_UPDATE. */
  recvCredit = 0;
  /** Bytes we may still send (the client's window for this stream). */
  sendWindow: number;
  /** Response body bytes queued for DATA frames. */
  chunks: Uint8Array[] = [];
  pendingBytes = 0;
  /** The handler ended the response: END_STREAM (or trailers) goes after the queued bytes. */
  ending = false;
  trailers: HeaderPairs | null = null;
  /** Our END_STREAM is out. */
  endSent = false;
  /** The client's body bytes received but not handed to a sink yet (bounded by the stream window). */
  inbuf: Uint8Array[] = [];
  inbufBytes = 0;
  /** Request body bytes received (checked against content-length, §8.1.1). */
  received = 0;
  /** Declared content-length, -1 if none. */
  contentLength = -1;
  /** performance.now() of the last DATA frame sent (or when bytes were first queued). */
  lastSent = 0;
  /** performance.now() of the last DATA frame received. */
  lastRecv = performance.now();
  /** A producer was told to stop. */
  wantDrain = false;

  constructor(
    readonly id: number,
    sendWindow: number,
  ) {
    this.sendWindow = sendWindow;
  }

  get remoteClosed(): boolean {
    return this.state === StreamState.HalfClosedRemote || this.state === StreamState.Closed;
  }
}

interface PendingBlock {
  readonly streamId: number;
  readonly flags: number;
  readonly parts: Uint8Array[];
  bytes: number;
  frames: number;
}

/**
 * The last n ids added, oldest forgotten first. Adding is one store (it happens for every
 * stream); lookups scan the ring, but they only happen for frames on streams that are already
 * gone, which are rare and bounded by the flood limits.
 */
class IdRing {
  private readonly ids: Uint32Array;
  private next = 0;
  constructor(n: number) {
    this.ids = new Uint32Array(n);
  }
  add(id: number): void {
    this.ids[this.next] = id;
    this.next = this.next + 1 === this.ids.length ? 0 : this.next + 1;
  }
  /** Stream ids are never 0, so the empty slots never match. */
  has(id: number): boolean {
    return id !== 0 && this.ids.indexOf(id) >= 0;
  }
}

/** The session holding the batch cork (H2Session.batchOutput), and whether its release is scheduled. */
let batchHolder: H2Session | null = null;
let batchEndScheduled = false;
function endBatch(): void {
  batchEndScheduled = false;
  const h = batchHolder;
  batchHolder = null;
  h?.conn.out.uncork();
}

export class H2Session {
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  private readonly encoder: HpackEncoder;
  readonly peer: PeerSettings = initialSettings();
  readonly streams = new Map<number, H2Stream>();
  /** Highest client stream id seen (§5.1.1: new ids must increase). */
  lastStreamId = 0;
  /** Our send window for the whole connection. */
  private connSendWindow = DEFAULT_WINDOW;
  /** The client's send window towards us for the whole connection, and bytes to credit back. */
  private connRecvWindow = H2_LIMITS.connectionWindow;
  private connRecvCredit = 0;
  /**
   * While one input chunk is processed, credit is only collected: WINDOW_UPDATEs go out once the
   * chunk is done, so DATA in the same chunk is judged against the window the client actually
   * had (§6.9.1), not one we raised halfway through reading it.
   */
  private readingInput = false;
  private readonly creditPending = new Set<H2Stream>();
  private pendingBlock: PendingBlock | null = null;
  /** The client's preface and first SETTINGS have arrived. */
  private started = false;
  /** Our SETTINGS awaits its ACK since this time (0 = acknowledged). */
  private settingsSentAt = 0;
  goawaySent = false;
  private dead = false;
  private peerGoaway = false;
  private closeAfterFlush = false;
  /** Streams we reset recently: their in-flight frames are ignored (§5.1 closed). */
  private readonly resetByUs = new IdRing(H2_LIMITS.rememberResets);
  /** Streams closed recently (both sides done, or reset by the client): a field block on them is STREAM_CLOSED. */
  private readonly closedIds = new IdRing(H2_LIMITS.rememberResets);

  private remember(ring: IdRing, id: number): void {
    ring.add(id);
  }
  /** Flood accounting (CVE-2019-9512..9518, CVE-2023-44487): counts in the current one-second window. */
  private windowStart = performance.now();
  private cheapFrames = 0;
  private clientResets = 0;
  /** Streams accepted on this connection (capped by server.max_requests_per_connection). */
  private totalStreams = 0;
  /** When the connection last had no stream (for the keep-alive timeout), or 0 while it has some. */
  private idleSince = performance.now();
  private flushing = false;

  constructor(
    readonly conn: Connection,
    initial: Uint8Array | null,
  ) {
    const limits = conn.config.limits;
    this.reader = new FrameReader(DEFAULT_MAX_FRAME_SIZE, true);
    this.decoder = new HpackDecoder({ maxTableSize: H2_LIMITS.headerTableSize, maxHeaderListSize: limits.maxHeaderBytes });
    this.encoder = new HpackEncoder({ maxTableSize: H2_LIMITS.headerTableSize });
    conn.out.onDrained = () => this.onOutputDrained();
    // §3.4: the server preface is a SETTINGS frame, sent first.
    const out = conn.out;
    out.cork();
    out.write(
      encodeSettings([
        [SettingId.MAX_CONCURRENT_STREAMS, H2_LIMITS.maxConcurrentStreams],
        [SettingId.ENABLE_PUSH, 0],
        [SettingId.MAX_HEADER_LIST_SIZE, limits.maxHeaderBytes],
        [SettingId.INITIAL_WINDOW_SIZE, DEFAULT_WINDOW],
        [SettingId.MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE],
      ]),
    );
    // The connection window starts at 65,535 and only WINDOW_UPDATE can raise it (§6.9.2).
    out.write(encodeWindowUpdate(0, H2_LIMITS.connectionWindow - DEFAULT_WINDOW));
    out.uncork();
    this.settingsSentAt = performance.now();
    this.conn.deadline = performance.now() + conn.config.timeouts.headerMs;
    if (initial !== null && initial.byteLength > 0) this.onData(initial);
  }

  get config() {
    return this.conn.config;
  }

  /** Idle: no stream, nothing queued; the server may reclaim it near max_connections. */
  get reclaimable(): boolean {
    return !this.conn.closed && this.started && this.streams.size === 0 && this.conn.out.pending === 0;
  }

  // ---- input ----------------------------------------------------------------------------

  onData(chunk: Uint8Array): void {
    if (this.dead) return;
    this.reader.push(chunk);
    const out = this.conn.out;
    out.cork();
    this.readingInput = true;
    try {
      while (!this.dead) {
        let f: Frame | null;
        try {
          f = this.reader.next();
          if (f === null) break;
          this.onFrame(f);
        } catch (e) {
          if (!(e instanceof H2Error)) throw e;
          if (e.isConnectionError) this.connectionError(e);
          else this.resetStream(e.streamId, e.code);
        }
      }
    } finally {
      this.readingInput = false;
      if (this.idleDirty) {
        this.idleDirty = false;
        if (!this.conn.closed) this.touchIdle();
      }
      this.flushCredit();
      out.uncork();
    }
    this.flushStreams();
  }

  private countCheap(): void {
    const now = performance.now();
    if (now - this.windowStart > 1000) {
      this.windowStart = now;
      this.cheapFrames = 0;
      this.clientResets = 0;
    }
    // CVE-2019-9512 (PING), -9515 (SETTINGS), -9516 (empty frames), -9518 (empty DATA):
    // frames that cost us work or an answer and carry no request.
    if (++this.cheapFrames > H2_LIMITS.maxControlFramesPerSecond) throw connError(ErrorCode.ENHANCE_YOUR_CALM, "control frame flood");
    // A client that makes us queue answers it never reads (PING/SETTINGS ACKs) cannot grow our memory.
    if (this.conn.out.pending > H2_LIMITS.maxQueuedControlBytes) throw connError(ErrorCode.ENHANCE_YOUR_CALM, "client does not read our answers");
  }

  private onFrame(f: Frame): void {
    if (!this.started) {
      // §3.4: the preface is followed by SETTINGS; anything else is a PROTOCOL_ERROR.
      if (f.type !== FrameType.SETTINGS || (f.flags & Flags.ACK) !== 0) throw connError(ErrorCode.PROTOCOL_ERROR, "connection preface not followed by SETTINGS");
      this.started = true;
      this.touchIdle();
    }
    const pb = this.pendingBlock;
    if (pb !== null) {
      // §6.10: only CONTINUATION frames of the same stream may follow a HEADERS without END_HEADERS.
      if (f.type !== FrameType.CONTINUATION || f.streamId !== pb.streamId) throw connError(ErrorCode.PROTOCOL_ERROR, "expected CONTINUATION");
      pb.parts.push(f.payload);
      pb.bytes += f.payload.byteLength;
      pb.frames++;
      // CVE-2024-27316: the whole block across CONTINUATION frames is capped (bytes and frames).
      if (pb.bytes > H2_LIMITS.maxHeaderBlockBytes(this.config.limits) || pb.frames > H2_LIMITS.maxContinuationFrames) {
        throw connError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large (CONTINUATION flood)");
      }
      if ((f.flags & Flags.END_HEADERS) === 0) return;
      this.pendingBlock = null;
      const block = pb.parts.length === 1 ? pb.parts[0]! : Buffer.concat(pb.parts);
      this.onHeaderBlock(pb.streamId, pb.flags, block);
      return;
    }
    switch (f.type) {
      case FrameType.DATA:
        this.onDataFrame(f);
        return;
      case FrameType.HEADERS:
        this.onHeadersFrame(f);
        return;
      case FrameType.PRIORITY:
        // §5.3.2: priority signals are ignored (RFC 9113 deprecates the scheme).
        this.countCheap();
        return;
      case FrameType.RST_STREAM:
        this.onRstStream(f);
        return;
      case FrameType.SETTINGS:
        this.onSettings(f);
        return;
      case FrameType.PUSH_PROMISE:
        // §8.4: a client cannot push.
        throw connError(ErrorCode.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case FrameType.PING:
        this.countCheap();
        // §6.7: answer a PING (not a PING ACK) with the same 8 bytes.
        if ((f.flags & Flags.ACK) === 0) this.conn.out.write(encodePing(f.payload, true));
        return;
      case FrameType.GOAWAY:
        this.peerGoaway = true;
        if (this.streams.size === 0) this.goAway(ErrorCode.NO_ERROR);
        return;
      case FrameType.WINDOW_UPDATE:
        this.onWindowUpdate(f);
        return;
      case FrameType.CONTINUATION:
        throw connError(ErrorCode.PROTOCOL_ERROR, "CONTINUATION without HEADERS");
      default:
        this.countCheap(); // §5.5: unknown types are ignored, but not for free
        return;
    }
  }

  private onHeadersFrame(f: Frame): void {
    const id = f.streamId;
    // §5.1.1: clients use odd stream ids.
    if (id % 2 === 0) throw connError(ErrorCode.PROTOCOL_ERROR, "even stream id from a client");
    if (f.payload.byteLength === 0 && (f.flags & Flags.END_HEADERS) === 0) this.countCheap();
    if ((f.flags & Flags.END_HEADERS) === 0) {
      if (f.payload.byteLength > H2_LIMITS.maxHeaderBlockBytes(this.config.limits)) throw connError(ErrorCode.ENHANCE_YOUR_CALM, "header block too large");
      this.pendingBlock = { streamId: id, flags: f.flags, parts: [f.payload], bytes: f.payload.byteLength, frames: 1 };
      // The rest of the block must follow within the header timeout (slowloris on CONTINUATION).
      this.conn.deadline = performance.now() + this.config.timeouts.headerMs;
      return;
    }
    this.onHeaderBlock(id, f.flags, f.payload);
  }

  /** A complete field block: decode it first (the HPACK table must stay in sync, §4.3), then act. */
  private onHeaderBlock(id: number, flags: number, block: Uint8Array): void {
    let fields: [string, string][] | null;
    try {
      fields = this.decoder.decode(block);
    } catch (e) {
      // §4.3: a field block that cannot be decompressed is a connection COMPRESSION_ERROR.
      throw connError(ErrorCode.COMPRESSION_ERROR, (e as Error)?.message ?? "HPACK decoding failed");
    }
    const endStream = (flags & Flags.END_STREAM) !== 0;
    const existing = this.streams.get(id);
    if (existing !== undefined) {
      this.onTrailers(existing, fields, endStream);
      return;
    }
    if (id <= this.lastStreamId) {
      // A stream that is over. After our RST_STREAM the client's in-flight frames are ignored.
      if (this.resetByUs.has(id)) return;
      // §5.1: a field block on a stream that was used and closed is STREAM_CLOSED; on an id
      // that was never used but is below the highest (§5.1.1) it is an unexpected stream id.
      if (this.closedIds.has(id)) throw connError(ErrorCode.STREAM_CLOSED, `HEADERS on closed stream ${id}`);
      throw connError(ErrorCode.PROTOCOL_ERROR, `stream id ${id} is not above ${this.lastStreamId}`);
    }
    this.lastStreamId = id;
    if (this.goawaySent || this.peerGoaway) {
      // §6.8: streams started after our GOAWAY are not processed; the client may retry them elsewhere.
      this.resetStream(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    if (this.streams.size >= H2_LIMITS.maxConcurrentStreams) {
      // §5.1.2: over SETTINGS_MAX_CONCURRENT_STREAMS: REFUSED_STREAM (safe to retry). Counted like a
      // reset: a client that keeps doing this is abusive.
      this.countReset();
      this.resetStream(id, ErrorCode.REFUSED_STREAM);
      return;
    }
    const stream = new H2Stream(id, this.peer.initialWindowSize);
    stream.state = recvTransition(StreamState.Idle, FrameType.HEADERS, endStream, id);
    if (fields === null) {
      // Over the header-list limit (HPACK bomb, oversized headers): 431, table still in sync.
      this.rejectStream(stream, 431, "LIMIT_HEADER_BYTES");
      return;
    }
    if (fields.length > this.config.limits.maxHeaderCount + 4) {
      this.rejectStream(stream, 431, "LIMIT_HEADER_COUNT");
      return;
    }
    const r = requestHeadFrom(fields, endStream, block.byteLength);
    if (!r.ok) {
      // §8.1.1: a malformed request is a stream PROTOCOL_ERROR.
      this.logReject(400, "H2_MALFORMED_REQUEST", `-`);
      throw streamError(ErrorCode.PROTOCOL_ERROR, id, r.reason);
    }
    const head = r.head;
    if (head.bodyKind === "length" && head.contentLength > this.config.limits.maxBodySize) {
      this.rejectStream(stream, 413, "LIMIT_BODY_SIZE");
      return;
    }
    this.totalStreams++;
    this.streams.set(id, stream);
    stream.contentLength = head.contentLength;
    this.touchIdle();
    const incomingId = head.headers.get("x-request-id");
    const rid = requestIdFor(incomingId);
    const ex = new H2Exchange(this, stream, head, rid);
    stream.ex = ex;
    const tracer = this.conn.ctx.tracer;
    if (tracer !== null) ex.log.trace = tracer.start(head);
    // One h2 connection does the work of up to maxConcurrentStreams HTTP/1 connections: the
    // per-connection request cap scales with it (1000 x 100 by default), then GOAWAY.
    if (this.totalStreams >= this.config.maxRequestsPerConnection * H2_LIMITS.maxConcurrentStreams) this.goAway(ErrorCode.NO_ERROR);
    if (head.method === "CONNECT") {
      // Not a forward proxy; extended CONNECT (RFC 8441) is not offered.
      ex.sendError(405, "METHOD_CONNECT", [["Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"]]);
      return;
    }
    try {
      this.conn.ctx.dispatch(ex);
    } catch (err) {
      handlerThrew(ex, err);
    }
  }

  private onTrailers(s: H2Stream, fields: [string, string][] | null, endStream: boolean): void {
    s.state = recvTransition(s.state, FrameType.HEADERS, endStream, s.id, false);
    // §8.1: a second HEADERS (trailers) must end the stream and carry no pseudo-fields.
    if (!endStream) throw streamError(ErrorCode.PROTOCOL_ERROR, s.id, "trailers without END_STREAM");
    if (fields === null) throw streamError(ErrorCode.PROTOCOL_ERROR, s.id, "trailers over the header-list limit");
    const trailers = new HeaderList();
    for (const [n, v] of fields) {
      if (n.charCodeAt(0) === 0x3a) throw streamError(ErrorCode.PROTOCOL_ERROR, s.id, "pseudo-header in trailers");
      trailers.add(n, v, n);
    }
    this.requestEnded(s, trailers);
  }

  private onDataFrame(f: Frame): void {
    const id = f.streamId;
    const len = f.length;
    // §6.9.1: a sender must not exceed the window we gave; the connection window first.
    if (len > this.connRecvWindow) throw connError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    this.connRecvWindow -= len;
    // The connection window is credited at once: what stays buffered is bounded by the stream windows.
    this.creditConnection(len);
    const s = this.streams.get(id);
    if (s === undefined) {
      if (id > this.lastStreamId) throw connError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      if (this.resetByUs.has(id)) return;
      throw streamError(ErrorCode.STREAM_CLOSED, id, `DATA on closed stream ${id}`);
    }
    const endStream = (f.flags & Flags.END_STREAM) !== 0;
    s.state = recvTransition(s.state, FrameType.DATA, endStream, id);
    if (len > s.recvWindow) throw streamError(ErrorCode.FLOW_CONTROL_ERROR, id, "DATA beyond the stream window");
    s.recvWindow -= len;
    const data = f.payload;
    // Padding is consumed on arrival.
    if (len > data.byteLength) this.creditStream(s, len - data.byteLength);
    if (data.byteLength === 0 && !endStream) this.countCheap();
    s.received += data.byteLength;
    s.lastRecv = performance.now();
    // §8.1.1: content-length must match the DATA frames' total.
    if (s.contentLength >= 0 && (s.received > s.contentLength || (endStream && s.received !== s.contentLength))) {
      throw streamError(ErrorCode.PROTOCOL_ERROR, id, "content-length does not match the DATA frames");
    }
    const ex = s.ex;
    if (ex !== null && data.byteLength > 0) {
      if (s.received > ex.bodyLimit || s.received > this.config.limits.maxBodySize) {
        ex.bodyTooLarge();
        return;
      }
      ex.deliver(data);
    }
    if (endStream) this.requestEnded(s, null);
  }

  private requestEnded(s: H2Stream, trailers: HeaderList | null): void {
    if (s.ex !== null) s.ex.requestEnded(trailers);
    this.maybeRetire(s);
  }

  private onRstStream(f: Frame): void {
    const s = this.streams.get(f.streamId);
    if (s === undefined) {
      // §6.4/§5.1: RST_STREAM on an idle stream is a connection PROTOCOL_ERROR; on a closed one it is ignored.
      if (f.streamId > this.lastStreamId) throw connError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
      return;
    }
    // CVE-2023-44487 (Rapid Reset): streams the client opens and cancels at once cost us a
    // dispatch each without counting against the concurrency limit.
    this.countReset();
    s.state = StreamState.Closed;
    this.streams.delete(s.id);
    this.remember(this.closedIds, s.id);
    s.chunks = [];
    s.pendingBytes = 0;
    s.ex?.clientReset(f.errorCode ?? 0);
    this.afterStreamGone();
  }

  private countReset(): void {
    const now = performance.now();
    if (now - this.windowStart > 1000) {
      this.windowStart = now;
      this.cheapFrames = 0;
      this.clientResets = 0;
    }
    if (++this.clientResets > H2_LIMITS.maxResetsPerSecond) throw connError(ErrorCode.ENHANCE_YOUR_CALM, "too many stream resets (rapid reset)");
  }

  private onSettings(f: Frame): void {
    this.countCheap();
    if ((f.flags & Flags.ACK) !== 0) {
      this.settingsSentAt = 0;
      return;
    }
    const oldInitial = this.peer.initialWindowSize;
    for (const [id, value] of f.settings!) {
      const err = applySetting(this.peer, id, value);
      if (err !== null) throw err;
      if (id === SettingId.HEADER_TABLE_SIZE) this.encoder.setMaxTableSize(Math.min(value, H2_LIMITS.headerTableSize));
    }
    const delta = this.peer.initialWindowSize - oldInitial;
    if (delta !== 0) {
      // §6.9.2: a new initial window size shifts every stream's window by the difference.
      for (const s of this.streams.values()) {
        s.sendWindow += delta;
        if (s.sendWindow > MAX_WINDOW) throw connError(ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window");
      }
    }
    this.conn.out.write(SETTINGS_ACK);
  }

  private onWindowUpdate(f: Frame): void {
    const inc = f.increment!;
    if (f.streamId === 0) {
      this.connSendWindow += inc;
      // §6.9.1: a window above 2^31-1 is a FLOW_CONTROL_ERROR.
      if (this.connSendWindow > MAX_WINDOW) throw connError(ErrorCode.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
      return;
    }
    const s = this.streams.get(f.streamId);
    if (s === undefined) {
      if (f.streamId > this.lastStreamId) throw connError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      return;
    }
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) throw streamError(ErrorCode.FLOW_CONTROL_ERROR, s.id, "stream window above 2^31-1");
  }

  // ---- flow-control credit towards the client ----------------------------------------------

  private creditConnection(n: number): void {
    this.connRecvCredit += n;
    if (!this.readingInput && this.connRecvCredit >= H2_LIMITS.connectionWindow / 2) {
      this.conn.out.write(encodeWindowUpdate(0, this.connRecvCredit));
      this.connRecvWindow += this.connRecvCredit;
      this.connRecvCredit = 0;
    }
  }

  /** Send the WINDOW_UPDATEs collected while an input chunk was read. */
  private flushCredit(): void {
    if (this.dead) {
      this.creditPending.clear();
      return;
    }
    this.creditConnection(0);
    for (const s of this.creditPending) this.creditStream(s, 0);
    this.creditPending.clear();
  }

  /** The handler consumed (or we dropped) n body bytes of stream s: the client may send that many more. */
  creditStream(s: H2Stream, n: number): void {
    if (s.remoteClosed || this.dead) return;
    s.recvCredit += n;
    if (this.readingInput) {
      this.creditPending.add(s);
      return;
    }
    if (s.recvCredit >= DEFAULT_WINDOW / 2) {
      this.conn.out.write(encodeWindowUpdate(s.id, s.recvCredit));
      s.recvWindow += s.recvCredit;
      s.recvCredit = 0;
    }
  }

  // ---- output ---------------------------------------------------------------------------

  /**
   * Responses made outside an input chunk share one socket write. A cached static file is not
   * answered inside the data event but in the freshness batch's setImmediate run
   * (src/static/freshness-batch.ts), which answers the streams of each connection back to back
   * (they were queued by one data event): without this each answer was its own TLS record and
   * send(). One session at a time holds such a cork: the next session's first answer releases
   * the previous one, and a microtask releases the last when the answering code returns to the
   * event loop. Holding one per session would take both shared cork arenas (write-queue.ts) for
   * the whole run and send every other connection down the slower chunk-list path.
   */
  batchOutput(): void {
    if (batchHolder === this || this.readingInput || this.dead) return;
    const prev = batchHolder;
    batchHolder = this;
    this.conn.out.cork();
    if (prev !== null) prev.conn.out.uncork();
    if (!batchEndScheduled) {
      batchEndScheduled = true;
      queueMicrotask(endBatch);
    }
  }

  /** Encode and queue a field block for stream s (HEADERS are not flow-controlled, §6.9). */
  writeHeaders(s: H2Stream, fields: [string, string][], endStream: boolean): number {
    this.beginHeaders();
    for (let i = 0; i < fields.length; i++) this.addField(fields[i]![0], fields[i]![1]);
    return this.sendHeaderBlock(s, endStream);
  }

  /**
   * Start a response field block encoded field by field (addField, addHandlerField), with no
   * field list built in between; sendHeaderBlock() sends it. Nothing else may encode in between.
   */
  beginHeaders(): void {
    this.encoder.begin(FRAME_HEADER_SIZE);
  }

  /** A field whose name is already lowercase and valid over h2. */
  addField(name: string, value: string): void {
    this.encoder.field(name, value, NEVER_INDEXED.has(name));
  }

  /**
   * A field as a handler gave it: the name lowercased (§8.2.1), connection-specific fields
   * dropped (§8.2.2), CR/LF/NUL removed; `skip` (lowercase) is left out too.
   */
  addHandlerField(name: string, value: string, skip: string | null): void {
    const n = lowerName(name);
    if (n === skip || NOT_OVER_H2.has(n)) return;
    this.encoder.field(n, cleanValue(value), NEVER_INDEXED.has(n));
  }

  /**
   * Send the block begun with beginHeaders(): one HEADERS frame written over the octets the
   * encoder reserved in front of it (no copy unless the write queue must keep it), or HEADERS
   * plus CONTINUATION when it is larger than the client's frame size.
   */
  sendHeaderBlock(s: H2Stream, endStream: boolean): number {
    const enc = this.encoder;
    const len = enc.blockLength;
    let n: number;
    if (len <= this.peer.maxFrameSize) {
      const buf = enc.buffer;
      n = FRAME_HEADER_SIZE + len;
      writeFrameHeader(buf, 0, len, FrameType.HEADERS, endStream ? Flags.END_HEADERS | Flags.END_STREAM : Flags.END_HEADERS, s.id);
      this.conn.out.writeTransient(buf, n);
    } else {
      const frames = encodeHeaders(s.id, enc.finish().subarray(FRAME_HEADER_SIZE), endStream, this.peer.maxFrameSize);
      this.conn.out.write(frames);
      n = frames.byteLength;
    }
    if (endStream) this.sentEnd(s);
    return n;
  }

  /**
   * A whole response body sent at once as one DATA frame with END_STREAM, when nothing else of
   * the stream is queued and the windows, the frame size and the write queue allow it: the
   * common small response skips the per-stream queue and the round-robin pass. False: the caller
   * queues it instead.
   */
  sendWholeBody(s: H2Stream, body: Uint8Array): boolean {
    const n = body.byteLength;
    const out = this.conn.out;
    if (this.flushing || this.dead || s.pendingBytes !== 0 || s.endSent || n > s.sendWindow || n > this.connSendWindow || n > this.peer.maxFrameSize || out.overHighWater) return false;
    s.sendWindow -= n;
    this.connSendWindow -= n;
    s.ending = true;
    s.lastSent = performance.now();
    const head = this.dataHead;
    writeFrameHeader(head, 0, n, FrameType.DATA, Flags.END_STREAM, s.id);
    out.writeTransient(head);
    out.write(body);
    if (s.ex !== null) s.ex.sentBytes += n + FRAME_HEADER_SIZE;
    this.sentEnd(s);
    return true;
  }

  /** Scratch for DATA frame headers (writeTransient copies it when the queue keeps it). */
  private readonly dataHead = new Uint8Array(FRAME_HEADER_SIZE);

  /** Queue response body bytes on s; false once its queue is over the high-water mark. */
  queueData(s: H2Stream, chunk: Uint8Array): boolean {
    if (chunk.byteLength > 0) {
      if (s.pendingBytes === 0) s.lastSent = performance.now();
      s.chunks.push(chunk);
      s.pendingBytes += chunk.byteLength;
      this.flushStreams();
    }
    const out = this.conn.out;
    const ok = s.pendingBytes < H2_LIMITS.streamHighWater && !out.overHighWater;
    if (!ok) {
      s.wantDrain = true;
      // Over the mark before any DATA went out (the queue's own corked bytes, or the process
      // over its output budget): no write() said "full", so ask for onDrained explicitly, or a
      // queue that empties at uncork would never wake the producer.
      if (out.overHighWater) out.notifyWhenEmpty();
    }
    return ok;
  }

  /** The handler is done with s: END_STREAM (or trailers) after whatever is still queued. */
  endStream(s: H2Stream, trailers: HeaderPairs | null): void {
    s.ending = true;
    s.trailers = trailers;
    this.flushStreams();
  }

  /**
   * Move queued body bytes into DATA frames: round-robin, one frame per stream per turn, as far
   * as the windows and the write queue allow.
   */
  flushStreams(): void {
    if (this.flushing || this.dead) return;
    this.flushing = true;
    const out = this.conn.out;
    const drained: H2Stream[] = [];
    out.cork();
    try {
      let progress = true;
      let served: H2Stream[] = [];
      while (progress && !out.overHighWater) {
        progress = false;
        served = [];
        for (const s of this.streams.values()) {
          if (s.endSent) continue;
          if (s.pendingBytes === 0) {
            if (s.ending) {
              this.finishSending(s);
              progress = true;
            }
            continue;
          }
          const n = Math.min(s.pendingBytes, s.sendWindow, this.connSendWindow, this.peer.maxFrameSize);
          if (n <= 0) continue;
          const data = takeBytes(s, n);
          s.sendWindow -= n;
          this.connSendWindow -= n;
          s.lastSent = performance.now();
          const last = s.pendingBytes === 0 && s.ending && s.trailers === null;
          writeFrameHeader(this.dataHead, 0, n, FrameType.DATA, last ? Flags.END_STREAM : 0, s.id);
          out.writeTransient(this.dataHead);
          out.write(data);
          if (s.ex !== null) s.ex.sentBytes += n + 9;
          if (last) this.sentEnd(s);
          if (s.wantDrain && s.pendingBytes < H2_LIMITS.streamHighWater) drained.push(s);
          progress = true;
          served.push(s);
          if (out.overHighWater) break;
        }
      }
      if (out.overHighWater) {
        out.notifyWhenEmpty();
        // The pass stopped part-way: the streams it served go to the back of the order, so
        // the next pass (after the queue drains) starts with those it did not reach.
        for (const s of served) {
          if (this.streams.get(s.id) !== s) continue;
          this.streams.delete(s.id);
          this.streams.set(s.id, s);
        }
      }
    } finally {
      out.uncork();
      this.flushing = false;
    }
    if (!out.overHighWater) {
      for (const s of this.streams.values()) if (s.wantDrain && s.pendingBytes < H2_LIMITS.streamHighWater && !drained.includes(s)) drained.push(s);
    }
    for (const s of drained) {
      if (!s.wantDrain || out.overHighWater) continue;
      s.wantDrain = false;
      s.ex?.drained();
    }
    // Streams whose last frame went out in this pass.
    if (this.endedInFlush.length > 0) {
      const ended = this.endedInFlush;
      this.endedInFlush = [];
      for (const s of ended) this.maybeRetire(s);
    }
    if (this.flushAgain) {
      this.flushAgain = false;
      this.flushStreams();
    }
  }

  private finishSending(s: H2Stream): void {
    if (s.trailers !== null && s.trailers.length > 0) {
      const n = this.writeHeaders(s, responseFields(s.trailers, null), true);
      if (s.ex !== null) s.ex.sentBytes += n;
    } else {
      this.conn.out.write(dataFrameHeader(0, s.id, true));
      this.sentEnd(s);
    }
  }

  /** Streams that sent END_STREAM inside flushStreams: retired once the pass is over. */
  private endedInFlush: H2Stream[] = [];

  private sentEnd(s: H2Stream): void {
    if (this.flushing) this.endedInFlush.push(s);
    s.endSent = true;
    s.state = sendEndTransition(s.state);
  }

  /**
   * Forget a stream once both sides are done. If our response is complete while the client is
   * still sending a body nobody reads, RST_STREAM NO_ERROR asks it to stop (§8.1).
   */
  maybeRetire(s: H2Stream): void {
    if (!s.endSent || this.streams.get(s.id) !== s) return;
    const ex = s.ex;
    if (!s.remoteClosed) {
      if (ex !== null && ex.reading) return; // the handler still reads the body (e.g. an early upstream answer)
      if (ex !== null && ex.discarding) return; // a small unread body is read and dropped, like HTTP/1
      this.resetStream(s.id, ErrorCode.NO_ERROR);
      return;
    }
    this.streams.delete(s.id);
    this.remember(this.closedIds, s.id);
    ex?.completed();
    this.afterStreamGone();
  }

  private afterStreamGone(): void {
    this.touchIdle();
    if ((this.goawaySent || this.peerGoaway) && this.streams.size === 0) this.closeWhenFlushed();
  }

  /** A stream came or went while an input chunk was read: the idle state is settled once at its end. */
  private idleDirty = false;

  private touchIdle(): void {
    if (this.readingInput) {
      // Streams opened and answered within one chunk (h2load -m 10, a browser's burst) would
      // flip the server's idle list twice per request.
      this.idleDirty = true;
      return;
    }
    if (this.streams.size === 0) {
      this.idleSince = performance.now();
      this.conn.ctx.idle?.(this.conn, true);
    } else if (this.idleSince !== 0) {
      this.idleSince = 0;
      this.conn.ctx.idle?.(this.conn, false);
    }
  }

  /** Reset one stream (stream error §5.4.2, or our own cancel) and forget it. */
  resetStream(id: number, code: number): void {
    if (this.dead) return;
    this.conn.out.write(encodeRstStream(id, code));
    this.remember(this.resetByUs, id);
    const s = this.streams.get(id);
    if (s === undefined) return;
    s.state = StreamState.Closed;
    s.chunks = [];
    s.pendingBytes = 0;
    this.streams.delete(id);
    s.ex?.serverReset(code === ErrorCode.NO_ERROR ? undefined : "H2_STREAM_RESET");
    this.afterStreamGone();
  }

  /** A request refused before it has an exchange: a small complete response, then the stream is over. */
  private rejectStream(s: H2Stream, status: number, code: string): void {
    const body = errorPage(status);
    this.streams.set(s.id, s);
    const bytes = this.writeHeaders(
      s,
      [
        [":status", String(status)],
        ["date", httpDate()],
        ["server", this.config.serverName],
        ["content-type", "text/html; charset=utf-8"],
        ["content-length", String(body.byteLength)],
      ],
      false,
    );
    s.chunks.push(body);
    s.pendingBytes = body.byteLength;
    s.ending = true;
    this.logReject(status, code, "-", bytes + body.byteLength);
    this.flushStreams();
  }

  private logReject(status: number, code: string, path: string, bytes = 0): void {
    const c = this.conn;
    c.ctx.logger.log({ time: Date.now(), id: nanoid(), ip: c.clientIp, method: "-", path, host: "-", status, bytes, latencyMs: 0, error: code });
    if (c.ctx.metricsOn) UNROUTED.record("-", status, bytes, 0);
  }

  // ---- connection end ---------------------------------------------------------------------

  /**
   * Graceful end (shutdown, reload, max requests, idle): GOAWAY with the last stream we will
   * process; streams up to it finish, later ones are refused; the socket closes when the last
   * stream is done.
   */
  goAway(code: number, debug = ""): void {
    if (this.dead) return;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.conn.out.write(encodeGoaway(this.lastStreamId, code, debug));
    }
    if (this.streams.size === 0) this.closeWhenFlushed();
  }

  /** §5.4.1: GOAWAY with the error, every stream aborted, close once the GOAWAY is out. */
  connectionError(e: H2Error): void {
    if (this.dead) return;
    if (!this.goawaySent) {
      this.goawaySent = true;
      this.conn.out.write(encodeGoaway(this.lastStreamId, e.code, e.message.slice(0, 256)));
    }
    this.dead = true;
    const code = "H2_CONNECTION_ERROR";
    for (const s of this.streams.values()) s.ex?.serverReset(code);
    this.streams.clear();
    this.closeWhenFlushed();
  }

  private closeWhenFlushed(): void {
    if (this.conn.closed) return;
    this.dead = true;
    const out = this.conn.out;
    if (out.pending === 0 && !out.isCorked) {
      this.conn.close();
      return;
    }
    this.closeAfterFlush = true;
    this.conn.deadline = performance.now() + 1000;
    out.notifyWhenEmpty();
  }

  onOutputDrained(): void {
    if (this.closeAfterFlush) {
      if (this.conn.out.pending === 0) this.conn.close();
      return;
    }
    if (this.flushing) {
      // The queue emptied inside flushStreams' own uncork (the kernel took a whole chunk-list
      // batch): the pass is over but flushing is still set, so it must run again, or the streams
      // it stopped for the high-water mark would wait for a drain that never comes.
      this.flushAgain = true;
      return;
    }
    this.flushStreams();
  }

  /** onOutputDrained came while flushStreams was finishing: one more pass when it returns. */
  private flushAgain = false;

  /** The client half-closed: nothing more can arrive; finish what is in flight, then close. */
  onEnd(): void {
    this.peerGoaway = true;
    for (const s of [...this.streams.values()]) {
      if (!s.remoteClosed) {
        // A request cut short by the FIN can never complete.
        s.ex?.bodyBroken("CLIENT_ABORTED");
        this.resetStream(s.id, ErrorCode.CANCEL);
      }
    }
    if (this.streams.size === 0) this.closeWhenFlushed();
  }

  onClose(): void {
    this.dead = true;
    for (const s of this.streams.values()) s.ex?.connectionGone();
    this.streams.clear();
  }

  /** The sweep: preface, SETTINGS ACK, idle, send and per-stream deadlines. */
  checkTimeout(now: number): void {
    const c = this.conn;
    if (c.closed) return;
    const t = this.config.timeouts;
    if (this.closeAfterFlush) {
      if (c.out.pending === 0 && !c.out.isCorked) c.close();
      else if (now - c.out.lastProgress > t.sendIdleMs) c.terminate();
      return;
    }
    if (c.out.pending > 0 && now - c.out.lastProgress > t.sendIdleMs) {
      // The client stopped reading (nginx send_timeout).
      for (const s of this.streams.values()) if (s.ex) s.ex.log.errorCode ??= "CLIENT_SEND_TIMEOUT";
      c.terminate();
      return;
    }
    if (!this.started) {
      if (now > c.deadline) {
        this.logReject(408, "TIMEOUT_H2_PREFACE", "-");
        c.terminate();
      }
      return;
    }
    if (this.settingsSentAt !== 0 && now - this.settingsSentAt > H2_LIMITS.settingsTimeoutMs) {
      // §6.5.3: no ACK in time: SETTINGS_TIMEOUT.
      this.connectionError(connError(ErrorCode.SETTINGS_TIMEOUT, "SETTINGS not acknowledged"));
      return;
    }
    if (this.pendingBlock !== null && now > c.deadline) {
      this.connectionError(connError(ErrorCode.PROTOCOL_ERROR, "header block not completed in time"));
      return;
    }
    if (this.streams.size === 0) {
      if (this.idleSince !== 0 && now - this.idleSince > t.keepAliveMs) this.goAway(ErrorCode.NO_ERROR, "idle");
      return;
    }
    for (const s of [...this.streams.values()]) {
      // Zero-window stall: queued bytes the client's window never lets out.
      const sendIdle = s.ex?.sendIdleMs ?? t.sendIdleMs;
      if (s.pendingBytes > 0 && now - s.lastSent > sendIdle) {
        if (s.ex) s.ex.log.errorCode ??= "H2_WINDOW_STALL";
        if (this.connSendWindow <= 0) {
          this.connectionError(connError(ErrorCode.FLOW_CONTROL_ERROR, "connection window stalled"));
          return;
        }
        this.resetStream(s.id, ErrorCode.CANCEL);
        continue;
      }
      s.ex?.checkTimeout(now);
    }
  }

  /** A header block is in progress: the header timeout runs. */
  get awaitingHeaders(): boolean {
    return this.pendingBlock !== null;
  }
}

/** Remove up to n bytes from the front of s's queue, as one view when they sit in one chunk. */
function takeBytes(s: H2Stream, n: number): Uint8Array {
  const first = s.chunks[0]!;
  s.pendingBytes -= n;
  if (first.byteLength === n) {
    s.chunks.shift();
    return first;
  }
  if (first.byteLength > n) {
    s.chunks[0] = first.subarray(n);
    return first.subarray(0, n);
  }
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const c = s.chunks[0]!;
    const k = Math.min(c.byteLength, n - off);
    out.set(k === c.byteLength ? c : c.subarray(0, k), off);
    off += k;
    if (k === c.byteLength) s.chunks.shift();
    else s.chunks[0] = c.subarray(k);
  }
  return out;
}

/**
 * §8.2.2: fields that mean something only to one HTTP/1.1 connection are never sent over h2
 * (a handler or an upstream may hand us some): the same set a request may not carry.
 */
const NOT_OVER_H2 = CONNECTION_SPECIFIC;
const lowerCache = new Map<string, string>();

function lowerName(n: string): string {
  let l = lowerCache.get(n);
  if (l === undefined) {
    l = asciiLower(n);
    if (lowerCache.size < 1000) lowerCache.set(n, l);
  }
  return l;
}

/** Handler header pairs as an h2 field list: names lowercased (§8.2.1), connection fields dropped, CR/LF removed. */
export function responseFields(pairs: HeaderPairs, status: number | null): [string, string][] {
  const out: [string, string][] = status === null ? [] : [[":status", String(status)]];
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!;
    const name = lowerName(p[0]);
    if (NOT_OVER_H2.has(name)) continue;
    out.push([name, cleanValue(p[1])]);
  }
  return out;
}

/** CR, LF and NUL would be malformed in a field value (§8.2.1): removed as a last line of defence. */
function cleanValue(v: string): string {
  return v.indexOf("\r") >= 0 || v.indexOf("\n") >= 0 || v.indexOf("\0") >= 0 ? v.replace(/[\r\n\0]/g, "") : v;
}

export { EMPTY };
