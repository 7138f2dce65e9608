/**
 * Placeholder strings of the config (redirect targets, header values): parsed once at load,
 * rendered per request without regular expressions.
 *
 *   {host}        request host, lowercase, without port and trailing dot
 *   {path}        the full request path (before strip_prefix)
 *   {query}       the query without "?" ("" when absent)
 *   {uri}         path plus "?query" when there is a query
 *   {remote_ip}   the client address
 *   {request_id}  the request id (X-Request-ID or generated)
 *   {tls_client_subject}      mTLS: the verified client certificate's subject (RFC 4514), else ""
 *   {tls_client_fingerprint}  mTLS: its SHA-256 fingerprint (hex), else ""
 *   {header.NAME} a request field ("" when absent; several values joined with ", ")
 *   {cookie.NAME} a cookie of the request ("" when absent)
 *   {query.NAME}  a query parameter, decoded ("" when absent)
 *   {{ and }}     a literal "{" and "}"
 */
import type { Template, TemplatePart } from "./config.ts";

/** What a template can read from the request. The middleware supplies it (cheaply, lazily). */
export interface TemplateContext {
  readonly host: string;
  readonly path: string;
  readonly query: string;
  readonly uri: string;
  readonly remoteIp: string;
  readonly requestId: string;
  /** "https" on a TLS connection, else "http" (absent = "http"). */
  readonly scheme?: "http" | "https";
  /** mTLS: subject and fingerprint of a client certificate that verified ("" / absent otherwise). */
  readonly tlsClientSubject?: string;
  readonly tlsClientFingerprint?: string;
  /** A request field by lowercase name, or "" / null / undefined when absent. */
  header(name: string): string | null | undefined;
  cookie(name: string): string | null | undefined;
  queryParam(name: string): string | null | undefined;
}

/** Placeholders without an argument. */
export const SIMPLE_PLACEHOLDERS = ["host", "path", "query", "uri", "remote_ip", "request_id", "scheme", "tls_client_subject", "tls_client_fingerprint"] as const;
/** Placeholders written {NAME.arg}. */
export const ARG_PLACEHOLDERS = ["header", "cookie", "query"] as const;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** A one-line list of the placeholders, for messages and docs. */
export const PLACEHOLDER_LIST = "{host}, {path}, {query}, {uri}, {remote_ip}, {request_id}, {scheme}, {tls_client_subject}, {tls_client_fingerprint}, {header.NAME}, {cookie.NAME}, {query.NAME}";

/** Parse a template; a string is the reason it is invalid (meant for `path: message`). */
export function parseTemplate(source: string): Template | string {
  const parts: TemplatePart[] = [];
  let text = "";
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === "{") {
      if (source[i + 1] === "{") {
        text += "{";
        i += 2;
        continue;
      }
      const end = source.indexOf("}", i + 1);
      if (end < 0) return `unclosed "{" at offset ${i}; write {{ for a literal "{"`;
      const inner = source.slice(i + 1, end);
      const ph = parsePlaceholder(inner);
      if (typeof ph === "string") return ph;
      if (text) parts.push({ text });
      text = "";
      parts.push(ph);
      i = end + 1;
      continue;
    }
    if (c === "}") {
      if (source[i + 1] === "}") {
        text += "}";
        i += 2;
        continue;
      }
      return `stray "}" at offset ${i}; write }} for a literal "}"`;
    }
    text += c;
    i++;
  }
  if (text) parts.push({ text });
  return { source, parts };
}

function parsePlaceholder(inner: string): TemplatePart | string {
  if ((SIMPLE_PLACEHOLDERS as readonly string[]).includes(inner)) return { placeholder: inner };
  const dot = inner.indexOf(".");
  if (dot > 0) {
    const kind = inner.slice(0, dot);
    const arg = inner.slice(dot + 1);
    if ((ARG_PLACEHOLDERS as readonly string[]).includes(kind)) {
      if (!arg) return `{${inner}} needs a name after the dot, e.g. {${kind}.${kind === "header" ? "X-Forwarded-For" : "session"}}`;
      if (kind === "header") {
        if (!TOKEN.test(arg)) return `{${inner}}: "${arg}" is not a header name`;
        return { placeholder: "header", arg: arg.toLowerCase() };
      }
      if (kind === "cookie" && !TOKEN.test(arg)) return `{${inner}}: "${arg}" is not a cookie name`;
      return { placeholder: kind, arg };
    }
  }
  const candidates = [...SIMPLE_PLACEHOLDERS, ...ARG_PLACEHOLDERS.map((k) => `${k}.NAME`)];
  const guess = didYouMean(dot > 0 ? inner.slice(0, dot) + ".NAME" : inner, candidates);
  return `unknown placeholder {${inner}}${guess ? `; did you mean {${guess}}?` : ""}; use one of ${PLACEHOLDER_LIST} (write {{ for a literal "{")`;
}

/** The closest candidate within a small edit distance, or null. */
export function didYouMean(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  const w = word.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  const limit = Math.max(2, Math.floor(word.length / 3));
  return bestD <= limit ? best : null;
}

function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** Render a parsed template. No regex, no allocation beyond the result string. */
export function renderTemplate(t: Template, ctx: TemplateContext): string {
  const parts = t.parts;
  if (parts.length === 1 && "text" in parts[0]!) return parts[0].text;
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if ("text" in p) {
      out += p.text;
      continue;
    }
    switch (p.placeholder) {
      case "host":
        out += ctx.host;
        break;
      case "path":
        out += ctx.path;
        break;
      case "query":
        out += p.arg === undefined ? ctx.query : (ctx.queryParam(p.arg) ?? "");
        break;
      case "uri":
        out += ctx.uri;
        break;
      case "remote_ip":
        out += ctx.remoteIp;
        break;
      case "request_id":
        out += ctx.requestId;
        break;
      case "scheme":
        out += ctx.scheme ?? "http";
        break;
      case "tls_client_subject":
        out += ctx.tlsClientSubject ?? "";
        break;
      case "tls_client_fingerprint":
        out += ctx.tlsClientFingerprint ?? "";
        break;
      case "header":
        out += ctx.header(p.arg!) ?? "";
        break;
      case "cookie":
        out += ctx.cookie(p.arg!) ?? "";
        break;
    }
  }
  return out;
}

/** True when the template has no placeholder (its text can be used as is). */
export function isLiteral(t: Template): boolean {
  return t.parts.every((p) => "text" in p);
}
