/**
 * The docs must not drift from the code:
 *
 * - every `--flag` in the --help text (USAGE in src/config/flags.ts) is named in
 *   docs/command-line.md, and the help block there is USAGE verbatim;
 * - every key of DEFAULT_LIMITS and DEFAULT_TIMEOUTS (src/config/config.ts) is named in a table
 *   row of docs/limits-and-timeouts.md, and that row shows its default as rendered by
 *   renderBytes / renderMs below (the rendering the page states in its introduction);
 * - every link in README.md and docs/*.md that points into the repository resolves: the file
 *   exists, and a #fragment names a heading of the target Markdown file.
 */
import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from "../../src/config/config.ts";
import { USAGE } from "../../src/config/flags.ts";

const REPO = path.resolve(import.meta.dir, "../..");
const read = (rel: string): string => fs.readFileSync(path.join(REPO, rel), "utf8");

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Binary units, largest exact one: 1073741824 → "1 GiB", 16384 → "16 KiB", 100 → "100 B". */
export function renderBytes(n: number): string {
  if (n >= GiB && n % GiB === 0) return `${n / GiB} GiB`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}

/** ms below a whole second, s up to two minutes, min above: 500 → "500 ms", 75000 → "75 s", 600000 → "10 min". */
export function renderMs(ms: number): string {
  if (ms % 1000 !== 0) return `${ms} ms`;
  const s = ms / 1000;
  if (s >= 120 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** A limit is a byte size unless its name says it is a count. */
function renderLimit(key: string, n: number): string {
  return /Count$|^maxConnections/.test(key) ? String(n) : renderBytes(n);
}

/** Table rows (lines starting with "|") that name `key` in backticks; their cells, trimmed. */
function rowsNaming(doc: string, key: string): string[][] {
  return doc
    .split("\n")
    .filter((l) => l.startsWith("|") && l.includes("`" + key + "`"))
    .map((l) => l.split("|").map((c) => c.trim()));
}

describe("docs/command-line.md", () => {
  const doc = read("docs/command-line.md");
  const flags = [...new Set(USAGE.match(/--[a-z][a-z0-9-]*/g) ?? [])];

  test("the help text lists flags (parser sanity)", () => {
    expect(flags.length).toBeGreaterThan(20);
    expect(flags).toContain("--listen");
    expect(flags).toContain("--max-output-memory");
    expect(flags).toContain("--underscores-in-headers");
  });

  test.each(flags)("names %s", (flag) => {
    expect(new RegExp(flag + "(?![a-z0-9-])").test(doc)).toBe(true);
  });

  test("contains the --help text verbatim", () => {
    expect(doc).toContain("```text\n" + USAGE.trimEnd() + "\n```");
  });
});

describe("docs/limits-and-timeouts.md", () => {
  const doc = read("docs/limits-and-timeouts.md");

  test("renderings", () => {
    expect(renderBytes(8 * KiB)).toBe("8 KiB");
    expect(renderBytes(GiB)).toBe("1 GiB");
    expect(renderBytes(128 * MiB)).toBe("128 MiB");
    expect(renderBytes(1536)).toBe("1536 B");
    expect(renderMs(500)).toBe("500 ms");
    expect(renderMs(5_000)).toBe("5 s");
    expect(renderMs(60_000)).toBe("60 s");
    expect(renderMs(120_000)).toBe("2 min");
    expect(renderMs(600_000)).toBe("10 min");
  });

  const limits = Object.entries(DEFAULT_LIMITS) as [string, number][];
  test.each(limits)("limits.%s is in a table row with its default", (key, value) => {
    const rows = rowsNaming(doc, key);
    expect(rows.length, `no table row names \`${key}\``).toBeGreaterThan(0);
    const want = renderLimit(key, value);
    expect(rows.some((cells) => cells.includes(want)), `no row for \`${key}\` shows "${want}"`).toBe(true);
  });

  const timeouts = Object.entries(DEFAULT_TIMEOUTS) as [string, number][];
  test.each(timeouts)("timeouts.%s is in a table row with its default", (key, value) => {
    const rows = rowsNaming(doc, key);
    expect(rows.length, `no table row names \`${key}\``).toBeGreaterThan(0);
    const want = renderMs(value);
    expect(rows.some((cells) => cells.includes(want)), `no row for \`${key}\` shows "${want}"`).toBe(true);
  });
});

// ---- links --------------------------------------------------------------------------------

/** Markdown without fenced code blocks and inline code, where "[x](y)" is not a link. */
function proseOf(md: string): string {
  return md.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces → "-", repeats get -1, -2… */
function anchorsOf(md: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const noCode = md.replace(/^```[\s\S]*?^```/gm, "");
  for (const m of noCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = m[1]!.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1");
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

const mdFiles = ["README.md", ...fs.readdirSync(path.join(REPO, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

describe("links in README.md and docs/", () => {
  test("the docs pages exist", () => {
    expect(mdFiles.length).toBeGreaterThan(10);
  });

  test.each(mdFiles)("%s: every repository link resolves", (file) => {
    const md = read(file);
    const broken: string[] = [];
    for (const m of proseOf(md).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto: — not a repository link
      const hash = target.indexOf("#");
      const rel = hash < 0 ? target : target.slice(0, hash);
      const anchor = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
      const abs = rel === "" ? path.join(REPO, file) : path.resolve(path.dirname(path.join(REPO, file)), rel);
      if (!abs.startsWith(REPO + path.sep) && abs !== REPO) {
        broken.push(`${target} (outside the repository)`);
        continue;
      }
      if (!fs.existsSync(abs)) {
        broken.push(`${target} (no such file)`);
        continue;
      }
      if (anchor !== null && abs.endsWith(".md") && !anchorsOf(fs.readFileSync(abs, "utf8")).has(anchor)) {
        broken.push(`${target} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
