/**
 * The ACME client's HTTPS requests, on Bun.connect with TLS (never fetch: the product rule for
 * every network path). One request per connection (Connection: close; ACME needs a handful of
 * requests per certificate, so pooling buys nothing), the response read to the close, chunked
 * bodies decoded. Bounded: a response over MAX_RESPONSE bytes or a request over its deadline fails.
 */
import { concat } from "./der.ts";

export interface HttpsResponse {
  readonly status: number;
  /** Lowercase names; the last value of a repeated field. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
}

const MAX_RESPONSE = 4 * 1024 * 1024;
const DEADLINE_MS = 30_000;

export async function httpsRequest(
  method: "GET" | "HEAD" | "POST",
  url: string,
  opts: { readonly body?: string; readonly contentType?: string; readonly ca?: string | null } = {},
): Promise<HttpsResponse> {
  const u = new URL(url);
  if (u.protocol !== "https:") throw new Error(`ACME needs an https:// URL, got ${url}`);
  const port = u.port === "" ? 443 : Number(u.port);
  const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  const body = opts.body === undefined ? null : Buffer.from(opts.body, "utf8");
  const head =
    `${method} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: DreamServer-ACME\r\nAccept: application/json\r\nConnection: close\r\n` +
    (body ? `Content-Type: ${opts.contentType ?? "application/json"}\r\nContent-Length: ${body.length}\r\n` : "") +
    "\r\n";
  const request = body ? Buffer.concat([Buffer.from(head, "latin1"), body]) : Buffer.from(head, "latin1");
  const chunks: Uint8Array[] = [];
  let size = 0;
  const raw = await new Promise<Uint8Array>((resolve, reject) => {
    let pending = request;
    const timer = setTimeout(() => fail(new Error(`ACME request to ${url} timed out after ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
    let done = false;
    let sock: { end(): void; terminate(): void } | null = null;
    const fail = (e: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock?.terminate();
      reject(e);
    };
    const flush = (s: { write(b: Uint8Array): number }) => {
      const n = s.write(pending);
      if (n > 0) pending = pending.subarray(n);
    };
    Bun.connect({
      hostname: host,
      port,
      tls: { serverName: u.hostname, ...(opts.ca ? { ca: opts.ca } : {}) },
      socket: {
        // Bytes written before the handshake are lost on a Bun TLS client (docs/runtime-notes.md).
        handshake(s, ok, err) {
          if (!ok) return fail(new Error(`TLS handshake with ${u.host} failed: ${err?.message ?? "not verified"}`));
          flush(s);
        },
        drain(s) {
          if (pending.length > 0) flush(s);
        },
        data(_s, d) {
          size += d.length;
          if (size > MAX_RESPONSE) return fail(new Error(`ACME response from ${url} over ${MAX_RESPONSE} bytes`));
          chunks.push(new Uint8Array(d));
        },
        close() {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(concat(chunks));
        },
        connectError(_s, e) {
          fail(e);
        },
        error(_s, e) {
          fail(e);
        },
      },
    })
      .then((s) => (sock = s))
      .catch((e: Error) => fail(e));
  });
  return parseResponse(raw, method === "HEAD");
}

/** Status line, fields, and the body (chunked decoded). Exported for the unit tests. */
export function parseResponse(raw: Uint8Array, noBody = false): HttpsResponse {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) throw new Error("ACME server closed before a complete response head");
  const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  if (!m) throw new Error(`ACME server sent no HTTP status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const c = l.indexOf(":");
    if (c > 0) headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, ""));
  }
  let body: Uint8Array = buf.subarray(end + 4);
  if (noBody) body = new Uint8Array(0);
  else if ((headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) body = dechunk(body);
  else if (headers.has("content-length")) body = body.subarray(0, Number(headers.get("content-length")));
  return { status: Number(m[1]), headers, body };
}

function dechunk(b: Uint8Array): Uint8Array {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const out: Uint8Array[] = [];
  let i = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", i);
    if (eol < 0) throw new Error("truncated chunked body from the ACME server");
    const size = parseInt(buf.subarray(i, eol).toString("latin1").split(";")[0]!, 16);
    if (!Number.isFinite(size)) throw new Error("bad chunk size from the ACME server");
    if (size === 0) break;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
  return concat(out);
}
