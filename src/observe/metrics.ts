/**
 * The metrics registry: counters, gauges and histograms registered by name with a fixed list of
 * label names, rendered in the Prometheus text format (0.0.4) or OpenMetrics 1.0.
 *
 * One small interface for every feature that wants its own series:
 *
 *   const hits = metrics.counter("dreamserver_cache_hits", "Cache lookups by result.", ["result"]);
 *   const hit = hits.labels("hit");      // resolve once (at config load), keep the child
 *   hit.inc();                           // hot path: one number addition
 *
 * Label values must come from configuration (site and route indexes, upstream names) or from a
 * fixed set in the code (status class, method), never from request data, so the number of
 * series stays bounded. A family is registered once per process (registering the same name
 * again returns it, so reloads keep their counts); children live as long as the process.
 *
 * Counters are named without "_total": the renderer adds it (OpenMetrics wants the family name
 * without the suffix on # TYPE and with it on the sample).
 *
 * With workers, each worker's registry is snapshotted (snapshot()) and sent to the supervisor,
 * which merges them (mergeSnapshots) and renders the sum: see docs/observability.md.
 *
 * Pure code: no Bun imports.
 */

export type MetricKind = "counter" | "gauge" | "histogram";
/** How a gauge combines across worker processes. */
export type GaugeMerge = "sum" | "max" | "min";

export class CounterChild {
  value = 0;
  inc(n = 1): void {
    this.value += n;
  }
}

export class GaugeChild {
  value = 0;
  set(v: number): void {
    this.value = v;
  }
  inc(n = 1): void {
    this.value += n;
  }
  dec(n = 1): void {
    this.value -= n;
  }
}

export class HistogramChild {
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
  }
  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }
}

type Child = CounterChild | GaugeChild | HistogramChild;

export class Family<C extends Child = Child> {
  readonly children = new Map<string, { values: readonly string[]; child: C }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly kind: MetricKind,
    readonly labelNames: readonly string[],
    private readonly make: () => C,
    readonly buckets: readonly number[] = [],
    readonly merge: GaugeMerge = "sum",
  ) {}

  /** The child for these label values (in labelNames order), created on first use. Resolve once, keep it. */
  labels(...values: string[]): C {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name}: expected ${this.labelNames.length} label values, got ${values.length}`);
    const key = values.join("\u0000");
    let e = this.children.get(key);
    if (e === undefined) {
      e = { values, child: this.make() };
      this.children.set(key, e);
    }
    return e.child;
  }
}

/** Seconds, 100 µs … 60 s: fast static hits through slow upstreams and long polls. */
export const DURATION_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** One series in a snapshot: its label values and its value (histogram: per-bucket counts and sum). */
export type SeriesValue = number | { counts: number[]; sum: number };
export interface FamilySnapshot {
  name: string;
  help: string;
  kind: MetricKind;
  labelNames: string[];
  buckets: number[];
  merge: GaugeMerge;
  series: [string[], SeriesValue][];
}
/** A whole registry as plain data (JSON-safe), for IPC between workers and the supervisor. */
export type Snapshot = FamilySnapshot[];

export class Registry {
  private readonly families = new Map<string, Family>();
  /** Run before every snapshot: gauges read at scrape time (open connections, process stats). */
  private readonly collectors: (() => void)[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Family<CounterChild> {
    // The renderer appends "_total"; a name that already ends in it would be scraped as "x_total_total".
    if (name.endsWith("_total")) throw new Error(`counter ${name}: register it without "_total" (the renderer adds it)`);
    return this.register(name, help, "counter", labelNames, () => new CounterChild());
  }
  gauge(name: string, help: string, labelNames: readonly string[] = [], merge: GaugeMerge = "sum"): Family<GaugeChild> {
    return this.register(name, help, "gauge", labelNames, () => new GaugeChild(), [], merge);
  }
  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets: readonly number[] = DURATION_BUCKETS): Family<HistogramChild> {
    return this.register(name, help, "histogram", labelNames, () => new HistogramChild(buckets), buckets);
  }

  /** A function run before each snapshot to set scrape-time gauges. */
  onCollect(f: () => void): void {
    this.collectors.push(f);
  }

  private register<C extends Child>(name: string, help: string, kind: MetricKind, labelNames: readonly string[], make: () => C, buckets: readonly number[] = [], merge: GaugeMerge = "sum"): Family<C> {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`invalid metric name ${name}`);
    const old = this.families.get(name);
    if (old) {
      if (old.kind !== kind || old.labelNames.join(",") !== labelNames.join(",")) throw new Error(`metric ${name} registered twice with different kinds or labels`);
      return old as unknown as Family<C>;
    }
    const f = new Family<C>(name, help, kind, labelNames, make, buckets, merge);
    this.families.set(name, f as unknown as Family);
    return f;
  }

  snapshot(): Snapshot {
    for (const c of this.collectors) c();
    const out: Snapshot = [];
    for (const f of this.families.values()) {
      const series: [string[], SeriesValue][] = [];
      for (const { values, child } of f.children.values()) {
        if (child instanceof HistogramChild) series.push([[...values], { counts: [...child.counts], sum: child.sum }]);
        else series.push([[...values], child.value]);
      }
      out.push({ name: f.name, help: f.help, kind: f.kind, labelNames: [...f.labelNames], buckets: [...f.buckets], merge: f.merge, series });
    }
    return out;
  }
}

/**
 * Several processes' snapshots as one: counters and histograms add up, gauges by their merge
 * rule (sum; max for the worst, e.g. event-loop lag; min for "all agree", e.g. health 1/0).
 */
export function mergeSnapshots(snaps: readonly Snapshot[]): Snapshot {
  const fams = new Map<string, FamilySnapshot & { index: Map<string, number> }>();
  for (const snap of snaps) {
    for (const f of snap) {
      let m = fams.get(f.name);
      if (m === undefined) {
        m = { ...f, series: [], index: new Map() };
        fams.set(f.name, m);
      }
      for (const [values, v] of f.series) {
        const key = values.join("\u0000");
        const i = m.index.get(key);
        if (i === undefined) {
          m.index.set(key, m.series.length);
          m.series.push([values, typeof v === "number" ? v : { counts: [...v.counts], sum: v.sum }]);
          continue;
        }
        const cur = m.series[i]!;
        if (typeof v === "number") {
          const a = cur[1] as number;
          cur[1] = f.kind === "gauge" && f.merge === "max" ? Math.max(a, v) : f.kind === "gauge" && f.merge === "min" ? Math.min(a, v) : a + v;
        } else {
          const a = cur[1] as { counts: number[]; sum: number };
          for (let k = 0; k < a.counts.length; k++) a.counts[k]! += v.counts[k] ?? 0;
          a.sum += v.sum;
        }
      }
    }
  }
  return [...fams.values()].map(({ index: _, ...f }) => f);
}

export const PROMETHEUS_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/** True when the Accept field asks for OpenMetrics (what Prometheus sends first when it supports it). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept !== undefined && accept.includes("application/openmetrics-text");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}
function num(v: number): string {
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}
function labelText(names: readonly string[], values: readonly string[], extra = ""): string {
  const parts: string[] = [];
  for (let i = 0; i < names.length; i++) parts.push(`${names[i]}="${escapeLabel(values[i]!)}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(",")}}` : "";
}

/** The exposition text of a snapshot: Prometheus 0.0.4, or OpenMetrics 1.0 (ends with # EOF). */
export function render(snap: Snapshot, openMetrics: boolean): string {
  const out: string[] = [];
  for (const f of snap) {
    const sampleBase = f.kind === "counter" ? `${f.name}_total` : f.name;
    out.push(`# HELP ${openMetrics ? f.name : sampleBase} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${openMetrics ? f.name : sampleBase} ${f.kind}`);
    for (const [values, v] of f.series) {
      if (typeof v === "number") {
        out.push(`${sampleBase}${labelText(f.labelNames, values)} ${num(v)}`);
        continue;
      }
      let cum = 0;
      for (let i = 0; i <= f.buckets.length; i++) {
        cum += v.counts[i] ?? 0;
        const le = i < f.buckets.length ? num(f.buckets[i]!) : "+Inf";
        out.push(`${f.name}_bucket${labelText(f.labelNames, values, `le="${le}"`)} ${cum}`);
      }
      out.push(`${f.name}_sum${labelText(f.labelNames, values)} ${num(v.sum)}`);
      out.push(`${f.name}_count${labelText(f.labelNames, values)} ${cum}`);
    }
  }
  if (openMetrics) out.push("# EOF");
  return out.join("\n") + "\n";
}

/** The process-wide registry. */
export const metrics = new Registry();
