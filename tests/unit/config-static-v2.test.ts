/**
 * Issue 10's config keys (static.precompressed, compress, cache_control) through the real
 * validator: accepted shapes as Config, and one mistake per row → field path + "what; how".
 */
import { describe, expect, test } from "bun:test";
import { validate, type FsCheck } from "../../src/config/validate.ts";
import { configToRaw } from "../../src/config/print.ts";

const fakeFs: FsCheck = {
  dir: (abs) => (abs === "/srv/public" ? { real: abs } : { error: "missing" }),
  readFile: () => ({ error: "no such file" }),
};
const OPTS = { baseDir: "/srv", fs: fakeFs, cpus: 1, source: "/srv/ds.toml" };
type Raw = Record<string, any>;
const cfg = (route: Raw): Raw => ({ log: { access: "off" }, site: [{ listen: ["127.0.0.1:8080"], route: [{ path: "/", ...route }] }] });

test("the issue's example is valid and reaches StaticConfig; --print-config round-trips", () => {
  const raw = cfg({
    static: { root: "public", precompressed: ["br", "zstd", "gzip"], try_files: ["{path}", "{path}/", "/index.html", "=404"] },
    compress: { codings: ["zstd", "br", "gzip"], min_size: 1024, types: ["text/*", "application/json"] },
    errors: { "404": "/404.html" },
    cache_control: [
      { match: "/assets/**", value: "public, max-age=31536000, immutable" },
      { match: "*.html", value: "no-cache" },
    ],
  });
  const r = validate(raw, OPTS);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const a = r.config.sites[0]!.routes[0]!.action;
  expect(a.kind).toBe("static");
  if (a.kind !== "static") return;
  expect(a.static.precompressed).toEqual(["br", "zstd", "gzip"]);
  expect(a.static.tryFiles).toEqual([{ template: "{path}" }, { template: "{path}/" }, { template: "/index.html" }, { status: 404 }]);
  expect(a.static.compress).toEqual({ codings: ["zstd", "br", "gzip"], minSize: 1024, types: ["text/*", "application/json"] });
  expect(a.static.cacheControl!.map((c) => [c.match, c.value])).toEqual([
    ["/assets/**", "public, max-age=31536000, immutable"],
    ["*.html", "no-cache"],
  ]);
  const again = validate(configToRaw(r.config), OPTS);
  if (!again.ok) throw new Error(JSON.stringify(again.problems));
  expect(configToRaw(again.config)).toEqual(configToRaw(r.config));
});

test("compress on a proxy route: RouteConfig.compress, printed and loaded back the same", () => {
  const r = validate(cfg({ proxy: { to: ["http://127.0.0.1:9"] }, compress: { codings: ["gzip"], min_size: "2k" } }), OPTS);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const route = r.config.sites[0]!.routes[0]!;
  expect(route.compress).toEqual({ codings: ["gzip"], minSize: 2048, types: expect.arrayContaining(["text/*"]) });
  const again = validate(configToRaw(r.config), OPTS);
  if (!again.ok) throw new Error(JSON.stringify(again.problems));
  expect(again.config.sites[0]!.routes[0]!.compress).toEqual(route.compress);
});

test("compress = {} turns compression on with the defaults", () => {
  const r = validate(cfg({ static: { root: "public" }, compress: {} }), OPTS);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  const a = r.config.sites[0]!.routes[0]!.action;
  if (a.kind !== "static") throw new Error("not static");
  expect(a.static.compress!.codings).toEqual(["zstd", "br", "gzip"]);
  expect(a.static.compress!.minSize).toBe(1024);
  expect(a.static.compress!.types).toContain("text/*");
});

describe("mistakes", () => {
  const rows: Array<[string, Raw, string, RegExp]> = [
    ["unknown coding", { static: { root: "public" }, compress: { codings: ["deflate"] } }, "site[0].route[0].compress.codings[0]", /must be/],
    ["duplicate coding", { static: { root: "public", precompressed: ["br", "br"] } }, "site[0].route[0].static.precompressed[1]", /twice/],
    ["empty codings", { static: { root: "public" }, compress: { codings: [] } }, "site[0].route[0].compress.codings", /empty/],
    ["bad media type", { static: { root: "public" }, compress: { types: ["Text/HTML; charset=x"] } }, "site[0].route[0].compress.types[0]", /media type/],
    ["bad min_size", { static: { root: "public" }, compress: { min_size: "big" } }, "site[0].route[0].compress.min_size", /not a size/],
    ["compress on a redirect", { redirect: { to: "/x" }, compress: {} }, "site[0].route[0].compress", /static and proxy routes only/],
    ["compress on a proxy: bad coding", { proxy: { to: ["http://127.0.0.1:9"] }, compress: { codings: ["lzma"] } }, "site[0].route[0].compress.codings[0]", /must be/],
    ["cache_control on a redirect", { redirect: { to: "/x" }, cache_control: [{ match: "*", value: "no-cache" }] }, "site[0].route[0].cache_control", /static routes only/],
    ["cache_control not a list", { static: { root: "public" }, cache_control: { match: "*" } }, "site[0].route[0].cache_control", /list of tables/],
    ["rule without match", { static: { root: "public" }, cache_control: [{ value: "no-cache" }] }, "site[0].route[0].cache_control[0].match", /needs a pattern/],
    ["rule without value", { static: { root: "public" }, cache_control: [{ match: "*.html" }] }, "site[0].route[0].cache_control[0].value", /needs a value/],
    ["value with a newline", { static: { root: "public" }, cache_control: [{ match: "*.html", value: "a\nb" }] }, "site[0].route[0].cache_control[0].value", /field value/],
    ["try_files empty", { static: { root: "public", try_files: [] } }, "site[0].route[0].static.try_files", /empty/],
    ["try_files =404 not last", { static: { root: "public", try_files: ["=404", "{path}"] } }, "site[0].route[0].static.try_files[0]", /last/],
    ["try_files =500", { static: { root: "public", try_files: ["{path}", "=500"] } }, "site[0].route[0].static.try_files[1]", /only "=404"/],
    ["try_files relative", { static: { root: "public", try_files: ["index.html"] } }, "site[0].route[0].static.try_files[0]", /start it with/],
    ["try_files other placeholder", { static: { root: "public", try_files: ["{host}/x"] } }, "site[0].route[0].static.try_files[0]", /only placeholder/],
    ["errors bad status", { static: { root: "public" }, errors: { "200": "/x.html" } }, "site[0].route[0].errors.200", /error status/],
    ["errors relative page", { static: { root: "public" }, errors: { "404": "404.html" } }, "site[0].route[0].errors.404", /page path/],
    ["errors dot segments", { static: { root: "public" }, errors: { "404": "/a/../404.html" } }, "site[0].route[0].errors.404", /page path/],
    ["errors on a proxy", { proxy: { to: ["http://127.0.0.1:9"] }, errors: { "404": "/404.html" } }, "site[0].route[0].errors", /static routes only/],
    ["hidden bad value", { static: { root: "public", hidden: "show" } }, "site[0].route[0].static.hidden", /must be/],
    ["hidden contradicts dotfiles", { static: { root: "public", hidden: "allow", dotfiles: false } }, "site[0].route[0].static.hidden", /contradicts/],
    ["symlinks bad value", { static: { root: "public", symlinks: "never" } }, "site[0].route[0].static.symlinks", /must be/],
    ["unknown rule key", { static: { root: "public" }, cache_control: [{ match: "*", value: "x", vlaue: "y" }] }, "site[0].route[0].cache_control[0].vlaue", /unknown key/],
  ];
  test.each(rows)("%s", (_name, route, path, msg) => {
    const r = validate(cfg(route), OPTS);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const at = r.problems.filter((p) => p.path === path);
    expect(at.length, JSON.stringify(r.problems)).toBeGreaterThan(0);
    expect(at[0]!.message).toMatch(msg);
    expect(at[0]!.message).toMatch(/\S; \S/);
  });
});
