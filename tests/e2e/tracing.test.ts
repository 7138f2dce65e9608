/**
 * W3C Trace Context through the proxy (parent → child span, sampled flag kept, malformed
 * replaced), trace ids in the access log, and OTLP/HTTP JSON export to a receiver in this test
 * that decodes what we send; a dead collector costs requests nothing and its drops are counted.
 */
import { afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer, waitFor, type RunningServer } from "./harness.ts";
import { closedPort } from "./proxy-backends.ts";

const servers: RunningServer[] = [];
const stops: (() => void)[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop("SIGTERM");
  for (const f of stops.splice(0)) f();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const TID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PID = "00f067aa0ba902b7";

/** A backend that records the trace fields it receives. */
function backend() {
  const seen: { traceparent: string | null; tracestate: string | null }[] = [];
  const srv = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      seen.push({ traceparent: req.headers.get("traceparent"), tracestate: req.headers.get("tracestate") });
      return new Response("ok");
    },
  });
  stops.push(() => srv.stop(true));
  return { port: srv.port!, seen };
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, string> }[];
}

/** An OTLP/HTTP JSON receiver: decodes each POST body and keeps the spans. */
function receiver() {
  const spans: OtlpSpan[] = [];
  const posts: string[] = [];
  const srv = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const u = new URL(req.url);
      posts.push(`${req.method} ${u.pathname} ${req.headers.get("content-type")}`);
      const body = (await req.json()) as { resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      return Response.json({});
    },
  });
  stops.push(() => srv.stop(true));
  return { port: srv.port!, spans, posts };
}

async function start(backendPort: number, tracing: string, format = "text"): Promise<{ s: RunningServer; port: number }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-trace-"));
  dirs.push(dir);
  const port = closedPort();
  const file = path.join(dir, "c.toml");
  fs.writeFileSync(
    file,
    `[tracing]\n${tracing}\n[admin]\nlisten = "off"\n[log]\nformat = "${format}"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\n  [[site.route]]\n  path = "/"\n  proxy = { to = "http://127.0.0.1:${backendPort}" }\n`,
  );
  const s = await startServer(["--config", file, "--workers", "1"]);
  servers.push(s);
  return { s, port };
}

describe("trace context through the proxy", () => {
  test("a sampled parent: the backend gets a child span of ours (same trace, sampled kept, tracestate passed); the log and the collector agree", async () => {
    const b = backend();
    const r = receiver();
    const { s, port } = await start(b.port, `sample = 0\notlp_endpoint = "http://127.0.0.1:${r.port}/v1/traces"`);
    const res = await fetch(`http://127.0.0.1:${port}/x`, { headers: { traceparent: `00-${TID}-${PID}-01`, tracestate: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE" } });
    expect(await res.text()).toBe("ok");
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(b.seen[0]!.traceparent ?? "");
    expect(m).not.toBeNull();
    expect(m![1]).toBe(TID);
    expect(m![2]).not.toBe(PID);
    expect(b.seen[0]!.tracestate).toBe("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    const childId = m![2]!;

    const line = await waitFor(() => s.readLog().split("\n").find((l) => l.includes(`trace_id=${TID}`)), 3000);
    const spanId = /span_id=([0-9a-f]{16})/.exec(line ?? "")?.[1];
    expect(spanId).toMatch(/^[0-9a-f]{16}$/);

    // The exporter flushes about once a second.
    await waitFor(() => r.spans.length >= 2, 5000);
    expect(r.posts[0]).toBe("POST /v1/traces application/json");
    const server = r.spans.find((x) => x.kind === 2)!;
    const client = r.spans.find((x) => x.kind === 3)!;
    expect(server).toMatchObject({ traceId: TID, spanId, parentSpanId: PID });
    expect(client).toMatchObject({ traceId: TID, spanId: childId, parentSpanId: spanId });
    expect(BigInt(server.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(server.startTimeUnixNano));
    expect(server.attributes).toContainEqual({ key: "http.response.status_code", value: { intValue: "200" } });
  });

  test("an unsampled parent stays unsampled (flag 00) and exports nothing, even with sample = 1", async () => {
    const b = backend();
    const r = receiver();
    const { port } = await start(b.port, `sample = 1\notlp_endpoint = "http://127.0.0.1:${r.port}/v1/traces"`);
    await (await fetch(`http://127.0.0.1:${port}/x`, { headers: { traceparent: `00-${TID}-${PID}-00` } })).text();
    expect(b.seen[0]!.traceparent).toMatch(new RegExp(`^00-${TID}-[0-9a-f]{16}-00$`));
    // A sampled request afterwards is exported: by then the unsampled one would have been too.
    await (await fetch(`http://127.0.0.1:${port}/y`)).text();
    await waitFor(() => r.spans.length >= 2, 5000);
    expect(r.spans.some((x) => x.traceId === TID)).toBe(false);
  });

  test("malformed traceparent is replaced (new trace, tracestate dropped); JSON log carries trace_id/span_id", async () => {
    const b = backend();
    const { s, port } = await start(b.port, "sample = 1", "json");
    await (await fetch(`http://127.0.0.1:${port}/x`, { headers: { traceparent: `00-${TID.toUpperCase()}-${PID}-01`, tracestate: "rojo=1" } })).text();
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(b.seen[0]!.traceparent ?? "")!;
    expect(m[1]).not.toBe(TID.toLowerCase());
    expect(b.seen[0]!.tracestate).toBeNull();
    const rec = JSON.parse((await waitFor(() => s.readLog().split("\n").find((l) => l.startsWith("{")), 3000))!);
    expect(rec.trace_id).toBe(m[1]);
    expect(rec.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(rec.span_id).not.toBe(m[2]);
  });

  test("a dead collector: requests are answered as usual, the spans are dropped and counted", async () => {
    const b = backend();
    const dead = closedPort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-trace-"));
    dirs.push(dir);
    const port = closedPort();
    const admin = closedPort();
    const file = path.join(dir, "c.toml");
    fs.writeFileSync(
      file,
      `[tracing]\nsample = 1\notlp_endpoint = "http://127.0.0.1:${dead}/v1/traces"\n[admin]\nlisten = "127.0.0.1:${admin}"\n[log]\naccess = "off"\n[[site]]\nlisten = ["127.0.0.1:${port}"]\n  [[site.route]]\n  path = "/"\n  proxy = { to = "http://127.0.0.1:${b.port}" }\n`,
    );
    const s = await startServer(["--config", file, "--workers", "1"]);
    servers.push(s);
    for (let i = 0; i < 20; i++) expect((await fetch(`http://127.0.0.1:${port}/x`)).status).toBe(200);
    // The exporter tries about once a second; poll the counter until every span is accounted for.
    let n = 0;
    const end = Date.now() + 5000;
    while (n < 40 && Date.now() < end) {
      await Bun.sleep(100);
      const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
      n = Number(/dreamserver_trace_spans_total\{result="dropped"\} (\d+)/.exec(text)?.[1] ?? 0);
    }
    expect(n).toBe(40); // 20 server spans + 20 client spans
  });
});
