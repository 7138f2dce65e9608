// Spike for issue 19: can Bun 1.4.5's experimental `node:quic` carry our own HTTP/3 layer?
//
// Run: bun scripts/quic-spike.ts            (prints one PASS/FAIL line per check, exit 1 on any FAIL)
//
// Every check runs server and client in this process on 127.0.0.1 with the test certificate
// (tests/fixtures/tls/cert.pem, self-signed for "localhost"; the client uses verifyPeer "manual").
// Each check runs twice over the transport: with a raw ALPN ("dream-spike", node:quic's "default
// application": streams carry our bytes untouched) and with ALPN "h3" (node:quic selects its own
// HTTP/3 application by ALPN, see SessionOptions.alpn in @types/node/quic.d.ts). The findings are
// written down in docs/http3.md.
import { connect, listen, type QuicSession, type QuicStream } from "node:quic";
import { readFileSync } from "node:fs";
import { createPrivateKey } from "node:crypto";

const CERT = readFileSync(new URL("../tests/fixtures/tls/cert.pem", import.meta.url));
const KEY = createPrivateKey(readFileSync(new URL("../tests/fixtures/tls/key.pem", import.meta.url)));
const RAW_ALPN = "dream-spike";
const CHECK_TIMEOUT_MS = 10_000;

type Result = { name: string; ok: boolean; detail: string };
const results: Result[] = [];

async function readAll(stream: QuicStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const batch of stream) for (const c of batch) { parts.push(c); n += c.length; }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out[i] = x & 0xff; }
  return out;
}

/** Bun 1.4.5's `writer.write()` does not wait for drain as Node's docs say: it throws
 * ERR_INVALID_STATE "Stream write buffer is full". The wait is the stream/iter drainable protocol,
 * a symbol-keyed method on the writer that returns a promise (or null when there is room). */
function drainPromise(w: object): Promise<void> | null {
  const sym = Object.getOwnPropertySymbols(w).find((k) => k.description === "Stream.drainableProtocol");
  if (!sym) throw new Error("writer has no Stream.drainableProtocol method");
  return (w as Record<symbol, () => Promise<void> | null>)[sym]!();
}

export async function writeWithDrain(w: QuicStream["writer"], chunk: Uint8Array): Promise<number> {
  let waits = 0;
  while (!w.writeSync(chunk)) {
    const p = drainPromise(w);
    if (p) { await p; waits++; } else await sleep(1);
  }
  return waits;
}

const enc = (s: string) => new TextEncoder().encode(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type ServerBehaviour = (session: QuicSession) => void;

async function pair(alpn: string, onSession: ServerBehaviour, clientOnStream?: (s: QuicStream) => void, serverExtra: object = {}) {
  const endpoint = await listen(onSession, {
    ...serverExtra,
    sni: { "*": { keys: [KEY], certs: [CERT] } },
    alpn: [alpn],
    transportParams: { initialMaxStreamsBidi: 256, initialMaxStreamsUni: 256 },
  });
  const port = endpoint.address!.port;
  const client = await connect(`127.0.0.1:${port}`, {
    alpn,
    servername: "localhost",
    verifyPeer: "manual",
    reuseEndpoint: false,
    transportParams: { initialMaxStreamsBidi: 256, initialMaxStreamsUni: 256 },
    onstream: clientOnStream,
  });
  const info = await client.opened;
  return {
    client,
    info,
    async close() {
      await Promise.race([client.close().catch(() => {}), sleep(1000)]);
      await Promise.race([endpoint.close().catch(() => {}), sleep(1000)]);
    },
  };
}

async function check(name: string, fn: () => Promise<string>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const detail = await Promise.race([
      fn(),
      new Promise<string>((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS); }),
    ]);
    results.push({ name, ok: true, detail });
    console.log(`PASS ${name}: ${detail}`);
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    results.push({ name, ok: false, detail });
    console.log(`FAIL ${name}: ${detail}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Server echoes every bidirectional stream; counts what it saw. */
function echoServer(seen: { streams: number }): ServerBehaviour {
  return (session) => {
    session.onstream = async (stream) => {
      seen.streams++;
      if (stream.direction !== "bidi") return;
      const body = await readAll(stream);
      stream.setBody(body);
    };
  };
}

async function bidiEcho(alpn: string): Promise<string> {
  const seen = { streams: 0 };
  const p = await pair(alpn, echoServer(seen));
  try {
    const payload = enc("hello over a client-opened bidirectional stream");
    const s = await p.client.createBidirectionalStream({ body: payload });
    const got = await readAll(s);
    if (!sameBytes(got, payload)) throw new Error(`echo mismatch: ${got.length} bytes back; server onstream calls ${seen.streams}`);
    return `negotiated ${p.info.protocol}; ${payload.length} bytes echoed; server onstream calls ${seen.streams}`;
  } finally { await p.close(); }
}

async function bidiEchoWriter(alpn: string): Promise<string> {
  const seen = { streams: 0 };
  const p = await pair(alpn, echoServer(seen));
  try {
    const s = await p.client.createBidirectionalStream();
    const w = s.writer;
    const a = enc("part one, ");
    const b = enc("part two");
    if (!w.writeSync(a)) throw new Error("writeSync refused first chunk");
    await w.write(b); // room is available, so write() does not throw here
    await w.end();
    const got = await readAll(s);
    const want = new Uint8Array([...a, ...b]);
    if (!sameBytes(got, want)) throw new Error(`echo mismatch: got ${got.length} bytes`);
    return `writer.writeSync + write + end: ${want.length} bytes echoed`;
  } finally { await p.close(); }
}

async function uniBothWays(alpn: string): Promise<string> {
  const clientGot: Uint8Array[] = [];
  let serverGot: Uint8Array | undefined;
  let serverUniDone!: () => void;
  const serverUni = new Promise<void>((r) => { serverUniDone = r; });
  let clientUniDone!: () => void;
  const clientUni = new Promise<void>((r) => { clientUniDone = r; });
  const p = await pair(alpn, (session) => {
    session.onstream = async (stream) => {
      if (stream.direction !== "uni") return;
      serverGot = await readAll(stream);
      serverUniDone();
      // Answer on a server-opened unidirectional stream.
      await session.createUnidirectionalStream({ body: enc("server->client uni") });
    };
  }, async (stream) => {
    clientGot.push(await readAll(stream));
    clientUniDone();
  });
  try {
    await p.client.createUnidirectionalStream({ body: enc("client->server uni") });
    await serverUni;
    if (new TextDecoder().decode(serverGot) !== "client->server uni") throw new Error("server read wrong bytes");
    await clientUni;
    if (new TextDecoder().decode(clientGot[0]) !== "server->client uni") throw new Error("client read wrong bytes");
    return "client->server and server->client unidirectional streams delivered";
  } finally { await p.close(); }
}

/** The server writes 8 MiB with writeSync while the client does not read; the writer must refuse
 * (return false) long before everything is buffered, and all bytes must arrive once the client reads. */
async function backpressure(alpn: string): Promise<string> {
  const total = 8 * 1024 * 1024;
  const data = pattern(total, 7);
  let acceptedBeforeRead = -1;
  let drains = 0;
  let serverDone!: (s: string) => void;
  const serverResult = new Promise<string>((r) => { serverDone = r; });
  const p = await pair(alpn, (session) => {
    session.onstream = async (stream) => {
      await readAll(stream); // request is empty
      const w = stream.writer;
      let off = 0;
      const chunk = 16 * 1024;
      while (off < total && w.writeSync(data.subarray(off, off + chunk))) off += chunk;
      acceptedBeforeRead = off;
      // Continue, waiting for drain whenever the writer refuses.
      while (off < total) { drains += await writeWithDrain(w, data.subarray(off, off + chunk)); off += chunk; }
      await w.end();
      serverDone(`wrote ${off}`);
    };
  });
  try {
    const s = await p.client.createBidirectionalStream({ body: enc("go") });
    await sleep(500); // the reader pauses
    const buffered = acceptedBeforeRead;
    if (buffered < 0) throw new Error("server never started writing");
    if (buffered >= total) throw new Error(`writer accepted all ${total} bytes without pushback`);
    const got = await readAll(s);
    await serverResult;
    if (!sameBytes(got, data)) throw new Error(`received ${got.length} of ${total} bytes or different bytes`);
    return `writeSync refused after ${buffered} bytes while the reader paused; all ${total} bytes then arrived intact after ${drains} drain waits`;
  } finally { await p.close(); }
}

async function concurrent(alpn: string, n: number): Promise<string> {
  const seen = { streams: 0 };
  const p = await pair(alpn, echoServer(seen));
  try {
    const t = performance.now();
    const jobs = Array.from({ length: n }, async (_, i) => {
      const payload = pattern(1000 + i * 37, i + 1);
      const s = await p.client.createBidirectionalStream({ body: payload });
      const got = await readAll(s);
      if (!sameBytes(got, payload)) throw new Error(`stream ${i}: mismatch`);
    });
    const settled = await Promise.allSettled(jobs);
    const failed = settled.filter((r) => r.status === "rejected");
    if (failed.length) throw new Error(`${failed.length}/${n} streams failed: ${(failed[0] as PromiseRejectedResult).reason}`);
    return `${n} concurrent streams echoed in ${(performance.now() - t).toFixed(0)} ms (server onstream ${seen.streams})`;
  } finally { await p.close(); }
}

async function large(alpn: string): Promise<string> {
  const size = 10 * 1024 * 1024;
  const data = pattern(size, 42);
  const seen = { streams: 0 };
  const p = await pair(alpn, echoServer(seen));
  try {
    const t = performance.now();
    const s = await p.client.createBidirectionalStream({ body: data });
    const got = await readAll(s);
    if (!sameBytes(got, data)) throw new Error(`received ${got.length} of ${size} bytes or different bytes`);
    return `10 MiB echoed byte-for-byte in ${(performance.now() - t).toFixed(0)} ms`;
  } finally { await p.close(); }
}

/** Built-in HTTP/3 application (ALPN h3): a request made with `headers` reaches the server. */
async function h3BuiltinRequest(): Promise<string> {
  let reqHeaders: Record<string, unknown> | undefined;
  const p = await pair("h3", (session) => {
    session.onstream = async (stream) => {
      const headers = new Promise<Record<string, unknown>>((r) => { stream.onheaders = r; });
      const body = await readAll(stream);
      reqHeaders = await headers;
      stream.sendHeaders({ ":status": "200", "x-len": String(body.length) });
      stream.setBody(body);
    };
  });
  try {
    let status: unknown;
    const s = await p.client.createBidirectionalStream({
      headers: { ":method": "POST", ":scheme": "https", ":authority": "localhost", ":path": "/echo" },
      body: enc("h3 body"),
      onheaders(h) { status = h[":status"]; },
    });
    const got = new TextDecoder().decode(await readAll(s));
    if (got !== "h3 body" || status !== "200") throw new Error(`status ${status}, body ${JSON.stringify(got)}`);
    return `node:quic's own HTTP/3 layer carried the request; server saw headers ${JSON.stringify(reqHeaders)}`;
  } finally { await p.close(); }
}

/** Built-in HTTP/3 application: 100 concurrent requests and one 10 MiB response on one session. */
async function h3BuiltinLoad(): Promise<string> {
  const big = pattern(10 * 1024 * 1024, 9);
  let headersSeen = 0;
  let headersAfterEnd = 0;
  const p = await pair("h3", (session) => {
    session.onstream = async (stream) => {
      // Set synchronously in onstream. Finding: for a GET the readable side can end before
      // onheaders runs, so the request is only complete when both have happened.
      const headers = new Promise<Record<string, unknown>>((r) => { stream.onheaders = (h) => { headersSeen++; r(h); }; });
      let ended = false;
      await readAll(stream);
      ended = true;
      const h = await Promise.race([headers.then((x) => { if (ended) headersAfterEnd++; return x; }), sleep(2000).then(() => ({}))]);
      const path = String((h as Record<string, unknown>)[":path"] ?? "");
      stream.sendHeaders({ ":status": "200" });
      stream.setBody(path === "/big" ? big : enc(`ok ${path}`));
    };
  });
  try {
    const req = (path: string) => p.client.createBidirectionalStream({
      headers: { ":method": "GET", ":scheme": "https", ":authority": "localhost", ":path": path },
    }).then(readAll);
    const t = performance.now();
    const got = await Promise.all(Array.from({ length: 100 }, (_, i) => req(`/r${i}`)));
    const bad = got.filter((g, i) => new TextDecoder().decode(g) !== `ok /r${i}`).length;
    const t2 = performance.now();
    const bigGot = await req("/big");
    if (bad || !sameBytes(bigGot, big)) throw new Error(`${bad} wrong small responses (server onheaders ${headersSeen} times, ${headersAfterEnd} after the body ended); big ${bigGot.length} bytes`);
    return `100 concurrent GETs in ${(t2 - t).toFixed(0)} ms, 10 MiB response intact in ${(performance.now() - t2).toFixed(0)} ms (server onheaders ${headersSeen}, ${headersAfterEnd} of them after the request body had ended)`;
  } finally { await p.close(); }
}

const only = process.argv[2];
for (const alpn of [RAW_ALPN, "h3"]) {
  if (only && only !== alpn) continue;
  await check(`[${alpn}] bidi echo, client opens with body`, () => bidiEcho(alpn));
  await check(`[${alpn}] bidi echo, client writes through stream.writer`, () => bidiEchoWriter(alpn));
  await check(`[${alpn}] unidirectional both ways`, () => uniBothWays(alpn));
  await check(`[${alpn}] backpressure (reader pauses 500 ms)`, () => backpressure(alpn));
  await check(`[${alpn}] 100 concurrent bidi streams`, () => concurrent(alpn, 100));
  await check(`[${alpn}] 10 MiB stream byte-for-byte`, () => large(alpn));
}
if (!only || only === "h3" || only === "h3-builtin") {
  await check("[h3] built-in HTTP/3 request with headers + body", h3BuiltinRequest);
  await check("[h3] built-in HTTP/3: 100 concurrent GETs + 10 MiB response", h3BuiltinLoad);
}

const failed = results.filter((r) => !r.ok).length;
console.log(`\n${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
