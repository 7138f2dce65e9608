/**
 * `redirect_https = true`: a plain-HTTP site answers every request with 308 Permanent Redirect
 * to the same URI over https (308, not 301: the method and body are kept, RFC 9110 §15.4.9).
 * The host is the request's Host without its port; the port is the HTTPS site's when it is
 * not 443. ACME HTTP-01 challenges (RFC 8555 §8.3) must stay on plain HTTP, so their path
 * is never redirected (the runtime routes them normally).
 */
import type { Handler } from "../handler.ts";
import { normalizeHost } from "../router/host.ts";
import { safeFieldValue } from "../middleware/template-context.ts";
import { redirectBody } from "./redirect.ts";

/** RFC 8555 §8.3: the validation server fetches /.well-known/acme-challenge/{token} over port 80. */
export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

export function isAcmeChallenge(path: string): boolean {
  return path.startsWith(ACME_CHALLENGE_PREFIX);
}

/** Location for a request: pure, tested as a table (tests/unit/handlers-redirect-https.test.ts). */
export function httpsLocation(host: string, path: string, query: string, httpsPort: number): string | null {
  const name = normalizeHost(host);
  if (name === "") return null;
  const p = path.startsWith("/") ? path : "/";
  return `https://${name}${httpsPort === 443 ? "" : `:${httpsPort}`}${p}${query}`;
}

export function createHttpsRedirect(httpsPort: number): Handler {
  return (ex) => {
    const loc = httpsLocation(ex.head.host, ex.head.path, ex.head.query, httpsPort);
    if (loc === null) {
      // HTTP/1.0 without Host: there is no name to send the client to.
      ex.sendError(400, "REDIRECT_NO_HOST");
      return;
    }
    const location = safeFieldValue(loc);
    ex.respond(
      308,
      [
        ["Location", location],
        ["Content-Type", "text/html; charset=utf-8"],
      ],
      Buffer.from(redirectBody(308, location), "latin1"),
    );
  };
}
