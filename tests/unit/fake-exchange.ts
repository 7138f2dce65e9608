/**
 * Test fixtures shared by the router, middleware and handler tests:
 *  - FakeExchange: an Exchange that records what a handler did (status, headers as pairs,
 *    body as the engine would send it: none for HEAD/204/304), with the engine's contract
 *    checks (one response, no write before a head, no write after end).
 *  - makeRoute / makeSite: RouteConfig / SiteConfig with defaults, for routing tables.
 */
import { expect } from "bun:test";
import {
  type Config,
  defaultConfig,
  DEFAULT_LIMITS,
  DEFAULT_TIMEOUTS,
  type ListenAddress,
  type PathMatch,
  type RouteAction,
  type RouteConfig,
  type SiteConfig,
} from "../../src/config/config.ts";
import type {
  BodySink,
  Exchange,
  ExchangeLogFields,
  HeaderPairs,
  ResponseHeaders,
  TunnelHandlers,
  TunnelSide,
} from "../../src/handler.ts";
import { HeaderList } from "../../src/http1/header-list.ts";
import type { RequestHead } from "../../src/http1/message-head.ts";
import { headerPairsOf } from "../../src/http1/serialize.ts";

export interface FakeRequest {
  method?: string;
  /** Request target as received (origin-form unless it starts with "http"). */
  target?: string;
  headers?: [string, string][];
  /** Host header; added to headers unless `headers` already has one. */
  host?: string;
  clientIp?: string;
  id?: string;
  config?: Config;
}

export function makeHead(req: FakeRequest = {}): RequestHead {
  const method = req.method ?? "GET";
  const target = req.target ?? "/";
  const h = new HeaderList();
  const given = req.headers ?? [];
  const host = req.host ?? given.find(([n]) => n.toLowerCase() === "host")?.[1] ?? "example.com";
  if (!given.some(([n]) => n.toLowerCase() === "host")) h.add("Host", host);
  for (const [n, v] of given) h.add(n, v);
  let form: RequestHead["form"] = "origin";
  let pathAndQuery = target;
  if (/^https?:\/\//.test(target)) {
    form = "absolute";
    const rest = target.slice(target.indexOf("://") + 3);
    const slash = rest.search(/[/?]/);
    pathAndQuery = slash < 0 ? "/" : rest[slash] === "?" ? "/" + rest.slice(slash) : rest.slice(slash);
  } else if (target === "*") form = "asterisk";
  const q = pathAndQuery.indexOf("?");
  return {
    method,
    target,
    form,
    path: q < 0 ? pathAndQuery : pathAndQuery.slice(0, q),
    query: q < 0 ? "" : pathAndQuery.slice(q),
    minor: 1,
    headers: h,
    host,
    bodyKind: "none",
    contentLength: -1,
    keepAlive: true,
    expectContinue: false,
    connection: [],
    upgrade: null,
    headBytes: 0,
  };
}

export class FakeExchange implements Exchange {
  readonly head: RequestHead;
  readonly scheme: "http" | "https" = "http";
  readonly secure = false;
  readonly id: string;
  readonly clientIp: string;
  readonly localPort = 8080;
  readonly startedAt = 0;
  readonly config: Config;
  readonly log: ExchangeLogFields = {};
  responseStarted = false;
  onDrain: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  writeRoom = 256 * 1024;

  calls: string[] = [];
  status = 0;
  /** Response headers as pairs (prepared blocks decoded). */
  headers: [string, string][] = [];
  /** Whether the handler passed a prepared (pre-serialised) block. */
  preparedHead = false;
  /** The headers argument exactly as the handler passed it (to check identity, e.g. a reused block). */
  rawHeaders: ResponseHeaders | null = null;
  chunks: Uint8Array[] = [];
  declaredLength: number | null = null;
  ended = false;
  abortedWith: string | null = null;
  errorCode: string | undefined;
  bodyRead = false;

  constructor(req: FakeRequest | RequestHead = {}) {
    const isHead = (req as RequestHead).headers instanceof HeaderList;
    this.head = isHead ? (req as RequestHead) : makeHead(req as FakeRequest);
    const r = isHead ? {} : (req as FakeRequest);
    this.id = r.id ?? "req-1";
    this.clientIp = r.clientIp ?? "192.0.2.7";
    this.config = r.config ?? defaultConfig();
  }

  /** First response header value by name (ASCII case-insensitive), or undefined. */
  header(name: string): string | undefined {
    return this.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
  }
  headerAll(name: string): string[] {
    return this.headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  }
  get body(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.body.toString("utf8");
  }

  private start(kind: string, status: number, headers: ResponseHeaders): void {
    expect(this.responseStarted).toBe(false);
    this.calls.push(kind);
    this.responseStarted = true;
    this.status = status;
    this.preparedHead = "prepared" in headers;
    this.rawHeaders = headers;
    this.headers = headerPairsOf(headers);
  }

  readBody(_sink: BodySink): void {
    this.bodyRead = true;
  }
  resumeBody(): void {}
  respond(status: number, headers: ResponseHeaders, body?: Uint8Array | string | null): void {
    this.start("respond", status, headers);
    const bytes = body == null ? new Uint8Array(0) : typeof body === "string" ? Buffer.from(body) : body;
    this.declaredLength = bytes.length;
    if (this.head.method !== "HEAD" && status !== 304 && status !== 204) this.chunks.push(bytes);
    this.ended = true;
  }
  startResponse(status: number, headers: ResponseHeaders, length: number | null): void {
    this.start("startResponse", status, headers);
    this.declaredLength = length;
  }
  write(chunk: Uint8Array): boolean {
    expect(this.responseStarted).toBe(true);
    expect(this.ended).toBe(false);
    // As the engine (src/net/connection.ts Framing.None): a HEAD response carries no body bytes.
    if (this.head.method !== "HEAD") this.chunks.push(chunk);
    return true;
  }
  end(_trailers?: HeaderPairs): void {
    expect(this.ended).toBe(false);
    this.calls.push("end");
    this.ended = true;
  }
  informational(status: number, headers: HeaderPairs): void {
    this.calls.push(`informational ${status} ${JSON.stringify(headers)}`);
  }
  sendError(status: number, code?: string, headers?: HeaderPairs): void {
    expect(this.responseStarted).toBe(false);
    this.calls.push("sendError");
    this.responseStarted = true;
    this.ended = true;
    this.status = status;
    this.errorCode = code;
    if (code) this.log.errorCode ??= code;
    this.headers = headers ? headers.map(([n, v]) => [n, v] as [string, string]) : [];
  }
  abort(code?: string): void {
    this.calls.push("abort");
    this.abortedWith = code ?? "ABORT";
  }
  cork(): void {}
  uncork(): void {}
  upgrade(headers: HeaderPairs, _handlers: TunnelHandlers): TunnelSide {
    this.calls.push("upgrade");
    this.responseStarted = true;
    this.status = 101;
    this.headers = headers.map(([n, v]) => [n, v] as [string, string]);
    return { write: () => true, end: () => {}, pause: () => {}, resume: () => {} };
  }
}

// ---- config fixtures ------------------------------------------------------------------------

const RESPOND_200: RouteAction = { kind: "respond", status: 200, body: "", headers: [] };

/** A route with defaults; `match` as a PathMatch or a shorthand: "/x" (prefix), "=/x" (exact), "~re" (regex). */
export function makeRoute(match: PathMatch | string, over: Partial<RouteConfig> = {}, index = 0): RouteConfig {
  let m: PathMatch;
  if (typeof match !== "string") m = match;
  else if (match.startsWith("=")) m = { kind: "exact", path: match.slice(1) };
  else if (match.startsWith("~")) m = { kind: "regex", source: match.slice(1), re: new RegExp(match.slice(1)) };
  else m = { kind: "prefix", prefix: match };
  return {
    index,
    match: m,
    methods: null,
    headers: null,
    stripPrefix: null,
    requestHeaders: null,
    responseHeaders: null,
    maxBodySize: DEFAULT_LIMITS.maxBodySize,
    timeouts: DEFAULT_TIMEOUTS,
    action: RESPOND_200,
    ...over,
  };
}

export function makeSite(hosts: string[], routes: RouteConfig[] = [], listen: ListenAddress[] = [{ hostname: "0.0.0.0", port: 8080 }], index = 0): SiteConfig {
  return { index, listen, hosts, routes: routes.map((r, i) => ({ ...r, index: i })) };
}
