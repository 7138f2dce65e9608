/**
 * Append-only, buffered line writer for the access log (a file, or stdout).
 *
 * Why not Bun.file(path).writer(): it writes from offset 0 and overwrites an existing log
 * (docs/runtime-notes.md, append-only logging). We open with O_APPEND ourselves, which also keeps lines
 * whole when several worker processes append to the same file: every write(2) to a regular file
 * opened O_APPEND lands atomically at the current end.
 *
 * Why buffer: one fs.writeSync per 64 KiB batch costs ~0.23 µs per 120-byte line, against
 * ~0.7 µs for FileSink.write and a syscall per line for unbuffered writes. Each line is encoded
 * at once into a reused 64 KiB staging buffer (latin1 is exact: both formats emit ASCII only),
 * so no line string outlives the request that produced it — keeping ~500 strings alive per
 * batch and joining them measurably raised GC work on the hot path. Only while the output is
 * blocked are lines kept as strings, in order, behind the unwritten bytes.
 *
 * When lines reach the kernel:
 *  - as soon as 64 KiB are buffered (flushBytes);
 *  - otherwise within 100 ms of the first buffered line (flushDelayMs), by an unref'd timer so
 *    an idle log never keeps the process alive;
 *  - synchronously on flush(), reopen(), close(), and on process "exit" (so a process.exit() from
 *    anywhere, e.g. a fatal error path, still writes what was buffered).
 *
 * Slow or blocked output (stdout piped into a stalled reader; the fd may be O_NONBLOCK because
 * Bun or a parent set it): fs.writeSync can write part of a batch or throw EAGAIN. We keep the
 * unwritten bytes and retry — not at all from write() (a blocked pipe must not turn every
 * request into a sleep), a few milliseconds from the timer, up to a second from an explicit
 * flush/close. Nothing is dropped silently: memory is bounded by maxBufferBytes (16 MiB);
 * beyond it new lines are dropped and counted, warn() says so once when it starts and once with
 * the count when the output has caught up (or at close). Hard write errors (EPIPE, ENOSPC, EIO)
 * drop the failed batch with the same two-message accounting.
 *
 * Byte counts for the thresholds use string length: both log formats emit ASCII only (every
 * other code unit is escaped), so length is the byte count; for other text it is an estimate.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { logWriteErrors } from "../observe/server-metrics.ts";

export interface AppendWriterOptions {
  /** Write the buffer out once it holds this many bytes. */
  readonly flushBytes?: number;
  /** Longest time a line may wait in the buffer. */
  readonly flushDelayMs?: number;
  /** Bound on buffered + unwritten bytes while the output is blocked; beyond it lines are dropped. */
  readonly maxBufferBytes?: number;
  /** How to tell the operator about dropped lines or a failed reopen (one line, no newline). */
  readonly warn?: (msg: string) => void;
}

export const DEFAULT_FLUSH_BYTES = 64 * 1024;
export const DEFAULT_FLUSH_DELAY_MS = 100;
export const DEFAULT_MAX_BUFFER_BYTES = 16 * 1024 * 1024;

/** How long a flush may block the event loop retrying EAGAIN, by who asked for it. */
const TIMER_RETRY_MS = 5;
const EXPLICIT_RETRY_MS = 1000;

/** fd of stdout; the writer never closes a descriptor it did not open. */
export const STDOUT_FD = 1;

/** Log files hold client addresses: owner read/write, group read, nothing for others. */
const FILE_MODE = 0o640;

function defaultWarn(msg: string): void {
  try {
    fs.writeSync(2, msg + "\n");
  } catch {
    // stderr is gone too; there is nowhere left to say it.
  }
}

/** "CODE: reason" from a Node/Bun system error ("EACCES: permission denied"), for one-line warnings. */
export function describeError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === "string") {
    // Node/Bun messages look like "EACCES: permission denied, open '/x'": keep "CODE: reason".
    const m = typeof err.message === "string" ? err.message : "";
    const reason = m.startsWith(err.code + ": ") ? m.slice(err.code.length + 2).split(", ")[0] : "";
    return reason ? `${err.code}: ${reason}` : err.code;
  }
  return e instanceof Error ? e.message : String(e);
}

function countNewlines(buf: Uint8Array): number {
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  // A trailing partial line is a line too.
  if (buf.length > 0 && buf[buf.length - 1] !== 10) n++;
  return n;
}

export class AppendWriter {
  /** Absolute path of the file, or null when writing to stdout / a caller-owned fd. */
  readonly path: string | null;
  private fd: number;
  private readonly ownsFd: boolean;
  private readonly flushBytes: number;
  private readonly flushDelayMs: number;
  private readonly maxBufferBytes: number;
  private readonly warn: (msg: string) => void;

  /** Encoded lines waiting for the next flush (reused; see module comment). */
  private stage: Buffer;
  private staged = 0;
  /** Lines accepted while the output was blocked (kept in order behind `pending`), and their total length. */
  private lines: string[] = [];
  private buffered = 0;
  /** Encoded bytes the kernel has not taken yet (partial write / EAGAIN). */
  private pending: Buffer | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** Lines lost in the current drop episode, why, and whether output has moved since. */
  private dropped = 0;
  private dropReason = "";
  private wroteSinceDrop = false;
  private warnedAfterClose = false;
  private closed = false;

  private readonly onExit = (): void => {
    this.drain(EXPLICIT_RETRY_MS);
  };
  private readonly onTimer = (): void => {
    this.timer = null;
    this.drain(TIMER_RETRY_MS);
  };

  /**
   * @param target a file path (created if missing, opened for append), "-" for stdout, or an
   *   already open fd (e.g. 1) that the writer writes to but never closes or reopens.
   * @throws the open error (EACCES, ENOENT, ...) for a path; the caller decides the fallback.
   */
  constructor(target: string | number, options: AppendWriterOptions = {}) {
    this.flushBytes = options.flushBytes ?? DEFAULT_FLUSH_BYTES;
    this.flushDelayMs = options.flushDelayMs ?? DEFAULT_FLUSH_DELAY_MS;
    this.maxBufferBytes = options.maxBufferBytes ?? DEFAULT_MAX_BUFFER_BYTES;
    this.warn = options.warn ?? defaultWarn;
    this.stage = Buffer.allocUnsafe(Math.max(this.flushBytes, 4096));
    if (target === "-" || typeof target === "number") {
      this.path = null;
      this.fd = target === "-" ? STDOUT_FD : target;
      this.ownsFd = false;
    } else {
      // Absolute, so a later reopen() finds the same file whatever the cwd is by then.
      this.path = path.resolve(target);
      this.fd = fs.openSync(this.path, "a", FILE_MODE);
      this.ownsFd = true;
    }
    process.on("exit", this.onExit);
  }

  /** Queue one line (the caller includes the trailing "\n"). Never throws, never blocks long. */
  write(line: string): void {
    if (this.closed) {
      if (!this.warnedAfterClose) {
        this.warnedAfterClose = true;
        this.warn(`access log: a line was logged after the log was closed and is lost (${this.describe()})`);
      }
      return;
    }
    if (this.pending === null && this.lines.length === 0) {
      // Normal case: encode into the staging buffer, flushing it first when the line won't fit.
      if (this.staged + line.length > this.stage.length && this.staged > 0) this.drain(0);
      if (this.pending === null && this.lines.length === 0 && this.staged + line.length <= this.stage.length) {
        this.staged += this.stage.write(line, this.staged, "latin1");
        if (this.staged >= this.flushBytes) this.drain(0);
        else this.schedule();
        return;
      }
    }
    const queued = this.staged + this.buffered + (this.pending === null ? 0 : this.pending.length);
    if (queued + line.length > this.maxBufferBytes) {
      this.drop(1, `output blocked with ${queued} bytes buffered`);
      this.schedule();
      return;
    }
    this.lines.push(line);
    this.buffered += line.length;
    // While the output is blocked (pending bytes) only the timer retries; see module comment.
    if (this.buffered >= this.flushBytes && this.pending === null) this.drain(0);
    else this.schedule();
  }

  /**
   * Queue one line given as a value and its encoder: in the normal case (output not blocked) the
   * encoder writes the line's bytes straight into the staging buffer and no string is built.
   * `bound` is an upper bound of the encoded length. Otherwise (blocked output, a line longer
   * than the buffer, closed) this is write(format(value)): the same bytes through the string path.
   */
  writeEncoded<T>(value: T, bound: number, encode: (value: T, buf: Uint8Array, off: number) => number, format: (value: T) => string): void {
    if (!this.closed && this.pending === null && this.lines.length === 0 && bound <= this.stage.length) {
      if (this.staged + bound > this.stage.length) this.drain(0);
      if (this.pending === null && this.lines.length === 0) {
        this.staged = encode(value, this.stage, this.staged);
        if (this.staged >= this.flushBytes) this.drain(0);
        else this.schedule();
        return;
      }
    }
    this.write(format(value));
  }

  /** Write everything buffered now, synchronously (retrying a blocked output for up to ~1 s). */
  flush(): void {
    if (!this.closed) this.drain(EXPLICIT_RETRY_MS);
  }

  /**
   * Log rotation (SIGUSR1 after `mv access.log access.log.1`): everything logged before this call
   * goes to the old inode, everything after to a new file at the same path. The new file is
   * opened before the old fd is closed, so if it cannot be opened we warn and keep logging to
   * the old one instead of losing lines. On stdout this only flushes.
   */
  reopen(): void {
    if (this.closed) return;
    this.drain(EXPLICIT_RETRY_MS);
    if (this.path === null) return;
    let fd: number;
    try {
      fd = fs.openSync(this.path, "a", FILE_MODE);
    } catch (e) {
      this.warn(`access log: cannot reopen ${this.path} (${describeError(e)}); still writing to the previously opened file`);
      return;
    }
    const old = this.fd;
    this.fd = fd;
    try {
      fs.closeSync(old);
    } catch {
      // Already invalid; nothing buffered refers to it any more.
    }
  }

  /** Flush and release the file. Lines still unwritable after the retry budget are reported. */
  close(): void {
    if (this.closed) return;
    this.drain(EXPLICIT_RETRY_MS);
    this.closed = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    let left = this.lines.length;
    if (this.pending !== null) left += countNewlines(this.pending);
    if (this.staged > 0) left += countNewlines(this.stage.subarray(0, this.staged));
    this.staged = 0;
    if (left > 0) this.drop(left, "output still blocked at close");
    this.lines = [];
    this.buffered = 0;
    this.pending = null;
    if (this.dropped > 0) this.reportDropped();
    process.off("exit", this.onExit);
    if (this.ownsFd) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // Nothing useful to do: the data was already handed to the kernel.
      }
    }
  }

  // ---- internals --------------------------------------------------------------------------

  private describe(): string {
    return this.path ?? (this.fd === STDOUT_FD ? "stdout" : `fd ${this.fd}`);
  }

  private schedule(): void {
    if (this.timer !== null || this.closed) return;
    if (this.lines.length === 0 && this.pending === null && this.staged === 0) return;
    this.timer = setTimeout(this.onTimer, this.flushDelayMs);
    this.timer.unref();
  }

  /**
   * Hand pending bytes then buffered lines to the kernel, retrying EAGAIN for up to retryMs.
   * Returns whether nothing is left; if something is, a timer retry is scheduled.
   */
  private drain(retryMs: number): boolean {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const deadline = performance.now() + retryMs;
    if (this.pending !== null && !this.writePending(deadline)) {
      this.schedule();
      return false;
    }
    if (this.lines.length > 0) {
      this.pending = Buffer.from(this.lines.length === 1 ? this.lines[0] : this.lines.join(""), "latin1");
      this.lines = [];
      this.buffered = 0;
      if (!this.writePending(deadline)) {
        this.schedule();
        return false;
      }
    }
    if (this.staged > 0) {
      // Written straight from the staging buffer; only an unwritten remainder is copied out.
      const n = this.staged;
      this.staged = 0;
      this.pending = this.stage.subarray(0, n);
      const done = this.writePending(deadline);
      if (this.pending !== null) this.pending = Buffer.from(this.pending);
      if (!done) {
        this.schedule();
        return false;
      }
    }
    // Caught up: close a drop episode once output has actually moved again.
    if (this.dropped > 0 && this.wroteSinceDrop) this.reportDropped();
    return true;
  }

  /** Write this.pending fully (looping over partial writes). false = still blocked at deadline. */
  private writePending(deadline: number): boolean {
    const buf = this.pending!;
    let off = 0;
    while (off < buf.length) {
      let n = 0;
      try {
        n = fs.writeSync(this.fd, buf, off, buf.length - off);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EINTR") continue;
        if (code !== "EAGAIN" && code !== "EWOULDBLOCK") {
          // A hard error: this batch cannot be written; keep the writer usable for the next one.
          this.pending = null;
          this.drop(countNewlines(buf.subarray(off)), `write to ${this.describe()} failed (${describeError(e)})`);
          return true;
        }
      }
      if (n > 0) {
        off += n;
        this.wroteSinceDrop = true;
        continue;
      }
      if (performance.now() >= deadline) {
        this.pending = buf.subarray(off);
        return false;
      }
      Bun.sleepSync(1);
    }
    this.pending = null;
    return true;
  }

  private drop(lines: number, reason: string): void {
    logWriteErrors.inc(lines);
    if (this.dropped === 0) {
      this.warn(`access log: ${reason}; dropping log lines until it recovers`);
    }
    this.dropped += lines;
    this.dropReason = reason;
    this.wroteSinceDrop = false;
  }

  private reportDropped(): void {
    this.warn(`access log: ${this.dropped} line(s) dropped on ${this.describe()} (last cause: ${this.dropReason})`);
    this.dropped = 0;
    this.dropReason = "";
  }
}
