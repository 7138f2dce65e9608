/**
 * One active health check: a GET on our own HTTP/1 client (UpstreamPool.connect on Bun.connect,
 * MessageParser for the response) — never fetch, so checks see the server exactly the way the
 * proxy does (same TLS settings, same strict parser). A fresh connection per check with
 * "Connection: close": a check also proves that new connections are accepted.
 */
import type { HealthCheckConfig } from "../config/config.ts";
import type { ResponseHead } from "../http1/message-head.ts";
import type { UpstreamConnection, UpstreamPool } from "../net/upstream-pool.ts";

export interface CheckResult {
  readonly ok: boolean;
  /** Wall time of the check, ms. */
  readonly ms: number;
  /** "ok", "status 503", "timeout", "connect: ECONNREFUSED", "body mismatch", … */
  readonly reason: string;
}

/** Body bytes a check reads for the `body` regex. */
const MAX_BODY = 64 * 1024;

export function runHealthCheck(pool: UpstreamPool, cfg: HealthCheckConfig, host: string): Promise<CheckResult> {
  const start = performance.now();
  const re = cfg.body !== null ? new RegExp(cfg.body) : null;
  return new Promise<CheckResult>((resolve) => {
    let done = false;
    let conn: UpstreamConnection | null = null;
    const finish = (ok: boolean, reason: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      conn?.destroy();
      resolve({ ok, ms: performance.now() - start, reason });
    };
    // One deadline for connect + response: a server that accepts and never answers fails.
    const timer = setTimeout(() => finish(false, "timeout"), cfg.timeoutMs);
    const chunks: Uint8Array[] = [];
    let bodyLen = 0;
    const bodyDone = (): void => {
      if (!re) return finish(true, "ok");
      const text = Buffer.concat(chunks).toString("latin1");
      finish(re.test(text), re.test(text) ? "ok" : "body mismatch");
    };
    pool.connect(cfg.timeoutMs).then(
      (c) => {
        conn = c;
        if (done) {
          c.destroy();
          return;
        }
        c.listener = {
          onUpstreamData(chunk) {
            c.parser.push(chunk);
            for (;;) {
              const ev = c.parser.next();
              if (ev === null || done) return;
              if (ev.type === "head") {
                const h = ev.head as ResponseHead;
                if (h.status < 200) continue;
                if (h.status < cfg.statusMin || h.status > cfg.statusMax) return finish(false, `status ${h.status}`);
                if (!re) return finish(true, "ok");
              } else if (ev.type === "body") {
                if (bodyLen < MAX_BODY) {
                  const part = ev.data.subarray(0, MAX_BODY - bodyLen);
                  chunks.push(Uint8Array.from(part)); // the parser reuses its buffer
                  bodyLen += part.byteLength;
                }
              } else if (ev.type === "end") return bodyDone();
              else return finish(false, "bad response");
            }
          },
          onUpstreamDrain() {},
          onUpstreamEnd() {
            const ev = c.parser.finish();
            if (ev && ev.type === "end") bodyDone();
            else finish(false, "closed before the response");
          },
          onUpstreamClose() {
            finish(false, "closed before the response");
          },
        };
        c.parser.expectResponseTo("GET");
        c.out.writeLatin1(`GET ${cfg.path} HTTP/1.1\r\nHost: ${cfg.host ?? host}\r\nUser-Agent: dreamserver-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
      },
      (err: unknown) => finish(false, `connect: ${(err as Error)?.message ?? err}`),
    );
  });
}
