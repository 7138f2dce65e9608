/**
 * RFC 7541 §5.2 / Appendix B Huffman code: the rebuilt canonical code equals Appendix B symbol by
 * symbol; the Appendix C strings encode to the RFC's octets; every byte value round-trips; and
 * each malformed-padding case of §5.2 is rejected.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { HpackError } from "../../src/http2/hpack.ts";
import { CODE, CODE_LENGTH, huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../../src/http2/huffman.ts";
import { hex, toHex } from "./hpack-vectors.ts";

/** RFC 7541 Appendix B, transcribed independently of the source's length string: "code len" per symbol 0..256. */
const APPENDIX_B = `
0x1ff8:13 0x7fffd8:23 0xfffffe2:28 0xfffffe3:28 0xfffffe4:28 0xfffffe5:28 0xfffffe6:28 0xfffffe7:28
0xfffffe8:28 0xffffea:24 0x3ffffffc:30 0xfffffe9:28 0xfffffea:28 0x3ffffffd:30 0xfffffeb:28 0xfffffec:28
0xfffffed:28 0xfffffee:28 0xfffffef:28 0xffffff0:28 0xffffff1:28 0xffffff2:28 0x3ffffffe:30 0xffffff3:28
0xffffff4:28 0xffffff5:28 0xffffff6:28 0xffffff7:28 0xffffff8:28 0xffffff9:28 0xffffffa:28 0xffffffb:28
0x14:6 0x3f8:10 0x3f9:10 0xffa:12 0x1ff9:13 0x15:6 0xf8:8 0x7fa:11
0x3fa:10 0x3fb:10 0xf9:8 0x7fb:11 0xfa:8 0x16:6 0x17:6 0x18:6
0x0:5 0x1:5 0x2:5 0x19:6 0x1a:6 0x1b:6 0x1c:6 0x1d:6
0x1e:6 0x1f:6 0x5c:7 0xfb:8 0x7ffc:15 0x20:6 0xffb:12 0x3fc:10
0x1ffa:13 0x21:6 0x5d:7 0x5e:7 0x5f:7 0x60:7 0x61:7 0x62:7
0x63:7 0x64:7 0x65:7 0x66:7 0x67:7 0x68:7 0x69:7 0x6a:7
0x6b:7 0x6c:7 0x6d:7 0x6e:7 0x6f:7 0x70:7 0x71:7 0x72:7
0xfc:8 0x73:7 0xfd:8 0x1ffb:13 0x7fff0:19 0x1ffc:13 0x3ffc:14 0x22:6
0x7ffd:15 0x3:5 0x23:6 0x4:5 0x24:6 0x5:5 0x25:6 0x26:6
0x27:6 0x6:5 0x74:7 0x75:7 0x28:6 0x29:6 0x2a:6 0x7:5
0x2b:6 0x76:7 0x2c:6 0x8:5 0x9:5 0x2d:6 0x77:7 0x78:7
0x79:7 0x7a:7 0x7b:7 0x7ffe:15 0x7fc:11 0x3ffd:14 0x1ffd:13 0xffffffc:28
0xfffe6:20 0x3fffd2:22 0xfffe7:20 0xfffe8:20 0x3fffd3:22 0x3fffd4:22 0x3fffd5:22 0x7fffd9:23
0x3fffd6:22 0x7fffda:23 0x7fffdb:23 0x7fffdc:23 0x7fffdd:23 0x7fffde:23 0xffffeb:24 0x7fffdf:23
0xffffec:24 0xffffed:24 0x3fffd7:22 0x7fffe0:23 0xffffee:24 0x7fffe1:23 0x7fffe2:23 0x7fffe3:23
0x7fffe4:23 0x1fffdc:21 0x3fffd8:22 0x7fffe5:23 0x3fffd9:22 0x7fffe6:23 0x7fffe7:23 0xffffef:24
0x3fffda:22 0x1fffdd:21 0xfffe9:20 0x3fffdb:22 0x3fffdc:22 0x7fffe8:23 0x7fffe9:23 0x1fffde:21
0x7fffea:23 0x3fffdd:22 0x3fffde:22 0xfffff0:24 0x1fffdf:21 0x3fffdf:22 0x7fffeb:23 0x7fffec:23
0x1fffe0:21 0x1fffe1:21 0x3fffe0:22 0x1fffe2:21 0x7fffed:23 0x3fffe1:22 0x7fffee:23 0x7fffef:23
0xfffea:20 0x3fffe2:22 0x3fffe3:22 0x3fffe4:22 0x7ffff0:23 0x3fffe5:22 0x3fffe6:22 0x7ffff1:23
0x3ffffe0:26 0x3ffffe1:26 0xfffeb:20 0x7fff1:19 0x3fffe7:22 0x7ffff2:23 0x3fffe8:22 0x1ffffec:25
0x3ffffe2:26 0x3ffffe3:26 0x3ffffe4:26 0x7ffffde:27 0x7ffffdf:27 0x3ffffe5:26 0xfffff1:24 0x1ffffed:25
0x7fff2:19 0x1fffe3:21 0x3ffffe6:26 0x7ffffe0:27 0x7ffffe1:27 0x3ffffe7:26 0x7ffffe2:27 0xfffff2:24
0x1fffe4:21 0x1fffe5:21 0x3ffffe8:26 0x3ffffe9:26 0xffffffd:28 0x7ffffe3:27 0x7ffffe4:27 0x7ffffe5:27
0xfffec:20 0xfffff3:24 0xfffed:20 0x1fffe6:21 0x3fffe9:22 0x1fffe7:21 0x1fffe8:21 0x7ffff3:23
0x3fffea:22 0x3fffeb:22 0x1ffffee:25 0x1ffffef:25 0xfffff4:24 0xfffff5:24 0x3ffffea:26 0x7ffff4:23
0x3ffffeb:26 0x7ffffe6:27 0x3ffffec:26 0x3ffffed:26 0x7ffffe7:27 0x7ffffe8:27 0x7ffffe9:27 0x7ffffea:27
0x7ffffeb:27 0xffffffe:28 0x7ffffec:27 0x7ffffed:27 0x7ffffee:27 0x7ffffef:27 0x7fffff0:27 0x3ffffee:26
0x3fffffff:30 `.trim().split(/\s+/).map((e) => e.split(":").map(Number) as [number, number]);

const latin1 = (s: string) => Uint8Array.from(Buffer.from(s, "latin1"));
function encode(s: Uint8Array): Uint8Array {
  const out = new Uint8Array(huffmanEncodedLength(s));
  expect(huffmanEncode(s, out, 0)).toBe(out.length);
  return out;
}

describe("Appendix B code table", () => {
  test("257 symbols, each code and length as in the RFC", () => {
    expect(APPENDIX_B.length).toBe(257);
    for (let s = 0; s < 257; s++) {
      expect([s, CODE[s], CODE_LENGTH[s]]).toEqual([s, APPENDIX_B[s]![0], APPENDIX_B[s]![1]]);
    }
  });
});

describe("Appendix C strings (C.4, C.6)", () => {
  const cases: [string, string][] = [
    ["www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"],
    ["no-cache", "a8eb10649cbf"],
    ["custom-key", "25a849e95ba97d7f"],
    ["custom-value", "25a849e95bb8e8b4bf"],
    ["302", "6402"],
    ["307", "640eff"],
    ["private", "aec3771a4b"],
    ["Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff"],
    ["Mon, 21 Oct 2013 20:13:22 GMT", "d07abe941054d444a8200595040b8166e084a62d1bff"],
    ["https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3"],
    ["gzip", "9bd9ab"],
    ["foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1", "94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007"],
    ["", ""],
  ];
  for (const [text, wire] of cases) {
    test(`${JSON.stringify(text)} <-> ${wire || "(empty)"}`, () => {
      expect(toHex(encode(latin1(text)))).toBe(wire);
      const w = hex(wire);
      expect(Buffer.from(huffmanDecode(w, 0, w.length)).toString("latin1")).toBe(text);
    });
  }
  test("decodes a range inside a larger buffer", () => {
    const w = hex("00 f1e3c2e5f23a6ba0ab90f4ff 00");
    expect(Buffer.from(huffmanDecode(w, 1, w.length - 1)).toString("latin1")).toBe("www.example.com");
  });
  test("encodes at an offset and returns the new position", () => {
    const out = new Uint8Array(10).fill(0xaa);
    expect(huffmanEncode(latin1("gzip"), out, 2)).toBe(5);
    expect(toHex(out)).toBe("aaaa9bd9abaaaaaaaaaa");
  });
});

describe("round trips", () => {
  test("each of the 256 byte values alone, and repeated", () => {
    for (let b = 0; b < 256; b++) {
      for (const n of [1, 2, 3, 7, 8]) {
        const s = new Uint8Array(n).fill(b);
        const w = encode(s);
        expect(w.length).toBe(Math.ceil((CODE_LENGTH[b]! * n) / 8));
        expect(Array.from(huffmanDecode(w, 0, w.length))).toEqual(Array.from(s));
      }
    }
  });
  test("all 256 byte values in one string, both orders", () => {
    const up = Uint8Array.from({ length: 256 }, (_, i) => i);
    const down = up.slice().reverse();
    for (const s of [up, down]) {
      const w = encode(s);
      expect(Array.from(huffmanDecode(w, 0, w.length))).toEqual(Array.from(s));
    }
  });
  test("arbitrary byte strings (fast-check)", () => {
    fcAssert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (s) => {
        const w = encode(s);
        expect(Array.from(huffmanDecode(w, 0, w.length))).toEqual(Array.from(s));
      }),
      500,
    );
  });
});

describe("malformed input (§5.2)", () => {
  const bad: [string, string][] = [
    ["§5.2 EOS symbol inside the string (30 ones, then 2 bits of padding)", "ffffffff"],
    ["§5.2 EOS after a symbol", "1fffffffff"],
    ["§5.2 padding longer than 7 bits ('a' + 3 bits + a whole 0xff octet)", "1fff"],
    ["§5.2 padding of one whole octet", "ff"],
    ["§5.2 padding not all 1s ('a' followed by 000)", "18"],
    ["§5.2 padding not all 1s (incomplete 10-bit code 11111110)", "fe"],
    ["§5.2 padding with a 0 in the middle ('0' + 101)", "05"],
  ];
  for (const [name, wire] of bad) {
    test(name, () => {
      const w = hex(wire);
      expect(() => huffmanDecode(w, 0, w.length)).toThrow(HpackError);
      try {
        huffmanDecode(w, 0, w.length);
      } catch (e) {
        expect((e as HpackError).code).toBe("COMPRESSION_ERROR");
      }
    });
  }
  test("§5.2 padding of exactly 7 bits is accepted ('00000' = 25 bits + 7)", () => {
    const w = hex("0000007f");
    expect(Buffer.from(huffmanDecode(w, 0, w.length)).toString("latin1")).toBe("00000");
  });
  test("every truncation of a valid encoding is either valid or rejected with HpackError", () => {
    const w = hex("94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007");
    for (let end = 0; end < w.length; end++) {
      try {
        huffmanDecode(w, 0, end);
      } catch (e) {
        expect(e).toBeInstanceOf(HpackError);
      }
    }
  });
});
