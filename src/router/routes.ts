/**
 * Route matching inside a site. Pure, no Bun imports.
 *
 * Routes are tried in config order; the first whose conditions all hold wins:
 *  1. path (the normalised path, see path.ts):
 *     - prefix "/api" matches "/api" and "/api/..." but not "/apix": a prefix matches whole
 *       segments, so strip_prefix never cuts a segment in half. A prefix ending in "/"
 *       ("/api/") matches "/api/..." only; "/" matches every path.
 *     - exact: byte-equal.
 *     - regex: RegExp#test on the normalised path (anchor it yourself).
 *  2. methods: exact, case-sensitive (methods are case-sensitive tokens, RFC 9110 §9.1; the
 *     config stores them uppercase). HEAD also matches a route that lists GET: a HEAD is a
 *     GET without the body (RFC 9110 §9.3.2), and every handler answers it that way, so
 *     `methods = ["GET"]` does not need to spell HEAD out (nginx limit_except and Caddy do
 *     the same).
 *  3. header conditions: the field (lowercase name, ASCII case-insensitive on the wire) is
 *     present and one of its field lines has exactly the value (byte-equal, no list splitting).
 * No route matches → null: the engine answers 404 (NO_ROUTE).
 *
 * compileRoutes() turns a site's routes into one closure; matching allocates nothing for
 * prefix and exact routes.
 */
import type { RouteConfig, SiteConfig } from "../config/config.ts";
import type { HeaderList } from "../http1/header-list.ts";

export type RouteMatcher = (path: string, method: string, headers: HeaderList) => RouteConfig | null;

type PathTest = (path: string) => boolean;

/** Whether prefix route `prefix` matches `path` (segment boundary, see the module comment). */
export function prefixMatches(prefix: string, path: string): boolean {
  if (!path.startsWith(prefix)) return false;
  const n = prefix.length;
  return path.length === n || prefix.charCodeAt(n - 1) === 0x2f || path.charCodeAt(n) === 0x2f;
}

/** `lit`: the route's literalPrefix(), computed once by compileRoutes. */
function pathTest(route: RouteConfig, lit: string): PathTest {
  const m = route.match;
  switch (m.kind) {
    case "prefix": {
      const p = m.prefix;
      if (p === "/" || p === "") return (path) => path.charCodeAt(0) === 0x2f;
      return (path) => prefixMatches(p, path);
    }
    case "exact": {
      const p = m.path;
      return (path) => path === p;
    }
    case "regex": {
      // A global or sticky RegExp keeps lastIndex between test() calls: use a stateless copy.
      const re = m.re.global || m.re.sticky ? new RegExp(m.re.source, m.re.flags.replace(/[gy]/g, "")) : m.re;
      // Most route regexes are anchored and start with a literal path ("^/v1/[0-9]+$"): a path
      // without that prefix is rejected by startsWith, without running the regex.
      if (lit !== "") return (path) => path.startsWith(lit) && re.test(path);
      return (path) => re.test(path);
    }
  }
}

/** Regex syntax characters (ECMAScript SyntaxCharacter): a literal run ends at the first of them. */
const REGEX_SYNTAX = "^$\\.*+?()[]{}|";

/**
 * The literal text every match of `re` starts with at position 0: the characters after a leading
 * "^" up to the first syntax character, with escaped punctuation ("\/", "\.") taken literally,
 * less the last character when a quantifier follows it (it may be absent). "" when there is none,
 * or when a flag changes what "^" or a literal matches (i, m). Exported for the unit tests.
 */
export function regexLiteralPrefix(re: RegExp): string {
  const src = re.source;
  if (re.ignoreCase || re.multiline || src.charCodeAt(0) !== 0x5e /* ^ */) return "";
  let lit = "";
  let i = 1;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "\\") {
      // An escaped syntax character or "/" is that character; \d, \b, \1 … are not literals.
      const e = src[i + 1];
      if (e === undefined || (REGEX_SYNTAX.indexOf(e) < 0 && e !== "/")) break;
      lit += e;
      i += 2;
      continue;
    }
    if (REGEX_SYNTAX.indexOf(c) >= 0) break;
    lit += c;
    i++;
  }
  const next = src[i];
  if (next === "*" || next === "+" || next === "?" || next === "{") lit = lit.slice(0, -1);
  return lit === "" || hasTopLevelAlternative(src) ? "" : lit;
}

/** A "|" outside any group or class: the other alternative need not start with our prefix. */
function hasTopLevelAlternative(src: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === "\\") i++;
    else if (inClass) inClass = c !== "]";
    else if (c === "[") inClass = true;
    else if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "|" && depth === 0) return true;
  }
  return false;
}

/** Text every path the route matches starts with ("" when there is none to rely on). */
function literalPrefix(route: RouteConfig): string {
  const m = route.match;
  switch (m.kind) {
    case "prefix":
      return m.prefix;
    case "exact":
      return m.path;
    case "regex":
      return regexLiteralPrefix(m.re);
  }
}

interface Compiled {
  readonly route: RouteConfig;
  readonly path: PathTest;
  readonly methods: readonly string[] | null;
  readonly headNeedsGet: boolean;
  readonly headers: readonly (readonly [string, string])[] | null;
}

function methodOk(c: Compiled, method: string): boolean {
  const ms = c.methods;
  if (ms === null) return true;
  for (let i = 0; i < ms.length; i++) if (ms[i] === method) return true;
  return c.headNeedsGet && method === "HEAD";
}

function headersOk(conds: readonly (readonly [string, string])[], headers: HeaderList): boolean {
  const names = headers.lowerNames;
  const values = headers.values;
  for (let k = 0; k < conds.length; k++) {
    const [name, value] = conds[k]!;
    let found = false;
    for (let i = 0; i < names.length; i++) {
      if (names[i] === name && values[i] === value) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

/** The matcher for a list of routes (a site's), compiled once. */
export function compileRoutes(routesOrSite: readonly RouteConfig[] | SiteConfig): RouteMatcher {
  const routes = Array.isArray(routesOrSite) ? (routesOrSite as readonly RouteConfig[]) : (routesOrSite as SiteConfig).routes;
  const lits = routes.map(literalPrefix);
  const compiled: Compiled[] = routes.map((r, i) => ({
    route: r,
    path: pathTest(r, lits[i]!),
    methods: r.methods,
    headNeedsGet: r.methods !== null && r.methods.indexOf("GET") >= 0,
    headers: r.headers !== null && r.headers.length > 0 ? r.headers : null,
  }));
  // Candidates by the path's second character (paths start with "/"): a route whose literal
  // prefix is at least two characters long can only match paths that share that character, so
  // each list holds, in config order, those routes plus the ones without such a prefix. First
  // match in config order is unchanged; a 20-route site tests one or two routes per request.
  const lists: (Compiled[] | undefined)[] = [];
  const candidates = (code: number): Compiled[] =>
    (lists[code] ??= compiled.filter((_, i) => lits[i]!.length < 2 || lits[i]!.charCodeAt(1) === code));
  return (path, method, headers) => {
    // One-character paths ("/") get the list for no character (index 256); a char above 0xFF,
    // which normalised paths do not have, gets every route.
    const code = path.length < 2 ? 256 : path.charCodeAt(1);
    const list = code > 256 ? compiled : candidates(code);
    const n = list.length;
    for (let i = 0; i < n; i++) {
      const c = list[i]!;
      if (!c.path(path)) continue;
      if (!methodOk(c, method)) continue;
      if (c.headers !== null && !headersOk(c.headers, headers)) continue;
      return c.route;
    }
    return null;
  };
}

const matchers = new WeakMap<SiteConfig, RouteMatcher>();

/**
 * The first route of `site` that matches (see the module comment), or null (404 NO_ROUTE).
 * `path` must be normalised (normalizePath). The site's matcher is compiled on first use and
 * kept with the (immutable) site; the runtime may also hold compileRoutes(site) itself.
 */
export function matchRoute(site: SiteConfig, path: string, method: string, headers: HeaderList): RouteConfig | null {
  let m = matchers.get(site);
  if (m === undefined) {
    m = compileRoutes(site);
    matchers.set(site, m);
  }
  return m(path, method, headers);
}
