/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): parsing and validating the
 * `traceparent` and `tracestate` request fields, and writing traceparent.
 *
 *   traceparent: 00-<trace-id: 32 lowercase hex>-<parent-id: 16 lowercase hex>-<flags: 2 hex>
 *
 * A malformed traceparent is replaced (we start a new trace, §3.2: "the vendor MUST create a new
 * traceparent"); tracestate is then dropped too (§3.3: without a valid traceparent it has no
 * meaning), and a tracestate that breaks its grammar is dropped whole rather than repaired.
 *
 * Pure code: no Bun imports.
 */

export interface TraceParent {
  readonly traceId: string;
  readonly parentId: string;
  /** Bit 0: sampled. */
  readonly flags: number;
}

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

function allZero(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 0x30) return false;
  return true;
}

/**
 * The traceparent field value, or null when absent or malformed (§3.2.2). `values` are all the
 * field lines received: more than one traceparent is malformed.
 */
export function parseTraceparent(values: readonly string[]): TraceParent | null {
  if (values.length !== 1) return null;
  const v = values[0]!;
  // §3.2.2.1: version "ff" is invalid; version 00 is exactly 55 characters; a later version may
  // append fields after a "-" and is parsed as 00 for what we understand.
  if (v.length < 55 || !isLowerHex(v, 0, 2) || v.startsWith("ff")) return null;
  if (v.startsWith("00") ? v.length !== 55 : v.length > 55 && v.charCodeAt(55) !== 0x2d) return null;
  if (v.charCodeAt(2) !== 0x2d || v.charCodeAt(35) !== 0x2d || v.charCodeAt(52) !== 0x2d) return null;
  if (!isLowerHex(v, 3, 35) || allZero(v, 3, 35)) return null; // trace-id (§3.2.2.3)
  if (!isLowerHex(v, 36, 52) || allZero(v, 36, 52)) return null; // parent-id (§3.2.2.4)
  if (!isLowerHex(v, 53, 55)) return null; // trace-flags (§3.2.2.5)
  return { traceId: v.slice(3, 35), parentId: v.slice(36, 52), flags: parseInt(v.slice(53, 55), 16) };
}

/** §3.3.1.3: simple-key / tenant@system keys and printable values without "," and "=". */
const KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_MEMBERS = 32;

/**
 * The tracestate to forward (list members joined by ","), or null when absent or malformed.
 * Several field lines are one list (RFC 9110 §5.3). Empty members are allowed and dropped.
 */
export function parseTracestate(values: readonly string[]): string | null {
  if (values.length === 0) return null;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const line of values) {
    for (const raw of line.split(",")) {
      // Optional whitespace around members is spaces and tabs only (§3.3.1.2).
      let a = 0;
      let b = raw.length;
      while (a < b && (raw.charCodeAt(a) === 0x20 || raw.charCodeAt(a) === 0x09)) a++;
      while (b > a && (raw.charCodeAt(b - 1) === 0x20 || raw.charCodeAt(b - 1) === 0x09)) b--;
      if (a === b) continue;
      const m = raw.slice(a, b);
      const eq = m.indexOf("=");
      if (eq <= 0) return null;
      const key = m.slice(0, eq);
      if (!KEY.test(key) || !VALUE.test(m.slice(eq + 1)) || keys.has(key)) return null;
      keys.add(key);
      members.push(m);
    }
  }
  if (members.length === 0 || members.length > MAX_MEMBERS) return null;
  return members.join(",");
}

/** A traceparent value (version 00). Only the sampled bit is propagated. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}
