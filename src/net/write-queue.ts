/**
 * A socket's outgoing byte queue. Bun's socket.write() never buffers: it returns how many bytes
 * the kernel took, possibly 0 (docs/runtime-notes.md). Whatever it did not take is kept here, in order,
 * and written on the next `drain`. write() reports whether the queue is under its high-water
 * mark so producers (file streamer, proxy relay) pause instead of growing memory without bound.
 *
 * cork()/uncork() collect everything written while one batch of pipelined requests is
 * processed and send it as a single buffer: one syscall per read instead of one per response.
 */

/**
 * The part of a Bun socket the queue needs (lets tests use a fake). With byteOffset and byteLength
 * only that range of `data` is written (Bun's socket.write takes both; docs/runtime-notes.md), so
 * the staging arena is sent without a subarray object per batch.
 */
export interface RawWritable {
  write(data: Uint8Array, byteOffset?: number, byteLength?: number): number;
}

export const DEFAULT_HIGH_WATER = 256 * 1024;
/** The high-water mark every queue falls back to while the process is over half its output budget. */
export const PRESSURE_HIGH_WATER = 16 * 1024;

/**
 * Process-wide output memory: bytes queued in all write queues (the arenas are fixed and not
 * counted). Without a bound, 4,200 clients that stopped reading a large file held 1.7 GB.
 * Over half the limit every queue's high-water mark drops to PRESSURE_HIGH_WATER; over the
 * limit producers are told to stop as soon as they have anything queued, and the server's
 * sweep cuts the slowest clients (Server.enforceOutputBudget).
 */
export const outputMemory = {
  used: 0,
  limit: 128 * 1024 * 1024,
};

/**
 * One shared staging buffer for the queue that is currently corked. Responses built while
 * corked are copied straight into it and leave in one write at uncork, so the hot path
 * allocates no per-response buffer. Only one queue can own it at a time (JS is single-threaded
 * and a cork never spans an await); any other corked queue falls back to its chunk list.
 */
const ARENA_SIZE = 256 * 1024;
/** Above this many queued bytes uncork() writes chunks one by one instead of joining them. */
const JOIN_MAX = 64 * 1024;
/** A staging buffer and its current user. Two, so a proxied exchange can cork the client and upstream queues at once. */
interface Arena {
  readonly buf: Buffer;
  owner: WriteQueue | null;
  used: number;
}
const ARENAS: Arena[] = [0, 1].map(() => ({ buf: Buffer.allocUnsafe(ARENA_SIZE), owner: null, used: 0 }));

export class WriteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // index of the first unsent chunk in `chunks`
  private queuedBytes = 0;
  private corked = 0;
  closed = false;
  /** Total bytes accepted by write() (queued or sent). */
  totalBytes = 0;
  /** performance.now() of the last time the kernel accepted bytes or the queue was empty. */
  lastProgress = performance.now();
  /** Called when the queue has emptied after being non-empty. */
  onDrained: (() => void) | null = null;

  constructor(
    private readonly sock: RawWritable,
    readonly highWater: number = DEFAULT_HIGH_WATER,
  ) {}

  /** Bytes accepted but not yet taken by the kernel. */
  get pending(): number {
    return this.arena !== null ? this.queuedBytes + this.arena.used : this.queuedBytes;
  }

  get isCorked(): boolean {
    return this.corked > 0;
  }

  /** The high-water mark in force: lowered, then zero, as the process nears its output budget. */
  get effectiveHighWater(): number {
    const used = outputMemory.used;
    if (used * 2 < outputMemory.limit) return this.highWater;
    if (used < outputMemory.limit) return this.highWater < PRESSURE_HIGH_WATER ? this.highWater : PRESSURE_HIGH_WATER;
    return 0;
  }

  get overHighWater(): boolean {
    const p = this.pending;
    return p > 0 && p >= this.effectiveHighWater;
  }

  /**
   * Bytes a producer may write before write() says stop. Producers that read ahead (the file
   * streamer) size their reads by it, so a client that stops reading holds at most one
   * high-water mark of our memory, not a mark plus a read-ahead chunk.
   */
  get room(): number {
    const p = this.pending;
    const hw = this.effectiveHighWater;
    if (p === 0) return hw > 0 ? hw : PRESSURE_HIGH_WATER; // an empty queue may always make progress
    return hw > p ? hw - p : 0;
  }

  /** queuedBytes changes go through here to keep the process-wide tally right. */
  private addQueued(delta: number): void {
    this.queuedBytes += delta;
    outputMemory.used += delta;
  }

  write(data: Uint8Array): boolean {
    if (this.closed) return false;
    const len = data.byteLength;
    if (len === 0) return this.below();
    const arena = this.arena;
    if (arena !== null) {
      if (arena.used + len <= ARENA_SIZE) {
        arena.buf.set(data, arena.used);
        arena.used += len;
        this.totalBytes += len;
        return this.below();
      }
      this.spillArena();
    }
    this.totalBytes += len;
    if (this.corked > 0 || this.queuedBytes > 0) {
      this.chunks.push(data);
      this.addQueued(len);
      return this.below();
    }
    const n = this.sock.write(data);
    if (n < 0) {
      this.closed = true;
      return false;
    }
    if (n > 0) this.lastProgress = performance.now();
    if (n < len) {
      this.chunks.push(n === 0 ? data : data.subarray(n));
      this.addQueued(len - n);
    }
    return this.below();
  }

  /**
   * Like write(), for a view of a buffer the caller reuses right after the call (an encoder's
   * scratch): it is copied only when the queue has to keep it, not when it lands in the arena or
   * the kernel takes it whole.
   */
  writeTransient(data: Uint8Array, len: number = data.byteLength): boolean {
    if (this.closed) return false;
    const arena = this.arena;
    if (arena !== null && arena.used + len <= ARENA_SIZE) {
      // Copied byte by byte when small: a subarray view for set() costs more than the copy.
      const buf = arena.buf;
      const at = arena.used;
      if (len <= 512) for (let i = 0; i < len; i++) buf[at + i] = data[i]!;
      else buf.set(len === data.byteLength ? data : data.subarray(0, len), at);
      arena.used += len;
      this.totalBytes += len;
      return this.below();
    }
    if (len !== data.byteLength) data = data.subarray(0, len);
    if (len === 0) return this.write(data);
    if (arena === null && this.corked === 0 && this.queuedBytes === 0) {
      this.totalBytes += len;
      const n = this.sock.write(data);
      if (n < 0) {
        this.closed = true;
        return false;
      }
      if (n > 0) this.lastProgress = performance.now();
      if (n < len) {
        this.chunks.push(copyOf(data, n));
        this.addQueued(len - n);
      }
      return this.below();
    }
    return this.write(copyOf(data, 0));
  }

  /** Queue a latin1 string (response heads): encoded straight into the arena when we own it. */
  writeLatin1(str: string): boolean {
    const arena = this.arena;
    if (arena !== null && arena.used + str.length <= ARENA_SIZE && !this.closed) {
      const n = arena.buf.write(str, arena.used, "latin1");
      arena.used += n;
      this.totalBytes += n;
      return this.below();
    }
    return this.write(Buffer.from(str, "latin1"));
  }

  /** Under the high-water mark? Remembers a "no" so the writer is always told when to resume. */
  private below(): boolean {
    if (!this.overHighWater) return true;
    this.needDrain = true;
    return false;
  }

  /**
   * Ask for one onDrained call once everything queued has reached the kernel, e.g. to close the
   * connection after its last response. It fires on every path that empties the queue: a
   * `drain`-driven flush(), and an uncork() whose batch the kernel took whole (no `drain` event
   * follows that one). Missing the second path left "Connection: close" proxied responses
   * without a FIN forever.
   */
  notifyWhenEmpty(): void {
    this.needDrain = true;
    if (this.corked === 0 && this.pending === 0) this.notifySoon();
  }

  /** onDrained after the current call stack, so it never re-enters the code that is writing. */
  private notifySoon(): void {
    this.needDrain = false;
    queueMicrotask(() => {
      if (!this.closed && this.onDrained) this.onDrained();
    });
  }

  /** The staging arena this queue holds while corked, or null. */
  private arena: Arena | null = null;

  private releaseArena(): void {
    const a = this.arena;
    if (a === null) return;
    a.owner = null;
    a.used = 0;
    this.arena = null;
  }

  /** A write() returned false and the writer has not been told to resume yet. */
  private needDrain = false;

  cork(): void {
    if (this.corked++ === 0 && this.queuedBytes === 0 && !this.closed) {
      for (const a of ARENAS) {
        if (a.owner === null) {
          a.owner = this;
          a.used = 0;
          this.arena = a;
          break;
        }
      }
    }
  }

  /** Move the arena's bytes into our own chunk list (arena full, or we must give it back). */
  private spillArena(): void {
    const arena = this.arena;
    if (arena === null) return;
    if (arena.used > 0) {
      this.chunks.push(Buffer.from(arena.buf.subarray(0, arena.used)));
      this.addQueued(arena.used);
    }
    this.releaseArena();
  }

  /** Ends a cork; when the outermost cork ends, everything collected goes out as one buffer. */
  uncork(): void {
    if (this.corked === 0 || --this.corked > 0) return;
    const arena = this.arena;
    if (arena !== null) {
      const used = arena.used;
      this.releaseArena();
      if (used > 0 && !this.closed) {
        // Nothing was queued before the cork (checked in cork()), so the arena goes first.
        const n = this.sock.write(arena.buf, 0, used);
        if (n < 0) {
          this.closed = true;
          return;
        }
        if (n > 0) this.lastProgress = performance.now();
        if (n < used) {
          this.chunks.unshift(Buffer.from(arena.buf.subarray(n, used)));
          this.head = 0;
          this.addQueued(used - n);
        }
      }
      if (this.queuedBytes === 0) {
        // A producer told "full" while corked is waiting for onDrained, but the kernel took
        // everything at once, so no `drain` event will come: tell it now (after the current
        // call stack, so it never re-enters the code that is uncorking). Missing this stalled
        // large proxied bodies forever.
        if (this.needDrain) this.notifySoon();
        return;
      }
    }
    const count = this.chunks.length - this.head;
    // Join small batches into one send; a large body (e.g. a 1 MiB cached file) goes as its own
    // write instead of being copied behind its head.
    if (count > 1 && this.queuedBytes <= JOIN_MAX) {
      // Join into one buffer so the kernel gets one send (docs/runtime-notes.md: every write is one sendto).
      const joined = Buffer.allocUnsafe(this.queuedBytes);
      let off = 0;
      for (let i = this.head; i < this.chunks.length; i++) {
        const c = this.chunks[i]!;
        joined.set(c, off);
        off += c.byteLength;
      }
      this.chunks = [joined];
      this.head = 0;
    }
    this.flush();
  }

  /** Push queued bytes to the socket until it stops taking them. Call on `drain`. */
  flush(): void {
    if (this.closed || this.corked > 0) return;
    const hadData = this.queuedBytes > 0;
    while (this.head < this.chunks.length) {
      const c = this.chunks[this.head]!;
      const n = this.sock.write(c);
      if (n < 0) {
        this.closed = true;
        return;
      }
      if (n > 0) this.lastProgress = performance.now();
      this.addQueued(-n);
      if (n < c.byteLength) {
        this.chunks[this.head] = c.subarray(n);
        return;
      }
      this.chunks[this.head++] = EMPTY;
    }
    this.chunks = [];
    this.head = 0;
    this.lastProgress = performance.now();
    const notify = hadData || this.needDrain;
    this.needDrain = false;
    if (notify && this.onDrained) this.onDrained();
  }

  /** Drop everything (connection is gone). */
  discard(): void {
    this.releaseArena();
    this.closed = true;
    this.chunks = [];
    this.head = 0;
    this.addQueued(-this.queuedBytes);
  }
}

const EMPTY = new Uint8Array(0);

/** A copy of data from `from` on (Buffer#slice would be a view, not a copy). */
function copyOf(data: Uint8Array, from: number): Uint8Array {
  return Uint8Array.prototype.slice.call(data, from);
}
