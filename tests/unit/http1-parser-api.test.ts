/**
 * The MessageParser contract beyond the wire tables: getters, buffer ownership (zero-copy body
 * views stay valid), sticky errors, finish(), takeRemaining(), expectResponseTo FIFO, validHost.
 */
import { describe, expect, test } from "bun:test";
import { DEFAULT_LIMITS } from "../../src/config/config.ts";
import type { RequestHead, ResponseHead } from "../../src/http1/message-head.ts";
import { MessageParser, ParseError, validHost, type ParseEvent } from "../../src/http1/message-parser.ts";

const b = (s: string) => Buffer.from(s, "latin1");
const text = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString("latin1");
const reqParser = () => new MessageParser("request", DEFAULT_LIMITS);
function drain(p: MessageParser): ParseEvent[] {
  const out: ParseEvent[] = [];
  for (let ev = p.next(); ev; ev = p.next()) {
    out.push(ev);
    if (ev.type === "error") break;
  }
  return out;
}

describe("state getters", () => {
  test("idle / inHead / buffered through a request's life", () => {
    const p = reqParser();
    expect(p.idle).toBe(true);
    expect(p.inHead).toBe(false);
    expect(p.buffered).toBe(0);
    p.push(b("POST / HTTP/1.1\r\nHo"));
    expect(p.next()).toBeNull();
    expect(p.idle).toBe(false);
    expect(p.inHead).toBe(true);
    p.push(b("st: a\r\nContent-Length: 4\r\n\r\nab"));
    expect(p.next()?.type).toBe("head");
    expect(p.inHead).toBe(false);
    expect(p.buffered).toBe(2);
    expect(p.next()?.type).toBe("body");
    expect(p.next()).toBeNull();
    expect(p.idle).toBe(false); // still inside the body
    p.push(b("cd"));
    expect(p.next()?.type).toBe("body");
    expect(p.next()).toEqual({ type: "end", trailers: null });
    expect(p.idle).toBe(true);
    expect(p.next()).toBeNull();
    expect(p.finish()).toBeNull(); // EOF between messages is a clean close
  });

  test("finish() right after the last body bytes, before 'end' was pulled, still ends the message", () => {
    const p = reqParser();
    p.push(b("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok"));
    expect(p.next()?.type).toBe("head");
    expect(p.next()?.type).toBe("body");
    expect(p.finish()).toEqual({ type: "end", trailers: null });
    expect(p.next()).toBeNull();
  });

  test("Content-Length body: 'end' comes before the next pipelined head", () => {
    const p = reqParser();
    p.push(b("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nxGET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    expect(drain(p).map((e) => e.type)).toEqual(["head", "body", "end", "head"]);
  });
});

describe("buffers", () => {
  test("body views are zero-copy and stay valid after later pushes", () => {
    const p = reqParser();
    const first = b("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nhello");
    p.push(first);
    const evs = drain(p);
    const view = (evs[1] as Extract<ParseEvent, { type: "body" }>).data;
    expect(view.buffer).toBe(first.buffer); // a subarray of the pushed chunk, not a copy
    p.push(b("world"));
    p.push(b("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    const more = drain(p);
    expect(text(view)).toBe("hello");
    expect(more.map((e) => e.type)).toEqual(["body", "end", "head"]);
  });

  test("a tail joined with a new chunk is copied: the pushed buffers are never written", () => {
    const p = reqParser();
    const a = b("GET / HTTP/1.1\r\nHo");
    const c = b("st: a\r\n\r\n");
    const aCopy = Buffer.from(a);
    const cCopy = Buffer.from(c);
    p.push(a);
    p.next();
    p.push(c);
    expect(p.next()?.type).toBe("head");
    expect(a).toEqual(aCopy);
    expect(c).toEqual(cCopy);
  });

  test("plain Uint8Array subarrays with an offset are read correctly", () => {
    const backing = new Uint8Array(100).fill(0x41);
    const msg = b("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    backing.set(msg, 10);
    const p = reqParser();
    p.push(backing.subarray(10, 10 + msg.length));
    const ev = p.next();
    expect(ev?.type).toBe("head");
    expect(((ev as Extract<ParseEvent, { type: "head" }>).head as RequestHead).path).toBe("/x");
    expect(p.idle).toBe(true);
  });
});

describe("errors", () => {
  test("errors are sticky: next() repeats the error, push() is ignored, finish() reports nothing new", () => {
    const p = reqParser();
    p.push(b("GET / HTTP/1.1\r\nHost : a\r\n\r\n"));
    const ev = p.next();
    expect(ev?.type).toBe("error");
    const err = (ev as Extract<ParseEvent, { type: "error" }>).error;
    expect(err).toBeInstanceOf(ParseError);
    expect(err.status).toBe(400);
    expect(err.code).toBe("PARSE_SPACE_BEFORE_COLON");
    expect(err.detail.length).toBeGreaterThan(0);
    expect(p.failed).toBe(err);
    p.push(b("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    expect(p.next()).toEqual(ev);
    expect(p.finish()).toBeNull();
    expect(p.failed).toBe(err);
  });

  test("a good request before a bad one is delivered first", () => {
    const p = reqParser();
    p.push(b("GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /bad HTTP/1.1\r\n\r\n"));
    const evs = drain(p);
    expect(evs.map((e) => e.type)).toEqual(["head", "error"]);
    expect((evs[1] as Extract<ParseEvent, { type: "error" }>).error.code).toBe("PARSE_MISSING_HOST");
  });
});

describe("takeRemaining", () => {
  test("after an upgrade request head the rest is raw tunnel data and the parser stops", () => {
    const p = reqParser();
    p.push(b("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x02hi"));
    const ev = p.next();
    expect(((ev as Extract<ParseEvent, { type: "head" }>).head as RequestHead).upgrade).toBe("websocket");
    expect(text(p.takeRemaining())).toBe("\x81\x02hi");
    expect(p.buffered).toBe(0);
    p.push(b("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    expect(p.next()).toBeNull();
    expect(p.failed).toBeNull();
  });

  test("after 101 the response parser is done; the rest is handed out once", () => {
    const p = new MessageParser("response", DEFAULT_LIMITS);
    p.expectResponseTo("GET");
    p.push(b("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\nframe"));
    const ev = p.next();
    expect(((ev as Extract<ParseEvent, { type: "head" }>).head as ResponseHead).status).toBe(101);
    expect(p.next()).toBeNull(); // does not try to parse "frame" as HTTP
    expect(text(p.takeRemaining())).toBe("frame");
    expect(p.takeRemaining().byteLength).toBe(0);
  });
});

describe("expectResponseTo", () => {
  test("FIFO; 1xx answers do not consume the method", () => {
    const p = new MessageParser("response", DEFAULT_LIMITS);
    p.expectResponseTo("HEAD");
    p.expectResponseTo("GET");
    p.push(b("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"));
    const heads = drain(p)
      .filter((e) => e.type === "head")
      .map((e) => (e as Extract<ParseEvent, { type: "head" }>).head as ResponseHead);
    expect(heads.map((h) => [h.status, h.bodyKind])).toEqual([
      [100, "none"],
      [200, "none"],
      [200, "length"],
    ]);
  });
});

describe("validHost", () => {
  test.each(["example.com", "a", "EXAMPLE.com:8080", "127.0.0.1", "127.0.0.1:80", "[::1]", "[::1]:443", "[v1.x]", "xn--bcher-kva.example", "a_b.example", "h:", "%41.example"])("accepts %p", (h) => {
    expect(validHost(h)).toBe(true);
  });
  test.each(["", "a b", "a/b", "user@a", "a?b", "a#b", ":80", "a:80:90", "a:123456", "a:x", "[::1", "::1]", "a[b]", "[::1]x", "[::1]:x", "caf\xe9", "a\tb", "x".repeat(256)])("rejects %p", (h) => {
    expect(validHost(h)).toBe(false);
  });
});

describe("reuseEvents (the engine's and the upstream connections' parsers)", () => {
  /** Each event as plain data, taken before the next next() refills a reused object. */
  const snapshot = (ev: ParseEvent): unknown =>
    ev.type === "head"
      ? { type: "head", head: { ...ev.head, headers: ev.head.headers.pairs() } }
      : ev.type === "body"
        ? { type: "body", data: text(ev.data) }
        : ev.type === "end"
          ? { type: "end", trailers: ev.trailers?.pairs() ?? null }
          : { type: "error", code: ev.error.code };
  const run = (kind: "request" | "response", wire: string, step: number, reuse: boolean): unknown[] => {
    const p = new MessageParser(kind, DEFAULT_LIMITS, reuse);
    const out: unknown[] = [];
    if (kind === "response") for (let i = 0; i < 3; i++) p.expectResponseTo("GET");
    for (let i = 0; i < wire.length; i += step) {
      p.push(b(wire.slice(i, i + step)));
      for (let ev = p.next(); ev; ev = p.next()) {
        out.push(snapshot(ev));
        if (ev.type === "error") return out; // errors are sticky: next() repeats them
      }
    }
    return out;
  };
  const requests =
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
    "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
    "PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n";
  const responses = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n";
  for (const step of [1, 7, 1000]) {
    test(`the same events as fresh objects, read ${step} byte(s) at a time`, () => {
      expect(run("request", requests, step, true)).toEqual(run("request", requests, step, false));
      expect(run("response", responses, step, true)).toEqual(run("response", responses, step, false));
    });
  }
  test("a reused event object is refilled: callers must be done with it before next()", () => {
    const p = new MessageParser("request", DEFAULT_LIMITS, true);
    p.push(b("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"));
    const first = p.next();
    expect((first as { head: RequestHead }).head.target).toBe("/1");
    const second = p.next();
    expect(second).toBe(first);
    expect((second as { head: RequestHead }).head.target).toBe("/2");
  });
});
