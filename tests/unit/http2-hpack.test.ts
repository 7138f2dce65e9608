/**
 * HPACK (RFC 7541): the Appendix C examples (decoded fields, resulting dynamic table and size, and
 * our encoder's octets where its choices match the RFC's), a table of malformed blocks named by
 * section, header-list size limits and the HPACK bomb, and encode→decode properties.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { HpackDecoder, HpackEncoder, HpackError, type HeaderField } from "../../src/http2/hpack.ts";
import { MALFORMED, SEQUENCES, hex, toHex } from "./hpack-vectors.ts";

const BIG = 1 << 20;
const decoder = (maxTableSize = 4096, maxHeaderListSize = BIG) => new HpackDecoder({ maxTableSize, maxHeaderListSize });

describe("RFC 7541 Appendix C: decoding", () => {
  for (const seq of SEQUENCES) {
    test(`${seq.section} ${seq.title}`, () => {
      const d = decoder(seq.maxTableSize);
      seq.blocks.forEach((b, i) => {
        expect([i, d.decode(hex(b.hex))]).toEqual([i, b.fields]);
        expect([i, d.tableEntries()]).toEqual([i, b.table]);
        expect([i, d.tableSize]).toEqual([i, b.tableSize]);
      });
    });
    test(`${seq.section} cut at every octet: HpackError or a prefix of the fields, never anything else`, () => {
      seq.blocks.forEach((b, i) => {
        const wire = hex(b.hex);
        for (let cut = 0; cut < wire.length; cut++) {
          const d = decoder(seq.maxTableSize);
          for (let j = 0; j < i; j++) d.decode(hex(seq.blocks[j]!.hex));
          let got: HeaderField[] | null = null;
          try {
            got = d.decode(wire.subarray(0, cut));
          } catch (e) {
            expect(e).toBeInstanceOf(HpackError);
            continue;
          }
          expect(got).toEqual(b.fields.slice(0, got!.length));
        }
      });
    });
  }
});


describe("malformed blocks are COMPRESSION_ERROR", () => {
  for (const [name, wire, section] of MALFORMED) {
    test(name, () => {
      let err: unknown;
      try {
        decoder().decode(hex(wire));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HpackError);
      expect((err as HpackError).code).toBe("COMPRESSION_ERROR");
      expect((err as HpackError).message).toContain(section);
    });
  }
  test("random octets only ever decode or throw HpackError (fast-check)", () => {
    fcAssert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          decoder(256, 512).decode(b);
        } catch (e) {
          if (!(e instanceof HpackError)) throw e;
        }
      }),
      2000,
    );
  });
});

describe("dynamic table size updates (§4.2, §6.3) and eviction (§4.4)", () => {
  test("an update at the start of a block resizes and evicts", () => {
    const d = decoder();
    d.decode(hex(SEQUENCES.find((s) => s.section === "C.3")!.blocks[0]!.hex));
    expect(d.tableSize).toBe(57);
    expect(d.decode(hex("20 82"))).toEqual([[":method", "GET"]]);
    expect(d.tableSize).toBe(0);
    expect(d.tableMaxSize).toBe(0);
    expect(() => d.decode(hex("be"))).toThrow(HpackError);
  });
  test("two updates at the start (smallest, then final) are accepted", () => {
    const d = decoder();
    expect(d.decode(hex("20 3fe11f 82"))).toEqual([[":method", "GET"]]);
    expect(d.tableMaxSize).toBe(4096);
  });
  test("an update to exactly the SETTINGS limit is accepted; a block of only updates decodes to []", () => {
    const d = decoder(256);
    expect(d.decode(hex("3fe101"))).toEqual([]);
    expect(d.tableMaxSize).toBe(256);
  });
  test("SETTINGS above 4096 is a ceiling: the table is 4096 until the peer announces more (§4.2)", () => {
    const d = decoder(65536);
    expect(d.tableMaxSize).toBe(4096);
    const v = "v".repeat(3000);
    const lit = (n: number) => Uint8Array.from([0x40, 0x01, n, 0x7f, (3000 - 127) & 0x7f | 0x80, (3000 - 127) >> 7, ...Buffer.from(v)]);
    d.decode(lit(0x61));
    d.decode(lit(0x62));
    expect(d.tableEntries().map((f) => f[0])).toEqual(["b"]);
    d.decode(hex("3fe1ff03")); // update to 65536 (31 + 65505)
    expect(d.tableMaxSize).toBe(65536);
    d.decode(lit(0x63));
    expect(d.tableEntries().map((f) => f[0])).toEqual(["c", "b"]);
  });
  test("an entry larger than the table empties it and is not added, but is still a field (§4.4)", () => {
    const d = decoder(256);
    d.decode(hex("4001610162")); // a: b, 34 octets
    expect(d.tableSize).toBe(34);
    const big = "x".repeat(230);
    const wire = Uint8Array.from([0x40, 0x01, 0x61, 0x7f, 230 - 127, ...Buffer.from(big)]);
    expect(d.decode(wire)).toEqual([["a", big]]);
    expect(d.tableEntries()).toEqual([]);
    expect(d.tableSize).toBe(0);
  });
  test("eviction keeps the newest entries within the maximum", () => {
    const d = decoder(100);
    for (let i = 0; i < 10; i++) d.decode(Uint8Array.from([0x40, 0x01, 0x61 + i, 0x01, 0x30 + i])); // 34 octets each
    expect(d.tableEntries()).toEqual([["j", "9"], ["i", "8"]]);
    expect(d.tableSize).toBe(68);
    expect(d.decode(hex("be bf"))).toEqual([["j", "9"], ["i", "8"]]);
  });
});

describe("header list size limit (RFC 9113 §6.5.2) and the HPACK bomb", () => {
  // "a: b" costs 1 + 1 + 32 = 34 octets.
  const three = hex("0001610162 0001610162 0001610162");
  test("a list of exactly the limit is returned; one octet less returns null", () => {
    expect(decoder(4096, 102).decode(three)).toEqual([["a", "b"], ["a", "b"], ["a", "b"]]);
    expect(decoder(4096, 101).decode(three)).toBeNull();
  });
  test("the block over the limit is still fully processed: the table stays in sync", () => {
    const d = decoder(4096, 100);
    const value = "v".repeat(60);
    // Two literals with incremental indexing, 32 + 1 + 60 = 93 octets each: the second goes over.
    const lit = (n: string) => [0x40, 0x01, n.charCodeAt(0), 60, ...Buffer.from(value)];
    expect(d.decode(Uint8Array.from([...lit("a"), ...lit("b")]))).toBeNull();
    expect(d.lastListSize).toBe(186);
    expect(d.tableEntries()).toEqual([["b", value], ["a", value]]);
    expect(d.decode(hex("be"))).toEqual([["b", value]]);
    expect(d.decode(hex("bf"))).toEqual([["a", value]]);
  });
  test("a malformed field after the limit is still a COMPRESSION_ERROR", () => {
    expect(() => decoder(4096, 40).decode(hex("0001610162 0001610162 80"))).toThrow(HpackError);
  });
  test("bomb: one 4000-octet entry referenced a million times returns null with bounded memory and time", () => {
    const d = decoder(4096, 65536);
    const value = "x".repeat(3950);
    const add = Uint8Array.from([0x40, 0x01, 0x62, 0x7f, ...[3950 - 127].flatMap((v) => [(v & 0x7f) | 0x80, v >> 7]), ...Buffer.from(value)]);
    expect(d.decode(add)).toEqual([["b", value]]);
    // 1,000,000 references to index 62: 3.98 GB of decoded header list from a 1 MB block.
    const refs = new Uint8Array(1_000_000).fill(0xbe);
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const t0 = performance.now();
    expect(d.decode(refs)).toBeNull();
    const ms = performance.now() - t0;
    const grown = process.memoryUsage().rss - before;
    expect(d.lastListSize).toBe(1_000_000 * (1 + 3950 + 32));
    // A list of a million [name, value] pairs would be tens of MB; the decoder keeps none past the limit.
    expect(grown).toBeLessThan(16 * 1024 * 1024);
    expect(ms).toBeLessThan(2000);
  });
  test("bomb with literals: a million-octet block of never-indexed literals past the limit makes no strings", () => {
    const d = decoder(4096, 1000);
    const one = [0x10, 0x01, 0x61, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f]; // a: hello, never indexed
    const block = new Uint8Array(one.length * 100_000);
    for (let i = 0; i < 100_000; i++) block.set(one, i * one.length);
    expect(d.decode(block)).toBeNull();
    expect(d.lastListSize).toBe(100_000 * 38);
  });
});

describe("RFC 7541 Appendix C: encoding reproduces the RFC's octets", () => {
  for (const seq of SEQUENCES.filter((s) => s.encodable)) {
    test(`${seq.section} ${seq.title}`, () => {
      const e = new HpackEncoder({ maxTableSize: seq.maxTableSize, huffman: seq.huffman });
      seq.blocks.forEach((b, i) => {
        // A table smaller than the peer's initial 4096 is announced first (§4.2): 0x3fe101 = 256.
        const announce = i === 0 && seq.maxTableSize !== 4096 ? "3fe101" : "";
        expect([i, toHex(e.encode(b.fields))]).toEqual([i, announce + b.hex.replace(/\s+/g, "")]);
        expect([i, e.tableEntries()]).toEqual([i, b.table]);
        expect([i, e.tableSize]).toEqual([i, b.tableSize]);
      });
    });
  }
  test("C.2.3 literal never indexed: a sensitive field", () => {
    const e = new HpackEncoder({ huffman: false });
    expect(toHex(e.encode([["password", "secret"]], new Set(["password"])))).toBe("100870617373776f726406736563726574");
    expect(e.tableEntries()).toEqual([]);
  });
});

describe("encoder choices", () => {
  test("sensitive fields are never indexed (§6.2.3), with a static name index when there is one", () => {
    const e = new HpackEncoder({ huffman: false });
    const d = decoder();
    const wire = e.encode([["authorization", "Bearer x"], ["set-cookie", "a=b"], ["set-cookie", "a=b"]], new Set(["authorization", "set-cookie"]));
    // 0x1f 0x08 = never indexed, name index 15 + 8 = 23 (authorization); 0x1f 0x28 = 55 (set-cookie).
    expect(toHex(wire)).toBe("1f08084265617265722078" + "1f2803613d62" + "1f2803613d62");
    expect(d.decode(wire)).toEqual([["authorization", "Bearer x"], ["set-cookie", "a=b"], ["set-cookie", "a=b"]]);
    expect(e.tableEntries()).toEqual([]);
    expect(d.tableEntries()).toEqual([]);
  });
  test("a field taking more than 3/4 of the table is sent without indexing (§6.2.2)", () => {
    const e = new HpackEncoder({ maxTableSize: 4096, huffman: false });
    e.encode([["x-a", "1"]]);
    const big = "v".repeat(3100);
    const wire = e.encode([["x-big", big]]);
    expect(wire[0]).toBe(0x00);
    expect(e.tableEntries()).toEqual([["x-a", "1"]]);
    e.encode([["x-fits", "v".repeat(3000)]]);
    expect(e.tableEntries().map((f) => f[0])).toEqual(["x-fits", "x-a"]);
  });
  test("a name already in the dynamic table is referenced by index", () => {
    const e = new HpackEncoder({ huffman: false });
    e.encode([["x-id", "1"]]);
    // 0x7e = literal with indexing, name index 62.
    expect(toHex(e.encode([["x-id", "2"]]))).toBe("7e0132");
    expect(toHex(e.encode([["x-id", "1"], ["x-id", "2"]]))).toBe("bfbe");
  });
  test("huffman: false sends raw octets; huffman: true only when not longer", () => {
    expect(toHex(new HpackEncoder({ huffman: false }).encode([["x", "www.example.com"]]))).toBe("4001780f7777772e6578616d706c652e636f6d");
    expect(toHex(new HpackEncoder().encode([["x", "www.example.com"]]))).toBe("4081f38cf1e3c2e5f23a6ba0ab90f4ff");
    // "\x00" is a 13-bit code: Huffman would be 2 octets for 1, so it is sent raw.
    expect(toHex(new HpackEncoder().encode([["x-n", "\x00"]]))).toBe("4083f2b55f0100");
  });
  test("integers at prefix boundaries (§5.1): name index 15 with a 4-bit prefix, lengths 126/127/128", () => {
    const d = decoder();
    const e = new HpackEncoder({ huffman: false });
    for (const n of [126, 127, 128, 255, 16383, 16384]) {
      const v = "a".repeat(n);
      const wire = e.encode([["x-len", v]], new Set(["x-len"]));
      expect(d.decode(wire)).toEqual([["x-len", v]]);
    }
  });
  test("characters above U+00FF are refused, not silently mangled", () => {
    expect(() => new HpackEncoder().encode([["x", "\u0100"]])).toThrow(RangeError);
  });
});

describe("encoder table size updates (§4.2, §6.3)", () => {
  test("a smaller peer limit is announced at the start of the next block and evicts", () => {
    const e = new HpackEncoder({ huffman: false });
    e.encode([["x-a", "1"]]);
    e.setMaxTableSize(100);
    const wire = e.encode([[":status", "200"]]);
    expect(toHex(wire)).toBe("3f45" + "88");
    expect(e.tableEntries()).toEqual([["x-a", "1"]]);
    e.setMaxTableSize(0);
    expect(toHex(e.encode([["x-b", "2"]]))).toBe("20" + "0003782d620132");
    expect(e.tableEntries()).toEqual([]);
  });
  test("shrink then grow before a block: the smallest, then the final size", () => {
    const e = new HpackEncoder();
    e.setMaxTableSize(0);
    e.setMaxTableSize(1000);
    e.setMaxTableSize(4096);
    expect(toHex(e.encode([]))).toBe("20" + "3fe11f");
    expect(toHex(e.encode([]))).toBe("");
  });
  test("no update when the size we use does not change (peer allows more than our cap)", () => {
    const e = new HpackEncoder({ maxTableSize: 4096 });
    e.setMaxTableSize(65536);
    e.setMaxTableSize(4096);
    expect(toHex(e.encode([[":status", "200"]]))).toBe("88");
  });
  test("our cap below the peer's initial 4096 is announced in the first block", () => {
    const e = new HpackEncoder({ maxTableSize: 0 });
    expect(toHex(e.encode([[":status", "200"]]))).toBe("2088");
  });
});

describe("encode then decode (fast-check)", () => {
  const STATIC_NAMES = [":status", "content-type", "cache-control", "set-cookie", "date", "etag", "content-length", "location", "vary", "server"];
  const STATIC_VALUES = ["200", "304", "404", "gzip, deflate", "", "/", "text/html"];
  const name = fc.oneof(fc.constantFrom(...STATIC_NAMES), fc.stringMatching(/^[a-z0-9-]{1,12}$/));
  const latin1 = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u).toString("latin1"));
  const value = fc.oneof(fc.constantFrom(...STATIC_VALUES), latin1, fc.constantFrom("a", "b", "c"), fc.nat(3000).map((n) => "z".repeat(n)));
  const block = fc.array(fc.tuple(name, value), { maxLength: 12 });
  const step = fc.oneof(
    { weight: 5, arbitrary: block.map((b) => ({ block: b })) },
    { weight: 1, arbitrary: fc.constantFrom(0, 32, 100, 256, 1000, 4096, 65536).map((size) => ({ size })) },
  );
  test("arbitrary header lists across table-size changes round-trip, and both tables agree", () => {
    fcAssert(
      fc.property(
        fc.constantFrom(0, 64, 256, 4096, 65536),
        fc.constantFrom(0, 256, 4096, 16384),
        fc.boolean(),
        fc.array(step, { maxLength: 20 }),
        fc.subarray(STATIC_NAMES.concat(["x-secret"])),
        (settings, cap, huffman, steps, sensitiveNames) => {
          const d = new HpackDecoder({ maxTableSize: settings, maxHeaderListSize: BIG });
          const e = new HpackEncoder({ maxTableSize: cap, huffman });
          const sensitive = new Set(sensitiveNames);
          // Our SETTINGS_HEADER_TABLE_SIZE reaches the peer's encoder before its first block.
          e.setMaxTableSize(settings);
          for (const s of steps) {
            if ("size" in s) {
              e.setMaxTableSize(Math.min(s.size, settings));
              continue;
            }
            expect(d.decode(e.encode(s.block, sensitive))).toEqual(s.block);
            expect(d.tableEntries()).toEqual(e.tableEntries());
            expect(d.tableSize).toBe(e.tableSize);
          }
        },
      ),
      300,
    );
  });
});
