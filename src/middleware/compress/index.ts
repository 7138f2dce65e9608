/**
 * `compress = { ... }` on a proxy route (issue 10): compress proxied responses as a stream,
 * for clients that accept it. A response-side middleware: the proxy below it is unchanged.
 *
 * Negotiation is the static handler's (src/static/accept-encoding.ts, RFC 9110 §12.5.3), over
 * the route's `codings`. A response is left as the upstream sent it when:
 *  - the request is HEAD (the length of a compressed body is unknown without making it) or has
 *    a Range header (a range of the identity; §14);
 *  - the status is not 200 (206 and 304 in particular: their validators and ranges describe
 *    the upstream's representation), or the response is a 101 upgrade;
 *  - it already has Content-Encoding, or Content-Range;
 *  - Cache-Control has no-transform (RFC 9111 §5.2.2.6: intermediaries must not change it);
 *  - its Content-Type is not in `types`, or is text/event-stream (each event must reach the
 *    client when it is sent; a compressor holds bytes back);
 *  - its Content-Length is below `min_size`.
 * When we compress: Content-Encoding is added, Content-Length dropped (chunked), a strong ETag
 * is weakened (W/, §8.8.3: the bytes differ from the upstream's representation, so a strong
 * tag would lie), and Vary gets Accept-Encoding (also on eligible responses we send as they
 * are, because the choice depended on the request's Accept-Encoding).
 *
 * Backpressure: write() returns false while the compressor holds more than HIGH_WATER input
 * bytes or the client's queue is full; the handler's onDrain fires when both have room again.
 * The compressor is paused while the client's queue is full, so memory stays bounded. On abort
 * the compressor is destroyed.
 */
import zlib from "node:zlib";
import type { Coding, CompressConfig } from "../../config/config.ts";
import type { Exchange, HeaderPairs, ResponseHeaders } from "../../handler.ts";
import { asciiLower } from "../../http1/field-syntax.ts";
import { headerPairsOf } from "../../http1/serialize.ts";
import { IDENTITY, rankCodings } from "../../static/accept-encoding.ts";
import { typeMatches } from "../../static/codings.ts";
import { ExchangeDecorator, type Middleware } from "../decorator.ts";

/** Input bytes the compressor may hold before write() says stop. */
export const HIGH_WATER = 64 * 1024;

/** Streaming levels: cheaper than the static cache's (this work is done per response). */
function makeCompressor(coding: Coding): zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress {
  if (coding === "gzip") return zlib.createGzip({ level: 5 });
  if (coding === "br") return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } });
  return zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
}

export function compressResponses(cfg: CompressConfig): Middleware {
  return (next) => (ex) => {
    const h = ex.head.headers;
    if (ex.head.method === "HEAD" || h.has("range")) {
      next(ex);
      return;
    }
    const n = h.count("accept-encoding");
    const value = n === 0 ? null : n === 1 ? h.get("accept-encoding")! : h.getAll("accept-encoding").join(", ");
    const ranked = rankCodings(value, cfg.codings);
    const best = ranked.length > 0 && ranked[0] !== IDENTITY ? (ranked[0] as Coding) : null;
    next(new CompressExchange(ex, cfg, best));
  };
}

/** Does this response qualify (see the header comment)? */
export function eligible(cfg: CompressConfig, status: number, pairs: HeaderPairs, length: number | null): boolean {
  if (status !== 200) return false;
  let type: string | null = null;
  for (const [name, v] of pairs) {
    const l = asciiLower(name);
    if (l === "content-encoding" || l === "content-range") return false;
    if (l === "cache-control" && /(^|[\s,])no-transform([\s,;=]|$)/i.test(v)) return false;
    if (l === "content-type") type = v;
    if (l === "content-length" && length === null) {
      const len = /^[0-9]{1,15}$/.test(v) ? Number(v) : -1;
      if (len >= 0 && len < cfg.minSize) return false;
    }
  }
  if (type === null || /^[ \t]*text\/event-stream/i.test(type)) return false;
  if (length !== null && length < cfg.minSize) return false;
  return typeMatches(cfg, type);
}

/** The head we send when compressing: Content-Encoding, no Content-Length, weak ETag, Vary. */
export function compressedHead(pairs: HeaderPairs, coding: Coding | null): [string, string][] {
  const out: [string, string][] = [];
  let vary = false;
  for (const [name, v] of pairs) {
    const l = asciiLower(name);
    if (coding !== null && l === "content-length") continue;
    if (coding !== null && l === "etag") {
      out.push([name, v.startsWith("W/") ? v : "W/" + v]);
      continue;
    }
    if (l === "vary") {
      vary = true;
      const has = v.split(",").some((x) => x.trim().toLowerCase() === "accept-encoding" || x.trim() === "*");
      out.push([name, has ? v : v + ", Accept-Encoding"]);
      continue;
    }
    out.push([name, v]);
  }
  if (!vary) out.push(["Vary", "Accept-Encoding"]);
  if (coding !== null) out.push(["Content-Encoding", coding]);
  return out;
}

/** Also used by the static handler to stream large files through a compressor. */
export class CompressExchange extends ExchangeDecorator {
  private z: zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress | null = null;
  private userDrain: (() => void) | null = null;
  private userAbort: (() => void) | null = null;
  /** We returned false from write(): the handler waits for onDrain. */
  private owed = false;
  /** The client's queue is full: the compressor is paused. */
  private clientFull = false;
  private done = false;

  constructor(
    inner: Exchange,
    private readonly cfg: CompressConfig,
    private readonly coding: Coding | null,
  ) {
    super(inner);
    inner.onAbort = () => {
      this.destroy();
      this.userAbort?.();
    };
  }

  override get onDrain(): (() => void) | null {
    return this.userDrain;
  }
  override set onDrain(f: (() => void) | null) {
    this.userDrain = f;
    if (this.z === null) this.inner.onDrain = f;
  }
  override get onAbort(): (() => void) | null {
    return this.userAbort;
  }
  override set onAbort(f: (() => void) | null) {
    this.userAbort = f;
  }

  override respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    const pairs = headerPairsOf(headers);
    const bytes = typeof body === "string" ? Buffer.from(body) : (body ?? null);
    if (!eligible(this.cfg, status, pairs, bytes === null ? 0 : bytes.length)) {
      this.inner.respond(status, headers, body);
      return;
    }
    if (this.coding === null || bytes === null) {
      this.inner.respond(status, compressedHead(pairs, null), body);
      return;
    }
    const out =
      this.coding === "gzip"
        ? zlib.gzipSync(bytes, { level: 5 })
        : this.coding === "br"
          ? zlib.brotliCompressSync(bytes, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } })
          : zlib.zstdCompressSync(bytes, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 3 } });
    const head = compressedHead(pairs, this.coding);
    this.inner.respond(status, head, out);
  }

  override startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    const pairs = headerPairsOf(headers);
    if (!eligible(this.cfg, status, pairs, length)) {
      this.inner.startResponse(status, headers, length);
      return;
    }
    if (this.coding === null) {
      this.inner.startResponse(status, compressedHead(pairs, null), length);
      return;
    }
    const z = makeCompressor(this.coding);
    this.z = z;
    this.inner.onDrain = () => this.clientDrained();
    z.on("data", (chunk: Buffer) => {
      if (this.done) return;
      if (!this.inner.write(chunk)) {
        this.clientFull = true;
        z.pause();
      }
    });
    z.on("drain", () => this.maybeDrain());
    z.on("error", () => {
      if (this.done) return;
      this.done = true;
      this.inner.abort("COMPRESS_ERROR");
      // The producer below (proxy, file stream) must stop and release what it holds (upstream
      // socket, fd): tell it as if the client had gone.
      this.userAbort?.();
    });
    this.inner.startResponse(status, compressedHead(pairs, this.coding), null);
  }

  override write(chunk: Uint8Array): boolean {
    const z = this.z;
    if (z === null) return this.inner.write(chunk);
    if (this.done) return false;
    z.write(chunk);
    if (this.clientFull || z.writableLength > HIGH_WATER) {
      this.owed = true;
      return false;
    }
    return true;
  }

  override end(trailers?: HeaderPairs): void {
    const z = this.z;
    if (z === null) {
      this.inner.end(trailers);
      return;
    }
    z.on("end", () => {
      if (this.done) return;
      this.done = true;
      this.inner.end(trailers);
    });
    z.end();
  }

  override abort(code?: string): void {
    this.destroy();
    this.inner.abort(code);
  }

  private destroy(): void {
    this.done = true;
    const z = this.z;
    if (z !== null) {
      z.removeAllListeners("data");
      z.on("error", () => {});
      z.destroy();
    }
  }

  private clientDrained(): void {
    this.clientFull = false;
    this.z?.resume();
    this.maybeDrain();
  }

  private maybeDrain(): void {
    if (!this.owed || this.clientFull || this.done || (this.z !== null && this.z.writableLength > HIGH_WATER)) return;
    this.owed = false;
    this.userDrain?.();
  }
}
