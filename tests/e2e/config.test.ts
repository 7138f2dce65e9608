/**
 * `dreamserver --config FILE`, end to end (issue 8, "done means"): ONE logical config with two
 * named sites, a wildcard site and a default site sharing one address, plus a second address
 * without a default site; prefix, exact and regex routes, strip_prefix to a scripted backend,
 * request/response header rules, a redirect, fixed responses, methods- and header-conditioned
 * routes and a per-route body limit. It is serialised as TOML, YAML and JSON and the SAME
 * assertions run against each (describe.each). Then --check (summary, shadow warning, problems
 * with exact FILE:LINE per format), --print-config round trip, and the flags that may or may
 * not be combined with --config. Flag-only behaviour is the rest of the e2e suite's job.
 *
 * harness.startServer() always appends `--listen 127.0.0.1:0`, which --config refuses, so the
 * servers here are started by startConfigServer() below (same command(), same "listening on"
 * contract, waiting for one line per address).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { spawn, type Subprocess } from "bun";
import fs from "node:fs";
import path from "node:path";
import { expectErrorPage, makeRoot, rmRoot, runCliBounded } from "./core-helpers.ts";
import { command, runCli, tmpDir, waitFor } from "./harness.ts";
import { closedPort, type Message, okResponse, type RawBackend, rawBackend, request, serveEach } from "./proxy-backends.ts";

// ---- tiny serialisers: one logical config → TOML / YAML / JSON text ------------------------

type Doc = Record<string, unknown>;
const isObj = (v: unknown): v is Doc => typeof v === "object" && v !== null && !Array.isArray(v);
const isTableArray = (v: unknown): v is Doc[] => Array.isArray(v) && v.length > 0 && v.every(isObj);

function tomlKey(k: string): string {
  return /^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k);
}
function tomlValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v); // JSON escapes are valid TOML basic-string escapes
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(", ")}]`;
  if (isObj(v)) return `{ ${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)} = ${tomlValue(x)}`).join(", ")} }`;
  throw new Error(`no TOML for ${String(v)}`);
}
/** Top-level tables as [name], arrays of tables as [[a.b]], everything below a table inline. */
function toToml(doc: Doc, at: string[] = []): string {
  const lines: string[] = [];
  const subs: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    const p = [...at, k].join(".");
    if (isTableArray(v)) for (const item of v) subs.push(`\n[[${p}]]\n${toToml(item, [...at, k])}`);
    else if (isObj(v) && at.length === 0) subs.push(`\n[${p}]\n${toToml(v, [k])}`);
    else lines.push(`${tomlKey(k)} = ${tomlValue(v)}`);
  }
  return lines.map((l) => l + "\n").join("") + subs.join("");
}

function yamlKey(k: string): string {
  return /^[A-Za-z][A-Za-z0-9_-]*$/.test(k) ? k : JSON.stringify(k);
}
/** Block mappings and sequences of mappings; scalars double-quoted (JSON escapes are YAML escapes). */
function yamlLines(doc: Doc, ind: string): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(doc)) {
    if (isObj(v)) out.push(`${ind}${yamlKey(k)}:`, ...yamlLines(v, ind + "  "));
    else if (isTableArray(v)) {
      out.push(`${ind}${yamlKey(k)}:`);
      for (const item of v) {
        const inner = yamlLines(item, ind + "    ");
        inner[0] = `${ind}  - ${inner[0]!.slice(ind.length + 4)}`;
        out.push(...inner);
      }
    } else out.push(`${ind}${yamlKey(k)}: ${Array.isArray(v) ? `[${v.map((x) => JSON.stringify(x)).join(", ")}]` : JSON.stringify(v)}`);
  }
  return out;
}

type Format = "toml" | "yaml" | "json";
function serialise(doc: Doc, format: Format): string {
  if (format === "toml") return toToml(doc);
  if (format === "yaml") return yamlLines(doc, "").join("\n") + "\n";
  return JSON.stringify(doc, null, 2) + "\n";
}

// ---- servers started with --config ---------------------------------------------------------

interface ConfigServer {
  proc: Subprocess;
  stderr(): string;
  stop(): Promise<number>;
}

/** Start `dreamserver --config FILE …` and wait for one "listening on" line per address. */
async function startConfigServer(args: string[], listeners: number): Promise<ConfigServer> {
  const proc = spawn(command(args), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  let err = "";
  const decoder = new TextDecoder();
  const errDone = (async () => {
    for await (const chunk of proc.stderr as ReadableStream<Uint8Array>) err += decoder.decode(chunk);
  })().catch(() => {});
  const outDone = new Response(proc.stdout).text().catch(() => "");
  const ready = (async () => {
    while ((err.match(/listening on http:\/\/\S+/g) ?? []).length < listeners) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`server exited (${proc.exitCode}): ${err}`);
      await Promise.race([errDone, proc.exited, new Promise((r) => setTimeout(r, 20))]);
    }
  })();
  const timer = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`server did not start: ${err}`)), 15_000));
  try {
    await Promise.race([ready, timer]);
  } catch (e) {
    proc.kill("SIGKILL");
    throw e;
  }
  return {
    proc,
    stderr: () => err,
    async stop() {
      const killer = setTimeout(() => proc.kill("SIGKILL"), 3000);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      const code = await proc.exited;
      clearTimeout(killer);
      await Promise.race([Promise.all([errDone, outDone]), new Promise((r) => setTimeout(r, 2000))]);
      return code;
    },
  };
}

/** Two distinct free loopback ports (bound to port 0 and closed again). */
function freePorts(n: number): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const p = closedPort();
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** One request on a fresh connection (Connection: close), the final response. */
function send(port: number, method: string, target: string, headers: Record<string, string>, body?: string): Promise<Message> {
  const h = { ...headers, ...(body !== undefined ? { "Content-Length": String(Buffer.byteLength(body)) } : {}), Connection: "close" };
  const head = `${method} ${target} HTTP/1.1\r\n` + Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join("") + "\r\n";
  return request(port, head + (body ?? ""), method);
}

// ---- the one logical config ----------------------------------------------------------------

const A = "a.example.com";

function mainConfig(o: { port: number; port2: number; backend: number; root: string }): Doc {
  const listen = [`127.0.0.1:${o.port}`];
  return {
    // Overridden on the command line (--workers 1, --access-log): neither may take effect.
    server: { workers: 2 },
    log: { access: "./from-file-access.log", format: "text" },
    site: [
      {
        listen,
        hosts: [A, "www.example.com"],
        route: [
          {
            path: "/api/",
            strip_prefix: "/api",
            proxy: { to: [`http://127.0.0.1:${o.backend}`] },
            request_headers: {
              set: { "X-Site": "a", "X-Real-IP": "{remote_ip}", "X-Original-Path": "{path}", "X-Q": "{query.id}" },
              add: { "X-Tag": "from-{host}" },
              remove: ["X-Debug"],
            },
            response_headers: { set: { "X-Proxied": "yes" }, add: { "X-Backend": "added" }, remove: ["X-Backend-Secret"] },
          },
          {
            path: "=/health",
            respond: { status: 203, body: "healthy\n", headers: { "Content-Type": "text/plain", "X-Req": "{request_id}", "X-Host": "{host}" } },
          },
          { path: "~^/img/[a-z]+\\.png$", respond: { status: 200, body: "regex route\n" } },
          { path: "/old/", redirect: { to: "https://new.example.com/moved{path}?{query}", status: 301 } },
          {
            path: "/upload/",
            methods: ["POST", "PUT"],
            max_body_size: 16,
            proxy: { to: [`http://127.0.0.1:${o.backend}`] },
          },
          { path: "=/only-get", methods: ["GET"], respond: { status: 200, body: "got it" } },
          { path: "/", headers: { "X-Canary": "1" }, respond: { status: 200, body: "canary\n" } },
          {
            path: "/",
            static: { root: o.root },
            response_headers: { set: { "X-Frame-Options": "DENY" }, add: { "X-Served-For": "{host}" }, remove: ["Accept-Ranges"] },
          },
        ],
      },
      {
        listen,
        hosts: ["*.example.com"],
        route: [{ path: "/w/", respond: { status: 200, body: "wildcard site\n", headers: { "X-Site": "wild {host}" } } }],
      },
      { listen, route: [{ path: "/", respond: { status: 200, body: "default site\n" } }] },
      { listen: [`127.0.0.1:${o.port2}`], hosts: ["only.example.com"], route: [{ path: "/", respond: { status: 200, body: "only\n" } }] },
    ],
  };
}
const MAIN_ROUTES = 11;

// ---- the same assertions against each format -------------------------------------------------

describe.each(["toml", "yaml", "json"] as const)("config file (%s), end to end", (format) => {
  let dir = "";
  let root = "";
  let file = "";
  let logPath = "";
  let port = 0;
  let port2 = 0;
  let backend: RawBackend;
  let server: ConfigServer | null = null;
  const seen: Message[] = [];

  beforeAll(async () => {
    dir = tmpDir("ds-config-");
    root = makeRoot({ "index.html": "<h1>home</h1>\n", "docs/page.txt": "page\n", "img/Cat.png": "static png" });
    backend = rawBackend(
      serveEach((req) => {
        seen.push(req);
        return okResponse(`backend saw ${req.target} with ${req.body.length} bytes`, [
          ["X-Backend-Secret", "s3cret"],
          ["X-Backend", "b"],
        ]);
      }),
    );
    [port, port2] = freePorts(2) as [number, number];
    file = path.join(dir, `dreamserver.${format}`);
    fs.writeFileSync(file, serialise(mainConfig({ port, port2, backend: backend.port, root }), format));
    logPath = path.join(dir, "flag-access.log");
    server = await startConfigServer(["--config", file, "--workers", "1", "--access-log", logPath], 2);
  });

  afterAll(async () => {
    let first: unknown = null;
    for (const f of [() => server?.stop(), () => backend?.stop(), () => rmRoot(root), () => rmRoot(dir)]) {
      try {
        await f();
      } catch (e) {
        first ??= e;
      }
    }
    if (first) throw first;
  });

  test("--check accepts it: one summary line on stdout, exit 0", async () => {
    const r = await runCli(["--check", "--config", file]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`config OK: 4 sites, ${MAIN_ROUTES} routes, 2 listeners (${file})\n`);
  });

  test("Host: exact beats wildcard beats default; the wildcard is one label", async () => {
    const exact = await send(port, "GET", "/health", { Host: A });
    expect([exact.status, exact.body.toString()]).toEqual([203, "healthy\n"]);
    expect((await send(port, "GET", "/health", { Host: "www.example.com" })).status).toBe(203);

    const wild = await send(port, "GET", "/w/", { Host: "b.example.com" });
    expect([wild.status, wild.body.toString(), wild.header("x-site")]).toEqual([200, "wildcard site\n", "wild b.example.com"]);

    for (const host of ["x.b.example.com", "example.com", "unknown.test"]) {
      const d = await send(port, "GET", "/w/", { Host: host });
      expect([host, d.status, d.body.toString()]).toEqual([host, 200, "default site\n"]);
    }
  });

  test("Host with upper case, a trailing dot and a port matches the exact site", async () => {
    const r = await send(port, "GET", "/health", { Host: `A.Example.COM.:${port}` });
    expect([r.status, r.body.toString()]).toEqual([203, "healthy\n"]);
    expect(r.header("x-host")).toBe(A); // {host}: lowercase, no port
  });

  test("address without a default site: unknown Host → 421 error page, known Host served", async () => {
    const ok = await send(port2, "GET", "/", { Host: "only.example.com" });
    expect([ok.status, ok.body.toString()]).toEqual([200, "only\n"]);
    // a.example.com is a site, but not on this address: it never falls through to it.
    for (const host of ["other.example.com", A]) {
      const r = await send(port2, "GET", "/health", { Host: host });
      expectErrorPage(r, 421);
    }
  });

  test("no route for the path → 404 error page", async () => {
    expectErrorPage(await send(port, "GET", "/nothing-here", { Host: "b.example.com" }), 404);
  });

  test("prefix proxy route: strip_prefix, request header rules, X-Forwarded-*, response header rules", async () => {
    const before = seen.length;
    const r = await send(port, "GET", "/api/users/7?id=7&x=1", { Host: A, "X-Debug": "1", "X-Tag": "client", "X-Site": "spoofed", "X-Forwarded-For": "6.6.6.6" });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe("backend saw /users/7?id=7&x=1 with 0 bytes");
    // response_headers: set, add (kept the backend's own), remove
    expect(r.header("x-proxied")).toBe("yes");
    expect(r.all("x-backend")).toEqual(["b", "added"]);
    expect(r.header("x-backend-secret")).toBeUndefined();

    expect(seen.length).toBe(before + 1);
    const req = seen.at(-1)!;
    expect(req.target).toBe("/users/7?id=7&x=1");
    expect(req.header("host")).toBe(A);
    expect(req.header("x-debug")).toBeUndefined(); // remove
    expect(req.all("x-site")).toEqual(["a"]); // set replaces the client's
    expect(req.all("x-tag")).toEqual(["client", `from-${A}`]); // add keeps the client's
    expect(req.header("x-original-path")).toBe("/api/users/7"); // {path} is before strip_prefix
    expect(req.header("x-q")).toBe("7"); // {query.id}
    expect(req.all("x-forwarded-for")).toEqual(["127.0.0.1"]); // the client's 6.6.6.6 dropped
    expect(req.header("x-forwarded-proto")).toBe("http");
    expect(req.header("x-forwarded-host")).toBe(A);
    expect(req.header("x-request-id")).toBe(r.header("x-request-id"));
  });

  test("request_headers may set X-Real-IP = {remote_ip} (the documented example) and the backend gets it", async () => {
    const before = seen.length;
    const r = await send(port, "GET", "/api/ip", { Host: A, "X-Real-IP": "6.6.6.6" });
    expect(r.status).toBe(200);
    expect(seen.length).toBe(before + 1);
    expect(seen.at(-1)!.all("x-real-ip")).toEqual(["127.0.0.1"]);
  });

  test("prefix \"/api/\" matches below /api/ only; /api/ itself is stripped to /", async () => {
    const before = seen.length;
    const bare = await send(port, "GET", "/api/", { Host: A });
    expect(bare.status).toBe(200);
    expect(seen.at(-1)!.target).toBe("/");
    // "/api" and "/apix" are not under "/api/": the static catch-all answers (404 with its header rules).
    for (const p of ["/api", "/apix"]) {
      const other = await send(port, "GET", p, { Host: A });
      expectErrorPage(other, 404);
      expect(other.header("x-frame-options")).toBe("DENY");
    }
    expect(seen.length).toBe(before + 1);
  });

  test("exact route with respond: status, body, headers with placeholders; exact only", async () => {
    const r = await send(port, "GET", "/health", { Host: A });
    expect(r.status).toBe(203);
    expect(r.body.toString()).toBe("healthy\n");
    expect(r.header("content-type")).toBe("text/plain");
    expect(r.header("x-req")).toMatch(/^\S+$/);
    expect(r.header("x-req")).toBe(r.header("x-request-id"));
    expect(r.header("x-host")).toBe(A);
    // "=/health" does not match /health/ or /health/x: they go on to the static route.
    for (const p of ["/health/", "/health/x"]) expect((await send(port, "GET", p, { Host: A })).status).toBe(404);
  });

  test("regex route against the normalised path", async () => {
    for (const p of ["/img/cat.png", "/img/%63at.png", "/x/../img/cat.png"]) {
      const r = await send(port, "GET", p, { Host: A });
      expect([p, r.status, r.body.toString()]).toEqual([p, 200, "regex route\n"]);
    }
    // No match ([a-z]+ and the anchors): on to the static route, which has img/Cat.png.
    const st = await send(port, "GET", "/img/Cat.png", { Host: A });
    expect([st.status, st.body.toString()]).toEqual([200, "static png"]);
    expect((await send(port, "GET", "/img/cat.png.bak", { Host: A })).status).toBe(404);
  });

  test("redirect with {path} and {query}", async () => {
    const r = await send(port, "GET", "/old/page?a=1&b=two", { Host: A });
    expect(r.status).toBe(301);
    expect(r.header("location")).toBe("https://new.example.com/moved/old/page?a=1&b=two");
    expect(r.header("content-type")).toBe("text/html; charset=utf-8");
  });

  test("response_headers on the static route: set, add, remove; also on its 404", async () => {
    // Twice: the second answer comes from the file cache, its prepared head edited once and reused.
    for (let i = 0; i < 2; i++) {
      const ok = await send(port, "GET", "/", { Host: A });
      expect([ok.status, ok.body.toString()]).toEqual([200, "<h1>home</h1>\n"]);
      expect(ok.header("x-frame-options")).toBe("DENY");
      expect(ok.headers.filter(([n]) => n.toLowerCase() === "x-frame-options").length).toBe(1);
      expect(ok.header("x-served-for")).toBe(A);
      expect(ok.header("accept-ranges")).toBeUndefined();
      expect(ok.header("etag")).toBeDefined(); // untouched fields stay
    }

    const missing = await send(port, "GET", "/docs/missing.txt", { Host: A });
    expectErrorPage(missing, 404);
    expect(missing.header("x-frame-options")).toBe("DENY");
    expect(missing.header("x-served-for")).toBe(A);
  });

  test("methods: only the listed ones match (HEAD matches GET); others fall through", async () => {
    expect((await send(port, "GET", "/only-get", { Host: A })).body.toString()).toBe("got it");
    const head = await send(port, "HEAD", "/only-get", { Host: A });
    expect([head.status, head.header("content-length"), head.body.length]).toEqual([200, "6", 0]);
    // POST /only-get and GET /upload/x skip their routes and reach the static catch-all.
    const post = await send(port, "POST", "/only-get", { Host: A }, "x");
    expectErrorPage(post, 405); // the static route's answer to POST
    expect(post.header("allow")).toContain("GET");
    expect(post.header("x-frame-options")).toBe("DENY");
    const before = seen.length;
    const get = await send(port, "GET", "/upload/x", { Host: A });
    expectErrorPage(get, 404);
    expect(seen.length).toBe(before);
  });

  test("per-route max_body_size: within it proxied, beyond it 413 without reaching the backend", async () => {
    const before = seen.length;
    const ok = await send(port, "POST", "/upload/x", { Host: A }, "0123456789abcdef");
    expect([ok.status, ok.body.toString()]).toEqual([200, "backend saw /upload/x with 16 bytes"]);
    expect(seen.length).toBe(before + 1);

    expectErrorPage(await send(port, "PUT", "/upload/x", { Host: A }, "0123456789abcdefg"), 413);
    expect(seen.length).toBe(before + 1);
    // The global limit (1g) still applies elsewhere: the same body is fine on /api/.
    const api = await send(port, "POST", "/api/x", { Host: A }, "0123456789abcdefg");
    expect(api.body.toString()).toBe("backend saw /x with 17 bytes");
  });

  test("headers condition: X-Canary: 1 picks the canary route, other values do not", async () => {
    const c = await send(port, "GET", "/docs/page.txt", { Host: A, "X-Canary": "1" });
    expect(c.body.toString()).toBe("canary\n");
    const n = await send(port, "GET", "/docs/page.txt", { Host: A, "X-Canary": "2" });
    expect(n.body.toString()).toBe("page\n");
    // Earlier routes still win: the canary route is after /health.
    expect((await send(port, "GET", "/health", { Host: A, "X-Canary": "1" })).status).toBe(203);
  });

  test("--workers 1 and --access-log override the file", async () => {
    await send(port, "GET", "/health?logged=1", { Host: A });
    const log = await waitFor(() => fs.existsSync(logPath) && fs.readFileSync(logPath, "utf8").includes("/health?logged=1"));
    expect(log).toBe(true);
    expect(fs.existsSync(path.join(dir, "from-file-access.log"))).toBe(false);
    // One process: no supervisor announcing "(2 workers)".
    expect(server!.stderr()).not.toContain("workers)");
  });
});

// ---- --check -------------------------------------------------------------------------------

describe("--check", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmRoot(d);
  });
  function write(name: string, text: string): string {
    const d = tmpDir("ds-config-check-");
    dirs.push(d);
    const f = path.join(d, name);
    fs.writeFileSync(f, text);
    return f;
  }

  test.each(["toml", "yaml", "json"] as const)("a shadowed route (%s): warning on stderr, exit 0", async (format) => {
    const doc = {
      log: { access: "off" },
      site: [
        {
          listen: ["127.0.0.1:8080"],
          route: [
            { path: "/api/", respond: { body: "api" } },
            { path: "/api/v1/", respond: { body: "never" } },
          ],
        },
      ],
    };
    const text = serialise(doc, format);
    const f = write(`shadow.${format}`, text);
    // The warning names the line where route[1] starts: its [[site.route]] header (TOML), its
    // "- " item (YAML) or its "{" (JSON).
    const lines0 = text.split("\n");
    let at = lines0.findIndex((l) => l.includes("/api/v1/"));
    while (at > 0 && !/^\s*(\[\[site\.route\]\]|- |\{$)/.test(lines0[at]!)) at--;
    const line = at + 1;
    expect(lines0[at]).toMatch(format === "toml" ? /^\[\[site\.route\]\]$/ : format === "yaml" ? /- path: "\/api\/v1\/"/ : /^\s+\{$/);
    const r = await runCli(["--check", "--config", f]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`config OK: 1 site, 2 routes, 1 listener (${f})\n`);
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^dreamserver: ${f.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:${line}: warning: site\\[0\\]\\.route\\[1\\]: never matches: route\\[0\\] .+; .+`));
  });

  // Three mistakes each, written by hand so that the expected line numbers are plain to see.
  const invalid: Record<Format, { text: string; lines: [number, number, number] }> = {
    toml: {
      text: `[log]
access = "off"

[[site]]
listen = ["127.0.0.1:8080"]

  [[site.route]]
  path = "/a/"
  respond = { statuss = 200, body = "x" }

  [[site.route]]
  path = "/b/"
  redirect = { to = "https://example.com{path}", status = 305 }

  [[site.route]]
  path = "/c/"
  proxy = { to = ["ftp://127.0.0.1:21"] }
`,
      lines: [9, 13, 17],
    },
    yaml: {
      text: `log:
  access: "off"
site:
  - listen: ["127.0.0.1:8080"]
    route:
      - path: /a/
        respond:
          statuss: 200
          body: x
      - path: /b/
        redirect:
          to: "https://example.com{path}"
          status: 305
      - path: /c/
        proxy:
          to: ["ftp://127.0.0.1:21"]
`,
      lines: [8, 13, 16],
    },
    json: {
      text: `{
  "log": { "access": "off" },
  "site": [
    {
      "listen": ["127.0.0.1:8080"],
      "route": [
        { "path": "/a/", "respond": { "statuss": 200, "body": "x" } },
        {
          "path": "/b/",
          "redirect": { "to": "https://example.com{path}", "status": 305 }
        },
        {
          "path": "/c/",
          "proxy": {
            "to": ["ftp://127.0.0.1:21"]
          }
        }
      ]
    }
  ]
}
`,
      lines: [7, 10, 15],
    },
  };

  test.each(["toml", "yaml", "json"] as const)("an invalid file (%s): every problem as FILE:LINE: path: problem; fix, exit 2", async (format) => {
    const { text, lines: want } = invalid[format];
    const f = write(`bad.${format}`, text);
    const r = await runCli(["--check", "--config", f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/^dreamserver: .*:\d+: site\[\d\]\.route\[\d\]\..*: .+; .+/);
    expect(lines[0]).toBe(`dreamserver: ${f}:${want[0]}: site[0].route[0].respond.statuss: unknown key "statuss"; did you mean "status"?`);
    expect(lines[1]).toStartWith(`dreamserver: ${f}:${want[1]}: site[0].route[1].redirect.status: 305 `);
    expect(lines[2]).toStartWith(`dreamserver: ${f}:${want[2]}: site[0].route[2].proxy.to[0]: "ftp://127.0.0.1:21"`);
  });
});

// ---- --print-config and flags with --config -------------------------------------------------

describe("--print-config and flags with --config", () => {
  let dir = "";
  let root = "";
  let file = "";
  beforeAll(() => {
    dir = tmpDir("ds-config-print-");
    root = makeRoot({ "index.html": "x" });
    file = path.join(dir, "dreamserver.yaml");
    fs.writeFileSync(file, serialise(mainConfig({ port: 18080, port2: 18081, backend: 3000, root }), "yaml"));
  });
  afterAll(() => {
    rmRoot(root);
    rmRoot(dir);
  });

  test("--print-config prints TOML that --check accepts as the same configuration", async () => {
    const p = await runCli(["--print-config", "--config", file]);
    expect(p.code).toBe(0);
    expect(p.stderr).toBe("");
    expect(p.stdout).toContain("[[site.route]]");
    expect(p.stdout).toContain("workers = 2");
    const printed = path.join(dir, "printed.toml");
    fs.writeFileSync(printed, p.stdout);
    const c = await runCli(["--check", "--config", printed]);
    expect(c.stderr).toBe("");
    expect(c.code).toBe(0);
    expect(c.stdout).toBe(`config OK: 4 sites, ${MAIN_ROUTES} routes, 2 listeners (${printed})\n`);
    // Printing the printed file again gives the same text (apart from the source line).
    const again = await runCli(["--print-config", "--config", printed]);
    const body = (s: string) => s.split("\n").filter((l) => !l.startsWith("#")).join("\n");
    expect(body(again.stdout)).toBe(body(p.stdout));
  });

  test.each([
    [["--root", "/tmp"], "--root"],
    [["--proxy", "http://127.0.0.1:3000"], "--proxy"],
    [["--listen", "127.0.0.1:0"], "--listen"],
  ])("%p with --config → exit 2 with one clear line", async (flags, flag) => {
    // Bounded: if the flag were accepted, the server would start and keep running.
    const r = await runCliBounded(["--config", file, ...flags], 10_000);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith(`dreamserver: ${flag} cannot be combined with --config`);
    expect(lines[0]).toContain("in the file's");
  });
});
