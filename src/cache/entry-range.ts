/**
 * Range requests (RFC 9110 §14) answered from a stored full response. Pure, no Bun imports.
 *
 * The Range field is parsed by the static file server's parser (src/static/range.ts) and
 * If-Range is evaluated by its §13.1.5 check (src/static/conditional.ts) against the stored
 * validators, so a cached object and a file answer the same Range the same way. Differences:
 *  - several ranges (after coalescing) get the full 200, as nginx's proxy_cache does: the
 *    multipart/byteranges layout is not built for cached objects;
 *  - only a stored 200 is sliced (§14.2: Range applies to a 200 representation; a stored 404 or
 *    redirect is answered whole);
 *  - an If-Range entity-tag must match the stored ETag strongly (a weak or missing ETag never
 *    matches); an If-Range date must equal the stored Last-Modified exactly, and that
 *    Last-Modified must be strong (§8.8.2.2: at least one second before the stored response's
 *    Date; §13.1.5 forbids honouring a date that is not). A mismatch or an unparsable If-Range
 *    means "send the whole representation".
 */
import type { HeaderList } from "../http1/header-list.ts";
import { rangeAllowed } from "../static/conditional.ts";
import { parseHttpDate } from "../static/http-date.ts";
import { contentRange, parseRange, unsatisfiedRange, type ByteRange } from "../static/range.ts";

export type EntryRange =
  | { readonly kind: "full" }
  | { readonly kind: "unsatisfiable"; readonly contentRange: string }
  | { readonly kind: "single"; readonly range: ByteRange; readonly contentRange: string };

/** What an entry must offer to be sliced. */
export interface RangeableEntry {
  readonly status: number;
  readonly body: Uint8Array;
  readonly etag: string | null;
  readonly lastModified: string | null;
  /** The stored response's Date (ms), for the strength of Last-Modified. */
  readonly age: { readonly dateValue: number };
}

const FULL: EntryRange = Object.freeze({ kind: "full" });

/** The answer to a GET with Range from a stored entry: the whole 200, a 206 slice, or 416. */
export function rangeOfEntry(requestHeaders: HeaderList, e: RangeableEntry): EntryRange {
  // A repeated Range field is not a valid ranges-specifier: ignore it (§14.2).
  if (e.status !== 200 || requestHeaders.count("range") !== 1) return FULL;
  let lm = e.lastModified === null ? null : parseHttpDate(e.lastModified);
  // §8.8.2.2: a Last-Modified less than a second before Date may have changed within that second.
  if (lm !== null && e.age.dateValue - lm < 1000) lm = null;
  // "" and NaN never match: without a stored validator any If-Range sends the whole response.
  if (!rangeAllowed(requestHeaders, { etag: e.etag ?? "", lastModified: lm ?? Number.NaN })) return FULL;
  const size = e.body.byteLength;
  const d = parseRange(requestHeaders.get("range")!, size);
  switch (d.kind) {
    case "single":
      return { kind: "single", range: d.range, contentRange: contentRange(d.range, size) };
    case "unsatisfiable":
      return { kind: "unsatisfiable", contentRange: unsatisfiedRange(size) };
    default:
      // "ignore" (bad syntax, other unit, amplification guards) and "multi": the whole 200.
      return FULL;
  }
}
