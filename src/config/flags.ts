/**
 * Command line → Config. One schema and one validator serve the flags and the config file:
 *  - without --config, today's flags build the raw object of a one-site config (one route "/",
 *    static or proxy) and go through validate(), exactly like a file would;
 *  - with --config FILE, the global flags (--workers, --access-log, --log-format, the timeouts,
 *    --max-body-size, --max-output-memory) override the file's values, and the site-shaped flags
 *    are refused (they have no single site to apply to).
 * Every mistake is a ConfigError: one line per problem (a flag problem is one line naming the
 * flag); main.ts prints each line prefixed with "dreamserver: " and exits 2.
 */
import path from "node:path";
import type { Config } from "./config.ts";
import { formatProblem, loadConfig, type LoadResult, type Override, type Problem } from "./load.ts";
import { printConfig } from "./print.ts";
import { nodeFs } from "./load.ts";
import { summarize, validate, type FsCheck } from "./validate.ts";

export class ConfigError extends Error {
  /** One line per problem, without the "dreamserver: " prefix. */
  readonly lines: readonly string[];
  constructor(lines: string | readonly string[]) {
    const l = typeof lines === "string" ? [lines] : lines;
    super(l.join("\n"));
    this.lines = l;
  }
}

export const USAGE = `DreamServer — static file server and HTTP/1.1 reverse proxy

Usage:
  dreamserver [--listen [HOST:]PORT] [--root DIR] [--proxy URL] [--access-log PATH|-|off]
              [--log-format text|json] [--max-body-size SIZE] [--help] [--version]
  dreamserver --config FILE [--check] [--print-config] [global options]
  dreamserver health [URL]  Exit 0 if URL (default http://127.0.0.1:9180/healthz) answers 2xx,
                            else 1: a health check for containers, which have no curl
  dreamserver hash-password [--bcrypt] < PASSWORD   (argon2id hash for basic_auth users)

Options:
  --config FILE             Load sites and routes from a .toml, .yaml/.yml or .json file
                            (docs/configuration.md). Global options below override the file;
                            --listen, --root, --proxy and the proxy/cache options are refused
  --check                   Validate the configuration, print a summary or every problem, exit
                            0 (valid, warnings printed) or 2 (problems), like nginx -t
  --print-config            Print the effective configuration as TOML, every default filled in
  --bcrypt                  With hash-password: a bcrypt hash (cost 10) instead of argon2id
  --listen [HOST:]PORT      Address to listen on (default 0.0.0.0:8080). IPv6: [::1]:8080
  --root DIR                Folder to serve (default ./staticfiles)
  --proxy URL               Forward every request to this backend, e.g. http://127.0.0.1:3000
                            (https:// upstreams are verified against the system CAs)
  --access-log PATH|-|off   Access log file (default ${"/var/log/dreamserver/access.log"};
                            falls back to stdout if it cannot be opened), - for stdout, off to disable
  --log-format text|json    Access log line format (default text)
  --max-body-size SIZE      Largest request body accepted, e.g. 10m, 1g (default 1g); larger → 413
  --max-output-memory SIZE  Bytes queued for slow clients, whole process (default 128m); over half
                            of it queues shrink to 16k, over all of it the slowest clients are cut
  --workers N|auto          Listener processes sharing the port (default auto = one per CPU; 1 on <= 2 CPUs)
  --trusted-proxy CIDR      Peer whose X-Forwarded-* headers are kept (repeatable; default none)
  --proxy-host-header       Send the upstream's host as Host instead of the client's
  --underscores-in-headers  Forward request fields with "_" in the name (default: dropped)
  --follow-redirects N      Follow up to N same-origin redirects for GET/HEAD (default 0 = off)
  --cache-validity D        Trust a cached file this long without re-checking the disk
                            (default 0 = check on every request, never stale)
  --upstream-ca FILE        PEM file of CAs that sign an https:// backend's certificate
  --insecure-upstream-tls   Do not verify an https:// upstream's certificate (testing only)
Timeouts (DURATION like 500ms, 10s, 2m):
  --header-timeout D        Time to receive a request head (default 10s) → 408
  --keepalive-timeout D     Idle keep-alive connection (default 75s)
  --body-timeout D          Longest pause inside a request body (default 60s) → 408
  --send-timeout D          Longest time a client may stop reading our response (default 60s)
  --upstream-connect-timeout D   Connecting to the backend (default 5s) → 504
  --upstream-timeout D      Request sent → first response byte (default 60s) → 504
  --shutdown-timeout D      Grace period for in-flight requests on SIGTERM (default 10s)
  --admin ADDR|off          Admin listener for GET /healthz and /readyz (default 127.0.0.1:9180)
  --help                    Show this help
  --version                 Print the version

Examples:
  dreamserver --root ./public --listen 8000
  dreamserver --proxy http://127.0.0.1:3000 --access-log - --log-format json
  dreamserver --config /etc/dreamserver/dreamserver.toml --check
`;

/** Global flags: allowed with --config, where they override the file. Flag → raw path. */
export const GLOBAL_FLAGS: Readonly<Record<string, readonly string[]>> = {
  "--workers": ["server", "workers"],
  "--access-log": ["log", "access"],
  "--log-format": ["log", "format"],
  "--max-body-size": ["limits", "max_body_size"],
  "--max-output-memory": ["limits", "max_output_memory"],
  "--header-timeout": ["timeouts", "header"],
  "--keepalive-timeout": ["timeouts", "keep_alive"],
  "--body-timeout": ["timeouts", "body_idle"],
  "--send-timeout": ["timeouts", "send_idle"],
  "--upstream-connect-timeout": ["timeouts", "upstream_connect"],
  "--upstream-timeout": ["timeouts", "upstream_header"],
  "--shutdown-timeout": ["timeouts", "shutdown"],
  "--admin": ["admin", "listen"],
};

/** Site-shaped flags: they build the one site of a flag-only config; refused with --config. */
export const SITE_FLAGS: Readonly<Record<string, string>> = {
  "--listen": "listen",
  "--root": "static.root",
  "--proxy": "proxy.to",
  "--trusted-proxy": "proxy.trusted_proxies",
  "--proxy-host-header": 'proxy.host_header = "upstream"',
  "--follow-redirects": "proxy.follow_redirects",
  "--upstream-ca": "proxy.tls_ca",
  "--insecure-upstream-tls": "proxy.tls_verify = false",
  "--cache-validity": "static.cache_validity",
  "--underscores-in-headers": "proxy.underscores_in_headers = true",
};
const VALUELESS = new Set(["--proxy-host-header", "--insecure-upstream-tls", "--underscores-in-headers", "--check", "--print-config"]);

export type RunResult = {
  readonly kind: "run";
  readonly config: Config;
  /** The config file (absolute), or null when built from flags: a reload re-reads it. */
  readonly configPath: string | null;
  /** Global flags given with --config; a reload applies them again. */
  readonly overrides: readonly Override[];
  /** Formatted warnings (shadowed routes …) to print on stderr before starting. */
  readonly warnings: readonly string[];
  readonly check: false;
};
export type CliResult =
  | { readonly kind: "help" }
  | { readonly kind: "version" }
  | { readonly kind: "health"; readonly url: string }
  /** `dreamserver hash-password [--bcrypt]`: read a password from stdin, print its hash (issue 12). */
  | { readonly kind: "hash-password"; readonly algorithm: "argon2id" | "bcrypt" }
  | RunResult
  /** --check and the configuration is valid: print warnings, then summary, exit 0. */
  | { readonly kind: "check"; readonly config: Config; readonly configPath: string | null; readonly warnings: readonly string[]; readonly summary: string; readonly check: true }
  /** --print-config: print text (stdout) and warnings (stderr), exit 0. */
  | { readonly kind: "print-config"; readonly config: Config; readonly configPath: string | null; readonly warnings: readonly string[]; readonly text: string };

export interface FlagOptions {
  /** The CPU count behind "auto" workers (default navigator.hardwareConcurrency; see autoWorkers). */
  readonly cpus?: number;
  readonly fs?: FsCheck;
}

/**
 * Parse argv (without the program name). cwd resolves relative paths. Throws ConfigError (one
 * line per problem) for every mistake, in the flags or in the config file.
 */
export function parseFlags(argv: readonly string[], cwd: string = process.cwd(), opts: FlagOptions = {}): CliResult {
  const cpus = opts.cpus ?? (navigator.hardwareConcurrency || 1);
  let configFile: string | undefined;
  let check = false;
  let print = false;
  const globals: Override[] = [];
  const site = new Map<string, string[]>(); // site flag → values in order
  if (argv[0] === "health") {
    if (argv.length > 2) throw new ConfigError(`health takes one URL; write dreamserver health http://127.0.0.1:9180/healthz`);
    return { kind: "health", url: argv[1] ?? "http://127.0.0.1:9180/healthz" };
  }

  if (argv[0] === "hash-password") {
    const rest = argv.slice(1);
    if (rest.length === 0) return { kind: "hash-password", algorithm: "argon2id" };
    if (rest.length === 1 && rest[0] === "--bcrypt") return { kind: "hash-password", algorithm: "bcrypt" };
    throw new ConfigError(`hash-password takes no arguments except --bcrypt; pipe the password in: printf '%s\\n' 'secret' | dreamserver hash-password`);
  }

  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let inline: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      inline = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const value = (what: string): string => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith("--") && v.length > 2)) throw new ConfigError(`${arg} needs a value: ${arg} ${what}`);
      i++;
      return v;
    };
    if (arg === "-h" || arg === "--help") return { kind: "help" };
    if (arg === "-v" || arg === "--version") return { kind: "version" };
    if (VALUELESS.has(arg) && inline !== undefined) throw new ConfigError(`${arg} takes no value; write just ${arg}`);
    if (arg === "--config") configFile = value("FILE");
    else if (arg === "--check") check = true;
    else if (arg === "--print-config") print = true;
    else if (arg in GLOBAL_FLAGS) {
      const v = value(valueHint(arg));
      globals.push({ path: GLOBAL_FLAGS[arg]!, value: globalValue(arg, v), flag: arg });
    } else if (arg in SITE_FLAGS) {
      const v = VALUELESS.has(arg) ? "" : value(valueHint(arg));
      site.set(arg, [...(site.get(arg) ?? []), v]);
    } else if (arg.startsWith("-")) throw new ConfigError(`unknown flag ${arg}; run dreamserver --help for the list`);
    else throw new ConfigError(`unexpected argument "${arg}"; flags take the form --name value (see --help)`);
  }

  if (configFile !== undefined) {
    if (site.size) {
      const names = [...site.keys()];
      throw new ConfigError(
        `${names.join(", ")} cannot be combined with --config: ${names.length > 1 ? "they configure" : "it configures"} a site; set ${names.map((n) => SITE_FLAGS[n]).join(", ")} in the file's [[site]] / [[site.route]] instead`,
      );
    }
    const r = loadConfig(configFile, { overrides: globals, cpus, cwd, fs: opts.fs });
    return finish(r, globals, check, print);
  }

  // Flags only: the raw object of a one-site config, validated like a file.
  const { raw, flagOf } = flagsToRaw(site, globals);
  const r = validate(raw, { baseDir: cwd, fs: opts.fs ?? nodeFs, cpus, source: null });
  const tag = (p: Problem): Problem => ({ ...p, flag: flagOf(p.path) });
  const result: LoadResult = r.ok ? { ok: true, file: "", config: r.config, warnings: r.warnings.map(tag) } : { ok: false, file: "", problems: r.problems.map(tag), warnings: r.warnings.map(tag) };
  return finish(result, [], check, print);
}

function finish(r: LoadResult, overrides: readonly Override[], check: boolean, print: boolean): CliResult {
  const file = r.file || null;
  if (!r.ok) throw new ConfigError(problemLines(r));
  const warnings = r.warnings.map((w) => formatProblem(w, file, "warning"));
  if (print) return { kind: "print-config", config: r.config, configPath: file, warnings, text: printConfig(r.config) };
  if (check) {
    // Warnings the server starts with but a pre-deploy check must not pass (an expired certificate).
    const fatal = r.warnings.filter((w) => w.failsCheck);
    if (fatal.length > 0) throw new ConfigError(fatal.map((w) => formatProblem(w, file)));
    return { kind: "check", config: r.config, configPath: file, warnings, summary: checkSummary(r.config, file), check: true };
  }
  return { kind: "run", config: r.config, configPath: file, overrides, warnings, check: false };
}

/** Every problem of a failed load as lines (FILE:LINE: path: message); warnings are left out. */
export function problemLines(r: LoadResult): string[] {
  if (r.ok) return [];
  const file = r.file || null;
  return r.problems.map((p) => formatProblem(p, file));
}

/** "config OK: 2 sites, 7 routes, 2 listeners (FILE)". */
export function checkSummary(c: Config, file: string | null): string {
  const n = summarize(c);
  const pl = (k: number, w: string): string => `${k} ${w}${k === 1 ? "" : "s"}`;
  return `config OK: ${pl(n.sites, "site")}, ${pl(n.routes, "route")}, ${pl(n.listeners, "listener")} (${file ?? "command line"})`;
}

/**
 * SIGHUP: re-read the same file with the same flag overrides. Null for a flag-only config
 * (nothing to re-read). On failure the caller keeps the old runtime and prints problemLines(r).
 */
export function reloadConfig(run: Pick<RunResult, "configPath" | "overrides">, opts: FlagOptions = {}): LoadResult | null {
  if (run.configPath === null) return null;
  return loadConfig(run.configPath, { overrides: run.overrides, cpus: opts.cpus, fs: opts.fs });
}

function valueHint(flag: string): string {
  if (flag.endsWith("-timeout") || flag === "--cache-validity") return "DURATION";
  if (flag.endsWith("-size") || flag === "--max-output-memory") return "SIZE";
  return (
    {
      "--workers": "N|auto",
      "--access-log": "PATH|-|off",
      "--admin": "ADDR|off",
      "--log-format": "text|json",
      "--listen": "[HOST:]PORT",
      "--root": "DIR",
      "--proxy": "URL",
      "--trusted-proxy": "CIDR",
      "--follow-redirects": "N",
      "--upstream-ca": "FILE",
    }[flag] ?? "VALUE"
  );
}

/** A global flag's string as the file would hold it. */
function globalValue(flag: string, v: string): unknown {
  if (flag === "--workers") return v === "auto" ? "auto" : /^\d{1,9}$/.test(v) ? Number(v) : v;
  return v;
}

/** The raw one-site config the flags describe, and which flag each path came from. */
function flagsToRaw(site: Map<string, string[]>, globals: readonly Override[]): { raw: Record<string, unknown>; flagOf: (path: string) => string | undefined } {
  const has = (f: string): boolean => site.has(f);
  const last = (f: string): string | undefined => site.get(f)?.at(-1);
  const proxyOnly = ["--trusted-proxy", "--proxy-host-header", "--follow-redirects", "--underscores-in-headers"];
  if (!has("--proxy")) {
    if (has("--upstream-ca") || has("--insecure-upstream-tls")) throw new ConfigError("--upstream-ca and --insecure-upstream-tls only apply with --proxy https://…");
    if (proxyOnly.some(has)) throw new ConfigError("--trusted-proxy, --proxy-host-header, --follow-redirects and --underscores-in-headers only apply with --proxy URL");
  } else {
    if (has("--root")) throw new ConfigError("--root and --proxy cannot be combined: flags build one route that serves a folder or forwards to a backend; use --config for both");
    if (has("--cache-validity")) throw new ConfigError("--cache-validity only applies to files served with --root, not with --proxy");
  }
  const flags = new Map<string, string>();
  const raw: Record<string, unknown> = {};
  for (const o of globals) {
    let t = raw;
    for (const k of o.path.slice(0, -1)) t = (t[k] ??= {}) as Record<string, unknown>;
    t[o.path[o.path.length - 1]!] = o.value;
    flags.set(o.path.join("."), o.flag);
  }
  const route: Record<string, unknown> = { path: "/" };
  const r0 = "site[0].route[0]";
  if (has("--proxy")) {
    const proxy: Record<string, unknown> = { to: [last("--proxy")] };
    flags.set(`${r0}.proxy`, "--proxy");
    if (has("--trusted-proxy")) {
      proxy.trusted_proxies = site
        .get("--trusted-proxy")!
        .flatMap((v) => v.split(","))
        .map((s) => s.trim())
        .filter(Boolean);
      flags.set(`${r0}.proxy.trusted_proxies`, "--trusted-proxy");
    }
    if (has("--proxy-host-header")) proxy.host_header = "upstream";
    if (has("--follow-redirects")) {
      const v = last("--follow-redirects")!;
      proxy.follow_redirects = /^\d{1,9}$/.test(v) ? Number(v) : v;
      flags.set(`${r0}.proxy.follow_redirects`, "--follow-redirects");
    }
    if (has("--upstream-ca")) {
      proxy.tls_ca = last("--upstream-ca");
      flags.set(`${r0}.proxy.tls_ca`, "--upstream-ca");
    }
    if (has("--insecure-upstream-tls")) proxy.tls_verify = false;
    if (has("--underscores-in-headers")) proxy.underscores_in_headers = true;
    route.proxy = proxy;
  } else {
    const st: Record<string, unknown> = { root: last("--root") ?? "./staticfiles" };
    flags.set(`${r0}.static`, "--root");
    if (has("--cache-validity")) {
      const v = last("--cache-validity")!;
      st.cache_validity = v;
      flags.set(`${r0}.static.cache_validity`, "--cache-validity");
    }
    route.static = st;
  }
  raw.site = [{ listen: [last("--listen") ?? "0.0.0.0:8080"], route: [route] }];
  flags.set("site[0].listen", "--listen");
  const flagOf = (p: string): string | undefined => {
    for (let q = p; q; ) {
      const f = flags.get(q);
      if (f) return f;
      const m = /(\[[^\]]*\]|\.[^.[]+)$/.exec(q);
      if (!m) return undefined;
      q = q.slice(0, m.index);
    }
    return undefined;
  };
  return { raw, flagOf };
}

/** Resolve a config path for messages (absolute). */
export function resolveConfigPath(file: string, cwd: string = process.cwd()): string {
  return path.resolve(cwd, file);
}
