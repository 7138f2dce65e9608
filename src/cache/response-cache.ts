/**
 * The response cache of one process: the byte-bounded store, the fills in flight (request
 * collapsing), the clock, and the purge interface the admin API publishes. Pure, no Bun imports.
 *
 * Each worker process has its own (docs/caching.md): entries, memory bound and collapsing are
 * per process. It outlives reloads: a new Runtime takes the same instance with the new bounds.
 */
import type { CacheLimits } from "../config/config.ts";
import { CacheStore, type CachePurger, type PurgeSelector } from "./store.ts";

/** One upstream request filling a key; concurrent misses on the key wait for it. */
export class Fill {
  private readonly waiters = new Set<() => void>();
  settled = false;

  wait(resume: () => void): void {
    this.waiters.add(resume);
  }
  cancel(resume: () => void): void {
    this.waiters.delete(resume);
  }
  get waiting(): number {
    return this.waiters.size;
  }
  /** The fill is over (stored, not storable, failed): every waiter looks again. */
  settle(): void {
    if (this.settled) return;
    this.settled = true;
    const w = [...this.waiters];
    this.waiters.clear();
    for (const f of w) f();
  }
}

export class ResponseCache implements CachePurger {
  readonly store: CacheStore;
  private readonly fills = new Map<string, Fill>();

  constructor(
    limits: CacheLimits,
    /** Wall clock in ms (injected by tests). */
    readonly now: () => number = Date.now,
  ) {
    this.store = new CacheStore(limits.memory, limits.maxObject);
  }

  /** New bounds after a reload; shrinking evicts at the next insert. */
  resize(limits: CacheLimits): void {
    this.store.maxBytes = limits.memory;
    this.store.maxObject = limits.maxObject;
  }

  purge(sel: PurgeSelector): number {
    return this.store.purge(sel);
  }

  /** The fill in flight for `key`, if any. */
  fillOf(key: string): Fill | undefined {
    return this.fills.get(key);
  }

  startFill(key: string): Fill {
    const f = new Fill();
    this.fills.set(key, f);
    return f;
  }

  endFill(key: string, f: Fill): void {
    if (this.fills.get(key) === f) this.fills.delete(key);
    f.settle();
  }

  get fillsInFlight(): number {
    return this.fills.size;
  }
}

let processCache: ResponseCache | null = null;

/** The process's cache if one was made (metrics read it at scrape time). */
export function currentProcessCache(): ResponseCache | null {
  return processCache;
}

/** The process's cache, created on first use and resized on reload. */
export function processResponseCache(limits: CacheLimits): ResponseCache {
  if (processCache === null) processCache = new ResponseCache(limits);
  else processCache.resize(limits);
  return processCache;
}
