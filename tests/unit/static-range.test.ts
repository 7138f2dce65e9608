import { describe, expect, test } from "bun:test";
import {
  coalesce,
  contentRange,
  makeBoundary,
  MAX_RANGES,
  parseRange,
  planMultipart,
  type RangeDecision,
  unsatisfiedRange,
} from "../../src/static/range.ts";

const single = (start: number, end: number): RangeDecision => ({ kind: "single", range: { start, end } });
const multi = (...r: [number, number][]): RangeDecision => ({ kind: "multi", ranges: r.map(([start, end]) => ({ start, end })) });
const ignore = (reason: string) => ({ kind: "ignore", reason }) as RangeDecision;
const UNSAT: RangeDecision = { kind: "unsatisfiable" };

type Case = [header: string, size: number, expected: RangeDecision];

const cases: Case[] = [
  // single ranges
  ["bytes=0-0", 100, single(0, 0)],
  ["bytes=0-99", 100, single(0, 99)],
  ["bytes=10-19", 100, single(10, 19)],
  ["bytes=90-", 100, single(90, 99)],
  ["bytes=0-", 100, single(0, 99)],
  ["bytes=50-1000", 100, single(50, 99)], // last-pos clamped
  ["bytes=-10", 100, single(90, 99)], // suffix
  ["bytes=-1000", 100, single(0, 99)], // suffix longer than the file: whole file
  ["bytes=99-99", 100, single(99, 99)],
  ["bytes=0-99999999999999999999999", 100, single(0, 99)], // huge last-pos
  ["BYTES=0-1", 100, single(0, 1)], // unit is case-insensitive
  ["Bytes=0-1", 100, single(0, 1)],
  [" bytes=0-1 ", 100, single(0, 1)],
  ["bytes=0-1 , ", 100, single(0, 1)], // OWS and empty list elements
  ["bytes=,0-1", 100, single(0, 1)],
  ["bytes= 0-1", 100, single(0, 1)],
  // unsatisfiable → 416
  ["bytes=100-", 100, UNSAT],
  ["bytes=100-200", 100, UNSAT],
  ["bytes=99999999999999999999-", 100, UNSAT],
  ["bytes=-0", 100, UNSAT],
  ["bytes=100-,200-300", 100, UNSAT],
  ["bytes=0-", 0, UNSAT], // empty file
  ["bytes=0-0", 0, UNSAT],
  // partly satisfiable: unsatisfiable members dropped
  ["bytes=0-4,200-300", 100, single(0, 4)],
  ["bytes=-0,0-4", 100, single(0, 4)],
  // syntax errors → ignore (200)
  ["bytes=", 100, ignore("syntax")],
  ["bytes=,", 100, ignore("syntax")],
  ["bytes", 100, ignore("syntax")],
  ["=0-1", 100, ignore("syntax")],
  ["bytes =0-1", 100, ignore("syntax")], // no whitespace before "="
  ["bytes=0 - 1", 100, ignore("syntax")],
  ["bytes=1-0", 100, ignore("syntax")], // last < first: invalid range-spec
  ["bytes=a-b", 100, ignore("syntax")],
  ["bytes=0x10-20", 100, ignore("syntax")],
  ["bytes=-", 100, ignore("syntax")],
  ["bytes=--1", 100, ignore("syntax")],
  ["bytes=1", 100, ignore("syntax")],
  ["bytes=+1-2", 100, ignore("syntax")],
  ["bytes=0-1;x", 100, ignore("syntax")],
  ["bytes=0-1,foo", 100, ignore("syntax")], // one bad member spoils the set
  ["bytes=0-1\t,\t2-3x", 100, ignore("syntax")],
  ["by tes=0-1", 100, ignore("syntax")],
  // unknown unit → ignore
  ["items=0-1", 100, ignore("unit")],
  ["none=0-1", 100, ignore("unit")],
  // empty file with suffix: satisfiable by the RFC, but a 206 cannot express it
  ["bytes=-5", 0, ignore("empty")],
  // multiple ranges
  ["bytes=0-9,20-29", 100, multi([0, 9], [20, 29])],
  ["bytes=20-29,0-9", 100, multi([20, 29], [0, 9])], // disjoint: request order kept
  ["bytes=0-9, 20-29, -10", 100, multi([0, 9], [20, 29], [90, 99])],
  ["bytes=0-9,10-19", 100, single(0, 19)], // adjacent: coalesced to one
  ["bytes=0-9,5-14", 100, single(0, 14)], // overlapping
  ["bytes=50-59,0-9,5-14", 100, multi([0, 14], [50, 59])], // coalesced → ascending
  ["bytes=0-0,2-2,4-4", 100, multi([0, 0], [2, 2], [4, 4])],
  // amplification guards
  ["bytes=0-,0-", 100, ignore("overlap")],
  ["bytes=0-99,0-99", 100, ignore("overlap")],
  ["bytes=0-60,40-99", 100, ignore("overlap")], // 61 + 60 > 100
  ["bytes=" + Array.from({ length: 17 }, (_, i) => `${i * 2}-${i * 2}`).join(","), 100, ignore("too-many")],
  [
    "bytes=" + Array.from({ length: 16 }, (_, i) => `${i * 2}-${i * 2}`).join(","),
    100,
    multi(...Array.from({ length: 16 }, (_, i) => [i * 2, i * 2] as [number, number])),
  ],
  // many tiny ranges that coalesce into few are fine
  ["bytes=" + Array.from({ length: 50 }, (_, i) => `${i}-${i}`).join(","), 100, single(0, 49)],
];

describe("parseRange", () => {
  test.each(cases)("%p size %p", (h, size, expected) => {
    expect(parseRange(h, size)).toEqual(expected);
  });

  test("MAX_RANGES is 16", () => {
    expect(MAX_RANGES).toBe(16);
  });

  test("the classic CVE-2011-3192 header is ignored", () => {
    const h = "bytes=0-," + Array.from({ length: 1300 }, (_, i) => `5-${i}`).join(",");
    expect(parseRange(h, 10_000_000).kind).toBe("ignore");
  });
});

describe("coalesce", () => {
  test.each([
    [[[0, 1]], [[0, 1]]],
    [[[5, 9], [0, 4]], [[0, 9]]],
    [[[0, 10], [2, 3]], [[0, 10]]],
    [[[0, 1], [3, 4]], [[0, 1], [3, 4]]],
    [[[3, 4], [0, 1]], [[3, 4], [0, 1]]],
    [[[0, 5], [3, 8], [20, 25], [9, 9]], [[0, 9], [20, 25]]],
  ] as [number, number][][][])("%j → %j", (input, output) => {
    const r = (a: [number, number][]) => a.map(([start, end]) => ({ start, end }));
    expect(coalesce(r(input))).toEqual(r(output));
  });
});

describe("Content-Range and multipart", () => {
  test("Content-Range values", () => {
    expect(contentRange({ start: 0, end: 9 }, 100)).toBe("bytes 0-9/100");
    expect(unsatisfiedRange(100)).toBe("bytes */100");
    expect(unsatisfiedRange(0)).toBe("bytes */0");
  });

  test("boundary is 24 hex digits and random", () => {
    const a = makeBoundary();
    expect(a).toMatch(/^[0-9a-f]{24}$/);
    expect(makeBoundary()).not.toBe(a);
  });

  test("planMultipart lays out parts per RFC 9110 §14.6", () => {
    const file = new TextEncoder().encode("0123456789abcdefghij");
    const plan = planMultipart(
      [
        { start: 0, end: 3 },
        { start: 10, end: 12 },
      ],
      file.length,
      "text/plain; charset=utf-8",
      "BOUNDARY",
    );
    expect(plan.contentType).toBe("multipart/byteranges; boundary=BOUNDARY");
    const dec = new TextDecoder();
    let body = "";
    for (const p of plan.parts) body += dec.decode(p.head) + dec.decode(file.subarray(p.start, p.end + 1));
    body += dec.decode(plan.trailer);
    expect(body).toBe(
      "\r\n--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-3/20\r\n\r\n0123" +
        "\r\n--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 10-12/20\r\n\r\nabc" +
        "\r\n--BOUNDARY--\r\n",
    );
    expect(plan.length).toBe(Buffer.byteLength(body));
  });
});
