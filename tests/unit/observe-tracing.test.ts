/** W3C Trace Context parsing (tables), the tracer's sampling and child spans, the OTLP JSON body. */
import { describe, expect, test } from "bun:test";
import { HeaderList } from "../../src/http1/index.ts";
import type { RequestHead } from "../../src/http1/index.ts";
import { formatTraceparent, parseTraceparent, parseTracestate } from "../../src/observe/trace-context.ts";
import { Tracer } from "../../src/observe/tracer.ts";
import { otlpBody, type SpanData } from "../../src/observe/otlp-exporter.ts";

const TID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PID = "00f067aa0ba902b7";

describe("traceparent", () => {
  const rows: [string, string[], { traceId: string; parentId: string; flags: number } | null][] = [
    ["valid, sampled", [`00-${TID}-${PID}-01`], { traceId: TID, parentId: PID, flags: 1 }],
    ["valid, not sampled", [`00-${TID}-${PID}-00`], { traceId: TID, parentId: PID, flags: 0 }],
    ["other flag bits read", [`00-${TID}-${PID}-03`], { traceId: TID, parentId: PID, flags: 3 }],
    ["future version with extra fields", [`cc-${TID}-${PID}-01-what-the-future-holds`], { traceId: TID, parentId: PID, flags: 1 }],
    ["future version, no extra fields", [`01-${TID}-${PID}-01`], { traceId: TID, parentId: PID, flags: 1 }],
    ["absent", [], null],
    ["two fields", [`00-${TID}-${PID}-01`, `00-${TID}-${PID}-01`], null],
    ["version ff", [`ff-${TID}-${PID}-01`], null],
    ["version 00 with extra fields", [`00-${TID}-${PID}-01-x`], null],
    ["future version, extra without dash", [`01-${TID}-${PID}-01x`], null],
    ["uppercase hex", [`00-${TID.toUpperCase()}-${PID}-01`], null],
    ["all-zero trace id", [`00-${"0".repeat(32)}-${PID}-01`], null],
    ["all-zero parent id", [`00-${TID}-${"0".repeat(16)}-01`], null],
    ["short trace id", [`00-${TID.slice(1)}-${PID}-01`], null],
    ["bad separator", [`00_${TID}-${PID}-01`], null],
    ["non-hex flags", [`00-${TID}-${PID}-0g`], null],
    ["spaces around", [` 00-${TID}-${PID}-01`], null],
    ["empty", [""], null],
  ];
  for (const [name, values, want] of rows) test(name, () => expect(parseTraceparent(values)).toEqual(want));

  test("format: version 00, only the sampled bit", () => {
    expect(formatTraceparent(TID, PID, true)).toBe(`00-${TID}-${PID}-01`);
    expect(formatTraceparent(TID, PID, false)).toBe(`00-${TID}-${PID}-00`);
  });
});

describe("tracestate", () => {
  const rows: [string, string[], string | null][] = [
    ["one member", ["rojo=00f067aa0ba902b7"], "rojo=00f067aa0ba902b7"],
    ["two lines are one list", ["rojo=1", "congo=t61rcWkgMzE"], "rojo=1,congo=t61rcWkgMzE"],
    ["optional whitespace and empty members", [" rojo=1 ,\t, congo=2"], "rojo=1,congo=2"],
    ["tenant@system key", ["fw529a3039@dt=x"], "fw529a3039@dt=x"],
    ["absent", [], null],
    ["only empty members", [" , "], null],
    ["no equals", ["rojo"], null],
    ["uppercase key", ["Rojo=1"], null],
    ["value with comma-free but = inside", ["rojo=a=b"], null],
    ["value ending in a space is trimmed as OWS", ["rojo=ab "], "rojo=ab"],
    ["duplicate key", ["rojo=1,rojo=2"], null],
    ["control character", ["rojo=a\u0001b"], null],
    ["33 members", [Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(",")], null],
    ["32 members", [Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(",")], Array.from({ length: 32 }, (_, i) => `k${i}=v`).join(",")],
  ];
  for (const [name, values, want] of rows) test(name, () => expect(parseTracestate(values)).toBe(want));
});

function head(fields: [string, string][]): RequestHead {
  const h = new HeaderList();
  for (const [n, v] of fields) h.add(n, v);
  return { headers: h } as unknown as RequestHead;
}

describe("tracer", () => {
  test("an incoming traceparent is continued; its sampled flag wins over sample", () => {
    const t = new Tracer();
    t.sample = 0;
    const a = t.start(head([["traceparent", `00-${TID}-${PID}-01`], ["tracestate", "rojo=1"]]));
    expect(a).toMatchObject({ traceId: TID, parentId: PID, sampled: true, state: "rojo=1" });
    expect(a.spanId).toMatch(/^[0-9a-f]{16}$/);
    t.sample = 1;
    expect(t.start(head([["traceparent", `00-${TID}-${PID}-00`]])).sampled).toBe(false);
  });

  test("a malformed traceparent starts a new trace and drops tracestate", () => {
    const t = new Tracer();
    const a = t.start(head([["traceparent", `00-${TID}-${PID}-0X`], ["tracestate", "rojo=1"]]));
    expect(a.traceId).not.toBe(TID);
    expect(a.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(a.parentId).toBe("");
    expect(a.state).toBeNull();
  });

  test("new traces are sampled by ratio", () => {
    const t = new Tracer();
    t.sample = 0;
    expect(Array.from({ length: 200 }, () => t.start(head([])).sampled).some(Boolean)).toBe(false);
    t.sample = 1;
    expect(Array.from({ length: 200 }, () => t.start(head([])).sampled).every(Boolean)).toBe(true);
    t.sample = 0.5;
    const n = Array.from({ length: 2000 }, () => t.start(head([])).sampled).filter(Boolean).length;
    expect(n).toBeGreaterThan(800);
    expect(n).toBeLessThan(1200);
  });

  test("each upstream attempt gets its own child span id in traceparent", () => {
    const t = new Tracer();
    // Attempts are recorded for export only: a sampled trace and an exporter to hand them to.
    t.exporter = { push() {} } as unknown as NonNullable<Tracer["exporter"]>;
    const tr = t.start(head([["traceparent", `00-${TID}-${PID}-01`], ["tracestate", "rojo=1"]]));
    const f1 = t.upstreamFields(tr, "b:1");
    const f2 = t.upstreamFields(tr, "b:1");
    const m1 = /^traceparent: 00-([0-9a-f]{32})-([0-9a-f]{16})-01\r\ntracestate: rojo=1\r\n$/.exec(f1)!;
    const m2 = /^traceparent: 00-([0-9a-f]{32})-([0-9a-f]{16})-01\r\n/.exec(f2)!;
    expect(m1[1]).toBe(TID);
    expect(m1[2]).not.toBe(tr.spanId);
    expect(m1[2]).not.toBe(m2[2]);
    expect(tr.attempts!.map((a) => a.spanId)).toEqual([m1[2]!, m2[2]!]);
  });

  test("an attempt of a trace that will not be exported is not recorded (no garbage per proxied request)", () => {
    const t = new Tracer();
    const unsampled = t.start(head([["traceparent", `00-${TID}-${PID}-00`]]));
    expect(t.upstreamFields(unsampled, "b:1")).toMatch(/^traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-00\r\n$/);
    expect(unsampled.attempts).toBeNull();
    const noExporter = t.start(head([["traceparent", `00-${TID}-${PID}-01`]]));
    t.upstreamFields(noExporter, "b:1");
    expect(noExporter.attempts).toBeNull();
  });
});

describe("OTLP JSON body", () => {
  test("ExportTraceServiceRequest shape: hex ids, nanosecond strings, kinds, status", () => {
    const spans: SpanData[] = [
      { traceId: TID, spanId: PID, parentId: "", name: "GET 0", kind: 2, startMs: 1, endMs: 2.5, status: 502, method: "GET", error: "UPSTREAM_CONNECT" },
      { traceId: TID, spanId: "1111111111111111", parentId: PID, name: "GET upstream", kind: 3, startMs: 1.2, endMs: 2.4, status: 200, method: "GET", upstream: "127.0.0.1:9" },
    ];
    const body = JSON.parse(otlpBody(spans, "dreamserver"));
    const rs = body.resourceSpans[0];
    expect(rs.resource.attributes).toEqual([{ key: "service.name", value: { stringValue: "dreamserver" } }]);
    const [a, b] = rs.scopeSpans[0].spans;
    expect(a).toMatchObject({ traceId: TID, spanId: PID, name: "GET 0", kind: 2, status: { code: 2 } });
    expect(a.parentSpanId).toBeUndefined();
    expect(b).toMatchObject({ parentSpanId: PID, kind: 3, status: { code: 0 } });
    expect(a.startTimeUnixNano).toMatch(/^\d{19}$/);
    expect(BigInt(a.endTimeUnixNano) - BigInt(a.startTimeUnixNano)).toBeGreaterThan(1_400_000n);
    expect(BigInt(a.endTimeUnixNano) - BigInt(a.startTimeUnixNano)).toBeLessThan(1_600_000n);
    expect(b.attributes).toContainEqual({ key: "http.response.status_code", value: { intValue: "200" } });
  });
});
