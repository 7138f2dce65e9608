/**
 * `rate_limit = { rate, burst, key, max_keys }` of a route: a token bucket per rendered key
 * (token-bucket.ts). Over the limit: 429 RATE_LIMITED with Retry-After (RFC 9110 §10.2.3) and
 * the RateLimit-Policy / RateLimit fields of draft-ietf-httpapi-ratelimit-headers-10 (§3, §4):
 *
 *   RateLimit-Policy: "default";q=<burst>;w=<seconds a full bucket takes to refill>
 *   RateLimit: "default";r=0;t=<seconds until the next request is allowed>
 *
 * q/w state the policy as "burst requests per the time they take to earn back", which is both
 * the burst and the sustained rate. The fields are sent on the 429 only (the allowed path adds
 * nothing to the response, so it costs one Map lookup).
 *
 * {remote_ip} in the key is the client as the route's trusted proxies report it
 * (client-address.ts); the other placeholders are the request as the client sent it.
 *
 * Workers: each worker process keeps its own buckets with rate and burst divided by the number
 * of workers (rounded up). A client is therefore never admitted more than the configured rate
 * (plus the rounding), and at least rate / workers when all its requests land on one worker
 * (one keep-alive connection always does). docs/security.md states the error and its measurement.
 */
import type { RateLimitConfig } from "../../config/config.ts";
import type { TemplateContext as Ctx } from "../../config/template.ts";
import { renderTemplate } from "../../config/template.ts";
import type { Exchange, Handler } from "../../handler.ts";
import type { TrustedProxies } from "../../proxy/cidr.ts";
import { clientAddress } from "../client-address.ts";
import type { Middleware } from "../decorator.ts";
import { templateContext } from "../template-context.ts";
import { TokenBuckets } from "./token-bucket.ts";

export interface RateLimitOptions {
  /** Worker processes sharing the instance's rate (1 = this process alone). */
  readonly workers: number;
  /** The clock, in ms (tests pass a fake one). */
  readonly now?: () => number;
  /** Counts every 429 (dreamserver_rate_limited_total of the route); absent when metrics are off. */
  readonly rejected?: { inc(): void } | null;
}

/** A template context whose {remote_ip} is the address trusted proxies report. */
class KeyContext implements Ctx {
  constructor(
    private readonly base: Ctx,
    readonly remoteIp: string,
  ) {}
  get host(): string {
    return this.base.host;
  }
  get path(): string {
    return this.base.path;
  }
  get query(): string {
    return this.base.query;
  }
  get uri(): string {
    return this.base.uri;
  }
  get requestId(): string {
    return this.base.requestId;
  }
  header(n: string): string | null | undefined {
    return this.base.header(n);
  }
  cookie(n: string): string | null | undefined {
    return this.base.cookie(n);
  }
  queryParam(n: string): string | null | undefined {
    return this.base.queryParam(n);
  }
}

/** Every bucket of a route plus how to answer; exported for tests. */
export class RateLimiter {
  readonly buckets: TokenBuckets;
  private readonly policy: string;
  private readonly onlyRemoteIp: boolean;

  constructor(
    readonly config: RateLimitConfig,
    private readonly trusted: TrustedProxies,
    opts: RateLimitOptions,
  ) {
    const w = Math.max(1, opts.workers);
    const count = Math.ceil(config.count / w);
    const burst = Math.ceil(config.burst / w);
    this.buckets = new TokenBuckets(count, config.periodMs, burst, config.maxKeys);
    this.now = opts.now ?? (() => Math.floor(performance.now()));
    const refillS = Math.max(1, Math.ceil((config.burst * config.periodMs) / config.count / 1000));
    this.policy = `"default";q=${config.burst};w=${refillS}`;
    const parts = config.key.parts;
    this.onlyRemoteIp = parts.length === 1 && "placeholder" in parts[0]! && parts[0].placeholder === "remote_ip";
    this.rejected = opts.rejected ?? null;
  }
  private readonly now: () => number;
  private readonly rejected: { inc(): void } | null;

  keyOf(ex: Exchange): string {
    const ip = clientAddress(ex, this.trusted);
    if (this.onlyRemoteIp) return ip;
    return renderTemplate(this.config.key, new KeyContext(templateContext(ex), ip));
  }

  /** Pass the request on, or answer 429. */
  handle(ex: Exchange, next: Handler): void {
    const d = this.buckets.take(this.keyOf(ex), this.now());
    if (d.allowed) {
      next(ex);
      return;
    }
    this.rejected?.inc();
    const retry = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
    ex.sendError(429, "RATE_LIMITED", [
      ["Retry-After", String(retry)],
      ["RateLimit-Policy", this.policy],
      ["RateLimit", `"default";r=0;t=${retry}`],
    ]);
  }
}

export function rateLimit(config: RateLimitConfig, trusted: TrustedProxies, opts: RateLimitOptions): Middleware {
  const limiter = new RateLimiter(config, trusted, opts);
  return (next) => (ex) => limiter.handle(ex, next);
}
