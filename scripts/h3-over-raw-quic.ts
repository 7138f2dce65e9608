// Our own HTTP/3 layer (src/http3/connection.ts: frames, QPACK with the dynamic table, control and
// QPACK streams) carried by node:quic streams, client and server both ours. The ALPN is
// "dream-h3", not "h3": for "h3" node:quic would run its own HTTP/3 layer instead (docs/http3.md).
// This shows that the ALPN selection is the only thing between src/http3 and real HTTP/3 clients.
//
// Run: bun scripts/h3-over-raw-quic.ts   (PASS/FAIL per check, exit 1 on any FAIL)
import { connect, listen, type QuicSession, type QuicStream } from "node:quic";
import { readFileSync } from "node:fs";
import { createPrivateKey } from "node:crypto";
import { H3Connection, type H3Event } from "../src/http3/connection.ts";
import type { HeaderField } from "../src/http3/qpack.ts";

const ALPN = "dream-h3";
const CERT = readFileSync(new URL("../tests/fixtures/tls/cert.pem", import.meta.url));
const KEY = createPrivateKey(readFileSync(new URL("../tests/fixtures/tls/key.pem", import.meta.url)));
const BIG = new Uint8Array(10 * 1024 * 1024).map((_, i) => (i * 7 + (i >>> 13)) & 0xff);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Bun's writer.write() does not wait for drain; the writer's drainable protocol does (docs/runtime-notes.md). */
async function writeAll(stream: QuicStream, bytes: Uint8Array): Promise<void> {
  const w = stream.writer;
  const sym = Object.getOwnPropertySymbols(w).find((k) => k.description === "Stream.drainableProtocol")!;
  for (let off = 0; off < bytes.length; off += 16384) {
    const piece = bytes.subarray(off, off + 16384);
    while (!w.writeSync(piece)) {
      const p = (w as unknown as Record<symbol, () => Promise<void> | null>)[sym]!();
      if (p) await p;
      else await sleep(1);
    }
  }
}

/** One HTTP/3 endpoint on one QUIC session: our H3Connection plus the three outgoing critical streams. */
class Endpoint {
  readonly h3: H3Connection;
  private control!: QuicStream;
  private encoder!: QuicStream;
  private decoder!: QuicStream;
  constructor(readonly session: QuicSession, role: "client" | "server", private readonly onEvent: (e: H3Event, ep: Endpoint) => void) {
    this.h3 = new H3Connection({ role });
  }
  private ready!: Promise<void>;
  private encChain: Promise<void> = Promise.resolve();
  private decChain: Promise<void> = Promise.resolve();
  start(): Promise<void> {
    // Streams can be opened once the handshake is done (ERR_QUIC_OPEN_STREAM_FAILED before that).
    this.ready = this.session.opened.then(() => this.open());
    return this.ready;
  }
  private async open(): Promise<void> {
    this.control = await this.session.createUnidirectionalStream();
    this.encoder = await this.session.createUnidirectionalStream();
    this.decoder = await this.session.createUnidirectionalStream();
    this.control.writer.writeSync(this.h3.controlStreamPreface());
    this.encoder.writer.writeSync(this.h3.encoderStreamPreface());
    this.decoder.writer.writeSync(this.h3.decoderStreamPreface());
  }
  /** Reads a peer stream (or a request stream) into the H3 layer. */
  async read(stream: QuicStream): Promise<void> {
    const id = Number(stream.id);
    for await (const batch of stream) for (const chunk of batch) this.dispatch(this.h3.onStreamData(id, chunk));
    this.dispatch(this.h3.onStreamEnd(id));
  }
  private dispatch(events: H3Event[]): void {
    this.flushQpack();
    for (const e of events) this.onEvent(e, this);
  }
  flushQpack(): void {
    // Chained so each stream's bytes go out in order, after the streams exist.
    const enc = this.h3.takeEncoderStream();
    if (enc.length) this.encChain = this.encChain.then(() => this.ready).then(() => writeAll(this.encoder, enc));
    const dec = this.h3.takeDecoderStream();
    if (dec.length) this.decChain = this.decChain.then(() => this.ready).then(() => writeAll(this.decoder, dec));
  }
  /** HEADERS (after its QPACK inserts) and an optional body, then FIN. */
  async send(stream: QuicStream, fields: HeaderField[], body: Uint8Array | null): Promise<void> {
    const id = Number(stream.id);
    const headers = this.h3.encodeHeaders(id, fields);
    this.flushQpack();
    await writeAll(stream, headers);
    if (body && body.length) {
      await writeAll(stream, this.h3.encodeDataHeader(body.length));
      await writeAll(stream, body);
    }
    await stream.writer.end();
  }
}

// ---- server: GET /small, GET /big, HEAD /big, POST /echo ----
interface Req { fields: HeaderField[]; body: Uint8Array[] }
const endpoint = await listen((session) => {
  const reqs = new Map<number, Req>();
  const streams = new Map<number, QuicStream>();
  const ep = new Endpoint(session, "server", (e, self) => {
    if (e.type === "headers") reqs.set(e.streamId, { fields: e.fields, body: [] });
    else if (e.type === "data") reqs.get(e.streamId)?.body.push(e.payload.slice());
    else if (e.type === "end") {
      const r = reqs.get(e.streamId)!;
      reqs.delete(e.streamId);
      const get = (n: string) => r.fields.find(([k]) => k === n)?.[1];
      const method = get(":method");
      const path = get(":path");
      let status = "200";
      let body: Uint8Array;
      if (path === "/big") body = BIG;
      else if (path === "/echo") body = Buffer.concat(r.body);
      else if (path?.startsWith("/small")) body = new TextEncoder().encode(`small ${path}`);
      else { status = "404"; body = new TextEncoder().encode("not found"); }
      const fields: HeaderField[] = [[":status", status], ["content-length", String(body.length)], ["content-type", "application/octet-stream"], ["server", "dreamserver-h3-demo"]];
      self.send(streams.get(e.streamId)!, fields, method === "HEAD" ? null : body).catch((err) => console.error("server send", err));
    } else if (e.type === "stream-error") streams.get(e.streamId)?.destroy(undefined, { code: e.code });
  });
  ep.start().catch((err) => console.error("server start", err));
  session.onstream = (stream) => {
    if (stream.direction === "bidi") streams.set(Number(stream.id), stream);
    ep.read(stream).catch((err) => console.error("server read", err));
  };
}, { sni: { "*": { keys: [KEY], certs: [CERT] } }, alpn: [ALPN], transportParams: { initialMaxStreamsBidi: 256, initialMaxStreamsUni: 16 } });

// ---- client ----
type Resp = { fields: HeaderField[]; body: Uint8Array };
const pending = new Map<number, { fields: HeaderField[]; body: Uint8Array[]; done: (r: Resp) => void }>();
const session = await connect(`127.0.0.1:${endpoint.address!.port}`, {
  alpn: ALPN, verifyPeer: "manual", reuseEndpoint: false, transportParams: { initialMaxStreamsBidi: 256, initialMaxStreamsUni: 16 },
});
await session.opened;
const client = new Endpoint(session, "client", (e) => {
  if (e.type === "headers") pending.get(e.streamId)!.fields = e.fields;
  else if (e.type === "data") pending.get(e.streamId)!.body.push(e.payload.slice());
  else if (e.type === "end") {
    const p = pending.get(e.streamId)!;
    pending.delete(e.streamId);
    p.done({ fields: p.fields, body: Buffer.concat(p.body) });
  }
});
session.onstream = (stream) => { client.read(stream).catch((err) => console.error("client read", err)); };
await client.start();

async function request(method: string, path: string, body: Uint8Array | null = null): Promise<Resp> {
  const stream = await session.createBidirectionalStream();
  const result = new Promise<Resp>((done) => pending.set(Number(stream.id), { fields: [], body: [], done }));
  client.read(stream).catch((err) => console.error("client read", err));
  const fields: HeaderField[] = [[":method", method], [":scheme", "https"], [":authority", "localhost"], [":path", path], ["user-agent", "dream-h3-demo"]];
  if (body) fields.push(["content-length", String(body.length)]);
  await client.send(stream, fields, body);
  return result;
}

const status = (r: Resp) => r.fields.find(([k]) => k === ":status")?.[1];
let failed = 0;
async function check(name: string, fn: () => Promise<string>) {
  try {
    const detail = await Promise.race([fn(), sleep(20_000).then(() => { throw new Error("timed out after 20 s"); })]);
    console.log(`PASS ${name}: ${detail}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e instanceof Error ? e.message : e}`);
  }
}

await check("GET", async () => {
  const r = await request("GET", "/small");
  if (status(r) !== "200" || Buffer.from(r.body).toString() !== "small /small") throw new Error(`${status(r)} ${Buffer.from(r.body).toString()}`);
  return `200, ${r.body.length} bytes, response fields ${JSON.stringify(r.fields)}`;
});
await check("HEAD", async () => {
  const r = await request("HEAD", "/big");
  if (status(r) !== "200" || r.body.length !== 0 || r.fields.find(([k]) => k === "content-length")?.[1] !== String(BIG.length)) throw new Error("bad HEAD");
  return "200, content-length 10485760, no body";
});
await check("POST with a 1 MiB body", async () => {
  const body = BIG.subarray(0, 1 << 20);
  const r = await request("POST", "/echo", body);
  if (status(r) !== "200" || Buffer.compare(Buffer.from(r.body), Buffer.from(body)) !== 0) throw new Error(`${status(r)} ${r.body.length}`);
  return "echoed byte for byte";
});
await check("10 MiB response", async () => {
  const t = performance.now();
  const r = await request("GET", "/big");
  if (Buffer.compare(Buffer.from(r.body), Buffer.from(BIG)) !== 0) throw new Error(`${r.body.length} bytes or different bytes`);
  return `intact in ${(performance.now() - t).toFixed(0)} ms`;
});
await check("100 concurrent requests on one connection", async () => {
  const t = performance.now();
  const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => request("GET", `/small/${i}`)));
  const bad = rs.filter((r, i) => Buffer.from(r.body).toString() !== `small /small/${i}`).length;
  if (bad) throw new Error(`${bad} wrong responses`);
  return `100 responses correct in ${(performance.now() - t).toFixed(0)} ms; client QPACK inserts sent ${client.h3.qpackInserts.sent}, received ${client.h3.qpackInserts.received}`;
});

session.destroy();
endpoint.destroy();
console.log(failed ? `${failed} failed` : "all passed");
process.exit(failed ? 1 : 0);
