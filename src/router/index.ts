/** Pure host and path routing (no Bun imports): see host.ts, path.ts, routes.ts, shadow.ts. */
export { buildSiteTables, listenKey, normalizeHost, type SiteTable } from "./host.ts";
export { normalizePath, removeDotSegments } from "./path.ts";
export { compileRoutes, matchRoute, prefixMatches, type RouteMatcher } from "./routes.ts";
export { shadowedBy } from "./shadow.ts";
