/**
 * Directory listing (static browse = true, issue 10): HTML escaping and URL encoding of names
 * (a file named "<script>" renders as text), dotfiles never listed, breadcrumb and sorting
 * links, the JSON shape for Accept: application/json, pagination of large folders, HEAD, and
 * a folder with an index file still serving the index.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { expectErrorPage, makeRoot, rmRoot } from "./core-helpers.ts";
import { get, type RunningServer, startServer } from "./harness.ts";

let root: string;
let cfgDir: string;
let s: RunningServer;
const MANY = 1203; // three pages of 500

beforeAll(async () => {
  const files: Record<string, string> = {
    "a.txt": "abc",
    "<script>alert(1)": "x",
    "amp & \"quote\" 'apos'.txt": "12345",
    "a:b.txt": "scheme-looking",
    "unicodé.txt": "é",
    ".hidden": "secret",
    ".git/config": "[core]",
    "b dir/inner.txt": "inner",
    "withindex/index.html": "<p>index wins</p>",
  };
  for (let i = 0; i < MANY; i++) files[`many/f${String(i).padStart(4, "0")}.txt`] = "y".repeat(i % 10);
  root = makeRoot(files);
  fs.utimesSync(path.join(root, "a.txt"), 1_700_000_000, 1_700_000_000);
  cfgDir = makeRoot({
    "ds.toml": `
[[site]]
listen = ["127.0.0.1:0"]

[[site.route]]
path = "/"
static = { root = ${JSON.stringify(root)}, browse = true }
`,
  });
  s = await startServer(["--config", path.join(cfgDir, "ds.toml")]);
});

afterAll(async () => {
  await s?.stop();
  rmRoot(root);
  rmRoot(cfgDir);
});

describe("HTML", () => {
  test("names are escaped and encoded; dotfiles are not listed", async () => {
    const r = await get(s.port, "/");
    expect(r.status).toBe(200);
    expect(r.header("content-type")).toBe("text/html; charset=utf-8");
    expect(r.header("vary")).toBe("Accept");
    const html = r.body.toString("utf8");
    expect(html).not.toContain("<script>");
    expect(html).toContain(">&#60;script&#62;alert(1)</a>");
    expect(html).toContain('href="./%3Cscript%3Ealert(1)"');
    expect(html).toContain("amp &#38; &#34;quote&#34; &#39;apos&#39;.txt");
    expect(html).toContain('href="./a%3Ab.txt"'); // never read as a scheme
    expect(html).toContain('href="./unicod%C3%A9.txt"');
    expect(html).toContain('href="./b%20dir/"');
    expect(html).not.toContain(".hidden");
    expect(html).not.toContain(".git");
    expect(html).toContain("prefers-color-scheme:dark"); // the error pages' light/dark styling
    expect(html).toContain('href="?sort=size&amp;order=asc"');
  });

  test("breadcrumb and parent link in a subfolder", async () => {
    const html = (await get(s.port, "/b%20dir/")).body.toString();
    expect(html).toContain('<a href="/">/</a><a href="/b%20dir/">b dir/</a>');
    expect(html).toContain('href="../"');
    expect(html).toContain('href="./inner.txt"');
  });

  test("a folder with an index file serves the index", async () => {
    const r = await get(s.port, "/withindex/");
    expect(r.body.toString()).toBe("<p>index wins</p>");
  });

  test("HEAD has the GET's length and no body", async () => {
    const g = await get(s.port, "/b%20dir/");
    const h = await get(s.port, "/b%20dir/", {}, "HEAD");
    expect(h.status).toBe(200);
    expect(h.header("content-length")).toBe(g.header("content-length"));
    expect(h.body.length).toBe(0);
  });
});

describe("JSON", () => {
  test("shape: path, entries (name, dir, size, modified), next", async () => {
    const r = await get(s.port, "/", { Accept: "application/json" });
    expect(r.status).toBe(200);
    expect(r.header("content-type")).toBe("application/json; charset=utf-8");
    const j = JSON.parse(r.body.toString("utf8"));
    expect(Object.keys(j)).toEqual(["path", "entries", "next"]);
    expect(j.path).toBe("/");
    expect(j.next).toBeNull();
    const names = j.entries.map((e: { name: string }) => e.name);
    // folders first, then files, by name
    expect(names).toEqual(["b dir", "many", "withindex", "<script>alert(1)", "a.txt", "a:b.txt", "amp & \"quote\" 'apos'.txt", "unicodé.txt"]);
    const a = j.entries.find((e: { name: string }) => e.name === "a.txt");
    expect(a).toEqual({ name: "a.txt", dir: false, size: 3, modified: "2023-11-14T22:13:20Z" });
    expect(j.entries[0]).toMatchObject({ name: "b dir", dir: true });
    for (const e of j.entries) expect(e.modified).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test("sorting by size, descending", async () => {
    const j = JSON.parse((await get(s.port, "/?sort=size&order=desc", { Accept: "text/html;q=0.5, application/json" })).body.toString());
    const files = j.entries.filter((e: { dir: boolean }) => !e.dir).map((e: { size: number }) => e.size);
    expect(files).toEqual([...files].sort((x, y) => y - x));
  });

  test("pagination of a large folder", async () => {
    const p1 = JSON.parse((await get(s.port, "/many/", { Accept: "application/json" })).body.toString());
    expect(p1.entries.length).toBe(500);
    expect(p1.entries[0].name).toBe("f0000.txt");
    expect(p1.next).toBe("/many/?sort=name&order=asc&page=2");
    const p3 = JSON.parse((await get(s.port, p1.next.replace("page=2", "page=3"), { Accept: "application/json" })).body.toString());
    expect(p3.entries.length).toBe(MANY - 1000);
    expect(p3.next).toBeNull();
    expectErrorPage(await get(s.port, "/many/?page=4"), 404);
    const html = (await get(s.port, "/many/?page=2")).body.toString();
    expect(html).toContain("page 2 of 3 (1203 entries)");
    expect(html).toContain('href="?sort=name&amp;order=asc&amp;page=3"');
  });

  test("application/json;q=0 is not a request for JSON", async () => {
    const r = await get(s.port, "/", { Accept: "application/json;q=0, text/html" });
    expect(r.header("content-type")).toBe("text/html; charset=utf-8");
  });
});
