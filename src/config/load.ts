/**
 * Config file → Config: read, parse by extension (Bun.TOML / Bun.YAML / JSON, no dependency),
 * apply command-line overrides, validate (validate.ts), and give every problem a line number
 * (locate.ts). Messages read `FILE:LINE: field.path: what is wrong; how to fix it`.
 */
import fs from "node:fs";
import path from "node:path";
import type { Config } from "./config.ts";
import { jsonSyntaxErrorLine, lineOf, locate, type Format } from "./locate.ts";
import { validate, type FsCheck, type Problem } from "./validate.ts";

export type { Problem, FsCheck } from "./validate.ts";

/** A value set from the command line on top of the file (a global flag with --config). */
export interface Override {
  /** Raw path in the file's shape, e.g. ["timeouts", "header"]. */
  readonly path: readonly string[];
  /** Raw value as the file would hold it ("10s", 4, "json"). */
  readonly value: unknown;
  /** The flag it came from, for messages ("--header-timeout"). */
  readonly flag: string;
}

export interface LoadOptions {
  /** Flag values that replace the file's (a reload passes the same list again). */
  readonly overrides?: readonly Override[];
  /** The CPU count behind workers = "auto" (default: navigator.hardwareConcurrency; see autoWorkers). */
  readonly cpus?: number;
  /** File system facts (default: the real one). */
  readonly fs?: FsCheck;
  /** Resolves a relative config path (default process.cwd()). */
  readonly cwd?: string;
}

export type LoadResult =
  | { readonly ok: true; readonly file: string; readonly config: Config; readonly warnings: Problem[] }
  | { readonly ok: false; readonly file: string; readonly problems: Problem[]; readonly warnings: Problem[] };

/** The real file system, for validate(). */
export const nodeFs: FsCheck = {
  dir(abs) {
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch {
      return { error: "missing" };
    }
    try {
      if (!fs.statSync(real).isDirectory()) return { error: "not a directory" };
    } catch {
      return { error: "missing" };
    }
    return { real };
  },
  readFile(abs) {
    try {
      return { text: fs.readFileSync(abs, "utf8") };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return { error: code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : (code ?? String(e)) };
    }
  },
};

export function formatOf(file: string): Format | null {
  const ext = path.extname(file).toLowerCase();
  if (ext === ".toml") return "toml";
  if (ext === ".yaml" || ext === ".yml") return "yaml";
  if (ext === ".json") return "json";
  return null;
}

function parseWith(format: Format, text: string): unknown {
  if (format === "toml") return Bun.TOML.parse(text);
  if (format === "yaml") return Bun.YAML.parse(text);
  return JSON.parse(text);
}

/** The line of a syntax error: the shortest prefix of lines failing the same way (else failing at all). */
function syntaxErrorLine(format: Format, text: string, message: string): number | undefined {
  if (format === "json") return jsonSyntaxErrorLine(text);
  const lines = text.split("\n");
  if (lines.length > 5000) return undefined;
  let firstFailing: number | undefined;
  for (let k = 1; k <= lines.length; k++) {
    try {
      parseWith(format, lines.slice(0, k).join("\n"));
    } catch (e) {
      const m = (e as Error)?.message ?? "";
      if (m === message) return k;
      firstFailing ??= k;
    }
  }
  return firstFailing;
}

/** Parse, override, validate, locate: the whole pipeline on text already read (tests use this directly). */
export function loadConfigText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const format = formatOf(file);
  if (!format) {
    return { ok: false, file, warnings: [], problems: [{ path: "", message: `unknown config format ${JSON.stringify(path.extname(file) || file)}; name the file .toml, .yaml, .yml or .json` }] };
  }
  let raw: unknown;
  try {
    raw = parseWith(format, text);
  } catch (e) {
    const msg = String((e as Error)?.message ?? e).replace(/^(TOML|YAML|JSON) Parse error: /, "");
    const line = syntaxErrorLine(format, text, String((e as Error)?.message ?? e));
    return { ok: false, file, warnings: [], problems: [{ path: "", message: `${format.toUpperCase()} syntax error: ${msg}; fix the syntax${line ? " on this line" : ""}`, line }] };
  }
  if (raw === null || raw === undefined) raw = {};
  const overridden = new Map<string, string>();
  for (const o of opts.overrides ?? []) {
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) break;
    let t = raw as Record<string, unknown>;
    for (const k of o.path.slice(0, -1)) {
      if (t[k] === undefined) t[k] = {};
      const next = t[k];
      if (typeof next !== "object" || next === null || Array.isArray(next)) break;
      t = next as Record<string, unknown>;
    }
    t[o.path[o.path.length - 1]!] = o.value;
    overridden.set(o.path.join("."), o.flag);
  }
  const r = validate(raw, {
    baseDir: path.dirname(file),
    fs: opts.fs ?? nodeFs,
    cpus: opts.cpus ?? (navigator.hardwareConcurrency || 1),
    source: file,
  });
  const loc = locate(text, format);
  const place = (p: Problem): Problem => {
    const flag = overridden.get(p.path);
    if (flag) return { ...p, flag };
    return { ...p, line: lineOf(loc, p.path) };
  };
  const warnings = r.warnings.map(place);
  // YAML and JSON parsers keep the last of two equal keys silently; TOML refuses them itself.
  const dups: Problem[] = (format === "toml" ? [] : loc.duplicates).map((d) => ({ path: d.path, line: d.line, message: `duplicate key (first on line ${d.first}); the parser keeps only this one, remove one of them` }));
  if (!r.ok || dups.length) {
    const problems = [...dups, ...(r.ok ? [] : r.problems.map(place))];
    problems.sort((a, b) => (a.line ?? 1e9) - (b.line ?? 1e9));
    return { ok: false, file, problems, warnings };
  }
  return { ok: true, file, config: r.config, warnings };
}

/** Read and validate a config file. Never throws for a bad file: everything is a Problem. */
export function loadConfig(file: string, opts: LoadOptions = {}): LoadResult {
  const abs = path.resolve(opts.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = fs.readFileSync(abs, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "it is a directory" : String((e as Error).message);
    return { ok: false, file: abs, warnings: [], problems: [{ path: "", message: `cannot read the config file (${why}); check the --config path` }] };
  }
  return loadConfigText(text, abs, opts);
}

/**
 * One problem as one line: `FILE:LINE: path: message`, `FILE: path: message` when the line is
 * unknown, `--flag: message` for a value from the command line. `file` null: flags only.
 */
export function formatProblem(p: Problem, file: string | null, severity: "error" | "warning" = "error"): string {
  const w = severity === "warning" ? "warning: " : "";
  if (p.flag) return `${p.flag}: ${w}${p.message}`;
  const where = file === null ? "" : p.line !== undefined ? `${file}:${p.line}: ` : `${file}: `;
  return `${where}${w}${p.path ? `${p.path}: ` : ""}${p.message}`;
}
