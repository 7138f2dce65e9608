/**
 * src/proxy/select.ts as tables and statistics: the smooth weighted round-robin order (nginx's),
 * distribution per policy within stated tolerances, backups only when no primary is eligible,
 * and consistent hashing (rendezvous) moving at most 1/N + 5% of 10,000 keys when a server is
 * added (and only the removed server's keys when one is removed).
 */
import { describe, expect, test } from "bun:test";
import { hash32, selectServer, type Candidate } from "../../src/proxy/select.ts";
import type { UpstreamPolicy } from "../../src/config/config.ts";

function servers(spec: (number | { w: number; backup?: boolean; inflight?: number; drained?: boolean })[]): Candidate[] {
  return spec.map((x, i) => {
    const o = typeof x === "number" ? { w: x } : x;
    return { weight: o.w, backup: o.backup ?? false, inflight: o.inflight ?? 0, drained: o.drained ?? false, id: hash32(`http://10.0.0.${i + 1}:80`), current: 0 };
  });
}

/** A seeded PRNG (mulberry32): statistics tests are reproducible. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const all = () => true;
const names = "abcdefgh";

function sequence(policy: UpstreamPolicy, s: Candidate[], n: number, ok: (i: number) => boolean = all): string {
  let out = "";
  for (let i = 0; i < n; i++) out += names[selectServer(policy, s, ok, "", rng(i))] ?? "-";
  return out;
}

describe("round_robin: smooth weighted round robin (nginx's order)", () => {
  test.each([
    // nginx's documented example: weights 5, 1, 1 → a a b a c a a (interleaved, not aaaaabc).
    [[5, 1, 1], "aabacaa"],
    [[1, 1, 1], "abc"],
    [[2, 1], "aba"],
    [[3, 2], "abab" + "a"],
    [[4, 2, 1], "abacaba"],
  ])("weights %j → %s", (w, expected) => {
    const s = servers(w);
    const n = expected.length;
    // Two full cycles repeat the same order.
    expect(sequence("round_robin", s, n)).toBe(expected);
    expect(sequence("round_robin", s, n)).toBe(expected);
  });
  test("an ineligible server is skipped and the others keep their ratio", () => {
    const s = servers([1, 1, 1]);
    const seq = sequence("round_robin", s, 10, (i) => i !== 1);
    expect(seq).not.toContain("b");
    expect([...seq].filter((c) => c === "a").length).toBe(5);
  });
});

describe("distribution per policy (10,000 picks)", () => {
  const N = 10_000;
  const count = (policy: UpstreamPolicy, s: Candidate[], key: (i: number) => string = () => ""): number[] => {
    const c = new Array(s.length).fill(0);
    const r = rng(42);
    for (let i = 0; i < N; i++) c[selectServer(policy, s, all, key(i), r)]++;
    return c;
  };
  test("round_robin with weights 3:1:1 is exact", () => {
    expect(count("round_robin", servers([3, 1, 1]))).toEqual([6000, 2000, 2000]);
  });
  test("least_conn: equal load and weights → ties spread at random (each within ±5% of a third)", () => {
    const c = count("least_conn", servers([1, 1, 1]));
    for (const x of c) expect(Math.abs(x - N / 3)).toBeLessThan(N * 0.05);
  });
  test("least_conn picks the fewest in flight per weight", () => {
    const s = servers([{ w: 1, inflight: 3 }, { w: 1, inflight: 1 }, { w: 4, inflight: 3 }]);
    // loads 3, 1, 0.75 → c
    expect(sequence("least_conn", s, 5)).toBe("ccccc");
  });
  test("random_two: never the most loaded of three when the others are less loaded; spread otherwise", () => {
    const s = servers([{ w: 1, inflight: 10 }, { w: 1, inflight: 0 }, { w: 1, inflight: 0 }]);
    const c = count("random_two", s);
    // a only wins a pair if both random picks… can't: the pair is distinct, so a always loses.
    expect(c[0]).toBe(0);
    expect(Math.abs(c[1] - N / 2)).toBeLessThan(N * 0.05);
    const even = count("random_two", servers([1, 1, 1]));
    for (const x of even) expect(Math.abs(x - N / 3)).toBeLessThan(N * 0.05);
  });
  test("hash / ip_hash spread distinct keys evenly (each within ±5% of a third) and by weight", () => {
    const c = count("hash", servers([1, 1, 1]), (i) => `user-${i}`);
    for (const x of c) expect(Math.abs(x - N / 3)).toBeLessThan(N * 0.05);
    const w = count("ip_hash", servers([2, 1, 1]), (i) => `10.1.${i >> 8}.${i & 255}`);
    expect(Math.abs(w[0] - N / 2)).toBeLessThan(N * 0.05);
  });
  test("hash: one key always gets the same server", () => {
    const s = servers([1, 1, 1, 1]);
    const first = selectServer("hash", s, all, "alice");
    for (let i = 0; i < 100; i++) expect(selectServer("hash", s, all, "alice")).toBe(first);
  });
  test("first: the first eligible in listed order (failover)", () => {
    const s = servers([1, 1, 1]);
    expect(sequence("first", s, 3)).toBe("aaa");
    expect(sequence("first", s, 3, (i) => i !== 0)).toBe("bbb");
  });
});

describe("consistent hashing (weighted rendezvous)", () => {
  const KEYS = Array.from({ length: 10_000 }, (_, i) => `key-${i}`);
  const assign = (s: Candidate[], ok: (i: number) => boolean = all) => KEYS.map((k) => selectServer("hash", s, ok, k));
  test.each([2, 3, 4, 5, 8])("adding a server to %d moves at most 1/N + 5%% of 10,000 keys, all of them to the new server", (n) => {
    const before = servers(Array(n).fill(1));
    const after = servers(Array(n + 1).fill(1));
    const a = assign(before);
    const b = assign(after);
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (a[i] !== b[i]) {
        moved++;
        expect(b[i]).toBe(n); // only to the new server
      }
    }
    expect(moved / KEYS.length).toBeLessThanOrEqual(1 / n + 0.05);
    // …and about 1/(N+1) of them.
    expect(Math.abs(moved / KEYS.length - 1 / (n + 1))).toBeLessThan(0.03);
  });
  test("a server going down moves only its own keys", () => {
    const s = servers([1, 1, 1, 1]);
    const a = assign(s);
    const b = assign(s, (i) => i !== 2);
    for (let i = 0; i < KEYS.length; i++) if (a[i] !== 2) expect(b[i]).toBe(a[i]);
  });
});

describe("backup servers", () => {
  test.each(["round_robin", "least_conn", "random_two", "hash", "first"] as UpstreamPolicy[])("%s: backups get nothing while a primary is eligible, everything when none is", (policy) => {
    const s = servers([{ w: 1 }, { w: 1 }, { w: 5, backup: true }]);
    const r = rng(7);
    for (let i = 0; i < 200; i++) expect(selectServer(policy, s, all, `k${i}`, r)).not.toBe(2);
    for (let i = 0; i < 50; i++) expect(selectServer(policy, s, (j) => j === 2, `k${i}`, r)).toBe(2);
    expect(selectServer(policy, s, () => false, "k", r)).toBe(-1);
  });
});

describe("drained servers (admin API) are never picked", () => {
  const POLICIES: UpstreamPolicy[] = ["round_robin", "least_conn", "random_two", "ip_hash", "hash", "cookie", "first"];
  test.each(POLICIES)("%s: a drained primary gets nothing; the others share its traffic", (policy) => {
    const s = servers([1, { w: 1, drained: true }, 1]);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) seen.add(selectServer(policy, s, all, `key-${i}`, rng(i)));
    expect(seen.has(1)).toBe(false);
    expect(seen.has(-1)).toBe(false);
    expect(seen.has(0)).toBe(true);
    if (policy !== "first") expect(seen.has(2)).toBe(true);
  });
  test.each(POLICIES)("%s: every primary drained → the backup; everything drained → none (-1)", (policy) => {
    const s = servers([{ w: 1, drained: true }, { w: 1, drained: true }, { w: 1, backup: true }]);
    expect(selectServer(policy, s, all, "k", rng(1))).toBe(2);
    const none = servers([{ w: 1, drained: true }, { w: 1, backup: true, drained: true }]);
    expect(selectServer(policy, none, all, "k", rng(1))).toBe(-1);
  });
  test("hash: draining a server moves only its own keys; enabling it brings them back", () => {
    const s = servers([1, 1, 1, 1]);
    const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`);
    const before = keys.map((k) => selectServer("hash", s, all, k));
    (s[2] as { drained: boolean }).drained = true;
    const during = keys.map((k) => selectServer("hash", s, all, k));
    for (let i = 0; i < keys.length; i++) {
      if (before[i] !== 2) expect(during[i]).toBe(before[i]!);
      else expect(during[i]).not.toBe(2);
    }
    (s[2] as { drained: boolean }).drained = false;
    expect(keys.map((k) => selectServer("hash", s, all, k))).toEqual(before);
  });
});
