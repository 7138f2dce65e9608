/** forwardableTrailers (src/proxy/trailers.ts): what RFC 9110 §6.5.1 forbids in trailers is dropped. */
import { describe, expect, test } from "bun:test";
import { HeaderList } from "../../src/http1/header-list.ts";
import { connectionNamed } from "../../src/proxy/hop-by-hop.ts";
import { forwardableTrailers } from "../../src/proxy/trailers.ts";

const list = (pairs: [string, string][]): HeaderList => {
  const h = new HeaderList();
  for (const [n, v] of pairs) h.add(n, v);
  return h;
};

describe("forwardableTrailers", () => {
  const dropped = [
    // framing, routing, hop-by-hop
    "Content-Length",
    "Transfer-Encoding",
    "Host",
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Upgrade",
    "Expect",
    "Max-Forwards",
    // content handling
    "Content-Type",
    "Content-Encoding",
    "Content-Range",
    "Range",
    // authentication
    "Authorization",
    "Proxy-Authorization",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Realm",
    "Authentication-Info",
    // caching and controls
    "Cache-Control",
    "Pragma",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "If-Range",
    // forwarding and attribution
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Forwarded-Anything",
    "Forwarded",
    "X-Real-IP",
    "X-Client-IP",
    "True-Client-IP",
    "CF-Connecting-IP",
    "Via",
    "X-Request-ID",
    // state
    "Cookie",
    "Set-Cookie",
    // response control data
    "Location",
    "Date",
    "Age",
    "Expires",
    "Vary",
    "Retry-After",
    "ETag",
    "Last-Modified",
    // underscore spellings (CGI maps "_" and "-" to the same variable)
    "X_Forwarded_For",
    "Content_Length",
    "x_checksum",
  ];
  for (const name of dropped) {
    test(`${name} is dropped (any case)`, () => {
      expect(forwardableTrailers(list([[name, "v"]]))).toEqual([]);
      expect(forwardableTrailers(list([[name.toUpperCase(), "v"]]))).toEqual([]);
    });
  }

  test("ordinary trailers pass in order, original case, repeated ones separate", () => {
    const t = list([
      ["X-Checksum", "abc"],
      ["Server-Timing", "db;dur=53"],
      ["Host", "evil.example"],
      ["x-checksum", "def"],
      ["Grpc-Status", "0"],
    ]);
    expect(forwardableTrailers(t)).toEqual([
      ["X-Checksum", "abc"],
      ["Server-Timing", "db;dur=53"],
      ["x-checksum", "def"],
      ["Grpc-Status", "0"],
    ]);
  });

  test("fields named by the message's Connection header are dropped", () => {
    const head = list([["Connection", "X-Secret, keep-alive"]]);
    const t = list([
      ["X-Secret", "1"],
      ["X-Ok", "2"],
    ]);
    expect(forwardableTrailers(t, connectionNamed(head))).toEqual([["X-Ok", "2"]]);
  });

  test("CR/LF/NUL in a value can never split a line", () => {
    expect(forwardableTrailers(list([["X-A", "a\r\nHost: b\0"]]))).toEqual([["X-A", "a  Host: b "]]);
  });

  test("non-token names (never produced by the parser) are not emitted", () => {
    expect(forwardableTrailers(list([["X A", "1"]]))).toEqual([]);
  });
});
