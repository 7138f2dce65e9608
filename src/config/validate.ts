/**
 * Raw config object (from TOML / YAML / JSON, or built from flags) → validated, immutable Config,
 * or every problem found, each with the field path and a message saying what is wrong and how
 * to fix it. PURE: the only outside facts it needs (does a folder exist, can a file be read)
 * come through the injected FsCheck, so tests run it on tables of mistakes without a disk.
 */
import path from "node:path";
import type {
  AccessConfig,
  BasicAuthConfig,
  CacheControlRule,
  CacheLimits,
  RouteCacheConfig,
  Coding,
  CompressConfig,
  Config,
  ForwardAuthConfig,
  RateLimitConfig,
  HeaderRules,
  Limits,
  ListenAddress,
  PathMatch,
  ProxyConfig,
  RouteAction,
  RouteConfig,
  SiteConfig,
  SiteTls,
  HstsConfig,
  ClientAuthConfig,
  AcmeConfig,
  StaticConfig,
  Template,
  Timeouts,
  UpstreamGroupConfig,
  UpstreamServerConfig,
  HealthCheckConfig,
  UpstreamPolicy,
  TryFile,
} from "./config.ts";
import { DEFAULT_ACME_DIRECTORY, DEFAULT_ACME_STORAGE, DEFAULT_ADMIN_LISTEN, DEFAULT_CACHE_KEY, DEFAULTS, DEFAULT_HSTS_MAX_AGE } from "./config.ts";
import { parseCidr, CidrError } from "../proxy/cidr.ts";
import { checkCaBundle, checkPair } from "../tls/check-pair.ts";
import { UPSTREAM_GROUP, LIMIT_KEYS, ROUTE_TIMEOUT_KEYS, SCHEMA, TIMEOUT_KEYS, typeName, formatSize, formatDuration, type Leaf, type ListNode, type MapNode, type Node, type TableNode } from "./schema.ts";
import { normalizePath } from "../router/path.ts";
import { prefixMatches } from "../router/routes.ts";
import { shadowedBy } from "../router/shadow.ts";
import { parseDuration, parseSize } from "./size.ts";
import { didYouMean, parseTemplate } from "./template.ts";
import { autoWorkers } from "./auto-workers.ts";
import { compileRule } from "../static/cache-control.ts";

export interface Problem {
  /** Field path, indexes from 0: "site[1].route[2].proxy.to[0]". "" = the whole file. */
  readonly path: string;
  /** What is wrong; how to fix it. */
  readonly message: string;
  /** 1-based line in the config file, when known (load.ts fills it in). */
  line?: number;
  /** The command-line flag the value came from (flags.ts / load.ts fill it in). */
  flag?: string;
  /**
   * A warning that `--check` treats as an error (exit 2): the server still starts with it, so
   * one stale site does not take the others down, but a deploy pipeline should stop (issue 11:
   * an expired certificate).
   */
  failsCheck?: boolean;
}

/** The outside facts validation needs. load.ts passes the real file system (nodeFs). */
export interface FsCheck {
  /** The real path (symlinks resolved) of a directory, or why it is not one. */
  dir(abs: string): { real: string } | { error: "missing" | "not a directory" };
  /** The text of a readable file, or why it cannot be read. */
  readFile(abs: string): { text: string } | { error: string };
}

export interface ValidateOptions {
  /** Relative paths in the config (static roots, tls_ca, the access log) resolve against this. */
  readonly baseDir: string;
  readonly fs: FsCheck;
  /** The CPU count; workers = "auto" is autoWorkers(cpus). */
  readonly cpus: number;
  /** Config.source: the file, or null for flags. */
  readonly source: string | null;
}

export type ValidateResult =
  | { readonly ok: true; readonly config: Config; readonly warnings: Problem[] }
  | { readonly ok: false; readonly problems: Problem[]; readonly warnings: Problem[] };

/** Child path: ("site[0]", "route") → "site[0].route"; (p, 2) → "p[2]"; odd keys quoted. */
export function childPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  if (base === "") return k;
  return /^[A-Za-z0-9_-]+$/.test(key) ? `${base}.${k}` : `${base}[${k}]`;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field value: visible ASCII, obs-text, SP and HTAB; no CR, LF, NUL (RFC 9110 §5.5). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a table";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  if (typeof v === "number") return `the number ${v}`;
  if (typeof v === "boolean") return String(v);
  return typeof v;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Parse "[HOST:]PORT" / "[v6]:PORT"; a string is the reason it is invalid. */
export function parseListenAddress(v: string): ListenAddress | string {
  let host = "0.0.0.0";
  let portStr = v;
  const m6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(v);
  if (m6) {
    host = m6[1]!.toLowerCase();
    portStr = m6[2]!;
  } else if (v.includes(":")) {
    const i = v.lastIndexOf(":");
    host = v.slice(0, i);
    portStr = v.slice(i + 1);
    if (host === "" || host.includes(":")) return `${JSON.stringify(v)}: an IPv6 address needs brackets; write e.g. "[::1]:8080"`;
    host = host.toLowerCase();
    if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(host)) return `${JSON.stringify(v)}: "${host}" is not an IP address or host name; e.g. "127.0.0.1:8080" or "8080" for every address`;
  }
  if (!/^\d{1,5}$/.test(portStr) || Number(portStr) > 65535) {
    return `${JSON.stringify(v)}: the port must be a number from 0 to 65535; write e.g. "8080" or "127.0.0.1:8080"`;
  }
  return { hostname: host, port: Number(portStr) };
}

/** Lowercase, trailing dot stripped; a string is the reason it is invalid. */
export function normaliseHostPattern(v: string): string | { error: string } {
  let h = v.trim().toLowerCase();
  if (h.endsWith(".") && h.length > 1) h = h.slice(0, -1);
  if (h === "") return { error: `an empty host name; leave it out (no hosts = the default site)` };
  if (h === "*") return { error: `"*" alone is not a host pattern; leave hosts out to make this the default site of its addresses` };
  if (/^\[[0-9a-f:.]+\]$/.test(h)) return h;
  const portM = /^(.*):(\d+)$/.exec(h);
  if (portM) return { error: `${JSON.stringify(v)}: hosts match the name without the port; write ${JSON.stringify(portM[1])} (the port belongs in listen)` };
  let name = h;
  if (h.startsWith("*.")) name = h.slice(2);
  if (name.includes("*")) return { error: `${JSON.stringify(v)}: only a leading "*." wildcard is supported; write e.g. "*.example.com"` };
  const labels = name.split(".");
  if (name.length > 253 || labels.some((l) => !/^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l))) {
    return { error: `${JSON.stringify(v)} is not a valid host name (letters, digits, "-" and "." only; labels of 1 to 63 characters)` };
  }
  return h;
}

const ACTIONS = ["proxy", "static", "redirect", "respond"] as const;

class Validator {
  readonly problems: Problem[] = [];
  readonly warnings: Problem[] = [];
  /** The [upstream.NAME] groups, validated before the sites that name them. */
  readonly groups = new Map<string, UpstreamGroupConfig>();
  constructor(readonly o: ValidateOptions) {}

  err(path: string, message: string): void {
    this.problems.push({ path, message });
  }

  /** A table against its schema node: unknown keys reported; null when not a table. */
  table(raw: unknown, node: TableNode, p: string, name = p): Record<string, unknown> | null {
    if (raw === undefined) return {};
    if (!isTable(raw)) {
      this.err(p, `must be a table, got ${describe(raw)}; e.g. ${p.includes("route[") || p === "" ? "{ key = value }" : `[${name.replace(/\[\d+\]/g, "")}]`}`);
      return null;
    }
    const known = Object.keys(node.fields);
    for (const key of Object.keys(raw)) {
      if (key in node.fields) continue;
      const guess = didYouMean(key, known) ?? aliasHint(key, node);
      this.err(childPath(p, key), `unknown key ${JSON.stringify(key)}${guess ? `; did you mean ${JSON.stringify(guess)}?` : `; known keys here: ${known.join(", ")}`}`);
    }
    return raw;
  }

  /** A list (or one value when the node allows it); null when absent or wrong. */
  list(raw: unknown, node: ListNode, p: string): unknown[] | null {
    if (raw === undefined) return null;
    if (Array.isArray(raw)) return raw;
    if (node.single && !isTable(raw) && raw !== null) return [raw];
    this.err(p, `must be a list of ${typeName(node.item)}, got ${describe(raw)}; e.g. [${exampleOf(node.item)}]`);
    return null;
  }

  /** A map of header-name → value. */
  map(raw: unknown, node: MapNode, p: string): [string, unknown, string][] {
    if (raw === undefined) return [];
    if (!isTable(raw)) {
      this.err(p, `must be a table of name = value, got ${describe(raw)}; e.g. { "X-Frame-Options" = "DENY" }`);
      return [];
    }
    const out: [string, unknown, string][] = [];
    for (const [k, v] of Object.entries(raw)) {
      const cp = childPath(p, k);
      if (!TOKEN.test(k)) {
        this.err(cp, `${JSON.stringify(k)} is not a header name; use letters, digits and !#$%&'*+-.^_\`|~ only`);
        continue;
      }
      out.push([k, v, cp]);
    }
    return out;
  }

  str(raw: unknown, leaf: Leaf, p: string): string | undefined {
    if (raw === undefined) return leaf.default as string | undefined;
    if (typeof raw !== "string") {
      this.err(p, `must be a string, got ${describe(raw)}; put it in quotes`);
      return undefined;
    }
    return raw;
  }

  bool(raw: unknown, leaf: Leaf, p: string): boolean {
    if (raw === undefined) return leaf.default as boolean;
    if (typeof raw !== "boolean") {
      this.err(p, `must be true or false, got ${describe(raw)}; write true or false without quotes`);
      return leaf.default as boolean;
    }
    return raw;
  }

  int(raw: unknown, leaf: Leaf, p: string): number {
    if (raw === undefined) return leaf.default as number;
    if (typeof raw !== "number" || !Number.isSafeInteger(raw)) {
      this.err(p, `must be an integer, got ${describe(raw)}${typeof raw === "string" && /^\d+$/.test(raw) ? `; write it without quotes: ${raw}` : ""}`);
      return leaf.default as number;
    }
    if (leaf.values && !leaf.values.includes(raw)) {
      this.err(p, `${raw} is not allowed; use one of ${leaf.values.join(", ")}`);
      return leaf.default as number;
    }
    if ((leaf.min !== undefined && raw < leaf.min) || (leaf.max !== undefined && raw > leaf.max)) {
      this.err(p, `${raw} is out of range; use a number from ${leaf.min} to ${leaf.max}`);
      return leaf.default as number;
    }
    return raw;
  }

  enumOf<T extends string>(raw: unknown, leaf: Leaf, p: string): T {
    if (raw === undefined) return leaf.default as T;
    if (typeof raw !== "string" || !leaf.values!.includes(raw)) {
      const guess = typeof raw === "string" ? didYouMean(raw, leaf.values as string[]) : null;
      this.err(p, `must be ${leaf.values!.map((v) => JSON.stringify(v)).join(" or ")}, got ${describe(raw)}${guess ? `; did you mean ${JSON.stringify(guess)}?` : `; write one of those`}`);
      return leaf.default as T;
    }
    return raw as T;
  }

  size(raw: unknown, leaf: Leaf, p: string, dflt = leaf.default as number): number {
    if (raw === undefined) return dflt;
    let n: number | null = null;
    if (typeof raw === "number") n = Number.isSafeInteger(raw) && raw >= 0 ? raw : null;
    else if (typeof raw === "string") n = parseSize(raw);
    if (n === null) {
      this.err(p, `${describe(raw)} is not a size; use bytes or a k/m/g suffix, e.g. "10m" or "1g"`);
      return dflt;
    }
    if (leaf.min !== undefined && n < leaf.min) {
      this.err(p, `${JSON.stringify(raw)} is too small; use at least ${JSON.stringify(formatSize(leaf.min))}`);
      return dflt;
    }
    return n;
  }

  duration(raw: unknown, leaf: Leaf, p: string, dflt = leaf.default as number): number {
    if (raw === undefined) return dflt;
    let ms: number | null = null;
    if (typeof raw === "number") ms = raw >= 0 && Number.isFinite(raw) ? Math.round(raw * 1000) : null;
    else if (typeof raw === "string") ms = parseDuration(raw);
    if (ms === null) {
      this.err(p, `${describe(raw)} is not a duration; use e.g. "500ms", "10s" or "2m"`);
      return dflt;
    }
    const min = leaf.min ?? 1;
    if (ms < min) {
      this.err(p, min > 0 ? `${JSON.stringify(raw)} must be more than 0; use e.g. "500ms", "10s" or "2m"` : `${JSON.stringify(raw)} is negative`);
      return dflt;
    }
    return ms;
  }

  template(raw: unknown, p: string, what: "header" | "url"): Template | null {
    if (typeof raw !== "string") {
      this.err(p, `must be a string, got ${describe(raw)}; put it in quotes`);
      return null;
    }
    if (what === "header" && (!FIELD_VALUE.test(raw) || raw !== raw.trim())) {
      this.err(p, `${JSON.stringify(raw)} is not a valid header value; remove control characters such as newlines and leading or trailing spaces`);
      return null;
    }
    if (what === "url" && /[\s\x00-\x1f\x7f]/.test(raw)) {
      this.err(p, `${JSON.stringify(raw)} contains spaces or control characters; percent-encode them (%20)`);
      return null;
    }
    const t = parseTemplate(raw);
    if (typeof t === "string") {
      this.err(p, t);
      return null;
    }
    return t;
  }
}

/** Hints for keys that belong elsewhere (e.g. global timeout names in a route's timeouts). */
function aliasHint(key: string, node: TableNode): string | null {
  if (node === (ROUTE_FIELDS.timeouts as TableNode)) {
    const g = TIMEOUT_KEYS.find(([k]) => k === key);
    if (g) {
      const r = ROUTE_TIMEOUT_KEYS.find(([, f]) => f === g[1]);
      if (r) return r[0];
    }
  }
  if (node === SCHEMA) {
    if (key === "sites" || key === "server_block") return "site";
    if (key === "routes" || key === "route") return "site";
  }
  if (node === SITE_NODE && key === "routes") return "route";
  if (node === SITE_NODE && key === "host") return "hosts";
  return null;
}

const SITE_NODE = SCHEMA.fields.site as TableNode;
const ROUTE_NODE = SITE_NODE.fields.route as TableNode;
const ROUTE_FIELDS = ROUTE_NODE.fields;
const SERVER_NODE = SCHEMA.fields.server as TableNode;
const LOG_NODE = SCHEMA.fields.log as TableNode;
const ADMIN_NODE = SCHEMA.fields.admin as TableNode;
const METRICS_NODE = SCHEMA.fields.metrics as TableNode;
const TRACING_NODE = SCHEMA.fields.tracing as TableNode;
const ACME_NODE = SCHEMA.fields.acme as TableNode;
const LIMITS_NODE = SCHEMA.fields.limits as TableNode;
const TIMEOUTS_NODE = SCHEMA.fields.timeouts as TableNode;
const PROXY_NODE = ROUTE_FIELDS.proxy as TableNode;
const STATIC_NODE = ROUTE_FIELDS.static as TableNode;
const REDIRECT_NODE = ROUTE_FIELDS.redirect as TableNode;
const RESPOND_NODE = ROUTE_FIELDS.respond as TableNode;

function exampleOf(leaf: Leaf): string {
  switch (leaf.kind) {
    case "listen":
      return '"0.0.0.0:8080"';
    case "host":
      return '"example.com", "*.example.com"';
    case "url":
      return '"http://127.0.0.1:3000"';
    case "cidr":
      return '"10.0.0.0/8"';
    case "token":
      return '"GET", "POST"';
    default:
      return '"index.html"';
  }
}

/** Validate a raw config object. Never throws on bad input. */
export function validate(raw: unknown, o: ValidateOptions): ValidateResult {
  const v = new Validator(o);
  const top = v.table(raw, SCHEMA, "");
  const t = top ?? {};

  // [server]
  const server = v.table(t.server, SERVER_NODE, "server") ?? {};
  const sf = SERVER_NODE.fields as Record<string, Leaf>;
  let workers = autoWorkers(o.cpus);
  const w = server.workers;
  if (w !== undefined && w !== "auto") {
    if (typeof w === "number" && Number.isInteger(w) && w >= 1 && w <= 999) workers = w;
    else v.err("server.workers", `must be a number from 1 to 999 or "auto", got ${describe(w)}; use "auto" or a number such as 4`);
  }
  let serverName = v.str(server.server_name, sf.server_name!, "server.server_name") ?? sf.server_name!.default as string;
  if (serverName === "" || !FIELD_VALUE.test(serverName) || serverName !== serverName.trim()) {
    v.err("server.server_name", `${JSON.stringify(serverName)} is not a valid Server field value; use visible text such as "DreamServer"`);
    serverName = sf.server_name!.default as string;
  }
  const maxRequestsPerConnection = v.int(server.max_requests_per_connection, sf.max_requests_per_connection!, "server.max_requests_per_connection");
  const shutdownDelayMs = v.duration(server.shutdown_delay, sf.shutdown_delay!, "server.shutdown_delay");
  const certCheckIntervalMs = v.duration(server.cert_check_interval, sf.cert_check_interval!, "server.cert_check_interval");

  // [admin]
  const adminRaw = v.table(t.admin, ADMIN_NODE, "admin") ?? {};
  const adminListen = v.str(adminRaw.listen, (ADMIN_NODE.fields as Record<string, Leaf>).listen!, "admin.listen") ?? DEFAULT_ADMIN_LISTEN;
  let admin: Config["admin"] = null;
  if (adminListen !== "off") {
    const a = parseListenAddress(adminListen);
    if (typeof a === "string") v.err("admin.listen", `${a.replace(/;.*$/, "")}; write an address such as "127.0.0.1:9180", or "off"`);
    else admin = a;
  }
  const af = ADMIN_NODE.fields as Record<string, Leaf>;
  const tokenRaw = v.str(adminRaw.token, af.token!, "admin.token") ?? "";
  const tokenFileRaw = v.str(adminRaw.token_file, af.token_file!, "admin.token_file") ?? "";
  let adminToken: string | null = tokenRaw === "" ? null : tokenRaw;
  let adminTokenFile: string | null = null;
  // Where the token came from, for the messages below (never the token itself).
  let tokenField = "admin.token";
  if (tokenFileRaw !== "") {
    tokenField = "admin.token_file";
    const abs = path.resolve(v.o.baseDir, tokenFileRaw);
    if (tokenRaw !== "") v.err("admin.token_file", `admin has either token or token_file, not both; remove token (a file keeps the secret out of the config, e.g. a Kubernetes Secret)`);
    else {
      const r = v.o.fs.readFile(abs);
      if ("error" in r) v.err("admin.token_file", `${JSON.stringify(tokenFileRaw)} cannot be read (${r.error}; resolved to ${abs}); give the path of a file holding the token`);
      else {
        // One trailing newline is not part of the token (echo, kubectl create secret --from-file).
        const text = r.text.endsWith("\r\n") ? r.text.slice(0, -2) : r.text.endsWith("\n") ? r.text.slice(0, -1) : r.text;
        if (text === "") v.err("admin.token_file", `${JSON.stringify(tokenFileRaw)} is empty (resolved to ${abs}); write the token into it, e.g. head -c 24 /dev/urandom | base64 > ${tokenFileRaw}`);
        else {
          adminToken = text;
          adminTokenFile = abs;
        }
      }
    }
  }
  if (adminToken !== null && (adminToken.length < 16 || !/^[\x21-\x7e]+$/.test(adminToken))) {
    v.err(tokenField, `${tokenField === "admin.token" ? "must be" : `${JSON.stringify(tokenFileRaw)} must hold`} at least 16 visible ASCII characters without spaces; generate one with: head -c 24 /dev/urandom | base64`);
  }
  if (admin !== null && adminToken === null && tokenFileRaw === "" && !isLoopback(admin.hostname)) {
    v.err("admin.token", `is required when admin.listen (${adminListen}) is not a loopback address: the admin API can reload the config; set token_file = "/run/secrets/admin-token" (or token = "<long random string>", e.g. head -c 24 /dev/urandom | base64), or listen on 127.0.0.1`);
  }

  // [metrics]
  const metricsRaw = v.table(t.metrics, METRICS_NODE, "metrics") ?? {};
  const metricsEnabled = v.bool(metricsRaw.enabled, (METRICS_NODE.fields as Record<string, Leaf>).enabled!, "metrics.enabled");

  // [tracing]
  const trRaw = v.table(t.tracing, TRACING_NODE, "tracing") ?? {};
  const trf = TRACING_NODE.fields as Record<string, Leaf>;
  let tracingSample = trf.sample!.default as number;
  if (trRaw.sample !== undefined) {
    if (typeof trRaw.sample !== "number" || !Number.isFinite(trRaw.sample) || trRaw.sample < 0 || trRaw.sample > 1) {
      v.err("tracing.sample", `must be a number from 0 to 1, got ${describe(trRaw.sample)}; e.g. 0.1 samples one new trace in ten`);
    } else tracingSample = trRaw.sample;
  }
  const otlpRaw = v.str(trRaw.otlp_endpoint, trf.otlp_endpoint!, "tracing.otlp_endpoint") ?? "";
  let otlpEndpoint: URL | null = null;
  if (otlpRaw !== "") {
    let u: URL | null = null;
    try {
      u = new URL(otlpRaw);
    } catch {
      u = null;
    }
    if (u === null || (u.protocol !== "http:" && u.protocol !== "https:") || u.username !== "" || u.password !== "") {
      v.err("tracing.otlp_endpoint", `${JSON.stringify(otlpRaw)} is not an http:// or https:// URL without credentials; write e.g. "http://127.0.0.1:4318/v1/traces", or leave it empty`);
    } else otlpEndpoint = u;
  }

  // [log]
  const log = v.table(t.log, LOG_NODE, "log") ?? {};
  const lf = LOG_NODE.fields as Record<string, Leaf>;
  let accessLog = v.str(log.access, lf.access!, "log.access") ?? (lf.access!.default as string);
  if (accessLog === "") {
    v.err("log.access", `is empty; give a file path, "-" for stdout or "off"`);
    accessLog = "off";
  } else if (accessLog !== "-" && accessLog !== "off") accessLog = path.resolve(o.baseDir, accessLog);
  const logFormat = v.enumOf<"text" | "json">(log.format, lf.format!, "log.format");

  // [limits], [timeouts]
  const limRaw = v.table(t.limits, LIMITS_NODE, "limits") ?? {};
  const limits = {} as Record<keyof Limits, number>;
  for (const [k, f] of LIMIT_KEYS) {
    const leaf = LIMITS_NODE.fields[k] as Leaf;
    limits[f] = leaf.kind === "int" ? v.int(limRaw[k], { ...leaf, max: leaf.max ?? 1_000_000 }, `limits.${k}`) : v.size(limRaw[k], leaf, `limits.${k}`);
  }
  const toRaw = v.table(t.timeouts, TIMEOUTS_NODE, "timeouts") ?? {};
  const timeouts = {} as Record<keyof Timeouts, number>;
  for (const [k, f] of TIMEOUT_KEYS) timeouts[f] = v.duration(toRaw[k], TIMEOUTS_NODE.fields[k] as Leaf, `timeouts.${k}`);

  // [upstream.NAME] (before the sites: routes refer to them by name)
  validateUpstreams(v, t.upstream);

  // [[site]]
  const sites: SiteConfig[] = [];
  const siteList = t.site;
  if (top !== null) {
    if (siteList === undefined || (Array.isArray(siteList) && siteList.length === 0)) {
      v.err("site", `no sites; add at least one [[site]] with listen = ["0.0.0.0:8080"] and a [[site.route]]`);
    } else if (!Array.isArray(siteList)) {
      v.err("site", `must be a list of tables, got ${describe(siteList)}; write [[site]] (two brackets) in TOML, or a list in YAML/JSON`);
    } else {
      siteList.forEach((s, i) => {
        const site = validateSite(v, s, i, limits, timeouts);
        if (site) sites.push(site);
      });
      checkAddresses(v, sites, siteList);
    }
  }

  // Shadowed routes: warnings only.
  for (const site of sites) {
    for (const s of shadowedBy(site.routes)) {
      const route = site.routes[s.route]!;
      const by = site.routes[s.by]!;
      v.warnings.push({
        path: `site[${site.index}].route[${route.index}]`,
        message: `never matches: route[${by.index}] (path ${JSON.stringify(matchSource(by.match))}) before it takes every request it would; move this route above it or narrow route[${by.index}]`,
      });
    }
  }

  const acme = validateAcme(v, t.acme, sites);
  const cache = validateCacheLimits(v, t.cache);

  if (v.problems.length) return { ok: false, problems: v.problems, warnings: v.warnings };
  const config: Config = {
    source: o.source,
    workers,
    serverName,
    accessLog,
    logFormat,
    limits,
    timeouts,
    maxRequestsPerConnection,
    sites,
    admin,
    shutdownDelayMs,
    certCheckIntervalMs,
    upstreams: [...v.groups.values()],
    metricsEnabled,
    tracingSample,
    otlpEndpoint,
    adminToken,
    adminTokenFile,
    cache,
    ...(acme ? { acme } : {}),
  };
  return { ok: true, config, warnings: v.warnings };
}

/** 127.0.0.0/8, ::1 and localhost: an admin listener there is reachable from this machine only. */
export function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** A route's path as written: "/api/", "=/x", "~^/re". */
export function matchSource(m: PathMatch): string {
  return m.kind === "prefix" ? m.prefix : m.kind === "exact" ? `=${m.path}` : `~${m.source}`;
}

function validateSite(v: Validator, raw: unknown, i: number, limits: Limits, timeouts: Timeouts): SiteConfig | null {
  const p = `site[${i}]`;
  const s = v.table(raw, SITE_NODE, p, "[site]");
  if (!s) return null;
  let ok = true;
  const n0 = v.problems.length;

  const listen: ListenAddress[] = [];
  const listenList = v.list(s.listen, SITE_NODE.fields.listen as ListNode, `${p}.listen`);
  if (s.listen === undefined || (listenList && listenList.length === 0)) {
    v.err(`${p}.listen`, `a site needs at least one address; add listen = ["0.0.0.0:8080"]`);
  }
  const seen = new Set<string>();
  (listenList ?? []).forEach((a, j) => {
    const lp = `${p}.listen[${j}]`;
    if (typeof a === "number" && Number.isInteger(a)) a = String(a);
    if (typeof a !== "string") return v.err(lp, `must be an address string, got ${describe(a)}; write e.g. "0.0.0.0:8080"`);
    const r = parseListenAddress(a);
    if (typeof r === "string") return v.err(lp, r);
    const key = `${r.hostname}:${r.port}`;
    if (!seen.has(key)) listen.push(r);
    seen.add(key);
  });

  const hosts: string[] = [];
  (v.list(s.hosts, SITE_NODE.fields.hosts as ListNode, `${p}.hosts`) ?? []).forEach((h, j) => {
    const hp = `${p}.hosts[${j}]`;
    if (typeof h !== "string") return v.err(hp, `must be a host name string, got ${describe(h)}; write e.g. "example.com"`);
    const r = normaliseHostPattern(h);
    if (typeof r !== "string") return v.err(hp, r.error);
    if (!hosts.includes(r)) hosts.push(r);
  });

  const routes: RouteConfig[] = [];
  const rl = s.route;
  if (rl === undefined || (Array.isArray(rl) && rl.length === 0)) {
    v.err(`${p}.route`, `a site needs at least one route; add a [[site.route]] with path = "/" and an action (static, proxy, redirect or respond)`);
  } else if (!Array.isArray(rl)) {
    v.err(`${p}.route`, `must be a list of tables, got ${describe(rl)}; write [[site.route]] (two brackets) in TOML, or a list in YAML/JSON`);
  } else {
    rl.forEach((r, j) => {
      const route = validateRoute(v, r, `${p}.route[${j}]`, j, limits, timeouts);
      if (route) routes.push(route);
    });
  }
  const tls = validateSiteTls(v, s.tls, p);
  const redirectHttps = v.bool(s.redirect_https, SITE_NODE.fields.redirect_https as Leaf, `${p}.redirect_https`);
  if (redirectHttps && s.tls !== undefined) v.err(`${p}.redirect_https`, `a site with tls already serves HTTPS; put redirect_https = true on a plain-HTTP site for the same hosts instead`);
  const hsts = validateHsts(v, s.hsts, `${p}.hsts`);
  // RFC 6797 §7.2: never over plain HTTP (a browser ignores it there, and it would only mislead).
  if (hsts && s.tls === undefined) v.err(`${p}.hsts`, `Strict-Transport-Security is only sent over HTTPS (RFC 6797 §7.2) and this site has no tls; put hsts on the site with tls = { cert, key } or "auto" for these hosts`);
  const http2 = v.bool(s.http2, SITE_NODE.fields.http2 as Leaf, `${p}.http2`);
  if (s.http2 !== undefined && s.tls === undefined) v.err(`${p}.http2`, `http2 applies to TLS sites (ALPN); for cleartext HTTP/2 on a plain site set h2c = true instead`);
  const h2c = v.bool(s.h2c, SITE_NODE.fields.h2c as Leaf, `${p}.h2c`);
  if (h2c && s.tls !== undefined) v.err(`${p}.h2c`, `h2c is cleartext HTTP/2 for plain sites; a TLS site offers h2 through ALPN (http2 = true, the default); remove h2c`);
  ok = v.problems.length === n0;
  if (!ok) return null;
  const site: SiteConfig = { index: i, listen, hosts, routes };
  // Only present when set, so configs without TLS keep their old shape (and print the same).
  return tls || redirectHttps || hsts || h2c || http2 === false
    ? { ...site, ...(tls ? { tls } : {}), ...(redirectHttps ? { redirectHttps } : {}), ...(hsts ? { hsts } : {}), ...(h2c ? { h2c } : {}), ...(tls && http2 === false ? { http2: false } : {}) }
    : site;
}

/** `hsts = true | false | { max_age, include_subdomains, preload }` (RFC 6797 §6.1). */
function validateHsts(v: Validator, raw: unknown, hp: string): HstsConfig | null {
  if (raw === undefined || raw === false) return null;
  const node = SITE_NODE.fields.hsts as TableNode;
  const f = node.fields as Record<string, Leaf>;
  if (raw !== true && raw !== null && typeof raw !== "object") {
    v.err(hp, `must be true, false or a table, got ${describe(raw)}; e.g. hsts = true or hsts = { max_age = 31536000 }`);
    return null;
  }
  const t = raw === true ? {} : v.table(raw, node, hp, "site.hsts");
  if (!t) return null;
  const maxAge = v.int(t.max_age, f.max_age!, `${hp}.max_age`);
  const includeSubdomains = v.bool(t.include_subdomains, f.include_subdomains!, `${hp}.include_subdomains`);
  const preload = v.bool(t.preload, f.preload!, `${hp}.preload`);
  // The preload list (hstspreload.org) refuses a header without both; a "preload" it refuses only misleads.
  if (preload && (!includeSubdomains || maxAge < DEFAULT_HSTS_MAX_AGE)) {
    v.err(`${hp}.preload`, `the browsers' preload list needs include_subdomains = true and max_age of at least ${DEFAULT_HSTS_MAX_AGE} (one year); set both, or drop preload`);
  }
  const value = `max-age=${maxAge}${includeSubdomains ? "; includeSubDomains" : ""}${preload ? "; preload" : ""}`;
  return { maxAge, includeSubdomains, preload, value };
}

/** `[acme]`, and the names of `tls = "auto"` sites (exact names only: HTTP-01 cannot validate wildcards). */
function validateAcme(v: Validator, raw: unknown, sites: readonly SiteConfig[]): AcmeConfig | null {
  const autoSites = sites.filter((s) => s.tls?.auto);
  for (const s of autoSites) {
    if (s.hosts.length === 0) v.err(`site[${s.index}].tls`, `tls = "auto" needs host names to order certificates for; add hosts = ["example.com"]`);
    s.hosts.forEach((h, j) => {
      if (h.startsWith("*.")) v.err(`site[${s.index}].hosts[${j}]`, `${JSON.stringify(h)}: wildcard certificates need the DNS-01 challenge, which is not supported (tls = "auto" uses HTTP-01); list the names, or give tls = { cert, key }`);
    });
  }
  if (raw === undefined && autoSites.length === 0) return null;
  const a = v.table(raw, ACME_NODE, "acme") ?? {};
  const f = ACME_NODE.fields as Record<string, Leaf>;
  const directory = v.str(a.directory, f.directory!, "acme.directory") ?? DEFAULT_ACME_DIRECTORY;
  if (!/^https:\/\/[^/]/.test(directory)) v.err("acme.directory", `${JSON.stringify(directory)} is not an https:// URL; e.g. "${DEFAULT_ACME_DIRECTORY}"`);
  const email = v.str(a.email, f.email!, "acme.email") ?? "";
  if (email !== "" && !/^[^\s@]+@[^\s@]+$/.test(email)) v.err("acme.email", `${JSON.stringify(email)} is not an e-mail address; e.g. "ops@example.com", or leave it out`);
  const storage = path.resolve(v.o.baseDir, v.str(a.storage, f.storage!, "acme.storage") ?? DEFAULT_ACME_STORAGE);
  let ca: string | null = null;
  let caFile: string | null = null;
  if (a.ca !== undefined) {
    const file = v.str(a.ca, f.ca!, "acme.ca");
    if (file !== undefined) {
      const abs = path.resolve(v.o.baseDir, file);
      const r = v.o.fs.readFile(abs);
      if ("error" in r) v.err("acme.ca", `${JSON.stringify(file)} cannot be read (${r.error}; resolved to ${abs}); give the path of a PEM certificate file`);
      else if (!r.text.includes("-----BEGIN CERTIFICATE-----")) v.err("acme.ca", `${JSON.stringify(file)} holds no PEM certificate; give a PEM file`);
      else {
        ca = r.text;
        caFile = abs;
      }
    }
  }
  return { directory, email, ca, caFile, storage };
}

/** `tls = { cert, key }`: both files read and checked as a pair now, so --check finds a bad pair. */
function validateSiteTls(v: Validator, raw: unknown, p: string): SiteTls | null {
  if (raw === undefined) return null;
  const tp = `${p}.tls`;
  if (raw === "auto") return { auto: true, certFile: "", keyFile: "", cert: "", key: "", notAfter: 0 };
  const node = SITE_NODE.fields.tls as TableNode;
  const t = v.table(raw, node, tp, "site.tls");
  if (!t) return null;
  const f = node.fields as Record<string, Leaf>;
  const read = (key: "cert" | "key"): { text: string; abs: string } | null => {
    const kp = `${tp}.${key}`;
    if (t[key] === undefined) {
      v.err(kp, `is missing; tls needs both cert and key, e.g. tls = { cert = "/etc/dreamserver/site.crt", key = "/etc/dreamserver/site.key" }`);
      return null;
    }
    const file = v.str(t[key], f[key]!, kp);
    if (file === undefined) return null;
    const abs = path.resolve(v.o.baseDir, file);
    const r = v.o.fs.readFile(abs);
    if ("error" in r) {
      v.err(kp, `${JSON.stringify(file)} cannot be read (${r.error}; resolved to ${abs}); give the path of a readable PEM file`);
      return null;
    }
    return { text: r.text, abs };
  };
  const cert = read("cert");
  const key = read("key");
  if (!cert || !key) return null;
  const c = checkPair(cert.text, key.text);
  if (!c.ok) {
    const file = c.field === "cert" ? cert.abs : key.abs;
    v.err(`${tp}.${c.field}`, `${JSON.stringify(file)} ${c.error}`);
    return null;
  }
  if (c.notAfter <= Date.now()) {
    v.warnings.push({ path: `${tp}.cert`, message: `${JSON.stringify(cert.abs)} expired on ${new Date(c.notAfter).toISOString()} (${c.subject}); clients will refuse it: renew it and reload (SIGHUP)`, failsCheck: true });
  }
  const clientAuth = validateClientAuth(v, t, f, tp);
  if (clientAuth === false) return null;
  return { certFile: cert.abs, keyFile: key.abs, cert: cert.text, key: key.text, notAfter: c.notAfter, ...(clientAuth ? { clientAuth } : {}) };
}

/** `client_ca` + `client_auth` of a tls table: null = no mTLS, false = an error was reported. */
function validateClientAuth(v: Validator, t: Record<string, unknown>, f: Record<string, Leaf>, tp: string): ClientAuthConfig | null | false {
  if (t.client_ca === undefined) {
    if (t.client_auth !== undefined) v.err(`${tp}.client_auth`, `needs client_ca, the PEM file of the CAs that sign the client certificates; add client_ca = "/etc/dreamserver/clients-ca.pem"`);
    return t.client_auth !== undefined ? false : null;
  }
  const cp = `${tp}.client_ca`;
  const mode = v.enumOf<"require" | "optional">(t.client_auth, f.client_auth!, `${tp}.client_auth`);
  const file = v.str(t.client_ca, f.client_ca!, cp);
  if (file === undefined) return false;
  const abs = path.resolve(v.o.baseDir, file);
  const r = v.o.fs.readFile(abs);
  if ("error" in r) {
    v.err(cp, `${JSON.stringify(file)} cannot be read (${r.error}; resolved to ${abs}); give the path of a PEM file of CA certificates`);
    return false;
  }
  const bad = checkCaBundle(r.text);
  if (bad !== null) {
    v.err(cp, `${JSON.stringify(abs)} ${bad}; give a PEM file holding the CA certificates that sign your clients' certificates`);
    return false;
  }
  return { ca: r.text, caFile: abs, mode };
}

/** Duplicate (address, host) pairs across sites, and addresses that overlap on one port. */
function checkAddresses(v: Validator, sites: SiteConfig[], raw: unknown[]): void {
  const owner = new Map<string, number>();
  for (const s of sites) {
    const rawSite = raw[s.index] as Record<string, unknown>;
    const rawHosts = Array.isArray(rawSite.hosts) ? rawSite.hosts : rawSite.hosts === undefined ? [] : [rawSite.hosts];
    for (const a of s.listen) {
      const addr = displayAddr(a);
      if (s.hosts.length === 0) {
        const key = `${addr}|`;
        const prev = owner.get(key);
        if (prev !== undefined && prev !== s.index) {
          v.err(`site[${s.index}].listen`, `site[${prev}] is already the default site (no hosts) of ${addr}; give one of the two sites hosts = [...], or merge them`);
        } else owner.set(key, s.index);
      }
      s.hosts.forEach((h) => {
        const key = `${addr}|${h}`;
        const prev = owner.get(key);
        if (prev !== undefined && prev !== s.index) {
          const j = rawHosts.findIndex((x) => typeof x === "string" && normaliseHostPattern(x) === h);
          v.err(`site[${s.index}].hosts[${Math.max(0, j)}]`, `${JSON.stringify(h)} on ${addr} is already served by site[${prev}]; remove it from one site, or merge the routes into one site`);
        } else owner.set(key, s.index);
      });
    }
  }
  // One address is either TLS or plain: a listener either starts with a handshake or it does not.
  const tlsOf = new Map<string, { tls: boolean; site: number }>();
  for (const s of sites) {
    for (const a of s.listen) {
      const addr = displayAddr(a);
      const prev = tlsOf.get(addr);
      if (prev === undefined) tlsOf.set(addr, { tls: s.tls !== undefined, site: s.index });
      else if (prev.tls !== (s.tls !== undefined)) {
        v.err(`site[${s.index}].listen`, `${addr} mixes TLS and plain-HTTP sites (site[${prev.site}] ${prev.tls ? "has" : "has no"} tls); give every site of one address tls = { cert, key }, or move the plain sites to another port`);
      }
    }
  }
  // 0.0.0.0:8080 and 127.0.0.1:8080 cannot both be bound.
  const byPort = new Map<number, { host: string; site: number }[]>();
  for (const s of sites) {
    for (const a of s.listen) {
      if (a.port === 0) continue;
      const list = byPort.get(a.port) ?? [];
      const clash = list.find((x) => x.host !== a.hostname && (isAny(x.host) || isAny(a.hostname)));
      if (clash) {
        const j = s.listen.indexOf(a);
        v.err(
          `site[${s.index}].listen[${j}]`,
          `${displayAddr(a)} overlaps ${displayAddr({ hostname: clash.host, port: a.port })} of site[${clash.site}] (one of them is every address); write the same address in both sites so they share one listener`,
        );
      }
      list.push({ host: a.hostname, site: s.index });
      byPort.set(a.port, list);
    }
  }
}

const isAny = (h: string): boolean => h === "0.0.0.0" || h === "::";
export const displayAddr = (a: ListenAddress): string => (a.hostname.includes(":") ? `[${a.hostname}]:${a.port}` : `${a.hostname}:${a.port}`);

function validatePath(v: Validator, raw: unknown, p: string): PathMatch | null {
  if (raw === undefined) {
    v.err(p, `a route needs a path; e.g. path = "/" for everything, "/api/" for a prefix, "=/health" for one path`);
    return null;
  }
  if (typeof raw !== "string") {
    v.err(p, `must be a string, got ${describe(raw)}; e.g. path = "/api/"`);
    return null;
  }
  if (raw.startsWith("~")) {
    const source = raw.slice(1);
    if (source === "") {
      v.err(p, `"~" needs a regular expression after it; write e.g. "~^/img/.*\\.png$"`);
      return null;
    }
    try {
      return { kind: "regex", source, re: new RegExp(source) };
    } catch (e) {
      v.err(p, `${JSON.stringify(source)} is not a valid JavaScript regular expression (${(e as Error).message.replace(/^Invalid regular expression: /, "")}); fix it or escape special characters with \\`);
      return null;
    }
  }
  const exact = raw.startsWith("=");
  const s = exact ? raw.slice(1) : raw;
  if (!s.startsWith("/")) {
    v.err(p, `${JSON.stringify(raw)} must start with "/"; write ${JSON.stringify((exact ? "=" : "") + "/" + s)}${exact ? "" : ' (or "~" for a regex, "=" for an exact path)'}`);
    return null;
  }
  if (/[\s\x00-\x1f\x7f?#]/.test(s)) {
    v.err(p, `${JSON.stringify(raw)} contains a space, control character, "?" or "#"; a path is matched without the query; percent-encode other characters`);
    return null;
  }
  const norm = normalizePath(s);
  if (norm === null) {
    v.err(p, `${JSON.stringify(raw)} has a malformed percent-encoding; write "%" as "%25"`);
    return null;
  }
  if (norm !== s) {
    v.err(p, `${JSON.stringify(raw)} never matches: requests are matched on the normalised path (dot segments removed, unreserved %XX decoded); write ${JSON.stringify((exact ? "=" : "") + norm)}`);
    return null;
  }
  return exact ? { kind: "exact", path: s } : { kind: "prefix", prefix: s };
}

function validateRoute(v: Validator, raw: unknown, p: string, index: number, limits: Limits, globalTimeouts: Timeouts): RouteConfig | null {
  const r = v.table(raw, ROUTE_NODE, p, "[site.route]");
  if (!r) return null;
  const n0 = v.problems.length;
  const match = validatePath(v, r.path, `${p}.path`);

  let methods: string[] | null = null;
  const ml = v.list(r.methods, ROUTE_FIELDS.methods as ListNode, `${p}.methods`);
  if (ml) {
    if (ml.length === 0) v.err(`${p}.methods`, `is empty, so the route never matches; list methods, e.g. ["GET", "HEAD"], or remove the key to match any`);
    methods = [];
    ml.forEach((m, j) => {
      if (typeof m !== "string" || !TOKEN.test(m)) return v.err(`${p}.methods[${j}]`, `${describe(m)} is not a method name; write a token such as "GET"`);
      const up = m.toUpperCase();
      if (!methods!.includes(up)) methods!.push(up);
    });
  }

  let headers: [string, string][] | null = null;
  if (r.headers !== undefined) {
    headers = [];
    for (const [name, val, cp] of v.map(r.headers, ROUTE_FIELDS.headers as MapNode, `${p}.headers`)) {
      if (typeof val !== "string") {
        v.err(cp, `must be a string, got ${describe(val)}; put it in quotes`);
        continue;
      }
      if (!FIELD_VALUE.test(val) || val !== val.trim()) {
        v.err(cp, `${JSON.stringify(val)} can never match a request field; remove control characters and leading or trailing spaces`);
        continue;
      }
      headers.push([name.toLowerCase(), val]);
    }
    if (headers.length === 0 && isTable(r.headers) && Object.keys(r.headers).length === 0) headers = null;
  }

  let stripPrefix: string | null = null;
  if (r.strip_prefix !== undefined) {
    const sp = `${p}.strip_prefix`;
    const s = v.str(r.strip_prefix, ROUTE_FIELDS.strip_prefix as Leaf, sp);
    if (s !== undefined) {
      if (!s.startsWith("/")) v.err(sp, `${JSON.stringify(s)} does not start with "/"; write e.g. "/api"`);
      else if (match && match.kind !== "regex" && !prefixMatches(s, match.kind === "prefix" ? match.prefix : match.path)) {
        const mp = match.kind === "prefix" ? match.prefix : match.path;
        v.err(sp, `${JSON.stringify(s)} is not a prefix of the route's path ${JSON.stringify(mp)} (on a "/" boundary), so it would not always be stripped; use e.g. ${JSON.stringify(mp.replace(/\/$/, "") || "/")}`);
      } else stripPrefix = s;
    }
  }

  const requestHeaders = headerRules(v, r.request_headers, ROUTE_FIELDS.request_headers as TableNode, `${p}.request_headers`);
  const responseHeaders = headerRules(v, r.response_headers, ROUTE_FIELDS.response_headers as TableNode, `${p}.response_headers`);
  const maxBodySize = v.size(r.max_body_size, ROUTE_FIELDS.max_body_size as Leaf, `${p}.max_body_size`, limits.maxBodySize);
  const tNode = ROUTE_FIELDS.timeouts as TableNode;
  const tr = v.table(r.timeouts, tNode, `${p}.timeouts`) ?? {};
  const timeouts = { ...globalTimeouts } as Record<keyof Timeouts, number>;
  for (const [k, f] of ROUTE_TIMEOUT_KEYS) timeouts[f] = v.duration(tr[k], tNode.fields[k] as Leaf, `${p}.timeouts.${k}`, globalTimeouts[f]);

  const present = ACTIONS.filter((a) => r[a] !== undefined);
  let action: RouteAction | null = null;
  if (present.length === 0) {
    v.err(p, `the route has no action; add one of proxy = { to = ["http://…"] }, static = { root = "…" }, redirect = { to = "…" } or respond = { status = 200 }`);
  } else if (present.length > 1) {
    v.err(childPath(p, present[1]!), `a route has exactly one action, this one has ${present.join(" and ")}; split it into two routes (e.g. with different paths)`);
  } else {
    const a = present[0]!;
    const ap = `${p}.${a}`;
    if (a === "proxy") action = validateProxy(v, r.proxy, ap);
    else if (a === "static") action = validateStatic(v, r.static, ap);
    else if (a === "redirect") action = validateRedirect(v, r.redirect, ap);
    else action = validateRespond(v, r.respond, ap);
  }

  action = staticExtras(v, r, p, action);
  // compress on a proxy route: a response middleware (the static handler has its own).
  const proxyCompress = action?.kind === "proxy" && r.compress !== undefined ? compressOf(v, r.compress, `${p}.compress`) : undefined;
  const access = validateAccess(v, r, p);
  const cache = r.cache === undefined ? undefined : validateRouteCache(v, r.cache, `${p}.cache`, action);

  if (v.problems.length !== n0 || !match || !action) return null;
  let route: RouteConfig = { index, match, methods, headers, stripPrefix, requestHeaders, responseHeaders, maxBodySize, timeouts, action };
  if (access !== null) route = { ...route, access };
  if (proxyCompress) route = { ...route, compress: proxyCompress };
  if (cache) route = { ...route, cache };
  return route;
}

const ROUTE_CACHE_NODE = ROUTE_FIELDS.cache as TableNode;
const CACHE_NODE = SCHEMA.fields.cache as TableNode;

/** Route `cache = { ... }` (issue 13): only on proxy routes; enabled = false → undefined. */
function validateRouteCache(v: Validator, raw: unknown, cp: string, action: RouteAction | null): RouteCacheConfig | undefined {
  if (typeof raw === "boolean") {
    v.err(cp, `must be a table, got ${describe(raw)}; write cache = {} to cache with the defaults, or e.g. cache = { stale_if_error = "5m" }`);
    return undefined;
  }
  const t = v.table(raw, ROUTE_CACHE_NODE, cp);
  if (!t) return undefined;
  if (action && action.kind !== "proxy") {
    v.err(cp, `the response cache applies to proxy routes only (static routes have their own file cache); remove cache or move it to a proxy route`);
    return undefined;
  }
  const f = ROUTE_CACHE_NODE.fields as Record<string, Leaf>;
  const enabled = v.bool(t.enabled, f.enabled!, `${cp}.enabled`);
  const defaultTtlMs = v.duration(t.default_ttl, f.default_ttl!, `${cp}.default_ttl`);
  const staleWhileRevalidateMs = v.duration(t.stale_while_revalidate, f.stale_while_revalidate!, `${cp}.stale_while_revalidate`);
  const staleIfErrorMs = v.duration(t.stale_if_error, f.stale_if_error!, `${cp}.stale_if_error`);
  const key = v.template(t.key ?? DEFAULT_CACHE_KEY, `${cp}.key`, "header");
  // An empty template has no parts, so every() alone would let "" through.
  if (key !== null && key.parts.every((x) => "text" in x)) {
    v.err(`${cp}.key`, `${JSON.stringify(key.source)} has no placeholder, so every request would share one entry; use e.g. "{host}{uri}"`);
  }
  const clientNoCache = v.enumOf<"revalidate" | "ignore">(t.client_no_cache, f.client_no_cache!, `${cp}.client_no_cache`);
  const storeSetCookie = v.bool(t.store_set_cookie, f.store_set_cookie!, `${cp}.store_set_cookie`);
  if (!enabled || key === null) return undefined;
  return { defaultTtlMs, staleWhileRevalidateMs, staleIfErrorMs, key, clientNoCache, storeSetCookie };
}

/** [cache]: memory and max_object. */
function validateCacheLimits(v: Validator, raw: unknown): CacheLimits {
  const t = v.table(raw, CACHE_NODE, "cache") ?? {};
  const f = CACHE_NODE.fields as Record<string, Leaf>;
  const memory = v.size(t.memory, f.memory!, "cache.memory");
  const maxObject = v.size(t.max_object, f.max_object!, "cache.max_object");
  if (maxObject >= memory) v.err("cache.max_object", `${formatSize(maxObject)} is not below cache.memory (${formatSize(memory)}), so one response could evict everything; lower max_object or raise memory`);
  return { memory, maxObject };
}

// ---- access and traffic control (issue 12) ---------------------------------------------------

const ACCESS_KEYS = ["ip_allow", "ip_deny", "rate_limit", "basic_auth", "forward_authorization", "forward_auth", "security_headers"] as const;
const PERIODS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000 };

/** "100/s" → { count, periodMs }, or null. */
export function parseRate(s: string): { count: number; periodMs: number } | null {
  const m = /^([1-9][0-9]{0,6})\/([smh])$/.exec(s);
  if (!m || Number(m[1]) > 1_000_000) return null;
  return { count: Number(m[1]), periodMs: PERIODS[m[2]!]! };
}

/** Hash formats Bun.password.verify checks: argon2id/i/d (PHC strings) and bcrypt ($2a$/$2b$/$2y$). */
const HASH = /^(\$argon2(id|i|d)\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+|\$2[aby]\$\d\d\$[./A-Za-z0-9]{53})$/;

function cidrs(v: Validator, raw: unknown, p: string): string[] | null {
  const node = ROUTE_FIELDS.ip_allow as ListNode;
  const list = v.list(raw, node, p);
  if (list === null) return null;
  if (list.length === 0) v.err(p, `is empty; list networks such as ["10.0.0.0/8", "2001:db8::/32"], or remove the key`);
  const out: string[] = [];
  list.forEach((c, j) => {
    const cp = `${p}[${j}]`;
    if (typeof c !== "string") return v.err(cp, `must be an IP or CIDR string, got ${describe(c)}; write e.g. "10.0.0.0/8"`);
    const r = parseCidr(c);
    if (r instanceof CidrError) return v.err(cp, `${JSON.stringify(c)} is not an IP or CIDR: ${r.message.replace(/^invalid --trusted-proxy value "[^"]*": /, "")}`);
    out.push(c.trim());
  });
  return out;
}

function validateAccess(v: Validator, r: Record<string, unknown>, p: string): AccessConfig | null {
  if (!ACCESS_KEYS.some((k) => r[k] !== undefined)) return null;
  const ipAllow = r.ip_allow === undefined ? null : cidrs(v, r.ip_allow, `${p}.ip_allow`);
  const ipDeny = r.ip_deny === undefined ? null : cidrs(v, r.ip_deny, `${p}.ip_deny`);

  let rateLimit: RateLimitConfig | null = null;
  if (r.rate_limit !== undefined) {
    const node = ROUTE_FIELDS.rate_limit as TableNode;
    const f = node.fields as Record<string, Leaf>;
    const rp = `${p}.rate_limit`;
    const t = v.table(r.rate_limit, node, rp);
    if (t) {
      let rate: { count: number; periodMs: number } | null = null;
      if (t.rate === undefined) v.err(`${rp}.rate`, `a rate limit needs a rate; add rate = "100/s"`);
      else if (typeof t.rate !== "string" || (rate = parseRate(t.rate)) === null) v.err(`${rp}.rate`, `${describe(t.rate)} is not a rate; write "N/s", "N/m" or "N/h" with N from 1 to 1000000, e.g. "100/s"`);
      const burst = t.burst === undefined ? (rate?.count ?? 1) : v.int(t.burst, f.burst!, `${rp}.burst`);
      const key = v.template(t.key ?? f.key!.default, `${rp}.key`, "header");
      const maxKeys = v.int(t.max_keys, f.max_keys!, `${rp}.max_keys`);
      if (rate && key) rateLimit = { count: rate.count, periodMs: rate.periodMs, burst, key, maxKeys };
    }
  }

  let basicAuth: BasicAuthConfig | null = null;
  if (r.basic_auth !== undefined) {
    const node = ROUTE_FIELDS.basic_auth as TableNode;
    const f = node.fields as Record<string, Leaf>;
    const bp = `${p}.basic_auth`;
    const t = v.table(r.basic_auth, node, bp);
    if (t) {
      const realm = v.str(t.realm, f.realm!, `${bp}.realm`) ?? "restricted";
      // RFC 7617 §2: the realm is a quoted-string; keep it to visible ASCII without '"' and '\\'.
      if (!/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/.test(realm)) v.err(`${bp}.realm`, `${JSON.stringify(realm)} cannot be sent as a realm; use visible ASCII without quotes or backslashes, e.g. "admin"`);
      const users: [string, string][] = [];
      if (t.users === undefined || (isTable(t.users) && Object.keys(t.users).length === 0)) v.err(`${bp}.users`, `no users; add users = { alice = "$argon2id$..." } (make a hash with: dreamserver hash-password)`);
      else if (!isTable(t.users)) v.err(`${bp}.users`, `must be a table of user = hash, got ${describe(t.users)}; e.g. { alice = "$argon2id$..." }`);
      else {
        for (const [name, hash] of Object.entries(t.users)) {
          const up = childPath(`${bp}.users`, name);
          // RFC 7617 §2: the user-id cannot contain a colon (or control characters).
          if (name === "" || name.includes(":") || /[\x00-\x1f\x7f]/.test(name)) v.err(up, `${JSON.stringify(name)} is not a valid user name (no colon, no control characters)`);
          else if (typeof hash !== "string" || !HASH.test(hash)) v.err(up, `is not an argon2 or bcrypt hash; make one with: dreamserver hash-password`);
          else users.push([name, hash]);
        }
      }
      const failText = v.str(t.fail_rate, f.fail_rate!, `${bp}.fail_rate`) ?? (f.fail_rate!.default as string);
      const fail = parseRate(failText);
      if (!fail) v.err(`${bp}.fail_rate`, `${JSON.stringify(failText)} is not a rate; write "N/s", "N/m" or "N/h", e.g. "10/m"`);
      if (fail && users.length > 0) basicAuth = { realm, users, failCount: fail.count, failPeriodMs: fail.periodMs };
    }
  }
  const forwardAuthorization = v.bool(r.forward_authorization, ROUTE_FIELDS.forward_authorization as Leaf, `${p}.forward_authorization`);

  let forwardAuth: ForwardAuthConfig | null = null;
  if (r.forward_auth !== undefined) {
    const node = ROUTE_FIELDS.forward_auth as TableNode;
    const f = node.fields as Record<string, Leaf>;
    const fp = `${p}.forward_auth`;
    const t = v.table(r.forward_auth, node, fp);
    if (t) {
      let url: URL | null = null;
      if (t.url === undefined) v.err(`${fp}.url`, `forward_auth needs the auth service's URL; add url = "http://127.0.0.1:9000/check"`);
      else {
        url = validateUrl(v, t.url, `${fp}.url`);
        if (url && url.protocol !== "http:") {
          v.err(`${fp}.url`, `${JSON.stringify(t.url)}: the auth service is reached over plain http:// (run it next to the server); write http://host:port/path`);
          url = null;
        }
      }
      const copyHeaders: string[] = [];
      (v.list(t.copy_headers, node.fields.copy_headers as ListNode, `${fp}.copy_headers`) ?? []).forEach((n, j) => {
        if (typeof n !== "string" || !TOKEN.test(n)) return v.err(`${fp}.copy_headers[${j}]`, `${describe(n)} is not a header name; write e.g. "X-User"`);
        const l = n.toLowerCase();
        if (l in ENGINE_FIELDS || l === "host") return v.err(`${fp}.copy_headers[${j}]`, `${n} cannot be copied into the request (the server owns it); remove it`);
        if (!copyHeaders.some((c) => c.toLowerCase() === l)) copyHeaders.push(n);
      });
      const timeoutMs = v.duration(t.timeout, f.timeout!, `${fp}.timeout`);
      if (url) forwardAuth = { url, copyHeaders, timeoutMs };
    }
  }

  let securityHeaders: { csp: boolean } | null = null;
  if (r.security_headers !== undefined) {
    const sp = `${p}.security_headers`;
    if (typeof r.security_headers === "boolean") securityHeaders = r.security_headers ? { csp: false } : null;
    else {
      const node = ROUTE_FIELDS.security_headers as TableNode;
      const t = v.table(r.security_headers, node, sp);
      if (t) securityHeaders = { csp: v.bool(t.csp, node.fields.csp as Leaf, `${sp}.csp`) };
    }
  }
  return { ipAllow, ipDeny, rateLimit, basicAuth, forwardAuthorization, forwardAuth, securityHeaders };
}

/**
 * Fields a header rule may not touch, and why (the middleware skips them too, defensively):
 * the engine owns the framing, the hop-by-hop Connection, and the fields it writes on every
 * response.
 */
const ENGINE_FIELDS: Readonly<Record<string, string>> = {
  "content-length": "the server frames every message itself",
  "transfer-encoding": "the server frames every message itself",
  connection: "it is hop-by-hop and managed per connection",
};
const RESPONSE_ENGINE_FIELDS: Readonly<Record<string, string>> = {
  ...ENGINE_FIELDS,
  date: "the server writes Date on every response",
  server: "the server writes it from [server] server_name; set that instead",
  "x-request-id": "the server echoes the request id on every response",
};

function headerRules(v: Validator, raw: unknown, node: TableNode, p: string): HeaderRules | null {
  if (raw === undefined) return null;
  const t = v.table(raw, node, p);
  if (!t) return null;
  const response = p.endsWith("response_headers");
  const owned = response ? RESPONSE_ENGINE_FIELDS : ENGINE_FIELDS;
  const pairs = (key: "set" | "add"): [string, Template][] => {
    const out: [string, Template][] = [];
    for (const [name, val, cp] of v.map(t[key], node.fields[key] as MapNode, `${p}.${key}`)) {
      const why = owned[name.toLowerCase()];
      if (why !== undefined) {
        v.err(cp, `${name} cannot be changed by a header rule (${why}); remove this rule`);
        continue;
      }
      const tpl = v.template(val, cp, "header");
      if (tpl) out.push([name, tpl]);
    }
    return out;
  };
  const set = pairs("set");
  const add = pairs("add");
  const remove: string[] = [];
  (v.list(t.remove, node.fields.remove as ListNode, `${p}.remove`) ?? []).forEach((n, j) => {
    if (typeof n !== "string" || !TOKEN.test(n)) return v.err(`${p}.remove[${j}]`, `${describe(n)} is not a header name; write a field name such as "X-Powered-By"`);
    const l = n.toLowerCase();
    const why = owned[l] ?? (!response && l === "host" ? "every HTTP/1.1 request needs one" : undefined);
    if (why !== undefined) return v.err(`${p}.remove[${j}]`, `${n} cannot be removed by a header rule (${why}); remove this entry`);
    if (!remove.includes(l)) remove.push(l);
  });
  return { set, add, remove };
}

function validateProxy(v: Validator, raw: unknown, p: string): RouteAction | null {
  const t = v.table(raw, PROXY_NODE, p);
  if (!t) return null;
  const f = PROXY_NODE.fields as Record<string, Leaf>;
  let group: UpstreamGroupConfig | null = null;
  if (t.to !== undefined && t.upstream !== undefined) v.err(`${p}.upstream`, `a proxy has either to = [...] or upstream = "NAME", not both; remove one`);
  else if (t.upstream !== undefined) {
    const name = v.str(t.upstream, PROXY_NODE.fields.upstream as Leaf, `${p}.upstream`);
    if (name !== undefined) {
      group = v.groups.get(name) ?? null;
      if (!group) {
        const known = [...v.groups.keys()];
        const guess = didYouMean(name, known);
        v.err(
          `${p}.upstream`,
          `no upstream group ${JSON.stringify(name)}${guess ? `; did you mean ${JSON.stringify(guess)}?` : known.length ? `; defined groups: ${known.join(", ")}` : `; define it with [upstream.${/^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name)}] and to = ["http://127.0.0.1:3000"]`}`,
        );
      }
    }
  } else {
    const to = v.list(t.to, PROXY_NODE.fields.to as ListNode, `${p}.to`);
    if (t.to === undefined || (to && to.length === 0)) v.err(`${p}.to`, `a proxy needs a backend; add to = ["http://127.0.0.1:3000"] or upstream = "NAME"`);
    else if (to) {
      const servers = validateServers(v, to, `${p}.to`);
      if (servers) group = { ...defaultGroupOptions(), servers };
    }
  }
  const url: URL | null = group ? group.servers[0]!.url : null;
  const hostHeader = v.enumOf<"client" | "upstream">(t.host_header, f.host_header!, `${p}.host_header`);
  const trusted: string[] = [];
  (v.list(t.trusted_proxies, PROXY_NODE.fields.trusted_proxies as ListNode, `${p}.trusted_proxies`) ?? []).forEach((c, j) => {
    const cp = `${p}.trusted_proxies[${j}]`;
    if (typeof c !== "string") return v.err(cp, `must be an IP or CIDR string, got ${describe(c)}; write e.g. "10.0.0.0/8"`);
    const r = parseCidr(c.trim());
    if (r instanceof CidrError) return v.err(cp, `${JSON.stringify(c)} is not an IP or CIDR: ${r.message.replace(/^invalid --trusted-proxy value "[^"]*": /, "")}`);
    trusted.push(c.trim());
  });
  const followRedirects = v.int(t.follow_redirects, f.follow_redirects!, `${p}.follow_redirects`);
  const poolSize = v.int(t.pool_size, f.pool_size!, `${p}.pool_size`);
  const tlsVerify = v.bool(t.tls_verify, f.tls_verify!, `${p}.tls_verify`);
  const underscoresInHeaders = v.bool(t.underscores_in_headers, f.underscores_in_headers!, `${p}.underscores_in_headers`);
  let tlsCa: string | null = null;
  let tlsCaFile: string | null = null;
  if (t.tls_ca !== undefined) {
    const cp = `${p}.tls_ca`;
    const file = v.str(t.tls_ca, f.tls_ca!, cp);
    if (file !== undefined) {
      const abs = path.resolve(v.o.baseDir, file);
      const r = v.o.fs.readFile(abs);
      if ("error" in r) v.err(cp, `${JSON.stringify(file)} cannot be read (${r.error}; resolved to ${abs}); give the path of a PEM certificate file`);
      else if (!r.text.includes("-----BEGIN CERTIFICATE-----")) v.err(cp, `${JSON.stringify(file)} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give a PEM file`);
      else {
        tlsCa = r.text;
        tlsCaFile = abs;
      }
    }
  }
  if (!url || !group) return null;
  const proxy: ProxyConfig = {
    url,
    rewriteHost: hostHeader === "upstream",
    trustedProxies: trusted,
    followRedirects,
    poolSize,
    tlsVerify,
    tlsCa,
    tlsCaFile,
    underscoresInHeaders,
    group: group!,
  };
  return { kind: "proxy", proxy };
}

const GROUP_FIELDS = UPSTREAM_GROUP.fields;
const HEALTH_NODE = GROUP_FIELDS.health as TableNode;
const PASSIVE_NODE = GROUP_FIELDS.passive as TableNode;
const SERVER_KEYS = ["url", "weight", "max_conns", "backup"];

/** The options of an anonymous group (a route's inline `to` list): every default. */
function defaultGroupOptions(): Omit<UpstreamGroupConfig, "servers"> {
  return {
    name: null,
    policy: DEFAULTS.upstreamPolicy,
    hashKey: null,
    cookie: DEFAULTS.upstreamCookie,
    retries: DEFAULTS.upstreamRetries,
    tryDurationMs: 0,
    health: null,
    passive: { maxFails: DEFAULTS.maxFails, failTimeoutMs: DEFAULTS.failTimeoutMs, unhealthyStatus: [] },
    resolveIntervalMs: DEFAULTS.resolveIntervalMs,
  };
}

/** [upstream.NAME] tables. */
function validateUpstreams(v: Validator, raw: unknown): void {
  if (raw === undefined) return;
  if (!isTable(raw)) {
    v.err("upstream", `must be a table of groups, got ${describe(raw)}; write [upstream.app] with to = ["http://127.0.0.1:3001", "http://127.0.0.1:3002"]`);
    return;
  }
  for (const [name, g] of Object.entries(raw)) {
    const p = childPath("upstream", name);
    if (!/^[A-Za-z0-9_-]+$/.test(name)) {
      v.err(p, `${JSON.stringify(name)} is not a group name; use letters, digits, "-" and "_"`);
      continue;
    }
    const group = validateGroup(v, g, p, name);
    if (group) v.groups.set(name, group);
  }
}

function validateGroup(v: Validator, raw: unknown, p: string, name: string): UpstreamGroupConfig | null {
  const t = v.table(raw, UPSTREAM_GROUP, p, `upstream.${name}`);
  if (!t) return null;
  const n0 = v.problems.length;
  const f = GROUP_FIELDS as Record<string, Leaf>;
  let servers: UpstreamServerConfig[] | null = null;
  const to = v.list(t.to, GROUP_FIELDS.to as ListNode, `${p}.to`);
  if (t.to === undefined || (to && to.length === 0)) v.err(`${p}.to`, `a group needs servers; add to = ["http://127.0.0.1:3001", "http://127.0.0.1:3002"]`);
  else if (to) servers = validateServers(v, to, `${p}.to`);
  const policy = v.enumOf<UpstreamPolicy>(t.policy, f.policy!, `${p}.policy`);
  let hashKey: Template | null = null;
  if (t.hash_key !== undefined) {
    hashKey = v.template(t.hash_key, `${p}.hash_key`, "header");
    if (hashKey && policy !== "hash") v.err(`${p}.hash_key`, `is only used by policy = "hash" (this group has ${JSON.stringify(policy)}); remove it or set policy = "hash"`);
  } else if (policy === "hash") v.err(`${p}.hash_key`, `policy = "hash" needs a key; add hash_key = "{header.X-User}" (any placeholder), or use policy = "ip_hash"`);
  const cookie = v.str(t.cookie, f.cookie!, `${p}.cookie`) ?? DEFAULTS.upstreamCookie;
  if (!TOKEN.test(cookie)) v.err(`${p}.cookie`, `${JSON.stringify(cookie)} is not a cookie name; use letters, digits and !#$%&'*+-.^_\`|~ only`);
  const retries = v.int(t.retries, f.retries!, `${p}.retries`);
  const tryDurationMs = v.duration(t.try_duration, f.try_duration!, `${p}.try_duration`);
  let health: HealthCheckConfig | null = null;
  if (t.health !== undefined) health = validateHealth(v, t.health, `${p}.health`);
  const pt = v.table(t.passive, PASSIVE_NODE, `${p}.passive`) ?? {};
  const pf = PASSIVE_NODE.fields as Record<string, Leaf>;
  const maxFails = v.int(pt.max_fails, pf.max_fails!, `${p}.passive.max_fails`);
  const failTimeoutMs = v.duration(pt.fail_timeout, pf.fail_timeout!, `${p}.passive.fail_timeout`);
  const unhealthyStatus: number[] = [];
  (v.list(pt.unhealthy_status, PASSIVE_NODE.fields.unhealthy_status as ListNode, `${p}.passive.unhealthy_status`) ?? []).forEach((x, j) => {
    if (typeof x !== "number" || !Number.isInteger(x) || x < 100 || x > 599) return v.err(`${p}.passive.unhealthy_status[${j}]`, `${describe(x)} is not a status code; write a number from 100 to 599, e.g. 503`);
    if (!unhealthyStatus.includes(x)) unhealthyStatus.push(x);
  });
  const resolveIntervalMs = v.duration(t.resolve_interval, f.resolve_interval!, `${p}.resolve_interval`);
  if (v.problems.length !== n0 || !servers) return null;
  return { name, servers, policy, hashKey, cookie, retries, tryDurationMs, health, passive: { maxFails, failTimeoutMs, unhealthyStatus }, resolveIntervalMs };
}

function validateHealth(v: Validator, raw: unknown, p: string): HealthCheckConfig | null {
  const t = v.table(raw, HEALTH_NODE, p);
  if (!t) return null;
  const n0 = v.problems.length;
  const f = HEALTH_NODE.fields as Record<string, Leaf>;
  let path = "/";
  if (t.path === undefined) v.err(`${p}.path`, `a health check needs a path; add path = "/healthz"`);
  else {
    const s = v.str(t.path, f.path!, `${p}.path`);
    if (s !== undefined && (!s.startsWith("/") || /[\s\x00-\x1f\x7f#]/.test(s))) v.err(`${p}.path`, `${JSON.stringify(s)} is not a request path; write e.g. "/healthz" (starting with "/", no spaces)`);
    else if (s !== undefined) path = s;
  }
  let host: string | null = null;
  if (t.host !== undefined) {
    const s = v.str(t.host, f.host!, `${p}.host`);
    if (s !== undefined && (s === "" || !/^[A-Za-z0-9.\-_:\[\]]+$/.test(s))) v.err(`${p}.host`, `${JSON.stringify(s)} is not a host; write e.g. "app.internal" or "127.0.0.1:3001"`);
    else if (s !== undefined) host = s;
  }
  const intervalMs = v.duration(t.interval, f.interval!, `${p}.interval`);
  const timeoutMs = v.duration(t.timeout, f.timeout!, `${p}.timeout`);
  if (timeoutMs >= intervalMs) v.err(t.timeout !== undefined ? `${p}.timeout` : `${p}.interval`, `the check timeout (${formatDuration(timeoutMs)}) must be less than the interval (${formatDuration(intervalMs)}), or checks would pile up; lower timeout or raise interval`);
  const status = v.str(t.status, f.status!, `${p}.status`) ?? "2xx";
  let statusMin = 200;
  let statusMax = 299;
  const cls = /^([1-5])xx$/.exec(status);
  if (cls) {
    statusMin = Number(cls[1]) * 100;
    statusMax = statusMin + 99;
  } else if (/^[1-5][0-9][0-9]$/.test(status)) statusMin = statusMax = Number(status);
  else v.err(`${p}.status`, `${JSON.stringify(status)} is not a status; write a class such as "2xx" or a code such as "204"`);
  let body: string | null = null;
  if (t.body !== undefined) {
    const s = v.str(t.body, f.body!, `${p}.body`);
    if (s !== undefined) {
      try {
        new RegExp(s);
        body = s;
      } catch (e) {
        v.err(`${p}.body`, `${JSON.stringify(s)} is not a valid JavaScript regular expression (${(e as Error).message}); fix it`);
      }
    }
  }
  const passes = v.int(t.passes, f.passes!, `${p}.passes`);
  const fails = v.int(t.fails, f.fails!, `${p}.fails`);
  if (v.problems.length !== n0) return null;
  return { path, host, intervalMs, timeoutMs, statusMin, statusMax, status, body, passes, fails };
}

/** A `to` list: URLs or { url, weight, max_conns, backup } tables; one scheme and base path. */
function validateServers(v: Validator, list: unknown[], p: string): UpstreamServerConfig[] | null {
  const n0 = v.problems.length;
  const out: UpstreamServerConfig[] = [];
  const seen = new Map<string, number>();
  list.forEach((item, j) => {
    const ip = `${p}[${j}]`;
    let urlRaw: unknown = item;
    let weight = 1;
    let maxConns = 0;
    let backup = false;
    if (isTable(item)) {
      for (const k of Object.keys(item)) {
        if (!SERVER_KEYS.includes(k)) v.err(childPath(ip, k), `unknown key ${JSON.stringify(k)}${didYouMean(k, SERVER_KEYS) ? `; did you mean ${JSON.stringify(didYouMean(k, SERVER_KEYS))}?` : `; known keys here: ${SERVER_KEYS.join(", ")}`}`);
      }
      urlRaw = item.url;
      if (urlRaw === undefined) return v.err(`${ip}.url`, `a server table needs its url; write { url = "http://127.0.0.1:3001", weight = 2 }`);
      weight = v.int(item.weight, { kind: "int", doc: "", default: 1, min: 1, max: 1000 }, `${ip}.weight`);
      maxConns = v.int(item.max_conns, { kind: "int", doc: "", default: 0, min: 0, max: 1_000_000 }, `${ip}.max_conns`);
      backup = v.bool(item.backup, { kind: "bool", doc: "", default: false }, `${ip}.backup`);
    }
    const up = urlRaw === undefined ? null : validateUrl(v, urlRaw, isTable(item) ? `${ip}.url` : ip);
    if (!up) return;
    const key = up.origin;
    const prev = seen.get(key);
    if (prev !== undefined) return v.err(ip, `${key} is already ${p}[${prev}]; list each server once (use weight to give it more traffic)`);
    seen.set(key, j);
    const first = out[0];
    if (first && (first.url.protocol !== up.protocol || first.url.pathname !== up.pathname)) {
      return v.err(ip, `every server of a group needs the same scheme and base path as the first (${first.url.protocol}//…${first.url.pathname}); this one has ${up.protocol}//…${up.pathname}`);
    }
    out.push({ url: up, weight, maxConns, backup });
  });
  if (v.problems.length !== n0) return null;
  if (out.length > 0 && out.every((s) => s.backup)) {
    v.err(p, `every server is a backup, so none would ever get traffic; make at least one a primary (remove backup = true)`);
    return null;
  }
  return out;
}

function validateUrl(v: Validator, raw: unknown, p: string): URL | null {
  if (typeof raw !== "string") {
    v.err(p, `must be a URL string, got ${describe(raw)}; write e.g. "http://127.0.0.1:3000"`);
    return null;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    v.err(p, `${JSON.stringify(raw)} is not a URL; use http://host:port or https://host[:port][/base]`);
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    v.err(p, `${JSON.stringify(raw)}: only http:// and https:// backends are supported; write http://host:port or https://host[:port][/base]`);
    return null;
  }
  if (url.username || url.password) {
    v.err(p, `${JSON.stringify(raw)}: credentials in the URL are not supported; remove user:pass@ (set an Authorization field with request_headers instead)`);
    return null;
  }
  if (url.search || url.hash || raw.includes("?") || raw.includes("#")) {
    v.err(p, `${JSON.stringify(raw)}: a backend URL cannot carry a query or fragment; remove the part from "?" or "#"`);
    return null;
  }
  return url;
}

function validateStatic(v: Validator, raw: unknown, p: string): RouteAction | null {
  const t = v.table(raw, STATIC_NODE, p);
  if (!t) return null;
  const f = STATIC_NODE.fields as Record<string, Leaf>;
  let root: string | null = null;
  if (t.root === undefined) v.err(`${p}.root`, `a static route needs a root; add root = "./public"`);
  else {
    const dir = v.str(t.root, f.root!, `${p}.root`);
    if (dir !== undefined) {
      const abs = path.resolve(v.o.baseDir, dir);
      const r = v.o.fs.dir(abs);
      if ("error" in r) {
        v.err(
          `${p}.root`,
          r.error === "missing"
            ? `${JSON.stringify(dir)} does not exist (resolved to ${abs}); create the folder or point root at the folder to serve`
            : `${JSON.stringify(dir)} is not a directory (resolved to ${abs}); point root at the folder to serve`,
        );
      } else root = r.real;
    }
  }
  const index: string[] = [];
  const il = v.list(t.index, STATIC_NODE.fields.index as ListNode, `${p}.index`);
  (il ?? (STATIC_NODE.fields.index as ListNode).default!).forEach((n, j) => {
    if (typeof n !== "string" || n === "" || n.includes("/") || n === "." || n === "..") {
      return v.err(`${p}.index[${j}]`, `${describe(n)} is not a file name; use a plain name such as "index.html"`);
    }
    index.push(n);
  });
  const serveDotfiles = v.bool(t.dotfiles, f.dotfiles!, `${p}.dotfiles`);
  const fileCacheValidityMs = v.duration(t.cache_validity, f.cache_validity!, `${p}.cache_validity`);
  const fileCacheMaxFileSize = v.size(t.cache_max_file_size, f.cache_max_file_size!, `${p}.cache_max_file_size`);
  const fileCacheMaxBytes = v.size(t.cache_max_bytes, f.cache_max_bytes!, `${p}.cache_max_bytes`);
  const pre = codingList(v, t.precompressed, STATIC_NODE.fields.precompressed as ListNode, `${p}.precompressed`);
  const tryFiles = validateTryFiles(v, t.try_files, `${p}.try_files`);
  const browse = v.bool(t.browse, f.browse!, `${p}.browse`);
  const hidden = v.enumOf<"deny" | "allow">(t.hidden, f.hidden!, `${p}.hidden`);
  if (t.hidden !== undefined && t.dotfiles !== undefined && (hidden === "allow") !== serveDotfiles) {
    v.err(`${p}.hidden`, `hidden = ${JSON.stringify(hidden)} contradicts dotfiles = ${serveDotfiles}; keep one of the two (hidden is the newer name)`);
  }
  const symlinks = v.enumOf<"within_root" | "follow" | "deny">(t.symlinks, f.symlinks!, `${p}.symlinks`);
  if (root === null) return null;
  let st: StaticConfig = { root, index, serveDotfiles: serveDotfiles || hidden === "allow", fileCacheMaxFileSize, fileCacheMaxBytes, fileCacheValidityMs };
  if (symlinks !== "within_root") st = { ...st, symlinks };
  if (pre && pre.length > 0) st = { ...st, precompressed: pre };
  if (tryFiles) st = { ...st, tryFiles };
  if (browse) st = { ...st, browse };
  return { kind: "static", static: st };
}

/** try_files: paths starting with "/" or "{path}" (the only placeholder), "=404" last. */
function validateTryFiles(v: Validator, raw: unknown, p: string): TryFile[] | null {
  const l = v.list(raw, STATIC_NODE.fields.try_files as ListNode, p);
  if (l === null) return null;
  if (l.length === 0) v.err(p, `is empty; list candidates, e.g. ["{path}", "{path}/", "/index.html"], or remove try_files`);
  const out: TryFile[] = [];
  l.forEach((c, j) => {
    const cp = `${p}[${j}]`;
    if (typeof c !== "string") return v.err(cp, `must be a string, got ${describe(c)}; e.g. "/index.html"`);
    if (c.startsWith("=")) {
      if (c !== "=404") return v.err(cp, `${JSON.stringify(c)}: only "=404" is supported as a status; write "=404" or a path`);
      if (j !== l.length - 1) return v.err(cp, `"=404" ends the list (later candidates would never be tried); move it last`);
      out.push({ status: 404 });
      return;
    }
    const rest = c.replace(/\{path\}/g, "");
    if (!(c.startsWith("/") || c.startsWith("{path}")) || /[{}?#\s\x00-\x1f\x7f]/.test(rest)) {
      return v.err(cp, `${JSON.stringify(c)} is not a candidate path; start it with "/" or "{path}" ({path} is the only placeholder; no query), e.g. "/index.html"`);
    }
    out.push({ template: c });
  });
  return out;
}

/** A list of distinct content codings (precompressed, compress.codings); null when absent. */
function codingList(v: Validator, raw: unknown, node: ListNode, p: string): Coding[] | null {
  const l = v.list(raw, node, p);
  if (l === null) return null;
  const out: Coding[] = [];
  l.forEach((c, j) => {
    const cp = `${p}[${j}]`;
    const name = v.enumOf<Coding>(c, { ...node.item, default: undefined }, cp);
    if (name === undefined) return;
    if (out.includes(name)) v.err(cp, `${JSON.stringify(name)} is listed twice; list each coding once`);
    else out.push(name);
  });
  return out;
}

const COMPRESS_NODE = ROUTE_FIELDS.compress as TableNode;
const CACHE_CONTROL_NODE = ROUTE_FIELDS.cache_control as TableNode;
/** "type/subtype" or "type/*", lowercase tokens (RFC 9110 §8.3.1; matched against our own Content-Type). */
const MEDIA_RANGE = /^[a-z0-9!#$&^_.+-]+\/(\*|[a-z0-9!#$&^_.+-]+)$/;

function compressOf(v: Validator, raw: unknown, cp: string): CompressConfig | undefined {
  const t = v.table(raw, COMPRESS_NODE, cp);
  if (!t) return undefined;
  const f = COMPRESS_NODE.fields as Record<string, Leaf>;
  const codings = codingList(v, t.codings, COMPRESS_NODE.fields.codings as ListNode, `${cp}.codings`) ?? ((COMPRESS_NODE.fields.codings as ListNode).default as Coding[]);
  if (codings.length === 0) v.err(`${cp}.codings`, `is empty, so nothing is compressed; list codings, e.g. ["zstd", "br", "gzip"], or remove compress`);
  const minSize = v.size(t.min_size, f.min_size!, `${cp}.min_size`);
  const types: string[] = [];
  const tl = v.list(t.types, COMPRESS_NODE.fields.types as ListNode, `${cp}.types`) ?? ((COMPRESS_NODE.fields.types as ListNode).default as string[]);
  tl.forEach((m, j) => {
    if (typeof m !== "string" || !MEDIA_RANGE.test(m)) return v.err(`${cp}.types[${j}]`, `${describe(m)} is not a media type; write it lowercase without parameters, e.g. "text/*" or "application/json"`);
    types.push(m);
  });
  return { codings, minSize, types };
}

/** compress and cache_control: keys of the route that refine a static action (issue 10). */
function staticExtras(v: Validator, r: Record<string, unknown>, p: string, action: RouteAction | null): RouteAction | null {
  if (r.compress === undefined && r.cache_control === undefined && r.errors === undefined) return action;
  const isStatic = action?.kind === "static";
  let compress: CompressConfig | undefined;
  if (r.compress !== undefined) {
    const cp = `${p}.compress`;
    if (action && !isStatic && action.kind !== "proxy") v.err(cp, `compress applies to static and proxy routes only; remove it or move it to such a route`);
    if (isStatic) compress = compressOf(v, r.compress, cp);
  }
  let cacheControl: CacheControlRule[] | undefined;
  if (r.cache_control !== undefined) {
    const cp = `${p}.cache_control`;
    if (action && !isStatic) v.err(cp, `cache_control applies to static routes only; use response_headers to set Cache-Control on other routes`);
    if (!Array.isArray(r.cache_control)) v.err(cp, `must be a list of tables, got ${describe(r.cache_control)}; e.g. [{ match = "/assets/**", value = "public, max-age=31536000, immutable" }]`);
    else {
      cacheControl = [];
      r.cache_control.forEach((item, j) => {
        const ip = `${cp}[${j}]`;
        const t = v.table(item, CACHE_CONTROL_NODE, ip);
        if (!t) return;
        const f = CACHE_CONTROL_NODE.fields as Record<string, Leaf>;
        const match = v.str(t.match, f.match!, `${ip}.match`);
        const value = v.str(t.value, f.value!, `${ip}.value`);
        if (match === undefined) return v.err(`${ip}.match`, `a rule needs a pattern; add match = "/assets/**" or match = "*.html"`);
        if (value === undefined) return v.err(`${ip}.value`, `a rule needs a value; add value = "no-cache"`);
        if (match === "" || /[\x00-\x1f\x7f]/.test(match)) return v.err(`${ip}.match`, `${JSON.stringify(match)} is not a pattern; write e.g. "/assets/**" or "*.html"`);
        if (value === "" || !FIELD_VALUE.test(value) || value !== value.trim()) return v.err(`${ip}.value`, `${JSON.stringify(value)} is not a field value; remove control characters and leading or trailing spaces`);
        cacheControl!.push(compileRule(match, value));
      });
    }
  }
  let errorPages: Map<number, string> | undefined;
  if (r.errors !== undefined) {
    const ep = `${p}.errors`;
    if (action && !isStatic) v.err(ep, `errors applies to static routes only; remove it or move it to a static route`);
    if (!isTable(r.errors)) v.err(ep, `must be a table of status = "page", got ${describe(r.errors)}; e.g. { 404 = "/404.html" }`);
    else {
      errorPages = new Map();
      for (const [k, val] of Object.entries(r.errors)) {
        const cp = childPath(ep, k);
        const status = /^[45]\d\d$/.test(k) ? Number(k) : 0;
        if (status < 400 || status > 599) {
          v.err(cp, `${JSON.stringify(k)} is not an error status; use a code from 400 to 599, e.g. 404 = "/404.html"`);
          continue;
        }
        if (typeof val !== "string" || !val.startsWith("/") || /[?#\s\x00-\x1f\x7f]/.test(val) || normalizePath(val) !== val || val.endsWith("/")) {
          v.err(cp, `${describe(val)} is not a page path; give the file's path in the root starting with "/", e.g. "/404.html"`);
          continue;
        }
        errorPages.set(status, val);
      }
    }
  }
  if (!action || action.kind !== "static") return action;
  let st: StaticConfig = action.static;
  if (errorPages && errorPages.size > 0) st = { ...st, errorPages };
  if (compress) st = { ...st, compress };
  if (cacheControl && cacheControl.length > 0) st = { ...st, cacheControl };
  return { kind: "static", static: st };
}

function validateRedirect(v: Validator, raw: unknown, p: string): RouteAction | null {
  const t = v.table(raw, REDIRECT_NODE, p);
  if (!t) return null;
  const f = REDIRECT_NODE.fields as Record<string, Leaf>;
  let to: Template | null = null;
  if (t.to === undefined) v.err(`${p}.to`, `a redirect needs a target; add to = "https://example.com{uri}"`);
  else {
    to = v.template(t.to, `${p}.to`, "url");
    if (to && to.source === "") {
      v.err(`${p}.to`, `is empty; give the target URL, e.g. "https://example.com{uri}"`);
      to = null;
    }
  }
  const status = v.int(t.status, f.status!, `${p}.status`) as 301 | 302 | 303 | 307 | 308;
  return to ? { kind: "redirect", to, status } : null;
}

function validateRespond(v: Validator, raw: unknown, p: string): RouteAction | null {
  const t = v.table(raw, RESPOND_NODE, p);
  if (!t) return null;
  const f = RESPOND_NODE.fields as Record<string, Leaf>;
  const n0 = v.problems.length;
  const status = v.int(t.status, f.status!, `${p}.status`);
  const body = v.str(t.body, f.body!, `${p}.body`) ?? "";
  if (body !== "" && (status === 204 || status === 304)) v.err(`${p}.body`, `a ${status} response has no body; remove body or use status 200`);
  const headers: [string, Template][] = [];
  for (const [name, val, cp] of v.map(t.headers, RESPOND_NODE.fields.headers as MapNode, `${p}.headers`)) {
    const l = name.toLowerCase();
    if (l === "content-length" || l === "transfer-encoding" || l === "connection") {
      v.err(cp, `${name} is set by the server from the body; remove it`);
      continue;
    }
    const tpl = v.template(val, cp, "header");
    if (tpl) headers.push([name, tpl]);
  }
  if (v.problems.length !== n0) return null;
  return { kind: "respond", status, body, headers };
}

/** "config OK: 2 sites, 7 routes, 2 listeners" counts. */
export function summarize(c: Config): { sites: number; routes: number; listeners: number } {
  const addrs = new Set<string>();
  let routes = 0;
  for (const s of c.sites) {
    routes += s.routes.length;
    for (const a of s.listen) addrs.add(displayAddr(a));
  }
  return { sites: c.sites.length, routes, listeners: addrs.size };
}

export { formatDuration, formatSize };
