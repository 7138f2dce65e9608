/**
 * Byte-exact readers for field-value syntax (RFC 9110 §5.5, §5.6). Pure, no Bun imports.
 *
 * Why not the JavaScript built-ins: each accepts more than HTTP does, and every byte that we read
 * one way and the next hop reads another is a request-smuggling / desync vector.
 *  - String#trim() strips \v, \f, \r, \n and U+00A0 (obs-text 0xA0 on the wire) besides SP/HTAB;
 *    OWS is only SP and HTAB (§5.6.3). `Transfer-Encoding: \xa0chunked` must not read as chunked.
 *  - String#toLowerCase() maps obs-text (0xC0-0xDE) too; HTTP case-insensitivity is ASCII only.
 *  - Number() takes " 1e3 ", "0x10", "+5", "1.0", "Infinity"; parseInt() stops at the first
 *    non-digit ("12abc" → 12). HTTP integers are 1*DIGIT.
 * Strings are latin1: one char per wire byte.
 */
import { TOKEN } from "./chars.ts";

/** OWS = *( SP / HTAB ) (RFC 9110 §5.6.3). */
export function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Strips SP and HTAB only, from both ends. */
export function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isOws(s.charCodeAt(a))) a++;
  while (b > a && isOws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** A-Z → a-z, every other char unchanged (tokens are compared ASCII case-insensitively). */
export function asciiLower(s: string): string {
  let upper = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return asciiLowerSlow(s);
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  // On an all-ASCII string the native (fast) lowercasing is exactly the ASCII mapping.
  return upper ? s.toLowerCase() : s;
}

function asciiLowerSlow(s: string): string {
  let out = "";
  for (let j = 0; j < s.length; j++) {
    const d = s.charCodeAt(j);
    out += d >= 0x41 && d <= 0x5a ? String.fromCharCode(d + 0x20) : s[j]!;
  }
  return out;
}

/** token = 1*tchar (RFC 9110 §5.6.2). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || TOKEN[c] !== 1) return false;
  }
  return true;
}

/**
 * Splits one field value of a token list (`#token`, RFC 9110 §5.6.1) and appends its elements,
 * ASCII-lowercased, to `out`. Elements are separated by OWS "," OWS; empty elements are skipped
 * (§5.6.1.2: a recipient MUST accept them). Returns false if any non-empty element is not
 * 1*tchar. Such an element is still appended, verbatim except for ASCII case, so that it can
 * never compare equal to a clean token (`\xa0close` is not `close`).
 */
export function splitTokenList(value: string, out: string[]): boolean {
  let ok = true;
  const n = value.length;
  let i = 0;
  while (i <= n) {
    let end = value.indexOf(",", i);
    if (end < 0) end = n;
    let a = i;
    let b = end;
    while (a < b && isOws(value.charCodeAt(a))) a++;
    while (b > a && isOws(value.charCodeAt(b - 1))) b--;
    if (b > a) {
      const el = asciiLower(value.slice(a, b));
      if (!isToken(el)) ok = false;
      out.push(el);
    }
    i = end + 1;
  }
  return ok;
}

/** All elements of a token list spread over several field lines, or null when malformed. */
export function parseTokenList(values: readonly string[]): string[] | null {
  const out: string[] = [];
  for (const v of values) if (!splitTokenList(v, out)) return null;
  return out;
}

/** One element of an Upgrade list (RFC 9110 §7.8): protocol = protocol-name ["/" protocol-version]. */
export interface UpgradeProtocol {
  /** protocol-name, ASCII-lowercased. */
  readonly name: string;
  /** The element as received (name and version, original case), OWS removed. */
  readonly text: string;
}

/**
 * Parses Upgrade field values (`Upgrade = #protocol`). Returns null when any non-empty element
 * is not `token ["/" token]`: a malformed protocol is not an upgrade offer (there is no lenient
 * reading of it that every hop would agree on).
 */
export function parseUpgradeList(values: readonly string[]): UpgradeProtocol[] | null {
  const out: UpgradeProtocol[] = [];
  for (const v of values) {
    const n = v.length;
    let i = 0;
    while (i <= n) {
      let end = v.indexOf(",", i);
      if (end < 0) end = n;
      let a = i;
      let b = end;
      while (a < b && isOws(v.charCodeAt(a))) a++;
      while (b > a && isOws(v.charCodeAt(b - 1))) b--;
      if (b > a) {
        const text = v.slice(a, b);
        const slash = text.indexOf("/");
        const name = slash < 0 ? text : text.slice(0, slash);
        if (!isToken(name) || (slash >= 0 && !isToken(text.slice(slash + 1)))) return null;
        out.push({ name: asciiLower(name), text });
      }
      i = end + 1;
    }
  }
  return out;
}

/**
 * 1*DIGIT → its value, or -1 when `s` is empty, has any byte other than "0"-"9", or has more
 * than `maxDigits` digits (leading zeros count: the cap is on bytes read, so the work and the
 * result stay bounded). 15 digits are exact in a double (10^15 < 2^53).
 */
export function parseDecimal(s: string, maxDigits = 15): number {
  const n = s.length;
  if (n === 0 || n > maxDigits) return -1;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}
