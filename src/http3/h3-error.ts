/** HTTP/3 error codes (RFC 9114 §8.1) and QPACK error codes (RFC 9204 §6). */
export const H3 = {
  NO_ERROR: 0x100,
  GENERAL_PROTOCOL_ERROR: 0x101,
  INTERNAL_ERROR: 0x102,
  STREAM_CREATION_ERROR: 0x103,
  CLOSED_CRITICAL_STREAM: 0x104,
  FRAME_UNEXPECTED: 0x105,
  FRAME_ERROR: 0x106,
  EXCESSIVE_LOAD: 0x107,
  ID_ERROR: 0x108,
  SETTINGS_ERROR: 0x109,
  MISSING_SETTINGS: 0x10a,
  REQUEST_REJECTED: 0x10b,
  REQUEST_CANCELLED: 0x10c,
  REQUEST_INCOMPLETE: 0x10d,
  MESSAGE_ERROR: 0x10e,
  CONNECT_ERROR: 0x10f,
  VERSION_FALLBACK: 0x110,
  QPACK_DECOMPRESSION_FAILED: 0x200,
  QPACK_ENCODER_STREAM_ERROR: 0x201,
  QPACK_DECODER_STREAM_ERROR: 0x202,
} as const;

export type H3ErrorCode = (typeof H3)[keyof typeof H3];

const NAMES = new Map<number, string>(Object.entries(H3).map(([k, v]) => [v, k.startsWith("QPACK") ? k : `H3_${k}`]));

/** Wire name of an error code, e.g. H3_FRAME_UNEXPECTED for 0x105. */
export function h3ErrorName(code: number): string {
  return NAMES.get(code) ?? `0x${code.toString(16)}`;
}

/**
 * A protocol violation. `scope` says what the RFC requires closing: the whole connection
 * (CONNECTION_CLOSE with `code`) or only the stream (RESET_STREAM / STOP_SENDING with `code`).
 */
export class H3Error extends Error {
  constructor(
    readonly code: H3ErrorCode,
    readonly scope: "connection" | "stream",
    message: string,
  ) {
    super(`${h3ErrorName(code)}: ${message}`);
    this.name = "H3Error";
  }
}
