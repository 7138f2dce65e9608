/**
 * RFC 7541 Appendix C examples as data: each block's wire octets (hex, as printed in the RFC),
 * the decoded list, and the dynamic table after it (newest first) with its size.
 */
export interface VectorBlock {
  hex: string;
  fields: [string, string][];
  table: [string, string][];
  tableSize: number;
}
export interface VectorSequence {
  section: string;
  title: string;
  maxTableSize: number;
  huffman: boolean;
  /** The RFC's encoder choices are reproducible by ours (literal-with-indexing, static names first). */
  encodable: boolean;
  blocks: VectorBlock[];
}

const date21 = "Mon, 21 Oct 2013 20:13:21 GMT";
const date22 = "Mon, 21 Oct 2013 20:13:22 GMT";
const loc = "https://www.example.com";
const cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

const req1: [string, string][] = [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]];
const req2: [string, string][] = [...req1, ["cache-control", "no-cache"]];
const req3: [string, string][] = [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], [":authority", "www.example.com"], ["custom-key", "custom-value"]];
const reqTables: [string, string][][] = [
  [[":authority", "www.example.com"]],
  [["cache-control", "no-cache"], [":authority", "www.example.com"]],
  [["custom-key", "custom-value"], ["cache-control", "no-cache"], [":authority", "www.example.com"]],
];

const res1: [string, string][] = [[":status", "302"], ["cache-control", "private"], ["date", date21], ["location", loc]];
const res2: [string, string][] = [[":status", "307"], ["cache-control", "private"], ["date", date21], ["location", loc]];
const res3: [string, string][] = [[":status", "200"], ["cache-control", "private"], ["date", date22], ["location", loc], ["content-encoding", "gzip"], ["set-cookie", cookie]];
const resTables: [string, string][][] = [
  [["location", loc], ["date", date21], ["cache-control", "private"], [":status", "302"]],
  [[":status", "307"], ["location", loc], ["date", date21], ["cache-control", "private"]],
  [["set-cookie", cookie], ["content-encoding", "gzip"], ["date", date22]],
];

export const SEQUENCES: VectorSequence[] = [
  {
    section: "C.2.1", title: "literal field with indexing", maxTableSize: 4096, huffman: false, encodable: true,
    blocks: [{ hex: "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572", fields: [["custom-key", "custom-header"]], table: [["custom-key", "custom-header"]], tableSize: 55 }],
  },
  {
    section: "C.2.2", title: "literal field without indexing", maxTableSize: 4096, huffman: false, encodable: false,
    blocks: [{ hex: "040c 2f73 616d 706c 652f 7061 7468", fields: [[":path", "/sample/path"]], table: [], tableSize: 0 }],
  },
  {
    section: "C.2.3", title: "literal field never indexed", maxTableSize: 4096, huffman: false, encodable: false,
    blocks: [{ hex: "1008 7061 7373 776f 7264 0673 6563 7265 74", fields: [["password", "secret"]], table: [], tableSize: 0 }],
  },
  {
    section: "C.2.4", title: "indexed field", maxTableSize: 4096, huffman: false, encodable: true,
    blocks: [{ hex: "82", fields: [[":method", "GET"]], table: [], tableSize: 0 }],
  },
  {
    section: "C.3", title: "requests without Huffman", maxTableSize: 4096, huffman: false, encodable: true,
    blocks: [
      { hex: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", fields: req1, table: reqTables[0]!, tableSize: 57 },
      { hex: "8286 84be 5808 6e6f 2d63 6163 6865", fields: req2, table: reqTables[1]!, tableSize: 110 },
      { hex: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65", fields: req3, table: reqTables[2]!, tableSize: 164 },
    ],
  },
  {
    section: "C.4", title: "requests with Huffman", maxTableSize: 4096, huffman: true, encodable: true,
    blocks: [
      { hex: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", fields: req1, table: reqTables[0]!, tableSize: 57 },
      { hex: "8286 84be 5886 a8eb 1064 9cbf", fields: req2, table: reqTables[1]!, tableSize: 110 },
      { hex: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", fields: req3, table: reqTables[2]!, tableSize: 164 },
    ],
  },
  {
    section: "C.5", title: "responses without Huffman, table size 256 (eviction)", maxTableSize: 256, huffman: false, encodable: true,
    blocks: [
      {
        hex: "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        fields: res1, table: resTables[0]!, tableSize: 222,
      },
      { hex: "4803 3330 37c1 c0bf", fields: res2, table: resTables[1]!, tableSize: 222 },
      {
        hex: "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
        fields: res3, table: resTables[2]!, tableSize: 215,
      },
    ],
  },
  {
    section: "C.6", title: "responses with Huffman, table size 256 (eviction)", maxTableSize: 256, huffman: true, encodable: true,
    blocks: [
      {
        hex: "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        fields: res1, table: resTables[0]!, tableSize: 222,
      },
      { hex: "4883 640e ffc1 c0bf", fields: res2, table: resTables[1]!, tableSize: 222 },
      {
        hex: "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        fields: res3, table: resTables[2]!, tableSize: 215,
      },
    ],
  },
];

/** Malformed blocks for a fresh decoder (SETTINGS 4096): [section and case, block hex, text the error message must contain]. */
export const MALFORMED: [string, string, string][] = [
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

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}
export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
