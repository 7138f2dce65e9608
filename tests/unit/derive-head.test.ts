import { describe, expect, test } from "bun:test";
import { DEFAULT_LIMITS } from "../../src/config/config.ts";
import type { RequestHead } from "../../src/http1/message-head.ts";
import { MessageParser } from "../../src/http1/message-parser.ts";
import { requestHeadFrom } from "../../src/http2/request-head.ts";
import { deriveHead, originalHead } from "../../src/middleware/derive-head.ts";

function parsed(wire: string): RequestHead {
  const p = new MessageParser("request", DEFAULT_LIMITS);
  p.push(Buffer.from(wire, "latin1"));
  const ev = p.next();
  if (ev?.type !== "head") throw new Error("no head");
  return ev.head as RequestHead;
}

describe("deriveHead", () => {
  const h1 = parsed("POST /a?b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n");
  const r2 = requestHeadFrom([[":method", "GET"], [":scheme", "https"], [":authority", "y"], [":path", "/p"]], true, 10);
  if (!r2.ok) throw new Error("h2 head");
  const h2 = r2.head;

  // Every field the producers set survives a derivation: a RequestHead field the explicit copy
  // forgot would be missing here (the HTTP/1 parser's and the HTTP/2 head's fields, and the
  // optional ones middleware set).
  for (const [label, base] of [["HTTP/1.1", h1], ["HTTP/2", h2]] as const) {
    test(`${label}: no change → every own field equal`, () => {
      const d = deriveHead(base, {});
      for (const k of Object.keys(base) as (keyof RequestHead)[]) expect([k, d[k]]).toEqual([k, base[k]]);
      expect(originalHead(d)).toBe(base);
    });
  }

  test("the optional fields middleware set are kept through further derivations", () => {
    const configured = new Set(["x-env"]);
    const a = deriveHead(h1, { configured, mount: "/docs", path: "/rest" });
    const b = deriveHead(a, { method: "GET" });
    expect(b.configured).toBe(configured);
    expect(b.mount).toBe("/docs");
    expect(b.path).toBe("/rest");
    expect(b.method).toBe("GET");
    expect(b.query).toBe("?b");
    expect(originalHead(b)).toBe(h1);
  });

  test("upgrade may be changed to null", () => {
    const u = parsed("GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    expect(u.upgrade).toBe("websocket");
    expect(deriveHead(u, { upgrade: null }).upgrade).toBeNull();
    expect(deriveHead(u, {}).upgrade).toBe("websocket");
  });

  test("the head type's keys are all copied (compile-time list kept in step)", () => {
    const full: Required<RequestHead> = {
      ...h1,
      configured: new Set(),
      mount: "/m",
      httpVersion: 2,
    };
    const d = deriveHead(full, {});
    for (const k of Object.keys(full) as (keyof RequestHead)[]) expect([k, d[k]]).toEqual([k, full[k]]);
  });
});
