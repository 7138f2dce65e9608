import { describe, expect, test } from "bun:test";
import { shadowedBy } from "../../src/router/shadow.ts";
import { makeRoute } from "./fake-exchange.ts";

describe("shadowedBy", () => {
  const r = makeRoute;
  const table: [string, ReturnType<typeof makeRoute>[], { route: number; by: number }[]][] = [
    ["prefix covers longer prefix", [r("/api"), r("/api/v1")], [{ route: 1, by: 0 }]],
    ["prefix covers itself", [r("/api"), r("/api")], [{ route: 1, by: 0 }]],
    ["prefix covers prefix with trailing slash", [r("/api"), r("/api/")], [{ route: 1, by: 0 }]],
    ["trailing-slash prefix does not cover the bare one", [r("/api/"), r("/api")], []],
    ["segment boundary: /api does not cover /apix", [r("/api"), r("/apix")], []],
    ["root covers everything but regex", [r("/"), r("/a"), r("=/b"), r("~^/c")], [{ route: 1, by: 0 }, { route: 2, by: 0 }]],
    ["prefix covers exact", [r("/api"), r("=/api/x")], [{ route: 1, by: 0 }]],
    ["prefix covers exact equal to it", [r("/api"), r("=/api")], [{ route: 1, by: 0 }]],
    ["exact covers equal exact", [r("=/a"), r("=/a")], [{ route: 1, by: 0 }]],
    ["exact does not cover prefix", [r("=/a"), r("/a")], []],
    ["regex never shadows", [r("~.*"), r("/a"), r("=/b")], []],
    ["a conditional route shadows nothing", [r("/", { methods: ["GET"] }), r("/", { headers: [["x", "1"]] }), r("/a")], []],
    ["the conditions of the shadowed route do not save it", [r("/"), r("/a", { methods: ["POST"] })], [{ route: 1, by: 0 }]],
    ["the earliest shadower is reported", [r("/a"), r("/"), r("/a/b")], [{ route: 2, by: 0 }]],
    ["later broader route shadows nothing", [r("/a/b"), r("/a")], []],
    ["empty header list counts as unconditional", [r("/", { headers: [] }), r("/x")], [{ route: 1, by: 0 }]],
  ];
  for (const [name, routes, want] of table) test(name, () => expect(shadowedBy(routes)).toEqual(want));
});
