/**
 * Safe path resolution: from the raw request path (RequestHead.path, still percent-encoded,
 * as received) to a relative file-system path that cannot leave the document root.
 *
 * Pure: no I/O, no Bun imports. The file system checks that need I/O (symlinks leaving the
 * root, existence) live in static-handler.ts.
 *
 * Order of operations, and why:
 *  1. Split the raw path on "/" BEFORE decoding, then percent-decode each segment exactly once
 *     (RFC 3986 §2.4: decode once, after parsing the components). Decoding twice is how
 *     "%252e%252e" turns into ".." on servers that got this wrong; here "%252e" stays the
 *     literal file name "%2e".
 *  2. Decode the bytes as UTF-8 (RFC 3986 §2.5 for new URI schemes; what every browser sends).
 *     Invalid escapes or invalid UTF-8 → 400: there is no file name we could map them to
 *     unambiguously, and lenient decoders (overlong "%c0%ae" for ".") are a classic traversal.
 *  3. Reject what a file name must not contain:
 *     - NUL (C strings end there: "a.php%00.txt" tricks) → 400.
 *     - "/" produced by "%2F": a segment cannot contain the separator. Apache rejects it by
 *       default (AllowEncodedSlashes Off) with 404; we answer 400 because the request is
 *       malformed for this server, not a missing file. Decoding it into a separator instead
 *       would let "..%2F" slip past a check done on the raw string.
 *     - "\" literal or "%5C": the Windows separator. Harmless on POSIX, but a path that means
 *       different things on different systems (and to caches/WAFs in front of us) is a
 *       traversal waiting to happen, and no legitimate URL of ours needs it → 400.
 *     - Other C0 controls and DEL: not in any sane file name, and they corrupt logs → 400.
 *  4. Remove dot segments (RFC 3986 §5.2.4) on the decoded segments, so "%2e%2e" is treated
 *     exactly like "..". Empty segments ("//") are merged, like nginx's merge_slashes.
 *     A ".." that would climb above the root is an attack or a broken client → 400, like nginx
 *     (rather than clamping at the root, which would silently serve a different resource).
 *  5. Any remaining segment starting with "." (".git", ".env", ".htpasswd", "...") → 404 unless
 *     serveDotfiles: 404 and not 403, so the response does not confirm that the file exists.
 */

export type ResolveCode =
  | "PATH_INVALID"
  | "PATH_BAD_ENCODING"
  | "PATH_NUL"
  | "PATH_ENCODED_SLASH"
  | "PATH_BACKSLASH"
  | "PATH_CONTROL_CHAR"
  | "PATH_TRAVERSAL"
  | "PATH_DOTFILE";

export type ResolveResult =
  | {
      readonly ok: true;
      /** Decoded relative path: no leading slash, segments joined by "/"; "" for the root. */
      readonly rel: string;
      /** The request named a directory ("/docs/", "/docs/.", "/a/.."): serve its index. */
      readonly trailingSlash: boolean;
    }
  | { readonly ok: false; readonly status: 400 | 404; readonly code: ResolveCode };

const fail = (status: 400 | 404, code: ResolveCode): ResolveResult => ({ ok: false, status, code });

/** Fatal decoder: invalid UTF-8 (overlongs, surrogates, truncated sequences) throws. */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const BAD_ENCODING = fail(400, "PATH_BAD_ENCODING");

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30; // 0-9
  const l = c | 0x20; // ASCII lowercase
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10; // a-f
  return -1;
}

/**
 * Percent-decode one raw segment (exactly once) and UTF-8-decode it.
 * Raw characters are taken as bytes (the parser hands us latin1), so a client that sends raw
 * UTF-8 instead of escapes is decoded the same way. Returns a failure for bad input.
 */
function decodeSegment(raw: string): string | ResolveResult {
  let plain = true;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 /* % */ || c < 0x20 || c >= 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return raw; // fast path: nothing to decode

  const bytes = new Uint8Array(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= raw.length) return BAD_ENCODING; // fewer than two characters follow the "%"
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return BAD_ENCODING;
      bytes[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c > 0xff) {
      return BAD_ENCODING; // not a byte: the parser should never hand us this
    } else {
      bytes[n++] = c;
    }
  }
  try {
    return utf8.decode(bytes.subarray(0, n));
  } catch {
    return BAD_ENCODING;
  }
}

/** Check a decoded segment for characters no served file name may contain. */
function badChar(seg: string): ResolveResult | null {
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return c === 0 ? fail(400, "PATH_NUL") : fail(400, "PATH_CONTROL_CHAR");
    if (c === 0x2f) return fail(400, "PATH_ENCODED_SLASH");
    if (c === 0x5c) return fail(400, "PATH_BACKSLASH");
  }
  return null;
}

/**
 * Resolve a raw request path to a safe relative path.
 * @param rawPath RequestHead.path: must start with "/" (origin-form or absolute-form path).
 * @param serveDotfiles config.serveDotfiles: allow segments starting with ".".
 */
export function resolvePath(rawPath: string, serveDotfiles: boolean = false): ResolveResult {
  if (rawPath.length === 0 || rawPath.charCodeAt(0) !== 0x2f) return fail(400, "PATH_INVALID");
  // A literal backslash is rejected on the raw form too (see header comment, step 3).
  if (rawPath.indexOf("\\") >= 0) return fail(400, "PATH_BACKSLASH");

  const rawSegments = rawPath.split("/"); // [""] first, because of the leading "/"
  const out: string[] = [];
  let trailingSlash = false;

  for (let i = 1; i < rawSegments.length; i++) {
    const decoded = decodeSegment(rawSegments[i]!);
    if (typeof decoded !== "string") return decoded;
    const bad = badChar(decoded);
    if (bad) return bad;

    const last = i === rawSegments.length - 1;
    if (decoded === "" || decoded === ".") {
      // "//" merged; "." is the current directory. Either at the end names a directory.
      if (last) trailingSlash = true;
      continue;
    }
    if (decoded === "..") {
      if (out.length === 0) return fail(400, "PATH_TRAVERSAL");
      out.pop();
      if (last) trailingSlash = true;
      continue;
    }
    out.push(decoded);
  }

  // The dotfile check runs on the normalised segments: "/.git/../x" never reaches .git.
  if (!serveDotfiles) {
    for (const seg of out) if (seg.charCodeAt(0) === 0x2e /* . */) return fail(404, "PATH_DOTFILE");
  }

  // The root itself is a directory: "/" (and "/." or "/a/..") resolve to rel "" with a slash.
  if (out.length === 0) trailingSlash = true;
  return { ok: true, rel: out.join("/"), trailingSlash };
}

/**
 * Percent-encode a decoded relative path for use in a Location header: each segment with
 * encodeURIComponent (so no "/", "?", "#", CR/LF or non-ASCII survive unescaped), joined by "/".
 * Because rel has no empty segments, the result after a leading "/" can never start with "//"
 * (a protocol-relative URL, i.e. an open redirect to another host).
 */
export function encodeRelPath(rel: string): string {
  if (rel === "") return "";
  const segs = rel.split("/");
  for (let i = 0; i < segs.length; i++) segs[i] = encodeURIComponent(segs[i]!);
  return segs.join("/");
}
