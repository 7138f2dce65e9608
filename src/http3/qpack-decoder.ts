/**
 * QPACK decoder (RFC 9204 §2.2, §4.3–4.5): reads the peer's encoder stream into the dynamic
 * table, decodes field sections, holds sections that are blocked on inserts not yet received, and
 * writes decoder-stream instructions (Section Acknowledgment, Stream Cancellation, Insert Count
 * Increment). One instance per HTTP/3 connection.
 *
 * Errors are H3Error with the RFC's codes: QPACK_ENCODER_STREAM_ERROR for a bad encoder stream,
 * QPACK_DECOMPRESSION_FAILED for a bad field section (both connection errors), and a stream-scope
 * H3_EXCESSIVE_LOAD for a section over our SETTINGS_MAX_FIELD_SECTION_SIZE (the server answers 431).
 */
import { H3, H3Error } from "./h3-error.ts";
import { QpackDynamicTable } from "./qpack-dynamic-table.ts";
import { QPACK_STATIC_TABLE } from "./qpack-static-table.ts";
import { INCOMPLETE, WireReader, WireWriter, entrySize } from "./qpack-wire.ts";

export type HeaderField = [name: string, value: string];

export interface QpackDecoderOptions {
  /** Our SETTINGS_QPACK_MAX_TABLE_CAPACITY (RFC 9204 §5). 0 disables the dynamic table. */
  maxTableCapacity: number;
  /** Our SETTINGS_QPACK_BLOCKED_STREAMS (RFC 9204 §2.1.2). */
  maxBlockedStreams: number;
  /** Our SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §4.2.2): sum of name + value + 32 per field. */
  maxFieldSectionSize: number;
}

export const DEFAULT_QPACK_DECODER_OPTIONS: QpackDecoderOptions = {
  maxTableCapacity: 4096,
  maxBlockedStreams: 16,
  maxFieldSectionSize: 64 * 1024,
};

/** A section that was blocked and has now been decoded. */
export interface UnblockedSection {
  streamId: number;
  fields: HeaderField[];
}

export class QpackDecoder {
  readonly table: QpackDynamicTable;
  private readonly opts: QpackDecoderOptions;
  private readonly maxEntries: number;
  /** Encoder-stream octets not yet forming a whole instruction (at most about twice the table capacity). */
  private pending: Uint8Array = new Uint8Array(0);
  /** Blocked sections by stream, in arrival order (a stream has at most one: HEADERS is sequential). */
  private blocked = new Map<number, { ric: number; block: Uint8Array }>();
  private out = new WireWriter();
  /** Inserts the encoder knows we received: acknowledged sections and increments sent (§2.1.4). */
  private knownReceived = 0;

  constructor(opts: Partial<QpackDecoderOptions> = {}) {
    this.opts = { ...DEFAULT_QPACK_DECODER_OPTIONS, ...opts };
    this.table = new QpackDynamicTable(this.opts.maxTableCapacity);
    this.maxEntries = Math.floor(this.opts.maxTableCapacity / 32);
  }

  get blockedStreamCount(): number {
    return this.blocked.size;
  }

  /** Processes encoder-stream data; returns the blocked sections these inserts made decodable. */
  feedEncoderStream(chunk: Uint8Array): UnblockedSection[] {
    let buf = chunk;
    if (this.pending.length) {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending);
      buf.set(chunk, this.pending.length);
    }
    // No string longer than the table capacity can be part of an entry that fits (§3.2.1), so that
    // bounds what an incomplete instruction can make us hold.
    const r: WireReader = new WireReader(buf, 0, buf.length, H3.QPACK_ENCODER_STREAM_ERROR, this.opts.maxTableCapacity);
    let start = 0;
    try {
      while (!r.done) {
        start = r.pos;
        this.encoderInstruction(r);
      }
      start = r.pos;
    } catch (e) {
      if (e !== INCOMPLETE) throw e;
    }
    this.pending = buf.slice(start);
    return this.unblock();
  }

  private encoderInstruction(r: WireReader): void {
    const b = r.peek();
    if (b & 0x80) {
      // Insert with Name Reference (§4.3.2): 1 T index(6), value.
      const isStatic = (b & 0x40) !== 0;
      const idx = r.int(6);
      const value = r.str(7);
      let name: string;
      if (isStatic) {
        const e = QPACK_STATIC_TABLE[idx];
        if (!e) r.fail(`static index ${idx} out of range`);
        name = e[0];
      } else {
        const e = this.table.get(this.table.insertCount - 1 - idx);
        if (!e) r.fail(`relative index ${idx} names no entry`);
        name = e.name;
      }
      this.insert(r, name, value);
    } else if (b & 0x40) {
      // Insert with Literal Name (§4.3.3): 01 H len(5) name, value.
      const name = r.str(5);
      const value = r.str(7);
      this.insert(r, name, value);
    } else if (b & 0x20) {
      // Set Dynamic Table Capacity (§4.3.1).
      const cap = r.int(5);
      if (cap > this.opts.maxTableCapacity) r.fail(`capacity ${cap} exceeds our maximum ${this.opts.maxTableCapacity}`);
      this.table.setCapacity(cap);
    } else {
      // Duplicate (§4.3.4).
      const idx = r.int(5);
      const e = this.table.get(this.table.insertCount - 1 - idx);
      if (!e) r.fail(`duplicate of relative index ${idx} names no entry`);
      this.insert(r, e.name, e.value);
    }
  }

  private insert(r: WireReader, name: string, value: string): void {
    // An entry larger than the capacity is an error, not an emptying of the table (§3.2.2).
    if (entrySize(name, value) > this.table.capacity) r.fail(`entry of ${entrySize(name, value)} octets exceeds the table capacity ${this.table.capacity}`);
    this.table.insert(name, value);
  }

  private unblock(): UnblockedSection[] {
    const done: UnblockedSection[] = [];
    for (const [streamId, s] of this.blocked) {
      if (s.ric > this.table.insertCount) continue;
      this.blocked.delete(streamId);
      const fields = this.decodeSection(streamId, s.block);
      if (fields) done.push({ streamId, fields });
    }
    return done;
  }

  /**
   * Decodes one field section (the payload of a HEADERS frame). Returns null when it refers to
   * inserts not received yet: the section is kept and returned by a later feedEncoderStream.
   */
  decodeSection(streamId: number, block: Uint8Array): HeaderField[] | null {
    // The block is already bounded by the frame limit; a long literal is not a connection error but
    // counts against the field section size below (a stream error the server answers with 431).
    const r: WireReader = new WireReader(block, 0, block.length, H3.QPACK_DECOMPRESSION_FAILED, block.length);
    try {
      const ric = this.requiredInsertCount(r, r.int(8));
      const negative = (r.peek() & 0x80) !== 0;
      const deltaBase = r.int(7);
      if (ric > this.table.insertCount) {
        if (this.blocked.has(streamId)) r.fail(`stream ${streamId} already has a blocked field section`);
        if (this.blocked.size >= this.opts.maxBlockedStreams) r.fail(`more than ${this.opts.maxBlockedStreams} blocked streams`);
        this.blocked.set(streamId, { ric, block: block.slice() });
        return null;
      }
      if (negative && deltaBase >= ric) r.fail("Base is negative");
      const base = negative ? ric - deltaBase - 1 : ric + deltaBase;
      const fields = this.fieldLines(r, ric, base);
      if (ric > 0) this.out.int(0x80, 7, streamId); // Section Acknowledgment (§4.4.1)
      if (ric > this.knownReceived) this.knownReceived = ric;
      if (fields === null) throw new H3Error(H3.EXCESSIVE_LOAD, "stream", `field section exceeds ${this.opts.maxFieldSectionSize} octets`);
      return fields;
    } catch (e) {
      if (e === INCOMPLETE) r.fail("field section is truncated");
      throw e;
    }
  }

  /** Required Insert Count from its encoding (§4.5.1.1). */
  private requiredInsertCount(r: WireReader, encoded: number): number {
    if (encoded === 0) return 0;
    const fullRange = 2 * this.maxEntries;
    if (encoded > fullRange) r.fail(`encoded Required Insert Count ${encoded} exceeds ${fullRange}`);
    const maxValue = this.table.insertCount + this.maxEntries;
    const maxWrapped = Math.floor(maxValue / fullRange) * fullRange;
    let ric = maxWrapped + encoded - 1;
    if (ric > maxValue) {
      if (ric <= fullRange) r.fail("invalid Required Insert Count");
      ric -= fullRange;
    }
    if (ric === 0) r.fail("invalid Required Insert Count");
    return ric;
  }

  /** Field lines (§4.5.2–4.5.6). Returns null if the section exceeds the size limit. */
  private fieldLines(r: WireReader, ric: number, base: number): HeaderField[] | null {
    const fields: HeaderField[] = [];
    let size = 0;
    let maxRef = -1;
    let tooLarge = false;
    const dyn = (abs: number) => {
      if (abs < 0 || abs >= ric) r.fail(`reference to dynamic index ${abs} outside the Required Insert Count ${ric}`);
      const e = this.table.get(abs);
      if (!e) r.fail(`reference to evicted dynamic entry ${abs}`);
      if (abs > maxRef) maxRef = abs;
      return e;
    };
    const stat = (idx: number) => {
      const e = QPACK_STATIC_TABLE[idx];
      if (!e) r.fail(`static index ${idx} out of range`);
      return e;
    };
    while (!r.done) {
      const b = r.peek();
      let name: string;
      let value: string;
      if (b & 0x80) {
        // Indexed Field Line (§4.5.2).
        const isStatic = (b & 0x40) !== 0;
        const idx = r.int(6);
        if (isStatic) [name, value] = stat(idx);
        else ({ name, value } = dyn(base - 1 - idx));
      } else if (b & 0x40) {
        // Literal Field Line with Name Reference (§4.5.4). The N bit only matters to intermediaries.
        const isStatic = (b & 0x10) !== 0;
        const idx = r.int(4);
        name = isStatic ? stat(idx)[0] : dyn(base - 1 - idx).name;
        value = r.str(7);
      } else if (b & 0x20) {
        // Literal Field Line with Literal Name (§4.5.6).
        name = r.str(3);
        value = r.str(7);
      } else if (b & 0x10) {
        // Indexed Field Line with Post-Base Index (§4.5.3).
        ({ name, value } = dyn(base + r.int(4)));
      } else {
        // Literal Field Line with Post-Base Name Reference (§4.5.5).
        name = dyn(base + r.int(3)).name;
        value = r.str(7);
      }
      size += name.length + value.length + 32;
      if (size > this.opts.maxFieldSectionSize) tooLarge = true;
      if (!tooLarge) fields.push([name, value]);
    }
    // The encoder sets Required Insert Count to the largest reference + 1 (§2.1.1.1, §4.5.1.1).
    if (ric > 0 && maxRef + 1 !== ric) r.fail(`Required Insert Count ${ric} but the largest reference is ${maxRef}`);
    return tooLarge ? null : fields;
  }

  /** The stream was reset or abandoned: forget its blocked section and tell the encoder (§4.4.2). */
  cancelStream(streamId: number): void {
    this.blocked.delete(streamId);
    if (this.opts.maxTableCapacity > 0) this.out.int(0x40, 6, streamId);
  }

  /** Decoder-stream bytes to send now, ending with an Insert Count Increment if needed (§4.4.3). */
  takeDecoderStream(): Uint8Array {
    const inc = this.table.insertCount - this.knownReceived;
    if (inc > 0) {
      this.out.int(0x00, 6, inc);
      this.knownReceived = this.table.insertCount;
    }
    return this.out.take();
  }
}
