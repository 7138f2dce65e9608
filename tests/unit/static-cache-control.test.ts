/** cache_control glob rules (src/static/cache-control.ts) as a table. */
import { expect, test } from "bun:test";
import { cacheControlFor, compileRule } from "../../src/static/cache-control.ts";

const RULES = [
  compileRule("/assets/**", "immutable"),
  compileRule("*.html", "no-cache"),
  compileRule("/img/*.png", "png-top"),
  compileRule("docs/**/index.txt", "docs-index"),
  compileRule("?.css", "one-char-css"),
];

const cases: Array<[string, string | null, string]> = [
  ["/assets/app.js", "immutable", "** under a folder"],
  ["/assets/a/b/c.html", "immutable", "first match wins over *.html"],
  ["/assets", null, "the folder itself is not under it"],
  ["/index.html", "no-cache", "name pattern at the top"],
  ["/deep/er/page.html", "no-cache", "name pattern at any depth"],
  ["/page.html.bak", null, "name pattern is anchored"],
  ["/img/a.png", "png-top", "* within one segment"],
  ["/img/sub/a.png", null, "* does not cross folders"],
  ["/docs/index.txt", "docs-index", "**/ matches zero folders; pattern anchored at root without leading /"],
  ["/docs/x/y/index.txt", "docs-index", "**/ matches several folders"],
  ["/a/docs/index.txt", null, "path patterns match the whole path"],
  ["/x/a.css", "one-char-css", "? is one character"],
  ["/x/ab.css", null, "? is exactly one"],
  ["/other.js", null, "no rule"],
];
test.each(cases)("%p → %p (%s)", (p, want) => expect(cacheControlFor(RULES, p)).toBe(want));

test("regex metacharacters in patterns are literal", () => {
  const rules = [compileRule("a+(b).txt", "lit")];
  expect(cacheControlFor(rules, "/a+(b).txt")).toBe("lit");
  expect(cacheControlFor(rules, "/aa(b).txt")).toBeNull();
  expect(cacheControlFor([], "/x")).toBeNull();
});
