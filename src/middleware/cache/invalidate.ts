/**
 * RFC 9111 §4.4: a non-error response to an unsafe method invalidates the stored responses of
 * the target URI and of the URIs in its Location and Content-Location fields (same host only:
 * "a cache MUST NOT invalidate a URI from a Location or Content-Location response header field
 * if the host part of that URI differs from the host part in the target URI").
 */
import type { TemplateContext } from "../../config/template.ts";
import { renderTemplate } from "../../config/template.ts";
import type { Exchange, ResponseHeaders } from "../../handler.ts";
import { asciiLower } from "../../http1/field-syntax.ts";
import { headerPairsOf } from "../../http1/serialize.ts";
import { normalizeHost } from "../../router/host.ts";
import { CacheStatusExchange } from "./status-exchange.ts";
import { formatCacheStatus } from "../../cache/cache-status.ts";
import { templateContext } from "../template-context.ts";
import type { RouteCache } from "./route-cache.ts";

const METHOD_STATUS = formatCacheStatus({ fwd: "method" });

export class InvalidatingExchange extends CacheStatusExchange {
  constructor(
    inner: Exchange,
    private readonly rc: RouteCache,
  ) {
    super(inner, METHOD_STATUS);
  }

  override respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    this.invalidate(status, headers);
    super.respond(status, headers, body);
  }

  override startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    this.invalidate(status, headers);
    super.startResponse(status, headers, length);
  }

  private invalidate(status: number, headers: ResponseHeaders): void {
    // "non-error status code": 2xx and 3xx.
    if (status < 200 || status >= 400) return;
    const store = this.rc.cache.store;
    const ctx = templateContext(this.inner);
    store.remove(this.rc.ns + renderTemplate(this.rc.cfg.key, ctx));
    for (const [name, value] of headerPairsOf(headers)) {
      const l = asciiLower(name);
      if (l !== "location" && l !== "content-location") continue;
      const target = sameHostTarget(value, ctx);
      if (target !== null) store.remove(this.rc.ns + renderTemplate(this.rc.cfg.key, withTarget(ctx, target.path, target.query)));
    }
  }
}

/** The path and query of a URI reference on the request's host; null for another host or garbage. */
export function sameHostTarget(value: string, ctx: TemplateContext): { path: string; query: string } | null {
  let u: URL;
  try {
    u = new URL(value, `http://${ctx.host}/`);
  } catch {
    return null;
  }
  if (normalizeHost(u.host) !== ctx.host) return null;
  return { path: u.pathname, query: u.search.length > 1 ? u.search.slice(1) : "" };
}

function withTarget(ctx: TemplateContext, path: string, query: string): TemplateContext {
  return {
    host: ctx.host,
    path,
    query,
    uri: query === "" ? path : path + "?" + query,
    remoteIp: ctx.remoteIp,
    requestId: ctx.requestId,
    scheme: ctx.scheme ?? "http",
    header: (n) => ctx.header(n),
    cookie: (n) => ctx.cookie(n),
    queryParam: (n) => ctx.queryParam(n),
  };
}
