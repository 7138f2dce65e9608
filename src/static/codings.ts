/**
 * Content codings we produce or look for (issue 10), with node:zlib's built-ins (Bun implements
 * gzip, brotli and zstd natively; no dependency).
 *
 * Levels: a cached variant is compressed ONCE per file version and then served many times, so it
 * uses a strong-but-fast level: gzip 6 (zlib's default), brotli 9 (q10/11 are 10-50× slower for
 * ~5% less), zstd 9. Files are at most static.cache_max_file_size (1 MiB by default), so one
 * compression blocks the event loop for at most a few tens of milliseconds, once.
 */
import zlib from "node:zlib";
import type { Coding, CompressConfig } from "../config/config.ts";

/** Sidecar file extension per coding (file.br, file.zst, file.gz), as nginx/Caddy name them. */
export const SIDECAR_EXT: Readonly<Record<Coding, string>> = { br: ".br", zstd: ".zst", gzip: ".gz" };

/** Compress a whole in-memory body. */
export function compressSync(coding: Coding, body: Uint8Array): Uint8Array {
  switch (coding) {
    case "gzip":
      return zlib.gzipSync(body, { level: 6 });
    case "br":
      return zlib.brotliCompressSync(body, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 9, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length },
      });
    case "zstd":
      return zlib.zstdCompressSync(body, { params: { [zlib.constants.ZSTD_c_compressionLevel]: 9 } });
  }
}

/** Decompress (tests and tools). */
export function decompressSync(coding: string, body: Uint8Array): Buffer {
  if (coding === "gzip") return zlib.gunzipSync(body);
  if (coding === "br") return zlib.brotliDecompressSync(body);
  if (coding === "zstd") return zlib.zstdDecompressSync(body);
  throw new Error(`unknown coding ${coding}`);
}

/**
 * Does compress.types cover this Content-Type? Compares the media type without parameters,
 * ASCII case-insensitively; "text/*" covers every text subtype.
 */
export function typeMatches(c: CompressConfig, contentType: string): boolean {
  const semi = contentType.indexOf(";");
  const mt = (semi < 0 ? contentType : contentType.slice(0, semi)).replace(/[ \t]+$/, "").replace(/[A-Z]/g, (x) => x.toLowerCase());
  const slash = mt.indexOf("/");
  for (const t of c.types) {
    if (t === mt) return true;
    if (t.endsWith("/*") && slash > 0 && t.length - 1 === slash + 1 && mt.startsWith(t.slice(0, -1))) return true;
  }
  return false;
}
