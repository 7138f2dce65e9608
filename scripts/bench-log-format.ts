/**
 * Micro-benchmark of one access-log record, formatted and handed to the writer:
 *   string path: writer.write(formatX(r))      (the line built as a string, then encoded)
 *   byte path:   writer.writeEncoded(r, …)     (what the server does: bytes into the stage)
 * for the text and JSON formats, written to /dev/null through the real AppendWriter.
 *
 *   bun scripts/bench-log-format.ts [--records 200000] [--rounds 5]
 *
 * Reports per record: CPU time (process.cpuUsage, user+system, so other load on the machine
 * matters little; rounds interleave the variants and the median is shown) and the JS heap cells
 * it leaves (bun:jsc heapStats().objectTypeCounts summed, before/after 2,000 records after a
 * full GC: strings, rope strings, objects; JSC's heapSize only moves at collection time, so cell
 * counts are the measurable allocation figure).
 */
import { heapStats } from "bun:jsc";
import type { AccessRecord } from "../src/log/access-record.ts";
import { lineBound } from "../src/log/line-bytes.ts";
import { AppendWriter } from "../src/log/file-writer.ts";
import { encodeJson, formatJson } from "../src/log/format-json.ts";
import { encodeText, formatText, recordChars } from "../src/log/format-text.ts";
import { intArg, median, splitFlag, table } from "./bench.ts";

const HELP = "usage: bun scripts/bench-log-format.ts [--records 200000] [--rounds 5]\n";
const o = { records: 200_000, rounds: 5 };
{
  const num = intArg(HELP);
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    const val = (): string | undefined => inline ?? argv[++i];
    if (flag === "--records") o.records = num(flag, val(), 1000, 100_000_000);
    else if (flag === "--rounds") o.rounds = num(flag, val(), 1, 50);
    else {
      process.stderr.write(HELP);
      process.exit(2);
    }
  }
}

// Records as the server makes them: a proxied request, a static one, a refused one.
const t0 = Date.now();
const records: AccessRecord[] = [
  { time: t0, id: "V1StGXR8_Z5jdHi6B-myT", ip: "127.0.0.1", method: "GET", path: "/index.html", host: "127.0.0.1:8080", status: 200, bytes: 4337, latencyMs: 0.0421, userAgent: "wrk" },
  { time: t0 + 1, id: "3x4mpl3_1d_0f_21_chrs", ip: "192.168.10.27", method: "POST", path: "/api/v1/items?page=2&sort=name", host: "api.example.com", status: 201, bytes: 512, latencyMs: 1.2345, upstream: "10.0.0.5:8000", upstreamStatus: 201, upstreamConnectMs: 0.08, upstreamTtfbMs: 1.1, userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7" },
  { time: t0 + 2, id: "q9ZbXk2mPw7Ld0RtYu3eA", ip: "203.0.113.9", method: "GET", path: "/../etc/passwd", host: "example.com", status: 400, bytes: 180, latencyMs: 0.012, error: "PATH_TRAVERSAL", userAgent: "curl/8.5.0" },
];

type Variant = { name: string; run: (w: AppendWriter, r: AccessRecord) => void };
const variants: Variant[] = [
  { name: "text, string path", run: (w, r) => w.write(formatText(r)) },
  { name: "text, byte path", run: (w, r) => w.writeEncoded(r, lineBound(recordChars(r)), encodeText, formatText) },
  { name: "json, string path", run: (w, r) => w.write(formatJson(r)) },
  { name: "json, byte path", run: (w, r) => w.writeEncoded(r, lineBound(recordChars(r)), encodeJson, formatJson) },
];

const writer = new AppendWriter("/dev/null");
function cpuNs(v: Variant, n: number): number {
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) v.run(writer, records[i % 3]!);
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / n;
}
const cells = (): number => Object.values(heapStats().objectTypeCounts).reduce((a, b) => a + b, 0);
function allocCells(v: Variant, n: number): number {
  Bun.gc(true);
  const c0 = cells();
  for (let i = 0; i < n; i++) v.run(writer, records[i % 3]!);
  return Math.max(0, cells() - c0) / n;
}

for (const v of variants) cpuNs(v, 50_000); // warm-up: JIT tiers
const cpu = new Map<string, number[]>(variants.map((v) => [v.name, []]));
const alloc = new Map<string, number[]>(variants.map((v) => [v.name, []]));
for (let round = 0; round < o.rounds; round++) {
  for (const v of variants) {
    cpu.get(v.name)!.push(cpuNs(v, o.records));
    alloc.get(v.name)!.push(allocCells(v, 2000));
  }
}
writer.close();
const rows = variants.map((v) => [v.name, median(cpu.get(v.name)!).toFixed(0), median(alloc.get(v.name)!).toFixed(1)]);
const ratio = (a: string, b: string, m: Map<string, number[]>): string => {
  const d = median(m.get(b)!);
  return d < 0.05 ? `${median(m.get(a)!).toFixed(1)} → 0` : (median(m.get(a)!) / d).toFixed(2) + "×";
};
process.stdout.write(
  `access-log record → AppendWriter(/dev/null), Bun ${Bun.version}, ${o.rounds} interleaved rounds × ${o.records} records, medians\n` +
    table(["variant", "CPU ns/record", "heap cells/record"], rows, [0]) +
    `\n\nstring/byte: text CPU ${ratio("text, string path", "text, byte path", cpu)}, cells ${ratio("text, string path", "text, byte path", alloc)}; ` +
    `json CPU ${ratio("json, string path", "json, byte path", cpu)}, cells ${ratio("json, string path", "json, byte path", alloc)}\n`,
);
