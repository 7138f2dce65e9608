/** security_headers (src/middleware/security-headers): the preset, the CSP toggle, fields the response already has. */
import { describe, expect, test } from "bun:test";
import { prepareHeaders } from "../../src/http1/serialize.ts";
import { securityHeaders } from "../../src/middleware/security-headers/index.ts";
import { FakeExchange } from "./fake-exchange.ts";

const PRESET = [
  ["X-Content-Type-Options", "nosniff"],
  ["Referrer-Policy", "strict-origin-when-cross-origin"],
  ["X-Frame-Options", "SAMEORIGIN"],
];

describe("security_headers", () => {
  test.each([
    ["respond, preset", false, (ex: FakeExchange) => ex.respond(200, [["Content-Type", "text/plain"]], "x"), [["Content-Type", "text/plain"], ...PRESET]],
    ["respond, with csp", true, (ex: FakeExchange) => ex.respond(200, [], "x"), [...PRESET, ["Content-Security-Policy", "frame-ancestors 'self'; object-src 'none'; base-uri 'self'"]]],
    ["the response's own value wins", false, (ex: FakeExchange) => ex.respond(200, [["x-frame-options", "DENY"]], "x"), [["x-frame-options", "DENY"], PRESET[0], PRESET[1]]],
    ["prepared blocks get the bytes appended", false, (ex: FakeExchange) => ex.respond(200, prepareHeaders([["ETag", '"1"']]), "x"), [["ETag", '"1"'], ...PRESET]],
    ["streamed responses", false, (ex: FakeExchange) => { ex.startResponse(200, [], null); ex.end(); }, PRESET],
    ["error pages", false, (ex: FakeExchange) => ex.sendError(404, "NO_ROUTE"), PRESET],
  ] as const)("%s", (_n, csp, act, want) => {
    const ex = new FakeExchange();
    securityHeaders({ csp })((e) => act(e as FakeExchange))(ex);
    expect(ex.headers).toEqual(want as unknown as [string, string][]);
  });
});
