/**
 * Content-Type of a served file (RFC 9110 §8.3), from its extension via the `mime` package
 * (Bun's built-in guess differs on common extensions such as .ts, see docs/runtime-notes.md).
 *
 * Unknown extensions get application/octet-stream: §8.3 lets a sender omit the field, but then
 * browsers sniff the content, which turns an uploaded "photo" into executable HTML. Sending
 * octet-stream makes the browser download it instead.
 *
 * `; charset=utf-8` is added to text/* and to the textual application types below: without it
 * a browser falls back to a legacy default (often windows-1252) and mangles non-ASCII text, and
 * an attacker-controlled charset guess (UTF-7) was an XSS vector. Files are assumed UTF-8, the
 * only encoding the web platform recommends.
 */
import mime from "mime";

const TEXTUAL_APPLICATION_TYPES = new Set([
  "application/javascript",
  "application/json",
  "image/svg+xml",
  "application/xml",
  "application/manifest+json",
]);

const byExtension = new Map<string, string>();

/** Content-Type header value for a file path (only the final extension matters). */
export function contentTypeFor(filePath: string): string {
  const slash = filePath.lastIndexOf("/");
  const dot = filePath.lastIndexOf(".");
  const ext = dot > slash ? filePath.slice(dot + 1).toLowerCase() : "";
  let type = byExtension.get(ext);
  if (type === undefined) {
    const base = ext === "" ? null : mime.getType(ext);
    type = base === null ? "application/octet-stream" : withCharset(base);
    // Bounded: the mime table is finite, and unknown extensions all map to one value; still,
    // do not let arbitrary file names grow the map forever.
    if (byExtension.size < 4096) byExtension.set(ext, type);
  }
  return type;
}

function withCharset(type: string): string {
  return type.startsWith("text/") || TEXTUAL_APPLICATION_TYPES.has(type) ? `${type}; charset=utf-8` : type;
}
