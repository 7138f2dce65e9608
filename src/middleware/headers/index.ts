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
 *
 * Cost (issue 16: a realistic config must not cost more than 5 %): everything that does not
 * depend on the request is done once, when the route is built. A value without placeholders is
 * rendered and made safe at load; a rule set whose values are all constant resolves to one fixed
 * list of fields, and for the static handler's prepared header blocks (a cached file's head) to
 * one prepared block per file, cached beside it (WeakMap: it dies with the cache entry), so such
 * a response is written as bytes without being decoded to pairs. A template is rendered only
 * when its rule applies, and the template context reads the request only for the placeholders
 * used.
 */
import type { HeaderRules, Template } from "../../config/config.ts";
import { isLiteral, renderTemplate, type TemplateContext } from "../../config/template.ts";
import type { Exchange, HeaderPairs, PreparedHeaders, ResponseHeaders, TunnelHandlers, TunnelSide } from "../../handler.ts";
import { asciiLower } from "../../http1/field-syntax.ts";
import { HeaderList } from "../../http1/header-list.ts";
import { validHost } from "../../http1/message-parser.ts";
import { headerLines, isPrepared } from "../../http1/serialize.ts";
import { ExchangeDecorator, type Middleware } from "../decorator.ts";
import { deriveHead, HeadDecorator } from "../derive-head.ts";
import { safeFieldValue, templateContext } from "../template-context.ts";

interface Rule {
  readonly name: string;
  readonly lower: string;
  readonly value: Template;
  /** The value rendered and made safe at load when it has no placeholder, else null. */
  readonly literal: string | null;
  /** With a literal value: the field it appends, built once. */
  readonly field: Field | null;
}

/** A field the rules append: [name as configured, value, lowercase name]. */
type Field = readonly [name: string, value: string, lower: string];

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
  /**
   * Lowercase names whose existing fields go whatever the request: `remove` and every `set`
   * (a set replaces all copies, even when its value renders empty). On the request side a
   * `set` of Host with placeholders is decided per request (an invalid value drops the rule).
   */
  readonly drop: ReadonlySet<string>;
  /** The same names as lowercase latin1 bytes, to filter a prepared block without decoding it. */
  readonly dropBytes: readonly Uint8Array[];
  /** The request side has a Host `set` with placeholders (validHost per request). */
  readonly dynamicHost: boolean;
  /** Every value is constant: `fields` is the whole result. */
  readonly constant: boolean;
  /** When constant: the fields appended, in order (set, then add); empty values left out. */
  readonly fields: readonly Field[];
  /** When constant: `fields` as pairs and as serialised lines. */
  readonly pairs: HeaderPairs;
  readonly lines: Uint8Array;
  /** Prepared block in → prepared block out (constant rules) or the filtered block (else). */
  readonly preparedCache: WeakMap<Uint8Array, PreparedHeaders>;
  /** The last rendered values of the rules with placeholders, and the fields they gave. */
  readonly memo: FieldsMemo;
}

/**
 * resolveFields' result for the last rendered values: rules like `X-Real-IP = "{remote_ip}"`
 * render the same value for every request of a client, and the field list (an array and a
 * tuple per dynamic rule) is then reused instead of rebuilt. The list is never mutated.
 */
interface FieldsMemo {
  rendered: string[];
  fields: readonly Field[] | null;
}

const REQUEST_PROTECTED: ReadonlySet<string> = new Set(["content-length", "transfer-encoding", "connection"]);
const RESPONSE_PROTECTED: ReadonlySet<string> = new Set(["content-length", "transfer-encoding", "connection", "date", "server", "x-request-id"]);
const UPGRADE_PROTECTED: ReadonlySet<string> = new Set([...RESPONSE_PROTECTED, "upgrade"]);
const ERROR_PAGE_PROTECTED: ReadonlySet<string> = new Set([...RESPONSE_PROTECTED, "content-type"]);

/** Text of a template without placeholders (no request needed). */
function literalText(t: Template): string {
  let s = "";
  for (const p of t.parts) if ("text" in p) s += p.text;
  return s;
}

function compile(rules: HeaderRules, isProtected: ReadonlySet<string>, request: boolean): CompiledRules {
  const keep = (lower: string, op: "remove" | "set" | "add"): boolean => {
    if (isProtected.has(lower)) return false;
    if (request && lower === "host" && op === "remove") return false;
    return true;
  };
  const toRule = ([name, value]: readonly [string, Template]): Rule => {
    const lower = asciiLower(name);
    const literal = isLiteral(value) ? safeFieldValue(literalText(value)) : null;
    return { name, lower, value, literal, field: literal === null ? null : [name, literal, lower] };
  };
  const remove = new Set(rules.remove.map(asciiLower).filter((l) => keep(l, "remove")));
  let set = rules.set.map(toRule).filter((r) => keep(r.lower, "set"));
  // A request has one Host: adding one replaces it.
  const add = rules.add.map(toRule).filter((r) => keep(r.lower, "add"));
  if (request) {
    for (let i = add.length - 1; i >= 0; i--) if (add[i]!.lower === "host") set.push(...add.splice(i, 1));
    // A constant Host that is not a valid Host is dropped once here rather than per request.
    set = set.filter((r) => r.lower !== "host" || r.literal === null || validHost(r.literal));
  }
  const configured = new Set<string>(set.map((r) => r.lower));
  const touched = new Set<string>([...remove, ...configured, ...add.map((r) => r.lower)]);
  const dynamicHost = request && set.some((r) => r.lower === "host" && r.literal === null);
  const drop = new Set<string>([...remove, ...set.filter((r) => !(dynamicHost && r.lower === "host")).map((r) => r.lower)]);
  const constant = set.every((r) => r.literal !== null) && add.every((r) => r.literal !== null);
  const fields = constant ? resolveFields(set, add, null, request) : [];
  return {
    remove,
    set,
    add,
    touched,
    configured,
    drop,
    dropBytes: [...drop].map((l) => Buffer.from(l, "latin1")),
    dynamicHost,
    constant,
    fields,
    pairs: fields.map((f) => [f[0], f[1]] as const),
    lines: fieldLines(fields),
    preparedCache: new WeakMap(),
    memo: { rendered: [], fields: null },
  };
}

/**
 * The fields the rules append, in order: each `set` (a later set of the same name replaces an
 * earlier one), then each `add`; a value that renders empty adds nothing. `ctx` is asked only
 * for the values that have placeholders. `hostCheck`: a Host that is not a valid Host drops
 * its rule (the client's Host stays).
 */
function resolveFields(set: readonly Rule[], add: readonly Rule[], ctx: TemplateContext | null, hostCheck: boolean): Field[] {
  return resolveRendered(set, add, renderAll(set, add, ctx, []), hostCheck);
}

/** The raw rendered values of the rules with placeholders, set then add, into `into`. */
function renderAll(set: readonly Rule[], add: readonly Rule[], ctx: TemplateContext | null, into: string[]): string[] {
  let n = 0;
  for (const rule of set) if (rule.literal === null) into[n++] = renderTemplate(rule.value, ctx!);
  for (const rule of add) if (rule.literal === null) into[n++] = renderTemplate(rule.value, ctx!);
  into.length = n;
  return into;
}

/** resolveFields for a request, reusing the last result while the rendered values repeat (FieldsMemo). */
function resolveMemo(r: CompiledRules, ex: Exchange, hostCheck: boolean): readonly Field[] {
  const m = r.memo;
  const rendered = renderAll(r.set, r.add, templateContext(ex), SCRATCH);
  if (m.fields !== null && rendered.length === m.rendered.length) {
    let i = 0;
    while (i < rendered.length && rendered[i] === m.rendered[i]) i++;
    if (i === rendered.length) return m.fields;
  }
  const fields = resolveRendered(r.set, r.add, rendered, hostCheck);
  m.rendered = rendered.slice();
  m.fields = fields;
  return fields;
}
const SCRATCH: string[] = [];

/** resolveFields with the placeholder values already rendered (in renderAll's order). */
function resolveRendered(set: readonly Rule[], add: readonly Rule[], rendered: readonly string[], hostCheck: boolean): Field[] {
  let n = 0;
  const out: Field[] = [];
  for (const rule of set) {
    const v = rule.literal ?? safeFieldValue(rendered[n++]!);
    if (hostCheck && rule.lower === "host" && !validHost(v)) continue;
    for (let i = out.length - 1; i >= 0; i--) if (out[i]![2] === rule.lower) out.splice(i, 1);
    if (v !== "") out.push(rule.field ?? [rule.name, v, rule.lower]);
  }
  for (const rule of add) {
    const v = rule.literal ?? safeFieldValue(rendered[n++]!);
    if (v !== "") out.push(rule.field ?? [rule.name, v, rule.lower]);
  }
  return out;
}

/** Serialised "Name: value\r\n" lines (values are safeFieldValue()d: no CR/LF). */
function fieldLines(fields: readonly Field[]): Uint8Array {
  return Buffer.from(headerLines(fields.map((f) => [f[0], f[1]] as const)), "latin1");
}

/** request_headers: the handlers below see a head with the rules applied (see the module comment). */
export function requestHeaders(rules: HeaderRules): Middleware {
  const r = compile(rules, REQUEST_PROTECTED, true);
  return (next) => {
    if (r.touched.size === 0) return next;
    return (ex) => {
      const head = ex.head;
      const hl = head.headers;
      const fields = r.constant ? r.fields : resolveMemo(r, ex, true);
      // A dynamic Host set that rendered valid is among `fields`; it replaces the client's.
      let dropHost = false;
      if (r.dynamicHost) for (const f of fields) if (f[2] === "host") dropHost = true;
      const drop = r.drop;
      let host = head.host;
      const names = hl.names;
      const lowers = hl.lowerNames;
      const values = hl.values;
      // Most requests carry none of the fields the rules drop: then the client's fields are
      // copied whole (three native array copies) instead of field by field. `host` stays the
      // parser's (for absolute-form the URI's authority, RFC 9112 §3.2.2) unless a rule sets Host.
      let anyDropped = dropHost;
      if (!anyDropped) for (const l of drop) if (lowers.indexOf(l) >= 0) anyDropped = true;
      let headers: HeaderList;
      if (!anyDropped) headers = HeaderList.copyOf(hl);
      else {
        headers = new HeaderList();
        for (let i = 0; i < names.length; i++) {
          const lower = lowers[i]!;
          if (drop.has(lower) || (dropHost && lower === "host")) continue;
          headers.add(names[i]!, values[i]!, lower);
        }
      }
      for (const f of fields) {
        headers.add(f[0], f[1], f[2]);
        if (f[2] === "host") host = f[1];
      }
      next(new HeadDecorator(ex, deriveHead(head, { headers, host, configured: r.configured })));
    };
  };
}

/** ASCII case-insensitive `name` equals the lowercase `lower`, without allocating. */
function nameIs(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

function dropped(name: string, drop: ReadonlySet<string>): boolean {
  for (const l of drop) if (nameIs(name, l)) return true;
  return false;
}

/** Pairs: the fields the rules keep, then the rules' own. */
function applyToPairs(h: HeaderPairs, r: CompiledRules, fields: readonly Field[]): HeaderPairs {
  const out: (readonly [string, string])[] = [];
  const drop = r.drop;
  for (let i = 0; i < h.length; i++) {
    const p = h[i]!;
    if (drop.size === 0 || !dropped(p[0], drop)) out.push(p);
  }
  if (fields === r.fields) for (const p of r.pairs) out.push(p);
  else for (const f of fields) out.push([f[0], f[1]]);
  return out;
}

/** Whether the line at [start, colon) names one of `names` (lowercase bytes). */
function lineNameIn(b: Uint8Array, start: number, colon: number, names: readonly Uint8Array[]): boolean {
  const n = colon - start;
  outer: for (const name of names) {
    if (name.length !== n) continue;
    for (let i = 0; i < n; i++) {
      let c = b[start + i]!;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      if (c !== name[i]) continue outer;
    }
    return true;
  }
  return false;
}

/** A prepared block ("Name: value\r\n"…) without the lines `r` drops; the block itself when none is. */
function filterPrepared(b: Uint8Array, r: CompiledRules): Uint8Array {
  if (r.dropBytes.length === 0) return b;
  const keep: Uint8Array[] = [];
  let removed = false;
  let pos = 0;
  while (pos < b.length) {
    let eol = b.indexOf(0x0a, pos);
    eol = eol < 0 ? b.length : eol + 1;
    const colon = b.indexOf(0x3a, pos);
    if (colon >= pos && colon < eol && lineNameIn(b, pos, colon, r.dropBytes)) removed = true;
    else keep.push(b.subarray(pos, eol));
    pos = eol;
  }
  return removed ? Buffer.concat(keep) : b;
}

/** A prepared block with the rules applied: cached per block (a cached file reuses its block). */
function applyToPrepared(h: PreparedHeaders, r: CompiledRules, fields: readonly Field[]): PreparedHeaders {
  let cached = r.preparedCache.get(h.prepared);
  if (cached === undefined) {
    const base = filterPrepared(h.prepared, r);
    cached = { prepared: r.constant ? Buffer.concat([base, r.lines]) : base };
    r.preparedCache.set(h.prepared, cached);
  }
  if (r.constant) return cached;
  return { prepared: Buffer.concat([cached.prepared, fieldLines(fields)]) };
}

function applyRules(h: ResponseHeaders, r: CompiledRules, ex: Exchange): ResponseHeaders {
  const fields = r.constant ? r.fields : resolveMemo(r, ex, false);
  return isPrepared(h) ? applyToPrepared(h, r, fields) : applyToPairs(h, r, fields);
}

interface ResponseRules {
  readonly normal: CompiledRules;
  readonly errorPage: CompiledRules;
  readonly upgrade: CompiledRules;
}

class ResponseHeadersExchange extends ExchangeDecorator {
  constructor(
    inner: Exchange,
    private readonly rules: ResponseRules,
  ) {
    super(inner);
  }
  override respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    this.inner.respond(status, applyRules(headers, this.rules.normal, this.inner), body);
  }
  override startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    this.inner.startResponse(status, applyRules(headers, this.rules.normal, this.inner), length);
  }
  override sendError(status: number, code?: string, headers?: HeaderPairs): void {
    this.inner.sendError(status, code, applyRules(headers ?? [], this.rules.errorPage, this.inner) as HeaderPairs);
  }
  override upgrade(headers: HeaderPairs, handlers: TunnelHandlers): TunnelSide {
    return this.inner.upgrade(applyRules(headers, this.rules.upgrade, this.inner) as HeaderPairs, handlers);
  }
}

/** response_headers: the rules are applied to the response head the handlers below produce. */
export function responseHeaders(rules: HeaderRules): Middleware {
  // Error pages and 101s keep a few more fields: their own compiled variants, so no per-call skip list.
  const r: ResponseRules = {
    normal: compile(rules, RESPONSE_PROTECTED, false),
    errorPage: compile(rules, ERROR_PAGE_PROTECTED, false),
    upgrade: compile(rules, UPGRADE_PROTECTED, false),
  };
  return (next) => {
    if (r.normal.touched.size === 0) return next;
    return (ex) => next(new ResponseHeadersExchange(ex, r));
  };
}
