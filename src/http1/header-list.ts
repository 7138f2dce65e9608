/**
 * An ordered list of header fields as received: names keep their original case (the proxy
 * forwards them unchanged), lookups are case-insensitive through a parallel lowercase array.
 * Repeated fields stay separate entries (Set-Cookie must never be joined, RFC 9110 §5.3).
 */
const NO_TOKENS: readonly string[] = Object.freeze([]);

export class HeaderList {
  readonly names: string[] = [];
  readonly lowerNames: string[] = [];
  readonly values: string[] = [];

  get size(): number {
    return this.names.length;
  }

  add(name: string, value: string, lower: string = name.toLowerCase()): void {
    this.names.push(name);
    this.lowerNames.push(lower);
    this.values.push(value);
  }

  /** First value of the field, or undefined. `lower` must be lowercase. */
  get(lower: string): string | undefined {
    const i = this.lowerNames.indexOf(lower);
    return i < 0 ? undefined : this.values[i];
  }

  getAll(lower: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.lowerNames.length; i++) if (this.lowerNames[i] === lower) out.push(this.values[i]!);
    return out;
  }

  has(lower: string): boolean {
    return this.lowerNames.indexOf(lower) >= 0;
  }

  count(lower: string): number {
    let n = 0;
    for (let i = 0; i < this.lowerNames.length; i++) if (this.lowerNames[i] === lower) n++;
    return n;
  }

  /** All values of a list-valued field, split on commas, trimmed, lowercased, empties dropped (RFC 9110 §5.6.1). */
  tokens(lower: string): string[] {
    // Most requests have no such field: skip the allocation (the result is read-only by use).
    if (this.lowerNames.indexOf(lower) < 0) return NO_TOKENS as string[];
    const out: string[] = [];
    for (let i = 0; i < this.lowerNames.length; i++) {
      if (this.lowerNames[i] !== lower) continue;
      for (const part of this.values[i]!.split(",")) {
        const t = part.trim().toLowerCase();
        if (t) out.push(t);
      }
    }
    return out;
  }

  /** Pairs in order, original-case names. */
  pairs(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0; i < this.names.length; i++) out.push([this.names[i]!, this.values[i]!]);
    return out;
  }
}
