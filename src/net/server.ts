/**
 * The listener: Bun.listen on raw TCP, one Connection per socket, a coarse timer sweep for
 * every per-phase deadline, and graceful shutdown (stop accepting, let in-flight exchanges
 * finish, close idle keep-alive connections, cut the rest at the deadline).
 */
import type { Socket, TCPSocketListener } from "bun";
import type { Config, Limits, ListenAddress } from "../config/config.ts";
import { listenKey } from "../router/index.ts";
import type { Handler } from "../handler.ts";
import type { DispatchableExchange, Runtime } from "../runtime.ts";
import type { AccessLogger } from "../log/access-record.ts";
import { errorPage } from "../pages/error-page.ts";
import { Connection, type ConnectionContext } from "./connection.ts";
import { connectionCapFor, raiseFdLimit } from "./fd-limit.ts";
import { outputMemory } from "./write-queue.ts";
import { metrics } from "../observe/metrics.ts";
import { type Tracer, tracer } from "../observe/tracer.ts";
import { acceptedConnections, openConnections, openTunnels, refusedConnections, tlsHandshakes, UNROUTED } from "../observe/server-metrics.ts";
import { asciiLower } from "../http1/field-syntax.ts";
import { readClientCert } from "../tls/client-cert.ts";
import type { CounterChild } from "../observe/metrics.ts";

/** How often deadlines are checked. Timeouts are therefore accurate to about this much. */
const SWEEP_MS = 500;
/** How long a keep-alive connection must have sat idle before a new connection may take its place. */
const RECLAIM_MIN_IDLE_MS = 1000;
/** A refused-connection or output-budget warning is logged at most once per this interval. */
const WARN_INTERVAL_MS = 10_000;

/**
 * The answer to a connection over the cap: written once at start, sent with one write and no
 * parsing. No Date: RFC 9110 §6.6.1 makes it optional on 5xx.
 */
const OVER_CAPACITY: Buffer = (() => {
  const body = errorPage(503);
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: ${body.byteLength}\r\nConnection: close\r\n\r\n`, "latin1"),
    body,
  ]);
})();

export interface ServerOptions {
  runtime: Runtime;
  logger: AccessLogger;
  /** Share ports with sibling worker processes (SO_REUSEPORT). */
  reusePort?: boolean;
  /** Ports already chosen for port-0 addresses (workers share the supervisor's choice), by listen key. */
  ports?: ReadonlyMap<string, number>;
}

/**
 * One listening address: its Bun listener and the context its connections see. The context
 * reads the server's current runtime at every request, so a reload reaches keep-alive
 * connections at their next request without touching the socket.
 */
class Listener implements ConnectionContext {
  socket: TCPSocketListener<Connection> | null = null;
  /** A reload removed this address: its connections finish their exchange, then close. */
  retired = false;

  constructor(
    readonly server: Server,
    readonly key: string,
    readonly address: ListenAddress,
    /** The admin listener's own handler, instead of the runtime's sites. */
    private readonly handler: Handler | null = null,
  ) {}

  get config(): Config {
    return this.server.runtime.config;
  }
  get parserLimits(): Limits {
    return this.server.runtime.parserLimits;
  }
  get logger(): AccessLogger {
    return this.server.logger;
  }
  get shuttingDown(): boolean {
    return this.server.shuttingDown || this.retired;
  }
  get localPort(): number {
    return this.socket?.port ?? this.address.port;
  }
  get tracer(): Tracer | null {
    return this.handler === null ? tracer : null;
  }
  get metricsOn(): boolean {
    return this.handler === null && this.server.runtime.config.metricsEnabled;
  }
  get secure(): boolean {
    return this.tls;
  }
  /** Set when bound: a TLS address stays TLS for its lifetime (a reload cannot flip it). */
  tls = false;
  /** Set when bound: the listener asks clients for certificates (mTLS; fixed like `tls`). */
  requestsClientCert = false;
  /** The client CAs of the bound default context: what a client without SNI is verified against. */
  boundClientCa: string | null = null;
  /** The certificate PEM the address was bound with: what clients without SNI get until a restart. */
  boundCert: string | null = null;
  private handshakes: { ok: CounterChild; failed: CounterChild } | null = null;
  /** dreamserver_tls_handshakes_total{listener, result}: labels from the config's address only. */
  countHandshake(ok: boolean): void {
    const h = (this.handshakes ??= tlsHandshakes(this.key));
    (ok ? h.ok : h.failed).inc();
  }
  /** Some site of this plain address sets h2c = true (prior-knowledge HTTP/2, docs/http2.md). */
  get h2c(): boolean {
    return !this.tls && this.handler === null && this.server.runtime.h2cOn(this.key);
  }
  dispatch(ex: DispatchableExchange): void {
    if (this.handler !== null) this.handler(ex);
    else this.server.runtime.dispatch(ex, this.key);
  }
  release(conn: Connection): void {
    this.server.release(conn);
  }
  idle(conn: Connection, idle: boolean): void {
    this.server.markIdle(conn, idle);
  }
}

/** Servers of this process, for the scrape-time connection gauges (one collector, not one per server). */
const liveServers = new Set<Server>();
metrics.onCollect(() => {
  let open = 0;
  let tunnels = 0;
  for (const s of liveServers) {
    const n = s.countOpen();
    open += n.open;
    tunnels += n.tunnels;
  }
  openConnections.set(open);
  openTunnels.set(tunnels);
});

export class Server {
  runtime: Runtime;
  /** Swapped by a reload that changes the access log's path or format. */
  logger: AccessLogger;
  shuttingDown = false;
  private readonly listeners = new Map<string, Listener>();
  /** The admin listener (/healthz, /readyz); a reload leaves it alone. */
  private admin: Listener | null = null;
  /** False from the moment a stop begins: /readyz answers 503 so load balancers move away first. */
  ready = true;
  private readonly connections = new Set<Connection>();
  /**
   * Idle keep-alive connections (a request answered, nothing of the next one received) → since
   * when (performance.now()), oldest first (Map insertion order): the first to be closed when a
   * new connection needs room.
   */
  /**
   * Idle keep-alive connections, oldest first: an intrusive list through Connection.idlePrev /
   * idleNext (idleSince says when each became idle). A connection joins and leaves it on every
   * request, so this costs two pointer updates instead of Map deletes and inserts.
   */
  private idleHead: Connection | null = null;
  private idleTail: Connection | null = null;
  /** Open connections per peer address (the address as the socket reports it). */
  private readonly perIp = new Map<string, number>();
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private drainedWaiters: (() => void)[] = [];

  constructor(private readonly opts: ServerOptions) {
    this.runtime = opts.runtime;
    this.logger = opts.logger;
    liveServers.add(this);
  }

  /** Site connections and tunnels open now (the admin listener's excluded), for the scrape-time gauges. */
  countOpen(): { open: number; tunnels: number } {
    let open = 0;
    let tunnels = 0;
    for (const c of this.connections) {
      if (c.ctx === this.admin) continue;
      open++;
      if (c.tunnelled) tunnels++;
    }
    return { open, tunnels };
  }

  get config(): Config {
    return this.runtime.config;
  }

  /** The bound port of the first address (tests, announcements). */
  get port(): number {
    return this.boundAddresses()[0]?.port ?? 0;
  }

  /** Every address as bound (port 0 resolved), in config order. */
  boundAddresses(): (ListenAddress & { tls?: boolean })[] {
    return [...this.listeners.values()].map((l) => ({ hostname: l.address.hostname, port: l.localPort, ...(l.tls ? { tls: true } : {}) }));
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Client connections this process holds at most (below the descriptor limit, see fd-limit.ts). */
  maxConnections = Number.MAX_SAFE_INTEGER;
  private lastCapWarning = 0;
  private lastBudgetWarning = 0;

  /** Throws the Bun error (e.g. EADDRINUSE, with the address) when an address cannot be bound. */
  start(): void {
    const softLimit = raiseFdLimit();
    this.maxConnections = connectionCapFor(softLimit);
    outputMemory.limit = this.config.limits.maxOutputMemory;
    try {
      for (const a of this.runtime.addresses) this.listen(a);
    } catch (e) {
      for (const l of this.listeners.values()) l.socket?.stop(true);
      this.listeners.clear();
      throw e;
    }
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
  }

  /**
   * Start the admin listener with its handler. Not fatal when the address is taken (a second
   * instance on this machine): the caller reports it and serves without it.
   */
  startAdmin(address: ListenAddress, handler: Handler): void {
    this.admin = this.listen(address, handler);
    // A supervisor runs only the admin listener (no start()): its connections need deadlines too.
    this.sweepTimer ??= setInterval(() => this.sweep(), SWEEP_MS);
  }

  get adminAddress(): ListenAddress | null {
    return this.admin ? { hostname: this.admin.address.hostname, port: this.admin.localPort } : null;
  }

  private listen(address: ListenAddress, handler: Handler | null = null): Listener {
    const key = listenKey(address);
    const l = new Listener(this, key, address, handler);
    const self = this;
    const port = address.port === 0 ? (this.opts.ports?.get(key) ?? 0) : address.port;
    const options = {
      hostname: address.hostname,
      port,
      // A client that half-closes after sending its request must still get the answer (docs/runtime-notes.md).
      allowHalfOpen: true,
      reusePort: this.opts.reusePort ?? false,
      socket: {
        binaryType: "buffer" as const,
        open(socket: Socket<Connection>) {
          const counted = l.metricsOn;
          if (counted) acceptedConnections.inc();
          if (self.connections.size >= self.maxConnections) {
            if (counted) {
              refusedConnections.inc();
              UNROUTED.record("-", 503, OVER_CAPACITY.byteLength, 0);
            }
            self.refuse(socket);
            return;
          }
          const limits = self.config.limits;
          if (self.connections.size >= self.shareOf(limits.maxConnections) && !self.reclaimIdle()) {
            self.refuseLimit(socket, "CONN_LIMIT");
            return;
          }
          const ip = peerAddress(socket);
          const fromIp = self.perIp.get(ip) ?? 0;
          if (limits.maxConnectionsPerIp > 0 && fromIp >= self.shareOf(limits.maxConnectionsPerIp)) {
            self.refuseLimit(socket, "CONN_LIMIT_PER_IP", ip);
            return;
          }
          self.perIp.set(ip, fromIp + 1);
          const conn = new Connection(socket, l);
          socket.data = conn;
          self.connections.add(conn);
          if (l.shuttingDown) conn.close();
        },
        data(socket: Socket<Connection>, chunk: Buffer) {
          socket.data?.onData(chunk);
        },
        drain(socket: Socket<Connection>) {
          socket.data?.onDrain();
        },
        end(socket: Socket<Connection>) {
          socket.data?.onEnd();
        },
        close(socket: Socket<Connection>) {
          const conn = socket.data;
          // A TLS connection that closed before its handshake completed (a scanner, a client
          // that rejected our certificate) is a failed handshake too: Bun reports none for it.
          if (l.tls && conn && !conn.tlsHandshook && l.metricsOn) l.countHandshake(false);
          conn?.onClose();
        },
        // TLS only (docs/https.md): SNI picks the site's certificate; the handshake records the name.
        // Not even socket.data may be touched here: it throws, and Bun rejects the handshake (docs/runtime-notes.md).
        serverName(_socket: Socket<Connection>, name: string) {
          return self.runtime.tlsFor(key)?.contextFor(name);
        },
        handshake(socket: Socket<Connection>, ok: boolean) {
          const conn = socket.data;
          if (l.metricsOn) l.countHandshake(ok);
          if (!conn) return;
          conn.tlsHandshook = true;
          if (!ok) {
            conn.close();
            return;
          }
          const name = socket.getServername() as string | undefined | false;
          conn.tlsServerName = typeof name === "string" && name !== "" ? asciiLower(name) : null;
          const cipher = socket.getCipher() as { name?: string | null; version?: string | null } | undefined;
          conn.tlsVersion = cipher?.version ?? "-";
          conn.tlsCipher = cipher?.name ?? "-";
          // mTLS: the CAs that verified it are those of the context SNI chose (the listener's without SNI).
          if (l.requestsClientCert) conn.tlsClientCert = readClientCert(socket, conn.tlsServerName === null ? l.boundClientCa : (self.runtime.tlsFor(key)?.clientCaFor(conn.tlsServerName) ?? null));
          conn.handshakeDone(socket.alpnProtocol);
        },
        error(socket: Socket<Connection>, err: Error) {
          // A sync throw in a handler lands here and does not close the socket (docs/runtime-notes.md).
          console.error(`[ERROR] connection error: ${err?.message ?? err}`);
          const conn = socket.data;
          if (conn) {
            const ex = conn.current;
            if (ex && !ex.responseStarted) ex.sendError(500, "INTERNAL_ERROR");
            conn.closeWhenFlushed();
          }
        },
      },
    };
    // A TLS address: Bun's tls option holds the default certificate; serverName picks per SNI.
    const tls = handler === null ? this.runtime.tlsFor(key) : null;
    if (tls !== null) {
      const o = tls.listenOptions;
      (options as Record<string, unknown>).tls = o;
      l.tls = true;
      l.requestsClientCert = o.requestCert === true;
      l.boundClientCa = o.ca ?? null;
      l.boundCert = o.cert;
    } else {
      delete (options.socket as Record<string, unknown>).serverName;
      delete (options.socket as Record<string, unknown>).handshake;
    }
    try {
      // reusePort works although the type definitions omit it (docs/runtime-notes.md).
      l.socket = Bun.listen<Connection>(options as unknown as Bun.TCPSocketListenOptions<Connection>);
    } catch (e) {
      throw new ListenError(address, e);
    }
    if (handler === null) this.listeners.set(key, l);
    return l;
  }

  /**
   * Swap in a new runtime (SIGHUP). New addresses are bound first: if one fails, nothing changes
   * and the error is thrown. Then one reference is swapped; addresses no longer named stop
   * accepting (their connections finish); unchanged addresses keep their sockets, so no
   * connection attempt is refused during a reload. The old runtime is retired.
   */
  reload(next: Runtime): void {
    const old = this.runtime;
    const wanted = new Map(next.addresses.map((a) => [listenKey(a), a] as const));
    const added: Listener[] = [];
    for (const [key, l] of this.listeners) {
      if (wanted.has(key) && l.tls !== (next.tlsFor(key) !== null)) {
        throw new Error(`${key} cannot switch between TLS and plain HTTP on a reload; restart the server`);
      }
      // Bun fixes requestCert when the address is bound (docs/runtime-notes.md).
      if (wanted.has(key) && l.tls && l.requestsClientCert !== next.tlsFor(key)!.requestsClientCert) {
        throw new Error(`${key} cannot start or stop asking for client certificates (client_ca) on a reload; restart the server`);
      }
    }
    try {
      for (const [key, a] of wanted) if (!this.listeners.has(key)) added.push(this.listen(a));
    } catch (e) {
      for (const l of added) {
        l.socket?.stop(true);
        this.listeners.delete(l.key);
      }
      throw e;
    }
    this.runtime = next;
    outputMemory.limit = next.config.limits.maxOutputMemory;
    for (const [key, l] of this.listeners) {
      // Bun cannot change a bound address's own certificate (docs/https.md#reload): say so.
      const t = l.tls ? next.tlsFor(key) : null;
      if (t !== null && l.boundCert !== null && t.listenOptions.cert !== l.boundCert) {
        console.error(`[WARN] ${key}: clients without SNI keep the certificate the address was started with; clients with SNI get the new one; restart to change it for all`);
      }
    }
    for (const [key, l] of this.listeners) {
      if (wanted.has(key)) continue;
      // [e2e fix] Like a graceful stop of this address: the new runtime has no sites for it, so a
      // keep-alive connection left open would answer its next request 421. Idle connections
      // close now; busy ones after their current response (which carries Connection: close).
      l.retired = true;
      l.socket?.stop(false);
      this.listeners.delete(key);
      for (const c of this.connections) if (c.ctx === l && !c.current) c.closeWhenFlushed();
    }
    old.retire();
  }

  release(conn: Connection): void {
    if (!this.connections.delete(conn)) return;
    this.unlinkIdle(conn);
    const n = (this.perIp.get(conn.clientIp) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(conn.clientIp);
    else this.perIp.set(conn.clientIp, n);
    if (this.shuttingDown && this.connections.size === 0) {
      const w = this.drainedWaiters;
      this.drainedWaiters = [];
      for (const f of w) f();
    }
  }

  markIdle(conn: Connection, idle: boolean): void {
    this.unlinkIdle(conn);
    if (idle && this.connections.has(conn)) {
      // Appended at the end: the newest idle one.
      conn.idleSince = performance.now();
      conn.idleListed = true;
      conn.idlePrev = this.idleTail;
      if (this.idleTail !== null) this.idleTail.idleNext = conn;
      else this.idleHead = conn;
      this.idleTail = conn;
    }
  }

  private unlinkIdle(conn: Connection): void {
    if (!conn.idleListed) return;
    const p = conn.idlePrev;
    const n = conn.idleNext;
    if (p !== null) p.idleNext = n;
    else this.idleHead = n;
    if (n !== null) n.idlePrev = p;
    else this.idleTail = p;
    conn.idlePrev = null;
    conn.idleNext = null;
    conn.idleListed = false;
  }

  /**
   * This process's share of an instance-wide count: with N workers each takes ceil(n / N), so
   * together they never hold much more than n (at most N - 1 over). The kernel's SO_REUSEPORT
   * hash spreads connections about evenly, so one worker may refuse a little before the
   * instance is full (docs/security.md).
   */
  shareOf(n: number): number {
    const w = this.opts.reusePort ? Math.max(1, this.config.workers) : 1;
    return w === 1 ? n : Math.ceil(n / w);
  }

  /**
   * Make room for one connection by closing the oldest idle keep-alive connection, as nginx
   * does with its reusable connections near worker_connections. A client that has not sent
   * a complete request yet is never idle here. Only connections idle for RECLAIM_MIN_IDLE_MS:
   * a busy client between two requests (its answer just sent, its next request on the way) is
   * not "sitting idle" and keeps its connection. False when there was none to close.
   */
  private reclaimIdle(): boolean {
    const now = performance.now();
    for (let c = this.idleHead; c !== null; c = this.idleHead) {
      if (now - c.idleSince < RECLAIM_MIN_IDLE_MS) return false; // the rest are younger still
      this.unlinkIdle(c);
      if (!c.reclaimable) continue;
      c.terminate();
      // terminate() runs the close handler, which released it; be sure it no longer counts.
      if (this.connections.has(c)) this.release(c);
      return true;
    }
    return false;
  }

  /**
   * Over max_connections / max_connections_per_ip: the same prewritten 503 as the descriptor
   * cap (one write, no parsing) and an access-log line with the code.
   */
  private refuseLimit(socket: Socket<Connection>, code: "CONN_LIMIT" | "CONN_LIMIT_PER_IP", ip = peerAddress(socket)): void {
    socket.write(OVER_CAPACITY);
    socket.end();
    this.logger.log({ time: Date.now(), id: "-", ip, method: "-", path: "-", host: "-", status: 503, bytes: OVER_CAPACITY.byteLength, latencyMs: 0, error: code });
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.connections) c.checkTimeout(now);
    if (outputMemory.used > outputMemory.limit) this.enforceOutputBudget(now);
    if (now >= this.nextCertCheck) {
      // server.cert_check_interval: certificate files changed on disk (docs/https.md#reload).
      this.nextCertCheck = now + this.config.certCheckIntervalMs;
      for (const key of this.listeners.keys()) this.runtime.tlsFor(key)?.refresh();
    }
  }
  private nextCertCheck = performance.now() + 1000;

  /** Over the connection cap: the prewritten 503, one write, FIN. Never an accept(2) that fails. */
  private refuse(socket: Socket<Connection>): void {
    socket.write(OVER_CAPACITY);
    socket.end();
    const now = performance.now();
    if (now - this.lastCapWarning > WARN_INTERVAL_MS) {
      this.lastCapWarning = now;
      console.error(`[WARN] ${this.maxConnections} connections open (the cap below the file-descriptor limit): new connections get 503 until some close`);
    }
  }

  /**
   * The process holds more bytes for slow clients than limits.maxOutputMemory allows. Producers
   * have already been told to stop (WriteQueue.effectiveHighWater); now cut the clients that
   * have gone longest without taking any bytes, until we are back under 90% of the budget.
   */
  private enforceOutputBudget(now: number): void {
    const slow: Connection[] = [];
    for (const c of this.connections) if (c.out.pending > 0) slow.push(c);
    slow.sort((a, b) => a.out.lastProgress - b.out.lastProgress);
    const target = outputMemory.limit * 0.9;
    let cut = 0;
    for (const c of slow) {
      if (outputMemory.used <= target) break;
      if (c.current) c.current.log.errorCode ??= "OUTPUT_BUDGET";
      c.terminate();
      c.out.discard(); // the close event may come later; the budget counts from now
      cut++;
    }
    if (cut > 0 && now - this.lastBudgetWarning > WARN_INTERVAL_MS) {
      this.lastBudgetWarning = now;
      console.error(`[WARN] output memory over its budget (${outputMemory.limit} bytes): cut the ${cut} slowest client(s)`);
    }
  }

  /**
   * Graceful stop: no new connections; idle ones close now; busy ones close after their
   * current response (which carries Connection: close). Resolves when all are gone or at
   * the deadline, when the rest are cut.
   */
  async shutdown(deadlineMs: number = this.config.timeouts.shutdownMs): Promise<void> {
    this.shuttingDown = true;
    this.ready = false;
    for (const l of this.listeners.values()) l.socket?.stop(false);
    this.admin?.socket?.stop(false);
    for (const c of this.connections) {
      // [e2e fix] closeWhenFlushed, not close: a connection whose last response is complete but
      // still queued (the tail of a large file) must deliver it; close() discarded those bytes.
      if (!c.current) c.closeWhenFlushed();
    }
    if (this.connections.size > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        this.drainedWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.cutAll("SHUTDOWN_TIMEOUT");
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    for (const l of this.listeners.values()) l.socket?.stop(true);
    this.listeners.clear();
    this.admin?.socket?.stop(true);
    this.admin = null;
    liveServers.delete(this);
  }

  /**
   * [e2e fix] Cut every connection now (shutdown deadline, or a second SIGTERM). An exchange in
   * flight is logged with `code` instead of CLIENT_ABORTED: the server, not the client, ended it.
   * terminate() runs the close handler synchronously, so the line is logged before we return.
   */
  cutAll(code: string): void {
    for (const c of [...this.connections]) {
      if (c.current) c.current.log.errorCode ??= code;
      c.terminate();
    }
  }

  /** Stop immediately (tests). */
  stop(): void {
    liveServers.delete(this);
    this.shuttingDown = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const l of this.listeners.values()) l.socket?.stop(true);
    this.listeners.clear();
    this.admin?.socket?.stop(true);
    this.admin = null;
  }
}

/** The peer address as the connection records it (IPv4-mapped IPv6 shown as IPv4). */
function peerAddress(socket: Socket<Connection>): string {
  const ip = socket.remoteAddress ?? "";
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}

/** A listen address could not be bound; carries the address for the one-line message. */
export class ListenError extends Error {
  constructor(
    readonly address: ListenAddress,
    readonly reason: unknown,
  ) {
    super(`cannot listen on ${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}: ${(reason as Error)?.message ?? reason}`);
  }
  get code(): string | undefined {
    return (this.reason as { code?: string })?.code;
  }
}
