/**
 * Backends and a client for the proxy end-to-end tests. Everything runs inside the test process
 * on loopback; dreamserver itself runs as a child process (harness.ts).
 *
 * - rawBackend(script): a Bun.listen server whose every connection is driven byte by byte by an
 *   async script. It records the exact bytes each connection received and how many connections
 *   it accepted, so tests can assert what went over the wire to the upstream.
 * - httpBackend(fetch): a plain Bun.serve backend, for bulk transfers.
 * - Client: a raw TCP client with a small, independent HTTP/1.1 response reader (not our parser),
 *   which waits exactly as long as a response needs instead of for an idle timeout.
 *
 * Every wait is bounded: a test never hangs, it fails with a message saying what it waited for.
 */
import type { Socket, TCPSocketListener } from "bun";
import { createHash, type Hash } from "node:crypto";
import net from "node:net";

export const DEFAULT_WAIT_MS = 3000;

// ---- a tiny independent HTTP/1.1 message reader -------------------------------------------

export interface Message {
  /** Request: method; response: "" */
  method: string;
  /** Request: target; response: "" */
  target: string;
  /** Response status (0 for requests). */
  status: number;
  reason: string;
  /** "HTTP/1.1" / "HTTP/1.0" */
  version: string;
  startLine: string;
  /** Field lines exactly as received (name case kept), in order. */
  headers: [string, string][];
  /** First value of a field (case-insensitive). */
  header(name: string): string | undefined;
  /** Every value of a field (case-insensitive), in order. */
  all(name: string): string[];
  /** Decoded body (chunked framing removed). */
  body: Buffer;
  /** Trailer fields of a chunked body. */
  trailers: [string, string][];
  /** How the body was framed on the wire. */
  framing: "none" | "length" | "chunked" | "close";
  /** The exact bytes of the whole message (head + framed body). */
  raw: Buffer;
}

function parseHead(head: string): { start: string; headers: [string, string][] } {
  const lines = head.split("\r\n");
  const headers = lines.slice(1).map((l): [string, string] => {
    const c = l.indexOf(":");
    return [l.slice(0, c), l.slice(c + 1).trim()];
  });
  return { start: lines[0]!, headers };
}

/**
 * Try to read one complete message from buf. Returns the message and the bytes it used, or null
 * if more bytes are needed. `eof` = the peer closed: a close-delimited body ends there.
 * For responses, `method` is the request method (HEAD responses have no body).
 */
export function readMessage(buf: Buffer, kind: "request" | "response", method = "GET", eof = false): { msg: Message; used: number } | null {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const { start, headers } = parseHead(buf.subarray(0, end).toString("latin1"));
  const header = (n: string) => headers.find((h) => h[0].toLowerCase() === n.toLowerCase())?.[1];
  const all = (n: string) => headers.filter((h) => h[0].toLowerCase() === n.toLowerCase()).map((h) => h[1]);
  let m: RegExpExecArray | null;
  let reqMethod = "";
  let target = "";
  let status = 0;
  let reason = "";
  let version: string;
  if (kind === "request") {
    m = /^(\S+) (\S+) (HTTP\/1\.[01])$/.exec(start);
    if (!m) throw new Error(`backend got a bad request line ${JSON.stringify(start)}`);
    [reqMethod, target, version] = [m[1]!, m[2]!, m[3]!];
  } else {
    m = /^(HTTP\/1\.[01]) (\d{3}) ?(.*)$/.exec(start);
    if (!m) throw new Error(`client got a bad status line ${JSON.stringify(start)}`);
    [version, status, reason] = [m[1]!, Number(m[2]), m[3]!];
  }
  let pos = end + 4;
  let body: Buffer = Buffer.alloc(0);
  const trailers: [string, string][] = [];
  let framing: Message["framing"];
  const te = header("transfer-encoding");
  const cl = header("content-length");
  const bodiless = kind === "response" && (status < 200 || status === 204 || status === 304 || method === "HEAD");
  if (bodiless) {
    framing = "none";
  } else if (te !== undefined && /chunked\s*$/i.test(te)) {
    framing = "chunked";
    const parts: Buffer[] = [];
    for (;;) {
      const le = buf.indexOf("\r\n", pos);
      if (le < 0) return null;
      const size = parseInt(buf.subarray(pos, le).toString("latin1").split(";")[0]!, 16);
      if (!Number.isFinite(size)) throw new Error(`bad chunk size line ${JSON.stringify(buf.subarray(pos, le).toString("latin1"))}`);
      pos = le + 2;
      if (size === 0) {
        // trailer section: field lines until an empty line
        for (;;) {
          const tl = buf.indexOf("\r\n", pos);
          if (tl < 0) return null;
          const line = buf.subarray(pos, tl).toString("latin1");
          pos = tl + 2;
          if (line === "") break;
          const c = line.indexOf(":");
          trailers.push([line.slice(0, c), line.slice(c + 1).trim()]);
        }
        break;
      }
      if (buf.length < pos + size + 2) return null;
      parts.push(buf.subarray(pos, pos + size));
      if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a) throw new Error("missing CRLF after chunk data");
      pos += size + 2;
    }
    body = Buffer.concat(parts);
  } else if (cl !== undefined) {
    framing = "length";
    const n = Number(cl);
    if (buf.length < pos + n) return null;
    body = buf.subarray(pos, pos + n);
    pos += n;
  } else if (kind === "request") {
    framing = "none";
  } else {
    framing = "close";
    if (!eof) return null;
    body = buf.subarray(pos);
    pos = buf.length;
  }
  const msg: Message = { method: reqMethod, target, status, reason, version, startLine: start, headers, header, all, body, trailers, framing, raw: buf.subarray(0, pos) };
  return { msg, used: pos };
}

// ---- deferred helper ---------------------------------------------------------------------

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(v: T): void;
  settled: boolean;
}
export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const d: Deferred<T> = {
    promise: new Promise<T>((r) => (resolve = r)),
    resolve: (v: T) => {
      d.settled = true;
      resolve(v);
    },
    settled: false,
  };
  return d;
}

/** Reject after ms with a message naming what we waited for. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

// ---- byte stream with bounded waits (shared by the backend connection and the client) ------

class ByteStream {
  /** Every byte received, in order. */
  protected chunks: Buffer[] = [];
  protected total = 0;
  /** Read cursor into the concatenation of chunks. */
  protected cursor = 0;
  private joined: Buffer | null = null;
  closed = false;
  /** How the peer ended the connection: "FIN", "close", or an error code ("ECONNRESET"). */
  endedBy: string | null = null;
  /** Date.now() when it ended. */
  endedAt = 0;
  readonly closedP = deferred();
  protected waiters: (() => void)[] = [];

  protected push(b: Buffer): void {
    this.chunks.push(b);
    this.total += b.length;
    this.joined = null;
    this.wake();
  }
  protected markClosed(how = "close"): void {
    if (this.closed) return;
    this.closed = true;
    this.endedBy = how;
    this.endedAt = Date.now();
    this.closedP.resolve();
    this.wake();
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** All bytes received so far. */
  received(): Buffer {
    if (!this.joined) {
      this.joined = Buffer.concat(this.chunks);
      this.chunks = [this.joined];
    }
    return this.joined;
  }
  get receivedBytes(): number {
    return this.total;
  }
  /** Bytes not yet consumed by a read. */
  unread(): Buffer {
    return this.received().subarray(this.cursor);
  }

  /** Wait until check(unread, closed) returns non-null; the value is returned. */
  async waitUntil<T>(check: (unread: Buffer, closed: boolean) => T | null, what: string, ms = DEFAULT_WAIT_MS): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = check(this.unread(), this.closed);
      if (v !== null) return v;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}; unread: ${JSON.stringify(this.unread().subarray(0, 300).toString("latin1"))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}; unread: ${JSON.stringify(this.unread().subarray(0, 300).toString("latin1"))}`);
      await within(
        new Promise<void>((r) => this.waiters.push(r)),
        left,
        what,
      ).catch(() => {});
    }
  }

  /** Wait until at least n bytes were received in total (cheap: no joining, for bulk tests). */
  async waitReceived(n: number, ms = DEFAULT_WAIT_MS): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.total < n) {
      if (this.closed) throw new Error(`connection closed after ${this.total} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms with ${this.total} of ${n} bytes`);
      await within(new Promise<void>((r) => this.waiters.push(r)), left, `${n} bytes`).catch(() => {});
    }
  }

  /** Wait until the unread bytes contain `s`; consumes through it and returns what was consumed. */
  async readThrough(s: string | Buffer, ms = DEFAULT_WAIT_MS): Promise<Buffer> {
    const n = await this.waitUntil((u) => {
      const i = u.indexOf(s);
      return i < 0 ? null : i + Buffer.byteLength(s);
    }, `"${s.toString()}"`, ms);
    const out = this.unread().subarray(0, n);
    this.cursor += n;
    return out;
  }

  /** Wait for at least n unread bytes (or close) and consume them. */
  async readBytes(n: number, ms = DEFAULT_WAIT_MS): Promise<Buffer> {
    await this.waitUntil((u) => (u.length >= n ? true : null), `${n} bytes`, ms);
    const out = this.unread().subarray(0, n);
    this.cursor += n;
    return out;
  }

  /** Wait for any unread bytes (or close) and consume them all. */
  async readSome(ms = DEFAULT_WAIT_MS): Promise<Buffer> {
    await this.waitUntil((u, closed) => (u.length > 0 || closed ? true : null), "some bytes", ms);
    const out = this.unread();
    this.cursor += out.length;
    return out;
  }

  protected async readMsg(kind: "request" | "response", method: string, ms: number): Promise<Message> {
    const r = await this.waitUntil((u, closed) => readMessage(u, kind, method, closed), `a complete ${kind}`, ms);
    this.cursor += r.used;
    return r.msg;
  }

  /** Resolves when the peer closed (FIN or RST); false if still open after ms. */
  async waitClosed(ms = DEFAULT_WAIT_MS): Promise<boolean> {
    if (this.closed) return true;
    return within(this.closedP.promise.then(() => true), ms, "close").catch(() => false);
  }
}

// ---- raw scripted backend ------------------------------------------------------------------

export class BackendConn extends ByteStream {
  private pendingWrites: { data: Buffer; done: () => void }[] = [];
  /** The socket is gone (not merely half-closed by the peer: after a FIN we may still write). */
  socketClosed = false;
  constructor(
    readonly socket: Socket<BackendConn>,
    readonly index: number,
  ) {
    super();
  }
  onData(b: Buffer): void {
    this.push(Buffer.from(b));
  }
  /** Peer sent FIN: no more bytes to read, but we may still write and end. */
  onEnd(): void {
    this.markClosed("FIN");
  }
  onClose(): void {
    this.markClosed();
    this.socketClosed = true;
    for (const w of this.pendingWrites) w.done();
    this.pendingWrites = [];
  }
  onDrain(): void {
    while (this.pendingWrites.length) {
      const w = this.pendingWrites[0]!;
      const n = this.socket.write(w.data);
      if (n < 0) {
        this.onClose();
        return;
      }
      this.written += n;
      if (n < w.data.length) {
        w.data = w.data.subarray(n);
        return;
      }
      this.pendingWrites.shift();
      w.done();
    }
  }
  /** Bytes the kernel has taken from write() so far on this connection. */
  written = 0;

  /** Read one complete request (head + body); the cursor moves past it. */
  readRequest(ms = DEFAULT_WAIT_MS): Promise<Message> {
    return this.readMsg("request", "", ms);
  }
  /** Write bytes; resolves once the kernel took them all (Bun's write does not buffer). */
  write(data: string | Uint8Array): Promise<void> {
    if (this.socketClosed) return Promise.resolve();
    const buf = typeof data === "string" ? Buffer.from(data, "latin1") : Buffer.from(data);
    return new Promise((resolve) => {
      if (this.pendingWrites.length) {
        this.pendingWrites.push({ data: buf, done: resolve });
        return;
      }
      const n = this.socket.write(buf);
      if (n > 0) this.written += n;
      if (n < 0 || n === buf.length) return resolve();
      this.pendingWrites.push({ data: buf.subarray(n), done: resolve });
    });
  }
  /**
   * FIN but keep the socket (Bun's end() closes it at once, so the peer's own close would go
   * unseen): `closed` turns true when the peer closes its side too.
   */
  halfClose(): void {
    if (!this.socketClosed) this.socket.shutdown();
  }
  /** FIN (Bun closes the socket right away). */
  end(): void {
    if (!this.socketClosed) this.socket.end();
  }
  /** RST. */
  reset(): void {
    if (!this.socketClosed) this.socket.terminate();
  }
}

export interface RawBackend {
  readonly port: number;
  /** Connections accepted so far, in order. */
  readonly conns: BackendConn[];
  /** Errors thrown by scripts (a failed expectation inside a script shows up here). */
  readonly errors: Error[];
  /** Resolves when `n` connections were accepted (bounded). */
  accepted(n: number, ms?: number): Promise<void>;
  /**
   * Declare script errors this test expects (all of them when called without a matcher), so
   * stop() does not fail on them. Returns the errors matched so far, for asserting on.
   */
  allowErrors(match?: RegExp | ((e: Error) => boolean)): Error[];
  /** Script errors no allowErrors() matcher covers. */
  unexpectedErrors(): Error[];
  /**
   * Close the listener and every connection, then throw if a script failed unexpectedly: a
   * failed expectation inside a backend script (or a script that hit a closed connection while
   * waiting for a request) must fail the test, not vanish into `errors`.
   */
  stop(): void;
}

/**
 * A backend whose every accepted connection runs `script(conn)`. When the script returns the
 * connection is left as the script left it (call conn.end() to close). A script that throws
 * records the error and resets the connection.
 */
export function rawBackend(script: (c: BackendConn) => Promise<void> | void): RawBackend {
  const conns: BackendConn[] = [];
  const errors: Error[] = [];
  const allowed: ((e: Error) => boolean)[] = [];
  let stopped = false;
  let waiters: (() => void)[] = [];
  const listener: TCPSocketListener<BackendConn> = Bun.listen<BackendConn>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      binaryType: "buffer",
      open(socket) {
        const c = new BackendConn(socket, conns.length);
        socket.data = c;
        conns.push(c);
        const w = waiters;
        waiters = [];
        for (const f of w) f();
        (async () => script(c))().catch((e: unknown) => {
          // After stop() the listener closed every connection: a script still waiting fails by design.
          if (!stopped) errors.push(e instanceof Error ? e : new Error(String(e)));
          c.reset();
        });
      },
      data(socket, chunk) {
        socket.data?.onData(chunk as Buffer);
      },
      drain(socket) {
        socket.data?.onDrain();
      },
      end(socket) {
        socket.data?.onEnd();
      },
      close(socket) {
        socket.data?.onClose();
      },
      error(socket) {
        socket.data?.onClose();
      },
    },
  });
  const port = listener.port;
  return {
    port,
    conns,
    errors,
    async accepted(n: number, ms = DEFAULT_WAIT_MS) {
      const deadline = Date.now() + ms;
      while (conns.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`backend accepted ${conns.length} connections, expected ${n}`);
        await within(new Promise<void>((r) => waiters.push(r)), left, `${n} backend connections`).catch(() => {});
      }
    },
    allowErrors(match?: RegExp | ((e: Error) => boolean)) {
      const pred = match === undefined ? () => true : match instanceof RegExp ? (e: Error) => match.test(e.message) : match;
      allowed.push(pred);
      return errors.filter(pred);
    },
    unexpectedErrors() {
      return errors.filter((e) => !allowed.some((p) => p(e)));
    },
    stop() {
      if (stopped) return;
      stopped = true;
      listener.stop(true);
      const bad = errors.filter((e) => !allowed.some((p) => p(e)));
      if (bad.length) {
        throw new Error(`scripted backend: ${bad.length} unexpected script error(s) (use allowErrors() if expected):\n` + bad.map((e) => e.stack ?? e.message).join("\n---\n"));
      }
    },
  };
}

/** "HTTP/1.1 200 OK" response bytes with Content-Length. */
export function okResponse(body: string | Buffer = "ok", extra: [string, string][] = [], status = "200 OK"): Buffer {
  const b = typeof body === "string" ? Buffer.from(body) : body;
  const head = `HTTP/1.1 ${status}\r\n` + extra.map(([n, v]) => `${n}: ${v}\r\n`).join("") + `Content-Length: ${b.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), b]);
}

/** A keep-alive backend script: answer every request with respond(req) until the peer closes. */
export function serveEach(respond: (req: Message, c: BackendConn, n: number) => Buffer | string | Promise<Buffer | string>): (c: BackendConn) => Promise<void> {
  return async (c) => {
    for (let n = 0; ; n++) {
      let req: Message;
      try {
        req = await c.readRequest(30_000);
      } catch {
        return; // peer closed (or went idle): done
      }
      await c.write(await respond(req, c, n));
    }
  };
}

/** A free loopback port with nothing listening on it (connection refused). */
export function closedPort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

// ---- ordinary HTTP backend -------------------------------------------------------------

export interface HttpBackend {
  readonly port: number;
  stop(): void;
}
export function httpBackend(fetch: (req: Request) => Response | Promise<Response>): HttpBackend {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch, maxRequestBodySize: 200 * 1024 * 1024 });
  return {
    port: server.port!,
    stop: () => void server.stop(true),
  };
}

// ---- client ------------------------------------------------------------------------------

export class Client extends ByteStream {
  private constructor(readonly sock: net.Socket) {
    super();
    sock.on("data", (d: Buffer) => this.push(d));
    sock.on("end", () => this.markClosed("FIN"));
    sock.on("close", () => this.markClosed("close"));
    sock.on("error", (e: NodeJS.ErrnoException) => this.markClosed(e.code ?? e.message));
  }

  static connect(port: number): Promise<Client> {
    return within(
      new Promise<Client>((resolve, reject) => {
        const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
        s.once("connect", () => resolve(new Client(s)));
        s.once("error", reject);
      }),
      DEFAULT_WAIT_MS,
      "client connect",
    );
  }

  send(data: string | Buffer): void {
    this.sock.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** Read the next complete response (1xx are returned on their own). */
  readResponse(method = "GET", ms = DEFAULT_WAIT_MS): Promise<Message> {
    return this.readMsg("response", method, ms);
  }

  /** Read the next final (non-1xx) response, returning any 1xx seen before it too. */
  async readFinal(method = "GET", ms = DEFAULT_WAIT_MS): Promise<{ res: Message; interim: Message[] }> {
    const interim: Message[] = [];
    for (;;) {
      const r = await this.readResponse(method, ms);
      if (r.status >= 200 || r.status === 101) return { res: r, interim };
      interim.push(r);
    }
  }

  /** Stop reading from the socket (the kernel buffers fill, the peer is throttled). */
  pause(): void {
    this.sock.pause();
  }
  resume(): void {
    this.sock.resume();
  }
  /** Bytes accepted by write() that Node has not handed to the kernel yet. */
  get writeBacklog(): number {
    return this.sock.writableLength;
  }

  halfClose(): void {
    this.sock.end();
  }

  close(): void {
    this.sock.destroy();
  }
}

/** Send one request on a fresh connection and read the final response. */
export async function request(port: number, req: string | Buffer, method = "GET", ms = DEFAULT_WAIT_MS): Promise<Message> {
  const c = await Client.connect(port);
  try {
    c.send(req);
    return (await c.readFinal(method, ms)).res;
  } finally {
    c.close();
  }
}

// ---- streaming body hasher for the bulk tests (no quadratic buffering) -----------------------

/**
 * Reads one response from a socket stream and hashes its body as it arrives: Content-Length or
 * chunked. Keeps only what it needs, so 50 MiB cost no more than a few buffers.
 */
export async function hashResponse(port: number, requestBytes: Buffer, ms = 20_000): Promise<{ status: number; headers: [string, string][]; bytes: number; sha256: string; framing: "length" | "chunked" }> {
  const sock = net.connect({ port, host: "127.0.0.1" });
  const hash: Hash = createHash("sha256");
  return within(
    new Promise((resolve, reject) => {
      let head: { status: number; headers: [string, string][]; framing: "length" | "chunked"; remaining: number } | null = null;
      let pending: Buffer = Buffer.alloc(0);
      let bytes = 0;
      // chunked decoder state
      let chunkLeft = 0;
      let st: "size" | "data" | "crlf" | "trailers" | "done" = "size";
      const done = () => {
        sock.destroy();
        resolve({ status: head!.status, headers: head!.headers, bytes, sha256: hash.digest("hex"), framing: head!.framing });
      };
      sock.on("connect", () => sock.write(requestBytes));
      sock.on("error", reject);
      sock.on("close", () => reject(new Error(`closed after ${bytes} body bytes`)));
      sock.on("data", (d: Buffer) => {
        let buf: Buffer = pending.length ? Buffer.concat([pending, d]) : d;
        pending = Buffer.alloc(0);
        if (!head) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) {
            pending = buf;
            return;
          }
          const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
          const headers = lines.slice(1).map((l): [string, string] => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]);
          const get = (n: string) => headers.find((h) => h[0].toLowerCase() === n)?.[1];
          const status = Number(lines[0]!.slice(9, 12));
          const chunked = get("transfer-encoding") === "chunked";
          head = { status, headers, framing: chunked ? "chunked" : "length", remaining: chunked ? 0 : Number(get("content-length") ?? 0) };
          buf = buf.subarray(end + 4);
        }
        if (head.framing === "length") {
          const take = buf.subarray(0, head.remaining);
          hash.update(take);
          bytes += take.length;
          head.remaining -= take.length;
          if (head.remaining === 0) done();
          return;
        }
        let pos = 0;
        while (pos < buf.length && st !== "done") {
          if (st === "size" || st === "trailers") {
            const le = buf.indexOf("\r\n", pos);
            if (le < 0) break;
            const line = buf.subarray(pos, le).toString("latin1");
            pos = le + 2;
            if (st === "size") {
              chunkLeft = parseInt(line, 16);
              st = chunkLeft === 0 ? "trailers" : "data";
            } else if (line === "") st = "done";
          } else if (st === "data") {
            const take = buf.subarray(pos, pos + chunkLeft);
            hash.update(take);
            bytes += take.length;
            chunkLeft -= take.length;
            pos += take.length;
            if (chunkLeft === 0) st = "crlf";
          } else {
            if (buf.length - pos < 2) break;
            pos += 2;
            st = "size";
          }
        }
        if (st === "done") return done();
        pending = Buffer.from(buf.subarray(pos));
      });
    }),
    ms,
    "a hashed response",
  );
}

export function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/**
 * A client on Bun.connect for bulk transfers: node:net's client is ~3x slower for bulk writes in
 * Bun. Writes follow the socket's drain (Bun does not buffer) and `accepted` counts the bytes the
 * kernel took, so a test can see when the proxy stops reading from us.
 */
export class BulkClient extends ByteStream {
  private queue: Uint8Array[] = [];
  private off = 0;
  /** Bytes the kernel accepted from us so far. */
  accepted = 0;
  private sock!: Socket<BulkClient>;

  static connect(port: number): Promise<BulkClient> {
    const c = new BulkClient();
    return within(
      new Promise<BulkClient>((resolve, reject) => {
        Bun.connect<BulkClient>({
          hostname: "127.0.0.1",
          port,
          allowHalfOpen: true,
          data: c,
          socket: {
            binaryType: "buffer",
            open(s) {
              c.sock = s;
              resolve(c);
            },
            drain: () => c.pump(),
            data: (_s, d) => c.push(Buffer.from(d)),
            end: () => c.markClosed("FIN"),
            close: (_s, e) => c.markClosed(e ? ((e as NodeJS.ErrnoException).code ?? "close") : "close"),
            error: (_s, e) => c.markClosed((e as NodeJS.ErrnoException).code ?? e.message),
            connectError: (_s, e) => reject(e),
          },
        }).catch(reject);
      }),
      DEFAULT_WAIT_MS,
      "bulk client connect",
    );
  }

  /** Queue bytes; they go out as fast as the peer reads them. */
  send(...parts: Uint8Array[]): void {
    this.queue.push(...parts);
    this.pump();
  }

  private pump(): void {
    while (this.queue.length) {
      const p = this.queue[0]!;
      const n = this.sock.write(p.subarray(this.off, Math.min(p.length, this.off + 4 * 1024 * 1024)));
      if (n <= 0) return;
      this.accepted += n;
      this.off += n;
      if (this.off >= p.length) {
        this.queue.shift();
        this.off = 0;
      }
    }
  }

  readResponse(method = "GET", ms = DEFAULT_WAIT_MS): Promise<Message> {
    return this.readMsg("response", method, ms);
  }
  pause(): void {
    this.sock.pause();
  }
  resume(): void {
    this.sock.resume();
  }
  close(): void {
    if (!this.closed) this.sock.terminate();
  }
}

/** Send a (large) request on a fresh BulkClient and read one response. */
export async function bulkRequest(port: number, parts: Uint8Array[], method = "POST", ms = 20_000): Promise<Message> {
  const c = await BulkClient.connect(port);
  try {
    c.send(...parts);
    return await c.readResponse(method, ms);
  } finally {
    c.close();
  }
}
