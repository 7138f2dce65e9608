/**
 * How POST /api/cache/purge reaches the response cache (issue 13): the current runtime's
 * `cache` (a CachePurger; a Runtime without one has no cache configured), or with workers every
 * worker's, over the supervisor's IPC query, with the removed entries summed.
 */
import type { CacheAccess, CachePurger, PurgeSelector } from "./admin.ts";
import type { WorkerQuery } from "./upstream-control.ts";

/** The cache of a runtime: its `cache` when some route of its config caches, else null. */
export function runtimeCache(runtime: object): CachePurger | null {
  const r = runtime as { cache?: CachePurger | null; cacheInUse?: boolean };
  return r.cacheInUse === true && r.cache && typeof r.cache.purge === "function" ? r.cache : null;
}

/** This process's cache, looked up at each request (a reload may add or remove it). */
export function localCacheAccess(get: () => CachePurger | null): CacheAccess {
  return { purge: (sel) => Promise.resolve(get()?.purge(sel) ?? null) };
}

/** A worker's answer to a supervisor's purge query: entries removed, or null without a cache. */
export function answerPurgeQuery(cache: CachePurger | null, m: { sel?: unknown }): number | null {
  return cache === null ? null : cache.purge(m.sel as PurgeSelector);
}

/** The supervisor's access: every live worker purges its own cache; null when none has one. */
export function workersCacheAccess(workers: WorkerQuery): CacheAccess {
  return {
    purge: async (sel) => {
      const all = (await workers.query({ kind: "purge", sel })) as (number | null)[];
      const counts = all.filter((n): n is number => typeof n === "number");
      return counts.length === 0 ? null : counts.reduce((a, b) => a + b, 0);
    },
  };
}
