/**
 * WriteQueue: partial writes are kept in order, the high-water mark is reported, corked writes
 * leave as one socket write, and a writer told "full" is always told when to resume.
 *
 * The fake socket takes a scripted number of bytes per call (0, 1, N, everything, or -1 for a
 * closed socket) and copies what it took at the moment of the call, so a queue that re-sends,
 * skips or later overwrites bytes (the shared arena is reused) shows up as a byte mismatch:
 * every test compares the exact stream that reached the "kernel" with everything written.
 * Every path that can see a partial write is covered: write(), flush(), uncork() with the shared
 * arena, with the chunk list (no arena free, or bytes already queued), joined (≤ 64 KiB) and
 * unjoined (> 64 KiB) batches, an arena spill (> 256 KiB while corked), and writeLatin1().
 */
import { afterEach, describe, expect, test } from "bun:test";
import { type RawWritable, WriteQueue } from "../../src/net/write-queue.ts";

const ARENA_SIZE = 256 * 1024;
const JOIN_MAX = 64 * 1024;

type Take = number | "all";

/**
 * A socket whose every write() takes script[i] bytes (clamped to what was offered), then `rest`
 * once the script is used up. Everything taken is copied, in order, into `taken`.
 */
class ScriptedSocket implements RawWritable {
  /** Bytes offered and taken per call, in order. */
  calls: { offered: number; took: number }[] = [];
  private parts: Buffer[] = [];
  constructor(
    public script: Take[] = [],
    public rest: Take = "all",
  ) {}
  write(data: Uint8Array, byteOffset = 0, byteLength = data.byteLength - byteOffset): number {
    const b = data.subarray(byteOffset, byteOffset + byteLength);
    const step = this.script.length ? this.script.shift()! : this.rest;
    if (step === -1) {
      this.calls.push({ offered: b.byteLength, took: -1 });
      return -1;
    }
    const n = step === "all" ? b.byteLength : Math.min(step, b.byteLength);
    this.calls.push({ offered: b.byteLength, took: n });
    // Copy now: the queue may reuse the memory (the shared arena) right after we return.
    this.parts.push(Buffer.from(b.subarray(0, n)));
    return n;
  }
  /** Everything the socket took, in order. */
  get taken(): Buffer {
    return Buffer.concat(this.parts);
  }
  get takenBytes(): number {
    return this.parts.reduce((a, p) => a + p.length, 0);
  }
}

/** Deterministic pseudo-random bytes (mulberry32), distinct per call so loss/duplication/reorder shows. */
let seedCounter = 1;
function rand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function bytes(n: number): Buffer {
  const r = rand(seedCounter++ * 7919);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}
/** A latin1 string (every char < 256) of length n. */
function latin1(n: number): string {
  const r = rand(seedCounter++ * 104729);
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(((r() * 224) | 0) + 32);
  return s;
}

/** A queue plus everything written to it, to compare with what the socket took. */
function harness(sock: ScriptedSocket, highWater = 1 << 30) {
  const q = new WriteQueue(sock, highWater);
  const written: Buffer[] = [];
  let drained = 0;
  const drainedAtPending: number[] = [];
  q.onDrained = () => {
    drained++;
    drainedAtPending.push(q.pending);
  };
  return {
    q,
    sock,
    write(b: Buffer): boolean {
      written.push(b);
      return q.write(b);
    },
    /** b copied into scratch, written with writeTransient(), then the scratch is overwritten. */
    writeTransient(b: Buffer, scratch: Buffer): boolean {
      written.push(b);
      b.copy(scratch);
      // Both forms: a view of exactly the bytes, and the whole scratch with a length.
      const ok = b.length % 2 === 0 ? q.writeTransient(scratch, b.length) : q.writeTransient(scratch.subarray(0, b.length));
      scratch.fill(0xee);
      return ok;
    },
    writeLatin1(s: string): boolean {
      written.push(Buffer.from(s, "latin1"));
      return q.writeLatin1(s);
    },
    get expected(): Buffer {
      return Buffer.concat(written);
    },
    get drained() {
      return drained;
    },
    drainedAtPending,
    /** The socket took exactly everything written, in order, and nothing is left queued. */
    expectAllDelivered(): void {
      expect(q.pending).toBe(0);
      const got = sock.taken;
      const want = Buffer.concat(written);
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
    },
    /** What the socket took so far is a prefix of what was written and pending covers the rest. */
    expectPrefix(): void {
      const got = sock.taken;
      const want = Buffer.concat(written);
      expect(got.equals(want.subarray(0, got.length))).toBe(true);
      expect(got.length + q.pending).toBe(want.length);
    },
  };
}

/** Queues that hold the two shared arenas (corked), released after each test. */
let arenaHolders: WriteQueue[] = [];
function occupyArenas(): void {
  for (let i = 0; i < 2; i++) {
    const q = new WriteQueue(new ScriptedSocket(), 1 << 30);
    q.cork();
    arenaHolders.push(q);
  }
}
afterEach(() => {
  for (const q of arenaHolders) q.uncork();
  arenaHolders = [];
});

const microtask = () => new Promise<void>((r) => queueMicrotask(r));

describe("WriteQueue basics", () => {
  test("partial writes are queued in order and flushed on drain", () => {
    const h = harness(new ScriptedSocket([3], 0), 100);
    expect(h.write(bytes(5))).toBe(true);
    expect(h.write(bytes(4))).toBe(true);
    expect(h.q.pending).toBe(6);
    h.expectPrefix();
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
    expect(h.drained).toBe(1);
  });

  test("write() returns false at the high-water mark", () => {
    const h = harness(new ScriptedSocket([], 0), 10);
    expect(h.write(bytes(6))).toBe(true);
    expect(h.write(bytes(6))).toBe(false);
    expect(h.q.overHighWater).toBe(true);
  });

  test("corked writes leave as a single socket write", () => {
    const h = harness(new ScriptedSocket());
    h.q.cork();
    h.writeLatin1("HTTP/1.1 200 OK\r\n\r\n");
    h.write(bytes(100));
    h.writeLatin1("more");
    expect(h.sock.calls.length).toBe(0);
    h.q.uncork();
    expect(h.sock.calls).toEqual([{ offered: 19 + 100 + 4, took: 19 + 100 + 4 }]);
    h.expectAllDelivered();
  });

  test("a writer told 'full' while corked is resumed even when the kernel takes everything at uncork", async () => {
    // Regression: the proxy paused its upstream on write() === false inside a cork; the arena
    // then went out whole, no drain event ever came, and large proxied bodies stalled forever.
    const h = harness(new ScriptedSocket(), 1000);
    h.q.cork();
    expect(h.write(bytes(800))).toBe(true);
    expect(h.write(bytes(800))).toBe(false);
    h.q.uncork();
    expect(h.q.pending).toBe(0);
    expect(h.drained).toBe(0); // not re-entrantly inside uncork()
    await microtask();
    expect(h.drained).toBe(1);
    h.expectAllDelivered();
  });

  test("a writer told 'full' is resumed when the queue empties", () => {
    const h = harness(new ScriptedSocket([], 0), 10);
    expect(h.write(bytes(20))).toBe(false);
    h.sock.rest = "all";
    h.q.flush();
    expect(h.drained).toBe(1);
    h.expectAllDelivered();
  });

  test("a closed socket (-1) stops the queue", () => {
    const q = new WriteQueue({ write: () => -1 }, 10);
    expect(q.write(bytes(3))).toBe(false);
    expect(q.closed).toBe(true);
  });
});

describe("write(): partial writes", () => {
  for (const took of [0, 1, 7]) {
    test(`the socket takes ${took} of 10 bytes: the rest is queued, later writes queue behind it`, () => {
      const h = harness(new ScriptedSocket([took], 0));
      h.write(bytes(10));
      expect(h.q.pending).toBe(10 - took);
      h.write(bytes(5)); // must not go to the socket ahead of the queued tail
      expect(h.sock.calls.length).toBe(1);
      h.expectPrefix();
      h.sock.rest = "all";
      h.q.flush();
      h.expectAllDelivered();
    });
  }

  test("one byte per call, many writes and drains: every byte once, in order", () => {
    const h = harness(new ScriptedSocket([], 1));
    for (let i = 0; i < 20; i++) {
      h.write(bytes(1 + (i % 4)));
      h.q.flush();
      h.expectPrefix();
    }
    let guard = 0;
    while (h.q.pending > 0 && guard++ < 1000) h.q.flush();
    h.expectAllDelivered();
  });

  test("after -1 nothing more is sent and nothing is reported drained", () => {
    const h = harness(new ScriptedSocket([4, -1], "all"));
    h.write(bytes(10));
    h.q.flush(); // -1
    expect(h.q.closed).toBe(true);
    expect(h.write(bytes(3))).toBe(false);
    h.q.flush();
    expect(h.sock.takenBytes).toBe(4);
    expect(h.drained).toBe(0);
  });
});

describe("flush(): partial writes", () => {
  test("a chunk taken in several pieces (0, 1, N) across drains: no byte re-sent, none lost", () => {
    const h = harness(new ScriptedSocket([0], 0));
    h.write(bytes(100));
    h.write(bytes(50));
    h.write(bytes(25));
    for (const step of [0, 1, 30, 0, 68, 1, 60, 14]) {
      h.sock.script = [step];
      h.sock.rest = 0;
      h.q.flush();
      h.expectPrefix();
      expect(h.drained).toBe(0);
    }
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
    expect(h.drained).toBe(1);
  });

  test("a partial write that ends exactly on a chunk boundary", () => {
    const h = harness(new ScriptedSocket([0], 0));
    h.write(bytes(10));
    h.write(bytes(10));
    h.sock.script = [10, 0];
    h.q.flush();
    expect(h.q.pending).toBe(10);
    h.expectPrefix();
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
  });

  test("onDrained fires once per emptying of a non-empty queue, synchronously, with nothing pending", () => {
    const h = harness(new ScriptedSocket([2], 0));
    h.write(bytes(5));
    h.q.flush(); // socket takes 0: still pending
    expect(h.drained).toBe(0);
    h.sock.rest = "all";
    h.q.flush();
    expect(h.drained).toBe(1);
    expect(h.drainedAtPending).toEqual([0]);
    h.q.flush(); // nothing queued: no second call
    expect(h.drained).toBe(1);
    h.write(bytes(5)); // written straight through: nothing was ever queued
    h.q.flush();
    expect(h.drained).toBe(1);
    h.expectAllDelivered();
  });

  test("flush() while corked sends nothing", () => {
    const h = harness(new ScriptedSocket([0], "all"));
    h.write(bytes(10)); // queued
    h.q.cork();
    h.write(bytes(10));
    h.q.flush();
    expect(h.sock.takenBytes).toBe(0);
    h.q.uncork();
    h.expectAllDelivered();
    expect(h.drained).toBe(1);
  });
});

describe("uncork() with the shared arena", () => {
  for (const took of [0, 1, 50]) {
    test(`the socket takes ${took} bytes of the batch: the rest is kept (copied out of the arena) and sent on drain`, () => {
      const h = harness(new ScriptedSocket([took], 0));
      h.q.cork();
      h.writeLatin1(latin1(40));
      h.write(bytes(100));
      h.writeLatin1(latin1(3));
      h.q.uncork();
      expect(h.sock.calls[0]).toEqual({ offered: 143, took });
      expect(h.q.pending).toBe(143 - took);
      h.expectPrefix();
      // Another queue corks and overwrites the arena: the queued tail must be our own copy.
      const other = harness(new ScriptedSocket());
      other.q.cork();
      other.write(Buffer.alloc(ARENA_SIZE - 10, 0xee));
      other.q.uncork();
      other.expectAllDelivered();
      h.sock.rest = "all";
      h.q.flush();
      h.expectAllDelivered();
      expect(h.drained).toBe(1);
    });
  }

  test("a partial uncork, then drains of 1 byte, then more corked batches behind it", () => {
    const h = harness(new ScriptedSocket([10], 1));
    h.q.cork();
    h.write(bytes(30));
    h.q.uncork();
    h.q.flush();
    h.q.flush();
    h.expectPrefix();
    // Bytes are still queued: this cork must not bypass them (no arena, or arena behind the queue).
    h.q.cork();
    h.writeLatin1(latin1(20));
    h.write(bytes(20));
    h.q.uncork();
    h.expectPrefix();
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
  });

  test("nested corks: only the outermost uncork writes", () => {
    const h = harness(new ScriptedSocket());
    h.q.cork();
    h.write(bytes(10));
    h.q.cork();
    h.write(bytes(10));
    h.q.uncork();
    expect(h.sock.calls.length).toBe(0);
    h.q.uncork();
    expect(h.sock.calls.length).toBe(1);
    h.expectAllDelivered();
  });

  test("an empty cork writes nothing and reports nothing", async () => {
    const h = harness(new ScriptedSocket());
    h.q.cork();
    h.q.uncork();
    await microtask();
    expect(h.sock.calls.length).toBe(0);
    expect(h.drained).toBe(0);
  });

  test("onDrained after uncork: not when the kernel took everything and no one was told 'full'", async () => {
    const h = harness(new ScriptedSocket(), 1000);
    h.q.cork();
    h.write(bytes(100));
    h.q.uncork();
    await microtask();
    expect(h.drained).toBe(0);
    h.expectAllDelivered();
  });

  test("onDrained after a partial uncork: once, when the drain empties the queue", async () => {
    const h = harness(new ScriptedSocket([5], 0), 1000);
    h.q.cork();
    h.write(bytes(100));
    h.q.uncork();
    await microtask();
    expect(h.drained).toBe(0);
    h.sock.rest = "all";
    h.q.flush();
    expect(h.drained).toBe(1);
    await microtask();
    expect(h.drained).toBe(1);
    h.expectAllDelivered();
  });

  test("-1 at uncork closes the queue; nothing more goes out", async () => {
    const h = harness(new ScriptedSocket([-1], "all"));
    h.q.cork();
    h.write(bytes(10));
    h.q.uncork();
    expect(h.q.closed).toBe(true);
    expect(h.write(bytes(3))).toBe(false);
    h.q.flush();
    await microtask();
    expect(h.sock.takenBytes).toBe(0);
    expect(h.drained).toBe(0);
  });

  test("over 256 KiB while corked (the arena spills to the chunk list): order kept across the spill", () => {
    const h = harness(new ScriptedSocket([1000, 0, 1, 70_000], 0));
    h.q.cork();
    h.writeLatin1(latin1(100));
    h.write(bytes(ARENA_SIZE - 200));
    h.write(bytes(500)); // does not fit: spill
    h.writeLatin1(latin1(300)); // after the spill: chunk list
    h.write(bytes(10));
    h.q.uncork();
    h.expectPrefix();
    for (let i = 0; i < 3; i++) {
      h.q.flush();
      h.expectPrefix();
    }
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
    expect(h.drained).toBe(1);
  });

  test("writeLatin1 that does not fit in the arena falls back to write() in order", () => {
    const h = harness(new ScriptedSocket([3], "all"));
    h.q.cork();
    h.write(bytes(ARENA_SIZE - 5));
    h.writeLatin1(latin1(20)); // over the arena's end
    h.writeLatin1(latin1(7));
    h.q.uncork();
    expect(h.sock.calls[0]).toEqual({ offered: ARENA_SIZE - 5, took: 3 }); // over 64 KiB: not joined
    h.expectPrefix();
    h.q.flush();
    h.expectAllDelivered();
  });
});

describe("uncork() without the arena (chunk list)", () => {
  test("both arenas busy: small batches are joined into one write; partial writes kept", () => {
    occupyArenas();
    const h = harness(new ScriptedSocket([17, 0], 0));
    h.q.cork();
    h.writeLatin1(latin1(30));
    h.write(bytes(200));
    h.writeLatin1(latin1(5));
    h.write(bytes(1000));
    h.q.uncork();
    expect(h.sock.calls[0]).toEqual({ offered: 1235, took: 17 }); // joined
    h.expectPrefix();
    h.sock.script = [1];
    h.q.flush();
    h.expectPrefix();
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
    expect(h.drained).toBe(1);
  });

  test("both arenas busy, batch over 64 KiB: chunks are written one by one (not joined), partial writes kept", () => {
    occupyArenas();
    const sizes = [100, 40_000, 30_000, 5];
    const h = harness(new ScriptedSocket([50, 0], 0));
    h.q.cork();
    for (const n of sizes) h.write(bytes(n));
    h.q.uncork();
    expect(h.sock.calls[0]).toEqual({ offered: 100, took: 50 });
    for (const step of [1, 49, 0, 39_999, 1, 12_345, 17_655, 0]) {
      h.sock.script = [step];
      h.q.flush();
      h.expectPrefix();
    }
    expect(Math.max(...h.sock.calls.map((c) => c.offered))).toBeLessThanOrEqual(40_000);
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
    expect(h.drained).toBe(1);
  });

  test("joined batch exactly at 64 KiB and just over it", () => {
    for (const total of [JOIN_MAX, JOIN_MAX + 1]) {
      occupyArenas();
      const h = harness(new ScriptedSocket([total - 3], 0));
      h.q.cork();
      h.write(bytes(1000));
      h.write(bytes(total - 1000));
      h.q.uncork();
      expect(h.sock.calls[0]!.offered).toBe(total <= JOIN_MAX ? total : 1000);
      h.sock.rest = "all";
      h.q.flush();
      h.expectAllDelivered();
      for (const q of arenaHolders) q.uncork();
      arenaHolders = [];
    }
  });

  test("cork while bytes are still queued: the batch goes behind them, never ahead", () => {
    const h = harness(new ScriptedSocket([4], 0));
    h.write(bytes(20)); // 16 queued
    h.q.cork();
    h.writeLatin1(latin1(10));
    h.write(bytes(10));
    expect(h.sock.calls.length).toBe(1);
    h.sock.script = [2, 3];
    h.q.uncork();
    h.expectPrefix();
    h.sock.script = [1];
    h.q.flush();
    h.expectPrefix();
    h.sock.rest = "all";
    h.q.flush();
    h.expectAllDelivered();
    expect(h.drained).toBe(1);
  });

  test("a writer told 'full' during a chunk-list cork is resumed once the queue empties", () => {
    occupyArenas();
    const h = harness(new ScriptedSocket([10], 0), 100);
    h.q.cork();
    expect(h.write(bytes(60))).toBe(true);
    expect(h.write(bytes(60))).toBe(false);
    h.q.uncork();
    expect(h.drained).toBe(0);
    h.sock.rest = "all";
    h.q.flush();
    expect(h.drained).toBe(1);
    h.expectAllDelivered();
  });
});

describe("randomised: any schedule of partial writes delivers every byte exactly once, in order", () => {
  for (let seed = 1; seed <= 40; seed++) {
    test(`seed ${seed}`, async () => {
      const r = rand(seed);
      const pick = <T>(xs: T[]): T => xs[(r() * xs.length) | 0]!;
      const takes: Take[] = [0, 0, 1, 2, 7, 100, 4096, 70_000, "all", "all"];
      const sock = new ScriptedSocket([], 0);
      sock.write = ((orig) =>
        function (this: ScriptedSocket, b: Uint8Array, byteOffset?: number, byteLength?: number) {
          this.script = [pick(takes)];
          return orig.call(this, b, byteOffset, byteLength);
        })(sock.write);
      const h = harness(sock, pick([64, 4096, 300_000]));
      const others: WriteQueue[] = [];
      if (r() < 0.3) {
        // Sometimes run without a free arena.
        for (let i = 0; i < 2; i++) {
          const o = new WriteQueue(new ScriptedSocket(), 1 << 30);
          o.cork();
          others.push(o);
        }
      }
      let depth = 0;
      let fullSeen = false;
      for (let op = 0; op < 60; op++) {
        const x = r();
        if (x < 0.3) {
          if (!h.write(bytes(pick([0, 1, 5, 300, 5000, 40_000, 100_000])))) fullSeen = true;
        } else if (x < 0.45) {
          if (!h.writeLatin1(latin1(pick([0, 1, 17, 200, 3000])))) fullSeen = true;
        } else if (x < 0.6) {
          h.q.cork();
          depth++;
        } else if (x < 0.75) {
          if (depth > 0) {
            h.q.uncork();
            depth--;
          }
        } else if (x < 0.95) {
          h.q.flush(); // a drain event
        } else {
          await microtask();
        }
        if (depth === 0) h.expectPrefix();
      }
      while (depth-- > 0) h.q.uncork();
      for (const o of others) o.uncork();
      const before = h.drained;
      let guard = 0;
      while (h.q.pending > 0 && guard++ < 10_000) h.q.flush();
      await microtask();
      h.expectAllDelivered();
      // Every "full" answer is followed, once the queue is empty, by at least one onDrained.
      if (fullSeen) expect(h.drained).toBeGreaterThan(0);
      // A flush() that emptied a non-empty queue reported it.
      if (guard > 0) expect(h.drained).toBeGreaterThan(before);
    });
  }
});

/**
 * writeTransient(): the caller overwrites its buffer right after each call (the HPACK encoder's
 * scratch, the DATA frame header scratch). Whatever path the queue takes (straight to the
 * socket, partial, into the arena, behind queued bytes, arena full), the socket must still get
 * the bytes as they were at the call.
 */
describe("writeTransient(): a reused buffer", () => {
  const cases: { name: string; script: Take[]; cork: boolean; busyArenas: boolean; sizes: number[] }[] = [
    { name: "uncorked, kernel takes all", script: [], cork: false, busyArenas: false, sizes: [9, 100, 9] },
    { name: "corked, small and large copies into the arena", script: [], cork: true, busyArenas: false, sizes: [511, 512, 513, 4000, 1] },
    { name: "uncorked, partial then queued behind", script: [3, 0, 0, 0], cork: false, busyArenas: false, sizes: [9, 100, 9, 50] },
    { name: "uncorked, kernel takes nothing", script: [0, 0, 0], cork: false, busyArenas: false, sizes: [9, 9, 9] },
    { name: "corked into the arena", script: [], cork: true, busyArenas: false, sizes: [9, 4096, 9, 300] },
    { name: "corked, arena full (spill)", script: [], cork: true, busyArenas: false, sizes: [200 * 1024, 100 * 1024, 9] },
    { name: "corked, both arenas busy (chunk list)", script: [5], cork: true, busyArenas: true, sizes: [9, 100, 9] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      if (c.busyArenas) occupyArenas();
      const h = harness(new ScriptedSocket([...c.script]));
      const scratch = Buffer.alloc(Math.max(...c.sizes));
      if (c.cork) h.q.cork();
      for (const n of c.sizes) h.writeTransient(bytes(n), scratch);
      if (c.cork) h.q.uncork();
      let guard = 0;
      while (h.q.pending > 0 && guard++ < 1000) h.q.flush();
      h.expectAllDelivered();
    });
  }
});

