/** serialize.ts: response heads and chunked framing (RFC 9112 §4, §7.1), Date (RFC 9110 §5.6.7). */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { DEFAULT_LIMITS } from "../../src/config/config.ts";
import { MessageParser, type ParseEvent } from "../../src/http1/message-parser.ts";
import { CRLF, LAST_CHUNK, chunkHeader, headerLines, httpDate, isPrepared, lastChunkWithTrailers, prepareHeaders, preparedHeadWithLength, statusLine } from "../../src/http1/serialize.ts";

const latin1 = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("latin1");

describe("headerLines", () => {
  test("one 'Name: value' CRLF line per pair, order and repeats kept", () => {
    expect(
      headerLines([
        ["Content-Type", "text/html"],
        ["Set-Cookie", "a=1"],
        ["Set-Cookie", "b=2"],
      ]),
    ).toBe("Content-Type: text/html\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n");
  });
  test("no pairs → empty string", () => expect(headerLines([])).toBe(""));
  test("empty value", () => expect(headerLines([["X-Empty", ""]])).toBe("X-Empty: \r\n"));
  test("CR and LF in a value are dropped (no header injection / response splitting)", () => {
    expect(headerLines([["Location", "/a\r\nSet-Cookie: evil=1"]])).toBe("Location: /aSet-Cookie: evil=1\r\n");
    expect(headerLines([["X", "a\rb\nc\r\n\r\nd"]])).toBe("X: abcd\r\n");
    expect(headerLines([["X", "\r\n"]])).toBe("X: \r\n");
  });
  test("a sanitized head parses back as exactly the fields that were written", () => {
    fcAssert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("X-A", "X-B", "Location"), fc.string({ unit: fc.constantFrom("a", " ", "\r", "\n", ":", "b") })), { maxLength: 5 }), (pairs) => {
        const wire = "HTTP/1.1 200 OK\r\n" + headerLines(pairs) + "Content-Length: 0\r\n\r\n";
        const p = new MessageParser("response", DEFAULT_LIMITS);
        p.push(Buffer.from(wire, "latin1"));
        const ev = p.next();
        expect(ev?.type).toBe("head");
        const got = (ev as Extract<ParseEvent, { type: "head" }>).head.headers.pairs();
        expect(got).toEqual([...pairs.map(([n, v]) => [n, v.replace(/[\r\n]/g, "").trim()] as [string, string]), ["Content-Length", "0"]]);
      }),
      100,
    );
  });
});

describe("preparedHeadWithLength", () => {
  const block = prepareHeaders([
    ["Content-Type", "text/html"],
    ["ETag", '"abc"'],
  ]);
  const expected = (status: number, n: number) => statusLine(status) + headerLines([["Content-Type", "text/html"], ["ETag", '"abc"']]) + "Content-Length: " + n + "\r\n";
  test.each([
    [200, 4096],
    [200, 0],
    [206, 1],
    [404, 1048576],
    [200, 4096], // back to the first pair after others: rebuilt, same bytes
  ])("status %d, length %d: status line + block + Content-Length", (status, n) => {
    expect(latin1(preparedHeadWithLength(block, status, n))).toBe(expected(status, n));
  });
  test("memoised for the same (status, length): the same buffer, never rewritten", () => {
    const a = preparedHeadWithLength(block, 200, 7);
    const copy = Buffer.from(a);
    expect(preparedHeadWithLength(block, 200, 7)).toBe(a);
    const b = preparedHeadWithLength(block, 200, 8);
    expect(b).not.toBe(a);
    expect(Buffer.from(a).equals(copy)).toBe(true);
  });
  test("a frozen block still works (no memo)", () => {
    const frozen = Object.freeze({ prepared: Buffer.from("X-A: 1\r\n", "latin1") });
    expect(latin1(preparedHeadWithLength(frozen, 200, 3))).toBe(statusLine(200) + "X-A: 1\r\nContent-Length: 3\r\n");
  });
});

describe("prepareHeaders / isPrepared", () => {
  test("bytes are the latin1 encoding of headerLines (one byte per char)", () => {
    const p = prepareHeaders([
      ["Content-Type", "text/plain"],
      ["X-Name", "caf\xe9"],
    ]);
    expect(isPrepared(p)).toBe(true);
    expect(latin1(p.prepared)).toBe("Content-Type: text/plain\r\nX-Name: caf\xe9\r\n");
    expect(p.prepared.byteLength).toBe("Content-Type: text/plain\r\nX-Name: caf\xe9\r\n".length);
    expect(p.prepared[p.prepared.byteLength - 3]).toBe(0xe9);
  });
  test("CR/LF dropped in prepared heads too", () => {
    expect(latin1(prepareHeaders([["X", "a\r\nb"]]).prepared)).toBe("X: ab\r\n");
  });
  test("pair arrays are not prepared", () => {
    expect(isPrepared([["A", "b"]])).toBe(false);
    expect(isPrepared([])).toBe(false);
  });
});

describe("statusLine", () => {
  test.each([
    [200, "HTTP/1.1 200 OK\r\n"],
    [204, "HTTP/1.1 204 No Content\r\n"],
    [404, "HTTP/1.1 404 Not Found\r\n"],
    [413, "HTTP/1.1 413 Content Too Large\r\n"],
    [505, "HTTP/1.1 505 HTTP Version Not Supported\r\n"],
    [299, "HTTP/1.1 299 Success\r\n"],
    [499, "HTTP/1.1 499 Client Error\r\n"],
    [599, "HTTP/1.1 599 Server Error\r\n"],
  ])("%d", (status, line) => {
    expect(statusLine(status)).toBe(line);
    expect(statusLine(status)).toBe(line); // served from the cache
  });
  test("every generated status line parses back", () => {
    for (let s = 200; s <= 599; s++) {
      const p = new MessageParser("response", DEFAULT_LIMITS);
      p.push(Buffer.from(statusLine(s) + "Content-Length: 0\r\n\r\n", "latin1"));
      const ev = p.next();
      expect(ev?.type).toBe("head");
      expect((ev as Extract<ParseEvent, { type: "head" }>).head).toMatchObject({ status: s, minor: 1 });
    }
  });
});

describe("httpDate (IMF-fixdate, RFC 9110 §5.6.7)", () => {
  const IMF = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
  test("the RFC's example date", () => {
    expect(httpDate(Date.UTC(1994, 10, 6, 8, 49, 37))).toBe("Sun, 06 Nov 1994 08:49:37 GMT");
  });
  test("single-digit day and hour are zero-padded", () => {
    expect(httpDate(Date.UTC(2024, 2, 5, 3, 4, 5))).toBe("Tue, 05 Mar 2024 03:04:05 GMT");
  });
  test("milliseconds are truncated, not rounded", () => {
    expect(httpDate(Date.UTC(2024, 0, 1, 0, 0, 0, 999))).toBe("Mon, 01 Jan 2024 00:00:00 GMT");
  });
  test("cached within a second, fresh in the next one, also when time goes backwards", () => {
    const t = Date.UTC(2030, 11, 31, 23, 59, 59);
    expect(httpDate(t)).toBe("Tue, 31 Dec 2030 23:59:59 GMT");
    expect(httpDate(t + 500)).toBe("Tue, 31 Dec 2030 23:59:59 GMT");
    expect(httpDate(t + 1000)).toBe("Wed, 01 Jan 2031 00:00:00 GMT");
    expect(httpDate(t - 1000)).toBe("Tue, 31 Dec 2030 23:59:58 GMT");
  });
  test("default argument is now", () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const d = Date.parse(httpDate());
    expect(d).toBeGreaterThanOrEqual(before);
    expect(d).toBeLessThanOrEqual(Date.now());
  });
  test("any time in years 1970-9999: IMF-fixdate shape and round-trips to the second", () => {
    fcAssert(
      fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), (ms) => {
        const s = httpDate(ms);
        expect(s).toMatch(IMF);
        expect(Date.parse(s)).toBe(Math.floor(ms / 1000) * 1000);
      }),
      100,
    );
  });
});

describe("chunked framing", () => {
  test.each([
    [1, "1\r\n"],
    [15, "f\r\n"],
    [255, "ff\r\n"],
    [4096, "1000\r\n"],
    [0xabcdef, "abcdef\r\n"],
  ])("chunkHeader(%d)", (n, s) => expect(latin1(chunkHeader(n))).toBe(s));
  test("constants", () => {
    expect(latin1(CRLF)).toBe("\r\n");
    expect(latin1(LAST_CHUNK)).toBe("0\r\n\r\n");
  });
  test("lastChunkWithTrailers", () => {
    expect(latin1(lastChunkWithTrailers([]))).toBe("0\r\n\r\n");
    expect(latin1(lastChunkWithTrailers([["X-Sum", "1\r\n2"]]))).toBe("0\r\nX-Sum: 12\r\n\r\n");
  });
  test("a serialized chunked response parses back to the same body and trailers", () => {
    fcAssert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 5 }), fc.array(fc.tuple(fc.constantFrom("X-A", "X-B"), fc.string({ unit: fc.constantFrom("a", "b", "1") })), { maxLength: 2 }), (chunks, trailers) => {
        const parts: Uint8Array[] = [Buffer.from(statusLine(200) + headerLines([["Transfer-Encoding", "chunked"]]) + "\r\n", "latin1")];
        for (const c of chunks) parts.push(chunkHeader(c.byteLength), c, CRLF);
        parts.push(trailers.length ? lastChunkWithTrailers(trailers) : LAST_CHUNK);
        const p = new MessageParser("response", DEFAULT_LIMITS);
        p.expectResponseTo("GET");
        p.push(Buffer.concat(parts));
        const body: Uint8Array[] = [];
        let end: ParseEvent | null = null;
        for (let ev = p.next(); ev; ev = p.next()) {
          expect(ev.type).not.toBe("error");
          if (ev.type === "body") body.push(ev.data);
          if (ev.type === "end") end = ev;
        }
        expect(Buffer.concat(body)).toEqual(Buffer.concat(chunks));
        expect(end).not.toBeNull();
        const t = (end as Extract<ParseEvent, { type: "end" }>).trailers;
        expect(t ? t.pairs() : []).toEqual(trailers);
        expect(p.idle).toBe(true);
      }),
      100,
    );
  });
});
