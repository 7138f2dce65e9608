/**
 * Built-in error pages, shipped inside the compiled binary.
 *
 * They are generated from a TypeScript template rather than kept as .html files so that
 * `bun build --compile` embeds them as ordinary code: no asset import, no --asset flag, nothing
 * that tree-shaking or a wrong cwd can lose (docs/runtime-notes.md, bun build --compile).
 *
 * Safety: a page depends on the status number only. It never contains request data (path,
 * host, headers), so there is nothing a client can inject (no reflected XSS), and every page is
 * a constant that can be cached forever per status.
 *
 * Style: self-contained HTML5, inline CSS only (no external assets, no JS, works under a strict
 * CSP like default-src 'none'; style-src 'unsafe-inline'), light/dark via prefers-color-scheme,
 * and under 2 KiB each so that an error response is still a single small write.
 */

/** Content-Type to send with errorPage() bodies. */
export const ERROR_PAGE_CONTENT_TYPE = "text/html; charset=utf-8";

interface PageText {
  /** Short title, shown under the big status code and in <title>. */
  readonly title: string;
  /** One sentence: what probably went wrong, and what the visitor can do about it. */
  readonly explain: string;
}

/**
 * Our own wording, kept here rather than derived from the reason-phrase table in
 * src/http1/status.ts: these are written for a person looking at a browser, not for the wire.
 */
const PAGES: Readonly<Record<number, PageText>> = {
  400: {
    title: "Bad Request",
    explain: "The server could not understand this request because it was malformed; check the address and try again, or report it to whoever runs the client.",
  },
  401: {
    title: "Unauthorized",
    explain: "This page needs credentials that were missing or wrong: sign in with your user name and password, or send the token you were given in the Authorization field.",
  },
  403: {
    title: "Forbidden",
    explain: "This resource exists but you are not allowed to see it; if you think you should be, ask the site administrator.",
  },
  404: {
    title: "Not Found",
    explain: "Nothing is here; the link may be broken or the page may have moved, so check the address for typos or start again from the home page.",
  },
  405: {
    title: "Method Not Allowed",
    explain: "This address does not accept that kind of request; the Allow header of this response lists the methods it does accept.",
  },
  408: {
    title: "Request Timeout",
    explain: "The server waited too long for the request to arrive; check your connection and try again.",
  },
  421: {
    title: "Misdirected Request",
    explain: "This server has no site for the host name in the request; check the address, or the DNS record that points it here.",
  },
  406: {
    title: "Not Acceptable",
    explain: "The request rules out every form the server has for this resource (see its Accept-Encoding header); allow identity or a supported encoding and try again.",
  },
  412: {
    title: "Precondition Failed",
    explain: "The resource changed since your copy was fetched, so the conditional request was not applied; reload it and try again.",
  },
  413: {
    title: "Content Too Large",
    explain: "The request body is larger than this server accepts; send a smaller upload or ask the administrator to raise the limit.",
  },
  414: {
    title: "URI Too Long",
    explain: "The address is longer than this server accepts; shorten it, for example by sending large data in a request body instead of the query string.",
  },
  416: {
    title: "Range Not Satisfiable",
    explain: "The requested byte range lies outside the file, which may have changed size; retry the download from the start.",
  },
  417: {
    // The parser answers 417 to any Expect other than 100-continue (RFC 9110 §10.1.1).
    title: "Expectation Failed",
    explain: "The request asked the server to meet an expectation it does not support; send it again without the Expect header, or with Expect: 100-continue.",
  },
  429: {
    title: "Too Many Requests",
    explain: "You have sent too many requests in a short time; wait a moment (the Retry-After header says how long) and try again.",
  },
  431: {
    title: "Request Header Fields Too Large",
    explain: "The request headers are too large, often because of oversized cookies; clear this site's cookies and try again.",
  },
  500: {
    title: "Internal Server Error",
    explain: "Something went wrong on the server while handling this request; try again later, and if it keeps happening tell the site administrator.",
  },
  501: {
    title: "Not Implemented",
    explain: "The server does not support what this request asks for, such as an unknown method or transfer coding.",
  },
  502: {
    title: "Bad Gateway",
    explain: "The server is a proxy and could not get a valid response from the application behind it, which may be down or restarting; try again in a moment.",
  },
  503: {
    title: "Service Unavailable",
    explain: "The server is temporarily unable to handle the request, for example because it is shutting down or overloaded; try again in a moment.",
  },
  504: {
    title: "Gateway Timeout",
    explain: "The server is a proxy and the application behind it did not answer in time; try again, and if it persists the application may be overloaded.",
  },
  505: {
    title: "HTTP Version Not Supported",
    explain: "This server speaks HTTP/1.0 and HTTP/1.1 only; use a client that sends one of those versions.",
  },
};

/** Any status without its own entry: wording by class. */
function fallbackText(status: number): PageText {
  if (status >= 400 && status < 500) {
    return {
      title: "Client Error",
      explain: "The server could not process this request as sent; check the address and what the client sends, then try again.",
    };
  }
  return {
    title: "Server Error",
    explain: "The server could not complete this request; try again later, and if it keeps happening tell the site administrator.",
  };
}

/** The static table is trusted, but escape anyway so a future edit cannot break the markup. */
function html(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Minified by hand to stay well under 2 KiB. The accent colour follows the status class:
 * amber for "your request" (4xx), red for "our side" (5xx).
 */
/** Shared with the directory listing (src/pages/dir-listing.ts), so both look alike. */
export const CSS =
  ":root{color-scheme:light dark;--bg:#f7f7f8;--fg:#1f2328;--mut:#59636e;--ln:#d8dee4;--a4:#b35900;--a5:#c62828}" +
  "@media(prefers-color-scheme:dark){:root{--bg:#0f1115;--fg:#e6e8eb;--mut:#9198a1;--ln:#30363d;--a4:#f0a44b;--a5:#ff7b72}}" +
  "*{box-sizing:border-box}" +
  "body{margin:0;min-height:100vh;display:grid;place-items:center;padding:24px;background:var(--bg);color:var(--fg);" +
  "font:16px/1.55 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
  "main{max-width:34rem}" +
  "h1{margin:0;font-size:clamp(4.5rem,20vw,8rem);line-height:1;font-weight:800;letter-spacing:-.04em}" +
  "h2{margin:.4rem 0 .9rem;font-size:1.45rem;font-weight:600}" +
  "p{margin:0;color:var(--mut)}" +
  "footer{margin-top:2.2rem;padding-top:.8rem;border-top:1px solid var(--ln);font-size:.8rem;color:var(--mut)}";

function render(status: number, text: PageText): string {
  const accent = status >= 500 ? "var(--a5)" : "var(--a4)";
  const title = html(text.title);
  return (
    "<!DOCTYPE html>\n" +
    '<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    '<meta name="robots" content="noindex">' +
    `<title>${status} ${title}</title>` +
    `<style>${CSS}h1{color:${accent}}</style></head>` +
    `<body><main><h1>${status}</h1><h2>${title}</h2><p>${html(text.explain)}</p>` +
    "<footer>DreamServer</footer></main></body></html>\n"
  );
}

const cache = new Map<number, Uint8Array>();
const encoder = new TextEncoder();

/**
 * The UTF-8 HTML error page for a status, built once per status and then shared: callers must
 * not modify the returned bytes. A value that is not an HTTP status (not an integer 100-599) is
 * a bug in the caller; it gets the 500 page rather than a page showing a nonsense number.
 */
export function errorPage(status: number): Uint8Array {
  const code = Number.isInteger(status) && status >= 100 && status <= 599 ? status : 500;
  let page = cache.get(code);
  if (page === undefined) {
    page = encoder.encode(render(code, PAGES[code] ?? fallbackText(code)));
    cache.set(code, page);
  }
  return page;
}

/** Statuses with their own wording (the rest use the class fallback). For tests and docs. */
export const ERROR_PAGE_STATUSES: readonly number[] = Object.keys(PAGES).map(Number);
