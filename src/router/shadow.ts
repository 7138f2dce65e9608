/**
 * Unreachable routes, for `--check` warnings. Pure.
 *
 * Route j is shadowed by an earlier route i when no request can reach j: i has no method and
 * no header conditions, and every path j matches is also matched by i (first match wins):
 *  - prefix P covers prefix Q when P matches Q itself (then it matches everything below Q:
 *    "/api" covers "/api/v1" and "/api/", "/api/" does not cover "/api");
 *  - prefix P covers exact E when P matches E;
 *  - exact covers exact when equal;
 *  - an exact route never covers a prefix route, and a regex is never considered a shadower
 *    (deciding whether one regex covers another is not worth it). A regex route is never
 *    reported as shadowed either: only certain warnings are printed.
 * Each shadowed route is reported once, with the earliest route that shadows it.
 */
import type { PathMatch, RouteConfig } from "../config/config.ts";
import { prefixMatches } from "./routes.ts";

function covers(a: PathMatch, b: PathMatch): boolean {
  if (a.kind === "regex" || b.kind === "regex") return false;
  if (a.kind === "exact") return b.kind === "exact" && a.path === b.path;
  const p = a.prefix === "" ? "/" : a.prefix;
  const other = b.kind === "exact" ? b.path : b.prefix === "" ? "/" : b.prefix;
  return prefixMatches(p, other);
}

function unconditional(r: RouteConfig): boolean {
  return r.methods === null && (r.headers === null || r.headers.length === 0);
}

/** `route` and `by` are positions in `routes`. */
export function shadowedBy(routes: readonly RouteConfig[]): Array<{ route: number; by: number }> {
  const out: Array<{ route: number; by: number }> = [];
  for (let j = 1; j < routes.length; j++) {
    for (let i = 0; i < j; i++) {
      if (unconditional(routes[i]!) && covers(routes[i]!.match, routes[j]!.match)) {
        out.push({ route: j, by: i });
        break;
      }
    }
  }
  return out;
}
