/** src/pages/dir-listing.ts as tables: query parsing, Accept, links, escaping, sorting. */
import { describe, expect, test } from "bun:test";
import { childHref, escapeHtml, parseListingQuery, renderListingHtml, rfc3339, sortEntries, wantsJson } from "../../src/pages/dir-listing.ts";

describe("parseListingQuery", () => {
  const cases: Array<[string, object]> = [
    ["", { sort: "name", order: "asc", page: 1 }],
    ["sort=size&order=desc&page=3", { sort: "size", order: "desc", page: 3 }],
    ["sort=modified", { sort: "modified", order: "asc", page: 1 }],
    ["sort=evil&order=up&page=0", { sort: "name", order: "asc", page: 1 }],
    ["page=-1", { sort: "name", order: "asc", page: 1 }],
    ["page=1e3", { sort: "name", order: "asc", page: 1 }],
    ["?page=2", { sort: "name", order: "asc", page: 2 }],
  ];
  test.each(cases)("%p", (q, want) => expect(parseListingQuery(q)).toEqual(want as never));
});

describe("wantsJson", () => {
  const cases: Array<[string | undefined, boolean]> = [
    [undefined, false],
    ["text/html", false],
    ["application/json", true],
    ["Application/JSON", true],
    ["text/html, application/json;q=0.1", true],
    ["application/json;q=0", false],
    ["application/json; q=0.000", false],
    ["application/jsonx", false],
    ["*/*", false],
  ];
  test.each(cases)("%p → %p", (a, want) => expect(wantsJson(a)).toBe(want));
});

describe("links and text", () => {
  const cases: Array<[string, boolean, string]> = [
    ["a.txt", false, "./a.txt"],
    ["b dir", true, "./b%20dir/"],
    ["a:b", false, "./a%3Ab"],
    ["//evil.example", false, "./%2F%2Fevil.example"],
    ["<script>", false, "./%3Cscript%3E"],
    ["?q#f", false, "./%3Fq%23f"],
  ];
  test.each(cases)("childHref(%p, %p) = %p", (n, dir, want) => expect(childHref(n, dir)).toBe(want));
  test("escapeHtml", () => expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;"));
  test("rfc3339", () => expect(rfc3339(1_700_000_000_999)).toBe("2023-11-14T22:13:20Z"));
  test("a hostile name never appears raw in the page", () => {
    const html = renderListingHtml({
      path: "/<img src=x onerror=alert(1)>/",
      entries: [{ name: "<script>alert(1)", dir: false, size: 1, mtimeMs: 0 }],
      sort: "name",
      order: "asc",
      page: 1,
      pages: 1,
      total: 1,
    });
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
  });
});

test("sortEntries: folders first, then the key, names break ties", () => {
  const e = (name: string, dir: boolean, size: number, mtimeMs = 0) => ({ name, dir, size, mtimeMs });
  const list = [e("b", false, 5), e("a", false, 5), e("z", true, 0), e("c", false, 1), e("y", true, 0)];
  expect(sortEntries([...list], "size", "desc").map((x) => x.name)).toEqual(["y", "z", "a", "b", "c"]);
  expect(sortEntries([...list], "name", "desc").map((x) => x.name)).toEqual(["z", "y", "c", "b", "a"]);
});
