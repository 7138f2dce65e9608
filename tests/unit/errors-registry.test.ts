/**
 * src/errors.ts is the one list of error codes: every code-like string literal in src/ must be
 * registered, every registered code must still be used, a literal status next to a code must be
 * the registered one, and docs/errors.md must be what scripts/gen-errors-doc.ts generates.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { renderErrorsDoc } from "../../scripts/gen-errors-doc.ts";
import { closesConnection, ERRORS, errorInfo } from "../../src/errors.ts";

const REPO = path.join(import.meta.dir, "..", "..");
const SRC = path.join(REPO, "src");

/** Code-shaped literals that are not error codes, with the reason. */
const NOT_CODES: ReadonlyMap<string, string> = new Map([
  ["DREAMSERVER_PORTS", "environment variable name (main.ts)"],
  ["DREAMSERVER_WORKER", "environment variable name (net/workers.ts)"],
  ["COMPRESSION_ERROR", "RFC 9113 §7 error name carried by HpackError (http2/hpack-error.ts); the engine sends it in GOAWAY"],
  ["MAX_PUSH_ID", "RFC 9114 §7.2.7 frame name in an H3Error message (http3/frames.ts)"],
  ["CANCEL_PUSH", "RFC 9114 §7.2.3 frame name in an H3Error message (http3/frames.ts)"],
  ["DREAMSERVER_DRAINED", "environment variable name (observe/upstream-control.ts)"],
  ["MIMALLOC_PURGE_DELAY", "environment variable name (net/allocator-tuning.ts)"],
  ["PROTOCOL_ERROR", "RFC 9113 §7 error name (http2/errors.ts), sent in RST_STREAM/GOAWAY, never a log code"],
]);
/** Prefixes of code families that never reach a client or the access log. */
const NOT_CODE_PREFIXES: ReadonlyMap<string, string> = new Map([["CONFIG_", "config validation errors: reported at load time, never in a response"]]);

function isExempt(code: string): boolean {
  if (NOT_CODES.has(code)) return true;
  for (const p of NOT_CODE_PREFIXES.keys()) if (code.startsWith(p)) return true;
  return false;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

const CODE = /["'`]([A-Z][A-Z0-9]*_[A-Z0-9_]+)["'`]/g;
/** `const pfx = isRequest ? "PARSE_" : "UPSTREAM_"` — a variable holding code prefixes. */
const PREFIX_DECL = /\b(?:const|let)\s+(\w+)\s*=\s*([^;\n]*)/g;
const PREFIX_LIT = /"([A-Z][A-Z0-9]*_)"/g;
/** `pfx + "CL_AND_TE"` */
const CONCAT = /\b(\w+)\s*\+\s*"([A-Z][A-Z0-9_]*)"/g;

interface Use {
  readonly code: string;
  readonly where: string;
}

/** Every code used in src/, with composed ones (`pfx + "X"`) expanded. */
function scan(): Use[] {
  const uses: Use[] = [];
  for (const file of tsFiles(SRC)) {
    if (file === path.join(SRC, "errors.ts")) continue;
    const text = fs.readFileSync(file, "utf8");
    const rel = path.relative(REPO, file);
    const prefixes = new Map<string, string[]>();
    for (const m of text.matchAll(PREFIX_DECL)) {
      const lits = [...m[2]!.matchAll(PREFIX_LIT)].map((x) => x[1]!);
      if (lits.length > 0) prefixes.set(m[1]!, lits);
    }
    const fragmentAt = new Set<number>();
    for (const m of text.matchAll(CONCAT)) {
      const ps = prefixes.get(m[1]!);
      if (ps === undefined) continue;
      fragmentAt.add(m.index! + m[0].length - m[2]!.length - 2); // position of the opening quote
      for (const p of ps) uses.push({ code: p + m[2]!, where: `${rel} (${m[1]} + "${m[2]}")` });
    }
    for (const m of text.matchAll(CODE)) {
      if (fragmentAt.has(m.index!)) continue;
      const line = text.slice(0, m.index!).split("\n").length;
      uses.push({ code: m[1]!, where: `${rel}:${line}` });
    }
  }
  return uses;
}

const uses = scan();

describe("error code registry", () => {
  test("the scanner finds the codes (sanity)", () => {
    const found = new Set(uses.map((u) => u.code));
    for (const c of ["PARSE_BAD_CHUNK", "FILE_NOT_FOUND", "UPSTREAM_TIMEOUT", "PARSE_CL_AND_TE", "UPSTREAM_CL_AND_TE", "HANDLER_TIMEOUT"]) {
      expect(found.has(c)).toBe(true);
    }
    expect(found.has("CL_AND_TE")).toBe(false); // a fragment, expanded above
  });

  test("every code used in src/ is registered", () => {
    const missing = uses.filter((u) => !isExempt(u.code) && errorInfo(u.code) === undefined).map((u) => `${u.code} at ${u.where}`);
    expect(missing).toEqual([]);
  });

  test("every registered code is used somewhere in src/", () => {
    const found = new Set(uses.map((u) => u.code));
    const unused = [...ERRORS.keys()].filter((c) => !found.has(c));
    expect(unused).toEqual([]);
  });

  test("a literal status next to a code is the registered status", () => {
    const re = /\b(?:sendError|fail|rejectAndClose|ParseError|ProxyPrepareError)\((\d{3}),\s*"([A-Z][A-Z0-9_]+)"|status:\s*(\d{3}),\s*code:\s*"([A-Z][A-Z0-9_]+)"/g;
    const wrong: string[] = [];
    let checked = 0;
    for (const file of tsFiles(SRC)) {
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(re)) {
        const status = Number(m[1] ?? m[3]);
        const code = (m[2] ?? m[4])!;
        const info = errorInfo(code);
        // Unregistered: reported above. Status null: the code cuts a response already started
        // (the literal is what the call would send before one; it never does for these).
        if (info === undefined || info.status === null) continue;
        checked++;
        if (info.status !== status) wrong.push(`${code}: ${status} in ${path.relative(REPO, file)}, registry says ${info.status}`);
      }
    }
    expect(checked).toBeGreaterThan(50);
    expect(wrong).toEqual([]);
  });

  test("entries are well-formed", () => {
    for (const [code, e] of ERRORS) {
      expect(e.code).toBe(code);
      expect(code).toMatch(/^[A-Z][A-Z0-9]*_[A-Z0-9_]+$/);
      if (e.status !== null) {
        expect(e.status).toBeGreaterThanOrEqual(400);
        expect(e.status).toBeLessThanOrEqual(599);
      } else expect(e.close).toBe(true); // a cut response always closes
      expect(["info", "warn", "error"]).toContain(e.level);
      expect(e.doc.length).toBeGreaterThan(10);
      expect(e.doc).not.toContain("\n");
    }
  });

  test("the engine's close-after statuses close (parse errors, limits, timeouts)", () => {
    for (const e of ERRORS.values()) {
      if (e.status !== null && [400, 408, 413, 414, 417, 431, 501, 505].includes(e.status)) expect([e.code, e.close]).toEqual([e.code, true]);
    }
    expect(closesConnection("NO_SITE")).toBe(false);
    expect(closesConnection("NO_ROUTE")).toBe(false);
    expect(closesConnection("TIMEOUT_HEADER")).toBe(true);
    expect(closesConnection("NOT_A_CODE")).toBe(false);
  });

  test("routing codes", () => {
    expect(errorInfo("NO_SITE")).toMatchObject({ status: 421, level: "warn" });
    expect(errorInfo("NO_ROUTE")).toMatchObject({ status: 404, level: "info" });
    expect(errorInfo("BAD_PATH")).toMatchObject({ status: 400 });
  });
});

describe("docs/errors.md", () => {
  const doc = fs.readFileSync(path.join(REPO, "docs", "errors.md"), "utf8");

  test("equals the generator's output (run: bun scripts/gen-errors-doc.ts)", () => {
    expect(doc).toBe(renderErrorsDoc());
  });

  test("lists every code", () => {
    for (const code of ERRORS.keys()) expect(doc).toContain("| `" + code + "` |");
  });
});
