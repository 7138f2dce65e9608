/**
 * Connections to one upstream origin over Bun.connect, with a bounded keep-alive pool.
 *
 * - Bun.connect has no connect timeout (docs/runtime-notes.md): we race it against our own timer and
 *   close a socket that arrives late.
 * - A connection goes back to the pool only after a fully read response whose framing was
 *   explicit (never close-delimited or cut short) — the proxy decides and calls release().
 * - An idle pooled connection that receives bytes or closes is dropped: bytes on an idle
 *   HTTP/1.1 connection mean the server is confused or closing.
 */
import type { Socket } from "bun";
import type { Limits } from "../config/config.ts";
import { MessageParser } from "../http1/message-parser.ts";
import { WriteQueue } from "./write-queue.ts";

/** Events an active request receives from its upstream connection. */
/**
 * Who gets a connection's events while it serves a request. The names are prefixed so an
 * exchange can be its own listener beside its other roles (the proxy's exchange is also the
 * BodySink of the client's request body, which has data() and end()).
 */
export interface UpstreamListener {
  onUpstreamData(chunk: Uint8Array): void;
  onUpstreamDrain(): void;
  /** FIN from the upstream. */
  onUpstreamEnd(): void;
  /** Socket closed (after end, or on error / reset). */
  onUpstreamClose(err?: Error): void;
}

export class UpstreamConnection {
  readonly out: WriteQueue;
  readonly parser: MessageParser;
  listener: UpstreamListener | null = null;
  closed = false;
  ended = false;
  /** Requests sent on this connection so far (>0 means a reused connection). */
  uses = 0;
  /** performance.now() when it went back to the pool (idle timeout, checked by the pool's sweep). */
  idleSince = 0;
  private paused = false;

  constructor(
    readonly socket: Socket<UpstreamConnection>,
    limits: Limits,
    readonly pool: UpstreamPool,
  ) {
    this.out = new WriteQueue(socket);
    this.out.onDrained = () => this.listener?.onUpstreamDrain();
    // Upstream responses get the same limits and strictness as requests (no smuggling from a hostile backend).
    this.parser = new MessageParser("response", limits, true);
  }

  onData(chunk: Uint8Array): void {
    if (this.listener) this.listener.onUpstreamData(chunk);
    else this.destroy(); // unsolicited bytes on an idle connection
  }

  onEnd(): void {
    this.ended = true;
    if (this.listener) this.listener.onUpstreamEnd();
    else this.destroy();
  }

  onClose(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.out.discard();
    this.pool.forget(this);
    const l = this.listener;
    this.listener = null;
    l?.onUpstreamClose(err);
  }

  destroy(): void {
    if (this.closed) return;
    this.socket.terminate();
    // terminate() may not call close synchronously; make the state final now.
    this.onClose();
  }

  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }
}

export interface UpstreamAddress {
  readonly hostname: string;
  readonly port: number;
  readonly tls: boolean;
  /** Verify the certificate (default on). */
  readonly tlsVerify: boolean;
  /** SNI / certificate name. */
  readonly serverName: string;
  /** PEM CAs to trust instead of the system store, or null. */
  readonly ca: string | null;
}

export class ConnectError extends Error {
  constructor(
    readonly code: "UPSTREAM_CONNECT" | "UPSTREAM_CONNECT_TIMEOUT",
    message: string,
  ) {
    super(message);
  }
}

export class UpstreamPool {
  private idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  /** Connections opened in total (tests count these to prove reuse). */
  opened = 0;

  constructor(
    readonly addr: UpstreamAddress,
    private readonly limits: Limits,
    private readonly maxIdle: number,
    private readonly idleMs: number,
    private readonly connectMs: number,
  ) {}

  get label(): string {
    return `${this.addr.hostname.includes(":") ? `[${this.addr.hostname}]` : this.addr.hostname}:${this.addr.port}`;
  }

  /** A pooled idle connection, if one is alive. */
  takeIdle(): UpstreamConnection | null {
    while (this.idle.length > 0) {
      const c = this.idle.pop()!;
      if (!c.closed && !c.ended) return c;
    }
    return null;
  }

  /** Open a fresh connection, failing after the connect timeout (the pool's, or a route's own). */
  connect(connectMs: number = this.connectMs): Promise<UpstreamConnection> {
    const pool = this;
    const a = this.addr;
    return new Promise<UpstreamConnection>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        reject(new ConnectError("UPSTREAM_CONNECT_TIMEOUT", `connect to ${pool.label} timed out after ${connectMs} ms`));
      }, connectMs);
      const onReady = (socket: Socket<UpstreamConnection>) => {
        if (settled) {
          // Arrived after we gave up: close it (no connect timeout in Bun, docs/runtime-notes.md).
          socket.terminate();
          return;
        }
        settled = true;
        clearTimeout(timer);
        const conn = new UpstreamConnection(socket, pool.limits, pool);
        socket.data = conn;
        pool.all.add(conn);
        pool.opened++;
        resolve(conn);
      };
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const e = err as { code?: string; message?: string };
        reject(new ConnectError("UPSTREAM_CONNECT", `connect to ${pool.label} failed: ${e?.code ?? e?.message ?? err}`));
      };
      const socketHandlers = {
        binaryType: "buffer" as const,
        open(socket: Socket<UpstreamConnection>) {
          if (!a.tls) onReady(socket);
        },
        handshake(socket: Socket<UpstreamConnection>, success: boolean, authError: Error | null) {
          if (success && (!authError || !a.tlsVerify)) onReady(socket);
          else {
            fail(authError ?? new Error("TLS handshake failed"));
            socket.terminate();
          }
        },
        data(socket: Socket<UpstreamConnection>, chunk: Buffer) {
          socket.data?.onData(chunk);
        },
        drain(socket: Socket<UpstreamConnection>) {
          socket.data?.out.flush();
        },
        end(socket: Socket<UpstreamConnection>) {
          socket.data?.onEnd();
        },
        close(socket: Socket<UpstreamConnection>, err?: Error) {
          if (socket.data) socket.data.onClose(err);
          else fail(err ?? new Error("connection closed during connect"));
        },
        error(socket: Socket<UpstreamConnection>, err: Error) {
          if (socket.data) socket.data.destroy();
          else fail(err);
        },
        connectError(_socket: Socket<UpstreamConnection>, err: Error) {
          fail(err);
        },
      };
      try {
        const p = Bun.connect<UpstreamConnection>({
          hostname: a.hostname,
          port: a.port,
          allowHalfOpen: true,
          tls: a.tls ? { rejectUnauthorized: a.tlsVerify, serverName: a.serverName, ...(a.ca ? { ca: a.ca } : {}) } : undefined,
          socket: socketHandlers,
        } as unknown as Bun.TCPSocketConnectOptions<UpstreamConnection>);
        p.catch(fail);
      } catch (e) {
        fail(e);
      }
    });
  }

  /** Set once a reload replaced the route this pool belongs to: nothing goes back into it. */
  private retired = false;

  /**
   * The runtime that owns this pool was replaced (reload): close the idle connections now, and
   * every busy one when its exchange ends. In-flight requests finish undisturbed.
   */
  retire(): void {
    this.retired = true;
    for (const c of this.idle.splice(0)) c.destroy();
  }

  /** Return a connection whose last response was read completely and cleanly. */
  release(conn: UpstreamConnection): void {
    conn.listener = null;
    if (this.retired || conn.closed || conn.ended || !conn.parser.idle || conn.out.pending > 0 || this.idle.length >= this.maxIdle) {
      conn.destroy();
      return;
    }
    conn.resume();
    conn.idleSince = performance.now();
    this.idle.push(conn);
    // One coarse sweep closes connections idle too long; a timer per release cost CPU per request.
    if (this.sweepTimer === null) {
      this.sweepTimer = setInterval(() => this.sweepIdle(), Math.max(100, Math.min(1000, this.idleMs / 4)));
      this.sweepTimer.unref();
    }
  }

  private sweepTimer: ReturnType<typeof setInterval> | null = null;

  private sweepIdle(): void {
    const cutoff = performance.now() - this.idleMs;
    // Oldest first: the pool hands out the most recently used (LIFO), so stale ones sit at the front.
    while (this.idle.length > 0 && this.idle[0]!.idleSince <= cutoff) this.idle.shift()!.destroy();
    if (this.idle.length === 0 && this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
  }

  forget(conn: UpstreamConnection): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  closeAll(): void {
    for (const c of [...this.all]) c.destroy();
    this.idle = [];
  }
}
