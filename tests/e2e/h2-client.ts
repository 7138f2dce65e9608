/**
 * A raw HTTP/2 client for tests: Bun TCP/TLS socket, our frame codec, our HPACK. It sends
 * whatever bytes a test wants (including broken ones) and records every frame the server
 * sends, decoding field blocks in order so the HPACK state stays in sync.
 */
import { encodeFrame, encodeHeaders, encodeSettings, type Frame, FrameReader, FrameType, Flags, CLIENT_PREFACE, SETTINGS_ACK } from "../../src/http2/frames.ts";
import { HpackDecoder, HpackEncoder } from "../../src/http2/hpack.ts";

export interface Received {
  readonly frame: Frame;
  /** Decoded fields of a HEADERS frame (with its CONTINUATIONs). */
  readonly fields?: [string, string][];
}

export interface Response {
  status: number;
  headers: [string, string][];
  body: Buffer;
  trailers: [string, string][] | null;
  reset: number | null;
}

export class H2Client {
  readonly received: Received[] = [];
  private readonly reader = new FrameReader(1 << 24);
  private readonly decoder = new HpackDecoder({ maxTableSize: 4096, maxHeaderListSize: 1 << 20 });
  readonly encoder = new HpackEncoder({ huffman: true });
  private waiters: (() => void)[] = [];
  private pendingBlock: { frame: Frame; parts: Uint8Array[] } | null = null;
  closed = false;
  /** The server ended the connection with this error text, if its frames could not be parsed. */
  parseError: string | null = null;
  private nextId = 1;
  /** Our send windows (we respect the server's flow control when sending bodies). */
  private connWindow = 65535;
  private initialWindow = 65535;
  private readonly streamWindows = new Map<number, number>();
  /** Auto-acknowledge SETTINGS and PING (off for tests that stop reading). */
  autoAck = true;
  /** Auto-credit received DATA so long bodies flow. */
  autoWindow = true;
  bytesIn = 0;

  private constructor(readonly socket: import("bun").Socket<unknown>) {}

  static async connect(port: number, opts: { tls?: boolean; servername?: string; preface?: boolean; settings?: [number, number][]; alpn?: string[] } = {}): Promise<H2Client> {
    let client!: H2Client;
    let shaken: () => void = () => {};
    const handshake = new Promise<void>((r) => (shaken = r));
    const socket = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      ...(opts.tls ? { tls: { rejectUnauthorized: false, serverName: opts.servername ?? "a.example", ALPNProtocols: Buffer.from([2, 104, 50]) } as never } : {}),
      socket: {
        // Bun's TLS client takes no bytes before the handshake is done (write returns 0).
        handshake() {
          shaken();
        },
        data(_s, chunk: Buffer) {
          client.onData(chunk);
        },
        close() {
          client.closed = true;
          client.wake();
        },
        end() {
          client.closed = true;
          client.wake();
        },
        error() {
          client.closed = true;
          client.wake();
        },
      },
    });
    client = new H2Client(socket as never);
    if (opts.tls) await Promise.race([handshake, Bun.sleep(5000)]);
    if (opts.preface !== false) client.send(Buffer.concat([CLIENT_PREFACE, encodeSettings(opts.settings ?? [])]));
    return client;
  }

  private onData(chunk: Buffer): void {
    this.bytesIn += chunk.byteLength;
    this.reader.push(chunk);
    try {
      for (let f = this.reader.next(); f !== null; f = this.reader.next()) this.onFrame(f);
    } catch (e) {
      this.parseError = String(e);
    }
    this.wake();
  }

  private onFrame(f: Frame): void {
    if (this.pendingBlock !== null) {
      this.pendingBlock.parts.push(f.payload);
      if ((f.flags & Flags.END_HEADERS) !== 0) {
        const pb = this.pendingBlock;
        this.pendingBlock = null;
        this.received.push({ frame: pb.frame, fields: this.decoder.decode(Buffer.concat(pb.parts)) ?? [] });
      }
      return;
    }
    if (f.type === FrameType.HEADERS) {
      if ((f.flags & Flags.END_HEADERS) === 0) {
        this.pendingBlock = { frame: f, parts: [f.payload] };
        return;
      }
      this.received.push({ frame: f, fields: this.decoder.decode(f.payload) ?? [] });
      return;
    }
    this.received.push({ frame: f });
    if (f.type === FrameType.WINDOW_UPDATE) {
      if (f.streamId === 0) this.connWindow += f.increment!;
      else this.streamWindows.set(f.streamId, (this.streamWindows.get(f.streamId) ?? this.initialWindow) + f.increment!);
    }
    if (f.type === FrameType.SETTINGS && !(f.flags & Flags.ACK)) for (const [k, v] of f.settings!) if (k === 4) this.initialWindow = v;
    if (this.autoAck && f.type === FrameType.SETTINGS && (f.flags & Flags.ACK) === 0) this.send(SETTINGS_ACK);
    if (this.autoWindow && f.type === FrameType.DATA && f.length > 0) {
      this.send(Buffer.concat([windowUpdate(0, f.length), ...(f.flags & Flags.END_STREAM ? [] : [windowUpdate(f.streamId, f.length)])]));
    }
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(bytes: Uint8Array): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Wait until pred holds (checked on every received chunk), or fail after timeoutMs. */
  async until<T>(pred: () => T | undefined | null | false, timeoutMs = 5000, what = "condition"): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${this.describe()}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  describe(): string {
    return this.received.map((r) => `${typeName(r.frame.type)}(${r.frame.streamId}${r.frame.errorCode !== undefined ? "," + r.frame.errorCode : ""})`).join(" ") + (this.closed ? " <closed>" : "");
  }

  /** The first GOAWAY received. */
  goaway(): Frame | undefined {
    return this.received.find((r) => r.frame.type === FrameType.GOAWAY)?.frame;
  }

  /** Resolves with the GOAWAY error code, or -1 for a close without GOAWAY. */
  async connectionError(timeoutMs = 5000): Promise<number> {
    await this.until(() => this.goaway() !== undefined || this.closed, timeoutMs, "GOAWAY or close");
    return this.goaway()?.errorCode ?? -1;
  }

  /** RST_STREAM code for a stream (waits). */
  async streamReset(id: number, timeoutMs = 5000): Promise<number> {
    const f = await this.until(() => this.received.find((r) => r.frame.type === FrameType.RST_STREAM && r.frame.streamId === id)?.frame, timeoutMs, `RST_STREAM on ${id}`);
    return f.errorCode!;
  }

  /** A stream error or a connection error, whichever the server chose (both allowed where a test says so). */
  async streamOrConnectionError(id: number, timeoutMs = 5000): Promise<{ kind: "stream" | "connection"; code: number }> {
    await this.until(() => this.received.some((r) => r.frame.type === FrameType.RST_STREAM && r.frame.streamId === id) || this.goaway() || this.closed, timeoutMs, "error");
    const rst = this.received.find((r) => r.frame.type === FrameType.RST_STREAM && r.frame.streamId === id);
    if (rst) return { kind: "stream", code: rst.frame.errorCode! };
    return { kind: "connection", code: this.goaway()?.errorCode ?? -1 };
  }

  headersFrame(id: number, fields: [string, string][], endStream: boolean, endHeaders = true): Uint8Array {
    const block = this.encoder.encode(fields);
    return encodeFrame(FrameType.HEADERS, (endStream ? Flags.END_STREAM : 0) | (endHeaders ? Flags.END_HEADERS : 0), id, block);
  }

  /** Start a request; returns its stream id. */
  request(path: string, opts: { method?: string; headers?: [string, string][]; body?: Uint8Array | string; authority?: string; scheme?: string } = {}): number {
    const id = this.nextId;
    this.nextId += 2;
    const fields: [string, string][] = [
      [":method", opts.method ?? "GET"],
      [":scheme", opts.scheme ?? "http"],
      [":authority", opts.authority ?? "localhost"],
      [":path", path],
      ...(opts.headers ?? []),
    ];
    const body = typeof opts.body === "string" ? Buffer.from(opts.body) : opts.body;
    this.send(encodeHeaders(id, this.encoder.encode(fields), body === undefined, 16384));
    if (body !== undefined) void this.sendBody(id, body);
    return id;
  }

  /** Send a body as DATA frames within the server's windows (§6.9). */
  async sendBody(id: number, body: Uint8Array): Promise<void> {
    let off = 0;
    do {
      const win = () => Math.min(this.connWindow, this.streamWindows.get(id) ?? this.initialWindow);
      if (body.byteLength > 0 && win() <= 0) await this.until(() => win() > 0 || this.closed, 10_000, `window for ${id}`);
      if (this.closed) return;
      const n = Math.min(16384, body.byteLength - off, win());
      const last = off + n >= body.byteLength;
      this.send(encodeFrame(FrameType.DATA, last ? Flags.END_STREAM : 0, id, body.subarray(off, off + n)));
      this.connWindow -= n;
      this.streamWindows.set(id, (this.streamWindows.get(id) ?? this.initialWindow) - n);
      off += n;
    } while (off < body.byteLength);
  }

  /** Stream ids are allocated by request(); tests sending raw frames take one here. */
  takeId(): number {
    const id = this.nextId;
    this.nextId += 2;
    return id;
  }

  /** Collect a stream's response (waits for END_STREAM or RST_STREAM). */
  async response(id: number, timeoutMs = 10_000): Promise<Response> {
    await this.until(
      () => this.received.some((r) => r.frame.streamId === id && ((r.frame.flags & Flags.END_STREAM && (r.frame.type === FrameType.DATA || r.frame.type === FrameType.HEADERS)) || r.frame.type === FrameType.RST_STREAM)) || this.closed,
      timeoutMs,
      `response on stream ${id}`,
    );
    const mine = this.received.filter((r) => r.frame.streamId === id);
    const heads = mine.filter((r) => r.frame.type === FrameType.HEADERS && r.fields);
    const final = heads.find((h) => Number(h.fields!.find((f) => f[0] === ":status")?.[1] ?? 0) >= 200);
    const trailers = heads.length > 1 && heads[heads.length - 1] !== final ? heads[heads.length - 1]!.fields! : null;
    const body = Buffer.concat(mine.filter((r) => r.frame.type === FrameType.DATA).map((r) => r.frame.payload));
    const rst = mine.find((r) => r.frame.type === FrameType.RST_STREAM);
    return {
      status: Number(final?.fields!.find((f) => f[0] === ":status")?.[1] ?? 0),
      headers: final?.fields ?? [],
      body,
      trailers,
      reset: rst ? rst.frame.errorCode! : null,
    };
  }

  close(): void {
    if (!this.closed) this.socket.end();
    this.closed = true;
  }
}

export function windowUpdate(id: number, inc: number): Uint8Array {
  return encodeFrame(FrameType.WINDOW_UPDATE, 0, id, Uint8Array.from([(inc >>> 24) & 0x7f, (inc >>> 16) & 0xff, (inc >>> 8) & 0xff, inc & 0xff]));
}

export function header(r: Response, name: string): string | undefined {
  return r.headers.find((h) => h[0] === name)?.[1];
}

function typeName(t: number): string {
  return Object.entries(FrameType).find(([, v]) => v === t)?.[0] ?? `0x${t.toString(16)}`;
}
