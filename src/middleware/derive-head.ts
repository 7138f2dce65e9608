/**
 * How a middleware changes the request view: a copy of the head with some fields replaced,
 * handed down in a HeadDecorator. The engine's head is never mutated (the connection, the
 * access log and the error pages keep reading it).
 *
 * Every derived head remembers the head the engine parsed (originalHead): templates render
 * {path}, {query}, {uri} and {header.NAME} from the request as the client sent it, whatever
 * strip_prefix or request_headers did before them. A middleware that derives a head itself
 * must use deriveHead() so the link is kept.
 */
import type { Exchange } from "../handler.ts";
import type { RequestHead } from "../http1/message-head.ts";
import { ExchangeDecorator } from "./decorator.ts";

const ORIGINAL = new WeakMap<RequestHead, RequestHead>();

/** A copy of `base` with `changes` applied, linked to base's original head. */
export function deriveHead(base: RequestHead, changes: Partial<RequestHead>): RequestHead {
  const h: RequestHead = { ...base, ...changes };
  ORIGINAL.set(h, ORIGINAL.get(base) ?? base);
  return h;
}

/** The head as the engine parsed it (the head itself when no middleware derived it). */
export function originalHead(head: RequestHead): RequestHead {
  return ORIGINAL.get(head) ?? head;
}

/** An exchange whose request view is `head`; everything else forwards. */
export class HeadDecorator extends ExchangeDecorator {
  constructor(
    inner: Exchange,
    private readonly derived: RequestHead,
  ) {
    super(inner);
  }
  override get head(): RequestHead {
    return this.derived;
  }
}
