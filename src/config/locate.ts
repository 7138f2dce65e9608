/**
 * Best-effort line numbers for config problems. Bun's TOML / YAML / JSON parsers report no
 * positions (neither for syntax errors nor, of course, for a value the validator rejects), so we
 * scan the text ourselves and record the line where each field path ("site[1].route[2].proxy.to[0]")
 * starts. A problem's line is that of its path, or of the nearest recorded ancestor.
 *
 * The scanners assume text that the real parser accepted (they are not parsers): TOML tables and
 * arrays of tables, dotted keys, inline tables and arrays (also across lines); YAML block
 * mappings and sequences by indentation, with flow collections; JSON fully. Anything they do not
 * understand only makes a line less precise.
 */
import { childPath } from "./validate.ts";

export type Format = "toml" | "yaml" | "json";

export interface Located {
  /** path → 1-based line */
  readonly lines: Map<string, number>;
  /** Keys written twice in one table (YAML and JSON parsers keep the last silently). */
  readonly duplicates: { path: string; line: number; first: number }[];
}

/** The line of `path`, or of its nearest recorded ancestor; undefined when none is known. */
export function lineOf(loc: Located, path: string): number | undefined {
  let p = path;
  for (;;) {
    const l = loc.lines.get(p);
    if (l !== undefined) return l;
    const m = /(\[[^\]]*\]|\.[^.[]+|^[^.[]+)$/.exec(p);
    if (!m || m.index === 0) return undefined;
    p = p.slice(0, m.index);
  }
}

class Scan {
  readonly lines = new Map<string, number>();
  readonly duplicates: { path: string; line: number; first: number }[] = [];
  private readonly starts: number[] = [0];
  constructor(readonly text: string) {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.starts.push(i + 1);
  }
  lineAt(pos: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
  lineStart(line: number): number {
    return this.starts[line - 1] ?? this.text.length;
  }
  get lineCount(): number {
    return this.starts.length;
  }
  record(path: string, pos: number, isKey: boolean): void {
    const line = this.lineAt(pos);
    const prev = this.lines.get(path);
    if (prev !== undefined && isKey) this.duplicates.push({ path, line, first: prev });
    if (prev === undefined) this.lines.set(path, line);
  }
  /** Skip spaces, tabs, newlines and (unless json) # comments. */
  ws(pos: number, comments: boolean, newlines = true): number {
    const t = this.text;
    while (pos < t.length) {
      const c = t[pos]!;
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) pos++;
      else if (comments && c === "#") {
        while (pos < t.length && t[pos] !== "\n") pos++;
      } else break;
    }
    return pos;
  }
  /** End of a quoted string starting at pos (", ', or TOML triple quotes). */
  stringEnd(pos: number): number {
    const t = this.text;
    const q = t[pos]!;
    if (t.startsWith(q.repeat(3), pos)) {
      const end = t.indexOf(q.repeat(3), pos + 3);
      if (end < 0) return t.length;
      let e = end + 3;
      while (t[e] === q) e++; // up to two quotes may end the content
      return e;
    }
    let i = pos + 1;
    while (i < t.length) {
      const c = t[i]!;
      if (c === "\\" && q === '"') i += 2;
      else if (c === q) {
        if (q === "'" && t[i + 1] === "'" && this.yamlSingle) i += 2;
        else return i + 1;
      } else i++;
    }
    return i;
  }
  yamlSingle = false;
  unquote(raw: string): string {
    if (raw.startsWith('"')) {
      try {
        return JSON.parse(raw) as string;
      } catch {
        return raw.slice(1, -1);
      }
    }
    if (raw.startsWith("'")) return raw.slice(1, -1).replace(/''/g, "'");
    return raw.trim();
  }
  /** A (possibly dotted) key at pos up to `sep`; returns parts and the position after sep. */
  key(pos: number, sep: string, dotted: boolean): { parts: string[]; next: number } | null {
    const t = this.text;
    const parts: string[] = [];
    for (;;) {
      pos = this.ws(pos, false, false);
      const c = t[pos];
      if (c === undefined) return null;
      let raw: string;
      if (c === '"' || c === "'") {
        const e = this.stringEnd(pos);
        raw = t.slice(pos, e);
        pos = e;
      } else {
        const start = pos;
        const stop = dotted ? `${sep}.,{}[]\n#` : `${sep},{}[]\n#`;
        while (pos < t.length && !stop.includes(t[pos]!)) pos++;
        raw = t.slice(start, pos).trim();
        if (raw === "") return null;
      }
      parts.push(this.unquote(raw));
      pos = this.ws(pos, false, false);
      if (dotted && t[pos] === ".") {
        pos++;
        continue;
      }
      if (t[pos] === sep) return { parts, next: pos + 1 };
      return null;
    }
  }
  /**
   * A value at pos: string, scalar, [array] or {inline table}. Records nested paths.
   * Returns the position after it. `sep` is "=" (TOML) or ":" (JSON, YAML flow).
   */
  value(pos: number, path: string, sep: string, comments: boolean, strict: boolean): number {
    const t = this.text;
    pos = this.ws(pos, comments, sep !== "=" || true);
    const c = t[pos];
    if (c === '"' || c === "'") return this.stringEnd(pos);
    if (c === "[") {
      pos++;
      let idx = 0;
      for (;;) {
        pos = this.ws(pos, comments);
        if (pos >= t.length) throw new ScanError(pos, "unterminated list");
        if (t[pos] === "]") {
          if (strict && idx > 0) throw new ScanError(pos, "trailing comma");
          return pos + 1;
        }
        const cp = childPath(path, idx++);
        this.record(cp, pos, false);
        pos = this.value(pos, cp, sep, comments, strict);
        pos = this.ws(pos, comments);
        if (t[pos] === ",") pos++;
        else if (t[pos] === "]") return pos + 1;
        else throw new ScanError(pos, `expected "," or "]"`);
      }
    }
    if (c === "{") {
      pos++;
      let members = 0;
      for (;;) {
        pos = this.ws(pos, comments);
        if (pos >= t.length) throw new ScanError(pos, "unterminated table");
        if (t[pos] === "}") {
          if (strict && members > 0) throw new ScanError(pos, "trailing comma");
          return pos + 1;
        }
        members++;
        if (strict && t[pos] !== '"') throw new ScanError(pos, "expected a quoted key");
        const kpos = pos;
        const k = this.key(pos, sep, sep === "=");
        if (!k) throw new ScanError(pos, `expected a key and "${sep}"`);
        let kp = path;
        for (const part of k.parts) kp = childPath(kp, part);
        this.record(kp, kpos, true);
        pos = this.value(k.next, kp, sep, comments, strict);
        pos = this.ws(pos, comments);
        if (t[pos] === ",") pos++;
        else if (t[pos] === "}") return pos + 1;
        else throw new ScanError(pos, `expected "," or "}"`);
      }
    }
    if (strict) {
      const m = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(t.slice(pos, pos + 400));
      if (!m) throw new ScanError(pos, "unexpected character");
      return pos + m[0].length;
    }
    while (pos < t.length && !",]}\n#".includes(t[pos]!)) pos++;
    return pos;
  }
}

class ScanError extends Error {
  constructor(
    readonly pos: number,
    message: string,
  ) {
    super(message);
  }
}

export function locate(text: string, format: Format): Located {
  const s = new Scan(text);
  try {
    if (format === "json") {
      const p = s.value(0, "", ":", false, true);
      if (s.ws(p, false) < text.length) throw new ScanError(s.ws(p, false), "unexpected text after the end");
    } else if (format === "toml") locateToml(s);
    else locateYaml(s);
  } catch {
    // best effort: keep what was recorded
  }
  return { lines: s.lines, duplicates: s.duplicates };
}

/** The line of a JSON syntax error (Bun's JSON.parse does not say), or undefined. */
export function jsonSyntaxErrorLine(text: string): number | undefined {
  const s = new Scan(text);
  try {
    const p = s.value(0, "", ":", false, true);
    const end = s.ws(p, false);
    if (end < text.length) return s.lineAt(end);
  } catch (e) {
    if (e instanceof ScanError) return s.lineAt(Math.min(e.pos, Math.max(0, text.length - 1)));
  }
  return undefined;
}

function locateToml(s: Scan): void {
  const t = s.text;
  let table = "";
  /** Array-of-tables paths → how many elements so far. */
  const arrays = new Map<string, number>();
  /** Resolve header key parts to a path, taking the last element of arrays of tables. */
  const resolve = (parts: string[]): string => {
    let p = "";
    for (const part of parts) {
      p = childPath(p, part);
      const n = arrays.get(p);
      if (n !== undefined) p = childPath(p, n - 1);
    }
    return p;
  };
  let pos = 0;
  while (pos < t.length) {
    pos = s.ws(pos, true);
    if (pos >= t.length) break;
    if (t.startsWith("[[", pos)) {
      const end = t.indexOf("]]", pos);
      const parts = splitDotted(s, t.slice(pos + 2, end));
      const parent = resolve(parts.slice(0, -1));
      const arr = childPath(parent, parts[parts.length - 1]!);
      const n = arrays.get(arr) ?? 0;
      arrays.set(arr, n + 1);
      if (n === 0) s.record(arr, pos, false);
      table = childPath(arr, n);
      s.record(table, pos, false);
      pos = end + 2;
    } else if (t[pos] === "[") {
      const end = t.indexOf("]", pos);
      table = resolve(splitDotted(s, t.slice(pos + 1, end)));
      s.record(table, pos, true);
      pos = end + 1;
    } else {
      const k = s.key(pos, "=", true);
      if (!k) {
        while (pos < t.length && t[pos] !== "\n") pos++;
        continue;
      }
      let kp = table;
      for (const part of k.parts) kp = childPath(kp, part);
      s.record(kp, pos, true);
      pos = s.value(k.next, kp, "=", true, false);
    }
    while (pos < t.length && t[pos] !== "\n") pos++;
  }
}

function splitDotted(s: Scan, header: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*(\.|$)/y;
  let m: RegExpExecArray | null;
  while ((m = re.exec(header)) && m[0] !== "") out.push(s.unquote(m[1]!));
  return out;
}

function locateYaml(s: Scan): void {
  s.yamlSingle = true;
  const t = s.text;
  type Frame = { indent: number; path: string; kind: "map" | "seq"; count: number };
  const stack: Frame[] = [];
  let pending = "";
  let blockIndent = -1; // inside a block scalar (| or >) deeper than this
  let flowUntil = -1; // a flow collection spanning lines: skip to this offset
  const top = (): Frame | undefined => stack[stack.length - 1];
  const KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\-?:,\[\]{}][^#]*?|-[^\s#][^#]*?)\s*:(?=\s|$)/;

  const process = (line: number, col: number, content: string): void => {
    while (stack.length && (top()!.indent > col || (top()!.indent === col && top()!.kind === "seq" && !/^-(\s|$)/.test(content)))) stack.pop();
    const lineStart = s.lineStart(line);
    if (/^-(\s|$)/.test(content)) {
      let seq = top();
      if (!(seq && seq.kind === "seq" && seq.indent === col)) {
        seq = { indent: col, path: pending, kind: "seq", count: 0 };
        stack.push(seq);
      }
      const item = childPath(seq.path, seq.count++);
      s.record(item, lineStart + col, false);
      pending = item;
      const rest = content.slice(1).replace(/^\s+/, "");
      if (rest === "" || rest.startsWith("#")) return;
      const restCol = col + (content.length - rest.length);
      if (rest.startsWith("[") || rest.startsWith("{")) {
        flowUntil = s.value(lineStart + restCol, item, ":", true, false);
        return;
      }
      process(line, restCol, rest);
      return;
    }
    const m = KEY.exec(content);
    if (!m) return; // a plain scalar continuation line
    let frame = top();
    if (!(frame && frame.kind === "map" && frame.indent === col)) {
      frame = { indent: col, path: pending, kind: "map", count: 0 };
      stack.push(frame);
    }
    const kp = childPath(frame.path, s.unquote(m[1]!));
    s.record(kp, lineStart + col, true);
    const value = content.slice(m[0].length).trim();
    if (value === "" || value.startsWith("#")) {
      pending = kp;
      return;
    }
    pending = "";
    if (/^[|>][-+0-9]*\s*(#.*)?$/.test(value)) {
      blockIndent = col;
      return;
    }
    if (value.startsWith("[") || value.startsWith("{")) {
      const vpos = lineStart + col + content.indexOf(value, m[0].length);
      flowUntil = s.value(vpos, kp, ":", true, false);
    }
  };

  for (let line = 1; line <= s.lineCount; line++) {
    const start = s.lineStart(line);
    if (start < flowUntil) continue;
    const end = line < s.lineCount ? s.lineStart(line + 1) - 1 : t.length;
    const raw = t.slice(start, end).replace(/\r$/, "");
    const content = raw.trimStart();
    const col = raw.length - content.length;
    if (blockIndent >= 0) {
      if (content === "" || col > blockIndent) continue;
      blockIndent = -1;
    }
    if (content === "" || content.startsWith("#") || content.startsWith("---") || content.startsWith("...") || content.startsWith("%")) continue;
    process(line, col, content);
  }
}
