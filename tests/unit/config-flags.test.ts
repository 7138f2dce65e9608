/**
 * src/config/flags.ts: flags without --config build the same Config a one-site file would; with
 * --config the global flags override the file and the site-shaped flags are refused; today's
 * flag error messages still name the flag; --check and --print-config; --help states the
 * schema's defaults.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Config } from "../../src/config/config.ts";
import { ConfigError, GLOBAL_FLAGS, parseFlags, reloadConfig, SITE_FLAGS, USAGE, type CliResult } from "../../src/config/flags.ts";
import { loadConfig, loadConfigText } from "../../src/config/load.ts";
import { SCHEMA, renderDefault, type Leaf, type TableNode } from "../../src/config/schema.ts";

let dir: string;
let pem: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-config-flags-"));
  fs.mkdirSync(path.join(dir, "public"));
  fs.mkdirSync(path.join(dir, "staticfiles"));
  pem = path.join(dir, "ca.pem");
  fs.writeFileSync(pem, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[]): CliResult => parseFlags(argv, dir, { cpus: 4 });
function config(argv: string[]): Config {
  const r = run(argv);
  if (r.kind !== "run") throw new Error(`expected run, got ${r.kind}`);
  return r.config;
}
function error(argv: string[]): string {
  try {
    run(argv);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`no error for ${argv.join(" ")}`);
}
function plain(c: Config): unknown {
  return JSON.parse(JSON.stringify({ ...c, source: null }, (_k, v) => (v instanceof URL ? v.href : v instanceof RegExp ? v.source : v)));
}
const fileConfig = (toml: string): Config => {
  const r = loadConfigText(toml, path.join(dir, "x.toml"), { cpus: 4 });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
};

describe("flags only: the same Config as a one-site file", () => {
  test("no flags: ./staticfiles on 0.0.0.0:8080, workers auto, the default access log", () => {
    expect(plain(config([]))).toEqual(
      plain(fileConfig(`[[site]]\nlisten = ["0.0.0.0:8080"]\n[[site.route]]\npath = "/"\nstatic = { root = "staticfiles" }\n`)),
    );
    const c = config([]);
    expect(c.source).toBeNull();
    expect(c.workers).toBe(4);
    expect(c.accessLog).toBe("/var/log/dreamserver/access.log");
  });

  test("static flags", () => {
    const argv = ["--root", "public", "--listen", "127.0.0.1:9000", "--cache-validity", "2s", "--workers", "2", "--access-log", "-", "--log-format", "json", "--header-timeout", "3s", "--max-body-size", "10m"];
    const toml = `[server]\nworkers = 2\n[log]\naccess = "-"\nformat = "json"\n[limits]\nmax_body_size = "10m"\n[timeouts]\nheader = "3s"\n[[site]]\nlisten = ["127.0.0.1:9000"]\n[[site.route]]\npath = "/"\nstatic = { root = "public", cache_validity = "2s" }\n`;
    expect(plain(config(argv))).toEqual(plain(fileConfig(toml)));
  });

  test("proxy flags", () => {
    const argv = ["--proxy", "https://127.0.0.1:3000/base", "--trusted-proxy", "10.0.0.0/8,::1", "--trusted-proxy", "192.168.0.0/16", "--proxy-host-header", "--follow-redirects", "3", "--upstream-ca", "ca.pem", "--insecure-upstream-tls", "--underscores-in-headers", "--upstream-timeout", "30s"];
    const toml = `[timeouts]\nupstream_header = "30s"\n[[site]]\nlisten = ["0.0.0.0:8080"]\n[[site.route]]\npath = "/"\nproxy = { to = ["https://127.0.0.1:3000/base"], trusted_proxies = ["10.0.0.0/8", "::1", "192.168.0.0/16"], host_header = "upstream", follow_redirects = 3, tls_ca = "ca.pem", tls_verify = false, underscores_in_headers = true }\n`;
    const c = config(argv);
    expect(plain(c)).toEqual(plain(fileConfig(toml)));
    const a = c.sites[0]!.routes[0]!.action;
    expect(a.kind === "proxy" && a.proxy.tlsCaFile).toBe(pem);
  });

  test("--flag=value works like --flag value", () => {
    expect(plain(config(["--root=public", "--listen=8081"]))).toEqual(plain(config(["--root", "public", "--listen", "8081"])));
  });
});

describe("flag mistakes: one line naming the flag (today's messages where possible)", () => {
  const BAD: [string[], string][] = [
    [["--listen", "99999"], '--listen: "99999": the port must be a number from 0 to 65535'],
    [["--listen", "abc"], '"abc"'],
    [["--listen", "127.0.0.1:http"], "127.0.0.1:http"],
    [["--listen", "::1:8080"], "--listen: "],
    [["--listen"], "--listen needs a value: --listen [HOST:]PORT"],
    [["--root", "/nonexistent/ds-root"], '--root: "/nonexistent/ds-root" does not exist'],
    [["--root", "ca.pem"], '--root: "ca.pem" is not a directory'],
    [["--proxy", "ftp://x"], '--proxy: "ftp://x": only http:// and https://'],
    [["--proxy", "not a url"], "--proxy: "],
    [["--proxy", "http://u:p@x"], "credentials"],
    [["--header-timeout", "soon"], '--header-timeout: the string "soon" is not a duration'],
    [["--shutdown-timeout", "0"], "--shutdown-timeout: "],
    [["--max-body-size", "lots"], "--max-body-size: "],
    [["--max-output-memory", "1k"], '--max-output-memory: "1k" is too small; use at least "1m"'],
    [["--log-format", "xml"], '--log-format: must be "text" or "json"'],
    [["--workers", "0"], '--workers: must be a number from 1 to 999 or "auto"'],
    [["--workers", "many"], "--workers: "],
    [["--follow-redirects", "x", "--proxy", "http://a"], "--follow-redirects: "],
    [["--trusted-proxy", "10.0.0.1/8", "--proxy", "http://a"], '--trusted-proxy: "10.0.0.1/8" is not an IP or CIDR'],
    [["--upstream-ca", "nope.pem", "--proxy", "https://a"], '--upstream-ca: "nope.pem" cannot be read'],
    [["--cache-validity", "x"], "--cache-validity: "],
    [["serve"], 'unexpected argument "serve"'],
    [["--frobnicate"], "unknown flag --frobnicate"],
    [["--trusted-proxy", "10.0.0.0/8"], "only apply with --proxy URL"],
    [["--insecure-upstream-tls"], "only apply with --proxy https://"],
    [["--root", "public", "--proxy", "http://a"], "--root and --proxy cannot be combined"],
    [["--check=yes"], "--check takes no value"],
  ];
  test.each(BAD)("%p", (argv, fragment) => {
    const msg = error(argv);
    expect(msg.split("\n").length).toBe(1);
    expect(msg).toContain(fragment);
  });
});

test("no flags and no ./staticfiles: the --root message", () => {
  expect(() => parseFlags([], path.join(dir, "public"))).toThrow('--root: "./staticfiles" does not exist');
});

describe("with --config", () => {
  const TOML = `[server]\nworkers = 2\n[log]\naccess = "off"\n[timeouts]\nheader = "7s"\n[[site]]\nlisten = ["127.0.0.1:8080"]\n[[site.route]]\npath = "/"\nstatic = { root = "public" }\n[[site.route]]\npath = "/api/"\nproxy = { to = "http://127.0.0.1:3000" }\n`;
  let file: string;
  beforeAll(() => {
    file = path.join(dir, "site.toml");
    fs.writeFileSync(file, TOML);
  });

  test("run: the file's config, its path, no overrides", () => {
    const r = run(["--config", "site.toml"]);
    expect(r).toMatchObject({ kind: "run", configPath: file, overrides: [], check: false });
    if (r.kind !== "run") return;
    expect(r.config.source).toBe(file);
    expect(r.config.timeouts.headerMs).toBe(7000);
    // route[1] is shadowed by "/": a warning, still runs
    expect(r.warnings).toEqual([`${file}:12: warning: site[0].route[1]: never matches: route[0] (path "/") before it takes every request it would; move this route above it or narrow route[0]`]);
  });

  test("global flags override the file", () => {
    const c = config(["--config", file, "--workers", "6", "--access-log", "-", "--log-format", "json", "--header-timeout", "1s", "--keepalive-timeout", "2s", "--body-timeout", "3s", "--send-timeout", "4s", "--upstream-connect-timeout", "5s", "--upstream-timeout", "6s", "--shutdown-timeout", "7s", "--max-body-size", "1m", "--max-output-memory", "2m"]);
    expect(c.workers).toBe(6);
    expect(c.accessLog).toBe("-");
    expect(c.logFormat).toBe("json");
    expect(c.timeouts).toMatchObject({ headerMs: 1000, keepAliveMs: 2000, bodyIdleMs: 3000, sendIdleMs: 4000, upstreamConnectMs: 5000, upstreamHeaderMs: 6000, shutdownMs: 7000 });
    expect(c.limits).toMatchObject({ maxBodySize: 1024 * 1024, maxOutputMemory: 2 * 1024 * 1024 });
    expect(c.sites[0]!.routes[1]!.timeouts.upstreamHeaderMs).toBe(6000);
    expect(c.sites[0]!.routes[1]!.maxBodySize).toBe(1024 * 1024);
  });

  test("a bad override names its flag", () => {
    expect(error(["--config", file, "--workers", "0"])).toBe('--workers: must be a number from 1 to 999 or "auto", got the number 0; use "auto" or a number such as 4');
  });

  test.each(Object.keys(SITE_FLAGS))("%s is refused", (flag) => {
    const argv = ["--config", file, flag];
    if (!["--proxy-host-header", "--insecure-upstream-tls", "--underscores-in-headers"].includes(flag)) argv.push(flag === "--root" ? "public" : "x");
    const msg = error(argv);
    expect(msg).toContain(`${flag} cannot be combined with --config`);
    expect(msg).toContain(SITE_FLAGS[flag]!);
  });

  test("problems in the file: one line each, FILE:LINE: path: message", () => {
    fs.writeFileSync(path.join(dir, "bad.toml"), TOML.replace("workers = 2", "workers = 0").replace('root = "public"', 'root = "nope"'));
    const msg = error(["--config", "bad.toml"]);
    expect(msg.split("\n")).toEqual([
      `${path.join(dir, "bad.toml")}:2: server.workers: must be a number from 1 to 999 or "auto", got the number 0; use "auto" or a number such as 4`,
      `${path.join(dir, "bad.toml")}:11: site[0].route[0].static.root: "nope" does not exist (resolved to ${path.join(dir, "nope")}); create the folder or point root at the folder to serve`,
    ]);
  });

  test("--check: a summary line", () => {
    const r = run(["--config", file, "--check"]);
    expect(r).toMatchObject({ kind: "check", summary: `config OK: 1 site, 2 routes, 1 listener (${file})` });
    if (r.kind === "check") expect(r.warnings.length).toBe(1);
  });

  test("--check without --config checks the flags", () => {
    expect(run(["--root", "public", "--check"])).toMatchObject({ kind: "check", summary: "config OK: 1 site, 1 route, 1 listener (command line)" });
  });

  test("--print-config", () => {
    const r = run(["--config", file, "--print-config", "--workers", "3"]);
    expect(r.kind).toBe("print-config");
    if (r.kind !== "print-config") return;
    expect(r.text).toContain("workers = 3\n");
    fs.writeFileSync(path.join(dir, "printed.toml"), r.text);
    const again = loadConfig(path.join(dir, "printed.toml"), { cpus: 4 });
    expect(again.ok && plain(again.config)).toEqual(plain(r.config));
  });

  test("reload: the same file, the same overrides", () => {
    const r = run(["--config", file, "--header-timeout", "1s"]);
    if (r.kind !== "run") throw new Error(r.kind);
    fs.writeFileSync(file, TOML.replace('header = "7s"', 'header = "9s"\nkeep_alive = "9s"'));
    const re = reloadConfig(r, { cpus: 4 });
    expect(re && re.ok && re.config.timeouts).toMatchObject({ headerMs: 1000, keepAliveMs: 9000 });
    fs.writeFileSync(file, TOML);
    expect(reloadConfig({ configPath: null, overrides: [] })).toBeNull();
  });
});

describe("--help states the schema's defaults", () => {
  const leafAt = (p: readonly string[]): Leaf => {
    let n: TableNode = SCHEMA;
    for (const k of p.slice(0, -1)) n = n.fields[k] as TableNode;
    return n.fields[p[p.length - 1]!] as Leaf;
  };
  test.each(Object.entries(GLOBAL_FLAGS).filter(([f]) => f !== "--access-log" && f !== "--workers"))("%s", (flag, p) => {
    const line = USAGE.split("\n").find((l) => l.trimStart().startsWith(flag + " "))!;
    expect(line).toBeDefined();
    const dflt = JSON.parse(renderDefault(leafAt(p))) as string;
    expect(line).toContain(`(default ${dflt}`);
  });
  test("every flag the parser knows is in the help", () => {
    for (const f of [...Object.keys(GLOBAL_FLAGS), ...Object.keys(SITE_FLAGS), "--config", "--check", "--print-config"]) expect(USAGE).toContain(f + " ");
  });
});
