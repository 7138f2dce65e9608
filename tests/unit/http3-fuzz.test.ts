/**
 * Arbitrary bytes into every HTTP/3 parser: the only failure allowed is an H3Error (a protocol
 * error with a code to send), never a TypeError, RangeError or a hang.
 */
import { test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import { FrameReader } from "../../src/http3/frames.ts";
import { H3Connection } from "../../src/http3/connection.ts";
import { H3Error } from "../../src/http3/h3-error.ts";
import { QpackDecoder, QpackEncoder } from "../../src/http3/qpack.ts";

function onlyH3Errors(fn: () => void): boolean {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof H3Error)) throw e;
  }
  return true;
}

const chunks = fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 });

test("FrameReader: any bytes, any chunking, every stream kind and role", () => {
  fcAssert(fc.property(fc.constantFrom("request", "control", "push"), fc.constantFrom("server", "client"), chunks, fc.boolean(), (kind, role, cs, fin) =>
    onlyH3Errors(() => {
      const r = new FrameReader(kind as "request", role as "server", { maxFrameLength: 256 });
      for (const c of cs) r.feed(c);
      if (fin) r.finish();
    })), 3000);
});

test("QpackDecoder: any encoder-stream bytes, then any field sections", () => {
  fcAssert(fc.property(chunks, chunks, (enc, sections) =>
    onlyH3Errors(() => {
      const d = new QpackDecoder({ maxTableCapacity: 256, maxBlockedStreams: 2, maxFieldSectionSize: 1024 });
      for (const c of enc) d.feedEncoderStream(c);
      sections.forEach((s, i) => {
        try {
          d.decodeSection(i * 4, s);
        } catch (e) {
          if (!(e instanceof H3Error) || e.scope !== "stream") throw e;
        }
      });
      d.takeDecoderStream();
    })), 3000);
});

test("QpackEncoder: any decoder-stream bytes after some sections", () => {
  fcAssert(fc.property(chunks, (cs) =>
    onlyH3Errors(() => {
      const e = new QpackEncoder({ peerMaxTableCapacity: 256, peerMaxBlockedStreams: 2 });
      e.encodeSection(0, [["x-a", "1"], ["x-b", "2"]]);
      e.encodeSection(4, [["x-a", "1"]]);
      for (const c of cs) e.feedDecoderStream(c);
    })), 3000);
});

test("H3Connection: any bytes on any stream", () => {
  const stream = fc.constantFrom(0, 2, 3, 4, 6, 10, 14);
  fcAssert(fc.property(fc.array(fc.tuple(stream, fc.uint8Array({ maxLength: 48 }), fc.boolean()), { maxLength: 12 }), (ops) =>
    onlyH3Errors(() => {
      const c = new H3Connection({ role: "server", maxFrameLength: 256 });
      for (const [id, bytes, end] of ops) {
        c.onStreamData(id, bytes);
        if (end) c.onStreamEnd(id);
      }
    })), 3000);
});
