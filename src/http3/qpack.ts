/** QPACK, RFC 9204: field compression for HTTP/3. The public surface the engine codes against. */
export { QpackDecoder, DEFAULT_QPACK_DECODER_OPTIONS, type HeaderField, type QpackDecoderOptions, type UnblockedSection } from "./qpack-decoder.ts";
export { QpackEncoder, type QpackEncoderOptions } from "./qpack-encoder.ts";
export { QpackDynamicTable } from "./qpack-dynamic-table.ts";
export { QPACK_STATIC_TABLE } from "./qpack-static-table.ts";
