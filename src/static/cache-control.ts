/**
 * `cache_control` rules of a static route: glob patterns → a Cache-Control value. Pure.
 *
 *  - A pattern containing "/" matches the whole path of the served file, relative to the root
 *    and starting with "/" ("/assets/**"); one without "/" matches the file name at any depth
 *    ("*.html"). A pattern with "/" that does not start with "/" is anchored at the root anyway.
 *  - "*" matches within one path segment, "?" one character of a segment, "**" any run of
 *    characters across folders ("/a/**" matches "/a/x" and "/a/x/y"; "/a/**\/b" also "/a/b").
 *    Everything else is literal (no braces or classes: keep rules readable).
 *  - First matching rule wins (list order), as with nginx locations written in order.
 *  - The path is the FILE that is served (decoded, after index and try_files), so a
 *    try_files fallback to "/index.html" gets index.html's rule, and "/dir/" its index file's.
 */
import type { CacheControlRule } from "../config/config.ts";

/** Compile one glob to an anchored RegExp (null-free input; the validator checks the text). */
export function globToRegExp(glob: string): RegExp {
  let src = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*") {
      if (glob[i + 1] === "*") {
        i++;
        if (glob[i + 1] === "/") {
          i++;
          src += "(?:.*/)?"; // "**/": zero or more whole folders
        } else src += ".*";
      } else src += "[^/]*";
    } else if (c === "?") src += "[^/]";
    else src += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${src}$`, "s");
}

export function compileRule(match: string, value: string): CacheControlRule {
  const nameOnly = !match.includes("/");
  const pattern = nameOnly || match.startsWith("/") ? match : "/" + match;
  return { match, value, re: globToRegExp(pattern), nameOnly };
}

/** The value of the first rule matching `filePath` ("/assets/app.js"), or null. */
export function cacheControlFor(rules: readonly CacheControlRule[] | undefined, filePath: string): string | null {
  if (rules === undefined || rules.length === 0) return null;
  const name = filePath.slice(filePath.lastIndexOf("/") + 1);
  for (const r of rules) if (r.re.test(r.nameOnly ? name : filePath)) return r.value;
  return null;
}
