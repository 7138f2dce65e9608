/**
 * QPACK (RFC 9204): the static table, the Appendix B examples on both sides (decoder fed the RFC's
 * octets; encoder instructions compared with them), malformed encoder streams, field sections and
 * decoder streams with the error codes §6 requires, the blocked-stream limit, the field section size
 * limit, and encoder→decoder round trips under random delivery orders (eviction and blocking).
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { QPACK_STATIC_TABLE, QpackDecoder, QpackEncoder, type HeaderField } from "../../src/http3/qpack.ts";
import { H3, H3Error, h3ErrorName } from "../../src/http3/h3-error.ts";

const hex = (s: string) => Uint8Array.from((s.replace(/\s+/g, "").match(/../g) ?? []).map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof H3Error) return `${h3ErrorName(e.code)}/${e.scope}`;
    throw e;
  }
  return "no error";
}

describe("static table (Appendix A)", () => {
  test("99 entries; spot checks across the table", () => {
    expect(QPACK_STATIC_TABLE.length).toBe(99);
    const spots: [number, string, string][] = [
      [0, ":authority", ""], [1, ":path", "/"], [15, ":method", "CONNECT"], [17, ":method", "GET"], [23, ":scheme", "https"],
      [25, ":status", "200"], [31, "accept-encoding", "gzip, deflate, br"], [52, "content-type", "text/html; charset=utf-8"],
      [63, ":status", "100"], [71, ":status", "500"], [85, "content-security-policy", "script-src 'none'; object-src 'none'; base-uri 'none'"],
      [92, "server", ""], [98, "x-frame-options", "sameorigin"],
    ];
    for (const [i, n, v] of spots) expect([i, ...QPACK_STATIC_TABLE[i]!]).toEqual([i, n, v]);
  });
});

describe("RFC 9204 Appendix B (decoder fed the RFC's octets)", () => {
  const d = new QpackDecoder({ maxTableCapacity: 220, maxBlockedStreams: 4 });
  test("B.1 literal field line with name reference", () => {
    expect(d.decodeSection(0, hex("0000 510b 2f69 6e64 6578 2e68 746d 6c"))).toEqual([[":path", "/index.html"]]);
    expect(toHex(d.takeDecoderStream())).toBe("");
  });
  test("B.2 dynamic table: inserts, post-base references, Section Acknowledgment", () => {
    const unblocked = d.feedEncoderStream(hex("3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468"));
    expect(unblocked).toEqual([]);
    expect(d.table.capacity).toBe(220);
    expect(d.table.snapshot()).toEqual([[0, ":authority", "www.example.com"], [1, ":path", "/sample/path"]]);
    expect(d.table.size).toBe(106);
    expect(d.decodeSection(4, hex("0381 10 11"))).toEqual([[":authority", "www.example.com"], [":path", "/sample/path"]]);
    expect(toHex(d.takeDecoderStream())).toBe("84");
  });
  test("B.3 speculative insert: Insert Count Increment", () => {
    d.feedEncoderStream(hex("4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565"));
    expect(d.table.size).toBe(160);
    expect(toHex(d.takeDecoderStream())).toBe("01");
  });
  test("B.4 duplicate; the section arrives first and blocks; Stream Cancellation", () => {
    expect(d.decodeSection(8, hex("0500 80 c1 81"))).toBeNull();
    expect(d.blockedStreamCount).toBe(1);
    d.cancelStream(8);
    expect(toHex(d.takeDecoderStream())).toBe("48");
    expect(d.feedEncoderStream(hex("02"))).toEqual([]);
    expect(d.table.snapshot()[3]).toEqual([3, ":authority", "www.example.com"]);
    expect(d.table.size).toBe(217);
  });
  test("B.5 insert with dynamic name reference evicts entry 0", () => {
    d.feedEncoderStream(hex("810d 6375 7374 6f6d 2d76 616c 7565 32"));
    expect(d.table.snapshot()).toEqual([
      [1, ":path", "/sample/path"], [2, "custom-key", "custom-value"], [3, ":authority", "www.example.com"], [4, "custom-key", "custom-value2"],
    ]);
    expect(d.table.size).toBe(215);
  });
  test("B.4 without the cancellation: the blocked section decodes when the Duplicate arrives", () => {
    const d2 = new QpackDecoder({ maxTableCapacity: 220, maxBlockedStreams: 4 });
    d2.feedEncoderStream(hex("3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468"));
    d2.feedEncoderStream(hex("4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565"));
    expect(d2.decodeSection(8, hex("0500 80 c1 81"))).toBeNull();
    expect(d2.feedEncoderStream(hex("02"))).toEqual([
      { streamId: 8, fields: [[":authority", "www.example.com"], [":path", "/"], ["custom-key", "custom-value"]] },
    ]);
    expect(toHex(d2.takeDecoderStream())).toBe("88");
  });
  test("the encoder stream split at every octet builds the same table", () => {
    const wire = hex("3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468 4a63 7573 746f 6d2d 6b65 790c 6375 7374 6f6d 2d76 616c 7565 02 810d 6375 7374 6f6d 2d76 616c 7565 32");
    for (let cut = 0; cut <= wire.length; cut++) {
      const dx = new QpackDecoder({ maxTableCapacity: 220 });
      dx.feedEncoderStream(wire.slice(0, cut));
      dx.feedEncoderStream(wire.slice(cut));
      expect([cut, dx.table.size, dx.table.insertCount]).toEqual([cut, 215, 5]);
    }
  });
});

describe("RFC 9204 Appendix B (our encoder's instructions)", () => {
  test("B.1: with no dynamic table the section is the RFC's octets", () => {
    const e = new QpackEncoder({ peerMaxTableCapacity: 0, peerMaxBlockedStreams: 0, huffman: false });
    expect(toHex(e.encodeSection(0, [[":path", "/index.html"]]))).toBe("0000510b2f696e6465782e68746d6c");
    expect(toHex(e.takeEncoderStream())).toBe("");
  });
  test("B.2: Set Dynamic Table Capacity and the two inserts are the RFC's octets; the section uses Base = Insert Count", () => {
    const e = new QpackEncoder({ peerMaxTableCapacity: 220, peerMaxBlockedStreams: 1, huffman: false });
    const block = e.encodeSection(4, [[":authority", "www.example.com"], [":path", "/sample/path"]]);
    expect(toHex(e.takeEncoderStream())).toBe(toHex(hex("3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468")));
    // RIC 2 (encoded 3), Base 2 (delta 0), relative indices 1 and 0 (RFC: post-base 0 and 1; same meaning).
    expect(toHex(block)).toBe("03008180");
    expect(e.blockedStreams).toBe(1);
    e.feedDecoderStream(hex("84"));
    expect(e.knownReceivedCount).toBe(2);
    expect(e.blockedStreams).toBe(0);
    const d = new QpackDecoder({ maxTableCapacity: 220 });
    d.feedEncoderStream(hex("3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468"));
    expect(d.decodeSection(4, block)).toEqual([[":authority", "www.example.com"], [":path", "/sample/path"]]);
  });
  test("a second section reuses acknowledged entries without new inserts", () => {
    const e = new QpackEncoder({ peerMaxTableCapacity: 220, peerMaxBlockedStreams: 0, huffman: false });
    // peerMaxBlockedStreams 0: nothing may block, so the first section is all literals and inserts nothing.
    expect(toHex(e.encodeSection(0, [[":authority", "www.example.com"]]))).toBe("0000500f7777772e6578616d706c652e636f6d");
    expect(toHex(e.takeEncoderStream())).toBe("3fbd01");
  });
});

describe("malformed input and the error the RFC requires", () => {
  const B2_ENCODER = "3fbd01 c00f 7777 772e 6578 616d 706c 652e 636f 6d c10c 2f73 616d 706c 652f 7061 7468";
  const withB2 = () => {
    const d = new QpackDecoder({ maxTableCapacity: 220, maxBlockedStreams: 1 });
    d.feedEncoderStream(hex(B2_ENCODER));
    return d;
  };
  const sections: [string, string, string][] = [
    ["truncated prefix", "00", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["truncated string", "0000 510b 2f69", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["truncated integer", "0000 ff", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["static index 99", "0000 ff24", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["static name index 99", "0000 5f54 0176", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["dynamic reference with Required Insert Count 0", "0000 80", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["post-base reference with Required Insert Count 0", "0000 10", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["encoded Required Insert Count beyond 2 * MaxEntries", "0d00 80", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["Required Insert Count larger than needed", "0300 c1", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["reference at or beyond Required Insert Count", "0200 10 11", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["negative Base", "0382 81", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["Huffman string with EOS padding over 7 bits", "0000 5181 ff", "QPACK_DECOMPRESSION_FAILED/connection"],
    ["integer overflow", "0000 ffffffffffffff7f", "QPACK_DECOMPRESSION_FAILED/connection"],
  ];
  for (const [name, wire, want] of sections) {
    test(`field section: ${name}`, () => expect(errorOf(() => withB2().decodeSection(0, hex(wire)))).toBe(want));
  }
  test("field section: any dynamic reference when our table capacity is 0", () => {
    expect(errorOf(() => new QpackDecoder({ maxTableCapacity: 0 }).decodeSection(0, hex("0200 80")))).toBe("QPACK_DECOMPRESSION_FAILED/connection");
  });
  test("field section: valid post-base and negative-Base forms decode", () => {
    const d = withB2();
    // S=1, delta 0: Base = RIC - 1 = 1; relative 0 -> abs 0; post-base 0 -> abs 1.
    expect(d.decodeSection(0, hex("0380 80 10"))).toEqual([[":authority", "www.example.com"], [":path", "/sample/path"]]);
    // Literal with post-base name reference: 0000 N idx(3), value.
    expect(d.decodeSection(4, hex("0380 00 0178"))).toEqual([[":path", "x"]]);
  });
  const encoderStreams: [string, string][] = [
    ["capacity beyond our maximum", "3fe101"],
    ["insert with static name index 99", "ff24 00"],
    ["insert with a dynamic name reference into an empty table", "3fbd01 80 00"],
    ["duplicate of a missing entry", "3fbd01 00"],
    ["insert larger than the capacity", "c0 0161"],
    ["insert with an invalid Huffman string", "3fbd01 c0 81ff"],
  ];
  for (const [name, wire] of encoderStreams) {
    test(`encoder stream: ${name}`, () => {
      expect(errorOf(() => new QpackDecoder({ maxTableCapacity: 220 }).feedEncoderStream(hex(wire)))).toBe("QPACK_ENCODER_STREAM_ERROR/connection");
    });
  }
  const decoderStreams: [string, string][] = [
    ["Section Acknowledgment with nothing outstanding", "84"],
    ["Insert Count Increment of 0", "00"],
    ["Insert Count Increment beyond the inserts sent", "05"],
  ];
  for (const [name, wire] of decoderStreams) {
    test(`decoder stream: ${name}`, () => {
      const e = new QpackEncoder({ peerMaxTableCapacity: 220, peerMaxBlockedStreams: 4 });
      e.encodeSection(0, [["x-a", "1"]]); // one insert, section on stream 0
      expect(errorOf(() => e.feedDecoderStream(hex(wire)))).toBe("QPACK_DECODER_STREAM_ERROR/connection");
    });
  }
  test("blocked streams beyond SETTINGS_QPACK_BLOCKED_STREAMS", () => {
    const d = withB2(); // maxBlockedStreams 1, Insert Count 2
    expect(d.decodeSection(0, hex("0400 80"))).toBeNull(); // RIC 3
    expect(errorOf(() => d.decodeSection(4, hex("0400 80")))).toBe("QPACK_DECOMPRESSION_FAILED/connection");
  });
  test("field section over SETTINGS_MAX_FIELD_SECTION_SIZE: a stream error, and the section is still acknowledged", () => {
    const d = new QpackDecoder({ maxTableCapacity: 220, maxFieldSectionSize: 100 });
    d.feedEncoderStream(hex(B2_ENCODER));
    d.takeDecoderStream();
    // :authority (10+15+32 = 57) + :path (5+12+32 = 49) = 106 > 100.
    expect(errorOf(() => d.decodeSection(4, hex("0381 10 11")))).toBe("H3_EXCESSIVE_LOAD/stream");
    expect(toHex(d.takeDecoderStream())).toBe("84");
  });
  test("a section cut at every octet: an error or a prefix of its fields, never anything else", () => {
    const wire = hex("0381 10 11 510b 2f69 6e64 6578 2e68 746d 6c 2178 017a");
    expect(withB2().decodeSection(0, wire)).toEqual([[":authority", "www.example.com"], [":path", "/sample/path"], [":path", "/index.html"], ["x", "z"]]);
    const full = withB2().decodeSection(0, wire)!;
    for (let cut = 0; cut < wire.length; cut++) {
      let got: HeaderField[] | null = null;
      try {
        got = withB2().decodeSection(0, wire.subarray(0, cut));
      } catch (e) {
        expect((e as H3Error).code).toBe(H3.QPACK_DECOMPRESSION_FAILED);
        continue;
      }
      expect(full.slice(0, got!.length)).toEqual(got!);
    }
  });
});

// ---- Round trips ----

const NAMES = [":method", ":path", ":authority", "content-type", "cache-control", "x-custom", "x-trace-id", "cookie", "set-cookie", "etag", "user-agent"];
const fieldArb: fc.Arbitrary<HeaderField> = fc.tuple(
  fc.constantFrom(...NAMES),
  fc.oneof(fc.constantFrom("GET", "/", "/a", "text/html", "no-cache", "v1", "v2", ""), fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, "a"))),
) as fc.Arbitrary<HeaderField>;

/** Steps of a delivery schedule: 0 = deliver encoder-stream bytes, 1 = decode next section, 2 = deliver decoder-stream bytes. */
const scheduleArb = fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 80 });

let evictions = 0;
let blockings = 0;

function simulate(capacity: number, maxBlocked: number, huffman: boolean, sections: HeaderField[][], schedule: number[]): void {
  const enc = new QpackEncoder({ peerMaxTableCapacity: capacity, peerMaxBlockedStreams: maxBlocked, huffman });
  const dec = new QpackDecoder({ maxTableCapacity: capacity, maxBlockedStreams: maxBlocked, maxFieldSectionSize: 1 << 20 });
  const encoderChannel: Uint8Array[] = [];
  const decoderChannel: Uint8Array[] = [];
  const blocks: { streamId: number; block: Uint8Array }[] = [];
  const decoded = new Map<number, HeaderField[]>();
  let next = 0;
  let steps = 0;
  const encodeNext = () => {
    const streamId = next * 4;
    blocks.push({ streamId, block: enc.encodeSection(streamId, sections[next]!) });
    encoderChannel.push(enc.takeEncoderStream());
    next++;
  };
  const deliverEncoder = () => {
    const chunk = encoderChannel.shift();
    if (!chunk) return;
    for (const u of dec.feedEncoderStream(chunk)) decoded.set(u.streamId, u.fields);
  };
  const decodeOne = () => {
    const b = blocks.shift();
    if (!b) return;
    const fields = dec.decodeSection(b.streamId, b.block);
    if (fields) decoded.set(b.streamId, fields);
    else blockings++;
  };
  const deliverDecoder = () => {
    decoderChannel.push(dec.takeDecoderStream());
    enc.feedDecoderStream(decoderChannel.shift()!);
  };
  // The encoder runs ahead of the schedule: encode while sections remain, interleaving deliveries.
  while (next < sections.length || encoderChannel.length || blocks.length) {
    if (next < sections.length && (steps % 3 === 0 || schedule[steps % Math.max(1, schedule.length)] === undefined)) encodeNext();
    const step = schedule.length ? schedule[steps % schedule.length]! : 0;
    if (step === 0) deliverEncoder();
    else if (step === 1) decodeOne();
    else deliverDecoder();
    steps++;
    if (steps > 10_000) { // drain in order so every run terminates
      while (next < sections.length) encodeNext();
      while (encoderChannel.length || blocks.length) { deliverEncoder(); decodeOne(); }
    }
  }
  deliverDecoder();
  if (dec.table.firstIndex > 0) evictions++;
  expect(dec.blockedStreamCount).toBe(0);
  sections.forEach((s, i) => expect([i, decoded.get(i * 4)]).toEqual([i, s]));
  // Both tables hold the same entries.
  expect(dec.table.snapshot()).toEqual(enc.table.snapshot());
}

describe("encoder → decoder round trips", () => {
  test("property: random fields, capacities and delivery orders decode to the input, within the blocked-stream limit", () => {
    evictions = 0;
    blockings = 0;
    fcAssert(fc.property(
      fc.constantFrom(0, 64, 100, 200, 220, 4096),
      fc.integer({ min: 0, max: 3 }),
      fc.boolean(),
      fc.array(fc.array(fieldArb, { maxLength: 12 }), { minLength: 1, maxLength: 20 }),
      scheduleArb,
      (capacity, maxBlocked, huffman, sections, schedule) => simulate(capacity, maxBlocked, huffman, sections, schedule),
    ), 400);
    // The property must actually have exercised eviction and blocked streams.
    expect(evictions).toBeGreaterThan(10);
    expect(blockings).toBeGreaterThan(10);
  });
  test("a small table under many distinct fields evicts and stays in sync", () => {
    const sections = Array.from({ length: 50 }, (_, i): HeaderField[] => [[":path", `/p${i}`], ["x-custom", `value-${i % 7}`], ["etag", `"${i}"`]]);
    simulate(200, 2, true, sections, [0, 1, 2]);
    simulate(200, 2, true, sections, [1, 1, 0, 2]);
  });
});

describe("table abuse stays bounded", () => {
  test("100 000 inserts through the encoder stream keep the table within its capacity", () => {
    const d = new QpackDecoder({ maxTableCapacity: 4096 });
    const w = new QpackEncoder({ peerMaxTableCapacity: 4096, peerMaxBlockedStreams: 0, huffman: false });
    d.feedEncoderStream(w.takeEncoderStream()); // Set Dynamic Table Capacity 4096
    // Insert with Literal Name "x-flood" = 68 octets of value each: 7 + 68 + 32 = 107 octets per entry.
    const one = hex("47782d666c6f6f64 44" + "61".repeat(68));
    const batch = new Uint8Array(one.length * 1000);
    for (let i = 0; i < 1000; i++) batch.set(one, i * one.length);
    for (let i = 0; i < 100; i++) d.feedEncoderStream(batch);
    expect(d.table.insertCount).toBe(100_000);
    expect(d.table.size).toBeLessThanOrEqual(4096);
    expect(d.table.snapshot().length).toBe(Math.floor(4096 / 107));
  });
  test("a string literal that claims more than the limit fails at once, before its octets arrive", () => {
    const d = new QpackDecoder({ maxTableCapacity: 4096, maxFieldSectionSize: 8192 });
    // Insert with static name ref :authority, value length 0x7f + 0x3fff81 (~4 MiB), no octets yet.
    expect(errorOf(() => d.feedEncoderStream(hex("3fe11f c0 7f ffff ff01")))).toBe("QPACK_ENCODER_STREAM_ERROR/connection");
  });
  test("a field section that names a huge string fails without allocating it", () => {
    const d = new QpackDecoder({ maxTableCapacity: 0, maxFieldSectionSize: 8192 });
    expect(errorOf(() => d.decodeSection(0, hex("0000 51 7f ffff ff0f")))).toBe("QPACK_DECOMPRESSION_FAILED/connection");
  });
  test("blocked sections are capped by SETTINGS_QPACK_BLOCKED_STREAMS", () => {
    const d = new QpackDecoder({ maxTableCapacity: 4096, maxBlockedStreams: 16 });
    for (let s = 0; s < 16; s++) expect(d.decodeSection(s * 4, hex("0200 80"))).toBeNull();
    expect(errorOf(() => d.decodeSection(64, hex("0200 80")))).toBe("QPACK_DECOMPRESSION_FAILED/connection");
    expect(d.blockedStreamCount).toBe(16);
  });
});

describe("Required Insert Count decoding wraps (§4.5.1.1)", () => {
  // Capacity 100: MaxEntries 3, FullRange 6. Ten inserts of 34-octet entries; the table keeps 8 and 9.
  // MaxValue = 10 + 3 = 13, MaxWrapped = 12, so encoded e means 11 + e, minus 6 when above 13.
  const decoder = () => {
    const d = new QpackDecoder({ maxTableCapacity: 100, maxBlockedStreams: 4 });
    const parts = [0x3f, 0x45]; // Set Dynamic Table Capacity 100
    for (let i = 0; i < 10; i++) parts.push(0x42, 0x61, 0x30 + i, 0x00); // Insert With Literal Name "a<i>" = ""
    d.feedEncoderStream(Uint8Array.from(parts));
    expect(d.table.snapshot().map(([abs]) => abs)).toEqual([8, 9]);
    return d;
  };
  const cases: [encoded: number, want: string][] = [
    [5, "RIC 10 -> a9"],
    [4, "RIC 9 -> a8"],
    [3, "RIC 8 -> evicted entry 7: QPACK_DECOMPRESSION_FAILED"],
    [1, "RIC 12 -> blocked"],
    [2, "RIC 13 -> blocked"],
    [6, "RIC 11 -> blocked"],
    [7, "beyond FullRange: QPACK_DECOMPRESSION_FAILED"],
  ];
  for (const [encoded, want] of cases) {
    test(`encoded ${encoded}: ${want}`, () => {
      const d = decoder();
      let got: string;
      try {
        const fields = d.decodeSection(0, Uint8Array.of(encoded, 0x00, 0x80)); // Base = RIC; relative 0 = RIC - 1
        got = fields === null ? "blocked" : `a${fields[0]![0].slice(1)}`;
      } catch (e) {
        got = h3ErrorName((e as H3Error).code);
      }
      const expected = want.includes(":") ? want.split(": ")[1]! : want.split("-> ")[1]!;
      expect(got).toBe(expected);
    });
  }
});
