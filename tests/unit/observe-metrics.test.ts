/** The metrics registry: rendering (Prometheus text, OpenMetrics), histograms, merging workers' snapshots. */
import { describe, expect, test } from "bun:test";
import { HistogramChild, mergeSnapshots, Registry, render, wantsOpenMetrics } from "../../src/observe/metrics.ts";

describe("registry rendering", () => {
  const cases: { name: string; build: (r: Registry) => void; prom: string; om: string }[] = [
    {
      name: "counter without labels gets _total",
      build: (r) => r.counter("x_requests", "Requests.").labels().inc(3),
      prom: "# HELP x_requests_total Requests.\n# TYPE x_requests_total counter\nx_requests_total 3\n",
      om: "# HELP x_requests Requests.\n# TYPE x_requests counter\nx_requests_total 3\n# EOF\n",
    },
    {
      name: "gauge with labels, escaped values",
      build: (r) => r.gauge("x_g", "A gauge.", ["a", "b"]).labels('q"\\', "n\nl").set(1.5),
      prom: '# HELP x_g A gauge.\n# TYPE x_g gauge\nx_g{a="q\\"\\\\",b="n\\nl"} 1.5\n',
      om: '# HELP x_g A gauge.\n# TYPE x_g gauge\nx_g{a="q\\"\\\\",b="n\\nl"} 1.5\n# EOF\n',
    },
    {
      name: "histogram: cumulative buckets, +Inf, sum and count",
      build: (r) => {
        const h = r.histogram("x_seconds", "Durations.", ["route"], [0.1, 1]).labels("0");
        for (const v of [0.05, 0.1, 0.5, 2]) h.observe(v);
      },
      prom:
        '# HELP x_seconds Durations.\n# TYPE x_seconds histogram\nx_seconds_bucket{route="0",le="0.1"} 2\nx_seconds_bucket{route="0",le="1"} 3\nx_seconds_bucket{route="0",le="+Inf"} 4\nx_seconds_sum{route="0"} 2.65\nx_seconds_count{route="0"} 4\n',
      om: '# HELP x_seconds Durations.\n# TYPE x_seconds histogram\nx_seconds_bucket{route="0",le="0.1"} 2\nx_seconds_bucket{route="0",le="1"} 3\nx_seconds_bucket{route="0",le="+Inf"} 4\nx_seconds_sum{route="0"} 2.65\nx_seconds_count{route="0"} 4\n# EOF\n',
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const r = new Registry();
      c.build(r);
      expect(render(r.snapshot(), false)).toBe(c.prom);
      expect(render(r.snapshot(), true)).toBe(c.om);
    });
  }

  test("the same name registers once (reloads keep counts); a different shape is an error", () => {
    const r = new Registry();
    r.counter("x_c", "c", ["a"]).labels("1").inc();
    r.counter("x_c", "c", ["a"]).labels("1").inc();
    expect(r.snapshot()[0]!.series).toEqual([[["1"], 2]]);
    expect(() => r.gauge("x_c", "c", ["a"])).toThrow();
    expect(() => r.counter("x_c", "c", ["b"])).toThrow();
    expect(() => r.counter("bad-name", "c")).toThrow();
    // The renderer appends _total; a counter named x_total would be scraped as x_total_total.
    expect(() => r.counter("x_hits_total", "c")).toThrow();
    expect(() => r.counter("x_c", "c", ["a"]).labels()).toThrow();
  });

  test("collectors run before each snapshot", () => {
    const r = new Registry();
    const g = r.gauge("x_open", "open").labels();
    let n = 0;
    r.onCollect(() => g.set(++n));
    r.snapshot();
    expect(r.snapshot()[0]!.series[0]![1]).toBe(2);
  });
});

describe("histogram buckets", () => {
  const rows: [number, number][] = [
    [0, 0],
    [0.1, 0],
    [0.10001, 1],
    [1, 1],
    [1.5, 2],
    [Infinity, 2],
  ];
  for (const [v, slot] of rows) {
    test(`${v} lands in slot ${slot} (le is inclusive)`, () => {
      const h = new HistogramChild([0.1, 1]);
      h.observe(v);
      expect([...h.counts].indexOf(1)).toBe(slot);
      expect(h.count).toBe(1);
    });
  }
});

describe("merging workers' snapshots", () => {
  test("counters and histograms add up, gauges sum or take the max, new series are kept", () => {
    const mk = (n: number) => {
      const r = new Registry();
      r.counter("x_req", "r", ["s"]).labels("2xx").inc(n);
      if (n === 2) r.counter("x_req", "r", ["s"]).labels("5xx").inc(1);
      r.gauge("x_conn", "c").labels().set(n);
      r.gauge("x_lag", "l", [], "max").labels().set(n / 10);
      r.histogram("x_h", "h", [], [1]).labels().observe(n);
      return r.snapshot();
    };
    const m = mergeSnapshots([mk(1), mk(2), mk(3)]);
    const text = render(m, false);
    expect(text).toContain('x_req_total{s="2xx"} 6\n');
    expect(text).toContain('x_req_total{s="5xx"} 1\n');
    expect(text).toContain("x_conn 6\n");
    expect(text).toContain("x_lag 0.3\n");
    expect(text).toContain('x_h_bucket{le="1"} 1\nx_h_bucket{le="+Inf"} 3\nx_h_sum 6\nx_h_count 3\n');
  });
});

describe("content negotiation", () => {
  const rows: [string | undefined, boolean][] = [
    [undefined, false],
    ["text/plain", false],
    ["application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", true],
  ];
  for (const [accept, om] of rows) test(`Accept ${accept} → OpenMetrics ${om}`, () => expect(wantsOpenMetrics(accept)).toBe(om));
});

describe("the server's own families", () => {
  test("the cache's request counter is scraped as dreamserver_cache_requests_total, not _total_total", async () => {
    await import("../../src/middleware/cache/route-cache.ts");
    const { metrics } = await import("../../src/observe/metrics.ts");
    const text = render(metrics.snapshot(), false);
    expect(text).toContain("# TYPE dreamserver_cache_requests_total counter");
    expect(text).not.toContain("_total_total");
  });
});
