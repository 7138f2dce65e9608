/**
 * Command-line flags → Config. Every mistake becomes a ConfigError whose message names the
 * flag and says how to fix it; main.ts prints it as one line and exits 2 (never a stack trace).
 */
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS, DEFAULTS, type Config, type LogFormat, type ProxyConfig } from "./config.ts";
import { parseDuration, parseSize } from "./size.ts";
import type { Timeouts } from "./config.ts";

export class ConfigError extends Error {}

export const USAGE = `DreamServer — static file server and HTTP/1.1 reverse proxy

Usage:
  dreamserver [--listen [HOST:]PORT] [--root DIR] [--proxy URL] [--access-log PATH|-|off]
              [--log-format text|json] [--max-body-size SIZE] [--help] [--version]

Options:
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
  --workers N|auto          Listener processes sharing the port (default auto = one per CPU)
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
  --help                    Show this help
  --version                 Print the version

Examples:
  dreamserver --root ./public --listen 8000
  dreamserver --proxy http://127.0.0.1:3000 --access-log - --log-format json
`;

export type CliResult = { kind: "help" } | { kind: "version" } | { kind: "run"; config: Config };

/** Parse argv (without the program name). cwd resolves relative paths. */
export function parseFlags(argv: readonly string[], cwd: string = process.cwd()): CliResult {
  let listen: string | undefined;
  let root: string | undefined;
  let proxyUrl: string | undefined;
  let accessLog: string | undefined;
  let logFormat: LogFormat = DEFAULTS.logFormat;
  let maxBody = DEFAULT_LIMITS.maxBodySize;
  let maxOutputMemory = DEFAULT_LIMITS.maxOutputMemory;
  // Issue #4: use every core by default. 1 = a single process, no supervisor.
  let workers: number = navigator.hardwareConcurrency || 1;
  const trusted: string[] = [];
  let rewriteHost = false;
  let underscoresInHeaders: boolean = DEFAULTS.underscoresInHeaders;
  let followRedirects = 0;
  let tlsVerify = true;
  let tlsCaFile: string | null = null;
  let fileCacheValidityMs: number = DEFAULTS.fileCacheValidityMs;
  const timeouts: { -readonly [K in keyof Timeouts]: number } = { ...DEFAULT_TIMEOUTS };
  const duration = (flag: string, v: string): number => {
    const ms = parseDuration(v);
    if (ms === null || ms <= 0) throw new ConfigError(`${flag}: "${v}" is not a duration; use e.g. 500ms, 10s or 2m`);
    return ms;
  };
  const TIMEOUT_FLAGS: Record<string, keyof Timeouts> = {
    "--header-timeout": "headerMs",
    "--keepalive-timeout": "keepAliveMs",
    "--body-timeout": "bodyIdleMs",
    "--send-timeout": "sendIdleMs",
    "--upstream-connect-timeout": "upstreamConnectMs",
    "--upstream-timeout": "upstreamHeaderMs",
    "--shutdown-timeout": "shutdownMs",
  };

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
    switch (arg) {
      case "-h":
      case "--help":
        return { kind: "help" };
      case "-v":
      case "--version":
        return { kind: "version" };
      case "--listen":
        listen = value("[HOST:]PORT");
        break;
      case "--root":
        root = value("DIR");
        break;
      case "--proxy":
        proxyUrl = value("URL");
        break;
      case "--access-log":
        accessLog = value("PATH|-|off");
        break;
      case "--log-format": {
        const v = value("text|json");
        if (v !== "text" && v !== "json") throw new ConfigError(`--log-format must be "text" or "json", got "${v}"`);
        logFormat = v;
        break;
      }
      case "--max-body-size": {
        const v = value("SIZE");
        const n = parseSize(v);
        if (n === null) throw new ConfigError(`--max-body-size: "${v}" is not a size; use bytes or a k/m/g suffix, e.g. 10m or 1g`);
        maxBody = n;
        break;
      }
      case "--max-output-memory": {
        const v = value("SIZE");
        const n = parseSize(v);
        if (n === null || n < 1024 * 1024) throw new ConfigError(`--max-output-memory: "${v}" is not a size of at least 1m; use e.g. 64m or 1g`);
        maxOutputMemory = n;
        break;
      }
      case "--workers": {
        const v = value("N|auto");
        if (v === "auto") workers = navigator.hardwareConcurrency || 1;
        else if (/^\d{1,3}$/.test(v) && Number(v) >= 1) workers = Number(v);
        else throw new ConfigError(`--workers must be a number from 1 to 999 or "auto", got "${v}"`);
        break;
      }
      case "--trusted-proxy":
        trusted.push(...value("CIDR").split(",").map((s) => s.trim()).filter(Boolean));
        break;
      case "--proxy-host-header":
        rewriteHost = true;
        break;
      case "--underscores-in-headers":
        underscoresInHeaders = true;
        break;
      case "--follow-redirects": {
        const v = value("N");
        if (!/^\d{1,2}$/.test(v)) throw new ConfigError(`--follow-redirects must be a number from 0 to 99, got "${v}"`);
        followRedirects = Number(v);
        break;
      }
      case "--cache-validity": {
        const v = value("DURATION");
        const ms = v === "0" ? 0 : parseDuration(v);
        if (ms === null) throw new ConfigError(`--cache-validity: "${v}" is not a duration; use 0 (check every request) or e.g. 1s`);
        fileCacheValidityMs = ms;
        break;
      }
      case "--insecure-upstream-tls":
        tlsVerify = false;
        break;
      case "--upstream-ca":
        tlsCaFile = value("FILE");
        break;
      default:
        if (arg in TIMEOUT_FLAGS) {
          timeouts[TIMEOUT_FLAGS[arg]!] = duration(arg, value("DURATION"));
          break;
        }
        if (arg.startsWith("-")) throw new ConfigError(`unknown flag ${arg}; run dreamserver --help for the list`);
        throw new ConfigError(`unexpected argument "${arg}"; flags take the form --name value (see --help)`);
    }
  }

  const { hostname, port } = parseListen(listen);
  let proxy: ProxyConfig | null = null;
  let tlsCa: string | null = null;
  if (tlsCaFile !== null) {
    try {
      tlsCa = fs.readFileSync(path.resolve(cwd, tlsCaFile), "utf8");
    } catch {
      throw new ConfigError(`--upstream-ca "${tlsCaFile}" cannot be read; give the path of a PEM certificate file`);
    }
    if (!tlsCa.includes("-----BEGIN CERTIFICATE-----")) throw new ConfigError(`--upstream-ca "${tlsCaFile}" holds no PEM certificate ("-----BEGIN CERTIFICATE-----")`);
  }
  if (proxyUrl !== undefined) proxy = parseProxy(proxyUrl, { trusted, rewriteHost, followRedirects, tlsVerify, tlsCa, underscoresInHeaders });
  else if (tlsCaFile !== null || !tlsVerify) throw new ConfigError("--upstream-ca and --insecure-upstream-tls only apply with --proxy https://…");
  else if (trusted.length || rewriteHost || followRedirects || underscoresInHeaders) {
    throw new ConfigError("--trusted-proxy, --proxy-host-header, --follow-redirects and --underscores-in-headers only apply with --proxy URL");
  }

  const rootDir = resolveRoot(root ?? DEFAULTS.root, cwd, root === undefined && proxy !== null);

  const config: Config = {
    hostname,
    port,
    root: rootDir,
    proxy,
    accessLog: accessLog ?? DEFAULTS.accessLog,
    logFormat,
    limits: { ...DEFAULT_LIMITS, maxBodySize: maxBody, maxOutputMemory },
    timeouts,
    maxRequestsPerConnection: DEFAULTS.maxRequestsPerConnection,
    serveDotfiles: DEFAULTS.serveDotfiles,
    fileCacheMaxFileSize: DEFAULTS.fileCacheMaxFileSize,
    fileCacheMaxBytes: DEFAULTS.fileCacheMaxBytes,
    fileCacheValidityMs,
    workers,
    serverName: DEFAULTS.serverName,
  };
  return { kind: "run", config };
}

export function parseListen(v: string | undefined): { hostname: string; port: number } {
  if (v === undefined) return { hostname: DEFAULTS.hostname, port: DEFAULTS.port };
  let host = DEFAULTS.hostname as string;
  let portStr = v;
  const m6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(v);
  if (m6) {
    host = m6[1]!;
    portStr = m6[2]!;
  } else if (v.includes(":")) {
    const i = v.lastIndexOf(":");
    host = v.slice(0, i);
    portStr = v.slice(i + 1);
    if (host === "" || host.includes(":")) throw new ConfigError(`--listen "${v}": write IPv6 addresses in brackets, e.g. [::1]:8080`);
  }
  if (!/^\d{1,5}$/.test(portStr) || Number(portStr) > 65535) {
    throw new ConfigError(`--listen "${v}": the port must be a number from 0 to 65535, e.g. --listen 8080 or --listen 127.0.0.1:8080`);
  }
  return { hostname: host, port: Number(portStr) };
}

function parseProxy(
  v: string,
  o: { trusted: string[]; rewriteHost: boolean; followRedirects: number; tlsVerify: boolean; tlsCa: string | null; underscoresInHeaders: boolean },
): ProxyConfig {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new ConfigError(`--proxy "${v}" is not a URL; use http://host:port or https://host[:port][/base]`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ConfigError(`--proxy "${v}": only http:// and https:// backends are supported`);
  if (url.username || url.password) throw new ConfigError(`--proxy "${v}": credentials in the URL are not supported; remove user:pass@`);
  if (url.search || url.hash) throw new ConfigError(`--proxy "${v}": a backend URL cannot carry a query or fragment`);
  for (const c of o.trusted) {
    if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(c)) throw new ConfigError(`--trusted-proxy "${c}" is not an IP or CIDR, e.g. 10.0.0.0/8 or ::1`);
  }
  return {
    url,
    rewriteHost: o.rewriteHost,
    trustedProxies: o.trusted,
    followRedirects: o.followRedirects,
    poolSize: DEFAULTS.proxyPoolSize,
    tlsVerify: o.tlsVerify,
    tlsCa: o.tlsCa,
    underscoresInHeaders: o.underscoresInHeaders,
  };
}

function resolveRoot(dir: string, cwd: string, optional: boolean): string {
  const abs = path.resolve(cwd, dir);
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    if (optional) return abs; // a pure proxy does not need the default root to exist
    throw new ConfigError(`--root "${dir}" does not exist (resolved to ${abs}); point --root at the folder to serve`);
  }
  if (!fs.statSync(real).isDirectory()) throw new ConfigError(`--root "${dir}" is not a directory; point --root at the folder to serve`);
  return real;
}
