/**
 * Cache-Control (RFC 9111 §5.2) parsed byte by byte. Pure, no Bun imports.
 *
 *   Cache-Control   = #cache-directive
 *   cache-directive = token [ "=" ( token / quoted-string ) ]
 *
 * Directive names are case-insensitive (ASCII only). Values of the delta-seconds directives are
 * 1*DIGIT; anything else (" 10", "1e3", "-1", "10.5") is invalid. What an invalid or repeated
 * value means is decided here once, on the safe side:
 *  - §1.2.2: a delta-seconds above 2^31 is taken as 2^31.
 *  - §4.2.1: "When there is more than one value present for a given directive (e.g., two
 *    Expires header field lines or multiple Cache-Control: max-age directives), either the first
 *    occurrence should be used or the response should be considered stale": we consider it
 *    stale (max-age / s-maxage = 0), as an invalid value is too (§4.2.1: "a cache SHOULD
 *    consider [an invalid freshness value] stale").
 *  - A malformed list (an element that is not token["=" value]) keeps the well-formed elements
 *    and notes `malformed`; callers that store treat a malformed response field as no-store.
 * The qualified forms no-cache="field" and private="field" are treated as the unqualified ones
 * (§5.2.2.4, §5.2.2.7 allow it): never storing a private field is the conservative choice.
 */
import { TOKEN } from "../http1/chars.ts";
import { asciiLower } from "../http1/field-syntax.ts";

/** §1.2.2: the largest delta-seconds a cache needs to represent. */
export const DELTA_MAX = 2 ** 31;

export interface CacheDirectives {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  mustUnderstand: boolean;
  noTransform: boolean;
  immutable: boolean;
  onlyIfCached: boolean;
  /** Seconds; null = absent. */
  maxAge: number | null;
  sMaxAge: number | null;
  /** Request max-stale: Infinity when given without a value (§5.2.1.2), null = absent. */
  maxStale: number | null;
  minFresh: number | null;
  /** RFC 5861 §3, §4. */
  staleWhileRevalidate: number | null;
  staleIfError: number | null;
  /** Some element did not parse. */
  malformed: boolean;
}

export function emptyDirectives(): CacheDirectives {
  return {
    noStore: false,
    noCache: false,
    private: false,
    public: false,
    mustRevalidate: false,
    proxyRevalidate: false,
    mustUnderstand: false,
    noTransform: false,
    immutable: false,
    onlyIfCached: false,
    maxAge: null,
    sMaxAge: null,
    maxStale: null,
    minFresh: null,
    staleWhileRevalidate: null,
    staleIfError: null,
    malformed: false,
  };
}

const NONE: readonly string[] = [];

/** delta-seconds = 1*DIGIT (§1.2.2); -1 when invalid; capped at 2^31. */
export function deltaSeconds(v: string | null): number {
  if (v === null || v.length === 0) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const d = v.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
    if (n > DELTA_MAX) n = DELTA_MAX; // keep reading: every byte must still be a digit
  }
  return n;
}

type Seconds = "maxAge" | "sMaxAge" | "minFresh" | "staleWhileRevalidate" | "staleIfError";
const SECONDS: Record<string, Seconds> = {
  "max-age": "maxAge",
  "s-maxage": "sMaxAge",
  "min-fresh": "minFresh",
  "stale-while-revalidate": "staleWhileRevalidate",
  "stale-if-error": "staleIfError",
};
type Flag = "noStore" | "noCache" | "private" | "public" | "mustRevalidate" | "proxyRevalidate" | "mustUnderstand" | "noTransform" | "immutable" | "onlyIfCached";
const FLAGS: Record<string, Flag> = {
  "no-store": "noStore",
  "no-cache": "noCache",
  private: "private",
  public: "public",
  "must-revalidate": "mustRevalidate",
  "proxy-revalidate": "proxyRevalidate",
  "must-understand": "mustUnderstand",
  "no-transform": "noTransform",
  immutable: "immutable",
  "only-if-cached": "onlyIfCached",
};

/** Parse every Cache-Control field line of a message (lines are combined as one list, RFC 9110 §5.3). */
export function parseCacheControl(lines: readonly string[] = NONE): CacheDirectives {
  const d = emptyDirectives();
  if (lines.length === 0) return d;
  const seen = new Set<string>();
  for (const line of lines) parseLine(line, d, seen);
  return d;
}

function isTchar(c: number): boolean {
  return c <= 0xff && TOKEN[c] === 1;
}

function parseLine(s: string, d: CacheDirectives, seen: Set<string>): void {
  const n = s.length;
  let i = 0;
  for (;;) {
    // OWS and empty list elements (RFC 9110 §5.6.1.2)
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x2c) i++;
      else break;
    }
    if (i >= n) return;
    const start = i;
    while (i < n && isTchar(s.charCodeAt(i))) i++;
    if (i === start) return skipBad(s, i, d, seen);
    const name = asciiLower(s.slice(start, i));
    let value: string | null = null;
    if (i < n && s.charCodeAt(i) === 0x3d /* = */) {
      i++;
      if (i < n && s.charCodeAt(i) === 0x22 /* " */) {
        // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
        i++;
        let v = "";
        let closed = false;
        while (i < n) {
          const c = s.charCodeAt(i);
          if (c === 0x22) {
            closed = true;
            i++;
            break;
          }
          if (c === 0x5c) {
            const q = s.charCodeAt(i + 1);
            if (i + 1 >= n || !(q === 0x09 || (q >= 0x20 && q !== 0x7f))) break;
            v += s[i + 1];
            i += 2;
            continue;
          }
          if (!(c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || (c >= 0x80 && c <= 0xff))) break;
          v += s[i];
          i++;
        }
        if (!closed) {
          d.malformed = true;
          return;
        }
        value = v;
      } else {
        const vs = i;
        while (i < n && isTchar(s.charCodeAt(i))) i++;
        if (i === vs) return skipBad(s, i, d, seen);
        value = s.slice(vs, i);
      }
    }
    // after an element: OWS then "," or the end
    while (i < n && (s.charCodeAt(i) === 0x20 || s.charCodeAt(i) === 0x09)) i++;
    if (i < n && s.charCodeAt(i) !== 0x2c) return skipBad(s, i, d, seen);
    apply(d, name, value, seen);
  }
}

/** An element that is not token["=" value]: note it and resume at the next comma. */
function skipBad(s: string, i: number, d: CacheDirectives, seen: Set<string>): void {
  d.malformed = true;
  const comma = s.indexOf(",", i);
  if (comma >= 0) parseLine(s.slice(comma + 1), d, seen);
}

function apply(d: CacheDirectives, name: string, value: string | null, seen: Set<string>): void {
  const flag = FLAGS[name];
  if (flag !== undefined) {
    d[flag] = true;
    return;
  }
  const sec = SECONDS[name];
  if (sec !== undefined) {
    const v = deltaSeconds(value);
    if (seen.has(name) || v < 0) {
      // Repeated or invalid (§4.2.1): stale for the freshness directives; for the request
      // and stale-* ones, the directive is ignored (the conservative reading).
      d[sec] = sec === "maxAge" || sec === "sMaxAge" ? 0 : null;
      if (v < 0) d.malformed = true;
    } else d[sec] = v;
    seen.add(name);
    return;
  }
  if (name === "max-stale") {
    // §5.2.1.2: without a value the client accepts any staleness.
    if (value === null) d.maxStale = Infinity;
    else {
      const v = deltaSeconds(value);
      if (v < 0) d.malformed = true;
      else d.maxStale = v;
    }
  }
  // Unknown directives are ignored (§5.2.3).
}
