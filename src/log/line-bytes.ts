/**
 * Writing access-log fields straight into a byte buffer, without building the line as a string.
 *
 * The string formatters (formatText / formatJson) are the reference: the encoders in
 * format-text.ts and format-json.ts must produce exactly the bytes of
 * `Buffer.from(formatX(r), "latin1")` (tests/unit/log-format.test.ts checks that for arbitrary
 * records). Every helper here returns the offset after what it wrote. None checks bounds: the
 * caller reserves room first with lineBound() (writes past the end of a Uint8Array are dropped
 * by the engine, never out of bounds, but the caller never lets it come to that).
 *
 * Numbers are written digit by digit only where that is provably what String()/toFixed()/
 * JSON.stringify() print (non-negative safe integers; fixed-point values away from a rounding
 * tie); anything else goes through the same JavaScript conversion as the string formatter.
 */

const HEX = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]; // "0"-"9", "a"-"f"

/**
 * An upper bound of the encoded length of a record whose string fields have total length
 * `stringChars`: each code unit becomes at most 6 bytes (\uHHHH), plus keys, separators,
 * numbers (at most ~30 bytes each) and the timestamp.
 */
export function lineBound(stringChars: number): number {
  return stringChars * 6 + 640;
}

/** An ASCII constant (keys, separators, level names): one byte per code unit. */
export function ascii(buf: Uint8Array, off: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[off++] = s.charCodeAt(i);
  return off;
}

/** A non-negative safe integer in decimal, as String(n) prints it. */
export function uint(buf: Uint8Array, off: number, n: number): number {
  if (n < 10) {
    buf[off] = 48 + n;
    return off + 1;
  }
  let digits = 1;
  for (let p = 10; p <= n; p *= 10) digits++;
  let end = off + digits;
  for (let i = end - 1; i >= off; i--) {
    const q = Math.floor(n / 10);
    buf[i] = 48 + (n - q * 10);
    n = q;
  }
  return end;
}

/** String(Math.trunc(n)) for finite n, "-" otherwise (formatText's int()). */
export function textInt(buf: Uint8Array, off: number, n: number): number {
  if (!Number.isFinite(n)) {
    buf[off] = 45;
    return off + 1;
  }
  const t = Math.trunc(n);
  if (t >= 0 && t <= Number.MAX_SAFE_INTEGER) return uint(buf, off, t);
  return ascii(buf, off, String(t));
}

/** JSON.stringify(n) for a number (null when not finite). */
export function jsonNumber(buf: Uint8Array, off: number, n: number): number {
  if (Number.isInteger(n) && n >= 0 && n <= Number.MAX_SAFE_INTEGER) return uint(buf, off, n);
  return ascii(buf, off, JSON.stringify(n));
}

/**
 * Thousandths k = round(n × 1000) when that equals what n.toFixed(3) rounds to; -1 when this
 * fast path cannot be sure: negative, 1e6 or more (there the product's rounding error, up to
 * half an ulp of 1e9 ≈ 6e-8, is no longer far below the margin), or within 1e-6 of a rounding
 * tie, where the product n × 1000 may itself have rounded across the tie (toFixed rounds the
 * exact value).
 */
function thousandths(n: number): number {
  if (!(n >= 0) || n >= 1e6) return -1;
  const x = n * 1000;
  const k = Math.round(x);
  const frac = x - Math.floor(x);
  if (Math.abs(frac - 0.5) < 1e-6) return -1;
  return k;
}

/** n.toFixed(3) + "ms" for finite n, "-" otherwise (formatText's ms()). */
export function textMs(buf: Uint8Array, off: number, n: number): number {
  if (!Number.isFinite(n)) {
    buf[off] = 45;
    return off + 1;
  }
  const k = thousandths(n);
  if (k < 0) off = ascii(buf, off, n.toFixed(3));
  else {
    const whole = Math.floor(k / 1000);
    const milli = k - whole * 1000;
    off = uint(buf, off, whole);
    buf[off++] = 46; // "."
    buf[off++] = 48 + Math.floor(milli / 100);
    buf[off++] = 48 + (Math.floor(milli / 10) % 10);
    buf[off++] = 48 + (milli % 10);
  }
  buf[off++] = 109; // "m"
  buf[off++] = 115; // "s"
  return off;
}

/**
 * JSON for Math.round(n × 1000) / 1000 (formatJson's ms()); null when not finite. For
 * 0 ≤ k < 1e12 the shortest round-trip form of k / 1000 is its decimal with trailing zeros
 * removed (a double near 1e9 is exact to ~1e-7, far finer than 0.001, so no shorter decimal
 * maps to the same double).
 */
export function jsonMs(buf: Uint8Array, off: number, n: number): number {
  if (!Number.isFinite(n)) return ascii(buf, off, "null");
  const k = Math.round(n * 1000);
  if (!(k >= 0 && k < 1e12)) return ascii(buf, off, JSON.stringify(k / 1000));
  const whole = Math.floor(k / 1000);
  let milli = k - whole * 1000;
  off = uint(buf, off, whole);
  if (milli === 0) return off;
  buf[off++] = 46;
  let scale = 100;
  while (milli > 0) {
    const d = Math.floor(milli / scale);
    buf[off++] = 48 + d;
    milli -= d * scale;
    scale /= 10;
  }
  return off;
}

/**
 * A value of the text format, escaped as escapeValue() does: printable ASCII except "\" and
 * "|" as is, every other code unit as \xHH (≤ 0xff) or \uHHHH, lowercase hex.
 */
export function textValue(buf: Uint8Array, off: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c <= 0x7e && c !== 0x5c && c !== 0x7c) buf[off++] = c;
    else if (c <= 0xff) {
      buf[off] = 92;
      buf[off + 1] = 120; // "x"
      buf[off + 2] = HEX[c >> 4]!;
      buf[off + 3] = HEX[c & 15]!;
      off += 4;
    } else off = unicodeEscape(buf, off, c);
  }
  return off;
}

function unicodeEscape(buf: Uint8Array, off: number, c: number): number {
  buf[off] = 92;
  buf[off + 1] = 117; // "u"
  buf[off + 2] = HEX[c >> 12]!;
  buf[off + 3] = HEX[(c >> 8) & 15]!;
  buf[off + 4] = HEX[(c >> 4) & 15]!;
  buf[off + 5] = HEX[c & 15]!;
  return off + 6;
}

/**
 * A JSON string literal with quotes, as formatJson prints it: JSON.stringify's escapes (\" \\
 * \b \f \n \r \t, \u00hh for other C0 controls, lone surrogates as \uhhhh), then every code unit
 * ≥ 0x7f as \uhhhh, so the line is plain ASCII.
 */
export function jsonString(buf: Uint8Array, off: number, s: string): number {
  buf[off++] = 34;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) {
      if (c === 34 || c === 92) buf[off++] = 92;
      buf[off++] = c;
    } else if (c >= 0x7f) off = unicodeEscape(buf, off, c);
    else {
      const short = c === 8 ? 98 : c === 9 ? 116 : c === 10 ? 110 : c === 12 ? 102 : c === 13 ? 114 : 0;
      if (short !== 0) {
        buf[off] = 92;
        buf[off + 1] = short;
        off += 2;
      } else off = unicodeEscape(buf, off, c);
    }
  }
  buf[off++] = 34;
  return off;
}
