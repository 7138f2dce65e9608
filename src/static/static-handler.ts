/**
 * The static file handler: GET/HEAD of files under config.root.
 *
 * Request flow (each step's reasoning is at the code):
 *   method check → resolvePath (pure, memoised per raw path) → stat → cache hit? → respond
 *   miss: open (O_NONBLOCK) → fstat → realpath inside root? → read small body / keep fd → entry
 *   then preconditions (RFC 9110 §13.2.2) → Range (§14) → 200 / 206 / 304 / 412 / 416.
 *
 * Hot path for a cached small file without conditional or Range headers: one Map lookup for
 * the path, one statx (fast-stat.ts), one cache lookup, one ex.respond() with the prepared header block and
 * the cached bytes (the engine writes head + body as one buffer).
 *
 * Choices documented here:
 *  - Methods: GET and HEAD serve files. OPTIONS answers 204 with Allow (RFC 9110 §9.3.7) without
 *    touching the file system. Anything else is 405 with Allow (§15.5.6 requires it). Allow
 *    lists OPTIONS too, since we do answer it (§10.2.1: Allow lists the supported methods).
 *  - Symlinks (config.symlinks, default "within_root"; "follow" and "deny" in insideRoot())
 *    are followed, but a file or directory whose real path leaves config.root is 404
 *    PATH_SYMLINK_ESCAPE: the same answer as a missing file, so the response does not reveal
 *    what lies outside the root. The realpath check runs when an entry is (re)built; later hits
 *    are safe without it because a re-pointed symlink yields a different (dev, ino) on stat,
 *    which forces a rebuild. This is a best-effort check against symlinks present in the tree
 *    (like nginx without disable_symlinks): someone who can swap symlinks in the root while
 *    requests are in flight can race it, and hard links are indistinguishable from the file.
 *  - Directories: "/dir" → 301 to "/dir/" + the original query, built from the NORMALISED
 *    path, re-encoded (never reflecting the raw path, so "//evil.example" cannot become a
 *    protocol-relative Location). "/dir/" → "/dir/index.html", else 404 (or the listing with
 *    browse = true).
 *  - Non-regular files (FIFOs, devices, sockets) are 404. Files are opened with O_NONBLOCK so
 *    that a FIFO swapped in after the stat cannot block the event loop on open().
 *  - Errors map to status + stable code: ENOENT/ENOTDIR → 404 FILE_NOT_FOUND, EACCES/EPERM →
 *    403 FILE_FORBIDDEN, ENAMETOOLONG → 414 FILE_NAME_TOO_LONG (the name comes from the URI),
 *    ELOOP → 404 FILE_SYMLINK_LOOP, anything else → 500 FILE_ERROR. After the head is sent the
 *    only honest signal left is cutting the connection: ex.abort(FILE_READ_ERROR/FILE_TRUNCATED).
 *  - Issue 10 (docs/static-files.md): content negotiation and compressed variants (negotiate,
 *    variantOf, serveSidecar), cache_control baked into the prepared heads (extraFor),
 *    try_files (tryCandidates), browse (listDirectory) and custom error pages
 *    (ErrorPageExchange).
 *  - The handler uses the Config it was created with (a reload creates a new handler, and with
 *    it a new cache).
 */
import fs from "node:fs";
import type { StaticConfig } from "../config/config.ts";
import { handlerThrew, type Exchange, type Handler, type HeaderPairs, type ResponseHeaders } from "../handler.ts";
import type { HeaderList } from "../http1/header-list.ts";
import { evaluatePreconditions, rangeAllowed } from "./conditional.ts";
import { unchanged } from "./fast-stat.ts";
import { FreshnessBatch } from "./freshness-batch.ts";
import { type CachedFile, FileCache, type FileIdentity, makeEntry, sameFile } from "./file-cache.ts";
import {
  type ByteRange,
  contentRange,
  makeBoundary,
  type MultipartPlan,
  parseRange,
  planMultipart,
  type RangeDecision,
  unsatisfiedRange,
} from "./range.ts";
import { encodeRelPath, type ResolveCode, resolvePath } from "./resolve-path.ts";
import { IDENTITY, rankCodings } from "./accept-encoding.ts";
import { cacheControlFor } from "./cache-control.ts";
import { compressSync, SIDECAR_EXT, typeMatches } from "./codings.ts";
import { contentTypeFor } from "./content-type.ts";
import { makeVariant } from "./file-cache.ts";
import type { Coding } from "../config/config.ts";
import { closesConnection } from "../errors.ts";
import {
  LISTING_PAGE_SIZE,
  type ListingEntry,
  type ListingView,
  parseListingQuery,
  renderListingHtml,
  renderListingJson,
  sortEntries,
  wantsJson,
} from "../pages/dir-listing.ts";
import { ExchangeDecorator } from "../middleware/decorator.ts";
import { CompressExchange } from "../middleware/compress/index.ts";

/** Largest read when streaming a file (256 KiB: large enough to amortise the syscall). */
export const STREAM_CHUNK = 256 * 1024;
/** Smallest read while streaming, so a nearly full queue does not turn into many tiny reads. */
const MIN_READ = 16 * 1024;
/** Most names read from one folder for a listing (browse = true): bounds memory and time. */
export const LISTING_MAX_ENTRIES = 10_000;
/** Raw request paths whose resolution is memoised (attackers choose the keys: keep it bounded). */
export const RESOLVE_CACHE_MAX = 1024;

const ALLOW = "GET, HEAD, OPTIONS";
/** Longest raw path whose resolution is memoised (8 KiB request lines × 1024 would be 8 MiB). */
const RESOLVE_CACHE_MAX_KEY = 512;
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
/** ENOENT returns undefined instead of throwing: a 404 should not cost an exception. */
const STAT_OPTS = { throwIfNoEntry: false } as const;

type Target =
  | {
      readonly ok: true;
      readonly rel: string;
      readonly trailingSlash: boolean;
      readonly fsPath: string;
      readonly cpath: Uint8Array;
      /** For "/dir/" with several index names: the ones after the first, tried in order when it is missing. */
      readonly alternates: readonly string[] | null;
    }
  | { readonly ok: false; readonly status: number; readonly code: ResolveCode };

/** Map a file-system error to a response status and a stable code for the access log. */
export function fsErrorStatus(err: unknown): { status: number; code: string } {
  switch ((err as NodeJS.ErrnoException | null)?.code) {
    case "ENOENT":
    case "ENOTDIR":
      return { status: 404, code: "FILE_NOT_FOUND" };
    case "EACCES":
    case "EPERM":
      return { status: 403, code: "FILE_FORBIDDEN" };
    case "ENAMETOOLONG":
      return { status: 414, code: "FILE_NAME_TOO_LONG" };
    case "ELOOP":
      return { status: 404, code: "FILE_SYMLINK_LOOP" };
    default:
      return { status: 500, code: "FILE_ERROR" };
  }
}

/** Any If-* precondition or Range header present? (one pass over the lowercase names) */
function needsEvaluation(h: HeaderList): boolean {
  const names = h.lowerNames;
  for (let i = 0; i < names.length; i++) {
    const n = names[i]!;
    if (n === "range" || (n.charCodeAt(0) === 0x69 && n.charCodeAt(1) === 0x66 && n.charCodeAt(2) === 0x2d)) return true;
  }
  return false;
}

/** The query as received, with anything outside visible ASCII percent-encoded (defence in depth). */
function safeQuery(query: string): string {
  if (/^[\x21-\x7e]*$/.test(query) && query.indexOf("#") < 0) return query;
  let out = "";
  for (const b of Buffer.from(query, "latin1")) {
    out += b > 0x20 && b < 0x7f && b !== 0x23 ? String.fromCharCode(b) : "%" + (b < 16 ? "0" : "") + b.toString(16).toUpperCase();
  }
  return out;
}

function htmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // EBADF cannot happen (we close once); EIO on close of a read-only fd has nothing to undo.
  }
}

/** Read exactly `size` bytes from the start of fd (fewer if the file shrank meanwhile). */
function readWhole(fd: number, size: number): Uint8Array {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const n = fs.readSync(fd, buf, off, size - off, off);
    if (n <= 0) break;
    off += n;
  }
  return off === size ? buf : buf.subarray(0, off);
}

export function createStaticHandler(config: StaticConfig): Handler {
  const root = config.root.length > 1 && config.root.endsWith("/") ? config.root.slice(0, -1) : config.root;
  const rootPrefix = root === "/" ? "/" : root + "/";
  const maxFileSize = config.fileCacheMaxFileSize;
  const cache = new FileCache(config.fileCacheMaxBytes);
  const validityMs = config.fileCacheValidityMs;
  const targets = new Map<string, Target>();
  const symlinks = config.symlinks ?? "within_root";
  const symlinkCode = symlinks === "deny" ? "PATH_SYMLINK_DENIED" : "PATH_SYMLINK_ESCAPE";

  // ---- content negotiation (issue 10; docs/static-files.md "Compression") ----------------
  const compress = config.compress ?? null;
  const precompressed: readonly Coding[] = config.precompressed ?? [];
  const onTheFly: readonly Coding[] = compress?.codings ?? [];
  /** Server preference: sidecars first (made at build time, usually smaller), then on the fly. */
  const offered: string[] = [...precompressed, ...onTheFly.filter((c) => !precompressed.includes(c))];
  const negotiating = offered.length > 0;
  /** Rankings by Accept-Encoding value: clients send a handful of distinct values. Bounded. */
  const rankings = new Map<string, string[]>();
  const typeOk = new Map<string, boolean>();

  function ranking(ex: Exchange): string[] {
    const h = ex.head.headers;
    const n = h.count("accept-encoding");
    const value = n === 0 ? null : n === 1 ? h.get("accept-encoding")! : h.getAll("accept-encoding").join(", ");
    if (value === null) return [IDENTITY];
    let r = rankings.get(value);
    if (r === undefined) {
      r = rankCodings(value, offered);
      if (value.length <= 256) {
        if (rankings.size >= 256) rankings.delete(rankings.keys().next().value!);
        rankings.set(value, r);
      }
    }
    return r;
  }

  /** Compressible on the fly: a listed media type and at least min_size bytes. */
  function compressible(contentType: string, size: number): boolean {
    if (compress === null || size < compress.minSize) return false;
    let ok = typeOk.get(contentType);
    if (ok === undefined) {
      ok = typeMatches(compress, contentType);
      typeOk.set(contentType, ok);
    }
    return ok;
  }

  /** The file's path as cache_control patterns see it: "/" + path relative to the root. */
  function urlPathOf(fsPath: string): string {
    return root === "/" ? fsPath : fsPath.slice(root.length);
  }

  /** Vary and Cache-Control for a file's responses (baked into its prepared heads). */
  function extraFor(fsPath: string, negotiable: boolean): HeaderPairs {
    const out: [string, string][] = [];
    // §12.5.5: the representation chosen depends on Accept-Encoding, including when identity
    // is chosen, so caches must key on it.
    if (negotiable) out.push(["Vary", "Accept-Encoding"]);
    const cc = cacheControlFor(config.cacheControl, urlPathOf(fsPath));
    if (cc !== null) out.push(["Cache-Control", cc]);
    return out;
  }

  function resolveTarget(rawPath: string): Target {
    let t = targets.get(rawPath);
    if (t !== undefined) return t;
    const r = resolvePath(rawPath, config.serveDotfiles);
    if (!r.ok) t = r;
    else {
      const dir = r.rel === "" ? root : root === "/" ? "/" + r.rel : root + "/" + r.rel;
      // "/dir/" names the directory's index: stat the index directly (one syscall); a missing
      // directory, a missing index and "/file/" (ENOTDIR) all come out as 404.
      const base = dir === "/" ? "/" : dir + "/";
      const index = config.index;
      // With no index names a directory request has nothing to serve: the empty name stats the
      // directory itself, which answers 404.
      const fsPath = r.trailingSlash ? (index.length > 0 ? base + index[0] : dir) : dir;
      const alternates = r.trailingSlash && index.length > 1 ? index.slice(1).map((n) => base + n) : null;
      t = { ok: true, rel: r.rel, trailingSlash: r.trailingSlash, fsPath, cpath: Buffer.from(fsPath + "\0"), alternates };
    }
    if (rawPath.length <= RESOLVE_CACHE_MAX_KEY) {
      if (targets.size >= RESOLVE_CACHE_MAX) targets.delete(targets.keys().next().value!);
      targets.set(rawPath, t);
    }
    return t;
  }

  /** The entry still matches the disk: re-checked every request unless --cache-validity allows a window. */
  function fresh(e: CachedFile, cpath: Uint8Array, fsPath: string): boolean {
    if (validityMs > 0) {
      const now = performance.now();
      if (now - e.checkedAt < validityMs) return true;
      if (!unchanged(cpath, fsPath, e)) return false;
      e.checkedAt = now;
      return true;
    }
    return unchanged(cpath, fsPath, e);
  }

  const tryFiles = config.tryFiles ?? null;
  const browse = config.browse === true;

  /**
   * browse = true: the listing of a folder that has no index file (docs/static-files.md).
   * Dotfiles are never listed (whatever `dotfiles` says: a listing must not advertise them);
   * entries that are neither files nor folders, or cannot be stat'ed, are left out. At most
   * LISTING_MAX_ENTRIES names are read (bounded memory and time), LISTING_PAGE_SIZE per page.
   */
  function listDirectory(ex: Exchange, rel: string): void {
    const dir = rel === "" ? root : root === "/" ? "/" + rel : root + "/" + rel;
    const entries: ListingEntry[] = [];
    let d: fs.Dir | null = null;
    try {
      if (!insideRoot(dir)) {
        ex.sendError(404, symlinkCode);
        return;
      }
      d = fs.opendirSync(dir);
      let read = 0;
      for (let ent = d.readSync(); ent !== null && read < LISTING_MAX_ENTRIES; ent = d.readSync()) {
        read++;
        if (ent.name.startsWith(".") || (symlinks === "deny" && ent.isSymbolicLink())) continue;
        let st: fs.Stats | undefined;
        try {
          st = fs.statSync((dir === "/" ? "" : dir) + "/" + ent.name, STAT_OPTS);
        } catch {
          continue;
        }
        if (st === undefined || !(st.isFile() || st.isDirectory())) continue;
        entries.push({ name: ent.name, dir: st.isDirectory(), size: st.isFile() ? st.size : 0, mtimeMs: st.mtimeMs });
      }
    } catch (err) {
      const e = fsErrorStatus(err);
      ex.sendError(e.status, e.code);
      return;
    } finally {
      try {
        d?.closeSync();
      } catch {
        // already closed
      }
    }
    const q = parseListingQuery(ex.head.query);
    sortEntries(entries, q.sort, q.order);
    const pages = Math.max(1, Math.ceil(entries.length / LISTING_PAGE_SIZE));
    if (q.page > pages) {
      ex.sendError(404, "FILE_NOT_FOUND");
      return;
    }
    const view: ListingView = {
      path: (ex.head.mount ?? "") + "/" + (rel === "" ? "" : rel + "/"),
      entries: entries.slice((q.page - 1) * LISTING_PAGE_SIZE, q.page * LISTING_PAGE_SIZE),
      sort: q.sort,
      order: q.order,
      page: q.page,
      pages,
      total: entries.length,
    };
    const json = wantsJson(ex.head.headers.get("accept"));
    // Vary: Accept (HTML or JSON from one URL, §12.5.5); no-cache: a listing changes whenever
    // the folder does and has no validator of its own.
    ex.respond(
      200,
      [
        ["Content-Type", json ? "application/json; charset=utf-8" : "text/html; charset=utf-8"],
        ["Vary", "Accept"],
        ["Cache-Control", "no-cache"],
      ],
      json ? renderListingJson(view) : renderListingHtml(view),
    );
  }

  /**
   * try_files (nginx/Caddy): the first candidate naming an existing regular file (a "/"-ending
   * one: the directory's index file), with {path} = the request path as this handler sees it
   * (after strip_prefix). A directory without a trailing slash is not a match (nginx's $uri).
   * null: no candidate exists, or "=404" was reached.
   */
  function tryCandidates(path: string): string | null {
    for (const c of tryFiles!) {
      if ("status" in c) return null;
      const p = c.template.split("{path}").join(path);
      const t = resolveTarget(p);
      if (!t.ok) continue;
      const hit = cache.get(t.fsPath);
      if (hit !== undefined && fresh(hit, t.cpath, t.fsPath)) return p;
      try {
        if (fs.statSync(t.fsPath, STAT_OPTS)?.isFile()) return p;
        if (t.alternates !== null && t.alternates.some((a) => fs.statSync(a, STAT_OPTS)?.isFile())) return p;
      } catch {
        // EACCES, ENAMETOOLONG, …: not a match; the next candidate decides
      }
    }
    return null;
  }

  /** The symlinks policy (config.symlinks): may this path be served? (root is already real.) */
  function insideRoot(fsPath: string): boolean {
    if (symlinks === "follow") return true;
    const real = fs.realpathSync.native(fsPath);
    // "deny": the real path equals the literal one only when no component is a symlink.
    if (symlinks === "deny") return real === fsPath;
    return real === root || real.startsWith(rootPrefix);
  }

  function handler(ex: Exchange): void {
    const method = ex.head.method;
    if (method !== "GET" && method !== "HEAD") {
      if (method === "OPTIONS") ex.respond(204, [["Allow", ALLOW]], null);
      else ex.sendError(405, "METHOD_NOT_ALLOWED", [["Allow", ALLOW]]);
      return;
    }

    let reqPath = ex.head.path;
    if (tryFiles !== null) {
      const chosen = tryCandidates(reqPath);
      if (chosen === null) {
        ex.sendError(404, "FILE_NOT_FOUND");
        return;
      }
      reqPath = chosen;
    }
    let t = resolveTarget(reqPath);
    if (!t.ok) {
      ex.sendError(t.status, t.code);
      return;
    }

    // Hot path: a cached small file whose inode/size/mtime/ctime are unchanged (one statx,
    // shared by the requests of one event-loop batch: freshness-batch.ts).
    const hit = cache.get(t.fsPath);
    if (hit !== undefined && hit.body !== null) {
      if (validityMs === 0) {
        batch.defer(ex, hit, t);
        return;
      }
      if (fresh(hit, t.cpath, t.fsPath)) {
        answerHit(ex, hit);
        return;
      }
    }
    serveTarget(ex, t);
  }

  function answerHit(ex: Exchange, hit: CachedFile): void {
    if (hit.negotiable) negotiate(ex, hit, -1);
    else if (!needsEvaluation(ex.head.headers)) ex.respond(200, hit.headers200, hit.body);
    else serve(ex, hit, -1);
  }

  const batch = new FreshnessBatch<Exchange, CachedFile, Target & { ok: true }>(
    (e, t) => unchanged(t.cpath, t.fsPath, e),
    (ex, e, t, isFresh) => {
      // Corked: the connection's next pipelined hits are answered inside this one
      // (freshness-batch.ts) and their responses leave with it in one write.
      ex.cork();
      try {
        if (isFresh) answerHit(ex, e);
        else serveTarget(ex, t);
      } catch (err) {
        // Outside the engine's dispatch: the same treatment as a throw inside it.
        handlerThrew(ex, err);
      } finally {
        ex.uncork();
      }
    },
  );

  /** Not a fresh cache hit: stat the path (and the further index names), then serve or cache it. */
  function serveTarget(ex: Exchange, target: Target & { ok: true }): void {
    let t = target;

    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(t.fsPath, STAT_OPTS);
      if (st === undefined && t.alternates !== null) {
        // Further index names, in order (e.g. index.html, then index.htm).
        for (const alt of t.alternates) {
          st = fs.statSync(alt, STAT_OPTS);
          if (st !== undefined) {
            t = { ...t, fsPath: alt, cpath: Buffer.from(alt + "\0"), alternates: null };
            break;
          }
        }
      }
    } catch (err) {
      const e = fsErrorStatus(err);
      ex.sendError(e.status, e.code);
      return;
    }
    if (st === undefined) {
      if (browse && t.trailingSlash) listDirectory(ex, t.rel);
      else ex.sendError(404, "FILE_NOT_FOUND");
      return;
    }

    // A cached entry confirmed by the full stat (e.g. fast stat unavailable).
    const cached = cache.get(target.fsPath);
    if (cached !== undefined && cached.body !== null && sameFile(cached, st)) {
      answerHit(ex, cached);
      return;
    }

    if (!st.isFile()) {
      if (st.isDirectory() && !t.trailingSlash) redirectToDirectory(ex, t.fsPath, t.rel);
      else if (st.isDirectory() && browse) listDirectory(ex, t.rel);
      else ex.sendError(404, st.isDirectory() ? "FILE_NOT_FOUND" : "FILE_NOT_REGULAR");
      return;
    }

    // Open first and trust fstat of the fd from here on: the metadata we send then describes
    // the bytes we read even if the path is replaced between the stat above and the open.
    let fd: number;
    try {
      fd = fs.openSync(t.fsPath, OPEN_FLAGS);
    } catch (err) {
      const e = fsErrorStatus(err);
      ex.sendError(e.status, e.code);
      return;
    }
    let entry: CachedFile;
    try {
      const fst = fs.fstatSync(fd);
      if (!fst.isFile()) {
        closeQuietly(fd);
        ex.sendError(404, "FILE_NOT_REGULAR");
        return;
      }
      if (cached !== undefined && sameFile(cached, fst)) {
        entry = cached; // large file (metadata only) that has not changed
      } else {
        if (!insideRoot(t.fsPath)) {
          closeQuietly(fd);
          ex.sendError(404, symlinkCode);
          return;
        }
        entry = load(t.fsPath, fd, fst);
      }
    } catch (err) {
      closeQuietly(fd);
      const e = fsErrorStatus(err);
      ex.sendError(e.status, e.code);
      return;
    }
    if (entry.body !== null) {
      closeQuietly(fd);
      if (entry.negotiable) negotiate(ex, entry, -1);
      else serve(ex, entry, -1);
    } else if (entry.negotiable) negotiate(ex, entry, fd);
    else serve(ex, entry, fd);
  }

  /**
   * Pick the representation (RFC 9110 §12.5.3) and serve it: the client's ranking of what we
   * offer, walked best first; a sidecar that is missing or stale, or a coding that does not
   * apply to this file, passes to the next. Range requests get the identity (§14: a range of a
   * compressed stream is useless to a client that wants bytes of the file; nginx and Caddy do
   * the same). Nothing acceptable: 406.
   */
  function negotiate(ex: Exchange, e: CachedFile, fd: number): void {
    if (ex.head.method === "GET" && ex.head.headers.has("range")) {
      serve(ex, e, fd);
      return;
    }
    for (const coding of ranking(ex)) {
      if (coding === IDENTITY) {
        serve(ex, e, fd);
        return;
      }
      const c = coding as Coding;
      if (precompressed.includes(c) && serveSidecar(ex, e, fd, c)) return;
      if (onTheFly.includes(c) && compressible(e.contentType, e.size)) {
        if (e.body === null) {
          // Too big for the cache: stream it through a compressor (backpressure and the weak
          // ETag as for proxied responses, src/middleware/compress/; nginx's gzip does the same).
          serve(new CompressExchange(ex, compress!, c), e, fd);
          return;
        }
        const v = variantOf(e, c);
        if (v !== null) {
          if (fd >= 0) closeQuietly(fd);
          serve(ex, v, -1);
          return;
        }
      }
    }
    if (fd >= 0) closeQuietly(fd);
    ex.sendError(406, "NOT_ACCEPTABLE", [["Vary", "Accept-Encoding"]]);
  }

  /**
   * The cached compressed variant of a small file, made on first use. Kept only while the
   * cache budget allows (FileCache.charge); otherwise it is made for this response only. Null
   * when compressing does not make it smaller (the identity is then served instead).
   */
  function variantOf(e: CachedFile, coding: Coding): CachedFile | null {
    const known = e.variants?.get(coding);
    if (known !== undefined) return known;
    const body = compressSync(coding, e.body!);
    const v = body.length < e.body!.length ? makeVariant(e, coding, body, extraFor(e.path, true)) : null;
    if (cache.charge(e, v === null ? 0 : v.weight)) (e.variants ??= new Map()).set(coding, v);
    return v;
  }

  /**
   * Serve FILE.br / FILE.zst / FILE.gz for `e` if it exists, is a regular file inside the root
   * and is not older than FILE (a stale sidecar would serve old content). It carries FILE's
   * Content-Type, Vary and Cache-Control. False: not available, try the next coding.
   */
  function serveSidecar(ex: Exchange, e: CachedFile, fd: number, coding: Coding): boolean {
    const scPath = e.path + SIDECAR_EXT[coding];
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(scPath, STAT_OPTS);
    } catch {
      return false;
    }
    if (st === undefined || !st.isFile() || st.mtimeMs < e.mtimeMs) return false;
    // Keyed apart from the file itself ("\0" cannot occur in a path): "/x.js.br" asked for by
    // name is a plain file without Content-Encoding.
    const key = scPath + "\0";
    let entry = cache.get(key);
    if (entry === undefined || entry.body === null || !sameFile(entry, st)) {
      let scFd: number;
      try {
        scFd = fs.openSync(scPath, OPEN_FLAGS);
      } catch {
        return false;
      }
      try {
        const fst = fs.fstatSync(scFd);
        if (!fst.isFile() || fst.mtimeMs < e.mtimeMs || !insideRoot(scPath)) {
          closeQuietly(scFd);
          return false;
        }
        if (entry === undefined || !sameFile(entry, fst)) {
          let body: Uint8Array | null = null;
          if (fst.size <= maxFileSize) body = readWhole(scFd, fst.size);
          if (body !== null && body.length !== fst.size) {
            closeQuietly(scFd);
            return false; // changing under us: let the next request look again
          }
          entry = makeEntry(key, fst, body, [["Content-Encoding", coding], ...extraFor(e.path, true)], true, e.contentType, "-" + coding);
          cache.set(entry);
        }
      } catch {
        closeQuietly(scFd);
        return false;
      }
      if (fd >= 0) closeQuietly(fd);
      if (entry.body !== null) {
        closeQuietly(scFd);
        serve(ex, entry, -1);
      } else serve(ex, entry, scFd);
      return true;
    }
    if (fd >= 0) closeQuietly(fd);
    serve(ex, entry, -1);
    return true;
  }

  /** Build (and cache) the entry for an open regular file. Small files are read whole. */
  function load(fsPath: string, fd: number, id: FileIdentity): CachedFile {
    let body: Uint8Array | null = null;
    let ident = id;
    if (id.size <= maxFileSize) {
      body = readWhole(fd, id.size);
      // Shrunk while we read: describe what we actually have; the next stat will not match,
      // so this entry is rebuilt rather than served again.
      if (body.length !== id.size) ident = { dev: id.dev, ino: id.ino, size: body.length, mtimeMs: id.mtimeMs, ctimeMs: id.ctimeMs };
    }
    const contentType = contentTypeFor(fsPath);
    // Negotiable: a compressible type (on the fly), or any file when sidecars may exist.
    const negotiable = precompressed.length > 0 || compressible(contentType, ident.size);
    const entry = makeEntry(fsPath, ident, body, negotiating || config.cacheControl ? extraFor(fsPath, negotiable) : [], negotiable, contentType);
    if (ident === id) cache.set(entry);
    else cache.delete(fsPath);
    return entry;
  }

  function redirectToDirectory(ex: Exchange, fsPath: string, rel: string): void {
    try {
      if (!insideRoot(fsPath)) {
        ex.sendError(404, symlinkCode);
        return;
      }
    } catch (err) {
      const e = fsErrorStatus(err);
      ex.sendError(e.status, e.code);
      return;
    }
    // RFC 9110 §10.2.2: Location may be a relative reference; an absolute path is enough.
    // Behind strip_prefix the client's path starts with the removed prefix: put it back.
    const location = (ex.head.mount ?? "") + "/" + encodeRelPath(rel) + "/" + safeQuery(ex.head.query);
    // §15.4.2: the body SHOULD contain a short hypertext note with a link to the new URI.
    const body = `<!DOCTYPE html>\n<title>301 Moved Permanently</title>\n<a href="${htmlEscape(location)}">Moved here</a>\n`;
    ex.respond(
      301,
      [
        ["Location", location],
        ["Content-Type", "text/html; charset=utf-8"],
      ],
      body,
    );
  }

  /**
   * Answer for an existing file. `fd` is -1 when entry.body holds the bytes; otherwise it is an
   * open descriptor that this function (or the stream it starts) closes on every path.
   */
  function serve(ex: Exchange, e: CachedFile, fd: number): void {
    const headers = ex.head.headers;
    const method = ex.head.method;

    if (needsEvaluation(headers)) {
      const pre = evaluatePreconditions(method, headers, e);
      if (pre === "failed") {
        if (fd >= 0) closeQuietly(fd);
        ex.sendError(412, "PRECONDITION_FAILED");
        return;
      }
      if (pre === "not-modified") {
        if (fd >= 0) closeQuietly(fd);
        ex.respond(304, e.headers304, null);
        return;
      }
      // §14.2: Range is only defined for GET (HEAD ignores it and gets the 200 head).
      if (method === "GET" && headers.has("range")) {
        const d: RangeDecision =
          // A repeated Range field is not a valid ranges-specifier: ignore it (§14.2).
          headers.count("range") === 1 && rangeAllowed(headers, e)
            ? parseRange(headers.get("range")!, e.size)
            : { kind: "ignore", reason: "syntax" };
        if (d.kind === "unsatisfiable") {
          if (fd >= 0) closeQuietly(fd);
          ex.sendError(416, "RANGE_NOT_SATISFIABLE", [["Content-Range", unsatisfiedRange(e.size)]]);
          return;
        }
        if (d.kind === "single") {
          const h: HeaderPairs = [...e.pairs, ["Content-Range", contentRange(d.range, e.size)]];
          const len = d.range.end - d.range.start + 1;
          if (e.body !== null) ex.respond(206, h, e.body.subarray(d.range.start, d.range.end + 1));
          else streamFile(ex, fd, 206, h, len, [d.range]);
          return;
        }
        if (d.kind === "multi") {
          const plan = planMultipart(d.ranges, e.size, e.contentType, makeBoundary());
          // Same validators as the 200; Content-Type is the multipart one (§14.6).
          const h: HeaderPairs = [
            ["Content-Type", plan.contentType],
            ["Last-Modified", e.lastModifiedText],
            ["ETag", e.etag],
            ["Accept-Ranges", "bytes"],
          ];
          if (e.body !== null) ex.respond(206, h, multipartBody(plan, e.body));
          else streamFile(ex, fd, 206, h, plan.length, multipartSegments(plan));
          return;
        }
        // "ignore": fall through to the full 200.
      }
    }

    if (e.body !== null) ex.respond(200, e.headers200, e.body);
    else streamFile(ex, fd, 200, e.headers200, e.size, [{ start: 0, end: e.size - 1 }]);
  }

  /** A custom error page's cached entry (errors = { 404 = "/404.html" }), or null: use the built-in page. */
  function errorPageEntry(pagePath: string): CachedFile | null {
    const t = resolveTarget(pagePath);
    if (!t.ok) return null;
    const hit = cache.get(t.fsPath);
    if (hit !== undefined && hit.body !== null && fresh(hit, t.cpath, t.fsPath)) return hit;
    let fd = -1;
    try {
      fd = fs.openSync(t.fsPath, OPEN_FLAGS);
      const fst = fs.fstatSync(fd);
      if (!fst.isFile() || fst.size > maxFileSize || !insideRoot(t.fsPath)) return null;
      const e = load(t.fsPath, fd, fst);
      return e.body !== null ? e : null;
    } catch {
      return null; // missing or unreadable: the built-in page
    } finally {
      if (fd >= 0) closeQuietly(fd);
    }
  }

  const pages = config.errorPages;
  if (pages === undefined || pages.size === 0) return handler;
  return (ex) => handler(new ErrorPageExchange(ex, pages, errorPageEntry));
}

/**
 * Custom error pages of a static route: sendError() for a configured status answers with the
 * page file instead of the built-in page (same status, same extra fields such as Allow, same
 * access-log code). Errors that close the connection (the request stream is suspect) and errors
 * after the head was sent keep the built-in behaviour, and so does a missing page.
 */
class ErrorPageExchange extends ExchangeDecorator {
  constructor(
    inner: Exchange,
    private readonly pages: ReadonlyMap<number, string>,
    private readonly entry: (pagePath: string) => CachedFile | null,
  ) {
    super(inner);
  }

  override sendError(status: number, code?: string, headers?: HeaderPairs): void {
    const page = this.pages.get(status);
    if (page === undefined || this.inner.responseStarted || (code !== undefined && closesConnection(code))) {
      this.inner.sendError(status, code, headers);
      return;
    }
    const e = this.entry(page);
    if (e === null) {
      this.inner.sendError(status, code, headers);
      return;
    }
    if (code) this.inner.log.errorCode ??= code;
    const pairs: [string, string][] = [["Content-Type", e.contentType]];
    if (headers) for (const h of headers) pairs.push([h[0], h[1]]);
    this.inner.respond(status, pairs, e.body);
  }
}

/** The multipart body assembled from an in-memory file. */
function multipartBody(plan: MultipartPlan, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(plan.length);
  let off = 0;
  for (const p of plan.parts) {
    out.set(p.head, off);
    off += p.head.length;
    out.set(body.subarray(p.start, p.end + 1), off);
    off += p.end - p.start + 1;
  }
  out.set(plan.trailer, off);
  return out;
}

/** The multipart body as a sequence of literal bytes and file ranges, for streaming. */
function multipartSegments(plan: MultipartPlan): Array<Uint8Array | ByteRange> {
  const segs: Array<Uint8Array | ByteRange> = [];
  for (const p of plan.parts) segs.push(p.head, { start: p.start, end: p.end });
  segs.push(plan.trailer);
  return segs;
}

/**
 * Stream literal byte blocks and ranges of an open file, honouring backpressure:
 * write() returning false means "stop until onDrain" (src/handler.ts). Each chunk is a fresh
 * buffer because the engine may keep a chunk queued (by reference) after write() returns; a
 * reused buffer would be overwritten while still waiting to be sent. The fd is closed exactly
 * once: at the end, on a read error, or when the client goes away (onAbort). A HEAD gets the
 * same head (with Content-Length) and no body.
 */
function streamFile(
  ex: Exchange,
  fd: number,
  status: number,
  headers: ResponseHeaders,
  length: number,
  segments: ReadonlyArray<Uint8Array | ByteRange>,
): void {
  let done = false;
  let seg = 0;
  let pos = -1; // next file offset within segments[seg] when it is a range; -1 = not started
  let pumping = false;
  let drainedWhilePumping = false;

  const finish = (): boolean => {
    if (done) return false;
    done = true;
    ex.onDrain = null;
    ex.onAbort = null;
    closeQuietly(fd);
    return true;
  };

  const pump = (): void => {
    if (done) return;
    if (pumping) {
      drainedWhilePumping = true; // a synchronous onDrain from inside write(): keep going
      return;
    }
    pumping = true;
    try {
      while (!done) {
        if (seg >= segments.length) {
          finish();
          ex.end();
          return;
        }
        const s = segments[seg]!;
        let chunk: Uint8Array;
        if (s instanceof Uint8Array) {
          seg++;
          if (s.length === 0) continue;
          chunk = s;
        } else {
          if (pos < 0) pos = s.start;
          if (pos > s.end) {
            seg++;
            pos = -1;
            continue;
          }
          // Never read far ahead of a full queue: a client that stops reading would hold the
          // chunk as well as the queue (about 400 KB each for 60 s, before this bound).
          const want = Math.min(STREAM_CHUNK, s.end - pos + 1, Math.max(ex.writeRoom, MIN_READ));
          const buf = Buffer.allocUnsafe(want);
          const n = fs.readSync(fd, buf, 0, want, pos);
          if (n <= 0) {
            // The file shrank after we promised Content-Length: cut the connection.
            finish();
            ex.abort("FILE_TRUNCATED");
            return;
          }
          pos += n;
          chunk = n === want ? buf : buf.subarray(0, n);
        }
        drainedWhilePumping = false;
        if (!ex.write(chunk) && !drainedWhilePumping) return; // resume in onDrain
      }
    } catch {
      if (finish()) ex.abort("FILE_READ_ERROR");
    } finally {
      pumping = false;
    }
  };

  ex.onAbort = finish;
  ex.onDrain = pump;
  ex.startResponse(status, headers, length);
  if (ex.head.method === "HEAD" || length === 0) {
    finish();
    ex.end();
    return;
  }
  pump();
}
