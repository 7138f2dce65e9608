/**
 * The forwarding base every middleware builds on (after undici's DecoratorHandler): an Exchange
 * that passes each call to the one it wraps. A middleware subclasses it and overrides only what
 * it changes: the request view (`head`), the response head (`respond`, `startResponse`,
 * `sendError`), or the body stream. Handlers below it cannot tell the difference.
 *
 *   const withCors: Middleware = (next) => (ex) => next(new AddCors(ex));
 *
 * Callbacks the handler sets (onDrain, onAbort) are stored on the wrapped exchange, so the
 * engine calls them directly: a decorator costs one object per request on the routes that use it.
 */
import type { ClientCert } from "../tls/client-cert.ts";
import type { Config } from "../config/config.ts";
import type { BodySink, Exchange, ExchangeLogFields, Handler, HeaderPairs, ResponseHeaders, TunnelHandlers, TunnelSide } from "../handler.ts";
import type { RequestHead } from "../http1/message-head.ts";

export type Middleware = (next: Handler) => Handler;

/** Wrap `terminal` in `middlewares`, the first one outermost (it sees the request first and the response last). */
export function compose(middlewares: readonly Middleware[], terminal: Handler): Handler {
  let h = terminal;
  for (let i = middlewares.length - 1; i >= 0; i--) h = middlewares[i]!(h);
  return h;
}

export class ExchangeDecorator implements Exchange {
  constructor(protected readonly inner: Exchange) {}

  get head(): RequestHead {
    return this.inner.head;
  }
  get scheme(): "http" | "https" {
    return this.inner.scheme;
  }
  get secure(): boolean {
    return this.inner.secure;
  }
  get tlsClientCert(): ClientCert | null | undefined {
    return this.inner.tlsClientCert;
  }
  get id(): string {
    return this.inner.id;
  }
  get clientIp(): string {
    return this.inner.clientIp;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get config(): Config {
    return this.inner.config;
  }
  get startedAt(): number {
    return this.inner.startedAt;
  }
  get log(): ExchangeLogFields {
    return this.inner.log;
  }
  get responseStarted(): boolean {
    return this.inner.responseStarted;
  }
  get writeRoom(): number {
    return this.inner.writeRoom;
  }
  get onDrain(): (() => void) | null {
    return this.inner.onDrain;
  }
  set onDrain(f: (() => void) | null) {
    this.inner.onDrain = f;
  }
  get onAbort(): (() => void) | null {
    return this.inner.onAbort;
  }
  set onAbort(f: (() => void) | null) {
    this.inner.onAbort = f;
  }

  readBody(sink: BodySink): void {
    this.inner.readBody(sink);
  }
  resumeBody(): void {
    this.inner.resumeBody();
  }
  respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    this.inner.respond(status, headers, body);
  }
  startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    this.inner.startResponse(status, headers, length);
  }
  write(chunk: Uint8Array): boolean {
    return this.inner.write(chunk);
  }
  end(trailers?: HeaderPairs): void {
    this.inner.end(trailers);
  }
  informational(status: number, headers: HeaderPairs): void {
    this.inner.informational(status, headers);
  }
  sendError(status: number, code?: string, headers?: HeaderPairs): void {
    this.inner.sendError(status, code, headers);
  }
  abort(code?: string): void {
    this.inner.abort(code);
  }
  cork(): void {
    this.inner.cork();
  }
  uncork(): void {
    this.inner.uncork();
  }
  upgrade(headers: HeaderPairs, handlers: TunnelHandlers): TunnelSide {
    return this.inner.upgrade(headers, handlers);
  }
}
