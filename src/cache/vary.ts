/**
 * Secondary cache keys from Vary (RFC 9111 §4.1). Pure, no Bun imports.
 *
 * The key of a stored response is the normalised value of each request field its Vary names.
 * §4.1 allows normalising: lines are combined with ", " and OWS around commas removed; names
 * are compared case-insensitively. Accept-Encoding is normalised further, to its codings with
 * their q-values (q=0 dropped, q=1 implied, sorted by q then name, codings lowercased): the
 * compress middleware chooses by exactly that, so "gzip, br" and "br,gzip" share one variant
 * instead of fragmenting the cache by client formatting.
 */
import type { HeaderList } from "../http1/header-list.ts";
import { asciiLower, trimOws } from "../http1/field-syntax.ts";
import { parseQvalue } from "../static/accept-encoding.ts";

/** The lowercase field names a response varies on, "*" for Vary: *, [] when none. */
export function varyFields(headers: HeaderList): string[] | "*" {
  if (!headers.has("vary")) return [];
  const tokens = headers.tokens("vary");
  if (tokens.includes("*")) return "*";
  const out: string[] = [];
  for (const t of tokens) if (!out.includes(t)) out.push(t);
  return out.sort();
}

/** The secondary key of a request for a response that varies on `fields` ("" when none). */
export function secondaryKey(fields: readonly string[], request: HeaderList): string {
  if (fields.length === 0) return "";
  let key = "";
  for (const f of fields) {
    const lines = request.getAll(f);
    const v = f === "accept-encoding" ? normaliseAcceptEncoding(lines) : normaliseList(lines);
    // "\u0000" cannot occur in a field value, so the parts cannot run into each other.
    key += f + "\u0000" + (lines.length === 0 ? "\u0001" : v) + "\u0000";
  }
  return key;
}

/** Lines joined by "," with OWS around each comma and at the ends removed. */
export function normaliseList(lines: readonly string[]): string {
  let out = "";
  for (const line of lines) {
    for (const part of line.split(",")) {
      const p = trimOws(part);
      if (p === "") continue;
      out += (out === "" ? "" : ",") + p;
    }
  }
  return out;
}

/** Accept-Encoding (RFC 9110 §12.5.3) → "coding;q,…" sorted; malformed elements kept verbatim so they cannot alias. */
export function normaliseAcceptEncoding(lines: readonly string[]): string {
  const items: [string, number, string][] = [];
  for (const line of lines) {
    for (const part of line.split(",")) {
      const p = trimOws(part);
      if (p === "") continue;
      const semi = p.indexOf(";");
      const coding = asciiLower(trimOws(semi < 0 ? p : p.slice(0, semi)));
      let q = 1000;
      let qText = "";
      if (semi >= 0) {
        const param = asciiLower(trimOws(p.slice(semi + 1)));
        q = param.startsWith("q=") ? parseQvalue(param.slice(2)) : -1;
        if (q < 0) {
          items.push([p, -1, p]); // not understood: kept as is
          continue;
        }
        qText = q === 1000 ? "" : ";q=" + q;
      }
      if (q === 0) continue;
      items.push([coding, q, coding + qText]);
    }
  }
  items.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return items.map((i) => i[2]).join(",");
}
