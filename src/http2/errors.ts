/**
 * HTTP/2 error codes (RFC 9113 §7) and the error a codec or engine raises. A connection error
 * (§5.4.1) ends the connection with GOAWAY; a stream error (§5.4.2) resets one stream.
 */

export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const NAMES = new Map<number, string>(Object.entries(ErrorCode).map(([k, v]) => [v, k]));

/** The RFC name of a code ("PROTOCOL_ERROR"), or "0x.." for an unknown one (§7: unknown codes MUST NOT trigger special behaviour). */
export function errorName(code: number): string {
  return NAMES.get(code) ?? "0x" + code.toString(16);
}

/**
 * A protocol violation. streamId 0 = connection error (GOAWAY + close); otherwise a stream
 * error (RST_STREAM on that stream, the connection lives on).
 */
export class H2Error extends Error {
  constructor(
    readonly code: number,
    readonly streamId: number,
    message: string,
  ) {
    super(`${errorName(code)}: ${message}`);
  }

  get isConnectionError(): boolean {
    return this.streamId === 0;
  }
}

/** A connection error (§5.4.1). */
export function connError(code: number, message: string): H2Error {
  return new H2Error(code, 0, message);
}

/** A stream error (§5.4.2) on streamId (> 0). */
export function streamError(code: number, streamId: number, message: string): H2Error {
  return new H2Error(code, streamId, message);
}
