/**
 * The HPACK static table, RFC 7541 Appendix A. Index 1..61; slot 0 is unused (index 0 is an error,
 * §6.1). STATIC_LOOKUP serves the encoder: one Map lookup per field instead of a scan.
 */
export const STATIC_TABLE_LENGTH = 61;

export const STATIC_NAMES: readonly string[] = [
  "",
  ":authority",
  ":method",
  ":method",
  ":path",
  ":path",
  ":scheme",
  ":scheme",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  ":status",
  "accept-charset",
  "accept-encoding",
  "accept-language",
  "accept-ranges",
  "accept",
  "access-control-allow-origin",
  "age",
  "allow",
  "authorization",
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-range",
  "content-type",
  "cookie",
  "date",
  "etag",
  "expect",
  "expires",
  "from",
  "host",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "link",
  "location",
  "max-forwards",
  "proxy-authenticate",
  "proxy-authorization",
  "range",
  "referer",
  "refresh",
  "retry-after",
  "server",
  "set-cookie",
  "strict-transport-security",
  "transfer-encoding",
  "user-agent",
  "vary",
  "via",
  "www-authenticate",
];

const VALUES: Record<number, string> = {
  2: "GET",
  3: "POST",
  4: "/",
  5: "/index.html",
  6: "http",
  7: "https",
  8: "200",
  9: "204",
  10: "206",
  11: "304",
  12: "400",
  13: "404",
  14: "500",
  16: "gzip, deflate",
};

export const STATIC_VALUES: readonly string[] = STATIC_NAMES.map((_, i) => VALUES[i] ?? "");

/** For the encoder: a name's lowest static index, and the static index of each (name, value) pair. */
export interface StaticNameEntry {
  readonly nameIndex: number;
  readonly values: ReadonlyMap<string, number>;
}

export const STATIC_LOOKUP: ReadonlyMap<string, StaticNameEntry> = (() => {
  const m = new Map<string, { nameIndex: number; values: Map<string, number> }>();
  for (let i = 1; i <= STATIC_TABLE_LENGTH; i++) {
    const name = STATIC_NAMES[i]!;
    let e = m.get(name);
    if (e === undefined) {
      e = { nameIndex: i, values: new Map() };
      m.set(name, e);
    }
    if (!e.values.has(STATIC_VALUES[i]!)) e.values.set(STATIC_VALUES[i]!, i);
  }
  return m;
})();
