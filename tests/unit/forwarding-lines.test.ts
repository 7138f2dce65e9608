/**
 * The memos behind the upstream head (src/proxy/forwarding-lines.ts): a hit must give exactly
 * the line a fresh build gives, a changed value a new line, and client-chosen names must not
 * grow the pass-through memo without bound.
 */
import { describe, expect, test } from "bun:test";
import { ForwardingLinesMemo, JoinMemo, PassThroughLines } from "../../src/proxy/forwarding-lines.ts";

describe("PassThroughLines as the Host line", () => {
  test("same name and value: the same line; a new value or name: its own line", () => {
    const m = new PassThroughLines();
    const a = m.get("Host", "a.example");
    expect(a).toBe("Host: a.example\r\n");
    expect(m.get("Host", "a.example")).toBe(a);
    expect(m.get("host", "a.example")).toBe("host: a.example\r\n");
    expect(m.get("host", "b.example")).toBe("host: b.example\r\n");
  });
  test("values are made safe for a field line", () => {
    expect(new PassThroughLines().get("X", "a\r\nInjected: 1")).toBe("X: a  Injected: 1\r\n");
  });
});

describe("JoinMemo", () => {
  test("a + sep + b + tail for every change of either part", () => {
    const m = new JoinMemo(" ", " HTTP/1.1\r\n");
    for (const [a, b] of [["GET", "/"], ["GET", "/"], ["HEAD", "/"], ["HEAD", "/x"], ["GET", "/"]] as const) expect(m.get(a, b)).toBe(`${a} ${b} HTTP/1.1\r\n`);
  });
});

describe("ForwardingLinesMemo", () => {
  const m = new ForwardingLinesMemo();
  test("the block in order, optional lines left out, ending in the X-Request-ID name", () => {
    expect(m.get("1.2.3.4", "http", "h.example", 8080, "", "1.1 dreamserver")).toBe(
      "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h.example\r\nX-Forwarded-Port: 8080\r\nVia: 1.1 dreamserver\r\nX-Request-ID: ",
    );
    expect(m.get("1.2.3.4", "https", "", null, "Forwarded: for=1.2.3.4\r\n", "1.0 x")).toBe(
      "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\nForwarded: for=1.2.3.4\r\nVia: 1.0 x\r\nX-Request-ID: ",
    );
  });
  test("every key takes part: changing any one of them gives that change", () => {
    const base: Parameters<ForwardingLinesMemo["get"]> = ["10.0.0.1", "http", "h", 80, "", "1.1 d"];
    const first = m.get(...base);
    expect(m.get(...base)).toBe(first);
    for (let i = 0; i < base.length; i++) {
      const changed = [...base] as typeof base;
      (changed as unknown[])[i] = i === 3 ? 81 : base[i] + "x";
      const out = m.get(...changed);
      expect(out).not.toBe(first);
      expect(m.get(...base)).toBe(first);
    }
    // A numeric port and the same digits as a string (a trusted X-Forwarded-Port) give the same line.
    expect(m.get("10.0.0.1", "http", "h", "80", "", "1.1 d")).toBe(first);
  });
});

describe("PassThroughLines", () => {
  test("lines per name, updated when the value changes", () => {
    const p = new PassThroughLines();
    const ua = p.get("User-Agent", "curl/8");
    expect(ua).toBe("User-Agent: curl/8\r\n");
    expect(p.get("User-Agent", "curl/8")).toBe(ua);
    expect(p.get("User-Agent", "wget")).toBe("User-Agent: wget\r\n");
    expect(p.get("user-agent", "curl/8")).toBe("user-agent: curl/8\r\n");
  });
  test("bounded: names beyond the limit are still built correctly, never stored", () => {
    const p = new PassThroughLines();
    for (let i = 0; i < PassThroughLines.MAX_NAMES + 100; i++) expect(p.get(`X-N${i}`, `v${i}`)).toBe(`X-N${i}: v${i}\r\n`);
    expect((p as unknown as { byName: Map<string, unknown> }).byName.size).toBe(PassThroughLines.MAX_NAMES);
  });
});
