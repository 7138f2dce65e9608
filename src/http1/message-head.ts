import type { HeaderList } from "./header-list.ts";

/** RFC 9112 §3.2: the four forms of request-target. */
export type TargetForm = "origin" | "absolute" | "authority" | "asterisk";

/** How the body of a message is delimited (RFC 9112 §6.3). */
export type BodyKind = "none" | "length" | "chunked" | "close";

export interface RequestHead {
  readonly method: string;
  /** The request-target exactly as received (latin1). */
  readonly target: string;
  readonly form: TargetForm;
  /** Path part, still percent-encoded; "/" for an empty absolute-form path, "*" for asterisk-form, the authority for CONNECT. */
  readonly path: string;
  /** Query including its leading "?", or "". */
  readonly query: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  readonly minor: 0 | 1;
  readonly headers: HeaderList;
  /** Host header value; for absolute-form the URI's authority (RFC 9112 §3.2.2). "" when absent (HTTP/1.0 only). */
  readonly host: string;
  readonly bodyKind: BodyKind;
  /** Declared length when bodyKind is "length", else -1. */
  readonly contentLength: number;
  /** Whether the connection may persist after this exchange (RFC 9112 §9.3), from version + Connection tokens. */
  readonly keepAlive: boolean;
  /** Expect: 100-continue was sent (HTTP/1.1 only, RFC 9110 §10.1.1). */
  readonly expectContinue: boolean;
  /** Lowercased tokens of all Connection fields. */
  readonly connection: readonly string[];
  /** Upgrade field value when Connection lists "upgrade", else null. */
  readonly upgrade: string | null;
  /** Bytes of the head (request line through the empty line), for accounting. */
  readonly headBytes: number;
  /**
   * Fields the route's request_headers rules `set` (lowercase names; a set replaces every copy
   * the client sent). The operator vouches for them, so the proxy forwards them even where it
   * drops the client's own copies (X-Real-IP and the other forwarding fields from an untrusted
   * peer). Absent: none.
   */
  readonly configured?: ReadonlySet<string>;
  /**
   * The path prefix strip_prefix removed (e.g. "/docs"): what the client sees in front of
   * `path`. Handlers that build client-facing URLs (a directory redirect, a rewritten upstream
   * Location) put it back. Absent: "".
   */
  readonly mount?: string;
  /** 2 when the request came over HTTP/2 (minor is then 1: HTTP/1.1 semantics for the code that reads it). Absent: HTTP/1.x. */
  readonly httpVersion?: 2;
}

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  readonly minor: 0 | 1;
  readonly headers: HeaderList;
  readonly bodyKind: BodyKind;
  readonly contentLength: number;
  /** The server intends to keep the connection (version + Connection tokens). */
  readonly keepAlive: boolean;
  readonly connection: readonly string[];
  readonly headBytes: number;
}
