/**
 * The HTTP/3 connection layer with no transport: a client and a server H3Connection exchange the
 * bytes of their streams in memory. Covers the SETTINGS exchange, requests and responses through
 * QPACK with the dynamic table, a request whose HEADERS is blocked on QPACK inserts (its DATA is
 * held in order), stream and connection errors, and one request fed split at every octet.
 */
import { describe, expect, test } from "bun:test";
import { H3Connection, type H3Event } from "../../src/http3/connection.ts";
import { encodeData, encodeFrame, encodeHeaders, Setting } from "../../src/http3/frames.ts";
import { H3, H3Error, h3ErrorName } from "../../src/http3/h3-error.ts";
import type { HeaderField } from "../../src/http3/qpack.ts";

// QUIC stream IDs (RFC 9000 §2.1): client uni 2, 6, 10; server uni 3, 7, 11; client bidi 0, 4, 8.
const C_CONTROL = 2, C_ENCODER = 6, C_DECODER = 10;
const S_CONTROL = 3, S_ENCODER = 7, S_DECODER = 11;

const REQUEST: HeaderField[] = [[":method", "POST"], [":scheme", "https"], [":authority", "example.com"], [":path", "/upload"], ["content-type", "text/plain"], ["x-request-id", "abc-123"]];

function pair() {
  const client = new H3Connection({ role: "client" });
  const server = new H3Connection({ role: "server" });
  const serverEvents: H3Event[] = [];
  const clientEvents: H3Event[] = [];
  serverEvents.push(...server.onStreamData(C_CONTROL, client.controlStreamPreface()));
  serverEvents.push(...server.onStreamData(C_ENCODER, client.encoderStreamPreface()));
  serverEvents.push(...server.onStreamData(C_DECODER, client.decoderStreamPreface()));
  clientEvents.push(...client.onStreamData(S_CONTROL, server.controlStreamPreface()));
  clientEvents.push(...client.onStreamData(S_ENCODER, server.encoderStreamPreface()));
  clientEvents.push(...client.onStreamData(S_DECODER, server.decoderStreamPreface()));
  return { client, server, serverEvents, clientEvents };
}

const strip = (events: H3Event[]) => events.map((e) => (e.type === "data" ? { ...e, payload: Buffer.from(e.payload).toString() } : e));
const text = (s: string) => new TextEncoder().encode(s);

describe("H3Connection in memory", () => {
  test("SETTINGS are exchanged first and configure QPACK", () => {
    const { server, serverEvents, clientEvents } = pair();
    expect(serverEvents.map((e) => e.type)).toEqual(["settings"]);
    expect(clientEvents.map((e) => e.type)).toEqual(["settings"]);
    expect(server.peerSettings!.get(Setting.QPACK_MAX_TABLE_CAPACITY)).toBe(4096);
  });

  test("a POST and its response, the dynamic table in use both ways; a repeat request needs no new inserts", () => {
    const { client, server } = pair();
    for (const [i, streamId] of [0, 4].entries()) {
      const headers = client.encodeHeaders(streamId, REQUEST);
      const inserts = client.takeEncoderStream();
      if (i === 0) expect(inserts.length).toBeGreaterThan(0);
      else expect(inserts.length).toBe(0); // acknowledged entries are reused
      expect(strip([
        ...server.onStreamData(C_ENCODER, inserts),
        ...server.onStreamData(streamId, headers),
        ...server.onStreamData(streamId, client.encodeData(text("hello"))),
        ...server.onStreamEnd(streamId),
      ])).toEqual([{ type: "headers", streamId, fields: REQUEST }, { type: "data", streamId, payload: "hello" }, { type: "end", streamId }]);
      client.onStreamData(S_DECODER, server.takeDecoderStream()); // Section Acknowledgment
      const resp: HeaderField[] = [[":status", "200"], ["content-type", "text/plain"], ["server", "dreamserver"]];
      const rh = server.encodeHeaders(streamId, resp);
      client.onStreamData(S_ENCODER, server.takeEncoderStream());
      expect(strip([
        ...client.onStreamData(streamId, rh),
        ...client.onStreamData(streamId, server.encodeData(text("ok"))),
        ...client.onStreamEnd(streamId),
      ])).toEqual([{ type: "headers", streamId, fields: resp }, { type: "data", streamId, payload: "ok" }, { type: "end", streamId }]);
      server.onStreamData(C_DECODER, client.takeDecoderStream());
    }
    expect(server.openRequestStreams).toBe(0);
  });

  test("HEADERS blocked on QPACK inserts: DATA and FIN are held in order until the inserts arrive", () => {
    const { client, server } = pair();
    const headers = client.encodeHeaders(0, REQUEST);
    const inserts = client.takeEncoderStream();
    const early = [
      ...server.onStreamData(0, headers),
      ...server.onStreamData(0, client.encodeData(text("a"))),
      ...server.onStreamData(0, client.encodeData(text("b"))),
      ...server.onStreamEnd(0),
    ];
    expect(early).toEqual([]);
    expect(strip(server.onStreamData(C_ENCODER, inserts))).toEqual([
      { type: "headers", streamId: 0, fields: REQUEST }, { type: "data", streamId: 0, payload: "a" }, { type: "data", streamId: 0, payload: "b" }, { type: "end", streamId: 0 },
    ]);
  });

  test("trailers and an interim 103 response on the client", () => {
    const { client, server } = pair();
    server.onStreamData(0, encodeHeaders(Uint8Array.of(0, 0, 0xd1, 0xc1))); // GET / , static only
    const info = server.encodeHeaders(0, [[":status", "103"], ["link", "</a.css>; rel=preload"]]);
    const final = server.encodeHeaders(0, [[":status", "200"]]);
    const trailers = server.encodeHeaders(0, [["x-checksum", "1"]]);
    client.onStreamData(S_ENCODER, server.takeEncoderStream());
    const ev = [...client.onStreamData(0, info), ...client.onStreamData(0, final), ...client.onStreamData(0, server.encodeData(text("x"))), ...client.onStreamData(0, trailers), ...client.onStreamEnd(0)];
    expect(ev.map((e) => e.type)).toEqual(["headers", "headers", "data", "trailers", "end"]);
  });

  test("one request split at every octet gives the same events", () => {
    const { client } = pair();
    const wire = new Uint8Array([...client.encodeHeaders(0, REQUEST), ...client.encodeData(text("body-bytes"))]);
    const inserts = client.takeEncoderStream();
    const collect = (cut: number) => {
      const { server } = pair();
      const ev = [...server.onStreamData(C_ENCODER, inserts), ...server.onStreamData(0, wire.slice(0, cut)), ...server.onStreamData(0, wire.slice(cut)), ...server.onStreamEnd(0)];
      // Merge data pieces.
      const body = ev.filter((e) => e.type === "data").map((e) => (e.type === "data" ? Buffer.from(e.payload).toString() : "")).join("");
      return [ev.filter((e) => e.type !== "data"), body];
    };
    const want = collect(0);
    expect(want).toEqual([[{ type: "headers", streamId: 0, fields: REQUEST }, { type: "end", streamId: 0 }], "body-bytes"]);
    for (let cut = 1; cut <= wire.length; cut++) expect([cut, collect(cut)]).toEqual([cut, want]);
  });
});

describe("errors", () => {
  const connErr = (fn: () => unknown) => {
    try { fn(); } catch (e) { if (e instanceof H3Error) return `${h3ErrorName(e.code)}/${e.scope}`; throw e; }
    return "no error";
  };
  test("a second control stream", () => {
    const { client, server } = pair();
    expect(connErr(() => server.onStreamData(14, client.controlStreamPreface()))).toBe("H3_STREAM_CREATION_ERROR/connection");
  });
  test("closing the control, encoder or decoder stream", () => {
    for (const id of [C_CONTROL, C_ENCODER, C_DECODER]) expect(connErr(() => pair().server.onStreamEnd(id))).toBe("H3_CLOSED_CRITICAL_STREAM/connection");
  });
  test("a control stream that does not start with SETTINGS", () => {
    const server = new H3Connection({ role: "server" });
    expect(connErr(() => server.onStreamData(C_CONTROL, Uint8Array.of(0x00, 0x07, 0x01, 0x00)))).toBe("H3_MISSING_SETTINGS/connection");
  });
  test("a push stream from a client; a push stream to a client that never allowed push", () => {
    expect(connErr(() => pair().server.onStreamData(14, Uint8Array.of(0x01, 0x00)))).toBe("H3_STREAM_CREATION_ERROR/connection");
    expect(connErr(() => pair().client.onStreamData(15, Uint8Array.of(0x01, 0x00)))).toBe("H3_ID_ERROR/connection");
  });
  test("an unknown unidirectional stream type is ignored with STOP_SENDING (split type varint)", () => {
    const { server } = pair();
    expect(server.onStreamData(14, Uint8Array.of(0x40))).toEqual([]);
    expect(server.onStreamData(14, Uint8Array.of(0x21, 0xff, 0xff))).toEqual([{ type: "stop-reading", streamId: 14, code: H3.STREAM_CREATION_ERROR }]);
    expect(server.onStreamData(14, Uint8Array.of(1, 2, 3))).toEqual([]);
  });
  test("DATA before HEADERS on a request stream", () => {
    expect(connErr(() => pair().server.onStreamData(0, encodeData(text("x"))))).toBe("H3_FRAME_UNEXPECTED/connection");
  });
  test("a request stream that ends without HEADERS is a stream error", () => {
    const { server } = pair();
    server.onStreamData(0, encodeFrame(0x21, new Uint8Array(0)));
    expect(server.onStreamEnd(0)).toEqual([{ type: "stream-error", streamId: 0, code: H3.REQUEST_INCOMPLETE, message: expect.any(String) }]);
    expect(server.openRequestStreams).toBe(0);
  });
  test("a header section over our SETTINGS_MAX_FIELD_SECTION_SIZE is a stream error; the connection goes on", () => {
    const client = new H3Connection({ role: "client" });
    const server = new H3Connection({ role: "server", maxFieldSectionSize: 200 });
    client.onStreamData(S_CONTROL, server.controlStreamPreface());
    const big = client.encodeHeaders(0, [[":method", "GET"], ["x-big", "v".repeat(300)]]);
    expect(server.onStreamData(C_ENCODER, new Uint8Array([...client.encoderStreamPreface(), ...client.takeEncoderStream()]))).toEqual([]);
    expect(server.onStreamData(0, big)).toEqual([{ type: "stream-error", streamId: 0, code: H3.EXCESSIVE_LOAD, message: expect.any(String) }]);
    expect(server.onStreamData(4, client.encodeHeaders(4, [[":method", "GET"]])).map((e) => e.type)).toEqual(["headers"]);
    // A long literal (never indexed: cookie) is the same stream error, not a connection error.
    expect(server.onStreamData(8, client.encodeHeaders(8, [[":method", "GET"], ["cookie", "c".repeat(500)]])).map((e) => e.type)).toEqual(["stream-error"]);
  });
  test("data held behind a blocked section is bounded", () => {
    const { client } = pair();
    const server = new H3Connection({ role: "server", maxHeldBytes: 1000 });
    server.onStreamData(C_CONTROL, client.controlStreamPreface());
    server.onStreamData(0, client.encodeHeaders(0, REQUEST)); // blocked: inserts not delivered
    const ev = server.onStreamData(0, client.encodeData(new Uint8Array(2000)));
    expect(ev).toEqual([{ type: "stream-error", streamId: 0, code: H3.EXCESSIVE_LOAD, message: expect.any(String) }]);
    expect(server.takeDecoderStream()).toEqual(Uint8Array.of(0x40)); // Stream Cancellation for stream 0
  });
});
