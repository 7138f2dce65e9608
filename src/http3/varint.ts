/**
 * QUIC variable-length integers (RFC 9000 §16), used by every HTTP/3 frame and stream header
 * (RFC 9114 §7.1). The two high bits of the first octet give the length: 1, 2, 4 or 8 octets.
 *
 * Values are JS numbers. An 8-octet varint can hold up to 2^62-1, beyond Number.MAX_SAFE_INTEGER;
 * such values decode to the nearest double. That is safe here: every place that needs an exact
 * large value (frame lengths, setting values, IDs) compares it against a limit far below 2^53,
 * and no large value rounds onto a small known frame or setting type.
 */

/**
 * Largest value writeVarint accepts. The wire allows up to 2^62-1 (RFC 9000 §16), but nothing we
 * send needs more than 2^53-1, and above that a JS number is no longer exact.
 */
export const VARINT_MAX = Number.MAX_SAFE_INTEGER;

/** Octets of the varint whose first octet is b. */
export function varintSize(b: number): number {
  return 1 << (b >>> 6);
}

/** Octets needed to encode v (the shortest form, which RFC 9000 §16 recommends). */
export function varintLength(v: number): number {
  if (v < 0x40) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x40000000) return 4;
  return 8;
}

/**
 * Decodes the varint at buf[pos]. Returns -1 when buf[pos, end) does not hold all of it yet; the
 * caller learns how many octets it used from varintSize(buf[pos]).
 */
export function readVarint(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  const first = buf[pos]!;
  const n = 1 << (first >>> 6);
  if (end - pos < n) return -1;
  let v = first & 0x3f;
  if (n === 1) return v;
  if (n === 2) return (v << 8) | buf[pos + 1]!;
  if (n === 4) return ((v << 24) >>> 0) + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
  // 8 octets: high 30 bits and low 32 bits combined in floating point.
  const hi = ((v << 24) >>> 0) + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
  const lo = ((buf[pos + 4]! << 24) >>> 0) + ((buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!);
  return hi * 2 ** 32 + lo;
}

/** Writes v at out[pos] in its shortest form and returns the position after it. */
export function writeVarint(v: number, out: Uint8Array, pos: number): number {
  if (!Number.isInteger(v) || v < 0 || v > VARINT_MAX) throw new RangeError(`varint out of range: ${v}`);
  if (v < 0x40) {
    out[pos] = v;
    return pos + 1;
  }
  if (v < 0x4000) {
    out[pos] = 0x40 | (v >>> 8);
    out[pos + 1] = v & 0xff;
    return pos + 2;
  }
  if (v < 0x40000000) {
    out[pos] = 0x80 | (v >>> 24);
    out[pos + 1] = (v >>> 16) & 0xff;
    out[pos + 2] = (v >>> 8) & 0xff;
    out[pos + 3] = v & 0xff;
    return pos + 4;
  }
  const hi = Math.floor(v / 2 ** 32);
  const lo = v - hi * 2 ** 32;
  out[pos] = 0xc0 | (hi >>> 24);
  out[pos + 1] = (hi >>> 16) & 0xff;
  out[pos + 2] = (hi >>> 8) & 0xff;
  out[pos + 3] = hi & 0xff;
  out[pos + 4] = lo >>> 24;
  out[pos + 5] = (lo >>> 16) & 0xff;
  out[pos + 6] = (lo >>> 8) & 0xff;
  out[pos + 7] = lo & 0xff;
  return pos + 8;
}

/** v as a fresh varint. */
export function encodeVarint(v: number): Uint8Array {
  const out = new Uint8Array(varintLength(v));
  writeVarint(v, out, 0);
  return out;
}
