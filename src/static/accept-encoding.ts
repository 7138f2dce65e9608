/**
 * Content-coding negotiation: Accept-Encoding (RFC 9110 §12.5.3) against the codings a route
 * offers. Pure, no Bun imports; unit-tested as a table in tests/unit/static-accept-encoding.test.ts.
 *
 *   Accept-Encoding  = #( codings [ weight ] )
 *   codings          = content-coding / "identity" / "*"
 *   weight           = OWS ";" OWS "q=" qvalue
 *   qvalue           = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
 *
 * Rules applied (each from §12.5.3 unless noted):
 *  - No field at all: only identity. §12.5.3 allows any coding then, but old clients that send
 *    no field often cannot decode anything (nginx and Caddy send identity too).
 *  - A field with an empty value: only identity.
 *  - q=0 means "not acceptable". "*" matches every coding not listed by name, identity included.
 *  - identity is acceptable unless "identity;q=0", or "*;q=0" without an identity entry.
 *    When the client did not rate identity (no entry, no "*"), it ranks after every acceptable
 *    coding: a client that lists gzip wants gzip, whatever its q.
 *  - Highest q wins; equal q → the server's order (the offered list), identity last.
 *  - Names compare ASCII case-insensitively (§8.4.1: content codings are case-insensitive);
 *    "x-gzip" is gzip (§8.4.1.3).
 *  - A malformed element (bad q, stray parameters) is skipped, the rest still counts. A wholly
 *    unreadable field degrades to "identity only": never 406 because of syntax we could not read.
 */
import { asciiLower, isOws } from "../http1/field-syntax.ts";
import { TOKEN } from "../http1/chars.ts";

/** Sentinel name for the identity representation in a ranking. */
export const IDENTITY = "identity";

/** q of an implicit (unrated) identity: below every q a client can write except 0. */
const IMPLICIT_IDENTITY_Q = 0.5;

export interface AcceptEntry {
  /** Lowercase coding name, "identity" or "*". */
  readonly name: string;
  /** Weight in thousandths, 0..1000. */
  readonly q: number;
}

/**
 * Parse an Accept-Encoding value into entries (lowercase names, q in thousandths). Malformed
 * elements are dropped. Pure byte-level parsing: no trim()/Number() on wire data.
 */
export function parseAcceptEncoding(value: string): AcceptEntry[] {
  const out: AcceptEntry[] = [];
  const n = value.length;
  let i = 0;
  while (i < n) {
    // skip OWS and empty list elements (§5.6.1)
    while (i < n && (isOws(value.charCodeAt(i)) || value.charCodeAt(i) === 0x2c)) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && isTokenChar(value.charCodeAt(j))) j++;
    const name = j > i ? asciiLower(value.slice(i, j)) : "";
    let q = 1000;
    let ok = name !== "";
    i = j;
    // parameters: only q is defined for Accept-Encoding
    for (;;) {
      let k = i;
      while (k < n && isOws(value.charCodeAt(k))) k++;
      if (k >= n || value.charCodeAt(k) !== 0x3b /* ; */) {
        i = k;
        break;
      }
      k++;
      while (k < n && isOws(value.charCodeAt(k))) k++;
      const c = value.charCodeAt(k);
      if ((c === 0x71 || c === 0x51) /* q/Q */ && value.charCodeAt(k + 1) === 0x3d /* = */) {
        let e = k + 2;
        while (e < n && isTokenChar(value.charCodeAt(e))) e++;
        const parsed = parseQvalue(value.slice(k + 2, e));
        if (parsed < 0) ok = false;
        else q = parsed;
        i = e;
      } else {
        ok = false;
        let e = k;
        while (e < n && value.charCodeAt(e) !== 0x2c) e++;
        i = e;
        break;
      }
    }
    // anything else before the next comma makes the element malformed
    while (i < n && value.charCodeAt(i) !== 0x2c) {
      if (!isOws(value.charCodeAt(i))) ok = false;
      i++;
    }
    if (ok) out.push({ name: name === "x-gzip" ? "gzip" : name, q });
  }
  return out;
}

/** qvalue → thousandths, or -1 when it is not a qvalue (§12.4.2). */
export function parseQvalue(s: string): number {
  const n = s.length;
  if (n === 0 || n > 5) return -1;
  const first = s.charCodeAt(0);
  if (first !== 0x30 && first !== 0x31) return -1;
  if (n === 1) return first === 0x31 ? 1000 : 0;
  if (s.charCodeAt(1) !== 0x2e) return -1;
  let frac = 0;
  let scale = 100;
  for (let i = 2; i < n; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    frac += d * scale;
    scale /= 10;
  }
  if (first === 0x31) return frac === 0 ? 1000 : -1;
  return frac;
}

function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN[c] === 1;
}

/**
 * The representations to try, best first: offered codings and "identity", each with q > 0,
 * ordered by q (highest first) then by `offered` order (identity after every coding). The
 * caller serves the first one it can (a precompressed file may be missing); an empty list
 * means nothing acceptable is offered: 406 (§15.5.7).
 *
 * @param value the Accept-Encoding field value(s) joined with ", ", or null when absent
 * @param offered lowercase coding names in server preference order
 */
export function rankCodings(value: string | null, offered: readonly string[]): string[] {
  if (value === null) return [IDENTITY];
  const entries = parseAcceptEncoding(value);
  if (entries.length === 0) return [IDENTITY]; // empty or unreadable field: identity only
  let star = -1;
  let identity = -1;
  for (const e of entries) {
    if (e.name === "*") star = Math.max(star, e.q);
    else if (e.name === IDENTITY) identity = Math.max(identity, e.q);
  }
  const scored: Array<{ name: string; q: number; order: number }> = [];
  offered.forEach((name, order) => {
    let q = -1;
    for (const e of entries) if (e.name === name && e.q > q) q = e.q;
    if (q < 0) q = star; // not listed by name: "*" decides (or not acceptable)
    if (q > 0) scored.push({ name, q, order });
  });
  const iq = identity >= 0 ? identity : star >= 0 ? star : IMPLICIT_IDENTITY_Q;
  if (iq > 0) scored.push({ name: IDENTITY, q: iq, order: offered.length });
  scored.sort((a, b) => b.q - a.q || a.order - b.order);
  return scored.map((s) => s.name);
}
