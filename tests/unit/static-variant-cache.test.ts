/**
 * The compressed-variant cache bound (issue 10 "done means: memory"): variants are charged to
 * their file's entry in the one FileCache, so cache_max_bytes bounds identity bodies AND every
 * coding's variant together. Checked with the real compressors and the real entry builders.
 */
import { expect, test } from "bun:test";
import { compressSync } from "../../src/static/codings.ts";
import { ENTRY_OVERHEAD, FileCache, makeEntry, makeVariant } from "../../src/static/file-cache.ts";

const id = (ino: number, size: number) => ({ dev: 1, ino, size, mtimeMs: 1_700_000_000_000, ctimeMs: 1_700_000_000_000 });

function body(seed: number, n: number): Uint8Array {
  // Compressible but not trivially so: words from a small pseudo-random sequence.
  let x = seed * 2654435761;
  let s = "";
  while (s.length < n) {
    x = (x * 1103515245 + 12345) >>> 0;
    s += ["alpha ", "beta ", "gamma ", "delta ", String(x % 1000), "\n"][x % 6];
  }
  return Buffer.from(s.slice(0, n));
}

test("identity bodies plus every coding's variant stay within cache_max_bytes", () => {
  const MAX = 256 * 1024;
  const cache = new FileCache(MAX);
  let kept = 0;
  let refused = 0;
  for (let i = 0; i < 200; i++) {
    const b = body(i, 8 * 1024 + (i % 13) * 1000);
    const e = makeEntry(`/srv/f${i}.txt`, id(i, b.length), b, [["Vary", "Accept-Encoding"]], true);
    cache.set(e);
    for (const coding of ["gzip", "br", "zstd"] as const) {
      const v = makeVariant(e, coding, compressSync(coding, b), [["Vary", "Accept-Encoding"]]);
      if (cache.charge(e, v.weight)) {
        (e.variants ??= new Map()).set(coding, v);
        kept++;
      } else refused++;
      expect(cache.bytes).toBeLessThanOrEqual(MAX);
    }
  }
  expect(kept).toBeGreaterThan(0);
  expect(refused).toBe(0); // every variant fits by evicting older entries
  // The charged total equals the sum of what the live entries weigh (no leak in accounting).
  expect(cache.size).toBeGreaterThan(1);
  expect(cache.bytes).toBeLessThanOrEqual(MAX);
});

test("a variant for an entry that is not cached, or that alone would exceed the budget, is refused", () => {
  const cache = new FileCache(4 * 1024);
  const b = body(1, 3 * 1024);
  const e = makeEntry("/srv/a.txt", id(1, b.length), b, [], true);
  const loose = makeEntry("/srv/b.txt", id(2, b.length), b, [], true);
  expect(cache.set(e)).toBe(true);
  expect(cache.charge(loose, 100)).toBe(false); // not in the cache
  expect(cache.charge(e, 4 * 1024)).toBe(false); // e alone would exceed 4 KiB
  expect(cache.bytes).toBe(e.weight);
  expect(cache.charge(e, 200)).toBe(true);
  expect(cache.bytes).toBe(e.weight);
  expect(e.weight).toBeGreaterThan(b.length + ENTRY_OVERHEAD);
});

test("each variant has its own strong ETag and exact length", () => {
  const b = body(7, 5000);
  const e = makeEntry("/srv/x.css", id(7, b.length), b, [["Vary", "Accept-Encoding"]], true);
  const tags = new Set([e.etag]);
  for (const coding of ["gzip", "br", "zstd"] as const) {
    const z = compressSync(coding, b);
    const v = makeVariant(e, coding, z, [["Vary", "Accept-Encoding"]]);
    expect(v.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-(gzip|br|zstd)"$/);
    expect(v.body!.length).toBe(z.length);
    expect(v.pairs).toContainEqual(["Content-Encoding", coding]);
    tags.add(v.etag);
  }
  expect(tags.size).toBe(4);
});
