/**
 * --print-config: the effective Config back in the file's shape, every default filled in, as
 * TOML that loads again to the same Config (tests/unit/config-load.test.ts checks the round trip).
 */
import type { AccessConfig, Config, HeaderRules, RouteConfig, Template, UpstreamGroupConfig, UpstreamServerConfig } from "./config.ts";
import { INT_LIMITS, LIMIT_KEYS, ROUTE_TIMEOUT_KEYS, TIMEOUT_KEYS, formatDuration, formatSize } from "./schema.ts";
import { matchSource } from "./validate.ts";

type Raw = { [k: string]: RawValue };
type RawValue = string | number | boolean | RawValue[] | Raw;

const src = (t: Template): string => t.source;
const pairs = (ps: readonly (readonly [string, Template])[]): Raw => Object.fromEntries(ps.map(([k, t]) => [k, src(t)]));

function rules(r: HeaderRules): Raw {
  return { set: pairs(r.set), add: pairs(r.add), remove: [...r.remove] };
}

function routeToRaw(r: RouteConfig, c: Config): Raw {
  const out: Raw = { path: matchSource(r.match) };
  if (r.methods) out.methods = [...r.methods];
  if (r.headers) out.headers = Object.fromEntries(r.headers);
  if (r.stripPrefix !== null) out.strip_prefix = r.stripPrefix;
  if (r.requestHeaders) out.request_headers = rules(r.requestHeaders);
  if (r.responseHeaders) out.response_headers = rules(r.responseHeaders);
  out.max_body_size = formatSize(r.maxBodySize);
  // Only the route's own timeouts: the others follow [timeouts].
  const t: Raw = {};
  for (const [k, f] of ROUTE_TIMEOUT_KEYS) if (r.timeouts[f] !== c.timeouts[f]) t[k] = formatDuration(r.timeouts[f]);
  if (Object.keys(t).length) out.timeouts = t;
  if (r.access) Object.assign(out, accessToRaw(r.access));
  const a = r.action;
  switch (a.kind) {
    case "proxy": {
      const p = a.proxy;
      const proxy: Raw = {
        ...(p.group.name !== null ? { upstream: p.group.name } : { to: p.group.servers.map(serverToRaw) }),
        host_header: p.rewriteHost ? "upstream" : "client",
        trusted_proxies: [...p.trustedProxies],
        follow_redirects: p.followRedirects,
        pool_size: p.poolSize,
        tls_verify: p.tlsVerify,
      };
      if (p.tlsCaFile !== null) proxy.tls_ca = p.tlsCaFile;
      proxy.underscores_in_headers = p.underscoresInHeaders;
      out.proxy = proxy;
      if (r.compress) out.compress = { codings: [...r.compress.codings], min_size: formatSize(r.compress.minSize), types: [...r.compress.types] };
      if (r.cache) {
        const k = r.cache;
        out.cache = {
          enabled: true,
          default_ttl: formatDuration(k.defaultTtlMs),
          stale_while_revalidate: formatDuration(k.staleWhileRevalidateMs),
          stale_if_error: formatDuration(k.staleIfErrorMs),
          key: k.key.source,
          client_no_cache: k.clientNoCache,
          store_set_cookie: k.storeSetCookie,
        };
      }
      break;
    }
    case "static": {
      const s = a.static;
      out.static = {
        root: s.root,
        index: [...s.index],
        dotfiles: s.serveDotfiles,
        cache_validity: formatDuration(s.fileCacheValidityMs),
        cache_max_file_size: formatSize(s.fileCacheMaxFileSize),
        cache_max_bytes: formatSize(s.fileCacheMaxBytes),
        precompressed: [...(s.precompressed ?? [])],
        browse: s.browse ?? false,
        symlinks: s.symlinks ?? "within_root",
      };
      if (s.tryFiles) (out.static as Raw).try_files = s.tryFiles.map((t) => ("status" in t ? `=${t.status}` : t.template));
      if (s.compress) out.compress = { codings: [...s.compress.codings], min_size: formatSize(s.compress.minSize), types: [...s.compress.types] };
      if (s.errorPages) out.errors = Object.fromEntries([...s.errorPages].map(([k, v]) => [String(k), v]));
      if (s.cacheControl) out.cache_control = s.cacheControl.map((c) => ({ match: c.match, value: c.value }));
      break;
    }
    case "redirect":
      out.redirect = { to: a.to.source, status: a.status };
      break;
    case "respond":
      out.respond = { status: a.status, body: a.body, headers: pairs(a.headers) };
      break;
  }
  return out;
}

/** A `to` entry: the URL alone when the other keys have their defaults. */
function serverToRaw(s: UpstreamServerConfig): RawValue {
  if (s.weight === 1 && s.maxConns === 0 && !s.backup) return s.url.href;
  return { url: s.url.href, weight: s.weight, max_conns: s.maxConns, backup: s.backup };
}

function groupToRaw(g: UpstreamGroupConfig): Raw {
  const out: Raw = { to: g.servers.map(serverToRaw), policy: g.policy };
  if (g.hashKey) out.hash_key = g.hashKey.source;
  out.cookie = g.cookie;
  out.retries = g.retries;
  out.try_duration = formatDuration(g.tryDurationMs);
  const h = g.health;
  if (h) {
    const hr: Raw = { path: h.path };
    if (h.host !== null) hr.host = h.host;
    Object.assign(hr, { interval: formatDuration(h.intervalMs), timeout: formatDuration(h.timeoutMs), status: h.status });
    if (h.body !== null) hr.body = h.body;
    Object.assign(hr, { passes: h.passes, fails: h.fails });
    out.health = hr;
  }
  out.resolve_interval = formatDuration(g.resolveIntervalMs);
  out.passive = { max_fails: g.passive.maxFails, fail_timeout: formatDuration(g.passive.failTimeoutMs), unhealthy_status: [...g.passive.unhealthyStatus] };
  return out;
}

const rateText = (count: number, periodMs: number): string => `${count}/${periodMs === 1000 ? "s" : periodMs === 60_000 ? "m" : "h"}`;

/** ip_allow … security_headers of a route (issue 12). */
function accessToRaw(a: AccessConfig): Raw {
  const out: Raw = {};
  if (a.ipAllow) out.ip_allow = [...a.ipAllow];
  if (a.ipDeny) out.ip_deny = [...a.ipDeny];
  if (a.rateLimit) {
    const rl = a.rateLimit;
    out.rate_limit = { rate: rateText(rl.count, rl.periodMs), burst: rl.burst, key: rl.key.source, max_keys: rl.maxKeys };
  }
  if (a.basicAuth) {
    const b = a.basicAuth;
    out.basic_auth = { realm: b.realm, users: Object.fromEntries(b.users), fail_rate: rateText(b.failCount, b.failPeriodMs) };
  }
  out.forward_authorization = a.forwardAuthorization;
  if (a.forwardAuth) {
    const f = a.forwardAuth;
    out.forward_auth = { url: f.url.href, copy_headers: [...f.copyHeaders], timeout: formatDuration(f.timeoutMs) };
  }
  if (a.securityHeaders) out.security_headers = { csp: a.securityHeaders.csp };
  return out;
}

/** The Config in the file's shape (what a file with every default written out would hold). */
export function configToRaw(c: Config): Raw {
  const addr = (h: string, p: number): string => (h.includes(":") ? `[${h}]:${p}` : `${h}:${p}`);
  return {
    server: { workers: c.workers, server_name: c.serverName, max_requests_per_connection: c.maxRequestsPerConnection, shutdown_delay: formatDuration(c.shutdownDelayMs), cert_check_interval: formatDuration(c.certCheckIntervalMs) },
    log: { access: c.accessLog, format: c.logFormat },
    // A token read from token_file is printed as the file, never as its content.
    admin: { listen: c.admin === null ? "off" : addr(c.admin.hostname, c.admin.port), ...(c.adminTokenFile !== null ? { token_file: c.adminTokenFile } : { token: c.adminToken ?? "" }) },
    metrics: { enabled: c.metricsEnabled },
    tracing: { sample: c.tracingSample, otlp_endpoint: c.otlpEndpoint?.href ?? "" },
    limits: Object.fromEntries(LIMIT_KEYS.map(([k, f]) => [k, INT_LIMITS.has(f) ? c.limits[f] : formatSize(c.limits[f])])),
    timeouts: Object.fromEntries(TIMEOUT_KEYS.map(([k, f]) => [k, formatDuration(c.timeouts[f])])),
    cache: { memory: formatSize(c.cache.memory), max_object: formatSize(c.cache.maxObject) },
    ...(c.acme ? { acme: { directory: c.acme.directory, email: c.acme.email, ...(c.acme.caFile ? { ca: c.acme.caFile } : {}), storage: c.acme.storage } } : {}),
    site: c.sites.map((s) => ({
      listen: s.listen.map((a) => addr(a.hostname, a.port)),
      hosts: [...s.hosts],
      ...(s.tls ? { tls: s.tls.auto ? "auto" : { cert: s.tls.certFile, key: s.tls.keyFile, ...(s.tls.clientAuth ? { client_ca: s.tls.clientAuth.caFile, client_auth: s.tls.clientAuth.mode } : {}) } } : {}),
      ...(s.redirectHttps ? { redirect_https: true } : {}),
      ...(s.hsts ? { hsts: { max_age: s.hsts.maxAge, include_subdomains: s.hsts.includeSubdomains, preload: s.hsts.preload } } : {}),
      ...(s.http2 === false ? { http2: false } : {}),
      ...(s.h2c ? { h2c: true } : {}),
      route: s.routes.map((r) => routeToRaw(r, c)),
    })),
    ...(c.upstreams.length ? { upstream: Object.fromEntries(c.upstreams.map((g) => [g.name!, groupToRaw(g)])) } : {}),
  };
}

const bareKey = (k: string): string => (/^[A-Za-z0-9_-]+$/.test(k) ? k : tomlString(k));

/** A TOML basic string (JSON escapes are valid TOML, except DEL which we escape too). */
function tomlString(s: string): string {
  return JSON.stringify(s).replace(/\x7f/g, "\\u007F");
}

function isTable(v: RawValue): v is Raw {
  return typeof v === "object" && !Array.isArray(v);
}

function inline(v: RawValue): string {
  if (typeof v === "string") return tomlString(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(inline).join(", ")}]`;
  const entries = Object.entries(v);
  return entries.length ? `{ ${entries.map(([k, x]) => `${bareKey(k)} = ${inline(x)}`).join(", ")} }` : "{}";
}

/** Raw object → TOML: top-level tables as [sections], lists of tables as [[arrays]], the rest inline. */
export function toToml(raw: Raw, header = ""): string {
  const out: string[] = header ? [header] : [];
  const emitTable = (name: string, t: Raw, arrayItem: boolean): void => {
    out.push("", arrayItem ? `[[${name}]]` : `[${name}]`);
    const nested: [string, Raw[]][] = [];
    for (const [k, v] of Object.entries(t)) {
      if (Array.isArray(v) && v.length > 0 && v.every((x) => isTable(x)) && k === "route") nested.push([k, v as Raw[]]);
      else out.push(`${bareKey(k)} = ${inline(v)}`);
    }
    for (const [k, items] of nested) for (const item of items) emitTable(`${name}.${k}`, item, true);
  };
  for (const [k, v] of Object.entries(raw)) {
    if (Array.isArray(v) && v.every((x) => isTable(x))) for (const item of v) emitTable(k, item as Raw, true);
    else if (isTable(v)) emitTable(k, v, false);
    else out.push(`${bareKey(k)} = ${inline(v)}`);
  }
  return out.join("\n").replace(/^\n/, "") + "\n";
}

/** --print-config output. */
export function printConfig(c: Config): string {
  const from = c.source ? `from ${c.source}` : "built from the command line";
  return toToml(configToRaw(c), `# DreamServer effective configuration (${from}), every default filled in.\n# Reference: docs/configuration.md`);
}
