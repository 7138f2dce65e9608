/**
 * The access-control middleware of one route (issue 12), in the order they run:
 * ip_allow / ip_deny (cheapest refusal first), rate_limit, basic_auth, forward_auth; and
 * security_headers, which wraps the whole chain so their refusals carry the preset too.
 *
 * The client address they judge is the one the route's trusted proxies report
 * (client-address.ts): a proxy route's `trusted_proxies`; other routes use the socket peer.
 */
import type { Config, RouteConfig } from "../config/config.ts";
import { TrustedProxies } from "../proxy/cidr.ts";
import { basicAuth } from "./basic-auth/index.ts";
import type { Middleware } from "./decorator.ts";
import { createForwardAuth, forwardAuth } from "./forward-auth/index.ts";
import { ipRules } from "./ip-rules/index.ts";
import { rateLimit } from "./rate-limit/index.ts";
import { securityHeaders } from "./security-headers/index.ts";
import { rateLimitRejections } from "../observe/server-metrics.ts";

export interface AccessChain {
  /** Around everything (response side). */
  readonly outer: Middleware[];
  /** Request checks, before request_headers and strip_prefix. */
  readonly checks: Middleware[];
  /** Release resources (forward_auth's connection pool) when the runtime is replaced. */
  readonly retire: () => void;
}

/** `siteIndex`: the route's site (metric labels are the config indexes). */
export function accessMiddlewares(route: RouteConfig, config: Config, siteIndex = 0): AccessChain | null {
  const a = route.access;
  if (!a) return null;
  const trusted = route.action.kind === "proxy" && route.action.proxy.trustedProxies.length > 0 ? new TrustedProxies(route.action.proxy.trustedProxies) : TrustedProxies.none;
  const outer: Middleware[] = [];
  const checks: Middleware[] = [];
  if (a.securityHeaders) outer.push(securityHeaders(a.securityHeaders));
  if (a.ipAllow || a.ipDeny) checks.push(ipRules({ allow: a.ipAllow, deny: a.ipDeny }, trusted));
  // Serving processes with workers > 1 are the workers (the supervisor serves nothing).
  if (a.rateLimit) {
    const rejected = config.metricsEnabled ? rateLimitRejections(String(siteIndex), String(route.index)) : null;
    checks.push(rateLimit(a.rateLimit, trusted, { workers: config.workers, rejected }));
  }
  if (a.basicAuth) checks.push(basicAuth(a.basicAuth, { forwardAuthorization: a.forwardAuthorization, trusted }));
  let retire = (): void => {};
  if (a.forwardAuth) {
    const fa = createForwardAuth(a.forwardAuth, config, trusted);
    checks.push(forwardAuth(fa));
    retire = () => fa.retire();
  }
  return { outer, checks, retire };
}
