import { expect, test } from "bun:test";
import { drainFreshnessBatches, FreshnessBatch } from "../../src/static/freshness-batch.ts";

/** A fake disk: entries are checked against `version`; each check is recorded. */
function setup() {
  const log: string[] = [];
  const disk = { version: 1 };
  const entry = { version: 1 };
  const other = { version: 1 };
  let onAnswer: ((x: string) => void) | null = null;
  const batch = new FreshnessBatch<string, { version: number }, null>(
    (e) => {
      log.push("check");
      return e.version === disk.version;
    },
    (x, _e, _t, fresh) => {
      log.push(`${x}:${fresh ? "fresh" : "stale"}`);
      onAnswer?.(x);
    },
  );
  return { log, disk, entry, other, batch, setOnAnswer: (f: (x: string) => void) => (onAnswer = f) };
}

test("one check per entry per batch, every queued request answered in order, nothing before the batch runs", async () => {
  const { log, entry, other, batch } = setup();
  batch.defer("a", entry, null);
  batch.defer("b", entry, null);
  batch.defer("c", other, null);
  batch.defer("d", entry, null);
  expect(log).toEqual([]);
  await new Promise((r) => setImmediate(r));
  expect(log).toEqual(["check", "a:fresh", "b:fresh", "check", "c:fresh", "d:fresh"]);
});

test("the check runs after every queued request: a change made between two deferrals is seen by both", () => {
  const { log, disk, entry, batch } = setup();
  batch.defer("before-change", entry, null);
  disk.version = 2; // the second request was sent after this change
  batch.defer("after-change", entry, null);
  drainFreshnessBatches();
  expect(log).toEqual(["check", "before-change:stale", "after-change:stale"]);
});

test("a request queued while answering (next pipelined request) is answered in the same run, with the same check", () => {
  const { log, entry, batch, setOnAnswer } = setup();
  let n = 0;
  setOnAnswer((x) => {
    if (x.startsWith("p") && ++n < 4) batch.defer(`p${n}`, entry, null);
  });
  batch.defer("p0", entry, null);
  drainFreshnessBatches();
  expect(log).toEqual(["check", "p0:fresh", "p1:fresh", "p2:fresh", "p3:fresh"]);
});

test("a new batch makes a new check", async () => {
  const { log, entry, batch } = setup();
  batch.defer("a", entry, null);
  await new Promise((r) => setImmediate(r));
  batch.defer("b", entry, null);
  await new Promise((r) => setImmediate(r));
  expect(log).toEqual(["check", "a:fresh", "check", "b:fresh"]);
});
