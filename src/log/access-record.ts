/** One finished exchange, as the access log sees it. */
export interface AccessRecord {
  /** Wall-clock time the request head was complete, ms since epoch. */
  readonly time: number;
  readonly id: string;
  readonly ip: string;
  readonly method: string;
  /** Request target as received (path + query). */
  readonly path: string;
  readonly host: string;
  readonly status: number;
  /** Bytes written to the client for this exchange, head included. */
  readonly bytes: number;
  readonly latencyMs: number;
  /** Stable error code when the server rejected or failed the request, e.g. PARSE_BAD_HEADER, UPSTREAM_CONNECT. */
  readonly error?: string;
  readonly upstream?: string;
  readonly upstreamStatus?: number;
  readonly upstreamConnectMs?: number;
  readonly upstreamTtfbMs?: number;
  /** Response cache result: HIT, MISS, STALE, REVALIDATED, EXPIRED or BYPASS (docs/caching.md). */
  readonly cache?: string;
  readonly userAgent?: string;
  /** W3C trace id and this request's span id (src/observe/tracer.ts). */
  readonly traceId?: string;
  readonly spanId?: string;
  /** HTTP version when it is not HTTP/1.1: "HTTP/1.0" or "HTTP/2" (absent = HTTP/1.1). */
  readonly proto?: string;
  /** TLS connections: protocol version ("TLSv1.3"), cipher suite, and the SNI name when sent. */
  readonly tlsVersion?: string;
  readonly tlsCipher?: string;
  readonly sni?: string;
}

export interface AccessLogger {
  log(record: AccessRecord): void;
  /** Close and reopen the file by path (SIGUSR1, after rotation). */
  reopen(): void;
  /** Write everything buffered now (synchronously). */
  flush(): void;
  close(): void;
}
