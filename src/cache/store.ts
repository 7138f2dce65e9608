/**
 * The byte-bounded in-memory store of cached responses. Pure, no Bun imports.
 *
 * CLOCK (second chance) over primary keys, with O(1) bookkeeping per hit: a JavaScript Map
 * iterates in insertion order, so the first key is the one stored or given its second chance
 * longest ago. A hit only sets the key's referenced bit (one Map lookup; a delete + set per hit
 * cost a cache hit more than the rest of its lookup). Eviction takes the first key; if it was
 * referenced since, it loses the bit and moves to the end instead, so a key used since its last
 * pass is never the one evicted (amortised O(1): each bit is cleared once). Each primary key
 * holds its Vary variants (at most MAX_VARIANTS, newest kept). `bytes` is the sum of the
 * entries' charged sizes and never exceeds `maxBytes` after an insert returns.
 */
import type { CacheEntry } from "./entry.ts";

/** A response that varies on e.g. User-Agent must not grow one key without bound. */
export const MAX_VARIANTS = 16;

export type PurgeSelector = { all: true } | { key: string } | { prefix: string };

/**
 * Stored keys are "NAMESPACE\u0001KEY": the namespace keeps two routes (or an http and an https
 * site) that render the same key apart; purges match the KEY part, as the operator writes it.
 */
export const NAMESPACE_END = "\u0001";

/** The operator's key of a stored key (without the route namespace). */
export function userKey(stored: string): string {
  const i = stored.indexOf(NAMESPACE_END);
  return i < 0 ? stored : stored.slice(i + 1);
}

/** What the admin API (POST /api/cache/purge) calls; implemented by ResponseCache. */
export interface CachePurger {
  purge(sel: PurgeSelector): number;
}

/** A primary key's variants and its CLOCK bit. */
interface Slot {
  variants: CacheEntry[];
  referenced: boolean;
}

export class CacheStore implements CachePurger {
  private readonly slots = new Map<string, Slot>();
  bytes = 0;
  entries = 0;
  evictions = 0;

  constructor(
    public maxBytes: number,
    public maxObject: number,
  ) {}

  /** The variants stored under `key`, most recent first; marks the key referenced. */
  lookup(key: string): readonly CacheEntry[] | undefined {
    const s = this.slots.get(key);
    if (s === undefined) return undefined;
    s.referenced = true;
    return s.variants;
  }

  /** Without touching the CLOCK bit (tests, invalidation). */
  peek(key: string): readonly CacheEntry[] | undefined {
    return this.slots.get(key)?.variants;
  }

  /** Whether an object of this many bytes may be stored at all. */
  fits(bodyBytes: number): boolean {
    return bodyBytes <= this.maxObject && bodyBytes < this.maxBytes;
  }

  /** Store (replacing the variant with the same secondary key); evicts keys to stay in bounds. */
  insert(e: CacheEntry): boolean {
    if (e.body.byteLength > this.maxObject || e.size > this.maxBytes) return false;
    const old = this.slots.get(e.key);
    const list: CacheEntry[] = [];
    if (old !== undefined) {
      this.slots.delete(e.key);
      for (const v of old.variants) {
        if (v.secondary === e.secondary || list.length >= MAX_VARIANTS - 1) this.account(v, -1);
        else list.push(v);
      }
    }
    list.unshift(e);
    this.account(e, 1);
    this.slots.set(e.key, { variants: list, referenced: false });
    while (this.bytes > this.maxBytes) {
      const first = this.slots.entries().next();
      if (first.done) break;
      const [k, slot] = first.value;
      // Second chance: referenced since its last pass → clear the bit, move to the end. The key
      // just stored is never the victim (as under LRU, where it is the most recent): it moves to
      // the end too. Every other key's bit is cleared within one round, and the new entry alone
      // fits (size ≤ maxBytes), so the loop ends.
      if (slot.referenced || k === e.key) {
        slot.referenced = false;
        this.slots.delete(k);
        this.slots.set(k, slot);
        continue;
      }
      this.evictions++;
      this.deleteKey(k);
    }
    return this.slots.get(e.key)?.variants.includes(e) ?? false;
  }

  /** Remove one variant (secondary given) or the whole key; returns entries removed. */
  remove(key: string, secondary?: string): number {
    const slot = this.slots.get(key);
    if (slot === undefined) return 0;
    if (secondary === undefined) return this.deleteKey(key);
    const list = slot.variants;
    const i = list.findIndex((v) => v.secondary === secondary);
    if (i < 0) return 0;
    this.account(list[i]!, -1);
    list.splice(i, 1);
    if (list.length === 0) this.slots.delete(key);
    return 1;
  }

  purge(sel: PurgeSelector): number {
    if ("all" in sel) {
      const n = this.entries;
      this.slots.clear();
      this.bytes = 0;
      this.entries = 0;
      return n;
    }
    let n = 0;
    // One scan over the keys (every route namespace); deleting the current key while iterating
    // a Map is safe.
    if ("key" in sel) {
      for (const k of this.slots.keys()) if (userKey(k) === sel.key) n += this.deleteKey(k);
      return n;
    }
    for (const k of this.slots.keys()) if (userKey(k).startsWith(sel.prefix)) n += this.deleteKey(k);
    return n;
  }

  get keys(): number {
    return this.slots.size;
  }

  private deleteKey(key: string): number {
    const slot = this.slots.get(key);
    if (slot === undefined) return 0;
    this.slots.delete(key);
    for (const v of slot.variants) this.account(v, -1);
    return slot.variants.length;
  }

  private account(e: CacheEntry, sign: 1 | -1): void {
    this.bytes += sign * e.size;
    this.entries += sign;
  }
}
