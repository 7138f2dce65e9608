/**
 * HPACK decoder, RFC 7541 §3 and §6. One instance per HTTP/2 connection (the dynamic table is
 * connection state). Works on bytes; strings are made only for fields that are kept.
 *
 * Every decoding error is an HpackError: the engine answers with a connection error of type
 * COMPRESSION_ERROR (RFC 9113 §4.3), because the table can no longer be trusted.
 */
import { DynamicTable, ENTRY_OVERHEAD } from "./hpack-dynamic-table.ts";
import { HpackError } from "./hpack-error.ts";
import { STATIC_NAMES, STATIC_TABLE_LENGTH, STATIC_VALUES } from "./hpack-static-table.ts";
import { huffmanDecodedBound, huffmanDecodeInto } from "./huffman.ts";

/** A decoded field: latin1 strings, the name as received (the engine checks lowercase, RFC 9113 §8.2.1). */
export type HeaderField = [name: string, value: string];

export interface HpackDecoderOptions {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the largest dynamic table the peer may ask for (§4.2). Default 4096. */
  maxTableSize: number;
  /** RFC 9113 §6.5.2 SETTINGS_MAX_HEADER_LIST_SIZE: sum over fields of name + value + 32 octets. */
  maxHeaderListSize: number;
}

/** SETTINGS_HEADER_TABLE_SIZE before any SETTINGS frame (RFC 9113 §6.5.2). */
const INITIAL_TABLE_SIZE = 4096;

/** Largest integer we accept (§5.1 leaves the limit to the implementation): 2^31 - 1. */
const MAX_INT = 0x7fffffff;

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
/** Buffer#latin1Slice (untyped; Bun accepts any Uint8Array as `this`), else toString("latin1"). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slice }).latin1Slice;

/** Bytes → string, one char per octet: header fields are octets, not UTF-8 text. */
function latin1(buf: Uint8Array, start: number, end: number): string {
  if (end - start < 16) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!);
    return s;
  }
  if (latin1Slice !== undefined) return latin1Slice.call(buf, start, end);
  return Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString("latin1", start, end);
}

/** Huffman scratch kept per decoder up to this size; larger strings get a one-off buffer. */
const SCRATCH_KEEP = 16 * 1024;

export class HpackDecoder {
  private readonly table: DynamicTable;
  private readonly maxTableSize: number;
  private readonly maxHeaderListSize: number;
  private scratch: Uint8Array = Buffer.alloc(256);

  // Cursor state of the block being decoded (fields, not closures: one decoder per connection).
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  /** Octet length of the last string read by readString; its text in lastString when wanted. */
  private lastLength = 0;
  private lastString = "";

  /** §6.5.2 size of the last decoded block's header list (also when it was over the limit). */
  lastListSize = 0;

  constructor(opts: HpackDecoderOptions) {
    this.maxTableSize = opts.maxTableSize;
    this.maxHeaderListSize = opts.maxHeaderListSize;
    // The table starts at the protocol's initial 4096 (RFC 9113 §6.5.2): a larger SETTINGS value is
    // only a ceiling until the peer's encoder announces a size update (§4.2, §6.3).
    this.table = new DynamicTable(Math.min(opts.maxTableSize, INITIAL_TABLE_SIZE));
  }

  /** Current dynamic table size in octets (§4.1). */
  get tableSize(): number {
    return this.table.size;
  }

  /** Current maximum set by the peer's last table size update (§6.3). */
  get tableMaxSize(): number {
    return this.table.maxSize;
  }

  /** The dynamic table, newest first (diagnostics and tests). */
  tableEntries(): HeaderField[] {
    const out: HeaderField[] = [];
    for (let i = 0; i < this.table.length; i++) out.push([this.table.name(i), this.table.value(i)]);
    return out;
  }

  /**
   * Decodes one complete header block (HEADERS + CONTINUATION payloads concatenated). Throws
   * HpackError. Returns null when the list exceeds maxHeaderListSize: the block is still decoded to
   * the end so the dynamic table stays in sync, but no field strings are made past the limit, so a
   * block repeating a large table entry (HPACK bomb) costs no memory.
   */
  decode(block: Uint8Array): HeaderField[] | null {
    this.buf = block;
    this.pos = 0;
    const end = block.length;
    const table = this.table;
    const limit = this.maxHeaderListSize;
    let fields: HeaderField[] | null = [];
    let listSize = 0;
    let sawField = false;
    try {
      while (this.pos < end) {
        const b = this.buf[this.pos]!;
        if (b & 0x80) {
          // §6.1 Indexed Header Field.
          const index = this.readInt(7);
          sawField = true;
          if (index === 0) throw new HpackError("indexed field with index 0 (RFC 7541 §6.1)");
          let nameLen: number;
          let valueLen: number;
          if (index <= STATIC_TABLE_LENGTH) {
            nameLen = STATIC_NAMES[index]!.length;
            valueLen = STATIC_VALUES[index]!.length;
          } else {
            const i = index - STATIC_TABLE_LENGTH - 1;
            if (i >= table.length) throw new HpackError(`index ${index} is beyond the header table (RFC 7541 §2.3.3)`);
            nameLen = table.name(i).length;
            valueLen = table.value(i).length;
          }
          listSize += nameLen + valueLen + ENTRY_OVERHEAD;
          if (fields !== null) {
            if (listSize > limit) fields = null;
            else if (index <= STATIC_TABLE_LENGTH) fields.push([STATIC_NAMES[index]!, STATIC_VALUES[index]!]);
            else fields.push([table.name(index - STATIC_TABLE_LENGTH - 1), table.value(index - STATIC_TABLE_LENGTH - 1)]);
          }
        } else if ((b & 0xe0) === 0x20) {
          // §6.3 Dynamic Table Size Update: only before the first field (§4.2).
          if (sawField) throw new HpackError("dynamic table size update after a header field (RFC 7541 §4.2)");
          const size = this.readInt(5);
          if (size > this.maxTableSize) {
            throw new HpackError(`dynamic table size update to ${size} exceeds SETTINGS_HEADER_TABLE_SIZE ${this.maxTableSize} (RFC 7541 §6.3)`);
          }
          table.setMaxSize(size);
        } else {
          // §6.2.1 with incremental indexing (01), §6.2.2 without (0000), §6.2.3 never indexed (0001).
          const indexing = (b & 0x40) !== 0;
          sawField = true;
          const index = this.readInt(indexing ? 6 : 4);
          // Strings are needed for a table insert, or for the list while under the limit.
          const want = indexing || fields !== null;
          let name: string;
          let nameLen: number;
          if (index === 0) {
            this.readString(want);
            name = this.lastString;
            nameLen = this.lastLength;
          } else if (index <= STATIC_TABLE_LENGTH) {
            name = STATIC_NAMES[index]!;
            nameLen = name.length;
          } else {
            const i = index - STATIC_TABLE_LENGTH - 1;
            if (i >= table.length) throw new HpackError(`name index ${index} is beyond the header table (RFC 7541 §2.3.3)`);
            name = table.name(i);
            nameLen = name.length;
          }
          this.readString(want);
          const value = this.lastString;
          listSize += nameLen + this.lastLength + ENTRY_OVERHEAD;
          if (fields !== null) {
            if (listSize > limit) fields = null;
            else fields.push([name, value]);
          }
          if (indexing) table.add(name, value);
        }
      }
    } finally {
      this.buf = EMPTY;
      this.lastString = "";
    }
    this.lastListSize = listSize;
    return fields;
  }

  /** §5.1 integer with an N-bit prefix at pos; rejects values above 2^31 - 1 and truncation. */
  private readInt(prefixBits: number): number {
    const buf = this.buf;
    const max = (1 << prefixBits) - 1;
    let value = buf[this.pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.pos >= buf.length) throw new HpackError("header block ends inside an integer (RFC 7541 §5.1)");
      const b = buf[this.pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if (value > MAX_INT) throw new HpackError("integer exceeds 2^31 - 1 (RFC 7541 §5.1)");
      if ((b & 0x80) === 0) return value;
      shift += 7;
      // 2^31 - 1 needs at most 5 continuation octets with a 1-bit prefix; more are padding with
      // zero groups, which only waste the decoder's time.
      if (shift > 28) throw new HpackError("integer has too many continuation octets (RFC 7541 §5.1)");
    }
  }

  /**
   * §5.2 string literal at pos. Sets lastLength to its decoded octet length, and lastString to its
   * text when want (else ""). Huffman coding is validated either way.
   */
  private readString(want: boolean): void {
    if (this.pos >= this.buf.length) throw new HpackError("header block ends before a string literal (RFC 7541 §5.2)");
    const huffman = (this.buf[this.pos]! & 0x80) !== 0;
    const len = this.readInt(7);
    const start = this.pos;
    const end = start + len;
    if (end > this.buf.length) throw new HpackError("string literal runs past the end of the header block (RFC 7541 §5.2)");
    this.pos = end;
    if (!huffman) {
      this.lastLength = len;
      this.lastString = want ? latin1(this.buf, start, end) : "";
      return;
    }
    const bound = huffmanDecodedBound(len);
    let out = this.scratch;
    if (bound > out.length) {
      out = Buffer.allocUnsafe(bound);
      if (bound <= SCRATCH_KEEP) this.scratch = out;
    }
    const n = huffmanDecodeInto(this.buf, start, end, out);
    this.lastLength = n;
    this.lastString = want ? latin1(out, 0, n) : "";
  }
}

const EMPTY = new Uint8Array(0);
