import { describe, expect, test } from "bun:test";
import { type RedirectInput, shouldFollow } from "../../src/proxy/redirect-policy.ts";

const upstream = new URL("http://u:8000/base/");
const base: RedirectInput = { method: "GET", status: 302, location: "/base/next", upstream, hopsSoFar: 0, maxHops: 3 };

describe("shouldFollow", () => {
  const table: [string, Partial<RedirectInput>, string | null][] = [
    ["absolute path on the upstream", {}, "/base/next"],
    ["absolute URL, same origin", { location: "http://u:8000/base/a?b=1#frag" }, "/base/a?b=1"],
    ["default port normalised", { upstream: new URL("http://u/"), location: "http://u:80/x" }, "/x"],
    ["relative to the current target", { location: "sib?q", currentTarget: "/base/dir/page" }, "/base/dir/sib?q"],
    ["relative without current target: against the base path", { location: "x" }, "/base/x"],
    ["query-only reference", { location: "?p=2", currentTarget: "/base/list?p=1" }, "/base/list?p=2"],
    ["HEAD is followed", { method: "HEAD" }, "/base/next"],
    ["301", { status: 301 }, "/base/next"],
    ["303", { status: 303 }, "/base/next"],
    ["307", { status: 307 }, "/base/next"],
    ["308", { status: 308 }, "/base/next"],
    ["last allowed hop", { hopsSoFar: 2 }, "/base/next"],
    ["off by default (0 hops)", { maxHops: 0 }, null],
    ["hop limit reached", { hopsSoFar: 3 }, null],
    ["POST never", { method: "POST" }, null],
    ["PUT never", { method: "PUT", status: 307 }, null],
    ["GET with a body never", { hasBody: true }, null],
    ["300 is not followed", { status: 300 }, null],
    ["304 is not a redirect", { status: 304 }, null],
    ["200", { status: 200 }, null],
    ["no Location", { location: undefined }, null],
    ["empty Location", { location: "  " }, null],
    ["other origin", { location: "http://evil.example/x" }, null],
    ["other port", { location: "http://u:8001/x" }, null],
    ["other scheme", { location: "https://u:8000/x" }, null],
    ["scheme-relative elsewhere", { location: "//evil.example/x" }, null],
    ["userinfo", { location: "http://a:b@u:8000/x" }, null],
    ["non-http scheme", { location: "javascript:alert(1)" }, null],
    ["unparseable", { location: "http://[::1" }, null],
  ];
  for (const [desc, over, want] of table) {
    test(desc, () => {
      const d = shouldFollow({ ...base, ...over });
      expect(d).toEqual(want === null ? { follow: false } : { follow: true, target: want });
    });
  }
});
