/**
 * Field lines the proxy adds to every upstream request, reused while their values repeat.
 *
 * Host, X-Forwarded-For of one client, X-Forwarded-Proto, -Host, -Port and Via have the same
 * values request after request. Building their lines anew made about 20 short-lived strings per
 * proxied request (in JavaScriptCore every `+` of two non-empty strings is a new string cell),
 * and that garbage, more than the CPU of the concatenation, drove the collector and its pauses
 * (docs/performance.md, "Allocations per request"). One memo per process: a different value is
 * a miss that costs the string compares and then what building the lines always cost.
 */
import { safeFieldValue } from "./hop-by-hop.ts";

/** `a + sep + b + tail`: the same string while a and b repeat (the request line, our Via entry). */
export class JoinMemo {
  private a = "";
  private b = "";
  private joined = "";
  constructor(
    private readonly sep: string,
    private readonly tail: string,
  ) {}

  get(a: string, b: string): string {
    if (b === this.b && a === this.a && this.joined !== "") return this.joined;
    this.a = a;
    this.b = b;
    this.joined = a + this.sep + b + this.tail;
    return this.joined;
  }
}

/**
 * Lines of forwarded fields ("Name: value\r\n" of Host, of the client's own fields and of those
 * request rules set), by field name: a browser sends the same User-Agent, Accept, Accept-Language, … on
 * every request, and a rule like `X-Real-IP = "{remote_ip}"` renders the same value for a client.
 * A hit costs one Map lookup and a string compare instead of three new strings. Bounded: names
 * beyond the first MAX_NAMES seen are built every time (client-chosen names cannot grow it), and
 * each entry is one field line, itself bounded by limits.maxHeaderLine: a few MiB at the worst.
 */
export class PassThroughLines {
  private readonly byName = new Map<string, { value: string; line: string }>();
  static readonly MAX_NAMES = 256;

  get(name: string, value: string): string {
    const e = this.byName.get(name);
    if (e !== undefined) {
      if (e.value !== value) {
        e.value = value;
        e.line = fieldLine(name, value);
      }
      return e.line;
    }
    const line = fieldLine(name, value);
    if (this.byName.size < PassThroughLines.MAX_NAMES) this.byName.set(name, { value, line });
    return line;
  }
}

function fieldLine(name: string, value: string): string {
  return name + ": " + safeFieldValue(value) + "\r\n";
}

/**
 * The forwarding block set after the client's fields, in this order: X-Forwarded-For,
 * X-Forwarded-Proto, X-Forwarded-Host (when `host` is not ""), X-Forwarded-Port (when `port` is
 * not null), the Forwarded line as given (usually ""), Via, and "X-Request-ID: " without its
 * value, which differs per request and is appended by the caller.
 */
export class ForwardingLinesMemo {
  private xff = "";
  private proto = "";
  private host = "";
  private port: string | number | null = null;
  private forwardedLine = "";
  private via = "";
  private lines = "";

  get(xff: string, proto: string, host: string, port: string | number | null, forwardedLine: string, via: string): string {
    if (
      this.lines !== "" &&
      xff === this.xff &&
      proto === this.proto &&
      host === this.host &&
      port === this.port &&
      forwardedLine === this.forwardedLine &&
      via === this.via
    ) {
      return this.lines;
    }
    this.xff = xff;
    this.proto = proto;
    this.host = host;
    this.port = port;
    this.forwardedLine = forwardedLine;
    this.via = via;
    let s = "X-Forwarded-For: " + safeFieldValue(xff) + "\r\n" + "X-Forwarded-Proto: " + safeFieldValue(proto) + "\r\n";
    if (host !== "") s += "X-Forwarded-Host: " + safeFieldValue(host) + "\r\n";
    if (port !== null) s += "X-Forwarded-Port: " + (typeof port === "number" ? String(port) : safeFieldValue(port)) + "\r\n";
    s += forwardedLine + "Via: " + safeFieldValue(via) + "\r\nX-Request-ID: ";
    this.lines = s;
    return s;
  }
}
