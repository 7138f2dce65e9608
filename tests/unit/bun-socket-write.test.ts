/**
 * The Bun socket behaviour src/net/write-queue.ts relies on when it sends its staging arena as
 * `socket.write(arena, 0, used)` (docs/runtime-notes.md): with an offset and a length, exactly
 * that range is written. If a Bun upgrade ignored the range, every response would carry the
 * arena's stale bytes behind it; this test fails first.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";

let server: TCPSocketListener<undefined> | null = null;
let client: Socket<undefined> | null = null;
afterAll(() => {
  client?.end();
  server?.stop(true);
});

test("socket.write(buf, offset, length) writes exactly buf[offset, offset + length)", async () => {
  let received = "";
  let done: () => void = () => {};
  const ended = new Promise<void>((r) => (done = r));
  server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(_s, d) {
        received += d.toString("latin1");
      },
      close() {
        done();
      },
    },
  });
  client = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } });
  const buf = Buffer.from("hello world, and bytes that must not be sent");
  expect(client.write(buf, 6, 5)).toBe(5);
  expect(client.write(buf, 0, 5)).toBe(5);
  client.end();
  await ended;
  expect(received).toBe("worldhello");
});
