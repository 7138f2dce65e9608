/**
 * HPACK encoder for response header blocks, RFC 7541 §6. One instance per HTTP/2 connection.
 *
 * Choices (deterministic, and the same as the RFC's Appendix C examples):
 * - a field matching a static or dynamic entry exactly is sent as an index (§6.1);
 * - otherwise as a literal with incremental indexing (§6.2.1), naming the static entry when there is
 *   one (stable, smaller index), else a dynamic one; fields whose entry would take more than 3/4 of
 *   the table go without indexing (§6.2.2), since adding them would flush everything else;
 * - names in `sensitive` are never indexed (§6.2.3, §7.1.3), so intermediaries keep them literal too;
 * - a string is Huffman-coded when that is not longer than the raw octets (ties go to Huffman, as in
 *   the RFC's examples), unless huffman: false.
 */
import { DynamicTable } from "./hpack-dynamic-table.ts";
import { STATIC_LOOKUP, STATIC_TABLE_LENGTH } from "./hpack-static-table.ts";
import { CODE_LENGTH, huffmanEncodeRange } from "./huffman.ts";

export interface HpackEncoderOptions {
  /** Largest dynamic table we use, whatever the peer allows. Default 4096. */
  maxTableSize?: number;
  /** Huffman-code strings when not longer. Default true. */
  huffman?: boolean;
}

/** The peer's SETTINGS_HEADER_TABLE_SIZE before its first SETTINGS (RFC 9113 §6.5.2). */
const DEFAULT_PEER_TABLE_SIZE = 4096;

/** The dynamic table plus lookups by (name, value) and by name, kept in step with eviction. */
class EncoderTable extends DynamicTable {
  /** name → value → sequence number of the newest entry with that pair. */
  readonly exact = new Map<string, Map<string, number>>();
  /** name → sequence number of the newest entry with that name. */
  readonly byName = new Map<string, number>();

  insert(name: string, value: string): void {
    this.add(name, value);
    if (name.length + value.length + 32 > this.maxSize) return; // emptied the table, not added (§4.4)
    const seq = this.insertCount - 1;
    let values = this.exact.get(name);
    if (values === undefined) {
      values = new Map();
      this.exact.set(name, values);
    }
    values.set(value, seq);
    this.byName.set(name, seq);
  }

  /** HPACK index (62 + position) of a sequence number. */
  indexOf(seq: number): number {
    return STATIC_TABLE_LENGTH + this.insertCount - seq;
  }

  protected override evicted(name: string, value: string, seq: number): void {
    const values = this.exact.get(name);
    if (values !== undefined && values.get(value) === seq) {
      values.delete(value);
      if (values.size === 0) this.exact.delete(name);
    }
    if (this.byName.get(name) === seq) this.byName.delete(name);
  }
}

export class HpackEncoder {
  private readonly table: EncoderTable;
  private readonly cap: number;
  private readonly huffman: boolean;
  /** Table size updates owed at the start of the next block (§4.2): the smallest, then the final. */
  private pendingMin = -1;
  private pendingFinal = -1;
  private out: Uint8Array = new Uint8Array(512);
  private str: Uint8Array = new Uint8Array(256);

  constructor(opts: HpackEncoderOptions = {}) {
    this.cap = opts.maxTableSize ?? DEFAULT_PEER_TABLE_SIZE;
    this.huffman = opts.huffman ?? true;
    const size = Math.min(this.cap, DEFAULT_PEER_TABLE_SIZE);
    this.table = new EncoderTable(size);
    // The peer's decoder starts at its SETTINGS value; a smaller table of ours must be announced.
    if (size !== DEFAULT_PEER_TABLE_SIZE) this.pendingMin = this.pendingFinal = size;
  }

  /** The dynamic table, newest first (tests and diagnostics). */
  tableEntries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0; i < this.table.length; i++) out.push([this.table.name(i), this.table.value(i)]);
    return out;
  }

  get tableSize(): number {
    return this.table.size;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE changed: use min(n, our cap), and announce it with a
   * dynamic table size update at the start of the next block (§4.2, §6.3). Several changes before
   * that block announce the smallest size reached, then the final one, as §4.2 requires.
   */
  setMaxTableSize(n: number): void {
    const size = Math.min(n, this.cap);
    if (this.pendingFinal < 0 && size === this.table.maxSize) return;
    this.pendingMin = this.pendingMin < 0 ? size : Math.min(this.pendingMin, size);
    this.pendingFinal = size;
  }

  /** Encodes a header block; names are sent as given (HTTP/2 requires lowercase, RFC 9113 §8.2.1). */
  encode(headers: ReadonlyArray<readonly [string, string]>, sensitive?: ReadonlySet<string>): Uint8Array {
    this.begin(0);
    for (let i = 0; i < headers.length; i++) {
      const name = headers[i]![0];
      this.field(name, headers[i]![1], sensitive !== undefined && sensitive.has(name));
    }
    return this.finish().slice();
  }

  /** Write position in `out` of the block being built by begin()/field()/finish(). */
  private pos = 0;
  /** Where the block starts in `out` (after the bytes begin() reserved). */
  private blockStart = 0;

  /**
   * Start a block without building a field list: field() appends each field, finish() returns
   * the bytes. `reserve` octets are left free at the front (the engine writes the 9-byte frame
   * header there, so the block leaves as one HEADERS frame without another copy).
   */
  begin(reserve: number): void {
    this.ensure(reserve + 16);
    let pos = reserve;
    this.blockStart = reserve;
    if (this.pendingFinal >= 0) {
      const table = this.table;
      if (this.pendingMin < this.pendingFinal) {
        pos = this.writeInt(pos, 5, 0x20, this.pendingMin);
        table.setMaxSize(this.pendingMin);
      }
      pos = this.writeInt(pos, 5, 0x20, this.pendingFinal);
      table.setMaxSize(this.pendingFinal);
      this.pendingMin = this.pendingFinal = -1;
    }
    this.pos = pos;
  }

  /** Append one field to the block begun with begin(); `sensitive`: never indexed (§6.2.3). */
  field(name: string, value: string, sensitive: boolean): void {
    // Worst case: 1 + 5 octets of index or length per string, strings never longer than raw.
    this.ensure(this.pos + name.length + value.length + 16);
    let pos = this.pos;
    const table = this.table;
    const st = STATIC_LOOKUP.get(name);
    if (sensitive) {
      const nameIndex = st !== undefined ? st.nameIndex : this.dynamicNameIndex(name);
      this.pos = this.writeLiteral(pos, 4, 0x10, nameIndex, name, value);
      return;
    }
    const si = st?.values.get(value);
    if (si !== undefined) {
      this.pos = this.writeInt(pos, 7, 0x80, si);
      return;
    }
    const seq = table.exact.get(name)?.get(value);
    if (seq !== undefined) {
      this.pos = this.writeInt(pos, 7, 0x80, table.indexOf(seq));
      return;
    }
    const nameIndex = st !== undefined ? st.nameIndex : this.dynamicNameIndex(name);
    if (name.length + value.length + 32 <= (table.maxSize * 3) >>> 2) {
      pos = this.writeLiteral(pos, 6, 0x40, nameIndex, name, value);
      table.insert(name, value);
    } else {
      pos = this.writeLiteral(pos, 4, 0x00, nameIndex, name, value);
    }
    this.pos = pos;
  }

  /**
   * The block built since begin(), with the reserved octets in front: a view of the encoder's
   * buffer, valid until the next begin() or encode().
   */
  finish(): Uint8Array {
    return this.out.subarray(0, this.pos);
  }

  /** The encoder's buffer: the block built since begin() is its first reserve + blockLength octets. */
  get buffer(): Uint8Array {
    return this.out;
  }

  /** Octets of the last block without the reserved prefix. */
  get blockLength(): number {
    return this.pos - this.blockStart;
  }

  private ensure(n: number): void {
    if (this.out.length >= n) return;
    const grown = new Uint8Array(Math.max(n, this.out.length * 2));
    grown.set(this.out.subarray(0, this.pos));
    this.out = grown;
  }

  private dynamicNameIndex(name: string): number {
    const seq = this.table.byName.get(name);
    return seq === undefined ? 0 : this.table.indexOf(seq);
  }

  private writeLiteral(pos: number, prefixBits: number, flags: number, nameIndex: number, name: string, value: string): number {
    pos = this.writeInt(pos, prefixBits, flags, nameIndex);
    if (nameIndex === 0) pos = this.writeString(pos, name);
    return this.writeString(pos, value);
  }

  /** §5.1 integer with an N-bit prefix; flags fill the bits above the prefix. */
  private writeInt(pos: number, prefixBits: number, flags: number, value: number): number {
    const out = this.out;
    const max = (1 << prefixBits) - 1;
    if (value < max) {
      out[pos++] = flags | value;
      return pos;
    }
    out[pos++] = flags | max;
    value -= max;
    while (value >= 0x80) {
      out[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    out[pos++] = value;
    return pos;
  }

  /** §5.2 string literal: latin1 octets, Huffman-coded when not longer. */
  private writeString(pos: number, s: string): number {
    const n = s.length;
    if (this.str.length < n) this.str = new Uint8Array(Math.max(n, this.str.length * 2));
    const str = this.str;
    let bits = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) throw new RangeError(`header field has a character above U+00FF at ${i}: fields are latin1 octets`);
      str[i] = c;
      bits += CODE_LENGTH[c]!;
    }
    const hlen = (bits + 7) >>> 3;
    const out = this.out;
    if (this.huffman && hlen <= n) {
      pos = this.writeInt(pos, 7, 0x80, hlen);
      return huffmanEncodeRange(str, 0, n, out, pos);
    }
    pos = this.writeInt(pos, 7, 0x00, n);
    out.set(str.subarray(0, n), pos);
    return pos + n;
  }
}
