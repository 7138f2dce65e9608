/**
 * Range requests answered from a stored 200 (src/cache/entry-range.ts; RFC 9110 §14 and
 * If-Range §13.1.5): 206 single ranges, 416, the whole 200 for several ranges, bad syntax,
 * other units, non-200 entries and If-Range against the stored validators.
 */
import { describe, expect, test } from "bun:test";
import { rangeOfEntry, type RangeableEntry } from "../../src/cache/entry-range.ts";
import { HeaderList } from "../../src/http1/header-list.ts";

const LM = "Sun, 06 Dec 2026 09:00:00 GMT";
const entry = (over: Partial<RangeableEntry> = {}): RangeableEntry => ({
  status: 200,
  body: new Uint8Array(1000),
  etag: '"v1"',
  lastModified: LM,
  age: { dateValue: Date.parse(LM) + 3_600_000 },
  ...over,
});

function req(fields: [string, string][]): HeaderList {
  const h = new HeaderList();
  for (const [k, v] of fields) h.add(k, v, k.toLowerCase());
  return h;
}

describe("rangeOfEntry (RFC 9110 §14)", () => {
  const cases: [string, [string, string][], Partial<RangeableEntry>, string][] = [
    ["§14.1.2 single int-range", [["Range", "bytes=10-19"]], {}, "single 10-19 bytes 10-19/1000"],
    ["§14.1.2 open-ended", [["Range", "bytes=990-"]], {}, "single 990-999 bytes 990-999/1000"],
    ["§14.1.2 last-pos past the end is clipped", [["Range", "bytes=995-5000"]], {}, "single 995-999 bytes 995-999/1000"],
    ["§14.1.2 suffix-range", [["Range", "bytes=-5"]], {}, "single 995-999 bytes 995-999/1000"],
    ["§14.1.1 unit is case-insensitive", [["Range", "BYTES=0-0"]], {}, "single 0-0 bytes 0-0/1000"],
    ["§15.5.17 first-pos past the end → 416", [["Range", "bytes=1000-"]], {}, "unsatisfiable bytes */1000"],
    ["§14.2 several ranges → whole 200 (no multipart from the cache)", [["Range", "bytes=0-1,5-6"]], {}, "full"],
    ["§14.2 overlapping ranges that coalesce to one → 206", [["Range", "bytes=0-10,5-20"]], {}, "single 0-20 bytes 0-20/1000"],
    ["§14.2 other unit ignored", [["Range", "items=0-1"]], {}, "full"],
    ["§14.1.1 last < first is invalid → ignored", [["Range", "bytes=20-10"]], {}, "full"],
    ["§14.2 repeated Range field ignored", [["Range", "bytes=0-1"], ["Range", "bytes=2-3"]], {}, "full"],
    ["only a stored 200 is sliced", [["Range", "bytes=0-1"]], { status: 404 }, "full"],
    ["§13.1.5 If-Range strong ETag match", [["Range", "bytes=0-1"], ["If-Range", '"v1"']], {}, "single 0-1 bytes 0-1/1000"],
    ["§13.1.5 If-Range other ETag → whole 200", [["Range", "bytes=0-1"], ["If-Range", '"v2"']], {}, "full"],
    ["§13.1.5 If-Range weak tag never matches", [["Range", "bytes=0-1"], ["If-Range", 'W/"v1"']], {}, "full"],
    ["§13.1.5 stored weak ETag never matches", [["Range", "bytes=0-1"], ["If-Range", '"v1"']], { etag: 'W/"v1"' }, "full"],
    ["§13.1.5 no stored ETag: an If-Range tag does not match", [["Range", "bytes=0-1"], ["If-Range", '"v1"']], { etag: null }, "full"],
    ["§13.1.5 If-Range date equal to Last-Modified", [["Range", "bytes=0-1"], ["If-Range", LM]], {}, "single 0-1 bytes 0-1/1000"],
    ["§13.1.5 If-Range other date → whole 200", [["Range", "bytes=0-1"], ["If-Range", "Sun, 06 Dec 2026 09:00:01 GMT"]], {}, "full"],
    ["§8.8.2.2 a Last-Modified equal to Date is weak: an If-Range date is not honoured", [["Range", "bytes=0-1"], ["If-Range", LM]], { age: { dateValue: Date.parse(LM) } }, "full"],
    ["§8.8.2.2 Last-Modified one second before Date is strong", [["Range", "bytes=0-1"], ["If-Range", LM]], { age: { dateValue: Date.parse(LM) + 1000 } }, "single 0-1 bytes 0-1/1000"],
    ["§13.1.5 If-Range date without stored Last-Modified", [["Range", "bytes=0-1"], ["If-Range", LM]], { lastModified: null }, "full"],
    ["§13.1.5 unparsable If-Range", [["Range", "bytes=0-1"], ["If-Range", "yesterday"]], {}, "full"],
    ["empty body: 0- is unsatisfiable", [["Range", "bytes=0-"]], { body: new Uint8Array(0) }, "unsatisfiable bytes */0"],
  ];
  for (const [name, fields, over, want] of cases) {
    test(name, () => {
      const r = rangeOfEntry(req(fields), entry(over));
      const got = r.kind === "full" ? "full" : r.kind === "unsatisfiable" ? `unsatisfiable ${r.contentRange}` : `single ${r.range.start}-${r.range.end} ${r.contentRange}`;
      expect(got).toBe(want);
    });
  }
});
