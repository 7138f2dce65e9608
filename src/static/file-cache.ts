/**
 * In-memory cache of served files: metadata for every recently served file, plus the bytes of
 * small ones, each with its response header block serialized once: small files are answered
 * from memory with a precomputed head (docs/performance.md).
 *
 * Freshness: an entry records the file's identity from fstat (dev, ino, size, mtime, ctime).
 * The handler stats the path on EVERY request and uses the entry only if all five are equal;
 * any difference (rewritten in place, replaced by rename, truncated, touched, path re-pointed
 * by a symlink) rebuilds it. One stat per request is the price of never serving a changed file
 * stale; it is the same check nginx's open_file_cache does, minus the validity window. ctime
 * is included because it cannot be set from user space: "same size, mtime reset with touch -d"
 * still changes ctime. The remaining blind spot is a rewrite with identical size within the
 * file system's timestamp granularity (a few ms on Linux): no stat-based check can see it.
 *
 * Eviction is approximate LRU by bytes (CLOCK / second chance): a Map iterates in insertion
 * order; a hit only sets the entry's `referenced` bit (re-inserting on every hit cost ~0.3 µs
 * per request on the hot path), and eviction gives referenced entries at the front a second
 * chance by moving them to the back with the bit cleared. Each entry is charged its
 * body length plus a fixed overhead, so metadata-only entries (large files) are bounded too.
 * Pure: no I/O here; static-handler.ts does the reading.
 */
import type { HeaderPairs, PreparedHeaders } from "../handler.ts";
import { prepareHeaders } from "../http1/serialize.ts";
import type { Validators } from "./conditional.ts";
import { makeEtag } from "./conditional.ts";
import { contentTypeFor } from "./content-type.ts";
import { formatHttpDate } from "./http-date.ts";

/** The stat fields that identify one version of a file (fs.Stats has them all). */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

export interface CachedFile extends Validators, FileIdentity {
  /** Absolute file-system path: the cache key. */
  readonly path: string;
  readonly contentType: string;
  /** Last-Modified as sent (IMF-fixdate). */
  readonly lastModifiedText: string;
  /** The whole file when it is small enough, else null (streamed from disk). */
  readonly body: Uint8Array | null;
  /** Content-Type, Last-Modified, ETag, Accept-Ranges — the 200 head minus what the engine adds. */
  readonly pairs: HeaderPairs;
  /** `pairs` serialized once. */
  readonly headers200: PreparedHeaders;
  /** ETag + Last-Modified: what a 304 carries (RFC 9110 §15.4.5). */
  readonly headers304: PreparedHeaders;
  /** Bytes charged against the cache budget (grows when a compressed variant is added). */
  weight: number;
  /**
   * Compressed variants of `body` by coding (issue 10), made on first request and dropped with
   * the entry when the file changes; null value = compressing did not make it smaller. Their
   * bytes are charged to this entry's weight, so they live under the same cache budget.
   */
  variants: Map<string, CachedFile | null> | null;
  /** Responses for this file depend on Accept-Encoding (sends Vary; see static-handler.ts). */
  readonly negotiable: boolean;
  /** Set on every hit, cleared by eviction's second-chance pass. */
  referenced: boolean;
  /** performance.now() of the last time the disk confirmed this entry (--cache-validity). */
  checkedAt: number;
}

/** Fixed charge per entry for the strings, header blocks and Map slot (an estimate). */
export const ENTRY_OVERHEAD = 512;

export function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.dev === b.dev;
}

/** Build an entry from a file's identity (from fstat of the fd the body was read from). */
export function makeEntry(
  path: string,
  id: FileIdentity,
  body: Uint8Array | null,
  extra: HeaderPairs = [],
  negotiable = false,
  contentType = contentTypeFor(path),
  etagSuffix = "",
): CachedFile {
  // HTTP-dates have one-second resolution: truncate so that If-Modified-Since comparisons and
  // the Last-Modified we send agree (§13.1.3).
  const lastModified = Math.floor(id.mtimeMs / 1000) * 1000;
  const lastModifiedText = formatHttpDate(lastModified);
  const etag = withSuffix(makeEtag(id.size, id.mtimeMs), etagSuffix);
  const pairs: HeaderPairs = [
    ["Content-Type", contentType],
    ["Last-Modified", lastModifiedText],
    ["ETag", etag],
    // §14.3: advertise range support so clients can resume downloads.
    ["Accept-Ranges", "bytes"],
    ...extra,
  ];
  // §15.4.5: a 304 carries the Cache-Control and Vary the 200 would (Content-Encoding is not
  // among them, it describes content a 304 does not have).
  const extra304 = extra.filter(([n]) => n !== "Content-Encoding");
  return {
    path,
    dev: id.dev,
    ino: id.ino,
    size: id.size,
    mtimeMs: id.mtimeMs,
    ctimeMs: id.ctimeMs,
    etag,
    lastModified,
    lastModifiedText,
    contentType,
    body,
    pairs,
    headers200: prepareHeaders(pairs),
    headers304: prepareHeaders([["Last-Modified", lastModifiedText], ["ETag", etag], ...extra304]),
    weight: (body === null ? 0 : body.length) + ENTRY_OVERHEAD + path.length * 2,
    variants: null,
    negotiable,
    referenced: false,
    checkedAt: performance.now(),
  };
}

/** "\"1f4-18c\"" + "-br" → "\"1f4-18c-br\"": each coding's variant has its own strong tag (§8.8.3). */
export function withSuffix(etag: string, suffix: string): string {
  return suffix === "" ? etag : etag.slice(0, -1) + suffix + '"';
}

/**
 * The compressed variant of a cached entry: same metadata, own body, own strong ETag, plus
 * Content-Encoding. `extra` is the identity's extra fields (Vary, Cache-Control).
 */
export function makeVariant(base: CachedFile, coding: string, body: Uint8Array, extra: HeaderPairs): CachedFile {
  const id: FileIdentity = { dev: base.dev, ino: base.ino, size: base.size, mtimeMs: base.mtimeMs, ctimeMs: base.ctimeMs };
  const v = makeEntry(base.path, id, body, [["Content-Encoding", coding], ...extra], true, base.contentType, "-" + coding);
  // A variant's size is its body's length (the base's size is the identity length; Content-Length
  // comes from the body we hand to respond()).
  return { ...v, size: body.length, weight: body.length + ENTRY_OVERHEAD };
}

export class FileCache {
  private readonly entries = new Map<string, CachedFile>();
  private used = 0;

  /** @param maxBytes total budget (config.fileCacheMaxBytes); 0 disables caching. */
  constructor(readonly maxBytes: number) {}

  /** Bytes currently charged. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Look up and mark as most recently used. The caller must still check sameFile(). */
  get(path: string): CachedFile | undefined {
    const e = this.entries.get(path);
    if (e !== undefined) e.referenced = true;
    return e;
  }

  /** Insert or replace; evicts least recently used entries to stay within budget. */
  set(e: CachedFile): boolean {
    this.delete(e.path);
    if (e.weight > this.maxBytes) return false;
    // Each entry gets at most one second chance per pass, so this loop is bounded.
    let chances = this.entries.size;
    while (this.used + e.weight > this.maxBytes) {
      const oldest = this.entries.values().next();
      if (oldest.done) break;
      const victim = oldest.value;
      if (victim.referenced && chances-- > 0) {
        victim.referenced = false;
        this.entries.delete(victim.path);
        this.entries.set(victim.path, victim);
        continue;
      }
      this.delete(victim.path);
    }
    this.entries.set(e.path, e);
    this.used += e.weight;
    return true;
  }

  /**
   * Charge `n` more bytes to a cached entry (a compressed variant), evicting other entries to
   * stay within budget. False (nothing charged) when the entry is not in the cache or the
   * entry alone would exceed the budget: the caller then does not keep the variant.
   */
  charge(e: CachedFile, n: number): boolean {
    if (this.entries.get(e.path) !== e || e.weight + n > this.maxBytes) return false;
    e.weight += n;
    this.used += n;
    e.referenced = true;
    let chances = this.entries.size;
    while (this.used > this.maxBytes) {
      const victim = this.entries.values().next().value!;
      if ((victim === e || victim.referenced) && chances-- > 0) {
        victim.referenced = false;
        this.entries.delete(victim.path);
        this.entries.set(victim.path, victim);
        continue;
      }
      if (victim === e) break; // cannot happen: e.weight <= maxBytes and the rest is evictable
      this.delete(victim.path);
    }
    return true;
  }

  delete(path: string): void {
    const old = this.entries.get(path);
    if (old !== undefined) {
      this.entries.delete(path);
      this.used -= old.weight;
    }
  }

  clear(): void {
    this.entries.clear();
    this.used = 0;
  }
}
