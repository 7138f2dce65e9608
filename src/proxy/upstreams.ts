/**
 * Upstream groups at run time: the servers of a group with their state (in flight, passive and
 * active health, latency, connection pool), the pick for one attempt (select.ts decides), the
 * active checks, and a registry of groups that outlives a Runtime so that a reload keeps the
 * state and pooled connections of every server that is still configured (docs/reverse-proxy.md
 * "Upstream groups").
 */
import type { Limits, UpstreamGroupConfig, UpstreamServerConfig } from "../config/config.ts";
import { UpstreamPool } from "../net/upstream-pool.ts";
import { upstreamServerMetrics, type UpstreamServerMetrics } from "../observe/upstream-metrics.ts";
import { runHealthCheck, type CheckResult } from "./health-check.ts";
import { PassiveHealth } from "./passive-health.ts";
import { upstreamTargetOf, type UpstreamTarget } from "./prepare-request.ts";
import { hash32, selectServer, type Candidate } from "./select.ts";

/** How a group's servers connect (from the proxy route that uses the group). */
export interface PoolOptions {
  readonly limits: Limits;
  readonly poolSize: number;
  readonly idleMs: number;
  readonly connectMs: number;
  readonly tlsVerify: boolean;
  readonly tlsCa: string | null;
  /** Publish the per-server metric series ([metrics] enabled). */
  readonly metrics?: boolean;
}

/**
 * A server's name in the admin API and in metric labels: the host and port of its `to` entry as
 * configured (default port filled in), e.g. "127.0.0.1:3001", "app.internal:8080", "[::1]:3000".
 * A name that resolves to several addresses is one server by name (each address is listed in
 * /api/upstreams with its own `address`, and draining the name drains them all).
 */
export function serverName(url: URL): string {
  const port = url.port ? url.port : url.protocol === "https:" ? "443" : "80";
  return `${url.hostname}:${port}`;
}

/** One server's state: GET /api/upstreams and the scrape-time health series read it. */
export interface UpstreamServerState {
  readonly group: string;
  /** The configured name (serverName): what /api/upstreams/{group}/{server} takes. */
  readonly server: string;
  /** The address connected to (the resolved address of a host name). */
  readonly address: string;
  /** Taken out by POST /api/upstreams/{group}/{server}/drain: no new requests. */
  readonly drained: boolean;
  readonly maxConns: number;
  readonly backup: boolean;
  readonly weight: number;
  readonly inflight: number;
  readonly requests: number;
  readonly failures: number;
  /** Eligible by health (active and passive); max_conns aside. */
  readonly healthy: boolean;
  /** Wall-clock ms of the last active check, or null (no checks). */
  readonly lastCheck: number | null;
  readonly lastCheckOk: boolean | null;
  readonly lastCheckReason: string | null;
  /** Smoothed time to first response byte, ms (EWMA, α = 0.2), or null before the first response. */
  readonly latencyMs: number | null;
}

export class UpstreamServer implements Candidate {
  readonly key: string;
  /** The configured name (serverName). */
  readonly name: string;
  /** The address connected to ("host:port"), as in the access log. */
  readonly label: string;
  readonly id: number;
  /** Cookie value naming this server (policy = "cookie"): a hash, not the address. */
  readonly cookieValue: string;
  readonly pool: UpstreamPool;
  readonly target: UpstreamTarget;
  readonly passive: PassiveHealth;
  weight: number;
  backup: boolean;
  maxConns: number;
  current = 0;
  inflight = 0;
  requests = 0;
  failures = 0;
  latencyMs: number | null = null;
  /** Active health verdict (servers start healthy). */
  activeUp = true;
  private okRun = 0;
  private failRun = 0;
  lastCheck: number | null = null;
  lastCheckOk: boolean | null = null;
  lastCheckReason: string | null = null;
  checking = false;
  private checkTimer: ReturnType<typeof setInterval> | null = null;
  retired = false;
  /** Taken out for maintenance through the admin API: selection skips it; in-flight requests finish. */
  drained = false;
  private readonly m: UpstreamServerMetrics | null;

  /**
   * `ip`: one resolved address of a `to` entry that names a host (the connection goes to the
   * address; Host, SNI and certificate checks keep the name). null: connect to the URL's host.
   */
  constructor(
    public cfg: UpstreamServerConfig,
    group: UpstreamGroupConfig,
    o: PoolOptions,
    ip: string | null = null,
    groupName = "",
  ) {
    const url = cfg.url;
    this.key = serverKey(url, ip);
    this.name = serverName(url);
    // Labels are the group and server names from the config, never a resolved address.
    this.m = o.metrics ? upstreamServerMetrics(groupName, this.name) : null;
    const tls = url.protocol === "https:";
    const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    const port = url.port ? Number(url.port) : tls ? 443 : 80;
    this.pool = new UpstreamPool({ hostname: ip ?? hostname, port, tls, tlsVerify: o.tlsVerify, serverName: hostname, ca: o.tlsCa }, o.limits, o.poolSize, o.idleMs, o.connectMs);
    this.label = this.pool.label;
    this.id = hash32(this.key);
    this.cookieValue = this.id.toString(16).padStart(8, "0");
    this.target = upstreamTargetOf(url);
    this.passive = new PassiveHealth(group.passive);
    this.weight = cfg.weight;
    this.backup = cfg.backup;
    this.maxConns = cfg.maxConns;
  }

  /** Healthy by both kinds of health (a half-open server counts as healthy while its trial is free). */
  healthyAt(now: number): boolean {
    return this.activeUp && this.passive.available(now);
  }

  eligibleAt(now: number): boolean {
    return !this.retired && !this.drained && this.healthyAt(now) && (this.maxConns === 0 || this.inflight < this.maxConns);
  }

  /** An attempt starts on this server; true = it is the passive half-open trial. */
  begin(now: number): boolean {
    this.inflight++;
    this.requests++;
    if (this.m !== null) {
      this.m.inflight.inc();
      this.m.requests.inc();
    }
    return this.passive.begin(now);
  }

  /** The attempt's connection is done with (inflight accounting only). */
  done(): void {
    this.inflight--;
    this.m?.inflight.dec();
  }

  failed(now: number, trial: boolean): void {
    this.failures++;
    this.m?.failures.inc();
    this.passive.failure(now, trial);
  }

  succeeded(trial: boolean, ttfbMs: number): void {
    this.passive.success(trial);
    this.m?.latency.observe(ttfbMs / 1000);
    this.latencyMs = this.latencyMs === null ? ttfbMs : this.latencyMs * 0.8 + ttfbMs * 0.2;
  }

  /** An active check's result: `fails` in a row take it out, `passes` in a row bring it back. */
  checked(r: CheckResult, passes: number, fails: number): void {
    this.lastCheck = Date.now();
    this.lastCheckOk = r.ok;
    this.lastCheckReason = r.reason;
    if (r.ok) {
      this.failRun = 0;
      this.okRun++;
      if (this.okRun >= passes && (!this.activeUp || this.passive.down)) {
        this.activeUp = true;
        this.passive.reset(); // the checks vouch for it: back at once
      }
    } else {
      this.okRun = 0;
      this.failRun++;
      if (this.failRun >= fails) this.activeUp = false;
    }
  }

  startChecks(group: UpstreamGroupConfig): void {
    this.stopChecks();
    const h = group.health;
    if (!h) {
      this.activeUp = true;
      return;
    }
    const run = (): void => {
      // Never pile up: a check still running (timeout < interval makes this rare) skips a tick.
      if (this.checking || this.retired) return;
      this.checking = true;
      runHealthCheck(this.pool, h, this.target.host).then((r) => {
        this.checking = false;
        if (!this.retired) this.checked(r, h.passes, h.fails);
      });
    };
    this.checkTimer = setInterval(run, h.intervalMs);
    this.checkTimer.unref();
    queueMicrotask(run);
  }

  stopChecks(): void {
    if (this.checkTimer !== null) clearInterval(this.checkTimer);
    this.checkTimer = null;
  }

  /** Removed from its group (reload): no new requests; idle connections close, busy ones when done. */
  retire(): void {
    this.retired = true;
    this.stopChecks();
    this.pool.retire();
  }

  state(group: string, now: number): UpstreamServerState {
    return {
      group,
      server: this.name,
      address: this.label,
      drained: this.drained,
      maxConns: this.maxConns,
      backup: this.backup,
      weight: this.weight,
      inflight: this.inflight,
      requests: this.requests,
      failures: this.failures,
      healthy: this.healthyAt(now),
      lastCheck: this.lastCheck,
      lastCheckOk: this.lastCheckOk,
      lastCheckReason: this.lastCheckReason,
      latencyMs: this.latencyMs,
    };
  }
}

/** Key of a server: its origin, plus the address when it is one record of a resolved name. */
function serverKey(url: URL, ip: string | null): string {
  return ip === null ? url.origin : `${url.origin}@${ip}`;
}

/** A host name (not an IP literal) in a `to` URL: resolved, and re-resolved every resolve_interval. */
function isHostName(url: URL): boolean {
  const h = url.hostname;
  return !h.startsWith("[") && !/^\d{1,3}(\.\d{1,3}){3}$/.test(h);
}

/** Addresses of a host name (A and AAAA). Throws when the lookup fails. */
export type Resolver = (host: string) => Promise<string[]>;

const systemResolver: Resolver = async (host) => {
  const r = await Bun.dns.lookup(host, {});
  return r.map((x) => x.address);
};

export class UpstreamGroup {
  servers: UpstreamServer[] = [];
  private retired = false;
  /** Last good addresses per host name; a name absent here is connected to by name. */
  private readonly resolved = new Map<string, string[]>();
  private resolveTimer: ReturnType<typeof setInterval> | null = null;
  private resolving = false;

  constructor(
    public cfg: UpstreamGroupConfig,
    readonly name: string,
    private readonly o: PoolOptions,
    private readonly resolver: Resolver = systemResolver,
    /** Names of this group's drained servers (shared by every group object of this name, kept by the registry). */
    readonly drainedNames: ReadonlySet<string> = new Set(),
  ) {
    this.configure(cfg);
  }

  /** (Re)apply a config: servers still listed keep their state and pool; removed ones drain. */
  configure(cfg: UpstreamGroupConfig): void {
    this.cfg = cfg;
    this.rebuild();
    if (this.retired) return;
    // Every server (kept or new) runs the checks of the new config.
    for (const s of this.servers) s.startChecks(cfg);
    if (this.resolveTimer !== null) clearInterval(this.resolveTimer);
    this.resolveTimer = null;
    if (cfg.servers.some((s) => isHostName(s.url))) {
      this.resolveTimer = setInterval(() => void this.resolveNow(), cfg.resolveIntervalMs);
      this.resolveTimer.unref();
      void this.resolveNow();
    }
  }

  /**
   * Look up every host name of `to` once; a changed set of addresses rebuilds the servers
   * (unchanged ones keep their state). A failed or empty lookup keeps the last good set.
   */
  async resolveNow(): Promise<void> {
    if (this.resolving || this.retired) return;
    this.resolving = true;
    try {
      const hosts = [...new Set(this.cfg.servers.filter((s) => isHostName(s.url)).map((s) => s.url.hostname))];
      let changed = false;
      for (const h of hosts) {
        let ips: string[];
        try {
          ips = [...new Set(await this.resolver(h))].sort();
        } catch {
          continue; // keep the last good set (or the name itself)
        }
        if (ips.length === 0) continue;
        const prev = this.resolved.get(h);
        if (!prev || prev.join() !== ips.join()) {
          this.resolved.set(h, ips);
          changed = true;
        }
      }
      if (changed && !this.retired) for (const s of this.rebuild()) s.startChecks(this.cfg);
    } finally {
      this.resolving = false;
    }
  }

  /** The server list from the config and the resolved addresses, reusing servers by key. */
  private rebuild(): UpstreamServer[] {
    const cfg = this.cfg;
    const created: UpstreamServer[] = [];
    const old = new Map(this.servers.map((s) => [s.key, s]));
    const next: UpstreamServer[] = [];
    for (const sc of cfg.servers) {
      const ips = isHostName(sc.url) ? (this.resolved.get(sc.url.hostname) ?? [null]) : [null];
      for (const ip of ips) {
        let s = old.get(serverKey(sc.url, ip));
        if (s) {
          old.delete(s.key);
          s.cfg = sc;
          s.weight = sc.weight;
          s.backup = sc.backup;
          s.maxConns = sc.maxConns;
        } else {
          s = new UpstreamServer(sc, cfg, this.o, ip, this.name);
          created.push(s);
        }
        s.drained = this.drainedNames.has(s.name);
        next.push(s);
      }
    }
    for (const s of old.values()) s.retire();
    // One server: passive health off, like nginx (there is nothing to fail over to, and marking
    // it down would turn one failed connect into fail_timeout of 503s).
    const passive = next.length === 1 ? { ...cfg.passive, maxFails: 0 } : cfg.passive;
    for (const s of next) {
      s.current = 0;
      s.passive.cfg = passive;
    }
    this.servers = next;
    return created;
  }

  /**
   * The server for the next attempt of a request, or null when none is eligible. `exclude`:
   * servers this request already tried. `key`: the hash key (ip_hash, hash; cookie fallback).
   * `cookie`: the value of the group's cookie (policy = "cookie").
   */
  pick(key: string, exclude: readonly UpstreamServer[] | null, cookie: string | null, now = performance.now()): UpstreamServer | null {
    const s = this.servers;
    if (cookie !== null) {
      for (const x of s) if (x.cookieValue === cookie && x.eligibleAt(now) && !exclude?.includes(x)) return x;
    }
    this.pickNow = now;
    this.pickExclude = exclude;
    const i = selectServer(this.cfg.policy, s, this.eligible, key);
    this.pickExclude = null;
    return i < 0 ? null : s[i]!;
  }

  /**
   * The eligibility test of pick(): one function per group, reading the pick's time and
   * exclusions from these fields, instead of a closure per proxied request.
   */
  private pickNow = 0;
  private pickExclude: readonly UpstreamServer[] | null = null;
  private readonly eligible = (i: number): boolean => {
    const x = this.servers[i]!;
    return x.eligibleAt(this.pickNow) && !(this.pickExclude !== null && this.pickExclude.includes(x));
  };

  /** Seconds until a server may be eligible again (Retry-After of a NO_HEALTHY_UPSTREAM 503), at least 1. */
  retryAfterSeconds(now = performance.now()): number {
    let soonest = Infinity;
    for (const s of this.servers) if (s.activeUp && s.passive.downUntil > now) soonest = Math.min(soonest, s.passive.downUntil - now);
    if (soonest === Infinity) return this.cfg.health ? Math.max(1, Math.ceil(this.cfg.health.intervalMs / 1000)) : 1;
    return Math.max(1, Math.ceil(soonest / 1000));
  }

  states(now = performance.now()): UpstreamServerState[] {
    return this.servers.map((s) => s.state(this.name, now));
  }

  retire(): void {
    if (this.retired) return;
    this.retired = true;
    if (this.resolveTimer !== null) clearInterval(this.resolveTimer);
    this.resolveTimer = null;
    for (const s of this.servers) s.retire();
  }
}

/**
 * Groups by key, kept across reloads (one registry per process; each Runtime syncs it). The key
 * holds the group's name (or the route position of an anonymous group) and the connection
 * settings of the route that uses it, so routes that connect differently never share a pool.
 */
export class UpstreamRegistry {
  private groups = new Map<string, UpstreamGroup>();

  /** `resolver`: how host names in `to` are looked up (tests pass their own). */
  constructor(private readonly resolver?: Resolver) {}
  /**
   * Drained server names by group name. Runtime state of the process, not config: it survives a
   * reload for every server the new config still has (by group and server name) and is forgotten
   * for a server the config drops (re-adding it later brings it back enabled). A restart forgets
   * it (a supervisor hands its set to a worker it restarts).
   */
  private readonly drained = new Map<string, Set<string>>();

  private drainedSet(group: string): Set<string> {
    let d = this.drained.get(group);
    if (d === undefined) {
      d = new Set();
      this.drained.set(group, d);
    }
    return d;
  }

  /** True when a group of this name has a server of this name (what drain/enable may name). */
  has(group: string, server: string): boolean {
    for (const g of this.groups.values()) if (g.name === group && g.servers.some((s) => s.name === server)) return true;
    return false;
  }

  /**
   * Drain (true) or enable (false) a server of a group, in every group object of that name.
   * False when no such group or server is configured.
   */
  setDrained(group: string, server: string, drained: boolean): boolean {
    if (!this.has(group, server)) return false;
    const d = this.drainedSet(group);
    if (drained) d.add(server);
    else d.delete(server);
    for (const g of this.groups.values()) if (g.name === group) for (const s of g.servers) if (s.name === server) s.drained = drained;
    return true;
  }

  /** Make exactly these [group, server] pairs drained (a supervisor's whole set); unknown ones are skipped. */
  replaceDrained(list: readonly (readonly [string, string])[]): void {
    for (const d of this.drained.values()) d.clear();
    for (const g of this.groups.values()) for (const s of g.servers) s.drained = false;
    for (const [g, s] of list) this.setDrained(g, s, true);
  }

  /** The drained servers as [group, server] pairs (handed to a restarted worker). */
  drainedList(): [string, string][] {
    const out: [string, string][] = [];
    for (const [g, names] of this.drained) for (const n of names) out.push([g, n]);
    return out;
  }

  static keyOf(name: string, o: PoolOptions): string {
    return `${name}|${o.poolSize}|${o.tlsVerify}|${o.tlsCa === null ? "" : hash32(o.tlsCa)}`;
  }

  /**
   * Make the registry hold exactly these groups: existing ones are reconfigured (servers keep
   * their state), new ones created, the rest retired (their servers drain).
   */
  sync(wanted: ReadonlyArray<{ readonly name: string; readonly cfg: UpstreamGroupConfig; readonly pool: PoolOptions }>): Map<string, UpstreamGroup> {
    const next = new Map<string, UpstreamGroup>();
    for (const w of wanted) {
      const key = UpstreamRegistry.keyOf(w.name, w.pool);
      if (next.has(key)) continue;
      const g = this.groups.get(key);
      if (g) {
        if (g.cfg !== w.cfg) g.configure(w.cfg);
        next.set(key, g);
      } else next.set(key, new UpstreamGroup(w.cfg, w.name, w.pool, this.resolver, this.drainedSet(w.name)));
    }
    for (const [k, g] of this.groups) if (next.get(k) !== g) g.retire();
    this.groups = next;
    // Forget drains of servers (and groups) the config no longer has.
    for (const [gname, names] of this.drained) {
      for (const n of names) if (!this.has(gname, n)) names.delete(n);
      if (names.size === 0 && ![...next.values()].some((g) => g.name === gname)) this.drained.delete(gname);
    }
    return next;
  }

  /** Every server of every group (GET /api/upstreams, the upstream health series). */
  states(): UpstreamServerState[] {
    const now = performance.now();
    return [...this.groups.values()].flatMap((g) => g.states(now));
  }

  all(): UpstreamGroup[] {
    return [...this.groups.values()];
  }

  retireAll(): void {
    for (const g of this.groups.values()) g.retire();
    this.groups.clear();
  }
}
