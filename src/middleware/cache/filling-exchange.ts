/**
 * The exchange handed to the proxy on a miss or a revalidation. It decorates the client's
 * exchange (or a DetachedExchange for a background revalidation):
 *  - the request goes up without the client's If-None-Match / If-Modified-Since (the cache
 *    answers those itself) and, when revalidating, with the stored validators (§4.3.1);
 *  - a storable response streams to the client as it arrives while a copy fills the entry
 *    (never buffered first); over max_object the copy is dropped and the rest streams through;
 *    a truncated body (abort) is never stored;
 *  - a 304 to our conditional request is merged into the stored entry (§4.3.4) and the client
 *    gets the stored response; a 5xx or a failure within stale-if-error gets the stale one;
 *  - a HEAD goes up as GET (nginx's proxy_cache_convert_head) so its body can fill the entry;
 *    the engine sends the HEAD client no body bytes, and when the body will not be stored the
 *    client's answer ends at once and the rest is dropped;
 * Only GET and HEAD come here; unsafe methods go through invalidate.ts.
 * When the fill is over (stored or not) the collapsed waiters on its key are woken.
 */
import type { Exchange, HeaderPairs, ResponseHeaders } from "../../handler.ts";
import { HeaderList } from "../../http1/header-list.ts";
import type { RequestHead } from "../../http1/message-head.ts";
import { headerPairsOf } from "../../http1/serialize.ts";
import { ExchangeDecorator } from "../decorator.ts";
import { deriveHead, originalHead } from "../derive-head.ts";
import { parseCacheControl, type CacheDirectives } from "../../cache/cache-control.ts";
import { buildEntry, headerListOf, mergeNotModified } from "../../cache/build-entry.ts";
import type { CacheEntry } from "../../cache/entry.ts";
import { formatCacheStatus, type ForwardReason } from "../../cache/cache-status.ts";
import { notStorableReason } from "../../cache/storable.ts";
import { secondaryKey, varyFields } from "../../cache/vary.ts";
import type { Fill } from "../../cache/response-cache.ts";
import type { RouteCache } from "./route-cache.ts";

/** Request fields the cache evaluates itself instead of forwarding (RFC 9111 §4.3.2). */
const CLIENT_CONDITIONALS: ReadonlySet<string> = new Set(["if-none-match", "if-modified-since"]);

export class FillingExchange extends ExchangeDecorator {
  private derived: RequestHead | null = null;
  /** Body copy while storable and within max_object; null once not storing. */
  private chunks: Uint8Array[] | null = null;
  private bytes = 0;
  private declared: number | null = null;
  private status = 0;
  private pairs: [string, string][] = [];
  private responseTime = 0;
  /** The client got its answer from the cache (304 merge, stale-if-error): drop the rest. */
  private swallow = false;
  private settled = false;
  /** The client sent HEAD and the upstream gets GET (see head). */
  private readonly headAsGet: boolean;

  constructor(
    inner: Exchange,
    private readonly rc: RouteCache,
    private readonly key: string,
    private readonly stale: CacheEntry | null,
    private readonly requestCc: CacheDirectives,
    private readonly fwd: ForwardReason,
    private readonly fill: Fill,
    private readonly requestTime: number,
    private readonly collapsed: boolean,
    /** A stale-while-revalidate refresh: no client, nothing counted (the client's STALE hit was). */
    private readonly background = false,
  ) {
    super(inner);
    this.headAsGet = inner.head.method === "HEAD";
  }

  override get head(): RequestHead {
    if (this.derived !== null) return this.derived;
    const base = this.inner.head;
    const src = base.headers;
    const h = new HeaderList();
    for (let i = 0; i < src.size; i++) if (!CLIENT_CONDITIONALS.has(src.lowerNames[i]!)) h.add(src.names[i]!, src.values[i]!, src.lowerNames[i]!);
    const s = this.stale;
    if (s !== null) {
      if (s.etag !== null) h.add("If-None-Match", s.etag, "if-none-match");
      if (s.lastModified !== null) h.add("If-Modified-Since", s.lastModified, "if-modified-since");
    }
    // proxy_cache_convert_head: a HEAD miss is fetched as GET so the entry can be filled; the
    // client's connection still knows it answers a HEAD and sends no body bytes.
    return (this.derived = deriveHead(base, this.headAsGet ? { headers: h, method: "GET" } : { headers: h }));
  }

  override set onAbort(f: (() => void) | null) {
    // The client went away: the proxy drops the upstream request, so the fill is over.
    this.inner.onAbort =
      f === null
        ? null
        : () => {
            this.chunks = null;
            this.settle();
            f();
          };
  }
  override get onAbort(): (() => void) | null {
    return this.inner.onAbort;
  }

  override respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    const b = body === undefined || body === null ? new Uint8Array(0) : typeof body === "string" ? Buffer.from(body, "latin1") : body;
    if (!this.onHead(status, headers, b.byteLength)) return;
    if (this.chunks !== null) this.chunks.push(b);
    this.bytes = b.byteLength;
    this.inner.respond(status, this.pairs, b);
    this.complete();
  }

  override startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    if (!this.onHead(status, headers, length)) return;
    this.inner.startResponse(status, this.pairs, length);
    if (this.headAsGet && this.chunks === null) this.finishHead();
  }

  /**
   * A converted HEAD whose body will not be stored: the client has its head, so its exchange
   * ends now instead of waiting for a body it never gets; the rest of the upstream body is
   * read and dropped (the proxy then reuses or closes the upstream connection as usual).
   */
  private finishHead(): void {
    this.swallow = true;
    this.inner.end();
  }

  override write(chunk: Uint8Array): boolean {
    if (this.swallow) return true;
    if (this.chunks !== null) {
      this.bytes += chunk.byteLength;
      if (this.bytes > this.rc.cache.store.maxObject) {
        // Too large to keep: the rest streams through uncached, and waiters go to the upstream.
        this.chunks = null;
        this.settle();
        if (this.headAsGet) {
          this.finishHead();
          return true;
        }
      } else this.chunks.push(chunk.slice());
    }
    return this.inner.write(chunk);
  }

  override end(trailers?: HeaderPairs): void {
    if (this.swallow) return;
    this.complete();
    this.inner.end(trailers);
  }

  override abort(code?: string): void {
    if (this.swallow) return;
    // A truncated upstream body is never stored.
    this.chunks = null;
    this.settle();
    this.inner.abort(code);
  }

  override sendError(status: number, code?: string, headers?: HeaderPairs): void {
    if (this.swallow) return;
    // The upstream failed before a response (connect error, timeout): RFC 5861 §4.
    if (this.stale !== null && status >= 500 && this.rc.staleIfErrorAllows(this.stale)) {
      this.serveStaleOnError(status);
      return;
    }
    this.chunks = null;
    this.settle();
    if (!this.background) {
      this.inner.log.cache = this.stale !== null ? "EXPIRED" : "MISS";
      this.rc.count(this.stale !== null ? "expired" : "miss");
    }
    this.inner.sendError(status, code, headers);
  }

  /** false: the answer was given from the cache and the upstream's response is dropped. */
  private onHead(status: number, headers: ResponseHeaders, length: number | null): boolean {
    if (this.swallow) return false;
    const now = this.rc.cache.now();
    this.responseTime = now;
    const pairs = headerPairsOf(headers);
    const stale = this.stale;
    if (stale !== null && status === 304) {
      // §4.3.4: freshen the stored response and answer from it.
      const merged = mergeNotModified(stale, pairs, this.requestTime, now, this.inner.log.upstreamDate, this.rc.cfg.defaultTtlMs);
      this.rc.cache.store.insert(merged);
      this.swallow = true;
      this.settle();
      if (!this.background) this.rc.serve(this.inner, merged, now, { fwd: this.fwd, fwdStatus: 304, collapsed: this.collapsed || undefined }, "REVALIDATED", "revalidated");
      else this.inner.end();
      return false;
    }
    if (stale !== null && status >= 500 && this.rc.staleIfErrorAllows(stale)) {
      this.serveStaleOnError(status);
      return false;
    }
    const list = headerListOf(pairs);
    const reason = notStorableReason({
      method: this.headAsGet ? "GET" : this.inner.head.method,
      status,
      requestHeaders: this.inner.head.headers,
      requestCc: this.requestCc,
      responseHeaders: list,
      responseCc: parseCacheControl(list.getAll("cache-control")),
      allowSetCookie: this.rc.cfg.storeSetCookie,
      heuristicCapMs: this.rc.cfg.defaultTtlMs,
      authenticated: this.rc.authenticated || originalHead(this.inner.head).headers.has("authorization"),
    });
    const storing = reason === null && (length === null || this.rc.cache.store.fits(length));
    if (storing) {
      this.chunks = [];
      this.declared = length;
      this.status = status;
      this.storedPairs = pairs;
      this.storedList = list;
    } else {
      this.settle();
      // §4.4-adjacent: a response we may not store replaces nothing, but a stale entry it
      // contradicts (e.g. now no-store) must not be served again.
      if (stale !== null && reason !== "method") this.rc.cache.store.remove(this.key, stale.secondary);
    }
    if (!this.background) {
      this.inner.log.cache = stale !== null ? "EXPIRED" : "MISS";
      this.rc.count(stale !== null ? "expired" : "miss");
    }
    // RFC 9211 §2: an upstream cache's Cache-Status stays; ours is added after it.
    const out: [string, string][] = pairs.slice();
    out.push(["Cache-Status", formatCacheStatus({ fwd: this.fwd, fwdStatus: status, stored: storing, collapsed: this.collapsed || undefined })]);
    this.pairs = out;
    return true;
  }
  /** The relayed fields as received, kept for the entry (and as a list, for its Vary). */
  private storedPairs: [string, string][] = [];
  private storedList: HeaderList | null = null;

  private serveStaleOnError(status: number): void {
    this.swallow = true;
    this.chunks = null;
    this.settle();
    if (this.background) return this.inner.end();
    this.rc.serve(this.inner, this.stale!, this.rc.cache.now(), { hit: true, fwdStatus: status, detail: "stale-if-error" }, "STALE", "stale");
  }

  /** The body ended: store it if it is whole. */
  private complete(): void {
    const chunks = this.chunks;
    this.chunks = null;
    if (chunks !== null && (this.declared === null || this.declared === this.bytes)) {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const reqHeaders = this.inner.head.headers;
      const vary = varyFields(this.storedList!);
      if (vary !== "*") {
        this.rc.cache.store.insert(
          buildEntry({
            key: this.key,
            secondary: secondaryKey(vary, reqHeaders),
            vary,
            status: this.status,
            headers: this.storedPairs,
            body,
            requestTime: this.requestTime,
            responseTime: this.responseTime,
            upstreamDate: this.inner.log.upstreamDate,
            heuristicCapMs: this.rc.cfg.defaultTtlMs,
          }),
        );
      }
    }
    this.settle();
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.rc.cache.endFill(this.key, this.fill);
  }
}
