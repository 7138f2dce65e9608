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

/**
 * A copy of `base` with `changes` applied (a field given as undefined is left as base has it),
 * linked to base's original head. Written out field by field: one object shape for every derived
 * head, where an object spread was a generic property copy per request (docs/performance.md,
 * "Cost of header rules"). A new RequestHead field must be added here (tests/unit/derive-head.test.ts).
 */
export function deriveHead(base: RequestHead, changes: Partial<RequestHead>): RequestHead {
  const h: Linked = {
    method: changes.method ?? base.method,
    target: changes.target ?? base.target,
    form: changes.form ?? base.form,
    path: changes.path ?? base.path,
    query: changes.query ?? base.query,
    minor: changes.minor ?? base.minor,
    headers: changes.headers ?? base.headers,
    host: changes.host ?? base.host,
    bodyKind: changes.bodyKind ?? base.bodyKind,
    contentLength: changes.contentLength ?? base.contentLength,
    keepAlive: changes.keepAlive ?? base.keepAlive,
    expectContinue: changes.expectContinue ?? base.expectContinue,
    connection: changes.connection ?? base.connection,
    upgrade: changes.upgrade !== undefined ? changes.upgrade : base.upgrade,
    headBytes: changes.headBytes ?? base.headBytes,
    configured: changes.configured ?? base.configured,
    mount: changes.mount ?? base.mount,
    httpVersion: changes.httpVersion ?? base.httpVersion,
    [ORIGINAL]: (base as Linked)[ORIGINAL] ?? base,
  };
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
