/**
 * `request_headers` and `response_headers` of a route: remove, then set (replaces every field
 * of that name), then add; names keep the case written in the config, matching is ASCII
 * case-insensitive. Values are templates rendered per request (src/config/template.ts) and
 * passed through safeFieldValue(); a rule whose value renders empty adds nothing (so
 * `X-User = "{cookie.user}"` is simply absent without the cookie; a `set` still removes the
 * client's field).
 *
 * Fields a rule never touches (skipped here defensively; the config validator rejects them):
 *  - request:  Content-Length, Transfer-Encoding, Connection (the framing the engine already
 *    applied, and the hop-by-hop list). Host can be set (add = set: one Host only) but not
 *    removed, and only to a value that is a valid Host (uri-host [":" port]); the head's
 *    `host` follows, so the proxy forwards it.
 *  - response: Content-Length, Transfer-Encoding, Connection (framing) and Date, Server,
 *    X-Request-ID (the engine writes them last on every response). On a 101 also Upgrade.
 *    On error pages also Content-Type (the engine's page sets its own).
 * Response rules apply to every response the route's handler makes (respond, startResponse,
 * sendError, upgrade); 1xx informational responses and the responses the engine makes itself
 * (timeouts, 421/404 before a route is chosen) pass unchanged.
 */
import type { HeaderRules, Template } from "../../config/config.ts";
import { renderTemplate, type TemplateContext } from "../../config/template.ts";
import type { Exchange, HeaderPairs, ResponseHeaders, TunnelHandlers, TunnelSide } from "../../handler.ts";
import { asciiLower } from "../../http1/field-syntax.ts";
import { HeaderList } from "../../http1/header-list.ts";
import { validHost } from "../../http1/message-parser.ts";
import { headerPairsOf } from "../../http1/serialize.ts";
import { ExchangeDecorator, type Middleware } from "../decorator.ts";
import { deriveHead, HeadDecorator } from "../derive-head.ts";
import { safeFieldValue, templateContext } from "../template-context.ts";

interface Rule {
  readonly name: string;
  readonly lower: string;
  readonly value: Template;
}

interface CompiledRules {
  readonly remove: ReadonlySet<string>;
  readonly set: readonly Rule[];
  readonly add: readonly Rule[];
  /** Every lowercase name the rules touch, for a quick "nothing to do" check. */
  readonly touched: ReadonlySet<string>;
  /**
   * Names the rules `set`: every field of that name is then the operator's, so the proxy may
   * trust it (RequestHead.configured). Not `add`: the client's own copies stay beside it.
   */
  readonly configured: ReadonlySet<string>;
}

const REQUEST_PROTECTED: ReadonlySet<string> = new Set(["content-length", "transfer-encoding", "connection"]);
const RESPONSE_PROTECTED: ReadonlySet<string> = new Set(["content-length", "transfer-encoding", "connection", "date", "server", "x-request-id"]);
const UPGRADE_PROTECTED: ReadonlySet<string> = new Set([...RESPONSE_PROTECTED, "upgrade"]);
const ERROR_PAGE_PROTECTED: ReadonlySet<string> = new Set([...RESPONSE_PROTECTED, "content-type"]);

function compile(rules: HeaderRules, isProtected: ReadonlySet<string>, request: boolean): CompiledRules {
  const keep = (lower: string, op: "remove" | "set" | "add"): boolean => {
    if (isProtected.has(lower)) return false;
    if (request && lower === "host" && op === "remove") return false;
    return true;
  };
  const toRule = ([name, value]: readonly [string, Template]): Rule => ({ name, lower: asciiLower(name), value });
  const remove = new Set(rules.remove.map(asciiLower).filter((l) => keep(l, "remove")));
  const set = rules.set.map(toRule).filter((r) => keep(r.lower, "set"));
  // A request has one Host: adding one replaces it.
  const add = rules.add.map(toRule).filter((r) => keep(r.lower, "add"));
  if (request) {
    for (let i = add.length - 1; i >= 0; i--) if (add[i]!.lower === "host") set.push(...add.splice(i, 1));
  }
  const configured = new Set<string>(set.map((r) => r.lower));
  const touched = new Set<string>([...remove, ...configured, ...add.map((r) => r.lower)]);
  return { remove, set, add, touched, configured };
}

type Entry = [name: string, value: string, lower: string];

/**
 * The rules applied to `entries` (in place order kept for untouched fields). `skip` names
 * fields this particular response must keep as they are. `hostCheck`: a Host value must be a
 * valid Host or the rule is dropped. Returns the new list.
 */
function applyRules(entries: Entry[], r: CompiledRules, ctx: TemplateContext, skip: ReadonlySet<string> | null, hostCheck: boolean): Entry[] {
  let out = entries;
  if (r.remove.size > 0) out = out.filter((e) => !r.remove.has(e[2]) || (skip !== null && skip.has(e[2])));
  for (const rule of r.set) {
    if (skip !== null && skip.has(rule.lower)) continue;
    const v = safeFieldValue(renderTemplate(rule.value, ctx));
    if (hostCheck && rule.lower === "host" && !validHost(v)) continue;
    out = out.filter((e) => e[2] !== rule.lower);
    if (v !== "") out.push([rule.name, v, rule.lower]);
  }
  for (const rule of r.add) {
    if (skip !== null && skip.has(rule.lower)) continue;
    const v = safeFieldValue(renderTemplate(rule.value, ctx));
    if (v !== "") out.push([rule.name, v, rule.lower]);
  }
  return out;
}

/** request_headers: the handlers below see a head with the rules applied (see the module comment). */
export function requestHeaders(rules: HeaderRules): Middleware {
  const r = compile(rules, REQUEST_PROTECTED, true);
  return (next) => {
    if (r.touched.size === 0) return next;
    return (ex) => {
      const head = ex.head;
      const hl = head.headers;
      const entries: Entry[] = [];
      for (let i = 0; i < hl.names.length; i++) entries.push([hl.names[i]!, hl.values[i]!, hl.lowerNames[i]!]);
      const out = applyRules(entries, r, templateContext(ex), null, true);
      const headers = new HeaderList();
      let host = head.host;
      for (const [name, value, lower] of out) {
        headers.add(name, value, lower);
        if (lower === "host") host = value;
      }
      next(new HeadDecorator(ex, deriveHead(head, { headers, host, configured: r.configured })));
    };
  };
}

function toEntries(h: ResponseHeaders | HeaderPairs): Entry[] {
  const pairs = Array.isArray(h) ? (h as HeaderPairs) : headerPairsOf(h as ResponseHeaders);
  const out: Entry[] = [];
  for (const p of pairs) out.push([p[0], p[1], asciiLower(p[0])]);
  return out;
}

function toPairs(entries: Entry[]): [string, string][] {
  return entries.map((e) => [e[0], e[1]]);
}

class ResponseHeadersExchange extends ExchangeDecorator {
  constructor(
    inner: Exchange,
    private readonly rules: CompiledRules,
  ) {
    super(inner);
  }
  private apply(h: ResponseHeaders | HeaderPairs, skip: ReadonlySet<string>): [string, string][] {
    return toPairs(applyRules(toEntries(h), this.rules, templateContext(this.inner), skip, false));
  }
  override respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    this.inner.respond(status, this.apply(headers, RESPONSE_PROTECTED), body);
  }
  override startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    this.inner.startResponse(status, this.apply(headers, RESPONSE_PROTECTED), length);
  }
  override sendError(status: number, code?: string, headers?: HeaderPairs): void {
    this.inner.sendError(status, code, this.apply(headers ?? [], ERROR_PAGE_PROTECTED));
  }
  override upgrade(headers: HeaderPairs, handlers: TunnelHandlers): TunnelSide {
    return this.inner.upgrade(this.apply(headers, UPGRADE_PROTECTED), handlers);
  }
}

/** response_headers: the rules are applied to the response head the handlers below produce. */
export function responseHeaders(rules: HeaderRules): Middleware {
  const r = compile(rules, RESPONSE_PROTECTED, false);
  return (next) => {
    if (r.touched.size === 0) return next;
    return (ex) => next(new ResponseHeadersExchange(ex, r));
  };
}
