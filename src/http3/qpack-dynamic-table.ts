/**
 * The QPACK dynamic table (RFC 9204 §3.2): a FIFO of entries addressed by absolute index (the
 * first insertion is 0). Encoder and decoder each keep one; the encoder stream keeps them equal.
 */
import { entrySize } from "./qpack-wire.ts";

export interface TableEntry {
  readonly name: string;
  readonly value: string;
  readonly size: number;
}

export class QpackDynamicTable {
  /** entries[0] has absolute index `dropped`. */
  private entries: TableEntry[] = [];
  private dropped = 0;
  /** Sum of entry sizes. */
  size = 0;
  capacity = 0;

  constructor(readonly maxCapacity: number) {}

  /** Total number of insertions ever made (RFC 9204 §3.2.4 "Insert Count"). */
  get insertCount(): number {
    return this.dropped + this.entries.length;
  }

  /** Absolute index of the oldest entry still in the table. */
  get firstIndex(): number {
    return this.dropped;
  }

  get(abs: number): TableEntry | undefined {
    return abs >= this.dropped ? this.entries[abs - this.dropped] : undefined;
  }

  /** Newest absolute index of an entry with exactly this name and value, or -1. */
  findExact(name: string, value: string): number {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i]!;
      if (e.name === name && e.value === value) return this.dropped + i;
    }
    return -1;
  }

  /** Newest absolute index of an entry with this name, or -1. */
  findName(name: string): number {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.name === name) return this.dropped + i;
    return -1;
  }

  /**
   * Whether `size` more octets fit after evicting only entries below absolute index `keepFrom`
   * (entries from `keepFrom` on are still referenced and must stay, §2.1.1).
   */
  canMakeRoom(size: number, keepFrom: number): boolean {
    if (size > this.capacity) return false;
    let free = this.capacity - this.size;
    for (let i = 0; free < size; i++) {
      const e = this.entries[i];
      if (!e || this.dropped + i >= keepFrom) return false;
      free += e.size;
    }
    return true;
  }

  /** Sets the capacity (caller checked it against maxCapacity), evicting the oldest entries to fit. */
  setCapacity(capacity: number): void {
    this.capacity = capacity;
    this.evictTo(capacity);
  }

  /** Inserts at the end, evicting the oldest entries to make room. Caller checked the entry fits. */
  insert(name: string, value: string): number {
    const size = entrySize(name, value);
    this.evictTo(this.capacity - size);
    this.entries.push({ name, value, size });
    this.size += size;
    return this.insertCount - 1;
  }

  private evictTo(limit: number): void {
    while (this.size > limit && this.entries.length > 0) {
      this.size -= this.entries.shift()!.size;
      this.dropped++;
    }
  }

  /** Entries oldest first, for tests and diagnostics. */
  snapshot(): [abs: number, name: string, value: string][] {
    return this.entries.map((e, i) => [this.dropped + i, e.name, e.value]);
  }
}
