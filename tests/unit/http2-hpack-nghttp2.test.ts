/**
 * HPACK interop with an independent implementation: libnghttp2's HPACK (nghttp2_hd_*, the codec
 * inside curl, nghttp and h2load), called through bun:ffi. Our encoder's blocks must decode in
 * nghttp2 with the same fields, and nghttp2's blocks must decode in ours, across table sizes and
 * size changes. libnghttp2.so.14 comes with curl on Debian (libcurl4 depends on it), which .ci/run
 * installs; outside CI a missing library skips with a printed reason, under CI=true it fails.
 */
import { describe, expect, test } from "bun:test";
import { dlopen, FFIType, ptr, read, toArrayBuffer, type Pointer } from "bun:ffi";
import fs from "node:fs";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { HpackDecoder, HpackEncoder } from "../../src/http2/hpack.ts";
import { MALFORMED, SEQUENCES, hex } from "./hpack-vectors.ts";

const LIB = ["/usr/lib/x86_64-linux-gnu/libnghttp2.so.14", "/usr/lib/aarch64-linux-gnu/libnghttp2.so.14", "/usr/lib/libnghttp2.so.14"].find((p) => fs.existsSync(p));
if (LIB === undefined) {
  if (process.env.CI === "true") throw new Error("libnghttp2.so.14 not found: install curl (libcurl4 depends on libnghttp2-14)");
  console.warn("http2-hpack-nghttp2: skipped, libnghttp2.so.14 not found (comes with curl)");
}

const { symbols: ng } =
  LIB === undefined
    ? { symbols: null }
    : dlopen(LIB, {
        nghttp2_hd_deflate_new: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
        nghttp2_hd_deflate_del: { args: [FFIType.ptr], returns: FFIType.void },
        nghttp2_hd_deflate_change_table_size: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
        nghttp2_hd_deflate_bound: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64], returns: FFIType.u64 },
        nghttp2_hd_deflate_hd: { args: [FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
        nghttp2_hd_inflate_new: { args: [FFIType.ptr], returns: FFIType.i32 },
        nghttp2_hd_inflate_del: { args: [FFIType.ptr], returns: FFIType.void },
        nghttp2_hd_inflate_change_table_size: { args: [FFIType.ptr, FFIType.u64], returns: FFIType.i32 },
        nghttp2_hd_inflate_hd2: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i64 },
        nghttp2_hd_inflate_end_headers: { args: [FFIType.ptr], returns: FFIType.i32 },
      });

/** sizeof(nghttp2_nv) on LP64: name*, value*, namelen, valuelen, flags (padded). */
const NV_SIZE = 40;
const NV_FLAG_NO_INDEX = 0x01;
const INFLATE_FINAL = 0x01;
const INFLATE_EMIT = 0x02;

const bytes = (s: string) => Buffer.from(s, "latin1");

function newHandle(create: (out: Pointer) => number): Pointer {
  const out = new BigUint64Array(1);
  expect(create(ptr(out))).toBe(0);
  return Number(out[0]) as unknown as Pointer;
}

/** nghttp2's encoder: one block for a header list (keeps the backing buffers alive for the call). */
class NgDeflater {
  readonly h: Pointer;
  constructor(tableSize: number) {
    this.h = newHandle((p) => ng!.nghttp2_hd_deflate_new(p, tableSize));
  }
  changeTableSize(n: number): void {
    expect(ng!.nghttp2_hd_deflate_change_table_size(this.h, n)).toBe(0);
  }
  encode(fields: [string, string][], sensitive: ReadonlySet<string> = new Set()): Uint8Array {
    const keep: Buffer[] = [];
    const nva = new Uint8Array(Math.max(1, fields.length) * NV_SIZE);
    const dv = new DataView(nva.buffer);
    fields.forEach(([n, v], i) => {
      const nb = bytes(n + "\0");
      const vb = bytes(v + "\0");
      keep.push(nb, vb);
      dv.setBigUint64(i * NV_SIZE, BigInt(ptr(nb) as unknown as number), true);
      dv.setBigUint64(i * NV_SIZE + 8, BigInt(ptr(vb) as unknown as number), true);
      dv.setBigUint64(i * NV_SIZE + 16, BigInt(n.length), true);
      dv.setBigUint64(i * NV_SIZE + 24, BigInt(v.length), true);
      nva[i * NV_SIZE + 32] = sensitive.has(n) ? NV_FLAG_NO_INDEX : 0;
    });
    const bound = Number(ng!.nghttp2_hd_deflate_bound(this.h, ptr(nva), fields.length));
    const out = new Uint8Array(Math.max(1, bound));
    const n = Number(ng!.nghttp2_hd_deflate_hd(this.h, ptr(out), out.length, ptr(nva), fields.length));
    expect(n).toBeGreaterThanOrEqual(0);
    keep.length = 0;
    return out.slice(0, n);
  }
  close(): void {
    ng!.nghttp2_hd_deflate_del(this.h);
  }
}

/** nghttp2's decoder: a block to its fields, or the negative nghttp2 error code. */
class NgInflater {
  readonly h: Pointer;
  constructor() {
    this.h = newHandle((p) => ng!.nghttp2_hd_inflate_new(p));
  }
  changeTableSize(n: number): void {
    expect(ng!.nghttp2_hd_inflate_change_table_size(this.h, n)).toBe(0);
  }
  decode(block: Uint8Array): [string, string][] | number {
    const input = block.length === 0 ? new Uint8Array(1) : block;
    const nv = new Uint8Array(NV_SIZE);
    const flags = new Int32Array(1);
    const fields: [string, string][] = [];
    let off = 0;
    for (;;) {
      const rv = Number(ng!.nghttp2_hd_inflate_hd2(this.h, ptr(nv), ptr(flags), (Number(ptr(input)) + off) as unknown as Pointer, block.length - off, 1));
      if (rv < 0) return rv;
      off += rv;
      if (flags[0]! & INFLATE_EMIT) {
        const name = Buffer.from(toArrayBuffer(read.ptr(ptr(nv), 0) as unknown as Pointer, 0, Number(read.u64(ptr(nv), 16)))).toString("latin1");
        const vlen = Number(read.u64(ptr(nv), 24));
        const value = vlen === 0 ? "" : Buffer.from(toArrayBuffer(read.ptr(ptr(nv), 8) as unknown as Pointer, 0, vlen)).toString("latin1");
        fields.push([name, value]);
      }
      if (flags[0]! & INFLATE_FINAL) {
        ng!.nghttp2_hd_inflate_end_headers(this.h);
        return fields;
      }
      if ((flags[0]! & INFLATE_EMIT) === 0 && off >= block.length) return fields;
    }
  }
  close(): void {
    ng!.nghttp2_hd_inflate_del(this.h);
  }
}

const RUNS = 150;
const name = fc.oneof(
  fc.constantFrom(":status", "content-type", "cache-control", "set-cookie", "date", "etag", "content-length", "location", "vary", "server", "authorization"),
  fc.stringMatching(/^[a-z0-9-]{1,12}$/),
);
const value = fc.oneof(
  fc.constantFrom("200", "304", "404", "gzip, deflate", "", "/", "text/html", "a", "b"),
  fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u).toString("latin1")),
  fc.nat(2500).map((n) => "z".repeat(n)),
);
const blocks = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.array(fc.tuple(name, value), { maxLength: 10 }).map((b) => ({ block: b as [string, string][] })) },
    { weight: 1, arbitrary: fc.constantFrom(0, 64, 256, 1024, 4096).map((size) => ({ size })) },
  ),
  { maxLength: 15 },
);

describe.skipIf(LIB === undefined)("HPACK interop with libnghttp2", () => {
  test("our encoder → nghttp2's decoder (with table size changes and never-indexed fields)", () => {
    fcAssert(
      fc.property(fc.boolean(), blocks, (huffman, steps) => {
        const ours = new HpackEncoder({ huffman });
        const theirs = new NgInflater();
        try {
          for (const s of steps) {
            // The peer (nghttp2 as decoder) lowered or raised its SETTINGS_HEADER_TABLE_SIZE.
            if ("size" in s) {
              theirs.changeTableSize(s.size);
              ours.setMaxTableSize(s.size);
              continue;
            }
            expect(theirs.decode(ours.encode(s.block, new Set(["authorization"])))).toEqual(s.block);
          }
        } finally {
          theirs.close();
        }
      }),
      RUNS,
    );
  });
  test("nghttp2's encoder → our decoder (with table size updates it announces)", () => {
    fcAssert(
      fc.property(blocks, (steps) => {
        const theirs = new NgDeflater(4096);
        const ours = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 1 << 20 });
        try {
          for (const s of steps) {
            if ("size" in s) {
              theirs.changeTableSize(s.size);
              continue;
            }
            expect(ours.decode(theirs.encode(s.block, new Set(["authorization"])))).toEqual(s.block);
          }
        } finally {
          theirs.close();
        }
      }),
      RUNS,
    );
  });
  test("the RFC 7541 C.4 request blocks, as nghttp2 encodes them, decode in ours", () => {
    const theirs = new NgDeflater(4096);
    const ours = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 1 << 20 });
    const req: [string, string][] = [[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]];
    expect(ours.decode(theirs.encode(req))).toEqual(req);
    expect(ours.decode(theirs.encode([...req, ["cache-control", "no-cache"]]))).toEqual([...req, ["cache-control", "no-cache"]]);
    theirs.close();
  });
});

describe.skipIf(LIB === undefined)("malformed blocks: nghttp2 agrees", () => {
  for (const [title, wire] of MALFORMED) {
    test(title, () => {
      const theirs = new NgInflater();
      try {
        const got = theirs.decode(hex(wire));
        expect(typeof got === "number" ? "rejected" : JSON.stringify(got)).toBe("rejected");
      } finally {
        theirs.close();
      }
    });
  }
});

describe.skipIf(LIB === undefined)("RFC 7541 Appendix C blocks decode the same in nghttp2 (checks the transcribed vectors)", () => {
  for (const seq of SEQUENCES) {
    test(`${seq.section} ${seq.title}`, () => {
      const theirs = new NgInflater();
      try {
        // nghttp2 enforces §4.2: after its limit drops to 256, the next block must start with a
        // size update (0x3fe101 = 256), which the RFC's stand-alone examples leave out.
        if (seq.maxTableSize !== 4096) theirs.changeTableSize(seq.maxTableSize);
        seq.blocks.forEach((b, i) => {
          const update = i === 0 && seq.maxTableSize !== 4096 ? "3fe101" : "";
          expect(theirs.decode(hex(update + b.hex))).toEqual(b.fields);
        });
      } finally {
        theirs.close();
      }
    });
  }
});
