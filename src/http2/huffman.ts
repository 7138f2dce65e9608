/**
 * HPACK Huffman code, RFC 7541 §5.2 and Appendix B. Shared with QPACK (RFC 9204 §4.1.2 uses the
 * same code). Pure: bytes in, bytes out.
 *
 * The Appendix B code is canonical (codes of one length are consecutive and ordered by symbol;
 * shorter codes sort first), so the table is stored as the 257 code lengths and the codes are
 * rebuilt at load. tests/unit/http2-huffman.test.ts checks the rebuilt codes against Appendix B.
 *
 * Decoding walks 4 bits at a time through a state table built from the code tree (the approach
 * of nghttp2): one table lookup per nibble, no per-bit branching. No code is shorter than 5 bits,
 * so a nibble completes at most one symbol.
 */
import { HpackError } from "./hpack-error.ts";

/** Code lengths for symbols 0..256 (256 = EOS), one char each: '5'..'9', then 'a' = 10 .. 'u' = 30. */
const LENGTHS = "dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6f56565666577666567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmnqqkjmnmpqqqrrqopjlqrrqrollqqsrrrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu";

export const EOS = 256;
/** Bit length of each symbol's code (index 256 = EOS). */
export const CODE_LENGTH = new Uint8Array(257);
/** Each symbol's code, right-aligned in CODE_LENGTH bits. */
export const CODE = new Uint32Array(257);

{
  for (let s = 0; s < 257; s++) CODE_LENGTH[s] = parseInt(LENGTHS[s]!, 36);
  // Canonical assignment: walk lengths upwards; within a length, symbols in increasing order.
  let code = 0;
  let prevLen = 0;
  for (let len = 1; len <= 30; len++) {
    for (let s = 0; s < 257; s++) {
      if (CODE_LENGTH[s] !== len) continue;
      code = prevLen === 0 ? 0 : code << (len - prevLen);
      CODE[s] = code;
      code++;
      prevLen = len;
    }
  }
}

// ---- decoding state machine ----
// States are the internal nodes of the code tree (256 of them; state 0 = root). For each state and
// nibble: the next state, the symbol completed on the way (or -1), and whether the walk hit EOS.
// A state is "accepting" when the bits read since the last symbol are all 1s and at most 7 of
// them: the only valid padding (§5.2).
const enum Flag {
  Emit = 1,
  Fail = 2,
  Accept = 4,
}
const NODE_COUNT = 256;
const TRANS_NEXT = new Uint16Array(NODE_COUNT * 16);
const TRANS_SYM = new Uint8Array(NODE_COUNT * 16);
const TRANS_FLAGS = new Uint8Array(NODE_COUNT * 16);

{
  // Build the tree: children[node*2 + bit] = child node id, or -(symbol + 1) for a leaf.
  const children = new Int32Array(NODE_COUNT * 2);
  const depth = new Uint8Array(NODE_COUNT);
  const allOnes = new Uint8Array(NODE_COUNT);
  allOnes[0] = 1;
  let nodes = 1;
  for (let s = 0; s < 257; s++) {
    const len = CODE_LENGTH[s]!;
    const code = CODE[s]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const bit = (code >>> i) & 1;
      const slot = node * 2 + bit;
      if (i === 0) {
        children[slot] = -(s + 1);
      } else {
        if (children[slot] === 0) {
          const child = nodes++;
          children[slot] = child;
          depth[child] = depth[node]! + 1;
          allOnes[child] = allOnes[node]! & bit;
        }
        node = children[slot]!;
      }
    }
  }
  if (nodes !== NODE_COUNT) throw new Error(`huffman: ${nodes} internal nodes, expected ${NODE_COUNT}`);
  for (let state = 0; state < NODE_COUNT; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let flags = 0;
      let sym = 0;
      for (let i = 3; i >= 0; i--) {
        const c = children[node * 2 + ((nibble >>> i) & 1)]!;
        if (c < 0) {
          const s = -c - 1;
          if (s === EOS) {
            flags |= Flag.Fail;
            break;
          }
          flags |= Flag.Emit;
          sym = s;
          node = 0;
        } else {
          node = c;
        }
      }
      if ((flags & Flag.Fail) === 0 && allOnes[node] === 1 && depth[node]! <= 7) flags |= Flag.Accept;
      const k = state * 16 + nibble;
      TRANS_NEXT[k] = node;
      TRANS_SYM[k] = sym;
      TRANS_FLAGS[k] = flags;
    }
  }
}

/** Upper bound of the decoded length of n Huffman-coded octets (the shortest code is 5 bits). */
export function huffmanDecodedBound(n: number): number {
  return Math.floor((n * 8) / 5);
}

/**
 * Decodes src[start, end) into out at 0 and returns the decoded length. out must hold
 * huffmanDecodedBound(end - start) octets. Throws HpackError on an EOS symbol inside the string,
 * padding longer than 7 bits, or padding that is not the most significant bits of EOS (§5.2).
 */
export function huffmanDecodeInto(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  let state = 0;
  let accept = true;
  let n = 0;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    let k = state * 16 + (b >>> 4);
    let f = TRANS_FLAGS[k]!;
    if (f & Flag.Fail) throw new HpackError("Huffman string contains EOS (RFC 7541 §5.2)");
    if (f & Flag.Emit) out[n++] = TRANS_SYM[k]!;
    state = TRANS_NEXT[k]!;
    k = state * 16 + (b & 0x0f);
    f = TRANS_FLAGS[k]!;
    if (f & Flag.Fail) throw new HpackError("Huffman string contains EOS (RFC 7541 §5.2)");
    if (f & Flag.Emit) out[n++] = TRANS_SYM[k]!;
    state = TRANS_NEXT[k]!;
    accept = (f & Flag.Accept) !== 0;
  }
  if (!accept) throw new HpackError("Huffman padding is longer than 7 bits or not all 1s (RFC 7541 §5.2)");
  return n;
}

/** Decodes the Huffman-coded octets src[start, end) (§5.2). Throws HpackError on invalid coding. */
export function huffmanDecode(src: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(huffmanDecodedBound(end - start));
  const n = huffmanDecodeInto(src, start, end, out);
  return out.subarray(0, n);
}

/** Octets that huffmanEncode would write for s. */
export function huffmanEncodedLength(s: Uint8Array): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += CODE_LENGTH[s[i]!]!;
  return (bits + 7) >>> 3;
}

/**
 * Writes the Huffman coding of s into out at pos, padded with the most significant bits of EOS
 * (all 1s), and returns the position after it. out must have huffmanEncodedLength(s) octets free.
 */
export function huffmanEncode(s: Uint8Array, out: Uint8Array, pos: number): number {
  return huffmanEncodeRange(s, 0, s.length, out, pos);
}

/** huffmanEncode over s[start, end), without a subarray per string (the HPACK encoder's path). */
export function huffmanEncodeRange(s: Uint8Array, start: number, end: number, out: Uint8Array, pos: number): number {
  // acc holds fewer than 8 pending bits between symbols; a code of up to 24 bits is appended in one
  // step (7 + 24 < 32), longer codes in two, so the int32 arithmetic never overflows.
  let acc = 0;
  let bits = 0;
  for (let i = start; i < end; i++) {
    const sym = s[i]!;
    let len = CODE_LENGTH[sym]!;
    let code = CODE[sym]!;
    if (len > 24) {
      const hiLen = len - 8;
      acc = (acc << hiLen) | (code >>> 8);
      bits += hiLen;
      while (bits >= 8) {
        bits -= 8;
        out[pos++] = (acc >>> bits) & 0xff;
      }
      acc &= (1 << bits) - 1;
      len = 8;
      code &= 0xff;
    }
    acc = (acc << len) | code;
    bits += len;
    while (bits >= 8) {
      bits -= 8;
      out[pos++] = (acc >>> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out[pos++] = ((acc << (8 - bits)) | (0xff >>> bits)) & 0xff;
  return pos;
}
