/**
 * Validators (ETag, Last-Modified) and conditional request evaluation, RFC 9110 §8.8 and §13.
 * Pure: takes the request's HeaderList and the file's validators, returns a decision.
 *
 * Our ETag is strong (RFC 9110 §8.8.3) and built from stat data, like nginx and Apache:
 *   "<size in hex>-<mtime in whole milliseconds, hex>"      e.g. "1f4-18c2a1b3e40"
 * The inode is deliberately NOT part of it by default: the same file deployed to several
 * servers behind a balancer has different inodes, and Apache's old inode ETags broke caching
 * exactly that way. makeEtag() can include it for single-server setups that want rsync-style
 * "same size, same mtime, new file" replacements detected. Known limit of every stat-based
 * validator: two different contents with the same size written within the same millisecond
 * (or with mtime explicitly reset) get the same tag.
 */
import type { HeaderList } from "../http1/header-list.ts";
import { trimOws } from "../http1/field-syntax.ts";
import { parseHttpDate } from "./http-date.ts";

export interface Validators {
  /** Strong entity-tag including its quotes, e.g. "\"1f4-18c2a1b3e40\"". */
  readonly etag: string;
  /** Last modification as ms since the epoch, truncated to whole seconds (HTTP-date resolution). */
  readonly lastModified: number;
}

/** Build our strong ETag from stat data (see the header comment). */
export function makeEtag(size: number, mtimeMs: number, ino?: number): string {
  const base = `${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}`;
  return ino === undefined ? `"${base}"` : `"${ino.toString(16)}-${base}"`;
}

export interface EntityTag {
  readonly weak: boolean;
  /** opaque-tag including the double quotes. */
  readonly opaque: string;
}

/**
 * Parse `#entity-tag` (RFC 9110 §8.8.3, list syntax §5.6.1: OWS around commas, empty elements
 * tolerated). Returns null when the list is not well-formed: callers then treat it as matching
 * nothing (If-Match → 412, fail closed; If-None-Match → no match, full response).
 *   entity-tag = [ %s"W/" ] DQUOTE *etagc DQUOTE ; etagc = %x21 / %x23-7E / obs-text
 */
export function parseEntityTags(value: string): EntityTag[] | null {
  const out: EntityTag[] = [];
  const n = value.length;
  let i = 0;
  for (;;) {
    // skip OWS and empty list elements
    while (i < n) {
      const c = value.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x2c) i++;
      else break;
    }
    if (i >= n) return out;
    let weak = false;
    if (value.charCodeAt(i) === 0x57 /* W */ && value.charCodeAt(i + 1) === 0x2f /* / */) {
      weak = true;
      i += 2;
    }
    if (value.charCodeAt(i) !== 0x22) return null;
    const start = i;
    i++;
    while (i < n) {
      const c = value.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x21 || c === 0x7f || c > 0xff) return null;
      i++;
    }
    if (i >= n) return null; // unterminated
    i++;
    out.push({ weak, opaque: value.slice(start, i) });
    // after a tag: OWS then "," or end
    while (i < n && (value.charCodeAt(i) === 0x20 || value.charCodeAt(i) === 0x09)) i++;
    if (i < n && value.charCodeAt(i) !== 0x2c) return null;
  }
}

/** §8.8.3.2 strong comparison: both strong and opaque-tags identical. */
function strongMatch(t: EntityTag, etag: string): boolean {
  return !t.weak && t.opaque === etag;
}

/** §8.8.3.2 weak comparison: opaque-tags identical, either may be weak. */
function weakMatch(t: EntityTag, etag: string): boolean {
  return t.opaque === etag;
}

/**
 * Combine all lines of a list-valued field (§5.3) and test it.
 * "*" is only valid as the whole field value (`If-Match = "*" / #entity-tag`).
 */
function listMatches(headers: HeaderList, lower: string, etag: string, strong: boolean): boolean {
  const joined = trimOws(headers.getAll(lower).join(","));
  if (joined === "*") return true; // the file exists: "*" matches any current representation
  const tags = parseEntityTags(joined);
  if (tags === null) return false;
  for (const t of tags) if (strong ? strongMatch(t, etag) : weakMatch(t, etag)) return true;
  return false;
}

/**
 * A single HTTP-date field value, or null when it must be ignored: absent, repeated
 * ("the field value has more than one member", §13.1.3/§13.1.4) or not a valid HTTP-date.
 */
export function singleDate(headers: HeaderList, lower: string): number | null {
  if (headers.count(lower) !== 1) return null;
  return parseHttpDate(headers.get(lower)!);
}

export type Precondition = "proceed" | "not-modified" | "failed";

/**
 * RFC 9110 §13.2.2, evaluated in exactly this order for a representation that exists:
 *  1. If-Match: false unless "*" or a STRONG match → 412.
 *  2. else If-Unmodified-Since (ignored when If-Match is present or the date is invalid):
 *     modified after the date → 412.
 *  3. If-None-Match: "*" or a WEAK match → 304 for GET/HEAD, 412 for other methods.
 *  4. else If-Modified-Since (GET/HEAD only, ignored when If-None-Match is present or the
 *     date is invalid): not modified since the date (1 s granularity) → 304.
 * Step 5 (If-Range) only matters for GET with Range: see rangeAllowed().
 * Callers must only evaluate this when the response would otherwise be 2xx (§13.2.1): a
 * missing file is a 404 whatever the preconditions say.
 */
export function evaluatePreconditions(method: string, headers: HeaderList, v: Validators): Precondition {
  const getOrHead = method === "GET" || method === "HEAD";

  if (headers.has("if-match")) {
    if (!listMatches(headers, "if-match", v.etag, true)) return "failed";
  } else {
    const ius = singleDate(headers, "if-unmodified-since");
    if (ius !== null && v.lastModified > ius) return "failed";
  }

  if (headers.has("if-none-match")) {
    if (listMatches(headers, "if-none-match", v.etag, false)) return getOrHead ? "not-modified" : "failed";
  } else if (getOrHead) {
    const ims = singleDate(headers, "if-modified-since");
    if (ims !== null && v.lastModified <= ims) return "not-modified";
  }
  return "proceed";
}

/**
 * §13.1.5 If-Range, step 5 of §13.2.2: may the Range header be honoured?
 * true when there is no If-Range; otherwise only when its validator matches exactly:
 *  - an entity-tag: STRONG comparison (a weak tag never matches; clients must not send one);
 *  - an HTTP-date: exactly equal to our Last-Modified (the date is strong enough for us under
 *    the same assumption as the ETag: a file is not rewritten twice within one second with
 *    the same size — nginx makes the same assumption).
 * Anything else (invalid value, several If-Range lines) is false: ignore Range, send 200.
 */
export function rangeAllowed(headers: HeaderList, v: Validators): boolean {
  const n = headers.count("if-range");
  if (n === 0) return true;
  if (n > 1) return false;
  const value = trimOws(headers.get("if-range")!);
  // An entity-tag starts with DQUOTE or W/ (a date may start with "W": "Wed, ...").
  if (value.charCodeAt(0) === 0x22 || value.startsWith("W/")) {
    const tags = parseEntityTags(value);
    return tags !== null && tags.length === 1 && strongMatch(tags[0]!, v.etag);
  }
  const date = parseHttpDate(value);
  return date !== null && date === v.lastModified;
}
