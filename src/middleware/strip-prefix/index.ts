/**
 * `strip_prefix` of a route: the handlers below see the path without the prefix
 * ("/api/x" → "/x", "/api" → "/", "/api/" → "/"), in `head.path` and in `head.target`
 * (path + query, origin-form: the proxy forwards the target of an origin-form request as is,
 * and the Host of an absolute-form one is already in `head.host`).
 *
 * The prefix is removed from the normalised path (src/router/path.ts), the form routes matched,
 * so "/%61pi/x" and "/v1/../api/x" lose "/api" as well; the path handed down is therefore the
 * normalised one. It matches whole segments like a prefix route: "/apix" is not stripped by
 * "/api". A path the prefix does not cover passes unchanged.
 *
 * {path}, {uri} and the other placeholders keep showing the request as the client sent it: the
 * derived head is linked to the original (derive-head.ts), which templateContext() reads.
 */
import type { Middleware } from "../decorator.ts";
import { deriveHead, HeadDecorator } from "../derive-head.ts";
import { normalizePath } from "../../router/path.ts";
import { prefixMatches } from "../../router/routes.ts";

/** The path without `prefix`, or null when the prefix does not cover it. `path` is normalised. */
export function stripPathPrefix(prefix: string, path: string): string | null {
  if (prefix === "" || prefix === "/") return path;
  if (!prefixMatches(prefix, path)) return null;
  const rest = path.slice(prefix.endsWith("/") ? prefix.length - 1 : prefix.length);
  return rest === "" ? "/" : rest;
}

export function stripPrefix(prefix: string): Middleware {
  // Compare like the router: the prefix is written normalised in a config ("/api"), but
  // normalising it too costs nothing and keeps "/%61pi" in a config working.
  const p = normalizePath(prefix) ?? prefix;
  const mountOf = p.endsWith("/") ? p.slice(0, -1) : p;
  return (next) => (ex) => {
    const head = ex.head;
    const norm = normalizePath(head.path);
    const rest = norm === null ? null : stripPathPrefix(p, norm);
    if (rest === null || (rest === head.path && head.form === "origin")) {
      next(ex);
      return;
    }
    // What client-facing URLs must put back in front of the stripped path.
    const mount = (head.mount ?? "") + mountOf;
    next(new HeadDecorator(ex, deriveHead(head, { path: rest, target: rest + head.query, form: head.form === "absolute" ? "origin" : head.form, mount })));
  };
}
