/**
 * try_files for a single-page app (issue 10): nginx/Caddy semantics, first existing candidate
 * served with 200, "{path}/" serving a folder's index, an explicit trailing "=404", and
 * cache_control following the file actually served (the SPA shell gets "*.html"'s rule), and
 * custom error pages (errors = { 404 = "/404.html" }; a missing page falls back to the built-in).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import path from "node:path";
import { expectErrorPage, makeRoot, rmRoot } from "./core-helpers.ts";
import { get, type RunningServer, startServer } from "./harness.ts";

const SHELL = "<!DOCTYPE html><title>spa</title><div id=app></div>\n";
let root: string;
let cfgDir: string;
let s: RunningServer;

beforeAll(async () => {
  root = makeRoot({
    "index.html": SHELL,
    "assets/app.js": "console.log('app')\n",
    "docs/index.html": "<p>docs</p>\n",
    "about.txt": "about\n",
    ".secret": "no\n",
    "404.html": "<h1>custom not found</h1>\n",
  });
  cfgDir = makeRoot({
    "ds.toml": `
[[site]]
listen = ["127.0.0.1:0"]

[[site.route]]
path = "/e/"
strip_prefix = "/e"
static = { root = ${JSON.stringify(root)} }
errors = { 404 = "/404.html", 405 = "/no-such-page.html" }

[[site.route]]
path = "/strict/"
strip_prefix = "/strict"
static = { root = ${JSON.stringify(root)}, try_files = ["{path}", "=404"] }

[[site.route]]
path = "/"
static = { root = ${JSON.stringify(root)}, try_files = ["{path}", "{path}/", "/index.html"] }
cache_control = [ { match = "*.html", value = "no-cache" }, { match = "/assets/**", value = "max-age=31536000, immutable" } ]
`,
  });
  s = await startServer(["--config", path.join(cfgDir, "ds.toml")]);
});

afterAll(async () => {
  await s?.stop();
  rmRoot(root);
  rmRoot(cfgDir);
});

const cases: Array<[string, number, string | null, string | undefined, string]> = [
  ["/assets/app.js", 200, "console.log('app')\n", "max-age=31536000, immutable", "an existing file"],
  ["/some/client/route", 200, SHELL, "no-cache", "unknown path: the SPA shell"],
  ["/", 200, SHELL, "no-cache", "the root's index"],
  ["/docs", 200, "<p>docs</p>\n", "no-cache", "{path}/ serves a folder's index"],
  ["/docs/", 200, "<p>docs</p>\n", "no-cache", "folder with slash"],
  ["/.secret", 200, SHELL, "no-cache", "a dotfile is never a candidate: the shell"],
  ["/assets/missing.js?v=1", 200, SHELL, "no-cache", "query ignored"],
  ["/strict/about.txt", 200, "about\n", undefined, "=404 route, existing file"],
  ["/strict/nope", 404, null, undefined, "=404 route, missing file"],
  ["/strict/docs", 404, null, undefined, "=404 route: a folder is not {path}"],
];
test.each(cases)("GET %s → %d (%s)", async (target, status, body, cc) => {
  const r = await get(s.port, target);
  if (body === null) {
    expectErrorPage(r, status);
    return;
  }
  expect(r.status).toBe(status);
  expect(r.body.toString()).toBe(body);
  expect(r.header("cache-control")).toBe(cc);
});

test("HEAD of an SPA route has the shell's length", async () => {
  const r = await get(s.port, "/deep/link", {}, "HEAD");
  expect(r.status).toBe(200);
  expect(r.header("content-length")).toBe(String(SHELL.length));
});

test("custom error page: 404 answered with the page file, status kept", async () => {
  const r = await get(s.port, "/e/nope.txt");
  expect(r.status).toBe(404);
  expect(r.header("content-type")).toBe("text/html; charset=utf-8");
  expect(r.body.toString()).toBe("<h1>custom not found</h1>\n");
  expect(r.header("content-length")).toBe(String(r.body.length));
  const h = await get(s.port, "/e/nope.txt", {}, "HEAD");
  expect(h.status).toBe(404);
  expect(h.body.length).toBe(0);
  // the page itself is still an ordinary file
  expect((await get(s.port, "/e/404.html")).status).toBe(200);
});

test("custom error page missing: the built-in page, with its extra fields", async () => {
  const r = await get(s.port, "/e/about.txt", {}, "DELETE");
  expectErrorPage(r, 405);
  expect(r.header("allow")).toBe("GET, HEAD, OPTIONS");
});
