/**
 * WriteQueue: partial writes are kept in order, the high-water mark is reported, corked writes
 * leave as one socket write, and a writer told "full" is always told when to resume.
 */
import { describe, expect, test } from "bun:test";
import { WriteQueue, type RawWritable } from "../../src/net/write-queue.ts";

/** A socket that takes at most `budget` bytes per write (Infinity = everything). */
class FakeSocket implements RawWritable {
  writes: number[] = [];
  data: number[] = [];
  constructor(public budget = Infinity) {}
  write(b: Uint8Array): number {
    const n = Math.min(b.byteLength, this.budget);
    this.writes.push(n);
    for (let i = 0; i < n; i++) this.data.push(b[i]!);
    if (this.budget !== Infinity) this.budget -= n;
    return n;
  }
}

const bytes = (n: number, start = 0) => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

describe("WriteQueue", () => {
  test("partial writes are queued in order and flushed on drain", () => {
    const s = new FakeSocket(3);
    const q = new WriteQueue(s, 100);
    let drained = 0;
    q.onDrained = () => drained++;
    expect(q.write(bytes(5))).toBe(true);
    expect(q.write(bytes(4, 5))).toBe(true);
    expect(q.pending).toBe(6);
    s.budget = Infinity;
    q.flush();
    expect(q.pending).toBe(0);
    expect(s.data).toEqual([...bytes(9)]);
    expect(drained).toBe(1);
  });

  test("write() returns false at the high-water mark", () => {
    const s = new FakeSocket(0);
    const q = new WriteQueue(s, 10);
    expect(q.write(bytes(6))).toBe(true);
    expect(q.write(bytes(6))).toBe(false);
    expect(q.overHighWater).toBe(true);
  });

  test("corked writes leave as a single socket write", () => {
    const s = new FakeSocket();
    const q = new WriteQueue(s, 1 << 20);
    q.cork();
    q.writeLatin1("HTTP/1.1 200 OK\r\n\r\n");
    q.write(bytes(100));
    q.writeLatin1("more");
    expect(s.writes.length).toBe(0);
    q.uncork();
    expect(s.writes).toEqual([19 + 100 + 4]);
  });

  test("a writer told 'full' while corked is resumed even when the kernel takes everything at uncork", async () => {
    // Regression: the proxy paused its upstream on write() === false inside a cork; the arena
    // then went out whole, no drain event ever came, and large proxied bodies stalled forever.
    const s = new FakeSocket();
    const q = new WriteQueue(s, 1000);
    let drained = 0;
    q.onDrained = () => drained++;
    q.cork();
    expect(q.write(bytes(800))).toBe(true);
    expect(q.write(bytes(800))).toBe(false);
    q.uncork();
    expect(q.pending).toBe(0);
    await Promise.resolve();
    expect(drained).toBe(1);
  });

  test("a writer told 'full' is resumed when the queue empties", () => {
    const s = new FakeSocket(0);
    const q = new WriteQueue(s, 10);
    let drained = 0;
    q.onDrained = () => drained++;
    expect(q.write(bytes(20))).toBe(false);
    s.budget = Infinity;
    q.flush();
    expect(drained).toBe(1);
    expect(s.data.length).toBe(20);
  });

  test("a closed socket (-1) stops the queue", () => {
    const q = new WriteQueue({ write: () => -1 }, 10);
    expect(q.write(bytes(3))).toBe(false);
    expect(q.closed).toBe(true);
  });
});
