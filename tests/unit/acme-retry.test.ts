import { expect, test } from "bun:test";
import { retryTransient } from "../../src/acme/client.ts";

test("a network failure is retried, up to three times, then reported", async () => {
  const lines: string[] = [];
  let calls = 0;
  const ok = await retryTransient(
    async () => {
      if (++calls < 3) throw new Error("ECONNRESET");
      return "answer";
    },
    (l) => lines.push(l),
    1,
  );
  expect(ok).toBe("answer");
  expect(calls).toBe(3);
  expect(lines).toEqual(["ECONNRESET; retrying", "ECONNRESET; retrying"]);

  calls = 0;
  await expect(
    retryTransient(
      async () => {
        calls++;
        throw new Error("TLS handshake with x failed");
      },
      undefined,
      1,
    ),
  ).rejects.toThrow("TLS handshake with x failed");
  expect(calls).toBe(4);
});
