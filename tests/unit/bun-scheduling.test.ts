/**
 * The Bun scheduling behaviour that src/static/freshness-batch.ts relies on to share one
 * freshness check per file across the requests of one event-loop batch (docs/runtime-notes.md):
 *
 *   A setImmediate callback scheduled inside a socket `data` handler runs only after Bun has
 *   dispatched the `data` events of every other socket that was readable in the same poll, and
 *   it runs once per loop iteration (a later batch gets its own callback).
 *
 * Correctness (causal freshness) does not depend on it: the check always runs after the requests
 * it answers were read. This test proves the sharing, so a Bun upgrade that changes the order
 * shows up here instead of as a silent slowdown.
 */
import { afterAll, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { FreshnessBatch } from "../../src/static/freshness-batch.ts";

const N = 40;
let server: TCPSocketListener<undefined> | null = null;
const clients: Socket<undefined>[] = [];
afterAll(() => {
  for (const c of clients) c.end();
  server?.stop(true);
});

test(`setImmediate from a data handler runs after the data events of all ${N} sockets readable in that poll, once per batch`, async () => {
  const events: string[] = [];
  let checks = 0;
  const answered: number[] = [];
  // The real batch class, with a fake disk check and answer: one check per entry per batch.
  const entry = {};
  const batch = new FreshnessBatch<number, object, null>(
    () => {
      checks++;
      return true;
    },
    (x) => {
      answered.push(x);
    },
  );
  let opened = 0;
  let allOpen!: () => void;
  const open = new Promise<void>((r) => (allOpen = r));
  let seq = 0;
  server = Bun.listen<undefined>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open() {
        if (++opened === N) allOpen();
      },
      data(_s, chunk) {
        const id = seq++;
        events.push(`data ${chunk.length}`);
        batch.defer(id, entry, null);
        setImmediate(() => events.push("immediate"));
      },
    },
  });
  for (let i = 0; i < N; i++) {
    clients.push(await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } }));
  }
  await open;
  // Let the loop settle so no accept/open event is pending, then write on every client in one
  // synchronous run: all N server sockets are readable before the loop polls again.
  await Bun.sleep(50);
  for (const c of clients) c.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await Bun.sleep(200);

  // All N data events first, then the immediates (one per defer call here, all after the batch).
  const firstImmediate = events.indexOf("immediate");
  expect(firstImmediate).toBe(N);
  expect(events.slice(0, N).every((e) => e.startsWith("data"))).toBe(true);
  // The batch: one check shared by all N requests, every request answered, in arrival order.
  expect(checks).toBe(1);
  expect(answered).toEqual(Array.from({ length: N }, (_, i) => i));

  // A later poll is a new batch: a new check, after that batch's reads.
  clients[0]!.write("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
  clients[1]!.write("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
  await Bun.sleep(200);
  expect(checks).toBe(2);
  expect(answered.length).toBe(N + 2);
  expect(events.slice(2 * N).slice(0, 2).every((e) => e.startsWith("data"))).toBe(true);
});
