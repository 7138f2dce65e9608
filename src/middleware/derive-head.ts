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

/**
 * The link to the parsed head, as an own (enumerable) symbol property of every derived head
 * rather than a WeakMap entry per request: a spread of a derived head copies it, so the link
 * survives any number of derivations, and it costs no GC bookkeeping per request.
 */
const ORIGINAL: unique symbol = Symbol("originalHead");
type Linked = RequestHead & { readonly [ORIGINAL]?: RequestHead };

/** A copy of `base` with `changes` applied, linked to base's original head. */
export function deriveHead(base: RequestHead, changes: Partial<RequestHead>): RequestHead {
  const h: Linked = { ...base, ...changes, [ORIGINAL]: (base as Linked)[ORIGINAL] ?? base };
  return h;
}

/** The head as the engine parsed it (the head itself when no middleware derived it). */
export function originalHead(head: RequestHead): RequestHead {
  return (head as Linked)[ORIGINAL] ?? head;
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
