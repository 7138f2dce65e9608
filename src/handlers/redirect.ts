/**
 * The `redirect` action: `Location` rendered from the route's template per request (e.g.
 * "https://{host}{uri}"), a small HTML body with a link, Content-Type text/html. The request
 * body is not read: the engine discards it after the response (within its discard budget).
 * A Location that is fixed text is rendered, and the whole head prepared, once.
 */
import type { Template } from "../config/config.ts";
import { isLiteral, renderTemplate } from "../config/template.ts";
import type { Handler } from "../handler.ts";
import { prepareHeaders } from "../http1/serialize.ts";
import { statusText } from "../http1/status.ts";
import { safeFieldValue, templateContext } from "../middleware/template-context.ts";

export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

const CONTENT_TYPE = "text/html; charset=utf-8";

function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : "&#39;"));
}

/** The body of a redirect to `location`. */
export function redirectBody(status: number, location: string): string {
  const reason = statusText(status);
  const href = htmlEscape(location);
  return `<!doctype html>\n<html><head><title>${status} ${reason}</title></head>\n<body><h1>${reason}</h1><p><a href="${href}">${href}</a></p></body></html>\n`;
}

export function createRedirectHandler(to: Template, status: RedirectStatus): Handler {
  if (isLiteral(to)) {
    const location = safeFieldValue(to.parts.map((p) => ("text" in p ? p.text : "")).join(""));
    const head = prepareHeaders([
      ["Location", location],
      ["Content-Type", CONTENT_TYPE],
    ]);
    const body = Buffer.from(redirectBody(status, location), "latin1");
    return (ex) => ex.respond(status, head, body);
  }
  return (ex) => {
    const location = safeFieldValue(renderTemplate(to, templateContext(ex)));
    ex.respond(
      status,
      [
        ["Location", location],
        ["Content-Type", CONTENT_TYPE],
      ],
      Buffer.from(redirectBody(status, location), "latin1"),
    );
  };
}
