/** One stored response (RFC 9111 §3) and what serving it needs. Pure, no Bun imports. */
import type { CacheDirectives } from "./cache-control.ts";
import type { AgeInputs } from "./freshness.ts";

export interface CacheEntry {
  /** Primary key (the route's `key` template rendered for the request). */
  readonly key: string;
  /** Secondary key from Vary (src/cache/vary.ts); "" when the response does not vary. */
  readonly secondary: string;
  /** Lowercase field names of the response's Vary, sorted. */
  readonly vary: readonly string[];
  readonly status: number;
  /** Stored header fields (no hop-by-hop, Age, Cache-Status or framing fields). */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
  readonly age: AgeInputs;
  /** Freshness lifetime in seconds (§4.2.1). */
  readonly lifetime: number;
  /** The stored response's Cache-Control. */
  readonly cc: CacheDirectives;
  readonly etag: string | null;
  readonly lastModified: string | null;
  /** Bytes charged against [cache] memory. */
  readonly size: number;
}

/** Fixed per-entry overhead charged besides header and body bytes (objects, map slots). */
export const ENTRY_OVERHEAD = 256;

/** The bytes an entry is charged: body, fields, keys and a fixed overhead. */
export function entrySize(key: string, secondary: string, headers: ReadonlyArray<readonly [string, string]>, body: Uint8Array): number {
  let n = ENTRY_OVERHEAD + body.byteLength + 2 * (key.length + secondary.length);
  for (const [k, v] of headers) n += 2 * (k.length + v.length) + 32;
  return n;
}
