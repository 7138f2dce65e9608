/**
 * HPACK, RFC 7541: header compression for HTTP/2. The public surface the engine codes against.
 */
export { HpackError } from "./hpack-error.ts";
export { HpackDecoder, type HeaderField, type HpackDecoderOptions } from "./hpack-decoder.ts";
export { HpackEncoder, type HpackEncoderOptions } from "./hpack-encoder.ts";
