/** The response cache middleware of a proxy route (issue 13; docs/caching.md). */
import type { RouteCacheConfig } from "../../config/config.ts";
import type { ResponseCache } from "../../cache/response-cache.ts";
import type { Middleware } from "../decorator.ts";
import { RouteCache } from "./route-cache.ts";

export { RouteCache } from "./route-cache.ts";

/**
 * `authenticated`: the route's access checks authenticate users (basic_auth, forward_auth).
 * `namespace`: what keeps this route's entries apart from other routes' with equal keys.
 * `waitMs`: how long collapsed requests wait for the one upstream request (the route's
 * upstream first-byte timeout). `routeLabel`: the metrics label of the route.
 */
export function cacheResponses(cfg: RouteCacheConfig, cache: ResponseCache, waitMs: number, routeLabel: string, namespace = routeLabel, authenticated = false): Middleware {
  return (next) => {
    const rc = new RouteCache(cfg, cache, next, waitMs, routeLabel, namespace, authenticated);
    return (ex) => rc.handle(ex);
  };
}
