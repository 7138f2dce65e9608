/**
 * An exchange with no client: the background request of stale-while-revalidate (RFC 5861 §3).
 * The proxy handler answers it like any other; the FillingExchange around it stores the
 * result, and whatever reaches this sink is dropped.
 */
import type { Config } from "../../config/config.ts";
import type { BodySink, Exchange, ExchangeLogFields, HeaderPairs, ResponseHeaders, TunnelHandlers, TunnelSide } from "../../handler.ts";
import type { RequestHead } from "../../http1/message-head.ts";

export class DetachedExchange implements Exchange {
  readonly scheme: "http" | "https";
  readonly secure: boolean;
  readonly id: string;
  readonly clientIp: string;
  readonly localPort: number;
  readonly config: Config;
  readonly startedAt = performance.now();
  readonly log: ExchangeLogFields = {};
  responseStarted = false;
  readonly writeRoom = 64 * 1024;
  onDrain: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  private ended = false;

  constructor(
    from: Exchange,
    readonly head: RequestHead,
    private readonly done: () => void,
  ) {
    this.scheme = from.scheme;
    this.secure = from.secure;
    this.id = from.id;
    this.clientIp = from.clientIp;
    this.localPort = from.localPort;
    this.config = from.config;
  }

  readBody(sink: BodySink): void {
    sink.end(null);
  }
  resumeBody(): void {}
  respond(_status: number, _headers: ResponseHeaders, _body?: Uint8Array | string | null): void {
    this.responseStarted = true;
    this.finish();
  }
  startResponse(_status: number, _headers: ResponseHeaders, _length: number | null): void {
    this.responseStarted = true;
  }
  write(_chunk: Uint8Array): boolean {
    return true;
  }
  end(_trailers?: HeaderPairs): void {
    this.finish();
  }
  informational(): void {}
  sendError(_status: number, _code?: string): void {
    this.finish();
  }
  abort(_code?: string): void {
    this.finish();
  }
  cork(): void {}
  uncork(): void {}
  upgrade(_headers: HeaderPairs, _handlers: TunnelHandlers): TunnelSide {
    throw new Error("a background revalidation cannot upgrade");
  }
  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.done();
  }
}
