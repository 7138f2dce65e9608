/**
 * QPACK primitives (RFC 9204 §4.1): prefixed integers (RFC 7541 §5.1) and string literals with an
 * optional Huffman coding (RFC 7541 §5.2, the code shared with HPACK in src/http2/huffman.ts).
 * Strings are latin1: one char per octet, as in our HPACK.
 */
import { HpackError } from "../http2/hpack-error.ts";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../http2/huffman.ts";
import { H3Error, type H3ErrorCode } from "./h3-error.ts";

/** Thrown by WireReader when the input ends inside an instruction (stream instructions wait for more). */
export const INCOMPLETE: unique symbol = Symbol("qpack-incomplete");

/** Integers above this are refused: no index, length or stream-ID delta we accept is near it. */
const MAX_INT = 2 ** 32;

export class WireReader {
  constructor(
    public buf: Uint8Array,
    public pos: number,
    public end: number,
    /** The error to raise for malformed input (depends on which stream is being read). */
    private readonly code: H3ErrorCode,
    /** Longest string literal accepted, in encoded octets. */
    private readonly maxString: number,
  ) {}

  fail(message: string): never {
    throw new H3Error(this.code, "connection", message);
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  peek(): number {
    if (this.pos >= this.end) throw INCOMPLETE;
    return this.buf[this.pos]!;
  }

  /** Prefixed integer whose prefix is the low `bits` bits of the current octet. */
  int(bits: number): number {
    const mask = (1 << bits) - 1;
    let v = this.peek() & mask;
    this.pos++;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      if (this.pos >= this.end) throw INCOMPLETE;
      const b = this.buf[this.pos++]!;
      v += (b & 0x7f) * 2 ** m;
      m += 7;
      if (v > MAX_INT) this.fail("integer too large");
      if ((b & 0x80) === 0) return v;
    }
  }

  /** String literal: H flag at bit `bits` of the current octet, length in the low `bits` bits. */
  str(bits: number): string {
    const huffman = (this.peek() & (1 << bits)) !== 0;
    const len = this.int(bits);
    if (len > this.maxString) this.fail(`string literal of ${len} octets exceeds the ${this.maxString}-octet limit`);
    if (this.end - this.pos < len) throw INCOMPLETE;
    const start = this.pos;
    this.pos += len;
    if (!huffman) return latin1(this.buf, start, start + len);
    let raw: Uint8Array;
    try {
      raw = huffmanDecode(this.buf, start, start + len);
    } catch (e) {
      if (e instanceof HpackError) this.fail(e.message);
      throw e;
    }
    return latin1(raw, 0, raw.length);
  }
}

export function latin1(b: Uint8Array, start: number, end: number): string {
  let s = "";
  for (let i = start; i < end; i += 4096) s += String.fromCharCode(...b.subarray(i, Math.min(end, i + 4096)));
  return s;
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Growable output buffer for instructions and field sections. */
export class WireWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  /** Prefixed integer v in the low `bits` bits of a first octet whose high bits are `flags`. */
  int(flags: number, bits: number, v: number): void {
    this.room(8);
    const mask = (1 << bits) - 1;
    if (v < mask) {
      this.buf[this.len++] = flags | v;
      return;
    }
    this.buf[this.len++] = flags | mask;
    v -= mask;
    while (v >= 128) {
      this.buf[this.len++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.len++] = v;
  }

  /** String literal, Huffman-coded when that is shorter and `huffman` allows it. */
  str(flags: number, bits: number, s: string, huffman: boolean): void {
    const raw = latin1Bytes(s);
    const hlen = huffman ? huffmanEncodedLength(raw) : Infinity;
    if (hlen < raw.length) {
      this.int(flags | (1 << bits), bits, hlen);
      this.room(hlen);
      this.len = huffmanEncode(raw, this.buf, this.len);
    } else {
      this.int(flags, bits, raw.length);
      this.room(raw.length);
      this.buf.set(raw, this.len);
      this.len += raw.length;
    }
  }

  get length(): number {
    return this.len;
  }

  /** The bytes written so far, and reset. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.len = 0;
    return out;
  }
}

/** An entry's size for table accounting (RFC 9204 §3.2.1). */
export function entrySize(name: string, value: string): number {
  return name.length + value.length + 32;
}
