/**
 * HPACK (RFC 7541): the Appendix C examples (decoded fields, resulting dynamic table and size, and
 * our encoder's octets where its choices match the RFC's), a table of malformed blocks named by
 * section, header-list size limits and the HPACK bomb, and encode→decode properties.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { HpackDecoder, HpackError, type HeaderField } from "../../src/http2/hpack.ts";
import { SEQUENCES, hex } from "./hpack-vectors.ts";

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

/** [section and case, block hex, text the error message must contain]. */
const MALFORMED: [string, string, string][] = [
  ["§6.1 indexed field with index 0", "80", "§6.1"],
  ["§2.3.3 index 62 with an empty dynamic table", "be", "§2.3.3"],
  ["§2.3.3 index 2^31-1 (a valid integer) beyond the table", "ff80ffffff07", "§2.3.3"],
  ["§2.3.3 literal with indexing: name index beyond the table", "7e0161", "§2.3.3"],
  ["§2.3.3 literal without indexing: name index beyond the table", "0f2f0161", "§2.3.3"],
  ["§2.3.3 literal never indexed: name index beyond the table", "1f2f0161", "§2.3.3"],
  ["§5.1 block ends inside an integer", "ff", "§5.1"],
  ["§5.1 block ends inside a multi-octet integer", "ff8080", "§5.1"],
  ["§5.1 integer of 2^31 + 126 (over 2^31 - 1)", "ff808080808008", "§5.1"],
  ["§5.1 integer far over 2^32", "ffffffffffff0f", "§5.1"],
  ["§5.1 excessive zero continuation octets", "ff80808080808000", "§5.1"],
  ["§5.1 string length integer over 2^31 - 1", "407f8080808008", "§5.1"],
  ["§5.2 block ends before the name string", "40", "§5.2"],
  ["§5.2 block ends before the value string", "400161", "§5.2"],
  ["§5.2 name string runs past the block", "40056161", "§5.2"],
  ["§5.2 value string runs past the block", "4001610461", "§5.2"],
  ["§5.2 Huffman name containing EOS", "4084ffffffff0161", "§5.2"],
  ["§5.2 Huffman value with padding longer than 7 bits", "000161821fff", "§5.2"],
  ["§5.2 Huffman value with padding not all 1s", "0001618118", "§5.2"],
  ["§4.2 table size update after a field", "823fe11f", "§4.2"],
  ["§4.2 table size update between fields", "82203f", "§4.2"],
  ["§6.3 table size update above SETTINGS_HEADER_TABLE_SIZE", "3fe21f", "§6.3"],
  ["§6.3 table size update far above the limit", "3fe1ffffff06", "§6.3"],
];

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
