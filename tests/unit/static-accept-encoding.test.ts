/** Accept-Encoding negotiation (RFC 9110 §12.5.3) as tables: src/static/accept-encoding.ts. */
import { describe, expect, test } from "bun:test";
import { parseAcceptEncoding, parseQvalue, rankCodings } from "../../src/static/accept-encoding.ts";

const OFFER = ["zstd", "br", "gzip"];

describe("rankCodings", () => {
  const cases: Array<[string | null, string[], string]> = [
    [null, ["identity"], "no field: identity only"],
    ["", ["identity"], "empty field: identity only"],
    ["gzip", ["gzip", "identity"], "one coding"],
    ["gzip, br, zstd", ["zstd", "br", "gzip", "identity"], "equal q: server order decides"],
    ["br, gzip", ["br", "gzip", "identity"], "only listed ones"],
    ["GZIP, Br", ["br", "gzip", "identity"], "uppercase names"],
    ["x-gzip", ["gzip", "identity"], "x-gzip alias"],
    ["gzip;q=0.5, br;q=0.9", ["br", "gzip", "identity"], "q decides before server order"],
    ["gzip;q=0", ["identity"], "gzip;q=0 excludes gzip"],
    ["gzip;q=0, *", ["zstd", "br", "identity"], "* covers the rest, identity included"],
    ["*", ["zstd", "br", "gzip", "identity"], "* alone"],
    ["*;q=0", [], "*;q=0: nothing acceptable (406)"],
    ["*;q=0, identity", ["identity"], "identity rescued by name"],
    ["identity;q=0", [], "identity;q=0 with no coding: 406"],
    ["gzip, identity;q=0", ["gzip"], "identity excluded, gzip fine"],
    ["identity, gzip;q=0.5", ["identity", "gzip"], "explicit identity outranks lower q"],
    ["gzip;q=0.001", ["gzip", "identity"], "implicit identity ranks after any rated coding"],
    ["gzip ; Q=0.8 , br", ["br", "gzip", "identity"], "OWS around ; and uppercase Q"],
    ["gzip;q=1.5, br", ["br", "identity"], "bad qvalue drops the element"],
    ["gzip;level=9, br", ["br", "identity"], "unknown parameter drops the element"],
    ["compress, deflate", ["identity"], "nothing we offer"],
    [";;;,,,", ["identity"], "garbage: identity only"],
    ["gzip;q=0, gzip", ["gzip", "identity"], "repeated: highest q"],
    ["\xa0gzip", ["identity"], "obs-text is not OWS"],
  ];
  test.each(cases)("%p → %p (%s)", (value, want) => {
    expect(rankCodings(value, OFFER)).toEqual(want);
  });
});

describe("parseQvalue", () => {
  const cases: Array<[string, number]> = [
    ["1", 1000], ["0", 0], ["0.5", 500], ["0.123", 123], ["1.000", 1000], ["1.", 1000],
    ["0.", 0], ["1.001", -1], ["0.1234", -1], [".5", -1], ["2", -1], ["", -1], ["0.5x", -1], ["1e0", -1],
  ];
  test.each(cases)("%p → %p", (s, want) => expect(parseQvalue(s)).toBe(want));
});

test("parseAcceptEncoding keeps valid elements in order", () => {
  expect(parseAcceptEncoding("br;q=0.2,  GZip , *;q=0")).toEqual([
    { name: "br", q: 200 },
    { name: "gzip", q: 1000 },
    { name: "*", q: 0 },
  ]);
});
