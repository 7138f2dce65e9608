import { describe, expect, test } from "bun:test";
import { ERRORS } from "../../src/errors.ts";
import { ERROR_PAGE_CONTENT_TYPE, ERROR_PAGE_STATUSES, errorPage } from "../../src/pages/error-page.ts";

/** Every status the server answers with a page: each code of the error registry, plus 412/416 (static preconditions) and 503 (the prewritten over-capacity answer). */
const REQUIRED = [
  ...new Set([412, 416, 503, ...[...ERRORS.values()].flatMap((e) => (e.status !== null && e.status >= 400 ? [e.status] : []))]),
];
const decode = (b: Uint8Array) => new TextDecoder("utf-8", { fatal: true }).decode(b);

function checkPage(status: number, shown: number): string {
  const page = decode(errorPage(status));
  expect(page.startsWith("<!DOCTYPE html>\n<html lang=\"en\">")).toBe(true);
  expect(page.trimEnd().endsWith("</html>")).toBe(true);
  expect(page).toContain('<meta charset="utf-8">');
  expect(page).toContain(`<title>${shown} `);
  expect(page).toContain(`<h1>${shown}</h1>`);
  expect(page).toContain("<footer>DreamServer</footer>");
  expect(page).toMatch(/<h2>[^<]+<\/h2><p>[^<]+\.<\/p>/);
  expect(page).toContain("prefers-color-scheme:dark");
  // Template leftovers, undefined values, external resources, scripts.
  expect(page).not.toMatch(/\{\{|\$\{|undefined|NaN|null|\[object/);
  expect(page).not.toMatch(/<script|\bsrc=|\bhref=|url\(|@import|https?:/i);
  // Balanced structural tags.
  for (const tag of ["html", "head", "body", "main", "title", "style", "h1", "h2", "p", "footer"]) {
    const open = page.match(new RegExp(`<${tag}[ >]`, "g"))?.length ?? 0;
    const close = page.match(new RegExp(`</${tag}>`, "g"))?.length ?? 0;
    expect([tag, open]).toEqual([tag, 1]);
    expect([tag, close]).toEqual([tag, 1]);
  }
  expect(errorPage(status).length).toBeLessThan(2048);
  return page;
}

describe("errorPage", () => {
  test("every required status has its own wording", () => {
    expect([...ERROR_PAGE_STATUSES].sort()).toEqual([...REQUIRED].sort());
  });

  for (const status of REQUIRED) {
    test(`${status} renders`, () => {
      const page = checkPage(status, status);
      expect(page).not.toContain("Client Error");
      expect(page).not.toContain("<h2>Server Error</h2>");
    });
  }

  test("other statuses use a class fallback", () => {
    expect(checkPage(418, 418)).toContain("<h2>Client Error</h2>");
    expect(checkPage(451, 451)).toContain("<h2>Client Error</h2>");
    expect(checkPage(507, 507)).toContain("<h2>Server Error</h2>");
    expect(checkPage(599, 599)).toContain("<h2>Server Error</h2>");
  });

  test("non-status numbers get the 500 page", () => {
    for (const bad of [NaN, -1, 0, 99, 600, 1000, 404.5, Infinity]) {
      expect(errorPage(bad)).toBe(errorPage(500));
    }
  });

  test("pages are memoised per status", () => {
    expect(errorPage(404)).toBe(errorPage(404));
    expect(errorPage(404)).not.toBe(errorPage(500));
  });

  test("4xx and 5xx use different accents", () => {
    const a = decode(errorPage(404)).match(/h1\{color:([^}]+)\}/)![1];
    const b = decode(errorPage(502)).match(/h1\{color:([^}]+)\}/)![1];
    expect(a).not.toBe(b);
  });

  test("content type", () => {
    expect(ERROR_PAGE_CONTENT_TYPE).toBe("text/html; charset=utf-8");
  });
});
