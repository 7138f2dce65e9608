/** QUIC variable-length integers (RFC 9000 §16): the RFC's Appendix A.1 examples, bounds, partial input. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { encodeVarint, readVarint, varintLength, varintSize, VARINT_MAX, writeVarint } from "../../src/http3/varint.ts";

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, "").match(/../g)!.map((b) => parseInt(b, 16)));

describe("RFC 9000 §16 / Appendix A.1 examples", () => {
  const cases: [string, number][] = [
    ["c2197c5eff14e88c", 151288809941952652],
    ["9d7f3e7d", 494878333],
    ["7bbd", 15293],
    ["25", 37],
    ["4025", 37], // two-octet encoding of 37 is valid (not the shortest)
  ];
  for (const [wire, value] of cases) {
    test(`${wire} = ${value}`, () => {
      const b = hex(wire);
      expect(varintSize(b[0]!)).toBe(b.length);
      expect(readVarint(b, 0, b.length)).toBe(value);
    });
  }
  test("encoder picks the shortest form", () => {
    expect([...encodeVarint(37)]).toEqual([0x25]);
    expect([...encodeVarint(15293)]).toEqual([...hex("7bbd")]);
    expect([...encodeVarint(494878333)]).toEqual([...hex("9d7f3e7d")]);
  });
});

describe("bounds", () => {
  const edges: [number, number][] = [[0, 1], [63, 1], [64, 2], [16383, 2], [16384, 4], [2 ** 30 - 1, 4], [2 ** 30, 8], [2 ** 53 - 1, 8]];
  for (const [v, len] of edges) {
    test(`${v} takes ${len} octet(s) and round-trips`, () => {
      expect(varintLength(v)).toBe(len);
      const b = encodeVarint(v);
      expect(b.length).toBe(len);
      expect(readVarint(b, 0, b.length)).toBe(v);
    });
  }
  test("the wire maximum 2^62-1 decodes (to the nearest double); writing beyond 2^53-1, negative or fractional values throws", () => {
    expect(readVarint(hex("ffffffffffffffff"), 0, 8)).toBe(2 ** 62);
    expect(readVarint(encodeVarint(VARINT_MAX), 0, 8)).toBe(Number.MAX_SAFE_INTEGER);
    for (const bad of [2 ** 53, 2 ** 62, -1, 1.5, Number.NaN]) expect(() => writeVarint(bad, new Uint8Array(8), 0)).toThrow(RangeError);
  });
  test("incomplete input reads as -1 at every cut, at any offset", () => {
    for (const v of [63, 15293, 494878333, 2 ** 40 + 7]) {
      const b = new Uint8Array(12);
      const end = writeVarint(v, b, 3);
      for (let cut = 3; cut < end; cut++) expect(readVarint(b, 3, cut)).toBe(-1);
      expect(readVarint(b, 3, end)).toBe(v);
    }
  });
});

test("property: every safe integer round-trips and uses varintLength octets", () => {
  fcAssert(fc.property(fc.maxSafeNat(), (v) => {
    const b = encodeVarint(v);
    return b.length === varintLength(v) && varintSize(b[0]!) === b.length && readVarint(b, 0, b.length) === v;
  }), 2000);
});
