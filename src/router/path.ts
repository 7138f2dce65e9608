/**
 * The request path as routes see it. Pure, no Bun imports.
 *
 * normalizePath() applies only the syntax-based normalisations of RFC 3986 §6.2.2, which never
 * change what a URI identifies, so a route can not be sidestepped by spelling a path
 * differently ("/%61dmin", "/x/../admin", "/ADMIN%2f" vs "%2F"):
 *  1. percent-encoded unreserved characters (ALPHA DIGIT "-" "." "_" "~") are decoded
 *     (§6.2.2.2): "%61" → "a", "%2E" → ".";
 *  2. every remaining %xx gets uppercase hex (§6.2.2.1): "%2f" → "%2F". Reserved characters
 *     stay encoded: "%2F" is data inside a segment, not a separator;
 *  3. dot segments are removed (§5.2.4, after step 1 so "%2E%2E" counts): "/a/./b/../c" →
 *     "/a/c"; ".." at the root stays at the root ("/../a" → "/a").
 * Malformed percent-encoding ("%", "%4", "%zz") → null: the engine answers 400 (BAD_PATH).
 *
 * "//" is NOT merged into "/". Empty segments are significant in a URI (RFC 3986 §3.3) and
 * backends disagree about them (nginx merges by default, Apache, Go's ServeMux redirect, most
 * application routers and object stores do not): merging here would make the route we pick
 * and the path the upstream sees disagree. The consequence to know: a route "/admin" does not
 * match "//admin"; to deny a path for a backend that merges slashes, match it with a regex
 * such as "^/+admin(/|$)".
 *
 * A path that does not start with "/" (OPTIONS "*", a CONNECT authority) only gets steps 1-2.
 */

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f || c === 0x7e
  );
}

const HEX_UPPER = "0123456789ABCDEF";

/** See the module comment. Returns `rawPath` itself when it is already normal (no allocation). */
export function normalizePath(rawPath: string): string | null {
  let s = rawPath;
  if (s.indexOf("%") >= 0) {
    let out = "";
    let from = 0;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) !== 0x25 /* % */) continue;
      if (i + 2 >= n) return null; // "%" or "%4" at the end
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h < 0 || l < 0) return null;
      const v = h * 16 + l;
      out += s.slice(from, i);
      out += isUnreserved(v) ? String.fromCharCode(v) : "%" + HEX_UPPER[h]! + HEX_UPPER[l]!;
      from = i + 3;
      i += 2;
    }
    s = from === 0 ? s : out + s.slice(from);
  }
  if (s.charCodeAt(0) === 0x2f && s.indexOf("/.") >= 0) s = removeDotSegments(s);
  return s;
}

/**
 * RFC 3986 §5.2.4 for an absolute path: "." segments vanish, ".." removes the segment before
 * it (never above the root), and a trailing "." or ".." leaves a trailing "/".
 */
export function removeDotSegments(path: string): string {
  const segs = path.slice(1).split("/");
  const out: string[] = [];
  const last = segs.length - 1;
  for (let i = 0; i <= last; i++) {
    const seg = segs[i]!;
    if (seg === ".") {
      if (i === last) out.push("");
    } else if (seg === "..") {
      out.pop();
      if (i === last) out.push("");
    } else out.push(seg);
  }
  return "/" + out.join("/");
}
