/**
 * `dreamserver health URL`: a tiny HTTP/1.1 client for container health checks, where there is
 * no curl. One GET with `Connection: close` over Bun.connect, the status line read with our own
 * response parser; exit 0 for a 2xx within the timeout, 1 otherwise (Docker's HEALTHCHECK and
 * Kubernetes exec probes read the exit code).
 */
import { DEFAULT_LIMITS } from "./config/config.ts";
import { MessageParser } from "./http1/message-parser.ts";
import type { ResponseHead } from "./http1/message-head.ts";

export async function healthCheck(url: string, timeoutMs = 2000): Promise<{ ok: boolean; message: string }> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { ok: false, message: `"${url}" is not a URL; write e.g. http://127.0.0.1:9180/healthz` };
  }
  if (u.protocol !== "http:") return { ok: false, message: `only http:// URLs are checked (the admin listener is plain HTTP)` };
  const hostname = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 80;
  const parser = new MessageParser("response", DEFAULT_LIMITS);
  parser.expectResponseTo("GET");
  return await new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, message: string, sock?: { terminate(): void }) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock?.terminate();
      resolve({ ok, message });
    };
    const timer = setTimeout(() => finish(false, `no answer from ${u.host} within ${timeoutMs} ms`), timeoutMs);
    Bun.connect({
      hostname,
      port,
      socket: {
        open(s) {
          s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: dreamserver-health\r\nConnection: close\r\n\r\n`);
        },
        data(s, chunk) {
          parser.push(chunk);
          const ev = parser.next();
          if (ev === null) return;
          if (ev.type !== "head") return finish(false, `malformed answer from ${u.host}`, s);
          const h = ev.head as ResponseHead;
          finish(h.status >= 200 && h.status < 300, `${h.status} ${h.reason}`.trim(), s);
        },
        close() {
          finish(false, `${u.host} closed the connection without an answer`);
        },
        connectError(_s, err) {
          finish(false, `cannot connect to ${u.host}: ${(err as { code?: string }).code ?? err.message}`);
        },
        error(s, err) {
          finish(false, `${u.host}: ${err.message}`, s);
        },
      },
    }).catch((err: { code?: string; message?: string }) => finish(false, `cannot connect to ${u.host}: ${err.code ?? err.message}`));
  });
}
