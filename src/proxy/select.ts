/**
 * Server selection for an upstream group: PURE (no Bun, no clock, no sockets). The caller
 * (upstreams.ts) says which servers are eligible right now (healthy, under max_conns, not yet
 * tried by this request); this file only decides among them.
 *
 * Drained servers (taken out through the admin API) are never picked, whatever `eligible` says:
 * not by round robin, not by a hash key or a sticky cookie whose server they are (those keys move
 * to their next-highest server, as when a server is down).
 *
 * Tiers: primaries first; the backups are considered only when no primary is eligible.
 *
 * Policies:
 * - round_robin: nginx's smooth weighted round robin (ngx_http_upstream_get_peer): every pick
 *   adds each candidate's weight to its `current`, takes the largest, and subtracts the total
 *   from the winner. Weights 5,1,1 give a a b a c a a, interleaved rather than a burst of five.
 * - least_conn: fewest in-flight requests per unit of weight; ties broken at random.
 * - random_two: two distinct random candidates, the one with fewer in flight (power of two
 *   choices: near-least-loaded without a global scan or herding on one "least" server).
 * - ip_hash / hash / cookie-without-a-valid-cookie: weighted rendezvous hashing (HRW): each
 *   server scores hash(key, server) and the highest eligible score wins. Adding one server to N
 *   moves exactly the keys that the new server now wins, which is 1/(N+1) of them in
 *   expectation (≤ 1/N), and a removed or down server only moves its own keys: to each key's
 *   next-highest server. No ring, no virtual nodes: O(N) per pick, which is nothing for groups
 *   of a few dozen servers.
 * - first: the first eligible server in listed order (failover).
 */
import type { UpstreamPolicy } from "../config/config.ts";

/** What selection needs to know about one server. */
export interface Candidate {
  readonly weight: number;
  readonly backup: boolean;
  /** In-flight requests now. */
  readonly inflight: number;
  /** A stable id (hash of the server's address), for hashing. */
  readonly id: number;
  /** Taken out for maintenance: never picked. */
  readonly drained: boolean;
  /** Smooth weighted round robin state, owned by selection. */
  current: number;
}

/** Random numbers in [0, 1): injected so tests are deterministic. */
export type Rng = () => number;

/**
 * Pick one of `servers` for which `eligible(i)` holds, or -1 when none is. `key` is the hash key
 * for ip_hash / hash / cookie (cookie: used when the request has no valid cookie).
 */
export function selectServer(policy: UpstreamPolicy, servers: readonly Candidate[], eligible: (i: number) => boolean, key: string, rng: Rng = Math.random): number {
  const primary = pickInTier(policy, servers, eligible, false, key, rng);
  if (primary >= 0) return primary;
  return pickInTier(policy, servers, eligible, true, key, rng);
}

/**
 * Server i can be picked in the tier of `backup`: the tier is a parameter rather than a predicate
 * composed around `eligible`, so a pick allocates no closures (it runs per proxied request).
 */
function ok(s: readonly Candidate[], i: number, backup: boolean, eligible: (i: number) => boolean): boolean {
  const c = s[i]!;
  return c.backup === backup && !c.drained && eligible(i);
}

function pickInTier(policy: UpstreamPolicy, s: readonly Candidate[], eligible: (i: number) => boolean, backup: boolean, key: string, rng: Rng): number {
  switch (policy) {
    case "round_robin":
    case "cookie": // a request without a (valid) cookie is spread like round robin
      return smoothWeighted(s, eligible, backup);
    case "least_conn":
      return leastConn(s, eligible, backup, rng);
    case "random_two":
      return randomTwo(s, eligible, backup, rng);
    case "ip_hash":
    case "hash":
      return rendezvous(s, eligible, backup, key);
    case "first":
      for (let i = 0; i < s.length; i++) if (ok(s, i, backup, eligible)) return i;
      return -1;
  }
}

/** nginx's smooth weighted round robin over the eligible servers of one tier. */
function smoothWeighted(s: readonly Candidate[], eligible: (i: number) => boolean, backup: boolean): number {
  let best = -1;
  let total = 0;
  for (let i = 0; i < s.length; i++) {
    if (!ok(s, i, backup, eligible)) continue;
    const c = s[i]!;
    c.current += c.weight;
    total += c.weight;
    if (best < 0 || c.current > s[best]!.current) best = i;
  }
  if (best >= 0) s[best]!.current -= total;
  return best;
}

function leastConn(s: readonly Candidate[], eligible: (i: number) => boolean, backup: boolean, rng: Rng): number {
  let best = -1;
  let bestLoad = Infinity;
  let ties = 0;
  for (let i = 0; i < s.length; i++) {
    if (!ok(s, i, backup, eligible)) continue;
    const load = s[i]!.inflight / s[i]!.weight;
    if (load < bestLoad) {
      bestLoad = load;
      best = i;
      ties = 1;
    } else if (load === bestLoad) {
      // Reservoir sampling: each of the k tied servers ends up chosen with probability 1/k.
      ties++;
      if (rng() * ties < 1) best = i;
    }
  }
  return best;
}

function randomTwo(s: readonly Candidate[], eligible: (i: number) => boolean, backup: boolean, rng: Rng): number {
  const idx: number[] = [];
  for (let i = 0; i < s.length; i++) if (ok(s, i, backup, eligible)) idx.push(i);
  if (idx.length === 0) return -1;
  if (idx.length === 1) return idx[0]!;
  const a = Math.floor(rng() * idx.length);
  let b = Math.floor(rng() * (idx.length - 1));
  if (b >= a) b++;
  const x = idx[a]!;
  const y = idx[b]!;
  return s[y]!.inflight / s[y]!.weight < s[x]!.inflight / s[x]!.weight ? y : x;
}

/** Weighted rendezvous hashing: the eligible server of the tier with the highest -weight / ln(u(key, server)). */
function rendezvous(s: readonly Candidate[], eligible: (i: number) => boolean, backup: boolean, key: string): number {
  const kh = hash32(key);
  let best = -1;
  let bestScore = -Infinity;
  for (let i = 0; i < s.length; i++) {
    if (!ok(s, i, backup, eligible)) continue;
    const h = mix32(kh ^ Math.imul(s[i]!.id, 0x9e3779b1));
    const u = (h + 0.5) / 4294967296; // (0, 1)
    const score = -s[i]!.weight / Math.log(u);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

/** FNV-1a over UTF-16 code units, then a final avalanche (FNV alone mixes low bits poorly). */
export function hash32(str: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** MurmurHash3's fmix32: every input bit affects every output bit. Unsigned result. */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
