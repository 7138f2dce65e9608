/**
 * Connection-lifetime assertions for every e2e test, over the raw clients that already exist
 * (Conn in core-helpers.ts; Client, BulkClient and the scripted backend's BackendConn in
 * proxy-backends.ts). A response that is right but arrives on a connection that then never
 * closes (or closes when it should have stayed open) is a bug these catch: the proxy's missing
 * FIN after `Connection: close` went through the whole suite because nothing waited for it.
 *
 * - expectServerCloses(c, ms): waits for the PEER's FIN/close (never closes the socket itself)
 *   and fails with what it saw if it does not come within ms.
 * - expectStaysOpen(c, ms): fails if the peer closes (or sends unexpected bytes) within ms; the
 *   test then sends its next request on the same connection. expectReusable() does both.
 *
 * Bounds here are the point of the assertion (how long a close may take / how long a keep-alive
 * connection must survive), so they are explicit arguments.
 */
import { Conn } from "./core-helpers.ts";
import type { ParsedResponse } from "./harness.ts";
import type { BackendConn, BulkClient, Client, Message } from "./proxy-backends.ts";

export type AnyConn = Conn | Client | BulkClient | BackendConn;

interface View {
  closed: boolean;
  endedBy: string | null;
  endedAt: number;
  received: number;
  unread: Buffer;
  /** Resolve true as soon as the peer closed, false after ms. */
  waitClosed(ms: number): Promise<boolean>;
}

function view(c: AnyConn): View {
  if (c instanceof Conn) {
    return {
      closed: c.ended,
      endedBy: c.endedBy,
      endedAt: c.endedAt,
      received: c.received,
      unread: c.buf,
      waitClosed: (ms) => c.until(() => c.ended, ms),
    };
  }
  return {
    closed: c.closed,
    endedBy: c.endedBy,
    endedAt: c.endedAt,
    received: c.receivedBytes,
    unread: c.unread(),
    waitClosed: (ms) => c.waitClosed(ms),
  };
}

function show(b: Buffer, max = 300): string {
  return JSON.stringify(b.subarray(0, max).toString("latin1")) + (b.length > max ? ` (+${b.length - max} bytes)` : "");
}

export interface CloseInfo {
  /** "FIN" (orderly close), "close", or an error code such as "ECONNRESET". */
  how: string;
  /** Milliseconds from the call until the close was seen (0 if it was already closed). */
  afterMs: number;
}

/**
 * Wait for the server (peer) to close the connection: resolves when its FIN (or a close/reset)
 * arrives, throws after withinMs with a message naming what was expected and what arrived.
 * It never closes the socket itself. Options:
 * - what: names the situation in the failure message ("after Connection: close").
 * - fin: require an orderly FIN, not a reset (default false: any close counts).
 * - noUnread: require that no unread bytes are left (no stray extra response) (default false).
 */
export async function expectServerCloses(c: AnyConn, withinMs: number, opts: { what?: string; fin?: boolean; noUnread?: boolean } = {}): Promise<CloseInfo> {
  const start = Date.now();
  const ok = await view(c).waitClosed(withinMs);
  const v = view(c);
  const what = opts.what ? ` (${opts.what})` : "";
  if (!ok || !v.closed) {
    throw new Error(
      `expected the server to close the connection within ${withinMs} ms${what}, but it is still open after ${Date.now() - start} ms; ` +
        `received ${v.received} bytes in total, unread: ${show(v.unread)}`,
    );
  }
  const how = v.endedBy ?? "close";
  if (opts.fin && how !== "FIN") throw new Error(`expected an orderly FIN from the server${what}, got ${how}`);
  if (opts.noUnread && v.unread.length > 0) throw new Error(`the server closed${what} but sent bytes nobody read: ${show(v.unread)}`);
  return { how, afterMs: Math.max(0, v.endedAt - start) };
}

/**
 * Assert the connection stays open for forMs: throws as soon as the peer closes (naming how and
 * when), or, unless allowBytes, if any byte arrives meanwhile (an idle keep-alive connection
 * gets nothing unasked). The caller then sends its next request on the same connection.
 */
export async function expectStaysOpen(c: AnyConn, forMs: number, opts: { what?: string; allowBytes?: boolean } = {}): Promise<void> {
  const start = Date.now();
  const before = view(c).received;
  const what = opts.what ? ` (${opts.what})` : "";
  if (view(c).closed) throw new Error(`expected the connection to stay open${what}, but the server had already closed it (${view(c).endedBy})`);
  const closed = await view(c).waitClosed(forMs);
  const v = view(c);
  if (closed) {
    throw new Error(
      `expected the connection to stay open for ${forMs} ms${what}, but the server closed it (${v.endedBy}) after ${v.endedAt - start} ms; ` +
        `unread: ${show(v.unread)}`,
    );
  }
  if (!opts.allowBytes && v.received !== before) {
    throw new Error(`expected an idle connection${what}, but ${v.received - before} unexpected bytes arrived: ${show(v.unread)}`);
  }
}

/**
 * expectStaysOpen, then send `req` on the same connection and read its response: the connection
 * must be kept AND still serve. Works with Conn (ParsedResponse) and Client (Message).
 */
export async function expectReusable(c: Conn, forMs: number, req: string | Buffer, method?: string, what?: string): Promise<ParsedResponse>;
export async function expectReusable(c: Client | BulkClient, forMs: number, req: string | Buffer, method?: string, what?: string): Promise<Message>;
export async function expectReusable(c: Conn | Client | BulkClient, forMs: number, req: string | Buffer, method = "GET", what?: string): Promise<ParsedResponse | Message> {
  await expectStaysOpen(c, forMs, { what });
  if (c instanceof Conn) {
    c.write(req);
    return await c.response(method);
  }
  const buf = typeof req === "string" ? Buffer.from(req, "latin1") : req;
  if ("readFinal" in c) {
    c.send(buf);
    return (await c.readFinal(method)).res;
  }
  c.send(buf);
  return await c.readResponse(method);
}
