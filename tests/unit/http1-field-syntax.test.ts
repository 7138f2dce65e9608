/**
 * Byte-exact field syntax (src/http1/field-syntax.ts) and its use by the parser and the proxy.
 *
 * 1. Tables for the helpers: OWS is SP and HTAB only (RFC 9110 §5.6.3), case folding is ASCII
 *    only, a token list holds only tchar (§5.6.1, §5.6.2), integers are 1*DIGIT.
 * 2. Every byte 0x00-0xFF put before and after each list element of Transfer-Encoding,
 *    Connection, Upgrade (parser, whole and split feeds) and Range (static): accepted with the
 *    clean reading iff the byte is SP, HTAB (or "," where empty elements are allowed); a tchar
 *    that extends a token is read as part of it, never as the clean token; anything else is
 *    refused (or, for Range, ignored). The proxy's forwarded request never carries a clean
 *    `chunked` or `upgrade` that came from a dirty input.
 * 3. fast-check: random lists with random bytes around elements against a regex model of the
 *    grammar (seed recorded in fc-seed.ts).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { DEFAULT_LIMITS } from "../../src/config/config.ts";
import { TOKEN } from "../../src/http1/chars.ts";
import { asciiLower, isToken, parseDecimal, parseTokenList, parseUpgradeList, splitTokenList, trimOws } from "../../src/http1/field-syntax.ts";
import { HeaderList } from "../../src/http1/header-list.ts";
import type { RequestHead } from "../../src/http1/message-head.ts";
import { MessageParser } from "../../src/http1/message-parser.ts";
import { TrustedProxies } from "../../src/proxy/cidr.ts";
import { prepareUpstreamRequest, wantsWebSocketTunnel } from "../../src/proxy/prepare-request.ts";
import { parseRange } from "../../src/static/range.ts";
import { fcAssert } from "./fc-seed.ts";
import { bytesOf, drive, splitAt, type Outcome } from "./http1-wire-harness.ts";

const ch = (b: number): string => String.fromCharCode(b);
const hex = (b: number): string => "0x" + b.toString(16).padStart(2, "0");
const isTchar = (b: number): boolean => TOKEN[b] === 1;
const ALL_BYTES = Array.from({ length: 256 }, (_, b) => b);

// ---- 1. helpers ---------------------------------------------------------------------------

describe("trimOws: SP and HTAB only", () => {
  const rows: [string, string][] = [
    [" \t a b \t ", "a b"],
    ["\xa0chunked", "\xa0chunked"],
    ["chunked\xa0", "chunked\xa0"],
    ["\x0bx\x0c", "\x0bx\x0c"],
    ["\r\nx\r\n", "\r\nx\r\n"],
    ["\ufeffx", "\ufeffx"],
    ["", ""],
    ["   ", ""],
  ];
  for (const [input, want] of rows) test(JSON.stringify(input), () => expect(trimOws(input)).toBe(want));
  test("every byte other than SP/HTAB survives at both ends", () => {
    for (const b of ALL_BYTES) {
      const kept = b !== 0x20 && b !== 0x09;
      expect(trimOws(ch(b) + "x" + ch(b))).toBe(kept ? ch(b) + "x" + ch(b) : "x");
    }
  });
});

describe("asciiLower: A-Z only", () => {
  test("ASCII letters fold, nothing else does", () => {
    for (const b of ALL_BYTES) expect(asciiLower(ch(b))).toBe(b >= 0x41 && b <= 0x5a ? ch(b + 0x20) : ch(b));
  });
  test("mixed strings", () => {
    expect(asciiLower("Keep-Alive")).toBe("keep-alive");
    expect(asciiLower("CL\xc9SE")).toBe("cl\xc9se"); // É (0xC9) stays: toLowerCase() would give é
    expect(asciiLower("abc")).toBe("abc");
  });
});

describe("isToken", () => {
  test("every single byte: token iff tchar", () => {
    for (const b of ALL_BYTES) expect(isToken(ch(b))).toBe(isTchar(b));
  });
  test("empty and non-latin1", () => {
    expect(isToken("")).toBe(false);
    expect(isToken("a\u0100")).toBe(false);
    expect(isToken("!#$%&'*+-.^_`|~09AZaz")).toBe(true);
  });
});

describe("token lists (RFC 9110 §5.6.1)", () => {
  const rows: [string, string[] | null][] = [
    ["close", ["close"]],
    ["Keep-Alive, Upgrade", ["keep-alive", "upgrade"]],
    [" a ,\tb\t, , ,c ", ["a", "b", "c"]],
    [",,,", []],
    ["", []],
    ["\xa0close", null],
    ["close\xa0", null],
    ["a b", null],
    ["a;b", null],
    ['"a"', null],
    ["a/b", null],
    ["a,\x0bb", null],
  ];
  for (const [value, want] of rows) {
    test(`${JSON.stringify(value)} → ${JSON.stringify(want)}`, () => expect(parseTokenList([value])).toEqual(want));
  }
  test("a malformed element is kept verbatim (ASCII-lowercased) so it never equals a clean token", () => {
    const out: string[] = [];
    expect(splitTokenList("\xa0Close, UPGRADE\xa0, ok", out)).toBe(false);
    expect(out).toEqual(["\xa0close", "upgrade\xa0", "ok"]);
  });
  test("HeaderList.tokens / tokenList across field lines", () => {
    const h = new HeaderList();
    h.add("Connection", "keep-alive");
    h.add("connection", "\xa0close");
    expect(h.tokens("connection")).toEqual(["keep-alive", "\xa0close"]);
    expect(h.tokenList("connection")).toBeNull();
    expect(h.tokens("absent")).toEqual([]);
    expect(h.tokenList("absent")).toEqual([]);
  });
});

describe("Upgrade lists (RFC 9110 §7.8)", () => {
  const rows: [string, string[] | null][] = [
    ["websocket", ["websocket"]],
    ["WebSocket/13, h2c", ["websocket", "h2c"]],
    [" , websocket ,", ["websocket"]],
    ["websocket/", null],
    ["/13", null],
    ["a/b/c", null],
    ["\xa0websocket", null],
    ["web socket", null],
  ];
  for (const [value, want] of rows) {
    test(`${JSON.stringify(value)} → ${JSON.stringify(want)}`, () => {
      const got = parseUpgradeList([value]);
      expect(got === null ? null : got.map((p) => p.name)).toEqual(want);
    });
  }
  test("the element text keeps case and version", () => expect(parseUpgradeList(["a, WebSocket/13 "])![1]!.text).toBe("WebSocket/13"));
});

describe("parseDecimal: 1*DIGIT with a digit cap", () => {
  const rows: [string, number][] = [
    ["0", 0],
    ["007", 7],
    ["123456789012345", 123456789012345],
    ["1234567890123456", -1], // 16 digits: over the default cap
    ["", -1],
    [" 1", -1],
    ["1 ", -1],
    ["+1", -1],
    ["-1", -1],
    ["1e3", -1],
    ["0x10", -1],
    ["1.0", -1],
    ["Infinity", -1],
    ["\xb9", -1], // superscript one
    ["\xa05", -1],
  ];
  for (const [s, want] of rows) test(JSON.stringify(s), () => expect(parseDecimal(s)).toBe(want));
  test("cap applies to leading zeros too", () => expect(parseDecimal("0001", 3)).toBe(-1));
});

// ---- 2. every byte around every list element ----------------------------------------------

/** Parse whole, byte by byte, and split at every offset within 3 bytes of the inserted byte. */
function parseAllWays(wire: string, at: number): Outcome {
  const bytes = bytesOf(wire);
  const whole = drive([bytes.slice()], { kind: "request", tunnelOnUpgrade: true });
  const feeds: Uint8Array[][] = [splitAt(bytes.slice(), Array.from({ length: bytes.length }, (_, i) => i))];
  for (let k = Math.max(1, at - 3); k <= Math.min(bytes.length - 1, at + 4); k++) feeds.push(splitAt(bytes.slice(), [k]));
  for (const f of feeds) {
    const got = drive(f, { kind: "request", tunnelOnUpgrade: true });
    if (!Bun.deepEquals(got, whole)) expect({ wire, ...got }).toEqual({ wire, ...whole });
  }
  return whole;
}

/** The head the parser produced for a one-message request (to hand to the proxy). */
function headOf(wire: string): RequestHead {
  const p = new MessageParser("request", DEFAULT_LIMITS);
  p.push(Buffer.from(wire, "latin1"));
  const ev = p.next();
  if (ev?.type !== "head") throw new Error("no head for " + JSON.stringify(wire));
  return ev.head as RequestHead;
}

function forward(head: RequestHead): string {
  return prepareUpstreamRequest({
    head,
    clientIp: "192.0.2.1",
    clientProto: "http",
    requestId: "id",
    upstream: { host: "up:80", basePath: "" },
    rewriteHost: false,
    trusted: TrustedProxies.none,
    tunnel: wantsWebSocketTunnel(head),
    viaName: "t",
  }).headText;
}

/** All ways to put one byte before or after each element of `elements` joined by ", ". */
function* insertions(elements: string[]): Generator<{ value: string; el: number; side: "before" | "after"; b: number; offset: number }> {
  for (let el = 0; el < elements.length; el++) {
    for (const side of ["before", "after"] as const) {
      for (const b of ALL_BYTES) {
        const parts = elements.slice();
        parts[el] = side === "before" ? ch(b) + parts[el] : parts[el] + ch(b);
        const prefix = elements.slice(0, el).join(", ") + (el > 0 ? ", " : "");
        const offset = prefix.length + (side === "before" ? 0 : elements[el]!.length);
        yield { value: parts.join(", "), el, side, b, offset };
      }
    }
  }
}

describe("every byte 0x00-0xFF around list elements", () => {
  test("Transfer-Encoding: chunked — accepted iff the byte is SP or HTAB", () => {
    const pre = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ";
    for (const { value, b, side, offset } of insertions(["chunked"])) {
      const wire = pre + value + "\r\n\r\n0\r\n\r\n";
      const out = parseAllWays(wire, pre.length + offset);
      const ows = b === 0x20 || b === 0x09;
      const what = `${hex(b)} ${side} chunked`;
      if (ows) {
        expect({ what, error: out.error, kind: out.messages[0]?.bodyKind }).toEqual({ what, error: null, kind: "chunked" });
        expect(forward(headOf(wire))).toContain("\r\nTransfer-Encoding: chunked\r\n");
      } else {
        expect({ what, accepted: out.error === null }).toEqual({ what, accepted: false });
        expect({ what, status: out.error!.status }).toEqual({ what, status: 400 });
      }
    }
  });

  test("Transfer-Encoding: gzip, chunked — never accepted as plain chunked", () => {
    const pre = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ";
    for (const { value, b, offset } of insertions(["gzip", "chunked"])) {
      const out = parseAllWays(pre + value + "\r\n\r\n0\r\n\r\n", pre.length + offset);
      expect({ b: hex(b), value, accepted: out.error === null }).toEqual({ b: hex(b), value, accepted: false });
      expect([400, 501]).toContain(out.error!.status);
    }
  });

  test("Connection: keep-alive, close — clean iff SP/HTAB/','; a tchar is part of the token; else 400", () => {
    const pre = "GET / HTTP/1.1\r\nHost: a\r\nConnection: ";
    const elements = ["keep-alive", "close"];
    for (const { value, el, side, b, offset } of insertions(elements)) {
      const out = parseAllWays(pre + value + "\r\n\r\n", pre.length + offset);
      const what = `${hex(b)} ${side} ${elements[el]}`;
      if (b === 0x20 || b === 0x09 || b === 0x2c) {
        expect({ what, error: out.error, connection: out.messages[0]?.connection, keepAlive: out.messages[0]?.keepAlive }).toEqual({
          what,
          error: null,
          connection: elements,
          keepAlive: false,
        });
      } else if (isTchar(b)) {
        const want = elements.slice();
        want[el] = asciiLower(side === "before" ? ch(b) + want[el] : want[el] + ch(b));
        // "xclose" is not close: the connection stays open, as every strict peer reads it.
        expect({ what, error: out.error, connection: out.messages[0]?.connection, keepAlive: out.messages[0]?.keepAlive }).toEqual({
          what,
          error: null,
          connection: want,
          keepAlive: el === 1, // only a mangled "close" leaves the connection open
        });
      } else {
        expect({ what, accepted: out.error === null, status: out.error?.status }).toEqual({ what, accepted: false, status: 400 });
      }
    }
  });

  test("Connection: upgrade + Upgrade: websocket — the tunnel only for the clean reading", () => {
    const pre = "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: ";
    for (const { value, side, b, offset } of insertions(["upgrade"])) {
      const wire = pre + value + "\r\n\r\n";
      const out = parseAllWays(wire, pre.length + offset);
      const what = `${hex(b)} ${side} upgrade`;
      const clean = b === 0x20 || b === 0x09 || b === 0x2c;
      if (clean || isTchar(b)) {
        expect({ what, error: out.error, upgrade: out.messages[0]?.upgrade }).toEqual({ what, error: null, upgrade: clean ? "websocket" : null });
        const fwd = forward(headOf(wire));
        expect({ what, tunnel: /\r\nConnection: upgrade\r\nUpgrade: websocket\r\n/.test(fwd) }).toEqual({ what, tunnel: clean });
        if (!clean) expect(fwd.toLowerCase()).not.toContain("upgrade:");
      } else {
        expect({ what, accepted: out.error === null, status: out.error?.status }).toEqual({ what, accepted: false, status: 400 });
      }
    }
  });

  test("Upgrade: h2c, websocket — websocket offered only for the clean reading; '/' and non-tchar → 400", () => {
    const pre = "GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: ";
    const elements = ["h2c", "websocket"];
    for (const { value, el, side, b, offset } of insertions(elements)) {
      const wire = pre + value + "\r\n\r\n";
      const out = parseAllWays(wire, pre.length + offset);
      const what = `${hex(b)} ${side} ${elements[el]}`;
      const clean = b === 0x20 || b === 0x09 || b === 0x2c;
      if (clean || isTchar(b)) {
        expect({ what, error: out.error }).toEqual({ what, error: null });
        const head = headOf(wire);
        const offersWebsocket = clean || el === 0;
        expect({ what, tunnel: wantsWebSocketTunnel(head) }).toEqual({ what, tunnel: offersWebsocket });
        const fwd = forward(head);
        expect({ what, forwarded: /\r\nUpgrade: websocket\r\n/.test(fwd) }).toEqual({ what, forwarded: offersWebsocket });
      } else {
        expect({ what, accepted: out.error === null, status: out.error?.status }).toEqual({ what, accepted: false, status: 400 });
      }
    }
  });

  test("Range: bytes=0-1, 5-9 — same ranges iff SP/HTAB/','; other non-digit bytes → Range ignored", () => {
    const clean = parseRange("bytes=0-1, 5-9", 100);
    expect(clean).toEqual({ kind: "multi", ranges: [{ start: 0, end: 1 }, { start: 5, end: 9 }] });
    for (const { value, el, side, b } of insertions(["0-1", "5-9"])) {
      if ((b >= 0x30 && b <= 0x39) || b === 0x2d) continue; // digits and "-" extend the numbers: another valid or invalid range
      const got = parseRange("bytes=" + value, 100);
      const what = `${hex(b)} ${side} element ${el}`;
      if (b === 0x20 || b === 0x09 || b === 0x2c) expect({ what, got }).toEqual({ what, got: clean });
      else expect({ what, got }).toEqual({ what, got: { kind: "ignore", reason: "syntax" } });
    }
  });

  test("Range unit and value edges: \\xa0 anywhere means ignored (200), not trimmed", () => {
    expect(parseRange("\xa0bytes=0-1", 10)).toEqual({ kind: "ignore", reason: "syntax" });
    expect(parseRange("bytes=0-1\xa0", 10)).toEqual({ kind: "ignore", reason: "syntax" });
    expect(parseRange(" \tbytes=0-1\t ", 10)).toEqual({ kind: "single", range: { start: 0, end: 1 } });
    expect(parseRange("BYTES=0-1", 10)).toEqual({ kind: "single", range: { start: 0, end: 1 } });
  });
});

// ---- 3. random lists against a regex model of the grammar -----------------------------------

/** The grammar, written independently with regexes: field-value bytes, then 1#token elements. */
function modelConnection(value: string): string[] | "reject" {
  // The parser trims OWS around the whole field value (RFC 9112 §5); inner bytes must be field-vchar/SP/HTAB.
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return "reject";
  const out: string[] = [];
  for (const el of value.split(",")) {
    const t = el.replace(/^[ \t]+|[ \t]+$/g, "");
    if (t === "") continue;
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(t)) return "reject";
    out.push(t.replace(/[A-Z]/g, (c) => c.toLowerCase()));
  }
  return out;
}

const junkByte = fc.oneof(
  fc.constantFrom(0x20, 0x09, 0x2c, 0xa0, 0x85, 0x0b, 0x0c, 0x00, 0xff, 0x3b, 0x22, 0x2f, 0x41),
  fc.integer({ min: 0, max: 255 }),
);
const tokenArb = fc.string({ unit: fc.constantFrom(..."!#$%&'*+-.^_`|~09AZaz".split(""), "close", "keep-alive", "upgrade"), minLength: 1, maxLength: 3 });
const listArb = fc.array(
  fc.record({ pre: fc.array(junkByte, { maxLength: 2 }), tok: tokenArb, post: fc.array(junkByte, { maxLength: 2 }) }),
  { minLength: 1, maxLength: 4 },
);

describe("property: Connection lists against the grammar model", () => {
  test("accepted iff the model accepts; tokens exactly the model's", () => {
    fcAssert(
      fc.property(listArb, (els) => {
        let value = els.map((e) => String.fromCharCode(...e.pre) + e.tok + String.fromCharCode(...e.post)).join(",");
        // CR / LF inside a value end or break the line: covered by the wire tables; keep this about the list grammar.
        value = value.replace(/[\r\n]/g, "");
        const wire = "GET / HTTP/1.1\r\nHost: a\r\nConnection: " + value + "\r\n\r\n";
        const got = drive([bytesOf(wire)], { kind: "request" });
        const fieldValue = value.replace(/^[ \t]+|[ \t]+$/g, "");
        const want = modelConnection(fieldValue);
        if (want === "reject") {
          expect(got.error?.status).toBe(400);
        } else {
          expect(got.error).toBeNull();
          expect(got.messages[0]!.connection).toEqual(want);
          expect(got.messages[0]!.keepAlive).toBe(!want.includes("close"));
        }
      }),
      2000,
    );
  });
});
