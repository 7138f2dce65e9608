/**
 * The HPACK dynamic table, RFC 7541 §2.3.2 and §4: a FIFO of (name, value) entries, newest first,
 * bounded by octet size where an entry costs name + value + 32 octets (§4.1). Names and values are
 * latin1 strings (one char per octet), so string length is octet length.
 *
 * Stored as a ring of two parallel arrays that grows by doubling: at most maxSize / 32 entries can
 * be live, so memory is bounded by the size limit.
 */
export const ENTRY_OVERHEAD = 32;

export class DynamicTable {
  private names: string[] = new Array<string>(16);
  private values: string[] = new Array<string>(16);
  private mask = 15;
  /** Ring slot of the newest entry. */
  private head = -1;
  /** Live entries. */
  length = 0;
  /** Current size in octets (§4.1). */
  size = 0;
  /** Entries ever inserted: the entry at position i has sequence number insertCount - 1 - i. */
  insertCount = 0;

  constructor(public maxSize: number) {}

  /** Name of the entry at 0-based position i, newest first (HPACK index 62 + i). */
  name(i: number): string {
    return this.names[(this.head - i) & this.mask]!;
  }

  value(i: number): string {
    return this.values[(this.head - i) & this.mask]!;
  }

  /** Adds an entry, evicting from the oldest end first (§4.4). An entry larger than the whole table empties it and is not added. */
  add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.maxSize) {
      while (this.length > 0) this.evictOldest();
      return;
    }
    while (this.size + entrySize > this.maxSize) this.evictOldest();
    if (this.length === this.mask + 1) this.grow();
    this.head = (this.head + 1) & this.mask;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.length++;
    this.size += entrySize;
    this.insertCount++;
  }

  /** A dynamic table size update (§4.3, §6.3): evicts until the table fits. */
  setMaxSize(n: number): void {
    this.maxSize = n;
    while (this.size > n) this.evictOldest();
  }

  /** Called for each evicted entry with its sequence number (insertion order). */
  protected evicted(_name: string, _value: string, _seq: number): void {}

  private evictOldest(): void {
    const slot = (this.head - this.length + 1) & this.mask;
    const name = this.names[slot]!;
    const value = this.values[slot]!;
    this.names[slot] = "";
    this.values[slot] = "";
    this.evicted(name, value, this.insertCount - this.length);
    this.length--;
    this.size -= name.length + value.length + ENTRY_OVERHEAD;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const names = new Array<string>(cap);
    const values = new Array<string>(cap);
    // Oldest at 0 .. newest at length-1.
    for (let i = 0; i < this.length; i++) {
      const slot = (this.head - this.length + 1 + i) & this.mask;
      names[i] = this.names[slot]!;
      values[i] = this.values[slot]!;
    }
    this.names = names;
    this.values = values;
    this.mask = cap - 1;
    this.head = this.length - 1;
  }
}
