/** RFC 9114 §4.1.2: Content-Length against the sum of DATA payloads (stream error H3_MESSAGE_ERROR). */
import { expect, test } from "bun:test";
import { DataLengthCheck } from "../../src/http3/content-length.ts";
import { H3, H3Error } from "../../src/http3/h3-error.ts";

function outcome(declared: number, pieces: number[]): string {
  const c = new DataLengthCheck(declared);
  try {
    for (const p of pieces) c.onData(p);
    c.finish();
    return `ok ${c.total}`;
  } catch (e) {
    const err = e as H3Error;
    expect(err.code).toBe(H3.MESSAGE_ERROR);
    expect(err.scope).toBe("stream");
    return "H3_MESSAGE_ERROR";
  }
}

const cases: [string, number, number[], string][] = [
  ["exact, one piece", 5, [5], "ok 5"],
  ["exact, several pieces and empty DATA", 5, [2, 0, 3], "ok 5"],
  ["zero with no DATA", 0, [], "ok 0"],
  ["short", 5, [4], "H3_MESSAGE_ERROR"],
  ["no DATA but 5 declared", 5, [], "H3_MESSAGE_ERROR"],
  ["over by one", 5, [3, 3], "H3_MESSAGE_ERROR"],
  ["no Content-Length: any length", -1, [1000, 1], "ok 1001"],
];
for (const [name, declared, pieces, want] of cases) test(name, () => expect(outcome(declared, pieces)).toBe(want));

test("an overrun is reported at the piece that crosses the limit, before the stream ends", () => {
  const c = new DataLengthCheck(3);
  c.onData(3);
  expect(() => c.onData(1)).toThrow(/H3_MESSAGE_ERROR/);
});
