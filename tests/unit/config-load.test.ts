/**
 * src/config/load.ts: one config in TOML, YAML and JSON gives one Config; problems carry the
 * right line in each format; syntax errors get a line too; --print-config output loads back to
 * the same Config; flag overrides apply on top of the file and are named in messages.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Config } from "../../src/config/config.ts";
import { formatProblem, loadConfig, loadConfigText, type LoadResult } from "../../src/config/load.ts";
import { printConfig } from "../../src/config/print.ts";

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-config-load-"));
  fs.mkdirSync(path.join(dir, "public"));
  fs.mkdirSync(path.join(dir, "docs"));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const TOML = `# two sites on one address
[server]
workers = 3

[log]
access = "-"
format = "json"

[limits]
max_body_size = "10m"

[timeouts]
header = "5s"

[[site]]
listen = ["127.0.0.1:8080"]
hosts = ["example.com", "*.example.com"]

  [[site.route]]
  path = "/api/"
  methods = ["GET", "POST"]
  headers = { "X-Canary" = "1" }
  strip_prefix = "/api"
  proxy = { to = ["http://127.0.0.1:3000"], trusted_proxies = ["10.0.0.0/8"] }
  request_headers = { set = { "X-Real-IP" = "{remote_ip}" }, remove = ["X-Debug"] }
  timeouts = { upstream = "30s" }

  [[site.route]]
  path = "/old/"
  redirect = { to = "https://example.com/new{path}?{query}", status = 301 }

  [[site.route]]
  path = "=/health"
  respond = { status = 200, body = "ok\\n", headers = { "Content-Type" = "text/plain" } }

  [[site.route]]
  path = "~^/docs/.*\\\\.pdf$"
  max_body_size = "1k"
  static = { root = "./docs", dotfiles = true }

  [[site.route]]
  path = "/"
  static = { root = "./public", index = ["index.html", "index.htm"] }
  response_headers = { add = { "Cache-Control" = "no-cache" } }

[[site]]
listen = ["127.0.0.1:8080", "[::1]:8081"]

  [[site.route]]
  path = "/"
  redirect = { to = "https://example.com{uri}" }
`;

const YAML = `# two sites on one address
server:
  workers: 3
log:
  access: "-"
  format: json
limits:
  max_body_size: 10m
timeouts:
  header: 5s
site:
  - listen: ["127.0.0.1:8080"]
    hosts:
      - example.com
      - "*.example.com"
    route:
      - path: /api/
        methods: [GET, POST]
        headers: { X-Canary: "1" }
        strip_prefix: /api
        proxy:
          to: ["http://127.0.0.1:3000"]
          trusted_proxies: [10.0.0.0/8]
        request_headers:
          set:
            X-Real-IP: "{remote_ip}"
          remove: [X-Debug]
        timeouts:
          upstream: 30s
      - path: /old/
        redirect:
          to: "https://example.com/new{path}?{query}"
          status: 301
      - path: =/health
        respond:
          status: 200
          body: "ok\\n"
          headers:
            Content-Type: text/plain
      - path: '~^/docs/.*\\.pdf$'
        max_body_size: 1k
        static: { root: ./docs, dotfiles: true }
      - path: /
        static:
          root: ./public
          index:
            - index.html
            - index.htm
        response_headers:
          add:
            Cache-Control: no-cache
  - listen:
      - 127.0.0.1:8080
      - "[::1]:8081"
    route:
      - path: /
        redirect: { to: "https://example.com{uri}" }
`;

const JSON_TEXT = JSON.stringify(Bun.TOML.parse(TOML), null, 2);

/** Config as plain data: URLs and regexes as strings, source dropped. */
function plain(c: Config): unknown {
  return JSON.parse(JSON.stringify({ ...c, source: null }, (_k, v) => (v instanceof URL ? v.href : v instanceof RegExp ? `/${v.source}/` : v)));
}

function ok(r: LoadResult): Config {
  if (!r.ok) throw new Error(r.problems.map((p) => formatProblem(p, r.file)).join("\n"));
  return r.config;
}

const load = (name: string, text: string, opts = {}): LoadResult => loadConfigText(text, path.join(dir, name), { cpus: 8, ...opts });

describe("one config, three formats", () => {
  test("TOML, YAML and JSON give the same Config", () => {
    const t = ok(load("c.toml", TOML));
    const y = ok(load("c.yaml", YAML));
    const j = ok(load("c.json", JSON_TEXT));
    expect(plain(y)).toEqual(plain(t));
    expect(plain(j)).toEqual(plain(t));
    expect(ok(load("c.yml", YAML)).sites.length).toBe(2);
  });

  test("the Config has what the file says", () => {
    const c = ok(load("c.toml", TOML));
    expect(c.source).toBe(path.join(dir, "c.toml"));
    expect(c.workers).toBe(3);
    expect(c.accessLog).toBe("-");
    expect(c.logFormat).toBe("json");
    expect(c.limits.maxBodySize).toBe(10 * 1024 * 1024);
    expect(c.timeouts.headerMs).toBe(5000);
    const [a, b] = c.sites;
    expect(a!.listen).toEqual([{ hostname: "127.0.0.1", port: 8080 }]);
    expect(b!.listen).toEqual([
      { hostname: "127.0.0.1", port: 8080 },
      { hostname: "::1", port: 8081 },
    ]);
    expect(b!.hosts).toEqual([]);
    const [api, old, health, pdf, root] = a!.routes;
    expect(api!.match).toEqual({ kind: "prefix", prefix: "/api/" });
    expect(api!.stripPrefix).toBe("/api");
    expect(api!.timeouts.upstreamHeaderMs).toBe(30_000);
    expect(api!.requestHeaders!.remove).toEqual(["x-debug"]);
    expect(api!.requestHeaders!.set[0]![1].parts).toEqual([{ placeholder: "remote_ip" }]);
    expect(old!.action).toMatchObject({ kind: "redirect", status: 301 });
    expect(health!.match).toEqual({ kind: "exact", path: "/health" });
    expect(health!.action).toMatchObject({ kind: "respond", status: 200, body: "ok\n" });
    expect(pdf!.match.kind).toBe("regex");
    expect((pdf!.match as { re: RegExp }).re.test("/docs/a.pdf")).toBe(true);
    expect(pdf!.maxBodySize).toBe(1024);
    expect(root!.action).toMatchObject({ kind: "static", static: { root: fs.realpathSync(path.join(dir, "public")), index: ["index.html", "index.htm"] } });
  });

  test("the file on disk: loadConfig resolves a relative path against cwd", () => {
    fs.writeFileSync(path.join(dir, "disk.toml"), TOML);
    const r = loadConfig("disk.toml", { cwd: dir, cpus: 1 });
    expect(ok(r).source).toBe(path.join(dir, "disk.toml"));
  });
});

describe("line numbers", () => {
  const lineOfProblem = (r: LoadResult, p: string): number | undefined => (r.ok ? undefined : r.problems.find((x) => x.path === p)?.line);
  const lineOf = (text: string, needle: string, nth = 0): number => {
    let from = 0;
    for (let i = 0; i <= nth; i++) from = text.indexOf(needle, from) + (i < nth ? 1 : 0);
    return text.slice(0, from).split("\n").length;
  };

  test("TOML: a key in the 2nd site's route, an inline table member, a [[site.route]] header", () => {
    const bad = TOML.replace('redirect = { to = "https://example.com{uri}" }', 'redirect = { to = "https://example.com{url}" }')
      .replace('dotfiles = true', 'dotfiles = "yes"')
      .replace('path = "/old/"', 'path = "/old/"\n  colour = "blue"');
    const r = load("bad.toml", bad);
    expect(lineOfProblem(r, "site[1].route[0].redirect.to")).toBe(lineOf(bad, "{url}"));
    expect(lineOfProblem(r, "site[0].route[3].static.dotfiles")).toBe(lineOf(bad, '"yes"'));
    expect(lineOfProblem(r, "site[0].route[1].colour")).toBe(lineOf(bad, "colour"));
    const lines = r.ok ? [] : r.problems.map((p) => formatProblem(p, r.file));
    expect(lines).toContain(`${path.join(dir, "bad.toml")}:${lineOf(bad, "colour")}: site[0].route[1].colour: unknown key "colour"; known keys here: path, methods, headers, strip_prefix, request_headers, response_headers, max_body_size, timeouts, proxy, static, redirect, respond, ip_allow, ip_deny, rate_limit, basic_auth, forward_authorization, forward_auth, security_headers, compress, errors, cache_control, cache`);
  });

  test("TOML: an item of a list spread over lines; a missing key points at its table", () => {
    const bad = TOML.replace('listen = ["127.0.0.1:8080", "[::1]:8081"]', 'listen = [\n  "127.0.0.1:8080",\n  "[::1]:99999",\n]').replace('  path = "/"\n  redirect', "  redirect");
    const r = load("bad2.toml", bad);
    expect(lineOfProblem(r, "site[1].listen[1]")).toBe(lineOf(bad, "99999"));
    // The 2nd site's route lost its path: reported on its [[site.route]] line.
    expect(lineOfProblem(r, "site[1].route[0].path")).toBe(lineOf(bad, "[[site.route]]", 5));
  });

  test("YAML: block and flow styles", () => {
    const bad = YAML.replace("status: 301", "status: 305").replace("{ root: ./docs, dotfiles: true }", "{ root: ./docs, dotfile: true }").replace("- 127.0.0.1:8080\n", "- 127.0.0.1:80800\n");
    const r = load("bad.yaml", bad);
    expect(lineOfProblem(r, "site[0].route[1].redirect.status")).toBe(lineOf(bad, "305"));
    expect(lineOfProblem(r, "site[0].route[3].static.dotfile")).toBe(lineOf(bad, "dotfile: true"));
    expect(lineOfProblem(r, "site[1].listen[0]")).toBe(lineOf(bad, "80800"));
  });

  test("JSON", () => {
    const bad = JSON_TEXT.replace('"status": 301', '"status": 305').replace('"X-Canary": "1"', '"X Canary": "1"');
    const r = load("bad.json", bad);
    expect(lineOfProblem(r, "site[0].route[1].redirect.status")).toBe(lineOf(bad, "305"));
    expect(lineOfProblem(r, 'site[0].route[0].headers["X Canary"]')).toBe(lineOf(bad, "X Canary"));
  });

  test("syntax errors: a line in each format", () => {
    const t = load("s.toml", 'a = 1\n[server]\nworkers = [1,\n\nb = "x"\n');
    expect(t.ok).toBe(false);
    if (!t.ok) {
      expect(t.problems[0]!.message).toContain("TOML syntax error");
      expect(t.problems[0]!.line).toBeGreaterThanOrEqual(3);
    }
    const y = load("s.yaml", "server:\n  workers: 2\nlog: [a, b\nsite: []\n");
    expect(!y.ok && y.problems[0]!.message).toContain("YAML syntax error");
    expect(!y.ok && y.problems[0]!.line).toBe(3);
    const j = load("s.json", '{\n  "server": { "workers": 2 },\n  "log": {},\n}\n');
    expect(!j.ok && j.problems[0]).toMatchObject({ line: 4, message: expect.stringContaining("JSON syntax error") });
  });

  test("YAML and JSON: a duplicate key is an error (their parsers keep the last silently)", () => {
    const y = load("d.yaml", YAML.replace("  workers: 3\n", "  workers: 3\n  workers: 4\n"));
    expect(!y.ok && y.problems[0]).toMatchObject({ path: "server.workers", line: 4, message: expect.stringContaining("duplicate key (first on line 3)") });
    const j = load("d.json", '{\n"server": {"workers": 2},\n"server": {}\n}');
    expect(!j.ok && j.problems[0]).toMatchObject({ path: "server", line: 3 });
  });
});

describe("files and formats", () => {
  test("unknown extension", () => {
    const r = load("c.ini", TOML);
    expect(!r.ok && formatProblem(r.problems[0]!, r.file)).toContain('unknown config format ".ini"; name the file .toml, .yaml, .yml or .json');
  });
  test("missing file", () => {
    const r = loadConfig(path.join(dir, "nope.toml"));
    expect(!r.ok && r.problems[0]!.message).toContain("cannot read the config file (no such file)");
  });
  test("an empty file: no sites", () => {
    const r = load("e.yaml", "");
    expect(!r.ok && r.problems[0]).toMatchObject({ path: "site", message: expect.stringContaining("no sites") });
  });
  test("format: FILE:LINE: path: message, FILE: path: message without a line, warnings", () => {
    expect(formatProblem({ path: "a.b", message: "m", line: 3 }, "/f.toml")).toBe("/f.toml:3: a.b: m");
    expect(formatProblem({ path: "a.b", message: "m" }, "/f.toml")).toBe("/f.toml: a.b: m");
    expect(formatProblem({ path: "a.b", message: "m", line: 3 }, "/f.toml", "warning")).toBe("/f.toml:3: warning: a.b: m");
    expect(formatProblem({ path: "timeouts.header", message: "m", flag: "--header-timeout" }, "/f.toml")).toBe("--header-timeout: m");
  });
  test("shadowed routes come back as warnings with a line", () => {
    const text = TOML.replace('path = "/api/"', 'path = "/"').replace("methods = [\"GET\", \"POST\"]\n", "").replace('headers = { "X-Canary" = "1" }\n', "").replace('strip_prefix = "/api"\n', "");
    const r = load("w.toml", text);
    expect(r.ok).toBe(true);
    expect(r.warnings.map((w) => w.path)).toEqual(["site[0].route[1]", "site[0].route[2]", "site[0].route[4]"]);
    expect(r.warnings[0]!.line).toBe(lineOfLine(text, 'path = "/old/"') - 1);
  });
});

function lineOfLine(text: string, needle: string): number {
  return text.slice(0, text.indexOf(needle)).split("\n").length;
}

describe("overrides (global flags with --config)", () => {
  test("replace the file's values", () => {
    const c = ok(
      load("c.toml", TOML, {
        overrides: [
          { path: ["server", "workers"], value: 5, flag: "--workers" },
          { path: ["timeouts", "header"], value: "1s", flag: "--header-timeout" },
          { path: ["timeouts", "body_idle"], value: "2s", flag: "--body-timeout" },
        ],
      }),
    );
    expect(c.workers).toBe(5);
    expect(c.timeouts.headerMs).toBe(1000);
    // A route's own timeouts still win over the global ones, which the flag set.
    expect(c.sites[0]!.routes[0]!.timeouts.bodyIdleMs).toBe(2000);
  });
  test("a bad override names the flag, not a line of the file", () => {
    const r = load("c.toml", TOML, { overrides: [{ path: ["timeouts", "header"], value: "soon", flag: "--header-timeout" }] });
    expect(!r.ok && r.problems.map((p) => formatProblem(p, r.file))).toEqual(['--header-timeout: the string "soon" is not a duration; use e.g. "500ms", "10s" or "2m"']);
  });
});

describe("--print-config", () => {
  test.each([
    ["c.toml", () => TOML],
    ["c.yaml", () => YAML],
    ["c.json", () => JSON_TEXT],
  ])("loading the printed config of %s gives the same Config", (name, text) => {
    const first = ok(load(name, text()));
    const printed = printConfig(first);
    const again = ok(load("printed.toml", printed));
    expect(plain(again)).toEqual(plain(first));
    // …and printing is a fixed point.
    expect(printConfig(again).split("\n").slice(1)).toEqual(printed.split("\n").slice(1));
  });
  test("every default is written out", () => {
    const printed = printConfig(ok(load("c.toml", TOML)));
    for (const k of ["max_request_line", "tunnel_idle", "handler_idle", "server_name", "max_requests_per_connection", "pool_size", "cache_max_bytes", "tls_verify"]) {
      expect(printed).toContain(`${k} = `);
    }
  });
});
