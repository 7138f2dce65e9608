/**
 * SETTINGS parameters (RFC 9113 §6.5.2): identifiers, initial values, the validity rules a
 * receiver MUST enforce, and the peer's settings as an engine tracks them.
 */
import { connError, ErrorCode, type H2Error } from "./errors.ts";

export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** §6.5.2: the largest flow-control window, 2^31-1. */
export const MAX_WINDOW = 0x7fffffff;
/** §6.5.2: the initial (and minimum) SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
/** §6.5.2: the largest SETTINGS_MAX_FRAME_SIZE, 2^24-1. */
export const MAX_MAX_FRAME_SIZE = 0xffffff;
/** §6.9.2: every window starts at 65,535 until SETTINGS says otherwise. */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_HEADER_TABLE_SIZE = 4_096;

/** The settings one endpoint has announced (initial values per §6.5.2 until a SETTINGS frame arrives). */
export interface PeerSettings {
  headerTableSize: number;
  enablePush: boolean;
  /** Infinity = unlimited (the initial value). */
  maxConcurrentStreams: number;
  initialWindowSize: number;
  maxFrameSize: number;
  /** Infinity = unlimited (the initial value). */
  maxHeaderListSize: number;
}

export function initialSettings(): PeerSettings {
  return {
    headerTableSize: DEFAULT_HEADER_TABLE_SIZE,
    enablePush: true,
    maxConcurrentStreams: Number.POSITIVE_INFINITY,
    initialWindowSize: DEFAULT_WINDOW,
    maxFrameSize: DEFAULT_MAX_FRAME_SIZE,
    maxHeaderListSize: Number.POSITIVE_INFINITY,
  };
}

/**
 * Apply one parameter to `s`; returns an error for a value §6.5.2 forbids (ENABLE_PUSH not 0/1,
 * INITIAL_WINDOW_SIZE over 2^31-1, MAX_FRAME_SIZE outside 2^14..2^24-1). Unknown identifiers
 * MUST be ignored.
 */
export function applySetting(s: PeerSettings, id: number, value: number): H2Error | null {
  switch (id) {
    case SettingId.HEADER_TABLE_SIZE:
      s.headerTableSize = value;
      return null;
    case SettingId.ENABLE_PUSH:
      if (value > 1) return connError(ErrorCode.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH must be 0 or 1");
      s.enablePush = value === 1;
      return null;
    case SettingId.MAX_CONCURRENT_STREAMS:
      s.maxConcurrentStreams = value;
      return null;
    case SettingId.INITIAL_WINDOW_SIZE:
      if (value > MAX_WINDOW) return connError(ErrorCode.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1");
      s.initialWindowSize = value;
      return null;
    case SettingId.MAX_FRAME_SIZE:
      if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) return connError(ErrorCode.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE outside 16384..16777215");
      s.maxFrameSize = value;
      return null;
    case SettingId.MAX_HEADER_LIST_SIZE:
      s.maxHeaderListSize = value;
      return null;
    default:
      return null;
  }
}
