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
import { handlerBackstop, type Config, type Limits, type ListenAddress, type RouteConfig, type SiteConfig } from "./config/config.ts";
import type { Exchange, Handler } from "./handler.ts";
import { requestHeaders, responseHeaders } from "./middleware/headers/index.ts";
import { compose, type Middleware } from "./middleware/decorator.ts";
import { stripPrefix } from "./middleware/strip-prefix/index.ts";
import { createRedirectHandler } from "./handlers/redirect.ts";
import { createRespondHandler } from "./handlers/respond.ts";
import { createProxyContext, createProxyHandler, type ProxyContext } from "./proxy/proxy-handler.ts";
import { buildSiteTables, compileRoutes, listenKey, normalizePath, type RouteMatcher, type SiteTable } from "./router/index.ts";
import { createStaticHandler } from "./static/static-handler.ts";
import { ListenerTls } from "./tls/listener-tls.ts";
import { ACME_CHALLENGE_PREFIX, createHttpsRedirect, isAcmeChallenge } from "./handlers/redirect-https.ts";
import { acmeManager } from "./acme/manager.ts";

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
  private readonly routeLimits = new Map<RouteConfig, RouteLimits>();
  /** The global limits with maxBodySize raised to the largest a route allows (the parser checks it before routing). */
  readonly parserLimits: Limits;
  /** Per TLS address (listenKey): its default certificate and SNI contexts (src/tls/listener-tls.ts). */
  private readonly tls = new Map<string, ListenerTls>();
  /** Plain sites with redirect_https: their 308 handler. */
  private readonly httpsRedirects = new Map<SiteConfig, Handler>();

  constructor(readonly config: Config) {
    for (const site of config.sites) {
      this.sites.set(site, { site, match: compileRoutes(site) });
      for (const route of site.routes) {
        this.chains.set(route, this.buildChain(route));
        const t = route.timeouts;
        this.routeLimits.set(route, { maxBodySize: route.maxBodySize, bodyIdleMs: t.bodyIdleMs, sendIdleMs: t.sendIdleMs, handlerIdleMs: handlerBackstop(t) });
      }
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

  /** The TLS settings of an address, or null for plain HTTP. */
  tlsFor(key: string): ListenerTls | null {
    return this.tls.get(key) ?? null;
  }

  private buildChain(route: RouteConfig): Handler {
    const a = route.action;
    let terminal: Handler;
    switch (a.kind) {
      case "static":
        terminal = createStaticHandler(a.static);
        break;
      case "proxy": {
        const ctx = createProxyContext({ limits: this.config.limits, timeouts: route.timeouts }, a.proxy);
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
    if (route.responseHeaders) mw.push(responseHeaders(route.responseHeaders));
    if (route.requestHeaders) mw.push(requestHeaders(route.requestHeaders));
    if (route.stripPrefix !== null) mw.push(stripPrefix(route.stripPrefix));
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
    const redirect = this.httpsRedirects.get(site);
    if (redirect !== undefined && !isAcmeChallenge(ex.head.path)) {
      redirect(ex);
      return;
    }
    const compiled = this.sites.get(site)!;
    // "OPTIONS *" asks about the server as a whole (RFC 9110 §9.3.7): routed like "/", so the
    // catch-all route (a proxy forwards it, static answers with Allow) handles it.
    const path = ex.head.form === "asterisk" ? "/" : normalizePath(ex.head.path);
    if (path === null) {
      ex.sendError(400, "BAD_PATH");
      return;
    }
    const route = compiled.match(path, ex.head.method, ex.head.headers);
    if (route === null) {
      ex.sendError(404, "NO_ROUTE");
      return;
    }
    if (!ex.applyRouteLimits(this.routeLimits.get(route)!)) return;
    this.chains.get(route)!(ex);
  }

  /** This runtime was replaced: close idle upstream connections now, busy ones when done. */
  retire(): void {
    for (const p of this.proxies) p.pool.retire();
  }
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
