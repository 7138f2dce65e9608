/**
 * An ordered list of header fields as received: names keep their original case (the proxy
 * forwards them unchanged), lookups are case-insensitive through a parallel lowercase array.
 * Repeated fields stay separate entries (Set-Cookie must never be joined, RFC 9110 §5.3).
 */
import { asciiLower, splitTokenList } from "./field-syntax.ts";

const NO_TOKENS: readonly string[] = Object.freeze([]);

export class HeaderList {
  constructor(
    readonly names: string[] = [],
    /** names[i] ASCII-lowercased. */
    readonly lowerNames: string[] = [],
    readonly values: string[] = [],
  ) {}

  /** A copy that can be changed without touching `src`. */
  static copyOf(src: HeaderList): HeaderList {
    return new HeaderList(src.names.slice(), src.lowerNames.slice(), src.values.slice());
  }

  get size(): number {
    return this.names.length;
  }

  /** `name` is a token (the parser checks), so ASCII lowercasing is its case-insensitive form. */
  add(name: string, value: string, lower: string = asciiLower(name)): void {
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

  /**
   * All elements of a token-list field (RFC 9110 §5.6.1): split on commas, OWS (SP/HTAB only)
   * trimmed, ASCII-lowercased, empties dropped. A malformed element (not 1*tchar) is kept
   * verbatim apart from ASCII case, so it never equals a clean token; use tokenList() to reject.
   */
  tokens(lower: string): string[] {
    // Most requests have no such field: skip the allocation (the result is read-only by use).
    if (this.lowerNames.indexOf(lower) < 0) return NO_TOKENS as string[];
    const out: string[] = [];
    for (let i = 0; i < this.lowerNames.length; i++) {
      if (this.lowerNames[i] === lower) splitTokenList(this.values[i]!, out);
    }
    return out;
  }

  /** As tokens(), but null when any element of any line is not a token. */
  tokenList(lower: string): string[] | null {
    if (this.lowerNames.indexOf(lower) < 0) return NO_TOKENS as string[];
    const out: string[] = [];
    for (let i = 0; i < this.lowerNames.length; i++) {
      if (this.lowerNames[i] === lower && !splitTokenList(this.values[i]!, out)) return null;
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
