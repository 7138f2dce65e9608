export { HeaderList } from "./header-list.ts";
export type { RequestHead, ResponseHead, BodyKind, TargetForm } from "./message-head.ts";
export { MessageParser, ParseError, validHost, type ParseEvent } from "./message-parser.ts";
export { statusText } from "./status.ts";
export * from "./serialize.ts";
