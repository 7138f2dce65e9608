/**
 * A minimal DER encoder (ITU-T X.690 §10, the distinguished subset of BER) for the few ASN.1
 * shapes ACME needs: a PKCS#10 certificate request (RFC 2986) with a subjectAltName extension
 * (RFC 5280 §4.2.1.6). Pure: no Bun imports. Values are built bottom-up as byte arrays.
 */

/** Tag bytes used here (universal class unless noted). */
export const TAG = {
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [0] constructed, context-specific (attributes of a CertificationRequestInfo). */
  CONTEXT_0: 0xa0,
  /** [2] primitive, context-specific: GeneralName dNSName (RFC 5280 §4.2.1.6). */
  CONTEXT_2_PRIMITIVE: 0x82,
} as const;

/** Definite length: short form below 128, else long form with the minimum number of bytes (X.690 §10.1). */
export function encodeLength(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`bad DER length ${n}`);
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** tag + length + content. */
export function tlv(tag: number, content: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(tag), encodeLength(content.length), content]);
}

export const seq = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, concat(items));
export const set = (...items: Uint8Array[]): Uint8Array => tlv(TAG.SET, concat(items));
export const nullValue = (): Uint8Array => Uint8Array.of(TAG.NULL, 0);
export const utf8 = (s: string): Uint8Array => tlv(TAG.UTF8_STRING, new TextEncoder().encode(s));
export const octets = (b: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, b);
/** BIT STRING with no unused bits (keys and signatures are whole bytes). */
export const bits = (b: Uint8Array): Uint8Array => tlv(TAG.BIT_STRING, concat([Uint8Array.of(0), b]));

/**
 * A non-negative INTEGER from big-endian magnitude bytes: leading zero bytes removed, one 0x00
 * added when the top bit is set (two's complement, X.690 §8.3).
 */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let m = magnitude.subarray(i);
  if (m.length === 0) m = Uint8Array.of(0);
  if (m[0]! & 0x80) m = concat([Uint8Array.of(0), m]);
  return tlv(TAG.INTEGER, m);
}

export const smallInteger = (n: number): Uint8Array => {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new RangeError("smallInteger: 0..127 only");
  return Uint8Array.of(TAG.INTEGER, 1, n);
};

/** OBJECT IDENTIFIER from dotted form (X.690 §8.19): first two arcs combined, base-128 arcs. */
export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split(".").map((x) => {
    if (!/^\d+$/.test(x)) throw new Error(`bad OID ${dotted}`);
    return Number(x);
  });
  if (arcs.length < 2) throw new Error(`bad OID ${dotted}`);
  const out: number[] = [];
  const push = (v: number) => {
    const groups: number[] = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(TAG.OID, Uint8Array.from(out));
}

/** Base64url without padding (RFC 4648 §5; RFC 7515 §2 "Base64url Encoding"). */
export function base64url(b: Uint8Array | string): string {
  const bytes = typeof b === "string" ? new TextEncoder().encode(b) : b;
  return Buffer.from(bytes).toString("base64").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

/** PEM armour (RFC 7468): 64-character base64 lines. */
export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
