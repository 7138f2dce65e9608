import { describe, expect, test } from "bun:test";
import { HeaderList } from "../../src/http1/header-list.ts";
import {
  evaluatePreconditions,
  makeEtag,
  parseEntityTags,
  type Precondition,
  rangeAllowed,
  type Validators,
} from "../../src/static/conditional.ts";
import { formatHttpDate, parseHttpDate } from "../../src/static/http-date.ts";

function headers(pairs: [string, string][]): HeaderList {
  const h = new HeaderList();
  for (const [n, v] of pairs) h.add(n, v);
  return h;
}

// 1994-11-06T08:49:37Z, the RFC's example date.
const T = Date.UTC(1994, 10, 6, 8, 49, 37);
const D = "Sun, 06 Nov 1994 08:49:37 GMT";
const D_BEFORE = "Sun, 06 Nov 1994 08:49:36 GMT";
const D_AFTER = "Sun, 06 Nov 1994 08:49:38 GMT";
const ETAG = '"1f4-18c2a1b3e40"';
const V: Validators = { etag: ETAG, lastModified: T };

describe("HTTP-date", () => {
  test.each([
    ["Sun, 06 Nov 1994 08:49:37 GMT", T], // IMF-fixdate
    ["Sunday, 06-Nov-94 08:49:37 GMT", T], // rfc850
    ["Sun Nov  6 08:49:37 1994", T], // asctime, day padded with a space
    ["Sun Nov 16 08:49:37 1994", Date.UTC(1994, 10, 16, 8, 49, 37)],
    ["  Sun, 06 Nov 1994 08:49:37 GMT ", T], // OWS
    ["Thu, 01 Jan 1970 00:00:00 GMT", 0],
    ["Tue, 29 Feb 2000 12:00:00 GMT", Date.UTC(2000, 1, 29, 12)],
    ["Fri, 31 Dec 9999 23:59:59 GMT", Date.UTC(9999, 11, 31, 23, 59, 59)],
  ])("parse %p", (s, ms) => {
    expect(parseHttpDate(s)).toBe(ms);
  });

  test.each([
    "",
    "garbage",
    "Sun, 06 Nov 1994 08:49:37 UTC", // must be GMT
    "sun, 06 Nov 1994 08:49:37 GMT", // case-sensitive day name
    "Sun, 06 nov 1994 08:49:37 GMT", // case-sensitive month
    "Sun, 6 Nov 1994 08:49:37 GMT", // day must be 2 digits in IMF-fixdate
    "Sun, 06 Nov 94 08:49:37 GMT",
    "Sun, 31 Apr 1994 08:49:37 GMT", // no such day
    "Mon, 29 Feb 1999 08:49:37 GMT",
    "Sun, 06 Nov 1994 24:00:00 GMT",
    "Sun, 06 Nov 1994 08:60:00 GMT",
    "Sun, 06 Foo 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", // a list
    "Sun Nov 6 08:49:37 1994", // asctime needs 2 characters for the day
    "1994-11-06T08:49:37Z",
    "784111777",
  ])("reject %p", (s) => {
    expect(parseHttpDate(s)).toBeNull();
  });

  test("rfc850 two-digit years: more than 50 years ahead means the previous century", () => {
    const y = new Date().getUTCFullYear();
    const yy = (n: number) => String(((n % 100) + 100) % 100).padStart(2, "0");
    const parse = (year2: string) => new Date(parseHttpDate(`Monday, 01-Jan-${year2} 00:00:00 GMT`)!).getUTCFullYear();
    expect(parse(yy(y))).toBe(y);
    expect(parse(yy(y + 49))).toBe(y + 49);
    expect(parse(yy(y + 51))).toBe(y + 51 - 100);
    expect(parse(yy(y - 1))).toBe(y - 1);
  });

  test.each([
    [T, D],
    [T + 999, D], // sub-second dropped
    [0, "Thu, 01 Jan 1970 00:00:00 GMT"],
    [Date.UTC(2024, 1, 29, 1, 2, 3), "Thu, 29 Feb 2024 01:02:03 GMT"],
  ])("format %p", (ms, s) => {
    expect(formatHttpDate(ms)).toBe(s);
    expect(parseHttpDate(s)).toBe(Math.floor(ms / 1000) * 1000);
  });
});

describe("entity tags", () => {
  test("makeEtag", () => {
    expect(makeEtag(500, 1700000000123.75)).toBe('"1f4-18bcfe5687b"');
    expect(makeEtag(0, 0)).toBe('"0-0"');
    expect(makeEtag(500, 1000, 255)).toBe('"ff-1f4-3e8"');
  });

  test.each([
    ['"a"', [{ weak: false, opaque: '"a"' }]],
    ['W/"a"', [{ weak: true, opaque: '"a"' }]],
    ['"a", W/"b" ,"c"', [
      { weak: false, opaque: '"a"' },
      { weak: true, opaque: '"b"' },
      { weak: false, opaque: '"c"' },
    ]],
    [' , "a",, ', [{ weak: false, opaque: '"a"' }]], // empty list elements
    ['""', [{ weak: false, opaque: '""' }]],
    ['"a,b"', [{ weak: false, opaque: '"a,b"' }]], // comma inside the tag
    ["", []],
  ])("parse %p", (s, tags) => {
    expect(parseEntityTags(s)).toEqual(tags);
  });

  test.each(['a', '"a', '"a" "b"', 'w/"a"', '"a b"', "*", '"a";', 'W/ "a"'])("invalid %p", (s) => {
    expect(parseEntityTags(s)).toBeNull();
  });
});

type Case = [name: string, method: string, h: [string, string][], expected: Precondition];

const cases: Case[] = [
  ["no conditionals", "GET", [], "proceed"],
  // If-Match (strong comparison)
  ["If-Match equal", "GET", [["If-Match", ETAG]], "proceed"],
  ["If-Match *", "GET", [["If-Match", "*"]], "proceed"],
  ["If-Match in a list", "GET", [["If-Match", `"x", ${ETAG}`]], "proceed"],
  ["If-Match over two lines", "GET", [["If-Match", '"x"'], ["If-Match", ETAG]], "proceed"],
  ["If-Match other", "GET", [["If-Match", '"x"']], "failed"],
  ["If-Match weak never matches", "GET", [["If-Match", "W/" + ETAG]], "failed"],
  ["If-Match malformed fails closed", "GET", [["If-Match", "garbage"]], "failed"],
  ["If-Match mismatch beats If-None-Match", "GET", [["If-Match", '"x"'], ["If-None-Match", ETAG]], "failed"],
  // If-Unmodified-Since
  ["IUS equal", "GET", [["If-Unmodified-Since", D]], "proceed"],
  ["IUS later", "GET", [["If-Unmodified-Since", D_AFTER]], "proceed"],
  ["IUS earlier", "GET", [["If-Unmodified-Since", D_BEFORE]], "failed"],
  ["IUS invalid ignored", "GET", [["If-Unmodified-Since", "yesterday"]], "proceed"],
  ["IUS repeated ignored", "GET", [["If-Unmodified-Since", D_BEFORE], ["If-Unmodified-Since", D_BEFORE]], "proceed"],
  ["IUS ignored when If-Match present", "GET", [["If-Match", ETAG], ["If-Unmodified-Since", D_BEFORE]], "proceed"],
  ["IUS rfc850 form", "GET", [["If-Unmodified-Since", "Sunday, 06-Nov-94 08:49:36 GMT"]], "failed"],
  // If-None-Match (weak comparison)
  ["INM equal GET", "GET", [["If-None-Match", ETAG]], "not-modified"],
  ["INM equal HEAD", "HEAD", [["If-None-Match", ETAG]], "not-modified"],
  ["INM weak form matches", "GET", [["If-None-Match", "W/" + ETAG]], "not-modified"],
  ["INM in a list", "GET", [["If-None-Match", `"a", "b", ${ETAG}`]], "not-modified"],
  ["INM *", "GET", [["If-None-Match", "*"]], "not-modified"],
  ["INM other", "GET", [["If-None-Match", '"x"']], "proceed"],
  ["INM malformed", "GET", [["If-None-Match", "junk"]], "proceed"],
  ["INM equal, other method", "POST", [["If-None-Match", ETAG]], "failed"],
  ["INM * other method", "PUT", [["If-None-Match", "*"]], "failed"],
  ["INM after passing If-Match", "GET", [["If-Match", ETAG], ["If-None-Match", ETAG]], "not-modified"],
  // If-Modified-Since
  ["IMS equal", "GET", [["If-Modified-Since", D]], "not-modified"],
  ["IMS later", "GET", [["If-Modified-Since", D_AFTER]], "not-modified"],
  ["IMS earlier", "GET", [["If-Modified-Since", D_BEFORE]], "proceed"],
  ["IMS asctime", "GET", [["If-Modified-Since", "Sun Nov  6 08:49:37 1994"]], "not-modified"],
  ["IMS HEAD", "HEAD", [["If-Modified-Since", D]], "not-modified"],
  ["IMS ignored for POST", "POST", [["If-Modified-Since", D]], "proceed"],
  ["IMS invalid ignored", "GET", [["If-Modified-Since", "not a date"]], "proceed"],
  ["IMS list ignored", "GET", [["If-Modified-Since", `${D}, ${D}`]], "proceed"],
  ["IMS repeated ignored", "GET", [["If-Modified-Since", D], ["If-Modified-Since", D]], "proceed"],
  ["IMS ignored when INM present (no match)", "GET", [["If-None-Match", '"x"'], ["If-Modified-Since", D]], "proceed"],
  ["IUS fail beats IMS", "GET", [["If-Unmodified-Since", D_BEFORE], ["If-Modified-Since", D]], "failed"],
];

describe("evaluatePreconditions (RFC 9110 §13.2.2)", () => {
  test.each(cases)("%s", (_name, method, h, expected) => {
    expect(evaluatePreconditions(method, headers(h), V)).toBe(expected);
  });

  test("1-second granularity: a sub-second mtime is not newer than its own Last-Modified", () => {
    // lastModified is already truncated by the file cache; the header we sent is D.
    expect(evaluatePreconditions("GET", headers([["If-Modified-Since", formatHttpDate(T + 900)]]), V)).toBe("not-modified");
  });
});

describe("If-Range (RFC 9110 §13.1.5)", () => {
  test.each([
    ["absent", [], true],
    ["strong ETag equal", [["If-Range", ETAG]], true],
    ["strong ETag other", [["If-Range", '"x"']], false],
    ["weak ETag never", [["If-Range", "W/" + ETAG]], false],
    ["list of tags invalid", [["If-Range", `${ETAG}, "x"`]], false],
    ["date equal", [["If-Range", D]], true],
    ["date later (not exact)", [["If-Range", D_AFTER]], false],
    ["date earlier", [["If-Range", D_BEFORE]], false],
    ["date starting with W", [["If-Range", "Wed, 09 Nov 1994 08:49:37 GMT"]], false],
    ["garbage", [["If-Range", "whatever"]], false],
    ["repeated", [["If-Range", ETAG], ["If-Range", ETAG]], false],
  ] as [string, [string, string][], boolean][])("%s", (_n, h, expected) => {
    expect(rangeAllowed(headers(h), V)).toBe(expected);
  });

  test("date equality with a Wednesday", () => {
    const wed = Date.UTC(1994, 10, 9, 8, 49, 37);
    expect(rangeAllowed(headers([["If-Range", "Wed, 09 Nov 1994 08:49:37 GMT"]]), { etag: ETAG, lastModified: wed })).toBe(true);
  });
});
