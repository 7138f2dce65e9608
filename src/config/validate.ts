/**
 * Raw config object (from TOML / YAML / JSON, or built from flags) → validated, immutable Config,
 * or every problem found, each with the field path and a message saying what is wrong and how
 * to fix it. PURE: the only outside facts it needs (does a folder exist, can a file be read)
 * come through the injected FsCheck, so tests run it on tables of mistakes without a disk.
 */
import path from "node:path";
import type {
  Config,
  HeaderRules,
  Limits,
  ListenAddress,
  PathMatch,
  ProxyConfig,
  RouteAction,
  RouteConfig,
  SiteConfig,
  SiteTls,
  AcmeConfig,
  StaticConfig,
  Template,
  Timeouts,
} from "./config.ts";
import { DEFAULT_ACME_DIRECTORY, DEFAULT_ACME_STORAGE, DEFAULT_ADMIN_LISTEN } from "./config.ts";
import { parseCidr, CidrError } from "../proxy/cidr.ts";
import { LIMIT_KEYS, ROUTE_TIMEOUT_KEYS, SCHEMA, TIMEOUT_KEYS, typeName, formatSize, formatDuration, type Leaf, type ListNode, type MapNode, type Node, type TableNode } from "./schema.ts";
import { checkPair } from "../tls/check-pair.ts";
import { normalizePath } from "../router/path.ts";
import { prefixMatches } from "../router/routes.ts";
import { shadowedBy } from "../router/shadow.ts";
import { parseDuration, parseSize } from "./size.ts";
import { didYouMean, parseTemplate } from "./template.ts";

export interface Problem {
  /** Field path, indexes from 0: "site[1].route[2].proxy.to[0]". "" = the whole file. */
  readonly path: string;
  /** What is wrong; how to fix it. */
  readonly message: string;
  /** 1-based line in the config file, when known (load.ts fills it in). */
  line?: number;
  /** The command-line flag the value came from (flags.ts / load.ts fill it in). */
  flag?: string;
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
  /** What workers = "auto" means. */
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
  let workers = o.cpus;
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

  // [admin]
  const adminRaw = v.table(t.admin, ADMIN_NODE, "admin") ?? {};
  const adminListen = v.str(adminRaw.listen, (ADMIN_NODE.fields as Record<string, Leaf>).listen!, "admin.listen") ?? DEFAULT_ADMIN_LISTEN;
  let admin: Config["admin"] = null;
  if (adminListen !== "off") {
    const a = parseListenAddress(adminListen);
    if (typeof a === "string") v.err("admin.listen", `${a.replace(/;.*$/, "")}; write an address such as "127.0.0.1:9180", or "off"`);
    else admin = a;
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
    ...(acme ? { acme } : {}),
  };
  return { ok: true, config, warnings: v.warnings };
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
  ok = v.problems.length === n0;
  if (!ok) return null;
  const site: SiteConfig = { index: i, listen, hosts, routes };
  // Only present when set, so configs without TLS keep their old shape (and print the same).
  return tls || redirectHttps ? { ...site, ...(tls ? { tls } : {}), ...(redirectHttps ? { redirectHttps } : {}) } : site;
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
    v.warnings.push({ path: `${tp}.cert`, message: `${JSON.stringify(cert.abs)} expired on ${new Date(c.notAfter).toISOString()} (${c.subject}); clients will refuse it: renew it and reload (SIGHUP)` });
  }
  return { certFile: cert.abs, keyFile: key.abs, cert: cert.text, key: key.text, notAfter: c.notAfter };
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

  if (v.problems.length !== n0 || !match || !action) return null;
  return { index, match, methods, headers, stripPrefix, requestHeaders, responseHeaders, maxBodySize, timeouts, action };
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
  let url: URL | null = null;
  const to = v.list(t.to, PROXY_NODE.fields.to as ListNode, `${p}.to`);
  if (t.to === undefined || (to && to.length === 0)) v.err(`${p}.to`, `a proxy needs a backend; add to = ["http://127.0.0.1:3000"]`);
  else if (to && to.length > 1) v.err(`${p}.to[1]`, `several backends need upstream groups (not yet available); give one URL`);
  else if (to) url = validateUrl(v, to[0], `${p}.to[0]`);
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
  if (!url) return null;
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
  };
  return { kind: "proxy", proxy };
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
  if (root === null) return null;
  const st: StaticConfig = { root, index, serveDotfiles, fileCacheMaxFileSize, fileCacheMaxBytes, fileCacheValidityMs };
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
