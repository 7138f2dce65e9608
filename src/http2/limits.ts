/**
 * HTTP/2 limits and their defaults (docs/http2.md#limits). Fixed, not configurable: each is
 * either an RFC value, a value every major server uses, or derived from the [limits] table.
 */
import type { Limits } from "../config/config.ts";

export const H2_LIMITS = {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we announce (RFC 9113 §6.5.2 recommends at least 100). Beyond: REFUSED_STREAM. */
  maxConcurrentStreams: 100,
  /** Our HPACK dynamic table, both directions (RFC 7541 default). */
  headerTableSize: 4096,
  /** Connection receive window we open at the start (streams keep the 65,535 default). */
  connectionWindow: 1024 * 1024,
  /** Response bytes queued per stream before its producer is told to stop. */
  streamHighWater: 64 * 1024,
  /**
   * A field block (HEADERS + CONTINUATION, compressed) may not exceed the header-section limit
   * (limits.max_header_bytes); CVE-2024-27316.
   */
  maxHeaderBlockBytes: (l: Limits): number => l.maxHeaderBytes,
  /** CONTINUATION frames in one field block (empty ones cost work too). */
  maxContinuationFrames: 64,
  /** PING, SETTINGS, PRIORITY, empty DATA/HEADERS, unknown frames per second before GOAWAY ENHANCE_YOUR_CALM (CVE-2019-9512/9515/9516/9518). */
  maxControlFramesPerSecond: 1000,
  /** Client RST_STREAMs (and refused streams) per second before GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487). */
  maxResetsPerSecond: 200,
  /** Bytes queued for a client that does not read: beyond it a PING/SETTINGS is not answered but the connection ends. */
  maxQueuedControlBytes: 1024 * 1024,
  /** §6.5.3: our SETTINGS must be acknowledged within this time. */
  settingsTimeoutMs: 10_000,
  /** Recently reset stream ids remembered (their in-flight frames are ignored, not errors). */
  rememberResets: 256,
} as const;
