/**
 * Range requests, RFC 9110 §14. Pure: parses the Range field against a representation length
 * and plans multipart/byteranges bodies; the handler does the I/O.
 *
 * Decisions (each maps to one response):
 *  - "ignore"        → 200 with the whole file. Used for: a unit other than bytes (§14.2: an
 *                      origin server MUST ignore a range unit it does not understand); a
 *                      syntactically invalid range-set, including last-pos < first-pos (§14.1.1,
 *                      §14.2: a server MAY ignore an invalid ranges-specifier — ignoring is the
 *                      safe interpretation); and the denial-of-service guards below.
 *  - "unsatisfiable" → 416 with `Content-Range: bytes *\/SIZE` (§15.5.17, §14.4).
 *  - "single"        → 206 with `Content-Range: bytes a-b/SIZE`.
 *  - "multi"         → 206 multipart/byteranges (§14.6).
 *
 * Multiple ranges: the satisfiable ones are kept (unsatisfiable members are dropped, §14.2),
 * then, if any overlap or touch, sorted and coalesced (§14.2 allows coalescing; the parts then
 * come in ascending order instead of request order, a SHOULD we give up only in that case).
 * A request whose ranges still number more than MAX_RANGES, or whose requested lengths add up
 * to more than the file (many overlapping ranges: the "Apache Killer", CVE-2011-3192), gets
 * the plain 200 — the same defence Apache adopted. If only one range is left after coalescing
 * we answer a single-part 206: §14.6 forbids multipart for a single range, and clients must
 * accept a coalesced answer.
 *
 * Empty representation: "0-" etc. are unsatisfiable (no first-pos is below a length of 0) → 416
 * `bytes *\/0`. A suffix range ("-5") is "satisfiable" per §14.1.1, but a 206 cannot express
 * an empty range (Content-Range needs first ≤ last), so we ignore Range and send the empty 200.
 */

export interface ByteRange {
  /** First byte offset. */
  readonly start: number;
  /** Last byte offset, inclusive (as in Content-Range). */
  readonly end: number;
}

export type RangeDecision =
  | { readonly kind: "ignore"; readonly reason: "unit" | "syntax" | "empty" | "overlap" | "too-many" }
  | { readonly kind: "unsatisfiable" }
  | { readonly kind: "single"; readonly range: ByteRange }
  | { readonly kind: "multi"; readonly ranges: readonly ByteRange[] };

/** Most parts we serve in one multipart/byteranges response. */
export const MAX_RANGES = 16;

import { TOKEN } from "../http1/chars.ts";
import { asciiLower, trimOws } from "../http1/field-syntax.ts";

const ignore = (reason: "unit" | "syntax" | "empty" | "overlap" | "too-many"): RangeDecision => ({ kind: "ignore", reason });

/** RFC 9110 §5.6.2 token characters. */
function isTchar(c: number): boolean {
  return c <= 0xff && TOKEN[c] === 1;
}

/** 1*DIGIT → number (huge values become imprecise but stay huge, which is all we compare), or -1. */
function digits(s: string, from: number, to: number): number {
  if (from >= to) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Parse a Range field value for a representation of `size` bytes.
 *   Range = range-unit "=" range-set          (no whitespace around "=")
 *   range-set = 1#range-spec                  (OWS around commas, empty elements tolerated)
 *   range-spec = int-range / suffix-range / other-range
 *   int-range = first-pos "-" [ last-pos ] ;  suffix-range = "-" suffix-length
 * Whitespace is OWS only, SP and HTAB (RFC 9110 §5.6.3): any other byte (\xa0, \v, …) makes
 * the value invalid, and an invalid Range is ignored (200 with the whole file, §14.2).
 */
export function parseRange(value: string, size: number): RangeDecision {
  const v = trimOws(value);
  const eq = v.indexOf("=");
  if (eq <= 0) return ignore("syntax");
  for (let i = 0; i < eq; i++) if (!isTchar(v.charCodeAt(i))) return ignore("syntax");
  // §14.1: range units are compared case-insensitively (ASCII).
  if (asciiLower(v.slice(0, eq)) !== "bytes") return ignore("unit");

  const satisfiable: ByteRange[] = [];
  let specs = 0;
  for (const element of v.slice(eq + 1).split(",")) {
    const spec = trimOws(element);
    if (spec === "") continue; // empty list element (§5.6.1)
    specs++;
    const dash = spec.indexOf("-");
    if (dash < 0) return ignore("syntax");
    if (dash === 0) {
      // suffix-range: the last N bytes
      const len = digits(spec, 1, spec.length);
      if (len < 0) return ignore("syntax");
      if (len === 0) continue; // unsatisfiable (§14.1.1 requires a non-zero suffix-length)
      if (size === 0) return ignore("empty"); // see header comment
      satisfiable.push({ start: Math.max(0, size - len), end: size - 1 });
    } else {
      const first = digits(spec, 0, dash);
      if (first < 0) return ignore("syntax");
      let last: number;
      if (dash === spec.length - 1) last = Infinity;
      else {
        last = digits(spec, dash + 1, spec.length);
        if (last < 0) return ignore("syntax");
        if (last < first) return ignore("syntax"); // §14.1.1: invalid range-spec
      }
      if (first >= size) continue; // unsatisfiable
      satisfiable.push({ start: first, end: Math.min(last, size - 1) });
    }
  }
  if (specs === 0) return ignore("syntax"); // 1#range-spec needs at least one
  if (satisfiable.length === 0) return { kind: "unsatisfiable" };
  if (satisfiable.length === 1) return { kind: "single", range: satisfiable[0]! };

  // Amplification guard (CVE-2011-3192): never send more bytes as parts than the file has.
  let requested = 0;
  for (const r of satisfiable) requested += r.end - r.start + 1;
  if (requested > size) return ignore("overlap");

  const ranges = coalesce(satisfiable);
  if (ranges.length > MAX_RANGES) return ignore("too-many");
  if (ranges.length === 1) return { kind: "single", range: ranges[0]! };
  return { kind: "multi", ranges };
}

/**
 * Merge overlapping or adjacent ranges. When none overlap or touch, the request order is kept
 * (§14.2: parts SHOULD follow the order of the Range field); otherwise the result is ascending.
 */
export function coalesce(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  let merges = false;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start <= sorted[i - 1]!.end + 1) {
      merges = true;
      break;
    }
  }
  if (!merges) return [...ranges];
  const out: ByteRange[] = [];
  let cur = sorted[0]!;
  for (let i = 1; i < sorted.length; i++) {
    const r = sorted[i]!;
    if (r.start <= cur.end + 1) cur = { start: cur.start, end: Math.max(cur.end, r.end) };
    else {
      out.push(cur);
      cur = r;
    }
  }
  out.push(cur);
  return out;
}

/** Content-Range of a 206 part (§14.4). */
export function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end}/${size}`;
}

/** Content-Range of a 416 (§14.4: unsatisfied-range = "*\/" complete-length). */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}

/** One part of a multipart/byteranges body: its header block, then bytes start..end of the file. */
export interface MultipartPart {
  readonly head: Uint8Array;
  readonly start: number;
  readonly end: number;
}

export interface MultipartPlan {
  /** Value for the response's Content-Type. */
  readonly contentType: string;
  readonly parts: readonly MultipartPart[];
  /** The close-delimiter. */
  readonly trailer: Uint8Array;
  /** Total body length, for Content-Length. */
  readonly length: number;
}

const encoder = new TextEncoder();

/**
 * Lay out a multipart/byteranges body (§14.6, RFC 2046 §5.1.1):
 *   CRLF "--" boundary CRLF Content-Type CRLF Content-Range CRLF CRLF <bytes>   (per part)
 *   CRLF "--" boundary "--" CRLF
 * The leading CRLF before the first delimiter is an empty preamble, as nginx sends it. The
 * length is known up front, so the response carries Content-Length.
 */
export function planMultipart(
  ranges: readonly ByteRange[],
  size: number,
  partContentType: string,
  boundary: string,
): MultipartPlan {
  let length = 0;
  const parts: MultipartPart[] = [];
  for (const r of ranges) {
    const head = encoder.encode(
      `\r\n--${boundary}\r\nContent-Type: ${partContentType}\r\nContent-Range: ${contentRange(r, size)}\r\n\r\n`,
    );
    parts.push({ head, start: r.start, end: r.end });
    length += head.length + (r.end - r.start + 1);
  }
  const trailer = encoder.encode(`\r\n--${boundary}--\r\n`);
  length += trailer.length;
  return { contentType: `multipart/byteranges; boundary=${boundary}`, parts, trailer, length };
}

/**
 * A boundary that cannot plausibly occur in the file: 24 random hex digits (96 bits). RFC 2046
 * §5.1.1 allows up to 70 characters from a restricted set; hex digits are all in it.
 */
export function makeBoundary(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += (b < 16 ? "0" : "") + b.toString(16);
  return s;
}
