import { describe, expect, test } from "bun:test";
import type { RouteConfig } from "../../src/config/config.ts";
import { HeaderList } from "../../src/http1/header-list.ts";
import { compileRoutes, matchRoute, regexLiteralPrefix } from "../../src/router/routes.ts";
import { makeRoute, makeSite } from "./fake-exchange.ts";

function hl(pairs: [string, string][] = []): HeaderList {
  const h = new HeaderList();
  for (const [n, v] of pairs) h.add(n, v);
  return h;
}

describe("matchRoute: path kinds", () => {
  const site = makeSite(["x"], [
    makeRoute("=/exact"),
    makeRoute("/api"),
    makeRoute("/static/"),
    makeRoute("~^/u/[0-9]+$"),
    makeRoute("/"),
  ]);
  const which = (path: string): number | undefined => matchRoute(site, path, "GET", hl())?.index;
  const table: [string, number][] = [
    ["/exact", 0],
    ["/exact/", 4],
    ["/exactly", 4],
    ["/api", 1],
    ["/api/", 1],
    ["/api/v1/x", 1],
    ["/apix", 4], // a prefix matches whole segments
    ["/api%2Fx", 4],
    ["/static/a.css", 2],
    ["/static/", 2],
    ["/static", 4], // prefix "/static/" needs the slash
    ["/u/42", 3],
    ["/u/42/x", 4],
    ["/", 4],
    ["//api", 4],
  ];
  for (const [p, want] of table) test(`${p} → route ${want}`, () => expect(which(p)).toBe(want));

  test("no route → null", () => {
    const s = makeSite([], [makeRoute("/only")]);
    expect(matchRoute(s, "/other", "GET", hl())).toBeNull();
    expect(matchRoute(s, "*", "OPTIONS", hl())).toBeNull();
  });

  test("prefix '/' does not match a non-path target ('*')", () => {
    expect(matchRoute(site, "*", "OPTIONS", hl())).toBeNull();
  });

  test("a global regex is used statelessly", () => {
    const r = makeRoute({ kind: "regex", source: "^/g", re: /^\/g/g });
    const m = compileRoutes([r]);
    for (let i = 0; i < 4; i++) expect(m("/g", "GET", hl())).toBe(r);
  });
});

describe("matchRoute: methods", () => {
  const site = makeSite([], [
    makeRoute("/w", { methods: ["POST", "PUT"] }),
    makeRoute("/r", { methods: ["GET"] }),
    makeRoute("/h", { methods: ["HEAD"] }),
    makeRoute("/"),
  ]);
  const which = (p: string, m: string): number | undefined => matchRoute(site, p, m, hl())?.index;
  const table: [string, string, number][] = [
    ["/w", "POST", 0],
    ["/w", "PUT", 0],
    ["/w", "GET", 3],
    ["/w", "post", 3], // methods are case-sensitive
    ["/r", "GET", 1],
    ["/r", "HEAD", 1], // HEAD matches a route listing GET
    ["/r", "POST", 3],
    ["/h", "HEAD", 2],
    ["/h", "GET", 3], // but not the other way round
  ];
  for (const [p, m, want] of table) test(`${m} ${p} → route ${want}`, () => expect(which(p, m)).toBe(want));
});

describe("matchRoute: header conditions", () => {
  const site = makeSite([], [
    makeRoute("/", { headers: [["x-env", "beta"], ["accept", "text/html"]] }),
    makeRoute("/", { headers: [["x-env", "beta"]] }),
    makeRoute("/"),
  ]);
  const which = (pairs: [string, string][]): number | undefined => matchRoute(site, "/", "GET", hl(pairs))?.index;
  const table: [[string, string][], number][] = [
    [[["X-Env", "beta"], ["Accept", "text/html"]], 0],
    [[["x-env", "beta"]], 1],
    [[["X-ENV", "beta"]], 1], // name is case-insensitive
    [[["x-env", "Beta"]], 2], // value is exact
    [[["x-env", "beta "]], 2],
    [[["x-env", "alpha"], ["x-env", "beta"]], 1], // any field line
    [[["x-env", "alpha, beta"]], 2], // no list splitting
    [[], 2],
  ];
  for (const [pairs, want] of table) test(`${JSON.stringify(pairs)} → route ${want}`, () => expect(which(pairs)).toBe(want));
});

describe("matchRoute: first match wins, compiled once", () => {
  test("order", () => {
    const a = makeRoute("/a");
    const b = makeRoute("/a/b");
    const s = makeSite([], [a, b]);
    expect(matchRoute(s, "/a/b", "GET", hl())?.index).toBe(0);
  });

  test("a compiled matcher over many routes", () => {
    const routes: RouteConfig[] = [];
    for (let i = 0; i < 20; i++) routes.push(makeRoute(i % 2 ? `/p${i}` : `=/e${i}`, { methods: ["GET"] }));
    const m = compileRoutes(makeSite([], routes));
    const h = hl([["host", "x"]]);
    expect(m("/p19/x", "HEAD", h)?.index).toBe(19);
    expect(m("/e18", "GET", h)?.index).toBe(18);
    expect(m("/e18/", "GET", h)).toBeNull();
    expect(m("/p19", "POST", h)).toBeNull();
  });
});

describe("regex routes: the literal-prefix prefilter never changes a verdict", () => {
  const table: [RegExp, string][] = [
    [/^\/v0\/[0-9]+$/, "/v0/"],
    [new RegExp("^/v1/[0-9]+$"), "/v1/"], // as the config builds it (source escapes "/")
    [/^\/api/i, ""], // case-insensitive: no literal
    [/^\/api/m, ""], // multiline: "^" also matches after a newline
    [/\/x/, ""], // unanchored
    [/^/, ""],
    [/^\/ab*c/, "/a"], // b may be absent
    [/^\/ab+c/, "/a"],
    [/^\/ab?/, "/a"],
    [/^\/a{2}/, "/"],
    [/^\/a\.b/, "/a.b"], // escaped punctuation is literal
    [/^\/a\.?b/, "/a"],
    [/^\/docs(\/|$)/, "/docs"],
    [/^\/a\d/, "/a"], // \d is a class, not a literal
    [/^\/a\bx/, "/a"],
    [/^\/[ab]/, "/"],
    [/^\/a|^\/b/, ""], // a top-level alternative may start elsewhere
    [/^\/a|b/, ""],
    [/^\/a(b|c)/, "/a"], // an alternative inside a group does not
    [/^\/a[|]x/, "/a"],
    [/^\/a\|x/, "/a|x"], // an escaped bar is a literal
  ];
  for (const [re, want] of table) test(`${re} → ${JSON.stringify(want)}`, () => expect(regexLiteralPrefix(re)).toBe(want));

  test("property: the compiled matcher agrees with RegExp#test on random paths", () => {
    const sources = ["^/v0/[0-9]+$", "^/ab*c", "^/a\\.b", "^/docs(/|$)", "^/x?y", "^/a{2}", "^/a|^/b", "^/a|b", "^/(a|b)/c", "^/[a-c]+$", "^/a\\d", "^/a[|]b", "^/a\\|b"];
    const alphabet = ["/", "a", "b", "c", ".", "0", "7", "v", "d", "o", "s", "x", "y", "|", "\n"];
    let seed = 12345;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) >>> 16) % n;
    for (const src of sources) {
      for (const flags of ["", "m", "i"]) {
        const re = new RegExp(src, flags);
        const route = makeRoute("/");
        (route as unknown as { match: unknown }).match = { kind: "regex", re };
        const m = compileRoutes([route]);
        for (let k = 0; k < 2000; k++) {
          let p = "";
          const len = rand(8);
          for (let j = 0; j < len; j++) p += alphabet[rand(alphabet.length)];
          expect([src, flags, p, m(p, "GET", hl()) !== null]).toEqual([src, flags, p, re.test(p)]);
        }
      }
    }
  });
});

describe("the candidate lists by second character never change which route wins", () => {
  test("property: random route lists against a linear first-match scan", () => {
    let seed = 777;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) >>> 16) % n;
    const segs = ["", "a", "ab", "b", "api", "v1", "x"];
    const pathOf = () => {
      let p = "/";
      const n = rand(4);
      for (let i = 0; i < n; i++) p += segs[rand(segs.length)] + (rand(2) ? "/" : "");
      return p;
    };
    const specs = () => {
      const k = rand(4);
      const p = pathOf();
      if (k === 0) return p; // prefix
      if (k === 1) return `=${p}`; // exact
      if (k === 2) return `~^${p.replace(/\//g, "\\/")}[a-z]*$`; // anchored regex with a literal prefix
      return `~${segs[rand(segs.length)]}`; // unanchored regex
    };
    for (let round = 0; round < 300; round++) {
      const routes: RouteConfig[] = [];
      const n = 1 + rand(12);
      for (let i = 0; i < n; i++) routes.push(makeRoute(specs(), {}, i));
      const m = compileRoutes(makeSite([], routes));
      const naive = (path: string) => {
        for (const r of routes) {
          const mm = r.match;
          const ok = mm.kind === "prefix" ? path.startsWith(mm.prefix) && (path.length === mm.prefix.length || mm.prefix.endsWith("/") || path[mm.prefix.length] === "/") : mm.kind === "exact" ? path === mm.path : mm.re.test(path);
          if (ok) return r.index;
        }
        return null;
      };
      for (let k = 0; k < 30; k++) {
        const path = k === 0 ? "/" : pathOf();
        expect([routes.map((r) => r.match), path, m(path, "GET", hl())?.index ?? null]).toEqual([routes.map((r) => r.match), path, naive(path)]);
      }
    }
  });
});
