/**
 * HTTP/2 end to end (issue 17): the real server over h2c (prior knowledge) and TLS (ALPN h2),
 * driven by a raw client (tests/e2e/h2-client.ts) and by real clients (curl, nghttp, h2load).
 * Handlers run unchanged: static with ranges, conditionals and compression; the proxy to an
 * HTTP/1.1 backend with hop-by-hop mapping. Flow control, graceful GOAWAY, and the known
 * HTTP/2 attacks (each with a test and a memory bound).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { encodeFrame, Flags, FrameType, encodeHeaders } from "../../src/http2/frames.ts";
import { ErrorCode } from "../../src/http2/errors.ts";
import { SettingId } from "../../src/http2/settings.ts";
import { HpackEncoder } from "../../src/http2/hpack.ts";
import { get, waitFor } from "./harness.ts";
import { H2Client, header, windowUpdate } from "./h2-client.ts";
import { type H2Env, rssOf, startH2Env } from "./h2-setup.ts";
import { describeRun, killAll, need, run, skipWithout } from "./real-clients-helpers.ts";

let env: H2Env;
beforeAll(async () => {
  env = await startH2Env();
});
afterAll(async () => {
  killAll();
  await env.stop();
});

const clients: H2Client[] = [];
async function connect(opts: Parameters<typeof H2Client.connect>[1] = {}): Promise<H2Client> {
  const c = await H2Client.connect(opts.tls ? env.tls : env.h2c, opts);
  clients.push(c);
  return c;
}
afterAll(() => {
  for (const c of clients) c.close();
});

describe("serving over h2c and h2", () => {
  test("GET a static file over h2c: lowercase fields, no connection-specific ones, request id", async () => {
    const c = await connect();
    const r = await c.response(c.request("/index.html"));
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("<h1>hello h2</h1>\n");
    for (const [n] of r.headers) expect(n).toBe(n.toLowerCase());
    expect(r.headers.map((h) => h[0])).not.toContain("connection");
    expect(header(r, "content-length")).toBe("18");
    expect(header(r, "x-request-id")).toBeTruthy();
    expect(header(r, "server")).toBeTruthy();
  });

  test("the access log names the protocol: proto=HTTP/2 for a stream, none for HTTP/1.1", async () => {
    const c = await connect();
    const r = await c.response(c.request("/hello?proto-log"));
    expect(r.status).toBe(200);
    const id = header(r, "x-request-id")!;
    const line = await waitFor(() => env.server.readLog().split("\n").find((l) => l.includes(`id=${id}`)) ?? null);
    expect(line).toContain(" | proto=HTTP/2");
    const h1 = await get(env.h2c, "/hello?h1-log");
    const id1 = h1.header("x-request-id")!;
    const line1 = await waitFor(() => env.server.readLog().split("\n").find((l) => l.includes(`id=${id1}`)) ?? null);
    expect(line1).not.toContain("proto=");
  });

  test("HTTP/1.1 keeps working on an h2c address (told apart by the preface)", async () => {
    const r = await get(env.h2c, "/hello");
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("hello\n");
  });

  test("the h2c preface on a site without h2c is not HTTP/2", async () => {
    const c = await H2Client.connect(env.plain);
    clients.push(c);
    await c.until(() => c.closed || c.bytesIn > 0, 5000, "an answer");
    expect(c.received.some((r) => r.frame.type === FrameType.SETTINGS)).toBe(false);
  });

  test("GET over TLS with ALPN h2, 1 MiB body intact through flow control", async () => {
    const c = await connect({ tls: true });
    const r = await c.response(c.request("/big.bin", { scheme: "https", authority: "a.example" }));
    expect(r.status, c.describe() + " " + Buffer.from(c.goaway()?.payload ?? []).toString()).toBe(200);
    expect(r.body.equals(env.big)).toBe(true);
  });

  test("static: range, conditional and compression work unchanged", async () => {
    const c = await connect();
    const range = await c.response(c.request("/big.bin", { headers: [["range", "bytes=10-19"]] }));
    expect(range.status).toBe(206);
    expect(header(range, "content-range")).toBe(`bytes 10-19/${env.big.length}`);
    expect(range.body.equals(env.big.subarray(10, 20))).toBe(true);
    const first = await c.response(c.request("/index.html"));
    const etag = header(first, "etag")!;
    const cond = await c.response(c.request("/index.html", { headers: [["if-none-match", etag]] }));
    expect(cond.status).toBe(304);
    expect(cond.body.length).toBe(0);
    const gz = await c.response(c.request("/style.css", { headers: [["accept-encoding", "gzip"]] }));
    expect(gz.status).toBe(200);
    expect(header(gz, "content-encoding")).toBe("gzip");
    expect(Buffer.from(Bun.gunzipSync(new Uint8Array(gz.body))).toString()).toBe("body { color: black; }\n".repeat(200));
  });

  test("HEAD: headers with content-length, no DATA", async () => {
    const c = await connect();
    const r = await c.response(c.request("/big.bin", { method: "HEAD" }));
    expect(r.status).toBe(200);
    expect(header(r, "content-length")).toBe(String(env.big.length));
    expect(r.body.length).toBe(0);
  });

  test("POST through the proxy to an HTTP/1.1 backend: body, cookies joined (§8.2.3), Via 2, no h2-only fields", async () => {
    const c = await connect();
    const body = Buffer.alloc(300_000, 0x61);
    const id = c.request("/api/echo", { method: "POST", body, headers: [["cookie", "a=1"], ["cookie", "b=2"], ["te", "trailers"], ["content-length", String(body.length)]] });
    const r = await c.response(id);
    expect(r.status, c.describe()).toBe(200);
    expect(r.body.equals(body)).toBe(true);
    const seen = JSON.parse(header(r, "x-seen")!);
    expect(seen.cookie).toBe("a=1; b=2");
    expect(seen.via).toMatch(/^2 /);
    expect(seen.host).toBe("localhost");
    // The backend's hop-by-hop fields never reach an h2 client (§8.2.2).
    expect(header(r, "connection")).toBeUndefined();
    expect(header(r, "keep-alive")).toBeUndefined();
  });

  test("POST without content-length (body framed by DATA frames only) reaches the backend", async () => {
    const c = await connect();
    const r = await c.response(c.request("/api/x", { method: "POST", body: "streamed body" }));
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("streamed body");
  });

  test("expect: 100-continue: an interim 100 HEADERS, then the body is read and proxied", async () => {
    const c = await connect();
    const id = c.takeId();
    c.send(c.headersFrame(id, [[":method", "POST"], [":scheme", "http"], [":authority", "x"], [":path", "/api/up"], ["expect", "100-continue"], ["content-length", "5"]], false));
    await c.until(() => c.received.some((r) => r.frame.streamId === id && r.fields?.some((f) => f[0] === ":status" && f[1] === "100")), 5000, "100 Continue");
    c.send(encodeFrame(FrameType.DATA, Flags.END_STREAM, id, Buffer.from("hello")));
    const r = await c.response(id);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("hello");
  });

  test("50 concurrent streams on one connection", async () => {
    const c = await connect();
    const ids = Array.from({ length: 50 }, (_, i) => c.request(i % 2 ? "/hello" : "/index.html"));
    const rs = await Promise.all(ids.map((id) => c.response(id)));
    expect(rs.every((r) => r.status === 200)).toBe(true);
  });
});

describe("flow control", () => {
  test("a stream whose window is shut does not block another stream", async () => {
    const c = await connect({ settings: [[SettingId.INITIAL_WINDOW_SIZE, 0]] });
    c.autoWindow = false;
    const slow = c.request("/big.bin");
    await c.until(() => c.received.some((r) => r.frame.type === FrameType.HEADERS && r.frame.streamId === slow), 5000, "slow headers");
    const fast = c.request("/hello");
    await c.until(() => c.received.some((r) => r.frame.type === FrameType.HEADERS && r.frame.streamId === fast), 5000, "fast headers");
    c.send(windowUpdate(fast, 100));
    const r = await c.response(fast);
    expect(r.body.toString()).toBe("hello\n");
    expect(c.received.some((r) => r.frame.type === FrameType.DATA && r.frame.streamId === slow && r.frame.length > 0)).toBe(false);
    // Opening the slow stream's window lets it finish.
    c.autoWindow = true;
    c.send(windowUpdate(slow, env.big.length));
    const big = await c.response(slow);
    expect(big.body.equals(env.big)).toBe(true);
  });

  test("never more DATA than the window allows (§6.9.1)", async () => {
    const c = await connect({ settings: [[SettingId.INITIAL_WINDOW_SIZE, 1000]] });
    c.autoWindow = false;
    const id = c.request("/big.bin");
    await c.until(() => c.received.some((r) => r.frame.type === FrameType.DATA && r.frame.streamId === id), 5000, "data");
    await Bun.sleep(300);
    const sent = c.received.filter((r) => r.frame.type === FrameType.DATA && r.frame.streamId === id).reduce((n, r) => n + r.frame.length, 0);
    expect(sent).toBe(1000);
  });

  test("zero-window stall: the stream is reset after send_idle (2 s)", async () => {
    const c = await connect({ settings: [[SettingId.INITIAL_WINDOW_SIZE, 0]] });
    c.autoWindow = false;
    const id = c.request("/big.bin");
    expect(await c.streamReset(id, 8000)).toBe(ErrorCode.CANCEL);
    // The connection itself lives on.
    c.autoWindow = true;
    c.send(encodeHeaders(3, c.encoder.encode([[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/hello"]]), true, 16384));
    c.send(windowUpdate(3, 100));
    expect((await c.response(3)).status).toBe(200);
  });

  test("a client that stops reading does not grow server memory", async () => {
    const pid = env.server.proc.pid;
    const before = rssOf(pid);
    const cs: H2Client[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await connect();
      c.socket.pause();
      for (let j = 0; j < 20; j++) c.request("/big.bin");
      cs.push(c);
    }
    await Bun.sleep(1000);
    const growth = rssOf(pid) - before;
    // 100 streams x 1 MiB requested; without backpressure that is 100 MiB queued.
    expect(growth).toBeLessThan(40 * 1024 * 1024);
    for (const c of cs) c.close();
  });
});

describe("connection management", () => {
  test("PING is answered with the same payload and ACK (§6.7)", async () => {
    const c = await connect();
    c.send(encodeFrame(FrameType.PING, 0, 0, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])));
    const ack = await c.until(() => c.received.find((r) => r.frame.type === FrameType.PING && r.frame.flags & Flags.ACK)?.frame, 5000, "PING ACK");
    expect([...ack.payload]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("SETTINGS acknowledged; server SETTINGS announce 100 streams and no push", async () => {
    const c = await connect();
    await c.until(() => c.received.some((r) => r.frame.type === FrameType.SETTINGS && r.frame.flags & Flags.ACK), 5000, "SETTINGS ACK");
    const s = c.received.find((r) => r.frame.type === FrameType.SETTINGS && !(r.frame.flags & Flags.ACK))!.frame.settings!;
    expect(s).toContainEqual([SettingId.MAX_CONCURRENT_STREAMS, 100]);
    expect(s).toContainEqual([SettingId.ENABLE_PUSH, 0]);
  });

  test("a 101st concurrent stream is refused with REFUSED_STREAM (§5.1.2)", async () => {
    const c = await connect();
    for (let i = 0; i < 100; i++) c.send(c.headersFrame(c.takeId(), [[":method", "POST"], [":scheme", "http"], [":authority", "x"], [":path", "/api/x"]], false));
    const extra = c.takeId();
    c.send(c.headersFrame(extra, [[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/hello"]], true));
    expect(await c.streamReset(extra)).toBe(ErrorCode.REFUSED_STREAM);
  });

  test("stream-id exhaustion: the highest id works, a lower one afterwards is a PROTOCOL_ERROR", async () => {
    const c = await connect();
    const top = 0x7fffffff;
    c.send(c.headersFrame(top, [[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/hello"]], true));
    expect((await c.response(top)).status).toBe(200);
    c.send(c.headersFrame(5, [[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/hello"]], true));
    expect(await c.connectionError()).toBe(ErrorCode.PROTOCOL_ERROR);
  });
});

describe("deadlines", () => {
  test("SETTINGS not acknowledged within 10 s: GOAWAY SETTINGS_TIMEOUT (§6.5.3)", async () => {
    const c = await connect();
    c.autoAck = false;
    expect(await c.connectionError(14_000)).toBe(ErrorCode.SETTINGS_TIMEOUT);
  }, 20_000);

  test("an idle connection gets GOAWAY NO_ERROR after keep_alive, then closes", async () => {
    const e2 = await startH2Env('keep_alive = "1s"');
    try {
      const c = await H2Client.connect(e2.h2c);
      clients.push(c);
      expect((await c.response(c.request("/hello"))).status).toBe(200);
      const g = await c.until(() => c.goaway(), 5000, "GOAWAY");
      expect(g.errorCode).toBe(ErrorCode.NO_ERROR);
      expect(g.lastStreamId).toBe(1);
      await c.until(() => c.closed, 5000, "close");
    } finally {
      await e2.stop();
    }
  }, 30_000);

  test("a preface with no SETTINGS after it: the connection is closed after the header timeout", async () => {
    const e2 = await startH2Env('header = "1s"');
    try {
      const c = await H2Client.connect(e2.h2c, { preface: false });
      clients.push(c);
      c.autoAck = false; // an ACK is not the SETTINGS that must follow the preface
      const t0 = Date.now();
      c.send(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
      await c.until(() => c.closed, 5000, "close");
      const waited = Date.now() - t0;
      expect(waited, c.describe()).toBeGreaterThanOrEqual(900);
      expect(c.goaway(), "closed without GOAWAY (logged TIMEOUT_H2_PREFACE)").toBeUndefined();
    } finally {
      await e2.stop();
    }
  }, 30_000);
});

describe("header block deadline", () => {
  test("a HEADERS whose CONTINUATION never comes: GOAWAY PROTOCOL_ERROR after the header timeout; a slow but timely one is served", async () => {
    const e2 = await startH2Env('header = "1s"');
    try {
      const ok = await H2Client.connect(e2.h2c);
      clients.push(ok);
      await Bun.sleep(1200); // the connection is older than the header timeout: the deadline is per block
      const block = ok.encoder.encode([[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/hello"]]);
      ok.send(encodeFrame(FrameType.HEADERS, Flags.END_STREAM, 1, block.subarray(0, 3)));
      await Bun.sleep(600);
      ok.send(encodeFrame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(3)));
      ok.takeId();
      expect((await ok.response(1)).status, ok.describe()).toBe(200);
      const c = await H2Client.connect(e2.h2c);
      clients.push(c);
      // Our SETTINGS ACK must go out before the block starts (nothing may interleave with it).
      await c.until(() => c.received.some((r) => r.frame.type === FrameType.SETTINGS), 5000, "SETTINGS");
      await Bun.sleep(100);
      c.send(encodeFrame(FrameType.HEADERS, Flags.END_STREAM, 1, block.subarray(0, 3)));
      const t0 = Date.now();
      expect(await c.connectionError(5000)).toBe(ErrorCode.PROTOCOL_ERROR);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    } finally {
      await e2.stop();
    }
  }, 30_000);
});

describe("attacks (each bounded)", () => {
  test("Rapid Reset (CVE-2023-44487): GOAWAY ENHANCE_YOUR_CALM", async () => {
    const c = await connect();
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = c.takeId();
      frames.push(c.headersFrame(id, [[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/big.bin"]], true));
      frames.push(encodeFrame(FrameType.RST_STREAM, 0, id, Uint8Array.from([0, 0, 0, 8])));
    }
    c.send(Buffer.concat(frames));
    expect(await c.connectionError()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    await c.until(() => c.closed, 5000, "close");
  });

  test("CONTINUATION flood (CVE-2024-27316): capped, GOAWAY, memory flat", async () => {
    const pid = env.server.proc.pid;
    const before = rssOf(pid);
    const c = await connect();
    c.send(c.headersFrame(1, [[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/"]], true, false));
    const cont = encodeFrame(FrameType.CONTINUATION, 0, 1, new Uint8Array(16_000).fill(0x40));
    for (let i = 0; i < 200 && !c.closed; i++) c.send(cont);
    expect(await c.connectionError()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(rssOf(pid) - before).toBeLessThan(30 * 1024 * 1024);
  });

  test("CONTINUATION flood of empty frames: capped by frame count", async () => {
    const c = await connect();
    c.send(c.headersFrame(1, [[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/"]], true, false));
    c.send(Buffer.concat(Array.from({ length: 500 }, () => encodeFrame(FrameType.CONTINUATION, 0, 1))));
    expect(await c.connectionError()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  test("HPACK bomb: one large dynamic-table entry referenced many times gets 431, connection lives", async () => {
    const c = await connect();
    // Literal with incremental indexing, new name "x-bomb", 4000-byte value; then index 62 x 2000.
    const value = Buffer.alloc(4000, 0x61);
    const enc = (n: number, prefix: number, first: number) => {
      const out = [];
      const max = (1 << prefix) - 1;
      if (n < max) return [first | n];
      out.push(first | max);
      n -= max;
      while (n >= 128) {
        out.push((n % 128) + 128);
        n = Math.floor(n / 128);
      }
      out.push(n);
      return out;
    };
    const pseudo = c.encoder.encode([[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/hello"]]);
    const block = Buffer.concat([pseudo, Buffer.from([0x40, 6]), Buffer.from("x-bomb"), Buffer.from(enc(4000, 7, 0)), value, Buffer.alloc(2000, 0x80 | 62)]);
    c.send(encodeHeaders(1, block, true, 16384));
    const r = await c.response(1);
    expect(r.status, c.describe() + " " + Buffer.from(c.goaway()?.payload ?? []).toString()).toBe(431);
    // The decoder's table stayed in sync: the next request on the connection is served.
    // A fresh encoder that empties the table first (size update to 0), since ours never saw the bomb entry.
    const fresh = new HpackEncoder({ maxTableSize: 0 });
    c.takeId(); // stream 1 was the bomb
    const next = c.takeId();
    c.send(encodeHeaders(next, fresh.encode([[":method", "GET"], [":scheme", "http"], [":authority", "x"], [":path", "/hello"]]), true, 16384));
    expect((await c.response(next)).status).toBe(200);
  });

  test("PING flood (CVE-2019-9512) from a client that does not read: GOAWAY", async () => {
    const c = await connect();
    c.autoAck = false;
    const ping = encodeFrame(FrameType.PING, 0, 0, new Uint8Array(8));
    c.send(Buffer.concat(Array.from({ length: 5000 }, () => ping)));
    expect(await c.connectionError()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  test("SETTINGS flood (CVE-2019-9515): GOAWAY", async () => {
    const c = await connect();
    const s = encodeFrame(FrameType.SETTINGS, 0, 0);
    c.send(Buffer.concat(Array.from({ length: 5000 }, () => s)));
    expect(await c.connectionError()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  test("empty DATA flood (CVE-2019-9518): GOAWAY", async () => {
    const c = await connect();
    c.send(c.headersFrame(1, [[":method", "POST"], [":scheme", "http"], [":authority", "x"], [":path", "/api/x"]], false));
    const d = encodeFrame(FrameType.DATA, 0, 1);
    c.send(Buffer.concat(Array.from({ length: 5000 }, () => d)));
    expect(await c.connectionError()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });

  test("PRIORITY flood (CVE-2019-9513): GOAWAY", async () => {
    const c = await connect();
    const p = encodeFrame(FrameType.PRIORITY, 0, 1, Uint8Array.from([0, 0, 0, 0, 16]));
    c.send(Buffer.concat(Array.from({ length: 5000 }, () => p)));
    expect(await c.connectionError()).toBe(ErrorCode.ENHANCE_YOUR_CALM);
  });
});

describe("real clients", () => {
  test.skipIf(skipWithout(["curl"], "curl --http2-prior-knowledge"))("curl --http2-prior-knowledge (GET and POST)", async () => {
    need(["curl"]);
    const r = await run(["curl", "-s", "--http2-prior-knowledge", "-w", "\n%{http_version} %{http_code}", `http://127.0.0.1:${env.h2c}/hello`], 10_000);
    expect(r.stdout, describeRun("curl", r)).toBe("hello\n\n2 200");
    const p = await run(["curl", "-s", "--http2-prior-knowledge", "--data-binary", "posted", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", `http://127.0.0.1:${env.h2c}/api/x`], 10_000);
    expect(p.stdout, describeRun("curl", p)).toBe("2 200");
  });

  test.skipIf(skipWithout(["curl"], "curl --http2"))("curl --http2 over TLS negotiates h2 by ALPN; http2 = false gives http/1.1", async () => {
    need(["curl"]);
    const r = await run(["curl", "-sk", "--http2", "--resolve", `a.example:${env.tls}:127.0.0.1`, "-o", "/dev/null", "-w", "%{http_version} %{http_code} %{size_download}", `https://a.example:${env.tls}/big.bin`], 20_000);
    expect(r.stdout, describeRun("curl", r)).toBe(`2 200 ${env.big.length}`);
    const h1 = await run(["curl", "-sk", "--http2", "--resolve", `b.example:${env.tlsNoH2}:127.0.0.1`, "-o", "/dev/null", "-w", "%{http_version} %{http_code}", `https://b.example:${env.tlsNoH2}/hello`], 20_000);
    expect(h1.stdout, describeRun("curl", h1)).toBe("1.1 200");
  });

  test.skipIf(skipWithout(["nghttp"], "nghttp"))("nghttp -n with 100 streams over h2c and TLS", async () => {
    need(["nghttp"]);
    const urls = Array.from({ length: 100 }, (_, i) => `http://127.0.0.1:${env.h2c}/${i % 2 ? "hello" : "index.html"}?n=${i}`);
    const r = await run(["nghttp", "-n", "-s", ...urls], 30_000);
    expect(r.code, describeRun("nghttp", r)).toBe(0);
    expect((r.stdout.match(/ 200 /g) ?? []).length).toBe(100);
    const t = await run(["nghttp", "-n", "-s", "-m", "20", `https://127.0.0.1:${env.tls}/big.bin`], 60_000);
    expect(t.code, describeRun("nghttp", t)).toBe(0);
  }, 90_000);

  test.skipIf(skipWithout(["h2load"], "h2load"))("h2load -n 100000 -c 10 -m 10: zero errors", async () => {
    need(["h2load"]);
    const r = await run(["nice", "-n", "10", "h2load", "-n", "100000", "-c", "10", "-m", "10", `http://127.0.0.1:${env.h2c}/hello`], 170_000);
    const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(r.stdout);
    expect(m, describeRun("h2load", r)).not.toBeNull();
    expect(Number(m![4]), describeRun("h2load", r)).toBe(100000);
    expect(Number(m![5]) + Number(m![6]) + Number(m![7])).toBe(0);
    expect(r.stdout).toContain("100000 2xx");
  }, 180_000);
});

describe("graceful GOAWAY on reload and shutdown", () => {
  test("reload that removes the address: GOAWAY NO_ERROR with the last stream id; the in-flight stream completes", async () => {
    const e2 = await startH2Env();
    try {
      const c = await H2Client.connect(e2.h2c, { settings: [[SettingId.INITIAL_WINDOW_SIZE, 0]] });
      clients.push(c);
      c.autoWindow = false;
      const id = c.request("/big.bin");
      await c.until(() => c.received.some((r) => r.frame.type === FrameType.HEADERS && r.frame.streamId === id), 5000, "headers");
      // Drop the h2c site (the first [[site]]) from the config, then SIGHUP.
      const file = path.join(e2.dir, "ds.toml");
      const parts = fs.readFileSync(file, "utf8").split("\n[[site]]\n");
      expect(parts[1]).toContain("h2c = true");
      parts.splice(1, 1);
      fs.writeFileSync(file, parts.join("\n[[site]]\n"));
      e2.server.proc.kill("SIGHUP");
      const g = await c.until(() => c.goaway(), 10_000, "GOAWAY");
      expect(g.errorCode).toBe(ErrorCode.NO_ERROR);
      expect(g.lastStreamId).toBe(id);
      c.autoWindow = true;
      c.send(windowUpdate(id, e2.big.length));
      const r = await c.response(id);
      expect(r.body.equals(e2.big)).toBe(true);
      await c.until(() => c.closed, 5000, "close");
    } finally {
      await e2.stop();
    }
  }, 30_000);

  test("SIGTERM: GOAWAY NO_ERROR with the last stream id; the in-flight stream completes", async () => {
    const e2 = await startH2Env();
    try {
      const c = await H2Client.connect(e2.h2c, { settings: [[SettingId.INITIAL_WINDOW_SIZE, 0]] });
      c.autoWindow = false;
      const id = c.request("/big.bin");
      await c.until(() => c.received.some((r) => r.frame.type === FrameType.HEADERS && r.frame.streamId === id), 5000, "headers");
      e2.server.proc.kill("SIGTERM");
      const g = await c.until(() => c.goaway(), 5000, "GOAWAY");
      expect(g.errorCode).toBe(ErrorCode.NO_ERROR);
      expect(g.lastStreamId).toBe(id);
      c.autoWindow = true;
      c.send(windowUpdate(id, e2.big.length));
      const r = await c.response(id);
      expect(r.body.equals(e2.big)).toBe(true);
      await c.until(() => c.closed, 5000, "close");
    } finally {
      await e2.stop();
    }
  }, 30_000);
});
