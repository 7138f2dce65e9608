/**
 * Adds our Cache-Status entry (RFC 9211) to a response the cache did not handle: requests it
 * steps aside for (fwd=bypass) and unsafe methods (fwd=method, see invalidate.ts).
 */
import type { Exchange, HeaderPairs, ResponseHeaders } from "../../handler.ts";
import { headerPairsOf } from "../../http1/serialize.ts";
import { ExchangeDecorator } from "../decorator.ts";

export class CacheStatusExchange extends ExchangeDecorator {
  constructor(
    inner: Exchange,
    private readonly value: string,
  ) {
    super(inner);
  }
  protected withStatus(headers: ResponseHeaders, status: number): [string, string][] {
    const out = headerPairsOf(headers);
    out.push(["Cache-Status", `${this.value}; fwd-status=${status}`]);
    return out;
  }
  override respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    this.inner.respond(status, this.withStatus(headers, status), body);
  }
  override startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    this.inner.startResponse(status, this.withStatus(headers, status), length);
  }
  override sendError(status: number, code?: string, headers?: HeaderPairs): void {
    this.inner.sendError(status, code, [...(headers ?? []), ["Cache-Status", `${this.value}; fwd-status=${status}`]]);
  }
}
