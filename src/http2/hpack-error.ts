/**
 * A header block that cannot be decoded. HTTP/2 treats it as a connection error of type
 * COMPRESSION_ERROR (RFC 9113 §4.3): the decoder's dynamic table is no longer in sync.
 */
export class HpackError extends Error {
  readonly code = "COMPRESSION_ERROR";
  constructor(message: string) {
    super(message);
    this.name = "HpackError";
  }
}
