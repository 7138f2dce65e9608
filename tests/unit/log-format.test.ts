import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { fcAssert } from "./fc-seed.ts";
import type { AccessRecord } from "../../src/log/access-record.ts";
import { encodeJson, formatJson } from "../../src/log/format-json.ts";
import { encodeText, escapeValue, formatText, isoTime, levelOf, recordChars } from "../../src/log/format-text.ts";
import { lineBound } from "../../src/log/line-bytes.ts";

const T = Date.UTC(2025, 10, 26, 4, 34, 0, 123); // 2025-11-26T04:34:00.123Z

function rec(over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    time: T,
    id: "abc",
    ip: "127.0.0.1",
    method: "GET",
    path: "/x?y=1",
    host: "example.com",
    status: 200,
    bytes: 1234,
    latencyMs: 0.4213,
    ...over,
  };
}

/** Reference parser for the text format: prefix, then " | "-separated key=value fields. */
function parseText(line: string): { level: string; fields: Map<string, string>; keys: string[] } {
  expect(line.endsWith("\n")).toBe(true);
  const body = line.slice(0, -1);
  expect(body).not.toMatch(/[\r\n]/);
  const parts = body.split(" | ");
  const m = /^\[(INFO|WARN|ERROR)\] DREAM_SERVER REQUEST$/.exec(parts[0]);
  expect(m).not.toBeNull();
  const fields = new Map<string, string>();
  const keys: string[] = [];
  for (const p of parts.slice(1)) {
    const eq = p.indexOf("=");
    expect(eq).toBeGreaterThan(0);
    const k = p.slice(0, eq);
    expect(fields.has(k)).toBe(false);
    keys.push(k);
    fields.set(k, p.slice(eq + 1));
  }
  return { level: m![1], fields, keys };
}

function unescapeText(v: string): string {
  return v.replace(/\\x([0-9a-f]{2})|\\u([0-9a-f]{4})/g, (_, a, b) => String.fromCharCode(parseInt(a ?? b, 16)));
}

const BASE_KEYS = ["time", "id", "ip", "method", "path", "host", "status", "bytes", "latency"];

describe("formatText", () => {
  const table: Array<[string, AccessRecord, string]> = [
    [
      "plain 200",
      rec(),
      "[INFO] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET | path=/x?y=1 | host=example.com | status=200 | bytes=1234 | latency=0.421ms\n",
    ],
    [
      "404 without a code stays INFO",
      rec({ status: 404, path: "/missing", bytes: 512, latencyMs: 0.1 }),
      "[INFO] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET | path=/missing | host=example.com | status=404 | bytes=512 | latency=0.100ms\n",
    ],
    [
      "a cache hit of a few microseconds is visible, not 0.00ms (issue 7 item 14)",
      rec({ latencyMs: 0.0042 }),
      "[INFO] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET | path=/x?y=1 | host=example.com | status=200 | bytes=1234 | latency=0.004ms\n",
    ],
    [
      "4xx with error code is WARN",
      rec({ status: 400, error: "PARSE_BAD_HEADER", method: "", path: "", host: "" }),
      "[WARN] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method= | path= | host= | status=400 | bytes=1234 | latency=0.421ms | error=PARSE_BAD_HEADER\n",
    ],
    [
      "proxied 200 with upstream timings",
      rec({ upstream: "127.0.0.1:8000", upstreamStatus: 200, upstreamConnectMs: 0.1, upstreamTtfbMs: 1.2 }),
      "[INFO] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET | path=/x?y=1 | host=example.com | status=200 | bytes=1234 | latency=0.421ms | upstream=127.0.0.1:8000 | upstream_status=200 | upstream_connect=0.100ms | upstream_ttfb=1.200ms\n",
    ],
    [
      "5xx is ERROR, error before upstream",
      rec({ status: 502, error: "UPSTREAM_CONNECT", upstream: "10.0.0.2:80", upstreamConnectMs: 5000 }),
      "[ERROR] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET | path=/x?y=1 | host=example.com | status=502 | bytes=1234 | latency=0.421ms | error=UPSTREAM_CONNECT | upstream=10.0.0.2:80 | upstream_connect=5000.000ms\n",
    ],
    [
      "2xx cut short with an error code is WARN",
      rec({ error: "UPSTREAM_RESET" }),
      "[WARN] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET | path=/x?y=1 | host=example.com | status=200 | bytes=1234 | latency=0.421ms | error=UPSTREAM_RESET\n",
    ],
    [
      "user agent last",
      rec({ userAgent: "curl/8.5.0" }),
      "[INFO] DREAM_SERVER REQUEST | time=2025-11-26T04:34:00.123Z | id=abc | ip=127.0.0.1 | method=GET | path=/x?y=1 | host=example.com | status=200 | bytes=1234 | latency=0.421ms | user_agent=curl/8.5.0\n",
    ],
    [
      "non-finite numbers never print NaN, bad time never throws",
      rec({ time: NaN, bytes: NaN, latencyMs: Infinity }),
      "[INFO] DREAM_SERVER REQUEST | time=- | id=abc | ip=127.0.0.1 | method=GET | path=/x?y=1 | host=example.com | status=200 | bytes=- | latency=-\n",
    ],
  ];
  for (const [name, r, want] of table) {
    test(name, () => {
      expect(formatText(r)).toBe(want);
      parseText(want);
    });
  }

  test("isoTime matches toISOString (cached second prefix)", () => {
    const xs = [0, 1, 999, 1000, 1001, -1, -1000, -1001, T, T + 0.9, 253402300799999, 253402300800000, -62167219200001];
    for (let i = 0; i < 2000; i++) xs.push(Math.floor(Math.random() * 4e12));
    for (const x of xs) expect(isoTime(x)).toBe(new Date(Math.floor(x)).toISOString());
  });

  test("levels", () => {
    expect(levelOf(rec({ status: 304 }))).toBe("INFO");
    expect(levelOf(rec({ status: 499 }))).toBe("INFO");
    expect(levelOf(rec({ status: 413, error: "BODY_TOO_LARGE" }))).toBe("WARN");
    // A missing file is routine traffic, even with its code; probing shapes are not.
    expect(levelOf(rec({ status: 404, error: "FILE_NOT_FOUND" }))).toBe("INFO");
    expect(levelOf(rec({ status: 404, error: "PATH_DOTFILE" }))).toBe("WARN");
    expect(levelOf(rec({ status: 500 }))).toBe("ERROR");
    expect(levelOf(rec({ status: 504, error: "UPSTREAM_TIMEOUT" }))).toBe("ERROR");
  });

  const forgeries: Array<[string, Partial<AccessRecord>, keyof AccessRecord, string]> = [
    ["CRLF in path starts no new line", { path: "/a\r\n[INFO] DREAM_SERVER REQUEST | id=evil" }, "path", "path"],
    ["LF alone", { path: "/a\n" }, "path", "path"],
    ["CR alone", { path: "/a\rX" }, "path", "path"],
    ["field injection in host", { host: "example.com | status=200" }, "host", "host"],
    ["separator without spaces", { host: "a|status=200|b" }, "host", "host"],
    ["backslash cannot fake an escape", { path: "/a\\x7c\\n" }, "path", "path"],
    ["unicode", { path: "/caf\u00e9/\u65e5\u672c/\u{1f600}" }, "path", "path"],
    ["U+2028/2029 line separators", { host: "a\u2028b\u2029c" }, "host", "host"],
    ["lone surrogates", { host: "a\ud800b\udc00" }, "host", "host"],
    ["C0, DEL and C1 controls (terminal escapes)", { method: "G\x1b[2J\x00\x07\x7f\x9bET" }, "method", "method"],
    ["latin1 bytes from the request target", { path: "/\xff\xfe\x80" }, "path", "path"],
    ["id", { id: "x | ip=6.6.6.6" }, "id", "id"],
    ["user agent", { userAgent: "Mozilla\r\n | status=500" }, "userAgent", "user_agent"],
    ["error code", { error: "X | upstream=evil" }, "error", "error"],
    ["upstream", { upstream: "h:1 | upstream_status=200\n" }, "upstream", "upstream"],
  ];
  for (const [name, over, prop, key] of forgeries) {
    test(`forgery: ${name}`, () => {
      const r = rec(over);
      const line = formatText(r);
      expect(line.split("\n").length).toBe(2); // exactly one terminator, at the end
      expect(line).toMatch(/^[\x20-\x7e]*\n$/); // ASCII printable only
      const { fields, keys } = parseText(line);
      expect(keys.slice(0, BASE_KEYS.length)).toEqual(BASE_KEYS);
      expect(fields.get("status")).toBe("200");
      expect(unescapeText(fields.get(key)!)).toBe(r[prop] as string);
    });
  }

  test("escape spelling", () => {
    expect(escapeValue("plain /a?b=c d")).toBe("plain /a?b=c d");
    expect(escapeValue("a|b")).toBe("a\\x7cb");
    expect(escapeValue("a\\b")).toBe("a\\x5cb");
    expect(escapeValue("\r\n\t")).toBe("\\x0d\\x0a\\x09");
    expect(escapeValue("\u00e9\u2028")).toBe("\\xe9\\u2028");
    expect(escapeValue("\u{1f600}")).toBe("\\ud83d\\ude00");
  });

  test("property: any strings → one line, fixed field list, values round-trip", () => {
    fcAssert(
      fc.property(
        fc.string({ unit: "binary" }),
        fc.string({ unit: "binary" }),
        fc.string({ unit: "binary" }),
        fc.string({ unit: "binary" }),
        fc.boolean(),
        (path, host, method, ua, withUa) => {
          const userAgent = withUa ? ua : undefined;
          const r = rec({ path, host, method, userAgent });
          const line = formatText(r);
          expect(line).toMatch(/^[\x20-\x7e]*\n$/);
          const { fields, keys } = parseText(line);
          expect(keys).toEqual(userAgent === undefined ? BASE_KEYS : [...BASE_KEYS, "user_agent"]);
          expect(unescapeText(fields.get("path")!)).toBe(path);
          expect(unescapeText(fields.get("host")!)).toBe(host);
          expect(unescapeText(fields.get("method")!)).toBe(method);
          if (userAgent !== undefined) expect(unescapeText(fields.get("user_agent")!)).toBe(userAgent);
        },
      ), 500);
  });
});

describe("formatJson", () => {
  test("plain record: keys and order", () => {
    expect(formatJson(rec())).toBe(
      '{"time":"2025-11-26T04:34:00.123Z","id":"abc","ip":"127.0.0.1","method":"GET","path":"/x?y=1","host":"example.com","status":200,"bytes":1234,"latency_ms":0.421}\n',
    );
  });

  test("optional fields when present", () => {
    const line = formatJson(
      rec({
        status: 502,
        error: "UPSTREAM_CONNECT",
        upstream: "127.0.0.1:8000",
        upstreamStatus: 200,
        upstreamConnectMs: 0.1004,
        upstreamTtfbMs: 1.2,
        userAgent: "curl/8.5.0",
      }),
    );
    expect(line).toBe(
      '{"time":"2025-11-26T04:34:00.123Z","id":"abc","ip":"127.0.0.1","method":"GET","path":"/x?y=1","host":"example.com","status":502,"bytes":1234,"latency_ms":0.421,"error":"UPSTREAM_CONNECT","upstream":"127.0.0.1:8000","upstream_status":200,"upstream_connect_ms":0.1,"upstream_ttfb_ms":1.2,"user_agent":"curl/8.5.0"}\n',
    );
  });

  test("absent optionals are omitted, not null", () => {
    const o = JSON.parse(formatJson(rec()));
    expect(Object.keys(o)).toEqual(["time", "id", "ip", "method", "path", "host", "status", "bytes", "latency_ms"]);
  });

  const hostile: Array<[string, string]> = [
    ["CRLF", "/a\r\n{\"status\":200}"],
    ["quotes and backslashes", '"},"status":200,"x":"\\'],
    ["U+2028/U+2029", "a\u2028b\u2029c"],
    ["lone high surrogate", "a\ud800"],
    ["lone low surrogate", "\udc00b"],
    ["astral", "\u{1f600}"],
    ["controls", "\x00\x1b[31m\x7f\x85\x9b"],
    ["latin1 bytes", "/\xff\xfe"],
  ];
  for (const [name, s] of hostile) {
    test(`hostile value: ${name}`, () => {
      const line = formatJson(rec({ path: s, host: s, userAgent: s }));
      expect(line).toMatch(/^[\x20-\x7e]*\n$/); // one ASCII line
      const o = JSON.parse(line);
      expect(o.path).toBe(s);
      expect(o.host).toBe(s);
      expect(o.user_agent).toBe(s);
      expect(o.status).toBe(200);
    });
  }

  test("property: any strings parse back exactly", () => {
    fcAssert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (path, host) => {
        const line = formatJson(rec({ path, host }));
        expect(line).toMatch(/^[\x20-\x7e]*\n$/);
        const o = JSON.parse(line);
        expect(o.path).toBe(path);
        expect(o.host).toBe(host);
      }),
      500,
    );
  });

  test("non-finite numbers become null, bad time '-'", () => {
    const o = JSON.parse(formatJson(rec({ time: 1e20, latencyMs: NaN })));
    expect(o.time).toBe("-");
    expect(o.latency_ms).toBeNull();
  });
});

/**
 * The byte encoders (what the server writes) against the string formatters (the reference):
 * every record must give exactly Buffer.from(formatX(r), "latin1").
 */
describe("encodeText / encodeJson are byte-identical to formatText / formatJson", () => {
  const encoders: Array<[string, (r: AccessRecord, b: Uint8Array, o: number) => number, (r: AccessRecord) => string]> = [
    ["text", encodeText, formatText],
    ["json", encodeJson, formatJson],
  ];
  const check = (r: AccessRecord): void => {
    for (const [name, encode, format] of encoders) {
      const bound = lineBound(recordChars(r));
      const buf = new Uint8Array(bound + 16).fill(0xee);
      const end = encode(r, buf, 7); // at an offset, as in the staging buffer
      expect({ name, line: Buffer.from(buf.subarray(7, end)).toString("latin1") }).toEqual({ name, line: format(r) });
      expect(end - 7).toBeLessThanOrEqual(bound);
      expect(buf[end]).toBe(0xee); // nothing written past the line
    }
  };
  const numbers: Array<[string, number]> = [
    ["zero", 0],
    ["negative zero", -0],
    ["tie 0.0005", 0.0005],
    ["tie 1.0005", 1.0005],
    ["tie 2.5e-4 scaled", 0.0025],
    ["just under a tie", 0.00049999999],
    ["0.1 + 0.2", 0.1 + 0.2],
    ["1e-7", 1e-7],
    ["large latency", 123456.789],
    ["past the fast path", 1e7 + 0.0005],
    ["huge", 1e21],
    ["negative", -3.25],
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["max safe integer", Number.MAX_SAFE_INTEGER],
    ["above safe integers", 2 ** 60],
    ["fraction", 200.7],
  ];
  for (const [name, n] of numbers) {
    test(`number edge: ${name}`, () => {
      check(rec({ latencyMs: n, upstreamConnectMs: n, upstreamTtfbMs: n / 3, status: n, bytes: n, upstreamStatus: n, time: T + (Number.isFinite(n) ? n : 0) }));
    });
  }
  test("every optional field, hostile strings, span_id missing", () => {
    const s = '\r\n"\\|\x00\x7f\x85\xff\u2028\ud800\u{1f600} ';
    check(rec({ error: "UPSTREAM_CONNECT", upstream: s, upstreamStatus: 502, upstreamConnectMs: 0.1, upstreamTtfbMs: 1.2, cache: s, proto: s, tlsVersion: "TLSv1.3", tlsCipher: s, sni: s, userAgent: s, traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" }));
    check(rec({ path: s, host: s, id: s, ip: s, method: s, traceId: "ab" }));
    check(rec({ time: NaN }));
    check(rec({ time: 1e20 }));
    check(rec({ time: Date.UTC(-300, 0, 1) })); // ±YYYYYY form
    check(rec({ status: 500 }));
    check(rec({ status: 404, error: "FILE_NOT_FOUND" }));
  });
  test("repeated records (encodeText keeps the last ip…latency segment): a change of any one field shows", () => {
    const base = rec({});
    const seq = [
      base, base, rec({ ip: "10.0.0.2" }), base, rec({ method: "POST" }), rec({ path: "/x|y\x85" }), base, rec({ host: "h.example" }),
      rec({ status: 404 }), rec({ bytes: 0 }), rec({ bytes: -0 }), rec({ bytes: 0 }), rec({ status: NaN }), rec({ status: 200.5 }),
      rec({ latencyMs: 9.5 }), base, rec({ path: "/" + "p".repeat(5000) }), rec({ path: "/" + "p".repeat(5000) }), base,
    ];
    for (const r of seq) check(r);
  });
  test("repeated records into one reused Buffer (the log writer's staging buffer): the kept segment is a copy", () => {
    const stage = Buffer.alloc(8192);
    const a = rec({ path: "/same" });
    const b = rec({ path: "/other", ip: "10.9.9.9" });
    for (const r of [a, b, a, a, b, b, a]) {
      stage.fill(0x21); // what the next batch leaves in the buffer before this line is encoded
      const end = encodeText(r, stage, 100);
      expect(stage.subarray(100, end).toString("latin1")).toBe(formatText(r));
    }
  });
  test("property: a few records in any order, repeats included", () => {
    const pool = [rec({}), rec({ ip: "10.0.0.9" }), rec({ path: "/a" }), rec({ status: 304, bytes: 0 }), rec({ bytes: 1e21 }), rec({ host: "\u2028" })];
    fcAssert(fc.property(fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 30 }), (ix) => ix.forEach((i) => check(pool[i]!))), 300);
  });
  test("property: arbitrary records", () => {
    const str = fc.string({ unit: "binary", maxLength: 40 });
    const num = fc.oneof(fc.double(), fc.integer({ min: 0, max: 2 ** 40 }), fc.double({ min: 0, max: 1e4, noNaN: true }), fc.integer({ min: 0, max: 1e7 }).map((k) => k / 10000));
    const opt = <T,>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
    fcAssert(
      fc.property(
        fc.record({
          time: fc.oneof(fc.integer({ min: 0, max: 4e12 }), fc.double()),
          id: str, ip: str, method: str, path: str, host: str,
          status: num, bytes: num, latencyMs: num,
          error: opt(str), upstream: opt(str), upstreamStatus: opt(num), upstreamConnectMs: opt(num), upstreamTtfbMs: opt(num),
          userAgent: opt(str), cache: opt(str), proto: opt(str), tlsVersion: opt(str), tlsCipher: opt(str), sni: opt(str),
          traceId: opt(fc.stringMatching(/^[0-9a-f]{32}$/)), spanId: opt(fc.stringMatching(/^[0-9a-f]{16}$/)),
        }),
        (r) => {
          // fc.record gives undefined-valued keys for absent options; the record type allows both.
          check(r as AccessRecord);
        },
      ),
      2000,
    );
  });
});
