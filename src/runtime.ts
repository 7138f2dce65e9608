/**
 * The immutable runtime built from one validated Config: for each listen address its site
 * table, for each route its composed handler chain (middleware around static, proxy, redirect
 * or respond), and the upstream pools those chains use.
 *
 * A reload (SIGHUP) builds a new Runtime and the server swaps one reference. An exchange keeps
 * the chain it was dispatched to, so requests in flight, streamed responses and WebSocket
 * tunnels finish on the runtime they started with; a keep-alive connection takes the new one
 * at its next request. The old runtime's pools are retired: idle connections close at once,
 * busy ones when their exchange ends.
 */
import { handlerBackstop, type UpstreamGroupConfig, type Config, type Limits, type ListenAddress, type RouteConfig, type SiteConfig } from "./config/config.ts";
import type { Exchange, Handler, HeaderPairs } from "./handler.ts";
import { requestHeaders, responseHeaders } from "./middleware/headers/index.ts";
import { compose, type Middleware } from "./middleware/decorator.ts";
import { stripPrefix } from "./middleware/strip-prefix/index.ts";
import { accessMiddlewares } from "./middleware/access.ts";
import { createRedirectHandler } from "./handlers/redirect.ts";
import { createRespondHandler } from "./handlers/respond.ts";
import { createProxyContext, createProxyHandler, type ProxyContext } from "./proxy/proxy-handler.ts";
import { buildSiteTables, compileRoutes, listenKey, normalizePath, type RouteMatcher, type SiteTable } from "./router/index.ts";
import { createStaticHandler } from "./static/static-handler.ts";
import { serverName, UpstreamRegistry, type PoolOptions, type UpstreamGroup } from "./proxy/upstreams.ts";
import { compressResponses } from "./middleware/compress/index.ts";
import { hstsHeader } from "./middleware/security-headers/index.ts";
import { routeMetrics, type RouteMetrics } from "./observe/server-metrics.ts";
import { ListenerTls } from "./tls/listener-tls.ts";
import { ACME_CHALLENGE_PREFIX, createHttpsRedirect, isAcmeChallenge } from "./handlers/redirect-https.ts";
import { acmeManager } from "./acme/manager.ts";
import { processResponseCache, type ResponseCache } from "./cache/response-cache.ts";
import { cacheResponses } from "./middleware/cache/index.ts";

/** Per-request route settings the engine applies before the chain runs. */
export interface RouteLimits {
  readonly maxBodySize: number;
  readonly bodyIdleMs: number;
  /** The client send timeout (the route's `timeouts.send`). */
  readonly sendIdleMs: number;
  /** The handler backstop, from the route's own upstream timeouts. */
  readonly handlerIdleMs: number;
}

/** What the engine needs from the exchange it dispatches (implemented by the HTTP/1 exchange). */
export interface DispatchableExchange extends Exchange {
  /** Where the exchange's metrics go, set once the site and route are known. */
  routeMetrics: RouteMetrics | null;
  /** Apply the route's limits; false if the request already breaks them (the answer is sent). */
  applyRouteLimits(limits: RouteLimits): boolean;
  /** The SNI name of a TLS connection (ASCII-lowercased), null without SNI; absent on plain HTTP. */
  readonly tlsServerName?: string | null;
}

interface CompiledSite {
  readonly site: SiteConfig;
  readonly match: RouteMatcher;
}

/** The distinct addresses a config listens on, in first-mention order. */
export function listenAddresses(config: Config): ListenAddress[] {
  const seen = new Map<string, ListenAddress>();
  for (const site of config.sites) for (const a of site.listen) if (!seen.has(listenKey(a))) seen.set(listenKey(a), a);
  return [...seen.values()];
}

export class Runtime {
  /** The distinct addresses to listen on, in first-mention order. */
  readonly addresses: readonly ListenAddress[];
  private readonly tables: Map<string, SiteTable>;
  private readonly sites = new Map<SiteConfig, CompiledSite>();
  private readonly chains = new Map<RouteConfig, Handler>();
  private readonly proxies: ProxyContext[] = [];
  /** forward_auth pools and the like, released with the runtime (issue 12). */
  private readonly accessRetire: (() => void)[] = [];
  private readonly routeLimits = new Map<RouteConfig, RouteLimits>();
  /** Pre-resolved metrics per route, and per site for requests none of its routes took (empty when metrics are off). */
  private readonly routeMetrics = new Map<RouteConfig, RouteMetrics>();
  private readonly siteMetrics = new Map<SiteConfig, RouteMetrics>();
  /** The global limits with maxBodySize raised to the largest a route allows (the parser checks it before routing). */
  readonly parserLimits: Limits;
  /** The upstream group each proxy route sends to (held by the registry, which outlives reloads). */
  private readonly groups = new Map<RouteConfig, UpstreamGroup>();
  /** Per TLS address (listenKey): its default certificate and SNI contexts (src/tls/listener-tls.ts). */
  private readonly tls = new Map<string, ListenerTls>();
  /** Plain sites with redirect_https: their 308 handler. */
  private readonly httpsRedirects = new Map<SiteConfig, Handler>();
  /**
   * The process's response cache (routes with cache = { ... }; docs/caching.md). The same
   * instance across reloads; the admin API purges through it (CachePurger).
   */
  readonly cache: ResponseCache;
  /** Whether some route of this config caches (else the admin API says "no cache configured"). */
  readonly cacheInUse: boolean;

  /**
   * `upstreams`: the process's group registry. A reload passes the previous runtime's, so that
   * servers still configured keep their health state and pooled connections.
   */
  constructor(
    readonly config: Config,
    readonly upstreams: UpstreamRegistry = new UpstreamRegistry(),
  ) {
    this.syncUpstreams();
    this.cache = processResponseCache(config.cache);
    this.cacheInUse = config.sites.some((site) => site.routes.some((route) => route.cache !== undefined && route.action.kind === "proxy"));
    for (const site of config.sites) {
      this.sites.set(site, { site, match: compileRoutes(site) });
      for (const route of site.routes) {
        this.chains.set(route, this.buildChain(route, site));
        const t = route.timeouts;
        this.routeLimits.set(route, { maxBodySize: route.maxBodySize, bodyIdleMs: t.bodyIdleMs, sendIdleMs: t.sendIdleMs, handlerIdleMs: handlerBackstop(t) });
        // Labels are config indexes, never request data: the series count is bounded by the config.
        if (config.metricsEnabled) this.routeMetrics.set(route, routeMetrics(String(site.index), String(route.index)));
      }
      if (config.metricsEnabled) this.siteMetrics.set(site, routeMetrics(String(site.index), "none"));
    }
    let maxBody = config.limits.maxBodySize;
    for (const site of config.sites) for (const r of site.routes) if (r.maxBodySize > maxBody) maxBody = r.maxBodySize;
    this.parserLimits = maxBody === config.limits.maxBodySize ? config.limits : { ...config.limits, maxBodySize: maxBody };
    this.addresses = listenAddresses(config);
    this.tables = buildSiteTables(config.sites);
    for (const [key, table] of this.tables) {
      const tlsSites = table.sites.filter((s) => s.tls !== undefined);
      if (tlsSites.length > 0) this.tls.set(key, new ListenerTls(table, tlsSites));
    }
    for (const site of config.sites) if (site.redirectHttps) this.httpsRedirects.set(site, createHttpsRedirect(httpsPortFor(config, site)));
  }

  /** A plain address where some site sets h2c = true: prior-knowledge HTTP/2 is accepted there. */
  h2cOn(key: string): boolean {
    return this.tables.get(key)?.sites.some((s) => s.h2c === true) ?? false;
  }

  /** The TLS settings of an address, or null for plain HTTP. */
  tlsFor(key: string): ListenerTls | null {
    return this.tls.get(key) ?? null;
  }

  private buildChain(route: RouteConfig, site: SiteConfig): Handler {
    const a = route.action;
    let terminal: Handler;
    switch (a.kind) {
      case "static":
        terminal = createStaticHandler(a.static);
        break;
      case "proxy": {
        const ctx = createProxyContext({ limits: this.config.limits, timeouts: route.timeouts }, a.proxy, this.groups.get(route)!);
        this.proxies.push(ctx);
        terminal = createProxyHandler(ctx.config, a.proxy, ctx);
        break;
      }
      case "redirect":
        terminal = createRedirectHandler(a.to, a.status);
        break;
      case "respond":
        terminal = createRespondHandler(a.status, a.body, a.headers);
        break;
    }
    // Outermost first: response rules see the final head, request rules see the original path
    // ({path} is the path before strip_prefix), and the action sees the stripped path.
    const mw: Middleware[] = [];
    // The site's HSTS outermost of all: every answer of the site carries it (a backend's own wins).
    if (site.hsts) mw.push(hstsHeader(site.hsts.value));
    const access = route.access ? accessMiddlewares(route, this.config, site.index) : null;
    // security_headers outermost: it sees the final head (response rules first) and also
    // decorates the 401/403/429 answers of the access checks.
    if (access) {
      mw.push(...access.outer);
      this.accessRetire.push(access.retire);
    }
    if (route.responseHeaders) mw.push(responseHeaders(route.responseHeaders));
    // Access checks before request rules: they judge the request as the client sent it.
    if (access) mw.push(...access.checks);
    // The cache after the access checks (a hit must pass them too) and before request rules and
    // strip_prefix (the key and Vary see the request as the client sent it). It stores what
    // compress produced (Vary: Accept-Encoding), so a hit is not compressed again.
    if (route.cache && a.kind === "proxy") {
      // The namespace names the route and where it sends requests, so a reload that reorders
      // routes does not hand one backend's entries to another.
      const g = a.proxy.group;
      const ns = `${site.index}.${route.index}@${g.name ?? g.servers.map((s) => s.url.href).join(",")}`;
      // Behind basic_auth or forward_auth a response may be per user: §3.5 applies to every request.
      const authenticated = route.access !== undefined && (route.access.basicAuth !== null || route.access.forwardAuth !== null);
      mw.push(cacheResponses(route.cache, this.cache, route.timeouts.upstreamHeaderMs, `${site.index}.${route.index}`, ns, authenticated));
    }
    if (route.requestHeaders) mw.push(requestHeaders(route.requestHeaders));
    if (route.stripPrefix !== null) mw.push(stripPrefix(route.stripPrefix));
    // Innermost: header rules see the compressed head (Content-Encoding, weak ETag).
    if (route.compress) mw.push(compressResponses(route.compress));
    return mw.length === 0 ? terminal : compose(mw, terminal);
  }

  /**
   * Route one exchange that arrived on the listener for `key`: site by Host, route by path,
   * method and headers, then the route's chain. Answers 421 (no site for this Host), 400 (a
   * path that cannot be normalised) or 404 (no route) itself.
   */
  dispatch(ex: DispatchableExchange, key: string): void {
    if (!ex.secure && this.config.acme !== undefined && isAcmeChallenge(ex.head.path)) {
      // HTTP-01 (RFC 8555 §8.3): answered on any plain listener, before Host routing and redirects.
      const answer = acmeManager.challenge(ex.head.path.slice(ACME_CHALLENGE_PREFIX.length));
      if (answer !== null) {
        ex.respond(200, [["Content-Type", "application/octet-stream"]], Buffer.from(answer, "latin1"));
        return;
      }
    }
    const table = this.tables.get(key);
    const site = table?.lookup(ex.head.host) ?? null;
    if (site === null) {
      // Never fall through to some other site's files (RFC 9110 §15.5.20).
      ex.sendError(421, "NO_SITE");
      return;
    }
    if (ex.tlsServerName && site.tls !== undefined && this.tls.get(key)?.siteFor(ex.tlsServerName) !== site) {
      // The certificate was chosen for another site: answering would let one site's name
      // front for another's (domain fronting). RFC 9110 §15.5.20: the client may retry on a
      // connection made for this Host.
      ex.sendError(421, "MISDIRECTED_SNI");
      return;
    }
    const hsts: HeaderPairs | undefined = site.hsts && ex.secure ? [["Strict-Transport-Security", site.hsts.value]] : undefined;
    if (site.tls?.clientAuth && !this.clientCertOk(ex, site, key, hsts)) return;
    const redirect = this.httpsRedirects.get(site);
    if (redirect !== undefined && !isAcmeChallenge(ex.head.path)) {
      redirect(ex);
      return;
    }
    const compiled = this.sites.get(site)!;
    ex.routeMetrics = this.siteMetrics.get(site) ?? null;
    // "OPTIONS *" asks about the server as a whole (RFC 9110 §9.3.7): routed like "/", so the
    // catch-all route (a proxy forwards it, static answers with Allow) handles it.
    const path = ex.head.form === "asterisk" ? "/" : normalizePath(ex.head.path);
    if (path === null) {
      ex.sendError(400, "BAD_PATH", hsts);
      return;
    }
    const route = compiled.match(path, ex.head.method, ex.head.headers);
    if (route === null) {
      ex.sendError(404, "NO_ROUTE", hsts);
      return;
    }
    ex.routeMetrics = this.routeMetrics.get(route) ?? null;
    if (!ex.applyRouteLimits(this.routeLimits.get(route)!)) return;
    this.chains.get(route)!(ex);
  }

  /**
   * mTLS (docs/https.md#client-certificates-mtls): a site with client_ca takes a request only
   * with a certificate verified against its own CAs now. 403 without one ("require") or with
   * one that did not verify; 421 when it was verified against other CAs (a client without SNI
   * verified by the default site's CAs, or a connection from before client_ca changed): the
   * client may retry on a connection made for this host (RFC 9110 §15.5.20). False = answered.
   */
  private clientCertOk(ex: DispatchableExchange, site: SiteConfig, key: string, hsts: HeaderPairs | undefined): boolean {
    const cert = ex.tlsClientCert ?? null;
    const mode = site.tls!.clientAuth!.mode;
    if (cert === null) {
      if (mode === "optional") return true;
      ex.sendError(403, "CLIENT_CERT_REQUIRED", hsts);
      return false;
    }
    if (cert.verifiedWith === null || cert.verifiedWith !== this.tls.get(key)?.clientCaOf(site)) {
      ex.sendError(421, "CLIENT_CERT_MISDIRECTED", hsts);
      return false;
    }
    if (!cert.verified) {
      ex.sendError(403, "CLIENT_CERT_INVALID", hsts);
      return false;
    }
    return true;
  }

  /** Upstream groups of every proxy route: named ones by name, inline `to` lists by route position. */
  private wantedGroups(): { name: string; cfg: UpstreamGroupConfig; pool: PoolOptions; route: RouteConfig }[] {
    const out: { name: string; cfg: UpstreamGroupConfig; pool: PoolOptions; route: RouteConfig }[] = [];
    for (const site of this.config.sites) {
      for (const route of site.routes) {
        if (route.action.kind !== "proxy") continue;
        const p = route.action.proxy;
        const pool: PoolOptions = {
          limits: this.config.limits,
          poolSize: p.poolSize,
          idleMs: this.config.timeouts.upstreamPoolIdleMs,
          connectMs: route.timeouts.upstreamConnectMs,
          tlsVerify: p.tlsVerify,
          tlsCa: p.tlsCa,
          metrics: this.config.metricsEnabled,
        };
        out.push({ name: upstreamGroupName(site, route, p.group), cfg: p.group, pool, route });
      }
    }
    return out;
  }

  private syncUpstreams(): void {
    const wanted = this.wantedGroups();
    const groups = this.upstreams.sync(wanted);
    this.groups.clear();
    for (const w of wanted) this.groups.set(w.route, groups.get(UpstreamRegistry.keyOf(w.name, w.pool))!);
  }

  /** A reload was refused after the next runtime was built: give the registry back this runtime's groups. */
  restoreUpstreams(): void {
    this.syncUpstreams();
  }

  /**
   * This runtime was replaced: groups the new configuration no longer has were retired by the
   * registry already (idle connections close now, busy ones when done); those it still has keep
   * their servers, state and pools.
   */
  retire(): void {
    const live = new Set(this.upstreams.all());
    for (const g of this.groups.values()) if (!live.has(g)) g.retire();
    for (const f of this.accessRetire) f();
  }
}

/** The name of a proxy route's upstream group: its [upstream.NAME], or the route's position for an inline `to` list. */
export function upstreamGroupName(site: SiteConfig, route: RouteConfig, group: UpstreamGroupConfig): string {
  // The "." keeps it apart from [upstream.NAME] names (letters, digits, "-", "_"), and it needs
  // no escaping in a URL path (/api/upstreams/{group}/...).
  return group.name ?? `site${site.index}.route${route.index}`;
}

/** Group name → the names of its servers (serverName), as a config defines them (what drain may name). */
export function configuredUpstreamServers(config: Config): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const site of config.sites) {
    for (const route of site.routes) {
      if (route.action.kind !== "proxy") continue;
      const g = route.action.proxy.group;
      const name = upstreamGroupName(site, route, g);
      let set = out.get(name);
      if (set === undefined) out.set(name, (set = new Set()));
      for (const s of g.servers) set.add(serverName(s.url));
    }
  }
  return out;
}

/**
 * The port a redirect_https site sends clients to: that of the first TLS site serving one of its
 * hosts (so a test or non-standard setup redirects to where HTTPS really is), else 443.
 */
export function httpsPortFor(config: Config, site: SiteConfig): number {
  for (const s of config.sites) {
    if (s.tls === undefined) continue;
    if (s.hosts.length === 0 || site.hosts.length === 0 || s.hosts.some((h) => site.hosts.includes(h))) return s.listen[0]?.port ?? 443;
  }
  return 443;
}
