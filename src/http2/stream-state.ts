/**
 * The stream state machine of RFC 9113 §5.1, server side (no push, so "reserved" states never
 * occur). recv() says what a received frame does to a stream, or which error it is.
 */
import { connError, ErrorCode, streamError } from "./errors.ts";
import { FrameType } from "./frames.ts";

export const StreamState = {
  Idle: 0,
  Open: 1,
  /** The client sent END_STREAM: it sends nothing more but WINDOW_UPDATE, PRIORITY, RST_STREAM. */
  HalfClosedRemote: 2,
  /** We sent END_STREAM: only the client's side is still open. */
  HalfClosedLocal: 3,
  Closed: 4,
} as const;
export type StreamStateValue = (typeof StreamState)[keyof typeof StreamState];

/**
 * The state after receiving a frame of `type` (END_STREAM flag `endStream`) on a stream in
 * `s`. Throws H2Error where §5.1 makes the frame an error. `resetByUs`: we reset the stream,
 * so frames the client sent before it saw our RST_STREAM are ignored (§5.1 "closed", §6.4).
 */
export function recvTransition(s: StreamStateValue, type: number, endStream: boolean, streamId: number, resetByUs = false): StreamStateValue {
  const ctrl = type === FrameType.PRIORITY || type === FrameType.WINDOW_UPDATE || type === FrameType.RST_STREAM;
  if (type === FrameType.RST_STREAM) return StreamState.Closed;
  switch (s) {
    case StreamState.Idle:
      // §5.1 idle: HEADERS opens it, PRIORITY is allowed; anything else is a connection PROTOCOL_ERROR.
      if (type === FrameType.HEADERS) return endStream ? StreamState.HalfClosedRemote : StreamState.Open;
      if (type === FrameType.PRIORITY) return StreamState.Idle;
      throw connError(ErrorCode.PROTOCOL_ERROR, `frame type ${type} on idle stream ${streamId}`);
    case StreamState.Open:
      return endStream && (type === FrameType.DATA || type === FrameType.HEADERS) ? StreamState.HalfClosedRemote : StreamState.Open;
    case StreamState.HalfClosedLocal:
      return endStream && (type === FrameType.DATA || type === FrameType.HEADERS) ? StreamState.Closed : StreamState.HalfClosedLocal;
    case StreamState.HalfClosedRemote:
      // §5.1 half-closed (remote): anything but WINDOW_UPDATE, PRIORITY, RST_STREAM is a stream STREAM_CLOSED error.
      if (ctrl) return s;
      throw streamError(ErrorCode.STREAM_CLOSED, streamId, `frame type ${type} after END_STREAM`);
    default:
      // §5.1 closed: PRIORITY / WINDOW_UPDATE are ignored; after our RST_STREAM in-flight frames
      // are ignored too; otherwise DATA/HEADERS are a STREAM_CLOSED error.
      if (ctrl || resetByUs) return s;
      throw streamError(ErrorCode.STREAM_CLOSED, streamId, `frame type ${type} on closed stream`);
  }
}

/** The state after we send END_STREAM. */
export function sendEndTransition(s: StreamStateValue): StreamStateValue {
  if (s === StreamState.Open) return StreamState.HalfClosedLocal;
  return StreamState.Closed;
}
