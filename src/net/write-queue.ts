/**
 * A socket's outgoing byte queue. Bun's socket.write() never buffers: it returns how many bytes
 * the kernel took, possibly 0 (BUN-NOTES.md). Whatever it did not take is kept here, in order,
 * and written on the next `drain`. write() reports whether the queue is under its high-water
 * mark so producers (file streamer, proxy relay) pause instead of growing memory without bound.
 *
 * cork()/uncork() collect everything written while one batch of pipelined requests is
 * processed and send it as a single buffer: one syscall per read instead of one per response.
 */

/** The part of a Bun socket the queue needs (lets tests use a fake). */
export interface RawWritable {
  write(data: Uint8Array): number;
}

export const DEFAULT_HIGH_WATER = 256 * 1024;

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
    return this.queuedBytes;
  }

  get overHighWater(): boolean {
    return this.queuedBytes >= this.highWater;
  }

  write(data: Uint8Array): boolean {
    if (this.closed) return false;
    const len = data.byteLength;
    if (len === 0) return this.queuedBytes < this.highWater;
    this.totalBytes += len;
    if (this.corked > 0 || this.queuedBytes > 0) {
      this.chunks.push(data);
      this.queuedBytes += len;
      return this.queuedBytes < this.highWater;
    }
    const n = this.sock.write(data);
    if (n < 0) {
      this.closed = true;
      return false;
    }
    if (n > 0) this.lastProgress = performance.now();
    if (n < len) {
      this.chunks.push(n === 0 ? data : data.subarray(n));
      this.queuedBytes += len - n;
    }
    return this.queuedBytes < this.highWater;
  }

  cork(): void {
    this.corked++;
  }

  /** Ends a cork; when the outermost cork ends, everything collected goes out as one buffer. */
  uncork(): void {
    if (this.corked === 0 || --this.corked > 0) return;
    const count = this.chunks.length - this.head;
    if (count > 1) {
      // Join into one buffer so the kernel gets one send (BUN-NOTES: every write is one sendto).
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
      this.queuedBytes -= n;
      if (n < c.byteLength) {
        this.chunks[this.head] = c.subarray(n);
        return;
      }
      this.chunks[this.head++] = EMPTY;
    }
    this.chunks = [];
    this.head = 0;
    this.lastProgress = performance.now();
    if (hadData && this.onDrained) this.onDrained();
  }

  /** Drop everything (connection is gone). */
  discard(): void {
    this.closed = true;
    this.chunks = [];
    this.head = 0;
    this.queuedBytes = 0;
  }
}

const EMPTY = new Uint8Array(0);
