/**
 * `basic_auth = { realm, users, fail_rate }` of a route: HTTP Basic authentication (RFC 7617).
 *
 *  - No Authorization, or another scheme: 401 AUTH_REQUIRED with
 *    `WWW-Authenticate: Basic realm="…", charset="UTF-8"` (§2, §2.1: user-id and password are
 *    UTF-8). Malformed Basic credentials (not base64 per RFC 4648 §4, no colon, not UTF-8):
 *    400 AUTH_BAD_HEADER.
 *  - Hashes are argon2id/argon2i/argon2d or bcrypt, checked with Bun.password.verify (off the
 *    event loop). An unknown user is checked against a dummy hash made at load with the cost
 *    parameters of the route's first user, so unknown users take the same time as wrong
 *    passwords and the timing tells nothing about which names exist.
 *  - Every check that has to run a hash (a failure, or the first success of a credential)
 *    takes a token from the client's attempt bucket (`fail_rate`, per client address as the
 *    trusted proxies report it; N is also the burst). An empty bucket answers 429
 *    AUTH_TOO_MANY_FAILURES with Retry-After before any hash runs: guessing is slow, and a
 *    client cannot make the server burn CPU and memory on argon2.
 *  - Requests carrying a credential whose check is already running wait for that check (no
 *    second hash, no second token): a client opening many connections at once logs in once.
 *  - A credential that verified is remembered (the exact Authorization value → ok, at most
 *    CACHE_MAX entries, least recently used evicted), so argon2 does not run per request. The
 *    cache lives as long as this route's runtime: a reload (changed users) starts empty.
 *  - At most MAX_CONCURRENT hashes run at once (argon2id's default cost is 64 MiB each); up to
 *    MAX_QUEUED more wait; past that 503 AUTH_BUSY.
 *  - The Authorization field is removed from the request the next handler sees (so a proxy
 *    does not forward it) unless `forward_authorization = true`.
 */
import type { BasicAuthConfig } from "../../config/config.ts";
import type { Exchange, Handler, HeaderPairs } from "../../handler.ts";
import { HeaderList } from "../../http1/header-list.ts";
import type { TrustedProxies } from "../../proxy/cidr.ts";
import { clientAddress } from "../client-address.ts";
import type { Middleware } from "../decorator.ts";
import { deriveHead, HeadDecorator } from "../derive-head.ts";
import { TokenBuckets } from "../rate-limit/token-bucket.ts";

export const CACHE_MAX = 1024;
export const MAX_CONCURRENT = 4;
export const MAX_QUEUED = 256;
/** Clients whose attempt buckets are kept (LRU). */
const ATTEMPT_KEYS = 100_000;

export type Credentials = { user: string; password: string } | "bad" | "none";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Authorization field value → credentials. "none" = no Basic credentials (absent, or another
 * scheme); "bad" = Basic with a malformed token68 (RFC 7235 §2.1: the scheme is case-insensitive,
 * then one or more SP).
 */
export function parseBasic(value: string | undefined): Credentials {
  if (value === undefined) return "none";
  if (value.length < 6 || (value.charCodeAt(5) !== 0x20) || !/^basic$/i.test(value.slice(0, 5))) return "none";
  let i = 5;
  while (i < value.length && value.charCodeAt(i) === 0x20) i++;
  const b64 = value.slice(i);
  if (b64.length === 0 || b64.length % 4 !== 0 || !BASE64.test(b64)) return "bad";
  let text: string;
  try {
    text = utf8.decode(Buffer.from(b64, "base64"));
  } catch {
    return "bad";
  }
  const colon = text.indexOf(":");
  if (colon < 0) return "bad";
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** A hash with the same algorithm and cost as `like`, of a random password nobody knows. */
export function dummyHashLike(like: string): string {
  const secret = crypto.getRandomValues(new Uint8Array(16)).toString();
  const a = /^\$(argon2id|argon2i|argon2d)\$v=19\$m=(\d+),t=(\d+),p=\d+\$/.exec(like);
  if (a) return Bun.password.hashSync(secret, { algorithm: a[1] as "argon2id", memoryCost: Number(a[2]), timeCost: Number(a[3]) });
  const b = /^\$2[aby]\$(\d\d)\$/.exec(like);
  return Bun.password.hashSync(secret, { algorithm: "bcrypt", cost: b ? Number(b[1]) : 10 });
}

/** A small counting semaphore with a bounded queue. */
class Gate {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}
  /** null when the queue is full. */
  enter(): Promise<void> | null {
    if (this.running < this.max) {
      this.running++;
      return Promise.resolve();
    }
    if (this.queue.length >= this.maxQueued) return null;
    return new Promise((resolve) => this.queue.push(resolve));
  }
  leave(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.running--;
  }
}

export interface BasicAuthOptions {
  readonly forwardAuthorization: boolean;
  readonly trusted: TrustedProxies;
  readonly now?: () => number;
}

export class BasicAuth {
  private readonly users: Map<string, string>;
  private readonly dummy: string;
  /** Authorization value → user, LRU. */
  private readonly verified = new Map<string, string>();
  readonly attempts: TokenBuckets;
  private readonly challenge: HeaderPairs;
  private readonly gate = new Gate(MAX_CONCURRENT, MAX_QUEUED);
  /** Authorization value → the check running for it (bounded by the gate's queue). */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  private readonly now: () => number;

  constructor(
    readonly config: BasicAuthConfig,
    private readonly opts: BasicAuthOptions,
  ) {
    this.users = new Map(config.users);
    this.dummy = dummyHashLike(config.users[0]![1]);
    this.attempts = new TokenBuckets(config.failCount, config.failPeriodMs, config.failCount, ATTEMPT_KEYS);
    this.challenge = [["WWW-Authenticate", `Basic realm="${config.realm}", charset="UTF-8"`]];
    this.now = opts.now ?? (() => Math.floor(performance.now()));
  }

  get cacheSize(): number {
    return this.verified.size;
  }

  handle(ex: Exchange, next: Handler): void {
    const fields = ex.head.headers.getAll("authorization");
    const value = fields.length === 1 ? fields[0] : undefined;
    const user = value !== undefined ? this.verified.get(value) : undefined;
    if (user !== undefined) {
      this.verified.delete(value!);
      this.verified.set(value!, user);
      this.pass(ex, next);
      return;
    }
    const cred = fields.length > 1 ? "bad" : parseBasic(value);
    if (cred === "none") return ex.sendError(401, "AUTH_REQUIRED", this.challenge);
    if (cred === "bad") return ex.sendError(400, "AUTH_BAD_HEADER");
    const pending = this.inFlight.get(value!);
    if (pending !== undefined) {
      // The same credential is being checked already (a client opening many connections at
      // once): wait for that answer instead of running (and counting) another hash.
      this.await(ex, next, pending, cred.user);
      return;
    }
    const ip = clientAddress(ex, this.opts.trusted);
    const now = this.now();
    const wait = this.attempts.peek(ip, now);
    if (wait > 0) return ex.sendError(429, "AUTH_TOO_MANY_FAILURES", [["Retry-After", String(Math.max(1, Math.ceil(wait / 1000)))]]);
    this.attempts.take(ip, now);
    const entered = this.gate.enter();
    if (entered === null) return ex.sendError(503, "AUTH_BUSY", [["Retry-After", "1"]]);
    const hash = this.users.get(cred.user);
    const check = entered
      .then(() => Bun.password.verify(cred.password, hash ?? this.dummy))
      .then(
        (ok) => ok && hash !== undefined,
        () => false,
      )
      .then((ok) => {
        this.gate.leave();
        this.inFlight.delete(value!);
        if (ok) {
          if (this.verified.size >= CACHE_MAX) for (const k of this.verified.keys()) { this.verified.delete(k); break; }
          this.verified.set(value!, cred.user);
        }
        return ok;
      });
    this.inFlight.set(value!, check);
    this.await(ex, next, check, cred.user);
  }

  /** Answer `ex` once `check` has decided. */
  private await(ex: Exchange, next: Handler, check: Promise<boolean>, _user: string): void {
    let aborted = false;
    ex.onAbort = () => {
      aborted = true;
    };
    void check.then((ok) => {
      if (aborted) return;
      ex.onAbort = null;
      if (!ok) return ex.sendError(401, "AUTH_FAILED", this.challenge);
      this.pass(ex, next);
    });
  }

  private pass(ex: Exchange, next: Handler): void {
    if (this.opts.forwardAuthorization) return next(ex);
    const head = ex.head;
    const hl = head.headers;
    const headers = new HeaderList();
    for (let i = 0; i < hl.names.length; i++) if (hl.lowerNames[i] !== "authorization") headers.add(hl.names[i]!, hl.values[i]!, hl.lowerNames[i]!);
    next(new HeadDecorator(ex, deriveHead(head, { headers })));
  }
}

export function basicAuth(config: BasicAuthConfig, opts: BasicAuthOptions): Middleware {
  const auth = new BasicAuth(config, opts);
  return (next) => (ex) => auth.handle(ex, next);
}
