/**
 * QPACK encoder (RFC 9204 §2.1, §4.3, §4.5). One instance per HTTP/3 connection. It inserts fields
 * into the dynamic table when they fit, references them (which may block the peer's stream until
 * the inserts arrive, at most `maxBlockedStreams` streams at a time, §2.1.2), never evicts an entry
 * that an unacknowledged section references (§2.1.1), and reads the peer's decoder stream.
 *
 * Strategy, kept simple on purpose: exact static match → indexed; exact dynamic match that is safe
 * to reference → indexed; otherwise insert when the entry is small and room can be made, then
 * reference it; otherwise a literal (with a static name reference when there is one). Fields named
 * in NEVER_INDEX are always literals with the N bit set (§4.5.4, §7.1.3). All inserts of a section
 * happen before it is written, so Base = Insert Count and no post-base references are needed.
 */
import { H3 } from "./h3-error.ts";
import type { HeaderField } from "./qpack-decoder.ts";
import { QpackDynamicTable } from "./qpack-dynamic-table.ts";
import { STATIC_EXACT, STATIC_NAME } from "./qpack-static-table.ts";
import { INCOMPLETE, WireReader, WireWriter, entrySize } from "./qpack-wire.ts";

export interface QpackEncoderOptions {
  /** The peer's SETTINGS_QPACK_MAX_TABLE_CAPACITY: used to encode Required Insert Count. */
  peerMaxTableCapacity: number;
  /** The peer's SETTINGS_QPACK_BLOCKED_STREAMS. */
  peerMaxBlockedStreams: number;
  /** Capacity we choose to use, at most peerMaxTableCapacity (our own memory bound). */
  tableCapacity: number;
  /** Huffman-code strings when shorter. The RFC 9204 Appendix B examples use false. */
  huffman: boolean;
}

/** Values worth protecting from compression-based attacks (§7.1.3): never inserted, N bit set. */
const NEVER_INDEX: ReadonlySet<string> = new Set(["authorization", "cookie", "set-cookie", "proxy-authorization"]);

interface OutstandingSection {
  ric: number;
  /** Smallest absolute index the section references. */
  minRef: number;
}

export class QpackEncoder {
  readonly table: QpackDynamicTable;
  private readonly opts: QpackEncoderOptions;
  private readonly maxEntries: number;
  private enc = new WireWriter();
  private knownReceived = 0;
  private outstanding = new Map<number, OutstandingSection[]>();
  private pendingDecoder: Uint8Array = new Uint8Array(0);

  constructor(opts: Partial<QpackEncoderOptions> & { peerMaxTableCapacity: number; peerMaxBlockedStreams: number }) {
    const tableCapacity = Math.min(opts.tableCapacity ?? opts.peerMaxTableCapacity, opts.peerMaxTableCapacity);
    this.opts = { huffman: true, ...opts, tableCapacity };
    this.table = new QpackDynamicTable(opts.peerMaxTableCapacity);
    this.maxEntries = Math.floor(opts.peerMaxTableCapacity / 32);
    if (tableCapacity > 0) this.setCapacity(tableCapacity);
  }

  /** Set Dynamic Table Capacity (§4.3.1). */
  setCapacity(capacity: number): void {
    if (capacity > this.opts.peerMaxTableCapacity) throw new RangeError(`capacity ${capacity} exceeds the peer's ${this.opts.peerMaxTableCapacity}`);
    // Shrinking would evict entries that outstanding sections may reference (§2.1.1); not needed yet.
    if (capacity < this.table.size) throw new RangeError("shrinking a table that holds entries is not supported");
    this.table.setCapacity(capacity);
    this.enc.int(0x20, 5, capacity);
  }

  /** Streams whose unacknowledged sections reference inserts the decoder may not have yet. */
  get blockedStreams(): number {
    let n = 0;
    for (const list of this.outstanding.values()) if (list.some((s) => s.ric > this.knownReceived)) n++;
    return n;
  }

  private isBlocked(streamId: number): boolean {
    return this.outstanding.get(streamId)?.some((s) => s.ric > this.knownReceived) ?? false;
  }

  private minReferenced(): number {
    let min = Infinity;
    for (const list of this.outstanding.values()) for (const s of list) if (s.minRef < min) min = s.minRef;
    return min;
  }

  /** Encodes a field section for `streamId`; encoder-stream bytes it needs are in takeEncoderStream(). */
  encodeSection(streamId: number, fields: readonly HeaderField[]): Uint8Array {
    const mayBlock = this.isBlocked(streamId) || this.blockedStreams < this.opts.peerMaxBlockedStreams;
    // Pass 1: choose representations and make the inserts.
    type Rep = { kind: "static"; idx: number } | { kind: "dyn"; abs: number } | { kind: "lit"; name: string; value: string; never: boolean };
    const reps: Rep[] = [];
    let minRef = Infinity;
    let maxRef = -1;
    for (const [name, value] of fields) {
      const never = NEVER_INDEX.has(name);
      const s = never ? undefined : STATIC_EXACT.get(`${name}\0${value}`);
      if (s !== undefined) { reps.push({ kind: "static", idx: s }); continue; }
      let abs = never ? -1 : this.table.findExact(name, value);
      if (abs >= 0 && !(abs < this.knownReceived || mayBlock)) abs = -1;
      if (abs < 0 && !never && mayBlock) abs = this.tryInsert(name, value, Math.min(minRef, this.minReferenced()));
      if (abs >= 0) {
        reps.push({ kind: "dyn", abs });
        if (abs < minRef) minRef = abs;
        if (abs > maxRef) maxRef = abs;
        continue;
      }
      reps.push({ kind: "lit", name, value, never });
    }
    // Pass 2: write the section with Base = Insert Count.
    const ric = maxRef + 1;
    const base = this.table.insertCount;
    const w = new WireWriter();
    w.int(0, 8, ric === 0 ? 0 : (ric % (2 * this.maxEntries)) + 1);
    w.int(0, 7, ric === 0 ? 0 : base - ric); // S = 0: Base >= Required Insert Count
    for (const rep of reps) {
      if (rep.kind === "static") w.int(0xc0, 6, rep.idx);
      else if (rep.kind === "dyn") w.int(0x80, 6, base - 1 - rep.abs);
      else {
        const n = rep.never ? 0x20 : 0;
        const si = STATIC_NAME.get(rep.name);
        if (si !== undefined) w.int(0x50 | n, 4, si);
        else w.str(0x20 | (n >>> 2), 3, rep.name, this.opts.huffman);
        w.str(0, 7, rep.value, this.opts.huffman);
      }
    }
    if (ric > 0) {
      const list = this.outstanding.get(streamId) ?? [];
      list.push({ ric, minRef });
      this.outstanding.set(streamId, list);
    }
    return w.take();
  }

  /** Inserts the field if it is small and room can be made without evicting referenced entries. */
  private tryInsert(name: string, value: string, keepFrom: number): number {
    const size = entrySize(name, value);
    // Large entries would flush the table for one use; leave them literal.
    if (size > this.table.capacity / 2 || !this.table.canMakeRoom(size, keepFrom)) return -1;
    const si = STATIC_NAME.get(name);
    const di = si === undefined ? this.table.findName(name) : -1;
    if (si !== undefined) {
      this.enc.int(0xc0, 6, si); // Insert with Name Reference, static (§4.3.2)
    } else if (di >= 0) {
      // The name is read before the insertion evicts anything, so di may itself be evicted (§3.2.2).
      this.enc.int(0x80, 6, this.table.insertCount - 1 - di); // Insert with Name Reference, dynamic
    } else {
      this.enc.str(0x40, 5, name, this.opts.huffman); // Insert with Literal Name (§4.3.3)
    }
    this.enc.str(0, 7, value, this.opts.huffman);
    return this.table.insert(name, value);
  }

  /** Encoder-stream bytes to send before (or with) the sections encoded since the last call. */
  takeEncoderStream(): Uint8Array {
    return this.enc.take();
  }

  /** Processes the peer's decoder stream (§4.4). Malformed or impossible input is QPACK_DECODER_STREAM_ERROR. */
  feedDecoderStream(chunk: Uint8Array): void {
    let buf = chunk;
    if (this.pendingDecoder.length) {
      buf = new Uint8Array(this.pendingDecoder.length + chunk.length);
      buf.set(this.pendingDecoder);
      buf.set(chunk, this.pendingDecoder.length);
    }
    const r: WireReader = new WireReader(buf, 0, buf.length, H3.QPACK_DECODER_STREAM_ERROR, 0);
    let start = 0;
    try {
      while (!r.done) {
        start = r.pos;
        const b = r.peek();
        if (b & 0x80) {
          const streamId = r.int(7);
          const list = this.outstanding.get(streamId);
          if (!list || list.length === 0) r.fail(`Section Acknowledgment for stream ${streamId} with no unacknowledged section`);
          const s = list.shift()!;
          if (!list.length) this.outstanding.delete(streamId);
          if (s.ric > this.knownReceived) this.knownReceived = s.ric;
        } else if (b & 0x40) {
          this.outstanding.delete(r.int(6));
        } else {
          const inc = r.int(6);
          if (inc === 0 || this.knownReceived + inc > this.table.insertCount) r.fail(`Insert Count Increment ${inc} is zero or beyond the inserts sent`);
          this.knownReceived += inc;
        }
      }
      start = r.pos;
    } catch (e) {
      if (e !== INCOMPLETE) throw e;
    }
    this.pendingDecoder = buf.slice(start);
  }

  /** For tests: inserts the encoder knows were received. */
  get knownReceivedCount(): number {
    return this.knownReceived;
  }
}

