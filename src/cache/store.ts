/**
 * The byte-bounded in-memory store of cached responses. Pure, no Bun imports.
 *
 * LRU over primary keys with O(1) bookkeeping: a JavaScript Map iterates in insertion order, so
 * "touch" is delete + set and the least recently used key is the first one. Each primary key
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

export class CacheStore implements CachePurger {
  private readonly slots = new Map<string, CacheEntry[]>();
  bytes = 0;
  entries = 0;
  evictions = 0;

  constructor(
    public maxBytes: number,
    public maxObject: number,
  ) {}

  /** The variants stored under `key`, most recent first; marks the key recently used. */
  lookup(key: string): readonly CacheEntry[] | undefined {
    const s = this.slots.get(key);
    if (s === undefined) return undefined;
    this.slots.delete(key);
    this.slots.set(key, s);
    return s;
  }

  /** Without touching the LRU order (tests, invalidation). */
  peek(key: string): readonly CacheEntry[] | undefined {
    return this.slots.get(key);
  }

  /** Whether an object of this many bytes may be stored at all. */
  fits(bodyBytes: number): boolean {
    return bodyBytes <= this.maxObject && bodyBytes < this.maxBytes;
  }

  /** Store (replacing the variant with the same secondary key); evicts LRU keys to stay in bounds. */
  insert(e: CacheEntry): boolean {
    if (e.body.byteLength > this.maxObject || e.size > this.maxBytes) return false;
    const old = this.slots.get(e.key);
    const list: CacheEntry[] = [];
    if (old !== undefined) {
      this.slots.delete(e.key);
      for (const v of old) {
        if (v.secondary === e.secondary || list.length >= MAX_VARIANTS - 1) this.account(v, -1);
        else list.push(v);
      }
    }
    list.unshift(e);
    this.account(e, 1);
    this.slots.set(e.key, list);
    while (this.bytes > this.maxBytes) {
      const oldest = this.slots.keys().next();
      if (oldest.done) break;
      this.evictions++;
      this.deleteKey(oldest.value);
    }
    return this.slots.get(e.key)?.includes(e) ?? false;
  }

  /** Remove one variant (secondary given) or the whole key; returns entries removed. */
  remove(key: string, secondary?: string): number {
    const list = this.slots.get(key);
    if (list === undefined) return 0;
    if (secondary === undefined) return this.deleteKey(key);
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
    const list = this.slots.get(key);
    if (list === undefined) return 0;
    this.slots.delete(key);
    for (const v of list) this.account(v, -1);
    return list.length;
  }

  private account(e: CacheEntry, sign: 1 | -1): void {
    this.bytes += sign * e.size;
    this.entries += sign;
  }
}
