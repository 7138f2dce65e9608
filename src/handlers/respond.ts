/**
 * The `respond` action: a fixed status and body with the route's headers, whose values may be
 * templates. When no header uses a placeholder the head is serialised once (prepareHeaders)
 * and the body encoded once; otherwise the values are rendered per request.
 *
 *  - HEAD gets the head without the body (the engine ensures it; Content-Length stays that of
 *    the GET). 1xx, 204 and 304 get no body at all.
 *  - A non-empty body without a Content-Type header gets "text/plain; charset=utf-8".
 *  - Content-Length, Transfer-Encoding and Connection headers are skipped (the engine frames
 *    the response; the config validator rejects them), as are Date, Server and X-Request-ID
 *    (the engine writes them on every response).
 *  - The body is sent as UTF-8. The request body is not read: the engine discards it.
 */
import type { Template } from "../config/config.ts";
import { isLiteral, renderTemplate } from "../config/template.ts";
import type { Handler, HeaderPairs } from "../handler.ts";
import { asciiLower } from "../http1/field-syntax.ts";
import { prepareHeaders } from "../http1/serialize.ts";
import { safeFieldValue, templateContext } from "../middleware/template-context.ts";

const ENGINE_FIELDS: ReadonlySet<string> = new Set(["content-length", "transfer-encoding", "connection", "date", "server", "x-request-id"]);

export function createRespondHandler(status: number, body: string, headers: readonly (readonly [string, Template])[]): Handler {
  const rules = headers.filter(([name]) => !ENGINE_FIELDS.has(asciiLower(name)));
  const noBody = (status >= 100 && status < 200) || status === 204 || status === 304;
  const bytes = noBody ? null : Buffer.from(body, "utf8");
  const extra: [string, string][] =
    bytes !== null && bytes.length > 0 && !rules.some(([n]) => asciiLower(n) === "content-type") ? [["Content-Type", "text/plain; charset=utf-8"]] : [];
  const literal = rules.every(([, t]) => isLiteral(t));
  if (literal) {
    const pairs: [string, string][] = rules.map(([n, t]) => [n, safeFieldValue(t.parts.map((p) => ("text" in p ? p.text : "")).join(""))]);
    const head = prepareHeaders([...pairs.filter(([, v]) => v !== ""), ...extra]);
    return (ex) => ex.respond(status, head, bytes);
  }
  return (ex) => {
    const ctx = templateContext(ex);
    const pairs: [string, string][] = [];
    for (const [n, t] of rules) {
      const v = safeFieldValue(renderTemplate(t, ctx));
      if (v !== "") pairs.push([n, v]);
    }
    for (const e of extra) pairs.push(e);
    ex.respond(status, pairs as HeaderPairs, bytes);
  };
}
